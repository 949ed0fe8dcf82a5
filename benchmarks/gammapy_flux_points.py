"""Flux points of the shipped Crab runs: gammaxr against Gammapy's FluxPointsEstimator.

Run with the Gammapy environment::

    /work/gp-venv/bin/python benchmarks/gammapy_flux_points.py [--repeat 5]

It first runs its ``gammaxr`` step with the gammaxr environment (a subprocess of
``/work/venv/bin/python``; gammaxr never imports Gammapy): the four shipped
H.E.S.S. Crab runs are reduced to on-off spectra (0.11 deg reflected regions,
0.5-50 TeV, 8 bins per decade), stacked (WStat stacking), fitted with a power
law, and the stacked dataset is written as OGIP files with the fitted model as
YAML. gammaxr's flux points (six points from 0.5 to ~16 TeV, two reco bins each,
errors, ``n_sigma_ul = 2`` upper limits and a 41-value norm scan) are timed
there. Gammapy then reads the same OGIP files and the same model and runs
``FluxPointsEstimator`` with the same edges, options and scan, timed the same
way (best of ``--repeat`` runs after a warm-up).

Writes ``benchmarks/results/flux_points.md`` (per-bin table and timings) and
``benchmarks/results/flux_points.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
GAMMAXR_PYTHON = "/work/venv/bin/python"
EDGES = np.geomspace(0.5, 50, 9)[:7]  # TeV
SCAN = np.linspace(0.0, 3.0, 41)
QUANTITIES = ("norm", "norm_err", "norm_errn", "norm_errp", "norm_ul", "ts")


def best_time(func, repeat: int) -> tuple[float, object]:
    func()  # warm-up (imports, caches)
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = func()
        times.append(time.perf_counter() - start)
    return min(times), out


def gammaxr_step(folder: Path, repeat: int) -> None:
    import astropy.units as u
    from astropy.coordinates import SkyCoord
    from regions import CircleSkyRegion

    import gammaxr as gx
    from gammaxr.estimators import flux_points
    from gammaxr.fit.wstat import stack_on_off
    from gammaxr.io.ogip import write_ogip
    from gammaxr.models import Models, PowerLawSpectralModel, SkyModel
    from gammaxr.reduce import make_on_off_spectrum

    store = gx.open_datastore()
    crab = SkyCoord(83.633, 22.014, unit="deg")
    geom = gx.make_geom(
        gx.energy_axis(0.5, 50, per_decade=8),
        gx.energy_axis(0.3, 100, per_decade=10, name="energy_true"),
    )
    region = CircleSkyRegion(crab, 0.11 * u.deg)
    spectra = [make_on_off_spectrum(o, region, geom) for o in store.observations()]
    stacked = stack_on_off(gx.concat_observations(spectra)).assign_attrs(name="crab")
    start = Models([SkyModel(PowerLawSpectralModel(index=2.5, amplitude=3e-11), name="crab")])
    result = gx.fit(stacked, start)
    gx.write_models(result.models, folder / "model.yaml")
    write_ogip(stacked, folder / "pha_stacked.fits")

    def run():
        return flux_points(stacked, result.models, "crab", EDGES, scan=SCAN)

    seconds, fp = best_time(run, repeat)
    seconds_noscan, _ = best_time(
        lambda: flux_points(stacked, result.models, "crab", EDGES), repeat
    )
    out = {q: fp[q].values.tolist() for q in (*QUANTITIES, "counts", "npred", "npred_excess")}
    out["e_min"], out["e_max"] = fp.energy_lo.values.tolist(), fp.energy_hi.values.tolist()
    out["seconds"], out["seconds_noscan"] = seconds, seconds_noscan
    out["index"] = float(result.parameters.loc["crab.spectral.index", "value"])
    out["amplitude"] = float(result.parameters.loc["crab.spectral.amplitude", "value"])
    (folder / "gammaxr.json").write_text(json.dumps(out))


def gammapy_step(folder: Path, repeat: int) -> dict:
    import astropy.units as u
    from gammapy.datasets import SpectrumDatasetOnOff
    from gammapy.estimators import FluxPointsEstimator
    from gammapy.modeling.models import Models

    dataset = SpectrumDatasetOnOff.read(folder / "pha_stacked.fits", format="ogip")
    dataset.models = Models.read(folder / "model.yaml")

    def run(scan=True):
        estimator = FluxPointsEstimator(
            energy_edges=EDGES * u.TeV, source="crab", n_sigma=1, n_sigma_ul=2,
            selection_optional=["errn-errp", "ul", "scan"] if scan else ["errn-errp", "ul"],
            norm={"scan_values": SCAN},
        )  # fmt: skip
        return estimator.run([dataset])

    seconds, fp = best_time(run, repeat)
    seconds_noscan, _ = best_time(lambda: run(scan=False), repeat)
    out = {q: np.ravel(getattr(fp, q).data).tolist() for q in QUANTITIES}
    out["counts"] = np.ravel(fp.counts.data.sum(axis=1) if fp.counts.data.ndim > 1
                             else fp.counts.data).tolist()  # fmt: skip
    edges = fp.energy_axis.edges.to_value("TeV")
    out["e_min"], out["e_max"] = edges[:-1].tolist(), edges[1:].tolist()
    out["seconds"], out["seconds_noscan"] = seconds, seconds_noscan
    return out


def report(ours: dict, theirs: dict) -> str:
    lines = [
        "# Flux points: gammaxr vs Gammapy 2.1 (shipped Crab runs, stacked 1D on-off)",
        "",
        "Written by `benchmarks/gammapy_flux_points.py` (run with `/work/gp-venv/bin/python`).",
        "Both estimate the same stacked on-off spectrum (gammaxr's reduction, written as OGIP",
        "and read by Gammapy), with gammaxr's fitted power law as the reference",
        f"(index {ours['index']:.3f}, amplitude {ours['amplitude']:.4g} cm-2 s-1 TeV-1), "
        "WStat, `n_sigma = 1`, `n_sigma_ul = 2`.",
        "",
        "| e_min | e_max | counts | norm (gx / gp) | norm_err | norm_errn | norm_errp "
        "| norm_ul | ts |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for i in range(len(ours["norm"])):
        cells = [f"{ours['e_min'][i]:.3g}", f"{ours['e_max'][i]:.3g}",
                 f"{ours['counts'][i]:.0f} / {theirs['counts'][i]:.0f}"]  # fmt: skip
        for q in QUANTITIES:
            fmt = ".2f" if q == "ts" else ".4f"
            cells.append(f"{ours[q][i]:{fmt}} / {theirs[q][i]:{fmt}}")
        lines.append("| " + " | ".join(cells) + " |")
    diffs = {}
    for q in QUANTITIES:
        a, b = np.array(ours[q]), np.array(theirs[q])
        diffs[q] = float(np.nanmax(np.abs(a - b) / np.abs(b)))
    lines += [
        "",
        "Largest relative difference per quantity: "
        + ", ".join(f"{q} {v:.1e}" for q, v in diffs.items())
        + ".",
        "",
        "| timing (best of repeats) | gammaxr | Gammapy | ratio |",
        "|---|---|---|---|",
        f"| errors, ULs and a 41-value norm scan | {ours['seconds'] * 1e3:.1f} ms | "
        f"{theirs['seconds'] * 1e3:.0f} ms | {theirs['seconds'] / ours['seconds']:.0f}x |",
        f"| errors and ULs, no scan | {ours['seconds_noscan'] * 1e3:.1f} ms | "
        f"{theirs['seconds_noscan'] * 1e3:.0f} ms | "
        f"{theirs['seconds_noscan'] / ours['seconds_noscan']:.0f}x |",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", nargs="?", default="compare", choices=["compare", "gammaxr"])
    parser.add_argument("folder", nargs="?")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if args.step == "gammaxr":
        gammaxr_step(Path(args.folder), args.repeat)
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        subprocess.run(
            [GAMMAXR_PYTHON, __file__, "gammaxr", str(folder), "--repeat", str(args.repeat)],
            check=True,
        )
        ours = json.loads((folder / "gammaxr.json").read_text())
        theirs = gammapy_step(folder, args.repeat)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "flux_points.json").write_text(
        json.dumps({"gammaxr": ours, "gammapy": theirs}, indent=1) + "\n"
    )
    text = report(ours, theirs)
    (RESULTS / "flux_points.md").write_text(text)
    print(text)


if __name__ == "__main__":
    sys.exit(main())
