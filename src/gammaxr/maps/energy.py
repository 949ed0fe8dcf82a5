"""Regroup the reconstructed-energy bins of a dataset: energy groups and images.

A map dataset summed over reconstructed energy (an *image*) is what ring
backgrounds, excess maps and morphology studies of bright sources start
from. The rules, variable by variable (the dataset keeps every other):

* count-like variables on ``energy`` (``counts``, ``background``,
  ``counts_off``, ``acceptance``, ``acceptance_off``, predicted counts, ...)
  are summed over the *safe* bins of each group (``mask_safe``, where the
  dataset has one on ``energy``);
* ``mask_safe`` and ``mask_fit`` become True where any bin of the group is;
* ``edisp(energy_true, energy)`` is summed over each group's reco bins (the
  probability of migrating into the group);
* variables without ``energy`` (``exposure`` and ``psf`` on ``energy_true``)
  are unchanged: the true-energy axis is not regrouped.

These are the conventions of Gammapy's ``MapDataset.to_image`` /
``resample_energy_axis`` (counts and background summed within the safe mask,
the safe mask OR-ed, exposure kept on its true-energy axis). In-memory data
are regrouped with numpy; Dask-backed variables stay lazy.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from gammaxr.conventions import ENERGY, edges
from gammaxr.exceptions import ConfigError, DimensionError

__all__ = ["resample_energy", "to_image"]

#: Boolean masks: OR-ed over a group.
_MASKS = ("mask_safe", "mask_fit")
#: The coordinates of the reco-energy axis (replaced by the groups').
_ENERGY_COORDS = (ENERGY, f"{ENERGY}_lo", f"{ENERGY}_hi")


def to_image(dataset: xr.Dataset) -> xr.Dataset:
    """The dataset summed over its whole reconstructed-energy axis (one bin).

    See :func:`resample_energy` (with ``energy_edges=None``) and the module
    docstring for what happens to each variable.

    Examples
    --------
    >>> import gammaxr as gx
    >>> from gammaxr.maps import to_image
    >>> geom = gx.make_geom(
    ...     gx.energy_axis(1, 10, nbin=4),
    ...     gx.energy_axis(0.5, 20, nbin=6, name="energy_true"),
    ...     sky=gx.sky_grid((83.633, 22.014), width=2, binsz=0.1),
    ... )
    >>> ds = gx.make_map_dataset(gx.open_datastore().observation(23523), geom)
    >>> image = to_image(ds)
    >>> image.sizes["energy"], int(image.counts.sum()) == int((ds.counts * ds.mask_safe).sum())
    (1, True)
    """
    return resample_energy(dataset, None)


def resample_energy(
    dataset: xr.Dataset, energy_edges: Sequence[float] | np.ndarray | None = None
) -> xr.Dataset:
    """Group the reconstructed-energy bins of a dataset.

    Parameters
    ----------
    dataset : xarray.Dataset
        A map or spectrum dataset (joint or stacked) with an ``energy`` dim
        and its ``energy_lo`` / ``energy_hi`` coordinates.
    energy_edges : sequence of float, optional
        Group edges, TeV, each moved to the nearest edge of the dataset's
        axis (in log energy); None: one group, the whole axis.

    Returns
    -------
    xarray.Dataset
        The dataset on the grouped ``energy`` axis (coordinates ``energy``
        the geometric bin centres, ``energy_lo``, ``energy_hi``; TeV), with
        the variables regrouped as the module docstring says; attrs kept.

    Raises
    ------
    DimensionError
        If the dataset has no ``energy`` dim.
    ConfigError
        If ``energy_edges`` are not increasing positive energies, or all fall
        on one edge of the axis.
    """
    if ENERGY not in dataset.dims:
        raise DimensionError(f"resample_energy: the dataset has no {ENERGY!r} dim")
    axis = edges(dataset, ENERGY)
    index = _group_index(axis, energy_edges)
    group_edges = axis[index]
    safe = dataset.get("mask_safe")
    if safe is not None and ENERGY not in safe.dims:
        safe = None
    variables = {}
    for name, da in dataset.data_vars.items():
        if ENERGY not in da.dims:
            variables[name] = da.variable
        elif name in _MASKS:
            variables[name] = _regroup(da, index, reduce="any")
        elif name == "edisp" or da.dtype == bool:
            variables[name] = _regroup(da, index, reduce="sum")
        else:
            variables[name] = _regroup(da, index, reduce="sum", weight=safe)
    coords = {k: v.variable for k, v in dataset.coords.items() if k not in _ENERGY_COORDS}
    lo, hi = group_edges[:-1], group_edges[1:]
    energy_attrs = dict(dataset[ENERGY].attrs)
    coords[ENERGY] = xr.Variable(ENERGY, np.sqrt(lo * hi), energy_attrs)
    for suffix, values in (("lo", lo), ("hi", hi)):
        name = f"{ENERGY}_{suffix}"
        attrs = dict(dataset[name].attrs) if name in dataset.coords else {"units": "TeV"}
        coords[name] = xr.Variable(ENERGY, values, attrs)
    return xr.Dataset(variables, coords=coords, attrs=dict(dataset.attrs))


def _group_index(
    axis: np.ndarray, energy_edges: Sequence[float] | np.ndarray | None
) -> np.ndarray:
    """Indices into the axis edges of the group edges (nearest in log energy)."""
    if energy_edges is None:
        return np.array([0, axis.size - 1])
    wanted = np.asarray(energy_edges, dtype=float).ravel()
    if wanted.size < 2 or not np.all(np.diff(wanted) > 0) or not np.all(wanted > 0):
        raise ConfigError(
            "resample_energy: energy_edges must be at least two increasing positive "
            f"energies in TeV, got {energy_edges!r}"
        )
    nearest = np.argmin(np.abs(np.log(wanted)[:, None] - np.log(axis)[None, :]), axis=1)
    index = np.unique(nearest)
    if index.size < 2:
        raise ConfigError(
            f"resample_energy: energy_edges {list(wanted)} TeV all fall on one edge of the "
            f"dataset's energy axis ({axis[0]:.4g} to {axis[-1]:.4g} TeV)"
        )
    return index


def _regroup(
    da: xr.DataArray, index: np.ndarray, *, reduce: str, weight: xr.DataArray | None = None
) -> xr.Variable:
    """``da`` summed (``reduce="sum"``) or OR-ed (``"any"``) over the energy groups.

    Group ``g`` holds the bins ``[index[g], index[g + 1])``; bins outside
    ``[index[0], index[-1])`` are dropped. ``weight`` (a boolean mask, e.g. the
    safe mask) zeroes bins before summing; its dims that ``da`` lacks are
    OR-ed away first (a bin counts where it is safe anywhere).
    """
    values = da.variable
    if weight is not None:
        extra = [d for d in weight.dims if d not in da.dims]
        mask = weight.any(extra) if extra else weight
        values = values * mask.variable
    data = values.transpose(*da.dims).data
    axis = da.dims.index(ENERGY)
    window = (slice(None),) * axis + (slice(int(index[0]), int(index[-1])),)
    data = data[window]
    if reduce == "any":
        data = data.astype(np.int8)
    # float32 variables are summed in float64 and stored back as float32
    wide = np.float64 if data.dtype.kind == "f" else None
    summed = _reduceat(data, index[:-1] - index[0], axis, dtype=wide)
    if reduce == "any":
        summed = summed > 0
    elif da.dtype.kind in "iubf":
        summed = summed.astype(np.int64 if da.dtype.kind == "b" else da.dtype)
    return xr.Variable(da.dims, summed, dict(da.attrs))


def _reduceat(data, starts: np.ndarray, axis: int, *, dtype=None):
    """Sums over ``[starts[g], starts[g + 1])`` along ``axis``, the last to the end."""
    if not _is_dask(data):
        return np.add.reduceat(data, starts, axis=axis, dtype=dtype)
    import dask.array as dsa

    bounds = [*starts, data.shape[axis]]
    parts = [
        dsa.take(data, np.arange(lo, hi), axis=axis).sum(axis=axis, keepdims=True, dtype=dtype)
        for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)
    ]
    return dsa.concatenate(parts, axis=axis)


def _is_dask(data) -> bool:
    return type(data).__module__.startswith("dask")
