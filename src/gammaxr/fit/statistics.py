r"""Fit statistics: Poisson likelihoods as ``-2 ln L`` (up to a constant).

The Cash statistic for counts :math:`n_i` and predicted counts :math:`\mu_i` is

.. math:: C = 2 \sum_i \left(\mu_i - n_i \ln \mu_i\right),

which is :math:`-2 \ln L` of independent Poisson bins up to the constant
:math:`2 \sum_i \ln n_i!`. Differences of :math:`C` are therefore
:math:`\chi^2`-like: one standard error of one parameter is where :math:`C`
rises by 1 (``errordef = 1`` for iminuit). The *deviance*

.. math:: D = 2 \sum_i \left(\mu_i - n_i + n_i \ln \frac{n_i}{\mu_i}\right)

subtracts the statistic of the saturated model (:math:`\mu_i = n_i`); it is
non-negative and, for many counts, :math:`\chi^2`-distributed with
``ndata - nfree`` degrees of freedom: a goodness-of-fit measure.

Limits
------
* :math:`n_i = 0`: the term is :math:`2 \mu_i` (``0 ln 0 = 0``), so an empty bin
  with :math:`\mu_i \to 0` contributes 0.
* :math:`\mu_i \le 0`: the prediction is floored at :data:`NPRED_FLOOR`
  (1e-25, as Gammapy's ``TRUNCATION_VALUE``). A bin with counts then costs
  :math:`-2 n_i \ln(10^{-25}) \approx 115\,n_i`: a large, *finite* penalty that
  keeps optimisers working (``inf`` or ``nan`` stop Minuit), and a negative
  prediction never scores better than an empty one.

Masks
-----
Only bins where ``mask`` is True count. Masked-out bins contribute exactly 0,
even when their counts or predictions are NaN. A dataset's ``mask_safe`` and
``mask_fit`` are combined with :func:`combined_mask`.

Arrays
------
:func:`cash` and :func:`cash_deviance` take numpy (or dask) arrays and return a
float64 sum. :func:`cash_sum` takes DataArrays (numpy- or dask-backed),
broadcasts them by dim name and returns a 0-d (or, with ``dim``, reduced)
DataArray, lazy when the inputs are; summing per chunk is how a large cube is
fitted. WStat (on-off counts with a profiled background) will join
:data:`STATISTICS` with its own kernel.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any

import dask
import numpy as np
import scipy.special
import xarray as xr

__all__ = [
    "NPRED_FLOOR",
    "STATISTICS",
    "cash",
    "cash_deviance",
    "cash_sum",
    "cash_terms",
    "combined_mask",
    "deviance_terms",
]

#: Predicted counts are floored here (Gammapy's ``TRUNCATION_VALUE``).
NPRED_FLOOR = 1e-25


def cash_terms(counts: Any, npred: Any, mask: Any = None) -> Any:
    r"""Per-bin Cash terms :math:`2(\mu - n \ln \mu)`, float64 (numpy or dask kernel).

    Parameters
    ----------
    counts : array
        Observed counts :math:`n` (non-negative).
    npred : array
        Predicted counts :math:`\mu`, broadcastable against ``counts``; floored at
        :data:`NPRED_FLOOR`.
    mask : array of bool, optional
        Bins that count (others give exactly 0). Default: all.

    Returns
    -------
    array
        The terms, float64, in the broadcast shape.
    """
    n, mu = _float64(counts), np.maximum(_float64(npred), NPRED_FLOOR)
    terms = 2.0 * (mu - scipy.special.xlogy(n, mu))
    return _apply_mask(terms, mask)


def deviance_terms(counts: Any, npred: Any, mask: Any = None) -> Any:
    r"""Per-bin Cash deviance :math:`2(\mu - n + n \ln(n/\mu))`, float64, non-negative.

    Same arguments and limits as :func:`cash_terms`.
    """
    n, mu = _float64(counts), np.maximum(_float64(npred), NPRED_FLOOR)
    terms = 2.0 * (mu - n + scipy.special.xlogy(n, n) - scipy.special.xlogy(n, mu))
    return _apply_mask(terms, mask)


def _float64(x: Any) -> Any:
    """``x`` as float64: numpy arrays without a copy when possible, dask arrays lazily."""
    return x.astype(np.float64) if dask.is_dask_collection(x) else np.asarray(x, np.float64)


def _apply_mask(terms: Any, mask: Any) -> Any:
    return terms if mask is None else np.where(mask, terms, 0.0)


def cash(counts: Any, npred: Any, *, mask: Any = None) -> float:
    r"""The Cash statistic :math:`2 \sum (\mu - n \ln \mu)` of numpy arrays.

    Parameters
    ----------
    counts : array
        Observed counts.
    npred : array
        Predicted counts (same shape, or broadcastable).
    mask : array of bool, optional
        Bins that count. Default: all.

    Returns
    -------
    float
        The statistic (float64; ``-2 ln L`` up to a constant).

    Examples
    --------
    >>> import numpy as np
    >>> from gammaxr.fit import cash
    >>> round(cash(np.array([0, 2]), np.array([1.0, 2.0])), 6)
    3.227411
    """
    return float(np.sum(cash_terms(counts, npred, mask)))


def cash_deviance(counts: Any, npred: Any, *, mask: Any = None) -> float:
    """The Cash deviance (goodness of fit; 0 for a perfect prediction) of numpy arrays.

    Same arguments as :func:`cash`. For many counts per bin it is approximately
    chi2-distributed with ``ndata - nfree`` degrees of freedom.
    """
    return float(np.sum(deviance_terms(counts, npred, mask)))


def cash_sum(
    counts: xr.DataArray,
    npred: xr.DataArray,
    *,
    mask: xr.DataArray | None = None,
    dim: Hashable | Sequence[Hashable] | None = None,
    deviance: bool = False,
) -> xr.DataArray:
    """The Cash statistic (or deviance) of DataArrays, lazy for dask-backed inputs.

    Parameters
    ----------
    counts, npred : xarray.DataArray
        Observed and predicted counts; broadcast and aligned by dim name.
    mask : xarray.DataArray of bool, optional
        Bins that count (e.g. ``mask_safe & mask_fit``); broadcast by dim name.
    dim : str or sequence of str, optional
        Dims to sum over (default: all), e.g. everything but ``obs_id`` for a
        per-observation statistic.
    deviance : bool
        Sum the deviance terms instead (goodness of fit).

    Returns
    -------
    xarray.DataArray
        The summed statistic, float64; 0-d when ``dim`` is None. Nothing is
        computed for dask-backed inputs until asked for (``float(result)``).
    """
    kernel: Callable[..., Any] = deviance_terms if deviance else cash_terms
    args = [counts, npred] if mask is None else [counts, npred, mask]
    terms = xr.apply_ufunc(kernel, *args, dask="allowed", keep_attrs=False)
    result = terms.sum(dim=dim)
    result.name = "deviance" if deviance else "cash"
    return result


def combined_mask(dataset: xr.Dataset) -> xr.DataArray | None:
    """``mask_safe & mask_fit`` of a dataset (those present), or None if it has neither.

    Masks stored as 0/1 integers (NetCDF has no booleans) are read as booleans.
    """
    masks = [dataset[name].astype(bool) for name in ("mask_safe", "mask_fit") if name in dataset]
    if not masks:
        return None
    return masks[0] if len(masks) == 1 else masks[0] & masks[1]


#: Statistic kernels by name: ``terms(counts, npred, mask) -> per-bin -2 ln L``.
#: (WStat needs ``counts_off`` and ``alpha`` and will come with its own cost.)
STATISTICS: dict[str, Callable[..., Any]] = {"cash": cash_terms}
