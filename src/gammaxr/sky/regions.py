"""Sky regions (from the ``regions`` package) as boolean masks and strings."""

from __future__ import annotations

import numpy as np
import xarray as xr
from astropy.coordinates import SkyCoord, UnitSphericalRepresentation
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

__all__ = ["as_region_list", "contains", "region_mask", "region_to_string"]


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
        centre = region.center.transform_to(frame)
        distance = angular_separation(
            centre.spherical.lon.deg, centre.spherical.lat.deg, lon, lat
        )
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
    coords = SkyCoord(lon.ravel(), lat.ravel(), unit="deg", frame=frame).transform_to(
        region_frame
    )
    inside = region.contains(coords, wcs)
    return np.asarray(inside, dtype=bool).reshape(lon.shape)


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
    """Serialise a region (or list of regions) to a DS9 region string (for attrs)."""
    regions = Regions(as_region_list(region))
    return regions.serialize(format="ds9")
