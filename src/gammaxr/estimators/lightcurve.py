"""Light curves: flux points in time bins.

A light curve is the flux points of :func:`gammaxr.estimators.flux_points` (the
norm of a reference model refitted in energy bins) computed again in each time
bin, concatenated along a ``time`` dim. The time bins come from the data:

- a **joint** dataset (an ``obs_id`` dim with ``tstart`` / ``tstop``
  variables, as :func:`gammaxr.concat_observations` makes it) gives one bin per
  observation, or, with ``time_edges``, one bin per interval holding the
  observations that lie wholly inside it, stacked;
- a dataset with a ``time`` dim, as :func:`reduce_time_bins` makes it by cutting
  observations at the bin edges by their GTIs, gives one bin per entry (so a
  night can be split into 10-minute bins);
- a single dataset (neither dim) is one bin.

Times
-----
The ``time`` coordinate holds bin centres and ``time_lo`` / ``time_hi`` the bin
edges, all MJD in the TT scale (floats, ``attrs["units"] = "d"``,
``attrs["scale"] = "tt"``, ``attrs["format"] = "mjd"``). Inside datasets, times
are seconds since the time reference of the event files (``tstart``,
``tstop``; attrs ``mjdref`` (d) and ``timesys``). ``time_edges`` arguments are
astropy ``Time`` objects or MJD floats in TT.

Computation
-----------
With ``reoptimize=False`` (the default) every time bin's flux points are
one-parameter fits, and all of them are solved at once: each bin's counts,
signal (the source folded at norm 1) and background are prepared as
:func:`~gammaxr.estimators.flux_points` prepares them (for a joint dataset
with one bin per observation, in a single pass over ``obs_id``), padded to
one width, and handed to one :func:`~gammaxr.estimators.norm_fit.fit_norm`
call; for Cash, the bins without counts of each fit are first merged into one
(their statistic is linear in the norm), which on maps leaves a few percent of
the bins. The results equal those of ``flux_points`` per bin to rounding
(relative differences below 1e-11). With ``reoptimize=True`` each bin is
fitted on its own by the general fitter.

Empty bins
----------
Time bins that no observation covers are left out of the products (as Gammapy
does); ``attrs["n_empty_time_bins"]`` counts them. A bin with data but nothing
to fit in an energy bin (no safe reco-energy bin there) has NaN norms, errors
and TS with ``success`` False in that energy bin (and ``livetime`` 0 if the bin
has no safe bin at all: live time counts only observations with a safe bin, as
stacking does).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr
from astropy.time import Time

from gammaxr.conventions import ENERGY, OBS_ID, TIME, edges, hi_name, lo_name
from gammaxr.data.observation import Observation
from gammaxr.data.store import DataStore
from gammaxr.estimators.flux_points import (
    _assemble,
    _check_positive,
    _energy_edges,
    _fast_inputs,
    _scan_values,
    _snap,
    _solve_fast,
    flux_points,
)
from gammaxr.exceptions import ConfigError, DimensionError, FormatError, GammaxrWarning
from gammaxr.fit.wstat import stack_on_off
from gammaxr.stacking import concat_observations, stack

if TYPE_CHECKING:
    from gammaxr.models import Models

__all__ = ["TIME_ATTRS", "light_curve", "reduce_time_bins"]

#: Attributes of the ``time``, ``time_lo`` and ``time_hi`` coordinates.
TIME_ATTRS = {"units": "d", "scale": "tt", "format": "mjd"}

#: Tolerance (s) of time comparisons: an observation within it of a bin is inside the bin,
#: and a GTI overlapping a bin by no more than it does not overlap. (MJD floats near 5e4
#: resolve about 1e-6 s.)
TIME_ATOL = 1e-5

_SECONDS_PER_DAY = 86400.0

# Per-bin variables of a time-binned dataset (``(time)`` only), not part of a bin's dataset.
_BIN_VARIABLES = ("livetime", "ontime", "tstart", "tstop", "n_observations", "obs_ids")


# --------------------------------------------------------------------------------------
# Times
# --------------------------------------------------------------------------------------


def _time_reference(ds: xr.Dataset, what: str) -> tuple[float, str]:
    """``(mjdref, timesys)`` from dataset attrs."""
    if "mjdref" not in ds.attrs:
        raise FormatError(
            f"{what}: the dataset has no attrs['mjdref'] (time reference, MJD); reduce it with "
            "gammaxr.reduce, which writes the time reference of the event file"
        )
    timesys = str(ds.attrs.get("timesys", "tt")).lower()
    if timesys not in Time.SCALES:
        raise FormatError(f"{what}: attrs['timesys'] {timesys!r} is not a time scale")
    return float(ds.attrs["mjdref"]), timesys


def met_to_mjd(met: Any, mjdref: float, timesys: str = "tt") -> np.ndarray:
    """Seconds since a time reference to MJD in the TT scale.

    Parameters
    ----------
    met : array-like
        Times in s since ``mjdref``, in the scale ``timesys``.
    mjdref : float
        Time reference, MJD (d).
    timesys : str
        Time scale of ``met`` and ``mjdref`` (``tt``, ``utc``, ...).

    Returns
    -------
    numpy.ndarray
        MJD (TT), float64 (precision about 1 microsecond).
    """
    met = np.asarray(met, dtype=np.float64)
    return Time(mjdref, met / _SECONDS_PER_DAY, format="mjd", scale=timesys).tt.mjd


def _edges_to_met(time_edges: Any, mjdref: float, timesys: str) -> np.ndarray:
    """Validated time edges (Time or MJD TT floats) in s since ``mjdref``."""
    if isinstance(time_edges, Time):
        times = time_edges
    else:
        try:
            values = np.asarray(time_edges, dtype=np.float64)
        except (TypeError, ValueError):
            raise ConfigError(
                "time_edges must be an astropy Time array or MJD values (TT), got "
                f"{type(time_edges).__name__}"
            ) from None
        if values.ndim != 1 or not np.isfinite(values).all():
            raise ConfigError(f"time_edges must be 1D and finite MJD values, got {values!r}")
        times = Time(values, format="mjd", scale="tt")
    if times.ndim != 1 or len(times) < 2:
        raise ConfigError(f"time_edges needs 2 or more edges in a 1D array, got {times.shape}")
    met = np.asarray((times - Time(mjdref, format="mjd", scale=timesys)).sec, dtype=np.float64)
    if not np.all(np.diff(met) > 0):
        raise ConfigError("time_edges must increase strictly")
    return met


def _time_coords(lo_met: np.ndarray, hi_met: np.ndarray, mjdref: float, timesys: str) -> dict:
    """``time``, ``time_lo``, ``time_hi`` coordinates (MJD TT) for bins in s since ``mjdref``."""
    lo = met_to_mjd(lo_met, mjdref, timesys)
    hi = met_to_mjd(hi_met, mjdref, timesys)
    return {
        TIME: (TIME, 0.5 * (lo + hi), dict(TIME_ATTRS)),
        lo_name(TIME): (TIME, lo, dict(TIME_ATTRS)),
        hi_name(TIME): (TIME, hi, dict(TIME_ATTRS)),
    }


# --------------------------------------------------------------------------------------
# Time-binned reduction
# --------------------------------------------------------------------------------------


def _stack_any(joint: xr.Dataset) -> xr.Dataset:
    """Stack a joint dataset over ``obs_id``: on-off (WStat) or map / spectrum."""
    return stack_on_off(joint) if "counts_off" in joint else stack(joint)


def _gti_overlap(observation: Observation, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Time (s) of each bin ``[lo, hi)`` covered by the observation's GTI."""
    if "gti" in observation.available:
        gti = observation.gti[["start", "stop"]].to_numpy(dtype=np.float64)
    else:  # no GTI HDU: the events' fallback, [TSTART, TSTOP]
        gti = np.asarray(observation.events.attrs["gti"], dtype=np.float64)
    gti = gti.reshape(-1, 2)
    start, stop = gti[:, 0], gti[:, 1]
    # (bin, interval): the length of each intersection, then summed per bin.
    clipped_start = np.clip(start[np.newaxis, :], lo[:, np.newaxis], hi[:, np.newaxis])
    clipped_stop = np.clip(stop[np.newaxis, :], lo[:, np.newaxis], hi[:, np.newaxis])
    return np.clip(clipped_stop - clipped_start, 0.0, None).sum(axis=1)


