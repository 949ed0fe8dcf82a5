"""Reduce many observations as one Dask graph: one task per observation, then a stack.

:func:`reduce_observations` is the many-observation driver of
:func:`~gammaxr.reduce.make_map_dataset` (DESIGN.md section 5, Scale). It
builds one Dask graph:

* one task per observation, which reads the run's files and calls
  :func:`~gammaxr.reduce.make_map_dataset` on the geometry;
* for a stacked result, a reduction of those datasets with
  :func:`~gammaxr.stacking.stack_pair`: a chain in the order of the
  observations (``reduction="sequential"``, the default) or a balanced
  pairwise tree (``reduction="tree"``); for the joint form, one
  :func:`~gammaxr.stacking.concat_observations` task.

Every task of the reduction releases its two inputs as soon as it is done, so
the stacked path holds only the datasets in flight (about one per worker, plus
the running stack), never all of them.

Why two reductions
------------------
Stacking is associative in exact arithmetic, but float32 variables
(``exposure``, ``background``, ``psf``, ``edisp``) are rounded after each
:func:`~gammaxr.stacking.stack_pair`, so a tree and a chain can differ in the
last bit (about 1e-7 relative; counts, masks and times are exact). The chain
gives *bitwise* the serial result ``functools.reduce(stack_pair, datasets)``
(Gammapy's ``Datasets.stack_reduce`` order); its stacking steps run one after
the other, which costs nothing while a stacking step is quicker than reducing
one observation divided by the number of workers (the case on a workstation).
The tree has a critical path of ``log2(n)`` steps, for wide clusters; its
result depends only on the order of the observations, never on the scheduler
or the timing, so it is bitwise reproducible too.

Schedulers
----------
In order of precedence: ``client`` (a :class:`distributed.Client`);
``scheduler`` (a Dask scheduler name: ``"threads"``, ``"synchronous"``,
``"processes"``, or ``"distributed"`` for the current client); the scheduler
set in ``dask.config`` (``dask.config.set(scheduler=...)``); the current
distributed client (a ``Client`` becomes current when it is created, unless
``set_as_default=False``, and inside ``client.as_current()``; this is Dask's
own rule, since a new Client sets ``dask.config["scheduler"]``); else Dask's
threaded scheduler.
"""

from __future__ import annotations

import dataclasses
import inspect
import sys
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal

import dask
import xarray as xr
from dask.base import named_schedulers
from dask.callbacks import Callback
from dask.delayed import Delayed

from gammaxr.conventions import ENERGY, LAT, LON, require_dims
from gammaxr.data.observation import Observation
from gammaxr.data.store import DataStore
from gammaxr.exceptions import ConfigError, FormatError
from gammaxr.reduce.map import make_map_dataset
from gammaxr.stacking import concat_observations, stack, stack_pair

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["REDUCTIONS", "reduce_observations"]

#: How ``reduce_observations`` stacks: a chain in observation order, or a pairwise tree.
REDUCTIONS = ("sequential", "tree")

# Task-name prefixes of the graph (the observation tasks are counted by the progress bar).
_REDUCE = "reduce-observation"
_STACK = "stack-pair"
_DISTRIBUTED_NAMES = ("dask.distributed", "distributed")


