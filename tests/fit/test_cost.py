import pickle

import numpy as np
import pytest
import xarray as xr

from gammaxr.exceptions import FitError
from gammaxr.fit import Cost, JointCost, MapCost, cash, cash_deviance
from gammaxr.models import FoVBackgroundModel, Models

NBIN = 20


@pytest.fixture
def dataset(npred_true, spectrum_dataset):
    counts = np.random.default_rng(3).poisson(npred_true)
    return spectrum_dataset(counts, mask_safe=np.arange(NBIN) >= 2, name="a")


def test_map_cost_is_cash_over_the_safe_mask(dataset, predictor, power_law_models):
    cost = MapCost(dataset, predictor(dataset))
    models = power_law_models()
    npred = predictor(dataset)(models)
    mask = dataset["mask_safe"].values
    assert cost(models) == pytest.approx(cash(dataset["counts"].values, npred, mask=mask))
    assert cost.ndata == NBIN - 2
    assert cost.errordef == 1
    assert cost.deviance(models) == pytest.approx(
        cash_deviance(dataset["counts"].values, npred, mask=mask)
    )
    assert "MapCost(cash 'a'" in repr(cost)


def test_dask_backed_dataset_gives_the_same_statistic(dataset, predictor, power_law_models):
    models = power_law_models()
    a = MapCost(dataset, predictor(dataset))
    b = MapCost(dataset.chunk({"energy": 7}), predictor(dataset))
    assert b(models) == pytest.approx(a(models), rel=1e-13)
    assert b.ndata == a.ndata


def test_mask_fit_and_explicit_mask(dataset, predictor):
    ds = dataset.assign(mask_fit=("energy", np.arange(NBIN) < 10))
    assert MapCost(ds, predictor(ds)).ndata == 8
    explicit = xr.DataArray(np.arange(NBIN) < 5, dims="energy")
    assert MapCost(ds, predictor(ds), mask=explicit).ndata == 5


def test_dataarray_prediction_is_aligned_by_name(dataset, predictor, power_law_models):
    predict = predictor(dataset)

    def as_dataarray(models):
        return xr.DataArray(predict(models), dims="energy")

    a = MapCost(dataset, predict)
    b = MapCost(dataset, as_dataarray)
    models = power_law_models()
    assert b(models) == pytest.approx(a(models), rel=1e-14)
    assert b.deviance(models) == pytest.approx(a.deviance(models), rel=1e-14)


def test_validation_errors(dataset, predictor, power_law_models):
    with pytest.raises(FitError, match="no 'counts'"):
        MapCost(dataset.drop_vars("counts"), predictor(dataset))
    with pytest.raises(FitError, match="unknown statistic 'wstat'"):
        MapCost(dataset, predictor(dataset), statistic="wstat")
    with pytest.raises(FitError, match="callable"):
        MapCost(dataset, "npred")
    with pytest.raises(FitError, match=r"mask has dims \['dim_0'\]"):
        MapCost(dataset, predictor(dataset), mask=xr.DataArray(np.ones(NBIN, bool)))
    bad = MapCost(dataset, lambda models: np.ones(3))
    with pytest.raises(FitError, match=r"shape \(3,\)"):
        bad(power_law_models())


def test_costs_add_into_a_flat_joint_cost(dataset, predictor, power_law_models):
    a = MapCost(dataset, predictor(dataset))
    b = MapCost(dataset, predictor(dataset), mask=xr.DataArray(np.ones(NBIN, bool), dims="energy"))
    joint = a + b + a
    assert isinstance(joint, JointCost)
    assert joint.members == (a, b, a)
    assert joint.ndata == 2 * a.ndata + b.ndata
    models = power_law_models()
    assert joint(models) == pytest.approx(2 * a(models) + b(models))
    assert sum([a, b]).members == (a, b)
    assert isinstance(joint, Cost)
    with pytest.raises(FitError, match="at least one"):
        JointCost()


def test_dataset_name_routes_fov_background_models(spectrum_dataset, predictor, power_law_models):
    """Each member sees only its own background model (and the shared source)."""
    ds_a = spectrum_dataset(np.zeros(NBIN), name="a")
    ds_b = spectrum_dataset(np.zeros(NBIN), name="b", background=np.full(NBIN, 2.0))
    seen = {}

    def spy(name, inner):
        def predict(models):
            seen[name] = sorted(models)
            return inner(models)

        return predict

    joint = MapCost(ds_a, spy("a", predictor(ds_a))) + MapCost(ds_b, spy("b", predictor(ds_b)))
    models = power_law_models() + [FoVBackgroundModel("a"), FoVBackgroundModel("b")]
    joint(models)
    assert seen == {"a": ["a-bkg", "src"], "b": ["b-bkg", "src"]}
    # dataset_name given explicitly wins over attrs; None passes every model
    MapCost(ds_a, spy("x", predictor(ds_a)), dataset_name="b")(models)
    assert seen["x"] == ["b-bkg", "src"]


