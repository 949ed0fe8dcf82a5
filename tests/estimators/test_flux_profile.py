"""Flux profiles along boxes and annuli: geometry, statistics, flux recovery."""

import numpy as np
import pytest
import xarray as xr
from astropy.coordinates import SkyCoord
from regions import CircleSkyRegion, RectangleSkyRegion

import gammaxr as gx
from gammaxr.estimators import annuli, boxes_along_line, flux_profile, significance
from gammaxr.estimators import significance_cash as cash_significance
from gammaxr.exceptions import DimensionError, FormatError, GeometryError
from gammaxr.models import FoVBackgroundModel, Models, PowerLawNormSpectralModel
from gammaxr.sky import region_mask

EXPOSURE = 1e12  # cm2 s
AMPLITUDE = 1e-12  # cm-2 s-1 TeV-1 sr-1 of the true surface brightness, index 2
N_BOX = 10
BRIGHTNESS = 1.0 + np.arange(N_BOX)  # in units of AMPLITUDE, one value per box


def geometry(n_energy=2):
    return gx.make_geom(
        gx.energy_axis(1, 10, nbin=n_energy),
        gx.energy_axis(1, 10, nbin=n_energy, name="energy_true"),
        sky=gx.sky_grid((0, 0), width=(1, 5), binsz=0.05),
    )


