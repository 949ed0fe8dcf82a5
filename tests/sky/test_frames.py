"""ICRS <-> Galactic as one rotation: astropy's positions to 1e-10 deg."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.coordinates import SkyCoord

from gammaxr.exceptions import GeometryError
from gammaxr.sky.frames import transform_lonlat
from gammaxr.sky.separation import angular_separation

TOLERANCE = 1e-10  # deg


@pytest.fixture(scope="module")
def positions():
    """Uniform on the sphere, plus the poles, the origins and the wrap of longitude."""
    rng = np.random.default_rng(3)
    lon = rng.uniform(0, 360, 20000)
    lat = np.rad2deg(np.arcsin(rng.uniform(-1, 1, 20000)))
    extra_lon = np.array([0.0, 359.999999999, 180.0, 266.40499, 83.633, 0.0, 0.0, 123.0])
    extra_lat = np.array([0.0, 0.0, -89.9999999, -28.93617, 22.0145, 90.0, -90.0, 89.9])
    return np.concatenate([lon, extra_lon]), np.concatenate([lat, extra_lat])


@pytest.mark.parametrize(("frame_from", "frame_to"), [("icrs", "galactic"), ("galactic", "icrs")])
def test_agrees_with_astropy(positions, frame_from, frame_to):
    lon, lat = positions
    expected = SkyCoord(lon, lat, unit="deg", frame=frame_from).transform_to(frame_to)
    expected = expected.spherical
    got_lon, got_lat = transform_lonlat(lon, lat, frame_from, frame_to)
    separation = angular_separation(expected.lon.deg, expected.lat.deg, got_lon, got_lat)
    assert separation.max() < TOLERANCE
    np.testing.assert_allclose(got_lat, expected.lat.deg, rtol=0, atol=TOLERANCE)
    assert np.all((got_lon >= 0) & (got_lon < 360))
    away_from_poles = np.abs(got_lat) < 89.0
    dlon = (got_lon - expected.lon.deg + 180) % 360 - 180
    assert np.abs(dlon[away_from_poles]).max() < TOLERANCE


def test_known_positions_and_round_trip(positions):
    glon, glat = transform_lonlat(266.41683708, -29.00781056, "icrs", "galactic")  # Sgr A*
    assert float(angular_separation(glon, glat, 359.94423, -0.04616)) < 1e-4
    _, glat = transform_lonlat(192.85948, 27.12825, "icrs", "galactic")  # north galactic pole
    assert float(glat) == pytest.approx(90.0, abs=1e-4)
    ra, dec = transform_lonlat(0.0, 0.0, "galactic", "icrs")  # the galactic centre
    assert float(angular_separation(ra, dec, 266.40499, -28.93617)) < 1e-4
    lon, lat = positions
    back = transform_lonlat(*transform_lonlat(lon, lat, "icrs", "galactic"), "galactic", "icrs")
    assert angular_separation(lon, lat, *back).max() < TOLERANCE


def test_same_frame_and_broadcasting():
    lon, lat = transform_lonlat([10.0, 20.0], 5.0, "icrs", "icrs")
    assert lon.tolist() == [10.0, 20.0] and lat.tolist() == 5.0
    ra, dec = transform_lonlat(np.zeros((3, 1)), np.linspace(-10, 10, 4), "galactic", "icrs")
    assert ra.shape == dec.shape == (3, 4)


def test_unknown_frame():
    with pytest.raises(GeometryError, match="unknown sky frame 'fk4'"):
        transform_lonlat(0.0, 0.0, "fk4", "icrs")
