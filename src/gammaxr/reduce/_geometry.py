"""Where the pixels of a geometry lie with respect to an observation.

Pixel centres in ICRS, their offsets from the pointing, their field-of-view
(FoV) coordinates, the geometry centre, and the observation's mid time and
observatory location. Everything is computed on whole ``(lat, lon)`` grids.

Field-of-view coordinates
-------------------------
GADF defines FoV coordinates as spherical coordinates ``(lon, lat)`` in a frame
obtained from the sky frame (ICRS for ``FOVALIGN = RADEC``, AltAz for
``FOVALIGN = ALTAZ``) by a pure rotation that puts the pointing at ``(0, 0)``
("there is no projection or WCS, only a spherical rotation"; GADF
*Coordinates / Field of view*). GADF does not fix the sign of the longitude.
Gammapy (``gammapy.utils.coordinates.sky_to_fov``, ``FoVICRSFrame`` and
``FoVAltAzFrame``, v1.x and v2.1) reverses it: ``fov_lon`` is *minus* the
longitude of astropy's ``SkyOffsetFrame`` centred on the pointing, so

* RADEC: ``fov_lon > 0`` towards *decreasing* RA (west), ``fov_lat > 0``
  towards increasing Dec;
* ALTAZ: ``fov_lon > 0`` towards *decreasing* azimuth, ``fov_lat > 0``
  towards increasing altitude.

gammaxr follows that convention, so background models made for Gammapy are
read the same way. A model whose longitude runs the other way carries
``attrs["fovalign"] = "REVERSE_LON_RADEC"`` (Gammapy's name; Gammapy sets it
for the legacy H.E.S.S. files written by ``SASH FITS::EventListWriter`` with
``HDUVERS = 0.2``, such as the H.E.S.S. DL3 DR1 release).

Pixel positions are computed as unit vectors: the ICRS unit vector of every
pixel centre (cached per sky grid, so a geometry shared by many observations
costs it once), then offsets as ``atan2(|v x p|, v . p)`` with the pointing
``p`` and FoV coordinates by rotating the vectors, all with numpy (the
Galactic <-> ICRS rotation from :mod:`gammaxr.sky.frames`). Only the AltAz
frame goes through astropy.

Checked against ``gammapy.utils.coordinates.sky_to_fov`` and ``FoVICRSFrame``
(Gammapy 2.1): a point 1 deg east of the pointing (larger RA) has
``fov_lon = -0.93`` deg at Dec 21.5 deg; ``tests/reduce`` compares
:func:`rotate_to_fov` with astropy's ``SkyOffsetFrame`` (longitude negated) for
RADEC and AltAz.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr
from astropy.coordinates import AltAz, EarthLocation, SkyCoord
from astropy.time import Time

from gammaxr.axes import sky_frame
from gammaxr.conventions import LAT, LON, edges, hi_name, lo_name, require_dims
from gammaxr.exceptions import FormatError, GeometryError
from gammaxr.sky.frames import rotate, rotation_matrix, to_lonlat, transform_lonlat
from gammaxr.sky.separation import angular_separation

if TYPE_CHECKING:
    from gammaxr.data.observation import Observation
    from gammaxr.sky.pointing import Pointing

__all__ = [
    "geom_centre",
    "mid_time",
    "observatory_location",
    "pixel_offset",
    "pixel_radec",
    "position_offset",
    "rotate_to_fov",
]

Position = SkyCoord | tuple[float, float]


def _sky_coords(geom: xr.Dataset | xr.DataArray) -> dict[str, xr.DataArray]:
    """The ``lat``/``lon`` centre and edge coordinates of a geometry."""
    names = (LAT, LON, lo_name(LAT), hi_name(LAT), lo_name(LON), hi_name(LON))
    return {name: geom.coords[name] for name in names if name in geom.coords}


def _grid_key(geom: xr.Dataset | xr.DataArray) -> tuple[str, bytes, bytes]:
    """What identifies a sky grid: its frame and its pixel-centre coordinates."""
    require_dims(geom, (LAT, LON), what="geometry")
    frame = sky_frame(geom)
    if frame not in ("icrs", "galactic"):
        raise GeometryError(f"unsupported sky frame {frame!r}")
    lat = np.ascontiguousarray(geom.coords[LAT].values, dtype=np.float64)
    lon = np.ascontiguousarray(geom.coords[LON].values, dtype=np.float64)
    return frame, lat.tobytes(), lon.tobytes()


def _read_only(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    for array in arrays:
        array.flags.writeable = False
    return arrays


#: Grids up to this many pixels have their pixel directions cached (a few grids of
#: 24 MB each at most); larger ones are computed on every call.
_CACHED_PIXELS = 2**20


def _grid_vectors(key: tuple[str, bytes, bytes]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ICRS unit vectors ``(x, y, z)`` of the pixel centres of a grid, ``(lat, lon)`` arrays.

    Cached (read-only) for grids of up to :data:`_CACHED_PIXELS` pixels.
    """
    if _n_pixels(key) <= _CACHED_PIXELS:
        return _cached_grid_vectors(key)
    return _compute_grid_vectors(key)


