"""Light curves of the four shipped Crab runs: gammaxr against Gammapy's LightCurveEstimator.

Run with the Gammapy environment; the gammaxr side runs in a subprocess with the
gammaxr environment (this file again, ``--side gammaxr``)::

    /work/gp-venv/bin/python benchmarks/gammapy_lightcurve.py \\
        [--gammaxr-python /work/venv/bin/python] [--repeat 2]

Both tools do the same 1D analysis of H.E.S.S. DL3 DR1 runs 23523, 23526, 23559
and 23592 (shipped with gammaxr): on region a 0.11 deg circle on the Crab,
reflected off regions (default options), reco energy 0.5-50 TeV at 5 bins per
decade, true energy 0.3-100 TeV in 25 bins, containment correction, the
``aeff-default`` safe mask. The light curve is the norm of one fixed reference
model (a power law, index 2.6, amplitude 4e-11 cm-2 s-1 TeV-1 at 1 TeV) in one
energy bin, 1.256-12.56 TeV (edges of the reco axis), with asymmetric errors and
2 sigma upper limits. Two cases:

``per-run``
    one time bin per run (Gammapy: ``LightCurveEstimator`` without
    ``time_intervals`` on the four on-off datasets; gammaxr: ``light_curve`` of the
    joint on-off dataset);
``10-min``
    a regular grid of 10-minute bins from the start of the first run to the end of
    the last: the runs are cut at the bin edges, each piece is reduced, and the
    light curve has one point per bin holding data (Gammapy:
    ``Observations.select_time`` then ``LightCurveEstimator(time_intervals=...)``;
    gammaxr: ``reduce_time_bins`` then ``light_curve``).

Times are wall-clock seconds, the best of ``--repeat`` runs, split into the
reduction (from opening the data store to the datasets) and the light-curve
estimation. Writes ``benchmarks/results/lightcurve.json`` and ``lightcurve.md``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DATA = HERE.parent / "src" / "gammaxr" / "datasets" / "hess-dl3-dr1-crab"
OBS_IDS = [23523, 23526, 23559, 23592]
CRAB = (83.633, 22.014)
ON_RADIUS = 0.11  # deg
INDEX, AMPLITUDE = 2.6, 4e-11  # cm-2 s-1 TeV-1 at 1 TeV
E_MIN, E_MAX = 0.5 * 10**0.4, 0.5 * 10**1.4  # TeV: edges 2 and 7 of the reco axis
# The H.E.S.S. DL3 DR1 time reference (MJDREFI + MJDREFF), TT; runs' GTI (s).
MJDREF = 51910.000742870370
FIRST_START, LAST_STOP = 123890826.0, 124237322.0
BIN = 600.0  # s
COLUMNS = ("norm", "norm_err", "norm_errn", "norm_errp", "norm_ul", "ts", "counts", "npred_excess")


def ten_minute_edges() -> list[float]:
    """MJD (TT) edges of 10-minute bins from the first run's start past the last run's stop."""
    n_bins = int(np.ceil((LAST_STOP - FIRST_START) / BIN))
    seconds = FIRST_START + BIN * np.arange(n_bins + 1)
    return (MJDREF + seconds / 86400.0).tolist()


# --------------------------------------------------------------------------------------
# gammaxr (run with the gammaxr environment)
# --------------------------------------------------------------------------------------


def run_gammaxr(case: str) -> dict:
    import functools

    import astropy.units as u
    from astropy.coordinates import SkyCoord
    from regions import CircleSkyRegion

    import gammaxr as gx
    from gammaxr.estimators import light_curve, reduce_time_bins
    from gammaxr.models import Models, PowerLawSpectralModel, SkyModel
    from gammaxr.reduce import make_on_off_spectrum

    t0 = time.perf_counter()
    store = gx.open_datastore(DATA)
    region = CircleSkyRegion(SkyCoord(*CRAB, unit="deg"), ON_RADIUS * u.deg)
    geom = gx.make_geom(
        gx.energy_axis(0.5, 50, per_decade=5),
        gx.energy_axis(0.3, 100, nbin=25, name="energy_true"),
    )
    observations = store.observations(OBS_IDS)
    if case == "per-run":
        data = gx.concat_observations(
            [make_on_off_spectrum(o, region, geom) for o in observations]
        )
    elif case == "10-min":
        reduce = functools.partial(make_on_off_spectrum, on_region=region, geom=geom)
        data = reduce_time_bins(observations, ten_minute_edges(), reduce)
    else:
        raise ValueError(case)
    t1 = time.perf_counter()
    models = Models(
        [SkyModel(PowerLawSpectralModel(index=INDEX, amplitude=AMPLITUDE), name="crab")]
    )
    curve = light_curve(data, models, "crab", [E_MIN, E_MAX])
    t2 = time.perf_counter()
    out = {name: curve[name].values[:, 0].tolist() for name in COLUMNS}
    out["ref_flux"] = curve["ref_flux"].values[:, 0].tolist()
    # number of off regions (1 / alpha) at 1.26 TeV, per bin
    n_off = data["acceptance_off"] / data["acceptance"]
    out["n_off"] = n_off.isel(energy=2).values.ravel().tolist()
    out["time_min"] = curve["time_lo"].values.tolist()
    out["time_max"] = curve["time_hi"].values.tolist()
    out["energy"] = [float(curve.energy_lo[0]), float(curve.energy_hi[0])]
    out["t_reduce"], out["t_estimate"] = t1 - t0, t2 - t1
    out["version"] = gx.__version__
    return out


# --------------------------------------------------------------------------------------
# Gammapy (run with the Gammapy environment)
# --------------------------------------------------------------------------------------


def run_gammapy(case: str) -> dict:
    import logging

    import astropy.units as u
    from astropy.coordinates import SkyCoord
    from astropy.time import Time
    from gammapy import __version__
    from gammapy.data import DataStore
    from gammapy.datasets import Datasets, SpectrumDataset
    from gammapy.estimators import LightCurveEstimator
    from gammapy.makers import (
        ReflectedRegionsBackgroundMaker,
        SafeMaskMaker,
        SpectrumDatasetMaker,
    )
    from gammapy.maps import MapAxis, RegionGeom
    from gammapy.modeling.models import PowerLawSpectralModel, SkyModel
    from regions import CircleSkyRegion

    logging.getLogger("gammapy").setLevel(logging.ERROR)
    t0 = time.perf_counter()
    store = DataStore.from_dir(DATA)
    observations = store.get_observations(OBS_IDS)
    energy = MapAxis.from_energy_bounds(0.5, 50, nbin=10, unit="TeV")
    energy_true = MapAxis.from_energy_bounds(0.3, 100, nbin=25, unit="TeV", name="energy_true")
    region = CircleSkyRegion(SkyCoord(*CRAB, unit="deg"), ON_RADIUS * u.deg)
    empty = SpectrumDataset.create(
        geom=RegionGeom.create(region=region, axes=[energy]), energy_axis_true=energy_true
    )
    maker = SpectrumDatasetMaker(
        containment_correction=True, selection=["counts", "exposure", "edisp"]
    )
    background = ReflectedRegionsBackgroundMaker()
    safe = SafeMaskMaker(methods=["aeff-default"])
    intervals = None
    if case == "10-min":
        edges = Time(ten_minute_edges(), format="mjd", scale="tt")
        intervals = [[lo, hi] for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
        observations = observations.select_time(intervals)
    elif case != "per-run":
        raise ValueError(case)
    datasets = Datasets()
    for i, obs in enumerate(observations):
        ds = maker.run(empty.copy(name=f"{obs.obs_id}-{i}"), obs)
        ds = background.run(ds, obs)
        datasets.append(safe.run(ds, obs))
    t1 = time.perf_counter()
    spectral = PowerLawSpectralModel(index=INDEX, amplitude=AMPLITUDE * u.Unit("cm-2 s-1 TeV-1"))
    datasets.models = [SkyModel(spectral, name="crab")]
    estimator = LightCurveEstimator(
        energy_edges=[E_MIN, E_MAX] * u.TeV,
        source="crab",
        time_intervals=intervals,
        selection_optional=["errn-errp", "ul"],
    )
    lc = estimator.run(datasets)
    t2 = time.perf_counter()
    table = lc.to_table(sed_type="likelihood", format="lightcurve")
    out = {}
    for name in COLUMNS:
        values = np.asarray(table[name], dtype=float)
        if name in ("counts", "npred_excess"):  # one column per dataset, NaN for the others
            values = np.nansum(values.reshape(len(table), -1), axis=1)
        out[name] = values.reshape(len(table)).tolist()
    out["ref_flux"] = np.asarray(table["ref_flux"].quantity.to_value("cm-2 s-1")).ravel().tolist()
    out["n_off"] = [
        float(ds.acceptance_off.data.ravel()[2] / ds.acceptance.data.ravel()[2]) for ds in datasets
    ]
    out["time_min"] = np.asarray(table["time_min"], dtype=float).tolist()
    out["time_max"] = np.asarray(table["time_max"], dtype=float).tolist()
    out["energy"] = [float(table["e_min"].quantity.to_value("TeV").ravel()[0]),
                     float(table["e_max"].quantity.to_value("TeV").ravel()[0])]  # fmt: skip
    out["t_reduce"], out["t_estimate"] = t1 - t0, t2 - t1
    out["version"] = __version__
    return out


# --------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------


def best_of(runs: list[dict]) -> dict:
    """The numbers of the first run with the best times of all runs."""
    out = dict(runs[0])
    for key in ("t_reduce", "t_estimate"):
        out[key] = min(run[key] for run in runs)
        out[key + "_all"] = [run[key] for run in runs]
    return out


def gammaxr_subprocess(python: str, case: str) -> dict:
    command = [python, str(Path(__file__).resolve()), "--side", "gammaxr", "--case", case]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"gammaxr side failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def gammapy_subprocess(case: str) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--side", "gammapy", "--case", case]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"Gammapy side failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def compare(gx_out: dict, gp_out: dict) -> dict:
    """Largest differences: times (s), and per column relative or in units of norm_err."""
    result = {}
    for key in ("time_min", "time_max"):
        diff = np.abs(np.subtract(gx_out[key], gp_out[key])) * 86400.0
        result[f"{key}_max_abs_s"] = float(diff.max())
    err = np.asarray(gp_out["norm_err"])
    for name in ("norm", "norm_errn", "norm_errp", "norm_ul"):
        diff = np.abs(np.subtract(gx_out[name], gp_out[name])) / err
        result[f"{name}_max_diff_in_sigma"] = float(diff.max())
    for name in ("norm", "norm_err", "ts", "ref_flux"):
        a, b = np.asarray(gx_out[name]), np.asarray(gp_out[name])
        result[f"{name}_max_rel"] = float(np.max(np.abs(a - b) / np.abs(b)))
    # the source folded at norm 1: the reduction's exposure and edisp, without the background
    signal_gx = np.divide(gx_out["npred_excess"], gx_out["norm"])
    signal_gp = np.divide(gp_out["npred_excess"], gp_out["norm"])
    result["source_npred_max_rel"] = float(np.max(np.abs(signal_gx / signal_gp - 1)))
    result["counts_equal"] = bool(np.array_equal(gx_out["counts"], gp_out["counts"]))
    result["n_off_regions_equal"] = bool(np.array_equal(gx_out["n_off"], gp_out["n_off"]))
    return result


def markdown(results: dict, meta: dict) -> str:
    lines = [
        "# Light curves: gammaxr vs Gammapy",
        "",
        "Written by `benchmarks/gammapy_lightcurve.py` (run with the Gammapy environment; see",
        "its docstring for the analysis). Four shipped H.E.S.S. Crab runs, 1D on-off",
        "(reflected regions, WStat), norm of a fixed power law (index 2.6, 4e-11",
        f"cm-2 s-1 TeV-1 at 1 TeV) in {meta['energy'][0]:.3f}-{meta['energy'][1]:.3f} TeV.",
        f"Times: best of {meta['repeat']} runs, wall clock, s. {meta['date']}, "
        f"{meta['machine']}, load average {meta['load']}.",
        f"gammaxr {meta['gammaxr']}, Gammapy {meta['gammapy']}.",
        "",
        "## Timings",
        "",
        "| case | bins | step | gammaxr (s) | Gammapy (s) | Gammapy / gammaxr |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for case, entry in results.items():
        n = len(entry["gammaxr"]["norm"])
        for key, label in (("t_reduce", "reduction"), ("t_estimate", "light curve")):
            a, b = entry["gammaxr"][key], entry["gammapy"][key]
            lines.append(f"| {case} | {n} | {label} | {a:.2f} | {b:.2f} | {b / a:.1f} |")
        a = entry["gammaxr"]["t_reduce"] + entry["gammaxr"]["t_estimate"]
        b = entry["gammapy"]["t_reduce"] + entry["gammapy"]["t_estimate"]
        lines.append(f"| {case} | {n} | total | {a:.2f} | {b:.2f} | {b / a:.1f} |")
    for case, entry in results.items():
        gx_out, gp_out = entry["gammaxr"], entry["gammapy"]
        lines += [
            "",
            f"## {case}: points",
            "",
            "Flux = norm x ref_flux (cm-2 s-1); errors are the symmetric (curvature) ones;",
            "`ul` is the 2 sigma upper limit of the norm.",
            "",
            "`n_off` is the number of reflected off regions (1 / alpha) of each tool.",
            "",
            "| MJD start (TT) | counts gx / gp | n_off gx / gp | flux gx | flux gp | norm gx |"
            " norm gp | err gx | err gp | errn gx / gp | errp gx / gp | ul gx / gp | TS gx |"
            " TS gp |",
            "|---|---|---|---:|---:|---:|---:|---:|---:|---|---|---|---:|---:|",
        ]
        for i in range(len(gx_out["norm"])):
            flux_gx = gx_out["norm"][i] * gx_out["ref_flux"][i]
            flux_gp = gp_out["norm"][i] * gp_out["ref_flux"][i]
            lines.append(
                f"| {gx_out['time_min'][i]:.5f} | {gx_out['counts'][i]:.0f} / "
                f"{gp_out['counts'][i]:.0f} | {gx_out['n_off'][i]:.0f} / "
                f"{gp_out['n_off'][i]:.0f} | {flux_gx:.4e} | {flux_gp:.4e} | "
                f"{gx_out['norm'][i]:.4f} | {gp_out['norm'][i]:.4f} | "
                f"{gx_out['norm_err'][i]:.4f} | {gp_out['norm_err'][i]:.4f} | "
                f"{gx_out['norm_errn'][i]:.4f} / {gp_out['norm_errn'][i]:.4f} | "
                f"{gx_out['norm_errp'][i]:.4f} / {gp_out['norm_errp'][i]:.4f} | "
                f"{gx_out['norm_ul'][i]:.4f} / {gp_out['norm_ul'][i]:.4f} | "
                f"{gx_out['ts'][i]:.2f} | {gp_out['ts'][i]:.2f} |"
            )
        lines += [
            "",
            "Largest differences (`source_npred`: predicted source counts at norm 1, i.e. the",
            "exposure and energy dispersion of the reductions). Where `n_off` differs, the off",
            "counts, alpha and so the background estimate differ, which moves TS most: that is",
            "the reflected-region finder of the reduction, not the light-curve estimation.",
            "",
        ]
        lines += [f"- `{key}`: {value:.3g}" if isinstance(value, float) else
                  f"- `{key}`: {value}" for key, value in entry["compare"].items()]  # fmt: skip
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", choices=("gammaxr", "gammapy"))
    parser.add_argument("--case", choices=("per-run", "10-min"))
    parser.add_argument("--gammaxr-python", default="/work/venv/bin/python")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--cases", nargs="+", default=["per-run", "10-min"])
    args = parser.parse_args()
    if args.side == "gammaxr":
        print(json.dumps(run_gammaxr(args.case)))
        return
    if args.side == "gammapy":
        print(json.dumps(run_gammapy(args.case)))
        return
    results = {}
    for case in args.cases:
        runs_gx, runs_gp = [], []
        for _ in range(args.repeat):  # interleaved, each run in a fresh process
            runs_gx.append(gammaxr_subprocess(args.gammaxr_python, case))
            runs_gp.append(gammapy_subprocess(case))
        gx_out, gp_out = best_of(runs_gx), best_of(runs_gp)
        results[case] = {
            "gammaxr": gx_out,
            "gammapy": gp_out,
            "compare": compare(gx_out, gp_out),
        }
        print(case, json.dumps(results[case]["compare"]), flush=True)
    meta = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "repeat": args.repeat,
        "gammaxr": results[args.cases[0]]["gammaxr"]["version"],
        "gammapy": results[args.cases[0]]["gammapy"]["version"],
        "energy": results[args.cases[0]]["gammaxr"]["energy"],
    }
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "lightcurve.json").write_text(json.dumps({"meta": meta, **results}, indent=1) + "\n")
    (out / "lightcurve.md").write_text(markdown(results, meta))
    print(f"wrote {out / 'lightcurve.md'}")


if __name__ == "__main__":
    main()
