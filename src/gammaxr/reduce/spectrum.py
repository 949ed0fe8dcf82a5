"""DL3 -> DL4 for one observation in an on region: the 1D spectrum dataset.

:func:`make_spectrum_dataset` counts the events of one observation in an on
region and evaluates the IRFs there, on a geometry without sky axes
(``gx.make_geom(energy_axis, energy_true_axis)``). Its products are those of
the map maker (:mod:`gammaxr.reduce.map`) and the safe-mask methods
(:mod:`gammaxr.reduce.safe_mask`) at the region centre: exposure, energy
dispersion, ``aeff-max`` and the PSF containment of a table PSF are computed
on plain arrays (:mod:`gammaxr.reduce._spectrum_irfs`), with the numbers of
the general makers bit for bit, and the dataset is built once at the end.
Counts in circles are tested with numpy on the events near the circles'
offset from the pointing; one reduction takes a few tens of milliseconds.

Conventions, and where they follow Gammapy (``SpectrumDatasetMaker``, v2.1,
with its default ``use_region_center=True``):

* Counts: events whose reconstructed direction lies in the on region (true
  angular separations for circles; see :func:`gammaxr.sky.regions.contains`).
* Exposure: effective area at the offset of the region centre and each
  true-energy bin centre, times the live time (:func:`~gammaxr.reduce.make_exposure`
  at that one position). With ``containment_correction`` and full-enclosure
  IRFs it is multiplied by the fraction of the PSF (centred on the region
  centre, at the same offset) that falls in the region: for a circle, the PSF
  containment at its radius (:func:`gammaxr.irf.containment`), as Gammapy;
  for other shapes (ellipse, rectangle, polygon, annulus; Gammapy refuses
  them), the PSF density integrated numerically over the region on a fine sky
  grid (about 100 pixels across the region).
* Background: the IRF background rate, integrated over each reco-energy bin
  as in :func:`~gammaxr.reduce.make_background`, at the region centre, times
  the solid angle of the region (``background_method="center"``, Gammapy's
  default); or averaged over a fine sky grid covering the region and then
  multiplied by its solid angle (``"average"``, Gammapy's
  ``use_region_center=False``). The solid angle of a circle is exact,
  ``2 pi (1 - cos r)``; that of other shapes is summed over the fine grid.
* Energy dispersion: the migration matrix at the offset of the region centre
  (:func:`~gammaxr.reduce.make_edisp`).

Point-like IRFs
---------------
Point-like IRFs (``HDUCLAS3 = POINT-LIKE``) hold only the events within a
directional cut: a ``RAD_MAX_2D`` table (``Observation.rad_max``,
``(energy, offset)``) or one ``RAD_MAX`` header value. The on region is then a
point (a :class:`~astropy.coordinates.SkyCoord` or a
:class:`~regions.PointSkyRegion`), or a circle whose radius is the (fixed)
``RAD_MAX``. An event counts if it lies within ``RAD_MAX`` of the point, with
``RAD_MAX`` taken at the event's reconstructed energy and the point's offset
from the nearest table node (in ``log(energy)``, as Gammapy's
``EventList.select_rad_max``). The effective area already describes the
events within the cut, so no containment correction is applied. The
background, if made, is the rate at the point times the solid angle of the
cut ``2 pi (1 - cos RAD_MAX)``, with ``RAD_MAX`` at each reco-energy bin
centre. Map datasets need full-enclosure IRFs: see
:func:`require_full_enclosure`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import xarray as xr
from astropy.coordinates import SkyCoord
from regions import (
    CircleAnnulusSkyRegion,
    CircleSkyRegion,
    CompoundSkyRegion,
    EllipseSkyRegion,
    PointSkyRegion,
    RectangleSkyRegion,
    Regions,
    SkyRegion,
)

from gammaxr.axes import sky_grid, solid_angle
from gammaxr.conventions import (
    ENERGY,
    ENERGY_TRUE,
    LAT,
    LON,
    OFFSET,
    RAD,
    edges,
    hi_name,
    lo_name,
    require_dims,
    require_units,
)
from gammaxr.data.events import _bin_index, bin_events
from gammaxr.exceptions import ConfigError, DimensionError, FormatError, GeometryError
from gammaxr.irf import containment, evaluate, psf_kind
from gammaxr.reduce import _spectrum_irfs as _irfs
from gammaxr.reduce._geometry import position_offset
from gammaxr.reduce._irf_domain import domain_mask
from gammaxr.reduce.map import (
    _dataset_attrs,
    _product,
    make_background,
)
from gammaxr.reduce.safe_mask import (
    mask_aeff_default,
    mask_aeff_max,
    mask_bkg_peak,
    mask_edisp_bias,
    safe_mask_methods,
)
from gammaxr.sky.frames import transform_lonlat
from gammaxr.sky.regions import (
    _region_centre,
    as_region_list,
    coord_lonlat,
    region_mask,
    region_to_string,
)
from gammaxr.sky.separation import angular_separation

if TYPE_CHECKING:
    from gammaxr.data.observation import Observation

__all__ = [
    "SPECTRUM_PRODUCTS",
    "as_on_region",
    "evaluate_rad_max",
    "is_point_like",
    "largest_on_radius",
    "make_region_counts",
    "make_spectrum_dataset",
    "rad_max_table",
    "region_centre",
    "region_containment",
    "region_extent",
    "region_frame",
    "region_solid_angle",
    "require_full_enclosure",
]

SPECTRUM_PRODUCTS = ("counts", "exposure", "background", "edisp", "mask_safe")

# Size of the single sky pixel at the region centre through which the map makers
# evaluate exposure and background there, deg (its centre is the region centre).
_PIXEL = 1e-3
# Pixels across the largest extent of a region on the fine grid used for numerical
# integrals over non-circular regions.
_GRID_PIXELS = 100
# Relative tolerance between a circular on region and a fixed RAD_MAX (as Gammapy).
_RAD_MAX_RTOL = 1e-3

OnRegion = SkyRegion | SkyCoord | str | Regions


# --- point-like IRFs -------------------------------------------------------------------


def is_point_like(observation: Observation) -> bool:
    """Whether an observation has point-like IRFs.

    True if it has a ``rad_max`` HDU, or its effective area is marked
    ``irf_type = "point-like"`` (GADF ``HDUCLAS3 = POINT-LIKE``) or carries a
    ``RAD_MAX`` header value (``attrs["rad_max"]``).
    """
    if "rad_max" in getattr(observation, "available", ()):
        return True
    aeff = getattr(observation, "aeff", None)
    if aeff is None:
        return False
    irf_type = str(aeff.attrs.get("irf_type", "full-enclosure")).strip().lower()
    return irf_type == "point-like" or "rad_max" in aeff.attrs


def require_full_enclosure(observation: Observation, what: str = "make_map_dataset") -> None:
    """Raise a clear error if an observation has point-like IRFs.

    A map dataset (or any product that needs the PSF over the field of view)
    cannot be made from point-like IRFs: their effective area counts only the
    events within the ``RAD_MAX`` cut around the source.

    Parameters
    ----------
    observation : Observation
        The observation.
    what : str
        The name of the caller, for the message.

    Raises
    ------
    ConfigError
        If :func:`is_point_like` is True.
    """
    if is_point_like(observation):
        raise ConfigError(
            f"{what}: observation {getattr(observation, 'obs_id', '?')} has point-like IRFs "
            "(HDUCLAS3 = POINT-LIKE / RAD_MAX): the effective area only holds the events "
            "within the RAD_MAX cut, so no map dataset can be made from it. Use "
            "gammaxr.reduce.make_spectrum_dataset with a point on region (a SkyCoord or "
            "regions.PointSkyRegion) instead."
        )


def rad_max_table(observation: Observation) -> xr.DataArray | float | None:
    """The directional cut of point-like IRFs, deg.

    Returns
    -------
    xarray.DataArray, float or None
        The ``RAD_MAX_2D`` table ``(energy, offset)`` in deg if the observation
        has one; else the ``RAD_MAX`` header value of the effective area (deg);
        else None.
    """
    if "rad_max" in getattr(observation, "available", ()):
        table = require_units(observation.rad_max, "deg", what="rad_max")
        require_dims(table, (ENERGY, OFFSET), what="rad_max")
        return table
    value = observation.aeff.attrs.get("rad_max")
    return None if value is None else float(value)


def _nearest_index(coord: xr.DataArray, values: np.ndarray) -> np.ndarray:
    """Index of the nearest node of an axis (in log scale for ``interp == "log"``), clamped."""
    nodes = np.asarray(coord.values, dtype=float)
    values = np.asarray(values, dtype=float)
    if coord.attrs.get("interp") == "log":
        nodes, values = np.log(nodes), np.log(values)
    middles = 0.5 * (nodes[1:] + nodes[:-1])
    return np.searchsorted(middles, values)


def evaluate_rad_max(
    table: xr.DataArray | float, *, energy: np.ndarray | float, offset: np.ndarray | float
) -> np.ndarray:
    """RAD_MAX at reconstructed energies and offsets, from the nearest table node.

    Parameters
    ----------
    table : xarray.DataArray or float
        ``RAD_MAX_2D`` table ``(energy, offset)`` in deg, or a fixed radius, deg
        (see :func:`rad_max_table`).
    energy : array-like
        Reconstructed energies, TeV.
    offset : array-like
        Offsets from the pointing, deg (broadcast with ``energy``).

    Returns
    -------
    numpy.ndarray
        Radius in deg, of the broadcast shape: the value of the node nearest in
        ``log(energy)`` and ``offset`` (Gammapy evaluates RAD_MAX with
        ``method="nearest"`` when selecting events); beyond the table, the
        outermost node.
    """
    energy, offset = np.broadcast_arrays(np.asarray(energy, float), np.asarray(offset, float))
    if not isinstance(table, xr.DataArray):
        return np.full(energy.shape, float(table))
    table = table.transpose(ENERGY, OFFSET)
    i_energy = _nearest_index(table.coords[ENERGY], energy)
    i_offset = _nearest_index(table.coords[OFFSET], offset)
    return np.asarray(table.values, dtype=float)[i_energy, i_offset]


def largest_on_radius(
    table: xr.DataArray | float, geom: xr.Dataset | xr.DataArray, offset: float
) -> float:
    """Largest RAD_MAX used for reco energies within the geometry's range, deg.

    The radii of the table nodes nearest to every energy between the first and
    last edge of the geometry's ``energy`` axis, at the node nearest to
    ``offset`` (the radii :func:`make_region_counts` uses); Gammapy takes the
    same maximum to test off regions for overlap.
    """
    if not isinstance(table, xr.DataArray):
        return float(table)
    bounds = edges(geom, ENERGY)[[0, -1]]
    first, last = _nearest_index(table.coords[ENERGY], bounds)
    radii = evaluate_rad_max(table, energy=table.coords[ENERGY].values, offset=offset)
    return float(np.max(radii[first : last + 1]))


# --- regions ---------------------------------------------------------------------------


def as_on_region(region: OnRegion) -> SkyRegion:
    """An on region as one sky region.

    Parameters
    ----------
    region : SkyRegion, SkyCoord, str or Regions
        A region with a centre (circle, ellipse, rectangle, polygon, circle
        annulus, point), a scalar SkyCoord (a point, for point-like IRFs), or
        a DS9 string / ``Regions`` list holding exactly one such region.

    Raises
    ------
    GeometryError
        For a compound region, several regions, or a non-scalar SkyCoord.
    """
    if isinstance(region, SkyCoord):
        if not region.isscalar:
            raise GeometryError("on region: expected one position, got an array SkyCoord")
        return PointSkyRegion(region)
    regions = as_region_list(region)
    if len(regions) != 1:
        raise GeometryError(f"on region: expected exactly one region, got {len(regions)}")
    (single,) = regions
    if isinstance(single, CompoundSkyRegion):
        raise GeometryError(
            "on region: compound regions have no centre at which to evaluate the IRFs; "
            "give one shape"
        )
    return single


def region_frame(region: SkyRegion) -> str:
    """``"galactic"`` for a region defined in galactic coordinates, else ``"icrs"``."""
    centre = _region_centre(region)
    return "galactic" if centre.frame.name == "galactic" else "icrs"


def region_centre(region: SkyRegion) -> SkyCoord:
    """Centre of a region (the mean of the vertices for a polygon), in :func:`region_frame`."""
    return _region_centre(region).transform_to(region_frame(region))


def region_extent(region: SkyRegion) -> float:
    """Largest angular distance of a region's points from its centre, deg (0 for a point)."""
    if isinstance(region, CircleSkyRegion):
        return float(region.radius.to_value("deg"))
    if isinstance(region, CircleAnnulusSkyRegion):
        return float(region.outer_radius.to_value("deg"))
    if isinstance(region, EllipseSkyRegion):
        return 0.5 * max(region.width.to_value("deg"), region.height.to_value("deg"))
    if isinstance(region, RectangleSkyRegion):
        return 0.5 * float(np.hypot(region.width.to_value("deg"), region.height.to_value("deg")))
    if isinstance(region, PointSkyRegion):
        return 0.0
    vertices = getattr(region, "vertices", None)
    if vertices is not None:
        return float(np.max(region_centre(region).separation(vertices).deg))
    raise GeometryError(f"unsupported region type {type(region).__name__}")


