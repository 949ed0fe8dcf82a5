"""Flux points: simulated spectra with a known truth, the two fit paths, and the Crab runs."""

import astropy.units as u
import numpy as np
import pytest
import xarray as xr
from astropy.coordinates import SkyCoord
from regions import CircleSkyRegion

import gammaxr as gx
from gammaxr.estimators import flux_points, sed_quantities
from gammaxr.exceptions import ConfigError, GeometryError
from gammaxr.fit import ts_source
from gammaxr.models import (
    FoVBackgroundModel,
    Models,
    Parameter,
    PointSpatialModel,
    PowerLawSpectralModel,
    SkyModel,
)
from gammaxr.models.spectral import ScaleSpectralModel

TRUE = PowerLawSpectralModel(index=2.5, amplitude=4e-11)
EDGES = np.geomspace(0.5, 50, 21)  # 20 reco bins, 10 per decade
FP_EDGES = EDGES[::4]  # 5 flux points of 4 bins each


def spectrum(rng, *, exposure=2e8, bkg=5.0, bkg_index=1.5, name="sim", n_obs=None):
    """A spectrum dataset (diagonal response), Poisson counts of the true power law."""
    energy = gx.axis_from_edges(EDGES, name="energy", units="TeV", interp="log")
    energy_true = gx.axis_from_edges(EDGES, name="energy_true", units="TeV", interp="log")
    lo, hi = EDGES[:-1], EDGES[1:]
    signal = TRUE.integral(lo, hi) * exposure * 1e4
    background = bkg * (energy.values / 0.5) ** -bkg_index
    shape = (energy.size,) if n_obs is None else (n_obs, energy.size)
    counts = rng.poisson(np.broadcast_to(signal + background, shape))
    dims = ("energy",) if n_obs is None else ("obs_id", "energy")
    coords = {**energy.coords, **energy_true.coords}
    if n_obs is not None:
        coords["obs_id"] = ("obs_id", np.arange(1, n_obs + 1))
    return xr.Dataset(
        {
            "counts": (dims, counts),
            "background": (dims, np.broadcast_to(background, shape).copy(), {"units": ""}),
            "exposure": ("energy_true", np.full(energy.size, exposure), {"units": "m2 s"}),
        },
        coords=coords,
        attrs={"name": name},
    )


def source_models(spectral=TRUE):
    return Models([SkyModel(spectral, name="src")])


def on_off(rng, *, alpha=0.2, exposure=2e8):
    ds = spectrum(rng, exposure=exposure, bkg=0.0, name="onoff")
    background = 8.0 * (ds.energy.values / 0.5) ** -1.5
    signal = TRUE.integral(EDGES[:-1], EDGES[1:]) * exposure * 1e4
    ones = np.ones(ds.sizes["energy"])
    return ds.drop_vars("background").assign(
        counts=("energy", rng.poisson(signal + background)),
        counts_off=("energy", rng.poisson(background / alpha)),
        acceptance=("energy", ones),
        acceptance_off=("energy", ones / alpha),
    )


# -- simulations with a known truth ----------------------------------------------------


def test_norms_of_simulated_spectra_are_unbiased_with_unit_pulls():
    rng = np.random.default_rng(1)
    pulls, pulls_asym = [], []
    for _ in range(40):
        fp = flux_points(spectrum(rng, exposure=1e9), source_models(), "src", FP_EDGES[:-1])
        assert fp.success.all()
        norm = fp.norm.values
        pulls.append((norm - 1) / fp.norm_err.values)
        err = np.where(norm > 1, fp.norm_errn.values, fp.norm_errp.values)
        pulls_asym.append((norm - 1) / err)
    pulls, pulls_asym = np.concatenate(pulls), np.concatenate(pulls_asym)
    # 160 pulls (>= 9 signal counts per point): standard errors 0.08 (mean), 0.06 (spread)
    assert abs(pulls.mean()) < 0.25 and 0.8 < pulls.std() < 1.2
    assert abs(pulls_asym.mean()) < 0.25 and 0.8 < pulls_asym.std() < 1.2


