"""The batched one-amplitude fit against scipy, analytic cases and simulations."""

import numpy as np
import pytest
from scipy.optimize import brentq, minimize_scalar
from scipy.special import xlogy

from gammaxr.estimators.norm_fit import fit_norm, norm_scan
from gammaxr.exceptions import GammaxrError
from gammaxr.fit.wstat import wstat


def cash(n, b, s, x):
    mu = b + x * s
    return 2.0 * np.sum(mu - n * np.log(mu))


@pytest.fixture(scope="module")
def simulated():
    rng = np.random.default_rng(11)
    signal = rng.uniform(0.0, 3.0, (400, 25))
    background = rng.uniform(0.1, 5.0, (400, 25))
    counts = rng.poisson(background + 0.7 * signal)
    return counts, signal, background


def test_matches_scipy_cash(simulated):
    n, s, b = simulated
    res = fit_norm(n, s, b, axis=-1)
    assert res["norm"].shape == (400,) and res["success"].all()
    for i in range(5):
        best = res["norm"][i]
        lower = np.max(-b[i] / s[i])
        ref = minimize_scalar(
            lambda x, i=i: cash(n[i], b[i], s[i], x), bounds=(lower + 1e-9, 20.0),
            method="bounded", options={"xatol": 1e-11},
        )  # fmt: skip
        assert best == pytest.approx(ref.x, abs=1e-6)
        smin = cash(n[i], b[i], s[i], best)

        def rise(x, level, i=i, smin=smin):
            return cash(n[i], b[i], s[i], x) - smin - level

        up = brentq(rise, best, 50, args=(1,))
        down = brentq(rise, lower + 1e-12, best, args=(1,))
        ul = brentq(rise, best, 50, args=(4,))
        assert res["norm_errp"][i] == pytest.approx(up - best, rel=1e-7)
        assert res["norm_errn"][i] == pytest.approx(best - down, rel=1e-7)
        assert res["norm_ul"][i] == pytest.approx(ul, rel=1e-8)
        assert res["ts"][i] == pytest.approx(cash(n[i], b[i], s[i], 0) - smin, rel=1e-8)


def test_pulls_unbiased(simulated):
    n, s, b = simulated
    res = fit_norm(n, s, b, axis=-1)
    pull = (res["norm"] - 0.7) / res["norm_err"]
    assert abs(pull.mean()) < 0.15
    assert pull.std() == pytest.approx(1.0, abs=0.1)
    inside = (res["norm"] - res["norm_errn"] <= 0.7) & (res["norm"] + res["norm_errp"] >= 0.7)
    assert inside.mean() == pytest.approx(0.683, abs=0.06)


def test_no_background_is_analytic():
    n = np.array([[4, 6, 0], [1, 0, 0]])
    s = np.array([[1.0, 2.0, 1.0], [0.5, 0.5, 1.0]])
    res = fit_norm(n, s, 0.0, axis=-1)
    np.testing.assert_allclose(res["norm"], n.sum(1) / s.sum(1), rtol=1e-9)
    # with no background the statistic is infinite at norm = 0 when counts > 0
    assert np.isinf(res["ts"]).all()
    # analytic crossing of 2 (S x - N ln x) + const at 1: solve numerically on the known form
    total_n, total_s = n[0].sum(), s[0].sum()
    best = total_n / total_s

    def rise(x):
        at_best = total_s * best - total_n * np.log(best)
        return 2 * (total_s * x - total_n * np.log(x)) - 2 * at_best

    assert res["norm_errp"][0] == pytest.approx(brentq(lambda x: rise(x) - 1, best, 10) - best)


def test_mask_and_axes_and_batch_shape():
    rng = np.random.default_rng(2)
    s = rng.uniform(1, 2, (3, 4, 5))
    b = rng.uniform(1, 2, (3, 4, 5))
    n = rng.poisson(b + s)
    mask = np.zeros((3, 4, 5), bool)
    mask[:, :2] = True
    res = fit_norm(n, s, b, axis=(1, 2), mask=mask)
    assert res["norm"].shape == (3,)
    direct = fit_norm(n[:, :2], s[:, :2], b[:, :2], axis=(1, 2))
    np.testing.assert_allclose(res["norm"], direct["norm"], rtol=1e-10)
    np.testing.assert_array_equal(res["counts"], n[:, :2].sum(axis=(1, 2)))
    one = fit_norm(n, s, b, axis=None)
    assert one["norm"].shape == ()


def test_negative_norm_and_bound():
    # a deficit: the best norm is negative, above the bound where mu reaches 0
    res = fit_norm(np.array([2, 3]), np.array([1.0, 1.0]), np.array([5.0, 5.0]), axis=-1)
    assert float(res["norm"]) == pytest.approx(-2.5, rel=1e-9)
    # zero counts: the minimum sits on the bound (mu -> 0), no lower crossing
    res = fit_norm(np.array([0, 0]), np.array([1.0, 2.0]), np.array([1.0, 1.0]), axis=-1)
    assert float(res["norm"]) == pytest.approx(-0.5)
    assert np.isnan(res["norm_errn"])
    assert float(res["norm_ul"]) > 0


def test_no_signal_is_nan():
    res = fit_norm(np.array([[3, 4], [3, 4]]), np.array([[0.0, 0.0], [1.0, 1.0]]), 1.0, axis=-1)
    assert np.isnan(res["norm"][0]) and not res["success"][0]
    assert res["success"][1]


