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
``angle_increment``. The regions are rotated exactly on the sphere (Gammapy
rotates their pixel versions on its grid, which changes a circle's radius by
~1e-5 relative and an orientation by ~1e-3 deg).

Geometry: exact, or Gammapy's pixels
------------------------------------
Off regions must not overlap the on region, each other, or the excluded sky.
With ``geometry="exact"`` (the default) they do not, exactly:

* ``size`` is exact: ``2 arcsin(sin r / sin d)`` for a circle of radius ``r``
  at offset ``d`` (the angle at which two such circles touch); for other
  shapes the range of the points of a tangent-plane (TAN) grid of ``binsz``
  (0.01 deg) inside the shape, widened by the angle of a pixel diagonal at
  each side.
* A circle is excluded if it shares a point with an excluded pixel (the
  spherical distance from its centre to the pixel's lon/lat box, computed
  exactly, at most its radius); other shapes are tested on their grid points.

``geometry="gammapy"`` measures both on Gammapy's 0.01 deg reference grid
(centred on the pointing, ``4 * offset + 0.3`` deg wide), as Gammapy does:
``size`` is the range of position angles of the pixel centres inside the on
region, which misses up to a pixel at each side, and a candidate is excluded
if one of those pixel centres, rotated, falls on an excluded pixel. This
reproduces Gammapy's regions to 1e-14 deg, but neighbouring regions overlap:
for the H.E.S.S. Crab runs 23559 and 23592 (on circle of 0.11 deg at 1.5 deg
offset) Gammapy's spacing is 1.4 % short, so 41 regions fit where 40 do
without overlap, and neighbours overlap by 0.0067 deg (centres 0.970 of a
diameter apart; 0.980 at 0.5 deg offset, where both give 12 regions).
Gammapy counts the events of the union of the regions (an event in two
regions once) but sets ``acceptance_off`` to the number of regions, so the
off area is overestimated by the 40 lens-shaped overlaps, 0.6 % at 1.5 deg
offset, and the background with it underestimated. Gammapy's pixel
exclusion test, too, lets a region overlap an excluded pixel whose centre it
does not contain.

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
from gammaxr.conventions import ENERGY, LAT, LON, edges, hi_name, lo_name, require_dims
from gammaxr.exceptions import ConfigError, DimensionError, GammaxrWarning, GeometryError
from gammaxr.reduce.spectrum import (
    OnRegion,
    _coords_on,
    _energy_counts,
    _in_circles,
    _region_counts,
    as_on_region,
    is_point_like,
    largest_on_radius,
    make_spectrum_dataset,
    rad_max_table,
    region_extent,
    region_frame,
)
from gammaxr.sky.frames import transform_lonlat
from gammaxr.sky.regions import (
    _region_centre,
    circles_to_string,
    contains,
    coord_lonlat,
    region_to_string,
    wrap_longitude,
)
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
    else:
        ra, dec = pointing if isinstance(pointing, tuple) else (pointing.ra, pointing.dec)
        if frame == "icrs":  # what SkyCoord(ra, dec).transform_to("icrs") holds
            return float(wrap_longitude(float(ra))[0]), float(dec)
        coord = SkyCoord(ra, dec, unit="deg", frame="icrs")
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
    c_lon, c_lat = coord_lonlat(region.center, frame)
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
        c_lon, c_lat = coord_lonlat(_region_centre(shape), frame)
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
        # Read the edges from the coordinate variables: a DataArray's coordinate
        # lookup costs a fraction of a millisecond each, and this runs per observation.
        variables = mask.coords.variables
        self.lon_edges = _edges(variables, LON)
        self.lat_edges = _edges(variables, LAT)
        values = mask.variable.transpose(LAT, LON).values
        self.values = np.asarray(values, dtype=bool)

    def __call__(self, lon: np.ndarray, lat: np.ndarray, frame: str) -> np.ndarray:
        """Whether each position (deg, in ``frame``) falls on an excluded pixel."""
        if frame != self.frame:
            lon, lat = transform_lonlat(lon, lat, frame, self.frame)
        centre = 0.5 * (self.lon_edges[0] + self.lon_edges[-1])
        lon = (np.asarray(lon) - centre + 180.0) % 360.0 + centre - 180.0
        i_lon = np.searchsorted(self.lon_edges, lon, side="right") - 1
        i_lat = np.searchsorted(self.lat_edges, lat, side="right") - 1
        valid = (i_lon >= 0) & (i_lon < self.values.shape[1])
        valid &= (i_lat >= 0) & (i_lat < self.values.shape[0])
        excluded = np.zeros(np.shape(lon), dtype=bool)
        excluded[valid] = self.values[i_lat[valid], i_lon[valid]]
        return excluded

    def on_grid(self, lon: np.ndarray, lat: np.ndarray, frame: str) -> np.ndarray:
        """:meth:`__call__` at the centres of a separable ``(lat, lon)`` grid (1D axes, deg).

        In the mask's own frame the lookup is separable (two 1D searches);
        in another frame every pixel centre is transformed.
        """
        if frame != self.frame:
            lon2d, lat2d = np.meshgrid(lon, lat)
            return self(lon2d, lat2d, frame)
        centre = 0.5 * (self.lon_edges[0] + self.lon_edges[-1])
        lon = (np.asarray(lon, dtype=float) - centre + 180.0) % 360.0 + centre - 180.0
        i_lon = np.searchsorted(self.lon_edges, lon, side="right") - 1
        i_lat = np.searchsorted(self.lat_edges, np.asarray(lat, dtype=float), side="right") - 1
        ok_lon = (i_lon >= 0) & (i_lon < self.values.shape[1])
        ok_lat = (i_lat >= 0) & (i_lat < self.values.shape[0])
        excluded = np.zeros((np.size(lat), np.size(lon)), dtype=bool)
        excluded[np.ix_(ok_lat, ok_lon)] = self.values[np.ix_(i_lat[ok_lat], i_lon[ok_lon])]
        return excluded


