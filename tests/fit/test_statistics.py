import contextlib

import dask
import dask.array as da
import numpy as np
import pytest
import xarray as xr

from gammaxr.fit import NPRED_FLOOR, cash, cash_deviance, cash_sum, combined_mask
from gammaxr.fit.statistics import cash_terms, deviance_terms

# Gammapy 2.1 gammapy.stats.cash(N, MU), computed once in its own environment.
N = np.array([0, 0, 1, 3, 10, 2, 5])
MU = np.array([0.0, 0.5, 1e-30, 2.5, 12.0, -1.0, 5.0])
GAMMAPY_CASH = np.array(
    [2e-25, 1.0, 1.15129255e02, -4.97744391e-01, -2.56981330e01, 2.30258509e02, -6.09437912e00]
)


@contextlib.contextmanager
def raise_if_dask_computes():
    def scheduler(*args, **kwargs):
        raise AssertionError("a dask graph was computed; the result should stay lazy")

    with dask.config.set(scheduler=scheduler):
        yield


def test_cash_terms_match_gammapy_including_limits():
    np.testing.assert_allclose(cash_terms(N, MU), GAMMAPY_CASH, rtol=1e-8)
    assert cash(N, MU) == pytest.approx(314.0975074377609, rel=1e-12)


def test_cash_limits():
    # empty bin, vanishing prediction: contributes nothing
    assert cash(np.array([0]), np.array([0.0])) == pytest.approx(0.0, abs=1e-24)
    # counts with a zero or negative prediction: large but finite, and never
    # better for a negative prediction than for the floor
    penalty = cash(np.array([3]), np.array([0.0]))
    assert np.isfinite(penalty)
    assert penalty == pytest.approx(-6 * np.log(NPRED_FLOOR), rel=1e-12)
    assert cash(np.array([3]), np.array([-5.0])) == penalty
    assert cash(np.array([0]), np.array([-5.0])) >= 0


def test_cash_is_float64_and_matches_formula():
    counts = np.array([1, 4, 9], dtype=np.int16)
    npred = np.array([1.5, 3.2, 10.1], dtype=np.float32)
    expected = 2 * np.sum(npred.astype(float) - counts * np.log(npred.astype(float)))
    assert cash(counts, npred) == pytest.approx(expected, rel=1e-15)
    assert cash_terms(counts, npred).dtype == np.float64


def test_mask_drops_bins_even_with_nan():
    counts = np.array([1.0, np.nan, 4.0])
    npred = np.array([2.0, 3.0, np.nan])
    mask = np.array([True, False, False])
    assert cash(counts, npred, mask=mask) == pytest.approx(2 * (2 - np.log(2)))
    assert cash_deviance(counts, npred, mask=mask) == pytest.approx(2 * (2 - 1 + np.log(1 / 2)))


def test_deviance_zero_at_saturation_and_positive():
    counts = np.array([0, 1, 5, 20])
    assert cash_deviance(counts, counts.astype(float)) == pytest.approx(0, abs=1e-12)
    rng = np.random.default_rng(0)
    npred = rng.uniform(0.1, 30, size=(50, 4))
    assert np.all(deviance_terms(counts, npred) >= -1e-12)
    # the deviance differs from Cash by a constant (independent of npred)
    diff = [cash(counts, mu) - cash_deviance(counts, mu) for mu in npred]
    np.testing.assert_allclose(diff, diff[0], rtol=1e-12)


@pytest.mark.parametrize("chunked", [False, True], ids=["numpy", "dask"])
def test_cash_sum_on_dataarrays(chunked):
    rng = np.random.default_rng(1)
    npred = rng.uniform(0.5, 10, size=(4, 3, 5))
    counts = rng.poisson(npred)
    dims = ("energy", "lat", "lon")
    c = xr.DataArray(counts, dims=dims)
    m = xr.DataArray(npred, dims=dims)
    safe = xr.DataArray([True, True, False, True], dims="energy")  # broadcast by name
    if chunked:
        c, m, safe = c.chunk({"energy": 2}), m.chunk({"energy": 2}), safe.chunk(2)
    with raise_if_dask_computes():
        total = cash_sum(c, m, mask=safe)
        per_energy = cash_sum(c, m, mask=safe, dim=["lat", "lon"])
        deviance = cash_sum(c, m, deviance=True)
    assert isinstance(total.data, da.Array) == chunked
    mask = np.broadcast_to(safe.values[:, None, None], counts.shape)
    assert float(total) == pytest.approx(cash(counts, npred, mask=mask), rel=1e-13)
    assert per_energy.dims == ("energy",)
    assert float(per_energy[2]) == 0.0
    assert float(deviance) == pytest.approx(cash_deviance(counts, npred), rel=1e-13)


def test_combined_mask():
    ds = xr.Dataset(
        {
            "counts": ("energy", [1, 2, 3]),
            "mask_safe": ("energy", np.array([1, 1, 0], dtype="int8")),  # NetCDF form
            "mask_fit": ("energy", [False, True, True]),
        }
    )
    assert combined_mask(ds).values.tolist() == [False, True, False]
    assert combined_mask(ds[["counts", "mask_fit"]]).values.tolist() == [False, True, True]
    assert combined_mask(ds[["counts"]]) is None
