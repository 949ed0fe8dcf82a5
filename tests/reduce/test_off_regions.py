"""Reflected and wobble off regions, and on-off spectra, against Gammapy 2.1."""

from __future__ import annotations

import itertools
import warnings

import astropy.units as u
import numpy as np
import pytest
import xarray as xr
from astropy.coordinates import SkyCoord
from regions import (
    CircleSkyRegion,
    EllipseSkyRegion,
    PointSkyRegion,
    PolygonSkyRegion,
    RectangleSkyRegion,
    Regions,
)

import gammaxr as gx
from gammaxr.exceptions import ConfigError, DimensionError, GammaxrWarning, GeometryError
from gammaxr.reduce import (
    find_reflected_regions,
    find_wobble_regions,
    make_on_off_spectrum,
    make_spectrum_dataset,
)
from gammaxr.reduce.off_regions import rotate_region
from gammaxr.reduce.spectrum import make_region_counts
from gammaxr.testing import write_datastore

CRAB = SkyCoord(83.633, 22.014, unit="deg")
POINTING = SkyCoord(83.633333333333, 21.514444444444, unit="deg")  # run 23523
ON = CircleSkyRegion(CRAB, 0.11 * u.deg)

# Golden numbers from Gammapy 2.1 (ReflectedRegionsFinder / WobbleRegionsFinder with their
# defaults, ReflectedRegionsBackgroundMaker, SpectrumDatasetOnOff) for run 23523, the on
# circle above, reco energy 0.5-50 TeV in 10 log bins. geometry="gammapy" reproduces
# geometry="gammapy" reproduces Gammapy's reflected regions; the default "exact" spaces them
# a little more (Gammapy's neighbours overlap by 0.0044 deg here), which gives one more off
# count (218, not 217).
GAMMAPY_REFLECTED = [  # (ra, dec) of the 12 reflected regions, deg
    (83.90768259399006, 21.944101583900025), (84.07701412761882, 21.79642130926752),
    (84.1632122461598, 21.596198302160534), (84.15051531044104, 21.380874553139535),
    (84.04169373822252, 21.19055281324263), (83.85724752124857, 21.06054253591812),
    (83.63143550819844, 21.014891923719482), (83.40597380021134, 21.062031425888758),
    (83.2225155475938, 21.19325551653098), (83.11514090508037, 21.384290532283746),
    (83.10408500764245, 21.599692646159948), (83.19181319875365, 21.79934183644568),
]  # fmt: skip
# Run 23559 (1.5 deg offset), the same on circle: Gammapy finds 41 regions
# (benchmarks/bench_spectrum_reflected_gammapy.py); regions 1, 2, 21 and 41, the closest
# pair of centres in units of the diameter, and its off counts 0.1-100 TeV (the union of
# the regions: 530 events in them counted one by one).
GAMMAPY_23559_REFLECTED = [
    (83.67819495052598, 22.374413484436317), (83.74820013505351, 22.577710823247187),
    (86.87234924880252, 22.083545197049236), (83.73664500367275, 21.492687463799456),
]  # fmt: skip
GAMMAPY_23559_CLOSEST = 0.9697307244706381
GAMMAPY_23559_COUNTS_OFF = 528
GAMMAPY_COUNTS = [52, 55, 32, 22, 16, 9, 1, 1, 0, 0]
GAMMAPY_COUNTS_OFF = [118, 35, 28, 15, 13, 3, 3, 1, 1, 0]
GAMMAPY_EXCESS = 169.91666666666666  # info_dict()["excess"], alpha = 1 / 12
GAMMAPY_WOBBLE = [
    (84.17030113980258, 21.513894994837916), (83.63366438312256, 21.01488888823087),
    (83.09636781017933, 21.51327693696016),
]  # fmt: skip
GAMMAPY_WOBBLE_COUNTS_OFF = [35, 10, 6, 3, 1, 1, 0, 1, 0, 0]
# With the exclusion mask of a 0.2 deg circle at (84.1, 21.3) on a 0.02 deg grid.
GAMMAPY_REFLECTED_EXCLUDED = [
    (83.90768259399006, 21.944101583900025), (84.07701412761882, 21.79642130926752),
    (83.85983507195536, 21.06165815196099), (83.63428498844007, 21.01488958018517),
    (83.40855924617644, 21.060911555385367), (83.22435844351027, 21.191225019015103),
    (83.11589704340312, 21.38172545585294), (83.10360911471841, 21.597069752637154),
    (83.19018904711061, 21.79715066483074),
]  # fmt: skip
GAMMAPY_WOBBLE_5_EXCLUDED = [
    (84.09899851525793, 21.763842962428395), (83.63366438312256, 21.01488888823087),
    (83.1692675768639, 21.26375910517951), (83.16733713233012, 21.763306781338695),
]  # fmt: skip
# min_distance = 0.2 rad, min_distance_input = 0.3 rad: 7 regions, first and last.
GAMMAPY_MIN_DISTANCE = [
    (84.06610182816769, 21.810735975832785), (83.0965940859458, 21.529944139676644),
]  # fmt: skip
# A 0.3 x 0.1 deg ellipse at 30 deg: 10 regions and their orientations, deg.
GAMMAPY_ELLIPSE_ANGLES = [
    65.15033114210397, 94.52213370234868, 123.84825495307369, 153.1241071663531,
    182.35793969801153, 211.56855088950243, 240.78049806306893, 270.0180085667572,
    299.29896399150516, 328.63032129229543,
]  # fmt: skip
# Synthetic point-like store (write_datastore(rng=1)), point (83.63, 22.01), reco energy
# 0.2-50 TeV in 6 bins: WobbleRegionsFinder(n) counts_off; n = 11 overlaps (no region).
GAMMAPY_POINT_WOBBLE_COUNTS_OFF = {
    3: [47, 7, 6, 1, 0, 0],
    5: [66, 11, 7, 2, 0, 0],
    8: [90, 24, 10, 2, 0, 0],
    9: [104, 15, 12, 4, 0, 0],
    10: [109, 18, 14, 2, 0, 0],
}


