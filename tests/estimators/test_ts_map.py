"""TS maps: direct fits, simulations with known truth, Wilks, masks, options, the Crab."""

from __future__ import annotations

import time

import numpy as np
import pytest
import xarray as xr
from scipy.special import erf

import gammaxr as gx
from gammaxr.estimators import ts_map, ts_map_kernel
from gammaxr.estimators.norm_fit import fit_norm
from gammaxr.exceptions import ConfigError, DimensionError
from gammaxr.fit import fit
from gammaxr.fit.statistics import cash
from gammaxr.models import (
    GaussianSpatialModel,
    Models,
    Parameter,
    PointSpatialModel,
    PowerLawSpectralModel,
    SkyModel,
)
from gammaxr.models.npred import fold, npred
from gammaxr.reduce.map import default_rad_axis

CENTRE = (30.0, 0.5)
AMPLITUDE = 1e-12  # cm-2 s-1 TeV-1: the default test spectrum (index 2)


# -- synthetic datasets -------------------------------------------------------------------


def gauss_psf(energy_true: xr.DataArray, sigma: np.ndarray) -> xr.DataArray:
    rad = default_rad_axis()
    values = np.exp(-0.5 * (rad.values[None, :] / np.asarray(sigma)[:, None]) ** 2)
    ring = 2 * np.pi * -np.diff(np.cos(np.deg2rad(np.r_[0.0, rad.rad_hi.values])))
    values /= (values * ring).sum(axis=1, keepdims=True)
    return xr.DataArray(
        values, dims=("energy_true", "rad"), coords={**energy_true.coords, **rad.coords},
        attrs={"units": "sr-1"},
    )  # fmt: skip


def smooth_edisp(energy_true: xr.DataArray, energy: xr.DataArray) -> xr.DataArray:
    t = np.log(energy_true.values)[:, None]
    lo, hi = np.log(energy.energy_lo.values)[None, :], np.log(energy.energy_hi.values)[None, :]
    width = 0.3 * np.sqrt(2)
    values = 0.5 * (erf((hi - t) / width) - erf((lo - t) / width))
    return xr.DataArray(
        values, dims=("energy_true", "energy"),
        coords={**energy_true.coords, **energy.coords}, attrs={"units": ""},
    )  # fmt: skip


def make_dataset(
    *,
    width: float = 0.9,
    binsz: float = 0.03,
    background: float = 0.05,
    exposure_slope: float = 0.3,
    n_reco: int = 3,
) -> xr.Dataset:
    """A map dataset: Gaussian PSF narrowing with energy, smooth edisp, flat background.

    The exposure (~1e11 cm2 s) grows linearly in lon by ``exposure_slope`` across the map.
    """
    energy_true = gx.energy_axis(0.3, 100, nbin=8, name="energy_true")
    energy = gx.energy_axis(0.5, 50, nbin=n_reco)
    sky = gx.sky_grid(CENTRE, width=width, binsz=binsz)
    geom = gx.make_geom(energy, energy_true, sky=sky)
    ramp = 1 + exposure_slope * (sky.lon.values - CENTRE[0]) / width
    exposure = 1e7 * np.ones((energy_true.size, 1, 1)) * ramp[None, None, :]
    exposure = np.broadcast_to(exposure, (energy_true.size, sky.lat.size, sky.lon.size))
    sigma = np.linspace(0.07, 0.04, energy_true.size)
    variables = {
        "exposure": (("energy_true", "lat", "lon"), exposure.copy(), {"units": "m2 s"}),
        "background": (
            ("energy", "lat", "lon"),
            np.full((n_reco, sky.lat.size, sky.lon.size), background),
            {"units": ""},
        ),
        "psf": gauss_psf(energy_true, sigma),
        "edisp": smooth_edisp(energy_true, energy),
    }
    ds = xr.Dataset(variables, coords=geom.coords, attrs={"frame": "icrs", "name": "sim"})
    return ds


def simulate(ds: xr.Dataset, models, rng) -> xr.Dataset:
    mu = ds.background if not models else npred(ds, Models(models))
    counts = rng.poisson(mu.transpose("energy", "lat", "lon").values).astype(np.float64)
    return ds.assign(counts=(("energy", "lat", "lon"), counts, {"units": ""}))


