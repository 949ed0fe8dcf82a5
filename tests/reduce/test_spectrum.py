"""1D spectrum datasets: run 23523 against direct evaluations and Gammapy 2.1; point-like IRFs."""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest
import xarray as xr
from astropy.coordinates import SkyCoord
from regions import (
    CircleSkyRegion,
    EllipseSkyRegion,
    PointSkyRegion,
    RectangleSkyRegion,
    Regions,
)
from scipy.interpolate import RegularGridInterpolator

import gammaxr as gx
from gammaxr.exceptions import ConfigError, DimensionError, GeometryError
from gammaxr.irf import containment
from gammaxr.reduce import (
    SPECTRUM_PRODUCTS,
    make_background,
    make_exposure,
    make_map_dataset,
    make_spectrum_dataset,
    require_full_enclosure,
)
from gammaxr.reduce.spectrum import (
    as_on_region,
    evaluate_rad_max,
    is_point_like,
    region_containment,
    region_solid_angle,
)
from gammaxr.testing import write_datastore

CRAB = SkyCoord(83.633, 22.014, unit="deg")
RADIUS = 0.11

# Golden numbers from Gammapy 2.1 (SpectrumDatasetMaker(containment_correction=True),
# default background integration without oversampling) for run 23523, the on circle
# CRAB / 0.11 deg, reco energy 0.5-50 TeV in 10 log bins, true energy 0.3-100 TeV in 20.
GAMMAPY_COUNTS = [52, 55, 32, 22, 16, 9, 1, 1, 0, 0]
GAMMAPY_EXPOSURE = [  # m2 s
    1.3799557108e06, 1.5925221961e07, 8.8674805088e07, 1.8018546935e08, 2.5445226224e08,
    3.1175698259e08, 3.7228835362e08, 4.4090766998e08, 5.1188006245e08, 5.8233354082e08,
    6.3107881483e08, 6.6753849017e08, 7.0075389962e08, 7.3752205677e08, 7.8147425859e08,
    8.2548673653e08, 8.4194901424e08, 8.1383097903e08, 7.6049941694e08, 7.7636704611e08,
]  # fmt: skip
GAMMAPY_BACKGROUND = [
    3.3981250034, 4.1899717598, 2.3892251448, 1.4574013606, 0.9090672301,
    0.4922945116, 0.2338733771, 0.0893437535, 0.0252640098, 0.0058764424,
]  # fmt: skip
GAMMAPY_EDISP_ROW_8 = [  # E_true = 1.98 TeV, the EDispKernel of the dataset
    6.4882870146e-05, 6.8782265156e-03, 4.7350421584e-02, 3.0279001618e-01, 5.4957126106e-01,
    8.1480188376e-02, 1.1678241531e-02, 1.8676187660e-04, 0.0, 0.0,
]  # fmt: skip
# Same for the synthetic point-like data store below (write_datastore(rng=1)) and the point
# (83.63, 22.01), reco energy 0.2-50 TeV in 6 bins.
GAMMAPY_POINT_LIKE_COUNTS = [11, 2, 3, 0, 0, 0]


@pytest.fixture(scope="module")
def spectrum_geom() -> xr.Dataset:
    return gx.make_geom(
        gx.energy_axis(0.5, 50, nbin=10),
        gx.energy_axis(0.3, 100, nbin=20, name="energy_true"),
    )


@pytest.fixture(scope="module")
def on_region() -> CircleSkyRegion:
    return CircleSkyRegion(CRAB, RADIUS * u.deg)


@pytest.fixture(scope="module")
def spectrum(crab_obs, on_region, spectrum_geom) -> xr.Dataset:
    return make_spectrum_dataset(crab_obs, on_region, spectrum_geom)


def _offset(obs) -> float:
    pointing = SkyCoord(obs.pointing.ra, obs.pointing.dec, unit="deg")
    return float(pointing.separation(CRAB).deg)


