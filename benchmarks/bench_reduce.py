"""Data-reduction benchmark: many observations to one stacked map dataset, serial and Dask.

Times ``gammaxr.reduce.reduce_observations`` (one Dask graph, threaded scheduler)
against the serial path (``make_map_dataset`` per run, folded with
``stack_pair``), reading included, on

(a) H.E.S.S. DL3 DR1 (``hess-dl3-dr1``), on 4 x 4 deg at 0.02 deg (200 x 200
    pixels) around each set's target, reco energy 0.5-50 TeV at 10 bins per
    decade (20 bins), true energy 0.3-100 TeV at 20 per decade (50 bins), every
    product, the default safe mask (``aeff-default``):

    ``hess-1``    Crab run 23523;
    ``hess-4``    the four Crab runs;
    ``hess-16``   the first 16 PKS 2155-304 runs (table order);
    ``hess-21``   all 21 PKS 2155-304 runs (every run pointing within 2.5 deg);
    ``hess-all``  all 105 runs, in fields: each run joins the first field whose
                  centre (the target of the field's first run) lies within
                  2.5 deg of its pointing, and each field is reduced and stacked
                  on its own 4 x 4 deg geometry (one ``reduce_observations`` call
                  per field, the fields one after the other);

(b) the data reduction of gammapy/gammapy-benchmarks ``benchmarks/analysis_3d.py``
    (``data_prep``): CTA 1DC run 110380 read and reduced TEN times, stacked on a
    10 x 8 deg galactic CAR grid at 0.05 deg centred on (0, 0), reco and true
    energy 0.1-10 TeV in 10 log bins, safe mask ``offset-max`` at 4 deg, no
    FoV background fit (the benchmark has none). The background is integrated
    over each bin from its edges (``background_integration="edges"``), Gammapy's
    method without oversampling, so that the numbers compare:

    ``a3d-full``  every product (gammaxr: one PSF and one edisp at the geometry
                  centre; Gammapy: PSF and edisp *maps* on a 0.2 deg grid);
    ``a3d-maps``  counts, exposure, background and the safe mask only (Gammapy:
                  ``MapDatasetMaker(selection=["counts", "exposure", "background"])``).

Modes: ``serial`` (``make_map_dataset`` per run, in turn, folded with
``stack_pair``), ``serial-nocache`` (the same with the cache of parsed IRFs
turned off, ``gammaxr.io.gadf.irf.set_irf_cache_size(0)``: ``a3d`` reduces one
run, whose IRF file the cache then reads once, ten times; each H.E.S.S. run has
its own IRFs), ``threads`` (``reduce_observations``, Dask's threaded scheduler,
2 threads), and with ``--modes`` also ``processes`` (Dask's multiprocessing
scheduler on a started pool of 2 processes that have imported gammaxr) and
``distributed`` (a ``LocalCluster`` of 2 worker processes x 1 thread, start-up
timed apart). Each case and mode runs ``--repeat`` times (default 2), each in a
fresh subprocess: wall time, CPU time (all threads, plus worker processes) and
the peak resident memory (``ru_maxrss``, with the value before the reduction
as the baseline; workers: VmHWM); then once more under ``tracemalloc``
(untimed; main process only, so not for the multi-process modes) for the peak
of memory allocated during the reduction. ``--profile`` adds cProfile's top
entries for one observation of each geometry and one ``stack_pair``;
``--update`` replaces the given cases and modes in an existing ``reduce.json``.

Gammapy's numbers come from ``bench_reduce_gammapy.py`` (run it first, in the
Gammapy environment); this script reads ``results/reduce_gammapy.json`` and
writes ``results/reduce.json`` and ``results/reduce.md``. Run by hand::

    /work/gp-venv/bin/python benchmarks/bench_reduce_gammapy.py
    python benchmarks/bench_reduce.py [--data PATH] [--repeat 2] [--cases ...] [--profile]
    python benchmarks/bench_reduce.py --update --cases hess-16 --modes processes distributed

``--data`` is the folder holding ``hess-dl3-dr1`` and ``cta-1dc``; the default is
``$GAMMAXR_DATA``, else ``../shared/data``.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime
import functools
import io
import json
import os
import platform
import pstats
import re
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
HESS_CASES = ("hess-1", "hess-4", "hess-16", "hess-21", "hess-all")
A3D_CASES = ("a3d-full", "a3d-maps", "a3d-irfmaps")
CASES = HESS_CASES + A3D_CASES
MODES = ("serial", "serial-nocache", "threads", "processes", "distributed")
DEFAULT_MODES = ("serial", "serial-nocache", "threads")
# Modes whose work runs in other processes: tracemalloc would see the main process only.
MULTIPROCESS = ("processes", "distributed")
CRAB_RUNS = (23523, 23526, 23559, 23592)
PKS2155 = "PKS 2155-304"
FIELD_RADIUS = 2.5  # deg
A3D_OBS_ID, A3D_N_OBS = 110380, 10
A3D_SAFE_MASK = {"offset-max": {"offset_max": 4.0}}
A3D_MAPS = ("counts", "exposure", "background", "mask_safe")
A3D_IRFMAPS = ("counts", "exposure", "background", "psf_map", "edisp_map", "mask_safe")
A3D_IRF_BINSZ = 0.2  # deg, MapDataset.create's default IRF-map pixel (BINSZ_IRF_DEFAULT)
# The Gammapy case each a3d case is compared with (a3d-irfmaps makes what Gammapy's full does).
A3D_GAMMAPY = {"a3d-full": "full", "a3d-maps": "maps", "a3d-irfmaps": "full"}
# Where the stacked PSF and edisp maps are compared with Gammapy's: coarse-pixel centres
# (galactic lon, lat, deg; the pointing is at (0.0, -1.3)) and true-energy bin indices.
IRF_POSITIONS = ((0.1, -1.3), (2.1, 0.1), (-2.9, 0.9), (0.9, -3.5))
IRF_ENERGY_INDICES = (0, 3, 6, 9)
GAMMAPY_CASES = ("full", "maps", "full-parallel")  # those of bench_reduce_gammapy.py


def find_data(path: str | None) -> Path:
    """The folder holding hess-dl3-dr1 and cta-1dc: --data, $GAMMAXR_DATA or ../shared/data."""
    default = [os.environ.get("GAMMAXR_DATA"), HERE.parents[1] / "shared" / "data"]
    candidates = [path] if path else default
    for candidate in candidates:
        if candidate and (Path(candidate) / "hess-dl3-dr1").is_dir():
            return Path(candidate).resolve()
    sys.exit(f"no hess-dl3-dr1 found in {candidates}; give --data PATH")


def maxrss_mib() -> float:
    """Process peak resident memory so far, MiB (ru_maxrss is KiB on Linux)."""
    value = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return value / 2**20 if sys.platform == "darwin" else value / 2**10


# --------------------------------------------------------------------------------------
# The cases
# --------------------------------------------------------------------------------------


def hess_geometry(center):
    import gammaxr as gx

    return gx.make_geom(
        gx.energy_axis(0.5, 50, per_decade=10),
        gx.energy_axis(0.3, 100, per_decade=20, name="energy_true"),
        sky=gx.sky_grid(center, width=4.0, binsz=0.02),
    )


def a3d_geometry():
    import gammaxr as gx

    return gx.make_geom(
        gx.energy_axis(0.1, 10, nbin=10),
        gx.energy_axis(0.1, 10, nbin=10, name="energy_true"),
        sky=gx.sky_grid((0.0, 0.0), width=(10.0, 8.0), binsz=0.05, frame="galactic"),
    )


def hess_fields(store, case: str) -> list[tuple[list[int], tuple[float, float]]]:
    """The (obs_ids, centre) of each field of a H.E.S.S. case."""
    from gammaxr import angular_separation

    table = store.obs_table
    if case in ("hess-1", "hess-4"):
        ids = list(CRAB_RUNS[: int(case.split("-")[1])])
    elif case in ("hess-16", "hess-21"):
        ids = table.loc[table["object"] == PKS2155, "obs_id"].tolist()[: int(case.split("-")[1])]
    elif case == "hess-all":
        fields: list[tuple[list[int], tuple[float, float]]] = []
        for row in table.itertuples():
            for ids, (ra, dec) in fields:
                if angular_separation(ra, dec, row.ra_pnt, row.dec_pnt) <= FIELD_RADIUS:
                    ids.append(int(row.obs_id))
                    break
            else:
                fields.append(([int(row.obs_id)], (float(row.ra_obj), float(row.dec_obj))))
        return fields
    else:
        raise ValueError(case)
    first = table[table["obs_id"] == ids[0]].iloc[0]
    return [(ids, (float(first["ra_obj"]), float(first["dec_obj"])))]


def run_case(data: Path, case: str, mode: str, client=None) -> dict:
    """Open the store and reduce: the timed work. Returns the summary of the stacks.

    Each field's stacked dataset is summarised and dropped before the next field.
    """
    import gammaxr as gx
    from gammaxr.reduce import make_map_dataset, reduce_observations
    from gammaxr.stacking import concat_observations, stack, stack_pair

    if case in HESS_CASES:
        store = gx.open_datastore(data / "hess-dl3-dr1")
        plan = [(ids, hess_geometry(center), {}) for ids, center in hess_fields(store, case)]
    else:
        store = gx.open_datastore(data / "cta-1dc" / "index" / "gps")
        options = {"safe_mask": A3D_SAFE_MASK, "background_integration": "edges"}
        if case == "a3d-maps":
            options["products"] = A3D_MAPS
        elif case == "a3d-irfmaps":
            options["products"] = A3D_IRFMAPS
            options["irf_binsz"] = A3D_IRF_BINSZ
        plan = [([A3D_OBS_ID] * A3D_N_OBS, a3d_geometry(), options)]
    summaries = []
    for ids, geom, options in plan:
        if mode in ("serial", "serial-nocache"):
            # One observation object at a time, so that runs are freed as they are stacked.
            datasets = (make_map_dataset(store.observation(i), geom, **options) for i in ids)
            if len(ids) > 1:
                stacked = functools.reduce(stack_pair, datasets)
            else:  # the stack of one observation, as reduce_observations gives it
                stacked = stack(concat_observations(list(datasets)))
        elif mode in ("threads", "processes"):
            observations = [store.observation(i) for i in ids]
            stacked = reduce_observations(observations, geom, scheduler=mode, **options)
        elif mode == "distributed":
            observations = [store.observation(i) for i in ids]
            stacked = reduce_observations(observations, geom, client=client, **options)
        else:
            raise ValueError(mode)
        summaries.append(summary(stacked))
        del stacked
    return merge(summaries)


def summary(ds) -> dict:
    """Sums of one stacked dataset, per energy bin and in total."""
    import numpy as np

    out: dict = {"n_fields": 1}
    for name in ("counts", "exposure", "background"):
        per_energy = ds[name].astype(np.float64).sum(["lat", "lon"]).values
        out[name] = {"total": float(per_energy.sum()), "per_energy": per_energy.tolist()}
    out["mask_safe_pixels"] = int(ds.mask_safe.sum())
    out["livetime_s"] = float(ds.livetime)
    out["n_obs"] = len(ds.attrs["obs_ids"])
    out["shape"] = {name: list(ds[name].shape) for name in ("counts", "exposure")}
    if "psf_map" in ds and "edisp_map" in ds:
        out["irf_samples"] = irf_samples(ds)
    return out


def irf_samples(ds) -> dict:
    """The stacked PSF and edisp maps at :data:`IRF_POSITIONS` and :data:`IRF_ENERGY_INDICES`.

    ``psf[position][energy]`` is the PSF over the rad bins (sr-1), ``edisp`` the
    kernel row over the reco-energy bins; plus the axes (``rad_edges``, deg;
    ``energy_true``, ``energy_edges``, TeV). bench_reduce_gammapy.py records the
    same from Gammapy's stacked maps.
    """
    import numpy as np

    psf, edisp = [], []
    for lon, lat in IRF_POSITIONS:
        at = {"irf_lon": lon, "irf_lat": lat}
        p = ds.psf_map.sel(at, method="nearest").transpose("energy_true", "rad").values
        k = ds.edisp_map.sel(at, method="nearest").transpose("energy_true", "energy").values
        psf.append([p[i].astype(float).tolist() for i in IRF_ENERGY_INDICES])
        edisp.append([k[i].astype(float).tolist() for i in IRF_ENERGY_INDICES])
    rad_edges = np.append(ds.rad_lo.values, ds.rad_hi.values[-1])
    energy_edges = np.append(ds.energy_lo.values, ds.energy_hi.values[-1])
    return {
        "positions": [list(p) for p in IRF_POSITIONS],
        "energy_true": [float(ds.energy_true.values[i]) for i in IRF_ENERGY_INDICES],
        "rad_edges": rad_edges.tolist(),
        "energy_edges": energy_edges.tolist(),
        "psf": psf,
        "edisp": edisp,
    }


def irf_figures(samples: dict) -> dict:
    """Containment radii and edisp bias of :func:`irf_samples` (gammaxr's or Gammapy's).

    Per position and true energy: ``norm`` (integral of the PSF over the rad
    axis), ``r68`` / ``r95`` (deg; radius containing 68 / 95 % of that
    integral, linear between rad edges), ``edisp_sum`` (the kernel row's sum)
    and ``bias`` (the row-weighted mean of ``ln(E_reco / E_true)`` at the
    reco-bin log centres, as ``exp(mean) - 1``).
    """
    import numpy as np

    rad = np.deg2rad(np.asarray(samples["rad_edges"]))
    annulus = 2 * np.pi * (np.cos(rad[:-1]) - np.cos(rad[1:]))
    e_edges = np.asarray(samples["energy_edges"])
    e_reco = np.sqrt(e_edges[:-1] * e_edges[1:])
    out: dict = {key: [] for key in ("norm", "r68", "r95", "edisp_sum", "bias")}
    for psf_rows, edisp_rows in zip(samples["psf"], samples["edisp"], strict=True):
        row_figures: dict = {key: [] for key in out}
        for e_true, p, k in zip(samples["energy_true"], psf_rows, edisp_rows, strict=True):
            cumulative = np.concatenate([[0.0], np.cumsum(np.asarray(p) * annulus)])
            norm = float(cumulative[-1])
            row_figures["norm"].append(norm)
            for key, level in (("r68", 0.68), ("r95", 0.95)):
                value = (
                    float(np.interp(level * norm, cumulative, np.rad2deg(rad)))
                    if norm > 0
                    else float("nan")
                )
                row_figures[key].append(value)
            k = np.asarray(k)
            total = float(k.sum())
            row_figures["edisp_sum"].append(total)
            mean = float((k * np.log(e_reco / e_true)).sum() / total) if total > 0 else np.nan
            row_figures["bias"].append(float(np.expm1(mean)))
        for key in out:
            out[key].append(row_figures[key])
    return out


def compare_irfs(ours: dict, theirs: dict) -> dict:
    """gammaxr's stacked PSF / edisp maps against Gammapy's at the sample positions."""
    import numpy as np

    a, b = irf_figures(ours), irf_figures(theirs)
    out: dict = {
        "gammaxr": a,
        "gammapy": b,
        "positions": ours["positions"],
        "energy_true": ours["energy_true"],
    }
    for key in ("r68", "r95", "norm", "edisp_sum"):
        x, y = np.asarray(a[key]), np.asarray(b[key])
        with np.errstate(invalid="ignore", divide="ignore"):
            out[f"max_relative_difference_{key}"] = float(np.nanmax(np.abs(x / y - 1)))
    out["max_abs_difference_bias"] = float(
        np.nanmax(np.abs(np.asarray(a["bias"]) - np.asarray(b["bias"])))
    )
    kernels = np.abs(np.asarray(ours["edisp"]) - np.asarray(theirs["edisp"]))
    out["max_abs_difference_edisp_kernel"] = float(kernels.max())
    return out


def merge(summaries: list[dict]) -> dict:
    """The summary of several fields: sums of the sums (per energy bin where they align)."""
    import numpy as np

    out = dict(summaries[0])
    if len(summaries) == 1:
        return out
    out["n_fields"] = len(summaries)
    for name in ("counts", "exposure", "background"):
        per_energy = np.sum([s[name]["per_energy"] for s in summaries], axis=0)
        out[name] = {"total": float(per_energy.sum()), "per_energy": per_energy.tolist()}
    for key in ("mask_safe_pixels", "livetime_s", "n_obs"):
        out[key] = sum(s[key] for s in summaries)
    return out


def peak_rss_mib(pid: int) -> float | None:
    """Peak resident memory of a process (VmHWM, Linux), MiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**10
    except OSError:
        return None
    return None


def children_cpu() -> dict[int, float]:
    """CPU seconds of each child process (recursive) now."""
    import psutil

    out = {}
    for child in psutil.Process().children(recursive=True):
        try:
            if "resource_tracker" in " ".join(child.cmdline()):
                continue  # multiprocessing's helper, not a worker
            times = child.cpu_times()
        except psutil.Error:
            continue
        out[child.pid] = times.user + times.system
    return out


def _import_gammaxr() -> None:
    import gammaxr.reduce  # noqa: F401


def one_run(data: Path, case: str, mode: str, trace: bool) -> dict:
    import dask

    import gammaxr  # noqa: F401  (imports outside the timing)
    import gammaxr.reduce  # noqa: F401

    extra: dict = {}
    client = cluster = pool = None
    config = {}
    if mode == "serial-nocache":
        from gammaxr.io.gadf.irf import set_irf_cache_size

        set_irf_cache_size(0)
    if mode == "distributed":
        from distributed import Client, LocalCluster

        start = time.perf_counter()
        cluster = LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        )
        client = Client(cluster, set_as_default=False)
        client.run(_import_gammaxr)  # the workers import gammaxr outside the timing
        extra["startup_seconds"] = time.perf_counter() - start
    elif mode == "processes":
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # A started pool whose workers have imported gammaxr, as for the other modes.
        pool = ProcessPoolExecutor(
            2, mp_context=multiprocessing.get_context("spawn"), initializer=_import_gammaxr
        )
        list(pool.map(time.sleep, [0.5, 0.5]))
        config = {"pool": pool}
    baseline = maxrss_mib()
    if trace:
        tracemalloc.start()
    before = children_cpu()
    wall, cpu = time.perf_counter(), time.process_time()
    with dask.config.set(config):
        result = run_case(data, case, mode, client=client)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    after = children_cpu()
    workers = {pid: after[pid] - before.get(pid, 0.0) for pid in after}
    worker_peaks = [peak_rss_mib(pid) for pid in after]
    if client is not None:
        client.close()
        cluster.close()
    if pool is not None:
        pool.shutdown()
    if trace:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return {"tracemalloc_peak_mib": peak / 2**20}
    extra["workers_cpu_seconds"] = sum(workers.values())
    extra["workers_peak_rss_mib"] = [p for p in worker_peaks if p is not None]
    return {
        "seconds": wall,
        "cpu_seconds": cpu + extra["workers_cpu_seconds"],
        "main_cpu_seconds": cpu,
        "baseline_maxrss_mib": baseline,
        "maxrss_mib": maxrss_mib(),
        "summary": result,
        **extra,
    }


