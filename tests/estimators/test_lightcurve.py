"""Light curves: simulated constant sources, the shipped Crab runs per run and in 10-min bins."""

from __future__ import annotations

import functools
import importlib

import astropy.units as u
import numpy as np
import pytest
import scipy.stats
import xarray as xr
from astropy.coordinates import SkyCoord
from astropy.time import Time
from regions import CircleSkyRegion

import gammaxr as gx
from gammaxr.estimators.flux_points import _compress_cash, _solve_fast, flux_points
from gammaxr.estimators.lightcurve import TIME_ATTRS, light_curve, reduce_time_bins
from gammaxr.exceptions import ConfigError, DimensionError, FormatError, GammaxrWarning
from gammaxr.fit.wstat import stack_on_off
from gammaxr.models import (
    GaussianSpatialModel,
    Models,
    PointSpatialModel,
    PowerLawSpectralModel,
    SkyModel,
)
from gammaxr.models.npred import npred
from gammaxr.reduce import make_on_off_spectrum, make_spectrum_dataset

CRAB = SkyCoord(83.633, 22.014, unit="deg")
REGION = CircleSkyRegion(CRAB, 0.11 * u.deg)
GEOM_1D = gx.make_geom(
    gx.energy_axis(0.5, 50, per_decade=5),
    gx.energy_axis(0.3, 100, per_decade=10, name="energy_true"),
)
# Integral light curve from 1.26 to 12.6 TeV (the edges snap to the dataset's).
ENERGY_EDGES = [1.0, 10.0]
# The H.E.S.S. DL3 DR1 time reference (MJDREFI + MJDREFF), TT.
MJDREF = 51910.000742870370


def crab_models(index=2.67, amplitude=4.3e-11, spatial=False):
    spectral = PowerLawSpectralModel(index=index, amplitude=amplitude)
    position = PointSpatialModel(lon_0=83.633, lat_0=22.014) if spatial else None
    return Models([SkyModel(spectral, position, name="crab")])


@pytest.fixture(scope="module")
def joint_on_off(crab_store):
    """The four runs as 1D on-off spectra, in the joint form."""
    spectra = [make_on_off_spectrum(o, REGION, GEOM_1D) for o in crab_store.observations()]
    return gx.concat_observations(spectra)


@pytest.fixture(scope="module")
def crab_fit(joint_on_off):
    """Best-fit models of the stacked on-off spectrum (the reference of the light curves)."""
    stacked = stack_on_off(joint_on_off)
    result = gx.fit(stacked, crab_models(2.5, 3e-11))
    assert result.success
    return result.models


@pytest.fixture(scope="module")
def ten_minutes(crab_store):
    """Runs 23523 and 23526 (one night) cut into 10-minute bins on a regular grid."""
    observations = crab_store.observations([23523, 23526])
    start = float(observations[0].gti.start.min())
    edges = Time(MJDREF, (start + 600.0 * np.arange(-1, 10)) / 86400.0, format="mjd", scale="tt")
    reduce = functools.partial(make_on_off_spectrum, on_region=REGION, geom=GEOM_1D)
    return reduce_time_bins(observations, edges, reduce)


def chi2_constant(curve):
    """chi2 of the norms about their weighted mean, and its number of degrees of freedom."""
    norm, err = curve.norm.values.ravel(), curve.norm_err.values.ravel()
    weight = err**-2
    mean = np.sum(weight * norm) / np.sum(weight)
    return float(np.sum(((norm - mean) / err) ** 2)), norm.size - 1


# -- the shipped Crab runs --------------------------------------------------------------


@pytest.fixture(scope="module")
def per_run(joint_on_off, crab_fit):
    """The light curve of the four runs, one point per run."""
    return light_curve(joint_on_off, crab_fit, "crab", ENERGY_EDGES)


