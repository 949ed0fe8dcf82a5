import dataclasses
import pickle

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from gammaxr.exceptions import FitError
from gammaxr.fit import BACKENDS, FitResult, MapCost, OptimizeResult, as_cost, fit
from gammaxr.fit.fit import Problem
from gammaxr.models import FoVBackgroundModel, Models, Parameter

INDEX, AMPLITUDE = "src.spectral.index", "src.spectral.amplitude"

# Gammapy 2.1 (Fit(backend="minuit", tol=1e-4)) on the same data: the first
# realisation of `simulated_counts`, as a SpectrumDataset without edisp.
GAMMAPY = {
    "statistic": -13017.027155566493,
    INDEX: (2.4509566698110024, 0.03550410746720411),
    AMPLITUDE: (4.017614460978031e-11, 1.0586904773429989e-12),
    "minos_index": (0.03526390744795097, 0.03575950819959664),  # (lo, hi)
}


@pytest.fixture
def dataset(simulated_counts, spectrum_dataset):
    return spectrum_dataset(simulated_counts[0], name="a")


@pytest.fixture
def cost(dataset, predictor):
    return MapCost(dataset, predictor(dataset))


@pytest.mark.parametrize("backend", ["minuit", "scipy"])
def test_fit_matches_gammapy(cost, power_law_models, backend):
    result = fit(cost, power_law_models(), backend=backend, minos=True)
    assert isinstance(result, FitResult)
    assert result.success, result.message
    assert result.statistic == pytest.approx(GAMMAPY["statistic"], abs=1e-5)
    table = result.parameters
    for name in (INDEX, AMPLITUDE):
        value, error = GAMMAPY[name]
        assert table.loc[name, "value"] == pytest.approx(value, rel=1e-4)
        assert table.loc[name, "error"] == pytest.approx(error, rel=5e-3)
    lo, hi = GAMMAPY["minos_index"]
    assert table.loc[INDEX, "error_lo"] == pytest.approx(lo, rel=5e-3)
    assert table.loc[INDEX, "error_hi"] == pytest.approx(hi, rel=5e-3)


def test_fit_result_content(cost, power_law_models):
    result = fit(cost, power_law_models())
    table = result.parameters
    assert isinstance(table, pd.DataFrame)
    assert table.index.name == "name"
    assert list(table.columns) == [
        "value", "error", "error_lo", "error_hi", "unit", "min", "max", "frozen", "link",
    ]  # fmt: skip
    assert table.loc[AMPLITUDE, "unit"] == "cm-2 s-1 TeV-1"
    assert np.isnan(table.loc[INDEX, "error_lo"])  # no minos asked
    assert np.isnan(table.loc["src.spectral.reference", "error"])  # frozen: not fitted
    cov = result.covariance
    assert isinstance(cov, xr.DataArray)
    assert cov.dims == ("parameter", "parameter_other")
    assert list(cov.parameter.values) == [INDEX, AMPLITUDE]
    assert float(cov.sel(parameter=INDEX, parameter_other=INDEX)) == pytest.approx(
        table.loc[INDEX, "error"] ** 2
    )
    assert float(cov[0, 1]) == pytest.approx(float(cov[1, 0]))
    # the fitted models carry the values and errors
    fitted = result.models.parameters
    assert fitted[INDEX].value == table.loc[INDEX, "value"]
    assert fitted[INDEX].error == table.loc[INDEX, "error"]
    assert result.backend == "minuit"
    assert result.ndata == 20
    assert result.nfree == 2
    assert result.nfev > 10
    assert "converged" in repr(result)


def test_fit_result_is_immutable(cost, power_law_models):
    result = fit(cost, power_law_models())
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.statistic = 0.0
    table, cov = result.parameters, result.covariance
    table.loc[INDEX, "value"] = 0.0
    cov[0, 0] = -1.0
    assert result.parameters.loc[INDEX, "value"] > 2
    assert float(result.covariance[0, 0]) > 0
    assert pickle.loads(pickle.dumps(result)).statistic == result.statistic


def test_inputs_are_not_changed(dataset, predictor, power_law_models):
    copy = dataset.copy(deep=True)
    models = power_law_models(index=2.0, amplitude=1e-11)
    snapshot = Models(models)
    result = fit(MapCost(dataset, predictor(dataset)), models)
    assert result.models != models
    assert models == snapshot
    assert models.parameters[INDEX].value == 2.0
    assert np.isnan(models.parameters[INDEX].error)
    xr.testing.assert_identical(dataset, copy)


@pytest.mark.parametrize("backend", ["minuit", "scipy"])
def test_non_convergence_is_reported(cost, power_law_models, backend):
    result = fit(cost, power_law_models(index=3.5, amplitude=1e-11), backend=backend, max_calls=5)
    assert result.success is False
    assert result.message
    assert np.isnan(result.parameters.loc[INDEX, "error"])
    assert np.isnan(result.covariance).all()
    assert "FAILED" in repr(result)


