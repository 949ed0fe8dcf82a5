"""Energy dispersion: from ``dP/dmigra`` to a migration matrix ``(energy_true, energy)``.

The GADF ``edisp_2d`` IRF holds the density of ``migra = E_reco / E_true`` on
``(energy_true, migra, offset)``, constant within each (binned) ``migra`` bin.
Its cumulative over the ``migra`` edges is exact, and interpolating that
cumulative (rather than the density) keeps every row normalised: between
nodes a row is a weighted mixture of node rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from gammaxr.conventions import (
    ENERGY,
    ENERGY_TRUE,
    MIGRA,
    edges,
    hi_name,
    lo_name,
    require_dims,
    require_units,
)
from gammaxr.exceptions import DimensionError
from gammaxr.irf._interpolate import interpolate

__all__ = ["migration_matrix"]


def migration_matrix(
    edisp: xr.DataArray,
    /,
    energy_true: xr.DataArray,
    energy: xr.DataArray,
    *,
    fill_value: float | None = None,
    **coords: Any,
) -> xr.DataArray:
    """Probability that an event of true energy ``E_true`` is reconstructed in each energy bin.

    Parameters
    ----------
    edisp : xarray.DataArray
        ``dP/dmigra`` on ``(energy_true, migra, ...)`` with a binned ``migra``
        axis (GADF ``edisp_2d``: ``(energy_true, migra, offset)``).
    energy_true : xarray.DataArray
        True energies on dim ``energy_true`` (an axis from
        :func:`gammaxr.energy_axis`; its index coordinate, the bin centres, is
        used), TeV.
    energy : xarray.DataArray
        Reconstructed-energy axis on dim ``energy`` with ``energy_lo`` /
        ``energy_hi`` edges, TeV.
    fill_value : float, optional
        Extrapolation in ``energy_true`` and the other coordinates, as in
        :func:`gammaxr.irf.interpolate` (default: clamp to the outermost
        nodes). ``migra`` outside the table always clamps: no probability
        below the first or above the last ``migra`` edge.
    **coords
        Other dims of ``edisp`` to evaluate at (``offset``, deg), broadcast by
        dim name, e.g. an offset DataArray on ``(lat, lon)``.

    Returns
    -------
    xarray.DataArray
        ``(energy_true, energy, ...)`` probabilities (units ``""``), with both
        axes' coordinates. A row sums to the table's integral over the
        ``migra`` range covered by the reco axis: 1 for a normalised table when
        the axis covers ``[migra_min, migra_max] * E_true``.

    Notes
    -----
    The cumulative ``C(migra)`` at the ``migra`` edges is interpolated in
    ``(log energy_true, migra, offset)`` at ``E_lo / E_true`` and
    ``E_hi / E_true``; the matrix element is the difference.

    Examples
    --------
    >>> import gammaxr as gx
    >>> from gammaxr.irf import migration_matrix
    >>> edisp = gx.open_datastore().observation(23523).edisp
    >>> energy_true = gx.energy_axis(1, 10, nbin=4, name="energy_true")
    >>> energy = gx.energy_axis(0.1, 100, nbin=30)
    >>> matrix = migration_matrix(edisp, energy_true, energy, offset=0.5)
    >>> matrix.dims
    ('energy_true', 'energy')
    """
    require_dims(edisp, [ENERGY_TRUE, MIGRA], what="edisp")
    taken = sorted({ENERGY_TRUE, MIGRA, ENERGY} & set(coords))
    if taken:
        raise DimensionError(
            f"migration_matrix: {taken} are set by the energy axes; give only other dims "
            "(e.g. offset) as coordinates"
        )
    _require_axis(energy_true, ENERGY_TRUE, binned=False)
    _require_axis(energy, ENERGY, binned=True)
    cumulative = _cumulative(edisp)
    e_true = _in_tev(energy_true.coords[ENERGY_TRUE])
    bounds = [
        (_in_tev(energy.coords[name(ENERGY)]) / e_true).assign_attrs(units="")
        for name in (lo_name, hi_name)
    ]
    lower, upper = (
        interpolate(cumulative, energy_true=e_true, migra=migra, fill_value=fill_value, **coords)
        for migra in bounds
    )
    # Round-off can leave -1e-16 where a row is flat; probabilities are never negative.
    matrix = (upper - lower).clip(min=0).transpose(ENERGY_TRUE, ENERGY, ...)
    return matrix.rename("edisp").assign_attrs(units="")


def _require_axis(axis: xr.DataArray, dim: str, *, binned: bool) -> None:
    """Check that ``axis`` is a 1-D axis on ``dim`` (with edges if ``binned``)."""
    if not isinstance(axis, xr.DataArray) or axis.dims != (dim,) or dim not in axis.coords:
        raise DimensionError(
            f"migration_matrix: {dim} must be a 1-D axis DataArray on dim {dim!r} with an "
            f"index coordinate (build it with gammaxr.energy_axis(..., name={dim!r}))"
        )
    if binned:
        edges(axis, dim)


def _in_tev(energy: xr.DataArray) -> xr.DataArray:
    """An energy coordinate in TeV (taken as TeV when it has no units)."""
    if "units" not in energy.attrs:
        return energy
    return require_units(energy.copy(deep=False), "TeV", what=str(energy.name))


def _cumulative(edisp: xr.DataArray) -> xr.DataArray:
    """Cumulative probability at the ``migra`` edges: dim ``migra`` of ``n + 1`` knots."""
    migra_edges = edges(edisp, MIGRA)
    width = xr.DataArray(np.diff(migra_edges), dims=MIGRA)
    density = edisp.drop_vars([name for name, c in edisp.coords.items() if MIGRA in c.dims])
    inside = (density * width).cumsum(MIGRA)
    inside = xr.concat([xr.zeros_like(inside.isel({MIGRA: [0]})), inside], dim=MIGRA)
    inside = inside.assign_coords({MIGRA: (MIGRA, migra_edges, {"units": "", "interp": "lin"})})
    return inside.transpose(*edisp.dims).rename("edisp_cumulative").assign_attrs(units="")