def reduce_time_bins(
    observations: Iterable[Observation] | DataStore,
    time_edges: Time | Sequence[float] | np.ndarray,
    reduction: Callable[[Observation], xr.Dataset],
    *,
    atol: float = TIME_ATOL,
) -> xr.Dataset:
    """Reduce observations cut into time bins, stacked per bin, along a ``time`` dim.

    Each observation whose GTI overlaps a bin is cut to the bin
    (:meth:`gammaxr.Observation.select_time`: events, GTI and live time of the
    overlap) and reduced with ``reduction``; the pieces in a bin are stacked
    (:func:`gammaxr.stacking.stack`, or :func:`gammaxr.fit.wstat.stack_on_off`
    for on-off datasets). The result is ready for :func:`light_curve`.

    Parameters
    ----------
    observations : iterable of Observation, or DataStore
        The observations (a data store: all of its observations). They must
        share one time reference.
    time_edges : astropy.time.Time or array-like of float
        Bin edges, increasing: a ``Time`` array or MJD values in TT.
    reduction : callable
        ``reduction(observation) -> xarray.Dataset``: a per-observation
        reduction on a fixed geometry, e.g.
        ``functools.partial(gx.reduce.make_on_off_spectrum, on_region=region,
        geom=geom)`` or ``functools.partial(gx.make_map_dataset, geom=geom)``.
    atol : float
        An observation whose GTI overlaps a bin by ``atol`` (s) or less is
        not reduced in that bin (edges given as MJD floats are exact to about
        1e-6 s only).

    Returns
    -------
    xarray.Dataset
        The stacked datasets of the bins with data along a ``time`` dim
        (coordinates ``time``, ``time_lo``, ``time_hi``: the bin centres and
        edges, MJD TT; see :data:`TIME_ATTRS`), plus the ``(time)`` variables
        ``livetime`` and ``ontime`` (s, summed over the pieces), ``tstart``
        and ``tstop`` (s since ``attrs["mjdref"]``: the span of the data in
        the bin), ``n_observations`` and ``obs_ids`` (comma-separated ids).
        Bins that no observation's GTI overlaps are left out;
        ``attrs["n_empty_time_bins"]`` counts them.

    Raises
    ------
    ConfigError
        If there is no observation, ``reduction`` is not callable, the edges
        are not increasing, or every bin is empty.
    FormatError
        If the observations have different time references.

    Examples
    --------
    >>> import functools
    >>> import astropy.units as u
    >>> import numpy as np
    >>> from astropy.time import Time
    >>> import gammaxr as gx
    >>> from gammaxr.estimators.lightcurve import reduce_time_bins
    >>> from gammaxr.reduce import make_on_off_spectrum
    >>> store = gx.open_datastore()
    >>> obs = store.observation(23523)
    >>> geom = gx.make_geom(gx.energy_axis(1, 10, nbin=2),
    ...                     gx.energy_axis(0.5, 20, nbin=10, name="energy_true"))
    >>> on = "icrs;circle(83.633,22.014,0.11)"
    >>> reduce = functools.partial(make_on_off_spectrum, on_region=on, geom=geom)
    >>> start = Time(obs.events.attrs["time_start"], scale="utc")
    >>> binned = reduce_time_bins([obs], start + np.arange(4) * 10 * u.min, reduce)
    >>> binned.sizes["time"], binned.ontime.values.round(3).tolist()
    (3, [600.0, 600.0, 487.0])
    """
    if isinstance(observations, DataStore):
        observations = observations.observations()
    observations = list(observations)
    if not observations:
        raise ConfigError("reduce_time_bins: no observations given")
    if not callable(reduction):
        raise ConfigError(
            "reduce_time_bins: reduction must be a callable observation -> dataset, e.g. "
            f"functools.partial(make_on_off_spectrum, ...), got {type(reduction).__name__}"
        )
    references = {observation.time_reference() for observation in observations}
    if len(references) > 1:
        raise FormatError(
            f"reduce_time_bins: the observations have different time references {references}"
        )
    mjdref, timesys = references.pop()
    edges = _edges_to_met(time_edges, mjdref, timesys)
    lo, hi = edges[:-1], edges[1:]
    overlap = np.stack([_gti_overlap(observation, lo, hi) for observation in observations])

    bins: list[xr.Dataset] = []
    kept: list[int] = []
    for index in range(lo.size):  # a handful of time bins
        members = [
            obs
            for obs, covered in zip(observations, overlap[:, index] > atol, strict=True)
            if covered
        ]
        if not members:
            continue
        pieces = [reduction(obs.select_time(lo[index], hi[index])) for obs in members]
        bins.append(_stack_bin(pieces))
        kept.append(index)
    if not bins:
        raise ConfigError(
            "reduce_time_bins: no observation's GTI overlaps any time bin "
            f"(edges {met_to_mjd(edges[[0, -1]], mjdref, timesys)} MJD TT)"
        )
    coords = _time_coords(lo[kept], hi[kept], mjdref, timesys)
    binned = xr.concat(
        bins,
        dim=TIME,
        data_vars="all",
        coords="minimal",
        compat="override",
        join="exact",
        combine_attrs="drop_conflicts",
    )
    binned = binned.assign_coords(coords)
    binned.attrs["mjdref"] = float(mjdref)
    binned.attrs["timesys"] = timesys
    binned.attrs["n_empty_time_bins"] = int(lo.size - len(kept))
    return binned


