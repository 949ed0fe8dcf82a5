"""The one interpolation routine behind every IRF.

An IRF is a DataArray on some of the dims ``energy``, ``energy_true``,
``offset``, ``migra``, ``rad``, ``fov_lon``, ``fov_lat``. Its values are known
at the *nodes* of each dim: the index coordinate values (bin centres for binned
axes, the nodes themselves for node axes). :func:`interpolate` evaluates it at
any coordinates, multilinearly: in ``log(x)`` along an axis whose coordinate has
``attrs["interp"] == "log"`` (the energy axes), in ``x`` elsewhere, with values
interpolated linearly.

The work is done by a numpy kernel over whole arrays (a loop runs over the
interpolated dims and the ``2**k`` corners of a cell, never over points),
wrapped with :func:`xarray.apply_ufunc` so that dask-backed coordinates stay
lazy. The IRF dims being interpolated are renamed to private node dims before
the call, so the requested coordinates may themselves lie on a dim of the same
name (``energy_true=<an energy_true axis>``) or on any others, broadcast by name.

The lower-level helpers (:func:`node_dim`, :func:`to_nodes`, :func:`to_point`,
:func:`to_points`, :func:`interpolate_nodes`) are shared with the PSF and edisp modules, which
build derived grids (cumulative distributions) on the node dims themselves.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from itertools import product
from typing import Any

import numpy as np
import xarray as xr

from gammaxr.conventions import LAT, LON, require_units
from gammaxr.exceptions import DimensionError, GeometryError

__all__ = ["interpolate", "interpolate_nodes", "node_dim", "to_nodes", "to_point", "to_points"]


def interpolate(
    irf: xr.DataArray, /, *, fill_value: float | None = None, **coords: Any
) -> xr.DataArray:
    """Evaluate an IRF at given coordinates by multilinear interpolation.

    Parameters
    ----------
    irf : xarray.DataArray
        IRF values on any of the dims ``energy``, ``energy_true``, ``offset``,
        ``migra``, ``rad``, ``fov_lon``, ``fov_lat`` (or any other dim with an
        increasing index coordinate). Node positions are the index coordinate
        values; an axis is interpolated in ``log`` of its coordinate when that
        coordinate has ``attrs["interp"] == "log"``, linearly otherwise.
    fill_value : float, optional
        Extrapolation. ``None`` (default) clamps every coordinate to the
        outermost nodes (constant extrapolation: the result stays within the
        range of the IRF values, so never negative for a non-negative IRF).
        A number (e.g. ``np.nan``) is returned instead wherever a coordinate
        lies outside the node range of an interpolated axis.
    **coords : xarray.DataArray, array-like or scalar
        Dim name -> where to evaluate, in the unit of that dim's coordinate
        (a DataArray carrying ``attrs["units"]`` is converted to it). A
        DataArray is broadcast by dim name with the other coordinates and
        with the IRF dims not given; a 1-D array becomes the new coordinate of
        the same dim; a scalar removes the dim (kept as a scalar coordinate).
        Dims not given stay as they are.

    Returns
    -------
    xarray.DataArray
        Float64 values on the broadcast dims of the IRF dims not interpolated
        and of the coordinates (taken in the IRF's dim order), with ``lat``,
        ``lon`` moved last; the IRF's name and attrs (``units``) are kept.

    Raises
    ------
    DimensionError
        If ``irf`` is not a DataArray, a coordinate names a dim the IRF does
        not have, a dim has no index coordinate, or an array is not 1-D.
    GeometryError
        If the nodes of an interpolated dim are not strictly increasing (or
        not positive on a log axis).

    Notes
    -----
    A length-1 axis is constant along it, and never filled. NaN coordinates
    give NaN. Non-positive coordinates on a log axis lie below every node
    (clamped or filled; negative ones give NaN).

    Examples
    --------
    >>> import gammaxr as gx
    >>> from gammaxr.irf import interpolate
    >>> aeff = gx.open_datastore().observation(23523).aeff
    >>> energy_true = gx.energy_axis(1, 10, nbin=3, name="energy_true")
    >>> interpolate(aeff, energy_true=energy_true, offset=0.5).dims
    ('energy_true',)
    """
    if not isinstance(irf, xr.DataArray):
        raise DimensionError(
            f"interpolate: expects an IRF DataArray, got {type(irf).__name__}; "
            "evaluate parametric PSFs with gammaxr.irf.evaluate"
        )
    points = to_points(irf, coords, what=str(irf.name or "irf"))
    grid = to_nodes(irf, points)
    return interpolate_nodes(
        grid, {node_dim(dim): point for dim, point in points.items()}, fill_value=fill_value
    )


def node_dim(dim: Hashable) -> str:
    """Private name of ``dim`` while it holds the nodes of an interpolation."""
    return f"_{dim}_node"


def to_nodes(
    obj: xr.DataArray | xr.Dataset, dims: Iterable[Hashable]
) -> xr.DataArray | xr.Dataset:
    """Rename ``dims`` of ``obj`` to their node dims, keeping only the index coordinates.

    The ``_lo``/``_hi`` edges and any other coordinate along those dims are
    dropped; the index coordinate (with its ``units`` and ``interp`` attrs)
    moves to the node dim.
    """
    dims = list(dims)
    for dim in dims:
        if dim not in obj.coords or obj.coords[dim].dims != (dim,):
            raise DimensionError(
                f"{obj.name if isinstance(obj, xr.DataArray) else 'irf'}: dim {dim!r} has "
                "no index coordinate, so its nodes are unknown"
            )
    drop = [
        name
        for name, coord in obj.coords.items()
        if name not in dims and set(coord.dims) & set(dims)
    ]
    return obj.drop_vars(drop).rename({dim: node_dim(dim) for dim in dims})


def to_points(
    irf: xr.DataArray | xr.Dataset, coords: Mapping[str, Any], *, what: str
) -> dict[str, xr.DataArray]:
    """Turn ``dim -> value`` into ``dim -> DataArray`` in the unit of ``irf``'s coordinate.

    Validates that every dim is a dim of ``irf``; see :func:`interpolate` for
    how scalars, arrays and DataArrays are placed on dims.
    """
    unknown = [dim for dim in coords if dim not in irf.dims]
    if unknown:
        raise DimensionError(
            f"{what}: cannot interpolate along {unknown}: not dims of the IRF "
            f"(it has {list(irf.dims)})"
        )
    return {
        dim: to_point(
            coords[dim], dim, irf.coords[dim].attrs if dim in irf.coords else {}, what=what
        )
        for dim in irf.dims
        if dim in coords
    }


def to_point(value: Any, dim: str, attrs: Mapping[str, Any], *, what: str) -> xr.DataArray:
    """One coordinate as a DataArray, converted to ``attrs["units"]`` when it has units."""
    if isinstance(value, xr.DataArray):
        units = attrs.get("units")
        if units is not None and "units" in value.attrs:
            # A shallow copy: require_units may write the unit back into attrs.
            return require_units(value.copy(deep=False), units, what=f"{what} coordinate {dim!r}")
        return value
    array = np.asarray(value, dtype=float)
    if array.ndim == 0:
        return xr.DataArray(array, coords={dim: ((), array, dict(attrs))})
    if array.ndim == 1:
        return xr.DataArray(array, dims=dim, coords={dim: (dim, array, dict(attrs))})
    raise DimensionError(
        f"{what}: coordinate {dim!r} is a {array.ndim}-D array; give a scalar, a 1-D array "
        "or a DataArray with named dims"
    )


def interpolate_nodes(
    grid: xr.DataArray, points: Mapping[str, xr.DataArray], *, fill_value: float | None = None
) -> xr.DataArray:
    """Interpolate ``grid`` along its node dims at ``points`` (node dim -> DataArray).

    The node dims of ``grid`` carry increasing index coordinates; every other
    dim of ``grid`` broadcasts by name with the points. See :func:`interpolate`.
    """
    dims = list(points)
    if not dims:
        return grid.copy()
    nodes = [_node_values(grid, dim) for dim in dims]
    log = [grid.coords[dim].attrs.get("interp") == "log" for dim in dims]
    result = xr.apply_ufunc(
        _interpolate_kernel,
        grid,
        *points.values(),
        input_core_dims=[dims] + [[] for _ in dims],
        kwargs={"nodes": nodes, "log": log, "fill_value": fill_value},
        dask="parallelized",
        output_dtypes=[np.float64],
        dask_gufunc_kwargs={"allow_rechunk": True},
    )
    result = result.transpose(..., *[dim for dim in (LAT, LON) if dim in result.dims])
    result.attrs = dict(grid.attrs)
    result.name = grid.name
    return result


def _node_values(grid: xr.DataArray, dim: str) -> np.ndarray:
    """The node positions of ``dim``, checked increasing (and positive on a log axis)."""
    coord = grid.coords[dim]
    values = np.asarray(coord.values, dtype=float)
    name = dim.removeprefix("_").removesuffix("_node")
    if values.size > 1 and not np.all(np.diff(values) > 0):
        raise GeometryError(f"{grid.name}: nodes of {name!r} are not strictly increasing")
    if coord.attrs.get("interp") == "log" and not np.all(values > 0):
        raise GeometryError(f"{grid.name}: log axis {name!r} has non-positive nodes")
    return values


def _interpolate_kernel(values, *points, nodes, log, fill_value):
    """Multilinear interpolation of ``values`` (batch..., n_1, ..., n_k) at ``points``.

    ``points`` are k arrays broadcastable with the batch shape ``values.shape[:-k]``;
    the result has the broadcast batch shape. Each of the ``2**k`` cell corners
    adds its value times its weight, gathered from the flattened core axes.
    """
    k = len(nodes)
    batch_shape, core_shape = values.shape[: values.ndim - k], values.shape[values.ndim - k :]
    shape = np.broadcast_shapes(batch_shape, *(p.shape for p in points))
    flat = values.reshape(batch_shape + (-1,))
    flat = np.broadcast_to(flat, shape + flat.shape[-1:])
    strides = np.cumprod((1,) + core_shape[:0:-1])[::-1]
    cells = [_locate(x, p, is_log) for x, p, is_log in zip(nodes, points, log, strict=True)]
    result = np.zeros(shape)
    for corner in product(*[(0, 1) if n > 1 else (0,) for n in core_shape]):
        index, weight = 0, 1.0
        for (lower, upper_weight, _), step, stride in zip(cells, corner, strides, strict=True):
            index = index + (lower + step) * stride
            weight = weight * (upper_weight if step else 1 - upper_weight)
        index = np.broadcast_to(index, shape)[..., np.newaxis]
        result = result + weight * np.take_along_axis(flat, index, axis=-1)[..., 0]
    if fill_value is not None:
        outside = np.zeros(shape, dtype=bool)
        for _, _, cell_outside in cells:
            outside = outside | cell_outside
        result = np.where(outside, fill_value, result)
    return result


def _locate(nodes: np.ndarray, points: np.ndarray, log: bool):
    """Cell index, weight of the upper node (clamped to [0, 1]) and out-of-range mask."""
    points = np.asarray(points, dtype=float)
    if log:
        with np.errstate(divide="ignore", invalid="ignore"):
            nodes, points = np.log(nodes), np.log(points)
    if nodes.size == 1:
        zeros = np.zeros(points.shape)
        return zeros.astype(int), zeros, zeros.astype(bool)
    lower = np.clip(np.searchsorted(nodes, points, side="right") - 1, 0, nodes.size - 2)
    weight = (points - nodes[lower]) / (nodes[lower + 1] - nodes[lower])
    outside = (points < nodes[0]) | (points > nodes[-1])
    return lower, np.clip(weight, 0, 1), outside
