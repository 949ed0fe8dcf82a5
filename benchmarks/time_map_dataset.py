"""Time gammaxr's map dataset for one run, next to Gammapy's (compare_gammapy_map.py --timing).

Geometry: 4 x 4 deg at 0.02 deg around the Crab (200 x 200 pixels), reco energy
0.5-50 TeV with 10 bins per decade, true energy 0.3-100 TeV with 8 per decade;
all five safe-mask methods. The HDUs are read once before timing, so the
numbers are the reduction only. Run::

    /work/gp-venv/bin/python benchmarks/compare_gammapy_map.py --timing
    python benchmarks/time_map_dataset.py
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import gammaxr as gx
from gammaxr.reduce import SAFE_MASK_METHODS, make_map_dataset

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--obs-id", type=int, default=23523)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    observation = gx.open_datastore().observation(args.obs_id)
    for name in ("aeff", "edisp", "psf", "bkg", "events"):
        getattr(observation, name)
    geom = gx.make_geom(
        gx.energy_axis(0.5, 50, per_decade=10),
        gx.energy_axis(0.3, 100, per_decade=8, name="energy_true"),
        sky=gx.sky_grid((83.633, 22.014), width=4, binsz=0.02),
    )
    runs = {
        "all": {"safe_mask": list(SAFE_MASK_METHODS)},
        "counts+exposure+background": {"products": ("counts", "exposure", "background")},
    }
    results = {}
    for label, kwargs in runs.items():
        make_map_dataset(observation, geom, **kwargs)  # warm-up
        times, cpu = [], []
        for _ in range(args.repeat):
            start, start_cpu = time.perf_counter(), time.process_time()
            make_map_dataset(observation, geom, **kwargs)
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
        results[label] = {
            "min": min(times),
            "median": float(np.median(times)),
            "cpu_min": min(cpu),
            "all": times,
        }
        print(
            f"gammaxr {label}: wall min {min(times):.3f} s, median {np.median(times):.3f} s; "
            f"CPU min {min(cpu):.3f} s"
        )
    path = RESULTS / f"gammaxr_timing_{args.obs_id}.json"
    RESULTS.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"times": results}, indent=2))
    reference = RESULTS / f"gammapy_timing_{args.obs_id}.json"
    if reference.is_file():
        gammapy = json.loads(reference.read_text())["times"]
        for label, numbers in results.items():
            if label in gammapy:
                ratio = gammapy[label]["min"] / numbers["min"]
                ratio_cpu = gammapy[label]["cpu_min"] / numbers["cpu_min"]
                print(f"{label}: Gammapy / gammaxr = {ratio:.1f} (wall), {ratio_cpu:.1f} (CPU)")


if __name__ == "__main__":
    main()