def _stack_bin(pieces: list[xr.Dataset]) -> xr.Dataset:
    """The stack of the per-observation pieces of one time bin, with its times as variables."""
    joint = concat_observations(pieces)
    stacked = _stack_any(joint)
    ids = [int(piece.attrs[OBS_ID]) for piece in pieces]
    for name in ("tstart", "tstop"):
        if name not in joint:
            raise FormatError(
                f"reduce_time_bins: the reduced datasets lack attrs[{name!r}]; the reduction "
                "must keep the observation times (as gammaxr.reduce does)"
            )
    span = {
        "tstart": float(joint["tstart"].min()),
        "tstop": float(joint["tstop"].max()),
    }
    stacked = stacked.assign(
        {name: ((), value, {"units": "s"}) for name, value in span.items()}
        | {
            "n_observations": ((), len(ids), {"units": ""}),
            "obs_ids": ((), ",".join(str(i) for i in ids), {"units": ""}),
        }
    )
    for name in ("livetime", "ontime"):
        if name in stacked:
            stacked[name] = stacked[name].astype(np.float64)
    stacked.attrs.pop("obs_ids", None)
    return stacked


# --------------------------------------------------------------------------------------
# Light curve
# --------------------------------------------------------------------------------------


def _time_binned_bins(data: xr.Dataset) -> tuple[list[xr.Dataset], dict[str, Any]]:
    """Bins of a dataset that already has a ``time`` dim."""
    for name in (lo_name(TIME), hi_name(TIME)):
        if name not in data.coords:
            raise FormatError(
                f"light_curve: a dataset with a {TIME!r} dim needs the {name!r} coordinate "
                "(MJD TT), as reduce_time_bins makes it"
            )
    per_bin = [name for name in _BIN_VARIABLES if name in data and data[name].dims == (TIME,)]
    rest = data.drop_vars(per_bin)
    rest = rest.drop_vars([name for name, c in rest.coords.items() if c.dims == (TIME,)])
    # each bin's own times and live time become attrs, as on a single observation's dataset
    datasets = [
        rest.isel({TIME: i}).assign_attrs(
            {
                name: data[name][i].item()
                for name in ("livetime", "ontime", "tstart", "tstop")
                if name in per_bin
            }
        )
        for i in range(data.sizes[TIME])
    ]
    extra = {
        name: data[name].to_numpy()
        for name in ("livetime", "n_observations", "obs_ids")
        if name in per_bin
    }
    info = {
        "time_lo": data[lo_name(TIME)].to_numpy().astype(np.float64),
        "time_hi": data[hi_name(TIME)].to_numpy().astype(np.float64),
        **extra,
    }
    return datasets, info