def gammapy_subprocess(python: str, data: Path, case: str, *, trace: bool) -> dict:
    """One run of bench_reduce_gammapy.py's case in the Gammapy environment."""
    command = [python, str(HERE / "bench_reduce_gammapy.py"), "--data", str(data), "--one", case]
    if trace:
        command.append("--trace")
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"{command} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def in_subprocess(data: Path, case: str, mode: str, *, trace: bool) -> dict:
    command = [sys.executable, __file__, "--data", str(data), "--one", case, mode]
    if trace:
        command.append("--trace")
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"{command} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------------------
# Profile
# --------------------------------------------------------------------------------------


def profile(data: Path, top: int = 20) -> dict:
    """cProfile of make_map_dataset for one observation of each geometry (reading included).

    And of one stack_pair on the H.E.S.S. geometry.
    """
    import gammaxr as gx
    from gammaxr.reduce import make_map_dataset
    from gammaxr.stacking import stack_pair

    hess = gx.open_datastore(data / "hess-dl3-dr1")
    cta = gx.open_datastore(data / "cta-1dc" / "index" / "gps")
    crab = hess_geometry((83.633, 22.0145))
    pair = [make_map_dataset(hess.observation(i), crab) for i in CRAB_RUNS[:2]]
    jobs = {
        "stack_pair of two hess datasets (4 x 4 deg, 20 x 50 energy bins)": (
            lambda: stack_pair(*pair)
        ),
        "hess 23523 (4 x 4 deg, 20 x 50 energy bins)": (
            lambda: make_map_dataset(hess.observation(23523), crab)
        ),
        "a3d 110380 (10 x 8 deg, 10 x 10 energy bins)": (
            lambda: make_map_dataset(
                cta.observation(A3D_OBS_ID),
                a3d_geometry(),
                safe_mask=A3D_SAFE_MASK,
                background_integration="edges",
            )  # fmt: skip
        ),
    }
    out = {}
    for label, job in jobs.items():
        job()  # warm-up (imports, caches)
        profiler = cProfile.Profile()
        profiler.enable()
        job()
        profiler.disable()
        stream = io.StringIO()
        stats = pstats.Stats(profiler, stream=stream)
        stats.sort_stats("cumulative").print_stats(top)
        total = stats.total_tt
        stream_tt = io.StringIO()
        pstats.Stats(profiler, stream=stream_tt).sort_stats("tottime").print_stats(top)
        out[label] = {
            "seconds": total,
            "cumulative": _trim(stream.getvalue()),
            "tottime": _trim(stream_tt.getvalue()),
        }
        print(f"profile {label}: {total:.2f} s\n{_trim(stream_tt.getvalue())}", flush=True)
    return out


