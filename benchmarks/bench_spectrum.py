"""1D spectral analysis benchmark against Gammapy: reduction, I/O, WStat fit, flux points.

Three cases, each timed step by step in both tools:

``spectrum_1d``
    The public suite's ``benchmarks/spectrum_1d.py`` (gammapy/gammapy-benchmarks):
    H.E.S.S. DR1 run 23523 read and reduced TEN times, on region a circle of
    0.11 deg at (83.63, 22.01), reflected off regions avoiding a 0.5 deg circle
    at (l, b) = (183.604, -8.708) (exclusion mask 150 x 150 pixels of 0.05 deg
    around the target, galactic), reco energy 0.1-40 TeV in 40 log bins, true
    energy 0.05-100 TeV in 200, no containment correction, safe mask
    ``aeff-max`` 10 %; the ten spectra stacked; the stack written and read
    back (gammaxr: OGIP and model YAML; Gammapy: ``Datasets.write``, i.e. OGIP
    and YAML); a power law (index 2, 2e-11 cm-2 s-1 TeV-1 at 1 TeV) fitted with
    WStat; 11 flux points 0.7-30 TeV.
``spectrum_1d_joint``
    ``benchmarks/spectrum_1d_joint.py``: the same with the PSF containment
    correction, the ten datasets kept apart (written and read one by one),
    fitted jointly, and flux points of the joint datasets.
``crab_1d``
    The four shipped Crab runs (23523, 23526, 23559, 23592): on region 0.11 deg
    at (83.633, 22.014), reflected regions, safe mask ``aeff-max`` 10 %,
    containment correction, 0.5-50 TeV at 8 bins per decade (16 bins), true
    0.3-100 TeV in 30 bins (the setup of benchmarks/make_crab_ogip.py); the
    runs stacked; a power law fitted to the stack and to the four runs jointly.

Both tools fit with MIGRAD, ``tol=0.1``, ``strategy=1`` (Gammapy's defaults,
which the suite uses; gammaxr's default tol is 0.01). Flux points: gammaxr's
``flux_points`` (norm, errors from the curvature and the profile, 2-sigma upper
limit, TS: all in one vectorised pass) against Gammapy's
``FluxPointsEstimator`` with its defaults (norm, error, TS; no profile errors
or upper limits unless asked).

Protocol: every run is a fresh process (the interpreter start and the imports
are timed apart, as ``import``, wall clock); the tools alternate (gammaxr,
Gammapy, gammaxr, ...); each step's figure is the best of ``--repeat`` runs
(default 3), as CPU time of the process and as wall-clock time.
The Gammapy side is ``bench_spectrum_gammapy.py`` (run by this script with
``--gammapy-python``, default /work/gp-venv/bin/python). Results:
``results/spectrum.json`` (every run) and ``results/spectrum.md``.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/bench_spectrum.py [--repeat 3]

``--data`` is the folder holding ``hess-dl3-dr1``; the default is
``$GAMMAXR_DATA``, else ``../shared/data``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

T_START = time.perf_counter()

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
CASES = ("spectrum_1d", "spectrum_1d_joint", "crab_1d")
N_OBS = 10
CRAB_RUNS = (23523, 23526, 23559, 23592)
FIT_OPTIONS = {"tol": 0.1, "strategy": 1}
#: Steps of each case, in order (the same names on the Gammapy side).
STEPS = {
    "spectrum_1d": ("data_preparation", "writing", "reading", "data_fitting", "flux_points"),
    "spectrum_1d_joint": ("data_preparation", "writing", "reading", "data_fitting", "flux_points"),
    "crab_1d": ("data_preparation", "fit_stacked", "fit_joint"),
}


def find_data(path: str | None) -> Path:
    """The folder holding hess-dl3-dr1."""
    candidates = [path, os.environ.get("GAMMAXR_DATA"), HERE.parent.parent / "shared" / "data"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "hess-dl3-dr1").is_dir():
            return Path(candidate)
    raise SystemExit("no data: pass --data or set GAMMAXR_DATA (folder with hess-dl3-dr1)")


# --------------------------------------------------------------------------------------
# gammaxr worker (one case, in a fresh process)
# --------------------------------------------------------------------------------------


def worker(case: str, data: Path) -> dict:
    """Run one case; return the step times (s) and the numbers to compare."""
    t0 = time.perf_counter()
    import astropy.units as u
    import numpy as np
    from astropy.coordinates import SkyCoord
    from regions import CircleSkyRegion

    import gammaxr as gx
    from gammaxr.estimators import flux_points
    from gammaxr.models import Models, PowerLawSpectralModel, SkyModel
    from gammaxr.reduce import make_on_off_spectrum

    import_time = time.perf_counter() - t0 + (t0 - T_START)
    times: dict[str, float] = {}
    cpu: dict[str, float] = {}
    clock = [time.perf_counter(), time.process_time()]

    def lap(name: str) -> None:
        now = [time.perf_counter(), time.process_time()]
        times[name], cpu[name] = now[0] - clock[0], now[1] - clock[1]
        clock[:] = now

    def power_law() -> Models:
        spectral = PowerLawSpectralModel(index=2.0, amplitude=2e-11, reference=1.0)
        return Models([SkyModel(spectral, name="crab")])

    def best(result) -> dict:
        rows = result.parameters.loc[["crab.spectral.index", "crab.spectral.amplitude"]]
        return {
            "index": [float(rows["value"].iloc[0]), float(rows["error"].iloc[0])],
            "amplitude": [float(rows["value"].iloc[1]), float(rows["error"].iloc[1])],
            "stat": float(result.statistic),
            "success": bool(result.success),
        }

    out: dict = {"tool": "gammaxr", "case": case, "import": import_time}
    if case in ("spectrum_1d", "spectrum_1d_joint"):
        joint = case == "spectrum_1d_joint"
        store = gx.open_datastore(data / "hess-dl3-dr1")
        target = SkyCoord(83.63, 22.01, unit="deg")
        on_region = CircleSkyRegion(target, 0.11 * u.deg)
        grid = gx.sky_grid(target, width=7.5, binsz=0.05, frame="galactic")
        excluded = CircleSkyRegion(SkyCoord(183.604, -8.708, unit="deg", frame="galactic"),
                                   0.5 * u.deg)  # fmt: skip
        exclusion = gx.region_mask(excluded, grid)  # True where excluded
        geom = gx.make_geom(
            gx.energy_axis(0.1, 40, nbin=40),
            gx.energy_axis(0.05, 100, nbin=200, name="energy_true"),
        )
        spectra = [
            make_on_off_spectrum(
                store.observation(23523), on_region, geom, exclusion_mask=exclusion,
                containment_correction=joint, safe_mask={"aeff-max": {"percent": 10}},
            ).assign_attrs(obs_id=index, **({"name": f"dataset{index}"} if joint else {}))
            for index in range(N_OBS)
        ]  # fmt: skip
        data_set = spectra if joint else gx.stack(gx.concat_observations(spectra))
        lap("data_preparation")
        with tempfile.TemporaryDirectory() as folder:
            folder = Path(folder)
            members = data_set if joint else [data_set]
            phas = [gx.write_ogip(ds, folder / f"pha_{i}.fits")["pha"] for i, ds in
                    enumerate(members)]  # fmt: skip
            gx.write_models(power_law(), folder / "models.yaml")
            lap("writing")
            read = gx.read_ogip_set(phas)
            models = gx.read_models(folder / "models.yaml")
            data_set = read if joint else read[0]
            lap("reading")
        result = gx.fit(data_set, models, **FIT_OPTIONS)
        lap("data_fitting")
        edges = np.geomspace(0.7, 30, 12)
        points = flux_points(data_set, result.models, "crab", edges)
        lap("flux_points")
        out["fit"] = best(result)
        out["flux_points"] = {
            "energy_lo": points.energy_lo.values.tolist(),
            "norm": points.norm.values.tolist(),
            "norm_err": points.norm_err.values.tolist(),
            "ts": points.ts.values.tolist(),
        }
        out["counts"] = int(sum(int(ds.counts.where(ds.mask_safe, 0).sum()) for ds in
                                (data_set if joint else [data_set])))  # fmt: skip
    elif case == "crab_1d":
        store = gx.open_datastore()
        on_region = CircleSkyRegion(SkyCoord(83.633, 22.014, unit="deg"), 0.11 * u.deg)
        geom = gx.make_geom(
            gx.energy_axis(0.5, 50, per_decade=8),
            gx.energy_axis(0.3, 100, nbin=30, name="energy_true"),
        )
        spectra = [
            make_on_off_spectrum(store.observation(i), on_region, geom,
                                 safe_mask={"aeff-max": {"percent": 10}})
            for i in CRAB_RUNS
        ]  # fmt: skip
        stacked = gx.stack(gx.concat_observations(spectra))
        lap("data_preparation")
        out["fit_stacked"] = best(gx.fit(stacked, power_law(), **FIT_OPTIONS))
        lap("fit_stacked")
        out["fit_joint"] = best(gx.fit(spectra, power_law(), **FIT_OPTIONS))
        lap("fit_joint")
    else:
        raise SystemExit(f"unknown case {case!r}")
    out["times"], out["cpu"] = times, cpu
    out["total"], out["total_cpu"] = sum(times.values()), sum(cpu.values())
    return out


# --------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------


def run(command: list[str]) -> dict:
    """Run a worker process; its last stdout line is its JSON result."""
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{command} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_wall"] = wall
    return result


def best_of(runs: list[dict], step: str, clock: str = "times") -> float:
    """The smallest time of a step over the runs (``clock``: "times" wall, "cpu" CPU)."""
    if step == "total":
        return min(r["total" if clock == "times" else "total_cpu"] for r in runs)
    return min(r[clock][step] if step in r[clock] else r[step] for r in runs)


def compare(ours: dict, theirs: dict) -> dict:
    """Differences of the best-fit values in units of Gammapy's errors."""
    out = {}
    for key in ("fit", "fit_stacked", "fit_joint"):
        if key not in ours:
            continue
        a, b = ours[key], theirs[key]
        out[key] = {
            name: {
                "gammaxr": a[name], "gammapy": b[name],
                "diff_sigma": (a[name][0] - b[name][0]) / b[name][1],
                "error_ratio": a[name][1] / b[name][1],
            }
            for name in ("index", "amplitude")
        }  # fmt: skip
        out[key]["stat"] = {"gammaxr": a["stat"], "gammapy": b["stat"]}
    if "flux_points" in ours:
        import numpy as np

        a, b = ours["flux_points"], theirs["flux_points"]
        norm_a, norm_b = np.array(a["norm"]), np.array(b["norm"])
        err_a, err_b = np.array(a["norm_err"]), np.array(b["norm_err"])
        ts_a, ts_b = np.array(a["ts"]), np.array(b["ts"])
        # Bins with a finite result in both tools, and a significant flux (TS > 4 in
        # Gammapy: bins without counts have no meaningful norm error to compare to).
        finite = np.isfinite(norm_a) & np.isfinite(err_a) & np.isfinite(ts_a)
        ok = finite & (ts_b > 4)
        out["flux_points"] = {
            "n": len(norm_a),
            "n_compared": int(ok.sum()),
            "n_not_finite_gammaxr": int((~finite).sum()),
            "same_edges": bool(np.allclose(a["energy_lo"], b["energy_lo"], rtol=1e-6)),
            "max_norm_diff_sigma": float(np.max(np.abs(norm_a - norm_b)[ok] / err_b[ok])),
            "max_err_ratio_dev": float(np.max(np.abs(err_a[ok] / err_b[ok] - 1))),
            "max_ts_rel_diff": float(np.max(np.abs(ts_a[ok] / ts_b[ok] - 1))),
        }
    if "counts" in ours:
        out["counts"] = {"gammaxr": ours["counts"], "gammapy": theirs["counts"]}
    return out


