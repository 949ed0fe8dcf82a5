"""reduce_observations: one Dask graph over the shipped Crab runs, identical to the serial path."""

from __future__ import annotations

import functools
import pickle
import re
import threading

import dask
import numpy as np
import pytest
import xarray as xr
from dask.callbacks import Callback

import gammaxr as gx
from gammaxr.exceptions import ConfigError, DimensionError, FormatError
from gammaxr.reduce import make_map_dataset, reduce_observations
from gammaxr.stacking import concat_observations, stack, stack_pair

CRAB = (83.633, 22.014)
IDS = [23523, 23526, 23559, 23592]
PRODUCT_NAMES = ("events", "gti", "pointing", "aeff", "edisp", "psf", "bkg")


@pytest.fixture(scope="module")
def small_geom() -> xr.Dataset:
    """1 x 1 deg at 0.1 deg on the Crab; 4 reco-energy bins, 6 true-energy bins."""
    return gx.make_geom(
        gx.energy_axis(0.5, 50, nbin=4),
        gx.energy_axis(0.3, 100, nbin=6, name="energy_true"),
        sky=gx.sky_grid(CRAB, width=1, binsz=0.1),
    )


@pytest.fixture(scope="module")
def serial_datasets(crab_store, small_geom) -> list[xr.Dataset]:
    """The serial path: make_map_dataset on each run, one after the other."""
    return [make_map_dataset(obs, small_geom) for obs in crab_store.observations()]


@pytest.fixture(scope="module")
def serial_stacked(serial_datasets) -> xr.Dataset:
    return functools.reduce(stack_pair, serial_datasets)


@pytest.fixture(scope="module")
def serial_joint(serial_datasets) -> xr.Dataset:
    return concat_observations(serial_datasets)


@pytest.fixture(scope="module")
def client():
    """An in-process two-worker cluster; not made the default client (see test_current_client)."""
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster, set_as_default=False) as client,
    ):
        yield client


def loaded(observation: gx.Observation) -> set[str]:
    """The products an observation has read and cached."""
    return set(PRODUCT_NAMES) & set(vars(observation))


# --------------------------------------------------------------------------------------
# Identical to the serial path
# --------------------------------------------------------------------------------------


def test_threaded_stacked_is_serial(crab_store, small_geom, serial_stacked):
    result = reduce_observations(crab_store.observations(), small_geom, scheduler="threads")
    xr.testing.assert_identical(result, serial_stacked)
    assert result.attrs["obs_ids"] == IDS
    assert all(isinstance(var.data, np.ndarray) for var in result.variables.values())


def test_threaded_joint_is_serial(crab_store, small_geom, serial_joint):
    result = reduce_observations(crab_store.observations(), small_geom, stacked=False)
    xr.testing.assert_identical(result, serial_joint)
    assert result.indexes["obs_id"].tolist() == IDS


class TaskThreads(Callback):
    """The threads the local scheduler ran tasks on."""

    def __init__(self):
        super().__init__()
        self.threads = set()

    def _pretask(self, key, dsk, state):
        self.threads.add(threading.get_ident())


def test_default_scheduler_is_threads(crab_store, small_geom, serial_stacked):
    from gammaxr.reduce.driver import _resolve_scheduler

    # With no client and nothing in dask.config, the local threaded scheduler runs the
    # graph. (Which threads execute the tasks is Dask's business: recent Dask versions
    # may run small graphs inline, so the test checks the choice, not thread idents.)
    assert _resolve_scheduler(None, None) == (None, "threads")
    xr.testing.assert_identical(reduce_observations(crab_store, small_geom), serial_stacked)


def test_datastore_argument(crab_store, small_geom, serial_stacked, serial_joint):
    xr.testing.assert_identical(reduce_observations(crab_store, small_geom), serial_stacked)
    xr.testing.assert_identical(
        reduce_observations(crab_store, small_geom, stacked=False), serial_joint
    )
    subset = crab_store.select([23559, 23523])  # table order: 23523, 23559
    expected = stack_pair(*(make_map_dataset(o, small_geom) for o in subset.observations()))
    xr.testing.assert_identical(reduce_observations(subset, small_geom), expected)