def point_source(lon, lat, *, amplitude=200 * AMPLITUDE, frozen=False) -> SkyModel:
    spectral = PowerLawSpectralModel(
        index=Parameter("index", 2.0, frozen=True), amplitude=amplitude
    )
    spatial = PointSpatialModel(
        lon_0=Parameter("lon_0", lon, unit="deg", frozen=True),
        lat_0=Parameter("lat_0", lat, unit="deg", frozen=True),
    )
    return SkyModel(spectral, spatial, name="src")


@pytest.fixture(scope="module")
def source_dataset():
    ds = make_dataset()
    # the source sits near (not on) a pixel centre
    truth = point_source(float(ds.lon[17]) + 0.004, float(ds.lat[12]) - 0.005)
    return simulate(ds, [truth], np.random.default_rng(1)), truth


def peak(maps: xr.Dataset) -> tuple[int, int]:
    return np.unravel_index(int(np.nanargmax(maps.ts.values)), maps.ts.shape)


def direct_fit(ds: xr.Dataset, lon: float, lat: float) -> tuple[float, float, float]:
    """(TS, amplitude, error) of a point source fitted at a fixed position (all energy bins)."""
    result = fit(ds, Models([point_source(lon, lat, amplitude=50 * AMPLITUDE)]), tol=1e-6)
    assert result.success
    amplitude = result.parameters.loc["src.spectral.amplitude"]
    ts = cash(ds.counts, ds.background) - cash(ds.counts, npred(ds, result.models))
    return float(ts), float(amplitude["value"]), float(amplitude["error"])


# -- physics ------------------------------------------------------------------------------


def test_point_source_matches_a_direct_fit(source_dataset):
    ds, truth = source_dataset
    maps = ts_map(ds, sum_over_energy_groups=False, kernel_width=10.0, asymmetric_errors=True)
    i, j = peak(maps)
    lon, lat = float(ds.lon[j]), float(ds.lat[i])
    true_lon, true_lat = truth.spatial.position_in("icrs")
    assert abs(lon - true_lon) <= 0.03 and abs(lat - true_lat) <= 0.03  # within a pixel
    ts, amplitude, error = direct_fit(ds, lon, lat)
    assert float(maps.ts[i, j]) == pytest.approx(ts, rel=2e-3)
    assert float(maps.norm[i, j]) * AMPLITUDE == pytest.approx(amplitude, rel=2e-3)
    assert float(maps.norm_err[i, j]) * AMPLITUDE == pytest.approx(error, rel=2e-2)
    # the truth (200 x the reference) within 3 sigma
    norm, err = float(maps.norm[i, j]), float(maps.norm_err[i, j])
    assert abs(norm - 200) < 3 * err
    assert float(maps.norm_errn[i, j]) < err < float(maps.norm_errp[i, j])
    assert float(maps.norm_ul[i, j]) > norm + 1.5 * err
    # the flux is the norm times the reference flux over the whole energy range
    flux_ref = PowerLawSpectralModel(index=2.0).integral(0.5, 50)
    assert float(maps.flux[i, j]) == pytest.approx(norm * flux_ref, rel=1e-12)
    assert maps.flux.attrs["units"] == "cm-2 s-1"


def summed_over_energy(ds: xr.Dataset) -> xr.Dataset:
    """The dataset with one reco-energy bin: counts, background and edisp summed."""
    energy = gx.energy_axis(0.5, 50, nbin=1)
    out = ds.drop_dims("energy").assign_coords(energy.coords)
    for name in ("counts", "background", "edisp"):
        out[name] = (
            ds[name]
            .sum("energy")
            .expand_dims(energy=energy.values, axis=-3 if name != "edisp" else -1)
        )
        out[name].attrs = ds[name].attrs
    return out.assign_coords(energy.coords)


def test_summed_energies_match_a_direct_fit_of_the_summed_dataset(source_dataset):
    ds, _ = source_dataset
    maps = ts_map(ds, kernel_width=10.0)  # energies summed (the default)
    i, j = peak(maps)
    image = summed_over_energy(ds)
    ts, amplitude, _ = direct_fit(image, float(ds.lon[j]), float(ds.lat[i]))
    assert float(maps.ts[i, j]) == pytest.approx(ts, rel=2e-3)
    assert float(maps.norm[i, j]) * AMPLITUDE == pytest.approx(amplitude, rel=2e-3)
    # and ts_map of the summed dataset is the same map
    xr.testing.assert_allclose(ts_map(image, kernel_width=10.0), maps, rtol=1e-6)