def _n_pixels(key: tuple[str, bytes, bytes]) -> int:
    return (len(key[1]) // 8) * (len(key[2]) // 8)


@functools.lru_cache(maxsize=2)
def _cached_grid_vectors(key: tuple[str, bytes, bytes]):
    return _compute_grid_vectors(key)


def _compute_grid_vectors(key: tuple[str, bytes, bytes]):
    """The grid is separable, so the trigonometry runs on the 1-D axes."""
    frame, lat_bytes, lon_bytes = key
    lat = np.deg2rad(np.frombuffer(lat_bytes, dtype=np.float64))
    lon = np.deg2rad(np.frombuffer(lon_bytes, dtype=np.float64))
    cos_lat = np.cos(lat)[:, np.newaxis]
    x = cos_lat * np.cos(lon)
    y = cos_lat * np.sin(lon)
    z = np.repeat(np.sin(lat)[:, np.newaxis], lon.size, axis=1)
    x, y, z = rotate(rotation_matrix(frame, "icrs"), x, y, z)
    return _read_only(x, y, z)


def _grid_radec(key: tuple[str, bytes, bytes]) -> tuple[np.ndarray, np.ndarray]:
    if _n_pixels(key) <= _CACHED_PIXELS:
        return _cached_grid_radec(key)
    return _compute_grid_radec(key)


@functools.lru_cache(maxsize=2)
def _cached_grid_radec(key: tuple[str, bytes, bytes]):
    return _compute_grid_radec(key)


def _compute_grid_radec(key: tuple[str, bytes, bytes]) -> tuple[np.ndarray, np.ndarray]:
    frame, lat_bytes, lon_bytes = key
    if frame == "icrs":
        lat = np.frombuffer(lat_bytes, dtype=np.float64)
        lon = np.frombuffer(lon_bytes, dtype=np.float64)
        lon2d, lat2d = np.meshgrid(lon, lat)
        return _read_only(lon2d, lat2d)
    return _read_only(*to_lonlat(*_grid_vectors(key)))


def _radec_arrays(geom: xr.Dataset | xr.DataArray) -> tuple[np.ndarray, np.ndarray]:
    """ICRS position of every pixel centre as read-only numpy ``(lat, lon)`` arrays, deg."""
    return _grid_radec(_grid_key(geom))


def _pointing_vector(ra: float, dec: float) -> tuple[float, float, float]:
    ra, dec = np.deg2rad(ra), np.deg2rad(dec)
    return (
        float(np.cos(dec) * np.cos(ra)),
        float(np.cos(dec) * np.sin(ra)),
        float(np.sin(dec)),
    )


def _grid_offset(key: tuple[str, bytes, bytes], ra: float, dec: float) -> np.ndarray:
    """Angular distance (deg) of each pixel centre from ``(ra, dec)``: atan2(|v x p|, v . p)."""
    if _n_pixels(key) <= _CACHED_PIXELS:
        return _cached_grid_offset(key, ra, dec)
    return _compute_grid_offset(key, ra, dec)


@functools.lru_cache(maxsize=4)
def _cached_grid_offset(key: tuple[str, bytes, bytes], ra: float, dec: float) -> np.ndarray:
    return _compute_grid_offset(key, ra, dec)


def _compute_grid_offset(key: tuple[str, bytes, bytes], ra: float, dec: float) -> np.ndarray:
    x, y, z = _grid_vectors(key)
    px, py, pz = _pointing_vector(ra, dec)
    dot = x * px + y * py + z * pz
    cross = np.sqrt((y * pz - z * py) ** 2 + (z * px - x * pz) ** 2 + (x * py - y * px) ** 2)
    (offset,) = _read_only(np.rad2deg(np.arctan2(cross, dot)))
    return offset


def _offset_array(geom: xr.Dataset | xr.DataArray, pointing: Pointing) -> np.ndarray:
    """Offset of every pixel centre from the pointing, deg, read-only numpy ``(lat, lon)``."""
    return _grid_offset(_grid_key(geom), float(pointing.ra), float(pointing.dec))


def _fov_arrays(
    geom: xr.Dataset | xr.DataArray, ra: float, dec: float
) -> tuple[np.ndarray, np.ndarray]:
    """RADEC FoV coordinates (deg) of the pixel centres about ``(ra, dec)``, numpy arrays."""
    x, y, z = _grid_vectors(_grid_key(geom))
    ra_rad, dec_rad = np.deg2rad(ra), np.deg2rad(dec)
    cos_ra, sin_ra = np.cos(ra_rad), np.sin(ra_rad)
    cos_dec, sin_dec = np.cos(dec_rad), np.sin(dec_rad)
    # Rotate about z by -ra, then about y by dec: the pointing goes to (1, 0, 0).
    x1 = x * cos_ra + y * sin_ra
    y1 = y * cos_ra - x * sin_ra
    x2 = x1 * cos_dec + z * sin_dec
    z2 = z * cos_dec - x1 * sin_dec
    fov_lon = -np.rad2deg(np.arctan2(y1, x2))
    fov_lat = np.rad2deg(np.arctan2(z2, np.hypot(x2, y1)))
    return fov_lon, fov_lat


def _sky_array(geom: xr.Dataset | xr.DataArray, values: np.ndarray, name: str, units: str):
    """Wrap a numpy ``(lat, lon)`` array as a DataArray on the geometry's sky grid."""
    return xr.DataArray(
        values, dims=(LAT, LON), coords=_sky_coords(geom), name=name, attrs={"units": units}
    )


def pixel_radec(geom: xr.Dataset | xr.DataArray) -> tuple[xr.DataArray, xr.DataArray]:
    """ICRS position of every pixel centre, deg.

    Parameters
    ----------
    geom : xarray.Dataset or xarray.DataArray
        A geometry with ``lon``/``lat`` axes and a frame (:func:`gammaxr.sky_grid`).

    Returns
    -------
    ra, dec : xarray.DataArray
        Right ascension and declination in deg, dims ``(lat, lon)``.
    """
    ra, dec = _radec_arrays(geom)
    return _sky_array(geom, ra.copy(), "ra", "deg"), _sky_array(geom, dec.copy(), "dec", "deg")


def pixel_offset(geom: xr.Dataset | xr.DataArray, pointing: Pointing) -> xr.DataArray:
    """Angular distance of every pixel centre from the pointing, deg, dims ``(lat, lon)``."""
    return _sky_array(geom, _offset_array(geom, pointing).copy(), "offset", "deg")


def rotate_to_fov(lon, lat, lon0: float, lat0: float):
    """Field-of-view coordinates of ``(lon, lat)`` about ``(lon0, lat0)``, deg.

    A spherical rotation taking ``(lon0, lat0)`` to ``(0, 0)``, followed by the
    Gammapy sign convention ``fov_lon = -lon'`` (see the module docstring).
    Works on numpy arrays and xarray objects; all angles in deg.

    Returns
    -------
    fov_lon, fov_lat
        In deg, ``fov_lon`` in ``(-180, 180]``.
    """
    lon, lat = np.deg2rad(lon), np.deg2rad(lat)
    lon0, lat0 = np.deg2rad(lon0), np.deg2rad(lat0)
    dlon = lon - lon0
    cos_lat = np.cos(lat)
    x = cos_lat * np.cos(dlon) * np.cos(lat0) + np.sin(lat) * np.sin(lat0)
    y = cos_lat * np.sin(dlon)
    z = np.sin(lat) * np.cos(lat0) - cos_lat * np.cos(dlon) * np.sin(lat0)
    fov_lon = -np.rad2deg(np.arctan2(y, x))
    fov_lat = np.rad2deg(np.arctan2(z, np.hypot(x, y)))
    return fov_lon, fov_lat


def mid_time(attrs: dict) -> Time:
    """The middle of an observation, from the event-list attrs (``tstart``, ``tstop``, ``mjdref``).

    Raises
    ------
    FormatError
        If the attrs lack the time keywords.
    """
    missing = [key for key in ("tstart", "tstop", "mjdref") if key not in attrs]
    if missing:
        raise FormatError(
            f"events.attrs lacks {missing}: the observation time is needed to place the "
            "pixels in the AltAz frame"
        )
    scale = str(attrs.get("timesys", "tt")).lower()
    middle = 0.5 * (float(attrs["tstart"]) + float(attrs["tstop"]))
    return Time(float(attrs["mjdref"]), middle / 86400.0, format="mjd", scale=scale)


def observatory_location(attrs: dict) -> EarthLocation:
    """The observatory location from the event-list attrs (``geolon``, ``geolat``, ``altitude``).

    Raises
    ------
    FormatError
        If the attrs lack the location keywords.
    """
    missing = [key for key in ("geolon", "geolat") if key not in attrs]
    if missing:
        raise FormatError(
            f"events.attrs lacks {missing} (GADF GEOLON/GEOLAT): the observatory location "
            "is needed for a background in the ALTAZ field-of-view frame"
        )
    return EarthLocation.from_geodetic(
        lon=float(attrs["geolon"]),
        lat=float(attrs["geolat"]),
        height=float(attrs.get("altitude", 0.0)),
    )


def altaz_fov(geom: xr.Dataset | xr.DataArray, observation: Observation):
    """FoV coordinates of the pixel centres in the AltAz-aligned frame at the mid time.

    The pixels and the (ICRS) pointing are both transformed to AltAz at the
    observation mid time (no refraction), then rotated about the pointing.

    Returns
    -------
    fov_lon, fov_lat : xarray.DataArray
        In deg, dims ``(lat, lon)``.
    """
    attrs = observation.events.attrs
    frame = AltAz(obstime=mid_time(attrs), location=observatory_location(attrs))
    ra, dec = _radec_arrays(geom)
    pointing = observation.pointing
    pixels = SkyCoord(ra, dec, unit="deg").transform_to(frame)
    centre = SkyCoord(pointing.ra, pointing.dec, unit="deg").transform_to(frame)
    fov_lon, fov_lat = rotate_to_fov(pixels.az.deg, pixels.alt.deg, centre.az.deg, centre.alt.deg)
    return _sky_array(geom, fov_lon, "fov_lon", "deg"), _sky_array(geom, fov_lat, "fov_lat", "deg")


def radec_fov(geom: xr.Dataset | xr.DataArray, pointing: Pointing):
    """FoV coordinates of the pixel centres in the RADEC-aligned frame, deg, on ``(lat, lon)``."""
    fov_lon, fov_lat = _fov_arrays(geom, float(pointing.ra), float(pointing.dec))
    return _sky_array(geom, fov_lon, "fov_lon", "deg"), _sky_array(geom, fov_lat, "fov_lat", "deg")


def geom_centre(geom: xr.Dataset | xr.DataArray) -> SkyCoord:
    """The centre of a geometry's sky grid (middle of the lon and lat ranges)."""
    lon_edges, lat_edges = edges(geom, LON), edges(geom, LAT)
    lon = 0.5 * (lon_edges[0] + lon_edges[-1])
    lat = 0.5 * (lat_edges[0] + lat_edges[-1])
    return SkyCoord(lon, lat, unit="deg", frame=sky_frame(geom))


def position_offset(
    pointing: Pointing,
    geom: xr.Dataset | xr.DataArray,
    *,
    position: Position | None = None,
    offset: float | xr.DataArray | None = None,
) -> float | xr.DataArray:
    """Offset from the pointing (deg) at which to evaluate a point-like quantity.

    Parameters
    ----------
    pointing : Pointing
        The observation pointing.
    geom : xarray.Dataset or xarray.DataArray
        The geometry; its centre is used when neither ``position`` nor ``offset`` is given.
    position : SkyCoord or (lon, lat), optional
        A sky position; a tuple is in the geometry's frame, deg.
    offset : float or xarray.DataArray, optional
        The offset itself, deg (a DataArray of offsets is passed through).

    Raises
    ------
    GeometryError
        If both ``position`` and ``offset`` are given, or the offset is negative.
    """
    if position is not None and offset is not None:
        raise GeometryError("give at most one of position and offset")
    if isinstance(offset, xr.DataArray):
        if bool((offset < 0).any()):
            raise GeometryError("offsets must be non-negative")
        return offset
    if offset is not None:
        if offset < 0:
            raise GeometryError(f"offset must be non-negative, got {offset}")
        return float(offset)
    if isinstance(position, SkyCoord):
        icrs = position.icrs
        ra, dec = icrs.ra.deg, icrs.dec.deg
    else:
        if position is None:
            lon_edges, lat_edges = edges(geom, LON), edges(geom, LAT)
            position = (
                0.5 * (lon_edges[0] + lon_edges[-1]),
                0.5 * (lat_edges[0] + lat_edges[-1]),
            )
        ra, dec = transform_lonlat(position[0], position[1], sky_frame(geom), "icrs")
    return float(angular_separation(pointing.ra, pointing.dec, ra, dec))