def test_schema_dtypes_units_and_attrs(spectrum, crab_obs, tmp_path):
    assert set(spectrum.data_vars) == set(SPECTRUM_PRODUCTS)
    assert spectrum.counts.dims == ("energy",)
    assert spectrum.exposure.dims == ("energy_true",)
    assert spectrum.background.dims == ("energy",)
    assert spectrum.edisp.dims == ("energy_true", "energy")
    assert spectrum.mask_safe.dims == ("energy",)
    dtypes = {name: var.dtype for name, var in spectrum.data_vars.items()}
    assert dtypes == {
        "counts": np.int64,
        "exposure": np.float32,
        "background": np.float32,
        "edisp": np.float32,
        "mask_safe": bool,
    }
    assert spectrum.exposure.attrs == {"units": "m2 s"}
    assert spectrum.counts.attrs == {"units": ""}
    for dim in ("energy", "energy_true"):
        assert f"{dim}_lo" in spectrum.coords and f"{dim}_hi" in spectrum.coords
    attrs = spectrum.attrs
    assert attrs["obs_id"] == 23523
    assert attrs["livetime"] == pytest.approx(crab_obs.livetime)
    assert attrs["irf_offset"] == pytest.approx(_offset(crab_obs), abs=1e-9)
    assert attrs["irf_type"] == "full-enclosure"
    assert attrs["containment_correction"] == 1
    assert attrs["frame"] == "icrs"
    (region,) = Regions.parse(attrs["region"], format="ds9")
    assert region.center.separation(CRAB).deg < 1e-8
    assert region.radius.to_value("deg") == pytest.approx(RADIUS)
    path = tmp_path / "spectrum.nc"
    spectrum.to_netcdf(path)
    with xr.open_dataset(path) as back:
        xr.testing.assert_identical(back.load(), spectrum)


def test_counts_equal_a_direct_count(spectrum, crab_obs, spectrum_geom):
    events = crab_obs.events
    separation = SkyCoord(events.ra.values, events.dec.values, unit="deg").separation(CRAB).deg
    energy = events.energy.values[separation <= RADIUS]
    expected, _ = np.histogram(energy, bins=gx.conventions.edges(spectrum_geom, "energy"))
    np.testing.assert_array_equal(spectrum.counts.values, expected)
    np.testing.assert_array_equal(spectrum.counts.values, GAMMAPY_COUNTS)


def _independent_containment(psf, energy_true, offset, radius):
    """Cumulative of the table at its rad edges, interpolated in (log E, offset, rad)."""
    rad_edges = np.deg2rad(np.append(psf.rad_lo.values, psf.rad_hi.values[-1]))
    annulus = 2 * np.pi * (np.cos(rad_edges[:-1]) - np.cos(rad_edges[1:]))
    table = psf.transpose("energy_true", "offset", "rad").values
    cumulative = np.concatenate(
        [np.zeros(table.shape[:2] + (1,)), np.cumsum(table * annulus, axis=-1)], axis=-1
    )
    log_nodes = np.log(psf.energy_true.values)
    interp = RegularGridInterpolator(
        (log_nodes, psf.offset.values, np.rad2deg(rad_edges)), cumulative
    )
    log_e = np.clip(np.log(energy_true), log_nodes[0], log_nodes[-1])
    points = np.column_stack([log_e, np.full_like(log_e, offset), np.full_like(log_e, radius)])
    return interp(points)


def test_exposure_is_aeff_times_livetime_times_containment(spectrum, crab_obs, spectrum_geom):
    aeff = crab_obs.aeff
    offset = _offset(crab_obs)
    energy_true = spectrum_geom.energy_true.values
    log_nodes = np.log(aeff.energy_true.values)
    interp = RegularGridInterpolator((log_nodes, aeff.offset.values), aeff.values)
    log_e = np.clip(np.log(energy_true), log_nodes[0], log_nodes[-1])
    area = interp(np.column_stack([log_e, np.full_like(log_e, offset)]))
    fraction = _independent_containment(crab_obs.psf, energy_true, offset, RADIUS)
    expected = area * crab_obs.livetime * fraction
    np.testing.assert_allclose(spectrum.exposure.values, expected, rtol=2e-6)
    np.testing.assert_allclose(spectrum.exposure.values, GAMMAPY_EXPOSURE, rtol=1e-6)


def test_exposure_without_containment_correction(crab_obs, on_region, spectrum_geom, spectrum):
    plain = make_spectrum_dataset(
        crab_obs, on_region, spectrum_geom, products=["exposure"], containment_correction=False
    )
    assert plain.attrs["containment_correction"] == 0
    fraction = containment(
        crab_obs.psf, RADIUS, energy_true=spectrum_geom.energy_true, offset=_offset(crab_obs)
    )
    np.testing.assert_allclose(
        spectrum.exposure.values, plain.exposure.values * fraction.values, rtol=1e-6
    )
    assert float(fraction.min()) > 0.4 and float(fraction.max()) < 1