@pytest.fixture(scope="module")
def spectrum_geom() -> xr.Dataset:
    return gx.make_geom(
        gx.energy_axis(0.5, 50, nbin=10),
        gx.energy_axis(0.3, 100, nbin=20, name="energy_true"),
    )


@pytest.fixture(scope="module")
def exclusion() -> xr.DataArray:
    sky = gx.sky_grid(CRAB, width=4, binsz=0.02)
    return gx.region_mask(CircleSkyRegion(SkyCoord(84.1, 21.3, unit="deg"), 0.2 * u.deg), sky)


@pytest.fixture(scope="module")
def on_off(crab_obs, spectrum_geom) -> xr.Dataset:
    return make_on_off_spectrum(crab_obs, ON, spectrum_geom)


def _centres(regions) -> np.ndarray:
    return np.array([(r.center.icrs.ra.deg, r.center.icrs.dec.deg) for r in regions])


def test_reflected_regions_match_gammapy(crab_obs):
    regions = find_reflected_regions(ON, crab_obs.pointing, geometry="gammapy")
    assert len(regions) == 12
    np.testing.assert_allclose(_centres(regions), GAMMAPY_REFLECTED, atol=1e-10)
    assert all(isinstance(r, CircleSkyRegion) and r.radius == ON.radius for r in regions)


def test_reflected_regions_keep_the_offset_and_do_not_overlap(crab_obs):
    regions = find_reflected_regions(ON, crab_obs.pointing)
    assert len(regions) == 12  # as Gammapy
    centres = SkyCoord([r.center for r in regions])
    offset = CRAB.separation(POINTING).deg
    np.testing.assert_allclose(centres.separation(POINTING).deg, offset, atol=1e-10)
    assert centres.separation(CRAB).deg.min() >= 2 * 0.11
    for a, b in itertools.combinations(centres, 2):
        assert a.separation(b).deg >= 2 * 0.11 - 1e-9  # neighbours touch
    # Position angles about the pointing grow by a constant step.
    angles = np.unwrap(POINTING.position_angle(centres).rad)
    assert np.ptp(np.diff(angles)) < 1e-9


