"""Angular separations and field-of-view offsets against astropy."""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest
import xarray as xr
from astropy.coordinates import SkyCoord
from astropy.wcs import WCS
from hypothesis import given, settings
from hypothesis import strategies as st

from gammaxr.sky.separation import angular_separation, tangent_plane_offsets

lons = st.floats(-360.0, 720.0, allow_nan=False)
lats = st.floats(-90.0, 90.0, allow_nan=False)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ((0, 0), (0, 0), 0.0),
        ((0, 0), (90, 0), 90.0),
        ((0, 0), (180, 0), 180.0),
        ((10, 90), (200, -90), 180.0),
        ((10, 90), (200, 90), 0.0),
        ((359.5, 0), (0.5, 0), 1.0),
        ((0, 60), (180, 60), 60.0),
        ((83.633333, 22.014444), (83.633333, 21.514444), 0.5),
    ],
)
def test_known_separations(a, b, expected):
    assert angular_separation(*a, *b) == pytest.approx(expected, abs=1e-12)


@settings(max_examples=150, deadline=None)
@given(lon1=lons, lat1=lats, lon2=lons, lat2=lats)
def test_separation_matches_astropy(lon1, lat1, lon2, lat2):
    ours = angular_separation(lon1, lat1, lon2, lat2)
    theirs = SkyCoord(lon1, lat1, unit="deg").separation(SkyCoord(lon2, lat2, unit="deg")).deg
    assert ours == pytest.approx(theirs, abs=1e-9)
    assert ours == pytest.approx(angular_separation(lon2, lat2, lon1, lat1), abs=1e-12)
    assert 0.0 <= ours <= 180.0


def test_separation_small_angles_are_accurate():
    # Vincenty keeps full relative precision for tiny separations.
    for delta in (1e-3, 1e-6, 1e-9):
        assert angular_separation(83.6, 22.0, 83.6, 22.0 + delta) == pytest.approx(delta, rel=1e-6)


def test_separation_broadcasts_numpy():
    rng = np.random.default_rng(0)
    lon = rng.uniform(0, 360, (3, 1))
    lat = rng.uniform(-90, 90, (1, 4))
    result = angular_separation(10.0, 20.0, lon, lat)
    assert result.shape == (3, 4)
    expected = SkyCoord(10, 20, unit="deg").separation(
        SkyCoord(*np.broadcast_arrays(lon, lat), unit="deg")
    )
    np.testing.assert_allclose(result, expected.deg, atol=1e-9)


def test_separation_keeps_xarray_dims():
    lon = xr.DataArray(np.linspace(80, 88, 5), dims="lon")
    lat = xr.DataArray(np.linspace(20, 24, 3), dims="lat")
    result = angular_separation(83.6, 22.0, lon, lat)
    assert isinstance(result, xr.DataArray)
    assert set(result.dims) == {"lon", "lat"}
    result = result.transpose("lat", "lon")
    expected = SkyCoord(83.6, 22.0, unit="deg").separation(
        SkyCoord(*np.meshgrid(lon.values, lat.values), unit="deg")
    )
    np.testing.assert_allclose(result.values, expected.deg, atol=1e-9)


def test_fov_offsets_centre_and_axes():
    x, y = tangent_plane_offsets(83.6, 22.0, 83.6, 22.0)
    assert (x, y) == (0.0, 0.0)
    # North of the centre: along +fov_lat; east (larger lon): along +fov_lon.
    x, y = tangent_plane_offsets(83.6, 23.0, 83.6, 22.0)
    assert x == pytest.approx(0.0, abs=1e-12)
    assert y == pytest.approx(np.rad2deg(np.tan(np.deg2rad(1.0))), rel=1e-12)
    x, y = tangent_plane_offsets(1.0, 0.0, 0.0, 0.0)
    assert x == pytest.approx(np.rad2deg(np.tan(np.deg2rad(1.0))), rel=1e-12)
    assert y == pytest.approx(0.0, abs=1e-12)
    # Across lon = 0/360 the offsets are continuous.
    x_wrap, _ = tangent_plane_offsets(359.0, 0.0, 0.0, 0.0)
    assert x_wrap == pytest.approx(-x, rel=1e-12)


@settings(max_examples=100, deadline=None)
@given(
    lon0=st.floats(0.0, 360.0),
    lat0=st.floats(-85.0, 85.0),
    distance=st.floats(0.0, 20.0),
    angle=st.floats(0.0, 360.0),
)
def test_fov_offsets_radius_is_the_separation(lon0, lat0, distance, angle):
    point = SkyCoord(lon0, lat0, unit="deg").directional_offset_by(angle * u.deg, distance * u.deg)
    x, y = tangent_plane_offsets(point.ra.deg, point.dec.deg, lon0, lat0)
    # Gnomonic projection: the radius is tan(separation); the direction is the position angle.
    assert np.rad2deg(np.arctan(np.deg2rad(np.hypot(x, y)))) == pytest.approx(distance, abs=1e-9)
    if distance > 1e-6:
        position_angle = np.rad2deg(np.arctan2(x, y)) % 360.0
        difference = (position_angle - angle + 180.0) % 360.0 - 180.0
        assert difference == pytest.approx(0.0, abs=1e-6)


def test_fov_offsets_match_a_tan_wcs():
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [83.6, 22.0]
    wcs.wcs.crpix = [1.0, 1.0]
    wcs.wcs.cdelt = [1.0, 1.0]  # pixel = intermediate world coordinate, deg, +x east
    rng = np.random.default_rng(1)
    ra = rng.uniform(78, 89, 500)
    dec = rng.uniform(17, 27, 500)
    x, y = tangent_plane_offsets(ra, dec, 83.6, 22.0)
    px, py = wcs.wcs_world2pix(ra, dec, 0)
    np.testing.assert_allclose(x, px, atol=1e-9)
    np.testing.assert_allclose(y, py, atol=1e-9)