def _region_grid(region: SkyRegion) -> tuple[xr.DataArray, xr.DataArray]:
    """A fine sky grid covering a region: its pixel solid angle (sr) and the region mask."""
    centre = region_centre(region)
    extent = region_extent(region)
    if extent <= 0:
        raise GeometryError(f"region {region!r} has no area")
    binsz = 2 * extent / _GRID_PIXELS
    lat = centre.spherical.lat.deg
    cos_lat = np.cos(np.deg2rad(min(abs(lat) + extent, 89.0)))
    half = extent + 2 * binsz
    grid = sky_grid(
        centre, width=(2 * half / cos_lat, 2 * half), binsz=binsz, frame=region_frame(region)
    )
    return grid, region_mask(region, grid).drop_attrs()


def region_solid_angle(region: SkyRegion) -> float:
    """Solid angle of a region, sr.

    Exact for circles (``2 pi (1 - cos r)``) and circle annuli; zero for a
    point; for other shapes, summed over the pixels of a fine sky grid (about
    100 across the region) whose centre lies in the region.
    """
    if isinstance(region, CircleSkyRegion):
        return float(2 * np.pi * (1 - np.cos(region.radius.to_value("rad"))))
    if isinstance(region, CircleAnnulusSkyRegion):
        inner, outer = (r.to_value("rad") for r in (region.inner_radius, region.outer_radius))
        return float(2 * np.pi * (np.cos(inner) - np.cos(outer)))
    if isinstance(region, PointSkyRegion):
        return 0.0
    grid, mask = _region_grid(region)
    return float(grid.where(mask, 0.0).sum())


