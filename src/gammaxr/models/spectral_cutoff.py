"""Power laws with exponential and super-exponential cutoffs (IACT and Fermi-LAT forms).

Parametrisations, parameter names, defaults and tags follow Gammapy 2.1 so
that model files interoperate. Energies are in TeV. None of these has a
closed-form integral in general: integrals are numerical (see
:func:`~gammaxr.models.spectral.integrate_spectrum`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from gammaxr.models.core import register_model
from gammaxr.models.parameters import Parameter
from gammaxr.models.spectral_base import SpectralModel, where
from gammaxr.models.spectral_powerlaw import _amplitude, _reference

if TYPE_CHECKING:
    from gammaxr.models.spectral_base import ArrayLike

__all__ = [
    "ExpCutoffPowerLaw3FGLSpectralModel",
    "ExpCutoffPowerLawNormSpectralModel",
    "ExpCutoffPowerLawSpectralModel",
    "SuperExpCutoffPowerLaw3FGLSpectralModel",
    "SuperExpCutoffPowerLaw4FGLDR3SpectralModel",
    "SuperExpCutoffPowerLaw4FGLSpectralModel",
]

#: MeV per TeV: the 4FGL-DR1 ``expfactor`` is in MeV**-index_2.
MEV_PER_TEV = 1.0e6
#: Below this value of ``|index_2 ln(E/E0)|`` the 4FGL-DR3 cutoff uses its series expansion.
DR3_SERIES_THRESHOLD = 1.0e-2


@register_model("spectral")
class ExpCutoffPowerLawSpectralModel(SpectralModel):
    r"""Power law with an exponential cutoff.

    .. math::
        \phi(E) = \phi_0 \left(\frac{E}{E_0}\right)^{-\Gamma}
        \exp\left(-(\lambda E)^{\alpha}\right)

    Parameters
    ----------
    index : float
        :math:`\Gamma`. Default 1.5.
    amplitude : float
        :math:`\phi_0`, in ``cm-2 s-1 TeV-1``. Default 1e-12.
    reference : float
        :math:`E_0`, in TeV (frozen). Default 1.
    lambda_ : float
        :math:`\lambda`, the inverse cutoff energy, in ``TeV-1``. Default 0.1.
    alpha : float
        :math:`\alpha` (frozen). Default 1.
    """

    tags = ("ExpCutoffPowerLawSpectralModel", "ecpl")
    parameter_defaults = (
        Parameter("index", 1.5),
        _amplitude(),
        _reference(),
        Parameter("lambda_", 0.1, "TeV-1"),
        Parameter("alpha", 1.0, frozen=True),
    )

    @staticmethod
    def evaluate(
        energy: ArrayLike,
        index: float,
        amplitude: float,
        reference: float,
        lambda_: float,
        alpha: float,
    ) -> Any:
        """Evaluate the model (static function; energy in TeV)."""
        cutoff = np.exp(-((energy * lambda_) ** alpha))
        return amplitude * (energy / reference) ** (-index) * cutoff


@register_model("spectral")
class ExpCutoffPowerLawNormSpectralModel(SpectralModel):
    r"""Exponential-cutoff power-law norm (dimensionless).

    .. math::
        N(E) = N_0 \left(\frac{E}{E_0}\right)^{-\Gamma} \exp\left(-(\lambda E)^{\alpha}\right)

    Parameters
    ----------
    index : float
        :math:`\Gamma`. Default 0.
    norm : float
        :math:`N_0`. Default 1.
    reference : float
        :math:`E_0`, in TeV (frozen). Default 1.
    lambda_ : float
        :math:`\lambda`, in ``TeV-1``. Default 0.1.
    alpha : float
        :math:`\alpha` (frozen). Default 1.
    """

    tags = ("ExpCutoffPowerLawNormSpectralModel", "ecpl-norm")
    _dnde_unit = ""
    parameter_defaults = (
        Parameter("index", 0.0),
        Parameter("norm", 1.0),
        _reference(),
        Parameter("lambda_", 0.1, "TeV-1"),
        Parameter("alpha", 1.0, frozen=True),
    )

    @staticmethod
    def evaluate(
        energy: ArrayLike,
        index: float,
        norm: float,
        reference: float,
        lambda_: float,
        alpha: float,
    ) -> Any:
        """Evaluate the model (static function; energy in TeV)."""
        return norm * (energy / reference) ** (-index) * np.exp(-((energy * lambda_) ** alpha))


@register_model("spectral")
class ExpCutoffPowerLaw3FGLSpectralModel(SpectralModel):
    r"""Exponential-cutoff power law of the 3FGL catalogue.

    .. math::
        \phi(E) = \phi_0 \left(\frac{E}{E_0}\right)^{-\Gamma}
        \exp\left(\frac{E_0 - E}{E_C}\right)

    Parameters
    ----------
    index : float
        :math:`\Gamma`. Default 1.5.
    amplitude : float
        :math:`\phi_0`, in ``cm-2 s-1 TeV-1``. Default 1e-12.
    reference : float
        :math:`E_0`, in TeV (frozen). Default 1.
    ecut : float
        :math:`E_C`, in TeV. Default 10.
    """

    tags = ("ExpCutoffPowerLaw3FGLSpectralModel", "ecpl-3fgl")
    parameter_defaults = (
        Parameter("index", 1.5),
        _amplitude(),
        _reference(),
        Parameter("ecut", 10.0, "TeV"),
    )

    @staticmethod
    def evaluate(
        energy: ArrayLike, index: float, amplitude: float, reference: float, ecut: float
    ) -> Any:
        """Evaluate the model (static function; energy in TeV)."""
        return amplitude * (energy / reference) ** (-index) * np.exp((reference - energy) / ecut)


@register_model("spectral")
class SuperExpCutoffPowerLaw3FGLSpectralModel(SpectralModel):
    r"""Super-exponential-cutoff power law of the 3FGL catalogue.

    .. math::
        \phi(E) = \phi_0 \left(\frac{E}{E_0}\right)^{-\Gamma_1}
        \exp\left(\left(\frac{E_0}{E_C}\right)^{\Gamma_2} -
                  \left(\frac{E}{E_C}\right)^{\Gamma_2}\right)

    Parameters
    ----------
    amplitude : float
        :math:`\phi_0`, in ``cm-2 s-1 TeV-1``. Default 1e-12.
    reference : float
        :math:`E_0`, in TeV (frozen). Default 1.
    ecut : float
        :math:`E_C`, in TeV. Default 10.
    index_1, index_2 : float
        :math:`\Gamma_1`, :math:`\Gamma_2`. Defaults 1.5 and 2.
    """

    tags = ("SuperExpCutoffPowerLaw3FGLSpectralModel", "secpl-3fgl")
    parameter_defaults = (
        _amplitude(),
        _reference(),
        Parameter("ecut", 10.0, "TeV"),
        Parameter("index_1", 1.5),
        Parameter("index_2", 2.0),
    )

    @staticmethod
    def evaluate(
        energy: ArrayLike,
        amplitude: float,
        reference: float,
        ecut: float,
        index_1: float,
        index_2: float,
    ) -> Any:
        """Evaluate the model (static function; energy in TeV)."""
        pwl = amplitude * (energy / reference) ** (-index_1)
        return pwl * np.exp((reference / ecut) ** index_2 - (energy / ecut) ** index_2)


@register_model("spectral")
class SuperExpCutoffPowerLaw4FGLSpectralModel(SpectralModel):
    r"""Super-exponential-cutoff power law of 4FGL-DR1 and DR2 (Abdollahi et al. 2020, eq. 4).

    .. math::
        \phi(E) = \phi_0 \left(\frac{E}{E_0}\right)^{-\Gamma_1}
        \exp\left(a \left(E_0^{\Gamma_2} - E^{\Gamma_2}\right)\right)

    with the energies in the exponent in MeV (``a`` is in
    :math:`\mathrm{MeV}^{-\Gamma_2}`, stored dimensionless, as in Gammapy).

    Parameters
    ----------
    amplitude : float
        :math:`\phi_0`, in ``cm-2 s-1 TeV-1``. Default 1e-12.
    reference : float
        :math:`E_0`, in TeV (frozen). Default 1.
    expfactor : float
        :math:`a`, in :math:`\mathrm{MeV}^{-\Gamma_2}`. Default 1e-14.
    index_1, index_2 : float
        :math:`\Gamma_1`, :math:`\Gamma_2`. Defaults 1.5 and 2.
    """

    tags = ("SuperExpCutoffPowerLaw4FGLSpectralModel", "secpl-4fgl")
    parameter_defaults = (
        _amplitude(),
        _reference(),
        Parameter("expfactor", 1e-14, scale=1e-14),
        Parameter("index_1", 1.5),
        Parameter("index_2", 2.0),
    )

    @staticmethod
    def evaluate(
        energy: ArrayLike,
        amplitude: float,
        reference: float,
        expfactor: float,
        index_1: float,
        index_2: float,
    ) -> Any:
        """Evaluate the model (static function; energy in TeV)."""
        pwl = amplitude * (energy / reference) ** (-index_1)
        exponent = (reference * MEV_PER_TEV) ** index_2 - (energy * MEV_PER_TEV) ** index_2
        return pwl * np.exp(expfactor * exponent)


@register_model("spectral")
class SuperExpCutoffPowerLaw4FGLDR3SpectralModel(SpectralModel):
    r"""Super-exponential-cutoff power law of 4FGL-DR3 (Abdollahi et al. 2022, eqs. 2-3).

    .. math::
        \phi(E) = \phi_0 \left(\frac{E}{E_0}\right)^{-\Gamma_1 + a/\Gamma_2}
        \exp\left(\frac{a}{\Gamma_2^2}\left(1 - \left(\frac{E}{E_0}\right)^{\Gamma_2}\right)\right)

    When :math:`|\Gamma_2 \ln(E/E_0)| < 10^{-2}` the cutoff factor is computed
    from its series, :math:`(E/E_0)^{-a (L/2 + \Gamma_2 L^2/6 + \Gamma_2^2 L^3/24)}`
    with :math:`L = \ln(E/E_0)`, which avoids the cancellation of the exact form
    (as the Fermi Science Tools and Gammapy do); at :math:`\Gamma_2 = 0` the model is
    the log parabola :math:`(E/E_0)^{-\Gamma_1} e^{-a L^2/2}`.

    Parameters
    ----------
    amplitude : float
        :math:`\phi_0`, in ``cm-2 s-1 TeV-1``. Default 1e-12.
    reference : float
        :math:`E_0`, in TeV (frozen). Default 1.
    expfactor : float
        :math:`a`, dimensionless. Default 1e-2.
    index_1, index_2 : float
        :math:`\Gamma_1`, :math:`\Gamma_2`. Defaults 1.5 and 2.
    """

    tags = ("SuperExpCutoffPowerLaw4FGLDR3SpectralModel", "secpl-4fgl-dr3")
    parameter_defaults = (
        _amplitude(),
        _reference(),
        Parameter("expfactor", 1e-2),
        Parameter("index_1", 1.5),
        Parameter("index_2", 2.0),
    )

    @staticmethod
    def evaluate(
        energy: ArrayLike,
        amplitude: float,
        reference: float,
        expfactor: float,
        index_1: float,
        index_2: float,
    ) -> Any:
        """Evaluate the model (static function; energy in TeV)."""
        x = energy / reference
        log_x = np.log(x)
        pwl = amplitude * x ** (-index_1)
        safe_index_2 = where(index_2 == 0, 1.0, index_2)
        exact = x ** (expfactor / safe_index_2) * np.exp(
            expfactor / safe_index_2**2 * (1.0 - x**safe_index_2)
        )
        power = -expfactor * (
            log_x / 2.0 + index_2 / 6.0 * log_x**2 + index_2**2 / 24.0 * log_x**3
        )
        series = x**power
        return pwl * where(np.abs(index_2 * log_x) < DR3_SERIES_THRESHOLD, series, exact)