def test_per_observation_light_curve_of_the_crab(per_run, joint_on_off, crab_fit, crab_store):
    curve = per_run
    assert dict(curve.sizes) == {"time": 4, "energy": 1}
    assert curve.obs_ids.values.tolist() == ["23523", "23526", "23559", "23592"]
    assert curve.n_observations.values.tolist() == [1, 1, 1, 1]
    assert curve.attrs["n_empty_time_bins"] == 0
    # times: the runs' TSTART/TSTOP of the observation index, as MJD (TT)
    table = crab_store.obs_table.set_index("obs_id").loc[[23523, 23526, 23559, 23592]]
    for coord, column in (("time_lo", "tstart"), ("time_hi", "tstop")):
        expected = Time(MJDREF, table[column].to_numpy() / 86400.0, format="mjd", scale="tt")
        np.testing.assert_allclose(curve[coord].values, expected.mjd, rtol=0, atol=1e-9)
        assert curve[coord].attrs == TIME_ATTRS
    np.testing.assert_allclose(curve.time, 0.5 * (curve.time_lo + curve.time_hi))
    # 2004-12-04 22:07:06 UTC, the start of run 23523 (MET 0 is 2001-01-01 00:00 UTC)
    first = Time("2004-12-04T22:07:06", scale="utc")
    assert abs(float(curve.time_lo[0]) - first.tt.mjd) * 86400.0 < 1e-3
    np.testing.assert_allclose(curve.livetime, table.livetime, rtol=1e-6)
    assert curve.livetime.attrs["units"] == "s"
    # counts: the runs' on counts in 1.26-12.6 TeV (bins 2..6 of the 5-per-decade axis)
    counts = joint_on_off.counts.where(joint_on_off.mask_safe, 0).isel(energy=slice(2, 7))
    np.testing.assert_array_equal(curve.counts.values[:, 0], counts.sum("energy").values)
    # the Crab is steady: each run agrees with the fit of all four
    assert curve.success.all()
    pulls = (curve.norm - 1) / curve.norm_err
    assert np.all(np.abs(pulls) < 3), pulls.values
    chi2, ndof = chi2_constant(curve)
    assert scipy.stats.chi2.sf(chi2, ndof) > 1e-3
    # each point is the flux point of that run alone
    single = flux_points(
        joint_on_off.isel(obs_id=2).drop_vars("obs_id"), crab_fit, "crab", ENERGY_EDGES
    )
    np.testing.assert_allclose(curve.norm.values[2], single.norm.values, rtol=1e-6)
    np.testing.assert_allclose(curve.ts.values[2], single.ts.values, rtol=1e-6)


def test_ten_minute_bins_of_one_night(ten_minutes, per_run, joint_on_off, crab_fit, crab_store):
    binned = ten_minutes
    # 10 bins on the grid: the first before the runs, two in the gap between them; the
    # runs (1687 s and 1683 s) start 2754 s apart, so 3 and 4 bins hold data
    assert binned.attrs["n_empty_time_bins"] == 3
    assert binned.obs_ids.values.tolist() == ["23523"] * 3 + ["23526"] * 4
    steps = np.diff(binned.time_lo) * 86400.0 / 600.0
    np.testing.assert_allclose(steps, [1, 1, 2, 1, 1, 1], atol=1e-5)
    start_23526 = 123893580.0 - 123890826.0  # s after the first run's start
    np.testing.assert_allclose(
        binned.ontime, [600, 600, 487, 3000 - start_23526, 600, 600, 4437 - 4200], atol=1e-5
    )
    runs = crab_store.observations([23523, 23526])
    np.testing.assert_allclose(binned.livetime.sum(), sum(o.livetime for o in runs), rtol=1e-6)
    both = joint_on_off.sel(obs_id=[23523, 23526])
    for name in ("counts", "counts_off"):
        total = both[name].where(both.mask_safe, 0).sum()
        assert int(binned[name].where(binned.mask_safe, 0).sum()) == int(total)

    curve = light_curve(binned, crab_fit, "crab", ENERGY_EDGES)
    assert curve.sizes["time"] == 7 and curve.attrs["n_empty_time_bins"] == 3
    np.testing.assert_array_equal(curve.time_lo, binned.time_lo)
    np.testing.assert_array_equal(curve.livetime, binned.livetime)
    assert curve.success.all()
    chi2, ndof = chi2_constant(curve)
    assert scipy.stats.chi2.sf(chi2, ndof) > 1e-3, (chi2, ndof)
    # the live-time weighted mean norm of the pieces is that of the two runs (the same
    # events: the difference is far below the statistical error of the mean, 0.09)
    night = per_run.isel(time=[0, 1])
    mean_bins = float(np.average(curve.norm[:, 0], weights=curve.livetime))
    mean_runs = float(np.average(night.norm[:, 0], weights=night.livetime))
    error = float(np.sum(night.norm_err[:, 0] ** -2) ** -0.5)
    assert abs(mean_bins - mean_runs) < 0.3 * error