def region_containment(
    psf: xr.DataArray | xr.Dataset,
    region: SkyRegion,
    *,
    energy_true: xr.DataArray,
    offset: float,
) -> xr.DataArray:
    """Fraction of a PSF centred on a region's centre that falls in the region.

    Parameters
    ----------
    psf : xarray.DataArray or xarray.Dataset
        PSF table or parametric PSF (``Observation.psf``).
    region : SkyRegion
        The region.
    energy_true : xarray.DataArray
        True energies, TeV (an ``energy_true`` axis).
    offset : float
        Offset from the pointing at which to evaluate the PSF, deg.

    Returns
    -------
    xarray.DataArray
        Containment fraction (units ``""``) on the dims of ``energy_true``.
        For a circle, :func:`gammaxr.irf.containment` at its radius (as
        Gammapy); for other shapes, the PSF density (constant within each
        ``rad`` bin of a table and zero beyond its last edge) integrated over
        the pixels of a fine sky grid (about 100 across the region) whose
        centre lies in the region: within 0.2 % of the exact containment for
        a 0.11 deg circle and the H.E.S.S. DR1 PSF.
    """
    if isinstance(region, CircleSkyRegion):
        fraction = containment(
            psf, region.radius.to_value("deg"), energy_true=energy_true, offset=offset
        )
    elif isinstance(region, PointSkyRegion):
        raise GeometryError("a point region has no PSF containment; it needs point-like IRFs")
    else:
        grid, mask = _region_grid(region)
        centre = region_centre(region)
        lon, lat = np.meshgrid(grid[LON].values, grid[LAT].values)
        distance = angular_separation(centre.spherical.lon.deg, centre.spherical.lat.deg, lon, lat)
        rad = xr.DataArray(distance, dims=(LAT, LON), attrs={"units": "deg"})
        if psf_kind(psf) == "psf_table" and lo_name(RAD) in psf.coords:
            # A table is constant within each rad bin (as :func:`containment` takes it):
            # evaluate it at the centre of the bin holding each distance.
            table = require_units(psf.coords[RAD], "deg", what="psf rad")
            rad_edges = edges(table, RAD)
            index = np.searchsorted(rad_edges, distance, side="right") - 1
            index = np.clip(index, 0, rad_edges.size - 2)
            at = rad.copy(data=np.asarray(table.values)[index])
        else:
            at = rad
        density = evaluate(psf, rad=at, energy_true=energy_true, offset=offset)
        if psf_kind(psf) == "psf_table":
            density = density.where(domain_mask(psf, rad=rad), 0.0)
        density = require_units(density, "sr-1", what="psf")
        weight = grid.where(mask, 0.0).drop_vars(list(grid.coords))
        fraction = (density * weight).sum((LAT, LON))
    fraction = fraction.drop_vars([OFFSET], errors="ignore")
    return fraction.rename("containment").assign_attrs(units="")


