"""Forward-folding benchmark: time per npred evaluation, uncached and cached, vs Gammapy.

Run with the gammaxr environment, after ``bench_npred_gammapy.py`` (Gammapy's
side, run with the Gammapy environment, which writes
``results/npred_gammapy.json`` and its npred cubes in the scratch folder)::

    /work/venv/bin/python benchmarks/bench_npred.py [--n-iter 10] [--workers 1]

On a shared machine run the two scripts in turn a few times with ``--keep-best``
(each keeps the fastest time of every entry over its runs).

Cases (the same as ``bench_npred_gammapy.py``):

``crab``
    H.E.S.S. run 23523 reduced by ``gx.make_map_dataset`` on a 3 x 3 deg grid
    of 0.02 deg around the Crab, reco 0.5-50 TeV and true 0.3-100 TeV at 10
    bins per decade (20 x 150 x 150 and 25 true-energy bins); a Crab-like point
    source (power law, index 2.6, amplitude 3.8e-11 cm-2 s-1 TeV-1 at 1 TeV)
    plus the FoV background model.
``public``
    The ``npred`` case of gammapy/gammapy-benchmarks (``benchmarks/npred.py``):
    500 x 500 pixels of 0.01 deg at (0, 0), 15 + 15 energy bins (0.1-100 TeV),
    exposure 1 m2 s, a Gaussian PSF of 0.1 deg (Gammapy's ``PSFMap.from_gauss``:
    the 2D Gaussian density at the centres of the default ``rad`` axis), a
    Gaussian energy dispersion (sigma 0.1, bias 0, Gammapy's
    ``EDispKernelMap.from_gauss`` table: 200 ``migra`` bins from 1/3 to 3,
    values below 1e-6 zeroed, turned into a migration matrix by
    ``gammaxr.irf.migration_matrix``), no background, 10 Gaussian sources
    (sigma 0.5 deg, power law index 2, amplitude 1e-12 cm-2 s-1 TeV-1 at 1 TeV)
    at positions from ``numpy.random.default_rng(0).uniform(-4, 4, (10, 2))``.

Timed, per evaluation (min and median of ``--n-iter``; wall and CPU):

- ``uncached``: :func:`gammaxr.models.npred.npred`, everything from the
  dataset (PSF kernel included); compare with Gammapy's ``fresh`` (models
  assigned again, so every evaluator and kernel is rebuilt).
- ``evaluator_build``: ``NpredEvaluator(ds)`` plus its first call.
- ``cached_same``: the evaluator called again with unchanged models.
- ``cached_spectral``: the first source's index changed at every call
  (Gammapy: ``cached_spectral``).
- ``cached_amplitude``: its amplitude changed (the cached counts are rescaled).
- ``cached_spatial``: its ``lon_0`` changed (Gammapy: ``cached_spatial``).

The machine has 2 cores and may be loaded: the load average is recorded and
CPU times are given next to wall times. ``--workers`` sets ``scipy.fft``'s
thread count (default 1: one core, like Gammapy's convolution).

Writes ``results/npred.json`` (every number) and ``results/npred.md``.
"""

from __future__ import annotations

import argparse
import json
import os

# One BLAS thread: on a loaded 2-core machine OpenBLAS's threads make the small
# matrix products of the energy dispersion up to 30x slower (both scripts, fairly).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy
import scipy.fft
import xarray as xr

import gammaxr as gx
from gammaxr.irf import migration_matrix
from gammaxr.models import (
    FoVBackgroundModel,
    GaussianSpatialModel,
    Models,
    PointSpatialModel,
    PowerLawSpectralModel,
    SkyModel,
)
from gammaxr.models.npred import NpredEvaluator, fold, npred
from gammaxr.reduce.map import default_rad_axis

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
CRAB = (83.633, 22.014)


# -- datasets and models -------------------------------------------------------------------


def crab_dataset() -> xr.Dataset:
    geom = gx.make_geom(
        gx.energy_axis(0.5, 50, per_decade=10),
        gx.energy_axis(0.3, 100, per_decade=10, name="energy_true"),
        sky=gx.sky_grid(CRAB, width=3, binsz=0.02),
    )
    ds = gx.make_map_dataset(gx.open_datastore().observation(23523), geom)
    return ds.assign_attrs(name="crab-23523")