def test_default_footprint_keeps_most_of_the_ts(source_dataset):
    ds, _ = source_dataset
    full = ts_map(ds, kernel_width=10.0)
    default = ts_map(ds)  # 90% containment footprint
    i, j = peak(full)
    assert np.abs(np.subtract(peak(default), (i, j))).max() <= 1
    assert float(default.sqrt_ts.max()) == pytest.approx(float(full.sqrt_ts[i, j]), rel=0.05)
    assert float(default.norm[i, j]) == pytest.approx(
        float(full.norm[i, j]), abs=float(full.norm_err[i, j])
    )
    assert set(default.data_vars) >= {
        "ts",
        "sqrt_ts",
        "norm",
        "norm_err",
        "norm_ul",
        "flux",
        "flux_err",
        "flux_ul",
        "npred_excess",
        "success",
    }
    assert "norm_errn" not in default  # asymmetric errors only when asked


def test_empty_sky_sqrt_ts_is_standard_normal():
    ds = make_dataset(width=2.4, binsz=0.04, background=0.4, exposure_slope=0.0)
    ds = simulate(ds, [], np.random.default_rng(3))
    maps = ts_map(ds)
    sqrt_ts = maps.sqrt_ts.values.ravel()
    assert np.isfinite(sqrt_ts).all() and maps.success.all()
    # neighbouring pixels share counts: about (2.4 / 0.2)^2 independent patches
    assert abs(sqrt_ts.mean()) < 0.15
    assert sqrt_ts.std() == pytest.approx(1.0, abs=0.1)
    assert 0.01 < np.mean(sqrt_ts > 2) < 0.04  # 2.3% for a unit normal


def test_extended_kernel_fits_an_extended_source():
    ds = make_dataset(width=1.5, binsz=0.05, background=0.1, exposure_slope=0.0)
    source = SkyModel(
        PowerLawSpectralModel(index=2.0, amplitude=400 * AMPLITUDE),
        GaussianSpatialModel(lon_0=CENTRE[0], lat_0=CENTRE[1], sigma=0.2),
        name="ext",
    )
    ds = simulate(ds, [source], np.random.default_rng(4))
    kernel = GaussianSpatialModel(sigma=0.2)
    extended = ts_map(ds, kernel_model=kernel, kernel_width=1.5)
    point = ts_map(ds, kernel_width=1.5)
    i, j = peak(extended)
    assert abs(float(ds.lon[j]) - CENTRE[0]) < 0.1 and abs(float(ds.lat[i]) - CENTRE[1]) < 0.1
    assert float(extended.ts.max()) > 1.3 * float(point.ts.max())
    norm, err = float(extended.norm[i, j]), float(extended.norm_err[i, j])
    assert abs(norm - 400) < 3 * err
    assert extended.attrs["kernel_model"] == "GaussianSpatialModel"


