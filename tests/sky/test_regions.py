"""Regions to masks on sky grids, and region strings."""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import Angle, Longitude, SkyCoord
from regions import (
    CircleAnnulusSkyRegion,
    CircleSkyRegion,
    RectangleSkyRegion,
    Regions,
)

import gammaxr as gx
from gammaxr.exceptions import DimensionError, GeometryError
from gammaxr.sky.regions import (
    circles_to_string,
    contains,
    coord_lonlat,
    region_to_string,
    wrap_longitude,
)
from gammaxr.sky.separation import tangent_plane_offsets


def _pixel_separation(grid, centre: SkyCoord) -> np.ndarray:
    """astropy separation of each pixel centre of a grid from ``centre``, (lat, lon)."""
    lon, lat = np.meshgrid(grid["lon"].values, grid["lat"].values)
    pixels = SkyCoord(lon, lat, unit="deg", frame=grid.attrs["frame"])
    return pixels.separation(centre).deg


@pytest.mark.parametrize(
    ("lat0", "radius", "binsz"),
    [(22.0, 1.0, 0.02), (60.0, 1.5, 0.05), (-30.0, 0.3, 0.01), (85.0, 2.0, 0.05)],
)
def test_circle_mask_area(lat0, radius, binsz):
    # The lon width covers the circle, which widens in lon towards the pole.
    top = min(89.0, abs(lat0) + radius + 0.5)
    width = (min(359.0, (2 * radius + 1) / np.cos(np.deg2rad(top))), 2 * radius + 1)
    grid = gx.sky_grid((83.6, lat0), width=width, binsz=binsz)
    centre = SkyCoord(83.6, lat0, unit="deg")
    mask = gx.region_mask(CircleSkyRegion(centre, radius * u.deg), grid)
    area = float(grid.where(mask).sum())
    analytic = 2 * np.pi * (1 - np.cos(np.deg2rad(radius)))
    # Pixels straddle the circle along its perimeter: the error stays well
    # below perimeter x half a pixel.
    tolerance = 0.5 * 2 * np.pi * np.deg2rad(radius) * np.deg2rad(binsz)
    assert abs(area - analytic) < 0.5 * tolerance
    assert not mask.isel(lat=0).any() and not mask.isel(lat=-1).any()
    assert not mask.isel(lon=0).any() and not mask.isel(lon=-1).any()


def test_circle_mask_uses_true_separations():
    grid = gx.sky_grid((83.6, 22.0), width=4, binsz=0.05)
    centre = SkyCoord(83.6, 22.5, unit="deg")
    mask = gx.region_mask(CircleSkyRegion(centre, 1.2 * u.deg), grid)
    np.testing.assert_array_equal(mask.values, _pixel_separation(grid, centre) <= 1.2)


def test_mask_layout():
    grid = gx.sky_grid((83.6, 22.0), width=(3, 2), binsz=0.1)
    mask = gx.region_mask(CircleSkyRegion(SkyCoord(83.6, 22.0, unit="deg"), 0.5 * u.deg), grid)
    assert mask.dims == ("lat", "lon")
    assert mask.shape == (20, 30)
    assert mask.dtype == bool
    assert mask.name == "mask"
    assert mask.attrs == {"frame": "icrs", "units": ""}
    np.testing.assert_array_equal(mask["lon"], grid["lon"])
    np.testing.assert_array_equal(mask["lat"], grid["lat"])
    # Symmetric about the centre: the grid is centred on the circle.
    np.testing.assert_array_equal(mask.values, mask.values[::-1, ::-1])


def test_icrs_circle_on_a_galactic_grid():
    centre = SkyCoord(83.633333, 22.014444, unit="deg")
    grid = gx.sky_grid(centre, width=3, binsz=0.05, frame="galactic")
    mask = gx.region_mask(CircleSkyRegion(centre, 1.0 * u.deg), grid)
    assert mask.attrs["frame"] == "galactic"
    np.testing.assert_array_equal(mask.values, _pixel_separation(grid, centre) <= 1.0)
    assert mask.sum() > 0


def test_galactic_circle_across_l_zero():
    centre = SkyCoord(0.0, 0.0, unit="deg", frame="galactic")
    grid = gx.sky_grid(centre, width=4, binsz=0.1, frame="galactic")
    assert float(grid["lon"][0]) < 0  # the grid runs continuously across l = 0
    mask = gx.region_mask(CircleSkyRegion(SkyCoord(359.5, 0.0, unit="deg", frame="galactic"),
                                          1.0 * u.deg), grid)  # fmt: skip
    expected = _pixel_separation(grid, SkyCoord(359.5, 0.0, unit="deg", frame="galactic"))
    np.testing.assert_array_equal(mask.values, expected <= 1.0)
    # Its pixels lie at negative grid longitudes, around -0.5.
    columns = grid["lon"].values[mask.any("lat").values]
    assert columns.min() == pytest.approx(-1.45) and columns.max() == pytest.approx(0.45)