class _ExcludedBoxes:
    """The excluded pixels of a mask as lon/lat boxes, to test circles against exactly.

    Only the pixels that a circle of ``radius`` whose centre lies at ``offset``
    from ``(lon0, lat0)`` could reach are kept (all in the mask's frame).
    """

    def __init__(self, exclusion: _Exclusion, lon0: float, lat0: float, offset: float, radius):
        i_lat, i_lon = np.nonzero(exclusion.values)
        lon_lo, lon_hi = exclusion.lon_edges[i_lon], exclusion.lon_edges[i_lon + 1]
        lat_lo, lat_hi = exclusion.lat_edges[i_lat], exclusion.lat_edges[i_lat + 1]
        # A pixel is within its half diagonal of its centre (small pixels, away from the poles).
        centre_lon, centre_lat = 0.5 * (lon_lo + lon_hi), 0.5 * (lat_lo + lat_hi)
        half = 0.5 * np.hypot(
            (lon_hi - lon_lo) * np.cos(np.deg2rad(np.minimum(np.abs(lat_lo), np.abs(lat_hi)))),
            lat_hi - lat_lo,
        )
        distance = angular_separation(lon0, lat0, centre_lon, centre_lat)
        reach = radius + half + 1e-6
        near = (distance >= offset - reach) & (distance <= offset + reach)
        self.lon_lo, self.lon_hi = lon_lo[near], lon_hi[near]
        self.lat_lo, self.lat_hi = lat_lo[near], lat_hi[near]

    def distance(self, lon: float, lat: float) -> np.ndarray:
        """Angular distance (deg) from ``(lon, lat)`` to the nearest point of each box.

        Zero inside a box. Outside, the nearest point lies on the boundary: on
        a parallel at the longitude closest to ``lon`` (the distance grows with
        the longitude difference), or on a meridian at the latitude where the
        great circle's distance is smallest (clipped to the edge; the corners
        are candidates too), so the minimum over these points is exact.
        """
        centre = 0.5 * (self.lon_lo + self.lon_hi)
        lon = centre + (lon - centre + 180.0) % 360.0 - 180.0  # the branch of each box
        inside = (
            (lon >= self.lon_lo) & (lon <= self.lon_hi)
            & (lat >= self.lat_lo) & (lat <= self.lat_hi)
        )  # fmt: skip
        nearest_lon = np.clip(lon, self.lon_lo, self.lon_hi)
        candidates = [
            angular_separation(lon, lat, nearest_lon, self.lat_lo),
            angular_separation(lon, lat, nearest_lon, self.lat_hi),
        ]
        sin_lat, cos_lat = np.sin(np.deg2rad(lat)), np.cos(np.deg2rad(lat))
        for edge in (self.lon_lo, self.lon_hi):
            closest = np.rad2deg(np.arctan2(sin_lat, cos_lat * np.cos(np.deg2rad(lon - edge))))
            along = np.clip(closest, self.lat_lo, self.lat_hi)
            candidates += [
                angular_separation(lon, lat, edge, along),
                angular_separation(lon, lat, edge, self.lat_lo),
                angular_separation(lon, lat, edge, self.lat_hi),
            ]
        return np.where(inside, 0.0, np.min(candidates, axis=0))

    def hit(self, lon: float, lat: float, radius: float) -> bool:
        """Whether a circle (centre in the mask's frame, deg) shares a point with a box."""
        return bool(self.lon_lo.size) and bool(np.any(self.distance(lon, lat) <= radius))


