"""WStat: agreement with Gammapy, exact limits, the analytic profile, stacking."""

from __future__ import annotations

import itertools

import dask.array as da
import numpy as np
import pytest
import scipy.optimize
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

import gammaxr as gx
from gammaxr.exceptions import DimensionError, FormatError
from gammaxr.fit.wstat import on_off_alpha, stack_on_off, wstat, wstat_mu_bkg, wstat_sum

# gammapy.stats.wstat(n_on, n_off, alpha, mu_sig) (extra_terms=True), Gammapy 2.1, on the
# grid itertools.product(N_ON, N_OFF, ALPHA, MU_SIG); made by
# benchmarks/gammapy_onoff_reference.py in /work/gp-venv.
N_ON = [0, 1, 7, 40]
N_OFF = [0, 3, 25]
ALPHA = [0.1, 2.5]
MU_SIG = [0.0, 0.5, 12.0]
WSTAT_GAMMAPY = np.array([
    0.0000000000000000e+00, 1.0000000000000000e+00, 2.4000000000000000e+01,
    0.0000000000000000e+00, 1.0000000000000000e+00, 2.4000000000000000e+01,
    5.7186107882594994e-01, 1.5718610788259499e+00, 2.4571861078825950e+01,
    7.5165778109722083e+00, 8.5165778109722083e+00, 3.1516577810972208e+01,
    4.7655089902162331e+00, 5.7655089902162331e+00, 2.8765508990216262e+01,
    6.2638148424768403e+01, 6.3638148424768403e+01, 8.6638148424768403e+01,
    4.7957905455967413e+00, 3.8629436111989079e-01, 1.7030186700424000e+01,
    6.7294447324242590e-01, 2.7294447324242599e-01, 1.7030186700424000e+01,
    8.6897046747222406e-01, 4.4467858979265973e-02, 1.7556936668559601e+01,
    3.6908411272641675e+00, 4.3624986822711733e+00, 2.4210302372460429e+01,
    1.0840708021059697e+00, 1.6991070143366187e+00, 2.1447790397895062e+01,
    5.4833864164303797e+01, 5.5780703638353948e+01, 7.7830969281202442e+01,
    3.3570533819177186e+01, 2.3570533819177186e+01, 2.4540489897423825e+00,
    4.7106113126969795e+00, 4.3106113126969792e+00, 2.4540489897423825e+00,
    2.1925108856905268e+01, 1.5939927102047472e+01, 2.7029444273685890e+00,
    9.9030825713199988e-03, 4.0383629684885847e-02, 7.2151073252291731e+00,
    4.7154783603953518e+00, 3.4607444683703221e+00, 4.7404991165261521e+00,
    3.3728195288467305e+01, 3.4424540796459482e+01, 5.1623735154172053e+01,
    1.9183162182386963e+02, 1.8183162182386963e+02, 4.0317824346074872e+01,
    2.6917778929697022e+01, 2.6517778929697016e+01, 1.7317778929697027e+01,
    1.7064230301417280e+02, 1.6145902253408116e+02, 3.8764682652549624e+01,
    1.2673176852146469e+01, 1.2371597801343484e+01, 5.9665085870664143e+00,
    1.0998093330017798e+02, 1.0432321035391186e+02, 2.9350262401240343e+01,
    2.9397298405575043e+00, 3.0799785673130486e+00, 7.3241228103545950e+00,
])  # fmt: skip


def grid():
    return np.array(list(itertools.product(N_ON, N_OFF, ALPHA, MU_SIG)), dtype=float).T


def test_matches_gammapy_grid():
    n_on, n_off, alpha, mu_sig = grid()
    result = wstat(n_on, n_off, alpha, mu_sig)
    assert result.dtype == np.float64
    np.testing.assert_allclose(result, WSTAT_GAMMAPY, rtol=1e-12, atol=1e-12)


def li_ma_ts(n_on, n_off, alpha):
    """Li & Ma (1983) eq. 17, squared, with 0 ln 0 = 0."""
    total = n_on + n_off
    with np.errstate(divide="ignore", invalid="ignore"):
        on = np.where(n_on > 0, n_on * np.log((1 + alpha) / alpha * n_on / total), 0.0)
        off = np.where(n_off > 0, n_off * np.log((1 + alpha) * n_off / total), 0.0)
    return 2 * (on + off)


def test_no_signal_is_li_ma():
    n_on, n_off, alpha, _ = grid()
    np.testing.assert_array_equal(
        wstat_mu_bkg(n_on, n_off, alpha, 0.0), (n_on + n_off) / (1 + alpha)
    )
    np.testing.assert_allclose(
        wstat(n_on, n_off, alpha, 0.0), li_ma_ts(n_on, n_off, alpha), rtol=1e-13, atol=1e-13
    )