def test_edisp_matches_gammapy(spectrum):
    np.testing.assert_allclose(spectrum.edisp.values[8], GAMMAPY_EDISP_ROW_8, atol=1e-7)


def test_background_matches_gammapy_and_the_map_maker(
    crab_obs, on_region, spectrum_geom, gammapy_bkg
):
    # Gammapy integrates each energy bin as one power law between the edges.
    edges = make_spectrum_dataset(
        crab_obs, on_region, spectrum_geom, products=["background"], bkg=gammapy_bkg,
        background_integration="edges",
    )  # fmt: skip
    np.testing.assert_allclose(edges.background.values, GAMMAPY_BACKGROUND, rtol=1e-6)
    # The default: the map maker's exact integration at the region centre x solid angle.
    default = make_spectrum_dataset(crab_obs, on_region, spectrum_geom, products=["background"])
    pixel = gx.make_geom(
        gx.energy_axis(0.5, 50, nbin=10), sky=gx.sky_grid(CRAB, width=0.01, binsz=0.01)
    )
    rate = make_background(crab_obs, pixel).values[:, 0, 0] / gx.solid_angle(pixel).values[0, 0]
    omega = 2 * np.pi * (1 - np.cos(np.deg2rad(RADIUS)))
    np.testing.assert_allclose(default.background.values, rate * omega, rtol=1e-6)
    assert default.attrs["background_method"] == "center"


def test_background_average_over_the_region(crab_obs, on_region, spectrum_geom, power_law_bkg):
    centre = make_spectrum_dataset(crab_obs, on_region, spectrum_geom, products=["background"])
    average = make_spectrum_dataset(
        crab_obs, on_region, spectrum_geom, products=["background"], background_method="average"
    )
    # A smooth field: the average over a 0.11 deg circle is within a few % of the centre.
    np.testing.assert_allclose(average.background.values, centre.background.values, rtol=0.03)
    # A background flat in offset: both are the same.
    flat = [
        make_spectrum_dataset(
            crab_obs, on_region, spectrum_geom, products=["background"], bkg=power_law_bkg(),
            background_method=method,
        ).background.values
        for method in ("center", "average")
    ]  # fmt: skip
    np.testing.assert_allclose(flat[0], flat[1], rtol=1e-6)


def test_safe_mask_methods_at_the_region_centre(crab_obs, on_region, spectrum_geom):
    default = make_spectrum_dataset(crab_obs, on_region, spectrum_geom, products=["mask_safe"])
    expected = gx.reduce.mask_aeff_default(crab_obs, spectrum_geom)
    np.testing.assert_array_equal(default.mask_safe.values, expected.values)
    assert default.attrs["safe_mask"] == "aeff-default"
    near = make_spectrum_dataset(
        crab_obs, on_region, spectrum_geom, safe_mask={"offset-max": {"offset_max": 0.4}}
    )
    assert not near.mask_safe.any()
    far = make_spectrum_dataset(crab_obs, on_region, spectrum_geom, safe_mask=["offset-max"])
    assert far.mask_safe.all()
    aeff_max = make_spectrum_dataset(
        crab_obs, on_region, spectrum_geom, safe_mask={"aeff-max": {"percent": 10}}
    )
    reference = gx.reduce.mask_aeff_max(crab_obs, spectrum_geom, offset=_offset(crab_obs))
    np.testing.assert_array_equal(aeff_max.mask_safe.values, reference.values)
    every = make_spectrum_dataset(
        crab_obs, on_region, spectrum_geom, safe_mask=list(gx.reduce.SAFE_MASK_METHODS)
    )
    assert every.mask_safe.values.tolist() == [False, False] + [True] * 8


def test_galactic_on_region_gives_the_same_dataset(crab_obs, spectrum, spectrum_geom):
    galactic = CircleSkyRegion(CRAB.galactic, RADIUS * u.deg)
    other = make_spectrum_dataset(crab_obs, galactic, spectrum_geom)
    np.testing.assert_array_equal(other.counts.values, spectrum.counts.values)
    np.testing.assert_allclose(other.exposure.values, spectrum.exposure.values, rtol=1e-6)
    assert other.attrs["frame"] == "galactic"