def test_annulus_mask():
    centre = SkyCoord(83.6, 22.0, unit="deg")
    grid = gx.sky_grid(centre, width=4, binsz=0.05)
    mask = gx.region_mask(CircleAnnulusSkyRegion(centre, 0.5 * u.deg, 1.0 * u.deg), grid)
    separation = _pixel_separation(grid, centre)
    np.testing.assert_array_equal(mask.values, (separation >= 0.5) & (separation < 1.0))


def test_rectangle_mask():
    centre = SkyCoord(83.6, 22.0, unit="deg")
    grid = gx.sky_grid(centre, width=4, binsz=0.02)
    mask = gx.region_mask(RectangleSkyRegion(centre, 2.0 * u.deg, 1.0 * u.deg), grid)
    lon, lat = np.meshgrid(grid["lon"].values, grid["lat"].values)
    x, y = tangent_plane_offsets(lon, lat, 83.6, 22.0)
    np.testing.assert_array_equal(mask.values, (np.abs(x) <= 1.0) & (np.abs(y) <= 0.5))
    area = float(grid.where(mask).sum())
    assert area == pytest.approx(np.deg2rad(2.0) * np.deg2rad(1.0), rel=0.02)


def test_rectangle_in_its_own_frame():
    centre = SkyCoord(184.5, -5.8, unit="deg", frame="galactic")
    grid = gx.sky_grid(centre, width=4, binsz=0.05, frame="galactic")
    mask = gx.region_mask(RectangleSkyRegion(centre, 3.0 * u.deg, 0.5 * u.deg), grid)
    lon, lat = np.meshgrid(grid["lon"].values, grid["lat"].values)
    x, y = tangent_plane_offsets(lon, lat, 184.5, -5.8)
    np.testing.assert_array_equal(mask.values, (np.abs(x) <= 1.5) & (np.abs(y) <= 0.25))


def test_galactic_rectangle_on_an_icrs_grid():
    centre = SkyCoord(184.5, -5.8, unit="deg", frame="galactic")
    grid = gx.sky_grid(centre, width=4, binsz=0.05, frame="icrs")
    mask = gx.region_mask(RectangleSkyRegion(centre, 3.0 * u.deg, 0.5 * u.deg), grid)
    lon, lat = np.meshgrid(grid["lon"].values, grid["lat"].values)
    pixels = SkyCoord(lon, lat, unit="deg").galactic
    x, y = tangent_plane_offsets(pixels.l.deg, pixels.b.deg, 184.5, -5.8)
    inside = (np.abs(x) <= 1.5) & (np.abs(y) <= 0.25)
    clear = np.minimum(np.abs(np.abs(x) - 1.5), np.abs(np.abs(y) - 0.25)) > 1e-6
    np.testing.assert_array_equal(mask.values[clear], inside[clear])


def test_region_list_string_and_compound_masks():
    grid = gx.sky_grid((83.6, 22.0), width=4, binsz=0.05)
    a = CircleSkyRegion(SkyCoord(83.0, 22.0, unit="deg"), 0.6 * u.deg)
    b = CircleSkyRegion(SkyCoord(84.0, 22.0, unit="deg"), 0.6 * u.deg)
    mask_a = gx.region_mask(a, grid).values
    mask_b = gx.region_mask(b, grid).values
    assert (mask_a & mask_b).any() and (mask_a & ~mask_b).any()
    np.testing.assert_array_equal(gx.region_mask(Regions([a, b]), grid).values, mask_a | mask_b)
    np.testing.assert_array_equal(gx.region_mask(a | b, grid).values, mask_a | mask_b)
    np.testing.assert_array_equal(gx.region_mask(a & b, grid).values, mask_a & mask_b)
    np.testing.assert_array_equal(gx.region_mask(a ^ b, grid).values, mask_a ^ mask_b)
    text = "icrs\ncircle(83.0, 22.0, 0.6)\ncircle(84.0, 22.0, 0.6)"
    np.testing.assert_array_equal(gx.region_mask(text, grid).values, mask_a | mask_b)


