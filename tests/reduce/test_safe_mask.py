"""Safe-mask methods: definitions, Gammapy golden masks, combination and validation."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from scipy.interpolate import RegularGridInterpolator

import gammaxr as gx
from gammaxr.exceptions import ConfigError
from gammaxr.reduce import (
    SAFE_MASK_METHODS,
    energy_mask,
    make_background,
    make_map_dataset,
    make_safe_mask,
    mask_aeff_default,
    mask_aeff_max,
    mask_bkg_invalid,
    mask_bkg_peak,
    mask_edisp_bias,
    mask_offset_max,
    safe_mask_methods,
)


def bins(mask) -> str:
    """An energy mask (or a cube's any-pixel projection) as a string of 0/1."""
    if mask.ndim > 1:
        mask = mask.any([dim for dim in mask.dims if dim != "energy"])
    return "".join(str(int(v)) for v in mask.values)


def _loglog(energies, values, energy):
    """Log-log interpolation of positive ``values`` at ``energy`` (independent of gammaxr)."""
    log_values = np.log(np.clip(values, np.finfo(float).tiny, None))
    return float(np.exp(np.interp(np.log(energy), np.log(energies), log_values)))


def test_energy_mask_keeps_whole_bins(geom):
    edges = geom.energy_lo.values
    assert bins(energy_mask(geom)) == "1" * 10
    assert bins(energy_mask(geom, edges[2])) == "0011111111"
    assert bins(energy_mask(geom, edges[2] * (1 + 1e-12))) == "0011111111"  # rounding
    assert bins(energy_mask(geom, edges[2] * 1.001)) == "0001111111"
    assert bins(energy_mask(geom, None, 20.0)) == "1111111100"
    assert bins(energy_mask(geom, float("nan"))) == "0" * 10


def test_offset_max(crab_obs, geom):
    mask = mask_offset_max(crab_obs, geom, offset_max=1.2)
    assert mask.dims == ("lat", "lon")
    lon, lat = np.meshgrid(geom.lon.values, geom.lat.values)
    pointing = SkyCoord(crab_obs.pointing.ra, crab_obs.pointing.dec, unit="deg")
    offset = SkyCoord(lon, lat, unit="deg").separation(pointing).deg
    np.testing.assert_array_equal(mask.values, offset < 1.2)
    assert 0 < mask.values.mean() < 1


def test_aeff_default_uses_the_aeff_thresholds(crab_obs, geom):
    assert crab_obs.aeff.attrs["lo_thres"] == pytest.approx(0.870963589956081)
    assert bins(mask_aeff_default(crab_obs, geom)) == "0011111111"  # Gammapy 2.1


def test_aeff_default_falls_back_to_the_obs_index(crab_obs, geom, fake_observation):
    aeff = crab_obs.aeff.copy()
    aeff.attrs = {"units": "m2"}
    fake = fake_observation(
        pointing=crab_obs.pointing, aeff=aeff, info={"safe_energy_lo": 1.9, "safe_energy_hi": 20}
    )
    assert bins(mask_aeff_default(fake, geom)) == "0001111100"
    with pytest.warns(UserWarning, match=r"no (lo|hi)_thres") as record:
        open_range = mask_aeff_default(fake_observation(crab_obs.pointing, aeff=aeff), geom)
    assert bins(open_range) == "1" * 10
    assert len(record) == 2


def test_aeff_max_threshold(crab_obs, geom, dataset):
    mask = mask_aeff_max(crab_obs, geom, percent=10)
    assert bins(mask) == "0111111111"  # Gammapy 2.1
    threshold = mask.attrs["energy_min"]
    aeff = crab_obs.aeff
    interp = RegularGridInterpolator((np.log(aeff.energy_true.values), aeff.offset.values),
                                     aeff.values)  # fmt: skip
    energies = geom.energy_true.values
    offset = dataset.attrs["irf_offset"]
    values = interp(np.stack([np.log(energies), np.full(energies.size, offset)], axis=-1))
    # At the threshold the (log-log interpolated) area is 10 % of its maximum, below it less.
    assert _loglog(energies, values, threshold) == pytest.approx(0.1 * values.max(), rel=1e-9)
    below = np.geomspace(energies[0], threshold * 0.999, 50)
    assert all(_loglog(energies, values, e) < 0.1 * values.max() for e in below)
    np.testing.assert_array_equal(mask.values, geom.energy_lo.values >= threshold)
    higher = mask_aeff_max(crab_obs, geom, percent=60)
    assert higher.attrs["energy_min"] > threshold
    assert bins(higher).count("1") < bins(mask).count("1")


def test_aeff_max_with_zero_area_masks_everything(crab_obs, geom, fake_observation):
    fake = fake_observation(pointing=crab_obs.pointing, aeff=crab_obs.aeff * 0)
    mask = mask_aeff_max(fake, geom)
    assert not mask.any()
    assert np.isnan(mask.attrs["energy_min"])


def test_aeff_max_fixed_offset(crab_obs, geom):
    near = mask_aeff_max(crab_obs, geom, offset=0.0).attrs["energy_min"]
    far = mask_aeff_max(crab_obs, geom, offset=2.0).attrs["energy_min"]
    assert far > near


def test_edisp_bias_threshold(crab_obs, geom, dataset):
    mask = mask_edisp_bias(crab_obs, geom, percent=10, edisp=dataset.edisp)
    assert bins(mask) == "0011111111"  # Gammapy 2.1
    assert mask.equals(mask_edisp_bias(crab_obs, geom, percent=10))
    reco_threshold = mask.attrs["energy_min"]
    true_threshold = reco_threshold / 1.1
    edisp = dataset.edisp.values.astype(float)
    e_true, e_reco = geom.energy_true.values, geom.energy.values
    total = edisp.sum(axis=1)
    mean = np.where(total > 0, edisp @ e_reco / np.where(total > 0, total, 1), 0)
    bias = (mean - e_true) / e_true
    peak = int(np.argmax(bias))
    assert e_true[peak] <= true_threshold
    assert _loglog(e_true, bias, true_threshold) == pytest.approx(0.1, rel=1e-6)
    np.testing.assert_array_equal(mask.values, geom.energy_lo.values >= reco_threshold)


def test_bkg_peak(crab_obs, geom, dataset, gammapy_bkg):
    spectrum = dataset.background.sum(("lat", "lon"))
    mask = mask_bkg_peak(dataset.background)
    peak = int(spectrum.argmax("energy"))
    np.testing.assert_array_equal(mask.values, np.arange(10) >= peak)
    assert bins(mask) == "1111111111"
    # Gammapy's one-power-law-per-bin background peaks one bin later.
    edges = make_background(crab_obs, geom, bkg=gammapy_bkg, integration="edges")
    assert bins(mask_bkg_peak(edges)) == "0111111111"  # Gammapy 2.1


def test_bkg_invalid(crab_obs):
    far = gx.make_geom(
        gx.energy_axis(0.5, 50, nbin=2),
        sky=gx.sky_grid((crab_obs.pointing.ra, crab_obs.pointing.dec), width=7, binsz=0.5),
    )
    background = make_background(crab_obs, far)
    invalid = mask_bkg_invalid(background)
    np.testing.assert_array_equal(invalid.values, background.values > 0)
    assert not invalid.all() and invalid.any()


def test_make_safe_mask_is_the_and_of_its_parts(crab_obs, geom, dataset):
    combined = dataset.mask_safe
    assert combined.dims == ("energy", "lat", "lon")
    expected = (
        mask_offset_max(crab_obs, geom)
        & mask_aeff_default(crab_obs, geom)
        & mask_aeff_max(crab_obs, geom)
        & mask_edisp_bias(crab_obs, geom)
        & mask_bkg_peak(dataset.background)
        & mask_bkg_invalid(dataset.background)
    ).transpose("energy", "lat", "lon")
    np.testing.assert_array_equal(combined.values, expected.values)
    assert bins(combined) == "0011111111"  # Gammapy 2.1, all five methods
    assert dataset.attrs["safe_mask"] == ",".join(SAFE_MASK_METHODS)


def test_safe_mask_options_mapping(crab_obs, geom):
    ds = make_map_dataset(
        crab_obs, geom, products=("mask_safe",), safe_mask={"offset-max": {"offset_max": 1.0},
                                                             "aeff-max": {"percent": 30}},
    )  # fmt: skip
    direct = mask_offset_max(crab_obs, geom, offset_max=1.0) & mask_aeff_max(
        crab_obs, geom, percent=30
    )
    np.testing.assert_array_equal(ds.mask_safe.values, direct.transpose("energy", "lat", "lon"))
    assert ds.attrs["safe_mask"] == "offset-max,aeff-max"


def test_bkg_peak_without_a_background_product(crab_obs, geom):
    ds = make_map_dataset(crab_obs, geom, products=("mask_safe",), safe_mask=["bkg-peak"])
    assert bins(ds.mask_safe) == "1111111111"
    # Zero-background bins are excluded only when the background is a product.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mask = make_safe_mask(crab_obs, geom, ["offset-max"])
    assert mask.all()


def test_safe_mask_validation(crab_obs, geom):
    with pytest.raises(ConfigError, match="unknown safe-mask methods"):
        safe_mask_methods(["aeff-default", "psf-max"])
    with pytest.raises(ConfigError, match="unknown options"):
        safe_mask_methods({"aeff-max": {"percentage": 10}})
    with pytest.raises(ConfigError, match="unknown options"):
        safe_mask_methods({"bkg-peak": {"percent": 10}})
    with pytest.raises(ConfigError, match="percent"):
        mask_aeff_max(crab_obs, geom, percent=0)
    with pytest.raises(ConfigError, match="percent"):
        mask_edisp_bias(crab_obs, geom, percent=-5)
    with pytest.raises(ConfigError, match="offset_max"):
        mask_offset_max(crab_obs, geom, offset_max=0)
    assert safe_mask_methods("aeff-max") == {"aeff-max": {}}