def test_cost_pickles(dataset, predictor, power_law_models):
    cost = MapCost(dataset, predictor(dataset)) + MapCost(dataset, predictor(dataset))
    again = pickle.loads(pickle.dumps(cost))
    assert again(power_law_models()) == cost(power_law_models())


def test_models_unchanged_by_cost(dataset, predictor, power_law_models):
    models = power_law_models()
    before = Models(models)
    MapCost(dataset, predictor(dataset))(models)
    assert models == before


# -- Cash summed per tile, re-summed where the prediction changed --------------------------


class ChangingPrediction:
    """An IncrementalPredictor: random rectangles of the prediction change at each call.

    Rectangles get new values, including zeros and negative values (floored by
    Cash); its ``regions`` say where, as ``NpredEvaluator.evaluate_since`` does.
    """

    dims = ("energy", "lat", "lon")

    def __init__(self, shape, seed=0):
        self.rng = np.random.default_rng(seed)
        self.values = self.rng.gamma(0.5, 2.0, size=shape)
        self.version = 0

    def evaluate_since(self, models, version):
        regions = []
        if self.version:
            _, ny, nx = self.values.shape
            for _ in range(self.rng.integers(0, 3)):
                y0, x0 = self.rng.integers(0, ny - 1), self.rng.integers(0, nx - 1)
                y1, x1 = y0 + self.rng.integers(1, 12), x0 + self.rng.integers(1, 12)
                block = self.values[:, y0:y1, x0:x1]
                block[...] = self.rng.gamma(0.5, 2.0, size=block.shape)
                block[:, :1] *= self.rng.choice([0.0, -1.0, 1.0])
                regions.append((y0, min(y1, ny), x0, min(x1, nx)))
        self.version += 1
        known = version == self.version - 1 and version > 0
        return self.values, self.version, tuple(regions) if known else None

    def __call__(self, models):
        return self.values.copy()


def map_counts_dataset(shape, seed=1):
    rng = np.random.default_rng(seed)
    dims = ("energy", "lat", "lon")
    return xr.Dataset(
        {
            "counts": (dims, rng.poisson(0.3, size=shape)),
            "mask_safe": (dims, rng.random(shape) > 0.2),
        }
    )


@pytest.mark.parametrize("shape", [(3, 37, 45), (2, 16, 64), (1, 5, 3)])
def test_tiled_cash_equals_the_plain_sum_and_depends_on_the_prediction_only(shape):
    ds = map_counts_dataset(shape)
    prediction = ChangingPrediction(shape)
    cost = MapCost(ds, prediction, incremental=prediction)
    plain = MapCost(ds, prediction)  # the whole map at every call
    counts, mask = ds["counts"].values, ds["mask_safe"].values
    for _ in range(40):
        value = cost(Models())
        expected = cash(counts, prediction.values, mask=mask)
        assert value == pytest.approx(expected, rel=1e-13)
        assert plain(Models()) == pytest.approx(value, rel=1e-13)
        # every tile summed afresh gives the same bits as the tiles re-summed so far
        fresh = ChangingPrediction(shape)
        fresh.values = prediction.values.copy()
        assert MapCost(ds, fresh, incremental=fresh)(Models()) == value


def test_tiled_cash_is_used_only_where_it_applies(dataset, predictor):
    prediction = ChangingPrediction((2, 8, 8))
    # a spectrum dataset: no lat/lon, the plain sum
    assert MapCost(dataset, predictor(dataset), incremental=prediction)._incremental is None
    with pytest.raises(FitError, match="incremental must have"):
        MapCost(dataset, predictor(dataset), incremental=object())
    lazy = map_counts_dataset((2, 8, 8)).chunk({"lat": 4})
    assert MapCost(lazy, prediction, incremental=prediction)._incremental is None
    ds = map_counts_dataset((2, 8, 8))
    assert MapCost(ds, prediction, incremental=prediction)._incremental is prediction
    # the deviance is summed the plain way
    value = MapCost(ds, prediction, incremental=prediction).deviance(Models())
    counts, mask = ds["counts"].values, ds["mask_safe"].values
    assert value == pytest.approx(cash_deviance(counts, prediction.values, mask=mask), rel=1e-13)