def reduce_observations(
    observations: Iterable[Observation] | DataStore,
    geom: xr.Dataset,
    *,
    stacked: bool = True,
    reduction: Literal["sequential", "tree"] = "sequential",
    client: Client | None = None,
    scheduler: str | Client | None = None,
    progress: bool = False,
    **maker_kwargs: Any,
) -> xr.Dataset:
    """Reduce observations to map datasets on one geometry, stacked or joint, with Dask.

    Builds one Dask graph, with one task per observation (reading its files and
    calling :func:`~gammaxr.reduce.make_map_dataset`) followed by the stacking
    (:func:`~gammaxr.stacking.stack_pair`) or the concatenation
    (:func:`~gammaxr.stacking.concat_observations`), and computes it.

    Parameters
    ----------
    observations : iterable of Observation, or DataStore
        The observations, in the order they are stacked or concatenated; a
        :class:`~gammaxr.DataStore` stands for all of its (selected)
        observations. They are not modified: each task reads its run into a
        private copy (an ``Observation`` holds only paths until it is read),
        which is freed when the run is reduced. Their files must be readable
        where the tasks run.
    geom : xarray.Dataset
        The geometry (:func:`gammaxr.make_geom`), with ``energy``, ``lat`` and
        ``lon`` and, for exposure, PSF and edisp, ``energy_true``.
    stacked : bool
        True (default): return the stack of all observations. False: return
        the joint form, the per-observation datasets concatenated along
        ``obs_id`` (observation ids must then be unique).
    reduction : {"sequential", "tree"}
        How to stack (see the module documentation). ``"sequential"``
        (default) stacks in the order given and is bitwise identical to
        ``functools.reduce(stack_pair, datasets)``; ``"tree"`` stacks
        neighbours pairwise, level by level (for many workers), and agrees
        with it to float32 rounding. Ignored when ``stacked`` is False.
    client : distributed.Client, optional
        Run on this Dask distributed client (synchronous clients only).
    scheduler : str or distributed.Client, optional
        A Dask scheduler instead: ``"threads"``, ``"synchronous"``,
        ``"processes"``, ``"distributed"`` (the current client) or a client.
        Default: the scheduler set in ``dask.config``, else the current
        distributed client, else ``"threads"``.
    progress : bool
        Show progress. On the local schedulers a :mod:`tqdm` bar on stderr
        counts the observations reduced; on a distributed client,
        :func:`distributed.progress` shows every task (a text bar on stdout
        in a terminal, a widget in Jupyter).
    **maker_kwargs
        Passed to :func:`~gammaxr.reduce.make_map_dataset` for every
        observation (``products``, ``safe_mask``, ``psf_rad``,
        ``background_integration``, ``bkg``).

    Returns
    -------
    xarray.Dataset
        With ``stacked=True``, the stacked dataset: for two or more
        observations what :func:`~gammaxr.stacking.stack_pair` gives
        (``attrs["obs_ids"]`` lists the ids, ``livetime``/``ontime`` are 0-d
        variables), and for one observation its stack alone,
        ``stack(concat_observations([ds]))`` (masked the same way, same
        schema). With ``stacked=False``, the joint form of
        :func:`~gammaxr.stacking.concat_observations`. NumPy-backed.

    Raises
    ------
    TypeError
        If ``observations`` is not a DataStore or an iterable of
        :class:`~gammaxr.Observation`, ``geom`` is not a Dataset, ``stacked``
        is not a bool or ``client`` is not a distributed Client.
    ConfigError
        If there are no observations, a keyword is not an option of
        ``make_map_dataset``, ``reduction`` is unknown, both ``client`` and
        ``scheduler`` are given, or a distributed client is asked for and
        none is current (or it is asynchronous).
    FormatError
        If ``stacked=False`` and an observation id repeats.
    DimensionError
        If the geometry lacks ``energy``, ``lat`` or ``lon``.

    Notes
    -----
    An error in one observation's task is re-raised with a note naming the
    observation. Reading is part of each task, so it runs in parallel too.
    Peak memory of the stacked path is about (workers + 2) per-observation
    datasets plus the observations being read; the joint form holds every
    observation's dataset, as it must.

    An observation now reduces in a few tens of ms of numpy work, and much of
    what is left is Python that holds the GIL (chiefly the xarray bookkeeping
    of each stacking step), so threads gain less than their number (about
    1.1-1.4x on 2 cores in ``benchmarks/bench_reduce.py``); worker processes
    avoid the GIL but pay for moving every dataset between processes, which on
    one machine costs more than it gains.

    Examples
    --------
    >>> import gammaxr as gx
    >>> from gammaxr.reduce import reduce_observations
    >>> geom = gx.make_geom(
    ...     gx.energy_axis(1, 10, nbin=2),
    ...     gx.energy_axis(0.5, 20, nbin=4, name="energy_true"),
    ...     sky=gx.sky_grid((83.633, 22.014), width=1, binsz=0.1),
    ... )
    >>> stacked = reduce_observations(gx.open_datastore(), geom)
    >>> stacked.attrs["obs_ids"]
    [23523, 23526, 23559, 23592]
    >>> joint = reduce_observations(gx.open_datastore(), geom, stacked=False)
    >>> joint.sizes["obs_id"]
    4
    """
    runs = _observation_list(observations)
    if not isinstance(geom, xr.Dataset):
        raise TypeError(
            f"reduce_observations: geom must be an xarray.Dataset (gammaxr.make_geom), "
            f"got {type(geom).__name__}"
        )
    require_dims(geom, (ENERGY, LAT, LON), what="reduce_observations geometry")
    _check_maker_kwargs(maker_kwargs)
    if reduction not in REDUCTIONS:
        raise ConfigError(
            f"reduce_observations: reduction must be one of {REDUCTIONS}, got {reduction!r}"
        )
    if not isinstance(stacked, bool):
        raise TypeError(f"reduce_observations: stacked must be True or False, got {stacked!r}")
    if not stacked:
        counts = Counter(int(obs.obs_id) for obs in runs)
        repeated = sorted(i for i, n in counts.items() if n > 1)
        if repeated:
            raise FormatError(
                f"reduce_observations: observation ids {repeated} repeat; the joint form "
                "(stacked=False) needs unique ids (stacking accepts repeats)"
            )
    client, scheduler = _resolve_scheduler(client, scheduler)
    if isinstance(scheduler, str):
        # The get function itself: given a name, Dask imports distributed to look for a
        # client (about 0.5 s the first time), which a local scheduler does not need.
        scheduler = named_schedulers.get(scheduler.lower(), scheduler)
    graph, token = _build_graph(runs, geom, maker_kwargs, stacked=stacked, reduction=reduction)
    if client is not None:
        return _compute_distributed(graph, client, progress=progress)
    if progress:
        with _ObservationProgress(f"{_REDUCE}-{token}", total=len(runs)):
            (result,) = dask.compute(graph, scheduler=scheduler)
    else:
        (result,) = dask.compute(graph, scheduler=scheduler)
    return result


