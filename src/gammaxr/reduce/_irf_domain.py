"""Helpers shared by the map makers: the range an IRF covers, and gap filling."""

from __future__ import annotations

import numpy as np
import xarray as xr

from gammaxr.conventions import hi_name, lo_name

__all__ = ["axis_range", "domain_mask", "fill_energy_gaps"]


def domain_mask(irf: xr.DataArray, **coords: xr.DataArray | float) -> xr.DataArray | bool:
    """Whether coordinates lie inside the range an IRF covers.

    The range of a binned axis runs from its first lower edge to its last upper
    edge; that of a node axis (no edges) from its first to its last node.
    Outside it the IRF says nothing, and the makers take it as zero (as
    Gammapy does beyond the axis edges).

    Parameters
    ----------
    irf : xarray.DataArray
        The IRF.
    **coords : xarray.DataArray or float
        Dim name -> coordinate values, in the unit of that axis.

    Returns
    -------
    xarray.DataArray or bool
        True inside, broadcast over the coordinates.
    """
    inside: xr.DataArray | bool = True
    for dim, value in coords.items():
        low, high = axis_range(irf, dim)
        inside = inside & (value >= low) & (value <= high)
    return inside


def axis_range(irf: xr.DataArray, dim: str) -> tuple[float, float]:
    """The range an IRF covers along ``dim``: outermost edges, or outermost nodes.

    See :func:`domain_mask`.
    """
    if lo_name(dim) in irf.coords:
        low = np.min(irf.coords[lo_name(dim)].values)
        high = np.max(irf.coords[hi_name(dim)].values)
    else:
        low = np.min(irf.coords[dim].values)
        high = np.max(irf.coords[dim].values)
    return float(low), float(high)


def _fill_gaps_kernel(values: np.ndarray) -> np.ndarray:
    """Fill zeros / non-finite values along the last axis between valid neighbours.

    Each gap is bridged linearly in ``log(value)`` against the bin index
    (Gammapy's ``interp_missing_data`` with a log value scale); leading and
    trailing gaps stay as they are.
    """
    values = np.asarray(values, dtype=float)
    valid = np.isfinite(values) & (values > 0)
    size = values.shape[-1]
    index = np.broadcast_to(np.arange(size), values.shape)
    previous = np.maximum.accumulate(np.where(valid, index, -1), axis=-1)
    following = np.flip(
        np.minimum.accumulate(np.flip(np.where(valid, index, size), axis=-1), axis=-1), axis=-1
    )
    fill = ~valid & (previous >= 0) & (following < size)
    log_values = np.log(np.where(valid, values, 1.0))
    low = np.take_along_axis(log_values, np.clip(previous, 0, size - 1), axis=-1)
    high = np.take_along_axis(log_values, np.clip(following, 0, size - 1), axis=-1)
    span = np.where(fill, following - previous, 1)
    weight = (index - previous) / span
    return np.where(fill, np.exp(low + weight * (high - low)), values)


def fill_energy_gaps(irf: xr.DataArray, dim: str) -> xr.DataArray:
    """Bridge zero or non-finite IRF values along ``dim`` between valid values (log scale).

    Used for background tables, whose empty bins inside the energy range are
    artefacts of their Monte-Carlo or off-data statistics.
    """
    filled = xr.apply_ufunc(
        _fill_gaps_kernel,
        irf,
        input_core_dims=[[dim]],
        output_core_dims=[[dim]],
        dask="parallelized",
        output_dtypes=[np.float64],
    )
    return filled.transpose(*irf.dims).assign_attrs(irf.attrs).rename(irf.name)