def _separations(centres: SkyCoord) -> np.ndarray:
    """astropy's separations of every pair of centres, deg (inf on the diagonal)."""
    separation = centres[:, np.newaxis].separation(centres[np.newaxis, :]).deg
    np.fill_diagonal(separation, np.inf)
    return separation


def test_reflected_regions_at_1_5_deg_offset_are_exact_and_gammapy_overlaps(crab_store):
    """40 regions touch without overlapping; Gammapy's 41 overlap their neighbours."""
    obs = crab_store.observation(23559)
    pointing = SkyCoord(obs.pointing.ra, obs.pointing.dec, unit="deg")
    offset = CRAB.separation(pointing).deg
    diameter = 2 * ON.radius.to_value("deg")
    regions = find_reflected_regions(ON, obs.pointing)
    assert len(regions) == 40
    centres = SkyCoord([r.center for r in regions])
    np.testing.assert_allclose(centres.separation(pointing).deg, offset, atol=1e-10)
    separation = _separations(SkyCoord([CRAB, *centres]))
    # No two circles overlap (the on region included); consecutive ones touch.
    assert separation.min() >= diameter * (1 - 1e-12)
    consecutive = centres[:-1].separation(centres[1:]).deg
    np.testing.assert_allclose(consecutive, diameter, rtol=1e-12)
    # The first and last regions keep min_distance_input (0.1 rad) beyond touching the on
    # region, in position angle about the pointing; a 41st would not.
    step = 2 * np.arcsin(np.sin(ON.radius.to_value("rad")) / np.sin(np.deg2rad(offset)))
    angles = np.mod(pointing.position_angle(centres).rad - pointing.position_angle(CRAB).rad,
                    2 * np.pi)  # fmt: skip
    np.testing.assert_allclose(np.diff(angles), step, rtol=1e-9)
    assert angles[0] == pytest.approx(step + 0.1, rel=1e-9)
    assert 2 * np.pi - angles[-1] >= step + 0.1
    assert 2 * np.pi - (angles[-1] + step) < step + 0.1

    gammapy = find_reflected_regions(ON, obs.pointing, geometry="gammapy")
    assert len(gammapy) == 41
    np.testing.assert_allclose(
        _centres(gammapy)[[0, 1, 20, 40]], GAMMAPY_23559_REFLECTED, atol=1e-10
    )
    closest = _separations(SkyCoord([r.center for r in gammapy])).min() / diameter
    assert closest == pytest.approx(GAMMAPY_23559_CLOSEST, abs=1e-9)
    assert closest < 0.97  # neighbours overlap by 0.0067 deg
    # Gammapy counts the union of its regions (as gammaxr does) but divides by 41 regions.
    geom = gx.make_geom(gx.energy_axis(0.1, 100, nbin=1))
    on_off = make_on_off_spectrum(obs, ON, geom, products=["counts"], geometry="gammapy")
    assert int(on_off.counts_off.sum()) == GAMMAPY_23559_COUNTS_OFF
    assert on_off.attrs["n_off_regions"] == 41
    each = sum(int(make_region_counts(obs, r, geom).sum()) for r in gammapy)
    assert each == GAMMAPY_23559_COUNTS_OFF + 2  # two events in overlaps