def test_no_on_counts():
    _, n_off, alpha, mu_sig = grid()
    np.testing.assert_array_equal(wstat_mu_bkg(0, n_off, alpha, mu_sig), n_off / (1 + alpha))
    expected = 2 * mu_sig + 2 * n_off * np.log1p(alpha)
    np.testing.assert_allclose(wstat(0, n_off, alpha, mu_sig), expected, rtol=1e-14)


def test_no_off_counts():
    n_on, _, alpha, mu_sig = grid()
    bkg = np.maximum(0.0, n_on / (1 + alpha) - mu_sig / alpha)
    np.testing.assert_allclose(wstat_mu_bkg(n_on, 0, alpha, mu_sig), bkg, rtol=1e-14, atol=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        profiled = 2 * (n_on * np.log((1 + alpha) / alpha) - mu_sig / alpha)
        saturated = 2 * (mu_sig - n_on + np.where(n_on > 0, n_on * np.log(n_on / mu_sig), 0))
    expected = np.where(bkg > 0, profiled, saturated)
    result = wstat(n_on, 0, alpha, mu_sig)
    finite = np.isfinite(expected)
    np.testing.assert_allclose(result[finite], expected[finite], rtol=1e-13, atol=1e-13)
    # Counts on, nothing predicted: infinitely unlikely (never NaN).
    assert np.all(result[~finite] == np.inf)
    assert np.all((n_on[~finite] > 0) & (mu_sig[~finite] == 0))


def test_both_empty():
    mu_sig = np.array([0.0, 0.5, 12.0])
    assert np.all(wstat_mu_bkg(0, 0, 0.3, mu_sig) == 0)
    np.testing.assert_array_equal(wstat(0, 0, 0.3, mu_sig), 2 * mu_sig)


def test_best_fit_is_zero_and_alpha_zero_is_cash():
    n_on, n_off, alpha, _ = grid()
    np.testing.assert_allclose(wstat(n_on, n_off, alpha, n_on - alpha * n_off), 0, atol=1e-12)
    # alpha -> 0: the on-region background vanishes; WStat is the Cash deviance of n_on.
    n, mu = np.array([0.0, 3.0, 40.0]), np.array([2.0, 3.5, 31.0])
    cash_deviance = 2 * (mu - n + np.where(n > 0, n * np.log(np.where(n > 0, n, 1) / mu), 0))
    np.testing.assert_allclose(wstat(n, 5.0, 0.0, mu), cash_deviance, rtol=1e-14)


def minus_two_log_l(mu_bkg, n_on, n_off, alpha, mu_sig):
    """-2 ln L (deviance form) at a given background, for the numerical profile."""
    mu_on = mu_sig + alpha * mu_bkg

    def term(n, mu):
        return n * np.log(n / mu) if n > 0 else 0.0

    return 2 * (mu_on + mu_bkg - n_on - n_off + term(n_on, mu_on) + term(n_off, mu_bkg))


@pytest.mark.parametrize(
    ("n_on", "n_off", "alpha", "mu_sig"),
    [(7, 25, 0.1, 0.5), (40, 3, 2.5, 12.0), (1, 25, 0.1, 12.0), (0, 3, 0.4, 2.0),
     (120, 300, 0.2, 45.0), (3, 1, 0.05, 0.2), (17, 3, 1.5, 40.0)],
)  # fmt: skip
def test_profile_is_the_numerical_minimum(n_on, n_off, alpha, mu_sig):
    analytic = float(wstat_mu_bkg(n_on, n_off, alpha, mu_sig))
    upper = 10 * (n_on + n_off) + 10
    result = scipy.optimize.minimize_scalar(
        minus_two_log_l,
        bounds=(1e-12, upper),
        args=(n_on, n_off, alpha, mu_sig),
        method="bounded",
        options={"xatol": 1e-12},
    )
    assert result.x == pytest.approx(analytic, rel=1e-6, abs=1e-6)
    assert float(wstat(n_on, n_off, alpha, mu_sig)) == pytest.approx(result.fun, abs=1e-9)


counts = st.integers(min_value=0, max_value=10**6)


@settings(max_examples=300, deadline=None)
@given(
    n_on=counts,
    n_off=counts,
    alpha=st.floats(min_value=1e-4, max_value=1e3),
    mu_sig=st.floats(min_value=0.0, max_value=1e7),
)
def test_deviance_is_non_negative_and_the_profile_is_a_maximum(n_on, n_off, alpha, mu_sig):
    value = float(wstat(n_on, n_off, alpha, mu_sig))
    assert value >= 0
    bkg = float(wstat_mu_bkg(n_on, n_off, alpha, mu_sig))
    assert bkg >= 0
    if n_on > 0 and mu_sig == 0 and bkg == 0:
        return
    assert np.isfinite(value)
    # Any other background fits worse (up to round-off).
    for factor in (0.9, 1.1):
        other = bkg * factor + (1e-3 if bkg == 0 else 0)
        worse = minus_two_log_l(other, n_on, n_off, alpha, mu_sig)
        assert worse >= value - 1e-9 * max(1.0, value)


def test_no_cancellation_for_a_large_signal():
    # C < 0 and 4 alpha (alpha + 1) n_off mu_sig << C^2: the textbook form (C + D) / ...
    # cancels to round-off here (C + D ~ 2e-3 next to |C| ~ 1e12).
    n_on, n_off, alpha, mu_sig = 0.0, 1.0, 1e-3, 1e12
    assert float(wstat_mu_bkg(n_on, n_off, alpha, mu_sig)) == pytest.approx(1 / (1 + alpha))
    n_on = 5.0
    bkg = float(wstat_mu_bkg(n_on, n_off, alpha, mu_sig))
    # Stationarity of ln L in mu_bkg: n_on alpha / mu_on + n_off / mu_bkg = 1 + alpha.
    mu_on = mu_sig + alpha * bkg
    assert n_on * alpha / mu_on + n_off / bkg == pytest.approx(1 + alpha, rel=1e-12)


def test_mask_gives_exact_zero_even_for_nan():
    n_on = np.array([3.0, np.nan, 4.0])
    alpha = np.array([0.2, 0.2, np.nan])
    mask = np.array([True, False, False])
    result = wstat(n_on, 10.0, alpha, 1.0, mask=mask)
    assert result[0] == wstat(3.0, 10.0, 0.2, 1.0)
    assert np.all(result[1:] == 0)
    assert np.isnan(wstat(n_on, 10.0, alpha, 1.0)[1:]).all()


def test_dataarrays_broadcast_by_name_and_dask_stays_lazy():
    n_on = xr.DataArray([[3, 0], [8, 1]], dims=("obs_id", "energy"))
    n_off = xr.DataArray([[10, 2], [20, 4]], dims=("obs_id", "energy"))
    alpha = xr.DataArray([0.2, 0.3], dims="energy")
    mu_sig = xr.DataArray([1.0, 2.0], dims="energy")
    result = wstat(n_on, n_off, alpha, mu_sig)
    assert isinstance(result, xr.DataArray)
    assert result.dims == ("obs_id", "energy")
    expected = wstat(n_on.values, n_off.values, alpha.values, mu_sig.values)
    np.testing.assert_array_equal(result.values, expected)

    lazy = wstat_sum(n_on.chunk({"obs_id": 1}), n_off, alpha, mu_sig, dim="energy")
    assert isinstance(lazy.data, da.Array)
    assert lazy.name == "wstat"
    np.testing.assert_allclose(lazy.values, expected.sum(axis=1), rtol=1e-15)
    masked = wstat_sum(n_on, n_off, alpha, mu_sig, mask=xr.DataArray([True, False], dims="energy"))
    assert float(masked) == pytest.approx(expected[:, 0].sum(), rel=1e-15)


# --------------------------------------------------------------------------------------
# alpha and stacking
# --------------------------------------------------------------------------------------

# Three on-off observations; Gammapy 2.1 Datasets.stack_reduce() of the same
# SpectrumDatasetOnOff objects (benchmarks/gammapy_onoff_reference.py).
OBS = {
    "counts": [[12, 30, 9, 3, 0], [8, 25, 14, 2, 1], [20, 41, 11, 5, 2]],
    "counts_off": [[40, 60, 0, 4, 1], [35, 0, 30, 6, 0], [70, 90, 25, 0, 0]],
    "acceptance_off": [[4, 4, 5, 5, 6], [8, 8, 8, 9, 9], [3, 3, 3, 3, 3]],
    "mask_safe": [[1, 1, 1, 1, 0], [0, 1, 1, 1, 1], [1, 1, 1, 0, 1]],
    "livetime": [1683.0, 1687.5, 1500.25],
}
STACKED_GAMMAPY = {
    "counts": [32, 96, 34, 5, 3],
    "counts_off": [110, 150, 55, 10, 0],
    "acceptance": [2.0, 3.0, 3.0, 2.0, 2.0],
    "acceptance_off": [6.5999994, 10.0, 13.655171, 13.636363, 7.0741878],
    "alpha": [0.30303034, 0.3, 0.21969698, 0.14666668, 0.28271797],
    "exposure": [
        6.0000000e08,
        1.3120346e09,
        2.8690575e09,
        6.2738371e09,
        1.3719151e10,
        3.0000001e10,
    ],
    "livetime": 4870.75,
}


def make_observation(i: int) -> xr.Dataset:
    energy = gx.energy_axis(0.5, 50, nbin=5)
    energy_true = gx.energy_axis(0.3, 80, nbin=6, name="energy_true")

    def var(values, dtype):
        return ("energy", np.array(values, dtype=dtype), {"units": ""})

    return xr.Dataset(
        {
            "counts": var(OBS["counts"][i], np.int64),
            "counts_off": var(OBS["counts_off"][i], np.int64),
            "acceptance": var(np.ones(5), np.float32),
            "acceptance_off": var(OBS["acceptance_off"][i], np.float32),
            "mask_safe": ("energy", np.array(OBS["mask_safe"][i], dtype=bool)),
            "exposure": (
                "energy_true",
                ((1 + i) * np.geomspace(1e8, 5e9, 6)).astype(np.float32),
                {"units": "m2 s"},
            ),
        },
        coords={**energy.coords, **energy_true.coords},
        attrs={"obs_id": 100 + i, "livetime": OBS["livetime"][i]},
    )


@pytest.fixture
def joint() -> xr.Dataset:
    return gx.concat_observations([make_observation(i) for i in range(3)])


def test_alpha_is_zero_where_acceptance_off_is_zero():
    ds = xr.Dataset(
        {"acceptance": ("energy", [1.0, 2.0, 0.0]), "acceptance_off": ("energy", [4.0, 0.0, 0.0])}
    )
    np.testing.assert_array_equal(on_off_alpha(ds).values, [0.25, 0.0, 0.0])
    with pytest.raises(FormatError, match="acceptance_off"):
        on_off_alpha(ds.drop_vars("acceptance_off"))


def test_stack_matches_gammapy(joint):
    stacked = stack_on_off(joint)
    for name in ("counts", "counts_off", "acceptance", "acceptance_off", "exposure"):
        assert stacked[name].dtype == joint[name].dtype
        np.testing.assert_allclose(stacked[name].values, STACKED_GAMMAPY[name], rtol=2e-7)
    np.testing.assert_allclose(on_off_alpha(stacked).values, STACKED_GAMMAPY["alpha"], rtol=2e-7)
    assert float(stacked["livetime"]) == STACKED_GAMMAPY["livetime"]
    assert stacked["mask_safe"].values.all()
    assert stacked.attrs["obs_ids"] == [100, 101, 102]
    assert stacked["acceptance_off"].attrs == joint["acceptance_off"].attrs


def test_stacked_background_is_the_sum_of_the_safe_backgrounds(joint):
    stacked = stack_on_off(joint)
    alpha = on_off_alpha(joint)
    safe_background = (alpha * joint.counts_off).where(joint.mask_safe, 0).sum("obs_id")
    stacked_background = on_off_alpha(stacked) * stacked.counts_off
    np.testing.assert_allclose(stacked_background.values, safe_background.values, rtol=1e-6)
    # Bins outside a safe mask add nothing: changing them changes nothing.
    changed = joint.copy(deep=True)
    outside = ~changed.mask_safe
    changed["counts_off"] = changed.counts_off.where(~outside, 10**6)
    changed["acceptance_off"] = changed.acceptance_off.where(~outside, np.float32(1e-3))
    changed["acceptance"] = changed.acceptance.where(~outside, np.float32(7.0))
    xr.testing.assert_identical(stack_on_off(changed), stacked)


def test_stack_is_lazy_for_dask(joint):
    lazy = stack_on_off(joint.chunk({"obs_id": 1}))
    assert isinstance(lazy.acceptance_off.data, da.Array)
    xr.testing.assert_identical(lazy.compute(), stack_on_off(joint))


def test_stack_errors(joint):
    with pytest.raises(DimensionError, match="obs_id"):
        stack_on_off(joint.isel(obs_id=0))
    with pytest.raises(FormatError, match="counts_off"):
        stack_on_off(joint.drop_vars("counts_off"))
    with pytest.raises(DimensionError, match="energy"):
        stack_on_off(joint.assign(acceptance=joint.acceptance.sum("energy")))


def test_stack_on_off_is_the_stacking_rule_of_gammaxr_stack(joint):
    import gammaxr.stacking

    assert stack_on_off is gammaxr.stacking.stack_on_off
    assert on_off_alpha is gammaxr.stacking.on_off_alpha
    xr.testing.assert_identical(gx.stack(joint), stack_on_off(joint))
    xr.testing.assert_identical(joint.gp.stack(), stack_on_off(joint))