def _single(subset: xr.Dataset) -> xr.Dataset:
    """The one observation of a joint dataset, with its ``(obs_id)`` variables as attrs."""
    one = subset.isel({OBS_ID: 0})
    scalars = [name for name, var in one.data_vars.items() if var.ndim == 0]
    attrs = {**one.attrs, OBS_ID: int(one[OBS_ID])}
    attrs.update({name: one[name].item() for name in scalars})
    return one.drop_vars([*scalars, OBS_ID]).assign_attrs(attrs)


def _joint_bins(
    data: xr.Dataset, time_edges: Any, atol: float, stack_bins: bool
) -> tuple[list[xr.Dataset] | xr.Dataset, dict[str, Any]]:
    """Bins of a joint dataset: one per observation, or observations inside given bins.

    One bin per observation (no ``time_edges``) gives the joint dataset itself,
    its observations in time order (each one a bin); otherwise a list of the
    bins' datasets.
    """
    mjdref, timesys = _time_reference(data, "light_curve")
    for name in ("tstart", "tstop"):
        if name not in data or data[name].dims != (OBS_ID,):
            raise FormatError(
                f"light_curve: a joint dataset needs a {name!r} ({OBS_ID}) variable (s since "
                "mjdref), as gammaxr.concat_observations makes it from the reduced datasets"
            )
    tstart = data["tstart"].to_numpy().astype(np.float64)
    tstop = data["tstop"].to_numpy().astype(np.float64)
    ids = data[OBS_ID].to_numpy()
    if time_edges is None:
        order = np.argsort(tstart, kind="stable")
        groups = [np.array([i]) for i in order]
        lo, hi = tstart[order], tstop[order]
    else:
        edges = _edges_to_met(time_edges, mjdref, timesys)
        # (bin, obs): observation wholly inside the bin
        inside = (tstart[np.newaxis, :] >= edges[:-1, np.newaxis] - atol) & (
            tstop[np.newaxis, :] <= edges[1:, np.newaxis] + atol
        )
        overlaps = (tstart[np.newaxis, :] < edges[1:, np.newaxis] - atol) & (
            tstop[np.newaxis, :] > edges[:-1, np.newaxis] + atol
        )
        straddling = overlaps.any(axis=0) & ~inside.any(axis=0)
        if straddling.any():
            warnings.warn(
                f"light_curve: observations {ids[straddling].tolist()} cross a time-bin edge "
                "and are left out; cut observations at the edges with reduce_time_bins",
                GammaxrWarning,
                stacklevel=3,
            )
        groups = [np.flatnonzero(row) for row in inside]
        filled = [k for k, group in enumerate(groups) if group.size]
        groups = [groups[k] for k in filled]
        lo, hi = edges[:-1][filled], edges[1:][filled]
    datasets: list[xr.Dataset] | xr.Dataset = []
    if time_edges is None:  # every observation a bin: the joint dataset in time order
        datasets = data.isel({OBS_ID: np.concatenate(groups)})
    for group in groups if time_edges is not None else ():
        subset = data.isel({OBS_ID: group})
        if group.size == 1:  # one observation: its own dataset
            datasets.append(_single(subset))
        elif stack_bins:  # the stack, spanning the observations' times
            span = {"tstart": float(tstart[group].min()), "tstop": float(tstop[group].max())}
            datasets.append(_stack_any(subset).assign_attrs(span))
        else:  # the joint form: one norm per energy bin fitted to all observations
            datasets.append(subset)
    info: dict[str, Any] = {
        "time_lo": met_to_mjd(lo, mjdref, timesys),
        "time_hi": met_to_mjd(hi, mjdref, timesys),
        "n_observations": np.array([group.size for group in groups], dtype=np.int64),
        "obs_ids": np.array([",".join(map(str, ids[group].tolist())) for group in groups]),
    }
    if "livetime" in data:
        # summed over the observations with a safe bin, as stacking sums it
        mask = data["mask_safe"] if "mask_safe" in data else xr.ones_like(data["counts"], bool)
        used = mask.any([dim for dim in mask.dims if dim != OBS_ID]).to_numpy()
        seconds = np.where(used, data["livetime"].to_numpy().astype(np.float64), 0.0)
        info["livetime"] = np.array([seconds[group].sum() for group in groups])
    if time_edges is not None:
        info["n_empty"] = len(edges) - 1 - len(groups)
    return datasets, info


