"""Tabulated spectral models: piecewise norms, templates, EBL absorption and its reader."""

import math

import astropy.units as u
import numpy as np
import pytest
import xarray as xr
from astropy.io import fits
from scipy.integrate import quad

from gammaxr.exceptions import ColumnError, DataFileError, MissingHDUError, UnitError
from gammaxr.models import ParameterError
from gammaxr.models.spectral import (
    EBLAbsorptionNormSpectralModel,
    PiecewiseNormSpectralModel,
    PowerLawSpectralModel,
    ScaleSpectralModel,
    SpectralModelError,
    TemplateSpectralModel,
    integrate_spectrum,
    read_ebl_table,
)

NODES = np.array([0.2, 1.0, 5.0, 20.0])
NORMS = np.array([0.5, 1.5, 1.0, 2.0])
EMIN = np.array([0.05, 0.1, 0.3, 1.0, 4.0, 15.0, 30.0])
EMAX = np.array([0.1, 0.5, 0.9, 10.0, 6.0, 25.0, 60.0])


def quad_log(func, emin, emax, power=0, points=()):
    inner = [math.log(p) for p in points if emin < p < emax]
    value, _ = quad(
        lambda t: float(func(math.exp(t))) * math.exp((1 + power) * t),
        math.log(emin),
        math.log(emax),
        epsabs=0,
        epsrel=1e-12,
        limit=400,
        points=inner or None,
    )
    return value


def check_integrals(model, points, rtol=1e-9):
    for power, method in ((0, model.integral), (1, model.energy_flux)):
        expected = [quad_log(model, a, b, power, points) for a, b in zip(EMIN, EMAX, strict=True)]
        np.testing.assert_allclose(method(EMIN, EMAX), expected, rtol=rtol, atol=0)


def loglog_interp(energy, nodes, values):
    """Independent log-log interpolation (numpy.interp in log space, clamped)."""
    return np.exp(np.interp(np.log(energy), np.log(nodes), np.log(values)))


# --------------------------------------------------------------------------------------
# piecewise norm


def test_piecewise_norm_interpolates_in_log_log_and_clamps():
    model = PiecewiseNormSpectralModel(NODES, NORMS)
    assert list(model.parameters) == ["norm_0", "norm_1", "norm_2", "norm_3"]
    energy = np.array([0.05, 0.2, 0.5, 1.0, 3.0, 20.0, 100.0])
    np.testing.assert_allclose(model(energy), loglog_interp(energy, NODES, NORMS), rtol=1e-13)
    assert model(0.01) == pytest.approx(0.5) and model(1e3) == pytest.approx(2.0)
    # between two nodes it is the power law through them
    slope = np.log(1.5 / 0.5) / np.log(1.0 / 0.2)
    assert model(0.5) == pytest.approx(0.5 * (0.5 / 0.2) ** slope, rel=1e-13)
    assert model.is_norm and model.dnde_unit == ""


def test_piecewise_norm_linear_interp():
    model = PiecewiseNormSpectralModel(NODES, NORMS, interp="lin")
    energy = np.array([0.05, 0.6, 3.0, 12.0, 100.0])
    np.testing.assert_allclose(model(energy), np.interp(energy, NODES, NORMS), rtol=1e-14)
    check_integrals(model, NODES)


def test_piecewise_norm_integrals_are_exact():
    check_integrals(PiecewiseNormSpectralModel(NODES, NORMS), NODES)


def test_piecewise_norm_parameters_and_state():
    model = PiecewiseNormSpectralModel(NODES * u.TeV)
    np.testing.assert_allclose(model(NODES), 1.0)
    changed = model.with_parameters(norm_2=3.0)
    assert changed(5.0) == pytest.approx(3.0)
    np.testing.assert_allclose(changed.energy, NODES)
    assert model != changed
    assert model == PiecewiseNormSpectralModel(NODES * u.TeV)
    assert model != PiecewiseNormSpectralModel(NODES * 1.1)
    assert model != PiecewiseNormSpectralModel(NODES, interp="lin")
    from gammaxr.models import Parameter

    frozen = PiecewiseNormSpectralModel(NODES[:2], [Parameter("x", 2.0, frozen=True), 1.0])
    assert frozen.parameters["norm_0"].frozen and frozen.parameters["norm_0"].value == 2.0
    # the node energies are state, not parameters
    product = PowerLawSpectralModel() * model
    assert "model2.norm_0" in list(product.parameters)
    np.testing.assert_allclose(product(NODES), PowerLawSpectralModel()(NODES), rtol=1e-14)