def test_any_iterable_in_its_order(crab_store, small_geom, serial_datasets):
    reverse = reversed(crab_store.observations())  # an iterator, not a list
    result = reduce_observations(reverse, small_geom, stacked=False)
    xr.testing.assert_identical(result, concat_observations(serial_datasets[::-1]))


def test_synchronous_and_config_scheduler(crab_store, small_geom, serial_stacked):
    with TaskThreads() as record:
        result = reduce_observations(crab_store, small_geom, scheduler="synchronous")
    xr.testing.assert_identical(result, serial_stacked)
    assert record.threads == {threading.get_ident()}
    with TaskThreads() as record, dask.config.set(scheduler="synchronous"):
        xr.testing.assert_identical(reduce_observations(crab_store, small_geom), serial_stacked)
    assert record.threads == {threading.get_ident()}


def test_maker_kwargs_pass_through(crab_store, small_geom):
    options = {
        "products": ("counts", "exposure", "background", "mask_safe"),
        "safe_mask": {"offset-max": {"offset_max": 2.0}, "aeff-max": {"percent": 10}},
        "background_integration": "edges",
    }
    expected = functools.reduce(
        stack_pair, [make_map_dataset(o, small_geom, **options) for o in crab_store.observations()]
    )
    result = reduce_observations(crab_store, small_geom, **options)
    xr.testing.assert_identical(result, expected)
    assert set(result.data_vars) == {
        "counts", "exposure", "background", "mask_safe", "livetime", "ontime"
    }  # fmt: skip
    assert result.attrs["safe_mask"] == "offset-max,aeff-max"


def test_single_observation_is_its_stack(crab_store, small_geom, serial_datasets):
    result = reduce_observations(crab_store.observations()[:1], small_geom)
    xr.testing.assert_identical(result, stack(concat_observations(serial_datasets[:1])))
    assert result.attrs["obs_ids"] == [23523]
    assert result.livetime.dims == ()
    # The same schema as a stack of several.
    several = reduce_observations(crab_store.observations()[:2], small_geom)
    assert set(result.variables) == set(several.variables)
    assert set(result.attrs) == set(several.attrs)


# --------------------------------------------------------------------------------------
# Tree reduction
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("n_obs", [3, 5])
def test_tree_matches_sequential(crab_store, small_geom, n_obs):
    runs = (crab_store.observations() * 2)[:n_obs]  # stacking accepts repeated runs
    sequential = reduce_observations(runs, small_geom)
    tree = reduce_observations(runs, small_geom, reduction="tree")
    # Bitwise reproducible whatever the scheduler: the tree depends on the order only.
    xr.testing.assert_identical(
        tree, reduce_observations(runs, small_geom, reduction="tree", scheduler="synchronous")
    )
    # Equal to the chain up to float32 rounding; integers, masks and ids exactly.
    assert tree.attrs == sequential.attrs
    xr.testing.assert_allclose(tree, sequential, rtol=1e-6, atol=0)
    for name in ("counts", "mask_safe"):
        xr.testing.assert_identical(tree[name], sequential[name])
    np.testing.assert_allclose(tree.livetime, sequential.livetime, rtol=1e-15)


def test_tree_of_four_is_pairs_of_pairs(crab_store, small_geom, serial_datasets):
    a, b, c, d = serial_datasets
    expected = stack_pair(stack_pair(a, b), stack_pair(c, d))
    result = reduce_observations(crab_store, small_geom, reduction="tree")
    xr.testing.assert_identical(result, expected)


# --------------------------------------------------------------------------------------
# Memory: the stacked path frees datasets as it goes
# --------------------------------------------------------------------------------------


