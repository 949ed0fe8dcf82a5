r"""WStat: the Poisson on-off likelihood with the background profiled out.

An on-off measurement has, in each bin, :math:`n_\mathrm{on}` counts in the on
region and :math:`n_\mathrm{off}` in the off region, whose acceptance is
:math:`1/\alpha` times larger (:math:`\alpha = \mathrm{acceptance} /
\mathrm{acceptance\_off}`). With :math:`\mu_\mathrm{sig}` the predicted signal
counts and :math:`\mu_\mathrm{bkg}` the (unknown) background counts in the off
region, the means are

.. math::

    \mu_\mathrm{on} = \mu_\mathrm{sig} + \alpha\,\mu_\mathrm{bkg}, \qquad
    \mu_\mathrm{off} = \mu_\mathrm{bkg}.

:func:`wstat_mu_bkg` maximises the likelihood over :math:`\mu_\mathrm{bkg}`
analytically (the positive root of a quadratic, Gammapy's ``get_wstat_mu_bkg``):

.. math::

    C = \alpha (n_\mathrm{on} + n_\mathrm{off}) - (1 + \alpha)\,\mu_\mathrm{sig},
    \qquad
    D = \sqrt{C^2 + 4 \alpha (\alpha + 1)\, n_\mathrm{off}\, \mu_\mathrm{sig}},
    \qquad
    \hat\mu_\mathrm{bkg} = \frac{C + D}{2 \alpha (\alpha + 1)}
                         = \frac{2\, n_\mathrm{off}\, \mu_\mathrm{sig}}{D - C}.

The second form is used where :math:`C < 0`, so that no digits are lost to
cancellation. :func:`wstat` is :math:`-2 \ln L` at that profile, with the
data-dependent constant of XSPEC's and Gammapy's ``wstat`` (``extra_terms``)
that makes it a *deviance* (0 for a perfect prediction, never negative):

.. math::

    W = 2 \left[\mu_\mathrm{on} + \mu_\mathrm{off} - n_\mathrm{on} - n_\mathrm{off}
        + n_\mathrm{on} \ln\frac{n_\mathrm{on}}{\mu_\mathrm{on}}
        + n_\mathrm{off} \ln\frac{n_\mathrm{off}}{\mu_\mathrm{off}}\right].

It is computed as the sum of the on and the off Poisson deviance terms
:math:`\mu - n + n \ln(n/\mu)`, each non-negative, with a series in
:math:`n/\mu - 1` where its three parts would cancel: a few ulp from the
exact value (Gammapy's form, a difference of large logarithms, agrees to
~1e-13 relative).

Limits (exact, no NaN, no warning)
----------------------------------
* :math:`\mu_\mathrm{sig} = 0`: :math:`\hat\mu_\mathrm{bkg} = (n_\mathrm{on} +
  n_\mathrm{off}) / (1 + \alpha)`, and :math:`W` is the Li & Ma (1983, eq. 17)
  test statistic.
* :math:`n_\mathrm{on} = 0`: :math:`\hat\mu_\mathrm{bkg} = n_\mathrm{off} / (1 + \alpha)`
  and :math:`W = 2 \mu_\mathrm{sig} + 2 n_\mathrm{off} \ln(1 + \alpha)`.
* :math:`n_\mathrm{off} = 0`: :math:`\hat\mu_\mathrm{bkg} = \max(0,\,
  n_\mathrm{on} / (1 + \alpha) - \mu_\mathrm{sig} / \alpha)`.
* :math:`n \ln n = 0` for :math:`n = 0`; a bin with counts and a zero
  prediction gives ``inf``.
* :math:`\alpha = 0` (an off region infinitely larger than the on region)
  gives the Cash deviance of the on counts when :math:`\mu_\mathrm{sig} > 0`.

The statistic is meant for :math:`\mu_\mathrm{sig} \ge 0` and :math:`\alpha \ge
0`; a negative signal is accepted where the profile exists (as for Gammapy's
``WStatCountsStatistic``), and gives NaN where it does not. Masked-out bins
give exactly 0, even when their inputs are NaN.

Stacking
--------
:func:`stack_on_off` (defined in :mod:`gammaxr.stacking`, re-exported here)
reduces a joint on-off dataset over ``obs_id`` with the rules of Gammapy's
``SpectrumDatasetOnOff.stack`` (as used by ``Datasets.stack_reduce``); see its
documentation. :func:`gammaxr.stack` and ``ds.gp.stack()`` call it for any
dataset with ``counts_off``.

Everything takes numpy arrays, dask arrays or xarray DataArrays (broadcast by
dim name); DataArrays give DataArrays, lazily for dask-backed inputs.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any

import dask
import numpy as np
import scipy.special
import xarray as xr

# Alpha and the stacking of on-off datasets live with the other stacking rules
# (gammaxr.stacking, which gammaxr.stack dispatches to); re-exported here.
from gammaxr.stacking import ON_OFF_VARIABLES, on_off_alpha, stack_on_off

__all__ = [
    "ON_OFF_VARIABLES",
    "on_off_alpha",
    "stack_on_off",
    "wstat",
    "wstat_mu_bkg",
    "wstat_sum",
]


# --------------------------------------------------------------------------------------
# Kernels (numpy or dask arrays)
# --------------------------------------------------------------------------------------


def _float64(x: Any) -> Any:
    return x.astype(np.float64) if dask.is_dask_collection(x) else np.asarray(x, np.float64)


def _safe(den: Any) -> Any:
    """``den`` with its zeros replaced by 1, so a division never warns (result fixed later)."""
    return np.where(den != 0, den, 1.0)


def _mu_bkg_kernel(n_on: Any, n_off: Any, alpha: Any, mu_sig: Any) -> Any:
    n_on, n_off, alpha, mu_sig = (_float64(x) for x in (n_on, n_off, alpha, mu_sig))
    c = alpha * (n_on + n_off) - (1.0 + alpha) * mu_sig
    disc = c * c + 4.0 * alpha * (alpha + 1.0) * n_off * mu_sig
    d = np.sqrt(np.where(disc >= 0, disc, np.nan))
    den_plus = 2.0 * alpha * (alpha + 1.0)
    plus = np.where(den_plus != 0, (c + d) / _safe(den_plus), np.nan)
    minus = 2.0 * n_off * mu_sig / _safe(d - c)  # d - c > 0 wherever c < 0
    general = np.where(c >= 0, plus, minus)
    # Exact forms in the limiting cases (mu_sig = 0; n_on = 0 with mu_sig >= 0).
    no_signal = (n_on + n_off) / _safe(1.0 + alpha)
    no_on = n_off / _safe(1.0 + alpha)
    out = np.where((n_on == 0) & (mu_sig >= 0), no_on, general)
    return np.where(mu_sig == 0, no_signal, out)


#: Taylor coefficients of (1 + d) ln(1 + d) - d = sum_k (-1)^k d^k / (k (k - 1)), k >= 2.
_SERIES = tuple((-1) ** k / (k * (k - 1)) for k in range(2, 20))
#: Below this |n / mu - 1| the series is used (its truncation error is < 1e-18 relative).
_SERIES_RANGE = 0.1
#: Below this mu, ln(n / mu) is taken as ln(n) - ln(mu), so that n / mu cannot overflow.
_TINY_MU = 1e-290


def _poisson_deviance(n: Any, mu: Any) -> Any:
    r"""Half the Poisson deviance of one bin, :math:`\mu - n + n \ln(n / \mu) \ge 0`.

    Accurate to a few ulp: near :math:`n = \mu` (where the three terms cancel)
    it is :math:`\mu\,g(d)` with :math:`d = n/\mu - 1` and the series of
    :math:`g(d) = (1 + d)\ln(1 + d) - d`. Limits: :math:`n = 0` gives
    :math:`\mu`; :math:`n > 0 = \mu` gives ``inf``; otherwise a negative or
    NaN :math:`\mu` gives NaN.
    """
    positive = mu > 0
    safe_mu = np.where(positive, mu, 1.0)
    d = (n - safe_mu) / safe_mu
    small = np.abs(d) < _SERIES_RANGE
    ds = np.where(small, d, 0.0)
    poly = ds * 0.0
    for coefficient in reversed(_SERIES):
        poly = poly * ds + coefficient
    series = safe_mu * ds * ds * poly
    normal = safe_mu > _TINY_MU
    ratio = n / np.where(normal, safe_mu, 1.0)
    log_term = np.where(
        normal,
        scipy.special.xlogy(n, ratio),
        scipy.special.xlogy(n, n) - scipy.special.xlogy(n, safe_mu),
    )
    value = np.where(small, series, log_term - n + safe_mu)
    at_zero = np.where(n > 0, np.inf, np.nan)
    # n = 0: the term is mu, also for a mean that round-off made slightly negative
    # (the best fit of a negative excess has mu_on = 0 exactly), as Gammapy.
    return np.where(n == 0, mu, np.where(positive, value, np.where(mu == 0, at_zero, np.nan)))


def _wstat_kernel(n_on: Any, n_off: Any, alpha: Any, mu_sig: Any, mask: Any = None) -> Any:
    n_on, n_off, alpha, mu_sig = (_float64(x) for x in (n_on, n_off, alpha, mu_sig))
    mu_bkg = _mu_bkg_kernel(n_on, n_off, alpha, mu_sig)
    mu_on = mu_sig + alpha * mu_bkg
    stat = 2.0 * (_poisson_deviance(n_on, mu_on) + _poisson_deviance(n_off, mu_bkg))
    # Each term is >= 0 exactly; remove any round-off below 0 (NaN passes through).
    stat = np.where(stat < 0, 0.0, stat)
    return stat if mask is None else np.where(mask, stat, 0.0)


def _apply(kernel: Callable[..., Any], *args: Any) -> Any:
    """Run a numpy/dask kernel, through :func:`xarray.apply_ufunc` if any input is xarray."""
    if any(isinstance(arg, (xr.DataArray, xr.Dataset, xr.Variable)) for arg in args):
        return xr.apply_ufunc(kernel, *args, dask="allowed", keep_attrs=False)
    return kernel(*args)


# --------------------------------------------------------------------------------------
# Public statistic
# --------------------------------------------------------------------------------------


def wstat_mu_bkg(n_on: Any, n_off: Any, alpha: Any, mu_sig: Any) -> Any:
    r"""The profiled background :math:`\hat\mu_\mathrm{bkg}` of WStat (off-region counts).

    Parameters
    ----------
    n_on : array or DataArray
        Counts in the on region.
    n_off : array or DataArray
        Counts in the off region.
    alpha : array or DataArray
        On/off acceptance ratio :math:`\alpha` (dimensionless, :math:`\ge 0`).
    mu_sig : array or DataArray
        Predicted signal counts in the on region (:math:`\ge 0`).

    Returns
    -------
    array or DataArray
        :math:`\hat\mu_\mathrm{bkg}`, float64, in the broadcast shape: the
        expected counts in the *off* region; the background expected in the on
        region is :math:`\alpha \hat\mu_\mathrm{bkg}`.

    Examples
    --------
    >>> from gammaxr.fit.wstat import wstat_mu_bkg
    >>> float(wstat_mu_bkg(10, 20, 0.25, 0.0))  # (n_on + n_off) / (1 + alpha)
    24.0
    """
    return _apply(_mu_bkg_kernel, n_on, n_off, alpha, mu_sig)


def wstat(n_on: Any, n_off: Any, alpha: Any, mu_sig: Any, *, mask: Any = None) -> Any:
    r"""Per-bin WStat deviance: :math:`-2 \ln L` of on-off counts, background profiled.

    Equal to Gammapy's ``gammapy.stats.wstat(n_on, n_off, alpha, mu_sig)``
    (``extra_terms=True``), computed without cancellation; see the module
    documentation for the formulae and limits.

    Parameters
    ----------
    n_on, n_off : array or DataArray
        Counts in the on and off regions.
    alpha : array or DataArray
        On/off acceptance ratio (dimensionless).
    mu_sig : array or DataArray
        Predicted signal counts in the on region.
    mask : array or DataArray of bool, optional
        Bins that count; the others give exactly 0. Default: all.

    Returns
    -------
    array or DataArray
        The per-bin statistic, float64, :math:`\ge 0` (NaN only for invalid
        input). Sum it over the bins for the fit statistic
        (``errordef = 1``); differences are :math:`\chi^2`-like.

    Examples
    --------
    >>> import numpy as np
    >>> from gammaxr.fit.wstat import wstat
    >>> wstat(np.array([0, 10]), np.array([4, 20]), 0.25, np.array([0.0, 5.0])).round(6)
    array([1.785148, 0.      ])
    """
    if mask is None:
        return _apply(_wstat_kernel, n_on, n_off, alpha, mu_sig)
    return _apply(_wstat_kernel, n_on, n_off, alpha, mu_sig, mask)


def wstat_sum(
    n_on: xr.DataArray,
    n_off: xr.DataArray,
    alpha: xr.DataArray,
    mu_sig: xr.DataArray,
    *,
    mask: xr.DataArray | None = None,
    dim: Hashable | Sequence[Hashable] | None = None,
) -> xr.DataArray:
    """The summed WStat of DataArrays, lazy for dask-backed inputs.

    Parameters
    ----------
    n_on, n_off, alpha, mu_sig : xarray.DataArray
        As for :func:`wstat`, broadcast and aligned by dim name.
    mask : xarray.DataArray of bool, optional
        Bins that count (e.g. ``mask_safe & mask_fit``).
    dim : str or sequence of str, optional
        Dims to sum over (default: all), e.g. all but ``obs_id`` for one
        statistic per observation.

    Returns
    -------
    xarray.DataArray
        The summed statistic (float64), named ``"wstat"``.
    """
    terms = wstat(n_on, n_off, alpha, mu_sig, mask=mask)
    result = terms.sum(dim=dim)
    result.name = "wstat"
    return result