def box_index(lat):
    """Which of the N_BOX boxes along lat (-2.5..2.5) a pixel row belongs to."""
    return np.clip(((lat + 2.5) // 0.5).astype(int), 0, N_BOX - 1)


def expected_signal(geom):
    """Signal counts per pixel: brightness x integral of E^-2 x pixel solid angle x exposure."""
    lo, hi = geom.energy_lo.values, geom.energy_hi.values
    integral = AMPLITUDE * (1 / lo - 1 / hi)  # per sr
    brightness = BRIGHTNESS[box_index(geom.lat.values)]  # (lat,)
    sr = gx.solid_angle(geom).values  # (lat, lon)
    return integral[:, None, None] * (brightness[:, None] * sr)[None] * EXPOSURE


def map_dataset(rng, n_energy=2, background=1.0):
    geom = geometry(n_energy)
    signal = expected_signal(geom)
    bkg = np.full(signal.shape, background)
    return geom.assign(
        counts=(("energy", "lat", "lon"), rng.poisson(signal + bkg), {"units": ""}),
        background=(("energy", "lat", "lon"), bkg, {"units": ""}),
        exposure=(
            ("energy_true", "lat", "lon"),
            np.full(signal.shape, EXPOSURE),
            {"units": "cm2 s"},
        ),
        mask_safe=(("energy", "lat", "lon"), np.ones(signal.shape, bool)),
    ).assign_attrs(name="synthetic")


def line_boxes():
    return boxes_along_line((0, -2.5), (0, 2.5), N_BOX, 0.5)


# --------------------------------------------------------------------------------------
# region helpers


def test_boxes_along_line_tile_the_line():
    geom = geometry()
    boxes = line_boxes()
    masks = np.stack([region_mask(b, geom).values for b in boxes])
    lat, lon = np.meshgrid(geom.lat.values, geom.lon.values, indexing="ij")
    for i in range(N_BOX):  # box i: lat in [-2.5 + 0.5 i, -2 + 0.5 i), |lon| < 0.25
        inside = (box_index(lat) == i) & (np.abs(lon) < 0.25)
        np.testing.assert_array_equal(masks[i], inside)
    assert masks.sum(0).max() == 1  # no overlap


def test_boxes_along_a_tilted_galactic_line():
    start = SkyCoord(10, -1, unit="deg", frame="galactic")
    end = SkyCoord(12, 1, unit="deg", frame="galactic")
    boxes = boxes_along_line(start, end, 5, 0.2)
    assert all(b.center.frame.name == "galactic" for b in boxes)
    # points along the line each fall in exactly one box, the right one
    fractions = np.linspace(0.01, 0.99, 99)
    points = start.directional_offset_by(
        start.position_angle(end), fractions * start.separation(end)
    )
    grid = gx.sky_grid((11, 0), width=3, binsz=0.01, frame="galactic")
    lon, lat = points.l.wrap_at("180d").deg, points.b.deg
    rows = np.abs(grid.lat.values[:, None] - lat).argmin(0)
    cols = np.abs(grid.lon.values[:, None] - lon).argmin(0)
    masks = np.stack([region_mask(b, grid).values[rows, cols] for b in boxes])
    interior = np.abs(fractions * 5 - np.round(fractions * 5)) > 0.02  # away from box edges
    assert (masks.sum(0)[interior] == 1).all()
    np.testing.assert_array_equal(masks.argmax(0)[interior], (fractions * 5).astype(int)[interior])


def test_annuli_and_bad_geometry():
    rings = annuli(SkyCoord(1, 2, unit="deg"), [0, 0.1, 0.3])
    assert isinstance(rings[0], CircleSkyRegion)
    assert rings[1].inner_radius.value == pytest.approx(0.1)
    with pytest.raises(GeometryError, match="increasing"):
        annuli((0, 0), [0.2, 0.1])
    with pytest.raises(GeometryError, match="n must be"):
        boxes_along_line((0, 0), (1, 0), 0, 0.1)
    with pytest.raises(GeometryError, match="same position"):
        boxes_along_line((0, 0), (0, 0), 3, 0.1)
    with pytest.raises(GeometryError, match="lon, lat"):
        boxes_along_line("here", (0, 0), 3, 0.1)


# --------------------------------------------------------------------------------------
# estimator


def test_profile_recovers_the_brightness_along_boxes():
    rng = np.random.default_rng(0)
    pulls, x_ref = [], None
    boxes = line_boxes()
    for _ in range(8):
        profile = flux_profile(map_dataset(rng), boxes, spectral_model=None)
        # truth: norm = brightness (same spectrum shape and amplitude as the reference)
        pulls.append((profile.norm.values - BRIGHTNESS) / profile.norm_err.values)
        x_ref = profile.x_ref.values
        true_flux = BRIGHTNESS * AMPLITUDE * 0.9 * profile.solid_angle.values
        np.testing.assert_allclose(profile.flux / profile.norm, true_flux / BRIGHTNESS)
    pulls = np.concatenate(pulls)
    assert abs(pulls.mean()) < 0.35  # 80 pulls: standard errors 0.11 (mean), 0.08 (std)
    assert 0.75 < pulls.std() < 1.25
    np.testing.assert_allclose(x_ref, 0.25 + 0.5 * np.arange(N_BOX), atol=1e-9)
    assert profile.attrs["profile_type"] == "boxes"
    assert profile.x_min.attrs["units"] == "deg"
    assert profile.region_ds9.values[0].startswith("icrs;box(")


def test_single_bin_profile_equals_direct_cash_numbers():
    ds = map_dataset(np.random.default_rng(1), n_energy=1)
    profile = flux_profile(ds, line_boxes())
    masks = np.stack([region_mask(b, ds).values for b in line_boxes()])
    counts = (ds.counts.values[0] * masks).sum((1, 2))
    bkg = (ds.background.values[0] * masks).sum((1, 2))
    np.testing.assert_array_equal(profile.counts, counts)
    np.testing.assert_allclose(profile.excess, counts - bkg)
    # one bin: the best-fit excess is counts - background and TS is the Cash TS
    np.testing.assert_allclose(profile.norm * profile.npred_ref, counts - bkg, rtol=1e-6)
    np.testing.assert_allclose(profile.sqrt_ts, cash_significance(counts, bkg), rtol=1e-6)
    assert (profile.excess_errn < profile.excess_err).all()  # Poisson: shorter below
    assert (profile.excess_errp > profile.excess_err).all()
    assert (profile.excess_ul > profile.excess + profile.excess_err).all()
    assert profile.attrs["statistic"] == "cash"


def test_on_off_profile_uses_li_ma_with_the_effective_alpha():
    rng = np.random.default_rng(2)
    ds = map_dataset(rng, n_energy=1)
    # off acceptance changing across the map: alpha from 0.1 to 0.3
    alpha = np.broadcast_to(np.linspace(0.1, 0.3, ds.sizes["lon"]), ds.counts.shape)
    ds = ds.drop_vars("background").assign(
        counts_off=(("energy", "lat", "lon"), rng.poisson(1.0 / alpha), {"units": ""}),
        acceptance=(("energy", "lat", "lon"), np.ones(alpha.shape), {"units": ""}),
        acceptance_off=(("energy", "lat", "lon"), 1.0 / alpha, {"units": ""}),
    )
    rings = annuli((0, 0), [0, 0.3, 0.6, 1.0])
    profile = flux_profile(ds, rings)
    masks = np.stack([region_mask(r, ds).values for r in rings])
    n_on = (ds.counts.values[0] * masks).sum((1, 2))
    n_off = (ds.counts_off.values[0] * masks).sum((1, 2))
    bkg = (ds.counts_off.values[0] * alpha[0] * masks).sum((1, 2))
    np.testing.assert_allclose(profile.background, bkg)
    expected = significance(n_on, n_off, bkg / n_off)
    np.testing.assert_allclose(profile.sqrt_ts, expected, rtol=1e-6)
    np.testing.assert_allclose(profile.x_ref, [0.15, 0.45, 0.8])
    assert profile.attrs["statistic"] == "wstat"
    with pytest.raises(FormatError, match="on-off"):
        flux_profile(ds, rings, models=Models([]))


def test_energy_bands_models_and_joint_form():
    ds = map_dataset(np.random.default_rng(3), n_energy=6)
    # requested edges snap to the reco edges 1, 3.16 (log-nearest to 3), 10
    profile = flux_profile(ds, line_boxes()[:3], energy_edges=[1.05, 3.0, 9.0])
    assert profile.norm.dims == ("region", "energy")
    np.testing.assert_allclose(profile.energy_hi, [10**0.5, 10], rtol=1e-9)
    np.testing.assert_allclose(profile.energy, [10**0.25, 10**0.75], rtol=1e-9)
    whole = flux_profile(ds, line_boxes()[:3])
    np.testing.assert_allclose(profile.counts.sum("energy"), whole.counts)
    np.testing.assert_allclose(profile.ref_flux.sum("energy"), whole.ref_flux, rtol=1e-12)
    # a FoV background model scales the background
    bkg_model = FoVBackgroundModel("synthetic", PowerLawNormSpectralModel(norm=1.5))
    scaled = flux_profile(ds, line_boxes()[:3], models=Models([bkg_model]))
    np.testing.assert_allclose(scaled.background, 1.5 * whole.background, rtol=1e-12)
    # joint form of two halves = the stacked dataset
    half = ds.assign(exposure=ds.exposure / 2, background=ds.background / 2)
    joint = xr.concat([half, half], dim="obs_id").assign_coords(obs_id=[1, 2])
    joint["counts"] = joint.counts.copy(
        data=np.stack([ds.counts.values // 2, ds.counts.values - ds.counts.values // 2])
    )
    from_joint = flux_profile(joint, line_boxes()[:3])
    np.testing.assert_allclose(from_joint.flux, whole.flux, rtol=1e-6)
    with pytest.raises(FormatError, match="snap to fewer"):
        flux_profile(ds, line_boxes()[:3], energy_edges=[1.0, 1.01])


def test_profile_of_arbitrary_regions_and_strings():
    ds = map_dataset(np.random.default_rng(4), n_energy=1)
    regions = [
        "icrs;circle(0, -1, 0.2)",
        CircleSkyRegion(SkyCoord(0, 0, unit="deg"), 0.2 * u_deg()),
        RectangleSkyRegion(SkyCoord(0, 1, unit="deg"), 0.3 * u_deg(), 0.3 * u_deg()),
    ]
    profile = flux_profile(ds, regions)
    np.testing.assert_allclose(profile.x_ref, [0, 1, 2], atol=1e-9)
    np.testing.assert_allclose(profile.x_min, [-0.5, 0.5, 1.5], atol=1e-9)
    assert profile.attrs["profile_type"] == "regions"


def u_deg():
    import astropy.units as u

    return u.deg


def test_flux_profile_bad_input():
    ds = map_dataset(np.random.default_rng(5), n_energy=1)
    with pytest.raises(FormatError, match="no 'background'"):
        flux_profile(ds.drop_vars("background"), line_boxes())
    with pytest.raises(FormatError, match="lacks 'exposure'"):
        flux_profile(ds.drop_vars("exposure"), line_boxes())
    with pytest.raises(DimensionError, match="map dataset"):
        flux_profile(ds.isel(lat=0, lon=0, drop=True), line_boxes())
    with pytest.raises(GeometryError, match="sequence of sky regions"):
        flux_profile(ds, 3)
    with pytest.raises(GeometryError, match="no regions"):
        flux_profile(ds, [])
    with pytest.raises(FormatError, match="spectral_model"):
        flux_profile(ds, line_boxes(), spectral_model=PowerLawNormSpectralModel())


def test_crab_radial_profile_matches_the_fitted_point_source(crab_store):
    from gammaxr.models import PointSpatialModel, PowerLawSpectralModel, SkyModel

    geom = gx.make_geom(
        gx.energy_axis(1, 10, nbin=3),
        gx.energy_axis(0.5, 20, nbin=10, name="energy_true"),
        sky=gx.sky_grid((83.633, 22.014), width=1.6, binsz=0.02),
    )
    runs = [crab_store.observation(obs_id) for obs_id in (23523, 23526)]
    ds = gx.concat_observations([gx.make_map_dataset(o, geom) for o in runs]).gp.stack()
    ds = ds.assign_attrs(name="crab")
    start = SkyModel(
        PowerLawSpectralModel(index=2.6, amplitude=4e-11),
        PointSpatialModel(lon_0=83.633, lat_0=22.014),
        name="crab",
    )
    result = gx.fit(ds, Models([start, FoVBackgroundModel("crab")]))
    assert result.success
    spectrum = result.models["crab"].spectral
    background = Models([result.models["crab-bkg"]])
    profile = flux_profile(
        ds,
        annuli((83.633, 22.014), [0, 0.1, 0.2, 0.3, 0.5]),
        spectral_model=spectrum,
        models=background,
    )
    sqrt_ts = profile.sqrt_ts.values
    assert sqrt_ts[0] > 15 and np.all(np.diff(sqrt_ts) < 0)
    # within 0.3 deg (most of the PSF): the flux of the fitted point source, 1-10 TeV
    # (measured: 0.965)
    inner = profile.flux.isel(region=slice(0, 3)).sum().item()
    assert 0.93 < inner / spectrum.integral(1, 10) < 1.03
    # beyond 0.3 deg only the PSF tail: a small fraction of the central flux
    assert profile.flux.values[3] < 0.3 * profile.flux.values[0]


def test_profile_round_trips_through_netcdf(tmp_path):
    profile = flux_profile(
        map_dataset(np.random.default_rng(6)), line_boxes()[:3], energy_edges=[1, 3.2, 10]
    )
    gx.write_dataset(profile, tmp_path / "profile.nc")
    xr.testing.assert_identical(gx.read_dataset(tmp_path / "profile.nc").load(), profile)
