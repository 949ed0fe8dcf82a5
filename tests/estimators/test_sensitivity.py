"""Differential sensitivity: required excess, criteria, flux conversion."""

import numpy as np
import pytest
import scipy.optimize
import xarray as xr

import gammaxr as gx
from gammaxr.estimators import sensitivity
from gammaxr.estimators.sensitivity import required_excess
from gammaxr.exceptions import DimensionError, FormatError
from gammaxr.models import ExpCutoffPowerLawSpectralModel, PowerLawSpectralModel

ERG_PER_TEV = 1.602176634


def li_ma(n_on, n_off, alpha):
    """Li & Ma (1983) eq. 17, written out."""
    term_on = n_on * np.log((1 + alpha) / alpha * n_on / (n_on + n_off))
    term_off = n_off * np.log((1 + alpha) * n_off / (n_on + n_off))
    return np.sqrt(2 * (term_on + term_off))


def cash_sig(n_on, b):
    return np.sqrt(2 * (n_on * np.log1p((n_on - b) / b) - (n_on - b)))


def spectrum_dataset(background, *, exposure=1e12, edisp=False):
    energy = gx.energy_axis(0.1, 100, nbin=len(background))
    energy_true = gx.energy_axis(0.1, 100, nbin=len(background), name="energy_true")
    ds = gx.make_geom(energy, energy_true).assign(
        exposure=("energy_true", np.full(len(background), exposure), {"units": "cm2 s"}),
        background=("energy", np.asarray(background, float), {"units": ""}),
        mask_safe=("energy", np.ones(len(background), bool)),
    )
    if edisp:
        ds["edisp"] = (("energy_true", "energy"), np.eye(len(background)), {"units": ""})
    return ds


def on_off(background, alpha, **kwargs):
    ds = spectrum_dataset(background, **kwargs).drop_vars("background")
    ones = np.ones(len(background))
    return ds.assign(
        counts_off=("energy", np.asarray(background, float) / alpha, {"units": ""}),
        acceptance=("energy", ones, {"units": ""}),
        acceptance_off=("energy", ones / alpha, {"units": ""}),
    )


@pytest.mark.parametrize("b", [0.01, 0.5, 3.0, 100.0, 1e5])
def test_required_excess_cash_reaches_n_sigma(b):
    s = required_excess(b, n_sigma=5)
    expected = scipy.optimize.brentq(lambda x: cash_sig(b + x, b) - 5, 1.0, 1e7, xtol=1e-12)
    assert s == pytest.approx(expected, rel=1e-9)
    assert cash_sig(b + s, b) == pytest.approx(5, rel=1e-10)


def test_required_excess_cash_large_background_limit():
    # s / sqrt(b) -> n_sigma when b >> 1 (Gaussian limit)
    b = np.array([1e6, 1e8])
    s = required_excess(b, n_sigma=3)
    np.testing.assert_allclose(s / np.sqrt(b), 3, rtol=2e-3)


@pytest.mark.parametrize(("n_off", "alpha"), [(100.0, 0.2), (5.0, 1.0), (1e4, 0.01), (0.0, 0.5)])
def test_required_excess_wstat_matches_li_ma(n_off, alpha):
    s = required_excess(alpha * n_off, n_sigma=5, n_off=n_off, alpha=alpha)
    if n_off == 0:  # n_off = 0: TS = 2 n_on ln((1 + alpha) / alpha)
        assert 2 * s * np.log((1 + alpha) / alpha) == pytest.approx(25, rel=1e-10)
    else:
        assert li_ma(alpha * n_off + s, n_off, alpha) == pytest.approx(5, rel=1e-10)


def test_required_excess_wstat_tends_to_cash_for_small_alpha():
    b = 20.0
    s_cash = required_excess(b, n_sigma=5)
    s_wstat = required_excess(b, n_sigma=5, n_off=b / 1e-6, alpha=1e-6)
    assert s_wstat == pytest.approx(s_cash, rel=1e-4)
    # a finite off region needs more excess than a known background
    assert required_excess(b, n_sigma=5, n_off=b / 0.2, alpha=0.2) > 1.05 * s_cash


def test_required_excess_bad_input():
    with pytest.raises(FormatError, match="n_sigma"):
        required_excess(1.0, n_sigma=-1)
    with pytest.raises(FormatError, match="both n_off and alpha"):
        required_excess(1.0, n_off=3.0)
    assert np.isnan(required_excess([-1.0, np.nan])).all()


