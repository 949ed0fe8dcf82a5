"""Ring and adaptive ring background: flat fields, exclusion, dask, and Gammapy 2.1 numbers."""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest
import xarray as xr
from astropy.coordinates import SkyCoord
from regions import CircleAnnulusSkyRegion, CircleSkyRegion

import gammaxr as gx
from gammaxr.exceptions import ConfigError, DimensionError
from gammaxr.reduce import make_adaptive_ring_background, make_map_dataset, make_ring_background
from gammaxr.reduce.ring import ring_kernel

# Gammapy 2.1 on the deterministic field of `pattern` (60 x 60 pixels of 0.02 deg at the
# galactic origin, counts (7 i + 13 j) % 5, background 1 + 0.01 i + 0.02 j, i the lat and
# j the lon index with lon increasing, pixels with 20 <= i < 35 and 30 <= j < 45
# excluded); Gammapy's arrays flipped to gammaxr's increasing lon.
# RingBackgroundMaker(r_in=0.21 deg, width=0.13 deg):
GAMMAPY_RING_SUMS = (2615220, 2449373.0)  # counts_off, acceptance_off (float32 sum)
GAMMAPY_RING_PIXELS = {  # (i, j): (counts_off, acceptance_off)
    (0, 0): (290, 183.4),
    (10, 50): (527, 543.57),
    (30, 30): (940, 875.95),
    (27, 37): (1100, 1109.52),
    (59, 59): (290, 363.25),
}
# AdaptiveRingBackgroundMaker(r_in=0.11, r_out_max=0.51, width=0.07, stepsize=0.04 deg,
# threshold_alpha=0.008, theta=0.1 deg). Gammapy builds its theta kernel with radius
# theta * pixel_scale (0.1 deg * 0.02 deg = 0.002 "pixels": the central pixel only), so its
# alpha is background / acceptance_off per pixel: gammaxr's theta=0.002 deg reproduces it.
# Gammapy leaves NaN in the 112 pixels no ring serves (gammaxr: 0 and mask_safe False).
GAMMAPY_ADAPTIVE_SUMS = (993326.0, 930978.8535836305)
GAMMAPY_ADAPTIVE_PIXELS = {
    (0, 0): (200, 131.4599908784294),
    (10, 50): (310, 327.6000032057246),
    (30, 30): (276, 246.61000),
    (27, 37): (310, 305.5200005482151),
}
GAMMAPY_ADAPTIVE_UNSERVED = 112


def _dataset(counts, background, sky, energy=None):
    dims = ("lat", "lon")
    coords = dict(sky.coords)
    if energy is not None:
        dims = ("energy", *dims)
        coords.update(energy.coords)
    counts = xr.DataArray(counts, dims=dims, coords=coords, attrs={"units": ""})
    background = xr.DataArray(background, dims=dims, coords=coords, attrs={"units": ""})
    return xr.Dataset(
        {"counts": counts, "background": background, "mask_safe": xr.ones_like(counts, bool)},
        attrs={"frame": sky.attrs["frame"]},
    )


@pytest.fixture(scope="module")
def pattern():
    sky = gx.sky_grid((0, 0), width=1.2, binsz=0.02, frame="galactic")
    i, j = np.mgrid[:60, :60]
    dataset = _dataset(
        ((7 * i + 13 * j) % 5).astype(np.int64), (1 + 0.01 * i + 0.02 * j).astype(np.float32), sky
    )
    mask = xr.DataArray(
        (i >= 20) & (i < 35) & (j >= 30) & (j < 45),
        dims=("lat", "lon"),
        coords=sky.coords,
        attrs={"frame": "galactic"},
    )
    return dataset, mask


def test_flat_field_gives_the_ring_area_ratio_and_no_excess():
    sky = gx.sky_grid((83.6, 22.0), width=3, binsz=0.02)
    energy = gx.energy_axis(1, 10, nbin=2)
    counts = np.full((2, 150, 150), 7, dtype=np.int64)
    background = np.full((2, 150, 150), 7.0, dtype=np.float32)
    result = make_ring_background(_dataset(counts, background, sky, energy), r_in=0.3, width=0.2)
    kernel = ring_kernel(sky, r_in=0.3, width=0.2)
    n_ring = kernel.sum()
    # The kernel covers the ring's area in pixels of this grid (cos(lat) narrower in lon).
    pixel = 0.02 * 0.02 * np.cos(np.deg2rad(22.0))
    assert n_ring == pytest.approx(np.pi * (0.5**2 - 0.3**2) / pixel, rel=0.02)
    interior = (slice(None), slice(30, 120), slice(40, 110))
    alpha = (result.acceptance / result.acceptance_off)[interior]
    np.testing.assert_allclose(alpha.values, 1 / n_ring, rtol=1e-6)
    np.testing.assert_array_equal(result.counts_off[interior].values, 7 * n_ring)
    excess = result.counts - alpha * result.counts_off
    np.testing.assert_allclose(excess.values, 0, atol=1e-4)
    assert result.counts_off.dtype == np.int64 and result.acceptance_off.dtype == np.float32
    assert result.counts_off.dims == ("energy", "lat", "lon")
    assert result.attrs["off_method"] == "ring" and result.attrs["ring_r_in"] == 0.3
    # Near the edges the ring is cut by the map: alpha grows, the excess stays zero.
    assert float(result.acceptance_off[0, 0, 0]) < float(result.acceptance_off[0, 75, 75])
    np.testing.assert_allclose((result.counts - result.acceptance / result.acceptance_off
                                * result.counts_off).values, 0, atol=1e-4)  # fmt: skip