def _edges(variables: Mapping[Any, xr.Variable], dim: str) -> np.ndarray:
    """Bin edges of ``dim`` from the ``_lo`` / ``_hi`` coordinate variables (as ``edges``)."""
    lo, hi = lo_name(dim), hi_name(dim)
    if lo not in variables or hi not in variables:
        raise DimensionError(f"exclusion_mask: dim {dim!r} has no edge coordinates {lo!r}/{hi!r}")
    lo_values = np.asarray(variables[lo].values, dtype=float)
    hi_values = np.asarray(variables[hi].values, dtype=float)
    if not np.allclose(lo_values[1:], hi_values[:-1], rtol=1e-6, atol=0):
        raise DimensionError(f"exclusion_mask: dim {dim!r}: bins are not contiguous")
    return np.append(lo_values, hi_values[-1])


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
    geometry: Literal["exact", "gammapy"] = "exact",
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
    geometry : {"exact", "gammapy"}
        ``"exact"`` (default): regions spaced so that neighbours touch
        without overlapping, and circles tested exactly against the excluded
        pixels. ``"gammapy"``: spacing and exclusion measured on Gammapy's
        0.01 deg pixels, which reproduces Gammapy's regions but lets
        neighbours overlap by up to about a pixel (see the module docstring).

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
    region = as_on_region(on_region)
    angles, lon0, lat0, frame = _reflected_angles(
        region,
        pointing,
        exclusion_mask=exclusion_mask,
        min_distance=min_distance,
        min_distance_input=min_distance_input,
        max_region_number=max_region_number,
        angle_increment=angle_increment,
        binsz=binsz,
        rad_max=rad_max,
        geometry=geometry,
    )
    return [_rotate_region(region, lon0, lat0, frame, a) for a in angles]