def test_excluded_box_distance_is_exact():
    from gammaxr.reduce.off_regions import _ExcludedBoxes, _Exclusion

    sky = gx.sky_grid((83.6, 22.0), width=(3, 2), binsz=0.25)
    mask = xr.zeros_like(gx.region_mask(CircleSkyRegion(CRAB, 0.1 * u.deg), sky))
    mask[2, 3] = mask[5, 9] = mask[7, 0] = True
    boxes = _ExcludedBoxes(_Exclusion(mask), 83.6, 22.0, 0.0, 10.0)
    assert boxes.lon_lo.size == 3
    rng = np.random.default_rng(3)
    # Brute force: the boxes sampled densely (edges included).
    t = np.linspace(0, 1, 401)
    for lon, lat in zip(rng.uniform(81.5, 85.7, 40), rng.uniform(20.8, 23.2, 40), strict=True):
        exact = boxes.distance(lon, lat)
        for i in range(3):
            grid_lon = boxes.lon_lo[i] + t * (boxes.lon_hi[i] - boxes.lon_lo[i])
            grid_lat = boxes.lat_lo[i] + t * (boxes.lat_hi[i] - boxes.lat_lo[i])
            g_lon, g_lat = np.meshgrid(grid_lon, grid_lat)
            inside = (boxes.lon_lo[i] <= lon <= boxes.lon_hi[i]) and (
                boxes.lat_lo[i] <= lat <= boxes.lat_hi[i]
            )
            brute = 0.0 if inside else SkyCoord(g_lon, g_lat, unit="deg").separation(
                SkyCoord(lon, lat, unit="deg")
            ).deg.min()  # fmt: skip
            # Exact: never above the sampled minimum, and below it by less than the sampling.
            assert exact[i] <= brute + 1e-12
            assert exact[i] >= brute - 0.25 * 1.5 / 400


def test_exact_exclusion_never_touches_an_excluded_pixel(crab_obs):
    rng = np.random.default_rng(11)
    sky = gx.sky_grid(POINTING, width=2, binsz=0.04)
    lon, lat = np.meshgrid(sky.lon.values, sky.lat.values)
    ring = np.abs(SkyCoord(lon, lat, unit="deg").separation(POINTING).deg - 0.5) < 0.2
    values = ring & (rng.uniform(size=ring.shape) < 0.01)
    mask = gx.region_mask(CircleSkyRegion(CRAB, 0.01 * u.deg), sky).copy(data=values)
    assert 3 <= values.sum() <= 20
    regions = find_reflected_regions(ON, crab_obs.pointing, exclusion_mask=mask)
    assert 0 < len(regions) < 12
    # Every excluded pixel sampled densely, edges included: no point within a radius.
    t = np.linspace(0, 1, 41)
    i_lat, i_lon = np.nonzero(values)
    points = []
    for i, j in zip(i_lat, i_lon, strict=True):
        p_lon = sky.lon_lo.values[j] + t * (sky.lon_hi.values[j] - sky.lon_lo.values[j])
        p_lat = sky.lat_lo.values[i] + t * (sky.lat_hi.values[i] - sky.lat_lo.values[i])
        points.append(np.stack(np.meshgrid(p_lon, p_lat), axis=-1).reshape(-1, 2))
    points = SkyCoord(*np.concatenate(points).T, unit="deg")
    for region in regions:
        assert points.separation(region.center).deg.min() > ON.radius.to_value("deg")
    # Gammapy's pixel test lets a region overlap an excluded pixel (here by 0.0009 deg).
    gammapy = find_reflected_regions(
        ON, crab_obs.pointing, exclusion_mask=mask, geometry="gammapy"
    )
    closest = min(points.separation(region.center).deg.min() for region in gammapy)
    assert closest < ON.radius.to_value("deg")