class PeakHeld(Callback):
    """Largest number of per-observation datasets held by the local scheduler at once."""

    def __init__(self):
        super().__init__()
        self.peak = 0

    def _posttask(self, key, result, dsk, state, worker_id):
        held = [k for k in state["cache"] if isinstance(k, tuple) and "reduce-observation" in k[0]]
        self.peak = max(self.peak, len(held))


@pytest.mark.parametrize("reduction", ["sequential", "tree"])
def test_stacked_path_does_not_hold_all_datasets(crab_store, small_geom, reduction):
    runs = crab_store.observations() * 2  # 8 tasks
    counter = PeakHeld()
    with counter, dask.config.set(num_workers=2):
        reduce_observations(runs, small_geom, reduction=reduction)
    assert 1 <= counter.peak <= 4 < len(runs)


def test_observations_are_not_modified(crab_store, small_geom):
    runs = crab_store.observations()
    reduce_observations(runs, small_geom)
    assert [loaded(obs) for obs in runs] == [set()] * len(runs)
    # Already-read observations stay as they were too.
    runs[0].aeff  # noqa: B018
    reduce_observations(runs[:1], small_geom)
    assert loaded(runs[0]) == {"aeff"}


def test_observation_pickles(crab_store, small_geom, serial_datasets):
    obs = crab_store.observation(23523)
    copy = pickle.loads(pickle.dumps(obs))
    assert copy.obs_id == obs.obs_id
    xr.testing.assert_identical(make_map_dataset(copy, small_geom), serial_datasets[0])


# --------------------------------------------------------------------------------------
# distributed
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", ["sequential", "tree"])
def test_distributed_stacked_is_serial(crab_store, small_geom, serial_stacked, client, reduction):
    result = reduce_observations(crab_store, small_geom, client=client, reduction=reduction)
    expected = reduce_observations(
        crab_store, small_geom, reduction=reduction, scheduler="synchronous"
    )
    xr.testing.assert_identical(result, expected)
    if reduction == "sequential":
        xr.testing.assert_identical(result, serial_stacked)


def test_distributed_joint_is_serial(crab_store, small_geom, serial_joint, client):
    result = reduce_observations(crab_store, small_geom, stacked=False, client=client)
    xr.testing.assert_identical(result, serial_joint)


def test_distributed_client_as_scheduler(crab_store, small_geom, serial_stacked, client):
    result = reduce_observations(crab_store, small_geom, scheduler=client)
    xr.testing.assert_identical(result, serial_stacked)


def test_current_client_is_used(crab_store, small_geom, serial_stacked, client):
    distributed = pytest.importorskip("distributed")
    with distributed.get_task_stream(client=client) as stream, client.as_current():
        result = reduce_observations(crab_store.observations()[:3], small_geom)
        by_name = reduce_observations(crab_store, small_geom, scheduler="distributed")
    expected = functools.reduce(
        stack_pair, [make_map_dataset(o, small_geom) for o in crab_store.observations()[:3]]
    )
    xr.testing.assert_identical(result, expected)
    xr.testing.assert_identical(by_name, serial_stacked)
    # Both ran on the cluster: 3 + 4 observation tasks and 2 + 3 stacking steps.
    names = [str(task["key"]) for task in stream.data]
    assert sum("reduce-observation" in name for name in names) == 7
    assert sum("stack-pair" in name for name in names) == 5


def test_default_client_is_used(crab_store, small_geom, serial_stacked):
    """A Client created as the default (Dask's own rule) takes the work; closed, it does not."""
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
        distributed.get_task_stream(client=client) as stream,
    ):
        result = reduce_observations(crab_store, small_geom)
    xr.testing.assert_identical(result, serial_stacked)
    assert sum("reduce-observation" in str(task["key"]) for task in stream.data) == 4
    with TaskThreads() as record:
        reduce_observations(crab_store.observations()[:1], small_geom)
    assert record.threads  # back on the local threads


