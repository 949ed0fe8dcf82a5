"""DL3 -> DL4 for one observation: counts, exposure, background, PSF, edisp on a geometry.

Each product has its own function (:func:`make_exposure`, :func:`make_background`,
:func:`make_psf`, :func:`make_edisp`; counts are :func:`gammaxr.bin_events`),
and :func:`make_map_dataset` assembles them, with the safe mask, into one
:class:`xarray.Dataset`. Every product is computed in float64 and stored in
float32 (counts in int64, the mask as bool).

How it runs: the products are numpy kernels; :func:`make_map_dataset` shares
the pixel offsets between them (and the pixel directions, cached per sky grid,
between observations) and builds the Dataset once at the end. The per-pixel
kernels (exposure, background) run on blocks of ``lat`` rows, so that their
float64 temporaries stay a few MB whatever the grid; each step is per pixel, so
the numbers are those of whole-grid arrays. The public product functions are
thin wrappers around the same kernels.

Conventions, and where they follow Gammapy (``MapDatasetMaker``, v2.1):

* Exposure: effective area at each true-energy bin centre and each pixel
  centre's offset from the pointing, times the live time.
* Background: the GADF rate is per unit of *observation time, without dead-time
  correction* (GADF, "Background format / Notes"), so it is multiplied by the
  on time, as Gammapy does. The rate is interpolated linearly in
  ``log(rate)`` (Gammapy's ``values_scale="log"``) against ``log(energy)``
  and the FoV coordinates (or the offset, for ``bkg_2d``), integrated over each
  reconstructed-energy bin as a power law between samples, and multiplied by
  the pixel solid angle. FoV coordinates follow Gammapy's sign convention (see
  :mod:`gammaxr.reduce._geometry`). Zero or non-finite table values between
  valid ones along energy are first bridged in log scale (Gammapy's
  ``background_interp_missing_data``).
* Outside the range an IRF covers (beyond its outermost bin edges, or
  outermost nodes for a node axis) its value is zero; inside, the shared
  interpolation clamps to the outermost nodes (Gammapy extrapolates linearly
  between the last node and the last edge).
* PSF and energy dispersion are evaluated at one offset, that of the geometry
  centre by default, and normalised: the PSF to unit integral over its ``rad``
  axis, each migration-matrix row to the integral of the interpolated
  ``dP/dmigra`` over the IRF's ``migra`` range (as Gammapy normalises its
  ``EDispMap``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import xarray as xr

from gammaxr.axes import axis_from_edges, sky_frame
from gammaxr.conventions import (
    ENERGY,
    ENERGY_TRUE,
    FOV_LAT,
    FOV_LON,
    LAT,
    LON,
    MIGRA,
    OFFSET,
    RAD,
    edges,
    parse_unit,
    require_dims,
    require_units,
)
from gammaxr.data.events import _bin_counts
from gammaxr.exceptions import ConfigError, DimensionError
from gammaxr.irf import evaluate, interpolate, migration_matrix, psf_kind
from gammaxr.irf._interpolate import interpolate_array, node_values
from gammaxr.reduce._geometry import (
    Position,
    _fov_arrays,
    _offset_array,
    altaz_fov,
    position_offset,
)
from gammaxr.reduce._irf_domain import _fill_gaps_kernel, axis_range, domain_mask

if TYPE_CHECKING:
    from gammaxr.data.observation import Observation

__all__ = [
    "OPTIONAL_PRODUCTS",
    "PRODUCTS",
    "default_rad_axis",
    "make_background",
    "make_edisp",
    "make_exposure",
    "make_map_dataset",
    "make_psf",
]

PRODUCTS = ("counts", "exposure", "background", "psf", "edisp", "mask_safe")
#: Products made only when asked for: coarse PSF / edisp maps over the field.
OPTIONAL_PRODUCTS = ("psf_map", "edisp_map")

# Smallest positive float64: zero rates become log(TINY) before the log interpolation.
_TINY = np.finfo(np.float64).tiny
_SAMPLE = "_energy_sample"


def default_rad_axis() -> xr.DataArray:
    """The default PSF ``rad`` axis: 66 bins of 0.01 deg from 0 to 0.66 deg (as Gammapy)."""
    return axis_from_edges(np.linspace(0.0, 0.66, 67), name=RAD, units="deg")


def _energies(geom: xr.Dataset | xr.DataArray, dim: str) -> xr.DataArray:
    """The bin centres of an energy axis of the geometry, in TeV, on dim ``dim``."""
    return require_units(geom.coords[dim], "TeV", what=dim)


def _edges_tev(geom: xr.Dataset | xr.DataArray, dim: str) -> np.ndarray:
    """Bin edges of an energy axis of the geometry, in TeV."""
    unit = parse_unit(geom.coords[dim].attrs.get("units", "TeV"), where=dim)
    return edges(geom, dim) * unit.to("TeV")


def make_exposure(observation: Observation, geom: xr.Dataset | xr.DataArray) -> xr.DataArray:
    """Exposure of one observation on a geometry.

    Parameters
    ----------
    observation : Observation
        The observation (effective area, pointing, live time).
    geom : xarray.Dataset or xarray.DataArray
        Geometry with an ``energy_true`` axis and a sky grid
        (:func:`gammaxr.make_geom`).

    Returns
    -------
    xarray.DataArray
        ``exposure(energy_true, lat, lon)`` in ``m2 s`` (float32): the
        effective area at each true-energy bin centre and each pixel centre's
        offset from the pointing, times the live time; zero outside the
        effective area's energy and offset range.
    """
    require_dims(geom, (ENERGY_TRUE, LAT, LON), what="make_exposure geometry")
    values = _exposure_values(observation, geom, _offset_array(geom, observation.pointing))
    return _wrap(values, (ENERGY_TRUE, LAT, LON), "exposure", "m2 s", geom)


def _exposure_values(
    observation: Observation, geom: xr.Dataset | xr.DataArray, offset: np.ndarray
) -> np.ndarray:
    """The exposure as a float32 ``(energy_true, lat, lon)`` array; ``offset`` (lat, lon), deg."""
    aeff = require_units(observation.aeff, "m2", what="aeff")
    _require_irf_dims(aeff, (ENERGY_TRUE, OFFSET), "aeff")
    energy_true = np.asarray(_energies(geom, ENERGY_TRUE).values, dtype=float)
    table = np.asarray(aeff.transpose(ENERGY_TRUE, OFFSET).values)
    energy_nodes, energy_log = node_values(aeff, ENERGY_TRUE)
    offset_nodes, offset_log = node_values(aeff, OFFSET)
    # Interpolating along energy on the IRF grid first, then in offset, gives the same
    # numbers as one bilinear interpolation (a tensor product) with half the work.
    spectra = interpolate_array(  # (offset node, energy_true)
        table.T[:, np.newaxis, :], [energy_true], [energy_nodes], [energy_log]
    )
    grid = spectra.T[:, np.newaxis, np.newaxis, :]
    energy_outside = ~_inside(aeff, ENERGY_TRUE, energy_true)
    exposure = np.empty((energy_true.size, *offset.shape), dtype=np.float32)
    for rows in _row_blocks(offset.shape, 8 * energy_true.size):
        block = offset[rows]
        values = interpolate_array(grid, [block], [offset_nodes], [offset_log])
        # Zero outside the IRF's range, then times the live time, in place (the numbers of
        # np.where(inside, values, 0.0) * livetime, without two more arrays).
        values[energy_outside] = 0.0
        outside = ~_inside(aeff, OFFSET, block)
        if outside.any():
            values[:, outside] = 0.0
        values *= observation.livetime
        exposure[:, rows] = values  # float32, as astype rounds
    return exposure


#: Bytes of each float64 temporary of the per-pixel kernels (blocks of rows this big
#: keep the temporaries in cache and the peak memory low).
_BLOCK_BYTES = 2**21


def _row_blocks(shape: tuple[int, int], bytes_per_pixel: int) -> list[slice]:
    """Blocks of ``lat`` rows of a ``(lat, lon)`` grid, each about :data:`_BLOCK_BYTES`."""
    n_lat, n_lon = shape
    rows = max(1, _BLOCK_BYTES // max(1, n_lon * bytes_per_pixel))
    return [slice(start, min(start + rows, n_lat)) for start in range(0, n_lat, rows)]


def _require_irf_dims(irf: xr.DataArray, dims: Sequence[str], what: str) -> None:
    """An IRF must have exactly these dims (in any order)."""
    if set(irf.dims) != set(dims):
        raise DimensionError(f"{what}: expected dims {tuple(dims)}, got {irf.dims}")


def _inside(irf: xr.DataArray, dim: str, values: np.ndarray) -> np.ndarray:
    """Whether ``values`` lie in the range the IRF covers along ``dim`` (see domain_mask)."""
    low, high = axis_range(irf, dim)
    return (values >= low) & (values <= high)


def make_background(
    observation: Observation,
    geom: xr.Dataset | xr.DataArray,
    *,
    integration: Literal["nodes", "edges"] = "nodes",
    fill_missing: bool = True,
    bkg: xr.DataArray | None = None,
) -> xr.DataArray:
    """Predicted background counts of one observation on a geometry.

    Parameters
    ----------
    observation : Observation
        The observation (background IRF, pointing, on time; for
        ``FOVALIGN = ALTAZ`` also the event-list time and observatory location).
    geom : xarray.Dataset or xarray.DataArray
        Geometry with an ``energy`` (reconstructed) axis and a sky grid.
    integration : {"nodes", "edges"}
        How the rate is integrated over each energy bin. ``"nodes"``
        (default) integrates the interpolated rate exactly: a power law
        between consecutive samples, sampled at the bin edges and at every
        energy node of the IRF inside the bin. ``"edges"`` samples the bin
        edges only (one power law per bin; what Gammapy does without
        ``background_oversampling``).
    fill_missing : bool
        Bridge zero or non-finite values of the IRF table along energy
        between valid ones, in log scale, before interpolating (Gammapy's
        ``background_interp_missing_data``, on by default there too).
    bkg : xarray.DataArray, optional
        A background IRF to use instead of ``observation.bkg`` (same layout:
        ``(energy, fov_lat, fov_lon)`` or ``(energy, offset)``, a rate per
        energy, time and solid angle). ``attrs["fovalign"]`` says how the FoV
        axes are aligned: ``RADEC`` (default), ``ALTAZ``, or
        ``REVERSE_LON_RADEC`` (RADEC with ``fov_lon`` growing with RA).

    Returns
    -------
    xarray.DataArray
        ``background(energy, lat, lon)``, predicted counts (units ``""``,
        float32): rate (per MeV converted to per TeV) integrated over each
        reco-energy bin, times the pixel solid angle and the on time.

    Raises
    ------
    DimensionError
        If the background IRF is neither ``(energy, fov_lat, fov_lon)`` nor
        ``(energy, offset)``.
    ConfigError
        If ``integration`` is not one of the options.

    Notes
    -----
    The GADF background rate is per unit observation time without dead-time
    correction, so it multiplies the *on* time (GADF "Background format /
    Notes"; Gammapy ``make_map_background_irf(ontime=...)``).

    For ``FOVALIGN = ALTAZ`` the pixels and the pointing are placed in the
    AltAz frame at the observation's mid time (Gammapy instead averages over
    time steps short enough for the field to rotate by at most 1 deg).
    """
    require_dims(geom, (ENERGY, LAT, LON), what="make_background geometry")
    values = _background_values(
        observation, geom, integration=integration, fill_missing=fill_missing, bkg=bkg
    )
    return _wrap(values, (ENERGY, LAT, LON), "background", "", geom)


def _background_values(
    observation: Observation,
    geom: xr.Dataset | xr.DataArray,
    *,
    integration: str,
    fill_missing: bool,
    bkg: xr.DataArray | None,
) -> np.ndarray:
    """The background as a float32 ``(energy, lat, lon)`` array (see make_background)."""
    if integration not in ("nodes", "edges"):
        raise ConfigError(f"integration must be 'nodes' or 'edges', got {integration!r}")
    bkg = require_units(observation.bkg if bkg is None else bkg, "TeV-1 s-1 sr-1", what="bkg")
    spatial_dims = tuple(dim for dim in bkg.dims if dim != ENERGY)
    points: dict[str, np.ndarray]
    if ENERGY in bkg.dims and set(spatial_dims) == {FOV_LON, FOV_LAT}:
        alignment = str(bkg.attrs.get("fovalign", "RADEC")).upper()
        if alignment == "ALTAZ":
            fov_lon, fov_lat = (da.values for da in altaz_fov(geom, observation))
        elif alignment in ("RADEC", "REVERSE_LON_RADEC"):
            pointing = observation.pointing
            fov_lon, fov_lat = _fov_arrays(geom, float(pointing.ra), float(pointing.dec))
            if alignment == "REVERSE_LON_RADEC":
                fov_lon = -fov_lon
        else:
            raise ConfigError(
                f"bkg: attrs['fovalign'] must be RADEC, ALTAZ or REVERSE_LON_RADEC, "
                f"got {alignment!r}"
            )
        points = {FOV_LON: fov_lon, FOV_LAT: fov_lat}
    elif ENERGY in bkg.dims and spatial_dims == (OFFSET,):
        points = {OFFSET: _offset_array(geom, observation.pointing)}
    else:
        raise DimensionError(
            f"bkg: expected dims (energy, fov_lat, fov_lon) or (energy, offset), got {bkg.dims}"
        )
    bin_edges = _edges_tev(geom, ENERGY)
    samples, starts = _energy_samples(bkg, bin_edges, integration)
    # log(rate) on (spatial..., energy), the spatial dims in the IRF's order
    table = np.asarray(bkg.transpose(*spatial_dims, ENERGY).values)
    if fill_missing:
        table = _fill_gaps_kernel(table)  # fill_energy_gaps, along the last axis
    log_rate = np.log(np.clip(table, _TINY, None))
    energy_nodes, energy_log = node_values(bkg, ENERGY)
    spatial_nodes = [node_values(bkg, dim) for dim in spatial_dims]
    # Multilinear interpolation is a tensor product, so interpolating along energy
    # on the IRF grid first and then across the field gives the same numbers with
    # half the corners per pixel.
    log_spectra = interpolate_array(  # (spatial..., sample)
        log_rate[..., np.newaxis, :], [samples], [energy_nodes], [energy_log]
    )
    grid = np.moveaxis(log_spectra, -1, 0)  # (sample, spatial...)
    grid = grid.reshape(grid.shape[:1] + (1, 1) + grid.shape[1:])
    sky_shape = points[spatial_dims[0]].shape
    scale = _solid_angle(geom) * observation.ontime
    energy_inside = _inside(bkg, ENERGY, samples)
    counts = np.empty((starts.size, *sky_shape), dtype=np.float32)
    # Block by block of rows: every step is per pixel, so the numbers are those of
    # whole-grid arrays, with temporaries a few MB in size.
    for rows in _row_blocks(sky_shape, 8 * samples.size):
        log_values = interpolate_array(  # (sample, rows, lon)
            grid,
            [points[dim][rows] for dim in spatial_dims],
            [nodes for nodes, _ in spatial_nodes],
            [log for _, log in spatial_nodes],
        )
        inside = np.ones(log_values.shape[1:], dtype=bool)
        for dim in spatial_dims:
            inside = inside & _inside(bkg, dim, points[dim][rows])
        integral = _integrate_power_law(
            log_values,
            inside,
            log_energy=np.log(samples),
            starts=starts,
            energy_inside=energy_inside,
        )
        integral *= scale[rows]
        counts[:, rows] = integral  # float32, as astype rounds
    return counts


def _solid_angle(geom: xr.Dataset | xr.DataArray) -> np.ndarray:
    """Pixel solid angles, sr, numpy ``(lat, lon)`` (as :func:`gammaxr.axes.solid_angle`)."""
    lon_edges = np.deg2rad(edges(geom, LON))
    sin_lat = np.sin(np.deg2rad(edges(geom, LAT)))
    return np.outer(np.diff(sin_lat), np.diff(lon_edges))


def _energy_samples(
    bkg: xr.DataArray, bin_edges: np.ndarray, integration: str
) -> tuple[np.ndarray, np.ndarray]:
    """Sample energies (TeV) for the integral and the index of each bin's first segment."""
    if integration == "edges":
        samples = bin_edges
    else:
        nodes = np.asarray(bkg.coords[ENERGY].values, dtype=float)
        range_edges = [
            float(bkg.coords[name].values[index])
            for name, index in ((f"{ENERGY}_lo", 0), (f"{ENERGY}_hi", -1))
            if name in bkg.coords
        ]
        extra = np.concatenate([nodes, range_edges])
        extra = extra[(extra > bin_edges[0]) & (extra < bin_edges[-1])]
        samples = np.unique(np.concatenate([bin_edges, extra]))
    starts = np.searchsorted(samples, bin_edges[:-1])
    return samples, starts