def test_output_schema_and_reference_quantities():
    fp = flux_points(spectrum(np.random.default_rng(2)), source_models(), "src", FP_EDGES)
    assert fp.norm.dims == ("energy",) and fp.sizes["energy"] == 5
    np.testing.assert_allclose(fp.energy_lo, FP_EDGES[:-1])
    np.testing.assert_allclose(fp.energy_hi, FP_EDGES[1:])
    np.testing.assert_allclose(fp.energy, np.sqrt(FP_EDGES[:-1] * FP_EDGES[1:]))
    e, lo, hi = fp.energy.values, fp.energy_lo.values, fp.energy_hi.values
    np.testing.assert_allclose(fp.ref_dnde, 4e-11 * e**-2.5, rtol=1e-12)
    np.testing.assert_allclose(fp.ref_e2dnde, 4e-11 * e**-0.5, rtol=1e-12)
    np.testing.assert_allclose(fp.ref_flux, 4e-11 * (lo**-1.5 - hi**-1.5) / 1.5, rtol=1e-10)
    np.testing.assert_allclose(fp.ref_eflux, 4e-11 * (lo**-0.5 - hi**-0.5) / 0.5, rtol=1e-10)
    assert fp.ref_dnde.attrs["units"] == "cm-2 s-1 TeV-1"
    assert fp.attrs["sed_type_init"] == "likelihood" and fp.attrs["source"] == "src"
    back = gx.read_models(fp.attrs["reference_model"])
    assert back["src"].spectral == TRUE
    np.testing.assert_allclose(fp.sqrt_ts, np.sign(fp.norm) * np.sqrt(fp.ts))
    # counts over the fitted bins; npred at the best fit = background + excess
    ds = spectrum(np.random.default_rng(2))
    np.testing.assert_allclose(fp.counts, ds.counts.values.reshape(5, 4).sum(axis=1))
    bkg = ds.background.values.reshape(5, 4).sum(axis=1)
    np.testing.assert_allclose(fp.npred - fp.npred_excess, bkg, rtol=1e-12)
    for name in ("norm", "ts", "norm_ul", "success", "stat", "stat_null"):
        assert name in fp


def test_ts_matches_a_general_source_refit_in_one_bin():
    ds = spectrum(np.random.default_rng(3), exposure=2e7)  # a faint source
    fp = flux_points(ds, source_models(), "src", FP_EDGES)
    for g in (1, 2):
        assert fp.norm[g] > 0
        in_bin = (ds.energy > FP_EDGES[g]) & (ds.energy < FP_EDGES[g + 1])
        one_bin = ds.assign(mask_fit=in_bin)
        bounded = Parameter("norm", 1.0, min=0.0)  # the fit keeps away from mu <= 0
        scaled = Models([SkyModel(ScaleSpectralModel(TRUE, norm=bounded), name="src")])
        expected = ts_source(one_bin, scaled, "src")
        assert fp.ts.values[g] == pytest.approx(expected, rel=1e-5, abs=1e-6)


def test_fast_path_agrees_with_the_general_fitter():
    ds = spectrum(np.random.default_rng(4), exposure=5e7)
    scan = np.linspace(0.0, 3.0, 13)
    # points with counts: an empty bin has no curvature, and in the 4th (one count) the
    # lower crossing of fit_norm starts on its domain bound (a known issue, see the report)
    edges = FP_EDGES[:-2]
    fast = flux_points(ds, source_models(), "src", edges, scan=scan, n_sigma_ul=3)
    general = flux_points(
        ds, source_models(), "src", edges, scan=scan, n_sigma_ul=3, reoptimize=True
    )
    assert general.success.all()
    for name in ("norm", "norm_err", "norm_errn", "norm_errp", "norm_ul"):
        np.testing.assert_allclose(fast[name], general[name], rtol=2e-3, err_msg=name)
    for name in ("ts", "counts", "npred", "npred_excess"):
        np.testing.assert_allclose(fast[name], general[name], rtol=1e-4, err_msg=name)
    # the scans agree up to each bin's constant
    fast_rise = fast.stat_scan - fast.stat
    general_rise = general.stat_scan - general.stat
    np.testing.assert_allclose(fast_rise, general_rise, rtol=1e-4, atol=1e-4)
    # the scan's minimum is at the fitted norm
    best = scan[fast.stat_scan.argmin("norm_scan").values]
    assert np.all(np.abs(best - fast.norm.values) <= 0.125 + 1e-9)