def test_fast_on_off_path_equals_counting_the_regions(crab_obs, spectrum_geom, exclusion):
    cases = [
        (ON, {"exclusion_mask": exclusion}),
        (CircleSkyRegion(CRAB.galactic, 0.11 * u.deg), {}),
        (ON, {"geometry": "gammapy", "min_distance": 2.0}),
        (ON, {"method": "wobble", "n_off_regions": 5, "exclusion_mask": exclusion}),
    ]
    for region, options in cases:
        options = dict(options)
        method = options.pop("method", "reflected")
        finder = find_reflected_regions if method == "reflected" else find_wobble_regions
        regions = finder(region, crab_obs.pointing, **options)
        on_off = make_on_off_spectrum(
            crab_obs, region, spectrum_geom, method=method, products=["counts"], **options
        )
        expected = make_region_counts(crab_obs, regions, spectrum_geom)
        np.testing.assert_array_equal(on_off.counts_off.values, expected.values)
        assert on_off.attrs["off_regions"] == Regions(regions).serialize(format="ds9")
        assert on_off.attrs["n_off_regions"] == len(regions) > 0


def test_reflected_counts_off_alpha_and_excess_match_gammapy(on_off, crab_obs, spectrum_geom):
    gammapy = make_on_off_spectrum(crab_obs, ON, spectrum_geom, geometry="gammapy")
    np.testing.assert_array_equal(gammapy.counts.values, GAMMAPY_COUNTS)
    np.testing.assert_array_equal(gammapy.counts_off.values, GAMMAPY_COUNTS_OFF)
    alpha = gammapy.acceptance / gammapy.acceptance_off
    np.testing.assert_allclose(alpha.values, 1 / 12)
    excess = float((gammapy.counts - alpha * gammapy.counts_off).sum())
    assert excess == pytest.approx(GAMMAPY_EXCESS, rel=1e-7)
    # The default (exact spacing): 12 regions too, one more off count overall.
    np.testing.assert_array_equal(on_off.counts.values, GAMMAPY_COUNTS)
    np.testing.assert_allclose((on_off.acceptance / on_off.acceptance_off).values, 1 / 12)
    assert int(on_off.counts_off.sum()) == 218
    # counts_off is a direct count of the events in the off circles.
    regions = Regions.parse(on_off.attrs["off_regions"], format="ds9")
    events = crab_obs.events
    positions = SkyCoord(events.ra.values, events.dec.values, unit="deg")
    inside = np.zeros(len(events), dtype=bool)
    for region in regions:
        inside |= positions.separation(region.center).deg <= region.radius.to_value("deg")
    expected, _ = np.histogram(
        events.energy.values[inside], bins=gx.conventions.edges(spectrum_geom, "energy")
    )
    np.testing.assert_array_equal(on_off.counts_off.values, expected)


def test_on_off_schema_and_attrs(on_off, tmp_path):
    assert set(on_off.data_vars) == {
        "counts", "exposure", "edisp", "mask_safe", "counts_off", "acceptance", "acceptance_off"
    }  # fmt: skip
    assert on_off.counts_off.dtype == np.int64
    assert on_off.acceptance.dtype == np.float32 and on_off.acceptance_off.dtype == np.float32
    assert on_off.counts_off.dims == on_off.acceptance_off.dims == ("energy",)
    assert on_off.attrs["off_method"] == "reflected"
    assert on_off.attrs["n_off_regions"] == 12
    path = tmp_path / "on_off.nc"
    on_off.to_netcdf(path)
    with xr.open_dataset(path) as back:
        xr.testing.assert_identical(back.load(), on_off)


def test_excluded_areas_are_avoided(crab_obs, exclusion):
    gammapy = find_reflected_regions(
        ON, crab_obs.pointing, exclusion_mask=exclusion, geometry="gammapy"
    )
    np.testing.assert_allclose(_centres(gammapy), GAMMAPY_REFLECTED_EXCLUDED, atol=1e-10)
    regions = find_reflected_regions(ON, crab_obs.pointing, exclusion_mask=exclusion)
    assert len(regions) == 9
    excluded = SkyCoord(84.1, 21.3, unit="deg")
    distance = SkyCoord([r.center for r in regions]).separation(excluded).deg
    assert distance.min() > 0.11 + 0.2 - 0.02  # apart, to within the 0.02 deg mask pixels
    wobble = find_wobble_regions(ON, crab_obs.pointing, 5, exclusion_mask=exclusion)
    np.testing.assert_allclose(_centres(wobble), GAMMAPY_WOBBLE_5_EXCLUDED, atol=1e-10)
    # The exclusion mask may be in another frame.
    galactic = gx.region_mask(
        CircleSkyRegion(SkyCoord(84.1, 21.3, unit="deg"), 0.2 * u.deg),
        gx.sky_grid(CRAB, width=4, binsz=0.02, frame="galactic"),
    )
    other = find_reflected_regions(ON, crab_obs.pointing, exclusion_mask=galactic)
    assert len(other) == len(regions)