# --- counts ----------------------------------------------------------------------------


def make_region_counts(
    observation: Observation,
    regions: SkyRegion | Sequence[SkyRegion] | Regions | str,
    geom: xr.Dataset | xr.DataArray,
) -> xr.DataArray:
    """Counts of an observation's events in one or several regions.

    Parameters
    ----------
    observation : Observation
        The observation (events; for point regions also RAD_MAX and pointing).
    regions : SkyRegion, sequence of SkyRegion, Regions or str
        Regions of one kind: extended shapes (their union is counted, each
        event once) or points (each point counts the events within RAD_MAX of
        it, see :func:`evaluate_rad_max`; counts of several points are
        summed, as Gammapy fills them one by one).
    geom : xarray.Dataset or xarray.DataArray
        Anything with an ``energy`` axis with edges.

    Returns
    -------
    xarray.DataArray
        ``counts(energy)``, int64. Bins are closed on the left, the last one
        also on the right (as :func:`gammaxr.bin_events`).
    """
    values = _region_counts(observation, regions, geom)
    return xr.DataArray(
        values,
        dims=(ENERGY,),
        coords=_coords_on(geom, (ENERGY,)),
        name="counts",
        attrs={"units": ""},
    )


def _region_counts(
    observation: Observation,
    regions: SkyRegion | Sequence[SkyRegion] | Regions | str,
    geom: xr.Dataset | xr.DataArray,
) -> np.ndarray:
    """:func:`make_region_counts` as an int64 numpy ``(energy,)`` array."""
    if isinstance(regions, SkyRegion | str | Regions):
        regions = as_region_list(regions)
    regions = list(regions)
    points = [isinstance(region, PointSkyRegion) for region in regions]
    energy_edges = edges(geom, ENERGY)
    if not regions:
        return np.zeros(energy_edges.size - 1, dtype=np.int64)
    if all(points):
        return _point_counts(observation, regions, geom)
    if any(points):
        raise GeometryError("make_region_counts: mix of point and extended regions")
    if all(type(region) is CircleSkyRegion for region in regions):
        by_frame: dict[str, list[CircleSkyRegion]] = {}
        for region in regions:
            by_frame.setdefault(region_frame(region), []).append(region)
        inside = None
        for frame, circles in by_frame.items():
            centres = [coord_lonlat(region.center, frame) for region in circles]
            lon = np.array([centre[0] for centre in centres], dtype=float)
            lat = np.array([centre[1] for centre in centres], dtype=float)
            radius = np.array([region.radius.to_value("deg") for region in circles])
            members = _in_circles(observation, frame, lon, lat, radius)
            inside = members if inside is None else inside | members
        return _energy_counts(observation.events, inside, energy_edges)
    counts = bin_events(observation.events, geom, region=Regions(regions))
    return np.asarray(counts.values, dtype=np.int64)


# Margin of the pre-selection of events by offset, deg: far above float rounding.
_PRESELECT_MARGIN = 1e-6
# Largest number of (circle, event) separations computed at once.
_CHUNK = 2_000_000