def test_frozen_parameters_stay_put(cost, power_law_models):
    models = power_law_models(index=Parameter("index", 2.3, frozen=True))
    result = fit(cost, models)
    assert result.models.parameters[INDEX].value == 2.3
    assert list(result.covariance.parameter.values) == [AMPLITUDE]
    assert result.nfree == 1


@pytest.mark.parametrize("backend", ["minuit", "scipy"])
def test_bounds_are_honoured(cost, power_law_models, backend):
    models = power_law_models(index=Parameter("index", 2.0, max=2.3))  # truth 2.5
    result = fit(cost, models, backend=backend)
    assert result.models.parameters[INDEX].value == pytest.approx(2.3, abs=1e-6)
    assert result.models.parameters[INDEX].value <= 2.3


@pytest.mark.parametrize("backend", ["minuit", "scipy"])
def test_linked_parameters_across_two_datasets(
    simulated_counts, spectrum_dataset, predictor, power_law_models, backend
):
    """Two sources, one per dataset, with linked indices fit the index as one variable."""
    ds_a = spectrum_dataset(simulated_counts[1], name="a")
    exposure_b = 2e9 * np.ones(20)
    truth_b = predictor(spectrum_dataset(np.zeros(20), exposure=exposure_b))
    counts_b = np.random.default_rng(7).poisson(truth_b(power_law_models(amplitude=2e-11)))
    ds_b = spectrum_dataset(counts_b, exposure=exposure_b, name="b")
    joint = MapCost(ds_a, predictor(ds_a)) + MapCost(ds_b, predictor(ds_b))
    index = Parameter("index", 2.0, link="gamma")
    models = power_law_models(index=index, name="src-a", datasets_names=["a"]) + list(
        power_law_models(index=index, name="src-b", datasets_names=["b"]).values()
    )
    assert models.free_parameters()[0] == ["src-a.spectral.index", "src-b.spectral.index"]
    result = fit(joint, models, backend=backend)
    assert result.success, result.message
    assert result.nfree == 3
    p = result.models.parameters
    assert p["src-a.spectral.index"].value == p["src-b.spectral.index"].value
    assert p["src-a.spectral.index"].error == p["src-b.spectral.index"].error
    assert p["src-a.spectral.amplitude"].value == pytest.approx(4e-11, rel=0.1)
    assert p["src-b.spectral.amplitude"].value == pytest.approx(2e-11, rel=0.1)
    cov = result.covariance
    assert cov.sizes["parameter"] == 4  # one row per free parameter, linked ones equal
    a, b = "src-a.spectral.index", "src-b.spectral.index"
    assert float(cov.sel(parameter=a, parameter_other=b)) == float(
        cov.sel(parameter=a, parameter_other=a)
    )
    # linking takes away one freedom: the joint minimum is above the separate ones
    separate = [
        fit(MapCost(ds, predictor(ds)), power_law_models(index=2.0)).statistic
        for ds in (ds_a, ds_b)
    ]
    assert result.statistic >= sum(separate) - 1e-6
    assert result.statistic - sum(separate) < 10


def test_linked_amplitudes_equal_one_shared_model(
    simulated_counts, spectrum_dataset, predictor, power_law_models
):
    ds_a = spectrum_dataset(simulated_counts[2], name="a")
    ds_b = spectrum_dataset(simulated_counts[3], name="b", exposure=1.5e9 * np.ones(20))
    joint = MapCost(ds_a, predictor(ds_a)) + MapCost(ds_b, predictor(ds_b))
    shared = fit(joint, power_law_models(index=2.0, amplitude=1e-11), tol=1e-4)
    index = Parameter("index", 2.0, link="i")
    amplitude = Parameter("amplitude", 1e-11, "cm-2 s-1 TeV-1", scale=1e-12, link="a")
    kw = {"index": index, "amplitude": amplitude}
    linked = Models(
        [
            *power_law_models(name="x", datasets_names=["a"], **kw).values(),
            *power_law_models(name="y", datasets_names=["b"], **kw).values(),
        ]
    )
    result = fit(joint, linked, tol=1e-4)
    assert result.statistic == pytest.approx(shared.statistic, abs=1e-6)
    assert result.models.parameters["y.spectral.index"].value == pytest.approx(
        shared.models.parameters[INDEX].value, rel=1e-5
    )
    assert result.models.parameters["x.spectral.amplitude"].error == pytest.approx(
        shared.models.parameters[AMPLITUDE].error, rel=1e-3
    )