def crab_models() -> Models:
    crab = SkyModel(
        PowerLawSpectralModel(index=2.6, amplitude=3.8e-11, reference=1.0),
        PointSpatialModel(lon_0=CRAB[0], lat_0=CRAB[1], frame="icrs"),
        name="crab",
    )
    return Models([crab, FoVBackgroundModel("crab-23523")])


def gauss_psf(energy_true: xr.DataArray, sigma: float = 0.1) -> xr.DataArray:
    """Gammapy's ``PSFMap.from_gauss``: the 2D Gaussian density at the rad centres, sr-1."""
    rad = default_rad_axis()
    sigma_rad = np.deg2rad(sigma)
    values = np.exp(-0.5 * (np.deg2rad(rad.values) / sigma_rad) ** 2) / (2 * np.pi * sigma_rad**2)
    data = np.broadcast_to(values, (energy_true.size, rad.size)).astype(np.float32)
    return xr.DataArray(
        data,
        dims=("energy_true", "rad"),
        coords={**energy_true.coords, **rad.coords},
        name="psf",
        attrs={"units": "sr-1"},
    )


def gauss_edisp(
    energy_true: xr.DataArray, energy: xr.DataArray, sigma: float = 0.1, bias: float = 0.0
) -> xr.DataArray:
    """Gammapy's ``EDispKernel.from_gauss`` table, as a migration matrix (``migration_matrix``)."""
    from scipy.special import erf

    migra_edges = np.linspace(1.0 / 3, 3, 201)
    migra = gx.axis_from_edges(migra_edges, name="migra")
    s = np.sqrt(2) * sigma
    cdf = erf((migra_edges - 1 - bias) / s) / 2
    pdf = np.diff(cdf) / np.diff(migra_edges)
    pdf[pdf < 1e-6] = 0.0
    table = xr.DataArray(
        np.broadcast_to(pdf, (energy_true.size, pdf.size)),
        dims=("energy_true", "migra"),
        coords={"energy_true": energy_true.coords["energy_true"], **migra.coords},
        attrs={"units": ""},
    )
    matrix = migration_matrix(table, energy_true, energy)
    norm = (pdf * np.diff(migra_edges)).sum()
    return (matrix / norm).astype(np.float32).rename("edisp").assign_attrs(units="")


def public_dataset() -> xr.Dataset:
    energy = gx.energy_axis(0.1, 100, per_decade=5)
    energy_true = gx.energy_axis(0.1, 100, per_decade=5, name="energy_true")
    sky = gx.sky_grid((0.0, 0.0), width=5.0, binsz=0.01)
    geom = gx.make_geom(energy, energy_true, sky=sky)
    shape = (energy_true.size, sky.sizes["lat"], sky.sizes["lon"])
    exposure = xr.DataArray(
        np.ones(shape, dtype=np.float32),
        dims=("energy_true", "lat", "lon"),
        attrs={"units": "m2 s"},
    )
    ds = xr.Dataset(
        {
            "exposure": exposure,
            "psf": gauss_psf(energy_true),
            "edisp": gauss_edisp(energy_true, energy),
        },
        coords=geom.coords,
        attrs={"frame": "icrs", "name": "public"},
    )
    return ds


def public_positions(n_src: int = 10, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-4.0, 4.0, (n_src, 2))


def public_models(positions: np.ndarray) -> Models:
    return Models(
        SkyModel(
            PowerLawSpectralModel(),
            GaussianSpatialModel(lon_0=lon, lat_0=lat, sigma=0.5, frame="icrs"),
            name=f"src-{i}",
        )
        for i, (lon, lat) in enumerate(positions)
    )


# -- timing ----------------------------------------------------------------------------------


def clock(func, n_iter: int) -> dict:
    wall, cpu = [], []
    for i in range(n_iter):
        start, start_cpu = time.perf_counter(), time.process_time()
        func(i)
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return {
        "wall_min": min(wall),
        "wall_median": float(np.median(wall)),
        "cpu_min": min(cpu),
        "cpu_median": float(np.median(cpu)),
        "n": n_iter,
    }