def test_kernel_is_the_folded_source_per_reco_energy():
    ds = make_dataset(exposure_slope=0.0)
    kernel = ts_map_kernel(ds, kernel_width=10.0)
    assert kernel.dims == ("energy", "kernel_lat", "kernel_lon")
    # all of the PSF is inside: each energy sums to one
    np.testing.assert_allclose(kernel.sum(("kernel_lat", "kernel_lon")), 1.0, rtol=1e-6)
    # and equals fold() of a point source at a pixel centre, divided by its total
    i, j = ds.sizes["lat"] // 2, ds.sizes["lon"] // 2
    source = point_source(float(ds.lon[j]), float(ds.lat[i]))
    folded = fold(ds, source).transpose("energy", "lat", "lon").values
    hy, hx = kernel.sizes["kernel_lat"] // 2, kernel.sizes["kernel_lon"] // 2
    cut = folded[:, i - hy : i + hy + 1, j - hx : j + hx + 1]
    expected = cut / folded.sum(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(kernel.values, expected, atol=1e-7)
    # the default footprint is smaller: 90% containment
    assert ts_map_kernel(ds).sizes["kernel_lat"] < kernel.sizes["kernel_lat"]


@pytest.mark.parametrize("summed", [False, True])
def test_merged_zero_count_bins_give_the_dense_fit(source_dataset, summed):
    """The pair gathering and the merged bins reproduce fit_norm on whole footprints.

    With a safe mask that varies with energy and position (a plane masked
    everywhere, one selected everywhere, one selected on part of the map).
    """
    ds, _ = source_dataset
    mask = np.ones(ds.counts.shape, dtype=bool)
    mask[0] = False
    mask[2, :, :12] = False
    ds = ds.assign(mask_safe=(("energy", "lat", "lon"), mask))
    maps = ts_map(ds, sum_over_energy_groups=summed, kernel_width=0.3)
    kernel = ts_map_kernel(ds, kernel_width=0.3).values
    hy, hx = kernel.shape[1] // 2, kernel.shape[2] // 2
    from gammaxr.estimators._maps import reco_exposure

    exposure, _ = reco_exposure(ds, PowerLawSpectralModel(index=2.0))
    counts = np.where(mask, ds.counts.values, 0.0)
    background = np.where(mask, ds.background.values, 0.0)
    pixels = [(12, 17), (5, 5), (0, 0), (29, 14), (20, 3), (10, 12)]
    c, s, b = [], [], []
    for i, j in pixels:
        window = np.zeros_like(kernel, dtype=bool)
        y0, y1 = max(i - hy, 0), min(i + hy + 1, counts.shape[1])
        x0, x1 = max(j - hx, 0), min(j + hx + 1, counts.shape[2])
        window[:, y0 - i + hy : y1 - i + hy, x0 - j + hx : x1 - j + hx] = True
        full_c, full_b, full_m = (np.zeros_like(kernel) for _ in range(3))
        full_c[window] = counts[:, y0:y1, x0:x1].ravel()
        full_b[window] = background[:, y0:y1, x0:x1].ravel()
        full_m[window] = mask[:, y0:y1, x0:x1].ravel()
        signal = kernel * exposure[:, i, j][:, None, None] * full_m
        if summed:
            full_c, full_b, signal = (x.sum(axis=0) for x in (full_c, full_b, signal))
        c.append(full_c.ravel())
        b.append(full_b.ravel())
        s.append(signal.ravel())
    dense = fit_norm(np.array(c), np.array(s), np.array(b), axis=-1)
    for k, (i, j) in enumerate(pixels):
        for name in ("norm", "norm_err", "ts", "norm_ul"):
            assert float(maps[name][i, j]) == pytest.approx(dense[name][k], rel=1e-7, abs=1e-9)


def test_energy_groups_give_an_energy_dim(source_dataset):
    ds, _ = source_dataset
    maps = ts_map(ds, energy_edges=[0.6, 2.5, 40], kernel_width=0.3)
    assert maps.sqrt_ts.dims == ("energy", "lat", "lon")
    # edges move to the dataset's: 0.5, 2.32, 50 TeV
    edges = np.geomspace(0.5, 50, 4)
    np.testing.assert_allclose(maps.energy_lo, edges[[0, 1]])
    np.testing.assert_allclose(maps.energy_hi, edges[[1, 3]])
    flux_ref = PowerLawSpectralModel(index=2.0).integral(edges[[0, 1]], edges[[1, 3]])
    np.testing.assert_allclose(
        maps.flux / maps.norm, flux_ref[:, None, None] * np.ones(maps.norm.shape), rtol=1e-12
    )
    one = ts_map(ds.isel(energy=[0]), kernel_width=0.3)  # the first group alone
    # (TS is a difference of two statistics of order 100: 1e-12 is their rounding)
    np.testing.assert_allclose(maps.ts.isel(energy=0), one.ts, rtol=1e-9, atol=1e-12)
    assert "energy_min" in one.attrs and "energy" not in one.dims


def test_masked_bins_are_left_out(source_dataset):
    ds, _ = source_dataset
    mask = xr.ones_like(ds.counts, dtype=bool)
    masked = ds.assign(mask_safe=mask.where(mask.energy > mask.energy[0], False))
    a = ts_map(masked, sum_over_energy_groups=False)
    b = ts_map(ds.isel(energy=slice(1, None)), sum_over_energy_groups=False)
    for name in ("ts", "norm", "norm_err", "norm_ul"):
        np.testing.assert_allclose(a[name], b[name], rtol=1e-8, atol=1e-12)
    # a spatial mask_fit: masked pixels are NaN, the others change
    fit_mask = xr.ones_like(ds.counts, dtype=bool)
    fit_mask[:, :, :10] = False
    maps = ts_map(ds.assign(mask_fit=fit_mask))
    assert np.isnan(maps.ts[:, :10]).all() and not maps.success[:, :10].any()
    assert np.isfinite(maps.ts[:, 10:]).all()


def test_models_define_the_null_hypothesis(source_dataset):
    ds, truth = source_dataset
    with_source = ts_map(ds, Models([truth]))
    by_hand = ts_map(ds.assign(background=npred(ds, Models([truth]))))
    xr.testing.assert_allclose(with_source, by_hand)
    assert float(with_source.sqrt_ts.max()) < 5  # the source is explained
    assert float(ts_map(ds).sqrt_ts.max()) > 7


def test_threads_and_blocks_do_not_change_the_result(source_dataset):
    ds, _ = source_dataset
    one = ts_map(ds, n_jobs=1)
    many = ts_map(ds, n_jobs=3, block_size=60)
    xr.testing.assert_allclose(one, many, rtol=1e-8)  # the root searches stop alike


def test_product_layout(source_dataset):
    ds, _ = source_dataset
    maps = ts_map(ds)
    assert maps.ts.dims == ("lat", "lon")
    assert {"lat_lo", "lat_hi", "lon_lo", "lon_hi"} <= set(maps.coords)
    assert maps.success.dtype == bool
    for value in maps.attrs.values():
        assert isinstance(value, (str, int, float, list))
    np.testing.assert_allclose(maps.sqrt_ts**2, maps.ts, rtol=1e-12)
    np.testing.assert_array_equal(np.sign(maps.sqrt_ts), np.sign(maps.norm))
    np.testing.assert_allclose(maps.npred_excess, maps.norm * (maps.npred_excess / maps.norm))


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        (lambda ds: ds.drop_vars("background"), DimensionError, "background"),
        (lambda ds: ds.drop_vars("exposure"), DimensionError, "exposure"),
        (lambda ds: ds.expand_dims(obs_id=[1, 2]), DimensionError, "stack it first"),
    ],
)
def test_bad_datasets_are_refused(source_dataset, change, error, match):
    ds, _ = source_dataset
    with pytest.raises(error, match=match):
        ts_map(change(ds))


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"kernel_model": PowerLawSpectralModel()}, "kernel_model"),
        ({"spectral_model": PointSpatialModel()}, "spectral_model"),
        ({"energy_edges": [5.0]}, "energy_edges"),
        ({"energy_edges": [0.01, 0.02]}, "energy_edges"),
        ({"n_sigma": 0}, "n_sigma"),
        ({"kernel_width": -1.0}, "kernel_width"),
        ({"n_jobs": 0}, "n_jobs"),
    ],
)
def test_bad_options_are_refused(source_dataset, options, match):
    ds, _ = source_dataset
    with pytest.raises(ConfigError, match=match):
        ts_map(ds, **options)


