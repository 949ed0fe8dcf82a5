"""Sky regions (from the ``regions`` package) as boolean masks and strings."""

from __future__ import annotations

import astropy.units as u
import numpy as np
import xarray as xr
from astropy.coordinates import (
    Angle,
    SkyCoord,
    SphericalRepresentation,
    UnitSphericalRepresentation,
)
from astropy.wcs import WCS
from regions import (
    CircleAnnulusSkyRegion,
    CircleSkyRegion,
    CompoundSkyRegion,
    Regions,
    SkyRegion,
)

from gammaxr.axes import sky_frame
from gammaxr.conventions import LAT, LON
from gammaxr.exceptions import GeometryError
from gammaxr.sky.separation import angular_separation

__all__ = [
    "as_region_list",
    "circles_to_string",
    "contains",
    "coord_lonlat",
    "region_mask",
    "region_to_string",
    "wrap_longitude",
]


def contains(region: SkyRegion, lon, lat, frame: str) -> np.ndarray:
    """Whether sky positions lie inside a region.

    Circles and circle annuli are tested with true angular separations; other
    shapes (ellipse, rectangle, polygon, ...) in the tangent plane at their
    centre, the convention of the ``regions`` package. Compound regions combine
    their parts.

    Parameters
    ----------
    region : regions.SkyRegion
        Any sky region.
    lon, lat : array-like
        Positions in ``frame``, deg.
    frame : str
        ``"icrs"`` or ``"galactic"``.

    Returns
    -------
    numpy.ndarray
        Boolean array of the broadcast shape of ``lon`` and ``lat``.
    """
    if not isinstance(region, SkyRegion):
        raise GeometryError(
            f"expected a sky region from the regions package, got {type(region).__name__}"
        )
    lon, lat = np.broadcast_arrays(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    if isinstance(region, CompoundSkyRegion):
        first = contains(region.region1, lon, lat, frame)
        second = contains(region.region2, lon, lat, frame)
        return np.asarray(region.operator(first, second), dtype=bool)
    if isinstance(region, CircleSkyRegion | CircleAnnulusSkyRegion):
        centre_lon, centre_lat = coord_lonlat(region.center, frame)
        distance = angular_separation(centre_lon, centre_lat, lon, lat)
        if isinstance(region, CircleSkyRegion):
            return distance <= region.radius.to_value("deg")
        return (distance >= region.inner_radius.to_value("deg")) & (
            distance < region.outer_radius.to_value("deg")
        )
    # Test in the region's own frame, on a tangent plane at its centre: the
    # shape's orientation is defined there.
    centre = _region_centre(region)
    region_frame = "galactic" if centre.frame.name == "galactic" else "icrs"
    centre = centre.transform_to(region_frame)
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = (
        ["RA---TAN", "DEC--TAN"] if region_frame == "icrs" else ["GLON-TAN", "GLAT-TAN"]
    )
    wcs.wcs.crval = [centre.spherical.lon.deg, centre.spherical.lat.deg]
    wcs.wcs.crpix = [0.0, 0.0]
    wcs.wcs.cdelt = [-0.001, 0.001]
    coords = SkyCoord(lon.ravel(), lat.ravel(), unit="deg", frame=frame).transform_to(region_frame)
    inside = region.contains(coords, wcs)
    return np.asarray(inside, dtype=bool).reshape(lon.shape)


def coord_lonlat(coord: SkyCoord, frame: str) -> tuple[np.ndarray, np.ndarray]:
    """Longitude and latitude (deg) of a SkyCoord in ``frame`` (``icrs`` or ``galactic``).

    The numbers of ``coord.transform_to(frame).spherical``; when the coordinate
    is already in that frame they are read from its data, without building a
    transformed copy (which costs a millisecond per call).
    """
    data = coord.data
    if coord.frame.name == frame and isinstance(
        data, UnitSphericalRepresentation | SphericalRepresentation
    ):
        return data.lon.to_value(u.deg), data.lat.to_value(u.deg)
    spherical = coord.transform_to(frame).spherical
    return spherical.lon.deg, spherical.lat.deg


def _region_centre(region: SkyRegion) -> SkyCoord:
    centre = getattr(region, "center", None)
    if centre is not None:
        return centre
    vertices = getattr(region, "vertices", None)
    if vertices is not None:
        mean = vertices.cartesian.mean()
        return SkyCoord(
            vertices.frame.realize_frame(mean.represent_as(UnitSphericalRepresentation))
        )
    raise GeometryError(f"cannot find the centre of region {region!r}")


def region_mask(
    region: SkyRegion | Regions | str, geom: xr.DataArray | xr.Dataset
) -> xr.DataArray:
    """Boolean ``(lat, lon)`` mask of the pixels whose centre lies in a region.

    Parameters
    ----------
    region : SkyRegion, Regions or str
        A region, a list of regions (union), or a DS9 region string.
    geom : xarray.DataArray or Dataset
        Anything with ``lon``/``lat`` coordinates and a frame (see :func:`gammaxr.sky_grid`).
    """
    frame = sky_frame(geom)
    regions = as_region_list(region)
    lon2d, lat2d = np.meshgrid(geom[LON].values, geom[LAT].values)
    inside = np.zeros(lon2d.shape, dtype=bool)
    for item in regions:
        inside |= contains(item, lon2d, lat2d, frame)
    return xr.DataArray(
        inside,
        dims=(LAT, LON),
        coords={
            name: coord for name, coord in geom.coords.items() if coord.dims in ((LAT,), (LON,))
        },
        name="mask",
        attrs={"frame": frame, "units": ""},
    )


def as_region_list(region: SkyRegion | Regions | str) -> list[SkyRegion]:
    """A region, a ``Regions`` list or a DS9 string as a list of sky regions."""
    if isinstance(region, str):
        region = Regions.parse(region, format="ds9")
    if isinstance(region, Regions):
        return list(region)
    if isinstance(region, SkyRegion):
        return [region]
    raise GeometryError(
        f"expected a SkyRegion, a Regions list or a DS9 string, got {type(region).__name__}"
    )


def region_to_string(region: SkyRegion | Regions) -> str:
    """Serialise a region (or list of regions) to a DS9 region string (for attrs).

    The string is the ``regions`` package's DS9 serialisation (8 decimals).
    Lists of plain circles (no metadata or visual attributes, centres in
    ``icrs`` or ``galactic``, all in one frame) are written directly, with the
    same text (see :func:`circles_to_string`).
    """
    regions = as_region_list(region)
    circles = _plain_circles(regions)
    if circles is not None:
        frame, lon, lat = circles
        return circles_to_string(frame, lon, lat, regions[0].radius) if regions else ""
    return Regions(regions).serialize(format="ds9")


#: Frames :func:`circles_to_string` writes (the DS9 name is the astropy name).
_DS9_FRAMES = ("icrs", "galactic")
#: Decimals of the ``regions`` package's DS9 output.
_DS9_PRECISION = 8


def _plain_circles(regions: list[SkyRegion]) -> tuple[str, np.ndarray, np.ndarray] | None:
    """Frame and centres (deg) of a list of plain circles of one radius, else None."""
    if not all(type(item) is CircleSkyRegion for item in regions):
        return None
    if any(item.meta or item.visual for item in regions):
        return None
    frames = {item.center.frame.name for item in regions}
    if len(frames) > 1 or not frames <= set(_DS9_FRAMES):
        return None
    if len({_ds9_length(item.radius) for item in regions}) > 1:
        return None
    lon, lat = [], []
    for item in regions:
        spherical = item.center.frame.represent_as(SphericalRepresentation)
        lon.append(spherical.lon.to_value(u.deg))
        lat.append(spherical.lat.to_value(u.deg))
    frame = regions[0].center.frame.name if regions else "icrs"
    return frame, np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)