def time_case(ds: xr.Dataset, models: Models, n_iter: int) -> dict:
    out: dict = {}
    first = next(iter(models))
    name = ds.attrs["name"]
    out["uncached"] = clock(lambda i: npred(ds, models), n_iter)
    out["evaluator_build"] = clock(lambda i: NpredEvaluator(ds)(models), max(3, n_iter // 3))
    evaluator = NpredEvaluator(ds)
    evaluator.evaluate(models)
    out["cached_same"] = clock(lambda i: evaluator.evaluate(models), n_iter)
    index = models[first].spectral.parameters["index"].value
    changed = [
        models.with_parameters(**{f"{first}.spectral.index": index + 1e-3 * (i + 1)})
        for i in range(n_iter)
    ]
    out["cached_spectral"] = clock(lambda i: evaluator.evaluate(changed[i]), n_iter)
    amplitude = models[first].spectral.parameters["amplitude"].value
    changed = [
        models.with_parameters(**{f"{first}.spectral.amplitude": amplitude * (1 + 1e-3 * (i + 1))})
        for i in range(n_iter)
    ]
    out["cached_amplitude"] = clock(lambda i: evaluator.evaluate(changed[i]), n_iter)
    lon = models[first].spatial.parameters["lon_0"].value
    changed = [
        models.with_parameters(**{f"{first}.spatial.lon_0": lon + 1e-3 * (i + 1)})
        for i in range(n_iter)
    ]
    out["cached_spatial"] = clock(lambda i: evaluator.evaluate(changed[i]), n_iter)
    # the cached values equal the uncached ones
    last = changed[-1]
    reference = npred(ds, last).to_numpy()
    out["cached_vs_uncached_max_abs"] = float(np.max(np.abs(evaluator.evaluate(last) - reference)))
    out["dataset"] = name
    return out


# -- comparison with Gammapy -----------------------------------------------------------------


def compare(ds: xr.Dataset, models: Models, case: str, gp: dict, scratch: Path) -> dict:
    ours = npred(ds, models)
    signal = sum(fold(ds, m) for m in models.values() if isinstance(m, SkyModel))
    out: dict = {
        "npred_total": float(ours.sum()),
        "npred_signal_total": float(signal.sum()),
        "npred_per_energy": ours.sum(("lat", "lon")).to_numpy().tolist(),
        "npred_signal_per_energy": signal.sum(("lat", "lon")).to_numpy().tolist(),
        "npred_signal_per_source": {
            m.name: float(fold(ds, m).sum()) for m in models.values() if isinstance(m, SkyModel)
        },
    }
    if case not in gp:
        return out
    ref = gp[case]
    out["gammapy_npred_total"] = ref["npred_total"]
    out["gammapy_npred_signal_total"] = ref["npred_signal_total"]
    out["rel_diff_total"] = out["npred_total"] / ref["npred_total"] - 1
    out["rel_diff_signal"] = out["npred_signal_total"] / ref["npred_signal_total"] - 1
    out["rel_diff_signal_per_energy"] = (
        np.array(out["npred_signal_per_energy"]) / np.array(ref["npred_signal_per_energy"]) - 1
    ).tolist()
    out["rel_diff_per_source"] = {
        key: out["npred_signal_per_source"][key] / value - 1
        for key, value in ref["npred_signal_per_source"].items()
        if value > 0
    }
    path = scratch / f"npred_gammapy_{case}.npz"
    if not path.exists():
        return out
    arrays = np.load(path)
    sources = [m for m in models.values() if isinstance(m, SkyModel)]
    ref_signal = arrays["npred_signal"]
    peak = float(np.max(ref_signal))

    def against(name: str, values: xr.DataArray) -> None:
        out[f"rel_diff_signal_{name}"] = float(values.sum()) / ref["npred_signal_total"] - 1
        out[f"rel_diff_signal_per_energy_{name}"] = (
            values.sum(("lat", "lon")).to_numpy() / np.array(ref["npred_signal_per_energy"]) - 1
        ).tolist()
        out[f"pixel_max_abs_diff_over_peak_{name}"] = float(
            np.max(np.abs(values.to_numpy() - ref_signal)) / peak
        )

    against("own_datasets", signal)
    if "background" in arrays and "background" in ds:
        out["rel_diff_background"] = (
            float(ds.background.sum()) / float(arrays["background"].sum()) - 1
        )
    # 1. fold with Gammapy's exposure, PSF (at the source) and migration matrix
    same = ds.copy()
    same["exposure"] = ds.exposure.copy(data=arrays["exposure"].astype(np.float32))
    if "psf" in arrays:
        same["psf"] = ds.psf.copy(data=arrays["psf"].astype(np.float32)).assign_attrs(
            units="deg-2"
        )
    if "edisp" in arrays:
        same["edisp"] = ds.edisp.copy(data=arrays["edisp"].astype(np.float32))
    against("gammapy_irfs", sum(fold(same, m) for m in sources))
    # 2. and in Gammapy's order: PSF-convolve the spatial model, then multiply by the
    #    exposure at the reconstructed position, then the migration matrix
    true_edges = np.r_[same.energy_true_lo.values, same.energy_true_hi.values[-1]]
    geom = gx.make_geom(
        gx.axis_from_edges(true_edges, name="energy", units="TeV", interp="log"),
        gx.axis_from_edges(true_edges, name="energy_true", units="TeV", interp="log"),
        sky=ds,
    )
    unit = xr.DataArray(np.ones(same.exposure.shape), dims=same.exposure.dims)
    template = xr.Dataset(
        {"exposure": unit.assign_attrs(units="cm2 s"), "psf": same.psf.drop_vars(["energy_true"])},
        coords=geom.coords,
        attrs={"frame": ds.attrs.get("frame", "icrs")},
    )  # no edisp, reco axis = true axis: the diagonal response is the identity
    convolved = sum(fold(template, m) for m in sources).to_numpy()  # (true, lat, lon)
    in_true = convolved * (same.exposure.to_numpy().astype(float) * 1e4)
    matrix = same.edisp.to_numpy().astype(float)  # (true, reco)
    gammapy_order = signal.copy(data=np.einsum("tyx,te->eyx", in_true, matrix))
    against("gammapy_irfs_and_order", gammapy_order)
    return out


# -- report ----------------------------------------------------------------------------------

NOTES = [
    "- **Timing.** Each number is the fastest of `--n-iter` calls, and with `--keep-best` of",
    "  several runs of the two scripts in turn (the machine is shared and its load changes by",
    "  2x within minutes); CPU time is the process time, less affected than wall time by the",
    "  other jobs on the machine. Both scripts run",
    "  with one BLAS thread and one FFT thread (`OPENBLAS_NUM_THREADS=1`, `--workers 1`): on a",
    "  loaded 2-core machine OpenBLAS threads slow the small matrix products of the energy",
    "  dispersion down by up to 30x.",
    "- **Where the time goes (public case, uncached).** About 40% in",
    "  `GaussianSpatialModel.integrate_geom` (10 sources of sigma 0.5 deg on up to 500 x 500",
    "  pixels; the Vincenty separation with six trigonometric functions per pixel dominates),",
    "  40% in the one batched FFT convolution of the 15 true-energy images (all sources share",
    "  it: they are summed in true energy first), the rest in the matrix products and sums.",
    "  Gammapy spends most of its time rebuilding the PSF kernel and the cutouts of every",
    "  source at each call and convolves every source separately.",
    "- **Cached evaluations** re-use each source's PSF-convolved template (exposure x spatial",
    "  fraction) while its spatial model is unchanged: a spectral change costs one matrix",
    "  product on the source's cutout, an amplitude change a rescaling, and the total is",
    "  updated on the changed cutout only. A position change rebuilds that source's template",
    "  (spatial integration and convolution; a point source's few bilinear pixels are",
    "  convolved directly, without FFT).",
    "- **Crab: totals.** The dataset background maps differ by about 2.4% (dataset reduction,",
    "  not folding: `make_map_dataset` integrates the background rate over the energy nodes),",
    "  which makes most of the total npred difference. The signal differs by +0.6% whether each",
    "  package folds its own dataset or gammaxr folds with Gammapy's exposure, PSF and",
    "  migration matrix: the difference is the order of the PSF and the exposure. gammaxr",
    "  multiplies by the exposure at the true position and then convolves (counts are",
    "  conserved: npred = flux x exposure at the source); Gammapy convolves the spatial model",
    "  and multiplies by the exposure at the reconstructed positions. The Crab is 0.5 deg from",
    "  the pointing and the H.E.S.S. PSF reaches 0.65 deg (99.9%), so the exposure changes",
    "  across it. Folding in Gammapy's order with gammaxr's kernel reproduces Gammapy's total",
    "  to 4e-4.",
    "- **Crab: pixels** differ by up to 8% of the peak. The dataset grid is a CAR grid with its",
    "  reference on the equator (gammaxr's `sky_grid`): at dec 22 deg a pixel is 0.02 deg in",
    "  lat but 0.0185 deg in RA. gammaxr builds the kernel on that grid (true separations of",
    "  the pixel centres); Gammapy builds it on a new CAR grid centred on the source with 0.02",
    "  deg in both axes, so its kernel is 8% too wide in RA on this grid (the two kernels",
    "  differ by a constant factor along lat and by 6-26% along RA). Where Gammapy does not",
    "  oversample (r68 > 6 pixels) it also evaluates the PSF at r = 0 by linear extrapolation",
    "  below the first rad node (+5 to +15% for the cuspy H.E.S.S. PSF), where gammaxr holds",
    "  the first value and integrates over sub-pixels.",
    "- **Public case** (flat exposure, Gaussian PSF on square 0.01 deg pixels at the equator):",
    "  totals agree to 4e-5 and pixels to 2e-4 of the peak; per source 1e-5 (inside the",
    "  map) to 2e-4 (sources mostly outside it, seen through their tails). Gaussian sources are",
    "  cut at 5.26 sigma (1e-6 of the flux) by gammaxr, at 5 sigma by Gammapy.",
]


def ratio(gp: dict, case: str, gp_key: str, ours: dict) -> float | None:
    try:
        return gp[case][gp_key]["wall_min"] / ours["wall_min"]
    except KeyError:
        return None


def write_markdown(results: dict, path: Path) -> None:
    gp = results.get("gammapy", {})
    lines = [
        "# Forward folding (npred): gammaxr vs Gammapy",
        "",
        f"gammaxr {results['gammaxr']}, Gammapy {gp.get('gammapy', '?')}; numpy "
        f"{results['numpy']}, scipy {results['scipy']}; {results['cpu_count']} cores, "
        f"load average {', '.join(f'{x:.2f}' for x in results['load_average'])} "
        f"(Gammapy run: {', '.join(f'{x:.2f}' for x in gp.get('load_average', []))}); "
        f"scipy.fft workers: {results['workers']}.",
        "",
        "Times per npred evaluation, ms: wall min (CPU min). Ratios: Gammapy over gammaxr, "
        "for the wall and the CPU times. See `bench_npred.py` for the cases.",
        "",
    ]
    rows = [
        ("uncached `npred()`", "uncached", "fresh"),
        ("evaluator build + first call", "evaluator_build", None),
        ("cached, nothing changed", "cached_same", None),
        ("cached, spectral index changed", "cached_spectral", "cached_spectral"),
        ("cached, amplitude changed", "cached_amplitude", None),
        ("cached, position changed", "cached_spatial", "cached_spatial"),
    ]
    for case in ("crab", "public"):
        if case not in results:
            continue
        lines += [
            f"## {case}",
            "",
            "| evaluation | gammaxr | Gammapy | ratio (wall) | ratio (CPU) |",
            "|---|---|---|---|---|",
        ]
        for label, key, gp_key in rows:
            ours = results[case]["timing"][key]
            cell = f"{ours['wall_min'] * 1e3:.2f} ({ours['cpu_min'] * 1e3:.2f})"
            gp_cell, ratio_cell, cpu_cell = "", "", ""
            if gp_key and case in gp and gp_key in gp[case]:
                ref = gp[case][gp_key]
                gp_cell = f"{ref['wall_min'] * 1e3:.1f} ({ref['cpu_min'] * 1e3:.1f})"
                ratio_cell = f"{ratio(gp, case, gp_key, ours):.1f}x"
                cpu_cell = f"{ref['cpu_min'] / ours['cpu_min']:.1f}x"
            lines.append(f"| {label} | {cell} | {gp_cell} | {ratio_cell} | {cpu_cell} |")
        comparison = results[case]["comparison"]
        lines += ["", f"- total npred: gammaxr {comparison['npred_total']:.6g}"]
        if "gammapy_npred_total" in comparison:
            lines[-1] += (
                f", Gammapy {comparison['gammapy_npred_total']:.6g} "
                f"(relative difference {comparison['rel_diff_total']:+.2e}); signal "
                f"{comparison['rel_diff_signal']:+.2e}"
            )
        labels = {
            "own_datasets": "each with its own dataset",
            "gammapy_irfs": "gammaxr folding with Gammapy's exposure, PSF and edisp",
            "gammapy_irfs_and_order": "the same, PSF before the exposure (Gammapy's order)",
        }
        for key, label in labels.items():
            if f"rel_diff_signal_{key}" in comparison:
                lines.append(
                    f"- signal, {label}: total {comparison[f'rel_diff_signal_{key}']:+.2e}, "
                    "largest pixel difference / peak "
                    f"{comparison[f'pixel_max_abs_diff_over_peak_{key}']:.2e}"
                )
        if "rel_diff_background" in comparison:
            lines.append(
                f"- background maps (dataset reduction, not folding): "
                f"{comparison['rel_diff_background']:+.2e}"
            )
        lines.append(
            "- cached vs uncached, largest absolute difference: "
            f"{results[case]['timing']['cached_vs_uncached_max_abs']:.2e}"
        )
        lines.append("")
    if "public_as_published" in gp:
        ref = gp["public_as_published"]["fresh"]
        lines += [
            "As published, the suite's dataset has `mask_safe` all False (`MapDataset.create`),",
            "so Gammapy skips every source and returns zeros: "
            f"{ref['wall_min'] * 1e3:.0f} ms of set-up per call. The `public` rows above set",
            "the mask True so that Gammapy folds the sources (gammaxr always does).",
            "",
        ]
    lines += ["## Notes", "", *NOTES, ""]
    path.write_text("\n".join(lines))


def keep_best(new: dict, old: dict) -> dict:
    """Merge two result trees, keeping the faster of two timings (``wall_min`` etc.)."""
    out = dict(old)
    for key, value in new.items():
        previous = old.get(key)
        if isinstance(value, dict) and isinstance(previous, dict):
            if "wall_min" in value and "wall_min" in previous:
                best = dict(value)
                for k in ("wall_min", "cpu_min"):
                    best[k] = min(value[k], previous[k])
                best["runs"] = previous.get("runs", 1) + 1
                out[key] = best
            else:
                out[key] = keep_best(value, previous)
        else:
            out[key] = value
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-iter", type=int, default=10)
    parser.add_argument(
        "--keep-best",
        action="store_true",
        help="merge with the previous results, keeping the faster time of each entry "
        "(run the two scripts in turn a few times on a loaded machine)",
    )
    parser.add_argument("--case", choices=("all", "public", "crab"), default="all")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--scratch", type=Path, default=Path(tempfile.gettempdir()) / "gammaxr-bench-npred"
    )
    args = parser.parse_args()
    gp_path = RESULTS / "npred_gammapy.json"
    gp = json.loads(gp_path.read_text()) if gp_path.exists() else {}
    results: dict = {
        "gammaxr": gx.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "xarray": xr.__version__,
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "load_average": list(os.getloadavg()),
        "workers": args.workers,
        "gammapy": gp,
    }
    with scipy.fft.set_workers(args.workers):
        if args.case in ("all", "crab"):
            ds, models = crab_dataset(), crab_models()
            results["crab"] = {
                "timing": time_case(ds, models, args.n_iter),
                "comparison": compare(ds, models, "crab", gp, args.scratch),
            }
        if args.case in ("all", "public"):
            ds, models = public_dataset(), public_models(public_positions())
            results["public"] = {
                "timing": time_case(ds, models, args.n_iter),
                "comparison": compare(ds, models, "public", gp, args.scratch),
            }
    results["load_average_end"] = list(os.getloadavg())
    for case in ("crab", "public"):
        if case in results:
            timing = results[case]["timing"]
            print(
                f"{case}: "
                + ", ".join(
                    f"{key} {value['wall_min'] * 1e3:.2f} ms"
                    for key, value in timing.items()
                    if isinstance(value, dict)
                )
            )
            print(f"  comparison: {json.dumps(results[case]['comparison'])[:600]}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "npred.json"
    if path.exists() and (args.keep_best or args.case != "all"):
        previous = json.loads(path.read_text())
        if args.keep_best:
            results = keep_best(results, previous)
        else:
            previous.update(results)
            results = previous
    results["gammapy"] = gp
    path.write_text(json.dumps(results, indent=2))
    write_markdown(results, RESULTS / "npred.md")
    print(f"wrote {RESULTS / 'npred.json'} and {RESULTS / 'npred.md'}")


if __name__ == "__main__":
    main()