def test_on_region_as_ds9_string(crab_obs, spectrum, spectrum_geom):
    other = make_spectrum_dataset(
        crab_obs, "icrs; circle(83.633, 22.014, 0.11)", spectrum_geom, products=["counts"]
    )
    np.testing.assert_array_equal(other.counts.values, spectrum.counts.values)


def test_non_circular_regions(crab_obs, spectrum_geom):
    psf, offset = crab_obs.psf, _offset(crab_obs)
    energy_true = spectrum_geom.energy_true
    circle = containment(psf, RADIUS, energy_true=energy_true, offset=offset)
    # An ellipse with equal axes is the circle, integrated on the fine grid.
    round_ellipse = EllipseSkyRegion(CRAB, 2 * RADIUS * u.deg, 2 * RADIUS * u.deg)
    numeric = region_containment(psf, round_ellipse, energy_true=energy_true, offset=offset)
    np.testing.assert_allclose(numeric.values, circle.values, rtol=3e-3)
    omega = region_solid_angle(round_ellipse)
    assert omega == pytest.approx(region_solid_angle(CircleSkyRegion(CRAB, RADIUS * u.deg)),
                                  rel=2e-3)  # fmt: skip
    # A 0.2 x 0.1 deg rectangle: solid angle w * h, containment between the inscribed and
    # circumscribed circles'.
    rectangle = RectangleSkyRegion(CRAB, 0.2 * u.deg, 0.1 * u.deg, angle=30 * u.deg)
    assert region_solid_angle(rectangle) == pytest.approx(0.02 * np.deg2rad(1) ** 2, rel=3e-3)
    fraction = region_containment(psf, rectangle, energy_true=energy_true, offset=offset)
    inner = containment(psf, 0.05, energy_true=energy_true, offset=offset)
    outer = containment(psf, np.hypot(0.1, 0.05), energy_true=energy_true, offset=offset)
    assert (fraction >= inner).all() and (fraction <= outer).all()
    dataset = make_spectrum_dataset(crab_obs, rectangle, spectrum_geom)
    events = crab_obs.events
    inside = gx.select_region(events, rectangle)
    assert int(dataset.counts.sum()) == int(((inside.energy >= 0.5) & (inside.energy <= 50)).sum())


def test_invalid_inputs(crab_obs, on_region, spectrum_geom, geom):
    with pytest.raises(ConfigError, match="unknown products"):
        make_spectrum_dataset(crab_obs, on_region, spectrum_geom, products=["psf"])
    with pytest.raises(ConfigError, match="background_method"):
        make_spectrum_dataset(crab_obs, on_region, spectrum_geom, background_method="edge")
    with pytest.raises(ConfigError, match="unknown safe-mask"):
        make_spectrum_dataset(crab_obs, on_region, spectrum_geom, safe_mask=["aeff"])
    with pytest.raises(DimensionError, match="sky dims"):
        make_spectrum_dataset(crab_obs, on_region, geom)
    with pytest.raises(GeometryError, match="point on region needs point-like"):
        make_spectrum_dataset(crab_obs, CRAB, spectrum_geom)
    with pytest.raises(GeometryError, match="compound"):
        make_spectrum_dataset(crab_obs, on_region | on_region, spectrum_geom)
    with pytest.raises(GeometryError, match="exactly one region"):
        as_on_region(Regions([on_region, on_region]))
    with pytest.raises(ConfigError, match="offset_max must be positive"):
        make_spectrum_dataset(
            crab_obs, on_region, spectrum_geom, safe_mask={"offset-max": {"offset_max": 0}}
        )


# --- point-like IRFs -------------------------------------------------------------------

POINT = SkyCoord(83.63, 22.01, unit="deg")


@pytest.fixture(scope="module")
def point_like(tmp_path_factory):
    """A synthetic point-like observation: RAD_MAX_2D, aeff, edisp, bkg_2d; 20000 events."""
    folder = tmp_path_factory.mktemp("point_like")
    written = write_datastore(
        folder,
        obs_ids=(1,),
        n_events=20000,
        irfs=("aeff_2d", "edisp_2d", "bkg_2d", "rad_max_2d"),
        rng=1,
    )
    return gx.open_datastore(folder).observation(1), written.irfs[1]["rad_max_2d"]