def _single_bins(
    data: xr.Dataset, time_edges: Any, atol: float
) -> tuple[list[xr.Dataset], dict[str, Any]]:
    """A dataset of one observation or one stack: one bin."""
    mjdref, timesys = _time_reference(data, "light_curve")
    for name in ("tstart", "tstop"):
        if name not in data.attrs:
            raise FormatError(
                f"light_curve: the dataset has no attrs[{name!r}] (s since mjdref); give a "
                f"joint dataset (an {OBS_ID!r} dim) or one made by gammaxr.reduce"
            )
    lo, hi = float(data.attrs["tstart"]), float(data.attrs["tstop"])
    if time_edges is not None:
        edges = _edges_to_met(time_edges, mjdref, timesys)
        k = np.flatnonzero((lo >= edges[:-1] - atol) & (hi <= edges[1:] + atol))
        if not k.size:
            raise ConfigError(
                "light_curve: the dataset does not lie wholly inside any bin of time_edges"
            )
        lo, hi = float(edges[k[0]]), float(edges[k[0] + 1])
    info: dict[str, Any] = {
        "time_lo": met_to_mjd([lo], mjdref, timesys),
        "time_hi": met_to_mjd([hi], mjdref, timesys),
        "n_observations": np.array([1], dtype=np.int64),
    }
    livetime = data["livetime"] if "livetime" in data else data.attrs.get("livetime")
    if livetime is not None:
        info["livetime"] = np.array([float(livetime)])
    if OBS_ID in data.attrs:
        info["obs_ids"] = np.array([str(data.attrs[OBS_ID])])
    if time_edges is not None:
        info["n_empty"] = len(edges) - 2
    return [data], info