# --------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------


def _observation_list(observations: Iterable[Observation] | DataStore) -> list[Observation]:
    """The observations as a list; a DataStore gives all of its observations."""
    if isinstance(observations, DataStore):
        runs = observations.observations()
    elif isinstance(observations, str | bytes | Observation | Mapping) or not isinstance(
        observations, Iterable
    ):
        raise TypeError(
            "reduce_observations: observations must be a DataStore or an iterable (e.g. a "
            f"list) of gammaxr.Observation, got {type(observations).__name__}"
        )
    else:
        runs = list(observations)
    wrong = sorted({type(obs).__name__ for obs in runs if not isinstance(obs, Observation)})
    if wrong:
        raise TypeError(
            f"reduce_observations: observations must be gammaxr.Observation objects "
            f"(from DataStore.observations()), got {wrong}"
        )
    if not runs:
        raise ConfigError("reduce_observations: no observations given")
    return runs


def _check_maker_kwargs(maker_kwargs: Mapping[str, Any]) -> None:
    """Fail before computing if a keyword is not an option of make_map_dataset."""
    options = [
        name
        for name, parameter in inspect.signature(make_map_dataset).parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY
    ]
    unknown = sorted(set(maker_kwargs) - set(options))
    if unknown:
        raise ConfigError(
            f"reduce_observations: unknown keywords {unknown}; make_map_dataset takes {options}"
        )


def _resolve_scheduler(client: Client | None, scheduler: Any) -> tuple[Client | None, Any]:
    """The distributed client to use, or else the local scheduler (see the module docs)."""
    if client is not None and scheduler is not None:
        raise ConfigError("reduce_observations: give client or scheduler, not both")
    if client is None and _is_client(scheduler):
        client, scheduler = scheduler, None
    if client is None and scheduler is None:
        configured = dask.config.get("scheduler", None)
        if configured is None:
            client = _current_client()
            scheduler = "threads" if client is None else None
        elif configured in _DISTRIBUTED_NAMES:
            scheduler = configured
        else:
            return None, configured
    if client is None and scheduler in _DISTRIBUTED_NAMES:
        client = _current_client()
        if client is None:
            raise ConfigError(
                f"reduce_observations: scheduler {scheduler!r} asks for the current "
                "distributed client, but there is none; create a distributed.Client or "
                "pass client="
            )
        scheduler = None
    if client is not None:
        if not _is_client(client):
            raise TypeError(
                f"reduce_observations: client must be a distributed.Client, "
                f"got {type(client).__name__}"
            )
        if client.asynchronous:
            raise ConfigError(
                "reduce_observations: the client is asynchronous; use a synchronous "
                "distributed.Client"
            )
    return client, scheduler