def test_finder_options(crab_obs):
    regions = find_reflected_regions(
        ON,
        crab_obs.pointing,
        min_distance=0.2 * u.rad,
        min_distance_input=0.3 * u.rad,
        geometry="gammapy",
    )
    assert len(regions) == 7
    np.testing.assert_allclose(_centres(regions)[[0, -1]], GAMMAPY_MIN_DISTANCE, atol=1e-10)
    assert len(find_reflected_regions(ON, crab_obs.pointing, max_region_number=3)) == 3
    # Degrees as floats: 0.1 rad = 5.7296 deg is the default.
    same = find_reflected_regions(ON, crab_obs.pointing, min_distance_input=np.rad2deg(0.1))
    assert len(same) == 12
    # The pointing inside the on region: no reflected region.
    assert find_reflected_regions(CircleSkyRegion(POINTING, 0.2 * u.deg), crab_obs.pointing) == []


def test_non_circular_regions_are_rotated_with_their_orientation(crab_obs):
    ellipse = EllipseSkyRegion(CRAB, 0.3 * u.deg, 0.1 * u.deg, angle=30 * u.deg)
    regions = find_reflected_regions(ellipse, crab_obs.pointing, geometry="gammapy")
    angles = [r.angle.to_value("deg") for r in regions]
    # Gammapy rotates the pixel shape on its 0.01 deg grid: 2e-3 deg from the exact rotation.
    np.testing.assert_allclose(angles, GAMMAPY_ELLIPSE_ANGLES, atol=2e-3)
    rectangle = RectangleSkyRegion(CRAB, 0.3 * u.deg, 0.15 * u.deg, angle=70 * u.deg)
    assert len(find_reflected_regions(rectangle, crab_obs.pointing, geometry="gammapy")) == 11
    # Exact spacing: no two regions share a point of the fine grid.
    exact = find_reflected_regions(rectangle, crab_obs.pointing)
    sky = gx.sky_grid(POINTING, width=1.6, binsz=0.005)
    masks = [gx.region_mask(r, sky).values for r in [rectangle, *exact]]
    assert all(not (a & b).any() for a, b in itertools.combinations(masks, 2))
    # A rotated ellipse is the same set of sky points as the rotated sample points.
    rotated = rotate_region(ellipse, POINTING, 90)
    inside = SkyCoord([83.633, 83.70, 83.60], [22.014, 22.05, 21.98], unit="deg")
    mapped = [rotate_region(PointSkyRegion(p), POINTING, 90).center for p in inside]
    wcs_free = [gx.sky.regions.contains(ellipse, p.ra.deg, p.dec.deg, "icrs") for p in inside]
    rotated_in = [gx.sky.regions.contains(rotated, m.ra.deg, m.dec.deg, "icrs") for m in mapped]
    assert wcs_free == rotated_in
    polygon = PolygonSkyRegion(SkyCoord([83.5, 83.8, 83.7], [21.95, 21.95, 22.1], unit="deg"))
    assert len(find_reflected_regions(polygon, crab_obs.pointing)) > 0


def test_galactic_on_region(crab_obs):
    galactic = CircleSkyRegion(CRAB.galactic, 0.11 * u.deg)
    regions = find_reflected_regions(galactic, crab_obs.pointing, geometry="gammapy")
    assert len(regions) == 12
    assert all(r.center.frame.name == "galactic" for r in regions)
    assert regions[0].center.l.deg == pytest.approx(184.75508944361792, abs=1e-9)
    assert regions[0].center.b.deg == pytest.approx(-5.606206848965038, abs=1e-9)


