"""Forward folding: analytic cases, cutouts, joint form, the cached evaluator, validation."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import gammaxr as gx
from gammaxr.exceptions import DimensionError, UnitError
from gammaxr.models import (
    DiskSpatialModel,
    ExpDecayTemporalModel,
    FoVBackgroundModel,
    GaussianSpatialModel,
    LinearTemporalModel,
    Models,
    PointSpatialModel,
    PowerLawNormSpectralModel,
    PowerLawSpectralModel,
    SkyModel,
)
from gammaxr.models._folding import spectral_integral
from gammaxr.models._psf_kernel import KernelTransforms, convolve_full, make_kernel
from gammaxr.models.npred import (
    CHANGE_LOG,
    MAX_INCREMENTS,
    FoldingError,
    NpredEvaluator,
    fold,
    npred,
    psf_kernel,
)
from gammaxr.reduce.map import default_rad_axis
from gammaxr.stacking import concat_observations

CENTRE = (10.0, 1.0)
EXPOSURE_M2S = 2.0e5  # m2 s: 2e9 cm2 s


# -- synthetic datasets -------------------------------------------------------------------


def gauss_psf(energy_true: xr.DataArray, sigma) -> xr.DataArray:
    """A Gaussian PSF per true energy at the default rad bin centres, normalised over the bins."""
    rad = default_rad_axis()
    sigma = np.broadcast_to(np.asarray(sigma, dtype=float), (energy_true.size,))[:, None]
    values = np.exp(-0.5 * (rad.values[None, :] / sigma) ** 2)
    ring = 2 * np.pi * -np.diff(np.cos(np.deg2rad(np.r_[rad.rad_lo.values[0], rad.rad_hi.values])))
    values = values / (values * ring).sum(axis=1, keepdims=True)
    return xr.DataArray(
        values.astype(np.float32),
        dims=("energy_true", "rad"),
        coords={**energy_true.coords, **rad.coords},
        attrs={"units": "sr-1"},
    )


def delta_psf(energy_true: xr.DataArray) -> xr.DataArray:
    """All of the PSF in the first rad bin."""
    rad = default_rad_axis()
    values = np.zeros((energy_true.size, rad.size))
    values[:, 0] = 1 / (2 * np.pi * (1 - np.cos(np.deg2rad(rad.rad_hi.values[0]))))
    return xr.DataArray(
        values.astype(np.float32),
        dims=("energy_true", "rad"),
        coords={**energy_true.coords, **rad.coords},
        attrs={"units": "sr-1"},
    )


def banded_edisp(energy_true: xr.DataArray, energy: xr.DataArray) -> xr.DataArray:
    """A smooth migration matrix whose rows sum to less than one (leakage)."""
    t = np.log(energy_true.values)[:, None]
    lo, hi = np.log(energy.energy_lo.values)[None, :], np.log(energy.energy_hi.values)[None, :]
    from scipy.special import erf

    sigma = 0.25
    values = 0.5 * (erf((hi - t) / (np.sqrt(2) * sigma)) - erf((lo - t) / (np.sqrt(2) * sigma)))
    return xr.DataArray(
        values.astype(np.float32),
        dims=("energy_true", "energy"),
        coords={**energy_true.coords, **energy.coords},
        attrs={"units": ""},
    )


def make_dataset(
    *,
    width: float | tuple[float, float] = 2.0,
    binsz: float = 0.05,
    centre: tuple[float, float] = CENTRE,
    psf: str | None = "gauss",
    psf_sigma=0.1,
    edisp: str | None = "banded",
    n_true: int = 6,
    n_reco: int = 5,
    exposure: np.ndarray | float = EXPOSURE_M2S,
    background: bool = True,
    frame: str = "icrs",
) -> xr.Dataset:
    energy_true = gx.energy_axis(0.5, 50, nbin=n_true, name="energy_true")
    energy = gx.energy_axis(0.5, 50, nbin=n_reco)
    sky = gx.sky_grid(centre, width=width, binsz=binsz, frame=frame)
    geom = gx.make_geom(energy, energy_true, sky=sky)
    shape_true = (n_true, sky.sizes["lat"], sky.sizes["lon"])
    variables = {
        "exposure": xr.DataArray(
            np.broadcast_to(np.asarray(exposure, dtype=np.float32), shape_true).copy(),
            dims=("energy_true", "lat", "lon"),
            attrs={"units": "m2 s"},
        )
    }
    if psf == "gauss":
        variables["psf"] = gauss_psf(energy_true, psf_sigma)
    elif psf == "delta":
        variables["psf"] = delta_psf(energy_true)
    if edisp == "banded":
        variables["edisp"] = banded_edisp(energy_true, energy)
    elif edisp == "diagonal":
        assert n_true == n_reco
        variables["edisp"] = xr.DataArray(
            np.eye(n_true, dtype=np.float32),
            dims=("energy_true", "energy"),
            coords={**energy_true.coords, **energy.coords},
            attrs={"units": ""},
        )
    if background:
        rng = np.random.default_rng(1)
        values = rng.uniform(0.5, 1.5, (n_reco, *shape_true[1:])).astype(np.float32)
        variables["background"] = xr.DataArray(
            values, dims=("energy", "lat", "lon"), attrs={"units": ""}
        )
    return xr.Dataset(variables, coords=geom.coords, attrs={"frame": frame, "name": "test"})


def point(lon=CENTRE[0], lat=CENTRE[1], *, name="pt", index=2.3, amplitude=1e-11):
    return SkyModel(
        PowerLawSpectralModel(index=index, amplitude=amplitude),
        PointSpatialModel(lon_0=lon, lat_0=lat),
        name=name,
    )


def gauss(lon=CENTRE[0], lat=CENTRE[1], sigma=0.15, *, name="gs", index=2.0, amplitude=1e-11):
    return SkyModel(
        PowerLawSpectralModel(index=index, amplitude=amplitude),
        GaussianSpatialModel(lon_0=lon, lat_0=lat, sigma=sigma),
        name=name,
    )


def true_flux(ds: xr.Dataset, model: SkyModel) -> np.ndarray:
    return np.asarray(
        model.spectral.integral(ds.energy_true_lo.values, ds.energy_true_hi.values), dtype=float
    )


def pixel_centre(ds: xr.Dataset, i: int, j: int) -> tuple[float, float]:
    return float(ds.lon.values[j]), float(ds.lat.values[i])


# -- analytic cases -----------------------------------------------------------------------


def test_point_source_delta_psf_diagonal_edisp_fills_one_pixel():
    ds = make_dataset(psf="delta", edisp="diagonal", n_true=5, n_reco=5, background=False)
    i, j = 13, 27
    model = point(*pixel_centre(ds, i, j))
    signal = fold(ds, model)
    expected = true_flux(ds, model) * EXPOSURE_M2S * 1e4
    assert signal.dims == ("energy", "lat", "lon")
    assert signal.dtype == np.float64 and signal.name == "npred_signal"
    np.testing.assert_allclose(signal.isel(lat=i, lon=j).values, expected, rtol=1e-12)
    np.testing.assert_allclose(signal.sum(("lat", "lon")).values, expected, rtol=1e-12)


def test_point_source_bilinear_shares_counts_between_neighbours():
    ds = make_dataset(psf="delta", edisp="diagonal", n_true=5, n_reco=5, background=False)
    lon, lat = pixel_centre(ds, 20, 20)
    model = point(lon + 0.25 * 0.05, lat - 0.4 * 0.05)
    signal = fold(ds, model).isel(energy=2)
    expected = true_flux(ds, model)[2] * EXPOSURE_M2S * 1e4
    nonzero = signal.where(signal > 0, drop=True)
    assert nonzero.shape == (2, 2)
    weights = np.outer([0.4, 0.6], [0.75, 0.25])  # lat below the centre, lon above it
    np.testing.assert_allclose(nonzero.values, expected * weights, rtol=1e-9)
    np.testing.assert_allclose(float(signal.sum()), expected, rtol=1e-12)
    # the weights are integrate_geom's bilinear ones
    fraction = model.spatial.integrate_geom(ds, method="bilinear")
    np.testing.assert_allclose(signal.values, expected * fraction.values, rtol=1e-12, atol=0)


def test_total_counts_conserved_by_the_psf_far_from_the_edges():
    ds = make_dataset(psf_sigma=[0.2, 0.15, 0.1, 0.08, 0.06, 0.05], background=False)
    model = point(CENTRE[0] + 0.013, CENTRE[1] - 0.021)
    signal = fold(ds, model)
    expected_true = true_flux(ds, model) * EXPOSURE_M2S * 1e4
    expected = expected_true @ ds.edisp.values.astype(float)
    np.testing.assert_allclose(signal.sum(("lat", "lon")).values, expected, rtol=1e-10)


def test_exposure_varies_with_position_and_energy():
    ds = make_dataset(psf="delta", edisp="diagonal", n_true=5, n_reco=5, background=False)
    rng = np.random.default_rng(3)
    exposure = rng.uniform(1e4, 1e5, ds.exposure.shape).astype(np.float32)
    ds = ds.assign(exposure=ds.exposure.copy(data=exposure))
    i, j = 7, 31
    model = point(*pixel_centre(ds, i, j))
    signal = fold(ds, model)
    expected = true_flux(ds, model) * exposure[:, i, j].astype(float) * 1e4
    np.testing.assert_allclose(signal.isel(lat=i, lon=j).values, expected, rtol=1e-12)


def second_moments(image: xr.DataArray) -> tuple[float, float]:
    weights = image / image.sum()
    lon_mean = float((weights * image.lon).sum())
    lat_mean = float((weights * image.lat).sum())
    var_lon = float((weights * (image.lon - lon_mean) ** 2).sum())
    var_lat = float((weights * (image.lat - lat_mean) ** 2).sum())
    return var_lon, var_lat


def test_gaussian_source_convolved_with_gaussian_psf_adds_variances():
    sigma_s, sigma_p = 0.15, 0.1
    ds = make_dataset(
        centre=(10.0, 0.0), width=3.0, binsz=0.02, psf_sigma=sigma_p, edisp="diagonal",
        n_true=3, n_reco=3, background=False,
    )  # fmt: skip
    model = gauss(10.0, 0.0, sigma=sigma_s)
    image = fold(ds, model).isel(energy=1)
    var_lon, var_lat = second_moments(image)
    # the discrete identity: the variance of a convolution is the sum of the variances
    kernel = psf_kernel(ds).isel(energy_true=1)
    k_lon = float((kernel.sum("kernel_lat") * kernel.kernel_lon**2).sum())
    k_lat = float((kernel.sum("kernel_lon") * kernel.kernel_lat**2).sum())
    fraction = model.spatial.integrate_geom(ds)
    s_lon, s_lat = second_moments(fraction)
    np.testing.assert_allclose(var_lon, s_lon + k_lon, rtol=1e-9)
    np.testing.assert_allclose(var_lat, s_lat + k_lat, rtol=1e-9)
    # and the Gaussian result: sigma^2 = sigma_s^2 + sigma_psf^2 (to the pixel and the
    # 99.9% truncation of the kernel)
    expected = sigma_s**2 + sigma_p**2
    np.testing.assert_allclose([var_lon, var_lat], expected, rtol=5e-3)


def test_spectrum_dataset_is_flux_times_exposure_through_edisp():
    energy_true = gx.energy_axis(0.3, 30, nbin=8, name="energy_true")
    energy = gx.energy_axis(0.5, 20, nbin=6)
    exposure = np.linspace(1e4, 5e5, 8).astype(np.float32)
    edisp = banded_edisp(energy_true, energy)
    background = np.linspace(3, 1, 6).astype(np.float32)
    ds = xr.Dataset(
        {
            "exposure": ("energy_true", exposure, {"units": "m2 s"}),
            "edisp": edisp,
            "background": ("energy", background, {"units": ""}),
        },
        coords={**energy_true.coords, **energy.coords},
        attrs={"name": "spec"},
    )
    model = SkyModel(PowerLawSpectralModel(index=2.5, amplitude=3e-11), name="src")
    bkg = FoVBackgroundModel("spec", PowerLawNormSpectralModel(norm=1.2, tilt=0.1))
    signal = fold(ds, model)
    expected = (true_flux(ds, model) * exposure * 1e4) @ edisp.values.astype(float)
    assert signal.dims == ("energy",)
    np.testing.assert_allclose(signal.values, expected, rtol=1e-12)
    total = npred(ds, [model, bkg])
    scale = 1.2 * (ds.energy.values / 1.0) ** -0.1
    np.testing.assert_allclose(total.values, expected + background * scale, rtol=1e-6)
    np.testing.assert_allclose(NpredEvaluator(ds)([model, bkg]).values, total.values, rtol=1e-12)


def test_spatial_model_is_ignored_on_a_spectrum_dataset():
    energy_true = gx.energy_axis(0.3, 30, nbin=4, name="energy_true")
    energy = gx.energy_axis(0.3, 30, nbin=4)
    ds = xr.Dataset(
        {"exposure": ("energy_true", np.full(4, 1e5, np.float32), {"units": "m2 s"})},
        coords={**energy_true.coords, **energy.coords},
    )
    with_spatial = fold(ds, point())
    without = fold(ds, SkyModel(point().spectral, name="pt"))
    np.testing.assert_array_equal(with_spatial.values, without.values)
    # no edisp: the diagonal response (here the identity)
    np.testing.assert_allclose(without.values, true_flux(ds, point()) * 1e9, rtol=1e-12)


def test_background_norm_and_tilt_scale_the_background():
    ds = make_dataset()
    bkg = FoVBackgroundModel("test", PowerLawNormSpectralModel(norm=0.8, tilt=0.3, reference=2.0))
    total = npred(ds, [bkg])
    scale = 0.8 * (ds.energy / 2.0) ** -0.3
    np.testing.assert_allclose(total.values, (ds.background * scale).values, rtol=1e-6)
    # without a background model the background is used as it is
    np.testing.assert_allclose(npred(ds, []).values, ds.background.values, rtol=0)
    # only the dataset's own background model applies
    other = FoVBackgroundModel("other", PowerLawNormSpectralModel(norm=5.0))
    np.testing.assert_allclose(npred(ds, [other]).values, ds.background.values, rtol=0)


def test_npred_sums_background_and_sources_and_selects_by_dataset_name():
    ds = make_dataset()
    a, b = point(name="a"), gauss(CENTRE[0] + 0.3, CENTRE[1], name="b")
    c = SkyModel(
        PowerLawSpectralModel(), PointSpatialModel(lon_0=10, lat_0=1), name="c",
        datasets_names=["elsewhere"],
    )  # fmt: skip
    bkg = FoVBackgroundModel("test", PowerLawNormSpectralModel(norm=1.1))
    total = npred(ds, Models([a, b, c, bkg]))
    expected = 1.1 * ds.background.astype(float) + fold(ds, a) + fold(ds, b)
    np.testing.assert_allclose(total.values, expected.values, rtol=1e-12, atol=1e-12)
    assert total.name == "npred" and total.dims == ("energy", "lat", "lon")
    # dataset_name overrides attrs["name"]
    renamed = npred(ds, Models([a, c, bkg]), dataset_name="elsewhere")
    np.testing.assert_allclose(
        renamed.values, (ds.background + fold(ds, a) + fold(ds, c)).values, rtol=1e-6
    )


def test_npred_is_clipped_at_zero_but_fold_is_not():
    ds = make_dataset(background=False)
    negative = point(amplitude=-1e-11)
    assert float(fold(ds, negative).min()) < 0
    assert float(npred(ds, [negative]).min()) == 0.0


# -- cutouts, grouping, PSF kernel -----------------------------------------------------------


SOURCES = [
    point(10.0, 1.0, name="centre"),
    point(10.97, 1.6, name="edge", index=2.0),  # partly outside the map
    gauss(9.3, 0.4, sigma=0.2, name="gauss"),
    SkyModel(
        PowerLawSpectralModel(index=2.7, amplitude=2e-11),
        DiskSpatialModel(lon_0=10.2, lat_0=1.3, r_0=0.3),
        name="disk",
    ),
    point(12.5, 1.0, name="outside"),  # off the map: nothing
    gauss(11.3, 1.0, sigma=0.1, name="beyond"),  # off the map, reaching it through the PSF
]


@pytest.mark.parametrize("model", SOURCES, ids=lambda m: m.name)
def test_cutout_equals_whole_map(model):
    ds = make_dataset(width=(2.0, 1.6), binsz=0.02, psf_sigma=[0.3, 0.2, 0.1, 0.08, 0.06, 0.05])
    cut, full = fold(ds, model, cutout=True), fold(ds, model, cutout=False)
    total = max(float(full.sum()), 1e-300)
    assert float(np.abs(cut - full).max()) <= 1e-6 * total
    np.testing.assert_allclose(float(cut.sum()), float(full.sum()), rtol=1e-9, atol=1e-12)


def test_template_and_constant_models_cover_the_whole_map():
    from gammaxr.models import ConstantSpatialModel, TemplateSpatialModel

    ds = make_dataset(width=1.0, binsz=0.05, psf_sigma=0.05)
    rng = np.random.default_rng(2)
    image = xr.DataArray(
        rng.uniform(size=(ds.sizes["lat"], ds.sizes["lon"])),
        dims=("lat", "lon"),
        coords={k: ds.coords[k] for k in ("lat", "lon", "lat_lo", "lat_hi", "lon_lo", "lon_hi")},
        attrs={"frame": "icrs"},
    )
    for spatial in (TemplateSpatialModel(image), ConstantSpatialModel(value=100.0)):
        model = SkyModel(PowerLawSpectralModel(), spatial, name="extended")
        cut, full = fold(ds, model), fold(ds, model, cutout=False)
        np.testing.assert_allclose(cut.values, full.values, rtol=1e-12, atol=0)
        assert float(cut.sum()) > 0


def test_source_frame_differs_from_the_grid_frame():
    from gammaxr.models.spatial import convert_frame

    ds = make_dataset(centre=(120.0, 5.0), frame="galactic", psf="delta", edisp="diagonal",
                      n_true=5, n_reco=5, background=False)  # fmt: skip
    i, j = 12, 25
    glon, glat = pixel_centre(ds, i, j)
    ra, dec = convert_frame(glon, glat, "galactic", "icrs")
    in_icrs = SkyModel(point().spectral, PointSpatialModel(lon_0=ra, lat_0=dec), name="p")
    in_galactic = SkyModel(
        point().spectral, PointSpatialModel(lon_0=glon, lat_0=glat, frame="galactic"), name="p"
    )
    np.testing.assert_allclose(
        fold(ds, in_icrs).values, fold(ds, in_galactic).values, rtol=1e-9, atol=1e-9
    )
    assert float(fold(ds, in_icrs).isel(lat=i, lon=j).sum()) > 0.99 * float(
        fold(ds, in_icrs).sum()
    )


def test_map_across_lon_zero():
    ds = make_dataset(centre=(0.0, 0.0), width=2.0)
    for lon in (-0.4, 359.6):
        model = gauss(lon, 0.1, sigma=0.1)
        np.testing.assert_allclose(
            fold(ds, model).values, fold(ds, model, cutout=False).values, rtol=1e-9, atol=1e-15
        )
    np.testing.assert_allclose(
        fold(ds, gauss(-0.4, 0.1, sigma=0.1)).values,
        fold(ds, gauss(359.6, 0.1, sigma=0.1)).values,
        rtol=1e-9,
        atol=1e-15,
    )


def test_source_off_the_map_gives_zeros():
    ds = make_dataset()
    assert float(np.abs(fold(ds, point(30.0, 1.0))).max()) == 0.0


def test_grouped_npred_equals_sum_of_folds():
    ds = make_dataset(width=4.0, binsz=0.04, background=False)
    models = Models(
        [point(8.5, 0.0, name="a"), point(8.6, 0.1, name="b"), gauss(11.5, 2.5, name="c"),
         gauss(10.0, 1.0, sigma=0.6, name="d")]
    )  # fmt: skip
    total = npred(ds, models)
    expected = sum(fold(ds, m) for m in models.values())
    np.testing.assert_allclose(total.values, expected.values, rtol=1e-9, atol=1e-9)
    whole = npred(ds, models, cutout=False)
    assert float(np.abs(whole - total).max()) <= 1e-6 * float(total.sum())


def test_psf_kernel_is_normalised_and_symmetric():
    ds = make_dataset(binsz=0.02, psf_sigma=[0.3, 0.2, 0.1, 0.08, 0.06, 0.05])
    kernel = psf_kernel(ds)
    assert kernel.dims == ("energy_true", "kernel_lat", "kernel_lon")
    np.testing.assert_allclose(kernel.sum(("kernel_lat", "kernel_lon")).values, 1.0, rtol=1e-12)
    # radius: 99.9% of the broadest PSF (a Gaussian's is sigma * sqrt(-2 ln 0.001) = 3.72
    # sigma), at most the last rad edge
    assert kernel.attrs["radius"] == pytest.approx(0.66, abs=0.01)
    narrow = psf_kernel(make_dataset(binsz=0.02, psf_sigma=0.1))
    assert narrow.attrs["radius"] == pytest.approx(0.372, rel=0.02)
    # symmetric in lon; in lat up to the change of the pixel shape with latitude
    np.testing.assert_allclose(kernel.values, kernel.values[:, :, ::-1], rtol=1e-12, atol=0)
    flipped = kernel.values[:, ::-1, :]
    assert np.abs(kernel.values - flipped).sum(axis=(1, 2)).max() < 1e-3
    # the delta PSF gives a kernel concentrated in its centre pixel
    delta = psf_kernel(make_dataset(psf="delta"))
    centre = delta.sel(kernel_lat=0, kernel_lon=0, method="nearest")
    np.testing.assert_allclose(centre.values, 1.0, rtol=1e-12)


def test_psf_kernel_without_a_psf_is_an_error():
    with pytest.raises(FoldingError, match="no 'psf'"):
        psf_kernel(make_dataset(psf=None))


def test_folding_without_psf_or_edisp():
    ds = make_dataset(psf=None, edisp=None, n_true=5, n_reco=5, background=False)
    i, j = 11, 9
    model = point(*pixel_centre(ds, i, j))
    signal = fold(ds, model)
    expected = true_flux(ds, model) * EXPOSURE_M2S * 1e4
    np.testing.assert_allclose(signal.isel(lat=i, lon=j).values, expected, rtol=1e-12)
    assert float(signal.sum()) == pytest.approx(float(expected.sum()), rel=1e-12)


def test_diagonal_response_sends_true_bins_to_the_reco_bin_of_their_centre():
    ds = make_dataset(psf=None, edisp=None, n_true=8, n_reco=4, background=False)
    i, j = 11, 9
    model = point(*pixel_centre(ds, i, j))
    signal = fold(ds, model).isel(lat=i, lon=j).values
    per_true = true_flux(ds, model) * EXPOSURE_M2S * 1e4
    np.testing.assert_allclose(signal, per_true.reshape(4, 2).sum(axis=1), rtol=1e-12)


@pytest.mark.parametrize("shape", [(1, 1), (3, 3), (6, 5), (40, 33)])
def test_sparse_and_fft_convolution_agree(shape):
    rng = np.random.default_rng(4)
    kernel = rng.uniform(size=(2, 3, 9, 7))
    image = np.zeros((1, 3, *shape))
    image[..., : min(shape[0], 2), : min(shape[1], 2)] = rng.uniform(
        size=(1, 3, min(shape[0], 2), min(shape[1], 2))
    )
    full = convolve_full(image, kernel, transforms=KernelTransforms(kernel))
    from scipy.signal import convolve

    expected = np.stack(
        [[convolve(image[0, t], kernel[b, t], mode="full") for t in range(3)] for b in range(2)]
    )
    np.testing.assert_allclose(full, expected, rtol=1e-10, atol=1e-12)


def test_kernel_dedup_of_identical_images():
    kernel = np.random.default_rng(5).uniform(size=(1, 1, 5, 5))
    kernel = np.broadcast_to(kernel, (2, 4, 5, 5)).copy()
    transforms = KernelTransforms(kernel)
    np.testing.assert_allclose(
        transforms((16, 16)), np.fft.rfft2(kernel, s=(16, 16)), rtol=1e-12, atol=1e-12
    )


def test_make_kernel_of_a_zero_row_is_a_delta():
    rad = default_rad_axis()
    psf = np.zeros((1, 2, rad.size))
    psf[0, 1, :5] = 1.0
    kernel, radius = make_kernel(
        psf, rad.values, np.r_[rad.rad_lo.values, rad.rad_hi.values[-1]],
        lat_lo=0.0, dlat=0.02, dlon=0.02,
    )  # fmt: skip
    hy, hx = (np.array(kernel.shape[-2:]) - 1) // 2
    assert kernel[0, 0, hy, hx] == 1.0 and kernel[0, 0].sum() == 1.0
    np.testing.assert_allclose(kernel[0, 1].sum(), 1.0)
    assert 0.03 < radius <= 0.05


def test_dask_backed_dataset_gives_the_same_numbers():
    ds = make_dataset()
    lazy = ds.chunk({"lat": 7, "lon": 9})
    models = [point(name="a"), gauss(CENTRE[0] + 0.3, name="b"), FoVBackgroundModel("test")]
    np.testing.assert_array_equal(fold(lazy, models[1]).values, fold(ds, models[1]).values)
    np.testing.assert_array_equal(npred(lazy, models).values, npred(ds, models).values)
    np.testing.assert_allclose(
        NpredEvaluator(lazy)(models).values, npred(ds, models).values, rtol=1e-14
    )


# -- joint form ---------------------------------------------------------------------------


def observation(obs_id, *, exposure, sigma, tstart):
    ds = make_dataset(exposure=exposure, psf_sigma=sigma)
    edisp = ds.edisp * (1.0 - 0.05 * obs_id)
    return ds.assign(edisp=edisp.assign_attrs(units="")).assign_attrs(
        obs_id=obs_id, tstart=tstart, tstop=tstart + 1800.0, mjdref=51910.0, timesys="tt",
        livetime=1700.0,
    )  # fmt: skip


def test_joint_form_equals_folding_each_observation():
    obs = [
        observation(1, exposure=1e5, sigma=0.1, tstart=1e8),
        observation(2, exposure=3e5, sigma=0.2, tstart=1.1e8),
    ]
    joint = concat_observations(obs)
    assert "obs_id" in joint.exposure.dims and "obs_id" in joint.psf.dims
    temporal = LinearTemporalModel(alpha=1.0, beta=0.01, t_ref=52000.0)
    models = [
        point(name="p"),
        SkyModel(gauss().spectral, gauss().spatial, temporal, name="g"),
    ]
    for model in models:
        folded = fold(joint, model)
        assert folded.dims == ("obs_id", "energy", "lat", "lon")
        for i, single in enumerate(obs):
            np.testing.assert_allclose(
                folded.isel(obs_id=i).values, fold(single, model).values, rtol=1e-10, atol=1e-12
            )
    bkg = FoVBackgroundModel("test", PowerLawNormSpectralModel(norm=0.9))
    total = npred(joint, [*models, bkg])
    evaluated = NpredEvaluator(joint)([*models, bkg])
    for i, single in enumerate(obs):
        expected = npred(single, [*models, bkg])
        np.testing.assert_allclose(total.isel(obs_id=i).values, expected.values, rtol=1e-10)
        np.testing.assert_allclose(evaluated.isel(obs_id=i).values, expected.values, rtol=1e-10)


def test_joint_form_with_shared_irfs_broadcasts():
    obs = [observation(1, exposure=1e5, sigma=0.1, tstart=1e8)]
    obs.append(observation(2, exposure=2e5, sigma=0.1, tstart=2e8))
    joint = concat_observations(obs)
    joint = joint.assign(
        psf=joint.psf.isel(obs_id=0, drop=True), edisp=joint.edisp.isel(obs_id=0, drop=True)
    )
    folded = fold(joint, point())
    np.testing.assert_allclose(folded.isel(obs_id=1).values, 2 * folded.isel(obs_id=0).values)


def test_observations_with_the_same_exposure_and_psf_are_convolved_once():
    # runs 1, 3 and 4 share exposure and PSF (a light curve's runs); run 2 differs
    obs = [
        observation(1, exposure=1e5, sigma=0.1, tstart=1e8),
        observation(2, exposure=1e5, sigma=0.2, tstart=1.1e8),
        observation(3, exposure=1e5, sigma=0.1, tstart=1.2e8),
        observation(4, exposure=1e5, sigma=0.1, tstart=1.3e8),
    ]
    joint = concat_observations(obs)
    temporal = LinearTemporalModel(alpha=1.0, beta=0.01, t_ref=52000.0)
    model = SkyModel(gauss().spectral, gauss().spatial, temporal, name="g")
    evaluator = NpredEvaluator(joint)
    unique, inverse = evaluator._ctx.shared_batches()
    np.testing.assert_array_equal(unique, [0, 1])
    np.testing.assert_array_equal(inverse, [0, 1, 0, 0])
    evaluated = evaluator([model, FoVBackgroundModel("test")])
    for i, single in enumerate(obs):
        expected = npred(single, [model, FoVBackgroundModel("test")]).values
        np.testing.assert_allclose(evaluated.isel(obs_id=i).values, expected, rtol=1e-12)
    # all alike: one template for every run, broadcast over obs_id
    same = concat_observations([obs[0], obs[2].assign(edisp=obs[0].edisp)])
    evaluator = NpredEvaluator(same)
    unique, inverse = evaluator._ctx.shared_batches()
    np.testing.assert_array_equal(unique, [0])
    evaluated = evaluator([model])
    assert evaluator._sources["g"].template.shape[0] == 1
    # one migration matrix too: the first run's counts, scaled by the temporal factor
    assert evaluator._one_response
    np.testing.assert_allclose(evaluated.values, npred(same, [model]).values, rtol=1e-13)
    # every run different: nothing shared
    assert NpredEvaluator(concat_observations(obs[:2]))._ctx.shared_batches() is None


def test_fft_convolution_of_non_negative_images_is_not_negative():
    rng = np.random.default_rng(9)
    kernel = np.exp(-0.5 * (np.hypot(*np.mgrid[-6:7, -6:7]) / 2.0) ** 2)[None, None]
    image = np.zeros((1, 2, 60, 60))
    image[..., 20:40, 25:45] = rng.uniform(size=(1, 2, 20, 20))
    full = convolve_full(image, kernel, transforms=KernelTransforms(kernel))
    assert full.min() == 0.0  # the FFT's round-off below zero is cut
    from scipy.signal import convolve

    expected = convolve(image[0, 0], kernel[0, 0], mode="full")
    np.testing.assert_allclose(full[0, 0], expected, rtol=1e-12, atol=1e-14)
    # an image with negative values keeps its negative results
    signed = convolve_full(image - 0.5 * (image > 0), kernel)
    assert signed.min() < -1.0
    # a non-negative model folds to non-negative counts
    ds = make_dataset(width=3.0, binsz=0.05, psf_sigma=0.2)
    assert fold(ds, gauss(sigma=0.4)).values.min() >= 0.0


# -- temporal models ----------------------------------------------------------------------


def test_temporal_model_scales_by_its_mean_norm_over_the_run():
    from astropy.time import Time

    ds = make_dataset(background=False).assign_attrs(
        tstart=2.0e8, tstop=2.0e8 + 3600, mjdref=51910.0, timesys="tt"
    )
    temporal = LinearTemporalModel(alpha=2.0, beta=0.5, t_ref=54200.0)
    model = point()
    varying = SkyModel(model.spectral, model.spatial, temporal, name="pt")
    start = Time(51910.0, 2.0e8 / 86400, format="mjd", scale="tt").utc.mjd
    stop = Time(51910.0, (2.0e8 + 3600) / 86400, format="mjd", scale="tt").utc.mjd
    norm = float(temporal.integral(np.array([start]), np.array([stop]))[0])
    np.testing.assert_allclose(
        fold(ds, varying).values, norm * fold(ds, model).values, rtol=1e-12, atol=1e-15
    )
    assert norm > 2.0


def test_temporal_model_without_a_time_range_is_an_error():
    ds = make_dataset()
    varying = SkyModel(point().spectral, point().spatial, LinearTemporalModel(), name="pt")
    with pytest.raises(FoldingError, match="no time range"):
        fold(ds, varying)


# -- the cached evaluator -----------------------------------------------------------------


def random_changes(models: Models, rng: np.random.Generator) -> dict[str, float]:
    """A random change of one to three parameters (spectral or spatial)."""
    choices = {
        "a.spectral.index": lambda v: v + rng.normal(0, 0.1),
        "a.spectral.amplitude": lambda v: v * rng.uniform(0.5, 1.5),
        "a.spatial.lon_0": lambda v: v + rng.normal(0, 0.02),
        "a.spatial.lat_0": lambda v: v + rng.normal(0, 0.02),
        "b.spectral.index": lambda v: v + rng.normal(0, 0.1),
        "b.spatial.sigma": lambda v: abs(v + rng.normal(0, 0.02)) + 0.01,
        "b.spatial.lon_0": lambda v: v + rng.normal(0, 0.02),
        "test-bkg.spectral.norm": lambda v: v * rng.uniform(0.9, 1.1),
    }
    parameters = models.parameters
    names = rng.choice(list(choices), size=rng.integers(1, 4), replace=False)
    return {str(n): float(choices[n](parameters[n].value)) for n in names}


def test_evaluator_equals_uncached_for_random_parameter_changes():
    ds = make_dataset(width=2.5, binsz=0.04)
    models = Models(
        [
            point(name="a"),
            gauss(CENTRE[0] + 0.4, CENTRE[1] - 0.2, sigma=0.2, name="b"),
            FoVBackgroundModel("test"),
        ]
    )
    evaluator = NpredEvaluator(ds)
    rng = np.random.default_rng(7)
    previous = evaluator.evaluate(models)
    np.testing.assert_allclose(previous, npred(ds, models).values, rtol=1e-12, atol=1e-12)
    for _ in range(25):
        changes = random_changes(models, rng)
        models = models.with_parameters(**changes)
        result = evaluator.evaluate(models)
        expected = npred(ds, models).values
        np.testing.assert_allclose(result, expected, rtol=1e-10, atol=1e-10 * expected.max())
        # a changed parameter always changes the result
        assert not np.array_equal(result, previous), changes
        previous = result
    # unchanged models: the same numbers, in a new array
    again = evaluator.evaluate(models)
    np.testing.assert_array_equal(again, previous)
    assert again is not previous


def test_evaluator_total_stays_exact_over_many_updates():
    # one source at a time: the cached total is updated in place (more than
    # MAX_INCREMENTS times in a row), and summed afresh after large drops
    ds = make_dataset(width=1.2, background=False)
    models = Models(
        [point(name="a"), gauss(name="b"), point(CENTRE[0] + 0.3, CENTRE[1] - 0.2, name="c")]
    )
    evaluator = NpredEvaluator(ds)
    rng = np.random.default_rng(11)
    increments = []
    for step in range(90):
        name = str(rng.choice(["a", "b", "c"]))
        amplitude = models[name].spectral.parameters["amplitude"].value
        factor = 10 ** rng.uniform(-4, 4) if step in (75, 80, 85) else rng.uniform(0.5, 2.0)
        models = models.with_parameters(**{f"{name}.spectral.amplitude": amplitude * factor})
        result = evaluator.evaluate(models)
        expected = npred(ds, models).values
        np.testing.assert_allclose(result, expected, rtol=1e-11, atol=1e-13 * expected.max())
        increments.append(evaluator._increments)
    assert max(increments) == MAX_INCREMENTS  # then summed afresh


def test_evaluator_with_negative_amplitudes():
    ds = make_dataset()
    models = Models([point(name="a"), gauss(name="b"), FoVBackgroundModel("test")])
    evaluator = NpredEvaluator(ds)
    for amplitude in (1e-11, -3e-11, 2e-11, -1e-13):
        models = models.with_parameters(**{"a.spectral.amplitude": amplitude})
        expected = npred(ds, models).values
        np.testing.assert_allclose(evaluator.evaluate(models), expected, rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize(
    "change",
    [
        {"a.spectral.amplitude": 2.5e-11},
        {"a.spectral.index": 2.1},
        {"a.spectral.reference": 2.0},
        {"a.spatial.lon_0": CENTRE[0] + 1e-4},
        {"a.spatial.lat_0": CENTRE[1] - 1e-4},
        {"test-bkg.spectral.tilt": 0.1},
    ],
)
def test_every_parameter_change_changes_the_cached_result(change):
    ds = make_dataset()
    models = Models([point(name="a"), FoVBackgroundModel("test")])
    evaluator = NpredEvaluator(ds)
    before = evaluator.evaluate(models)
    changed = models.with_parameters(**change)
    after = evaluator.evaluate(changed)
    assert not np.array_equal(before, after)
    np.testing.assert_allclose(after, npred(ds, changed).values, rtol=1e-10, atol=1e-12)


def test_evaluator_forgets_removed_sources_and_handles_new_ones():
    ds = make_dataset()
    a, b = point(name="a"), gauss(name="b")
    evaluator = NpredEvaluator(ds)
    both = evaluator([a, b])
    only_a = evaluator([a])
    np.testing.assert_allclose(only_a.values, npred(ds, [a]).values, rtol=1e-12)
    np.testing.assert_allclose(both.values, npred(ds, [a, b]).values, rtol=1e-12)
    # a different model under the same name is not mistaken for the cached one
    moved = point(CENTRE[0] + 0.3, name="a")
    np.testing.assert_allclose(evaluator([moved]).values, npred(ds, [moved]).values, rtol=1e-12)
    disk = SkyModel(a.spectral, DiskSpatialModel(lon_0=10, lat_0=1, r_0=0.2), name="a")
    np.testing.assert_allclose(evaluator([disk]).values, npred(ds, [disk]).values, rtol=1e-12)


def test_evaluator_is_not_affected_by_later_changes_to_the_dataset():
    ds = make_dataset()
    evaluator = NpredEvaluator(ds)
    before = evaluator.evaluate([point()])
    ds["exposure"].values[...] = 0.0
    np.testing.assert_array_equal(evaluator.evaluate([point()]), before)
    assert evaluator.dims == ("energy", "lat", "lon")


# -- validation ---------------------------------------------------------------------------


def test_map_dataset_needs_a_spatial_model():
    with pytest.raises(FoldingError, match="spatial model"):
        fold(make_dataset(), SkyModel(PowerLawSpectralModel(), name="s"))


def test_background_model_needs_a_dataset_name():
    ds = make_dataset()
    del ds.attrs["name"]
    with pytest.raises(FoldingError, match="dataset_name"):
        npred(ds, [FoVBackgroundModel("test")])
    np.testing.assert_allclose(
        npred(ds, [FoVBackgroundModel("test")], dataset_name="test").values,
        ds.background.values,
        rtol=1e-6,
    )


def test_invalid_inputs():
    ds = make_dataset()
    with pytest.raises(FoldingError, match="SkyModel"):
        fold(ds, FoVBackgroundModel("test"))
    with pytest.raises(FoldingError, match="SkyModel or FoVBackgroundModel"):
        npred(ds, [PowerLawSpectralModel()])
    with pytest.raises(DimensionError, match="exposure"):
        fold(ds.drop_vars("exposure"), point())
    with pytest.raises(UnitError, match="exposure"):
        fold(ds.assign(exposure=ds.exposure.assign_attrs(units="TeV")), point())
    psf_map = ds.psf.expand_dims(lat=ds.lat)
    with pytest.raises(DimensionError, match="PSF and edisp maps"):
        fold(ds.assign(psf=psf_map), point())
    with pytest.raises(DimensionError):
        fold(xr.Dataset(), point())
    with pytest.raises(FoldingError, match="mjdref"):
        fold(ds.assign_attrs(tstart=0.0, tstop=10.0), point())


# -- the real Crab run --------------------------------------------------------------------


def test_crab_run_prediction_is_of_the_order_of_the_counts(crab_obs):
    geom = gx.make_geom(
        gx.energy_axis(0.5, 50, per_decade=5),
        gx.energy_axis(0.3, 100, per_decade=8, name="energy_true"),
        sky=gx.sky_grid((83.633, 22.014), width=3, binsz=0.02),
    )
    ds = gx.make_map_dataset(crab_obs, geom).assign_attrs(name="crab-run")
    crab = SkyModel(
        PowerLawSpectralModel(index=2.6, amplitude=3.8e-11, reference=1.0),
        PointSpatialModel(lon_0=83.633, lat_0=22.014),
        name="crab",
    )
    models = Models([crab, FoVBackgroundModel("crab-run")])
    predicted = npred(ds, models)
    safe = ds.mask_safe
    counts = float(ds.counts.where(safe).sum())
    expected = float(predicted.where(safe).sum())
    signal = float(fold(ds, crab).where(safe).sum())
    assert 0.7 < expected / counts < 1.4
    assert signal > 50
    # the counts near the Crab are of the order of the prediction there
    near = gx.angular_separation(ds.lon, ds.lat, 83.633, 22.014) < 0.2
    ratio = float(ds.counts.where(safe & near).sum()) / float(predicted.where(safe & near).sum())
    assert 0.6 < ratio < 1.6
    np.testing.assert_allclose(
        NpredEvaluator(ds)(models).values, predicted.values, rtol=1e-12, atol=1e-12
    )


# -- evaluate_since: the cached total and where it changed ----------------------------------


def outside(regions, shape):
    """Boolean ``(lat, lon)`` image: True outside every region."""
    keep = np.ones(shape[-2:], bool)
    for y0, y1, x0, x1 in regions:
        keep[y0:y1, x0:x1] = False
    return keep


def test_evaluate_since_says_where_the_total_changed():
    ds = make_dataset(width=2.5, binsz=0.04)
    models = Models(
        [
            point(name="a"),
            gauss(CENTRE[0] + 0.4, CENTRE[1] - 0.2, sigma=0.2, name="b"),
            FoVBackgroundModel("test"),
        ]
    )
    evaluator = NpredEvaluator(ds)
    values, version, regions = evaluator.evaluate_since(models, 0)
    assert regions is None  # the first call: everything is new
    assert not values.flags.writeable
    np.testing.assert_allclose(values, npred(ds, models).values, rtol=1e-12, atol=1e-12)
    rng = np.random.default_rng(5)
    seen = {"some": 0, "none": 0}
    for _ in range(40):
        previous = values.copy()
        changes = random_changes(models, rng)
        models = models.with_parameters(**changes)
        values, version, regions = evaluator.evaluate_since(models, version)
        expected = npred(ds, models).values
        np.testing.assert_allclose(values, expected, rtol=1e-10, atol=1e-10 * expected.max())
        if "test-bkg.spectral.norm" in changes:
            assert regions is None  # the background changed everywhere
        if regions is None:
            seen["none"] += 1
            continue
        seen["some"] += 1
        keep = outside(regions, values.shape)
        np.testing.assert_array_equal(values[:, keep], previous[:, keep])
        assert not np.array_equal(values[:, ~keep], previous[:, ~keep])
    assert seen["some"] > 10 and seen["none"] > 5
    # nothing changed: no region, the same numbers
    again, version, regions = evaluator.evaluate_since(models, version)
    assert regions == ()
    np.testing.assert_array_equal(again, values)
    # a source moved: its old and new cutouts, far less than the map
    moved = models.with_parameters(**{"a.spatial.lon_0": CENTRE[0] + 0.05})
    values, _, regions = evaluator.evaluate_since(moved, version)
    assert regions and outside(regions, values.shape).mean() > 0.5


def test_evaluate_since_knows_a_limited_past():
    ds = make_dataset()
    models = Models([point(name="a")])
    evaluator = NpredEvaluator(ds)
    _, first, _ = evaluator.evaluate_since(models, 0)
    version = first
    for k in range(CHANGE_LOG + 1):
        changed = models.with_parameters(**{"a.spectral.index": 2.0 + 0.01 * k})
        _, version, regions = evaluator.evaluate_since(changed, version)
        assert regions is not None
    assert evaluator.evaluate_since(changed, first)[2] is None  # older than the log
    assert evaluator.evaluate_since(changed, version + 5)[2] is None  # not one of its versions


def test_evaluate_since_is_the_unclipped_total_and_evaluate_clips_it():
    ds = make_dataset(background=False)
    models = Models([point(name="a"), gauss(name="b", amplitude=-2e-11)])
    evaluator = NpredEvaluator(ds)
    values, _, _ = evaluator.evaluate_since(models, 0)
    assert values.min() < 0
    clipped = evaluator.evaluate(models)
    np.testing.assert_array_equal(clipped, np.maximum(values, 0.0))
    np.testing.assert_allclose(clipped, npred(ds, models).values, rtol=1e-12, atol=1e-12)


def test_clip_is_skipped_only_when_no_value_is_negative():
    ds = make_dataset()
    positive = Models([point(name="a"), FoVBackgroundModel("test")])
    evaluator = NpredEvaluator(ds)
    np.testing.assert_array_equal(evaluator.evaluate(positive), npred(ds, positive).values)
    assert evaluator._nonnegative  # a point source (direct convolution) and the background
    negative = positive.with_parameters(**{"a.spectral.amplitude": -1e-7})
    result = evaluator.evaluate(negative)
    assert not evaluator._nonnegative
    assert result.min() == 0.0
    np.testing.assert_allclose(result, npred(ds, negative).values, rtol=1e-12, atol=1e-12)
    # back to positive counts: summed afresh (a negative source was in the total)
    back = positive.with_parameters(**{"a.spectral.amplitude": 2e-11})
    np.testing.assert_allclose(
        evaluator.evaluate(back), npred(ds, back).values, rtol=1e-12, atol=1e-12
    )
    assert evaluator._nonnegative


def test_spectral_integrals_are_shared_while_the_model_object_is_the_same():
    ds = make_dataset(background=False)
    models = Models([point(name="a")])
    edges = np.geomspace(0.5, 50, 7)
    spectral = models["a"].spectral
    first = spectral_integral(spectral, edges, edges.tobytes())
    assert spectral_integral(spectral, edges, edges.tobytes()) is first
    np.testing.assert_allclose(first[0], spectral.integral(edges[:-1], edges[1:]), rtol=1e-14)
    other = np.geomspace(0.5, 50, 4)
    assert spectral_integral(spectral, other, other.tobytes()).shape == (1, 3)
    # two datasets with the same binning, models changed between calls
    a, b = NpredEvaluator(ds), NpredEvaluator(ds.assign(exposure=2 * ds.exposure))
    for index in (2.0, 2.5, 2.5, 3.0):
        models = models.with_parameters(**{"a.spectral.index": index})
        np.testing.assert_allclose(a.evaluate(models), npred(ds, models).values, rtol=1e-12)
        np.testing.assert_allclose(b.evaluate(models), 2 * a.evaluate(models), rtol=1e-6)


def test_evaluator_recovers_after_an_overflowing_model():
    # index 2000: 0.5 TeV ** -2000 overflows, the counts of "a" are not finite;
    # the cached total must not keep them (subtracting inf or NaN leaves NaN)
    ds = make_dataset(background=True)
    models = Models([point(name="a"), gauss(name="b"), FoVBackgroundModel("test")])
    evaluator = NpredEvaluator(ds)
    evaluator.evaluate(models)
    overflowing = models.with_parameters(**{"a.spectral.index": 2000.0})
    with np.errstate(over="ignore", invalid="ignore"):
        assert not np.isfinite(evaluator.evaluate(overflowing)).all()
    for index in (2.5, 2.4):  # updated in place from the overflow, then from a finite state
        changed = models.with_parameters(**{"a.spectral.index": index})
        expected = npred(ds, changed).values
        np.testing.assert_allclose(evaluator.evaluate(changed), expected, rtol=1e-12)


def test_runs_differing_by_a_temporal_factor_fold_once():
    # two runs alike but for their time: an exponential decay scales the second run
    obs = [observation(k, exposure=1e5, sigma=0.1, tstart=t) for k, t in ((1, 1e8), (2, 1.0004e8))]
    joint = concat_observations([obs[0], obs[1].assign(edisp=obs[0].edisp)])
    temporal = ExpDecayTemporalModel(t0=0.5, t_ref=51910.0 + 1e8 / 86400.0)  # t0 in days
    model = SkyModel(gauss().spectral, gauss().spatial, temporal, name="g")
    evaluator = NpredEvaluator(joint)
    evaluated = evaluator([model]).values
    assert evaluator._one_response
    for i, single in enumerate(obs):
        expected = npred(single.assign(edisp=obs[0].edisp), [model]).values
        np.testing.assert_allclose(evaluated[i], expected, rtol=1e-12, atol=1e-14 * expected.max())
    source = evaluated - joint.background.transpose("obs_id", ...).values
    assert 0.3 < source[1].sum() / source[0].sum() < 0.5  # the decay: exp(-0.93) = 0.40