def test_distributed_processes(crab_store, small_geom, serial_stacked):
    """Worker processes: the observations and the geometry travel pickled."""
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster, set_as_default=False) as client,
    ):
        result = reduce_observations(crab_store, small_geom, client=client)
    xr.testing.assert_identical(result, serial_stacked)


# --------------------------------------------------------------------------------------
# Progress
# --------------------------------------------------------------------------------------


def test_progress_local(crab_store, small_geom, serial_stacked, capsys):
    result = reduce_observations(crab_store, small_geom, progress=True)
    xr.testing.assert_identical(result, serial_stacked)
    err = capsys.readouterr().err
    assert "reduce_observations" in err
    assert "4/4" in err


def test_no_progress_by_default(crab_store, small_geom, capsys):
    reduce_observations(crab_store, small_geom)
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


def test_progress_distributed(crab_store, small_geom, serial_stacked, client, capsys):
    result = reduce_observations(crab_store, small_geom, client=client, progress=True)
    xr.testing.assert_identical(result, serial_stacked)
    assert "100% Completed" in capsys.readouterr().out


# --------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------


def test_no_observations(small_geom):
    with pytest.raises(ConfigError, match="no observations"):
        reduce_observations([], small_geom)
    with pytest.raises(ConfigError, match="no observations"):
        reduce_observations(gx.open_datastore().select([]), small_geom)


@pytest.mark.parametrize(
    "observations",
    ["23523", 23523, {23523: None}, [23523, 23526], [None]],
    ids=["str", "int", "dict", "ids", "none"],
)
def test_wrong_observation_type(observations, small_geom):
    with pytest.raises(TypeError, match="gammaxr.Observation"):
        reduce_observations(observations, small_geom)


def test_single_observation_not_in_a_list(crab_obs, small_geom):
    with pytest.raises(TypeError, match="iterable"):
        reduce_observations(crab_obs, small_geom)


def test_wrong_geometry(crab_store, small_geom):
    with pytest.raises(TypeError, match="geom must be an xarray.Dataset"):
        reduce_observations(crab_store, small_geom.lat)
    with pytest.raises(DimensionError, match="energy"):
        reduce_observations(crab_store, small_geom.drop_dims("energy"))


def test_stacked_must_be_bool(crab_store, small_geom):
    with pytest.raises(TypeError, match="stacked must be True or False"):
        reduce_observations(crab_store, small_geom, stacked="joint")


def test_unknown_maker_keyword(crab_store, small_geom):
    with pytest.raises(ConfigError, match=r"unknown keywords \['safe_masks'\]"):
        reduce_observations(crab_store, small_geom, safe_masks=["offset-max"])


def test_unknown_reduction(crab_store, small_geom):
    with pytest.raises(ConfigError, match="reduction must be one of"):
        reduce_observations(crab_store, small_geom, reduction="pairwise")


def test_client_and_scheduler(crab_store, small_geom, client):
    with pytest.raises(ConfigError, match="not both"):
        reduce_observations(crab_store, small_geom, client=client, scheduler="threads")


def test_not_a_client(crab_store, small_geom):
    with pytest.raises(TypeError, match="distributed.Client"):
        reduce_observations(crab_store, small_geom, client="tcp://127.0.0.1:8786")


def test_distributed_without_client(crab_store, small_geom):
    with pytest.raises(ConfigError, match="no current|there is none"):
        reduce_observations(crab_store, small_geom, scheduler="distributed")


def test_joint_needs_unique_ids(crab_store, small_geom):
    runs = crab_store.observations()
    with pytest.raises(FormatError, match=r"ids \[23523\] repeat"):
        reduce_observations([*runs, runs[0]], small_geom, stacked=False)


def test_task_error_names_the_observation(crab_store, small_geom):
    no_true_energy = small_geom.drop_dims("energy_true")
    with pytest.raises(DimensionError, match="energy_true") as info:
        reduce_observations(crab_store.observations()[1:2], no_true_energy)
    notes = getattr(info.value, "__notes__", [])
    assert any(re.search(r"while reducing observation 23526", note) for note in notes)