def test_time_edges_group_whole_observations(joint_on_off, crab_fit):
    # nights: 23523 + 23526 on MJD 53343, 23559 on 53345, 23592 on 53347; an empty bin first
    edges = [53340.0, 53342.0, 53344.0, 53346.0, 53348.0]
    curve = light_curve(joint_on_off, crab_fit, "crab", ENERGY_EDGES, time_edges=edges)
    assert curve.sizes["time"] == 3 and curve.attrs["n_empty_time_bins"] == 1
    np.testing.assert_array_equal(curve.time_lo, edges[1:-1])
    np.testing.assert_array_equal(curve.time_hi, edges[2:])
    assert curve.obs_ids.values.tolist() == ["23523,23526", "23559", "23592"]
    night = joint_on_off.sel(obs_id=[23523, 23526])
    np.testing.assert_allclose(curve.livetime[0], night.livetime.sum(), rtol=1e-12)
    stacked = flux_points(stack_on_off(night), crab_fit, "crab", ENERGY_EDGES)
    np.testing.assert_allclose(curve.norm[0], stacked.norm, rtol=1e-6)
    # the joint fit of the night's runs instead of their stack: nearly the same norm
    joint = light_curve(
        joint_on_off, crab_fit, "crab", ENERGY_EDGES, time_edges=edges, stack_bins=False
    )
    np.testing.assert_allclose(
        joint.norm[0], flux_points(night, crab_fit, "crab", ENERGY_EDGES).norm
    )
    assert abs(float(joint.norm[0, 0] - curve.norm[0, 0])) < 0.2 * float(curve.norm_err[0, 0])
    # astropy Time edges give the same bins
    same = light_curve(
        joint_on_off,
        crab_fit,
        "crab",
        ENERGY_EDGES,
        time_edges=Time(edges, format="mjd", scale="tt").utc,
    )
    np.testing.assert_allclose(same.norm, curve.norm)


def test_observations_across_an_edge_are_left_out_with_a_warning(joint_on_off, crab_fit):
    run_middle = float(0.5 * (joint_on_off.tstart[0] + joint_on_off.tstop[0]))
    cut = MJDREF + run_middle / 86400.0
    with pytest.warns(GammaxrWarning, match=r"\[23523\] cross a time-bin edge"):
        curve = light_curve(
            joint_on_off, crab_fit, "crab", ENERGY_EDGES, time_edges=[53343.0, cut, 53348.0]
        )
    assert curve.obs_ids.values.tolist() == ["23526,23559,23592"]
    assert curve.attrs["n_empty_time_bins"] == 1


# -- simulated constant sources ----------------------------------------------------------


def _bin_dataset(binned, index):
    return binned.isel(time=index).drop_vars(["time", "time_lo", "time_hi"])


def test_simulated_constant_source_on_off_is_constant(ten_minutes):
    """Poisson on and off counts of a steady source in the 10-minute bins: chi2 ~ ndof.

    The source is five times the Crab (50 to 120 counts per bin), so that the norms are
    near Gaussian: with the Crab's 10 to 25 counts, chi2 with curvature errors runs about
    15 % above ndof, as Poisson statistics make it (errors shrink with downward
    fluctuations).
    """
    truth = crab_models(amplitude=2e-10)
    rng = np.random.default_rng(0)
    signal = xr.concat(
        [npred(_bin_dataset(ten_minutes, i), truth) for i in range(ten_minutes.sizes["time"])],
        dim="time",
    )
    alpha = (ten_minutes.acceptance / ten_minutes.acceptance_off).fillna(0.0)
    mu_off = ten_minutes.counts_off.astype(float) + 1.0  # a smooth off expectation
    chi2, ndof, pulls = 0.0, 0, []
    for _ in range(12):
        fake = ten_minutes.assign(
            counts=(ten_minutes.counts.dims, rng.poisson(signal.values + (alpha * mu_off).values)),
            counts_off=(ten_minutes.counts_off.dims, rng.poisson(mu_off.values)),
        )
        curve = light_curve(fake, truth, "crab", ENERGY_EDGES)
        assert curve.success.all()
        c, n = chi2_constant(curve)
        chi2, ndof = chi2 + c, ndof + n
        pulls.append(((curve.norm - 1) / curve.norm_err).values.ravel())
    pulls = np.concatenate(pulls)
    # 72 degrees of freedom: chi2 / ndof = 1 +- 0.17; 84 pulls: mean 0 +- 0.11, std 1 +- 0.08
    assert abs(chi2 / ndof - 1.0) < 3 * np.sqrt(2.0 / ndof), chi2 / ndof
    assert abs(pulls.mean()) < 3 / np.sqrt(pulls.size)
    assert 0.75 < pulls.std() < 1.25


