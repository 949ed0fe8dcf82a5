"""Statistical validation on Poisson simulations with known truth (fixed seeds).

Tolerances follow from the number of realisations N, for a correct fit whose
pulls are standard normal: the mean of N pulls has a standard error
1/sqrt(N) and their standard deviation 1/sqrt(2(N-1)); a coverage fraction
near p has sqrt(p(1-p)/N); the mean of N chi2(1) values has sqrt(2/N). Each
check allows ~2-3 of these standard errors, which still catches the usual
mistakes by a wide margin (a wrong errordef or a covariance off by a factor
2 changes the pull width by sqrt(2): 1.41 or 0.71).

The many fits use FastPowerLaw (see conftest: the same function as
PowerLawSpectralModel, with dimensionless parameters that are ~6x faster to
rebuild today); the backend comparison uses PowerLawSpectralModel itself.
"""

import numpy as np
import pytest
import scipy.stats

from gammaxr.fit import MapCost, fit, ts_source, upper_limit
from gammaxr.models import Parameter

N_PULLS = 200  # mean +- 0.15 is 2.1 standard errors (0.071); std +- 0.15 is 3 (0.050)
N_NULL = 200  # coverage 0.95 +- 0.015; mean TS 1 +- 0.10


def test_pulls_of_index_and_amplitude(simulated_counts, make_cost, fast_models):
    assert simulated_counts.shape == (N_PULLS, 20)
    assert 1400 < simulated_counts.sum(axis=1).mean() < 1700  # realistic: ~1600 counts
    fitted = []
    for counts in simulated_counts:
        result = fit(make_cost(counts), fast_models())  # start at the truth (2.5, 4.0)
        assert result.success, result.message
        table = result.parameters
        fitted.append(table.loc[["src.spectral.index", "src.spectral.norm"], ["value", "error"]])
    values = np.array([f["value"].to_numpy() for f in fitted])
    errors = np.array([f["error"].to_numpy() for f in fitted])
    pulls = (values - np.array([2.5, 4.0])) / errors
    mean, std = pulls.mean(axis=0), pulls.std(axis=0, ddof=1)
    print(f"pull means {mean.round(3)}, stds {std.round(3)}")
    assert np.all(np.abs(mean) < 0.15), mean
    assert np.all((std > 0.85) & (std < 1.15)), std


def test_minuit_and_scipy_agree(simulated_counts, make_cost, power_law_models):
    ratios_value, ratios_error = [], []
    for counts in simulated_counts[:5]:
        cost = make_cost(counts)
        a = fit(cost, power_law_models(index=2.0, amplitude=1e-11), backend="minuit")
        b = fit(cost, power_law_models(index=2.0, amplitude=1e-11), backend="scipy")
        assert a.success and b.success, (a.message, b.message)
        assert a.statistic == pytest.approx(b.statistic, abs=1e-3)
        ratios_value.append(b.parameters["value"][:2] / a.parameters["value"][:2] - 1)
        ratios_error.append(b.parameters["error"][:2] / a.parameters["error"][:2] - 1)
    print(f"max |rel diff| values {np.abs(ratios_value).max():.1e}, errors "
          f"{np.abs(ratios_error).max():.1e}")  # fmt: skip
    assert np.abs(ratios_value).max() < 1e-4
    assert np.abs(ratios_error).max() < 0.02


@pytest.fixture(scope="module")
def null_simulations(spectrum_dataset, predictor, fast_models):
    """Background-only data (~400 counts): the upper limit and TS of a source with a free norm."""
    background = 60.0 / np.sqrt(np.geomspace(0.5, 50, 21)[:-1] * np.geomspace(0.5, 50, 21)[1:])
    template = spectrum_dataset(np.zeros(20), background=background)
    counts = np.random.default_rng(0).poisson(background, size=(N_NULL, 20))
    models = fast_models(index=Parameter("index", 2.5, frozen=True), norm=0.1)  # truth: 0
    limits, ts = [], []
    for row in counts:
        ds = template.assign(counts=("energy", row))
        cost = MapCost(ds, predictor(ds))
        limits.append(upper_limit(cost, models, "src.spectral.norm", cl=0.95))
        ts.append(ts_source(cost, models, "src"))
    return np.array(limits), np.array(ts)


def test_upper_limit_coverage(null_simulations):
    limits, _ = null_simulations
    assert np.isfinite(limits).all()
    coverage = np.mean(limits >= 0.0)  # the truth is 0
    print(f"upper-limit coverage {coverage:.3f}")
    assert 0.91 <= coverage <= 0.99


def test_ts_without_a_source_is_chi2_with_one_dof(null_simulations):
    _, ts = null_simulations
    print(f"TS mean {ts.mean():.3f}, P(TS > 3.84) {np.mean(ts > 3.84):.3f}")
    assert ts.min() > -1e-4  # the fit with the source is never worse
    assert 0.7 < ts.mean() < 1.3
    assert np.mean(ts > 3.84) < 0.10
    assert scipy.stats.kstest(np.maximum(ts, 0), scipy.stats.chi2(1).cdf).pvalue > 0.01


def test_ts_of_a_strong_source(simulated_counts, make_cost, fast_models):
    ts = [ts_source(make_cost(counts), fast_models(), "src") for counts in simulated_counts[:5]]
    assert min(ts) > 5000  # ~1300 excess counts over ~40 background counts