def test_reoptimize_refits_a_free_background_norm():
    rng = np.random.default_rng(5)
    # source counts per bin fall as E^-1.5, the background's as E^-0.5: a fit tells them apart
    ds = spectrum(rng, exposure=1e9, bkg=100.0, bkg_index=0.5)
    ds = ds.assign(background=ds.background * 1.3)  # the true background is 1.3 x lower
    models = source_models() + [FoVBackgroundModel("sim")]
    edges = FP_EDGES[:3]
    frozen = flux_points(ds, models, "src", edges)
    refit = flux_points(ds, models, "src", edges, reoptimize=True)
    assert refit.success.all()
    # the same fit done by hand: the source as a scaled reference, the background norm free
    scaled = Models([SkyModel(ScaleSpectralModel(TRUE), name="src"), FoVBackgroundModel("sim")])
    for g in range(2):
        in_bin = (ds.energy > edges[g]) & (ds.energy < edges[g + 1])
        result = gx.fit(ds.assign(mask_fit=in_bin), scaled)
        row = result.parameters.loc["src.spectral.norm"]
        assert refit.norm[g] == pytest.approx(row["value"], abs=0.05 * row["error"])
        assert refit.norm_err[g] == pytest.approx(row["error"], rel=1e-2)
        # with the background fixed 30 % too high, the fixed-background norm is lower
        assert result.parameters.loc["sim-bkg.spectral.norm", "value"] < 0.9
        assert frozen.norm[g] < refit.norm[g]


def test_on_off_datasets_use_wstat_with_unit_pulls_and_both_paths_agree():
    rng = np.random.default_rng(6)
    pulls = []
    # enough counts in every point: a point without any on count has no WStat minimum
    # (the norm runs to -inf, and fit_norm warns; see the report)
    for _ in range(30):
        fp = flux_points(on_off(rng, exposure=1e9), source_models(), "src", FP_EDGES[:-1])
        pulls.append((fp.norm.values - 1) / fp.norm_err.values)
    pulls = np.concatenate(pulls)
    assert abs(pulls.mean()) < 0.3 and 0.75 < pulls.std() < 1.25
    ds = on_off(rng, exposure=1e8)
    fast = flux_points(ds, source_models(), "src", FP_EDGES[:-2])
    general = flux_points(ds, source_models(), "src", FP_EDGES[:-2], reoptimize=True)
    for name in ("norm", "norm_err", "norm_errp", "norm_ul"):
        np.testing.assert_allclose(fast[name], general[name], rtol=3e-3, err_msg=name)
    # the general path's lower crossing can fail where WStat has no profile for a
    # negative signal (NaN); where it exists it agrees
    found = np.isfinite(general.norm_errn.values)
    assert found.sum() >= 2 and np.isfinite(fast.norm_errn).all()
    np.testing.assert_allclose(fast.norm_errn[found], general.norm_errn[found], rtol=3e-3)
    for name in ("ts", "counts", "npred", "npred_excess"):
        np.testing.assert_allclose(fast[name], general[name], rtol=1e-3, err_msg=name)


def test_joint_form_equals_a_list_of_datasets_and_is_close_to_stacked():
    joint = spectrum(np.random.default_rng(7), n_obs=3, exposure=3e7)
    singles = [
        joint.sel(obs_id=i).drop_vars("obs_id").assign_attrs(name=f"obs{i}") for i in (1, 2, 3)
    ]
    fp_joint = flux_points(joint, source_models(), "src", FP_EDGES)
    fp_list = flux_points(singles, source_models(), "src", FP_EDGES)
    for name in ("norm", "norm_err", "norm_ul", "ts", "counts", "npred"):
        np.testing.assert_allclose(fp_joint[name], fp_list[name], rtol=1e-9, err_msg=name)
    stacked = joint.sum("obs_id").assign(exposure=joint.exposure * 3)
    fp_stacked = flux_points(stacked, source_models(), "src", FP_EDGES)
    # same counts and prediction summed: the Cash fit of a stack is the same here
    np.testing.assert_allclose(fp_stacked.counts, fp_joint.counts)
    np.testing.assert_allclose(fp_stacked.norm, fp_joint.norm, rtol=0.02)