def test_simulated_constant_source_map_and_spectrum_datasets(crab_store):
    """3D map datasets per run and 1D spectrum datasets grouped by night: norms ~ 1."""
    runs = crab_store.observations()
    geom_3d = gx.make_geom(
        gx.energy_axis(1, 10, nbin=3),
        gx.energy_axis(0.5, 20, nbin=6, name="energy_true"),
        sky=gx.sky_grid((83.633, 22.014), width=1.0, binsz=0.05),
    )
    maps = gx.concat_observations([gx.make_map_dataset(o, geom_3d) for o in runs])
    spectra = gx.concat_observations([make_spectrum_dataset(o, REGION, GEOM_1D) for o in runs])
    rng = np.random.default_rng(1)
    for joint, truth, edges, repeats in (
        (maps, crab_models(spatial=True), None, 2),
        (spectra, crab_models(), [53343.0, 53344.0, 53348.0], 6),
    ):
        expected = npred(joint, truth)
        chi2, ndof, norms, errors = 0.0, 0, [], []
        for _ in range(repeats):
            fake = joint.assign(counts=(joint.counts.dims, rng.poisson(expected.values)))
            curve = light_curve(fake, truth, "crab", ENERGY_EDGES, time_edges=edges)
            assert curve.sizes["time"] == (4 if edges is None else 2)
            assert curve.success.all()
            c, n = chi2_constant(curve)
            chi2, ndof = chi2 + c, ndof + n
            norms.append(curve.norm.values.ravel())
            errors.append(curve.norm_err.values.ravel())
        pulls = (np.concatenate(norms) - 1) / np.concatenate(errors)
        assert abs(pulls.mean()) < 3 / np.sqrt(pulls.size), pulls
        assert scipy.stats.chi2.sf(chi2, ndof) > 1e-3, (chi2, ndof)


# -- single datasets, products, errors ------------------------------------------------------


def test_single_dataset_is_one_bin_and_round_trips(per_run, crab_fit, crab_store, tmp_path):
    one = make_on_off_spectrum(crab_store.observation(23559), REGION, GEOM_1D)
    curve = light_curve(one, crab_fit, "crab", ENERGY_EDGES)
    assert curve.sizes["time"] == 1
    assert curve.obs_ids.values.tolist() == ["23559"]
    np.testing.assert_allclose(curve.livetime, one.attrs["livetime"])
    np.testing.assert_allclose(curve.norm.values[0], per_run.norm.values[2], rtol=1e-6)
    np.testing.assert_allclose(curve.time_lo.values[0], per_run.time_lo.values[2])
    path = tmp_path / "lc.nc"
    per_run.to_netcdf(path)
    with xr.open_dataset(path) as back:
        xr.testing.assert_identical(back.load(), per_run)


def test_bad_input_raises(joint_on_off, crab_fit, ten_minutes):
    with pytest.raises(ConfigError, match="already binned in time"):
        light_curve(ten_minutes, crab_fit, "crab", ENERGY_EDGES, time_edges=[53343.0, 53344.0])
    with pytest.raises(DimensionError, match="both"):
        light_curve(ten_minutes.expand_dims(obs_id=[1]), crab_fit, "crab", ENERGY_EDGES)
    with pytest.raises(FormatError, match="'tstart'"):
        light_curve(joint_on_off.drop_vars("tstart"), crab_fit, "crab", ENERGY_EDGES)
    no_reference = joint_on_off.copy()
    del no_reference.attrs["mjdref"]
    with pytest.raises(FormatError, match="mjdref"):
        light_curve(no_reference, crab_fit, "crab", ENERGY_EDGES)
    for edges in ([53343.0], [53344.0, 53343.0], [[53343.0, 53344.0]], "soon"):
        with pytest.raises(ConfigError, match="time_edges"):
            light_curve(joint_on_off, crab_fit, "crab", ENERGY_EDGES, time_edges=edges)
    with pytest.raises(ConfigError, match="Dataset"):
        light_curve([joint_on_off], crab_fit, "crab", ENERGY_EDGES)
    store = gx.open_datastore()
    with pytest.raises(ConfigError, match="callable"):
        reduce_time_bins(store, [53343.0, 53344.0], "make_on_off_spectrum")
    with pytest.raises(ConfigError, match="no observations"):
        reduce_time_bins([], [53343.0, 53344.0], len)
    with pytest.raises(ConfigError, match="overlaps any time bin"):
        reduce_time_bins(store, [50000.0, 50001.0], len)