def test_wobble_regions_are_evenly_spaced(crab_obs, spectrum_geom):
    regions = find_wobble_regions(ON, crab_obs.pointing, 3)
    np.testing.assert_allclose(_centres(regions), GAMMAPY_WOBBLE, atol=1e-10)
    for n in (1, 3, 5):
        centres = SkyCoord([r.center for r in find_wobble_regions(ON, crab_obs.pointing, n)])
        angles = POINTING.position_angle(SkyCoord([CRAB, *centres])).rad
        steps = np.mod(np.diff(angles), 2 * np.pi)
        np.testing.assert_allclose(steps, 2 * np.pi / (n + 1), atol=1e-10)
        np.testing.assert_allclose(
            centres.separation(POINTING).deg, CRAB.separation(POINTING).deg, atol=1e-10
        )
    on_off = make_on_off_spectrum(crab_obs, ON, spectrum_geom, method="wobble", n_off_regions=3)
    np.testing.assert_array_equal(on_off.counts_off.values, GAMMAPY_WOBBLE_COUNTS_OFF)
    assert float(on_off.acceptance_off[0]) == 3
    assert on_off.attrs["off_method"] == "wobble"


def test_overlapping_wobble_regions_give_none(crab_obs, spectrum_geom):
    big = CircleSkyRegion(CRAB, 0.3 * u.deg)
    with pytest.warns(GammaxrWarning, match="overlap"):
        assert find_wobble_regions(big, crab_obs.pointing, 5) == []
    assert len(find_wobble_regions(big, crab_obs.pointing, 3)) == 3  # as Gammapy
    ellipse = EllipseSkyRegion(CRAB, 0.6 * u.deg, 0.1 * u.deg)
    assert len(find_wobble_regions(ellipse, crab_obs.pointing, 3)) == 3
    with pytest.warns(GammaxrWarning, match="overlap"):
        assert find_wobble_regions(ellipse, crab_obs.pointing, 5) == []
    with pytest.warns(GammaxrWarning) as record:
        on_off = make_on_off_spectrum(
            crab_obs, big, spectrum_geom, method="wobble", n_off_regions=5
        )
    assert any("no wobble off region" in str(w.message) for w in record)
    assert not on_off.mask_safe.any()
    assert float(on_off.acceptance_off.max()) == 0
    assert on_off.attrs["n_off_regions"] == 0


def test_invalid_options(crab_obs, spectrum_geom, exclusion):
    with pytest.raises(ConfigError, match="method"):
        make_on_off_spectrum(crab_obs, ON, spectrum_geom, method="ring")
    with pytest.raises(ConfigError, match="angle_increment"):
        find_reflected_regions(ON, crab_obs.pointing, angle_increment=0)
    with pytest.raises(ConfigError, match="max_region_number"):
        find_reflected_regions(ON, crab_obs.pointing, max_region_number=0)
    with pytest.raises(ConfigError, match="n_off_regions"):
        find_wobble_regions(ON, crab_obs.pointing, 0)
    with pytest.raises(ConfigError, match="geometry"):
        find_reflected_regions(ON, crab_obs.pointing, geometry="pixels")
    with pytest.raises(ConfigError, match="an angle"):
        find_reflected_regions(ON, crab_obs.pointing, min_distance=1 * u.m)
    with pytest.raises(GeometryError, match="rad_max"):
        find_reflected_regions(CRAB, crab_obs.pointing)
    with pytest.raises(DimensionError, match="boolean"):
        find_reflected_regions(ON, crab_obs.pointing, exclusion_mask=exclusion.astype(int))


# --- point-like IRFs -------------------------------------------------------------------

POINT = SkyCoord(83.63, 22.01, unit="deg")