# -- the shipped Crab runs ----------------------------------------------------------------


@pytest.fixture(scope="module")
def crab_stacked(crab_store):
    geom = gx.make_geom(
        gx.energy_axis(0.5, 50, per_decade=4),
        gx.energy_axis(0.3, 100, per_decade=6, name="energy_true"),
        sky=gx.sky_grid((83.633, 22.014), width=2.0, binsz=0.04),
    )
    joint = gx.concat_observations(
        [gx.make_map_dataset(o, geom) for o in crab_store.observations()]
    )
    return joint.gp.stack().load()


def test_crab_ts_map_peaks_at_the_crab(crab_stacked):
    start = time.perf_counter()
    maps = ts_map(crab_stacked)
    elapsed = time.perf_counter() - start
    i, j = peak(maps)
    assert abs(float(maps.lon[j]) - 83.633) < 0.05 and abs(float(maps.lat[i]) - 22.014) < 0.05
    assert float(maps.sqrt_ts[i, j]) > 30
    # the Crab above 0.5 TeV: ~7e-11 cm-2 s-1 (HESS 2006: index 2.63, 2.26e-11 above 1 TeV);
    # the index-2 test spectrum, pinned by the counts near 1 TeV, gives somewhat less
    assert 3e-11 < float(maps.flux[i, j]) < 1e-10
    assert elapsed < 60  # seconds, on a loaded 2-core machine
