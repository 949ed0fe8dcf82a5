"""Shared parts of the map estimators (TS maps, excess maps).

Private to :mod:`gammaxr.estimators.ts_map` and :mod:`gammaxr.estimators.excess_map`:
dataset checks, energy groups, masks, the exposure in reconstructed energy
and the output coordinates. Arrays are numpy, ``(energy, lat, lon)``, float64.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from gammaxr.axes import axis_from_edges
from gammaxr.conventions import ENERGY, LAT, LON, OBS_ID, edges, hi_name, lo_name
from gammaxr.exceptions import ConfigError, DimensionError
from gammaxr.fit.statistics import combined_mask
from gammaxr.models._folding import FoldingContext, _energy_edges_tev, redistribute
from gammaxr.models.spectral_base import SpectralModel

__all__ = [
    "check_map_dataset",
    "energy_edges_tev",
    "energy_groups",
    "fit_mask",
    "output_coords",
    "reco_exposure",
    "spatial_grid_steps",
    "values",
]


def check_map_dataset(ds: xr.Dataset, *, what: str, variables: Sequence[str]) -> None:
    """A stacked map dataset with ``variables`` on ``(energy, lat, lon)``, or an error."""
    if not isinstance(ds, xr.Dataset):
        raise DimensionError(f"{what}: expected an xarray.Dataset, got {type(ds).__name__}")
    if OBS_ID in ds.dims:
        raise DimensionError(
            f"{what}: the dataset has an {OBS_ID!r} dim (joint form); stack it first "
            "(ds.gp.stack() or gammaxr.stacking.stack(ds); on-off datasets: "
            "gammaxr.fit.wstat.stack_on_off)"
        )
    for name in variables:
        if name not in ds.data_vars:
            raise DimensionError(f"{what}: the dataset has no {name!r} variable")
        missing = {ENERGY, LAT, LON} - set(ds[name].dims)
        if missing:
            raise DimensionError(
                f"{what}: {name!r} must have dims (energy, lat, lon); it has "
                f"{ds[name].dims} (missing {sorted(missing)})"
            )
    for dim in (ENERGY, LAT, LON):
        for name in (lo_name(dim), hi_name(dim)):
            if name not in ds.coords:
                raise DimensionError(f"{what}: coordinate {name!r} is missing")


def values(da: xr.DataArray) -> np.ndarray:
    """``da`` on ``(energy, lat, lon)`` as a float64 numpy array (computes dask)."""
    return np.asarray(da.transpose(ENERGY, LAT, LON).to_numpy(), dtype=np.float64)


def fit_mask(ds: xr.Dataset) -> np.ndarray:
    """``mask_safe & mask_fit`` on ``(energy, lat, lon)``; all True without masks."""
    shape = (ds.sizes[ENERGY], ds.sizes[LAT], ds.sizes[LON])
    mask = combined_mask(ds)
    if mask is None:
        return np.ones(shape, dtype=bool)
    mask = mask.astype(bool)
    for dim in (ENERGY, LAT, LON):
        if dim not in mask.dims:
            mask = mask.expand_dims({dim: ds.sizes[dim]})
    return np.broadcast_to(np.asarray(mask.transpose(ENERGY, LAT, LON).to_numpy()), shape).copy()


def energy_edges_tev(ds: xr.Dataset) -> np.ndarray:
    """The reco-energy edges of a dataset, TeV."""
    return _energy_edges_tev(ds, ENERGY)


def nearest_edges(requested: np.ndarray, reco: np.ndarray) -> np.ndarray:
    """Index of the ``reco`` edge nearest in log energy to each ``requested`` edge.

    The one snapping rule of the estimators (Gammapy's): requested energy
    edges move to the nearest edge of the dataset's axis.
    """
    return np.argmin(np.abs(np.log(requested)[:, None] - np.log(reco)[None, :]), axis=1)


def energy_groups(
    ds: xr.Dataset, energy_edges: Sequence[float] | np.ndarray | None, *, what: str
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Group the reco-energy bins of a dataset.

    ``energy_edges`` (TeV) are moved to the nearest edges of the dataset's
    axis (as Gammapy does); None gives one group, the whole axis.

    Returns
    -------
    edges : numpy.ndarray
        The group edges, TeV (``n_groups + 1``).
    members : list of numpy.ndarray
        The reco-energy bin indices of each group.
    """
    axis_edges = energy_edges_tev(ds)
    if energy_edges is None:
        return axis_edges[[0, -1]], [np.arange(axis_edges.size - 1)]
    wanted = np.asarray(energy_edges, dtype=float).ravel()
    if wanted.size < 2 or not np.all(np.diff(wanted) > 0) or not np.all(wanted > 0):
        raise ConfigError(
            f"{what}: energy_edges must be at least two increasing positive energies in TeV, "
            f"got {energy_edges!r}"
        )
    nearest = np.unique(nearest_edges(wanted, axis_edges))
    if nearest.size < 2:
        raise ConfigError(
            f"{what}: energy_edges {list(wanted)} TeV all fall on one edge of the dataset's "
            f"energy axis ({axis_edges[0]:.4g} to {axis_edges[-1]:.4g} TeV)"
        )
    members = [np.arange(lo, hi) for lo, hi in zip(nearest[:-1], nearest[1:], strict=True)]
    return axis_edges[nearest], members


def reco_exposure(ds: xr.Dataset, spectral: SpectralModel) -> tuple[np.ndarray, FoldingContext]:
    """Predicted counts of ``spectral`` per pixel, without PSF: ``(energy, lat, lon)``.

    The exposure (cm2 s) times the model's flux in each true-energy bin,
    redistributed to reco energy by the dataset's ``edisp`` (or the diagonal
    response): the counts a point source at a pixel would give, all of them
    in that pixel.
    """
    ctx = FoldingContext(ds)
    lo, hi = ctx.energy_true_edges[:-1], ctx.energy_true_edges[1:]
    flux = np.asarray(spectral.integral(lo, hi), dtype=np.float64).reshape(1, -1)
    exposure = ctx.exposure(None)
    return redistribute(ctx, exposure, flux)[0], ctx


def spatial_grid_steps(ds: xr.Dataset) -> tuple[float, float]:
    """``(dlat, dlon)`` of the sky grid, deg."""
    return float(np.max(np.diff(edges(ds, LAT)))), float(np.max(np.diff(edges(ds, LON))))


def output_coords(
    ds: xr.Dataset, group_edges: np.ndarray | None
) -> tuple[dict[str, xr.DataArray], tuple[str, ...]]:
    """Coordinates and dims of a map product: ``(energy?, lat, lon)``.

    With ``group_edges`` (TeV) the product has an ``energy`` dim with these
    bins; without, it has none.
    """
    coords: dict[str, xr.DataArray] = {}
    for dim in (LAT, LON):
        for name in (dim, lo_name(dim), hi_name(dim)):
            coords[name] = ds.coords[name]
    dims: tuple[str, ...] = (LAT, LON)
    if group_edges is not None:
        axis = axis_from_edges(group_edges, name=ENERGY, units="TeV", interp="log")
        for name, coord in axis.coords.items():
            coords[str(name)] = coord
        dims = (ENERGY, LAT, LON)
    return coords, dims
