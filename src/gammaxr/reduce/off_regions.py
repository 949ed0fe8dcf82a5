"""Off regions for 1D spectra: reflected and wobble regions, and the on-off spectrum.

An off region is the on region rotated about the pointing: same offset, same
shape, and (for shapes with an orientation) the orientation carried along by
the rotation, so the off regions see the same acceptance as the on region.
Rotation angles are measured at the pointing, from north through east.

:func:`find_reflected_regions` follows Gammapy's ``ReflectedRegionsFinder``
(v2.1): with ``size`` the range of position angles the on region covers seen
from the pointing, the first region is placed at ``size + min_distance +
min_distance_input`` from the on region, the next ones ``size +
min_distance`` apart, up to ``2 pi - size - min_distance -
min_distance_input``; a candidate touching an excluded pixel is moved on by
``angle_increment``. Exclusion is tested on the points of a tangent-plane
(TAN) grid of ``binsz`` (0.01 deg) centred on the pointing and laid out as
Gammapy's reference grid (``4 * offset + 0.3`` deg wide) that fall in the on
region, rotated with it. ``size`` is exact by default (``2 arcsin(sin r /
sin d)`` for a circle; the grid points widened by a pixel for other shapes),
so that off regions never overlap; ``size_method="gammapy"`` takes the range
of the grid points as Gammapy does, which reproduces Gammapy's regions but
lets neighbours overlap by up to a pixel. The regions themselves are rotated
exactly on the sphere (Gammapy rotates their pixel versions on its grid,
which changes a circle's radius by ~1e-5 relative and an orientation by
~1e-3 deg).

:func:`find_wobble_regions` follows Gammapy's ``WobbleRegionsFinder``:
``n_off_regions`` positions evenly spaced with the on region around the
circle of its offset; excluded ones are dropped, and none are returned if
neighbouring positions overlap.

Point on regions (point-like IRFs) stand for circles of the largest RAD_MAX
radius in the energy range (``rad_max``): as Gammapy, the overlap test of
wobble regions uses that radius (Gammapy drops every off region then, and so
does gammaxr); unlike Gammapy, the exclusion test uses that circle too
(Gammapy tests only the point), and reflected regions are found for points
(Gammapy refuses them).

Exclusion masks follow the convention of :func:`gammaxr.reduce.fit_fov_background`:
a boolean ``(lat, lon)`` DataArray, True where the sky is EXCLUDED (sources).
Sky positions off the mask are not excluded.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import astropy.units as u
import numpy as np
import xarray as xr
from astropy.coordinates import SkyCoord
from regions import CircleSkyRegion, PointSkyRegion, Regions, SkyRegion

from gammaxr.axes import sky_frame
from gammaxr.conventions import ENERGY, LAT, LON, edges, require_dims
from gammaxr.exceptions import ConfigError, DimensionError, GammaxrWarning, GeometryError
from gammaxr.reduce.map import _product
from gammaxr.reduce.spectrum import (
    OnRegion,
    as_on_region,
    is_point_like,
    largest_on_radius,
    make_region_counts,
    make_spectrum_dataset,
    rad_max_table,
    region_centre,
    region_extent,
    region_frame,
)
from gammaxr.sky.regions import contains, region_to_string
from gammaxr.sky.separation import angular_separation, tangent_plane_offsets

if TYPE_CHECKING:
    from gammaxr.data.observation import Observation
    from gammaxr.sky.pointing import Pointing

__all__ = [
    "ON_OFF_PRODUCTS",
    "find_reflected_regions",
    "find_wobble_regions",
    "make_on_off_spectrum",
    "rotate_region",
]

#: Products of :func:`make_on_off_spectrum` by default: the IRF background is
#: replaced by the off measurement (as Gammapy's ``SpectrumDatasetOnOff``).
ON_OFF_PRODUCTS = ("counts", "exposure", "edisp", "mask_safe")

# Gammapy's defaults, 0.1 rad, in deg.
_TENTH_RADIAN = float(np.rad2deg(0.1))

Angle = float | u.Quantity


# --- spherical geometry ----------------------------------------------------------------


def _position_angle(lon0, lat0, lon, lat):
    """Position angle (rad, east of north) of ``(lon, lat)`` seen from ``(lon0, lat0)`` (deg)."""
    lon0, lat0, lon, lat = (np.deg2rad(x) for x in (lon0, lat0, lon, lat))
    dlon = lon - lon0
    return np.arctan2(
        np.sin(dlon) * np.cos(lat),
        np.cos(lat0) * np.sin(lat) - np.sin(lat0) * np.cos(lat) * np.cos(dlon),
    )


def _offset_by(lon0, lat0, position_angle, distance):
    """The point at ``distance`` (deg) and ``position_angle`` (rad) from ``(lon0, lat0)``."""
    lat0 = np.deg2rad(lat0)
    distance = np.deg2rad(distance)
    sin_lat = np.sin(lat0) * np.cos(distance) + np.cos(lat0) * np.sin(distance) * np.cos(
        position_angle
    )
    lat = np.arcsin(np.clip(sin_lat, -1.0, 1.0))
    dlon = np.arctan2(
        np.sin(position_angle) * np.sin(distance) * np.cos(lat0),
        np.cos(distance) - np.sin(lat0) * sin_lat,
    )
    return lon0 + np.rad2deg(dlon), np.rad2deg(lat)


def _rotate(lon, lat, lon0, lat0, angle):
    """Rotate points (deg) about ``(lon0, lat0)`` by ``angle`` (rad, position angle increasing)."""
    distance = angular_separation(lon0, lat0, lon, lat)
    return _offset_by(lon0, lat0, _position_angle(lon0, lat0, lon, lat) + angle, distance)


def _degrees(value: Angle, name: str) -> float:
    """An angle given in deg (float) or as an astropy Quantity, in deg."""
    if isinstance(value, u.Quantity):
        try:
            return float(value.to_value("deg"))
        except u.UnitConversionError:
            raise ConfigError(f"{name}: expected an angle, got {value}") from None
    return float(value)


def _pointing_lonlat(pointing: Pointing | SkyCoord | tuple[float, float], frame: str):
    """The pointing as ``(lon, lat)`` in deg in ``frame``."""
    if isinstance(pointing, SkyCoord):
        coord = pointing
    elif isinstance(pointing, tuple):
        coord = SkyCoord(*pointing, unit="deg", frame="icrs")
    else:
        coord = SkyCoord(pointing.ra, pointing.dec, unit="deg", frame="icrs")
    coord = coord.transform_to(frame)
    return float(coord.spherical.lon.deg), float(coord.spherical.lat.deg)


def rotate_region(
    region: SkyRegion, pointing: Pointing | SkyCoord | tuple[float, float], angle: Angle
) -> SkyRegion:
    """Rotate a region about the pointing, exactly on the sphere.

    Parameters
    ----------
    region : SkyRegion
        A region with a ``center`` (circle, ellipse, rectangle, annulus,
        point; an ``angle`` attribute is carried along) or ``vertices``
        (polygon).
    pointing : Pointing, SkyCoord or (ra, dec)
        The rotation centre; a tuple is ICRS, deg.
    angle : float or Quantity
        Rotation angle, deg: the position angle (east of north) of the region
        seen from the pointing grows by ``angle``.

    Returns
    -------
    SkyRegion
        The rotated region, of the same type and in the frame of the input.
    """
    frame = region_frame(region)
    lon0, lat0 = _pointing_lonlat(pointing, frame)
    return _rotate_region(region, lon0, lat0, frame, np.deg2rad(_degrees(angle, "angle")))


def _rotate_region(region: SkyRegion, lon0: float, lat0: float, frame: str, theta: float):
    """:func:`rotate_region` about ``(lon0, lat0)`` (deg, in ``frame``) by ``theta`` (rad)."""
    vertices = getattr(region, "vertices", None)
    if vertices is not None:
        vertices = vertices.transform_to(frame)
        lon, lat = _rotate(
            vertices.spherical.lon.deg, vertices.spherical.lat.deg, lon0, lat0, theta
        )
        return region.copy(vertices=SkyCoord(lon, lat, unit="deg", frame=frame))
    if getattr(region, "center", None) is None:
        raise GeometryError(f"cannot rotate a {type(region).__name__}: it has no centre")
    centre = region.center.transform_to(frame)
    c_lon, c_lat = centre.spherical.lon.deg, centre.spherical.lat.deg
    lon, lat = _rotate(c_lon, c_lat, lon0, lat0, theta)
    changes: dict[str, Any] = {"center": SkyCoord(lon, lat, unit="deg", frame=frame)}
    if getattr(region, "angle", None) is not None:
        # A rotation shifts every direction at the centre by the same position angle:
        # the change of the bearing towards the rotation centre.
        shift = _position_angle(lon, lat, lon0, lat0) - _position_angle(c_lon, c_lat, lon0, lat0)
        changes["angle"] = (region.angle + shift * u.rad).to("deg") % (360 * u.deg)
    return region.copy(**changes)


# --- sampling the on region ------------------------------------------------------------


class _Footprint:
    """Points of the on region on Gammapy's reference grid, as seen from the pointing.

    ``position_angle`` (rad) and ``distance`` (deg) from the pointing of the
    centres of the pixels of a TAN grid at the pointing (pixel ``binsz``,
    width ``4 * offset + 0.3`` deg, as Gammapy's reference geometry) that lie
    in ``shape``.
    """

    def __init__(self, shape: SkyRegion, lon0: float, lat0: float, frame: str, binsz: float):
        self.shape, self.lon0, self.lat0, self.frame = shape, lon0, lat0, frame
        self.binsz = binsz
        centre = region_centre(shape)
        c_lon, c_lat = centre.spherical.lon.deg, centre.spherical.lat.deg
        self.offset = float(angular_separation(lon0, lat0, c_lon, c_lat))
        extent = region_extent(shape)
        npix = int(np.rint((4 * self.offset + 0.3) / binsz))
        x_c, y_c = tangent_plane_offsets(c_lon, c_lat, lon0, lat0)
        reach = np.deg2rad(min(self.offset + extent, 80.0))
        half = extent / np.cos(reach) ** 2 + 2 * binsz
        first = (npix - 1) / 2

        def nodes(centre_value: float) -> np.ndarray:
            low = max(0, int(np.ceil((centre_value - half) / binsz + first)))
            high = min(npix - 1, int(np.floor((centre_value + half) / binsz + first)))
            return binsz * (np.arange(low, high + 1) - first)

        x, y = np.meshgrid(nodes(float(x_c)), nodes(float(y_c)))
        position_angle = np.arctan2(x, y)
        distance = np.rad2deg(np.arctan(np.deg2rad(np.hypot(x, y))))
        lon, lat = _offset_by(lon0, lat0, position_angle, distance)
        inside = contains(shape, lon, lat, frame)
        self.position_angle = position_angle[inside]
        self.distance = distance[inside]

    def positions(self, angle: float) -> tuple[np.ndarray, np.ndarray]:
        """Sky positions (deg, in ``frame``) of the points after a rotation by ``angle`` (rad)."""
        return _offset_by(self.lon0, self.lat0, self.position_angle + angle, self.distance)

    def angular_size(self, method: str) -> float:
        """Range of position angles the shape covers seen from the pointing, rad.

        ``"gammapy"``: the range of the grid points (Gammapy's measure, which
        misses up to a pixel at each side). ``"exact"``: for a circle
        ``2 arcsin(sin r / sin d)``; for other shapes the range of the grid
        points widened on each side by the angle a pixel diagonal subtends at
        the closest point, so that it covers the shape.
        """
        if method == "exact" and isinstance(self.shape, CircleSkyRegion):
            return _circle_width(self.shape.radius.to_value("deg"), self.offset)
        if self.position_angle.size == 0:
            # Smaller than a pixel: the width of a circle of the shape's extent.
            return _circle_width(region_extent(self.shape) + self.binsz, self.offset)
        size = float(np.ptp(self.position_angle))
        if size > np.pi:
            size = float(np.ptp(np.mod(self.position_angle, 2 * np.pi)))
        if method == "exact":
            closest = max(float(np.min(self.distance)), self.binsz)
            size += 2 * float(np.arctan(self.binsz / np.sqrt(2) / closest))
        return min(size, 2 * np.pi)


def _circle_width(radius: float, distance: float) -> float:
    """Range of position angles (rad) of a circle seen from a point ``distance`` away (deg)."""
    ratio = np.sin(np.deg2rad(radius)) / np.sin(np.deg2rad(distance))
    return float(2 * np.arcsin(min(ratio, 1.0)))


def _footprint_shape(region: SkyRegion, rad_max: float | None) -> SkyRegion:
    """The on region, or for a point the circle of radius ``rad_max`` about it."""
    if not isinstance(region, PointSkyRegion):
        return region
    if rad_max is None or not rad_max > 0:
        raise GeometryError(
            "a point on region needs rad_max (deg), the largest RAD_MAX radius in the "
            f"energy range, to place off regions; got {rad_max}"
        )
    return CircleSkyRegion(region.center, rad_max * u.deg)


class _Exclusion:
    """Nearest-pixel lookup in an exclusion mask (True: excluded)."""

    def __init__(self, mask: xr.DataArray):
        require_dims(mask, (LAT, LON), what="exclusion_mask")
        if mask.dtype != bool:
            raise DimensionError(
                "exclusion_mask must be boolean, True where the sky is excluded (sources)"
            )
        self.frame = sky_frame(mask)
        self.lon_edges = edges(mask, LON)
        self.lat_edges = edges(mask, LAT)
        self.values = np.asarray(mask.transpose(LAT, LON).values, dtype=bool)

    def __call__(self, lon: np.ndarray, lat: np.ndarray, frame: str) -> np.ndarray:
        """Whether each position (deg, in ``frame``) falls on an excluded pixel."""
        if frame != self.frame:
            coord = SkyCoord(lon, lat, unit="deg", frame=frame).transform_to(self.frame)
            lon, lat = coord.spherical.lon.deg, coord.spherical.lat.deg
        centre = 0.5 * (self.lon_edges[0] + self.lon_edges[-1])
        lon = (np.asarray(lon) - centre + 180.0) % 360.0 + centre - 180.0
        i_lon = np.searchsorted(self.lon_edges, lon, side="right") - 1
        i_lat = np.searchsorted(self.lat_edges, lat, side="right") - 1
        valid = (i_lon >= 0) & (i_lon < self.values.shape[1])
        valid &= (i_lat >= 0) & (i_lat < self.values.shape[0])
        excluded = np.zeros(np.shape(lon), dtype=bool)
        excluded[valid] = self.values[i_lat[valid], i_lon[valid]]
        return excluded


# --- finders ---------------------------------------------------------------------------


def find_reflected_regions(
    on_region: OnRegion,
    pointing: Pointing | SkyCoord | tuple[float, float],
    *,
    exclusion_mask: xr.DataArray | None = None,
    min_distance: Angle = 0.0,
    min_distance_input: Angle = _TENTH_RADIAN,
    max_region_number: int = 10000,
    angle_increment: Angle = _TENTH_RADIAN,
    binsz: float = 0.01,
    rad_max: float | None = None,
    size_method: Literal["exact", "gammapy"] = "exact",
) -> list[SkyRegion]:
    """Reflected off regions: the on region rotated about the pointing.

    Parameters
    ----------
    on_region : SkyRegion, SkyCoord or str
        The on region (see :func:`gammaxr.reduce.spectrum.as_on_region`).
    pointing : Pointing, SkyCoord or (ra, dec)
        The rotation centre (ICRS for a tuple, deg).
    exclusion_mask : xarray.DataArray, optional
        Boolean ``(lat, lon)``, True where EXCLUDED: a region touching an
        excluded pixel is not used.
    min_distance : float or Quantity
        Extra rotation angle between consecutive off regions, deg (Gammapy's
        ``min_distance``, default 0).
    min_distance_input : float or Quantity
        Extra rotation angle between the on region and the first and last
        off regions, deg (default 0.1 rad = 5.73 deg, Gammapy's default).
    max_region_number : int
        Stop after this many regions.
    angle_increment : float or Quantity
        Rotation step after a candidate touching an excluded pixel, deg
        (default 0.1 rad).
    binsz : float
        Pixel size of the grid measuring the angular size of the on region
        and testing exclusion, deg (Gammapy's 0.01 deg).
    rad_max : float, optional
        For a point on region, the radius (deg) of the circle it stands for:
        the largest RAD_MAX in the energy range
        (:func:`gammaxr.reduce.spectrum.largest_on_radius`).
    size_method : {"exact", "gammapy"}
        How the angular size of the on region seen from the pointing (the
        spacing of the regions) is measured. ``"exact"`` (default):
        ``2 arcsin(sin r / sin d)`` for a circle (or point) of radius ``r`` at
        offset ``d``; for other shapes the range of the grid points inside
        the shape widened by the angle of a pixel diagonal at each side, so
        that off regions never overlap. ``"gammapy"``: the range of the grid
        points only, as Gammapy measures it; this reproduces Gammapy's
        regions exactly, but neighbouring regions may overlap by up to about
        a pixel (0.004 deg for the 0.11 deg Crab circle of run 23523).

    Returns
    -------
    list of SkyRegion
        Off regions of the type and frame of the on region (points for a
        point), in order of increasing rotation angle; empty if the pointing
        lies inside the on region.

    Raises
    ------
    ConfigError
        Non-positive ``angle_increment`` or ``binsz``, ``max_region_number < 1``,
        or negative distances.
    GeometryError
        A point on region without ``rad_max``, or a region without extent.

    Examples
    --------
    >>> import astropy.units as u
    >>> from astropy.coordinates import SkyCoord
    >>> from regions import CircleSkyRegion
    >>> from gammaxr.reduce import find_reflected_regions
    >>> on = CircleSkyRegion(SkyCoord(83.633, 22.014, unit="deg"), 0.11 * u.deg)
    >>> len(find_reflected_regions(on, (83.633, 21.514)))
    12
    """
    increment = np.deg2rad(_degrees(angle_increment, "angle_increment"))
    spacing = np.deg2rad(_degrees(min_distance, "min_distance"))
    spacing_input = np.deg2rad(_degrees(min_distance_input, "min_distance_input"))
    if not increment > 0:
        raise ConfigError(f"angle_increment must be positive, got {angle_increment}")
    if spacing < 0 or spacing_input < 0:
        raise ConfigError("min_distance and min_distance_input must not be negative")
    if max_region_number < 1:
        raise ConfigError(f"max_region_number must be at least 1, got {max_region_number}")
    if not binsz > 0:
        raise ConfigError(f"binsz must be positive, got {binsz}")
    if size_method not in ("exact", "gammapy"):
        raise ConfigError(f"size_method must be 'exact' or 'gammapy', got {size_method!r}")
    region = as_on_region(on_region)
    frame = region_frame(region)
    lon0, lat0 = _pointing_lonlat(pointing, frame)
    shape = _footprint_shape(region, rad_max)
    if contains(shape, lon0, lat0, frame):
        return []
    footprint = _Footprint(shape, lon0, lat0, frame, binsz)
    exclusion = None if exclusion_mask is None else _Exclusion(exclusion_mask)
    angle_min = footprint.angular_size(size_method) + spacing
    if not angle_min > 0:
        raise GeometryError(f"the on region {region!r} has no angular size seen from the pointing")
    angle_max = 2 * np.pi - angle_min - spacing_input
    angle = angle_min + spacing_input
    angles: list[float] = []
    while angle < angle_max:
        if exclusion is None or not exclusion(*footprint.positions(angle), frame).any():
            angles.append(angle)
            if len(angles) >= max_region_number:
                break
            angle += angle_min
        else:
            angle += increment
    return [_rotate_region(region, lon0, lat0, frame, a) for a in angles]


def find_wobble_regions(
    on_region: OnRegion,
    pointing: Pointing | SkyCoord | tuple[float, float],
    n_off_regions: int = 3,
    *,
    exclusion_mask: xr.DataArray | None = None,
    binsz: float = 0.01,
    rad_max: float | None = None,
) -> list[SkyRegion]:
    """Wobble off regions: positions evenly spaced with the on region at its offset.

    Parameters
    ----------
    on_region : SkyRegion, SkyCoord or str
        The on region.
    pointing : Pointing, SkyCoord or (ra, dec)
        The rotation centre (ICRS for a tuple, deg).
    n_off_regions : int
        Number of off regions: the on region rotated by ``k * 360 /
        (n_off_regions + 1)`` deg, ``k = 1 ... n_off_regions``.
    exclusion_mask : xarray.DataArray, optional
        Boolean ``(lat, lon)``, True where EXCLUDED: regions touching an
        excluded pixel are dropped (fewer regions are returned).
    binsz : float
        Pixel size of the grid sampling non-circular regions for the overlap
        and exclusion tests, deg.
    rad_max : float, optional
        For a point on region, the radius (deg) of the circle it stands for.

    Returns
    -------
    list of SkyRegion
        Off regions in order of increasing rotation angle; empty, with a
        :class:`~gammaxr.exceptions.GammaxrWarning`, if neighbouring
        positions overlap (circles: centres closer than twice the radius).
    """
    if int(n_off_regions) < 1:
        raise ConfigError(f"n_off_regions must be at least 1, got {n_off_regions}")
    if not binsz > 0:
        raise ConfigError(f"binsz must be positive, got {binsz}")
    region = as_on_region(on_region)
    frame = region_frame(region)
    lon0, lat0 = _pointing_lonlat(pointing, frame)
    shape = _footprint_shape(region, rad_max)
    angles = 2 * np.pi * np.arange(1, int(n_off_regions) + 1) / (int(n_off_regions) + 1)
    footprint = _Footprint(shape, lon0, lat0, frame, binsz)
    if _overlapping(shape, footprint, angles, lon0, lat0, frame):
        warnings.warn(
            f"find_wobble_regions: {n_off_regions} off regions overlap each other or the on "
            "region; returning none (use fewer off regions or a smaller on region)",
            GammaxrWarning,
            stacklevel=2,
        )
        return []
    if exclusion_mask is not None:
        exclusion = _Exclusion(exclusion_mask)
        angles = np.array(
            [a for a in angles if not exclusion(*footprint.positions(a), frame).any()]
        )
    return [_rotate_region(region, lon0, lat0, frame, a) for a in angles]


def _overlapping(shape, footprint, angles, lon0, lat0, frame) -> bool:
    """Whether the shape rotated by any of ``angles`` overlaps the shape itself.

    By the rotational symmetry this tests every pair of the on and off
    positions. Circles: centre distance below twice the radius (exact);
    other shapes: a grid point of a rotated copy inside the shape.
    """
    if isinstance(shape, CircleSkyRegion):
        centre = shape.center.transform_to(frame)
        c_lon, c_lat = centre.spherical.lon.deg, centre.spherical.lat.deg
        lon, lat = _rotate(c_lon, c_lat, lon0, lat0, np.asarray(angles))
        distance = angular_separation(c_lon, c_lat, lon, lat)
        return bool(np.any(distance < 2 * shape.radius.to_value("deg")))
    return any(contains(shape, *footprint.positions(a), frame).any() for a in angles)


# --- the on-off spectrum ---------------------------------------------------------------


def make_on_off_spectrum(
    observation: Observation,
    on_region: OnRegion,
    geom: xr.Dataset,
    *,
    method: Literal["reflected", "wobble"] = "reflected",
    exclusion_mask: xr.DataArray | None = None,
    products: Sequence[str] = ON_OFF_PRODUCTS,
    containment_correction: bool = True,
    safe_mask: Sequence[str] | Mapping[str, Mapping[str, Any]] = ("aeff-default",),
    **options: Any,
) -> xr.Dataset:
    """A spectrum dataset with an off measurement from reflected or wobble regions.

    Parameters
    ----------
    observation : Observation
        The observation.
    on_region : SkyRegion, SkyCoord or str
        The on region (see :func:`gammaxr.reduce.make_spectrum_dataset`).
    geom : xarray.Dataset
        Geometry without sky axes (``gx.make_geom(energy_axis, energy_true_axis)``).
    method : {"reflected", "wobble"}
        :func:`find_reflected_regions` or :func:`find_wobble_regions`.
    exclusion_mask : xarray.DataArray, optional
        Boolean ``(lat, lon)``, True where EXCLUDED.
    products : sequence of str
        Products of :func:`gammaxr.reduce.make_spectrum_dataset` (default
        without ``background``: the off counts stand for it).
    containment_correction : bool
        See :func:`gammaxr.reduce.make_spectrum_dataset`.
    safe_mask : sequence of str, or mapping
        See :func:`gammaxr.reduce.make_spectrum_dataset`.
    **options
        Options of the region finder (``min_distance``, ``n_off_regions``, ...).

    Returns
    -------
    xarray.Dataset
        The spectrum dataset plus

        - ``counts_off(energy)``, int64: events in the off regions;
        - ``acceptance(energy)``, float32, 1;
        - ``acceptance_off(energy)``, float32, the number of off regions.

        so that ``alpha = acceptance / acceptance_off`` and the background
        in the on region is ``alpha * counts_off``: the convention of
        Gammapy's ``ReflectedRegionsBackgroundMaker``, exact for off regions
        of the on region's shape at its offset (equal acceptance). Attributes
        add ``off_regions`` (DS9 string), ``off_method`` and
        ``n_off_regions``. With no off region (a warning), ``acceptance_off``
        is 0 and ``mask_safe`` is all False.

    Examples
    --------
    >>> import astropy.units as u
    >>> import gammaxr as gx
    >>> from astropy.coordinates import SkyCoord
    >>> from regions import CircleSkyRegion
    >>> from gammaxr.reduce import make_on_off_spectrum
    >>> obs = gx.open_datastore().observation(23523)
    >>> geom = gx.make_geom(
    ...     gx.energy_axis(0.5, 50, nbin=10),
    ...     gx.energy_axis(0.3, 100, nbin=20, name="energy_true"),
    ... )
    >>> on = CircleSkyRegion(SkyCoord(83.633, 22.014, unit="deg"), 0.11 * u.deg)
    >>> ds = make_on_off_spectrum(obs, on, geom)
    >>> int(ds.counts.sum()), int(ds.counts_off.sum()), float(ds.acceptance_off[0])
    (188, 218, 12.0)
    """
    if method == "reflected":
        finder = find_reflected_regions
    elif method == "wobble":
        finder = find_wobble_regions
    else:
        raise ConfigError(f"method must be 'reflected' or 'wobble', got {method!r}")
    region = as_on_region(on_region)
    dataset = make_spectrum_dataset(
        observation,
        region,
        geom,
        products=products,
        containment_correction=containment_correction,
        safe_mask=safe_mask,
    )
    if isinstance(region, PointSkyRegion) and is_point_like(observation):
        options.setdefault(
            "rad_max",
            largest_on_radius(rad_max_table(observation), geom, dataset.attrs["irf_offset"]),
        )
    off_regions = finder(region, observation.pointing, exclusion_mask=exclusion_mask, **options)
    counts_off = make_region_counts(observation, off_regions, geom).rename("counts_off")
    ones = xr.ones_like(geom.coords[ENERGY], dtype=np.float32).reset_coords(drop=True)
    acceptance = _product(ones, "acceptance", "", geom)
    acceptance_off = _product(ones * np.float32(len(off_regions)), "acceptance_off", "", geom)
    dataset = dataset.assign(
        counts_off=counts_off, acceptance=acceptance, acceptance_off=acceptance_off
    )
    if not off_regions:
        warnings.warn(
            f"make_on_off_spectrum: no {method} off region found for observation "
            f"{observation.obs_id}; mask_safe set to False",
            GammaxrWarning,
            stacklevel=2,
        )
        dataset["mask_safe"] = _product(xr.zeros_like(ones, dtype=bool), "mask_safe", "", geom)
    dataset.attrs["off_regions"] = region_to_string(Regions(off_regions))
    dataset.attrs["off_method"] = method
    dataset.attrs["n_off_regions"] = len(off_regions)
    return dataset