def test_region_to_string_round_trip():
    regions = Regions(
        [
            CircleSkyRegion(SkyCoord(83.6, 22.0, unit="deg"), 0.6 * u.deg),
            RectangleSkyRegion(SkyCoord(184.5, -5.8, unit="deg", frame="galactic"),
                               2 * u.deg, 1 * u.deg),
        ]
    )  # fmt: skip
    text = region_to_string(regions)
    assert isinstance(text, str)
    parsed = Regions.parse(text, format="ds9")
    assert len(parsed) == 2
    assert parsed[0].radius.to_value("deg") == pytest.approx(0.6)
    assert parsed[1].center.frame.name == "galactic"
    # A DS9 string is accepted too (parsing adds the "include" meta to the text).
    again = Regions.parse(region_to_string(text), format="ds9")
    assert [type(r).__name__ for r in again] == ["CircleSkyRegion", "RectangleSkyRegion"]
    assert again[1].width.to_value("deg") == pytest.approx(2.0)


def test_circles_to_string_is_the_regions_serialisation():
    rng = np.random.default_rng(5)
    radii = [0.11 * u.deg, Angle(0.3, "deg"), 6.5 * u.arcmin, 1e-12 * u.deg, 2 / 3 * u.deg]
    for trial in range(60):
        frame = ("icrs", "galactic")[trial % 2]
        n = int(rng.integers(0, 5))
        lon = rng.uniform(-400, 800, n)
        lon[: n // 2] = np.round(lon[: n // 2], 3)  # some exactly on the 8th decimal
        lat = rng.uniform(-90, 90, n)
        radius = radii[trial % len(radii)]
        circles = [CircleSkyRegion(SkyCoord(x, y, unit="deg", frame=frame), radius)
                   for x, y in zip(lon, lat, strict=True)]  # fmt: skip
        expected = Regions(circles).serialize(format="ds9")
        assert circles_to_string(frame, lon, lat, radius) == expected
        if circles:  # region_to_string takes the same fast path
            assert region_to_string(Regions(circles)) == expected
    # Anything else goes through the regions package.
    tagged = CircleSkyRegion(SkyCoord(1, 2, unit="deg"), 0.1 * u.deg, meta={"text": "on"})
    assert region_to_string(tagged) == tagged.serialize(format="ds9")
    fk5 = CircleSkyRegion(SkyCoord(1, 2, unit="deg", frame="fk5"), 0.1 * u.deg)
    assert region_to_string(fk5) == fk5.serialize(format="ds9")
    assert "j2000" in region_to_string(fk5)
    with pytest.raises(GeometryError, match="frame"):
        circles_to_string("fk5", [1.0], [2.0], 0.1 * u.deg)


def test_wrap_longitude_and_coord_lonlat_as_astropy():
    lon = np.array([-720.5, -360.0, -1e-15, 0.0, 12.5, 359.99999999999994, 360.0, 1000.1])
    np.testing.assert_array_equal(wrap_longitude(lon), Longitude(lon * u.deg).deg)
    inside = np.array([0.0, 83.633, 359.9])
    assert wrap_longitude(inside) is not inside
    np.testing.assert_array_equal(wrap_longitude(inside), inside)
    coord = SkyCoord(83.633, 22.014, unit="deg")
    for frame in ("icrs", "galactic"):
        expected = coord.transform_to(frame).spherical
        got = coord_lonlat(coord, frame)
        assert got == (expected.lon.deg, expected.lat.deg)
        in_frame = coord.transform_to(frame)
        assert coord_lonlat(in_frame, frame) == (expected.lon.deg, expected.lat.deg)


def test_contains_broadcasts():
    region = CircleSkyRegion(SkyCoord(10.0, 0.0, unit="deg"), 1.0 * u.deg)
    inside = contains(region, np.array([[9.5], [12.0]]), np.array([0.0, 0.5, 0.9]), "icrs")
    assert inside.shape == (2, 3)
    np.testing.assert_array_equal(inside, [[True, True, False], [False, False, False]])


def test_bad_inputs():
    grid = gx.sky_grid((83.6, 22.0), width=2, binsz=0.5)
    with pytest.raises(GeometryError, match="expected a SkyRegion"):
        gx.region_mask(3.0, grid)
    with pytest.raises(GeometryError, match="expected a sky region"):
        contains(Regions([]), 0.0, 0.0, "icrs")
    with pytest.raises(DimensionError, match="no valid sky frame"):
        gx.region_mask("icrs; circle(83.6, 22, 0.5)", grid.drop_attrs(deep=True))