def _fast_light_curve(
    bins: list[xr.Dataset] | xr.Dataset,
    models: Models,
    source: str,
    energy_edges: Any,
    n_sigma: float,
    n_sigma_ul: float,
    scan: Any,
) -> xr.Dataset:
    """Flux points of every time bin at once (``reoptimize=False``), on dims ``(time, energy)``.

    Each bin's one-parameter problems are those :func:`flux_points` sets up
    (:func:`~gammaxr.estimators.flux_points._fast_inputs`): a joint dataset whose
    observations are the bins is prepared in one pass over ``obs_id``, a list
    of bin datasets one by one; the problems of all bins, padded to one width,
    are then solved by a single :func:`~gammaxr.estimators.norm_fit.fit_norm`
    call, with the bins without counts merged (Cash), which changes the results
    by rounding only.
    """
    from gammaxr.models import Models, SkyModel

    _check_positive(n_sigma, "n_sigma")
    _check_positive(n_sigma_ul, "n_sigma_ul")
    scan_values = _scan_values(scan)
    if not isinstance(models, Models):
        raise ConfigError(f"flux_points: models must be a Models collection, got {type(models)}")
    if source not in models or not isinstance(models[source], SkyModel):
        sky = [name for name, m in models.items() if isinstance(m, SkyModel)]
        raise ConfigError(f"flux_points: no sky model {source!r} in models; they are {sky}")
    requested = _energy_edges(energy_edges)
    if isinstance(bins, xr.Dataset):  # the observations of a joint dataset are the bins
        name = bins.attrs.get("name")
        index = _snap(requested, edges(bins, ENERGY), name)
        inputs = _fast_inputs([(name, bins)], [index], models, source, batch_dim=OBS_ID)
        first = edges(bins, ENERGY)[index]
    else:
        parts, first = [], None
        for ds in bins:
            name = ds.attrs.get("name")
            index = _snap(requested, edges(ds, ENERGY), name)
            chosen = edges(ds, ENERGY)[index]
            if first is None:
                first = chosen
            elif not np.allclose(chosen, first, rtol=1e-9, atol=0.0):
                raise ConfigError(
                    f"light_curve: the time bins' energy axes give different flux-point edges "
                    f"({first.tolist()} and {chosen.tolist()} TeV)"
                )
            parts.append(_fast_inputs([(name, ds)], [index], models, source))
        inputs = _stack_inputs(parts)
    results = _solve_fast(inputs, n_sigma, n_sigma_ul, scan_values, compress=True)
    return _assemble(results, first, models[source], n_sigma, n_sigma_ul, scan_values,
                     leading=(TIME,))  # fmt: skip


