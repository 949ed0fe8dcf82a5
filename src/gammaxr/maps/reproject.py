"""Reprojection of sky maps and cubes onto another sky grid or frame.

Two methods, chosen from what a variable means:

``"sum"``
    For counts-like quantities (counts, predicted counts, background): each
    source pixel is split into ``oversample**2`` sub-pixels of equal solid
    angle share, each sub-pixel's centre is moved to the target frame and its
    share of the content added to the target pixel containing it. The total is
    conserved exactly for everything that lands inside the target grid.
``"interp"``
    For intensity-like quantities (exposure, flux per sr, PSF maps): bilinear
    interpolation of the source grid at each target pixel centre (NaN, or
    ``fill_value``, outside the source grid).
``"nearest"``
    For masks and other discrete values: the source pixel containing each target
    pixel centre (``False``/``fill_value`` outside).

Both work on any extra dims (energy, obs_id, ...), broadcast as a sparse
matrix product or a vectorised gather; dask-backed data stays lazy.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Literal

import numpy as np
import scipy.sparse
import xarray as xr
from astropy.coordinates import SkyCoord

from gammaxr.axes import sky_frame
from gammaxr.conventions import LAT, LON, edges, hi_name, lo_name
from gammaxr.exceptions import DimensionError, GeometryError

__all__ = ["COUNTS_LIKE", "reproject", "reprojection_method"]

Method = Literal["sum", "interp", "nearest"]

#: Variable names reprojected by summing (content per pixel, not per solid angle).
COUNTS_LIKE = frozenset(
    {"counts", "counts_off", "background", "npred", "npred_signal", "npred_background",
     "excess", "model_counts"}
)  # fmt: skip

_SPATIAL_COORDS = (LAT, LON, lo_name(LAT), hi_name(LAT), lo_name(LON), hi_name(LON))


def reprojection_method(da: xr.DataArray) -> Method:
    """The default method for a variable.

    ``sum`` for counts-like names (:data:`COUNTS_LIKE`), ``nearest`` for booleans,
    ``interp`` otherwise.
    """
    if da.dtype == bool:
        return "nearest"
    if str(da.name) in COUNTS_LIKE:
        return "sum"
    return "interp"


def _check_grid(obj: xr.DataArray | xr.Dataset, what: str) -> None:
    missing = [name for name in _SPATIAL_COORDS if name not in obj.coords]
    if missing:
        raise DimensionError(f"reproject: {what} lacks sky coordinates {missing}")


def _positions_in(frame_from: str, frame_to: str, lon: np.ndarray, lat: np.ndarray):
    if frame_from == frame_to:
        return lon, lat
    coords = SkyCoord(lon, lat, unit="deg", frame=frame_from).transform_to(frame_to)
    return coords.spherical.lon.deg, coords.spherical.lat.deg


def _wrap_to(lon: np.ndarray, lon_edges: np.ndarray) -> np.ndarray:
    centre = 0.5 * (lon_edges[0] + lon_edges[-1])
    return (lon - centre + 180.0) % 360.0 - 180.0 + centre


def _pixel_index(values: np.ndarray, bin_edges: np.ndarray) -> np.ndarray:
    index = np.searchsorted(bin_edges, values, side="right") - 1
    outside = (values < bin_edges[0]) | (values >= bin_edges[-1]) | ~np.isfinite(values)
    index[outside] = -1
    return index


def _sum_matrix(source, target, oversample: int) -> scipy.sparse.csr_matrix:
    """Sparse (n_target, n_source) matrix distributing source pixels over target pixels."""
    src_lon, src_lat = edges(source, LON), edges(source, LAT)
    n_lat, n_lon = src_lat.size - 1, src_lon.size - 1
    fractions = (np.arange(oversample) + 0.5) / oversample
    # Sub-pixel centres, equal in lon; in lat at equal solid-angle steps.
    sub_lon = src_lon[:-1, None] + np.diff(src_lon)[:, None] * fractions[None, :]
    sin_lo, sin_hi = np.sin(np.deg2rad(src_lat[:-1])), np.sin(np.deg2rad(src_lat[1:]))
    sub_lat = np.rad2deg(np.arcsin(sin_lo[:, None] + (sin_hi - sin_lo)[:, None] * fractions))
    # Grid of (lat pixel, lat sub, lon pixel, lon sub).
    lat4 = np.broadcast_to(sub_lat[:, :, None, None], (n_lat, oversample, n_lon, oversample))
    lon4 = np.broadcast_to(sub_lon[None, None, :, :], (n_lat, oversample, n_lon, oversample))
    source_pixel = np.broadcast_to(
        (np.arange(n_lat)[:, None, None, None] * n_lon + np.arange(n_lon)[None, None, :, None]),
        lat4.shape,
    )
    lon_t, lat_t = _positions_in(sky_frame(source), sky_frame(target), lon4.ravel(), lat4.ravel())
    tgt_lon, tgt_lat = edges(target, LON), edges(target, LAT)
    i_lon = _pixel_index(_wrap_to(lon_t, tgt_lon), tgt_lon)
    i_lat = _pixel_index(lat_t, tgt_lat)
    inside = (i_lon >= 0) & (i_lat >= 0)
    target_pixel = i_lat[inside] * (tgt_lon.size - 1) + i_lon[inside]
    weights = np.full(target_pixel.size, 1.0 / oversample**2)
    shape = ((tgt_lat.size - 1) * (tgt_lon.size - 1), n_lat * n_lon)
    return scipy.sparse.csr_matrix(
        (weights, (target_pixel, source_pixel.ravel()[inside])), shape=shape
    )


def _source_coordinates(source, target) -> tuple[np.ndarray, np.ndarray]:
    """Target pixel centres as fractional pixel coordinates of the source grid."""
    lon2d, lat2d = np.meshgrid(target[LON].values, target[LAT].values)
    lon_s, lat_s = _positions_in(sky_frame(target), sky_frame(source), lon2d, lat2d)
    src_lon, src_lat = edges(source, LON), edges(source, LAT)
    lon_s = _wrap_to(lon_s, src_lon)
    # Pixel-centre coordinates: x = 0 at the first centre.
    x = np.interp(lon_s, source[LON].values, np.arange(src_lon.size - 1), left=-1, right=-1)
    y = np.interp(lat_s, source[LAT].values, np.arange(src_lat.size - 1), left=-1, right=-1)
    # Positions between the outer centre and the outer edge belong to the edge pixel.
    in_lon = (lon_s >= src_lon[0]) & (lon_s <= src_lon[-1])
    in_lat = (lat_s >= src_lat[0]) & (lat_s <= src_lat[-1])
    x = np.where((x < 0) & in_lon, _edge_x(lon_s, source[LON].values), x)
    y = np.where((y < 0) & in_lat, _edge_x(lat_s, source[LAT].values), y)
    return y, x


def _edge_x(values: np.ndarray, centres: np.ndarray) -> np.ndarray:
    return np.where(values < centres[0], 0.0, centres.size - 1.0)


def _kernel_sum(matrix: scipy.sparse.csr_matrix, shape, data: np.ndarray) -> np.ndarray:
    flat = data.reshape(-1, data.shape[-2] * data.shape[-1])
    out = (matrix @ flat.T.astype(np.float64)).T
    return out.reshape(data.shape[:-2] + shape)


def _kernel_interp(y: np.ndarray, x: np.ndarray, fill_value, data: np.ndarray) -> np.ndarray:
    n_lat, n_lon = data.shape[-2:]
    valid = (x >= 0) & (y >= 0)
    x0 = np.clip(np.floor(x).astype(int), 0, max(n_lon - 2, 0))
    y0 = np.clip(np.floor(y).astype(int), 0, max(n_lat - 2, 0))
    x1, y1 = np.minimum(x0 + 1, n_lon - 1), np.minimum(y0 + 1, n_lat - 1)
    fx, fy = np.clip(x - x0, 0, 1), np.clip(y - y0, 0, 1)
    values = data.astype(np.float64)
    out = (
        values[..., y0, x0] * (1 - fx) * (1 - fy)
        + values[..., y0, x1] * fx * (1 - fy)
        + values[..., y1, x0] * (1 - fx) * fy
        + values[..., y1, x1] * fx * fy
    )
    return np.where(valid, out, fill_value)


def _kernel_nearest(y: np.ndarray, x: np.ndarray, fill_value, data: np.ndarray) -> np.ndarray:
    valid = (x >= 0) & (y >= 0)
    xi = np.clip(np.rint(x).astype(int), 0, data.shape[-1] - 1)
    yi = np.clip(np.rint(y).astype(int), 0, data.shape[-2] - 1)
    return np.where(valid, data[..., yi, xi], fill_value)


def _reproject_array(
    da: xr.DataArray, target, method: Method, oversample: int, fill_value
) -> xr.DataArray:
    shape = (target.sizes[LAT], target.sizes[LON])
    if method == "sum":
        matrix = _sum_matrix(da, target, oversample)
        func, args, dtype = _kernel_sum, (matrix, shape), np.float64
    elif method in ("interp", "nearest"):
        y, x = _source_coordinates(da, target)
        if method == "interp":
            fill = np.nan if fill_value is None else fill_value
            func, args, dtype = _kernel_interp, (y, x, fill), np.float64
        else:
            fill = (False if da.dtype == bool else 0) if fill_value is None else fill_value
            func, args, dtype = _kernel_nearest, (y, x, fill), da.dtype
    else:
        raise GeometryError(
            f"reproject: method must be 'sum', 'interp' or 'nearest', got {method!r}"
        )
    other_dims = [dim for dim in da.dims if dim not in (LAT, LON)]
    source = da.drop_vars([n for n in _SPATIAL_COORDS if n in da.coords]).transpose(
        *other_dims, LAT, LON
    )
    out = xr.apply_ufunc(
        partial(func, *args),
        source,
        input_core_dims=[[LAT, LON]],
        output_core_dims=[["_lat", "_lon"]],
        dask="parallelized",
        output_dtypes=[dtype],
        dask_gufunc_kwargs={"output_sizes": {"_lat": shape[0], "_lon": shape[1]}},
        keep_attrs=True,
    ).rename({"_lat": LAT, "_lon": LON})
    out = out.assign_coords({name: target.coords[name] for name in _SPATIAL_COORDS})
    out.attrs["frame"] = sky_frame(target)
    return out


def reproject(
    obj: xr.DataArray | xr.Dataset,
    target: xr.DataArray | xr.Dataset,
    *,
    method: Method | Mapping[str, Method] | None = None,
    oversample: int | None = None,
    fill_value: float | None = None,
) -> xr.DataArray | xr.Dataset:
    """Reproject a sky map, cube or dataset onto another sky grid (any frame).

    Parameters
    ----------
    obj : xarray.DataArray or Dataset
        Data with ``lat``/``lon`` dims and edge coordinates, and a frame. In a
        Dataset, variables without sky dims are kept as they are.
    target : xarray.DataArray or Dataset
        Anything carrying the target sky grid (e.g. :func:`gammaxr.sky_grid`).
    method : str or mapping, optional
        ``"sum"``, ``"interp"`` or ``"nearest"``, or a mapping variable name ->
        method; default from :func:`reprojection_method`.
    oversample : int, optional
        Sub-pixels per axis for ``"sum"`` (default: enough that a sub-pixel is
        at most a third of a target pixel, and at least 2).
    fill_value : float, optional
        Value outside the source grid for ``interp`` (NaN) and ``nearest``
        (0 / False).

    Returns
    -------
    xarray.DataArray or Dataset
        On the target's ``lat``/``lon`` with the target frame; sums are float64.
    """
    _check_grid(obj, "the input")
    _check_grid(target, "the target")
    if oversample is None:
        src_step = float(np.max(np.diff(edges(obj, LON))))
        tgt_step = float(np.min(np.diff(edges(target, LON))))
        oversample = max(2, int(np.ceil(3 * src_step / tgt_step)))
    if oversample < 1:
        raise GeometryError(f"reproject: oversample must be at least 1, got {oversample}")

    def method_for(da: xr.DataArray) -> Method:
        if method is None:
            return reprojection_method(da)
        if isinstance(method, str):
            return method
        return method.get(str(da.name), reprojection_method(da))

    if isinstance(obj, xr.DataArray):
        return _reproject_array(obj, target, method_for(obj), oversample, fill_value)
    variables = {}
    for name, da in obj.data_vars.items():
        if LAT in da.dims and LON in da.dims:
            variables[name] = _reproject_array(da, target, method_for(da), oversample, fill_value)
        else:
            variables[name] = da
    out = xr.Dataset(variables, attrs={**obj.attrs, "frame": sky_frame(target)})
    return out