@pytest.fixture(scope="module")
def point_like(tmp_path_factory):
    folder = tmp_path_factory.mktemp("point_like_off")
    write_datastore(
        folder,
        obs_ids=(1,),
        n_events=20000,
        irfs=("aeff_2d", "edisp_2d", "bkg_2d", "rad_max_2d"),
        rng=1,
    )
    return gx.open_datastore(folder).observation(1)


@pytest.fixture(scope="module")
def point_geom() -> xr.Dataset:
    return gx.make_geom(
        gx.energy_axis(0.2, 50, nbin=6),
        gx.energy_axis(0.1, 100, nbin=12, name="energy_true"),
    )


@pytest.mark.parametrize("n", sorted(GAMMAPY_POINT_WOBBLE_COUNTS_OFF))
def test_point_like_wobble_matches_gammapy(point_like, point_geom, n):
    on_off = make_on_off_spectrum(
        point_like, POINT, point_geom, method="wobble", n_off_regions=n, safe_mask=()
    )
    np.testing.assert_array_equal(on_off.counts_off.values, GAMMAPY_POINT_WOBBLE_COUNTS_OFF[n])
    assert float(on_off.acceptance_off[0]) == n


def test_point_like_overlap_uses_the_largest_radius(point_like, point_geom):
    with pytest.warns(GammaxrWarning):
        on_off = make_on_off_spectrum(
            point_like, POINT, point_geom, method="wobble", n_off_regions=11, safe_mask=()
        )
    assert on_off.attrs["n_off_regions"] == 0 and not on_off.mask_safe.any()


def test_point_like_reflected_regions(point_like, point_geom):
    on_off = make_on_off_spectrum(point_like, POINT, point_geom, safe_mask=())
    regions = Regions.parse(on_off.attrs["off_regions"], format="ds9")
    assert all(isinstance(r, PointSkyRegion) for r in regions)
    # Largest RAD_MAX at the point's offset over the energy range: no overlap at that radius.
    largest = float(point_like.rad_max.isel(offset=0).max())
    centres = SkyCoord([POINT, *[r.center for r in regions]])
    for a, b in itertools.combinations(centres, 2):
        assert a.separation(b).deg >= 2 * largest - 1e-7  # DS9 strings: 8 decimals
    # counts_off is the sum of the energy-dependent counts about each point.
    expected = sum(
        make_spectrum_dataset(point_like, r.center, point_geom, products=["counts"]).counts
        for r in regions
    )
    np.testing.assert_array_equal(on_off.counts_off.values, expected.values)
    assert float(on_off.acceptance_off[0]) == len(regions) == 9


def test_warnings_are_not_raised_for_a_normal_run(crab_obs, spectrum_geom):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make_on_off_spectrum(crab_obs, ON, spectrum_geom, method="wobble")


def test_exclusion_lookup_on_a_grid_equals_the_pointwise_one():
    from gammaxr.reduce.off_regions import _Exclusion

    grid = gx.sky_grid((83.633, 22.014), width=3.0, binsz=0.05)
    lon, lat = np.meshgrid(grid.lon.values, grid.lat.values)
    near = np.hypot((lon - 83.8) * np.cos(np.deg2rad(22.0)), lat - 22.1) < 0.4
    mask = xr.DataArray(near, dims=("lat", "lon"), coords=grid.coords, attrs={"frame": "icrs"})
    exclusion = _Exclusion(mask)
    # a grid larger than the mask (outside: not excluded), in the mask's frame and another
    for frame, (x0, y0) in (("icrs", (83.633, 22.014)), ("galactic", (184.557, -5.784))):
        other = gx.sky_grid((x0, y0), width=4.0, binsz=0.04, frame=frame)
        lon2d, lat2d = np.meshgrid(other.lon.values, other.lat.values)
        expected = exclusion(lon2d, lat2d, frame)
        assert expected.any() and not expected.all()
        got = exclusion.on_grid(other.lon.values, other.lat.values, frame)
        np.testing.assert_array_equal(got, expected)