def _reflected_angles(
    region: SkyRegion,
    pointing: Pointing | SkyCoord | tuple[float, float],
    *,
    exclusion_mask: xr.DataArray | None = None,
    min_distance: Angle = 0.0,
    min_distance_input: Angle = _TENTH_RADIAN,
    max_region_number: int = 10000,
    angle_increment: Angle = _TENTH_RADIAN,
    binsz: float = 0.01,
    rad_max: float | None = None,
    geometry: Literal["exact", "gammapy"] = "exact",
) -> tuple[np.ndarray, float, float, str]:
    """The rotation angles (rad) of :func:`find_reflected_regions`, the pointing and frame."""
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
    if geometry not in ("exact", "gammapy"):
        raise ConfigError(f"geometry must be 'exact' or 'gammapy', got {geometry!r}")
    frame = region_frame(region)
    lon0, lat0 = _pointing_lonlat(pointing, frame)
    shape = _footprint_shape(region, rad_max)
    if contains(shape, lon0, lat0, frame):
        return np.zeros(0), lon0, lat0, frame
    footprint = _Footprint(shape, lon0, lat0, frame, binsz)
    excluded = _exclusion_test(exclusion_mask, shape, footprint, geometry)
    angle_min = footprint.angular_size(geometry) + spacing
    if not angle_min > 0:
        raise GeometryError(f"the on region {region!r} has no angular size seen from the pointing")
    angle_max = 2 * np.pi - angle_min - spacing_input
    angle = angle_min + spacing_input
    angles: list[float] = []
    while angle < angle_max:
        if excluded is None or not excluded(angle):
            angles.append(angle)
            if len(angles) >= max_region_number:
                break
            angle += angle_min
        else:
            angle += increment
    return np.asarray(angles, dtype=float), lon0, lat0, frame


def _exclusion_test(
    exclusion_mask: xr.DataArray | None,
    shape: SkyRegion,
    footprint: _Footprint,
    geometry: str,
):
    """``angle -> bool``: whether the shape rotated by ``angle`` (rad) touches excluded sky.

    Circles with ``geometry="exact"``: the rotated circle shares a point with
    an excluded pixel (exact, :class:`_ExcludedBoxes`). Otherwise: a grid point
    of the shape, rotated, falls on an excluded pixel (Gammapy's pixel test).
    None without a mask.
    """
    if exclusion_mask is None:
        return None
    exclusion = _Exclusion(exclusion_mask)
    frame = footprint.frame
    if geometry == "exact" and isinstance(shape, CircleSkyRegion):
        radius = float(shape.radius.to_value("deg"))
        c_lon, c_lat = coord_lonlat(shape.center, frame)
        lon0, lat0 = footprint.lon0, footprint.lat0
        start = _position_angle(lon0, lat0, c_lon, c_lat)
        mask_lon0, mask_lat0 = transform_lonlat(lon0, lat0, frame, exclusion.frame)
        boxes = _ExcludedBoxes(exclusion, mask_lon0, mask_lat0, footprint.offset, radius)

        def circle_excluded(angle: float) -> bool:
            lon, lat = _offset_by(lon0, lat0, start + angle, footprint.offset)
            lon, lat = transform_lonlat(lon, lat, frame, exclusion.frame)
            return boxes.hit(float(lon), float(lat), radius)

        return circle_excluded

    def points_excluded(angle: float) -> bool:
        return bool(exclusion(*footprint.positions(angle), frame).any())

    return points_excluded