def test_bin_without_safe_energy_bins_is_nan_and_flagged(joint_on_off, crab_fit):
    masked = joint_on_off.copy(deep=True)
    masked["mask_safe"].loc[{"obs_id": 23526}] = False
    curve = light_curve(masked, crab_fit, "crab", ENERGY_EDGES)
    assert curve.sizes["time"] == 4
    assert curve.success.values[:, 0].tolist() == [True, False, True, True]
    assert np.isnan(curve.norm.values[1, 0]) and np.isnan(curve.ts.values[1, 0])
    assert curve.livetime.values[1] == 0.0 and curve.counts.values[1, 0] == 0


def test_map_datasets_in_time_bins_add_up_to_the_run(crab_store):
    """reduce_time_bins with make_map_dataset: pieces of one run sum to the run's dataset."""
    obs = crab_store.observation(23523)
    geom = gx.make_geom(
        gx.energy_axis(1, 10, nbin=3),
        gx.energy_axis(0.5, 20, nbin=6, name="energy_true"),
        sky=gx.sky_grid((83.633, 22.014), width=1.0, binsz=0.05),
    )
    start = Time(obs.events.attrs["time_start"], scale="utc")
    reduce = functools.partial(gx.make_map_dataset, geom=geom)
    binned = reduce_time_bins([obs], start + np.arange(4) * 10 * u.min, reduce)
    full = gx.make_map_dataset(obs, geom)
    np.testing.assert_allclose(binned.ontime, [600.0, 600.0, 487.0], atol=1e-3)
    np.testing.assert_array_equal(binned.counts.sum("time"), full.counts)
    # exposure scales with the live time; the background with the on time (its AltAz
    # field-of-view frame moves with each piece's mid time, a 1e-3 effect here)
    np.testing.assert_allclose(binned.exposure.sum("time"), full.exposure, rtol=1e-5)
    np.testing.assert_allclose(binned.background.sum(), full.background.sum(), rtol=1e-2)
    models = crab_models(spatial=True)
    curve = light_curve(binned, models, "crab", ENERGY_EDGES)
    assert curve.sizes["time"] == 3 and curve.success.all()
    assert np.all(np.abs(curve.norm - 1) < 3 * curve.norm_err)


# -- the batched fast path ---------------------------------------------------------------

POINT_OUTPUTS = ("norm", "norm_err", "norm_errn", "norm_errp", "norm_ul", "ts", "counts",
                 "npred", "npred_excess", "stat", "stat_null")  # fmt: skip


@pytest.fixture(scope="module")
def joint_maps(crab_store):
    """The four runs as 3D map datasets (1 x 1 deg at 0.05 deg), faked from a Gaussian."""
    geom = gx.make_geom(
        gx.energy_axis(1, 10, nbin=3),
        gx.energy_axis(0.5, 20, nbin=6, name="energy_true"),
        sky=gx.sky_grid((83.633, 22.014), width=1.0, binsz=0.05),
    )
    joint = gx.concat_observations(
        [gx.make_map_dataset(o, geom) for o in crab_store.observations()]
    )
    expected = npred(joint, gaussian_models())
    counts = np.random.default_rng(7).poisson(expected.values)
    return joint.assign(counts=(joint.counts.dims, counts))


def gaussian_models():
    spectral = PowerLawSpectralModel(index=2.6, amplitude=4e-11)
    shape = GaussianSpatialModel(lon_0=83.65, lat_0=22.0, sigma=0.15)
    return Models([SkyModel(spectral, shape, name="crab")])


def test_batched_points_are_each_bins_own_flux_points(joint_maps):
    """One fit_norm call for all bins gives each bin's own flux points (to rounding).

    An extended source is folded with an FFT convolution, whose round-off leaves signal
    values of about -1e-16; most map bins have no counts, which the batched path merges.
    """
    models = gaussian_models()
    curve = light_curve(joint_maps, models, "crab", [1.0, 2.15, 10.0], scan=[0.0, 1.0, 2.0])
    assert dict(curve.sizes) == {"time": 4, "energy": 2, "norm_scan": 3}
    assert curve.success.all()
    for i, obs_id in enumerate(joint_maps.obs_id.values):
        alone = joint_maps.sel(obs_id=obs_id).drop_vars("obs_id")
        point = flux_points(alone, models, "crab", [1.0, 2.15, 10.0], scan=[0.0, 1.0, 2.0])
        for name in (*POINT_OUTPUTS, "stat_scan"):
            np.testing.assert_allclose(curve[name][i], point[name], rtol=1e-9, err_msg=name)
    for name in ("ref_flux", "ref_dnde"):
        np.testing.assert_array_equal(curve[name], np.broadcast_to(point[name], (4, 2)))