def _integrate_power_law(
    log_values: np.ndarray,
    inside: np.ndarray,
    *,
    log_energy: np.ndarray,
    starts: np.ndarray,
    energy_inside: np.ndarray,
) -> np.ndarray:
    """Integral over each bin of a rate that is a power law between samples.

    ``log_values`` (n_samples, ...) holds ``log(rate)`` at the samples
    ``log_energy``; the rate is zero where ``inside`` (broadcast over ``...``)
    or ``energy_inside`` (n_samples) is False. The integral of a power law
    between ``(E1, r1)`` and ``(E2, r2)`` is ``ln(E2/E1)`` times the
    logarithmic mean of ``E1 r1`` and ``E2 r2``; segments are summed from
    ``starts[i]`` to ``starts[i + 1]``. Returns ``(n_bins, ...)``.
    ``log_values`` is overwritten.
    """
    column = (-1,) + (1,) * (log_values.ndim - 1)
    log_flux = np.add(log_values, log_energy.reshape(column), out=log_values)
    if not (np.all(energy_inside) and np.all(inside)):
        log_flux = np.where(energy_inside.reshape(column) & inside, log_flux, -np.inf)
    flux = np.exp(log_flux)
    # In place where possible: the same operations as np.diff(...) / np.diff(...).
    with np.errstate(invalid="ignore", divide="ignore"):
        delta = np.subtract(log_flux[1:], log_flux[:-1])
        segments = np.subtract(flux[1:], flux[:-1])
        segments /= delta
        small = (delta < 1e-8) & (delta > -1e-8)  # |delta| < 1e-8, without a float temporary
    if small.any():
        with np.errstate(invalid="ignore"):  # -inf deltas (outside the IRF) are dropped below
            segments = np.where(small, flux[:-1] * (1 + 0.5 * delta), segments)
    # A zero rate at either end (outside the IRF) gives inf/inf or 0/0: no contribution.
    finite = np.isfinite(segments)
    if not finite.all():
        np.copyto(segments, 0.0, where=~finite)
    segments *= np.diff(log_energy).reshape(column)
    return _sum_segments(segments, starts)


