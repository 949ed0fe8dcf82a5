r"""Summary statistics of counts: excess, significance and the on-off info table.

For on-off counts (:math:`n_\mathrm{on}`, :math:`n_\mathrm{off}`, acceptance
ratio :math:`\alpha`) the excess is :math:`n_\mathrm{on} - \alpha
n_\mathrm{off}` and the significance is the signed square root of the
profile-likelihood test statistic

.. math::

    TS = W(\mu_\mathrm{sig} = 0) - W(\hat\mu_\mathrm{sig}), \qquad
    S = \operatorname{sign}(n_\mathrm{on} - \alpha n_\mathrm{off}) \sqrt{TS},

with :math:`W` the WStat deviance (:func:`gammaxr.fit.wstat.wstat`). At the
best fit :math:`\hat\mu_\mathrm{sig} = n_\mathrm{on} - \alpha n_\mathrm{off}`
the prediction equals the data, :math:`W = 0`, so :math:`TS = W(0)`, which is
Li & Ma (1983) eq. 17:

.. math::

    S = \sqrt{2} \left[ n_\mathrm{on} \ln\left(\frac{1 + \alpha}{\alpha}
        \frac{n_\mathrm{on}}{n_\mathrm{on} + n_\mathrm{off}}\right)
        + n_\mathrm{off} \ln\left((1 + \alpha)
        \frac{n_\mathrm{off}}{n_\mathrm{on} + n_\mathrm{off}}\right)\right]^{1/2}.

For a known background :math:`\mu_\mathrm{bkg}` (Cash), :math:`TS = 2
[\mu_\mathrm{bkg} - n + n \ln(n / \mu_\mathrm{bkg})]`. These are the numbers
of Gammapy's ``WStatCountsStatistic`` / ``CashCountsStatistic`` (``n_sig``,
``sqrt_ts``).

:func:`info_table` summarises an on-off dataset per observation, or
cumulatively, like Gammapy's ``Datasets.info_table``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from gammaxr.conventions import OBS_ID, require_units
from gammaxr.exceptions import FormatError
from gammaxr.fit.statistics import deviance_terms
from gammaxr.fit.wstat import on_off_alpha, wstat

__all__ = ["excess", "info_table", "significance", "significance_cash"]


def excess(n_on: Any, n_off: Any, alpha: Any) -> Any:
    r"""The excess :math:`n_\mathrm{on} - \alpha\, n_\mathrm{off}` (counts).

    Parameters
    ----------
    n_on, n_off : array or DataArray
        Counts in the on and off regions.
    alpha : array or DataArray
        On/off acceptance ratio (dimensionless).

    Returns
    -------
    array or DataArray
        The excess counts (float), broadcast.

    Examples
    --------
    >>> from gammaxr.estimators import excess
    >>> excess(10, 20, 0.25)
    5.0
    """
    return n_on - alpha * n_off


def significance(n_on: Any, n_off: Any, alpha: Any) -> Any:
    r"""Signed profile-likelihood significance of on-off counts (Li & Ma 1983, eq. 17).

    Parameters
    ----------
    n_on, n_off : array or DataArray
        Counts in the on and off regions.
    alpha : array or DataArray
        On/off acceptance ratio (dimensionless, :math:`> 0`).

    Returns
    -------
    array or DataArray
        :math:`\operatorname{sign}(n_\mathrm{on} - \alpha n_\mathrm{off})\sqrt{TS}`
        in Gaussian sigmas (float64); 0 for :math:`n_\mathrm{on} =
        n_\mathrm{off} = 0`.

    Notes
    -----
    :math:`TS` is :func:`gammaxr.fit.wstat.wstat` at :math:`\mu_\mathrm{sig} =
    0` (the WStat at the best fit is exactly 0), so the result equals Gammapy's
    ``WStatCountsStatistic(n_on, n_off, alpha).sqrt_ts`` up to round-off.

    Examples
    --------
    >>> from gammaxr.estimators import significance
    >>> round(float(significance(10, 20, 0.25)), 6)
    1.709868
    """
    ts = wstat(n_on, n_off, alpha, 0.0)
    return np.sign(excess(n_on, n_off, alpha)) * np.sqrt(ts)


def significance_cash(n_on: Any, mu_bkg: Any) -> Any:
    r"""Signed significance of counts over a known background (Cash statistic).

    Parameters
    ----------
    n_on : array or DataArray
        Observed counts.
    mu_bkg : array or DataArray
        Expected background counts (exactly known); values below ``1e-25``
        are floored there, as Gammapy does.

    Returns
    -------
    array or DataArray
        :math:`\operatorname{sign}(n - \mu_\mathrm{bkg}) \sqrt{2 [\mu_\mathrm{bkg}
        - n + n \ln(n / \mu_\mathrm{bkg})]}`, float64; equal to Gammapy's
        ``CashCountsStatistic(n_on, mu_bkg).sqrt_ts``.

    Examples
    --------
    >>> from gammaxr.estimators import significance_cash
    >>> round(float(significance_cash(3, 0.5)), 6)
    2.398032
    """
    if any(isinstance(arg, (xr.DataArray, xr.Dataset)) for arg in (n_on, mu_bkg)):
        ts = xr.apply_ufunc(deviance_terms, n_on, mu_bkg, dask="allowed", keep_attrs=False)
    else:
        ts = deviance_terms(n_on, mu_bkg)
    return np.sign(n_on - mu_bkg) * np.sqrt(np.maximum(ts, 0.0))


# --------------------------------------------------------------------------------------
# Info table
# --------------------------------------------------------------------------------------

#: Columns of :func:`info_table` and their units.
INFO_COLUMNS: dict[str, str] = {
    "counts": "",
    "counts_off": "",
    "background": "",
    "alpha": "",
    "acceptance": "",
    "acceptance_off": "",
    "excess": "",
    "sqrt_ts": "",
    "livetime": "s",
    "ontime": "s",
    "counts_rate": "s-1",
    "background_rate": "s-1",
    "excess_rate": "s-1",
    "n_bins": "",
    "n_safe_bins": "",
}


def info_table(ds: xr.Dataset, *, cumulative: bool = False, dim: str = OBS_ID) -> pd.DataFrame:
    r"""Summary of an on-off dataset over its safe bins, per observation or cumulated.

    The numbers are those of Gammapy's ``Datasets.info_table`` for
    ``SpectrumDatasetOnOff`` (also for on-off map datasets: sums run over all
    safe bins). For each observation :math:`i` (safe mask :math:`m_i`,
    :math:`\alpha_i` as :func:`gammaxr.fit.wstat.on_off_alpha`):

    - ``counts`` :math:`= \sum m_i n_{\mathrm{on},i}`, ``counts_off``
      :math:`= \sum m_i n_{\mathrm{off},i}`,
    - ``background`` :math:`= \sum m_i \alpha_i n_{\mathrm{off},i}`,
      ``alpha`` = ``background / counts_off`` (NaN without off counts),
    - ``acceptance`` :math:`= \sum m_i A_i`, ``acceptance_off`` = ``acceptance / alpha``,
    - ``excess`` = ``counts - background``, ``sqrt_ts`` =
      :func:`significance` ``(counts, counts_off, alpha)``,
    - ``livetime`` and ``ontime`` (s; NaN if the dataset has none), the rates
      ``counts_rate``, ``background_rate``, ``excess_rate`` (s-1, per live time),
    - ``n_bins`` (all bins) and ``n_safe_bins``.

    With ``cumulative=True`` row :math:`k` describes the stack of observations
    :math:`1..k` (in the order of ``dim``; sort with ``ds.sortby("obs_id")``
    first for id order), as :func:`gammaxr.fit.wstat.stack_on_off` would
    make it: the sums above are cumulated, the live time counts only
    observations with a safe bin, and ``n_safe_bins`` is the size of the
    union of the safe masks.

    Parameters
    ----------
    ds : xarray.Dataset
        On-off dataset: ``counts``, ``counts_off``, ``acceptance``,
        ``acceptance_off``, ``mask_safe``; joint (with ``dim``), a single
        observation or a stack. ``livetime`` / ``ontime`` are taken from
        variables (``(dim)`` or 0-d, with ``attrs["units"]``) or, without
        ``dim``, from dataset attrs in s.
    cumulative : bool
        Cumulate over ``dim`` instead of one row per observation.
    dim : str
        The observation dim.

    Returns
    -------
    pandas.DataFrame
        One row per observation, indexed by ``dim`` (for ``cumulative``: the
        last observation included); one row for a dataset without ``dim``,
        indexed by its ``attrs["obs_id"]`` or ``"stacked"``. Columns as
        :data:`INFO_COLUMNS`; ``df.attrs["units"]`` maps columns to units.

    Raises
    ------
    FormatError
        If a variable is missing, or a joint dataset has per-observation
        times as dataset attrs.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from gammaxr.estimators import info_table
    >>> var = lambda v: ("energy", np.array(v), {"units": ""})
    >>> ds = xr.Dataset(
    ...     {"counts": var([4, 6]), "counts_off": var([8, 12]), "acceptance": var([1.0, 1.0]),
    ...      "acceptance_off": var([4.0, 4.0]), "mask_safe": var([True, True])},
    ...     attrs={"obs_id": 1, "livetime": 100.0},
    ... )
    >>> row = info_table(ds).loc[1]
    >>> int(row.counts), int(row.counts_off), float(row.alpha), float(row.excess_rate)
    (10, 20, 0.25, 0.05)
    """
    missing = [
        name
        for name in ("counts", "counts_off", "acceptance", "acceptance_off", "mask_safe")
        if name not in ds
    ]
    if missing:
        raise FormatError(f"info_table: the on-off dataset lacks {missing}")
    joint = dim in ds.dims
    mask = ds["mask_safe"].astype(bool)
    bin_dims = [d for d in mask.dims if d != dim]
    alpha = on_off_alpha(ds)

    def safe_sum(da: xr.DataArray) -> xr.DataArray:
        return da.astype(np.float64).where(mask, 0.0).sum(bin_dims)

    sums = {
        "counts": safe_sum(ds["counts"]),
        "counts_off": safe_sum(ds["counts_off"]),
        "background": safe_sum(alpha * ds["counts_off"]),
        "acceptance": safe_sum(ds["acceptance"]),
    }
    used = mask.any(bin_dims)
    times = {name: _time(ds, name, dim=dim, joint=joint) for name in ("livetime", "ontime")}
    if cumulative and joint:
        sums = {name: value.cumsum(dim) for name, value in sums.items()}
        times = {
            name: value.where(used, 0.0).cumsum(dim, skipna=False) for name, value in times.items()
        }
        n_safe = (mask.astype(np.int64).cumsum(dim) > 0).sum(bin_dims)
    else:
        n_safe = mask.sum(bin_dims)
    counts_off = sums["counts_off"]
    alpha_sum = sums["background"] / counts_off.where(counts_off != 0)
    livetime = times["livetime"].where(times["livetime"] != 0)
    columns = {
        "counts": sums["counts"],
        "counts_off": counts_off,
        "background": sums["background"],
        "alpha": alpha_sum,
        "acceptance": sums["acceptance"],
        "acceptance_off": sums["acceptance"] / alpha_sum.where(alpha_sum != 0),
        "excess": excess(sums["counts"], counts_off, alpha_sum),
        "sqrt_ts": significance(sums["counts"], counts_off, alpha_sum),
        "livetime": times["livetime"],
        "ontime": times["ontime"],
        "counts_rate": sums["counts"] / livetime,
        "background_rate": sums["background"] / livetime,
        "excess_rate": excess(sums["counts"], counts_off, alpha_sum) / livetime,
        "n_bins": xr.full_like(n_safe, int(np.prod([ds.sizes[d] for d in bin_dims]))),
        "n_safe_bins": n_safe,
    }
    table = xr.Dataset({name: columns[name].reset_coords(drop=True) for name in INFO_COLUMNS})
    table = table.compute()  # the conversion point: a DataFrame holds numbers
    if joint:
        frame = table.to_dataframe()
        frame.index.name = dim
    else:
        label = ds.attrs.get(OBS_ID, "stacked")
        frame = pd.DataFrame(
            {name: [table[name].item()] for name in INFO_COLUMNS},
            index=pd.Index([label], name=OBS_ID),
        )
    for name in ("counts", "counts_off"):
        if ds[name].dtype.kind in "iub":
            frame[name] = frame[name].astype(np.int64)
    for name in ("n_bins", "n_safe_bins"):
        frame[name] = frame[name].astype(np.int64)
    frame = frame[list(INFO_COLUMNS)]
    frame.attrs["units"] = {name: unit for name, unit in INFO_COLUMNS.items() if unit}
    return frame


def _time(ds: xr.Dataset, name: str, *, dim: str, joint: bool) -> xr.DataArray:
    """``livetime`` / ``ontime`` in s as a ``(dim)`` or 0-d DataArray (NaN if absent)."""
    if name in ds.variables:
        da = ds[name]
        if not set(da.dims) <= {dim}:
            raise FormatError(f"info_table: {name} must have dims ({dim!r},) or none")
        if "units" in da.attrs:
            da = require_units(da, "s", what=name)
        return da.astype(np.float64).reset_coords(drop=True)
    if name in ds.attrs:
        if joint:
            raise FormatError(
                f"info_table: {name} is a dataset attr of a joint dataset, so it describes one "
                f"observation only; build the joint form with gammaxr.concat_observations, "
                f"which makes it a ({dim}) variable"
            )
        return xr.DataArray(float(ds.attrs[name]))
    if joint:
        return xr.DataArray(np.full(ds.sizes[dim], np.nan), dims=dim)
    return xr.DataArray(np.nan)
