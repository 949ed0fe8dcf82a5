"""Excess maps: disk sums, Cash and Li & Ma significances, errors, fluxes, ring backgrounds."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import gammaxr as gx
from gammaxr.estimators import excess_map, significance, significance_cash
from gammaxr.exceptions import ConfigError, DimensionError
from gammaxr.fit.statistics import deviance_terms
from gammaxr.fit.wstat import wstat
from gammaxr.models import Models, PointSpatialModel, PowerLawSpectralModel, SkyModel
from gammaxr.models.npred import npred
from gammaxr.reduce import make_ring_background

CENTRE = (40.0, 0.3)
BINSZ = 0.05
RADIUS = 0.13  # between pixel distances 0.1118 and 0.1414 deg: no centre on the edge
SAMPLES = [(0, 0), (3, 17), (12, 12), (23, 2), (24, 24), (7, 20)]


def make_dataset(*, rng=0, on_off=False) -> xr.Dataset:
    energy = gx.energy_axis(0.5, 50, nbin=3)
    sky = gx.sky_grid(CENTRE, width=1.25, binsz=BINSZ)
    geom = gx.make_geom(energy, gx.energy_axis(0.5, 50, nbin=3, name="energy_true"), sky=sky)
    rng = np.random.default_rng(rng)
    shape = (3, sky.lat.size, sky.lon.size)
    background = np.broadcast_to(np.array([2.0, 0.8, 0.2])[:, None, None], shape).copy()
    counts = rng.poisson(background).astype(float)
    variables = {
        "counts": (("energy", "lat", "lon"), counts, {"units": ""}),
        "background": (("energy", "lat", "lon"), background, {"units": ""}),
        "exposure": (("energy_true", "lat", "lon"), np.full(shape, 1e6), {"units": "m2 s"}),
    }
    if on_off:
        acceptance_off = rng.uniform(5, 15, shape)
        variables["acceptance"] = (("energy", "lat", "lon"), rng.uniform(0.5, 1.5, shape),
                                   {"units": ""})  # fmt: skip
        variables["acceptance_off"] = (("energy", "lat", "lon"), acceptance_off, {"units": ""})
        variables["counts_off"] = (
            ("energy", "lat", "lon"),
            rng.poisson(10 * background).astype(float),
            {"units": ""},
        )
    return xr.Dataset(variables, coords=geom.coords, attrs={"frame": "icrs", "name": "sim"})


def disk_sum(image: np.ndarray, ds: xr.Dataset, i: int, j: int) -> float:
    """Sum of ``image`` over the pixels whose centre is within RADIUS of pixel (i, j)."""
    lon, lat = np.meshgrid(ds.lon.values, ds.lat.values)
    lon0, lat0 = np.deg2rad(ds.lon.values[j]), np.deg2rad(ds.lat.values[i])
    lon, lat = np.deg2rad(lon), np.deg2rad(lat)
    cos_d = np.sin(lat) * np.sin(lat0) + np.cos(lat) * np.cos(lat0) * np.cos(lon - lon0)
    inside = np.rad2deg(np.arccos(np.clip(cos_d, -1, 1))) <= RADIUS
    return float(image[inside].sum())


def test_cash_counts_are_disk_sums_and_the_significance_is_cash():
    ds = make_dataset()
    maps = excess_map(ds, correlation_radius=RADIUS)
    assert maps.attrs["statistic"] == "cash"
    counts, background = ds.counts.sum("energy").values, ds.background.sum("energy").values
    for i, j in SAMPLES:
        n, mu = disk_sum(counts, ds, i, j), disk_sum(background, ds, i, j)
        assert float(maps.counts[i, j]) == n
        assert float(maps.background[i, j]) == pytest.approx(mu, rel=1e-10)
        assert float(maps.excess[i, j]) == pytest.approx(n - mu, rel=1e-7, abs=1e-7)
        assert float(maps.sqrt_ts[i, j]) == pytest.approx(significance_cash(n, mu), rel=1e-7)
        assert float(maps.excess_err[i, j]) == pytest.approx(np.sqrt(n), rel=1e-6)
        # the upper limit: the Cash statistic 4 above its minimum (which is 0)
        ul = float(maps.excess_ul[i, j])
        assert float(deviance_terms(n, mu + ul)) == pytest.approx(4.0, rel=1e-6)
        for name, rise in (("excess_errn", -1), ("excess_errp", +1)):
            step = float(maps[name][i, j])
            assert float(deviance_terms(n, n + rise * step)) == pytest.approx(1.0, rel=1e-6)


def test_wstat_is_li_and_ma_of_the_correlated_on_off_counts():
    ds = make_dataset(on_off=True)
    maps = excess_map(ds, correlation_radius=RADIUS)
    assert maps.attrs["statistic"] == "wstat"
    on = ds.counts.sum("energy").values
    off = ds.counts_off.sum("energy").values
    alpha = (ds.acceptance / ds.acceptance_off).values
    scaled_off = (alpha * ds.counts_off.values).sum(axis=0)
    for i, j in SAMPLES:
        n_on, n_off = disk_sum(on, ds, i, j), disk_sum(off, ds, i, j)
        a = disk_sum(scaled_off, ds, i, j) / n_off
        assert float(maps.counts[i, j]) == n_on and float(maps.counts_off[i, j]) == n_off
        assert float(maps.alpha[i, j]) == pytest.approx(a, rel=1e-9)
        assert float(maps.excess[i, j]) == pytest.approx(n_on - a * n_off, rel=1e-6, abs=1e-6)
        assert float(maps.sqrt_ts[i, j]) == pytest.approx(significance(n_on, n_off, a), rel=1e-6)
        ul = float(maps.excess_ul[i, j])
        assert float(wstat(n_on, n_off, a, ul)) == pytest.approx(4, rel=1e-5)


def test_wstat_without_correlating_the_off_counts():
    ds = make_dataset(on_off=True)
    maps = excess_map(ds, correlation_radius=RADIUS, correlate_off=False)
    on = ds.counts.sum("energy").values
    off = ds.counts_off.sum("energy").values
    acceptance = ds.acceptance.sum("energy").values
    acceptance_off = ds.acceptance_off.sum("energy").values
    for i, j in SAMPLES:
        n_on = disk_sum(on, ds, i, j)
        a = disk_sum(acceptance, ds, i, j) / acceptance_off[i, j]
        assert float(maps.counts_off[i, j]) == off[i, j]
        assert float(maps.alpha[i, j]) == pytest.approx(a, rel=1e-9)
        assert float(maps.sqrt_ts[i, j]) == pytest.approx(
            significance(n_on, off[i, j], a), rel=1e-6
        )


def test_flux_is_the_excess_over_the_reference_counts():
    ds = make_dataset()
    maps = excess_map(ds, correlation_radius=RADIUS)
    # no edisp, equal axes: counts per unit norm = exposure x the model's integral per bin
    model = PowerLawSpectralModel(index=2.0)
    edges = np.geomspace(0.5, 50, 4)
    per_norm = 1e10 * model.integral(edges[:-1], edges[1:]).sum()  # 1e6 m2 s in cm2 s
    np.testing.assert_allclose(maps.exposure_reco, per_norm, rtol=1e-9)
    expected = maps.excess * model.integral(0.5, 50) / per_norm
    np.testing.assert_allclose(maps.flux, expected, rtol=1e-9)
    np.testing.assert_allclose(maps.flux_ul / maps.flux_err, maps.excess_ul / maps.excess_err)
    assert maps.flux.attrs["units"] == "cm-2 s-1"


def test_energy_groups_and_masks():
    ds = make_dataset()
    maps = excess_map(ds, correlation_radius=RADIUS, energy_edges=[0.5, 2.5, 50])
    assert maps.sqrt_ts.dims == ("energy", "lat", "lon")
    first = excess_map(ds.isel(energy=[0]), correlation_radius=RADIUS)
    xr.testing.assert_allclose(
        maps.isel(energy=0, drop=True)[["counts", "excess", "sqrt_ts", "excess_ul"]],
        first[["counts", "excess", "sqrt_ts", "excess_ul"]],
    )
    # a masked energy bin is the same as no bin
    mask = xr.ones_like(ds.counts, dtype=bool)
    masked = excess_map(
        ds.assign(mask_safe=mask.where(mask.energy > mask.energy[0], False)),
        correlation_radius=RADIUS,
    )
    dropped = excess_map(ds.isel(energy=[1, 2]), correlation_radius=RADIUS)
    for name in ("counts", "background", "excess", "sqrt_ts", "excess_err"):
        np.testing.assert_allclose(masked[name], dropped[name], rtol=1e-10, atol=1e-12)
    # a pixel whose whole disk is masked has no value
    fit_mask = xr.ones_like(ds.counts, dtype=bool)
    fit_mask[:, :, :8] = False
    maps = excess_map(ds.assign(mask_fit=fit_mask), correlation_radius=RADIUS)
    assert np.isnan(maps.sqrt_ts[:, :5]).all() and np.isfinite(maps.sqrt_ts[:, 6:]).all()


def test_models_give_the_background():
    ds = make_dataset()
    source = SkyModel(
        PowerLawSpectralModel(index=2.0, amplitude=1e-11),
        PointSpatialModel(lon_0=CENTRE[0], lat_0=CENTRE[1]),
        name="src",
    )
    with_models = excess_map(ds, Models([source]), correlation_radius=RADIUS)
    by_hand = excess_map(ds.assign(background=npred(ds, Models([source]))),
                         correlation_radius=RADIUS)  # fmt: skip
    xr.testing.assert_allclose(with_models, by_hand)


@pytest.mark.parametrize(
    ("change", "options", "error", "match"),
    [
        (lambda ds: ds.drop_vars("background"), {}, DimensionError, "background"),
        (lambda ds: ds.expand_dims(obs_id=[1, 2]), {}, DimensionError, "stack it first"),
        (lambda ds: ds, {"correlation_radius": 0}, ConfigError, "correlation_radius"),
        (lambda ds: ds, {"n_sigma_ul": -1}, ConfigError, "n_sigma_ul"),
        (lambda ds: ds, {"energy_edges": [100, 200]}, ConfigError, "energy_edges"),
        (lambda ds: ds, {"spectral_model": "pl"}, ConfigError, "spectral_model"),
        (lambda ds: ds.drop_vars("acceptance"), {}, DimensionError, "acceptance"),
        (lambda ds: ds, {"models": Models([])}, ConfigError, "Cash datasets only"),
    ],
)
def test_bad_input_is_refused(change, options, error, match):
    ds = make_dataset(on_off=True)
    if "acceptance" not in match and "Cash" not in match:
        ds = ds.drop_vars(["counts_off", "acceptance", "acceptance_off"])
    with pytest.raises(error, match=match):
        excess_map(change(ds), **options)


# -- the shipped Crab runs ----------------------------------------------------------------


@pytest.fixture(scope="module")
def crab_stacked(crab_store):
    geom = gx.make_geom(
        gx.energy_axis(0.5, 50, per_decade=4),
        gx.energy_axis(0.3, 100, per_decade=6, name="energy_true"),
        sky=gx.sky_grid((83.633, 22.014), width=3.0, binsz=0.04),
    )
    joint = gx.concat_observations(
        [gx.make_map_dataset(o, geom) for o in crab_store.observations()]
    )
    return joint.gp.stack().load()


def test_ring_background_finds_the_crab(crab_stacked):
    ds = crab_stacked
    lon, lat = np.meshgrid(ds.lon.values, ds.lat.values)
    near = np.hypot((lon - 83.633) * np.cos(np.deg2rad(22.014)), lat - 22.014) < 0.3
    sky = ["lat", "lat_lo", "lat_hi", "lon", "lon_lo", "lon_hi"]
    exclusion = xr.DataArray(near, dims=("lat", "lon"), coords={k: ds.coords[k] for k in sky})
    exclusion = exclusion.assign_attrs(frame="icrs")
    ring = make_ring_background(ds, r_in=0.5, width=0.3, exclusion_mask=exclusion)
    onoff = excess_map(ring, correlation_radius=0.1)
    cash = excess_map(ds, correlation_radius=0.1)
    i, j = np.unravel_index(int(np.nanargmax(onoff.sqrt_ts.values)), onoff.sqrt_ts.shape)
    assert abs(float(ds.lon[j]) - 83.633) < 0.05 and abs(float(ds.lat[i]) - 22.014) < 0.05
    # the same counts; the ring renormalises the template: a similar significance and excess
    assert float(onoff.counts[i, j]) == float(cash.counts[i, j])
    assert float(onoff.sqrt_ts[i, j]) == pytest.approx(float(cash.sqrt_ts[i, j]), rel=0.1)
    assert float(onoff.excess[i, j]) == pytest.approx(float(cash.excess[i, j]), rel=0.05)
    assert float(onoff.sqrt_ts[i, j]) > 25
    # away from the Crab the ring significance is noise
    far = ~near & np.isfinite(onoff.sqrt_ts.values)
    assert abs(float(np.nanmean(onoff.sqrt_ts.values[far]))) < 0.3
