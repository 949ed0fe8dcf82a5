"""Sky maps in lon/lat with the frame's axes, a colour bar and region outlines."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr
from astropy.coordinates import SkyCoord
from astropy.wcs import WCS
from regions import (
    CircleAnnulusSkyRegion,
    CircleSkyRegion,
    CompoundSkyRegion,
    EllipseSkyRegion,
    PointSkyRegion,
    PolygonSkyRegion,
    RectangleSkyRegion,
    SkyRegion,
)

from gammaxr.axes import sky_frame
from gammaxr.conventions import LAT, LON, edges
from gammaxr.exceptions import DimensionError, GeometryError
from gammaxr.plotting._common import get_axes, squeeze_to, unit_label
from gammaxr.sky.regions import as_region_list

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["plot_regions", "plot_sky_map", "region_outlines"]

#: Axis labels per frame.
FRAME_LABELS = {
    "icrs": ("Right Ascension (deg)", "Declination (deg)"),
    "galactic": ("Galactic Longitude (deg)", "Galactic Latitude (deg)"),
}

#: Points per circle outline, and per straight edge of a polygon.
N_CIRCLE = 181
N_EDGE = 25


def _centre_edges(da: xr.DataArray, dim: str) -> np.ndarray:
    if f"{dim}_lo" in da.coords:
        return edges(da, dim)
    centres = da[dim].values.astype(float)
    if centres.size < 2:
        raise DimensionError(f"plot_sky_map: {dim} needs edges ({dim}_lo/_hi) or two pixels")
    middle = 0.5 * (centres[1:] + centres[:-1])
    return np.concatenate([[2 * centres[0] - middle[0]], middle, [2 * centres[-1] - middle[-1]]])


def plot_sky_map(
    da: xr.DataArray,
    ax: Axes | None = None,
    *,
    regions: Any = None,
    cmap: str = "viridis",
    vmin: float | None = None,
    vmax: float | None = None,
    add_colorbar: bool = True,
    colorbar_label: str | None = None,
    region_kwargs: dict[str, Any] | None = None,
    **kwargs: Any,
) -> Axes:
    """Plot a 2D sky map (a TS, significance, counts or flux map) in its frame.

    Parameters
    ----------
    da : xarray.DataArray
        Map on ``(lat, lon)`` with a frame (``attrs["frame"]``); other dims
        must have size one (select or sum them first).
    ax : matplotlib.axes.Axes, optional
        Where to draw.
    regions : SkyRegion, Regions, DS9 str, or a sequence of them, optional
        Regions outlined on the map (see :func:`plot_regions`).
    cmap : str
        Colour map.
    vmin, vmax : float, optional
        Colour scale limits.
    add_colorbar : bool
        Add a colour bar labelled with the map's name and ``attrs["units"]``.
    colorbar_label : str, optional
        Another colour bar label.
    region_kwargs : dict, optional
        Passed to ``Axes.plot`` for the region outlines.
    **kwargs
        Passed to ``Axes.pcolormesh``.

    Returns
    -------
    matplotlib.axes.Axes
        Axes in deg: longitude increasing to the left, the frame's axis labels
        (RA/Dec or Galactic l/b), equal angular scales at the map centre
        (aspect ``1 / cos(lat)``).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> import gammaxr as gx
    >>> from gammaxr.plotting import plot_sky_map
    >>> grid = gx.sky_grid((83.63, 22.01), width=1, binsz=0.1)
    >>> sqrt_ts = xr.DataArray(
    ...     np.zeros((grid.lat.size, grid.lon.size)), dims=("lat", "lon"), coords=grid.coords,
    ...     name="sqrt_ts", attrs={"frame": "icrs", "units": ""},
    ... )
    >>> ax = plot_sky_map(sqrt_ts, regions="icrs;circle(83.63, 22.01, 0.2)")
    >>> ax.get_xlabel(), bool(ax.xaxis_inverted())
    ('Right Ascension (deg)', True)
    """
    if not isinstance(da, xr.DataArray):
        raise DimensionError(f"plot_sky_map: expected a DataArray, got {type(da).__name__}")
    for dim in (LAT, LON):
        if dim not in da.dims:
            raise DimensionError(f"plot_sky_map: the map has no {dim!r} dim (dims {da.dims})")
    frame = sky_frame(da)
    image = squeeze_to(da, (LAT, LON), what="plot_sky_map").transpose(LAT, LON)
    lon_edges, lat_edges = _centre_edges(image, LON), _centre_edges(image, LAT)
    ax = get_axes(ax)
    mesh = ax.pcolormesh(
        lon_edges, lat_edges, image.values, cmap=cmap, vmin=vmin, vmax=vmax, **kwargs
    )
    ax.set_xlim(lon_edges.max(), lon_edges.min())  # east to the left
    ax.set_ylim(lat_edges.min(), lat_edges.max())
    ax.set_aspect(1.0 / np.cos(np.deg2rad(0.5 * (lat_edges[0] + lat_edges[-1]))))
    xlabel, ylabel = FRAME_LABELS[frame]
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if add_colorbar:
        label = colorbar_label
        if label is None:
            label = unit_label(str(da.name) if da.name is not None else "", da.attrs.get("units"))
        ax.figure.colorbar(mesh, ax=ax, label=label)
    if regions is not None:
        plot_regions(
            regions,
            ax,
            frame=frame,
            lon_centre=0.5 * (lon_edges[0] + lon_edges[-1]),
            **(region_kwargs or {}),
        )
    return ax


def _tan_wcs(centre: SkyCoord) -> tuple[WCS, str]:
    """A TAN WCS at ``centre`` in its own frame (the plane where shapes are defined)."""
    frame = "galactic" if centre.frame.name == "galactic" else "icrs"
    centre = centre.transform_to(frame)
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"] if frame == "icrs" else ["GLON-TAN", "GLAT-TAN"]
    wcs.wcs.crval = [centre.spherical.lon.deg, centre.spherical.lat.deg]
    wcs.wcs.crpix = [0.0, 0.0]
    wcs.wcs.cdelt = [-0.001, 0.001]
    return wcs, frame


def _densify(vertices: np.ndarray, n: int = N_EDGE) -> np.ndarray:
    """A closed polygon with ``n`` points per edge."""
    closed = np.vstack([vertices, vertices[:1]])
    t = np.linspace(0.0, 1.0, n, endpoint=False)
    segments = [a + t[:, None] * (b - a) for a, b in zip(closed[:-1], closed[1:], strict=True)]
    return np.vstack([*segments, closed[-1:]])


def _circle(centre: SkyCoord, radius_deg: float) -> SkyCoord:
    import astropy.units as u

    angles = np.linspace(0.0, 360.0, N_CIRCLE) * u.deg
    return centre.directional_offset_by(angles, radius_deg * u.deg)


def _outline_coords(region: SkyRegion) -> list[SkyCoord]:
    """Boundary points of a region on the sky (one SkyCoord per closed curve)."""
    if isinstance(region, CompoundSkyRegion):
        return _outline_coords(region.region1) + _outline_coords(region.region2)
    if isinstance(region, CircleSkyRegion):
        return [_circle(region.center, region.radius.to_value("deg"))]
    if isinstance(region, CircleAnnulusSkyRegion):
        return [
            _circle(region.center, region.inner_radius.to_value("deg")),
            _circle(region.center, region.outer_radius.to_value("deg")),
        ]
    if isinstance(region, PointSkyRegion):
        return [region.center.reshape((1,))]
    if isinstance(region, PolygonSkyRegion):
        centre = SkyCoord(region.vertices.frame.realize_frame(region.vertices.cartesian.mean()))
        wcs, _ = _tan_wcs(centre)
    elif isinstance(region, RectangleSkyRegion | EllipseSkyRegion):
        wcs, _ = _tan_wcs(region.center)
    else:
        centre = getattr(region, "center", None)
        if centre is None:
            raise GeometryError(f"plot_regions: cannot outline region {region!r}")
        wcs, _ = _tan_wcs(centre)
    pixel = region.to_pixel(wcs)
    if isinstance(region, EllipseSkyRegion):
        phi = np.linspace(0.0, 2 * np.pi, N_CIRCLE)
        a, b = pixel.width / 2, pixel.height / 2
        theta = pixel.angle.to_value("rad")
        x = pixel.center.x + a * np.cos(phi) * np.cos(theta) - b * np.sin(phi) * np.sin(theta)
        y = pixel.center.y + a * np.cos(phi) * np.sin(theta) + b * np.sin(phi) * np.cos(theta)
        vertices = np.column_stack([x, y])
    elif isinstance(region, RectangleSkyRegion):
        corners = np.array([(c[0], c[1]) for c in pixel.corners])
        vertices = _densify(corners)
    elif isinstance(region, PolygonSkyRegion):
        vertices = _densify(np.column_stack([pixel.vertices.x, pixel.vertices.y]))
    else:  # another shape: matplotlib's outline of its pixel version
        patch = pixel.as_artist()
        path = patch.get_path().transformed(patch.get_patch_transform())
        vertices = np.vstack(path.to_polygons(closed_only=False))
    return [wcs.pixel_to_world(vertices[:, 0], vertices[:, 1])]


def region_outlines(
    regions: Any, frame: str, *, lon_centre: float | None = None
) -> list[np.ndarray]:
    """Outlines of regions as ``(n, 2)`` arrays of (lon, lat) in ``frame``, deg.

    Parameters
    ----------
    regions : SkyRegion, Regions, DS9 str, or a sequence of them
        The regions.
    frame : {"icrs", "galactic"}
        Frame of the output.
    lon_centre : float, optional
        Longitudes are wrapped into ``lon_centre ± 180`` deg (the map's
        convention); default ``[0, 360)``.

    Returns
    -------
    list of numpy.ndarray
        One closed curve per array (an annulus gives two).
    """
    if isinstance(regions, list | tuple):
        items = [item for entry in regions for item in as_region_list(entry)]
    else:
        items = as_region_list(regions)
    out = []
    for item in items:
        for coords in _outline_coords(item):
            coords = coords.transform_to(frame)
            lon = coords.spherical.lon.deg
            lat = coords.spherical.lat.deg
            if lon_centre is not None:
                lon = (lon - lon_centre + 180.0) % 360.0 - 180.0 + lon_centre
            out.append(np.column_stack([np.atleast_1d(lon), np.atleast_1d(lat)]))
    return out


def plot_regions(
    regions: Any,
    ax: Axes | None = None,
    *,
    frame: str = "icrs",
    lon_centre: float | None = None,
    **kwargs: Any,
) -> list[Any]:
    """Outline sky regions on lon/lat axes (as drawn by :func:`plot_sky_map`).

    Circles and annuli are drawn exactly (great-circle distances);
    rectangles, ellipses and polygons are traced in the tangent plane at
    their centre, where the ``regions`` package defines them (and where
    :func:`gammaxr.sky.region_mask` tests them).

    Parameters
    ----------
    regions : SkyRegion, Regions, DS9 str, or a sequence of them
        The regions.
    ax : matplotlib.axes.Axes, optional
        Where to draw.
    frame : {"icrs", "galactic"}
        Frame of the axes.
    lon_centre : float, optional
        Longitude of the axes' centre, deg (outlines are wrapped around it).
    **kwargs
        Passed to ``Axes.plot`` (default white lines).

    Returns
    -------
    list of matplotlib.lines.Line2D
        One line per closed curve (a point region gives a marker).
    """
    ax = get_axes(ax)
    options = {"color": "white", "linewidth": 1.0}
    options.update(kwargs)
    lines = []
    for outline in region_outlines(regions, frame, lon_centre=lon_centre):
        style = dict(options)
        if len(outline) == 1:
            style.setdefault("marker", "+")
        (line,) = ax.plot(outline[:, 0], outline[:, 1], **style)
        line.set_gid("region")
        lines.append(line)
    return lines