def test_piecewise_norm_validation():
    with pytest.raises(SpectralModelError, match="at least 2"):
        PiecewiseNormSpectralModel([1.0])
    with pytest.raises(SpectralModelError, match="3 norms for 4"):
        PiecewiseNormSpectralModel(NODES, [1, 2, 3])
    with pytest.raises(SpectralModelError, match="increasing"):
        PiecewiseNormSpectralModel([1.0, 3.0, 2.0])
    with pytest.raises(SpectralModelError, match="positive"):
        PiecewiseNormSpectralModel([0.0, 1.0])
    with pytest.raises(SpectralModelError, match="interp"):
        PiecewiseNormSpectralModel(NODES, interp="sqrt")
    with pytest.raises(UnitError):
        PiecewiseNormSpectralModel(NODES * u.m)
    with pytest.raises(SpectralModelError, match="norm_3"):
        PiecewiseNormSpectralModel(NODES).evaluate(1.0, norm_0=1, norm_1=1, norm_2=1)


# --------------------------------------------------------------------------------------
# template


TEMPLATE_VALUES = np.array([1e-10, 2e-12, 5e-14, 1e-15])


def test_template_interpolates_and_extrapolates_as_power_laws():
    model = TemplateSpectralModel(NODES, TEMPLATE_VALUES)
    inside = np.array([0.2, 0.5, 1.0, 3.0, 20.0])
    np.testing.assert_allclose(
        model(inside), loglog_interp(inside, NODES, TEMPLATE_VALUES), rtol=1e-13
    )
    # beyond the ends: the end segments' power laws
    low_slope = np.log(2e-12 / 1e-10) / np.log(1.0 / 0.2)
    high_slope = np.log(1e-15 / 5e-14) / np.log(20.0 / 5.0)
    assert model(0.05) == pytest.approx(1e-10 * (0.05 / 0.2) ** low_slope, rel=1e-13)
    assert model(50.0) == pytest.approx(1e-15 * (50.0 / 20.0) ** high_slope, rel=1e-13)
    assert model.dnde_unit == "cm-2 s-1 TeV-1" and len(model.parameters) == 0
    check_integrals(model, NODES)


def test_template_units_norms_and_scaling():
    in_gev = TemplateSpectralModel(
        NODES * 1e3 * u.GeV, TEMPLATE_VALUES * 1e-3 / u.Unit("cm2 s GeV")
    )
    np.testing.assert_allclose(in_gev.values, TEMPLATE_VALUES, rtol=1e-14)
    np.testing.assert_allclose(in_gev.energy, NODES, rtol=1e-14)
    assert in_gev == TemplateSpectralModel(in_gev.energy, in_gev.values)
    assert in_gev != TemplateSpectralModel(NODES, TEMPLATE_VALUES * 2)
    assert "4 nodes" in repr(in_gev)
    norm = TemplateSpectralModel(NODES, [1.0, 0.9, 0.5, 0.1], unit="")
    assert norm.is_norm and norm.flux_unit == "TeV"
    scaled = ScaleSpectralModel(TemplateSpectralModel(NODES, TEMPLATE_VALUES), norm=3.0)
    assert scaled(1.0) == pytest.approx(6e-12)
    assert scaled.integral(1.0, 5.0) == pytest.approx(
        3 * TemplateSpectralModel(NODES, TEMPLATE_VALUES).integral(1.0, 5.0)
    )
    single = TemplateSpectralModel([1.0], [2e-12])
    np.testing.assert_allclose(single(np.array([0.1, 1.0, 10.0])), 2e-12)
    assert single.integral(1.0, 3.0) == pytest.approx(4e-12)
    # zeros are allowed (clipped before the logs), the result stays finite and >= 0
    gap = TemplateSpectralModel(NODES, [1e-12, 0.0, 1e-13, 1e-14])
    assert np.all(np.isfinite(gap(np.geomspace(0.1, 30, 20))))
    assert gap(1.0) < 1e-300