def test_excluded_source_is_recovered():
    sky = gx.sky_grid((83.6, 22.0), width=3, binsz=0.02)
    centre = CircleSkyRegion(SkyCoord(83.6, 22.0, unit="deg"), 0.1 * u.deg)
    source = gx.region_mask(centre, sky).values
    counts = np.where(source, 15, 5).astype(np.int64)
    background = np.full(counts.shape, 5.0, dtype=np.float32)
    dataset = _dataset(counts, background, sky)
    mask = gx.region_mask(CircleSkyRegion(centre.center, 0.2 * u.deg), sky)
    result = make_ring_background(dataset, r_in=0.3, width=0.2, exclusion_mask=mask)
    excess = result.counts - result.acceptance / result.acceptance_off * result.counts_off
    interior = dict(lat=slice(30, 120), lon=slice(40, 110))
    outside = excess.isel(interior).where(~source[30:120, 40:110], 0.0)
    np.testing.assert_allclose(outside.values, 0, atol=1e-4)
    assert float(excess.where(source).sum()) == pytest.approx(10 * source.sum(), rel=1e-5)
    # Without the exclusion, the rings of pixels 0.3-0.5 deg from the source cross it and
    # overestimate their background.
    plain = make_ring_background(dataset, r_in=0.3, width=0.2)
    plain_excess = plain.counts - plain.acceptance / plain.acceptance_off * plain.counts_off
    around = gx.region_mask(CircleAnnulusSkyRegion(centre.center, 0.3 * u.deg, 0.5 * u.deg), sky)
    assert float(plain_excess.where(around).sum()) < -100
    assert float(excess.where(around).sum()) == pytest.approx(0, abs=1e-3)


def test_ring_matches_gammapy(pattern):
    dataset, mask = pattern
    result = make_ring_background(dataset, r_in=0.21, width=0.13, exclusion_mask=mask)
    assert int(result.counts_off.sum()) == GAMMAPY_RING_SUMS[0]
    assert float(result.acceptance_off.sum(dtype=np.float64)) == pytest.approx(
        GAMMAPY_RING_SUMS[1], rel=1e-6
    )
    for (i, j), (counts_off, acceptance_off) in GAMMAPY_RING_PIXELS.items():
        assert int(result.counts_off[i, j]) == counts_off
        assert float(result.acceptance_off[i, j]) == pytest.approx(acceptance_off, rel=1e-6)


def test_adaptive_ring_matches_gammapy(pattern):
    dataset, mask = pattern
    result = make_adaptive_ring_background(
        dataset, r_in=0.11, r_out_max=0.51, width=0.07, stepsize=0.04, threshold_alpha=0.008,
        theta=0.002, exclusion_mask=mask,
    )  # fmt: skip
    assert int(result.counts_off.sum()) == GAMMAPY_ADAPTIVE_SUMS[0]
    assert float(result.acceptance_off.sum(dtype=np.float64)) == pytest.approx(
        GAMMAPY_ADAPTIVE_SUMS[1], rel=1e-6
    )
    for (i, j), (counts_off, acceptance_off) in GAMMAPY_ADAPTIVE_PIXELS.items():
        assert int(result.counts_off[i, j]) == counts_off
        assert float(result.acceptance_off[i, j]) == pytest.approx(acceptance_off, rel=1e-6)
    unserved = result.acceptance_off == 0
    assert int(unserved.sum()) == GAMMAPY_ADAPTIVE_UNSERVED
    assert not result.mask_safe.where(unserved, False).any()
    assert (result.counts_off.where(unserved, 0) == 0).all()
    assert result.attrs["off_method"] == "adaptive_ring"