@pytest.fixture(scope="module")
def point_geom() -> xr.Dataset:
    return gx.make_geom(
        gx.energy_axis(0.2, 50, nbin=6),
        gx.energy_axis(0.1, 100, nbin=12, name="energy_true"),
    )


def _raw_rad_max(raw, energy, offset):
    """RAD_MAX of the nearest node, from the values written to the file (numpy order)."""
    e_lo, e_hi = raw.edges["ENERG"]
    t_lo, t_hi = raw.edges["THETA"]
    log_centres = 0.5 * (np.log(e_lo) + np.log(e_hi))
    i = np.argmin(np.abs(np.log(energy)[:, None] - log_centres[None, :]), axis=1)
    j = np.argmin(np.abs(offset - 0.5 * (t_lo + t_hi)))
    return raw.data["RAD_MAX"][j, i].astype(np.float64)  # numpy order: (THETA, ENERG)


def test_point_like_counts_use_the_energy_dependent_radius(point_like, point_geom):
    obs, raw = point_like
    assert is_point_like(obs)
    dataset = make_spectrum_dataset(obs, POINT, point_geom, safe_mask=())
    events = obs.events
    offset = float(SkyCoord(obs.pointing.ra, obs.pointing.dec, unit="deg").separation(POINT).deg)
    radius = _raw_rad_max(raw, events.energy.values, offset)
    separation = SkyCoord(events.ra.values, events.dec.values, unit="deg").separation(POINT).deg
    selected = events.energy.values[separation <= radius]
    expected, _ = np.histogram(selected, bins=gx.conventions.edges(point_geom, "energy"))
    np.testing.assert_array_equal(dataset.counts.values, expected)
    np.testing.assert_array_equal(dataset.counts.values, GAMMAPY_POINT_LIKE_COUNTS)
    # The radius does vary: a fixed cut at the smallest or largest radius counts differently.
    assert np.ptp(radius) > 0.05
    np.testing.assert_allclose(
        evaluate_rad_max(obs.rad_max, energy=events.energy.values, offset=offset), radius
    )
    assert dataset.attrs["irf_type"] == "point-like"
    assert "point(" in dataset.attrs["region"]


def test_point_like_has_no_containment_correction(point_like, point_geom):
    obs, _ = point_like
    dataset = make_spectrum_dataset(obs, PointSkyRegion(POINT), point_geom, safe_mask=())
    assert dataset.attrs["containment_correction"] == 0
    pixel = gx.make_geom(point_geom.energy_true, sky=gx.sky_grid(POINT, width=0.001, binsz=0.001))
    np.testing.assert_allclose(
        dataset.exposure.values, make_exposure(obs, pixel).values[:, 0, 0], rtol=1e-7
    )


def test_point_like_background_is_rate_times_the_cut_solid_angle(point_like, point_geom):
    obs, raw = point_like
    dataset = make_spectrum_dataset(obs, POINT, point_geom, products=["background"])
    pixel = gx.make_geom(point_geom.energy, sky=gx.sky_grid(POINT, width=0.001, binsz=0.001))
    rate = make_background(obs, pixel).values[:, 0, 0] / gx.solid_angle(pixel).values[0, 0]
    offset = dataset.attrs["irf_offset"]
    radius = _raw_rad_max(raw, point_geom.energy.values, offset)
    omega = 2 * np.pi * (1 - np.cos(np.deg2rad(radius)))
    np.testing.assert_allclose(dataset.background.values, rate * omega, rtol=1e-6)


def test_point_like_on_region_checks(point_like, point_geom):
    obs, _ = point_like
    with pytest.raises(GeometryError, match="fixed RAD_MAX"):
        make_spectrum_dataset(obs, CircleSkyRegion(POINT, 0.1 * u.deg), point_geom)
    with pytest.raises(GeometryError, match="point"):
        make_spectrum_dataset(obs, EllipseSkyRegion(POINT, 0.2 * u.deg, 0.1 * u.deg), point_geom)
    with pytest.raises(ConfigError, match="average"):
        make_spectrum_dataset(obs, POINT, point_geom, background_method="average")


def test_require_full_enclosure(point_like, crab_obs):
    obs, _ = point_like
    with pytest.raises(ConfigError, match="point-like IRFs"):
        require_full_enclosure(obs)
    require_full_enclosure(crab_obs)