def find_wobble_regions(
    on_region: OnRegion,
    pointing: Pointing | SkyCoord | tuple[float, float],
    n_off_regions: int = 3,
    *,
    exclusion_mask: xr.DataArray | None = None,
    binsz: float = 0.01,
    rad_max: float | None = None,
    geometry: Literal["exact", "gammapy"] = "exact",
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
    geometry : {"exact", "gammapy"}
        How excluded regions are found: a circle sharing a point with an
        excluded pixel (``"exact"``, default), or a grid point of the region
        on an excluded pixel (``"gammapy"``).

    Returns
    -------
    list of SkyRegion
        Off regions in order of increasing rotation angle; empty, with a
        :class:`~gammaxr.exceptions.GammaxrWarning`, if neighbouring
        positions overlap (circles: centres closer than twice the radius).
    """
    region = as_on_region(on_region)
    angles, lon0, lat0, frame = _wobble_angles(
        region,
        pointing,
        n_off_regions,
        exclusion_mask=exclusion_mask,
        binsz=binsz,
        rad_max=rad_max,
        geometry=geometry,
        stacklevel=3,
    )
    return [_rotate_region(region, lon0, lat0, frame, a) for a in angles]


def _wobble_angles(
    region: SkyRegion,
    pointing: Pointing | SkyCoord | tuple[float, float],
    n_off_regions: int = 3,
    *,
    exclusion_mask: xr.DataArray | None = None,
    binsz: float = 0.01,
    rad_max: float | None = None,
    geometry: Literal["exact", "gammapy"] = "exact",
    stacklevel: int = 2,
) -> tuple[np.ndarray, float, float, str]:
    """The rotation angles (rad) of :func:`find_wobble_regions`, the pointing and frame."""
    if int(n_off_regions) < 1:
        raise ConfigError(f"n_off_regions must be at least 1, got {n_off_regions}")
    if not binsz > 0:
        raise ConfigError(f"binsz must be positive, got {binsz}")
    if geometry not in ("exact", "gammapy"):
        raise ConfigError(f"geometry must be 'exact' or 'gammapy', got {geometry!r}")
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
            stacklevel=stacklevel,
        )
        return np.zeros(0), lon0, lat0, frame
    excluded = _exclusion_test(exclusion_mask, shape, footprint, geometry)
    if excluded is not None:
        angles = np.array([a for a in angles if not excluded(a)])
    return np.asarray(angles, dtype=float), lon0, lat0, frame


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
        find_angles = _reflected_angles
    elif method == "wobble":
        find_angles = _wobble_angles
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
    angles, lon0, lat0, frame = find_angles(
        region, observation.pointing, exclusion_mask=exclusion_mask, **options
    )
    energy_edges = edges(geom, ENERGY)
    if _is_plain_circle(region):
        # The off regions are circles of the on region's radius: count and describe them
        # from their centres, without building region objects.
        centre_lon, centre_lat = coord_lonlat(region.center, frame)
        lon, lat = _rotate(centre_lon, centre_lat, lon0, lat0, angles)
        lon = wrap_longitude(lon)  # as the SkyCoord of a rotated region holds it
        radius = float(region.radius.to_value("deg"))
        inside = _in_circles(observation, frame, lon, lat, np.full(lon.shape, radius))
        counts_off = _energy_counts(observation.events, inside, energy_edges)
        off_string = circles_to_string(frame, lon, lat, region.radius)
    else:
        off_regions = [_rotate_region(region, lon0, lat0, frame, a) for a in angles]
        counts_off = _region_counts(observation, off_regions, geom)
        off_string = region_to_string(Regions(off_regions))
    n_off = len(angles)
    ones = np.ones(energy_edges.size - 1, dtype=np.float32)
    coords = _coords_on(geom, (ENERGY,))
    dataset = dataset.assign(
        counts_off=xr.Variable((ENERGY,), counts_off, {"units": ""}),
        acceptance=xr.Variable((ENERGY,), ones, {"units": ""}),
        acceptance_off=xr.Variable((ENERGY,), ones * np.float32(n_off), {"units": ""}),
    )
    if coords.keys() - dataset.coords.keys():
        dataset = dataset.assign_coords(coords)
    if not n_off:
        warnings.warn(
            f"make_on_off_spectrum: no {method} off region found for observation "
            f"{observation.obs_id}; mask_safe set to False",
            GammaxrWarning,
            stacklevel=2,
        )
        dataset["mask_safe"] = xr.Variable((ENERGY,), np.zeros(ones.shape, bool), {"units": ""})
    dataset.attrs["off_regions"] = off_string
    dataset.attrs["off_method"] = method
    dataset.attrs["n_off_regions"] = n_off
    return dataset


def _is_plain_circle(region: SkyRegion) -> bool:
    """A circle without metadata, in a frame :func:`circles_to_string` writes."""
    return (
        type(region) is CircleSkyRegion
        and not region.meta
        and not region.visual
        and region_frame(region) == region.center.frame.name
    )