def test_edges_snap_to_the_nearest_dataset_edges():
    ds = spectrum(np.random.default_rng(8))
    requested = FP_EDGES * np.array([1.03, 0.97, 1.05, 0.96, 1.02, 0.99])
    fp = flux_points(ds, source_models(), "src", requested)
    np.testing.assert_allclose(fp.energy_lo, FP_EDGES[:-1])
    np.testing.assert_allclose(fp.energy_hi, FP_EDGES[1:])
    ref = flux_points(ds, source_models(), "src", FP_EDGES)
    np.testing.assert_allclose(fp.norm, ref.norm)
    with pytest.raises(GeometryError, match="hold no reconstructed-energy bin"):
        flux_points(ds, source_models(), "src", [0.5, 0.51, 5.0])
    with pytest.raises(GeometryError, match="increasing positive"):
        flux_points(ds, source_models(), "src", [1.0, 0.5])
    fp_quantity = flux_points(ds, source_models(), "src", FP_EDGES * 1e3 * u.GeV)
    np.testing.assert_allclose(fp_quantity.norm, ref.norm)


def test_bad_input_raises_clear_errors():
    ds = spectrum(np.random.default_rng(9))
    with pytest.raises(ConfigError, match="no sky model 'crab'"):
        flux_points(ds, source_models(), "crab", FP_EDGES)
    with pytest.raises(ConfigError, match="n_sigma_ul"):
        flux_points(ds, source_models(), "src", FP_EDGES, n_sigma_ul=-1)
    with pytest.raises(ConfigError, match="scan"):
        flux_points(ds, source_models(), "src", FP_EDGES, scan=[1.0, 0.5])
    with pytest.raises(ConfigError, match="reoptimize=True"):
        flux_points([ds, on_off(np.random.default_rng(1))], source_models(), "src", FP_EDGES)
    with pytest.raises(ConfigError, match="no datasets"):
        flux_points([], source_models(), "src", FP_EDGES)


def test_sed_quantities_and_the_accessor():
    fp = flux_points(spectrum(np.random.default_rng(10)), source_models(), "src", FP_EDGES)
    for sed_type, ref in (
        ("dnde", "ref_dnde"), ("e2dnde", "ref_e2dnde"), ("flux", "ref_flux"),
        ("eflux", "ref_eflux"),
    ):  # fmt: skip
        sed = fp.gp.sed(sed_type)
        xr.testing.assert_identical(sed, sed_quantities(fp, sed_type))
        np.testing.assert_allclose(sed[sed_type], fp.norm * fp[ref], rtol=1e-12)
        np.testing.assert_allclose(sed[f"{sed_type}_ul"], fp.norm_ul * fp[ref], rtol=1e-12)
        np.testing.assert_allclose(sed[f"{sed_type}_errn"], fp.norm_errn * fp[ref], rtol=1e-12)
    # e2dnde without the stored reference: from ref_dnde and the energy
    derived = sed_quantities(fp.drop_vars("ref_e2dnde"), "e2dnde")
    np.testing.assert_allclose(derived.e2dnde, fp.gp.sed("e2dnde").e2dnde, rtol=1e-12)
    xr.testing.assert_identical(sed_quantities(fp, "likelihood").norm, fp.norm)
    with pytest.raises(ConfigError, match="sed_type"):
        sed_quantities(fp, "nufnu")


# -- the shipped Crab runs ---------------------------------------------------------------


def _chi2_against_model(fp):
    pulls = (fp.norm - 1) / fp.norm_err
    return float((pulls**2).sum()), int(fp.sizes["energy"])