def _ds9_length(value: u.Quantity) -> str:
    """A length (radius) as the ``regions`` package writes it to DS9, in deg."""
    if isinstance(value, Angle):
        return value.to_string(unit="deg", decimal=True, precision=_DS9_PRECISION)
    return value.to_string(unit="deg", precision=_DS9_PRECISION)[:-4]  # drop " deg"


def wrap_longitude(lon: np.ndarray | float) -> np.ndarray:
    """Longitudes in ``[0, 360)`` deg, as :class:`astropy.coordinates.Longitude` stores them.

    Values already in the range are returned unchanged, bit for bit; others
    are moved by whole turns with astropy's arithmetic.
    """
    lon = np.array(lon, dtype=float, ndmin=1)
    outside = (lon < 0) | (lon >= 360.0)
    if outside.any():
        lon[outside] -= (lon[outside] // 360.0) * 360.0
        lon[lon >= 360.0] -= 360.0
        lon[lon < 0] += 360.0
    return lon


def circles_to_string(frame: str, lon, lat, radius: u.Quantity) -> str:
    """DS9 region string of circles of one radius, without building region objects.

    Parameters
    ----------
    frame : {"icrs", "galactic"}
        Frame of the centres.
    lon, lat : array-like
        Centres, deg (longitudes are wrapped to ``[0, 360)`` as a ``SkyCoord``
        stores them).
    radius : astropy.units.Quantity
        The common radius (an angle).

    Returns
    -------
    str
        Exactly what ``regions.Regions([CircleSkyRegion(...), ...]).serialize(format="ds9")``
        gives for the same circles ("" for none).

    Raises
    ------
    GeometryError
        For another frame.
    """
    if frame not in _DS9_FRAMES:
        raise GeometryError(
            f"circles_to_string: frame must be one of {_DS9_FRAMES}, got {frame!r}"
        )
    lon = wrap_longitude(lon)
    lat = np.array(lat, dtype=float, ndmin=1)
    if lon.size == 0:
        return ""
    size = _ds9_length(radius)
    digits = _DS9_PRECISION
    lines = [
        f"circle({x:0.{digits}f},{y:0.{digits}f},{size})"
        for x, y in zip(lon.tolist(), lat.tolist(), strict=True)
    ]
    return "# Region file format: DS9 astropy/regions\n" + f"{frame}\n" + "\n".join(lines) + "\n"
