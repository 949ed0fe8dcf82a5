"""Temporal models: a dimensionless norm as a function of time.

A temporal model multiplies a spectral model: ``flux(E, t) = spectral(E) *
temporal(t)``. Times are Modified Julian Dates, as floats (numpy, xarray or
dask arrays), in the model's time ``scale`` (``"utc"`` by default, as in
Gammapy; state, not a parameter). Parameters follow Gammapy's names, units
and defaults (``t_ref`` in MJD, durations in days), so model files
interoperate.

Each model has a pure static ``evaluate(time, **params)`` (the norm) and
``evaluate_integral(t_min, t_max, **params)`` (its integral over each
interval, in days; analytic for every model here). :meth:`TemporalModel.integral`
turns it into a mean norm.

Normalisation of ``integral``
    ``integral(t_min, t_max)`` returns the mean norm over each interval,
    ``int_{t_min}^{t_max} norm(t) dt / (t_max - t_min)``: a constant model gives
    1, and a flux times this mean is the mean flux of the interval. Gammapy's
    ``TemporalModel.integral`` instead divides every interval's integral by
    the *total* duration of all the intervals given (so that the sum over the
    GTIs of an observation is the observation's mean norm); that convention
    is ``integral(..., normalize="total")``, and
    ``np.sum(model.integral(start, stop, normalize="total"))`` equals
    Gammapy's ``np.sum(model.integral(gti.time_start, gti.time_stop))``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import scipy.special
import xarray as xr

from gammaxr.models.core import Model, is_xarray, register_model, where
from gammaxr.models.parameters import Parameter, ParameterError

__all__ = [
    "ConstantTemporalModel",
    "ExpDecayTemporalModel",
    "GaussianTemporalModel",
    "GeneralizedGaussianTemporalModel",
    "LightCurveTemplateTemporalModel",
    "LinearTemporalModel",
    "PowerLawTemporalModel",
    "SineTemporalModel",
    "TemporalModel",
]

#: MJD of 2000-01-01T00:00:00 (UTC): Gammapy's default reference time.
MJD_2000 = 51544.0
#: Time scales astropy knows (Gammapy checks the scale against the same list).
TIME_SCALES = ("tai", "tcb", "tcg", "tdb", "tt", "ut1", "utc", "local")
#: Gauss-Legendre nodes per interval of the numerical fallback integral.
_QUADRATURE_NODES = 64



def _t_ref(value: float = MJD_2000, frozen: bool = True) -> Parameter:
    return Parameter("t_ref", value, "d", frozen=frozen)


class TemporalModel(Model):
    """Base class of temporal models: a norm as a function of time (MJD).

    Parameters
    ----------
    scale : str
        Time scale of the MJD values (``"utc"``, ``"tt"``, ...; Gammapy's default ``"utc"``).
    **values : float, astropy Quantity or Parameter
        Parameter values by name (see :class:`~gammaxr.models.core.Model`).
    """

    def __init__(self, *, scale: str = "utc", **values: Any) -> None:
        if scale not in TIME_SCALES:
            raise ParameterError(f"time scale must be one of {TIME_SCALES}, got {scale!r}")
        super().__init__(**values)
        self._scale = scale

    @property
    def scale(self) -> str:
        """The time scale of the MJD values."""
        return self._scale

    def _extra_state(self) -> Mapping[str, Any]:
        return {"scale": self._scale}

    def __call__(self, time):
        """The norm at ``time`` (MJD), dimensionless."""
        return self.evaluate(time, **self.parameter_values())

    def evaluate_integral(self, t_min, t_max, **params):
        """Integral of the norm from ``t_min`` to ``t_max`` (MJD), in days.

        The base class integrates numerically, vectorised over the intervals
        (Gauss-Legendre, 64 nodes per interval: exact for smooth norms, blind to
        features much narrower than the interval); every model here overrides it
        with its analytic integral.
        """
        nodes, weights = np.polynomial.legendre.leggauss(_QUADRATURE_NODES)
        t_min = np.asarray(t_min, dtype=float)[..., None]
        t_max = np.asarray(t_max, dtype=float)[..., None]
        half = 0.5 * (t_max - t_min)
        times = 0.5 * (t_max + t_min) + half * nodes
        values = np.asarray(self.evaluate(times, **params), dtype=float)
        return np.sum(values * weights, axis=-1) * half[..., 0]

    def integral(self, t_min, t_max, *, normalize: Literal["interval", "total"] = "interval"):
        """Mean norm over each interval ``[t_min, t_max]`` (MJD).

        Parameters
        ----------
        t_min, t_max : array-like
            Interval bounds, MJD (numpy or xarray; they broadcast).
        normalize : {"interval", "total"}
            ``"interval"``: divide each integral by its own duration (the mean
            norm of the interval; an empty interval gives the norm at
            ``t_min``). ``"total"``: divide by the summed duration of all the
            intervals (Gammapy's convention; the sum over the intervals is then
            their mean norm).

        Returns
        -------
        array-like
            Dimensionless, the broadcast shape of ``t_min`` and ``t_max``.
        """
        params = self.parameter_values()
        value = self.evaluate_integral(t_min, t_max, **params)
        duration = t_max - t_min
        if normalize == "interval":
            safe = where(duration != 0, duration, 1.0)
            return where(duration != 0, value / safe, self.evaluate(t_min, **params))
        if normalize == "total":
            return value / np.sum(duration)
        raise ParameterError(f"normalize must be 'interval' or 'total', got {normalize!r}")


@register_model("temporal")
class ConstantTemporalModel(TemporalModel):
    """A constant norm of 1 (no parameters)."""

    tags = ("ConstantTemporalModel", "const")
    parameter_defaults = ()

    @staticmethod
    def evaluate(time):
        """Norm 1, broadcast to ``time``."""
        return 1.0 + 0.0 * time

    @staticmethod
    def evaluate_integral(t_min, t_max):
        """``t_max - t_min``, days."""
        return t_max - t_min + 0.0


@register_model("temporal")
class LinearTemporalModel(TemporalModel):
    """A linear variation: ``alpha + beta * (t - t_ref)``.

    Parameters
    ----------
    alpha : float
        Norm at ``t_ref``.
    beta : float
        Slope, d-1.
    t_ref : float
        Reference time, MJD (frozen; default 2000-01-01).
    """

    tags = ("LinearTemporalModel", "linear")
    parameter_defaults = (
        Parameter("alpha", 1.0, ""),
        Parameter("beta", 0.0, "d-1"),
        _t_ref(),
    )

    @staticmethod
    def evaluate(time, alpha, beta, t_ref):
        """Norm at ``time`` (MJD)."""
        return alpha + beta * (time - t_ref)

    @staticmethod
    def evaluate_integral(t_min, t_max, alpha, beta, t_ref):
        """Integral, days (analytic)."""
        return alpha * (t_max - t_min) + 0.5 * beta * ((t_max - t_ref) ** 2 - (t_min - t_ref) ** 2)


@register_model("temporal")
class ExpDecayTemporalModel(TemporalModel):
    """An exponential decay: ``exp(-(t - t_ref) / t0)``.

    Parameters
    ----------
    t0 : float
        Decay time, d.
    t_ref : float
        Reference time, MJD (frozen; default 2000-01-01).
    """

    tags = ("ExpDecayTemporalModel", "exp-decay")
    parameter_defaults = (Parameter("t0", 1.0, "d"), _t_ref())

    @staticmethod
    def evaluate(time, t0, t_ref):
        """Norm at ``time`` (MJD)."""
        return np.exp(-(time - t_ref) / t0)

    @staticmethod
    def evaluate_integral(t_min, t_max, t0, t_ref):
        """Integral, days (analytic)."""
        return t0 * (np.exp(-(t_min - t_ref) / t0) - np.exp(-(t_max - t_ref) / t0))


@register_model("temporal")
class GaussianTemporalModel(TemporalModel):
    """A Gaussian pulse of peak 1: ``exp(-(t - t_ref)**2 / (2 sigma**2))``.

    Parameters
    ----------
    t_ref : float
        Time of the peak, MJD (free; default 2000-01-01).
    sigma : float
        Width, d.
    """

    tags = ("GaussianTemporalModel", "gauss")
    parameter_defaults = (_t_ref(frozen=False), Parameter("sigma", 1.0, "d"))

    @staticmethod
    def evaluate(time, t_ref, sigma):
        """Norm at ``time`` (MJD)."""
        return np.exp(-((time - t_ref) ** 2) / (2 * sigma**2))

    @staticmethod
    def evaluate_integral(t_min, t_max, t_ref, sigma):
        """Integral, days (analytic; erfc on each side of the peak keeps the tails precise)."""
        scale = np.sqrt(2.0) * sigma
        u_min, u_max = (t_min - t_ref) / scale, (t_max - t_ref) / scale
        erfc = scipy.special.erfc
        difference = where(
            u_min >= 0,
            erfc(u_min) - erfc(u_max),
            where(u_max <= 0, erfc(-u_max) - erfc(-u_min), 2.0 - erfc(u_max) - erfc(-u_min)),
        )
        return np.sqrt(np.pi / 2) * sigma * difference


@register_model("temporal")
class GeneralizedGaussianTemporalModel(TemporalModel):
    r"""A generalised Gaussian pulse with different rise and decay times (peak 1).

    .. math::
        \mathrm{norm}(t) = \exp\left(-\frac12
        \left(\frac{|t - t_\mathrm{ref}|}{\tau}\right)^{1/\eta}\right),
        \quad \tau = t_\mathrm{rise} \ (t < t_\mathrm{ref}), \
        t_\mathrm{decay} \ (t \ge t_\mathrm{ref})

    Parameters
    ----------
    t_ref : float
        Time of the peak, MJD (free; default 2000-01-01).
    t_rise, t_decay : float
        Rise and decay times, d.
    eta : float
        Inverse sharpness (0.5: Gaussian; 1: exponential).
    """

    tags = ("GeneralizedGaussianTemporalModel", "gengauss")
    parameter_defaults = (
        _t_ref(frozen=False),
        Parameter("t_rise", 1.0, "d"),
        Parameter("t_decay", 1.0, "d"),
        Parameter("eta", 0.5, ""),
    )

    @staticmethod
    def evaluate(time, t_ref, t_rise, t_decay, eta):
        """Norm at ``time`` (MJD)."""
        tau = where(time < t_ref, t_rise, t_decay)
        return np.exp(-0.5 * (np.abs(time - t_ref) / tau) ** (1.0 / eta))

    @staticmethod
    def evaluate_integral(t_min, t_max, t_ref, t_rise, t_decay, eta):
        """Integral, days (analytic, through the regularised incomplete gamma function).

        With ``x = (|t - t_ref| / tau)**(1/eta) / 2``, the integral from ``t_ref``
        to ``t`` is ``sign(t - t_ref) tau 2**eta Gamma(eta + 1) P(eta, x)``.
        """

        def primitive(time):
            delta = time - t_ref
            tau = where(delta < 0, t_rise, t_decay)
            x = 0.5 * (np.abs(delta) / tau) ** (1.0 / eta)
            factor = 2.0**eta * scipy.special.gamma(eta + 1.0)
            return np.sign(delta) * tau * factor * scipy.special.gammainc(eta, x)

        return primitive(t_max) - primitive(t_min)


@register_model("temporal")
class PowerLawTemporalModel(TemporalModel):
    """A power law in time: ``((t - t_ref) / t0) ** alpha`` (for ``t > t_ref``).

    Parameters
    ----------
    alpha : float
        Index (negative for a decay).
    t_ref : float
        Reference time, MJD (frozen; default 2000-01-01).
    t0 : float
        Time scale, d (frozen).
    """

    tags = ("PowerLawTemporalModel", "powerlaw")
    parameter_defaults = (
        Parameter("alpha", 1.0, ""),
        _t_ref(),
        Parameter("t0", 1.0, "d", frozen=True),
    )

    @staticmethod
    def evaluate(time, alpha, t_ref, t0):
        """Norm at ``time`` (MJD); NaN before ``t_ref`` for non-integer ``alpha``."""
        return ((time - t_ref) / t0) ** alpha

    @staticmethod
    def evaluate_integral(t_min, t_max, alpha, t_ref, t0):
        """Integral, days (analytic; ``t0 ln(...)`` for ``alpha = -1``)."""
        x_min, x_max = (t_min - t_ref) / t0, (t_max - t_ref) / t0
        index = alpha + 1.0
        with np.errstate(divide="ignore", invalid="ignore"):
            safe = where(index == 0, 1.0, index)
            power = t0 * (x_max**safe - x_min**safe) / safe
            logarithm = t0 * np.log(x_max / x_min)
        return where(index == 0, logarithm, power)


@register_model("temporal")
class SineTemporalModel(TemporalModel):
    """A sinusoidal modulation: ``1 + amp * sin(omega * (t - t_ref))``.

    Parameters
    ----------
    amp : float
        Amplitude.
    omega : float
        Angular frequency, rad d-1.
    t_ref : float
        Reference time, MJD (free; default 2000-01-01).

    Notes
    -----
    The integral is ``dt - amp / omega * (cos(omega (t_max - t_ref)) -
    cos(omega (t_min - t_ref)))``. Gammapy 2.1's ``SineTemporalModel.integral``
    uses ``sin`` where the primitive needs ``-cos``, so its values are wrong;
    this one agrees with numerical integration.
    """

    tags = ("SineTemporalModel", "sinus")
    parameter_defaults = (
        Parameter("amp", 1.0, ""),
        Parameter("omega", 1.0, "rad d-1"),
        _t_ref(frozen=False),
    )

    @staticmethod
    def evaluate(time, amp, omega, t_ref):
        """Norm at ``time`` (MJD)."""
        return 1.0 + amp * np.sin(omega * (time - t_ref))

    @staticmethod
    def evaluate_integral(t_min, t_max, amp, omega, t_ref):
        """Integral, days (analytic)."""
        safe = where(omega == 0, 1.0, omega)
        oscillation = (np.cos(safe * (t_min - t_ref)) - np.cos(safe * (t_max - t_ref))) / safe
        return (t_max - t_min) + amp * where(omega == 0, 0.0, oscillation)


@register_model("temporal")
class LightCurveTemplateTemporalModel(TemporalModel):
    """A tabulated light curve: norms at given times, linearly interpolated.

    As in Gammapy, the node times are kept relative to ``t_ref`` (moving
    ``t_ref`` shifts the light curve); between nodes the norm is interpolated
    linearly, and beyond the first and last node the end segments are
    extrapolated linearly, the result being clipped at zero (Gammapy's
    behaviour). The integral is exact for this piecewise-linear norm.

    Parameters
    ----------
    time : array-like
        Node times, MJD, strictly increasing (at least two).
    norm : array-like
        Norm at each node, non-negative.
    t_ref : float or Parameter, optional
        Reference time, MJD (frozen; default the first node).
    scale : str
        Time scale of the MJD values.
    """

    tags = ("LightCurveTemplateTemporalModel", "template")
    parameter_defaults = (_t_ref(),)

    def __init__(self, time, norm, *, t_ref: Any = None, scale: str = "utc") -> None:
        time = np.asarray(time, dtype=float)
        norm = np.asarray(norm, dtype=float)
        if time.ndim != 1 or norm.shape != time.shape or time.size < 2:
            raise ParameterError(
                "light curve template: time and norm must be 1-D of the same length (at "
                f"least 2), got shapes {time.shape} and {norm.shape}"
            )
        if not np.all(np.isfinite(time)) or not np.all(np.diff(time) > 0):
            raise ParameterError("light curve template: times must be finite and increasing")
        if not np.all(np.isfinite(norm)) or np.any(norm < 0):
            raise ParameterError("light curve template: norms must be finite and non-negative")
        values = {} if t_ref is None else {"t_ref": t_ref}
        if t_ref is None:
            values["t_ref"] = float(time[0])
        super().__init__(scale=scale, **values)
        offsets = time - self.parameters["t_ref"].value
        offsets.setflags(write=False)
        norm.setflags(write=False)
        self._offsets = offsets
        self._norm = norm
        slope = np.diff(norm) / np.diff(offsets)
        segment = 0.5 * (norm[:-1] + norm[1:]) * np.diff(offsets)
        self._slope = slope
        self._cumulative = np.concatenate([[0.0], np.cumsum(segment)])

    @property
    def time(self) -> np.ndarray:
        """Node times, MJD (relative to the current ``t_ref``)."""
        return self._offsets + self.parameters["t_ref"].value

    @property
    def norm(self) -> np.ndarray:
        """Norm at each node."""
        return self._norm.copy()

    def _extra_state(self) -> Mapping[str, Any]:
        return {
            "scale": self._scale,
            "offsets": self._offsets.tobytes(),
            "norm": self._norm.tobytes(),
        }

    def evaluate(self, time, t_ref):
        """Norm at ``time`` (MJD).

        Needs the table, so it is a method of the model rather than a static
        function. Works on numpy and xarray (dask-backed xarray block by block).
        """
        if is_xarray(time, t_ref):
            return xr.apply_ufunc(
                self._evaluate_kernel, time - t_ref, dask="parallelized", output_dtypes=[float]
            )
        return self._evaluate_kernel(np.asarray(time, dtype=float) - t_ref)

    def _segment(self, offset: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        index = np.clip(np.searchsorted(self._offsets, offset, side="right") - 1, 0, None)
        index = np.minimum(index, self._offsets.size - 2)
        line = self._norm[index] + self._slope[index] * (offset - self._offsets[index])
        return index, line

    def _evaluate_kernel(self, offset: np.ndarray) -> np.ndarray:
        _, line = self._segment(np.asarray(offset, dtype=float))
        return np.clip(line, 0.0, None)

    def evaluate_integral(self, t_min, t_max, t_ref):
        """Integral, days: exact for the clipped piecewise-linear norm."""
        if is_xarray(t_min, t_max, t_ref):
            return xr.apply_ufunc(
                self._integral_kernel,
                t_min - t_ref,
                t_max - t_ref,
                dask="parallelized",
                output_dtypes=[float],
            )
        t_min = np.asarray(t_min, dtype=float)
        t_max = np.asarray(t_max, dtype=float)
        return self._integral_kernel(t_min - t_ref, t_max - t_ref)

    def _integral_kernel(self, offset_min: np.ndarray, offset_max: np.ndarray) -> np.ndarray:
        return self._primitive(offset_max) - self._primitive(offset_min)

    def _primitive(self, offset: np.ndarray) -> np.ndarray:
        """Integral of the norm from the first node to ``offset`` (negative before it)."""
        offset = np.asarray(offset, dtype=float)
        index, line = self._segment(offset)
        start = self._offsets[index]
        return self._cumulative[index] + _positive_part_integral(
            offset - start, self._norm[index], line
        )


def _positive_part_integral(width, y_start, y_end):
    """Integral of ``max(0, y)`` for ``y`` linear from ``y_start`` to ``y_end`` over ``width``.

    ``width`` may be negative (the integral changes sign).
    """
    both_positive = (y_start >= 0) & (y_end >= 0)
    span = np.abs(y_start - y_end)
    safe = np.where(span > 0, span, 1.0)
    crossing = 0.5 * (np.maximum(y_start, 0) ** 2 + np.maximum(y_end, 0) ** 2) / safe
    mean = np.where(both_positive, 0.5 * (y_start + y_end), np.where(span > 0, crossing, 0.0))
    return mean * width
