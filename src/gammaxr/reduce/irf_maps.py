"""Coarse PSF and energy-dispersion maps over the field of a geometry.

The PSF and energy dispersion change with the offset from the pointing. A map
dataset carries them at the geometry centre (``psf``, ``edisp``) and, on
request, on a coarse sky grid of their own (``psf_map``, ``edisp_map``) with
dims ``irf_lat`` / ``irf_lon`` (pixel centres and ``_lo`` / ``_hi`` edges, deg,
in the geometry's frame), so the fine grid of the data is never repeated.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from gammaxr.axes import sky_frame, sky_grid
from gammaxr.conventions import IRF_LAT, IRF_LON, LAT, LON, edges, hi_name, lo_name, require_dims
from gammaxr.exceptions import GeometryError
from gammaxr.reduce._geometry import pixel_offset
from gammaxr.reduce.map import make_edisp, make_psf

if TYPE_CHECKING:
    from gammaxr.data.observation import Observation

__all__ = ["IRF_LAT", "IRF_LON", "irf_grid", "make_edisp_map", "make_psf_map"]

_RENAME = {
    LAT: IRF_LAT,
    LON: IRF_LON,
    lo_name(LAT): lo_name(IRF_LAT),
    hi_name(LAT): hi_name(IRF_LAT),
    lo_name(LON): lo_name(IRF_LON),
    hi_name(LON): hi_name(IRF_LON),
}


def irf_grid(geom: xr.Dataset | xr.DataArray, *, binsz: float = 0.5) -> xr.Dataset:
    """The coarse IRF grid covering a geometry's sky grid.

    Parameters
    ----------
    geom : xarray.Dataset or xarray.DataArray
        Geometry with ``lat`` / ``lon`` edges and a frame.
    binsz : float
        Coarse pixel size, deg; the grid has the geometry's centre and covers
        its full width (at least one pixel).

    Returns
    -------
    xarray.Dataset
        Coordinates ``irf_lat``, ``irf_lon`` and their edges; ``attrs["frame"]``.
    """
    require_dims(geom, (LAT, LON), what="irf_grid geometry")
    if binsz <= 0:
        raise GeometryError(f"irf_grid: binsz must be positive, got {binsz}")
    lon_edges, lat_edges = edges(geom, LON), edges(geom, LAT)
    width = (
        binsz * np.ceil((lon_edges[-1] - lon_edges[0]) / binsz - 1e-9),
        binsz * np.ceil((lat_edges[-1] - lat_edges[0]) / binsz - 1e-9),
    )
    centre = (0.5 * (lon_edges[0] + lon_edges[-1]), 0.5 * (lat_edges[0] + lat_edges[-1]))
    grid = sky_grid(centre, width=width, binsz=binsz, frame=sky_frame(geom))  # type: ignore[arg-type]
    coords = grid.rename(_RENAME).coords
    return xr.Dataset(coords=coords, attrs={"frame": sky_frame(geom)})


def _coarse_offsets(observation: Observation, coarse: xr.Dataset) -> xr.DataArray:
    as_sky = coarse.rename({value: key for key, value in _RENAME.items()})
    as_sky.attrs["frame"] = coarse.attrs["frame"]
    return pixel_offset(as_sky, observation.pointing).rename(_RENAME)


def _finish(da: xr.DataArray, coarse: xr.Dataset, name: str, units: str) -> xr.DataArray:
    da = da.drop_vars([c for c in da.coords if c not in da.dims and c in _RENAME.values()],
                      errors="ignore").assign_coords(coarse.coords)  # fmt: skip
    da.name = name
    da.attrs = {"units": units, "frame": coarse.attrs["frame"]}
    return da


def make_psf_map(
    observation: Observation,
    geom: xr.Dataset,
    *,
    binsz: float = 0.5,
    rad: xr.DataArray | None = None,
) -> xr.DataArray:
    """PSF on a coarse grid over the field: ``psf_map(energy_true, rad, irf_lat, irf_lon)``.

    Each coarse pixel holds the PSF at its centre's offset from the pointing,
    normalised over ``rad`` as in :func:`gammaxr.reduce.make_psf`.

    Parameters
    ----------
    observation : Observation
        The observation.
    geom : xarray.Dataset
        Geometry with ``energy_true`` and a sky grid.
    binsz : float
        Coarse pixel size, deg.
    rad : xarray.DataArray, optional
        ``rad`` axis, deg (default: that of :func:`gammaxr.reduce.make_psf`).

    Returns
    -------
    xarray.DataArray
        ``psf_map`` in sr-1 (float32).
    """
    coarse = irf_grid(geom, binsz=binsz)
    psf = make_psf(observation, geom, rad=rad, offset=_coarse_offsets(observation, coarse))
    return _finish(psf, coarse, "psf_map", "sr-1")


def make_edisp_map(
    observation: Observation, geom: xr.Dataset, *, binsz: float = 0.5
) -> xr.DataArray:
    """Energy dispersion on a coarse grid: ``edisp_map(energy_true, energy, irf_lat, irf_lon)``.

    Parameters
    ----------
    observation : Observation
        The observation.
    geom : xarray.Dataset
        Geometry with ``energy_true``, ``energy`` and a sky grid.
    binsz : float
        Coarse pixel size, deg.

    Returns
    -------
    xarray.DataArray
        ``edisp_map``: migration probabilities (units ``""``, float32), each
        coarse pixel at its centre's offset from the pointing.
    """
    coarse = irf_grid(geom, binsz=binsz)
    edisp = make_edisp(observation, geom, offset=_coarse_offsets(observation, coarse))
    return _finish(edisp, coarse, "edisp_map", "")
