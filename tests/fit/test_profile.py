import numpy as np
import pytest
import xarray as xr

from gammaxr.exceptions import FitError
from gammaxr.fit import (
    MapCost,
    asymmetric_errors,
    fit,
    profile,
    significance_from_ts,
    ts_source,
    upper_limit,
)
from gammaxr.models import Parameter

# FastPowerLaw (conftest): "amplitude" is its dimensionless norm (x 1e-11 cm-2 s-1 TeV-1).
INDEX, AMPLITUDE = "src.spectral.index", "src.spectral.norm"


@pytest.fixture(scope="module")
def bright(spectrum_dataset, predictor, fast_models):
    """A near-Gaussian case: ~30 000 counts, so profiles are close to parabolas."""
    edges = np.geomspace(0.5, 50.0, 21)
    exposure = 6e10 * (1.0 - np.exp(-np.sqrt(edges[:-1] * edges[1:]) / 0.8))
    truth = predictor(spectrum_dataset(np.zeros(20), exposure=exposure))(fast_models())
    counts = np.random.default_rng(11).poisson(truth)
    ds = spectrum_dataset(counts, exposure=exposure)
    cost = MapCost(ds, predictor(ds))
    return cost, fit(cost, fast_models(), tol=1e-4)


def test_profile_minimum_and_crossings_match_hesse(bright):
    cost, best = bright
    value, sigma = best.parameters.loc[INDEX, ["value", "error"]]
    values = value + sigma * np.linspace(-2, 2, 17)
    prof = profile(cost, best.models, INDEX, values)
    assert isinstance(prof, xr.Dataset)
    assert prof.statistic.dims == ("value",)
    assert prof.attrs["parameter"] == INDEX
    assert prof["value"].attrs["units"] == ""
    assert bool(prof.success.all())
    assert AMPLITUDE in prof.data_vars and INDEX not in prof.data_vars
    delta = prof.statistic.values - best.statistic
    assert delta.min() >= -1e-6  # nothing below the best fit
    # the minimum of a parabola through the profile sits at the best fit
    a, b, _ = np.polyfit(values - value, delta, 2)
    assert abs(-b / (2 * a)) < 0.02 * sigma
    # Delta stat = 1 crossings (interpolated) agree with the HESSE error
    left, right = delta[:9][::-1], delta[8:]
    lo = np.interp(1.0, left, (value - values[:9])[::-1])
    hi = np.interp(1.0, right, values[8:] - value)
    assert lo == pytest.approx(sigma, rel=0.03)
    assert hi == pytest.approx(sigma, rel=0.03)
    # the other parameter follows its correlation with the index
    amp = prof[AMPLITUDE].values
    assert np.all(np.diff(amp) * np.sign(float(best.covariance[0, 1])) > 0)


def test_slice_is_never_below_the_profile(bright):
    cost, best = bright
    value, sigma = best.parameters.loc[INDEX, ["value", "error"]]
    values = value + sigma * np.array([-1.0, 0.0, 1.0])
    prof = profile(cost, best.models, INDEX, values, backend="scipy")
    cut = profile(cost, best.models, INDEX, values, reoptimize=False)
    assert np.all(cut.statistic.values >= prof.statistic.values - 1e-6)
    assert float(cut.statistic[1]) == pytest.approx(best.statistic, abs=1e-6)
    assert np.all(cut[AMPLITUDE].values == best.models.parameters[AMPLITUDE].value)


def test_asymmetric_errors_near_gaussian(bright):
    """MINOS (minuit) and profile crossings (scipy) agree, and match HESSE here."""
    cost, best = bright
    tables = [asymmetric_errors(cost, best.models, backend=b) for b in ("minuit", "scipy")]
    for table in tables:
        assert list(table.index) == [INDEX, AMPLITUDE]
        for name in table.index:
            sigma = best.parameters.loc[name, "error"]
            assert table.loc[name, "error_lo"] == pytest.approx(sigma, rel=0.03)
            assert table.loc[name, "error_hi"] == pytest.approx(sigma, rel=0.03)
    columns = ["error_lo", "error_hi"]
    np.testing.assert_allclose(tables[0][columns], tables[1][columns], rtol=5e-3)


def test_upper_limit_of_a_near_gaussian_parameter(bright):
    cost, best = bright
    value, sigma = best.parameters.loc[AMPLITUDE, ["value", "error"]]
    ul = upper_limit(cost, best.models, AMPLITUDE, cl=0.95)
    assert ul == pytest.approx(value + np.sqrt(2.7055) * sigma, abs=0.02 * sigma)
    assert upper_limit(cost, best.models, AMPLITUDE, cl=0.99) > ul
    assert upper_limit(cost, best.models, AMPLITUDE, backend="scipy") == pytest.approx(
        ul, rel=1e-3
    )


def test_upper_limit_beyond_the_maximum_is_nan(bright):
    cost, best = bright
    value = best.parameters.loc[INDEX, "value"]
    models = best.models.with_parameters(**{INDEX: Parameter("index", value, max=value + 0.001)})
    assert np.isnan(upper_limit(cost, models, INDEX))


def test_ts_source_matches_gammapy(
    simulated_counts, spectrum_dataset, predictor, power_law_models
):
    ds = spectrum_dataset(simulated_counts[0])
    cost = MapCost(ds, predictor(ds))
    ts = ts_source(cost, power_law_models(), "src")
    assert ts == pytest.approx(7894.375301737338, abs=1e-3)  # Gammapy 2.1, same data
    assert significance_from_ts(ts) == pytest.approx(np.sqrt(ts))


def test_significance_is_vectorised():
    ts = xr.DataArray([25.0, 4.0, -1e-9], dims="lon")
    sign = xr.DataArray([1.0, -3e-12, 2.0], dims="lon")
    np.testing.assert_allclose(significance_from_ts(ts, sign=sign), [5.0, -2.0, 0.0])


def test_profile_setup_errors(bright):
    cost, best = bright
    frozen = best.models.with_parameters(**{INDEX: Parameter("index", 2.5, frozen=True)})
    with pytest.raises(FitError, match="is frozen"):
        profile(cost, frozen, INDEX, [1.0])
    with pytest.raises(FitError, match="no parameter 'src.index'"):
        profile(cost, best.models, "src.index", [1.0])
    with pytest.raises(FitError, match="has no options"):
        profile(cost, best.models, INDEX, [2.5], backend="scipy", strategy=0)
    with pytest.raises(FitError, match="cl must be"):
        upper_limit(cost, best.models, INDEX, cl=0.3)
    with pytest.raises(FitError, match="no model 'crab'"):
        ts_source(cost, best.models, "crab")
    with pytest.raises(FitError, match="did not converge"):
        upper_limit(cost, best.models, INDEX, max_calls=3)
