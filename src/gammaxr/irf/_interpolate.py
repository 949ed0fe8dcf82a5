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

__all__ = [
    "interpolate",
    "interpolate_array",
    "interpolate_nodes",
    "node_dim",
    "node_values",
    "to_nodes",
    "to_point",
    "to_points",
]


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


def node_values(irf: xr.DataArray, dim: str) -> tuple[np.ndarray, bool]:
    """The nodes of one dim of an IRF and whether it is interpolated in log.

    For :func:`interpolate_array`: the same checks as :func:`interpolate`.

    Raises
    ------
    DimensionError
        If the dim has no index coordinate.
    GeometryError
        If the nodes are not strictly increasing (or not positive on a log axis).
    """
    if dim not in irf.coords or irf.coords[dim].dims != (dim,):
        raise DimensionError(
            f"{irf.name}: dim {dim!r} has no index coordinate, so its nodes are unknown"
        )
    coord = irf.coords[dim]
    values = np.asarray(coord.values, dtype=float)
    if values.size > 1 and not np.all(np.diff(values) > 0):
        raise GeometryError(f"{irf.name}: nodes of {dim!r} are not strictly increasing")
    log = coord.attrs.get("interp") == "log"
    if log and not np.all(values > 0):
        raise GeometryError(f"{irf.name}: log axis {dim!r} has non-positive nodes")
    return values, log


def interpolate_array(
    values: np.ndarray,
    points: list[np.ndarray],
    nodes: list[np.ndarray],
    log: list[bool],
    *,
    fill_value: float | None = None,
) -> np.ndarray:
    """The numpy form of :func:`interpolate`, for kernels that hold plain arrays.

    Parameters
    ----------
    values : numpy.ndarray
        IRF values ``(batch..., n_1, ..., n_k)``: the interpolated axes last.
    points : list of numpy.ndarray
        Where to evaluate along each of the k axes, broadcastable with the batch
        shape (numpy broadcasting: align the axes with ``np.newaxis``).
    nodes, log : list
        Node positions of each axis (:func:`node_values`) and whether the axis
        is interpolated in log.
    fill_value : float, optional
        As in :func:`interpolate`.

    Returns
    -------
    numpy.ndarray
        Float64, on the broadcast batch shape. The numbers are those of
        :func:`interpolate` for the same IRF and points, bit for bit.
    """
    return _interpolate_kernel(values, *points, nodes=nodes, log=log, fill_value=fill_value)


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
    shape = np.broadcast_shapes(batch_shape, *(np.shape(p) for p in points))
    cells = [_locate(x, p, is_log) for x, p, is_log in zip(nodes, points, log, strict=True)]
    corners = list(product(*[(0, 1) if n > 1 else (0,) for n in core_shape]))
    strides = np.cumprod((1,) + core_shape[:0:-1])[::-1]
    separable = _separable_axes(batch_shape, [np.shape(p) for p in points], len(shape))
    if separable is not None:
        result = _outer_kernel(values, cells, corners, strides, shape, k, separable)
    else:
        flat = values.reshape(batch_shape + (-1,))
        flat = np.broadcast_to(flat, shape + flat.shape[-1:])
        result = np.zeros(shape)
        for corner in corners:
            index, weight = _corner(cells, corner, strides)
            index = np.broadcast_to(index, shape)[..., np.newaxis]
            result = result + weight * np.take_along_axis(flat, index, axis=-1)[..., 0]
    if fill_value is not None:
        outside = np.zeros(shape, dtype=bool)
        for _, _, cell_outside in cells:
            outside = outside | cell_outside
        result = np.where(outside, fill_value, result)
    return result


def _corner(cells, corner, strides):
    """Flat index and weight of one cell corner, on the points' own (broadcast) shape."""
    index, weight = 0, 1.0
    for (lower, upper_weight, _), step, stride in zip(cells, corner, strides, strict=True):
        index = index + (lower + step) * stride
        weight = weight * (upper_weight if step else 1 - upper_weight)
    return index, weight


def _separable_axes(batch_shape, point_shapes, ndim):
    """Which result axes vary with the IRF values and which with the points, if none do both.

    Returns ``(batch_axes, point_axes)`` (axes of the broadcast result, left-padded
    as numpy broadcasts), or None when some axis varies with both.
    """

    def padded(shape):
        return (1,) * (ndim - len(shape)) + tuple(shape)

    batch = padded(batch_shape)
    points = [padded(shape) for shape in point_shapes]
    batch_axes, point_axes = [], []
    for axis in range(ndim):
        by_points = any(shape[axis] > 1 for shape in points)
        if batch[axis] > 1 and by_points:
            return None
        if batch[axis] > 1:
            batch_axes.append(axis)
        elif by_points:
            point_axes.append(axis)
    return batch_axes, point_axes


def _outer_kernel(values, cells, corners, strides, shape, k, axes):
    """The interpolation when the values and the points vary along different axes.

    Then every batch row is interpolated at the same points: one gather of a
    ``(batch, points)`` table per corner, with the same arithmetic (and so the
    same result, bit for bit) as the general path.
    """
    batch_axes, point_axes = axes
    ndim = len(shape)
    n_core = int(np.prod(values.shape[values.ndim - k :]))
    # float64 before the gather (exact), so that the products below are float64 as in
    # the general path, where float32 values are promoted by the float64 weights
    table = values.reshape(-1, n_core).astype(np.float64, copy=False)
    point_shape = tuple(shape[axis] for axis in point_axes)
    result = np.zeros((table.shape[0], int(np.prod(point_shape, dtype=np.int64))))
    # One buffer for every corner's values: large fresh arrays cost page faults.
    corner_values = np.empty_like(result) if len(corners) > 1 else None
    for corner in corners:
        index, weight = _corner(cells, corner, strides)
        index = np.broadcast_to(index, _padded(np.shape(index), ndim))
        weight = np.broadcast_to(weight, _padded(np.shape(weight), ndim))
        squeeze = tuple(axis for axis in range(ndim) if axis not in point_axes)
        index = np.broadcast_to(index.squeeze(squeeze) if squeeze else index, point_shape)
        weight = np.broadcast_to(weight.squeeze(squeeze) if squeeze else weight, point_shape)
        # mode="clip" (the indices are in range) lets take write straight into the buffer
        corner_values = np.take(table, index.reshape(-1), axis=1, out=corner_values, mode="clip")
        corner_values *= weight.reshape(-1)
        result += corner_values  # in place: the same sums as result + weight * value
    batch_sizes = tuple(shape[axis] for axis in batch_axes)
    result = result.reshape(batch_sizes + point_shape)
    order = batch_axes + point_axes
    result = np.transpose(result, np.argsort(order)) if order != sorted(order) else result
    return result.reshape(shape)


def _padded(shape, ndim):
    return (1,) * (ndim - len(shape)) + tuple(shape)


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
