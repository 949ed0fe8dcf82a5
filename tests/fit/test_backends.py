import numpy as np
import pytest

from gammaxr.exceptions import FitError
from gammaxr.fit import BACKENDS, OptimizeResult, get_backend, optimize
from gammaxr.fit.backends import minimize_fixed, numerical_hessian, profile_crossing

# A correlated Gaussian -2 ln L in two variables of very different magnitudes.
MEAN = np.array([2.0, 3e-11])
SIGMA = np.array([0.1, 2e-12])
RHO = 0.6
COV = np.outer(SIGMA, SIGMA) * np.array([[1, RHO], [RHO, 1]])
INV = np.linalg.inv(COV)
SCALES = np.array([1.0, 1e-11])


def chi2(x):
    d = np.asarray(x) - MEAN
    return float(d @ INV @ d) + 1234.5  # the constant must not matter


@pytest.mark.parametrize("backend", ["minuit", "scipy"])
def test_gaussian_cost_gives_mean_and_covariance(backend):
    result = optimize(chi2, [1.5, 5e-11], None, scales=SCALES, backend=backend)
    assert isinstance(result, OptimizeResult)
    assert result.success, result.message
    assert result.backend == backend
    np.testing.assert_allclose(result.x, MEAN, rtol=1e-5)
    np.testing.assert_allclose(result.covariance, COV, rtol=2e-3)
    assert result.fun == pytest.approx(1234.5, abs=1e-6)
    assert result.nfev > 0
    assert np.isnan(result.errors_lo).all()
    with pytest.raises(ValueError, match="read-only"):
        result.x[0] = 0.0


@pytest.mark.parametrize("backend", ["minuit", "scipy"])
def test_minos_of_a_gaussian_equals_sigma(backend):
    result = optimize(chi2, [1.5, 5e-11], None, scales=SCALES, backend=backend, minos=True)
    np.testing.assert_allclose(result.errors_lo, SIGMA, rtol=1e-3)
    np.testing.assert_allclose(result.errors_hi, SIGMA, rtol=1e-3)


@pytest.mark.parametrize("backend", ["minuit", "scipy"])
def test_bounds_are_honoured(backend):
    seen = []

    def cost(x):
        seen.append(np.array(x))
        return chi2(x)

    bounds = [(None, 1.9), (np.nan, np.inf)]
    result = optimize(cost, [1.5, 5e-11], bounds, scales=SCALES, backend=backend)
    assert result.x[0] == pytest.approx(1.9, abs=1e-6)
    assert max(x[0] for x in seen) <= 1.9 + 1e-12
    # the other variable follows the correlation: its conditional mean
    expected = MEAN[1] + RHO * SIGMA[1] / SIGMA[0] * (1.9 - MEAN[0])
    assert result.x[1] == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize(("backend", "word"), [("minuit", "call limit"), ("scipy", "")])
def test_call_limit_is_reported_not_raised(backend, word):
    result = optimize(chi2, [1.0, 9e-11], None, scales=SCALES, backend=backend, max_calls=5)
    assert not result.success
    assert word in result.message
    assert np.isnan(result.covariance).all()


def test_unknown_backend_and_option():
    with pytest.raises(
        FitError, match=r"unknown fit backend 'nlopt'; use one of \['minuit', 'scipy'\]"
    ):
        get_backend("nlopt")
    with pytest.raises(FitError, match=r"has no options \['tolerance'\]"):
        optimize(chi2, MEAN, None, scales=SCALES, tolerance=1)
    with pytest.raises(FitError, match="bounds must be 2"):
        optimize(chi2, MEAN, [(0, 1)], scales=SCALES)
    assert set(BACKENDS) == {"minuit", "scipy"}


def test_numerical_hessian_of_a_quadratic_near_a_bound():
    z_cov = COV / np.outer(SCALES, SCALES)
    z_mean = MEAN / SCALES

    def f(z):
        d = z - z_mean
        return float(d @ np.linalg.inv(z_cov) @ d)

    expected = 2 * np.linalg.inv(z_cov)
    np.testing.assert_allclose(numerical_hessian(f, z_mean), expected, rtol=1e-6)
    bounds = [(None, z_mean[0]), (None, None)]  # at the upper bound: stencil moves inside
    np.testing.assert_allclose(numerical_hessian(f, z_mean, bounds=bounds), expected, rtol=1e-6)


def test_profile_helpers():
    backend = get_backend("minuit")
    fun, x, ok = minimize_fixed(backend, chi2, MEAN, None, SCALES, 0, 2.1)
    assert ok
    assert fun - 1234.5 == pytest.approx(1.0, rel=1e-4)  # one marginal sigma away
    assert x[1] == pytest.approx(MEAN[1] + RHO * SIGMA[1], rel=1e-4)
    up = profile_crossing(
        backend, chi2, MEAN, 1234.5, None, SCALES, 1, delta=2.71, direction=+1, step=SIGMA[1]
    )
    assert up == pytest.approx(MEAN[1] + np.sqrt(2.71) * SIGMA[1], rel=1e-5)
    none = profile_crossing(
        backend, chi2, MEAN, 1234.5, [(None, None), (None, 3.1e-11)], SCALES, 1,
        delta=2.71, direction=+1, step=SIGMA[1],
    )  # fmt: skip
    assert np.isnan(none)


def steep(x):
    """exp(x0) - 10 x0 + (x1 - 1)^2 (minimum at x0 = ln 10), undefined (NaN) above x0 = 5.

    From x0 = -3 the curvature is tiny, so the first Newton step lands at x0 ~ 200.
    """
    if x[0] > 5.0:
        return np.nan
    return float(np.exp(x[0]) - 10.0 * x[0] + (x[1] - 1.0) ** 2)


@pytest.mark.parametrize("backend", ["minuit", "scipy"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_costs_are_rejected_and_the_fit_converges(backend, bad):
    seen = []

    def cost(x):
        seen.append(np.array(x))
        value = steep(x)
        return bad if np.isnan(value) else value

    result = optimize(cost, [-3.0, 0.0], None, scales=[1.0, 1.0], backend=backend)
    assert result.success, result.message
    np.testing.assert_allclose(result.x, [np.log(10.0), 1.0], atol=2e-3)
    assert result.fun == pytest.approx(10.0 - 10.0 * np.log(10.0), abs=1e-5)
    assert all(np.isfinite(x).all() for x in seen)  # no NaN proposals reach the cost
    outside = sum(1 for x in seen if not x[0] <= 5.0)
    if backend == "minuit":  # MIGRAD did step outside, was turned back, and says so
        assert outside > 0
        assert f"; {outside} of " in result.message
        assert "evaluations had a non-finite cost" in result.message
    assert np.isfinite(result.covariance).all()


@pytest.mark.parametrize("backend", ["minuit", "scipy"])
def test_a_cost_that_is_never_finite_gives_a_failed_result(backend):
    result = optimize(lambda x: np.nan, [1.0, 2.0], None, scales=[1.0, 1.0], backend=backend)
    assert result.success is False
    assert "ended where the cost is not finite" in result.message
    assert "left at their start values" in result.message
    np.testing.assert_array_equal(result.x, [1.0, 2.0])
    assert np.isnan(result.fun)
    assert np.isnan(result.covariance).all()