def test_template_validation():
    with pytest.raises(SpectralModelError, match="values for 4"):
        TemplateSpectralModel(NODES, [1.0, 2.0])
    with pytest.raises(SpectralModelError, match=">= 0"):
        TemplateSpectralModel(NODES, [1.0, -2.0, 1.0, 1.0])
    with pytest.raises(SpectralModelError, match="increasing"):
        TemplateSpectralModel(NODES[::-1], TEMPLATE_VALUES)
    with pytest.raises(UnitError, match="neither"):
        TemplateSpectralModel(NODES, TEMPLATE_VALUES * u.m)


# --------------------------------------------------------------------------------------
# EBL absorption

EBL_ENERGY = np.geomspace(0.01, 100.0, 9)
EBL_Z = np.array([0.0, 0.1, 0.3, 0.6, 1.0])


def synthetic_tau(energy, z):
    """An optical depth bilinear in (z, ln E): reproduced exactly by the interpolation."""
    return 0.5 * z * np.log(energy / 0.01)


@pytest.fixture
def ebl():
    tau = synthetic_tau(EBL_ENERGY[None, :], EBL_Z[:, None])
    return EBLAbsorptionNormSpectralModel(EBL_ENERGY, EBL_Z, tau, redshift=0.2, alpha_norm=1.3)


def test_ebl_value_is_exp_minus_alpha_tau(ebl):
    energy = np.array([0.02, 0.5, 3.0, 80.0, 300.0])  # 300 TeV: extrapolated in ln E
    expected = np.exp(-1.3 * synthetic_tau(energy, 0.2))
    np.testing.assert_allclose(ebl(energy), expected, rtol=1e-13)
    # below the table the extrapolated depth would be negative: clipped, no absorption
    assert ebl(1e-3) == 1.0
    np.testing.assert_allclose(ebl.tau(energy, 0.45), synthetic_tau(energy, 0.45), rtol=1e-13)
    assert ebl.with_parameters(redshift=0.0)(50.0) == 1.0
    assert ebl.parameters["redshift"].frozen and ebl.parameters["alpha_norm"].frozen
    assert (ebl.parameters["redshift"].min, ebl.parameters["redshift"].max) == (0.0, 1.0)


def test_ebl_interpolation_is_linear_in_redshift_and_log_energy():
    # a table that is not bilinear: check the interpolation itself between nodes
    tau = np.array([[0.0, 0.0, 0.0], [1.0, 2.0, 8.0]])
    model = EBLAbsorptionNormSpectralModel([0.1, 1.0, 10.0], [0.0, 0.5], tau, redshift=0.25)
    # halfway in z, at the log-midpoint of the upper energy interval: (2 + 8) / 2 / 2
    assert model.tau(np.sqrt(10.0)) == pytest.approx(2.5, rel=1e-13)
    # linear extrapolation in ln E beyond 10 TeV, using the last interval's slope
    assert model.tau(100.0, 0.5) == pytest.approx(14.0, rel=1e-13)


def test_absorbed_power_law_integral(ebl):
    """pl * ebl is a power law of index 2 + 0.5 * alpha * z above 10 GeV: closed form."""
    absorbed = PowerLawSpectralModel(index=2.0, amplitude=1e-11, reference=0.01) * ebl
    index = 2.0 + 0.5 * 1.3 * 0.2
    equivalent = PowerLawSpectralModel(index=index, amplitude=1e-11, reference=0.01)
    np.testing.assert_allclose(absorbed(EMAX), equivalent(EMAX), rtol=1e-13)
    np.testing.assert_allclose(
        absorbed.integral(EMIN, EMAX), equivalent.integral(EMIN, EMAX), rtol=1e-10
    )
    np.testing.assert_allclose(
        absorbed.energy_flux(EMIN, EMAX), equivalent.energy_flux(EMIN, EMAX), rtol=1e-10
    )


