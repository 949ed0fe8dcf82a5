"""The IRFs at one offset, as numpy arrays: the kernels of the spectrum maker.

A spectrum dataset evaluates every IRF at one place, the offset of the region
centre. The general makers (:func:`gammaxr.reduce.make_exposure`,
:func:`gammaxr.reduce.make_edisp`, :func:`gammaxr.reduce.mask_aeff_max`,
:func:`gammaxr.irf.containment`) work on labelled sky grids; for one position
the labelling costs far more than the arithmetic. The functions here do the
same arithmetic on the IRF tables as plain arrays: the same multilinear
interpolation kernel (:func:`gammaxr.irf._interpolate.interpolate_array`), on the same node
arrays, in the same order, with the same dtype promotions, so that the
numbers are identical, bit for bit, to those of the general makers (checked
in ``tests/reduce/test_spectrum.py``).

* Exposure: the effective area interpolated in ``log(energy_true)`` at every
  offset node, then linearly in offset (as :func:`~gammaxr.reduce.make_exposure`),
  zero outside the table's range, times the live time.
* Energy dispersion: the cumulative of ``dP/dmigra`` over the ``migra`` edges,
  interpolated at ``E_lo / E_true`` and ``E_hi / E_true`` of every
  (true, reco) pair (the integral of the pdf over each reco bin), divided by
  the interpolated integral of the row (as :func:`~gammaxr.reduce.make_edisp`).
* ``aeff-max`` threshold (as :func:`~gammaxr.reduce.mask_aeff_max`).
* PSF containment of a table PSF within a radius (as
  :func:`gammaxr.irf.containment`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import xarray as xr

from gammaxr.conventions import (
    ENERGY_TRUE,
    MIGRA,
    OFFSET,
    RAD,
    edges,
    require_units,
)
from gammaxr.exceptions import DimensionError
from gammaxr.irf._interpolate import interpolate_array, node_values
from gammaxr.reduce._irf_domain import axis_range
from gammaxr.reduce.safe_mask import _aeff_threshold_kernel

__all__: list[str] = []

_RTOL = 1e-9  # as gammaxr.reduce.safe_mask.energy_mask


def table_values(irf: xr.DataArray, unit: str | None = None) -> np.ndarray:
    """The values of an IRF (converted to ``unit`` if given), in its own dim order."""
    if unit is not None:
        irf = require_units(irf, unit, what=str(irf.name))
    return np.asarray(irf.values)


def _inside(irf: xr.DataArray, **coords: np.ndarray | float) -> np.ndarray | bool:
    """Whether coordinates lie in the range the IRF covers (``_irf_domain.domain_mask``)."""
    inside: np.ndarray | bool = True
    for dim, value in coords.items():
        low, high = axis_range(irf, dim)
        inside = inside & (value >= low) & (value <= high)
    return inside


def interpolate_at(
    values: np.ndarray,
    dims: Sequence[str],
    points: Mapping[str, np.ndarray | float],
    node_axes: Mapping[str, tuple[np.ndarray, bool]],
) -> np.ndarray:
    """Multilinear interpolation of ``values`` (on ``dims``) along every dim of ``points``.

    The interpolated dims keep the order they have in ``dims`` (so the cell
    corners add up in the order of :func:`gammaxr.irf.interpolate`) and move
    last; the dims not interpolated lead, and the points broadcast with them.
    """
    core = [dim for dim in dims if dim in points]
    batch = [dim for dim in dims if dim not in points]
    order = [dims.index(dim) for dim in (*batch, *core)]
    return interpolate_array(
        np.transpose(values, order),
        [np.asarray(points[dim], dtype=float) for dim in core],
        [node_axes[dim][0] for dim in core],
        [node_axes[dim][1] for dim in core],
    )


def _bracket(
    values: np.ndarray, axis: int, axis_nodes: tuple[np.ndarray, bool], point: float
) -> tuple[np.ndarray, tuple[np.ndarray, bool]]:
    """The two nodes of an axis around ``point`` (and the values there), for one point.

    A multilinear interpolation at one coordinate of an axis only reads the
    two nodes of the cell holding it (the cell the interpolation kernel
    locates: the outermost one beyond the range): interpolating the slice
    gives the same numbers, bit for bit, with less work on the table.
    """
    positions, log = axis_nodes
    if positions.size <= 2:
        return values, axis_nodes
    x = np.log(point) if log else point
    grid = np.log(positions) if log else positions
    lower = int(np.clip(np.searchsorted(grid, x, side="right") - 1, 0, positions.size - 2))
    cell = slice(lower, lower + 2)
    return np.take(values, np.arange(lower, lower + 2), axis=axis), (positions[cell], log)


def _require(irf: xr.DataArray, dims: Sequence[str], what: str) -> list[str]:
    """The dims of an IRF, checked to be exactly ``dims`` (in any order)."""
    if set(irf.dims) != set(dims):
        raise DimensionError(f"{what}: expected dims {tuple(dims)}, got {irf.dims}")
    return [str(dim) for dim in irf.dims]


def exposure(aeff: xr.DataArray, energy_true: np.ndarray, offset: float, livetime: float):
    """Exposure (m2 s, float32) at the true energies (TeV) and one offset (deg).

    The effective area interpolated along ``energy_true`` at every offset node,
    then along ``offset``; zero outside the table's range; times ``livetime`` (s).
    """
    dims = _require(aeff, (ENERGY_TRUE, OFFSET), "aeff")
    energy_axis, offset_axis = node_values(aeff, ENERGY_TRUE), node_values(aeff, OFFSET)
    by_offset = np.moveaxis(table_values(aeff, "m2"), dims.index(ENERGY_TRUE), -1)
    # Along energy first at every offset node, then along offset: (offset, energy_true).
    along_energy = interpolate_array(
        by_offset[:, np.newaxis, :], [energy_true], [energy_axis[0]], [energy_axis[1]]
    )
    at_offset = interpolate_array(
        along_energy.T, [np.asarray(float(offset))], [offset_axis[0]], [offset_axis[1]]
    )
    inside = _inside(aeff, energy_true=energy_true) & _inside(aeff, offset=float(offset))
    return (np.where(inside, at_offset, 0.0) * livetime).astype(np.float32)


def aeff_max_mask(
    aeff: xr.DataArray,
    energy_true: np.ndarray,
    energy_lo: np.ndarray,
    offset: float,
    percent: float,
) -> tuple[np.ndarray, float]:
    """The ``aeff-max`` safe mask on reco bins with lower edges ``energy_lo`` (TeV).

    Returns the mask and the threshold (TeV; NaN where the area is zero, and
    then no bin is safe).
    """
    dims = _require(aeff, (ENERGY_TRUE, OFFSET), "aeff")
    axes = {dim: node_values(aeff, dim) for dim in dims}
    points = {ENERGY_TRUE: energy_true, OFFSET: np.asarray(float(offset))}
    curve = interpolate_at(table_values(aeff, "m2"), dims, points, axes)
    curve = np.where(_inside(aeff, energy_true=energy_true, offset=float(offset)), curve, 0.0)
    threshold = _aeff_threshold_kernel(curve, energies=energy_true, level=percent / 100)
    return energy_lo >= threshold * (1 - _RTOL), float(threshold)


def edisp_matrix(
    edisp: xr.DataArray,
    energy_true: np.ndarray,
    energy_lo: np.ndarray,
    energy_hi: np.ndarray,
    offset: float,
) -> np.ndarray:
    """Migration matrix ``(energy_true, energy)`` (float32) at one offset.

    Row ``i`` holds the probability that an event of true energy
    ``energy_true[i]`` (TeV) is reconstructed between ``energy_lo`` and
    ``energy_hi`` (TeV): the cumulative of ``dP/dmigra`` at the ``migra``
    edges interpolated at ``E_hi / E_true`` minus at ``E_lo / E_true`` (the
    integral of the pdf over the reco bin), divided by the interpolated
    integral of the row over the table's ``migra`` range. Where the bins are
    contiguous (every upper edge the next lower edge, bit for bit) the
    cumulative is interpolated once per edge.
    """
    dims = _require(edisp, (ENERGY_TRUE, MIGRA, OFFSET), "edisp")
    migra = dims.index(MIGRA)
    shape = [1] * len(dims)
    shape[migra] = -1
    migra_edges = edges(edisp, MIGRA)
    axes = {dim: node_values(edisp, dim) for dim in (ENERGY_TRUE, OFFSET)}
    table, axes[OFFSET] = _bracket(
        table_values(edisp), dims.index(OFFSET), axes[OFFSET], float(offset)
    )
    density = table * np.diff(migra_edges).reshape(shape)
    cumulative = np.nancumsum(density, axis=migra)
    zeros = np.zeros_like(np.take(cumulative, [0], axis=migra))
    cumulative = np.concatenate([zeros, cumulative], axis=migra)
    axes[MIGRA] = (migra_edges, False)
    column = energy_true[:, np.newaxis]
    offset_point = np.asarray(float(offset))

    def at(energy: np.ndarray) -> np.ndarray:
        points = {ENERGY_TRUE: column, MIGRA: energy[np.newaxis, :] / column, OFFSET: offset_point}
        return interpolate_at(cumulative, dims, points, axes)

    if energy_lo.size and np.array_equal(energy_lo[1:], energy_hi[:-1]):
        at_edges = at(np.append(energy_lo, energy_hi[-1]))
        lower, upper = at_edges[:, :-1], at_edges[:, 1:]
    else:
        lower, upper = at(energy_lo), at(energy_hi)
    matrix = np.clip(upper - lower, 0, None)
    row_norm = np.sum(np.where(np.isnan(density), 0.0, density), axis=migra)
    norm_dims = [dim for dim in dims if dim != MIGRA]
    norm = interpolate_at(
        row_norm, norm_dims, {ENERGY_TRUE: energy_true, OFFSET: offset_point}, axes
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        normed = matrix / np.where(norm > 0, norm, np.nan)[:, np.newaxis]
    return np.where(np.isnan(normed), 0.0, normed).astype(np.float32)


def table_containment(
    psf: xr.DataArray, radius: float, energy_true: np.ndarray, offset: float
) -> np.ndarray:
    """Fraction of a table PSF ``(energy_true, offset, rad)`` within ``radius`` (deg).

    The density is constant in each ``rad`` bin and integrated exactly over
    annuli; the cumulative at the bin edges is interpolated in
    ``(log energy_true, offset, rad)``.
    """
    dims = _require(psf, (ENERGY_TRUE, OFFSET, RAD), "psf")
    rad = dims.index(RAD)
    shape = [1] * len(dims)
    shape[rad] = -1
    rad_edges = np.deg2rad(edges(psf, RAD))
    annulus = 2 * np.pi * -np.diff(np.cos(rad_edges))
    axes = {dim: node_values(psf, dim) for dim in (ENERGY_TRUE, OFFSET)}
    table, axes[OFFSET] = _bracket(
        table_values(psf, "sr-1"), dims.index(OFFSET), axes[OFFSET], float(offset)
    )
    cumulative = np.nancumsum(table * annulus.reshape(shape), axis=rad)
    zeros = np.zeros_like(np.take(cumulative, [0], axis=rad))
    cumulative = np.concatenate([zeros, cumulative], axis=rad)
    knots = np.rad2deg(rad_edges)
    axes[RAD] = (knots, False)
    points = {
        ENERGY_TRUE: energy_true,
        OFFSET: np.asarray(float(offset)),
        RAD: np.asarray(np.clip(float(radius), knots[0], knots[-1])),
    }
    return interpolate_at(cumulative, dims, points, axes)