def _in_circles(
    observation: Observation,
    frame: str,
    lon: np.ndarray,
    lat: np.ndarray,
    radius: np.ndarray,
) -> np.ndarray:
    """Whether each event lies in any of the circles (centres in ``frame``, deg).

    As :func:`gammaxr.sky.regions.contains`: the true angular separation from
    each centre, in the circle's frame, at most the radius. Only the events
    whose offset from the pointing is within the range the circles span can
    be inside (triangle inequality); the others are not tested.
    """
    events = observation.events
    ra = events["ra"].to_numpy(dtype=float)
    dec = events["dec"].to_numpy(dtype=float)
    inside = np.zeros(ra.size, dtype=bool)
    lon, lat, radius = (np.atleast_1d(np.asarray(x, dtype=float)) for x in (lon, lat, radius))
    lon, lat, radius = np.broadcast_arrays(lon, lat, radius)
    if lon.size == 0 or ra.size == 0:
        return inside
    pointing = observation.pointing
    centre_ra, centre_dec = transform_lonlat(lon, lat, frame, "icrs")
    centre_offset = angular_separation(pointing.ra, pointing.dec, centre_ra, centre_dec)
    event_offset = angular_separation(pointing.ra, pointing.dec, ra, dec)
    low = float(np.min(centre_offset - radius)) - _PRESELECT_MARGIN
    high = float(np.max(centre_offset + radius)) + _PRESELECT_MARGIN
    near = np.flatnonzero((event_offset >= low) & (event_offset <= high))
    if near.size == 0:
        return inside
    ev_lon, ev_lat = transform_lonlat(ra[near], dec[near], "icrs", frame)
    hit = np.zeros(near.size, dtype=bool)
    step = max(1, _CHUNK // near.size)
    for start in range(0, lon.size, step):
        part = slice(start, start + step)
        distance = angular_separation(lon[part, np.newaxis], lat[part, np.newaxis], ev_lon, ev_lat)
        hit |= np.any(distance <= radius[part, np.newaxis], axis=0)
    inside[near[hit]] = True
    return inside


def _energy_counts(events, inside: np.ndarray, energy_edges: np.ndarray) -> np.ndarray:
    """Counts per reco-energy bin of the selected events (bins as :func:`gammaxr.bin_events`)."""
    energy = events["energy"].to_numpy(dtype=float)[inside]
    index = _bin_index(energy, energy_edges)
    counts = np.bincount(index[index >= 0], minlength=energy_edges.size - 1)
    return counts.astype(np.int64, copy=False)


def _coords_on(geom: xr.Dataset | xr.DataArray, dims: Sequence[str]) -> dict[str, xr.Variable]:
    """The geometry's coordinates lying on ``dims`` (as the makers attach them)."""
    return {
        str(key): coord.variable
        for key, coord in geom.coords.items()
        if set(coord.dims) <= set(dims)
    }


def _point_counts(
    observation: Observation, regions: list[SkyRegion], geom: xr.Dataset | xr.DataArray
) -> np.ndarray:
    """Events within RAD_MAX(event energy, offset) of each point, summed over the points."""
    table = rad_max_table(observation)
    if table is None:
        raise FormatError(
            f"observation {observation.obs_id}: a point on region needs point-like IRFs with "
            "a RAD_MAX_2D table or a RAD_MAX header value"
        )
    centres = SkyCoord([region.center.icrs for region in regions])
    ra, dec = centres.ra.deg[:, np.newaxis], centres.dec.deg[:, np.newaxis]
    pointing = observation.pointing
    offset = angular_separation(pointing.ra, pointing.dec, ra, dec)
    events = observation.events
    energy = events["energy"].to_numpy(dtype=float)
    ev_ra, ev_dec = events["ra"].to_numpy(dtype=float), events["dec"].to_numpy(dtype=float)
    # Only events in the annulus about the pointing that holds every point's cut.
    largest = float(table.max()) if isinstance(table, xr.DataArray) else float(table)
    ev_offset = angular_separation(pointing.ra, pointing.dec, ev_ra, ev_dec)
    near = (ev_offset >= offset.min() - largest) & (ev_offset <= offset.max() + largest)
    energy, ev_ra, ev_dec = energy[near], ev_ra[near], ev_dec[near]
    separation = angular_separation(ra, dec, ev_ra, ev_dec)
    radius = evaluate_rad_max(table, energy=energy[np.newaxis, :], offset=offset)
    inside = separation <= radius
    selected = np.broadcast_to(energy, inside.shape)[inside]
    counts, _ = np.histogram(selected, bins=edges(geom, ENERGY))
    return counts.astype(np.int64)


# --- the dataset -----------------------------------------------------------------------


def _pixel_geom(geom: xr.Dataset | xr.DataArray, centre: SkyCoord, frame: str) -> xr.Dataset:
    """The geometry's non-sky axes with one tiny sky pixel centred on ``centre``."""
    sky = sky_grid(centre, width=_PIXEL, binsz=_PIXEL, frame=frame)  # type: ignore[arg-type]
    coords = {
        name: coord for name, coord in geom.coords.items() if not {LAT, LON} & set(coord.dims)
    }
    return xr.Dataset(coords={**coords, **sky.coords}, attrs={"frame": frame})


def _drop_sky(da: xr.DataArray) -> xr.DataArray:
    """Remove the one-pixel sky axes of a product made on :func:`_pixel_geom`."""
    da = da.isel({LAT: 0, LON: 0})
    sky = [
        name for name in da.coords if name in (LAT, LON) or str(name).startswith(("lat_", "lon_"))
    ]
    return da.drop_vars(sky)


def _energy_true_tev(geom: xr.Dataset | xr.DataArray) -> np.ndarray:
    """The true-energy bin centres of the geometry, TeV."""
    coord = require_units(geom.coords[ENERGY_TRUE], "TeV", what=ENERGY_TRUE)
    return np.asarray(coord.values, dtype=float)


def _spectrum_exposure(
    observation: Observation,
    geom: xr.Dataset,
    region: SkyRegion,
    offset: float,
    correct: bool,
) -> np.ndarray:
    """Exposure at the region centre (float32 ``(energy_true,)``, m2 s), containment applied."""
    energy_true = _energy_true_tev(geom)
    exposure = _irfs.exposure(observation.aeff, energy_true, offset, observation.livetime)
    if not correct:
        return exposure
    psf = observation.psf
    if isinstance(region, CircleSkyRegion) and psf_kind(psf) == "psf_table":
        radius = float(region.radius.to_value("deg"))
        fraction = _irfs.table_containment(psf, radius, energy_true, offset)
    else:
        coord = require_units(geom.coords[ENERGY_TRUE], "TeV", what=ENERGY_TRUE)
        fraction = region_containment(psf, region, energy_true=coord, offset=offset)
        fraction = np.asarray(fraction.transpose(ENERGY_TRUE).values)
    return (exposure.astype(np.float64) * fraction).astype(np.float32)


def _spectrum_background(
    observation: Observation,
    geom: xr.Dataset,
    region: SkyRegion,
    centre_geom: xr.Dataset,
    method: str,
    *,
    integration: Literal["nodes", "edges"],
    bkg: xr.DataArray | None,
    on_radius: xr.DataArray | None,
) -> xr.DataArray:
    if method == "center":
        counts = _drop_sky(
            make_background(observation, centre_geom, integration=integration, bkg=bkg)
        )
        pixel = float(solid_angle(centre_geom).values[0, 0])
        rate = counts.astype(np.float64) / pixel
        if on_radius is not None:
            omega = 2 * np.pi * (1 - np.cos(np.deg2rad(on_radius)))
        else:
            omega = region_solid_angle(region)
        values = rate * omega
    else:  # "average", checked by the caller
        grid, mask = _region_grid(region)
        coords = {name: c for name, c in geom.coords.items() if c.dims == (ENERGY,)}
        grid_geom = xr.Dataset(coords={**coords, **grid.coords}, attrs=dict(grid.attrs))
        counts = make_background(observation, grid_geom, integration=integration, bkg=bkg)
        inside = counts.astype(np.float64).where(mask, 0.0).sum((LAT, LON))
        values = inside / float(grid.where(mask, 0.0).sum()) * region_solid_angle(region)
    values = values.reset_coords(drop=True).transpose(ENERGY).astype(np.float32)
    return _product(values, "background", "", geom)


def _spectrum_safe_mask(
    observation: Observation,
    geom: xr.Dataset,
    methods: Mapping[str, Mapping[str, Any]],
    *,
    offset: float,
    background: np.ndarray | None,
    edisp: Callable[[], xr.DataArray | None],
    make_bkg: Callable[[], np.ndarray],
) -> np.ndarray:
    """The safe-mask methods of :mod:`gammaxr.reduce.safe_mask` at the region centre.

    ``background`` is the background already made (numpy, or None), ``edisp``
    gives the migration matrix already made (a DataArray, or None), ``make_bkg``
    makes the background when ``bkg-peak`` needs it. Bins where a made
    background is zero or not finite are excluded.
    """
    mask = np.ones(geom.sizes[ENERGY], dtype=bool)
    made = background
    for name, options in methods.items():
        elsewhere = bool({"position", "offset"} & set(options))
        here = {} if elsewhere else {"offset": offset}
        if name == "offset-max":
            offset_max = float(options.get("offset_max", 3.0))
            if not offset_max > 0:
                raise ConfigError(f"offset-max: offset_max must be positive, got {offset_max}")
            mask = mask & (offset < offset_max)
            continue
        if name == "aeff-max" and not elsewhere:
            percent = float(options.get("percent", 10.0))
            if not 0 < percent <= 100:
                raise ConfigError(f"aeff-max: percent must be in (0, 100], got {percent}")
            require_dims(geom, (ENERGY, ENERGY_TRUE), what="aeff-max geometry")
            low = require_units(geom.coords[lo_name(ENERGY)], "TeV", what="energy_lo")
            part, _ = _irfs.aeff_max_mask(
                observation.aeff, _energy_true_tev(geom), np.asarray(low.values), offset, percent
            )
            mask = mask & part
            continue
        if name == "aeff-default":
            part_da = mask_aeff_default(observation, geom)
        elif name == "aeff-max":
            part_da = mask_aeff_max(observation, geom, **options)
        elif name == "edisp-bias":
            reuse = None if elsewhere else edisp()
            extra = {} if reuse is not None else here
            part_da = mask_edisp_bias(observation, geom, edisp=reuse, **extra, **options)
        elif name == "bkg-peak":
            if made is None:
                made = make_bkg()
            background_da = xr.DataArray(made, dims=(ENERGY,), coords=_coords_on(geom, (ENERGY,)))
            part_da = mask_bkg_peak(background_da)
        else:  # pragma: no cover - safe_mask_methods rejects unknown names
            raise ConfigError(f"unknown safe-mask method {name!r}")
        mask = mask & np.asarray(part_da.transpose(ENERGY).values, dtype=bool)
    if background is not None:
        mask = mask & np.isfinite(background) & (background > 0)
    return mask


def make_spectrum_dataset(
    observation: Observation,
    on_region: OnRegion,
    geom: xr.Dataset,
    *,
    products: Sequence[str] = SPECTRUM_PRODUCTS,
    containment_correction: bool = True,
    safe_mask: Sequence[str] | Mapping[str, Mapping[str, Any]] = ("aeff-default",),
    background_method: Literal["center", "average"] = "center",
    background_integration: Literal["nodes", "edges"] = "nodes",
    bkg: xr.DataArray | None = None,
) -> xr.Dataset:
    """Reduce one observation to a 1D spectrum dataset in an on region.

    Parameters
    ----------
    observation : Observation
        The observation (events and IRFs).
    on_region : SkyRegion, SkyCoord or str
        The on region (see :func:`as_on_region`): a circle (or ellipse,
        rectangle, polygon, circle annulus) for full-enclosure IRFs; a point
        (SkyCoord or ``PointSkyRegion``) for point-like IRFs, whose on radius
        is ``RAD_MAX(energy, offset)``.
    geom : xarray.Dataset
        A geometry without sky axes: ``gx.make_geom(energy_axis,
        energy_true_axis)`` (dims ``energy`` and ``energy_true``, TeV).
    products : sequence of str
        Which products to make, from ``counts``, ``exposure``, ``background``,
        ``edisp`` and ``mask_safe`` (default: all).
    containment_correction : bool
        Multiply the exposure by the fraction of the PSF in the on region
        (full-enclosure IRFs only: point-like IRFs already hold the
        efficiency of their RAD_MAX cut, and no correction is applied to
        them whatever this says).
    safe_mask : sequence of str, or mapping
        Safe-mask methods, as for :func:`gammaxr.reduce.make_map_dataset`;
        each is evaluated at the region centre (``offset-max`` keeps every
        bin if the region centre is closer than ``offset_max`` to the
        pointing, none otherwise). Bins where the background is zero or not
        finite are excluded when the background is made.
    background_method : {"center", "average"}
        ``"center"``: the background rate at the region centre times the
        region's solid angle (Gammapy's default). ``"average"``: the rate
        averaged over a fine sky grid covering the region, times its solid
        angle (full-enclosure IRFs only).
    background_integration : {"nodes", "edges"}
        Energy integration of the background (see
        :func:`gammaxr.reduce.make_background`).
    bkg : xarray.DataArray, optional
        A background IRF to use instead of ``observation.bkg``.

    Returns
    -------
    xarray.Dataset
        Variables (each with ``attrs["units"]``):

        - ``counts(energy)``, int64;
        - ``exposure(energy_true)``, ``m2 s``, float32;
        - ``background(energy)``, predicted counts, float32;
        - ``edisp(energy_true, energy)``, float32;
        - ``mask_safe(energy)``, bool (True: use the bin).

        Attributes: those of :func:`gammaxr.reduce.make_map_dataset`
        (``obs_id``, ``livetime``, ``ontime``, ``deadc``, pointing, times,
        ``safe_mask``; ``frame`` is the frame of the region), plus
        ``region`` (the on region as a DS9 string), ``irf_offset`` (offset
        of the region centre, deg), ``irf_type`` (``full-enclosure`` or
        ``point-like``), ``containment_correction`` (1 if applied, else 0) and
        ``background_method`` (when the background is made).

    Raises
    ------
    ConfigError
        Unknown product, safe-mask method or background method.
    DimensionError
        If the geometry has sky axes or lacks an energy axis a product needs.
    GeometryError
        If the on region does not suit the IRFs (a point with full-enclosure
        IRFs; with point-like IRFs, anything but a point or a circle whose
        radius is the fixed RAD_MAX).
    FormatError
        A point on region with point-like IRFs that give no RAD_MAX.

    Examples
    --------
    >>> import astropy.units as u
    >>> import gammaxr as gx
    >>> from astropy.coordinates import SkyCoord
    >>> from regions import CircleSkyRegion
    >>> from gammaxr.reduce import make_spectrum_dataset
    >>> obs = gx.open_datastore().observation(23523)
    >>> geom = gx.make_geom(
    ...     gx.energy_axis(0.5, 50, nbin=10),
    ...     gx.energy_axis(0.3, 100, nbin=20, name="energy_true"),
    ... )
    >>> on = CircleSkyRegion(SkyCoord(83.633, 22.014, unit="deg"), radius=0.11 * u.deg)
    >>> ds = make_spectrum_dataset(obs, on, geom)
    >>> int(ds.counts.sum())
    188
    """
    unknown = [name for name in products if name not in SPECTRUM_PRODUCTS]
    if unknown:
        raise ConfigError(
            f"make_spectrum_dataset: unknown products {unknown}; choose from {SPECTRUM_PRODUCTS}"
        )
    if background_method not in ("center", "average"):
        raise ConfigError(
            f"background_method must be 'center' or 'average', got {background_method!r}"
        )
    methods = safe_mask_methods(safe_mask)
    sky = [dim for dim in (LAT, LON) if dim in geom.dims]
    if sky:
        raise DimensionError(
            f"make_spectrum_dataset: the geometry has sky dims {sky}; a spectrum geometry is "
            "gx.make_geom(energy_axis, energy_true_axis) without sky="
        )
    require_dims(geom, (ENERGY,), what="make_spectrum_dataset geometry")
    if {"exposure", "edisp"} & set(products) or {"aeff-max", "edisp-bias"} & set(methods):
        require_dims(geom, (ENERGY_TRUE,), what="make_spectrum_dataset geometry")

    region = as_on_region(on_region)
    frame = region_frame(region)
    point_like = is_point_like(observation)
    _check_on_region(observation, region, point_like)
    offset = _centre_offset(observation, geom, region)
    if point_like and background_method == "average":
        raise ConfigError(
            "background_method='average' needs full-enclosure IRFs; the on region of "
            "point-like IRFs is the RAD_MAX cut (use 'center')"
        )
    on_radius = None
    if isinstance(region, PointSkyRegion):
        energy = require_units(geom.coords[ENERGY], "TeV", what=ENERGY)
        on_radius = xr.DataArray(
            evaluate_rad_max(rad_max_table(observation), energy=energy.values, offset=offset),
            dims=(ENERGY,),
        )
    correct = bool(containment_correction) and not point_like

    def background() -> np.ndarray:
        values = _spectrum_background(
            observation,
            geom,
            region,
            _pixel_geom(geom, region_centre(region), frame),
            background_method,
            integration=background_integration,
            bkg=bkg,
            on_radius=on_radius,
        )
        return np.asarray(values.values)

    # The products as numpy arrays: (dims, values, units), in the order of SPECTRUM_PRODUCTS.
    arrays: dict[str, tuple[tuple[str, ...], np.ndarray, str]] = {}
    if "counts" in products:
        arrays["counts"] = ((ENERGY,), _region_counts(observation, region, geom), "")
    if "exposure" in products:
        exposure = _spectrum_exposure(observation, geom, region, offset, correct)
        arrays["exposure"] = ((ENERGY_TRUE,), exposure, "m2 s")
    if "background" in products:
        arrays["background"] = ((ENERGY,), background(), "")
    if "edisp" in products:
        energy_lo, energy_hi = (
            np.asarray(require_units(geom.coords[name], "TeV", what=name).values, dtype=float)
            for name in (lo_name(ENERGY), hi_name(ENERGY))
        )
        matrix = _irfs.edisp_matrix(
            observation.edisp, _energy_true_tev(geom), energy_lo, energy_hi, offset
        )
        arrays["edisp"] = ((ENERGY_TRUE, ENERGY), matrix, "")

    def edisp() -> xr.DataArray | None:
        if "edisp" not in arrays:
            return None
        dims, values, _ = arrays["edisp"]
        return xr.DataArray(values, dims=dims, coords=_coords_on(geom, dims), attrs={"units": ""})

    if "mask_safe" in products:
        mask = _spectrum_safe_mask(
            observation,
            geom,
            methods,
            offset=offset,
            background=arrays["background"][1] if "background" in arrays else None,
            edisp=edisp,
            make_bkg=background,
        )
        arrays["mask_safe"] = ((ENERGY,), mask, "")
    attrs = _dataset_attrs(
        observation, geom.assign_attrs(frame=frame), methods if "mask_safe" in products else {}
    )
    attrs["region"] = region_to_string(region)
    attrs["irf_offset"] = float(offset)
    attrs["irf_type"] = "point-like" if point_like else "full-enclosure"
    attrs["containment_correction"] = int(correct and "exposure" in products)
    if "background" in products:
        attrs["background_method"] = background_method
    return _assemble(geom, arrays, attrs)


def _centre_offset(observation: Observation, geom: xr.Dataset, region: SkyRegion) -> float:
    """Offset of the region centre from the pointing, deg (see ``position_offset``)."""
    centre = _region_centre(region)
    if centre.frame.name != "icrs":
        return position_offset(observation.pointing, geom, position=region_centre(region))
    ra, dec = coord_lonlat(centre, "icrs")
    pointing = observation.pointing
    return float(angular_separation(pointing.ra, pointing.dec, ra, dec))


def _assemble(
    geom: xr.Dataset,
    arrays: Mapping[str, tuple[tuple[str, ...], np.ndarray, str]],
    attrs: dict[str, Any],
) -> xr.Dataset:
    """A spectrum dataset from numpy products, with the geometry's coordinates on their dims."""
    variables = {
        name: xr.Variable(dims, values, {"units": units})
        for name, (dims, values, units) in arrays.items()
    }
    coords: dict[str, xr.Variable] = {}
    for dims, _, _ in arrays.values():
        for key, coord in _coords_on(geom, dims).items():
            coords.setdefault(key, coord)
    return xr.Dataset(variables, coords=coords, attrs=attrs)


def _check_on_region(observation: Observation, region: SkyRegion, point_like: bool) -> None:
    """Raise if the on region does not suit the IRF type (see the module docstring)."""
    if not point_like:
        if isinstance(region, PointSkyRegion):
            raise GeometryError(
                f"observation {observation.obs_id} has full-enclosure IRFs: a point on region "
                "needs point-like IRFs with RAD_MAX; give a circle (e.g. CircleSkyRegion)"
            )
        return
    table = rad_max_table(observation)
    if isinstance(region, PointSkyRegion):
        if table is None:
            raise FormatError(
                f"observation {observation.obs_id}: point-like IRFs without a RAD_MAX_2D "
                "table or RAD_MAX header value; give a circular on region of the cut radius"
            )
        return
    if not isinstance(region, CircleSkyRegion):
        raise GeometryError(
            f"observation {observation.obs_id} has point-like IRFs: the on region must be a "
            f"point (SkyCoord or PointSkyRegion) or a circle, got {type(region).__name__}"
        )
    if table is None:
        return
    values = np.asarray(table.values if isinstance(table, xr.DataArray) else table, float)
    fixed = float(values.flat[0])
    radius = float(region.radius.to_value("deg"))
    if not np.allclose(values, fixed, rtol=_RAD_MAX_RTOL) or not np.isclose(
        radius, fixed, rtol=_RAD_MAX_RTOL
    ):
        raise GeometryError(
            f"observation {observation.obs_id} has point-like IRFs with RAD_MAX "
            f"from {values.min():.4g} to {values.max():.4g} deg: a circular "
            f"on region (radius {radius} deg) must have the fixed RAD_MAX as radius; "
            "otherwise give a point (SkyCoord or PointSkyRegion)"
        )