def test_map_dataset_refuses_point_like_irfs(point_like, point_geom):
    obs, _ = point_like
    geom = gx.make_geom(
        point_geom.energy, point_geom.energy_true, sky=gx.sky_grid(POINT, width=1, binsz=0.1)
    )
    with pytest.raises(ConfigError, match="point-like"):
        make_map_dataset(obs, geom, safe_mask=())


# --- the numpy point evaluations equal the general makers, bit for bit ----------------


@pytest.mark.parametrize("run", [23523, 23559])
def test_point_evaluations_equal_the_map_makers(crab_store, run):
    from gammaxr.conventions import edges
    from gammaxr.reduce import _spectrum_irfs
    from gammaxr.reduce import make_edisp as general_edisp
    from gammaxr.reduce.safe_mask import mask_aeff_max
    from gammaxr.reduce.spectrum import _pixel_geom

    obs = crab_store.observation(run)
    geom = gx.make_geom(
        gx.energy_axis(0.1, 40, nbin=40), gx.energy_axis(0.05, 100, nbin=200, name="energy_true")
    )
    energy_true = geom.energy_true.values
    lo, hi = geom.energy_lo.values, geom.energy_hi.values
    # Offsets between nodes, on the pointing, on a node and beyond the tables.
    for offset in (0.4996, 1.5022, 0.0, 1.0, 2.9, 4.5):
        position = SkyCoord(obs.pointing.ra, obs.pointing.dec, unit="deg").directional_offset_by(
            0 * u.deg, offset * u.deg
        )
        pixel = _pixel_geom(geom, position, "icrs")
        exposure = make_exposure(obs, pixel).isel(lat=0, lon=0).values
        got = _spectrum_irfs.exposure(obs.aeff, energy_true, offset, obs.livetime)
        np.testing.assert_array_equal(got, exposure)
        edisp = general_edisp(obs, geom, offset=offset).values
        got = _spectrum_irfs.edisp_matrix(obs.edisp, energy_true, lo, hi, offset)
        assert got.dtype == edisp.dtype == np.float32
        np.testing.assert_array_equal(got, edisp)
        # Not contiguous bit for bit: the two-sided path.
        got = _spectrum_irfs.edisp_matrix(obs.edisp, energy_true, lo, hi * (1 + 1e-15), offset)
        np.testing.assert_allclose(got, edisp, rtol=1e-6, atol=1e-12)
        mask = mask_aeff_max(obs, geom, offset=offset, percent=10)
        got, threshold = _spectrum_irfs.aeff_max_mask(obs.aeff, energy_true, lo, offset, 10)
        np.testing.assert_array_equal(got, mask.values)
        np.testing.assert_equal(threshold, mask.attrs["energy_min"])
        fraction = containment(obs.psf, RADIUS, energy_true=geom.energy_true, offset=offset)
        got = _spectrum_irfs.table_containment(obs.psf, RADIUS, energy_true, offset)
        np.testing.assert_array_equal(got, fraction.values)
    assert edges(geom, "energy").size == 41


def test_region_counts_of_circles_equal_bin_events(crab_obs, spectrum_geom):
    from gammaxr.reduce.spectrum import make_region_counts

    circles = [
        CircleSkyRegion(CRAB, 0.3 * u.deg),
        CircleSkyRegion(SkyCoord(83.9, 21.6, unit="deg").galactic, 0.25 * u.deg),
        CircleSkyRegion(SkyCoord(83.75, 22.1, unit="deg"), 0.2 * u.deg),  # overlaps the first
        CircleSkyRegion(SkyCoord(80.0, 25.0, unit="deg"), 0.1 * u.deg),  # far from the data
    ]
    counts = make_region_counts(crab_obs, circles, spectrum_geom)
    general = gx.bin_events(crab_obs.events, spectrum_geom, region=Regions(circles))
    np.testing.assert_array_equal(counts.values, general.values)
    assert counts.dtype == np.int64 and counts.dims == ("energy",)
    assert int(counts.sum()) > 100
    # Each event once: the union is less than the sum over the circles.
    each = sum(int(make_region_counts(crab_obs, c, spectrum_geom).sum()) for c in circles)
    assert int(counts.sum()) < each