def test_batched_time_bins_of_different_widths(joint_maps):
    """Bins from a time-binned dataset, one with a smaller safe region: padded, then solved."""
    binned = joint_maps.rename(obs_id="time").drop_vars(["tstart", "tstop", "livetime"])
    mjd = 53343.0 + np.arange(5)
    binned = binned.assign_coords(
        time=("time", 0.5 * (mjd[:-1] + mjd[1:])), time_lo=("time", mjd[:-1]),
        time_hi=("time", mjd[1:]),
    )  # fmt: skip
    inner = (np.abs(binned.lon - 83.633) < 0.2) & (np.abs(binned.lat - 22.014) < 0.2)
    binned["mask_safe"] = binned.mask_safe & (inner | (binned.time != binned.time[1]))
    models = gaussian_models()
    curve = light_curve(binned, models, "crab", [1.0, 10.0])
    assert curve.success.all()
    for i in range(4):
        one = binned.isel(time=i).drop_vars(["time", "time_lo", "time_hi"])
        point = flux_points(one, models, "crab", [1.0, 10.0])
        for name in POINT_OUTPUTS:
            np.testing.assert_allclose(curve[name][i], point[name], rtol=1e-9, err_msg=name)
    # the masked bin saw fewer counts
    assert curve.counts[1, 0] < 0.5 * curve.counts[0, 0]


def test_merging_bins_without_counts_keeps_the_fit():
    """Cash bins without counts merged into one: same fits, errors, limits and domain."""
    rng = np.random.default_rng(3)
    shape = (3, 2, 400)  # (time, energy group, bins)
    signal = rng.uniform(0.0, 0.05, shape)
    signal[..., ::7] = 0.0
    background = rng.uniform(0.01, 0.5, shape)
    counts = rng.poisson(0.6 * signal + background).astype(float)
    counts[2, 1] = 0.0  # no counts at all: the minimum sits on the domain bound
    mask = rng.uniform(size=shape) > 0.1
    inputs = {
        "onoff": False,
        "arrays": {"n": counts, "s": signal, "b": background, "m": mask.astype(float)},
        "totals": {key: np.zeros(shape[:2]) for key in ("counts", "signal", "background")},
    }
    scan = np.linspace(-1.0, 3.0, 5)
    plain = _solve_fast(inputs, 1.0, 2.0, scan)
    merged = _solve_fast(inputs, 1.0, 2.0, scan, compress=True)
    compressed = _compress_cash(inputs["arrays"])
    assert compressed["n"].shape[-1] < shape[-1] / 2
    for name in (*POINT_OUTPUTS, "stat_scan"):
        np.testing.assert_allclose(merged[name], plain[name], rtol=1e-9, atol=1e-12,
                                   err_msg=name)  # fmt: skip
    np.testing.assert_array_equal(merged["success"], plain["success"])
    # the empty group: the norm on the domain bound, -max(b / s) over its bins with signal
    with_signal = mask[2, 1] & (signal[2, 1] > 0)
    bound = -np.min(background[2, 1][with_signal] / signal[2, 1][with_signal])
    np.testing.assert_allclose(merged["norm"][2, 1], bound, rtol=1e-12)
    assert np.isnan(merged["norm_errn"][2, 1]) and np.isnan(plain["norm_errn"][2, 1])


def test_signal_round_off_below_zero_counts_as_zero(joint_maps, monkeypatch):
    """An FFT convolution leaves values of about -1e-16 where a folded source is ~0."""
    # the module (gammaxr.models.npred, as an attribute, is the function npred)
    npred_module = importlib.import_module("gammaxr.models.npred")
    fold = npred_module.fold
    models = gaussian_models()
    faint = fold(joint_maps, models["crab"]).quantile(0.2)

    def rounded(value):
        def folded(ds, model, **kwargs):
            signal = fold(ds, model, **kwargs)
            return signal.where(signal > faint, value)

        return folded

    curves = []
    for value in (-1e-16, 0.0):
        monkeypatch.setattr(npred_module, "fold", rounded(value))
        curves.append(light_curve(joint_maps, models, "crab", [1.0, 10.0]))
    xr.testing.assert_identical(*curves)
    assert curves[0].success.all()
