"""Fitting spectral models to flux points: chi2 and likelihood profiles."""

import numpy as np
import pytest
import xarray as xr

import gammaxr as gx
from gammaxr.estimators import flux_points
from gammaxr.exceptions import FitError
from gammaxr.fit import FluxPointsCost
from gammaxr.models import Models, PowerLawSpectralModel, SkyModel

E_REF = np.geomspace(1.0, 30.0, 8)
TRUE = PowerLawSpectralModel(index=2.5, amplitude=4e-11)


def points(norm, err, *, errn=None, errp=None, is_ul=None):
    """Flux points with a power-law reference (the truth) at the first E_REF."""
    energy = E_REF[: len(norm)]
    variables = {
        "norm": ("energy", np.asarray(norm, float)),
        "norm_err": ("energy", np.asarray(err, float)),
        "ref_dnde": ("energy", TRUE(energy), {"units": "cm-2 s-1 TeV-1"}),
    }
    if errn is not None:
        variables["norm_errn"] = ("energy", np.asarray(errn, float))
        variables["norm_errp"] = ("energy", np.asarray(errp, float))
    if is_ul is not None:
        variables["is_ul"] = ("energy", np.asarray(is_ul, bool))
    return xr.Dataset(variables, coords={"energy": ("energy", energy, {"units": "TeV"})})


def start():
    return Models([SkyModel(PowerLawSpectralModel(index=2.0, amplitude=1e-11), name="src")])


def test_chi2_recovers_the_index_of_gaussian_points_with_unit_pulls():
    rng = np.random.default_rng(0)
    err = np.full(E_REF.size, 0.1) * (E_REF / E_REF[0]) ** 0.3  # growing relative errors
    pulls = []
    for _ in range(40):
        fp = points(1 + err * rng.normal(size=E_REF.size), err)
        result = gx.fit(FluxPointsCost(fp), start())
        assert result.success
        row = result.parameters.loc["src.spectral.index"]
        pulls.append((row["value"] - 2.5) / row["error"])
    pulls = np.array(pulls)
    # 40 fits: standard errors 0.16 (mean) and 0.11 (spread)
    assert abs(pulls.mean()) < 0.5 and 0.7 < pulls.std() < 1.35


def test_asymmetric_errors_and_upper_limits():
    fp = points([1.2, 0.8, 1.0], [0.1, 0.1, 0.1], errn=[0.1, 0.2, 0.1], errp=[0.3, 0.4, 0.1],
                is_ul=[False, False, True])  # fmt: skip
    cost = FluxPointsCost(fp)
    assert cost.ndata == 2
    # the truth: below the first point (its errn counts), above the second (errp)
    expected = (0.2 / 0.1) ** 2 + (0.2 / 0.4) ** 2
    assert cost(Models([SkyModel(TRUE, name="src")])) == pytest.approx(expected, rel=1e-12)
    # without is_ul, points with sqrt_ts < 2 are the upper limits
    fp2 = fp.drop_vars("is_ul").assign(sqrt_ts=("energy", [5.0, 1.5, 3.0]))
    assert FluxPointsCost(fp2).ndata == 2
    assert FluxPointsCost(fp2, sqrt_ts_threshold_ul=1.0).ndata == 3


def simulated_dataset(rng):
    edges = np.geomspace(0.5, 50, 31)
    energy = gx.axis_from_edges(edges, name="energy", units="TeV", interp="log")
    energy_true = gx.axis_from_edges(edges, name="energy_true", units="TeV", interp="log")
    signal = TRUE.integral(edges[:-1], edges[1:]) * 5e8 * 1e4
    background = 3.0 * (energy.values / 0.5) ** -1.5
    return xr.Dataset(
        {
            "counts": ("energy", rng.poisson(signal + background)),
            "background": ("energy", background, {"units": ""}),
            "exposure": ("energy_true", np.full(30, 5e8), {"units": "m2 s"}),
        },
        coords={**energy.coords, **energy_true.coords},
    )


def test_flux_point_fits_recover_the_simulated_index_like_the_dataset_fit():
    ds = simulated_dataset(np.random.default_rng(1))
    direct = gx.fit(ds, start()).parameters.loc["src.spectral.index"]
    reference = Models([SkyModel(PowerLawSpectralModel(index=2.3, amplitude=3e-11), name="src")])
    edges = np.geomspace(0.5, 50, 31)[::3][:-2]  # 8 points with counts, up to ~20 TeV
    fp = flux_points(ds, reference, "src", edges, scan=np.linspace(0, 4, 81))
    chi2 = gx.fit(FluxPointsCost(fp), start()).parameters.loc["src.spectral.index"]
    profile_fit = gx.fit(FluxPointsCost(fp, method="profile"), start())
    profiled = profile_fit.parameters.loc["src.spectral.index"]
    assert profile_fit.success
    for row in (chi2, profiled):
        assert abs(row["value"] - 2.5) < 3 * row["error"]
    # the profile form is the dataset's likelihood binned coarser: same answer, same error
    assert profiled["value"] == pytest.approx(direct["value"], abs=0.3 * direct["error"])
    assert profiled["error"] == pytest.approx(direct["error"], rel=0.25)
    assert chi2["value"] == pytest.approx(direct["value"], abs=1.0 * direct["error"])


def test_bad_input_raises_clear_errors():
    fp = points(np.ones(8), np.full(8, 0.1))
    with pytest.raises(FitError, match="method"):
        FluxPointsCost(fp, method="wstat")
    with pytest.raises(FitError, match="stat_scan"):
        FluxPointsCost(fp, method="profile")
    with pytest.raises(FitError, match="norm"):
        FluxPointsCost(fp.drop_vars("norm"))
    with pytest.raises(FitError, match="no flux point"):
        FluxPointsCost(fp.assign(norm_err=fp.norm_err * np.nan))
    two = start() + [SkyModel(TRUE, name="other")]
    with pytest.raises(FitError, match="several sky models"):
        FluxPointsCost(fp)(two)
    assert FluxPointsCost(fp, source="other")(two) == pytest.approx(0.0, abs=1e-20)