def test_crab_on_off_flux_points_agree_with_the_fitted_power_law(crab_store):
    from gammaxr.fit.wstat import stack_on_off
    from gammaxr.reduce import make_on_off_spectrum

    crab = SkyCoord(83.633, 22.014, unit="deg")
    geom = gx.make_geom(
        gx.energy_axis(0.5, 50, per_decade=8),
        gx.energy_axis(0.3, 100, per_decade=10, name="energy_true"),
    )
    region = CircleSkyRegion(crab, 0.11 * u.deg)
    spectra = [make_on_off_spectrum(o, region, geom) for o in crab_store.observations()]
    stacked = stack_on_off(gx.concat_observations(spectra)).assign_attrs(name="crab")
    start = Models([SkyModel(PowerLawSpectralModel(index=2.5, amplitude=3e-11), name="crab")])
    result = gx.fit(stacked, start)
    edges = np.geomspace(0.5, 50, 9)[:7]  # up to ~16 TeV, 2 reco bins per point
    fp = flux_points(stacked, result.models, "crab", edges)
    chi2, n = _chi2_against_model(fp)
    assert fp.success.all()
    assert chi2 < 3 * n  # consistent with the fitted model within errors
    assert np.all(fp.sqrt_ts[:4] > 5)  # the Crab is bright below ~5 TeV
    # the joint form: one norm per point for the four runs, WStat summed over them
    joint = gx.concat_observations(spectra).assign_attrs(name="crab")
    fp_joint = flux_points(joint, result.models, "crab", edges)
    np.testing.assert_allclose(fp_joint.counts, fp.counts)
    assert np.all(np.abs(fp_joint.norm - fp.norm) < 0.3 * fp.norm_err)


def test_crab_map_flux_points_agree_with_the_fitted_power_law(crab_store):
    from gammaxr.reduce import fit_fov_background

    crab = SkyCoord(83.633, 22.014, unit="deg")
    geom = gx.make_geom(
        gx.energy_axis(0.5, 50, per_decade=4),
        gx.energy_axis(0.3, 100, per_decade=6, name="energy_true"),
        sky=gx.sky_grid(crab, width=2, binsz=0.04),
    )
    exclusion = gx.region_mask(CircleSkyRegion(crab, 0.3 * u.deg), geom)
    datasets = []
    for obs in crab_store.observations():
        ds = gx.make_map_dataset(obs, geom, safe_mask=["aeff-default", "offset-max"])
        ds = fit_fov_background(ds, exclusion)
        datasets.append(ds.drop_vars(["background_norm", "background_tilt", "background_fit_ok"]))
    stacked = gx.concat_observations(datasets).gp.stack().assign_attrs(name="stacked")
    models = Models([
        SkyModel(PowerLawSpectralModel(index=2.6, amplitude=3.8e-11),
                 PointSpatialModel(lon_0=83.633, lat_0=22.014), name="crab"),
        FoVBackgroundModel("stacked"),
    ])  # fmt: skip
    result = gx.fit(stacked, models)
    assert result.success
    # the safe mask cuts the 0.5-0.89 TeV bin: there the point is NaN, success False
    fp = flux_points(stacked, result.models, "crab", np.geomspace(0.5, 50, 9)[:7])
    assert not fp.success[0] and np.isnan(fp.norm[0]) and fp.counts[0] == 0
    fp = fp.isel(energy=slice(1, None))
    chi2, n = _chi2_against_model(fp)
    assert fp.success.all()
    assert chi2 < 3 * n
    assert np.all(fp.sqrt_ts[:3] > 5)
    joint = gx.concat_observations(datasets).assign_attrs(name="stacked")
    fp_joint = flux_points(joint, result.models, "crab", np.geomspace(0.5, 50, 9)[1:7])
    # (stacking keeps a run's counts only where that run is safe: a few counts differ)
    np.testing.assert_allclose(fp_joint.counts, fp.counts, rtol=0.02)
    assert np.all(np.abs(fp_joint.norm - fp.norm) < 0.3 * fp.norm_err)