def test_ebl_numerical_integral_across_table_kinks():
    """Bins are cut at the table nodes, so the kinks cost no accuracy."""
    rng = np.random.default_rng(1)
    tau = np.cumsum(rng.uniform(0, 0.4, (len(EBL_Z), len(EBL_ENERGY))), axis=1) * EBL_Z[:, None]
    model = EBLAbsorptionNormSpectralModel(EBL_ENERGY, EBL_Z, tau, redshift=0.6)
    absorbed = PowerLawSpectralModel() * model
    for power, method in ((0, absorbed.integral), (1, absorbed.energy_flux)):
        expected = [
            quad_log(absorbed, a, b, power, EBL_ENERGY) for a, b in zip(EMIN, EMAX, strict=True)
        ]
        np.testing.assert_allclose(method(EMIN, EMAX), expected, rtol=1e-10)
    assert absorbed.breakpoints == tuple(EBL_ENERGY)


def test_products_with_piecewise_models_are_cut_at_the_nodes():
    norm = PiecewiseNormSpectralModel([0.3, 1.0, 3.0], [1.0, 3.0, 0.5])
    product = PowerLawSpectralModel() * norm
    assert product.breakpoints == (0.3, 1.0, 3.0)
    emin, emax = np.array([0.7, 0.2, 0.013]), np.array([7.0, 5.0, 77.0])
    expected = [quad_log(product, a, b, 0, norm.energy) for a, b in zip(emin, emax, strict=True)]
    np.testing.assert_allclose(product.integral(emin, emax), expected, rtol=1e-12)
    # the same rule without the cuts: the kinks limit it to ~1e-4
    uncut = integrate_spectrum(product._evaluate, emin, emax)
    assert np.max(np.abs(uncut / expected - 1)) > 1e-5
    # breakpoints outside the bins are dropped; bins inside one piece are unaffected
    np.testing.assert_allclose(
        integrate_spectrum(lambda e: e**-2.0, 1.0, 2.0, breakpoints=[0.5, 1.5, 5.0]), 0.5
    )


def test_ebl_validation():
    tau = np.zeros((len(EBL_Z), len(EBL_ENERGY)))
    with pytest.raises(ParameterError, match="above its maximum"):
        EBLAbsorptionNormSpectralModel(EBL_ENERGY, EBL_Z, tau, redshift=1.5)
    with pytest.raises(ParameterError, match="below its minimum"):
        EBLAbsorptionNormSpectralModel(EBL_ENERGY, EBL_Z, tau).with_parameters(redshift=-0.1)
    with pytest.raises(SpectralModelError, match="shape"):
        EBLAbsorptionNormSpectralModel(EBL_ENERGY, EBL_Z, tau.T)
    with pytest.raises(SpectralModelError, match=">= 0"):
        EBLAbsorptionNormSpectralModel(EBL_ENERGY, EBL_Z, tau - 1)
    with pytest.raises(SpectralModelError, match="increasing"):
        EBLAbsorptionNormSpectralModel(EBL_ENERGY, EBL_Z[::-1], tau)
    with pytest.raises(SpectralModelError, match="missing dims"):
        EBLAbsorptionNormSpectralModel.from_table(xr.DataArray(tau, dims=("z", "energy")))


