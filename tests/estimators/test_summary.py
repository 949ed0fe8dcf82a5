"""Excess, significance and the on-off info table, against Gammapy and Li & Ma."""

from __future__ import annotations

from decimal import Decimal, getcontext

import numpy as np
import pandas as pd
import pytest
import scipy.optimize
import xarray as xr

import gammaxr as gx
from gammaxr.estimators import excess, info_table, significance, significance_cash
from gammaxr.exceptions import FormatError
from gammaxr.fit.wstat import stack_on_off, wstat

# Gammapy 2.1 WStatCountsStatistic(n_on, n_off, alpha).n_sig / .sqrt_ts and
# CashCountsStatistic(n_on, mu_bkg).sqrt_ts (benchmarks/gammapy_onoff_reference.py).
WSTAT_CASES = [(0, 0, 0.2), (0, 5, 0.2), (3, 0, 0.2), (10, 20, 0.25), (2, 40, 0.1),
               (120, 300, 0.2), (5000, 24000, 0.2), (17, 3, 1.5)]  # fmt: skip
WSTAT_EXCESS_GAMMAPY = [0.0, -1.0, 3.0, 5.0, -2.0, 60.0, 200.0, 12.5]
WSTAT_SQRT_TS_GAMMAPY = [0.0, -1.3502649991537008, 3.2788041745990766, 1.709868475515477,
                         -1.0654072418991822, 6.071964449788009, 2.614241805431044,
                         2.440789234458597]  # fmt: skip
CASH_CASES = [(0, 0.5), (3, 0.5), (10, 10.0), (2, 9.5), (150, 100.0)]
CASH_SQRT_TS_GAMMAPY = [-1.0, 2.3980318628759565, 0.0, -2.9609832028928835, 4.651831083825912]


def cases():
    return (np.array(x, dtype=float) for x in zip(*WSTAT_CASES, strict=True))


def test_excess_and_significance_match_gammapy():
    n_on, n_off, alpha = cases()
    np.testing.assert_allclose(excess(n_on, n_off, alpha), WSTAT_EXCESS_GAMMAPY, rtol=1e-15)
    np.testing.assert_allclose(
        significance(n_on, n_off, alpha), WSTAT_SQRT_TS_GAMMAPY, rtol=1e-10, atol=1e-12
    )


def test_significance_is_li_ma_eq17():
    n_on, n_off, alpha = cases()
    with np.errstate(divide="ignore", invalid="ignore"):
        total = n_on + n_off
        on = np.where(n_on > 0, n_on * np.log((1 + alpha) / alpha * n_on / total), 0)
        off = np.where(n_off > 0, n_off * np.log((1 + alpha) * n_off / total), 0)
    li_ma = np.sign(n_on - alpha * n_off) * np.sqrt(2) * np.sqrt(on + off)
    # The textbook form loses ~1e-13 to cancellation for large counts.
    np.testing.assert_allclose(significance(n_on, n_off, alpha), li_ma, rtol=1e-12, atol=1e-13)
    # The textbook example: Li & Ma's own numbers give 5.0 sigma-ish values; symmetric sign.
    assert significance(0, 0, 0.5) == 0
    assert significance(5, 50, 0.1) == 0


def li_ma_decimal(n_on: int, n_off: int, alpha: str) -> Decimal:
    """Li & Ma eq. 17 in 40-digit decimal arithmetic."""
    n_on, n_off, a = Decimal(n_on), Decimal(n_off), Decimal(alpha)
    total, ts = n_on + n_off, Decimal(0)
    if n_on:
        ts += n_on * ((1 + a) / a * n_on / total).ln()
    if n_off:
        ts += n_off * ((1 + a) * n_off / total).ln()
    return (2 * ts).sqrt()


def test_significance_to_full_precision():
    getcontext().prec = 40
    for (n_on, n_off, alpha), sign in zip(WSTAT_CASES, np.sign(WSTAT_EXCESS_GAMMAPY), strict=True):
        exact = float(li_ma_decimal(n_on, n_off, str(alpha))) * sign
        assert float(significance(n_on, n_off, alpha)) == pytest.approx(exact, rel=2e-15, abs=0)


