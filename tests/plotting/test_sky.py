"""Sky maps: frame axes, east to the left, colour bar, region outlines."""

import astropy.units as u
import numpy as np
import pytest
import xarray as xr
from astropy.coordinates import SkyCoord
from matplotlib.collections import QuadMesh
from matplotlib.path import Path
from regions import CircleAnnulusSkyRegion, CircleSkyRegion

import gammaxr as gx
from gammaxr.exceptions import DimensionError
from gammaxr.plotting import plot_regions, plot_sky_map, region_outlines
from gammaxr.sky import angular_separation, region_mask


def sky_map(centre=(83.63, 22.01), frame="icrs", width=2.0, binsz=0.05, extra=None):
    grid = gx.sky_grid(centre, width=width, binsz=binsz, frame=frame)
    rng = np.random.default_rng(0)
    dims, shape, coords = ("lat", "lon"), (grid.lat.size, grid.lon.size), dict(grid.coords)
    if extra:
        dims, shape = (extra[0], *dims), (len(extra[1]), *shape)
        coords[extra[0]] = extra[1]
    return xr.DataArray(
        rng.normal(size=shape), dims=dims, coords=coords, name="sqrt_ts",
        attrs={"frame": frame, "units": ""},
    )  # fmt: skip


def test_sky_map_axes_colorbar_and_orientation(ax):
    da = sky_map()
    plot_sky_map(da, ax=ax)
    (mesh,) = [c for c in ax.collections if isinstance(c, QuadMesh)]
    assert mesh.get_array().shape == da.shape
    np.testing.assert_allclose(np.asarray(mesh.get_array()), da.values)
    left, right = ax.get_xlim()
    assert left > right  # longitude grows to the left
    assert left == pytest.approx(da.lon_hi.values.max()) and right == pytest.approx(
        da.lon_lo.values.min()
    )
    assert ax.get_xlabel() == "Right Ascension (deg)"
    assert ax.get_ylabel() == "Declination (deg)"
    assert ax.get_aspect() == pytest.approx(1 / np.cos(np.deg2rad(22.01)), rel=1e-3)
    colorbar_axes = [a for a in ax.figure.axes if a is not ax]
    assert len(colorbar_axes) == 1 and colorbar_axes[0].get_ylabel() == "sqrt_ts"


def test_galactic_map_units_in_colorbar_and_size_one_dims(ax):
    da = sky_map((184.56, -5.78), frame="galactic", extra=("energy", [1.0]))
    da.attrs["units"] = "cm-2 s-1"
    da.name = "flux"
    plot_sky_map(da, ax=ax, cmap="magma", vmin=0, vmax=1)
    assert ax.get_xlabel() == "Galactic Longitude (deg)"
    assert ax.get_ylabel() == "Galactic Latitude (deg)"
    (mesh,) = [c for c in ax.collections if isinstance(c, QuadMesh)]
    assert mesh.get_cmap().name == "magma" and mesh.norm.vmax == 1
    assert ax.figure.axes[1].get_ylabel() == "flux (cm-2 s-1)"
    with pytest.raises(DimensionError, match="energy"):
        plot_sky_map(sky_map(extra=("energy", [1.0, 2.0])), ax=ax)
    with pytest.raises(DimensionError, match="lat"):
        plot_sky_map(da.isel(lat=0), ax=ax)


def test_region_outlines_circle_and_annulus_are_exact(ax):
    centre = SkyCoord(83.63, 22.01, unit="deg")
    regions = [
        CircleSkyRegion(centre, 0.3 * u.deg),
        CircleAnnulusSkyRegion(centre, 0.5 * u.deg, 0.7 * u.deg),
    ]
    plot_sky_map(sky_map(), ax=ax, regions=regions, region_kwargs={"color": "red"})
    lines = [line for line in ax.lines if line.get_gid() == "region"]
    assert len(lines) == 3  # a circle and the annulus' two circles
    for line, radius in zip(lines, [0.3, 0.5, 0.7], strict=True):
        distance = angular_separation(83.63, 22.01, line.get_xdata(), line.get_ydata())
        np.testing.assert_allclose(distance, radius, rtol=1e-9)
        assert line.get_color() == "red"


def test_box_outline_matches_region_mask():
    grid = gx.sky_grid((83.63, 22.01), width=1.2, binsz=0.01)
    box = "icrs;box(83.63, 22.1, 0.6, 0.3, 30)"
    (outline,) = region_outlines(box, "icrs")
    mask = region_mask(box, grid).values
    lon, lat = np.meshgrid(grid.lon.values, grid.lat.values)
    # compare in a locally flat frame (x scaled by cos(lat))
    scale = np.cos(np.deg2rad(22.01))
    path = Path(np.column_stack([outline[:, 0] * scale, outline[:, 1]]))
    inside = path.contains_points(np.column_stack([lon.ravel() * scale, lat.ravel()]))
    inside = inside.reshape(mask.shape)
    assert mask.sum() > 1000
    assert (inside != mask).sum() <= 0.01 * mask.sum()  # only pixels on the edge differ


def test_outlines_wrap_to_the_map_longitudes(ax):
    da = sky_map(centre=(0.2, 0.0))
    lon_min = float(da.lon_lo.min())
    plot_sky_map(da, ax=ax, regions="icrs;circle(359.9, 0.1, 0.2)", add_colorbar=False)
    (line,) = [line for line in ax.lines if line.get_gid() == "region"]
    x = line.get_xdata()
    assert lon_min < x.min() and x.max() < lon_min + 2.1  # drawn at -0.1, not 359.9
    assert len(ax.figure.axes) == 1
    lines = plot_regions("icrs;point(0.1, 0.1)", ax, lon_centre=0.2)
    assert lines[0].get_marker() == "+"