def write_xspec_table(path, energy_tev, redshifts, absorption, *, unit=None):
    """A small EBL file in the XSPEC table-model layout of gammapy-data's EBL files.

    Energies are written in keV without a unit (as those files do), or in ``unit``.
    """
    energy = energy_tev * (1e9 if unit is None else u.TeV.to(unit))
    mid = np.sqrt(energy[:-1] * energy[1:])
    lo = np.concatenate([[energy[0] ** 2 / mid[0]], mid])
    hi = np.concatenate([mid, [energy[-1] ** 2 / mid[-1]]])
    n_z, n_e = len(redshifts), len(energy_tev)
    parameters = fits.BinTableHDU.from_columns(
        [
            fits.Column("NAME", "12A", array=["redshift"]),
            fits.Column("METHOD", "J", array=[0]),
            fits.Column("INITIAL", "E", array=[0.1]),
            fits.Column("MINIMUM", "E", array=[redshifts.min()]),
            fits.Column("MAXIMUM", "E", array=[redshifts.max()]),
            fits.Column("NUMBVALS", "J", array=[n_z]),
            fits.Column("VALUE", f"{n_z}E", array=[redshifts]),
        ],
        name="PARAMETERS",
    )
    energies = fits.BinTableHDU.from_columns(
        [
            fits.Column("ENERG_LO", "E", array=lo, unit=unit),
            fits.Column("ENERG_HI", "E", array=hi, unit=unit),
        ],
        name="ENERGIES",
    )
    spectra = fits.BinTableHDU.from_columns(
        [
            fits.Column("PARAMVAL", "E", array=redshifts),
            fits.Column("INTPSPEC", f"{n_e}E", array=absorption),
        ],
        name="SPECTRA",
    )
    fits.HDUList([fits.PrimaryHDU(), parameters, energies, spectra]).writeto(path)


@pytest.mark.parametrize("unit", [None, "TeV", "GeV"])
def test_read_xspec_ebl_table(tmp_path, unit):
    # a duplicated redshift row, as in some of gammapy-data's files
    z = np.array([0.0, 0.1, 0.1, 0.3, 0.6, 1.0])
    tau = synthetic_tau(EBL_ENERGY[None, :], z[:, None])
    path = tmp_path / "ebl.fits"
    write_xspec_table(path, EBL_ENERGY, z, np.exp(-tau), unit=unit)
    table = read_ebl_table(path)
    assert table.dims == ("redshift", "energy")
    np.testing.assert_allclose(table.redshift, EBL_Z, rtol=1e-7)
    np.testing.assert_allclose(table.energy, EBL_ENERGY, rtol=1e-6)
    assert table.energy.attrs["units"] == "TeV"
    # float32 storage: 1e-6 relative on exp(-tau)
    expected = synthetic_tau(EBL_ENERGY[None, :], EBL_Z[:, None])
    np.testing.assert_allclose(table, expected, atol=1e-5)
    model = EBLAbsorptionNormSpectralModel.read(path, redshift=0.3)
    np.testing.assert_allclose(model(2.0), np.exp(-synthetic_tau(2.0, 0.3)), rtol=1e-5)
    round_trip = EBLAbsorptionNormSpectralModel.from_table(model.table, redshift=0.3)
    assert round_trip == model


def test_read_ebl_table_errors(tmp_path):
    with pytest.raises(DataFileError, match="does not exist"):
        read_ebl_table(tmp_path / "nope.fits")
    path = tmp_path / "partial.fits"
    fits.HDUList([fits.PrimaryHDU()]).writeto(path)
    with pytest.raises(MissingHDUError, match="PARAMETERS"):
        read_ebl_table(path)
    good = tmp_path / "good.fits"
    z = np.array([0.0, 0.5])
    write_xspec_table(good, EBL_ENERGY, z, np.ones((2, len(EBL_ENERGY))))
    with fits.open(good) as hdul:
        hdul["SPECTRA"].columns.change_name("INTPSPEC", "SPEC")
        hdul.writeto(tmp_path / "renamed.fits")
    with pytest.raises(ColumnError, match="INTPSPEC"):
        read_ebl_table(tmp_path / "renamed.fits")


def test_ebl_from_absorption_matches_tau():
    tau = synthetic_tau(EBL_ENERGY[None, :], EBL_Z[:, None])
    a = EBLAbsorptionNormSpectralModel.from_absorption(EBL_ENERGY, EBL_Z, np.exp(-tau))
    b = EBLAbsorptionNormSpectralModel(EBL_ENERGY, EBL_Z, tau)
    np.testing.assert_allclose(a(np.geomspace(0.02, 50, 7)), b(np.geomspace(0.02, 50, 7)))