def _stack_inputs(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Inputs of :func:`_fast_inputs` for several bins, stacked on a leading axis.

    The bins' problems are padded to the widest (with copies of their last bin,
    masked out; zeros where a problem has no bin at all).
    """
    width = max(part["arrays"]["n"].shape[-1] for part in parts)
    arrays: dict[str, list[np.ndarray]] = {}
    for part in parts:
        for key, values in part["arrays"].items():
            pad = [(0, 0)] * (values.ndim - 1) + [(0, width - values.shape[-1])]
            if key == "m" or values.shape[-1] == 0:
                padded = np.pad(values, pad)
            else:
                padded = np.pad(values, pad, mode="edge")
            arrays.setdefault(key, []).append(padded)
    totals = {key: np.stack([part["totals"][key] for part in parts]) for key in parts[0]["totals"]}
    return {
        "onoff": parts[0]["onoff"],
        "arrays": {key: np.stack(values) for key, values in arrays.items()},
        "totals": totals,
    }


def light_curve(
    data: xr.Dataset,
    models: Models,
    source: str,
    energy_edges: Any,
    *,
    time_edges: Time | Sequence[float] | np.ndarray | None = None,
    reoptimize: bool = False,
    n_sigma: float = 1,
    n_sigma_ul: float = 2,
    scan: Any = None,
    backend: str = "minuit",
    stack_bins: bool = True,
    atol: float = TIME_ATOL,
) -> xr.Dataset:
    """Flux points in time bins: a light curve on dims ``(time, energy)``.

    In each time bin :func:`gammaxr.estimators.flux_points` refits the norm
    of ``source`` in the bins of ``energy_edges`` (one bin for an integral
    light curve), on the bin's dataset: the observation's own when the bin
    holds one, else the stack of its observations (or their joint form, see
    ``stack_bins``).
    Works for on-off (WStat), spectrum and map datasets alike. Without
    ``reoptimize`` the bins are solved together (see the module documentation):
    the same numbers as :func:`~gammaxr.estimators.flux_points` bin by bin, to
    rounding.

    Parameters
    ----------
    data : xarray.Dataset
        One of (see the module documentation):

        - a joint dataset (``obs_id`` dim, ``tstart`` / ``tstop`` ``(obs_id)``
          variables and the ``mjdref`` / ``timesys`` attrs): one bin per
          observation, ordered in time; with ``time_edges``, the observations
          wholly inside each bin (within ``atol``) stacked, the others left
          out with a warning;
        - a dataset with a ``time`` dim from :func:`reduce_time_bins`: one bin
          per entry (``time_edges`` must then be None);
        - a single dataset (attrs ``tstart``, ``tstop``, ``mjdref``): one bin.
    models : Models
        Models of the fit; ``source`` is the one whose norm is measured.
    source : str
        Name of the source model.
    energy_edges : array-like
        Energy bin edges, TeV (see :func:`gammaxr.estimators.flux_points`).
    time_edges : astropy.time.Time or array-like of float, optional
        Time bin edges (``Time``, or MJD in TT) for a joint or single dataset.
    reoptimize, n_sigma, n_sigma_ul, scan, backend
        Passed to :func:`gammaxr.estimators.flux_points`.
    stack_bins : bool
        For a joint dataset with ``time_edges``: stack the observations of a
        bin (default) or fit them jointly (one norm, the statistic summed over
        them; exact for WStat and for models with a temporal component, whose
        mean over a stack's whole time span is used otherwise).
    atol : float
        Tolerance (s) of "wholly inside a bin".

    Returns
    -------
    xarray.Dataset
        The flux-point variables (``norm``, ``norm_err``, ``norm_errn``,
        ``norm_errp``, ``norm_ul``, ``ts``, ``sqrt_ts``, ``counts``,
        ``npred``, ``npred_excess``, ``ref_dnde``, ``ref_e2dnde``,
        ``ref_flux``, ``ref_eflux``, ``success``) on ``(time, energy)``,
        with the coordinates ``time``, ``time_lo``, ``time_hi`` (bin centre and
        edges, MJD TT, :data:`TIME_ATTRS`), ``energy`` and its edges, and the
        ``(time)`` variables ``livetime`` (s; when the data have it),
        ``n_observations`` and ``obs_ids`` (comma-separated). Bins without data
        are left out (``attrs["n_empty_time_bins"]`` counts them); a bin without
        a safe bin in an energy range has NaN there and ``success`` False.
        Attrs: those of the flux points, plus ``time_scale = "tt"`` and
        ``time_format = "mjd"``.

    Raises
    ------
    ConfigError
        Bad ``time_edges``, or ``time_edges`` given with a time-binned dataset.
    DimensionError
        If ``data`` has both a ``time`` and an ``obs_id`` dim.
    FormatError
        If the time information (``tstart``, ``tstop``, ``mjdref``) is missing.

    Examples
    --------
    >>> import gammaxr as gx
    >>> from gammaxr.estimators import light_curve
    >>> from gammaxr.models import Models, PowerLawSpectralModel, SkyModel
    >>> from gammaxr.reduce import make_on_off_spectrum
    >>> geom = gx.make_geom(gx.energy_axis(0.5, 50, per_decade=5),
    ...                     gx.energy_axis(0.3, 100, nbin=25, name="energy_true"))
    >>> on = "icrs;circle(83.633,22.014,0.11)"
    >>> runs = gx.open_datastore().observations()
    >>> joint = gx.concat_observations([make_on_off_spectrum(o, on, geom) for o in runs])
    >>> crab = Models([SkyModel(PowerLawSpectralModel(index=2.6, amplitude=4e-11), name="crab")])
    >>> curve = light_curve(joint, crab, "crab", [1.26, 12.6])  # one point per run
    >>> curve.norm.values.ravel().round(2).tolist()
    [1.09, 1.03, 1.16, 1.27]
    >>> curve.time_lo.values.round(4).tolist()  # MJD (TT)
    [53343.9223, 53343.9542, 53345.962, 53347.9132]
    """
    if not isinstance(data, xr.Dataset):
        raise ConfigError(f"light_curve: data must be a Dataset, got {type(data).__name__}")
    if not atol >= 0:
        raise ConfigError(f"light_curve: atol must be >= 0 s, got {atol}")
    if TIME in data.dims and OBS_ID in data.dims:
        raise DimensionError(
            f"light_curve: data has both {TIME!r} and {OBS_ID!r} dims; give a joint dataset "
            "or a time-binned one"
        )
    if TIME in data.dims:
        if time_edges is not None:
            raise ConfigError(
                "light_curve: data is already binned in time (a 'time' dim); leave "
                "time_edges=None, or rebin with reduce_time_bins"
            )
        datasets, info = _time_binned_bins(data)
        n_empty = int(data.attrs.get("n_empty_time_bins", 0))
    elif OBS_ID in data.dims:
        datasets, info = _joint_bins(data, time_edges, atol, bool(stack_bins))
        n_empty = int(info.pop("n_empty", 0))
    else:
        datasets, info = _single_bins(data, time_edges, atol)
        n_empty = int(info.pop("n_empty", 0))

    lo, hi = info.pop("time_lo"), info.pop("time_hi")
    if reoptimize:
        if isinstance(datasets, xr.Dataset):
            datasets = [
                _single(datasets.isel({OBS_ID: [i]})) for i in range(datasets.sizes[OBS_ID])
            ]
        points = [
            flux_points(
                ds,
                models,
                source,
                energy_edges,
                reoptimize=True,
                n_sigma=n_sigma,
                n_sigma_ul=n_sigma_ul,
                scan=scan,
                backend=backend,
            )
            for ds in datasets
        ]
        curve = xr.concat(
            points,
            dim=pd.Index(0.5 * (lo + hi), name=TIME),
            data_vars="all",
            coords="minimal",
            compat="override",
            join="exact",
            combine_attrs="drop_conflicts",
        )
    else:
        curve = _fast_light_curve(datasets, models, source, energy_edges, n_sigma, n_sigma_ul,
                                  scan)  # fmt: skip
        curve = curve.assign_coords({TIME: (TIME, 0.5 * (lo + hi))})
    curve[TIME].attrs = dict(TIME_ATTRS)
    curve = curve.assign_coords(
        {
            lo_name(TIME): (TIME, lo, dict(TIME_ATTRS)),
            hi_name(TIME): (TIME, hi, dict(TIME_ATTRS)),
        }
    )
    units = {"livetime": "s", "n_observations": "", "obs_ids": ""}
    for name, values in info.items():
        curve[name] = xr.DataArray(values, dims=(TIME,), attrs={"units": units[name]})
    curve.attrs["n_empty_time_bins"] = n_empty
    curve.attrs["time_scale"] = "tt"
    curve.attrs["time_format"] = "mjd"
    return curve
