"""DL3 benchmark on the full H.E.S.S. DL3 DR1 release (105 runs).

Times
  (a) opening the data store (index tables only),
  (b) reading every run's events, GTI, pointing and four IRFs (aeff, edisp, psf, bkg),
  (c) binning every run's events onto a 3D geometry around its pointing
      (0.5-50 TeV at 10 bins per decade x 4 x 4 deg at 0.02 deg), and all the events
      of the four Crab runs onto one common Crab geometry,
then measures peak memory: the process high-water mark (``ru_maxrss``) and, in a
second pass under ``tracemalloc``, the peak of each stage.

Run by hand from the repository root::

    python benchmarks/bench_dl3.py [--data PATH] [--no-trace] [--output DIR]

``--data`` is the folder holding ``hess-dl3-dr1`` (or that folder itself); the
default is ``$GAMMAXR_DATA``, else ``../shared/data``. Results go to
``benchmarks/results/dl3.json`` and ``dl3.md``.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import platform
import resource
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import astropy
import numpy as np
import pandas as pd
import xarray as xr
from astropy.coordinates import SkyCoord

import gammaxr as gx

HERE = Path(__file__).resolve().parent
IRFS = ("aeff", "edisp", "psf", "bkg")
CRAB = SkyCoord(83.633333, 22.014444, unit="deg", frame="icrs")
ENERGY = {"e_min": 0.5, "e_max": 50.0, "per_decade": 10}
RUN_GEOM = {"width": 4.0, "binsz": 0.02}
CRAB_GEOM = {"width": 6.0, "binsz": 0.02}


def find_store(path: str | None) -> Path:
    """The hess-dl3-dr1 folder from --data, $GAMMAXR_DATA or ../shared/data."""
    default = [os.environ.get("GAMMAXR_DATA"), HERE.parents[1] / "shared" / "data"]
    candidates = [path] if path else default
    for candidate in candidates:
        if not candidate:
            continue
        folder = Path(candidate).expanduser().resolve()
        for store in (folder, folder / "hess-dl3-dr1"):
            if (store / "obs-index.fits.gz").is_file() or (store / "obs-index.fits").is_file():
                return store
    sys.exit(f"no H.E.S.S. DL3 DR1 data store found in {candidates}; give --data PATH")


def maxrss_mib() -> float:
    """Process peak resident memory so far, MiB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    value = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return value / 2**20 if sys.platform == "darwin" else value / 2**10


def run_geometry(pointing) -> xr.Dataset:
    return gx.make_geom(
        gx.energy_axis(ENERGY["e_min"], ENERGY["e_max"], per_decade=ENERGY["per_decade"]),
        sky=gx.sky_grid(pointing.radec, **RUN_GEOM),
    )


def crab_geometry() -> xr.Dataset:
    return gx.make_geom(
        gx.energy_axis(ENERGY["e_min"], ENERGY["e_max"], per_decade=ENERGY["per_decade"]),
        sky=gx.sky_grid(CRAB, **CRAB_GEOM),
    )


def stage_open(path: Path, repeat: int = 5) -> tuple[gx.DataStore, dict]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        store = gx.open_datastore(path)
        times.append(time.perf_counter() - start)
    return store, {
        "seconds_first": times[0],
        "seconds_median": statistics.median(times),
        "repeat": repeat,
        "n_runs": len(store.obs_ids),
        "n_hdus": len(store.hdu_table),
    }


