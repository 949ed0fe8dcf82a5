"""Point spread function: parametric forms, tables, containment and its inverse.

A PSF is either a table ``psf(energy_true, offset, rad)`` in sr-1 (GADF
``psf_table``; ``rad`` binned), or a Dataset of parameters on
``(energy_true, offset)``: ``psf_3gauss`` (``sigma_1``, ``ampl_2``,
``sigma_2``, ``ampl_3``, ``sigma_3``, ``scale``) or ``psf_king`` (``gamma``,
``sigma``), with widths in deg.

Parametric PSFs are evaluated at their nodes and then interpolated like any
table (:func:`gammaxr.irf.interpolate`): between nodes the PSF is the weighted
mixture of the neighbouring node PSFs, so it stays normalised and its
containment is the same mixture of the analytic node containments. (Gammapy
interpolates the parameters instead; both agree at the nodes.)

Normalisation. The parametric forms are normalised to unit integral in the
small-angle approximation, ``dOmega = 2 pi r dr`` with ``r`` in rad; the
``scale`` column of ``psf_3gauss`` is ignored in favour of this exact
normalisation. A table PSF is integrated exactly on the sphere: its density is
constant within each ``rad`` bin, whose annulus has solid angle
``2 pi (cos r_lo - cos r_hi)``; its containment is whatever the table holds
(see :func:`containment`), not renormalised.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from gammaxr.conventions import (
    ENERGY_TRUE,
    LAT,
    LON,
    OFFSET,
    RAD,
    edges,
    require_dims,
    require_units,
)
from gammaxr.exceptions import DimensionError
from gammaxr.irf._interpolate import (
    interpolate,
    interpolate_nodes,
    node_dim,
    to_nodes,
    to_point,
    to_points,
)

__all__ = [
    "PSF_PARAMETERS",
    "containment",
    "containment_radius",
    "evaluate_psf",
    "psf_kind",
    "psf_to_table",
]

# Variables of each parametric PSF (the 3-Gauss ``scale`` is read but not needed).
PSF_PARAMETERS = {
    "psf_3gauss": ("sigma_1", "ampl_2", "sigma_2", "ampl_3", "sigma_3"),
    "psf_king": ("gamma", "sigma"),
}

# Radii (deg) at which a parametric containment is tabulated to invert it: 0, then
# 800 log-spaced radii from 1e-4 to 30 deg (steps of 1.6 %).
_RADIUS_GRID = np.concatenate([[0.0], np.geomspace(1e-4, 30.0, 800)])


def psf_kind(psf: xr.DataArray | xr.Dataset) -> str:
    """Which PSF ``psf`` is: ``"psf_table"``, ``"psf_3gauss"`` or ``"psf_king"``.

    A DataArray is a table and must have a ``rad`` dim; a Dataset must hold the
    variables of one parametric form.

    Raises
    ------
    DimensionError
        If neither applies.
    """
    if isinstance(psf, xr.DataArray):
        require_dims(psf, [RAD], what="psf table")
        return "psf_table"
    if not isinstance(psf, xr.Dataset):
        raise DimensionError(f"psf: expects a DataArray or Dataset, got {type(psf).__name__}")
    for kind, names in PSF_PARAMETERS.items():
        if set(names) <= set(psf.data_vars):
            return kind
    raise DimensionError(
        "psf: a parametric PSF Dataset needs the variables of psf_3gauss "
        f"{PSF_PARAMETERS['psf_3gauss']} or psf_king {PSF_PARAMETERS['psf_king']}; "
        f"it has {list(psf.data_vars)}"
    )


def psf_to_table(psf_params: xr.Dataset, rad: xr.DataArray) -> xr.DataArray:
    """Evaluate a parametric PSF on its ``(energy_true, offset)`` cells at radii ``rad``.

    Parameters
    ----------
    psf_params : xarray.Dataset
        ``psf_3gauss`` or ``psf_king`` parameters (see the module docstring),
        widths in deg.
    rad : xarray.DataArray
        Angular distances from the true position, deg, broadcast by dim name
        (usually a ``rad`` axis, whose coordinates are kept).

    Returns
    -------
    xarray.DataArray
        ``dP/dOmega`` in sr-1 on ``(energy_true, offset, *rad.dims)``,
        normalised to unit integral in the small-angle approximation (the
        3-Gauss ``scale`` is ignored). Cells whose parameters are zero or NaN
        (unfilled bins) give zero. ``attrs["hdu_class"]`` becomes ``psf_table``.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> import gammaxr as gx
    >>> from gammaxr.irf import psf_to_table
    >>> params = xr.Dataset({"gamma": ("energy_true", [2.0]), "sigma": ("energy_true", [0.1])},
    ...                     coords={"energy_true": [1.0]})
    >>> rad = gx.axis_from_edges(np.linspace(0, 1, 101), name="rad", units="deg")
    >>> psf_to_table(params, rad).dims
    ('energy_true', 'rad')
    """
    kind = psf_kind(psf_params)
    if kind == "psf_table":
        raise DimensionError("psf_to_table: expects parametric PSF parameters, got a table")
    rad = to_point(rad, RAD, {"units": "deg"}, what="psf_to_table")
    table = _density(_parameters_in_deg(psf_params), rad, kind)
    order = [dim for dim in (ENERGY_TRUE, OFFSET) if dim in table.dims]
    table = table.transpose(*order, ...)
    table.attrs = {**psf_params.attrs, "units": "sr-1", "hdu_class": "psf_table"}
    table.attrs.pop("name", None)
    table.name = "psf"
    return table


def evaluate_psf(
    psf: xr.DataArray | xr.Dataset,
    /,
    *,
    rad: Any,
    fill_value: float | None = None,
    **coords: Any,
) -> xr.DataArray:
    """Evaluate a PSF (table or parametric) at radii ``rad`` and the given coordinates.

    Parameters
    ----------
    psf : xarray.DataArray or xarray.Dataset
        PSF table or parameters.
    rad : xarray.DataArray, array-like or scalar
        Angular distance from the true position, deg (placed on dims as in
        :func:`gammaxr.irf.interpolate`).
    fill_value : float, optional
        Extrapolation in ``energy_true``/``offset`` (and ``rad`` for a table),
        as in :func:`gammaxr.irf.interpolate`.
    **coords
        ``energy_true`` (TeV) and/or ``offset`` (deg), broadcast by dim name.

    Returns
    -------
    xarray.DataArray
        ``dP/dOmega`` in sr-1. A parametric PSF is evaluated exactly in ``rad``
        and interpolated in ``energy_true``/``offset`` between its node PSFs.
    """
    kind = psf_kind(psf)
    if kind == "psf_table":
        return interpolate(psf, rad=rad, fill_value=fill_value, **coords)
    points = to_points(psf, coords, what="psf")
    rad = to_point(rad, RAD, {"units": "deg"}, what="psf")
    nodes = to_nodes(_parameters_in_deg(psf), points)
    grid = _density(nodes, rad, kind).assign_attrs(units="sr-1").rename("psf")
    return _interpolate_points(grid, points, fill_value)


def containment(
    psf: xr.DataArray | xr.Dataset,
    /,
    rad_max: Any,
    *,
    fill_value: float | None = None,
    **coords: Any,
) -> xr.DataArray:
    """Fraction of the PSF within ``rad_max`` of the true position.

    Parameters
    ----------
    psf : xarray.DataArray or xarray.Dataset
        PSF table ``(..., rad)`` in sr-1 with a binned ``rad`` axis, or
        parametric PSF parameters.
    rad_max : xarray.DataArray, array-like or scalar
        Radius, deg; broadcast by dim name (a 1-D array lies on dim ``rad``,
        a scalar adds no dim).
    fill_value : float, optional
        Extrapolation in ``energy_true``/``offset``, as in
        :func:`gammaxr.irf.interpolate`. Radii are always clamped: zero
        containment below the first ``rad`` edge, the table total beyond the
        last.
    **coords
        ``energy_true`` (TeV) and/or ``offset`` (deg), broadcast by dim name.

    Returns
    -------
    xarray.DataArray
        Containment fraction (units ``""``).

    Notes
    -----
    Table: the density is constant within each ``rad`` bin and integrated
    exactly over annuli, ``2 pi (cos r_lo - cos r_hi)``; the cumulative at the
    bin edges is interpolated (linearly in ``rad``, multilinearly in
    ``energy_true``/``offset``). The table is not renormalised, so the
    containment at large radius is the table's own integral (0.996 to 1.000 in
    the filled bins of the H.E.S.S. DL3 DR1 tables, 0 in their empty bins).
    Parametric: the analytic containment in the small-angle approximation,
    ``1 - (1 + r**2 / (2 gamma sigma**2))**(1 - gamma)`` (King) and
    ``sum_i A_i sigma_i**2 (1 - exp(-r**2 / (2 sigma_i**2))) / sum_i A_i sigma_i**2``
    (3-Gauss, ``A_1 = 1``).

    Examples
    --------
    >>> import gammaxr as gx
    >>> from gammaxr.irf import containment
    >>> psf = gx.open_datastore().observation(23523).psf
    >>> float(containment(psf, 0.3, energy_true=1.0, offset=0.5)) > 0.9
    True
    """
    kind = psf_kind(psf)
    _reject_rad(coords, what="containment")
    if kind == "psf_table":
        cumulative = _cumulative(psf)
        knots = cumulative.coords[RAD].values
        rad_max = to_point(rad_max, RAD, cumulative.coords[RAD].attrs, what="containment")
        rad_max = rad_max.clip(knots[0], knots[-1])
        return interpolate(cumulative, rad=rad_max, fill_value=fill_value, **coords)
    points = to_points(psf, coords, what="containment")
    rad_max = to_point(rad_max, RAD, {"units": "deg"}, what="containment")
    nodes = to_nodes(_parameters_in_deg(psf), points)
    grid = _analytic_containment(nodes, rad_max, kind).rename("containment")
    return _interpolate_points(grid.assign_attrs(units=""), points, fill_value)


def containment_radius(
    psf: xr.DataArray | xr.Dataset,
    /,
    fraction: Any,
    *,
    fill_value: float | None = None,
    **coords: Any,
) -> xr.DataArray:
    """Radius containing ``fraction`` of the PSF: the inverse of :func:`containment`.

    Parameters
    ----------
    psf : xarray.DataArray or xarray.Dataset
        PSF table with a binned ``rad`` axis, or parametric PSF parameters.
    fraction : xarray.DataArray, array-like or scalar
        Containment fraction(s) in [0, 1]; a 1-D array lies on dim
        ``fraction``, a DataArray broadcasts by dim name.
    fill_value : float, optional
        Extrapolation in ``energy_true``/``offset``, as in
        :func:`gammaxr.irf.interpolate`.
    **coords
        ``energy_true`` (TeV) and/or ``offset`` (deg), broadcast by dim name.

    Returns
    -------
    xarray.DataArray
        Radius in deg. NaN where the PSF never reaches ``fraction`` (a table
        that integrates to less than it, an unfilled cell).

    Notes
    -----
    The cumulative containment is interpolated to the requested
    ``energy_true``/``offset`` on its radius knots (a table's ``rad`` edges; for
    a parametric PSF, 801 radii from 0 to 30 deg, log-spaced by 1.6 % above
    1e-4 deg: memory grows as 801 times the number of points), then inverted
    per point by searching the monotone cumulative and interpolating linearly
    between knots.

    Examples
    --------
    >>> import gammaxr as gx
    >>> from gammaxr.irf import containment_radius
    >>> psf = gx.open_datastore().observation(23523).psf
    >>> r68 = containment_radius(psf, 0.68, energy_true=1.0, offset=0.5)
    >>> 0.05 < float(r68) < 0.2
    True
    """
    kind = psf_kind(psf)
    _reject_rad(coords, what="containment_radius")
    if kind == "psf_table":
        cumulative = _cumulative(psf)
    else:
        radius = xr.DataArray(_RADIUS_GRID, dims=RAD, coords={RAD: _RADIUS_GRID})
        cumulative = _analytic_containment(_parameters_in_deg(psf), radius, kind)
    fraction = to_point(fraction, "fraction", {}, what="containment_radius")
    profile = interpolate(cumulative, fill_value=fill_value, **coords)
    radius = xr.apply_ufunc(
        _invert_kernel,
        profile,
        fraction,
        input_core_dims=[[RAD], []],
        kwargs={"knots": np.asarray(profile.coords[RAD].values, dtype=float)},
        dask="parallelized",
        output_dtypes=[np.float64],
        dask_gufunc_kwargs={"allow_rechunk": True},
    )
    return radius.rename("containment_radius").assign_attrs(units="deg")


def _reject_rad(coords: dict[str, Any], *, what: str) -> None:
    """Radii are a positional argument here; ``rad=`` among the coordinates is a mistake."""
    if RAD in coords:
        raise DimensionError(
            f"{what}: give the radius as the second argument, not as rad= among the "
            "coordinates (which may be energy_true and offset)"
        )


def _interpolate_points(grid: xr.DataArray, points: dict[str, xr.DataArray], fill_value):
    """Interpolate a grid built on node dims at the points given for the original dims.

    The dims of the points come first, as they do when a table is interpolated.
    """
    result = interpolate_nodes(
        grid, {node_dim(dim): point for dim, point in points.items()}, fill_value=fill_value
    )
    leading = dict.fromkeys(dim for point in points.values() for dim in point.dims)
    spatial = [dim for dim in (LAT, LON) if dim in result.dims]
    return result.transpose(*[dim for dim in leading if dim not in spatial], ..., *spatial)


def _parameters_in_deg(psf_params: xr.Dataset) -> xr.Dataset:
    """The parameters with every width (``sigma*``) converted to deg, in float64."""
    widths = {
        name: require_units(var.astype(float), "deg", what=f"psf {name}")
        for name, var in psf_params.data_vars.items()
        if str(name).startswith("sigma") and "units" in var.attrs
    }
    return psf_params.astype(float).assign(widths)


def _density(params: xr.Dataset, rad: xr.DataArray, kind: str) -> xr.DataArray:
    """``dP/dOmega`` (sr-1) of a parametric PSF at ``rad`` (deg), zero in unfilled cells."""
    if kind == "psf_king":
        gamma, sigma, valid = _king(params)
        base = 1 + rad**2 / (2 * gamma * sigma**2)
        density = (1 - 1 / gamma) / (2 * np.pi * np.deg2rad(sigma) ** 2) * base**-gamma
    elif kind == "psf_3gauss":
        amplitudes, sigmas, norm, valid = _gaussians(params)
        profile = sum(
            ampl * np.exp(-(rad**2) / (2 * sigma**2))
            for ampl, sigma in zip(amplitudes, sigmas, strict=True)
        )
        density = profile / (2 * np.pi * np.deg2rad(1) ** 2 * norm)
    else:
        raise DimensionError(f"psf: unknown parametric PSF {kind!r}")
    return xr.where(valid, density, 0.0)


def _analytic_containment(params: xr.Dataset, rad: xr.DataArray, kind: str) -> xr.DataArray:
    """Containment within ``rad`` (deg) of a parametric PSF, zero in unfilled cells."""
    if kind == "psf_king":
        gamma, sigma, valid = _king(params)
        fraction = 1 - (1 + rad**2 / (2 * gamma * sigma**2)) ** (1 - gamma)
    elif kind == "psf_3gauss":
        amplitudes, sigmas, norm, valid = _gaussians(params)
        inside = sum(
            ampl * sigma**2 * -np.expm1(-(rad**2) / (2 * sigma**2))
            for ampl, sigma in zip(amplitudes, sigmas, strict=True)
        )
        fraction = inside / norm
    else:
        raise DimensionError(f"psf: unknown parametric PSF {kind!r}")
    return xr.where(valid, fraction, 0.0)


def _king(params: xr.Dataset):
    """``gamma``, ``sigma`` (deg; safe placeholders in invalid cells) and the valid mask."""
    gamma, sigma = params["gamma"], params["sigma"]
    valid = (gamma > 1) & (sigma > 0)
    return xr.where(valid, gamma, 2.0), xr.where(valid, sigma, 1.0), valid


def _gaussians(params: xr.Dataset):
    """Amplitudes and widths of the three Gaussians, ``sum A sigma**2`` and the valid mask.

    A Gaussian with zero, negative or NaN width or amplitude is dropped (amplitude 0).
    """
    amplitudes, sigmas = [], []
    components = [(1.0, params["sigma_1"])] + [
        (params[f"ampl_{i}"], params[f"sigma_{i}"]) for i in (2, 3)
    ]
    for ampl, sigma in components:
        used = (sigma > 0) & (ampl > 0)
        amplitudes.append(xr.where(used, ampl, 0.0))
        sigmas.append(xr.where(used, sigma, 1.0))
    norm = sum(ampl * sigma**2 for ampl, sigma in zip(amplitudes, sigmas, strict=True))
    valid = params["sigma_1"] > 0
    return amplitudes, sigmas, xr.where(valid, norm, 1.0), valid


def _cumulative(psf: xr.DataArray) -> xr.DataArray:
    """Containment of a table PSF at its ``rad`` edges: dim ``rad`` of ``n + 1`` knots."""
    rad_edges = np.deg2rad(edges(psf, RAD))
    annulus = xr.DataArray(2 * np.pi * -np.diff(np.cos(rad_edges)), dims=RAD)
    table = require_units(psf.copy(deep=False), "sr-1", what="psf").drop_vars(
        [name for name, coord in psf.coords.items() if RAD in coord.dims]
    )
    inside = (table * annulus).cumsum(RAD)
    inside = xr.concat([xr.zeros_like(inside.isel({RAD: [0]})), inside], dim=RAD)
    knots = np.rad2deg(rad_edges)
    inside = inside.assign_coords({RAD: (RAD, knots, {"units": "deg", "interp": "lin"})})
    return inside.transpose(*psf.dims).rename("containment").assign_attrs(units="")


def _invert_kernel(cumulative: np.ndarray, fraction: np.ndarray, *, knots: np.ndarray):
    """Radius where the monotone ``cumulative`` (..., n knots) reaches ``fraction``.

    NaN where it never does; the first knot where ``fraction <= 0``.
    """
    cumulative, fraction = np.broadcast_arrays(cumulative, np.asarray(fraction)[..., np.newaxis])
    fraction = fraction[..., 0]
    upper = np.sum(cumulative < fraction[..., np.newaxis], axis=-1)
    reached = upper < knots.size
    upper = np.clip(upper, 1, knots.size - 1)[..., np.newaxis]
    c_lo = np.take_along_axis(cumulative, upper - 1, axis=-1)[..., 0]
    c_hi = np.take_along_axis(cumulative, upper, axis=-1)[..., 0]
    r_lo, r_hi = knots[upper[..., 0] - 1], knots[upper[..., 0]]
    with np.errstate(divide="ignore", invalid="ignore"):
        step = np.clip((fraction - c_lo) / (c_hi - c_lo), 0, 1)
    radius = np.where(fraction <= c_lo, r_lo, r_lo + step * (r_hi - r_lo))
    known = reached & ~np.isnan(fraction) & ~np.isnan(cumulative[..., -1])
    return np.where(known, radius, np.nan)