def _trim(text: str) -> str:
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
    prefix = str(Path(sys.prefix))
    return "\n".join(line.replace(prefix, "<venv>") for line in lines[start:] if line)


# --------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------


def environment() -> dict:
    import astropy
    import dask
    import numpy as np
    import pandas as pd
    import xarray as xr

    import gammaxr as gx

    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "load_average": list(os.getloadavg()),
        "versions": {
            "gammaxr": gx.__version__,
            "numpy": np.__version__,
            "pandas": pd.__version__,
            "xarray": xr.__version__,
            "astropy": astropy.__version__,
            "dask": dask.__version__,
        },
    }


def best(runs: list[dict], key: str) -> float:
    return min(run[key] for run in runs)


def compare_sums(ours: dict, theirs: dict) -> dict:
    """Relative differences of the stacked sums, gammaxr vs Gammapy."""
    import numpy as np

    out = {}
    for name in ("counts", "exposure", "background"):
        if name not in ours or name not in theirs:
            continue
        a, b = np.asarray(ours[name]["per_energy"]), np.asarray(theirs[name]["per_energy"])
        with np.errstate(invalid="ignore", divide="ignore"):
            per_bin = np.where(b != 0, np.abs(a - b) / np.abs(b), np.where(a == 0, 0.0, np.inf))
        out[name] = {
            "gammaxr": ours[name]["total"],
            "gammapy": theirs[name]["total"],
            "relative_difference_total": (ours[name]["total"] - theirs[name]["total"])
            / theirs[name]["total"],
            "max_relative_difference_per_energy": float(per_bin.max()),
        }
    out["counts_identical"] = bool(ours["counts"]["per_energy"] == theirs["counts"]["per_energy"])
    if "irf_samples" in ours and "irf_samples" in theirs:
        out["irfs"] = compare_irfs(ours["irf_samples"], theirs["irf_samples"])
    return out


