"""Power-law-like spectral models and the Gaussian line.

Parametrisations, parameter names, defaults and tags follow Gammapy 2.1 so
that model files interoperate. Energies are in TeV, amplitudes in
``cm-2 s-1 TeV-1`` (``cm-2 s-1`` for integral-flux amplitudes).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.special

from gammaxr.models.core import register_model
from gammaxr.models.parameters import Parameter
from gammaxr.models.spectral_base import (
    DNDE_UNIT,
    FLUX_UNIT,
    SpectralModel,
    exp_integral,
    log,
    where,
)

if TYPE_CHECKING:
    from gammaxr.models.spectral_base import ArrayLike

__all__ = [
    "BrokenPowerLawSpectralModel",
    "GaussianSpectralModel",
    "LogParabolaNormSpectralModel",
    "LogParabolaSpectralModel",
    "PowerLaw2SpectralModel",
    "PowerLawNormSpectralModel",
    "PowerLawSpectralModel",
    "SmoothBrokenPowerLawSpectralModel",
]


def _amplitude(unit: str = DNDE_UNIT) -> Parameter:
    return Parameter("amplitude", 1e-12, unit, scale=1e-12)


def _reference(value: float = 1.0) -> Parameter:
    return Parameter("reference", value, "TeV", frozen=True)


@register_model("spectral")
class PowerLawSpectralModel(SpectralModel):
    r"""Power law.

    .. math:: \phi(E) = \phi_0 \left(\frac{E}{E_0}\right)^{-\Gamma}

    Parameters
    ----------
    index : float
        :math:`\Gamma`. Default 2.
    amplitude : float
        :math:`\phi_0`, in ``cm-2 s-1 TeV-1``. Default 1e-12.
    reference : float
        :math:`E_0`, in TeV (frozen). Default 1.
    """

    tags = ("PowerLawSpectralModel", "pl")
    parameter_defaults = (Parameter("index", 2.0), _amplitude(), _reference())

    @staticmethod
    def evaluate(energy: ArrayLike, index: float, amplitude: float, reference: float) -> Any:
        """Evaluate the model (static function; energy in TeV)."""
        return amplitude * (energy / reference) ** (-index)

    @staticmethod
    def evaluate_integral(
        energy_min: ArrayLike,
        energy_max: ArrayLike,
        index: float,
        amplitude: float,
        reference: float,
    ) -> Any:
        r"""Integral flux, closed form.

        .. math:: F = \phi_0 E_0 \int_{\ln(E_{min}/E_0)}^{\ln(E_{max}/E_0)} e^{(1-\Gamma)u}\,du

        (:math:`\phi_0 E_0 \ln(E_{max}/E_{min})` at :math:`\Gamma = 1`, smoothly).
        """
        u_lo, u_hi = log(energy_min / reference), log(energy_max / reference)
        return amplitude * reference * exp_integral(u_lo, u_hi, 1.0 - index)

    @staticmethod
    def evaluate_energy_flux(
        energy_min: ArrayLike,
        energy_max: ArrayLike,
        index: float,
        amplitude: float,
        reference: float,
    ) -> Any:
        r"""Energy flux, closed form: :math:`\phi_0 E_0^2 \int e^{(2-\Gamma)u}\,du`."""
        u_lo, u_hi = log(energy_min / reference), log(energy_max / reference)
        return amplitude * reference**2 * exp_integral(u_lo, u_hi, 2.0 - index)


@register_model("spectral")
class PowerLawNormSpectralModel(SpectralModel):
    r"""Power-law norm (dimensionless), e.g. a spectral correction or a background tilt.

    .. math:: N(E) = N_0 \left(\frac{E}{E_0}\right)^{-\Gamma}

    Parameters
    ----------
    tilt : float
        :math:`\Gamma` (frozen). Default 0.
    norm : float
        :math:`N_0`. Default 1.
    reference : float
        :math:`E_0`, in TeV (frozen). Default 1.
    """

    tags = ("PowerLawNormSpectralModel", "pl-norm")
    _dnde_unit = ""
    parameter_defaults = (
        Parameter("tilt", 0.0, frozen=True),
        Parameter("norm", 1.0),
        _reference(),
    )

    @staticmethod
    def evaluate(energy: ArrayLike, tilt: float, norm: float, reference: float) -> Any:
        """Evaluate the model (static function; energy in TeV)."""
        return norm * (energy / reference) ** (-tilt)

    @staticmethod
    def evaluate_integral(
        energy_min: ArrayLike, energy_max: ArrayLike, tilt: float, norm: float, reference: float
    ) -> Any:
        """Integral (in TeV), closed form as for the power law."""
        u_lo, u_hi = log(energy_min / reference), log(energy_max / reference)
        return norm * reference * exp_integral(u_lo, u_hi, 1.0 - tilt)

    @staticmethod
    def evaluate_energy_flux(
        energy_min: ArrayLike, energy_max: ArrayLike, tilt: float, norm: float, reference: float
    ) -> Any:
        """Integral of ``E * N(E)`` (in TeV2), closed form."""
        u_lo, u_hi = log(energy_min / reference), log(energy_max / reference)
        return norm * reference**2 * exp_integral(u_lo, u_hi, 2.0 - tilt)


@register_model("spectral")
class PowerLaw2SpectralModel(SpectralModel):
    r"""Power law with the integral flux as amplitude.

    .. math::
        \phi(E) = F_0 \frac{1-\Gamma}{E_{0,max}^{1-\Gamma} - E_{0,min}^{1-\Gamma}} E^{-\Gamma}

    so that :math:`\int_{E_{0,min}}^{E_{0,max}} \phi\,dE = F_0` (also at
    :math:`\Gamma = 1`, where Gammapy's formula is 0/0).

    Parameters
    ----------
    amplitude : float
        :math:`F_0`, integral flux between ``emin`` and ``emax``, in ``cm-2 s-1``.
        Default 1e-12.
    index : float
        :math:`\Gamma`. Default 2.
    emin, emax : float
        :math:`E_{0,min}`, :math:`E_{0,max}`, in TeV (frozen). Defaults 0.1 and 100.
    """

    tags = ("PowerLaw2SpectralModel", "pl-2")
    parameter_defaults = (
        _amplitude(FLUX_UNIT),
        Parameter("index", 2.0),
        Parameter("emin", 0.1, "TeV", frozen=True),
        Parameter("emax", 100.0, "TeV", frozen=True),
    )

    @staticmethod
    def _norm_integral(index: float, emin: float, emax: float) -> Any:
        """Integral of ``(E / emax)**-index`` from ``emin`` to ``emax`` (TeV)."""
        return emax * exp_integral(np.log(emin / emax), 0.0, 1.0 - index)

    @staticmethod
    def evaluate(
        energy: ArrayLike, amplitude: float, index: float, emin: float, emax: float
    ) -> Any:
        """Evaluate the model (static function; energy in TeV)."""
        norm = PowerLaw2SpectralModel._norm_integral(index, emin, emax)
        return amplitude / norm * (energy / emax) ** (-index)

    @staticmethod
    def evaluate_integral(
        energy_min: ArrayLike,
        energy_max: ArrayLike,
        amplitude: float,
        index: float,
        emin: float,
        emax: float,
    ) -> Any:
        r"""Integral flux, closed form.

        .. math:: F = F_0 \frac{E_{max}^{1-\Gamma} - E_{min}^{1-\Gamma}}
                  {E_{0,max}^{1-\Gamma} - E_{0,min}^{1-\Gamma}}
        """
        norm = PowerLaw2SpectralModel._norm_integral(index, emin, emax)
        u_lo, u_hi = log(energy_min / emax), log(energy_max / emax)
        return amplitude / norm * emax * exp_integral(u_lo, u_hi, 1.0 - index)

    @staticmethod
    def evaluate_energy_flux(
        energy_min: ArrayLike,
        energy_max: ArrayLike,
        amplitude: float,
        index: float,
        emin: float,
        emax: float,
    ) -> Any:
        """Energy flux, closed form."""
        norm = PowerLaw2SpectralModel._norm_integral(index, emin, emax)
        u_lo, u_hi = log(energy_min / emax), log(energy_max / emax)
        return amplitude / norm * emax**2 * exp_integral(u_lo, u_hi, 2.0 - index)


@register_model("spectral")
class BrokenPowerLawSpectralModel(SpectralModel):
    r"""Broken power law (sharp break).

    .. math::
        \phi(E) = \phi_0 \times \begin{cases}
            (E / E_{break})^{-\Gamma_1} & E < E_{break} \\
            (E / E_{break})^{-\Gamma_2} & E \ge E_{break}
        \end{cases}

    Parameters
    ----------
    index1, index2 : float
        :math:`\Gamma_1`, :math:`\Gamma_2`. Defaults 2 and 2.
    amplitude : float
        :math:`\phi_0` (the flux at the break), in ``cm-2 s-1 TeV-1``. Default 1e-12.
    ebreak : float
        :math:`E_{break}`, in TeV. Default 1.
    """

    tags = ("BrokenPowerLawSpectralModel", "bpl")
    parameter_defaults = (
        Parameter("index1", 2.0),
        Parameter("index2", 2.0),
        _amplitude(),
        Parameter("ebreak", 1.0, "TeV"),
    )

    @property
    def breakpoints(self) -> tuple[float, ...]:
        """The break energy, in TeV."""
        return (self.parameters["ebreak"].value,)

    @staticmethod
    def evaluate(
        energy: ArrayLike, index1: float, index2: float, amplitude: float, ebreak: float
    ) -> Any:
        """Evaluate the model (static function; energy in TeV)."""
        ratio = energy / ebreak
        return amplitude * where(energy < ebreak, ratio ** (-index1), ratio ** (-index2))

    @staticmethod
    def _segments(
        energy_min: Any, energy_max: Any, index1: float, index2: float, ebreak: float, power: int
    ) -> Any:
        u_lo, u_hi = log(energy_min / ebreak), log(energy_max / ebreak)
        below = exp_integral(np.minimum(u_lo, 0.0), np.minimum(u_hi, 0.0), power + 1 - index1)
        above = exp_integral(np.maximum(u_lo, 0.0), np.maximum(u_hi, 0.0), power + 1 - index2)
        return below + above

    @staticmethod
    def evaluate_integral(
        energy_min: ArrayLike,
        energy_max: ArrayLike,
        index1: float,
        index2: float,
        amplitude: float,
        ebreak: float,
    ) -> Any:
        """Integral flux, closed form (one power law on each side of the break)."""
        segments = BrokenPowerLawSpectralModel._segments(
            energy_min, energy_max, index1, index2, ebreak, 0
        )
        return amplitude * ebreak * segments

    @staticmethod
    def evaluate_energy_flux(
        energy_min: ArrayLike,
        energy_max: ArrayLike,
        index1: float,
        index2: float,
        amplitude: float,
        ebreak: float,
    ) -> Any:
        """Energy flux, closed form."""
        segments = BrokenPowerLawSpectralModel._segments(
            energy_min, energy_max, index1, index2, ebreak, 1
        )
        return amplitude * ebreak**2 * segments


@register_model("spectral")
class SmoothBrokenPowerLawSpectralModel(SpectralModel):
    r"""Smoothly broken power law.

    .. math::
        \phi(E) = \phi_0 \left(\frac{E}{E_0}\right)^{-\Gamma_1}
        \left[1 + \left(\frac{E}{E_{break}}\right)^{\frac{\Gamma_2-\Gamma_1}{\beta'}}
        \right]^{-\beta'}, \qquad \beta' = \beta\,\mathrm{sign}(\Gamma_2 - \Gamma_1)

    As in Gammapy, the bracket is 1 when :math:`\Gamma_1 = \Gamma_2` (a plain
    power law; the limits from either side are :math:`2^{\mp\beta}`, so the
    model is discontinuous in the indices there). Integrals are numerical.

    Parameters
    ----------
    index1, index2 : float
        :math:`\Gamma_1`, :math:`\Gamma_2`. Defaults 2 and 2.
    amplitude : float
        :math:`\phi_0`, in ``cm-2 s-1 TeV-1``. Default 1e-12.
    ebreak : float
        :math:`E_{break}`, in TeV. Default 1.
    reference : float
        :math:`E_0`, in TeV (frozen). Default 1.
    beta : float
        :math:`\beta`, the smoothness (frozen). Default 1.
    """

    tags = ("SmoothBrokenPowerLawSpectralModel", "sbpl")
    parameter_defaults = (
        Parameter("index1", 2.0),
        Parameter("index2", 2.0),
        _amplitude(),
        Parameter("ebreak", 1.0, "TeV"),
        _reference(),
        Parameter("beta", 1.0, frozen=True),
    )

    @property
    def breakpoints(self) -> tuple[float, ...]:
        """The break energy, in TeV."""
        return (self.parameters["ebreak"].value,)

    @staticmethod
    def evaluate(
        energy: ArrayLike,
        index1: float,
        index2: float,
        amplitude: float,
        ebreak: float,
        reference: float,
        beta: float,
    ) -> Any:
        """Evaluate the model (static function; energy in TeV)."""
        delta = index2 - index1
        sign = np.sign(delta)
        beta_signed = beta * where(sign == 0, 1.0, sign)
        pwl = amplitude * (energy / reference) ** (-index1)
        brk = (1.0 + (energy / ebreak) ** (delta / beta_signed)) ** (-beta_signed)
        return pwl * where(delta == 0, 1.0, brk)


@register_model("spectral")
class LogParabolaSpectralModel(SpectralModel):
    r"""Log parabola, natural-log form (as in Gammapy and its model files).

    .. math::
        \phi(E) = \phi_0 \left(\frac{E}{E_0}\right)^{-\alpha - \beta \ln(E/E_0)}

    Use :meth:`from_log10` for a :math:`\log_{10}` curvature. Integrals are numerical.

    Parameters
    ----------
    amplitude : float
        :math:`\phi_0`, in ``cm-2 s-1 TeV-1``. Default 1e-12.
    reference : float
        :math:`E_0`, in TeV (frozen). Default 10.
    alpha : float
        :math:`\alpha`. Default 2.
    beta : float
        :math:`\beta`. Default 1.
    """

    tags = ("LogParabolaSpectralModel", "lp")
    parameter_defaults = (
        _amplitude(),
        _reference(10.0),
        Parameter("alpha", 2.0),
        Parameter("beta", 1.0),
    )

    @classmethod
    def from_log10(cls, **values: Any) -> LogParabolaSpectralModel:
        r"""Build from a :math:`\log_{10}` parametrisation (``beta`` divided by :math:`\ln 10`)."""
        if "beta" in values:
            values["beta"] = float(values["beta"]) / np.log(10.0)
        return cls(**values)

    @staticmethod
    def evaluate(
        energy: ArrayLike, amplitude: float, reference: float, alpha: float, beta: float
    ) -> Any:
        """Evaluate the model (static function; energy in TeV)."""
        x = energy / reference
        return amplitude * x ** (-alpha - beta * np.log(x))


@register_model("spectral")
class LogParabolaNormSpectralModel(SpectralModel):
    r"""Log-parabola norm (dimensionless).

    .. math:: N(E) = N_0 \left(\frac{E}{E_0}\right)^{-\alpha - \beta \ln(E/E_0)}

    Parameters
    ----------
    norm : float
        :math:`N_0`. Default 1.
    reference : float
        :math:`E_0`, in TeV (frozen). Default 10.
    alpha, beta : float
        :math:`\alpha`, :math:`\beta`. Defaults 0 and 0.
    """

    tags = ("LogParabolaNormSpectralModel", "lp-norm")
    _dnde_unit = ""
    parameter_defaults = (
        Parameter("norm", 1.0),
        _reference(10.0),
        Parameter("alpha", 0.0),
        Parameter("beta", 0.0),
    )

    @staticmethod
    def evaluate(
        energy: ArrayLike, norm: float, reference: float, alpha: float, beta: float
    ) -> Any:
        """Evaluate the model (static function; energy in TeV)."""
        x = energy / reference
        return norm * x ** (-alpha - beta * np.log(x))


def _erf_difference(a: Any, b: Any) -> Any:
    """``erf(b) - erf(a)``, without cancellation in the tails (via ``erfc``)."""
    erfc = scipy.special.erfc
    middle = scipy.special.erf(b) - scipy.special.erf(a)
    return where(a >= 0, erfc(a) - erfc(b), where(b <= 0, erfc(-b) - erfc(-a), middle))


@register_model("spectral")
class GaussianSpectralModel(SpectralModel):
    r"""Gaussian line; the amplitude is its integral flux.

    .. math::
        \phi(E) = \frac{N_0}{\sigma \sqrt{2\pi}}
        \exp\left(-\frac{(E - \bar{E})^2}{2\sigma^2}\right)

    Integrals are closed forms (``erf``); over the whole real line the
    integral is :math:`N_0`.

    Parameters
    ----------
    amplitude : float
        :math:`N_0`, in ``cm-2 s-1``. Default 1e-12.
    mean : float
        :math:`\bar{E}`, in TeV. Default 1.
    sigma : float
        :math:`\sigma`, in TeV. Default 2.
    """

    tags = ("GaussianSpectralModel", "gauss")
    parameter_defaults = (
        _amplitude(FLUX_UNIT),
        Parameter("mean", 1.0, "TeV"),
        Parameter("sigma", 2.0, "TeV"),
    )

    @staticmethod
    def evaluate(energy: ArrayLike, amplitude: float, mean: float, sigma: float) -> Any:
        """Evaluate the model (static function; energy in TeV)."""
        return (
            amplitude
            / (sigma * np.sqrt(2.0 * np.pi))
            * np.exp(-((energy - mean) ** 2) / (2.0 * sigma**2))
        )

    @staticmethod
    def evaluate_integral(
        energy_min: ArrayLike,
        energy_max: ArrayLike,
        amplitude: float,
        mean: float,
        sigma: float,
    ) -> Any:
        r"""Integral flux, closed form.

        .. math:: F = \frac{N_0}{2}[\mathrm{erf}(u)]_{u_{min}}^{u_{max}},
                  \qquad u = (E - \bar{E}) / (\sqrt{2}\sigma)
        """
        scale = np.sqrt(2.0) * sigma
        u_min, u_max = (energy_min - mean) / scale, (energy_max - mean) / scale
        return 0.5 * amplitude * _erf_difference(u_min, u_max)

    @staticmethod
    def evaluate_energy_flux(
        energy_min: ArrayLike,
        energy_max: ArrayLike,
        amplitude: float,
        mean: float,
        sigma: float,
    ) -> Any:
        r"""Energy flux, closed form.

        .. math:: G = \frac{N_0\sigma}{\sqrt{2\pi}}[e^{-u_{min}^2} - e^{-u_{max}^2}]
                  + \frac{N_0\bar{E}}{2}[\mathrm{erf}(u)]_{u_{min}}^{u_{max}}
        """
        scale = np.sqrt(2.0) * sigma
        u_min, u_max = (energy_min - mean) / scale, (energy_max - mean) / scale
        tails = np.exp(-(u_min**2)) - np.exp(-(u_max**2))
        return amplitude * sigma / np.sqrt(2.0 * np.pi) * tails + 0.5 * amplitude * mean * (
            _erf_difference(u_min, u_max)
        )