def _is_client(obj: Any) -> bool:
    """Whether ``obj`` is a distributed Client (without importing distributed)."""
    module = sys.modules.get("distributed")
    return module is not None and isinstance(obj, module.Client)


def _current_client() -> Client | None:
    """The current distributed client, if distributed is in use and one is current."""
    module = sys.modules.get("distributed")
    if module is None:  # no client can exist without distributed imported
        return None
    try:
        return module.Client.current(allow_global=True)
    except ValueError:
        return None


# --------------------------------------------------------------------------------------
# The graph
# --------------------------------------------------------------------------------------


def _build_graph(
    runs: list[Observation],
    geom: xr.Dataset,
    maker_kwargs: Mapping[str, Any],
    *,
    stacked: bool,
    reduction: str,
) -> tuple[Delayed, str]:
    """One task per observation, then the stack (chain or tree) or the concatenation."""
    token = uuid.uuid4().hex[:12]
    reduce_one = dask.delayed(_reduce_one, pure=False)
    combine = dask.delayed(stack_pair, pure=False)
    kwargs = dict(maker_kwargs)
    # Unloaded copies: the graph then holds only paths, and pickles small for workers.
    parts = [
        reduce_one(_unloaded(obs), geom, kwargs, dask_key_name=(f"{_REDUCE}-{token}", index))
        for index, obs in enumerate(runs)
    ]
    if not stacked:
        joint = dask.delayed(concat_observations, pure=False)
        return joint(parts, dask_key_name=f"concat-observations-{token}"), token
    if len(parts) == 1:
        alone = dask.delayed(_stack_one, pure=False)
        return alone(parts[0], dask_key_name=f"stack-{token}"), token
    if reduction == "sequential":
        result = parts[0]
        for step, part in enumerate(parts[1:]):
            result = combine(result, part, dask_key_name=(f"{_STACK}-{token}", step))
        return result, token
    if reduction == "tree":
        level, depth = parts, 0
        while len(level) > 1:
            pairs = [
                combine(level[i], level[i + 1], dask_key_name=(f"{_STACK}-{token}", depth, i))
                for i in range(0, len(level) - 1, 2)
            ]
            level = pairs + level[len(pairs) * 2 :]
            depth += 1
        return level[0], token
    raise ConfigError(f"reduce_observations: unknown reduction {reduction!r}")


def _unloaded(observation: Observation) -> Observation:
    """A copy of an observation with nothing read yet (same paths and index row)."""
    return dataclasses.replace(observation)


def _reduce_one(
    observation: Observation, geom: xr.Dataset, maker_kwargs: Mapping[str, Any]
) -> xr.Dataset:
    """Task: read one run into a private copy and reduce it (the copy is freed after)."""
    try:
        return make_map_dataset(_unloaded(observation), geom, **maker_kwargs)
    except Exception as err:
        err.add_note(f"reduce_observations: while reducing observation {observation.obs_id}")
        raise


def _stack_one(dataset: xr.Dataset) -> xr.Dataset:
    """Task: the stack of a single observation (masked, times as 0-d variables)."""
    return stack(concat_observations([dataset]))


# --------------------------------------------------------------------------------------
# Computing
# --------------------------------------------------------------------------------------


def _compute_distributed(graph: Delayed, client: Client, *, progress: bool) -> xr.Dataset:
    """Compute the graph on a distributed client; only the final result comes back."""
    future = client.compute(graph)
    try:
        if progress:
            from distributed import progress as show_progress

            # distributed's bar finds the default client unless told which scheduler to watch.
            show_progress(future, scheduler=client.scheduler.address, loop=client.loop)
        return future.result()
    finally:
        future.release()


class _ObservationProgress(Callback):
    """A tqdm bar counting the finished observation tasks of one graph (local schedulers)."""

    def __init__(self, name: str, *, total: int) -> None:
        super().__init__()
        self._name = name
        self._total = total
        self._bar: Any = None

    def _start(self, dsk: Any) -> None:
        from tqdm.auto import tqdm

        self._bar = tqdm(total=self._total, desc="reduce_observations", unit="obs")

    def _posttask(self, key: Any, result: Any, dsk: Any, state: Any, worker_id: Any) -> None:
        if isinstance(key, tuple) and key and key[0] == self._name and self._bar is not None:
            self._bar.update()

    def _finish(self, dsk: Any, state: Any, errored: bool) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