@pytest.mark.parametrize(("n_on", "n_off", "alpha"), [c for c in WSTAT_CASES if c[0] > 0])
def test_significance_is_the_wstat_difference_to_the_best_fit(n_on, n_off, alpha):
    # Best signal by numerical minimisation of WStat (signal may be negative).
    low = -alpha * n_off * (1 - 1e-9) if n_off else 0.0
    best = scipy.optimize.minimize_scalar(
        lambda mu: float(wstat(n_on, n_off, alpha, mu)),
        bounds=(low, n_on + 10.0),
        method="bounded",
        options={"xatol": 1e-10},
    )
    assert best.x == pytest.approx(n_on - alpha * n_off, abs=1e-4)
    ts = float(wstat(n_on, n_off, alpha, 0.0)) - best.fun
    expected = np.sign(n_on - alpha * n_off) * np.sqrt(max(ts, 0.0))
    assert float(significance(n_on, n_off, alpha)) == pytest.approx(expected, abs=1e-6)


def test_significance_cash_matches_gammapy_and_formula():
    n, b = (np.array(x, dtype=float) for x in zip(*CASH_CASES, strict=True))
    np.testing.assert_allclose(significance_cash(n, b), CASH_SQRT_TS_GAMMAPY, rtol=1e-13)
    with np.errstate(divide="ignore", invalid="ignore"):
        ts = 2 * (b - n + np.where(n > 0, n * np.log(n / b), 0))
    np.testing.assert_allclose(significance_cash(n, b), np.sign(n - b) * np.sqrt(ts), rtol=1e-13)


def test_xarray_inputs_keep_dims():
    n_on = xr.DataArray([10, 3], dims="energy")
    n_off = xr.DataArray([[20, 2], [40, 1]], dims=("obs_id", "energy"))
    result = significance(n_on, n_off, 0.25)
    assert isinstance(result, xr.DataArray)
    assert result.dims == ("energy", "obs_id") or result.dims == ("obs_id", "energy")
    expected = significance(n_on.values[None, :], n_off.values, 0.25)
    np.testing.assert_allclose(result.transpose("obs_id", "energy").values, expected)
    cash = significance_cash(n_on, xr.DataArray([4.0, 3.0], dims="energy"))
    np.testing.assert_allclose(cash.values, significance_cash(np.array([10, 3]), [4.0, 3.0]))


# --------------------------------------------------------------------------------------
# info_table
# --------------------------------------------------------------------------------------

# Gammapy 2.1 Datasets(...).info_table(cumulative=False / True) of the same three
# SpectrumDatasetOnOff (benchmarks/gammapy_onoff_reference.py). Gammapy sums in float32.
OBS = {
    "counts": [[12, 30, 9, 3, 0], [8, 25, 14, 2, 1], [20, 41, 11, 5, 2]],
    "counts_off": [[40, 60, 0, 4, 1], [35, 0, 30, 6, 0], [70, 90, 25, 0, 0]],
    "acceptance_off": [[4, 4, 5, 5, 6], [8, 8, 8, 9, 9], [3, 3, 3, 3, 3]],
    "mask_safe": [[1, 1, 1, 1, 0], [0, 1, 1, 1, 1], [1, 1, 1, 0, 1]],
    "livetime": [1683.0, 1687.5, 1500.25],
}
INFO_PER_OBS = {
    "counts": [54.0, 42.0, 74.0],
    "counts_off": [104.0, 36.0, 185.0],
    "background": [25.799999237060547, 4.416666507720947, 61.66667175292969],
    "alpha": [0.2480769157409668, 0.12268517911434174, 0.3333333730697632],
    "acceptance": [4.0, 4.0, 4.0],
    "acceptance_off": [16.12403106689453, 32.60377502441406, 11.999999046325684],
    "excess": [28.200000762939453, 37.58333206176758, 12.333324432373047],
    "sqrt_ts": [4.20049532196761, 9.307368142948947, 1.3077779476533324],
    "livetime": [1683.0, 1687.5, 1500.25],
    "counts_rate": [0.03208556149732621, 0.024888888888888887, 0.049325112481253125],
    "background_rate": [0.015329767817623617, 0.002617283856427228, 0.04110426379132124],
    "excess_rate": [0.016755793679702587, 0.022271604184751156, 0.00822084614722416],
}
INFO_CUMULATIVE = {
    "counts": [54.0, 96.0, 170.0],
    "counts_off": [104.0, 140.0, 325.0],
    "background": [25.799999237060547, 30.21666717529297, 91.88333892822266],
    "alpha": [0.2480769157409668, 0.21583333611488342, 0.2827179729938507],
    "acceptance": [4.0, 8.0, 12.0],
    "acceptance_off": [16.12403106689453, 37.065635681152344, 42.445125579833984],
    "excess": [28.200000762939453, 65.78333282470703, 78.11666107177734],
    "sqrt_ts": [4.20049532196761, 8.228773102043238, 6.2578696407853425],
    "livetime": [1683.0, 3370.5, 4870.75],
    "counts_rate": [0.03208556149732621, 0.02848242100578549, 0.03490222245034132],
    "background_rate": [0.015329767817623617, 0.008965039957066599, 0.01886431020442902],
    "excess_rate": [0.016755793679702587, 0.019517381048718894, 0.016037912245912302],
}