def markdown(report: dict) -> str:
    sessions = report.get("environments", [report["environment"]])
    env = sessions[-1]
    when = "; ".join(
        f"{e['date']} (load average {', '.join(f'{x:.1f}' for x in e['load_average'])})"
        for e in sessions
    )
    lines = [
        "# Data reduction benchmark",
        "",
        f"Python {env['python']}, {env['cpu_count']} CPUs (a shared virtual machine: other jobs "
        "ran at the same time, so wall times vary, and CPU times somewhat too). Sessions: "
        f"{when}. Each figure is the best of {_repeats_text(report)} runs, each in a fresh "
        "process, the modes of a case (and Gammapy) taking turns; *per obs* is the wall time "
        "divided by the number of "
        "observations; *peak RSS* is the process high-water mark (`ru_maxrss`) with the value "
        "before the reduction (interpreter and imports) in brackets; *tracemalloc* is the peak "
        "of memory allocated during the reduction (a separate, untimed run).",
        "",
        "## (a) H.E.S.S. DL3 DR1: 4 x 4 deg at 0.02 deg, 20 reco x 50 true energy bins",
        "",
        "| case | runs | mode | wall | CPU | per obs | speed-up | peak RSS (before) "
        "| tracemalloc |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    cases = report["cases"]

    def row(case: str, mode: str) -> str:
        entry = cases[case][mode]
        runs = entry["runs"]
        n = runs[0]["summary"]["n_obs"]
        wall, cpu = best(runs, "seconds"), best(runs, "cpu_seconds")
        serial = best(cases[case]["serial"]["runs"], "seconds")
        speedup = f"{serial / wall:.2f}x" if not mode.startswith("serial") else ""
        return (
            f"| {case} | {n} | {mode} | {wall:.2f} s | {cpu:.2f} s | {wall / n * 1e3:.0f} ms | "
            f"{speedup} | {memory_text(entry)} | {trace_text(entry)} |"
        )

    for case in HESS_CASES:
        if case in cases:
            lines += [row(case, mode) for mode in MODES if mode in cases[case]]
    lines += [
        "",
        "*serial-nocache*: serial with the cache of parsed IRFs off (each observation reads and "
        "parses its IRFs; every H.E.S.S. run has its own, so the cache matters for the a3d cases, "
        "which reduce one run ten times); "
        "*processes*: Dask's multiprocessing scheduler on a started pool of 2 worker processes; "
        "*distributed*: a `LocalCluster` of 2 worker processes x 1 thread (start-up excluded: "
        + ", ".join(
            f"{run['startup_seconds']:.1f} s"
            for case in cases.values()
            for run in case.get("distributed", {}).get("runs", [])[:1]
        )
        + "). For both, CPU includes the workers' and peak RSS is the main process + each "
        "worker's high-water mark (VmHWM).",
    ]
    if "hess-all" in cases:
        fields = cases["hess-all"]["serial"]["runs"][0]["summary"]["n_fields"]
        lines += ["", f"`hess-all` is {fields} fields, reduced one after the other."]
    a3d = [case for case in A3D_CASES if case in cases]
    if a3d:
        lines += [
            "",
            "## (b) gammapy-benchmarks analysis_3d data reduction: CTA 1DC run 110380 x 10",
            "",
            "10 x 8 deg galactic at 0.05 deg (160 x 200 pixels), 10 reco = 10 true energy bins "
            "0.1-10 TeV, safe mask offset-max 4 deg, stacked; timed from opening the data "
            "store. gammaxr integrates the background from the bin edges (Gammapy's method).",
            "",
            "| case | tool | mode | wall | CPU | per obs | peak RSS (before) | tracemalloc |",
            "|---|---|---|---|---|---|---|---|",
        ]
        gammapy = report.get("gammapy", {}).get("cases", {})
        for case in a3d:
            for mode in MODES:
                if mode not in cases[case]:
                    continue
                entry = cases[case][mode]
                runs = entry["runs"]
                wall, cpu = best(runs, "seconds"), best(runs, "cpu_seconds")
                lines.append(
                    f"| {case} | gammaxr | {mode} | {wall:.2f} s | {cpu:.2f} s | "
                    f"{wall / A3D_N_OBS * 1e3:.0f} ms | {memory_text(entry)} | "
                    f"{trace_text(entry)} |"
                )
            base = A3D_GAMMAPY[case]
            for name in (base, f"{base}-parallel"):
                if name not in gammapy:
                    continue
                runs = gammapy[name]["runs"]
                wall, cpu = best(runs, "seconds"), best(runs, "cpu_seconds")
                rss = best(runs, "maxrss_mib")
                children = max(run["children_maxrss_mib"] for run in runs)
                rss_text = f"{rss:.0f} MiB ({runs[0]['baseline_maxrss_mib']:.0f})"
                if children:
                    rss_text += f", workers {children:.0f} MiB each"
                trace = gammapy[name].get("tracemalloc_peak_mib")
                mode = "serial" if name == base else "DatasetsMaker n_jobs=2"
                lines.append(
                    f"| {case} | Gammapy | {mode} | {wall:.2f} s | {cpu:.2f} s | "
                    f"{wall / A3D_N_OBS * 1e3:.0f} ms | {rss_text} | "
                    f"{'-' if trace is None else f'{trace:.0f} MiB'} |"
                )
        when = (
            "in the same session, interleaved with gammaxr's runs (same machine load)"
            if report.get("gammapy", {}).get("interleaved")
            else "by bench_reduce_gammapy.py in a separate session"
        )
        lines += [
            "",
            f"Gammapy 2.1 ran {when}. Gammapy's `full` (the public case: `MapDatasetMaker()`'s "
            "default selection) makes PSF and edisp *maps* on its 0.2 deg IRF grid (40 x 50 "
            "positions). `a3d-irfmaps` makes the same products in gammaxr (`psf_map`, "
            "`edisp_map` on the same grid): the like-for-like comparison with `full`. "
            "`a3d-full` is gammaxr's default (one PSF and one edisp at the geometry centre) "
            "against the same Gammapy run; `a3d-maps` compares counts, exposure, background "
            "and the safe mask only, in both tools. `DatasetsMaker(n_jobs=2)` reduces each "
            "observation on a cut-out of 2 x offset_max = 8 deg around its pointing (its "
            "default), which is less work than the serial loop.",
        ]
        ratios = report.get("ratios", {})
        if ratios:
            lines += [
                "",
                "Ratios gammaxr / Gammapy (below 1: gammaxr is faster or smaller):",
                "",
                "| case | wall serial | CPU serial | CPU serial, no IRF cache "
                "| wall threads / Gammapy serial "
                "| fastest gammaxr parallel mode / Gammapy n_jobs=2 (wall) "
                "| peak RSS − before, serial | tracemalloc, serial |",
                "|---|---|---|---|---|---|---|---|",
            ]
            for case, r in ratios.items():
                lines.append(
                    f"| {case} | {r['wall_serial']:.3f} | {r['cpu_serial']:.3f} | "
                    f"{_fmt(r.get('cpu_serial_nocache'))} | "
                    f"{r['wall_threads_vs_gammapy_serial']:.3f} | "
                    f"{_fmt(r.get('wall_fastest_parallel_vs_gammapy_parallel'))} | "
                    f"{_fmt(r.get('rss_increase_serial'))} | {_fmt(r.get('tracemalloc_serial'))} |"
                )
        checks = report.get("agreement", {})
        if checks:
            lines += ["", "Agreement of the stacked sums with Gammapy:", ""]
            for case, c in checks.items():
                parts = [f"counts identical per energy bin: {c['counts_identical']}"]
                parts += [
                    f"{name} {c[name]['gammaxr']:.6g} vs {c[name]['gammapy']:.6g} "
                    f"(total {c[name]['relative_difference_total']:+.1e}, per bin max "
                    f"{c[name]['max_relative_difference_per_energy']:.1e})"
                    for name in ("counts", "exposure", "background")
                    if name in c
                ]
                lines.append(f"- {case}: " + "; ".join(parts) + ".")
                if "irfs" in c:
                    lines += irf_lines(case, c["irfs"])
    if "profiles" in report:
        lines += ["", "## Profiles (cProfile; one observation, reading included; one stack)", ""]
        for label, prof in report["profiles"].items():
            top = [_short_path(line) for line in prof["cumulative"].splitlines()[:26]]
            lines += [f"{label}: {prof['seconds']:.2f} s under cProfile. Top, cumulative:", "",
                      "```", *top, "```", ""]  # fmt: skip
    return "\n".join(lines).rstrip() + "\n"


def irf_lines(case: str, irfs: dict) -> list[str]:
    """The PSF / edisp map comparison with Gammapy, as markdown."""
    energies = ", ".join(f"{e:.3g}" for e in irfs.get("energy_true", []))
    lines = [
        "",
        f"  {case}: stacked `psf_map` / `edisp_map` vs Gammapy's stacked `PSFMap` / "
        f"`EDispKernelMap` at coarse pixels (galactic lon, lat) and true energies "
        f"{energies} TeV: PSF 68 % / 95 % containment radius (deg, of the PSF integral "
        "within 0.66 deg), PSF integral over the rad axis, edisp bias "
        "(row-weighted mean ln(E_reco/E_true), as exp - 1; 10 reco bins) and row sum.",
        "",
        "  | position | tool | r68 | r95 | PSF integral | edisp bias | edisp row sum |",
        "  |---|---|---|---|---|---|---|",
    ]
    for i, position in enumerate(irfs.get("positions", [])):
        for tool in ("gammaxr", "gammapy"):
            f = irfs[tool]

            def cells(key, fmt, f=f, i=i):
                return " / ".join(format(v, fmt) for v in f[key][i])

            lines.append(
                f"  | ({position[0]}, {position[1]}) | {tool} | {cells('r68', '.3f')} | "
                f"{cells('r95', '.3f')} | {cells('norm', '.3f')} | {cells('bias', '+.3f')} | "
                f"{cells('edisp_sum', '.3f')} |"
            )
    lines += [
        "",
        "  Largest differences: r68 "
        f"{irfs['max_relative_difference_r68']:.1e} (relative), r95 "
        f"{irfs['max_relative_difference_r95']:.1e}, PSF integral "
        f"{irfs['max_relative_difference_norm']:.1e}, edisp bias "
        f"{irfs['max_abs_difference_bias']:.1e} (absolute), edisp kernel entries "
        f"{irfs['max_abs_difference_edisp_kernel']:.1e} (absolute).",
    ]
    return lines


def _repeats_text(report: dict) -> str:
    """How many timed runs each figure is the best of ("3", or "3 (a3d-maps serial: 5)")."""
    counts = {
        f"{case} {mode}": len(entry["runs"])
        for case, modes in report["cases"].items()
        for mode, entry in modes.items()
    }
    common = max(set(counts.values()), key=list(counts.values()).count)
    others = sorted({case: n for case, n in counts.items() if n != common}.items())
    if not others:
        return str(common)
    return f"{common} ({', '.join(f'{case}: {n}' for case, n in others)})"


def memory_text(entry: dict) -> str:
    """Peak RSS (baseline), plus the workers' peaks for the multi-process modes."""
    runs = entry["runs"]
    text = f"{best(runs, 'maxrss_mib'):.0f} MiB ({runs[0]['baseline_maxrss_mib']:.0f})"
    workers = runs[0].get("workers_peak_rss_mib") or []
    if workers:
        text += " + workers " + ", ".join(f"{w:.0f}" for w in workers) + " MiB"
    return text


def trace_text(entry: dict) -> str:
    trace = entry.get("tracemalloc_peak_mib")
    return "-" if trace is None else f"{trace:.0f} MiB"


def _short_path(line: str) -> str:
    """A profile line with paths shortened to src/gammaxr/..., <venv>/... and <python>/..."""
    line = re.sub(r"\S*/src/gammaxr/", "src/gammaxr/", line)
    line = re.sub(r"\S*/benchmarks/", "benchmarks/", line)
    line = re.sub(r"<venv>/lib/python3\.\d+/site-packages/", "", line)
    return re.sub(r"\S*/lib/python3\.\d+/", "<python>/", line)


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def ratios_to_gammapy(cases: dict, gammapy: dict) -> tuple[dict, dict]:
    ratios, agreement = {}, {}
    for case in A3D_CASES:
        name = A3D_GAMMAPY[case]
        if case not in cases or name not in gammapy:
            continue
        ours_serial = cases[case]["serial"]
        ours_threads = cases[case]["threads"]
        theirs = gammapy[name]
        r = {
            "wall_serial": best(ours_serial["runs"], "seconds") / best(theirs["runs"], "seconds"),
            "cpu_serial": best(ours_serial["runs"], "cpu_seconds")
            / best(theirs["runs"], "cpu_seconds"),
            "wall_threads_vs_gammapy_serial": best(ours_threads["runs"], "seconds")
            / best(theirs["runs"], "seconds"),
        }
        if "serial-nocache" in cases[case]:
            r["cpu_serial_nocache"] = best(
                cases[case]["serial-nocache"]["runs"], "cpu_seconds"
            ) / best(theirs["runs"], "cpu_seconds")
        parallel = gammapy.get(f"{name}-parallel")
        if parallel:
            fastest = min(
                best(cases[case][mode]["runs"], "seconds")
                for mode in ("threads", *MULTIPROCESS)
                if mode in cases[case]
            )
            r["wall_fastest_parallel_vs_gammapy_parallel"] = fastest / best(
                parallel["runs"], "seconds"
            )

        def increase(runs):
            return min(run["maxrss_mib"] - run["baseline_maxrss_mib"] for run in runs)

        r["rss_increase_serial"] = increase(ours_serial["runs"]) / increase(theirs["runs"])
        if "tracemalloc_peak_mib" in ours_serial and "tracemalloc_peak_mib" in theirs:
            r["tracemalloc_serial"] = (
                ours_serial["tracemalloc_peak_mib"] / theirs["tracemalloc_peak_mib"]
            )
        ratios[case] = r
        agreement[case] = compare_sums(ours_serial["runs"][0]["summary"], theirs["summary"])
    return ratios, agreement


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", help="folder holding hess-dl3-dr1 and cta-1dc")
    parser.add_argument("--repeat", type=int, default=2, help="timed runs per case and mode")
    parser.add_argument("--cases", nargs="*", default=list(CASES), choices=CASES)
    parser.add_argument("--modes", nargs="*", default=list(DEFAULT_MODES), choices=MODES)
    parser.add_argument(
        "--update", action="store_true", help="replace these cases and modes in reduce.json"
    )
    parser.add_argument(
        "--gammapy-python",
        help="Python of the Gammapy environment: run bench_reduce_gammapy.py's cases "
        "interleaved with the a3d cases (else read results/reduce_gammapy.json)",
    )
    parser.add_argument("--no-trace", action="store_true", help="skip the tracemalloc runs")
    parser.add_argument("--profile", action="store_true", help="add cProfile top entries")
    parser.add_argument(
        "--render", action="store_true", help="only rewrite reduce.md from reduce.json"
    )
    parser.add_argument("--one", nargs=2, metavar=("CASE", "MODE"), help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.render:
        text = markdown(json.loads((RESULTS / "reduce.json").read_text()))
        (RESULTS / "reduce.md").write_text(text)
        print(text)
        return
    data = find_data(args.data)
    if args.one:
        case, mode = args.one
        print(json.dumps(one_run(data, case, mode, args.trace)))
        return
    previous = RESULTS / "reduce.json"
    if args.update and previous.is_file():
        report = json.loads(previous.read_text())
        report.setdefault("environments", [report["environment"]]).append(environment())
        report["environment"] = report["environments"][-1]
    else:
        report = {"data": str(data), "environment": environment(), "cases": {}}
    report["repeat"] = args.repeat
    gammapy_runs: dict = {}
    for case in args.cases:
        entries = report["cases"].setdefault(case, {})
        runs: dict[str, list] = {mode: [] for mode in args.modes}
        # Repeats outermost, so that every mode (and Gammapy) sees the same load over time.
        for _ in range(args.repeat):
            for mode in args.modes:
                runs[mode].append(in_subprocess(data, case, mode, trace=False))
                print(f"{case} {mode}: {runs[mode][-1]['seconds']:.2f} s wall, "
                      f"{runs[mode][-1]['cpu_seconds']:.2f} s CPU, "
                      f"{runs[mode][-1]['maxrss_mib']:.0f} MiB", flush=True)  # fmt: skip
            if args.gammapy_python and case in A3D_CASES:
                base = A3D_GAMMAPY[case]
                for name in (base, f"{base}-parallel"):
                    if name in GAMMAPY_CASES:
                        run = gammapy_subprocess(args.gammapy_python, data, name, trace=False)
                        gammapy_runs.setdefault(name, []).append(run)
                        print(f"gammapy {name}: {run['seconds']:.2f} s wall, "
                              f"{run['cpu_seconds']:.2f} s CPU", flush=True)  # fmt: skip
        for mode, mode_runs in runs.items():
            if mode_runs[0]["summary"] != mode_runs[-1]["summary"]:
                raise RuntimeError(f"{case} {mode}: repeated runs differ")
            entry = {"runs": mode_runs}
            if not args.no_trace and mode not in MULTIPROCESS:
                entry.update(in_subprocess(data, case, mode, trace=True))
            entries[mode] = entry
        sums = {mode: entry["runs"][0]["summary"] for mode, entry in entries.items()}
        differ = [mode for mode in sums if sums[mode] != next(iter(sums.values()))]
        if differ:
            raise RuntimeError(f"{case}: the stacked sums of {list(sums)} differ ({differ})")
    if gammapy_runs:
        # Gammapy run interleaved with gammaxr: these replace results/reduce_gammapy.json
        # (with --update, only the Gammapy cases run now are replaced).
        gammapy = {"interleaved": True, "cases": {}}
        if args.update and report.get("gammapy", {}).get("interleaved"):
            gammapy["cases"] = dict(report["gammapy"]["cases"])
        for name, name_runs in gammapy_runs.items():
            entry = {"runs": name_runs, "summary": name_runs[0]["summary"]}
            if not args.no_trace:
                entry.update(gammapy_subprocess(args.gammapy_python, data, name, trace=True))
            gammapy["cases"][name] = entry
        report["gammapy"] = gammapy
    reference = RESULTS / "reduce_gammapy.json"
    if "gammapy" not in report and reference.is_file():
        report["gammapy"] = json.loads(reference.read_text())
    if "gammapy" in report:
        report["ratios"], report["agreement"] = ratios_to_gammapy(
            report["cases"], report["gammapy"]["cases"]
        )
    if args.profile:
        report["profiles"] = profile(data)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "reduce.json").write_text(json.dumps(report, indent=2) + "\n")
    text = markdown(report)
    (RESULTS / "reduce.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
