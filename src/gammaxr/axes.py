"""Binned axes and sky grids.

An axis is a 1-D :class:`xarray.DataArray` whose index coordinate holds the bin
centres (the geometric mean for log axes) and whose ``X_lo`` / ``X_hi``
coordinates hold the edges. A sky grid is the pixel solid angle as a
``(lat, lon)`` DataArray: a separable lon/lat (CAR) grid in one frame, with
exact solid angles. A geometry is any xarray object that carries such
coordinates; :func:`make_geom` builds an empty one from axes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import astropy.units as u
import numpy as np
import xarray as xr
from astropy.coordinates import SkyCoord

from gammaxr.conventions import ENERGY, LAT, LON, edges, hi_name, lo_name, parse_unit
from gammaxr.exceptions import DimensionError, GeometryError

__all__ = [
    "FRAMES",
    "axis_from_edges",
    "energy_axis",
    "make_geom",
    "sky_frame",
    "sky_grid",
    "solid_angle",
]

FRAMES = ("icrs", "galactic")


def axis_from_edges(
    bin_edges: Sequence[float] | np.ndarray,
    *,
    name: str,
    units: str = "",
    interp: Literal["lin", "log"] = "lin",
) -> xr.DataArray:
    """Build a binned axis from explicit edges.

    Parameters
    ----------
    bin_edges : array-like
        ``n + 1`` strictly increasing edges, in ``units``.
    name : str
        Dim name (``energy``, ``energy_true``, ``offset``, ``rad``, ``migra``, ...).
    units : str
        Unit of the edges (e.g. ``"TeV"``, ``"deg"``; empty for dimensionless).
    interp : {"lin", "log"}
        Centre convention: arithmetic (``lin``) or geometric (``log``) mean.

    Returns
    -------
    xarray.DataArray
        Bin centres on dim ``name`` with ``name_lo`` / ``name_hi`` coordinates.
    """
    values = np.asarray(bin_edges, dtype=float)
    if values.ndim != 1 or values.size < 2:
        raise GeometryError(f"axis {name!r}: need at least two edges, got {values.size}")
    if not np.all(np.diff(values) > 0):
        raise GeometryError(f"axis {name!r}: edges must be strictly increasing")
    parse_unit(units, where=f"axis {name!r}")
    lo, hi = values[:-1], values[1:]
    if interp == "log":
        if lo[0] <= 0:
            raise GeometryError(f"axis {name!r}: a log axis needs positive edges")
        centres = np.sqrt(lo * hi)
    elif interp == "lin":
        centres = 0.5 * (lo + hi)
    else:
        raise GeometryError(f"axis {name!r}: interp must be 'lin' or 'log', got {interp!r}")
    attrs = {"units": units, "interp": interp}
    return xr.DataArray(
        centres,
        dims=name,
        coords={
            name: (name, centres, attrs),
            lo_name(name): (name, lo, {"units": units}),
            hi_name(name): (name, hi, {"units": units}),
        },
        name=name,
        attrs=attrs,
    )


def energy_axis(
    e_min: float,
    e_max: float,
    *,
    per_decade: float | None = None,
    nbin: int | None = None,
    name: str = ENERGY,
    units: str = "TeV",
) -> xr.DataArray:
    """Build a log-spaced energy axis.

    Parameters
    ----------
    e_min, e_max : float
        Lower and upper edge of the axis, in ``units``.
    per_decade : float, optional
        Bins per decade; the number of bins is rounded to the nearest integer
        (at least one) so that ``e_min`` and ``e_max`` stay exact edges.
    nbin : int, optional
        Number of bins (give exactly one of ``per_decade`` and ``nbin``).
    name : str
        ``"energy"`` (reconstructed) or ``"energy_true"``.
    units : str
        Energy unit of ``e_min`` and ``e_max``.

    Returns
    -------
    xarray.DataArray
        Axis with log-centre coordinate and ``_lo`` / ``_hi`` edges.

    Examples
    --------
    >>> import gammaxr as gx
    >>> axis = gx.energy_axis(0.1, 100, per_decade=5)
    >>> axis.sizes["energy"]
    15
    """
    if (per_decade is None) == (nbin is None):
        raise GeometryError(f"axis {name!r}: give exactly one of per_decade and nbin")
    if not 0 < e_min < e_max:
        raise GeometryError(f"axis {name!r}: need 0 < e_min < e_max, got {e_min}, {e_max}")
    if per_decade is not None:
        if per_decade <= 0:
            raise GeometryError(f"axis {name!r}: per_decade must be positive")
        nbin = max(1, int(np.round(np.log10(e_max / e_min) * per_decade)))
    assert nbin is not None
    if nbin < 1:
        raise GeometryError(f"axis {name!r}: nbin must be at least 1, got {nbin}")
    bin_edges = np.geomspace(e_min, e_max, nbin + 1)
    return axis_from_edges(bin_edges, name=name, units=units, interp="log")


def sky_grid(
    center: SkyCoord | tuple[float, float],
    *,
    width: float | tuple[float, float],
    binsz: float,
    frame: Literal["icrs", "galactic"] = "icrs",
) -> xr.DataArray:
    """Build a lon/lat sky grid: the pixel solid angle as a ``(lat, lon)`` DataArray.

    The grid is the plate carrée (CAR) projection with its reference on the
    equator: pixels are equal steps in lon and lat, so the 1-D ``lon`` / ``lat``
    coordinates are exact. The solid angle of a pixel is
    ``dlon * (sin(lat_hi) - sin(lat_lo))`` (exact on the sphere).

    Parameters
    ----------
    center : SkyCoord or (lon, lat) in deg
        Grid centre; a SkyCoord is transformed to ``frame``.
    width : float or (float, float)
        Full width in lon and lat, deg (rounded to a whole number of pixels).
    binsz : float
        Pixel size, deg.
    frame : {"icrs", "galactic"}
        Sky frame of ``lon`` / ``lat``.

    Returns
    -------
    xarray.DataArray
        Solid angle in sr, dims ``(lat, lon)``, with ``lon``/``lat`` centres and
        ``_lo``/``_hi`` edges in deg and ``attrs["frame"]``. ``lon`` runs
        continuously across 0/360 (it may leave [0, 360)).
    """
    if frame not in FRAMES:
        raise GeometryError(f"sky_grid: frame must be one of {FRAMES}, got {frame!r}")
    if binsz <= 0:
        raise GeometryError(f"sky_grid: binsz must be positive, got {binsz}")
    if isinstance(center, SkyCoord):
        center = center.transform_to(frame)
        lon0, lat0 = center.spherical.lon.deg, center.spherical.lat.deg
    else:
        lon0, lat0 = float(center[0]), float(center[1])
    width_lon, width_lat = (width, width) if np.isscalar(width) else width  # type: ignore[misc]
    n_lon = max(1, int(np.round(width_lon / binsz)))
    n_lat = max(1, int(np.round(width_lat / binsz)))
    lon_edges = lon0 + binsz * (np.arange(n_lon + 1) - n_lon / 2)
    lat_edges = lat0 + binsz * (np.arange(n_lat + 1) - n_lat / 2)
    if lat_edges[0] < -90 or lat_edges[-1] > 90:
        raise GeometryError(
            f"sky_grid: latitude range [{lat_edges[0]:.3f}, {lat_edges[-1]:.3f}] deg "
            "leaves [-90, 90]; use a smaller width or a frame where the field is away "
            "from the pole"
        )
    lon = axis_from_edges(lon_edges, name=LON, units="deg")
    lat = axis_from_edges(lat_edges, name=LAT, units="deg")
    for axis in (lon, lat):
        axis.coords[axis.name].attrs["frame"] = frame
    return solid_angle(xr.Dataset(coords={**lat.coords, **lon.coords}, attrs={"frame": frame}))


def solid_angle(geom: xr.DataArray | xr.Dataset) -> xr.DataArray:
    """Exact solid angle of each sky pixel of a geometry, in sr, dims ``(lat, lon)``."""
    lon_edges = np.deg2rad(edges(geom, LON))
    sin_lat = np.sin(np.deg2rad(edges(geom, LAT)))
    values = np.outer(np.diff(sin_lat), np.diff(lon_edges))
    frame = sky_frame(geom)
    coords = {
        name: geom.coords[name]
        for name in (LAT, LON, lo_name(LAT), hi_name(LAT), lo_name(LON), hi_name(LON))
    }
    return xr.DataArray(
        values,
        dims=(LAT, LON),
        coords=coords,
        name="solid_angle",
        attrs={"units": "sr", "frame": frame},
    )


def sky_frame(obj: xr.DataArray | xr.Dataset) -> str:
    """The sky frame of an object with ``lon``/``lat``: from its attrs or its lon coord."""
    frame = obj.attrs.get("frame")
    if frame is None and LON in obj.coords:
        frame = obj.coords[LON].attrs.get("frame")
    if frame not in FRAMES:
        raise DimensionError(
            f"object has no valid sky frame (attrs['frame'] = {frame!r}); "
            f"expected one of {FRAMES}"
        )
    return str(frame)


def make_geom(*axes: xr.DataArray, sky: xr.DataArray | xr.Dataset | None = None) -> xr.Dataset:
    """Combine axes and a sky grid into a geometry: a Dataset of coordinates only.

    Parameters
    ----------
    *axes : xarray.DataArray
        Non-spatial axes (e.g. ``energy``, ``energy_true``), in the order wanted.
    sky : xarray.DataArray or Dataset, optional
        A sky grid from :func:`sky_grid` (or any object with ``lon``/``lat``).

    Returns
    -------
    xarray.Dataset
        No data variables; coordinates of every axis, ``attrs["frame"]`` if sky.
    """
    coords: dict[str, xr.DataArray] = {}
    for axis in axes:
        for name, coord in axis.coords.items():
            coords[str(name)] = coord
    attrs = {}
    if sky is not None:
        for name in (LAT, LON, lo_name(LAT), hi_name(LAT), lo_name(LON), hi_name(LON)):
            if name not in sky.coords:
                raise DimensionError(f"make_geom: sky grid lacks coordinate {name!r}")
            coords[name] = sky.coords[name]
        attrs["frame"] = sky_frame(sky)
    return xr.Dataset(coords=coords, attrs=attrs)


def quantity(da: xr.DataArray) -> u.Quantity:
    """Return the values of ``da`` as an astropy Quantity (loads the data)."""
    return u.Quantity(np.asarray(da.values), parse_unit(da.attrs.get("units")))