def test_fov_background_norm_per_dataset(
    simulated_counts, spectrum_dataset, predictor, power_law_models
):
    ds_a = spectrum_dataset(simulated_counts[4], name="a")
    ds_b = spectrum_dataset(simulated_counts[5], name="b")
    joint = MapCost(ds_a, predictor(ds_a)) + MapCost(ds_b, predictor(ds_b))
    models = power_law_models() + [FoVBackgroundModel("a"), FoVBackgroundModel("b")]
    result = fit(joint, models)
    assert result.success
    assert result.nfree == 4
    norms = [result.models.parameters[f"{n}-bkg.spectral.norm"] for n in "ab"]
    assert norms[0].value != norms[1].value
    for norm in norms:
        assert abs(norm.value - 1) < 3 * norm.error


def test_no_free_parameters(cost, power_law_models):
    models = power_law_models(
        index=Parameter("index", 2.5, frozen=True),
        amplitude=Parameter("amplitude", 4e-11, "cm-2 s-1 TeV-1", frozen=True),
    )
    result = fit(cost, models)
    assert result.success
    assert result.statistic == cost(models)
    assert result.covariance.shape == (0, 0)


def test_as_cost_and_setup_errors(cost, power_law_models, dataset):
    assert as_cost(cost) is cost
    assert as_cost([cost, cost]).members == (cost, cost)
    with pytest.raises(FitError, match="empty"):
        as_cost([])
    with pytest.raises(FitError, match="cannot fit int"):
        as_cost(3)
    with pytest.raises(FitError, match="unknown fit backend"):
        fit(cost, power_law_models(), backend="nope")
    with pytest.raises(FitError, match="has no options"):
        fit(cost, power_law_models(), backend="scipy", strategy=2)


# FastPowerLaw's E**(1 - index) overflows at 0.01 TeV for index > ~155 (inf - inf = NaN)
LOW_EDGES = np.geomspace(0.01, 100.0, 21)


@pytest.fixture(scope="module")
def low_energy_counts(spectrum_dataset, predictor, power_law_models):
    ds = spectrum_dataset(np.zeros(len(LOW_EDGES) - 1), edges=LOW_EDGES)
    return np.random.default_rng(0).poisson(predictor(ds)(power_law_models()))


@pytest.mark.parametrize("backend", ["minuit", "scipy"])
def test_fit_through_an_overflowing_model_converges(
    low_energy_counts, make_cost, fast_models, backend
):
    # from far below the data MIGRAD's first steps overshoot into index ~ 1e3,
    # where the model overflows: those points are rejected, the fit goes on
    cost = make_cost(low_energy_counts, edges=LOW_EDGES)
    reference = fit(cost, fast_models(index=2.0, norm=0.1), backend=backend)
    assert reference.success, reference.message
    result = fit(cost, fast_models(index=1.0, norm=1e-4), backend=backend)
    assert result.success, result.message
    for name in ("src.spectral.index", "src.spectral.norm"):
        row, expected = result.parameters.loc[name], reference.parameters.loc[name]
        assert row["value"] == pytest.approx(expected["value"], abs=0.02 * expected["error"])
        assert row["error"] == pytest.approx(expected["error"], rel=0.02)
    if backend == "minuit":
        assert "evaluations had a non-finite cost" in result.message


def test_problem_returns_inf_for_non_finite_values_and_overflows(
    low_energy_counts, make_cost, fast_models
):
    problem = Problem(make_cost(low_energy_counts, edges=LOW_EDGES), fast_models())
    assert np.isfinite(problem(np.array([2.5, 4.0])))
    # no ParameterError from a NaN proposal, no overflow warning (warnings are errors here)
    assert problem(np.array([np.nan, 4.0])) == np.inf
    assert problem(np.array([2.5, np.inf])) == np.inf
    assert problem(np.array([700.0, 4.0])) == np.inf


@pytest.mark.parametrize("backend", ["minuit", "scipy"])
def test_fit_without_any_finite_cost_fails_clearly(dataset, power_law_models, backend):
    cost = MapCost(dataset, lambda models: np.full(dataset["counts"].shape, np.nan))
    models = power_law_models(index=2.2)
    result = fit(cost, models, backend=backend)
    assert result.success is False
    assert "cost is not finite" in result.message
    assert result.parameters.loc[INDEX, "value"] == 2.2
    assert np.isnan(result.statistic)
    assert "FAILED" in repr(result)


def test_a_backend_returning_nan_values_gives_a_failed_result(cost, power_law_models, monkeypatch):
    def broken(cost_fn, x0, bounds, *, scales, errordef=1.0, covariance=True, minos=False):
        n = len(x0)
        return OptimizeResult(
            x=np.full(n, np.nan), fun=np.nan, covariance=np.zeros((n, n)), success=True,
            message="done", nfev=1, backend="broken",
        )  # fmt: skip

    monkeypatch.setitem(BACKENDS, "broken", broken)
    result = fit(cost, power_law_models(index=2.2), backend="broken")
    assert result.success is False
    assert "non-finite parameter values" in result.message
    assert result.parameters.loc[INDEX, "value"] == 2.2
    assert np.isnan(result.covariance).all()