def stage_load(store: gx.DataStore) -> tuple[list, dict]:
    products = ("events", "gti", "pointing", *IRFS)
    seconds = dict.fromkeys(products, 0.0)
    per_run = []
    observations = store.observations()
    wall, cpu = time.perf_counter(), time.process_time()
    for obs in observations:
        run_start = time.perf_counter()
        for name in products:
            start = time.perf_counter()
            getattr(obs, name)
            seconds[name] += time.perf_counter() - start
        per_run.append(time.perf_counter() - run_start)
    total, total_cpu = time.perf_counter() - wall, time.process_time() - cpu
    n_events = sum(len(obs.events) for obs in observations)
    expected = int(store.obs_table["event_count"].sum())
    if n_events != expected:
        raise RuntimeError(f"read {n_events} events, the index says {expected}")
    events_bytes = sum(int(obs.events.memory_usage(deep=True).sum()) for obs in observations)
    irf_bytes = sum(getattr(obs, name).nbytes for obs in observations for name in IRFS)
    return observations, {
        "seconds": total,
        "cpu_seconds": total_cpu,
        "per_run_mean": total / len(observations),
        "per_run_max": max(per_run),
        "seconds_by_product": seconds,
        "per_run_mean_by_product": {k: v / len(observations) for k, v in seconds.items()},
        "n_runs": len(observations),
        "n_events": n_events,
        "events_mib": events_bytes / 2**20,
        "irfs_mib": irf_bytes / 2**20,
    }


def stage_bin(store: gx.DataStore, observations: list) -> dict:
    # (c1) every run onto a cube around its own pointing.
    geom_seconds = bin_seconds = 0.0
    counted = 0
    shape = None
    cpu = time.process_time()
    for obs in observations:
        start = time.perf_counter()
        geom = run_geometry(obs.pointing)
        middle = time.perf_counter()
        counts = gx.bin_events(obs.events, geom)
        end = time.perf_counter()
        geom_seconds += middle - start
        bin_seconds += end - middle
        counted += int(counts.sum())
        shape = counts.shape
    cpu = time.process_time() - cpu
    n_events = sum(len(obs.events) for obs in observations)
    per_run = {
        "seconds": geom_seconds + bin_seconds,
        "cpu_seconds": cpu,
        "geometry_seconds": geom_seconds,
        "bin_seconds": bin_seconds,
        "per_run_mean": (geom_seconds + bin_seconds) / len(observations),
        "events_per_second": n_events / bin_seconds,
        "n_events": n_events,
        "n_counted": counted,
        "shape": list(shape),
        "n_bins": int(np.prod(shape)),
    }
    # (c2) the four Crab runs onto one common geometry, as one event table.
    crab_ids = store.select_cone(CRAB, 2.0).obs_ids
    crab_runs = [obs for obs in observations if obs.obs_id in crab_ids]
    start = time.perf_counter()
    geom = crab_geometry()
    events = pd.concat(
        [obs.events.assign(obs_id=obs.obs_id) for obs in crab_runs], ignore_index=True
    )
    counts = gx.bin_events(events, geom)
    seconds = time.perf_counter() - start
    stacked = sum(gx.bin_events(obs.events, geom) for obs in crab_runs)
    if not np.array_equal(counts.values, stacked.values):
        raise RuntimeError("binning the joined Crab events differs from stacking the runs")
    crab = {
        "seconds": seconds,
        "obs_ids": crab_ids,
        "n_events": len(events),
        "n_counted": int(counts.sum()),
        "shape": list(counts.shape),
        "n_bins": int(counts.size),
    }
    return {"per_run": per_run, "crab": crab}


def run(path: Path, *, trace: bool) -> dict:
    results: dict = {"stages": {}, "maxrss_mib_after": {}}
    gc.collect()
    results["maxrss_mib_after"]["import"] = maxrss_mib()
    store, results["stages"]["open"] = stage_open(path)
    results["maxrss_mib_after"]["open"] = maxrss_mib()
    observations, results["stages"]["load"] = stage_load(store)
    results["maxrss_mib_after"]["load"] = maxrss_mib()
    results["stages"]["bin"] = stage_bin(store, observations)
    results["maxrss_mib_after"]["bin"] = maxrss_mib()
    del observations
    if trace:
        # A second pass on fresh objects: tracemalloc slows Python, so it is not timed.
        gc.collect()
        tracemalloc.start()
        store = gx.open_datastore(path)
        _, open_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        observations = store.observations()
        for obs in observations:
            _ = obs.events, obs.gti, obs.pointing, *(getattr(obs, name) for name in IRFS)
        load_current, load_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        stage_bin(store, observations)
        _, bin_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        results["tracemalloc_mib"] = {
            "open_peak": open_peak / 2**20,
            "load_peak": load_peak / 2**20,
            "held_after_load": load_current / 2**20,
            "bin_peak": bin_peak / 2**20,
        }
    return results


