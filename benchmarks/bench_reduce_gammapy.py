"""Gammapy's side of ``bench_reduce.py``: the data reduction of gammapy-benchmarks' analysis_3d.

Run with the Gammapy environment (it does not import gammaxr)::

    /work/gp-venv/bin/python benchmarks/bench_reduce_gammapy.py [--data PATH] [--repeat 2]

The case is ``data_prep()`` of gammapy/gammapy-benchmarks ``benchmarks/analysis_3d.py``:
CTA 1DC run 110380 (``cta-1dc/index/gps``) read and reduced TEN times and stacked
into one ``MapDataset`` on a 10 x 8 deg galactic CAR grid at 0.05 deg centred on
(0, 0), with 10 log reco-energy bins from 0.1 to 10 TeV (the true-energy axis is
the same axis, ``MapDataset.create``'s default), ``MapDatasetMaker()`` (all
products: counts, exposure, background, a PSF map and an edisp kernel map on
Gammapy's 0.2 deg IRF grid) and ``SafeMaskMaker(methods=["offset-max"],
offset_max="4 deg")``. The benchmark uses no FoVBackgroundMaker. Variants:

``full``
    The benchmark as it is (timed from opening the data store to the stacked dataset).
``maps``
    ``MapDatasetMaker(selection=["counts", "exposure", "background"])``: the products
    that gammaxr makes per pixel too (gammaxr makes one PSF and one edisp, at the
    geometry centre, not maps; see ``bench_reduce.py``).
``full-parallel``
    ``DatasetsMaker([maker, safe_mask_maker], stack_datasets=True, n_jobs=2)``, Gammapy's
    own parallel reduction (multiprocessing), for the parallel comparison.

Each case runs ``--repeat`` times, each time in a fresh subprocess: wall time,
CPU time (the process and its children) and the peak resident memory
(``ru_maxrss``; the largest child's for ``full-parallel``), then once more under
``tracemalloc`` (untimed) for the peak of Python-allocated memory. The stacked
sums (counts, exposure, background, per energy bin) are recorded for the
comparison with gammaxr. Writes ``benchmarks/results/reduce_gammapy.json``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import subprocess
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
OBS_ID = 110380
N_OBS = 10
CASES = ("full", "maps", "full-parallel")


def find_data(path: str | None) -> Path:
    """The folder holding cta-1dc, from --data, $GAMMAXR_DATA or ../shared/data."""
    default = [os.environ.get("GAMMAXR_DATA"), HERE.parents[1] / "shared" / "data"]
    candidates = [path] if path else default
    for candidate in candidates:
        if candidate and (Path(candidate) / "cta-1dc" / "index" / "gps").is_dir():
            return Path(candidate).resolve()
    sys.exit(f"no cta-1dc data found in {candidates}; give --data PATH")


def maxrss_mib(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 2**10


def cpu_seconds() -> float:
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def data_prep(data: Path, case: str):
    """analysis_3d.data_prep(), up to the stacked dataset (no model)."""
    import numpy as np
    from gammapy.data import DataStore
    from gammapy.datasets import MapDataset
    from gammapy.makers import DatasetsMaker, MapDatasetMaker, SafeMaskMaker
    from gammapy.maps import MapAxis, WcsGeom

    data_store = DataStore.from_dir(data / "cta-1dc" / "index" / "gps")
    observations = data_store.get_observations(OBS_ID * np.ones(N_OBS))
    energy_axis = MapAxis.from_bounds(0.1, 10, nbin=10, unit="TeV", name="energy", interp="log")
    geom = WcsGeom.create(
        skydir=(0, 0), binsz=0.05, width=(10, 8), frame="galactic", proj="CAR", axes=[energy_axis]
    )
    stacked = MapDataset.create(geom, name="stacked_ds")
    selection = ["counts", "exposure", "background"] if case == "maps" else None
    maker = MapDatasetMaker(selection=selection)
    safe_mask_maker = SafeMaskMaker(methods=["offset-max"], offset_max="4 deg")
    if case == "full-parallel":
        makers = DatasetsMaker(
            [maker, safe_mask_maker],
            stack_datasets=True,
            n_jobs=2,
            parallel_backend="multiprocessing",
        )
        return makers.run(stacked, observations)[0]
    for obs in observations:
        dataset = maker.run(stacked, obs)
        dataset = safe_mask_maker.run(dataset, obs)
        stacked.stack(dataset)
    return stacked


def summary(stacked) -> dict:
    """Sums of the stacked maps, per energy bin and in total."""
    import numpy as np

    out = {}
    for name in ("counts", "exposure", "background"):
        m = getattr(stacked, name)
        if m is None:
            continue
        data = np.asarray(m.data, dtype=np.float64)
        out[name] = {"total": float(data.sum()), "per_energy": data.sum(axis=(1, 2)).tolist()}
    out["mask_safe_pixels"] = int(np.asarray(stacked.mask_safe.data).sum())
    out["livetime_s"] = float(stacked.gti.time_sum.to_value("s"))
    if stacked.psf is not None and stacked.edisp is not None:
        out["irf_samples"] = irf_samples(stacked)
    return out


def irf_samples(stacked) -> dict:
    """The stacked PSF map and edisp kernel map at bench_reduce.py's sample positions.

    The same layout as ``bench_reduce.irf_samples`` (values at the nearest IRF-map
    pixel, PSF in sr-1 over the rad bins, kernel rows over the reco-energy bins).
    """
    import numpy as np
    from astropy.coordinates import SkyCoord
    from bench_reduce import IRF_ENERGY_INDICES, IRF_POSITIONS

    psf_map, edisp_map = stacked.psf.psf_map, stacked.edisp.edisp_map
    rad, energy_true = psf_map.geom.axes["rad"], psf_map.geom.axes["energy_true"]
    energy = edisp_map.geom.axes["energy"]
    psf_data = psf_map.quantity.to_value("sr-1")  # (energy_true, rad, lat, lon)
    kernel = np.asarray(edisp_map.data)  # (energy_true, energy, lat, lon)
    assert psf_data.shape[:2] == (energy_true.nbin, rad.nbin), psf_data.shape
    assert kernel.shape[:2] == (energy_true.nbin, energy.nbin), kernel.shape
    psf, edisp = [], []
    for lon, lat in IRF_POSITIONS:
        position = SkyCoord(lon, lat, unit="deg", frame="galactic")
        ix, iy = (int(np.squeeze(i)) for i in psf_map.geom.to_image().coord_to_idx(position))
        jx, jy = (int(np.squeeze(i)) for i in edisp_map.geom.to_image().coord_to_idx(position))
        psf.append([psf_data[i, :, iy, ix].astype(float).tolist() for i in IRF_ENERGY_INDICES])
        edisp.append([kernel[i, :, jy, jx].astype(float).tolist() for i in IRF_ENERGY_INDICES])
    return {
        "positions": [list(p) for p in IRF_POSITIONS],
        "energy_true": [float(energy_true.center[i].to_value("TeV")) for i in IRF_ENERGY_INDICES],
        "rad_edges": rad.edges.to_value("deg").tolist(),
        "energy_edges": energy.edges.to_value("TeV").tolist(),
        "psf": psf,
        "edisp": edisp,
    }


def one_run(data: Path, case: str, trace: bool) -> dict:
    warnings.simplefilter("ignore")
    import gammapy  # noqa: F401  (imports outside the timing)
    import gammapy.datasets  # noqa: F401
    import gammapy.makers  # noqa: F401

    baseline = maxrss_mib()
    if trace:
        tracemalloc.start()
    wall, cpu = time.perf_counter(), cpu_seconds()
    stacked = data_prep(data, case)
    wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
    result = {"seconds": wall, "cpu_seconds": cpu, "baseline_maxrss_mib": baseline}
    if trace:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        result = {"tracemalloc_peak_mib": peak / 2**20}
    else:
        result["maxrss_mib"] = maxrss_mib()
        result["children_maxrss_mib"] = maxrss_mib(resource.RUSAGE_CHILDREN)
        result["summary"] = summary(stacked)
    return result


def in_subprocess(data: Path, case: str, trace: bool) -> dict:
    command = [sys.executable, __file__, "--data", str(data), "--one", case]
    if trace:
        command.append("--trace")
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"{command} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def environment() -> dict:
    import astropy
    import gammapy
    import numpy as np

    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "load_average": list(os.getloadavg()),
        "versions": {
            "gammapy": gammapy.__version__,
            "numpy": np.__version__,
            "astropy": astropy.__version__,
        },  # fmt: skip
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", help="folder holding cta-1dc ($GAMMAXR_DATA, ../shared/data)")
    parser.add_argument("--repeat", type=int, default=2, help="timed runs per case (default 2)")
    parser.add_argument("--cases", nargs="*", default=list(CASES), choices=CASES)
    parser.add_argument("--no-trace", action="store_true", help="skip the tracemalloc runs")
    parser.add_argument("--one", choices=CASES, help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    data = find_data(args.data)
    if args.one:
        print(json.dumps(one_run(data, args.one, args.trace)))
        return
    report = {"data": str(data), "environment": environment(), "n_obs": N_OBS,
              "obs_id": OBS_ID, "cases": {}}  # fmt: skip
    for case in args.cases:
        runs = []
        for _ in range(args.repeat):
            runs.append(in_subprocess(data, case, trace=False))
            print(f"gammapy {case}: {runs[-1]['seconds']:.2f} s wall, "
                  f"{runs[-1]['cpu_seconds']:.2f} s CPU, {runs[-1]['maxrss_mib']:.0f} MiB",
                  flush=True)  # fmt: skip
        entry = {"runs": runs, "summary": runs[0]["summary"]}
        if not args.no_trace:
            entry.update(in_subprocess(data, case, trace=True))
        report["cases"][case] = entry
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "reduce_gammapy.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS / 'reduce_gammapy.json'}")


if __name__ == "__main__":
    main()