def _sum_segments(segments: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """``np.add.reduceat(segments, starts, axis=0)``, the same sums, faster.

    reduceat adds the first row of a group to the sum, taken left to right, of
    the others (for groups of up to 8 rows; longer groups are left to it). Done
    here plane by plane on whole ``(lat, lon)`` rows, which on a sky cube is
    several times faster than reduceat's walk along the first axis.
    """
    n = segments.shape[0]
    lengths = np.diff(np.append(starts, n))
    if lengths.size == 0 or lengths.min() < 1 or lengths.max() > 8:
        return np.add.reduceat(segments, starts, axis=0)
    if lengths.max() == 1:
        return segments[starts]
    total = segments[starts]
    grouped = np.nonzero(lengths > 1)[0]
    rest = segments[starts[grouped] + 1]
    for step in range(2, int(lengths.max())):
        more = np.nonzero(lengths[grouped] > step)[0]
        rest[more] += segments[starts[grouped[more]] + step]
    total[grouped] = total[grouped] + rest
    return total


def make_psf(
    observation: Observation,
    geom: xr.Dataset | xr.DataArray,
    *,
    rad: xr.DataArray | None = None,
    position: Position | None = None,
    offset: float | xr.DataArray | None = None,
) -> xr.DataArray:
    """PSF of one observation at one position, on the geometry's true-energy axis.

    Parameters
    ----------
    observation : Observation
        The observation (PSF table or parametric PSF, pointing).
    geom : xarray.Dataset or xarray.DataArray
        Geometry with an ``energy_true`` axis (and a sky grid, for its centre).
    rad : xarray.DataArray, optional
        Binned ``rad`` axis, deg (default :func:`default_rad_axis`).
    position : SkyCoord or (lon, lat), optional
        Where to evaluate the PSF (default: the geometry centre); a tuple is
        in the geometry's frame, deg.
    offset : float or xarray.DataArray, optional
        Evaluate at this offset from the pointing instead, deg; a DataArray of offsets
        (e.g. on a coarse sky grid) adds its dims to the result.

    Returns
    -------
    xarray.DataArray
        ``psf(energy_true, rad)`` in sr-1 (float32), evaluated at the ``rad``
        bin centres and normalised so that ``sum(psf * dOmega) = 1`` over the
        axis, with ``dOmega = 2 pi (cos rad_lo - cos rad_hi)`` (rows that are
        zero stay zero). A table PSF is zero beyond its last ``rad`` edge.
        ``attrs["offset"]`` is the offset used, deg.
    """
    require_dims(geom, (ENERGY_TRUE,), what="make_psf geometry")
    rad = default_rad_axis() if rad is None else rad
    require_dims(rad, (RAD,), what="make_psf rad axis")
    rad = require_units(rad, "deg", what="rad")
    rad_edges = np.deg2rad(edges(rad, RAD))
    irf_offset = position_offset(observation.pointing, geom, position=position, offset=offset)
    psf = observation.psf
    energy_true = _energies(geom, ENERGY_TRUE)
    fast = _psf_table_values(psf, energy_true, rad, irf_offset)
    if fast is not None:
        coords = _sky_coords(geom, (ENERGY_TRUE,))
        coords.update({key: coord.variable for key, coord in rad.coords.items()})
        result = xr.DataArray(
            fast, dims=(ENERGY_TRUE, RAD), coords=coords, name="psf", attrs={"units": "sr-1"}
        )
        return result.assign_attrs(offset=irf_offset)
    values = evaluate(psf, rad=rad, energy_true=energy_true, offset=irf_offset)
    if psf_kind(psf) == "psf_table":
        values = values.where(domain_mask(psf, rad=rad), 0.0)
    values = require_units(values, "sr-1", what="psf")
    annulus = xr.DataArray(2 * np.pi * -np.diff(np.cos(rad_edges)), dims=RAD)
    if isinstance(values.data, np.ndarray):
        normed = values.copy(data=_normalise_numpy(values.data, values.dims.index(RAD), annulus))
    else:
        norm = (values * annulus).sum(RAD)
        normed = (values / norm.where(norm > 0)).fillna(0.0)
    normed = normed.drop_vars([OFFSET], errors="ignore").transpose(ENERGY_TRUE, RAD, ...)
    result = _product(normed.astype(np.float32), "psf", "sr-1", geom)
    if isinstance(irf_offset, xr.DataArray):
        return result
    return result.assign_attrs(offset=irf_offset)


def _normalise_numpy(values: np.ndarray, axis: int, annulus: xr.DataArray) -> np.ndarray:
    """``values / sum(values * annulus)`` over ``axis``, zero where that sum is not positive.

    The numpy operations xarray runs for :func:`make_psf`'s normalisation (a NaN-skipping
    sum, the division, NaN to zero), on the same memory layout, so the same numbers,
    without its copies and alignment of a large PSF map.
    """
    shape = [1] * values.ndim
    shape[axis] = -1
    weighted = values * np.asarray(annulus.values).reshape(shape)
    nan = np.isnan(weighted)
    if nan.any():
        weighted[nan] = 0.0
    norm = weighted.sum(axis=axis, keepdims=True)
    del weighted, nan
    normed = values / np.where(norm > 0, norm, np.nan)
    normed[np.isnan(normed)] = 0.0
    return normed


def make_edisp(
    observation: Observation,
    geom: xr.Dataset | xr.DataArray,
    *,
    position: Position | None = None,
    offset: float | xr.DataArray | None = None,
) -> xr.DataArray:
    """Migration matrix of one observation at one position.

    Parameters
    ----------
    observation : Observation
        The observation (``edisp_2d``, pointing).
    geom : xarray.Dataset or xarray.DataArray
        Geometry with ``energy_true`` and ``energy`` axes.
    position : SkyCoord or (lon, lat), optional
        Where to evaluate (default: the geometry centre); a tuple is in the
        geometry's frame, deg.
    offset : float or xarray.DataArray, optional
        Evaluate at this offset from the pointing instead, deg; a DataArray of offsets
        (e.g. on a coarse sky grid) adds its dims to the result.

    Returns
    -------
    xarray.DataArray
        ``edisp(energy_true, energy)`` (units ``""``, float32): probability
        that an event of true energy at the bin centre is reconstructed in each
        energy bin (:func:`gammaxr.irf.migration_matrix`), divided by the
        integral of the interpolated ``dP/dmigra`` over the IRF's ``migra``
        range, so that a row sums to one when the reco axis covers that range.
        ``attrs["offset"]`` is the offset used, deg.
    """
    require_dims(geom, (ENERGY_TRUE, ENERGY), what="make_edisp geometry")
    irf_offset = position_offset(observation.pointing, geom, position=position, offset=offset)
    edisp = observation.edisp
    fast = _edisp_values(edisp, geom, irf_offset)
    if fast is not None:
        if isinstance(irf_offset, xr.DataArray):
            coords = _sky_coords(geom, (ENERGY_TRUE, ENERGY))
            coords.update(
                (str(key), coord.variable)
                for key, coord in irf_offset.coords.items()
                if key != OFFSET and set(coord.dims) <= set(irf_offset.dims)
            )
            dims = (ENERGY_TRUE, ENERGY, *irf_offset.dims)
            return xr.DataArray(fast, dims=dims, coords=coords, name="edisp", attrs={"units": ""})
        result = _wrap(fast, (ENERGY_TRUE, ENERGY), "edisp", "", geom)
        return result.assign_attrs(offset=irf_offset)
    matrix = migration_matrix(
        edisp, geom.coords[ENERGY_TRUE], geom.coords[ENERGY], offset=irf_offset
    )
    width = xr.DataArray(np.diff(edges(edisp, MIGRA)), dims=MIGRA)
    row_norm = (edisp.drop_vars([MIGRA, f"{MIGRA}_lo", f"{MIGRA}_hi"]) * width).sum(MIGRA)
    norm = interpolate(row_norm, energy_true=_energies(geom, ENERGY_TRUE), offset=irf_offset)
    normed = (matrix / norm.where(norm > 0)).fillna(0.0)
    normed = normed.drop_vars([OFFSET], errors="ignore").transpose(ENERGY_TRUE, ENERGY, ...)
    result = _product(normed.astype(np.float32), "edisp", "", geom)
    if isinstance(irf_offset, xr.DataArray):
        return result
    return result.assign_attrs(offset=irf_offset)


def _psf_table_values(
    psf: xr.DataArray | xr.Dataset,
    energy_true: xr.DataArray,
    rad: xr.DataArray,
    offset: float | xr.DataArray,
) -> np.ndarray | None:
    """:func:`make_psf` of a PSF table at one offset with numpy: float32 ``(energy_true, rad)``.

    The same operations, in the same order, as the xarray path (so the same numbers);
    None for the cases it does not cover (parametric PSFs, offset maps, other dims).
    """
    if (
        not isinstance(psf, xr.DataArray)
        or isinstance(offset, xr.DataArray)
        or set(psf.dims) != {ENERGY_TRUE, OFFSET, RAD}
        or psf.sizes[RAD] < 1
    ):
        return None
    try:
        factor = parse_unit(psf.attrs.get("units"), where="psf").to("sr-1")
    except Exception:  # noqa: BLE001 - the xarray path raises the proper error
        return None
    rad_units = psf.coords[RAD].attrs.get("units", "deg")
    rad_values = np.asarray(require_units(rad.coords[RAD], rad_units, what="rad").values, float)
    points = {
        ENERGY_TRUE: np.asarray(energy_true.values, dtype=float)[:, np.newaxis],
        OFFSET: np.asarray(float(offset)),
        RAD: rad_values[np.newaxis, :],
    }
    nodes = [node_values(psf, dim) for dim in psf.dims]
    values = interpolate_array(
        np.asarray(psf.values),
        [points[dim] for dim in psf.dims],
        [n for n, _ in nodes],
        [log for _, log in nodes],
    )
    values = np.where(_inside(psf, RAD, rad_values)[np.newaxis, :], values, 0.0)
    if factor != 1:
        values = values * factor
    rad_edges = np.deg2rad(edges(rad, RAD))
    annulus = 2 * np.pi * -np.diff(np.cos(rad_edges))
    norm = np.nansum(values * annulus, axis=1)
    normed = values / np.where(norm > 0, norm, np.nan)[:, np.newaxis]
    return np.where(np.isnan(normed), 0.0, normed).astype(np.float32)


def _edisp_values(
    edisp: xr.DataArray, geom: xr.Dataset | xr.DataArray, offset: float | xr.DataArray
) -> np.ndarray | None:
    """:func:`make_edisp` with numpy: float32 ``(energy_true, energy, *offset.dims)``.

    The operations of :func:`gammaxr.irf.migration_matrix` and of the row norm,
    in the same order (so the same numbers); None for the cases it does not cover.
    ``offset`` is one offset or an in-memory DataArray of offsets in deg (e.g. on a
    coarse sky grid), whose dims follow the energy dims.
    """
    if isinstance(offset, xr.DataArray):
        if (
            not isinstance(offset.data, np.ndarray)
            or set(offset.dims) & {ENERGY_TRUE, ENERGY, MIGRA, OFFSET}
            or offset.attrs.get("units", "deg") != "deg"
            or OFFSET not in edisp.coords
            or edisp.coords[OFFSET].attrs.get("units", "deg") != "deg"
        ):
            return None
        at = np.asarray(offset.values, dtype=float)
    else:
        at = np.asarray(float(offset))
    pad = (1,) * at.ndim  # the offset dims come last
    if (
        set(edisp.dims) != {ENERGY_TRUE, MIGRA, OFFSET}
        or edisp.attrs.get("units", "") not in ("", None)
        or f"{MIGRA}_lo" not in edisp.coords
    ):
        return None
    migra_edges = edges(edisp, MIGRA)
    if migra_edges.size < 2 or not np.all(np.diff(migra_edges) > 0):
        return None
    axis = edisp.dims.index(MIGRA)
    column = [1, 1, 1]
    column[axis] = -1
    density = np.asarray(edisp.values) * np.diff(migra_edges).reshape(column)
    inside = np.nancumsum(density, axis=axis)
    zeros = np.zeros_like(np.take(inside, [0], axis=axis))
    cumulative = np.concatenate([zeros, inside], axis=axis)
    energy_true = np.asarray(_energies(geom, ENERGY_TRUE).values, dtype=float)
    e_lo = np.asarray(require_units(geom.coords[f"{ENERGY}_lo"], "TeV", what="energy_lo").values)
    e_hi = np.asarray(require_units(geom.coords[f"{ENERGY}_hi"], "TeV", what="energy_hi").values)
    nodes = {
        ENERGY_TRUE: node_values(edisp, ENERGY_TRUE),
        MIGRA: (migra_edges, False),
        OFFSET: node_values(edisp, OFFSET),
    }
    bounds = []
    for e_bound in (e_lo, e_hi):
        migra = (e_bound[:, np.newaxis] / energy_true[np.newaxis, :]).T
        points = {
            ENERGY_TRUE: energy_true.reshape(-1, 1, *pad),
            MIGRA: migra.reshape(migra.shape + pad),
            OFFSET: at.reshape((1, 1, *at.shape)) if at.ndim else at,
        }
        bounds.append(
            interpolate_array(
                cumulative,
                [points[dim] for dim in edisp.dims],
                [nodes[dim][0] for dim in edisp.dims],
                [nodes[dim][1] for dim in edisp.dims],
            )
        )
    matrix = np.clip(bounds[1] - bounds[0], 0, None)
    row_dims = [dim for dim in edisp.dims if dim != MIGRA]
    row_norm = np.nansum(density, axis=axis)
    norm_points = {
        ENERGY_TRUE: energy_true.reshape(-1, *pad),
        OFFSET: at.reshape((1, *at.shape)) if at.ndim else at,
    }
    norm = interpolate_array(
        row_norm,
        [norm_points[dim] for dim in row_dims],
        [nodes[dim][0] for dim in row_dims],
        [nodes[dim][1] for dim in row_dims],
    )
    normed = matrix / np.where(norm > 0, norm, np.nan)[:, np.newaxis]
    return np.where(np.isnan(normed), 0.0, normed).astype(np.float32)


def _product(da: xr.DataArray, name: str, units: str, geom) -> xr.DataArray:
    """Name a product, give it only ``units``, and the geometry's coordinates on its dims."""
    coords = {key: coord for key, coord in geom.coords.items() if set(coord.dims) <= set(da.dims)}
    da = da.assign_coords(coords)
    da.name = name
    da.attrs = {"units": units}
    return da


def _sky_coords(geom, dims: Sequence[str]) -> dict[str, xr.Variable]:
    """The geometry's coordinates that lie on ``dims`` (as :func:`_product` attaches them)."""
    return {
        key: coord.variable for key, coord in geom.coords.items() if set(coord.dims) <= set(dims)
    }


def _wrap(values: np.ndarray, dims: Sequence[str], name: str, units: str, geom) -> xr.DataArray:
    """A product array as a named DataArray with ``units`` and the geometry's coordinates."""
    return xr.DataArray(
        values, dims=tuple(dims), coords=_sky_coords(geom, dims), name=name, attrs={"units": units}
    )


def make_map_dataset(
    observation: Observation,
    geom: xr.Dataset,
    *,
    products: Sequence[str] = PRODUCTS,
    safe_mask: Sequence[str] | Mapping[str, Mapping[str, Any]] = ("aeff-default",),
    psf_rad: xr.DataArray | None = None,
    background_integration: Literal["nodes", "edges"] = "nodes",
    bkg: xr.DataArray | None = None,
    irf_binsz: float = 0.5,
) -> xr.Dataset:
    """Reduce one observation to a map dataset on a geometry.

    Parameters
    ----------
    observation : Observation
        The observation (events and IRFs).
    geom : xarray.Dataset
        A geometry from :func:`gammaxr.make_geom`: ``energy`` and
        ``energy_true`` axes and a sky grid (dims ``energy``, ``energy_true``,
        ``lat``, ``lon``).
    products : sequence of str
        Which products to make, from ``counts``, ``exposure``, ``background``,
        ``psf``, ``edisp`` and ``mask_safe`` (the default), and the coarse maps
        ``psf_map`` and ``edisp_map`` (see :mod:`gammaxr.reduce.irf_maps`).
    safe_mask : sequence of str, or mapping
        Safe-mask methods (see :func:`gammaxr.reduce.make_safe_mask`):
        ``offset-max``, ``aeff-default``, ``aeff-max``, ``edisp-bias``,
        ``bkg-peak``, combined with a logical and; a mapping gives each
        method's options, e.g. ``{"aeff-max": {"percent": 10},
        "offset-max": {"offset_max": 2.5}}``. Pixels where the background is
        zero or not finite are always excluded when the background is made.
    psf_rad : xarray.DataArray, optional
        The PSF ``rad`` axis (default :func:`default_rad_axis`).
    background_integration : {"nodes", "edges"}
        Energy integration of the background (see :func:`make_background`).
    bkg : xarray.DataArray, optional
        A background IRF to use instead of ``observation.bkg`` (see
        :func:`make_background`).
    irf_binsz : float
        Pixel size of the coarse ``psf_map`` / ``edisp_map`` grid, deg.

    Returns
    -------
    xarray.Dataset
        Variables (each with ``attrs["units"]``):

        - ``counts(energy, lat, lon)``, int64 (:func:`gammaxr.bin_events`);
        - ``exposure(energy_true, lat, lon)``, ``m2 s``, float32;
        - ``background(energy, lat, lon)``, predicted counts, float32;
        - ``psf(energy_true, rad)``, sr-1, float32, at the geometry centre;
        - ``edisp(energy_true, energy)``, float32, at the geometry centre;
        - ``mask_safe(energy, lat, lon)``, bool (True: use the bin);
        - on request ``psf_map(energy_true, rad, irf_lat, irf_lon)`` and
          ``edisp_map(energy_true, energy, irf_lat, irf_lon)`` on a coarse grid.

        Attributes (NetCDF-storable): ``obs_id``, ``livetime``, ``ontime``
        (s), ``deadc``, ``pointing_ra``, ``pointing_dec`` (and
        ``pointing_alt``, ``pointing_az`` when known), ``pointing_mode``,
        ``frame``, ``tstart``, ``tstop`` (s since ``mjdref``), ``mjdref``,
        ``timesys``, ``time_start``, ``time_stop`` (ISO UTC), ``telescope``,
        ``irf_offset`` (deg; where ``psf``/``edisp`` are evaluated) and
        ``safe_mask`` (the methods used, comma-separated).

    Raises
    ------
    ConfigError
        Unknown product or safe-mask method.
    DimensionError
        If the geometry lacks a dim a product needs.

    Examples
    --------
    >>> import gammaxr as gx
    >>> from gammaxr.reduce import make_map_dataset
    >>> obs = gx.open_datastore().observation(23523)
    >>> geom = gx.make_geom(
    ...     gx.energy_axis(1, 10, nbin=2),
    ...     gx.energy_axis(0.5, 20, nbin=4, name="energy_true"),
    ...     sky=gx.sky_grid((83.633, 22.014), width=1, binsz=0.1),
    ... )
    >>> ds = make_map_dataset(obs, geom)
    >>> sorted(ds.data_vars)
    ['background', 'counts', 'edisp', 'exposure', 'mask_safe', 'psf']
    """
    from gammaxr.reduce.safe_mask import _safe_mask_values, safe_mask_methods

    known = PRODUCTS + OPTIONAL_PRODUCTS
    unknown = [name for name in products if name not in known]
    if unknown:
        raise ConfigError(f"make_map_dataset: unknown products {unknown}; choose from {known}")
    from gammaxr.reduce.spectrum import require_full_enclosure

    require_full_enclosure(observation, "make_map_dataset")
    methods = safe_mask_methods(safe_mask)
    require_dims(geom, (ENERGY, LAT, LON), what="make_map_dataset geometry")
    if {"exposure", "psf", "edisp", *OPTIONAL_PRODUCTS} & set(products):
        require_dims(geom, (ENERGY_TRUE,), what="make_map_dataset geometry")
    # The sky products are computed as numpy arrays (sharing the pixel offsets) and
    # the Dataset is built once at the end.
    cubes: dict[str, tuple[tuple[str, ...], np.ndarray, str]] = {}
    others: dict[str, xr.DataArray] = {}
    offset = None
    if {"exposure", "mask_safe"} & set(products) or "offset-max" in methods:
        offset = _offset_array(geom, observation.pointing)
    if "counts" in products:
        cubes["counts"] = ((ENERGY, LAT, LON), _bin_counts(observation.events, geom), "")
    if "exposure" in products:
        exposure = _exposure_values(observation, geom, offset)
        cubes["exposure"] = ((ENERGY_TRUE, LAT, LON), exposure, "m2 s")
    background = None
    if "background" in products:
        background = _background_values(
            observation, geom, integration=background_integration, fill_missing=True, bkg=bkg
        )
        cubes["background"] = ((ENERGY, LAT, LON), background, "")
    if "psf" in products:
        others["psf"] = make_psf(observation, geom, rad=psf_rad)
    if "edisp" in products:
        others["edisp"] = make_edisp(observation, geom)
    if "psf_map" in products:
        from gammaxr.reduce.irf_maps import make_psf_map

        others["psf_map"] = make_psf_map(observation, geom, binsz=irf_binsz, rad=psf_rad)
    if "edisp_map" in products:
        from gammaxr.reduce.irf_maps import make_edisp_map

        others["edisp_map"] = make_edisp_map(observation, geom, binsz=irf_binsz)
    if "mask_safe" in products:
        mask = _safe_mask_values(
            observation, geom, methods, background=background, edisp=others.get("edisp"), bkg=bkg
        )
        cubes["mask_safe"] = ((ENERGY, LAT, LON), mask, "")
    attrs = _dataset_attrs(observation, geom, methods if "mask_safe" in products else {})
    irf_offset = [others[name].attrs.pop("offset") for name in ("psf", "edisp") if name in others]
    if irf_offset:
        attrs["irf_offset"] = float(irf_offset[0])
    return _assemble(geom, cubes, others, attrs)


def _assemble(
    geom: xr.Dataset,
    cubes: Mapping[str, tuple[tuple[str, ...], np.ndarray, str]],
    others: Mapping[str, xr.DataArray],
    attrs: dict[str, Any],
) -> xr.Dataset:
    """The map dataset: variables in the order of :data:`PRODUCTS`, the geometry's coords."""
    variables: dict[str, xr.Variable] = {}
    coords: dict[str, xr.Variable] = {}
    used: set[str] = set()
    order = ("counts", "exposure", "background", "psf", "edisp", *OPTIONAL_PRODUCTS, "mask_safe")
    for name in order:
        if name in cubes:
            dims, values, units = cubes[name]
            variables[name] = xr.Variable(dims, values, {"units": units})
            used.update(dims)
        elif name in others:
            da = others[name]
            variables[name] = da.variable
            for key, coord in da.coords.items():
                coords.setdefault(str(key), coord.variable)
    for key, coord in geom.coords.items():
        if set(coord.dims) <= used:
            coords.setdefault(str(key), coord.variable)
    return xr.Dataset(variables, coords=coords, attrs=attrs)


def _dataset_attrs(
    observation: Observation, geom: xr.Dataset, methods: Mapping[str, Any]
) -> dict[str, Any]:
    """NetCDF-storable attributes of a map dataset: numbers and strings only."""
    events_attrs = observation.events.attrs
    pointing = observation.pointing
    attrs: dict[str, Any] = {
        "obs_id": int(observation.obs_id),
        "livetime": float(observation.livetime),
        "ontime": float(observation.ontime),
        "deadc": float(observation.deadc),
        "pointing_ra": float(pointing.ra),
        "pointing_dec": float(pointing.dec),
    }
    if pointing.has_altaz:
        attrs["pointing_alt"] = float(pointing.alt)
        attrs["pointing_az"] = float(pointing.az)
    if pointing.mode:
        attrs["pointing_mode"] = str(pointing.mode)
    attrs["frame"] = sky_frame(geom)
    for key, kind in (
        ("tstart", float),
        ("tstop", float),
        ("mjdref", float),
        ("timesys", str),
        ("time_start", str),
        ("time_stop", str),
    ):
        if key in events_attrs and events_attrs[key] is not None:
            attrs[key] = kind(events_attrs[key])
    if "telescop" in events_attrs:
        attrs["telescope"] = str(events_attrs["telescop"])
    if methods:
        attrs["safe_mask"] = ",".join(methods)
    return attrs