def test_sensitivity_analytic_power_law_and_criteria():
    # bin 0: huge background (bkg systematics), bin 1: significance, bin 2: gamma_min
    background = np.array([1e6, 400.0, 0.1])
    ds = spectrum_dataset(background)
    sens = sensitivity(ds, n_sigma=5, gamma_min=10, bkg_syst_fraction=0.05)
    assert sens.criterion.values.tolist() == ["bkg", "significance", "gamma"]
    s_sig = scipy.optimize.brentq(lambda x: cash_sig(400 + x, 400) - 5, 1, 1e4, xtol=1e-10)
    np.testing.assert_allclose(sens.excess.values, [5e4, s_sig, 10.0], rtol=1e-9)

    # analytic flux: power law of index 2, no edisp, exposure 1e12 cm2 s
    lo, hi, e_ref = (sens[name].values for name in ("energy_lo", "energy_hi", "energy"))
    amplitude = 1e-12  # the default reference; it cancels
    ref_npred = amplitude * (1 / lo - 1 / hi) * 1e12
    np.testing.assert_allclose(sens.ref_npred.values, ref_npred, rtol=1e-10)
    dnde = sens.excess.values / ref_npred * amplitude * e_ref**-2
    np.testing.assert_allclose(sens.dnde.values, dnde, rtol=1e-10)
    np.testing.assert_allclose(sens.e2dnde.values, dnde * e_ref**2 * ERG_PER_TEV, rtol=1e-9)
    assert sens.e2dnde.attrs["units"] == "erg cm-2 s-1"
    assert sens.dnde.attrs["units"] == "cm-2 s-1 TeV-1"
    assert sens.attrs["statistic"] == "cash"
    # doubling the exposure halves the flux of the significance-limited bins
    twice = sensitivity(spectrum_dataset(background, exposure=2e12))
    np.testing.assert_allclose(twice.e2dnde / sens.e2dnde, 0.5, rtol=1e-10)


def test_sensitivity_reference_model_shape_matters_amplitude_does_not():
    ds = spectrum_dataset(np.array([50.0, 5.0, 0.5]), edisp=True)
    a = sensitivity(ds, spectral_model=PowerLawSpectralModel(index=2.5, amplitude=1e-11))
    b = sensitivity(ds, spectral_model=PowerLawSpectralModel(index=2.5, amplitude=3e-14))
    np.testing.assert_allclose(a.e2dnde, b.e2dnde, rtol=1e-10)
    c = sensitivity(ds, spectral_model=ExpCutoffPowerLawSpectralModel(index=2.5, lambda_=0.5))
    assert not np.allclose(a.e2dnde, c.e2dnde, rtol=1e-3, atol=0)
    # identity edisp equals no edisp
    d = sensitivity(ds.drop_vars("edisp"), spectral_model=PowerLawSpectralModel(index=2.5))
    np.testing.assert_allclose(a.e2dnde, d.e2dnde, rtol=1e-10)


def test_sensitivity_on_off_uses_li_ma_and_stacks_joint_form():
    background = np.array([200.0, 20.0, 2.0])
    ds = on_off(background, alpha=0.2)
    sens = sensitivity(ds, gamma_min=0, bkg_syst_fraction=0)
    assert sens.attrs["statistic"] == "wstat"
    n_off = background / 0.2
    np.testing.assert_allclose(li_ma(background + sens.excess.values, n_off, 0.2), 5, rtol=1e-9)
    np.testing.assert_allclose(sens.alpha, 0.2)
    np.testing.assert_allclose(sens.background, background)
    # the joint form of two half-exposure observations gives the stacked result
    half = on_off(background / 2, alpha=0.2, exposure=5e11)
    joint = xr.concat([half, half], dim="obs_id").assign_coords(obs_id=[1, 2])
    joint["mask_safe"] = joint.mask_safe.astype(bool)
    from_joint = sensitivity(joint, gamma_min=0, bkg_syst_fraction=0)
    np.testing.assert_allclose(from_joint.e2dnde, sens.e2dnde, rtol=1e-9)


def test_sensitivity_masks_unsafe_bins():
    ds = spectrum_dataset(np.array([50.0, 5.0]))
    ds["mask_safe"] = ("energy", np.array([True, False]))
    sens = sensitivity(ds)
    assert np.isfinite(sens.e2dnde[0]) and np.isnan(sens.e2dnde[1])
    assert sens.criterion.values.tolist()[1] == ""


def test_sensitivity_bad_input():
    ds = spectrum_dataset(np.array([5.0]))
    with pytest.raises(FormatError, match="needs 'background'"):
        sensitivity(ds.drop_vars("background"))
    with pytest.raises(FormatError, match="gamma_min"):
        sensitivity(ds, gamma_min=-1)
    with pytest.raises(FormatError, match="n_sigma"):
        sensitivity(ds, n_sigma=0)
    with pytest.raises(FormatError, match="spectral_model"):
        sensitivity(ds, spectral_model="pl")
    sky = gx.sky_grid((0, 0), width=0.2, binsz=0.1)
    cube = ds.expand_dims(lat=sky.lat.values, lon=sky.lon.values)
    with pytest.raises(DimensionError, match="spectrum dataset"):
        sensitivity(cube)


def test_sensitivity_round_trips_through_netcdf(tmp_path):
    sens = sensitivity(on_off(np.array([200.0, 20.0, 0.01]), alpha=0.2))
    gx.write_dataset(sens, tmp_path / "sens.nc")
    xr.testing.assert_identical(gx.read_dataset(tmp_path / "sens.nc").load(), sens)