def environment() -> dict:
    import numpy

    import gammaxr

    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "gammaxr": gammaxr.__version__,
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
    }


def markdown(report: dict) -> str:
    lines = [
        "# 1D spectral analysis: gammaxr vs Gammapy",
        "",
        f"Made by `benchmarks/bench_spectrum.py` on {report['environment']['date']} "
        f"(Gammapy {report.get('gammapy_version', '?')}; {report['environment']['cpus']} "
        f"cores shared with other jobs, load average at the start "
        f"{report['environment']['load_average'][0]:.1f}). Each figure is the best of "
        f"{report['repeat']} fresh processes, the tools alternating, one numpy thread. "
        "Times in seconds: CPU time of the process (`time.process_time`) and wall clock; "
        "ratio = Gammapy / gammaxr.",
        "",
    ]
    for case, entry in report["cases"].items():
        ours, theirs = entry["gammaxr"], entry["gammapy"]
        lines += [
            f"## `{case}`",
            "",
            "| step | gammaxr CPU | Gammapy CPU | ratio | gammaxr wall | Gammapy wall | ratio |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for step in [*STEPS[case], "total", "import"]:
            a, b = best_of(ours, step), best_of(theirs, step)
            label = {"total": "**total (steps)**", "import": "start + imports"}.get(step, step)
            if step == "import" or "cpu" not in ours[0]:
                lines.append(f"| {label} | | | | {a:.3f} | {b:.3f} | {b / a:.1f} |")
                continue
            c, d = best_of(ours, step, "cpu"), best_of(theirs, step, "cpu")
            lines.append(
                f"| {label} | {c:.3f} | {d:.3f} | {d / c:.1f} | {a:.3f} | {b:.3f} | {b / a:.1f} |"
            )
        lines.append("")
        agreement = entry["agreement"]
        for key in ("fit", "fit_stacked", "fit_joint"):
            if key in agreement:
                fit = agreement[key]
                parts = [
                    f"{name} {fit[name]['gammaxr'][0]:.4g} ± {fit[name]['gammaxr'][1]:.2g} vs "
                    f"{fit[name]['gammapy'][0]:.4g} ± {fit[name]['gammapy'][1]:.2g} "
                    f"({fit[name]['diff_sigma']:+.3f} σ, error ratio "
                    f"{fit[name]['error_ratio']:.3f})"
                    for name in ("index", "amplitude")
                ]
                stat = fit["stat"]
                lines.append(
                    f"- {key}: " + "; ".join(parts)
                    + f"; WStat {stat['gammaxr']:.3f} vs {stat['gammapy']:.3f}"
                )  # fmt: skip
        if "flux_points" in agreement:
            fp = agreement["flux_points"]
            lines.append(
                f"- flux points ({fp['n']} bins, same edges: {fp['same_edges']}; compared: the "
                f"{fp['n_compared']} with TS > 4): norms differ by at most "
                f"{fp['max_norm_diff_sigma']:.3f} σ, errors by "
                f"{100 * fp['max_err_ratio_dev']:.1f} %, TS by "
                f"{100 * fp['max_ts_rel_diff']:.1f} %; gammaxr bins not finite: "
                f"{fp['n_not_finite_gammaxr']}"
            )
        if "counts" in agreement:
            c = agreement["counts"]
            lines.append(f"- safe on counts: {c['gammaxr']} vs {c['gammapy']}")
        lines.append("")
    lines += report.get("notes", [])
    return "\n".join(lines) + "\n"


NOTES = [
    "## Notes",
    "",
    "- The machine has 2 cores shared with other jobs (load average 1.5-6 during the",
    "  runs): wall-clock figures vary by up to 2-3x between runs, CPU times much less;",
    "  the best of three is the fairest figure. Read the CPU columns first.",
    "- Data preparation (session 4, issue #5): the spectrum maker evaluates the IRFs at",
    "  the region centre on plain arrays (`gammaxr.reduce._spectrum_irfs`: exposure,",
    "  edisp matrix with the cumulative interpolated once per reco edge, `aeff-max`,",
    "  table-PSF containment, each table cut to the two offset nodes around the",
    "  region), counts events in circles with numpy after a cut on the offset from the",
    "  pointing, finds reflected regions without astropy frame objects, writes the",
    "  regions' DS9 string directly and builds the Dataset once. Every product (data,",
    "  coordinates, attributes, region strings) is bit for bit what the previous code",
    "  gave for the three cases. Before: `spectrum_1d` data preparation 8.1 s wall in",
    "  the previous run of this script; measured side by side on today's I/O and IRF",
    "  code, the previous spectrum code takes 2.1 s CPU for it (165-220 ms per",
    "  reduction of one observation), the new 0.5 s (16-29 ms per reduction). What is",
    "  left: reading the events and IRFs (~0.1 s), opening the data store (~0.05 s),",
    "  concatenating and stacking the ten spectra (~0.1 s), the ten reductions.",
    "- Differences in the best-fit values come from the data, not the fit: on the same",
    "  OGIP files both tools agree to < 0.01 sigma (tests/fit/test_crab_1d_validation.py).",
    "  (1) Reflected regions. gammaxr spaces them by the exact angle at which two",
    "  circles touch, `2 arcsin(sin r / sin d)`; Gammapy by the range of position",
    "  angles of the 0.01 deg pixel centres inside the on region, which is short by up",
    "  to a pixel at each side, so its neighbouring regions overlap: by 0.0044 deg",
    "  (centres 0.980 diameters apart) at 0.5 deg offset, where both find 12 regions,",
    "  and by 0.0067 deg (0.970 diameters) at 1.5 deg offset (runs 23559 and 23592 of",
    "  `crab_1d`), where the shorter spacing fits 41 regions against gammaxr's 40.",
    "  Gammapy counts the union of the regions (an event in an overlap once: 528 off",
    "  events in run 23559, 530 counted region by region) but sets acceptance_off to",
    "  41, so its off exposure is overestimated by the 40 overlaps (0.6 %) and the",
    "  background underestimated by as much. gammaxr's `geometry=\"gammapy\"`",
    "  reproduces Gammapy's regions to 1e-14 deg",
    "  (`benchmarks/bench_spectrum_reflected_gammapy.py`, results in",
    "  `results/spectrum_reflected.json`); the default `geometry=\"exact\"` gives regions",
    "  that touch and never overlap, and tests circles exactly against excluded pixels",
    "  (Gammapy's pixel test lets a region overlap an excluded pixel whose centre it does",
    "  not contain). Off counts therefore differ by a few events per run.",
    "  (2) With the PSF containment correction (`spectrum_1d_joint`, `crab_1d`) Gammapy's",
    '  `aeff-max` safe mask (its default `irfs="DL4"`) takes the threshold from the',
    "  *containment-corrected* exposure / livetime, gammaxr's `mask_aeff_max` from the",
    "  effective-area IRF, so Gammapy's threshold is higher: 1550 vs 1770 safe on counts",
    "  in `spectrum_1d_joint`, one more low-energy bin in two Crab runs for gammaxr, hence",
    "  ~9 % smaller errors and the +0.7 sigma shift in `spectrum_1d_joint`. Without the",
    "  correction (`spectrum_1d`) the safe counts are identical (1770). Checked: with",
    "  Gammapy's mask (first safe bin 13 instead of 12) gammaxr's joint fit gives index",
    "  2.656 +- 0.0387 and 4.431e-11 +- 1.41e-12, Gammapy's 2.658 +- 0.039 and",
    "  4.437e-11 +- 1.4e-12 (the rest: the off regions).",
    "- Flux points: gammaxr computes norm, curvature and profile errors, a 2-sigma upper",
    "  limit and TS for every bin in one vectorised pass; Gammapy's `FluxPointsEstimator`",
    "  defaults compute norm, error and TS per bin with Minuit. The two bins without on",
    "  counts (10.4-16.3 and 22-30 TeV) give norm ~ 0 and TS = 0 in both tools; the",
    "  agreement figures above are over the bins with TS > 4.",
    "- `start + imports` is wall clock of the interpreter start and the imports.",
]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    parser.add_argument("--gammapy-python", default="/work/gp-venv/bin/python")
    parser.add_argument("--worker", choices=CASES, help=argparse.SUPPRESS)
    parser.add_argument(
        "--markdown-only", action="store_true", help="rewrite spectrum.md from spectrum.json"
    )
    args = parser.parse_args(argv)
    if args.markdown_only:
        report = json.loads((RESULTS / "spectrum.json").read_text())
        report["notes"] = NOTES
        (RESULTS / "spectrum.md").write_text(markdown(report))
        return
    data = find_data(args.data)
    if args.worker:
        print(json.dumps(worker(args.worker, data)))
        return
    report: dict = {"environment": environment(), "repeat": args.repeat, "cases": {}}
    report["notes"] = NOTES
    for case in args.cases:
        ours, theirs = [], []
        for attempt in range(args.repeat):
            ours.append(run([sys.executable, __file__, "--worker", case, "--data", str(data)]))
            theirs.append(run([args.gammapy_python, str(HERE / "bench_spectrum_gammapy.py"),
                               "--case", case, "--data", str(data)]))  # fmt: skip
            print(f"{case} #{attempt + 1}: gammaxr {ours[-1]['total']:.2f} s, "
                  f"Gammapy {theirs[-1]['total']:.2f} s", flush=True)  # fmt: skip
        report["gammapy_version"] = theirs[-1].get("version")
        report["cases"][case] = {
            "gammaxr": ours, "gammapy": theirs, "agreement": compare(ours[0], theirs[0]),
        }  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "spectrum.json").write_text(json.dumps(report, indent=1) + "\n")
    (RESULTS / "spectrum.md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