def make_observation(i: int) -> xr.Dataset:
    energy = gx.energy_axis(0.5, 50, nbin=5)

    def var(values, dtype):
        return ("energy", np.array(values, dtype=dtype), {"units": ""})

    return xr.Dataset(
        {
            "counts": var(OBS["counts"][i], np.int64),
            "counts_off": var(OBS["counts_off"][i], np.int64),
            "acceptance": var(np.ones(5), np.float32),
            "acceptance_off": var(OBS["acceptance_off"][i], np.float32),
            "mask_safe": ("energy", np.array(OBS["mask_safe"][i], dtype=bool)),
        },
        coords=energy.coords,
        attrs={"obs_id": 100 + i, "livetime": OBS["livetime"][i], "ontime": 1800.0},
    )


@pytest.fixture
def joint() -> xr.Dataset:
    return gx.concat_observations([make_observation(i) for i in range(3)])


@pytest.mark.parametrize("cumulative", [False, True])
def test_info_table_matches_gammapy(joint, cumulative):
    table = info_table(joint, cumulative=cumulative)
    reference = INFO_CUMULATIVE if cumulative else INFO_PER_OBS
    assert isinstance(table, pd.DataFrame)
    assert table.index.name == "obs_id"
    assert table.index.tolist() == [100, 101, 102]
    for name, values in reference.items():
        # Gammapy sums float32 maps: agreement to float32 precision (its excess 12.333324
        # is 12.333333 in float64).
        np.testing.assert_allclose(table[name].to_numpy(), values, rtol=1e-6, err_msg=name)
    assert table["counts"].dtype == np.int64
    assert table["n_bins"].tolist() == [5, 5, 5]
    expected_safe = [4, 5, 5] if cumulative else [4, 4, 4]
    assert table["n_safe_bins"].tolist() == expected_safe
    assert table["ontime"].tolist() == ([1800.0, 3600.0, 5400.0] if cumulative else [1800.0] * 3)
    assert table.attrs["units"]["excess_rate"] == "s-1"


def test_info_table_of_one_observation_and_of_the_stack(joint):
    single = info_table(make_observation(1))
    per_obs = info_table(joint)
    assert single.index.tolist() == [101]
    pd.testing.assert_frame_equal(single, per_obs.loc[[101]], check_exact=False, rtol=1e-15)

    stacked = info_table(stack_on_off(joint))
    assert stacked.index.tolist() == ["stacked"]
    last = info_table(joint, cumulative=True).iloc[-1]
    for name in ("counts", "counts_off", "background", "alpha", "excess", "sqrt_ts", "livetime"):
        assert stacked[name].iloc[0] == pytest.approx(last[name], rel=1e-6), name


def test_info_table_works_lazily_on_dask(joint):
    table = info_table(joint.chunk({"obs_id": 1}), cumulative=True)
    pd.testing.assert_frame_equal(table, info_table(joint, cumulative=True))


def test_info_table_without_livetime_gives_nan_rates(joint):
    table = info_table(joint.drop_vars(["livetime", "ontime"]))
    assert table["livetime"].isna().all()
    assert table["excess_rate"].isna().all()
    assert table["excess"].notna().all()


def test_info_table_errors(joint):
    with pytest.raises(FormatError, match="counts_off"):
        info_table(joint.drop_vars("counts_off"))
    with pytest.raises(FormatError, match="joint dataset"):
        info_table(joint.drop_vars("livetime").assign_attrs(livetime=3.0))