def environment() -> dict:
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "versions": {
            "gammaxr": gx.__version__,
            "numpy": np.__version__,
            "pandas": pd.__version__,
            "xarray": xr.__version__,
            "astropy": astropy.__version__,
        },
    }


def markdown(report: dict) -> str:
    stages = report["stages"]
    opened, load, binned = stages["open"], stages["load"], stages["bin"]
    per_run, crab = binned["per_run"], binned["crab"]
    env = report["environment"]
    lines = [
        "# DL3 benchmark: H.E.S.S. DL3 DR1",
        "",
        f"{env['date']}, Python {env['python']}, {env['cpu_count']} CPUs, load average "
        f"{', '.join(f'{x:.1f}' for x in env['load_average'] or [])} at start; "
        f"data `{report['data']}`.",
        "",
        "| stage | total | per run (mean) |",
        "|---|---|---|",
        f"| (a) open the store ({opened['n_runs']} runs, {opened['n_hdus']} HDUs) | "
        f"{opened['seconds_median'] * 1e3:.0f} ms (median of {opened['repeat']}) | |",
        f"| (b) read events + GTI + pointing + aeff, edisp, psf, bkg "
        f"({load['n_events']:,} events) | {load['seconds']:.1f} s "
        f"({load['cpu_seconds']:.1f} s CPU) | {load['per_run_mean'] * 1e3:.0f} ms |",
        f"| (c1) bin each run on {' x '.join(map(str, per_run['shape']))} around its pointing | "
        f"{per_run['seconds']:.2f} s ({per_run['cpu_seconds']:.2f} s CPU) | "
        f"{per_run['per_run_mean'] * 1e3:.1f} ms |",
        f"| (c2) bin the {len(crab['obs_ids'])} Crab runs ({crab['n_events']:,} events) on one "
        f"{' x '.join(map(str, crab['shape']))} geometry | {crab['seconds'] * 1e3:.0f} ms | |",
        "",
        "Reading, per run (mean): "
        + ", ".join(f"{k} {v * 1e3:.0f} ms" for k, v in load["per_run_mean_by_product"].items())
        + ".",
        f"Binning: {per_run['events_per_second'] / 1e6:.2f} M events/s "
        f"({per_run['n_counted']:,} of {per_run['n_events']:,} events inside the run cubes; "
        f"geometry building {per_run['geometry_seconds']:.2f} s of the total).",
        f"Data held after (b): events {load['events_mib']:.0f} MiB, "
        f"IRFs {load['irfs_mib']:.0f} MiB.",
        "",
        "Peak memory: process high-water mark (ru_maxrss) after each stage: "
        + ", ".join(f"{k} {v:.0f} MiB" for k, v in report["maxrss_mib_after"].items())
        + ".",
    ]
    if "tracemalloc_mib" in report:
        t = report["tracemalloc_mib"]
        lines.append(
            f"tracemalloc (second, untimed pass): peak while reading {t['load_peak']:.0f} MiB, "
            f"held after reading {t['held_after_load']:.0f} MiB, peak while binning "
            f"{t['bin_peak']:.0f} MiB."
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", help="folder holding hess-dl3-dr1 (or that folder itself)")
    parser.add_argument("--no-trace", action="store_true", help="skip the tracemalloc pass")
    parser.add_argument("--output", default=str(HERE / "results"), help="results folder")
    args = parser.parse_args(argv)
    path = find_store(args.data)
    report = {"data": str(path), "environment": environment()}
    report.update(run(path, trace=not args.no_trace))
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    (output / "dl3.json").write_text(json.dumps(report, indent=2) + "\n")
    text = markdown(report)
    (output / "dl3.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