def test_wstat_matches_scipy():
    rng = np.random.default_rng(5)
    s = rng.uniform(0, 3, (50, 10))
    n_off = rng.poisson(20.0, (50, 10))
    n_on = rng.poisson(0.25 * 20 + 0.8 * s)
    res = fit_norm(n_on, s, counts_off=n_off, alpha=0.25, axis=-1)
    for i in range(4):

        def stat(x, i=i):
            return np.sum(wstat(n_on[i], n_off[i], 0.25, x * s[i]))

        ref = minimize_scalar(stat, bounds=(-20, 20), method="bounded", options={"xatol": 1e-11})
        best = res["norm"][i]
        assert best == pytest.approx(ref.x, abs=1e-6)
        assert res["ts"][i] == pytest.approx(stat(0) - stat(best), rel=1e-8)
        ul = brentq(lambda x, i=i, best=best: stat(x) - stat(best) - 4, best, 50)
        assert res["norm_ul"][i] == pytest.approx(ul, rel=1e-8)


def test_scan_matches_statistic(simulated):
    n, s, b = simulated
    norms = np.linspace(0.2, 2.0, 7)
    scan = norm_scan(n[:3], s[:3], b[:3], norms)
    assert scan.shape == (3, 7)
    stat0 = cash(n[0], b[0], s[0], norms[2])
    # the scan is a deviance: equal to Cash up to a constant per element
    offsets = scan[0] - np.array([cash(n[0], b[0], s[0], x) for x in norms])
    np.testing.assert_allclose(offsets, offsets[0], atol=1e-8)
    assert np.isfinite(stat0)


def test_bad_input():
    with pytest.raises(GammaxrError, match="counts_off and alpha"):
        fit_norm([1, 2], [1, 1], counts_off=[1, 1])
    with pytest.raises(GammaxrError, match="signal must be >= 0"):
        fit_norm([1, 2], [1, -1], [1, 1])
    with pytest.raises(GammaxrError, match="do not broadcast"):
        fit_norm([1, 2, 3], [1, 1], [1, 1])


def cash_safe(n, b, s, x):
    """:func:`cash` with ``0 ln 0 = 0`` (a bin without counts may reach mu = 0)."""
    mu = b + x * s
    return 2.0 * np.sum(mu - xlogy(n, mu))


def _scipy_best(n, s, b):
    """The Cash minimum of one row by bounded minimisation, and its domain bound."""
    positive = s > 0
    lower = np.max(-b[positive] / s[positive])
    ref = minimize_scalar(
        lambda x: cash_safe(n, b, s, x), bounds=(lower, lower + 50.0), method="bounded",
        options={"xatol": 1e-12},
    )  # fmt: skip
    return ref.x, lower


@pytest.fixture(scope="module")
def sparse_rows():
    """TS-map-like rows: few counts, faint or negative excesses, empty bins with tiny
    background (their bound sets the minimum's domain, and often holds it)."""
    rng = np.random.default_rng(5)
    rows, k = 600, 30
    signal = rng.exponential(1.0, (rows, k)) * (rng.random((rows, k)) < 0.7)
    background = rng.exponential(0.2, (rows, k))
    background[:, 0] = rng.uniform(1e-4, 1e-2, rows)  # an empty bin of small background
    signal[:, 0] = rng.uniform(0.5, 3.0, rows)
    counts = rng.poisson(background + rng.choice([0.0, 0.05, 0.5], (rows, 1)) * signal)
    counts[:, 0] = 0
    # some rows whose bound is set by a bin with counts (a pole of the gradient)
    pole = rng.random(rows) < 0.3
    counts[pole, 0] = 1
    return counts, signal, background


def test_sparse_rows_match_scipy(sparse_rows):
    n, s, b = sparse_rows
    res = fit_norm(n, s, b, axis=-1)
    assert res["success"].all()
    on_bound = 0
    for i in range(0, n.shape[0], 7):
        ref, lower = _scipy_best(n[i], s[i], b[i])
        err = res["norm_err"][i]
        assert res["norm"][i] == pytest.approx(ref, abs=1e-6 * max(err, 1e-3))
        on_bound += res["norm"][i] == lower
        smin = cash_safe(n[i], b[i], s[i], res["norm"][i])
        ul = brentq(lambda x, i=i, smin=smin: cash_safe(n[i], b[i], s[i], x) - smin - 4,
                    res["norm"][i], 100.0, xtol=1e-14)  # fmt: skip
        assert res["norm_ul"][i] == pytest.approx(ul, rel=1e-8)
        assert res["ts"][i] == pytest.approx(cash_safe(n[i], b[i], s[i], 0.0) - smin, abs=1e-8)
    assert on_bound > 0  # the minimum-on-the-bound path is exercised


def test_fit_norm_rows_equals_fit_norm(sparse_rows):
    from gammaxr.estimators.norm_fit import fit_norm_rows

    n, s, b = sparse_rows
    mask = np.ones(n.shape, bool)
    mask[:, -3:] = False
    ours = fit_norm_rows(n.astype(float), s, b, mask)
    reference = fit_norm(n, s, b, axis=-1, mask=mask)
    for name, values in reference.items():
        np.testing.assert_array_equal(ours[name], values, err_msg=name)
