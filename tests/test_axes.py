import numpy as np
import pytest
import xarray as xr
from astropy.coordinates import SkyCoord
from hypothesis import given, settings
from hypothesis import strategies as st

import gammaxr as gx
from gammaxr.conventions import edges
from gammaxr.exceptions import DimensionError, GeometryError


def test_energy_axis_per_decade_has_exact_edges_and_log_centres():
    axis = gx.energy_axis(0.1, 100, per_decade=5)
    assert axis.dims == ("energy",)
    assert axis.sizes["energy"] == 15
    bin_edges = edges(axis, "energy")
    np.testing.assert_allclose(bin_edges[[0, -1]], [0.1, 100])
    np.testing.assert_allclose(np.diff(np.log10(bin_edges)), 0.2)
    np.testing.assert_allclose(axis.values, np.sqrt(bin_edges[:-1] * bin_edges[1:]))
    assert axis.attrs == {"units": "TeV", "interp": "log"}
    assert axis.coords["energy_lo"].attrs["units"] == "TeV"


def test_energy_axis_by_count_and_true_energy_name():
    axis = gx.energy_axis(1, 10, nbin=3, name="energy_true", units="GeV")
    assert axis.dims == ("energy_true",)
    np.testing.assert_allclose(edges(axis, "energy_true"), [1, 10 ** (1 / 3), 10 ** (2 / 3), 10])
    assert axis.attrs["units"] == "GeV"


def test_axis_from_edges_linear():
    axis = gx.axis_from_edges([0, 0.5, 1.5], name="offset", units="deg")
    np.testing.assert_allclose(axis.values, [0.25, 1.0])
    np.testing.assert_allclose(axis["offset_hi"].values, [0.5, 1.5])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"e_min": 1, "e_max": 10}, "exactly one"),
        ({"e_min": 1, "e_max": 10, "nbin": 2, "per_decade": 3}, "exactly one"),
        ({"e_min": 10, "e_max": 1, "nbin": 2}, "e_min < e_max"),
        ({"e_min": 0, "e_max": 1, "nbin": 2}, "e_min < e_max"),
        ({"e_min": 1, "e_max": 10, "nbin": 0}, "at least 1"),
        ({"e_min": 1, "e_max": 10, "per_decade": -1}, "positive"),
    ],
)
def test_energy_axis_rejects_bad_input(kwargs, message):
    with pytest.raises(GeometryError, match=message):
        gx.energy_axis(**kwargs)


def test_axis_from_edges_rejects_bad_input():
    with pytest.raises(GeometryError, match="strictly increasing"):
        gx.axis_from_edges([0, 2, 1], name="rad")
    with pytest.raises(GeometryError, match="two edges"):
        gx.axis_from_edges([1], name="rad")
    with pytest.raises(GeometryError, match="positive"):
        gx.axis_from_edges([0, 1], name="energy", interp="log")
    with pytest.raises(GeometryError, match="interp"):
        gx.axis_from_edges([0, 1], name="rad", interp="cubic")


def test_sky_grid_shape_centre_and_frame():
    grid = gx.sky_grid((83.63, 22.01), width=(4, 2), binsz=0.02)
    assert grid.dims == ("lat", "lon")
    assert grid.shape == (100, 200)
    assert grid.attrs["frame"] == "icrs"
    assert grid.attrs["units"] == "sr"
    np.testing.assert_allclose(grid.lon.values.mean(), 83.63)
    np.testing.assert_allclose(grid.lat.values.mean(), 22.01)
    np.testing.assert_allclose(np.diff(grid.lon.values), 0.02)


def test_sky_grid_from_skycoord_is_transformed_to_frame():
    crab = SkyCoord(83.633, 22.0145, unit="deg")
    grid = gx.sky_grid(crab, width=1, binsz=0.1, frame="galactic")
    np.testing.assert_allclose(grid.lon.values.mean(), crab.galactic.l.deg, atol=1e-9)
    np.testing.assert_allclose(grid.lat.values.mean(), crab.galactic.b.deg, atol=1e-9)
    assert gx.sky_frame(grid) == "galactic"


def test_solid_angle_sums_to_analytic_cap_and_band():
    # A band from the equator to 30 deg over 360 deg of longitude: 2 pi sin(30 deg) sr.
    grid = gx.sky_grid((180, 15), width=(360, 30), binsz=1.0)
    np.testing.assert_allclose(grid.sum(), 2 * np.pi * 0.5, rtol=1e-12)
    # A small pixel at the equator: binsz^2 in sr.
    small = gx.sky_grid((0, 0), width=0.01, binsz=0.01)
    np.testing.assert_allclose(small.item(), np.deg2rad(0.01) ** 2, rtol=1e-8)


@settings(max_examples=40, deadline=None)
@given(
    lat=st.floats(-80, 80),
    width=st.floats(0.1, 10),
    binsz=st.floats(0.01, 0.5),
)
def test_solid_angle_is_exact_for_any_grid(lat, width, binsz):
    grid = gx.sky_grid((10.0, lat), width=(width, min(width, 9.0)), binsz=binsz)
    lat_edges = np.deg2rad(edges(grid, "lat"))
    lon_edges = np.deg2rad(edges(grid, "lon"))
    expected = (lon_edges[-1] - lon_edges[0]) * (np.sin(lat_edges[-1]) - np.sin(lat_edges[0]))
    np.testing.assert_allclose(grid.sum(), expected, rtol=1e-10)


def test_sky_grid_rejects_bad_input():
    with pytest.raises(GeometryError, match="frame"):
        gx.sky_grid((0, 0), width=1, binsz=0.1, frame="fk4")
    with pytest.raises(GeometryError, match="binsz"):
        gx.sky_grid((0, 0), width=1, binsz=0)
    with pytest.raises(GeometryError, match=r"\[-90, 90\]"):
        gx.sky_grid((0, 89), width=4, binsz=0.1)


def test_sky_grid_keeps_lon_continuous_across_zero():
    grid = gx.sky_grid((0.0, 0.0), width=2, binsz=0.5)
    np.testing.assert_allclose(grid.lon.values, [-0.75, -0.25, 0.25, 0.75])


def test_make_geom_combines_axes_and_sky():
    energy = gx.energy_axis(1, 10, nbin=2)
    energy_true = gx.energy_axis(0.5, 20, nbin=4, name="energy_true")
    geom = gx.make_geom(energy, energy_true, sky=gx.sky_grid((1, 2), width=1, binsz=0.5))
    assert isinstance(geom, xr.Dataset)
    assert dict(geom.sizes) == {"energy": 2, "energy_true": 4, "lat": 2, "lon": 2}
    assert geom.attrs["frame"] == "icrs"
    assert not geom.data_vars
    assert gx.solid_angle(geom).shape == (2, 2)


def test_sky_frame_missing_raises():
    with pytest.raises(DimensionError, match="sky frame"):
        gx.sky_frame(xr.Dataset())