def test_adaptive_ring_reaches_the_threshold(pattern):
    dataset, mask = pattern
    threshold, theta = 0.05, 0.04
    result = make_adaptive_ring_background(
        dataset, r_in=0.11, r_out_max=0.51, width=0.07, stepsize=0.04,
        threshold_alpha=threshold, theta=theta, exclusion_mask=mask,
    )  # fmt: skip
    # alpha of a theta disk, with the disk sum done directly.
    lon, lat = np.meshgrid(dataset.lon.values, dataset.lat.values)
    background = dataset.background.values.astype(float)
    disk = np.empty_like(background)
    for a in range(60):
        for b in range(60):
            near = np.hypot(lon - lon[a, b], lat - lat[a, b]) <= theta * (1 + 1e-9)
            disk[a, b] = background[near].sum()
    served = result.acceptance_off.values > 0
    alpha_theta = disk[served] / result.acceptance_off.values[served]
    assert served.sum() > 1000
    assert alpha_theta.max() <= threshold * (1 + 1e-6)
    # Some pixels needed a larger ring than the first one.
    first = make_ring_background(dataset, r_in=0.11, width=0.07, exclusion_mask=mask)
    grown = result.acceptance_off.values > first.acceptance_off.values * (1 + 1e-6)
    assert grown.any()
    # ... and that ring is the first to reach the threshold: the one before did not.
    fixed_r_in = make_adaptive_ring_background(
        dataset, r_in=0.11, r_out_max=0.51, width=0.07, stepsize=0.04,
        threshold_alpha=threshold, theta=theta, exclusion_mask=mask, method="fixed_r_in",
    )  # fmt: skip
    assert fixed_r_in.attrs["ring_method"] == "fixed_r_in"
    assert (fixed_r_in.acceptance_off.values[served] > 0).all()


def test_vectorised_over_extra_dims_and_lazy_with_dask():
    sky = gx.sky_grid((10, 0), width=1.0, binsz=0.05, frame="galactic")
    energy = gx.energy_axis(1, 10, nbin=3)
    rng = np.random.default_rng(0)
    counts = rng.poisson(4, size=(3, 20, 20)).astype(np.int64)
    background = rng.uniform(3, 5, size=(3, 20, 20)).astype(np.float32)
    dataset = _dataset(counts, background, sky, energy)
    joint = xr.concat([dataset, dataset], dim="obs_id").assign_coords(obs_id=[1, 2])
    result = make_ring_background(joint, r_in=0.2, width=0.15)
    for k in range(3):
        single = make_ring_background(dataset.isel(energy=[k]), r_in=0.2, width=0.15)
        np.testing.assert_array_equal(
            result.counts_off.sel(obs_id=2).isel(energy=k).values, single.counts_off[0].values
        )
    lazy = make_ring_background(joint.chunk({"energy": 1}), r_in=0.2, width=0.15)
    assert lazy.counts_off.chunks is not None
    xr.testing.assert_equal(lazy.compute(), result)
    adaptive = make_adaptive_ring_background(
        joint.chunk({"energy": 1}), r_in=0.1, r_out_max=0.45, width=0.1, threshold_alpha=0.05,
        theta=0.06,
    )  # fmt: skip
    assert adaptive.counts_off.chunks is not None
    xr.testing.assert_equal(
        adaptive.compute(),
        make_adaptive_ring_background(joint, r_in=0.1, r_out_max=0.45, width=0.1,
                                      threshold_alpha=0.05, theta=0.06),
    )  # fmt: skip


def test_crab_ring_background_agrees_with_reflected_regions(crab_obs):
    geom = gx.make_geom(
        gx.energy_axis(0.5, 50, nbin=10), sky=gx.sky_grid((83.633, 22.014), width=3, binsz=0.02)
    )
    dataset = make_map_dataset(crab_obs, geom, products=["counts", "background"], safe_mask=[])
    crab = CircleSkyRegion(SkyCoord(83.633, 22.014, unit="deg"), 0.11 * u.deg)
    mask = gx.region_mask(CircleSkyRegion(crab.center, 0.3 * u.deg), dataset)
    result = make_ring_background(dataset, r_in=0.5, width=0.3, exclusion_mask=mask)
    on = gx.region_mask(crab, dataset)
    alpha = result.acceptance / result.acceptance_off
    background = float((alpha * result.counts_off).where(on).sum())
    # Reflected regions (Gammapy and gammaxr): 217 / 12 = 18.1 background events in the
    # 0.11 deg circle (188 counts); the ring, on 0.02 deg pixel centres (183 counts), 18.0.
    assert int(result.counts.where(on).sum()) == 183
    assert background == pytest.approx(18.0, abs=0.05)


def test_invalid_inputs(pattern):
    dataset, mask = pattern
    with pytest.raises(DimensionError, match="background"):
        make_ring_background(dataset.drop_vars("background"), r_in=0.2, width=0.1)
    with pytest.raises(ConfigError, match="width"):
        make_ring_background(dataset, r_in=0.2, width=0)
    with pytest.raises(DimensionError, match="boolean"):
        make_ring_background(dataset, r_in=0.2, width=0.1, exclusion_mask=mask.astype(int))
    with pytest.raises(ConfigError, match="method"):
        make_adaptive_ring_background(dataset, r_in=0.1, r_out_max=0.5, width=0.1, method="grow")
    with pytest.raises(ConfigError, match="no ring fits"):
        make_adaptive_ring_background(dataset, r_in=0.4, r_out_max=0.5, width=0.1)
    with pytest.raises(ConfigError, match="stepsize"):
        make_adaptive_ring_background(dataset, r_in=0.1, r_out_max=0.5, width=0.1, stepsize=0)
    with pytest.raises(ConfigError, match="threshold_alpha"):
        make_adaptive_ring_background(
            dataset, r_in=0.1, r_out_max=0.5, width=0.1, threshold_alpha=0
        )
