"""Fit benchmark: gammaxr against Gammapy 2.x on the same 3D likelihood fits.

Three cases, each fitted by both tools with MIGRAD (``tol=0.1``, ``strategy=1``:
Gammapy's defaults) followed by HESSE:

``crab``
    The four shipped H.E.S.S. Crab runs reduced as in ``examples/map_reduction.py``
    (3 x 3 deg at 0.02 deg around the Crab, reco 0.5-50 TeV at 5 bins per decade,
    true 0.3-100 TeV at 8 per decade, safe mask aeff-default + offset-max, a
    FoV background normalisation fitted per run outside an 0.3 deg exclusion
    circle) and stacked, by gammaxr. Gammapy fits *the same dataset*: the maps
    and gammaxr's PSF profile and migration matrix are handed over as an
    ``.npz`` and turned into a Gammapy ``MapDataset`` (``bench_fit_gammapy.py``).
    Model: point source (position free) + power law (index 2.6, amplitude
    3.8e-11 cm-2 s-1 TeV-1 at 1 TeV) + FoV background norm (tilt frozen).
``a3d``
    The fit of gammapy/gammapy-benchmarks ``benchmarks/analysis_3d.py``: CTA 1DC
    run 110380 reduced ten times and stacked on a 10 x 8 deg galactic CAR grid
    at 0.05 deg, 10 log energy bins 0.1-10 TeV (reco = true), safe mask
    offset-max 4 deg, background integrated over the bin edges; point source
    started at (0.01, 0.01) deg galactic, exponential-cutoff power law (index 2,
    amplitude 3e-12 cm-2 s-1 TeV-1 at 1 TeV, lambda 0.1 TeV-1), no background
    model. Each tool fits its own reduction (the benchmark's way); Gammapy
    also fits gammaxr's reduction (``a3d-gx``: the same data).
``a3d-joint``
    ``benchmarks/analysis_3d_joint.py``: the same run ten times, each reduced on
    the cutout of 8 x 8 deg around the pointing of a 10 x 8 deg grid at 0.02
    deg, ten datasets fitted jointly by one model (point source started at
    (-0.05, -0.05) deg, the same spectrum). Gammapy also fits gammaxr's
    reduction (``a3d-joint-gx``).

Steps (the reduced datasets live in ``--scratch``, default
``$TMPDIR/gammaxr-bench-fit``)::

    python benchmarks/bench_fit.py --prepare [--data PATH]   # both tools reduce and write
    python benchmarks/bench_fit.py --prepare gammaxr         # gammaxr only (Gammapy's kept)
    python benchmarks/bench_fit.py [--repeat 3] [--joint-repeat 1] [--cases crab a3d a3d-joint]
                                   [--profile] [--experiment] [--joint-gx] [--no-gammapy-gx]
    python benchmarks/bench_fit.py --markdown                # rewrite fit.md from fit.json

``--prepare`` runs ``bench_fit_gammapy.py --prepare`` in the Gammapy environment
(``--gammapy-python``, default ``/work/gp-venv/bin/python``), then gammaxr's
reductions; both reduction times are recorded (for information: one run each).
Every timed fit runs in a fresh process (datasets read and imports done before
the clock starts; the fit's evaluators are built inside the timing, for both
tools), gammaxr's and Gammapy's runs taking turns so that the load of the shared
machine hits both; each figure is the best of ``--repeat`` runs, with the wall
time, the process CPU time, the number of statistic evaluations (MIGRAD and
HESSE) and the load average at the start of each run. ``--profile`` adds
cProfile's top entries for gammaxr's fit of each case, and ``--experiment``
the effect of speed-ups, each switched off by monkeypatching (see :func:`experiments`).
``a3d-joint`` fits take minutes per tool, so they run ``--joint-repeat`` times
(default 1), and Gammapy's fit of gammaxr's joint reduction only with ``--joint-gx``.
gammaxr's fit runs HESSE after MIGRAD (its default) while Gammapy's ``Fit.run``
re-uses MIGRAD's covariance, so each gammaxr run also times a MIGRAD-only fit
(``covariance=False``, a second fit in the same process). Writes
``results/fit.json`` and ``results/fit.md`` (a ``notes`` entry in ``fit.json``,
written by hand, is kept and printed at the end of ``fit.md``). ``--data`` is the folder
holding ``cta-1dc`` (default ``$GAMMAXR_DATA``, else ``../shared/data``).
"""

from __future__ import annotations

import argparse
import cProfile
import datetime
import functools
import io
import json
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as for Gammapy: 2 shared cores
import platform
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
CASES = ("crab", "a3d", "a3d-joint")
GAMMAPY_CASES = {"crab": ["crab"], "a3d": ["a3d", "a3d-gx"],
                 "a3d-joint": ["a3d-joint", "a3d-joint-gx"]}  # fmt: skip
DEFAULT_SCRATCH = Path(tempfile.gettempdir()) / "gammaxr-bench-fit"
GAMMAPY_PYTHON = "/work/gp-venv/bin/python"
OBS_ID, N_OBS = 110380, 10
A3D_SAFE_MASK = {"offset-max": {"offset_max": 4.0}}
FIT_OPTIONS = {"tol": 0.1, "strategy": 1}
CRAB = (83.633, 22.014)


def find_data(path: str | None) -> Path:
    """The folder holding cta-1dc: --data, $GAMMAXR_DATA or ../shared/data."""
    default = [os.environ.get("GAMMAXR_DATA"), HERE.parents[1] / "shared" / "data"]
    for candidate in [path] if path else default:
        if candidate and (Path(candidate) / "cta-1dc" / "index" / "gps").is_dir():
            return Path(candidate).resolve()
    sys.exit("no cta-1dc found; give --data PATH")


# --------------------------------------------------------------------------------------
# Reduction (gammaxr), written once
# --------------------------------------------------------------------------------------


def reduce_crab():
    """The stacked Crab dataset of examples/map_reduction.py."""
    import astropy.units as u
    from astropy.coordinates import SkyCoord
    from regions import CircleSkyRegion

    import gammaxr as gx
    from gammaxr.reduce import fit_fov_background

    crab = SkyCoord(*CRAB, unit="deg")
    geom = gx.make_geom(
        gx.energy_axis(0.5, 50, per_decade=5),
        gx.energy_axis(0.3, 100, per_decade=8, name="energy_true"),
        sky=gx.sky_grid(crab, width=3, binsz=0.02),
    )
    exclusion = gx.region_mask(CircleSkyRegion(crab, 0.3 * u.deg), geom)
    datasets = []
    for obs in gx.open_datastore().observations():
        ds = gx.make_map_dataset(obs, geom, safe_mask=["aeff-default", "offset-max"])
        ds = fit_fov_background(ds, exclusion)
        datasets.append(ds.drop_vars(["background_norm", "background_tilt", "background_fit_ok"]))
    stacked = gx.concat_observations(datasets).gp.stack()
    stacked.attrs["name"] = "crab-stacked"
    return stacked


def a3d_geom(binsz: float):
    import gammaxr as gx

    return gx.make_geom(
        gx.energy_axis(0.1, 10, nbin=10),
        gx.energy_axis(0.1, 10, nbin=10, name="energy_true"),
        sky=gx.sky_grid((0.0, 0.0), width=(10.0, 8.0), binsz=binsz, frame="galactic"),
    )


def reduce_a3d(data: Path):
    """analysis_3d's data_prep: run 110380 ten times, stacked (as bench_reduce.py)."""
    import gammaxr as gx
    from gammaxr.reduce import make_map_dataset
    from gammaxr.stacking import stack_pair

    store = gx.open_datastore(data / "cta-1dc" / "index" / "gps")
    geom = a3d_geom(0.05)
    datasets = (
        make_map_dataset(store.observation(OBS_ID), geom, safe_mask=A3D_SAFE_MASK,
                         background_integration="edges")
        for _ in range(N_OBS)
    )  # fmt: skip
    stacked = functools.reduce(stack_pair, datasets)
    stacked.attrs["name"] = "stacked_ds"
    return stacked


def reduce_a3d_joint(data: Path, cutout: dict | None):
    """analysis_3d_joint's data_prep: ten datasets on the 8 x 8 deg cutout at the pointing.

    ``cutout`` holds the lon / lat range of the pixel centres of Gammapy's cutout
    (from its ``--prepare``), so that both tools fit the same pixels.
    """
    import gammaxr as gx
    from gammaxr.reduce import make_map_dataset

    store = gx.open_datastore(data / "cta-1dc" / "index" / "gps")
    obs = store.observation(OBS_ID)
    half = 4.0 - 0.01  # pixel centres within 4 deg of the pointing (0, -1.3), clipped to the grid
    lon_range = cutout["lon_range"] if cutout else [-half, half]
    lat_range = cutout["lat_range"] if cutout else [-4.0, -1.3 + half]
    eps = 1e-6
    geom = a3d_geom(0.02)
    geom = geom.sel(lon=slice(lon_range[0] - eps, lon_range[1] + eps),
                    lat=slice(lat_range[0] - eps, lat_range[1] + eps))  # fmt: skip
    out = []
    for i in range(N_OBS):
        obs = store.observation(OBS_ID)
        ds = make_map_dataset(obs, geom, safe_mask=A3D_SAFE_MASK, background_integration="edges")
        ds.attrs["name"] = f"dataset{i}"
        out.append(ds)
    return out


def to_npz(ds, path: Path) -> None:
    """The arrays Gammapy needs to build the same MapDataset (bench_fit_gammapy.from_npz)."""
    lat = ds.lat_lo.values
    binsz = float(ds.lat_hi.values[0] - lat[0])
    np.savez(
        path,
        counts=ds.counts.values, exposure=ds.exposure.values.astype(np.float64),
        exposure_unit=ds.exposure.attrs["units"], background=ds.background.values,
        mask_safe=ds.mask_safe.values, psf=ds.psf.values.astype(np.float64),
        rad_lo=ds.rad_lo.values, rad_hi=ds.rad_hi.values, edisp=ds.edisp.values,
        energy_lo=ds.energy_lo.values, energy_hi=ds.energy_hi.values,
        energy_true_lo=ds.energy_true_lo.values, energy_true_hi=ds.energy_true_hi.values,
        lon=ds.lon.values, lat_lo=lat, binsz=binsz, frame=ds.attrs["frame"],
    )  # fmt: skip


def prepare(data: Path, scratch: Path, gammapy_python: str, which: str = "both") -> dict:
    """Both tools reduce and write the datasets; returns the reduction times.

    With ``which="gammaxr"``, Gammapy's reductions are taken as they are in the
    scratch folder (``gp-prepare.json`` and the ``gp-*.fits`` files).
    """
    scratch.mkdir(parents=True, exist_ok=True)
    if which == "both":
        command = [gammapy_python, str(HERE / "bench_fit_gammapy.py"), "--prepare",
                   "--data", str(data), "--scratch", str(scratch)]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode:
            raise RuntimeError(f"{command} failed:\n{done.stderr[-3000:]}")
    gammapy = json.loads((scratch / "gp-prepare.json").read_text())

    import gammaxr  # noqa: F401  (imports outside the timing)
    import gammaxr.reduce  # noqa: F401

    out = {}
    jobs = {
        "crab": reduce_crab,
        "a3d": lambda: reduce_a3d(data),
        "a3d-joint": lambda: reduce_a3d_joint(data, gammapy["a3d-joint"].get("cutout")),
    }
    for case, job in jobs.items():
        t = time.perf_counter(), time.process_time()
        result = job()
        out[case] = {"seconds": time.perf_counter() - t[0],
                     "cpu_seconds": time.process_time() - t[1]}  # fmt: skip
        for i, ds in enumerate(result if isinstance(result, list) else [result]):
            stem = case if case != "a3d-joint" else f"{case}-{i}"
            ds.gp.write(scratch / f"{stem}.nc")
            to_npz(ds, scratch / f"{stem}.npz")
    report = {"gammaxr": out, "gammapy": gammapy, "load_average": list(os.getloadavg())}
    (scratch / "prepare.json").write_text(json.dumps(report, indent=1))
    return report


# --------------------------------------------------------------------------------------
# The timed fit
# --------------------------------------------------------------------------------------


def load_case(case: str, scratch: Path):
    """(datasets, models) of a case, read from the scratch folder."""
    import gammaxr as gx
    from gammaxr.models import (
        ExpCutoffPowerLawSpectralModel,
        FoVBackgroundModel,
        Models,
        PointSpatialModel,
        PowerLawSpectralModel,
        SkyModel,
    )

    def gc_source(lon, lat):
        return SkyModel(
            ExpCutoffPowerLawSpectralModel(index=2.0, amplitude=3e-12, lambda_=0.1),
            PointSpatialModel(lon_0=lon, lat_0=lat, frame="galactic"),
            name="gc-source",
        )

    if case == "crab":
        datasets = [gx.read_dataset(scratch / "crab.nc").load()]
        models = Models([
            SkyModel(PowerLawSpectralModel(index=2.6, amplitude=3.8e-11),
                     PointSpatialModel(lon_0=CRAB[0], lat_0=CRAB[1]), name="crab"),
            FoVBackgroundModel("crab-stacked"),
        ])  # fmt: skip
    elif case == "a3d":
        datasets = [gx.read_dataset(scratch / "a3d.nc").load()]
        models = Models([gc_source(0.01, 0.01)])
    elif case == "a3d-joint":
        datasets = [gx.read_dataset(scratch / f"a3d-joint-{i}.nc").load() for i in range(N_OBS)]
        models = Models([gc_source(-0.05, -0.05)])
    else:
        raise ValueError(case)
    return datasets, models


def run_fit(datasets, models):
    import gammaxr as gx

    return gx.fit(datasets if len(datasets) > 1 else datasets[0], models, **FIT_OPTIONS)


def gx_fit_migrad_only(datasets, models):
    import gammaxr as gx

    data = datasets if len(datasets) > 1 else datasets[0]
    return gx.fit(data, models, covariance=False, **FIT_OPTIONS)


def summarise(result) -> dict:
    table = result.parameters
    free = table[~table["frozen"]]
    parameters = {}
    for name, row in free.iterrows():
        short = name.rsplit(".", 1)[-1]
        key = "bkg_norm" if name.endswith("-bkg.spectral.norm") else short
        parameters[key] = [float(row["value"]), float(row["error"])]
    return {
        "nfev": int(result.nfev),
        "success": bool(result.success),
        "message": result.message,
        "statistic": float(result.statistic),
        "parameters": parameters,
    }


def one_run(case: str, scratch: Path) -> dict:
    from gammaxr.models import npred

    datasets, models = load_case(case, scratch)
    for ds in datasets[:1]:
        npred(ds, models, dataset_name=ds.attrs.get("name"))  # warm-up: imports, first calls
    load = list(os.getloadavg())
    wall, cpu = time.perf_counter(), time.process_time()
    result = run_fit(datasets, models)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    # MIGRAD alone (Gammapy takes its covariance from MIGRAD's state, without HESSE)
    t = time.perf_counter(), time.process_time()
    migrad = gx_fit_migrad_only(datasets, models)
    migrad_seconds = time.perf_counter() - t[0], time.process_time() - t[1]
    npred_times = []
    for _ in range(3):
        t = time.perf_counter()
        for ds in datasets:
            npred(ds, models, dataset_name=ds.attrs.get("name"))
        npred_times.append(time.perf_counter() - t)
    return {
        "tool": "gammaxr",
        "case": case,
        "seconds": wall,
        "cpu_seconds": cpu,
        "npred_seconds": min(npred_times),
        "seconds_migrad": migrad_seconds[0],
        "cpu_seconds_migrad": migrad_seconds[1],
        "nfev_migrad": int(migrad.nfev),
        "load_average": load,
        "shape": [list(datasets[0].counts.shape)],
        "mask_bins": int(sum(int(ds.mask_safe.sum()) for ds in datasets)),
        **summarise(result),
    }


def subprocess_run(command: list[str]) -> dict:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"{command} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------------------
# Profile and speed-up experiments
# --------------------------------------------------------------------------------------


def profile(case: str, scratch: Path, top: int = 25, n_eval: int = 30) -> dict:
    """cProfile of gammaxr's fit of ``case`` (sorted by total and by cumulative time).

    For ``a3d-joint`` (minutes per fit) only ``n_eval`` evaluations of the
    statistic at points around the start values, each moving the source.
    """
    from gammaxr.fit.fit import Problem, as_cost

    datasets, models = load_case(case, scratch)
    data = datasets if len(datasets) > 1 else datasets[0]
    if case == "a3d-joint":
        problem = Problem(as_cost(data), models)
        rng = np.random.default_rng(2)
        points = [problem.x0 * (1 + 1e-3 * rng.normal(size=len(problem.x0)))
                  for _ in range(n_eval)]  # fmt: skip
        problem(problem.x0)

        def job():
            for x in points:
                problem(x)
            return n_eval
    else:
        run_fit(datasets, models)  # warm-up

        def job():
            return int(run_fit(datasets, models).nfev)

    profiler = cProfile.Profile()
    profiler.enable()
    nfev = job()
    profiler.disable()
    out = {"nfev": nfev, "what": "statistic evaluations" if case == "a3d-joint" else "fit"}
    for order in ("tottime", "cumulative"):
        stream = io.StringIO()
        stats = pstats.Stats(profiler, stream=stream)
        stats.sort_stats(order).print_stats(top)
        out[order] = _trim(stream.getvalue())
        out["seconds"] = stats.total_tt
    return out


def _trim(text: str) -> str:
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
    prefixes = [str(Path(sys.prefix)), str(HERE.parent / "src"), sys.base_prefix]
    out = []
    for line in lines[start:]:
        if not line:
            continue
        for prefix in prefixes:
            line = line.replace(prefix + "/lib/python3.11/site-packages", "<venv>")
            line = line.replace(prefix, "<src>" if prefix.endswith("src") else "<python>")
        out.append(line)
    return "\n".join(out)


def experiments(case: str, scratch: Path, repeat: int = 1, n_eval: int = 20) -> dict:
    """gammaxr's fit of ``case`` as is and with each speed-up of :data:`SPEEDUPS` switched off.

    For each variant: the statistic and its CPU time per evaluation at ``n_eval``
    points scattered around the start values (each moves the source, as MIGRAD's
    steps do), and a whole fit (best wall and CPU time of ``repeat``). The
    largest difference of the statistic from the one as is is recorded.
    """
    from gammaxr.fit.fit import Problem, as_cost

    datasets, models = load_case(case, scratch)
    data = datasets if len(datasets) > 1 else datasets[0]
    x0 = Problem(as_cost(data), models).x0
    rng = np.random.default_rng(1)
    points = [x0 * (1 + 1e-3 * rng.normal(size=len(x0))) for _ in range(n_eval)]
    variants = {"as is": Unpatched, **SPEEDUPS}
    out, reference = {}, None
    for label, patch in variants.items():
        with patch():
            problem = Problem(as_cost(data), models)
            problem(x0)  # builds the evaluators
            cpu = time.process_time()
            values = np.array([problem(x) for x in points])
            per_eval = (time.process_time() - cpu) / n_eval
            times, cpus = [], []
            for _ in range(repeat):
                wall, cpu = time.perf_counter(), time.process_time()
                result = run_fit(datasets, models)
                times.append(time.perf_counter() - wall)
                cpus.append(time.process_time() - cpu)
        reference = values if reference is None else reference
        out[label] = {
            "seconds": min(times), "cpu_seconds": min(cpus), "cpu_per_eval": per_eval,
            "max_stat_difference": float(np.max(np.abs(values - reference))),
            **summarise(result),
        }  # fmt: skip
        print(
            f"experiment {case} / {label}: fit {min(times):.2f} s ({min(cpus):.2f} s CPU), "
            f"{1e3 * per_eval:.1f} ms CPU per evaluation, nfev {result.nfev}",
            flush=True,
        )
    return out


class Unpatched:
    """gammaxr as it is (a do-nothing context manager)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class WholeMapCash(Unpatched):
    """``MapCost`` without its ``incremental`` predictor: Cash over the whole map at every call.

    What gammaxr did before the tiled sum: the sparse sum (``MapCost._sparse_cash``:
    one dot product over the map, logarithms where there are counts) of a copy of
    the evaluator's total.
    """

    def __enter__(self):
        from gammaxr.fit import cost as cost_module

        self.module, self.original = cost_module, cost_module.MapCost.__init__
        original = self.original

        def __init__(cost, *args, incremental=None, **kwargs):
            original(cost, *args, **kwargs)

        cost_module.MapCost.__init__ = __init__
        return self

    def __exit__(self, *exc):
        self.module.MapCost.__init__ = self.original
        return False


class UnsharedIntegrals(Unpatched):
    """Every dataset integrates the spectrum itself (no shared ``spectral_integral`` cache)."""

    def __enter__(self):
        from gammaxr.models import _folding

        self.module, self.original = _folding, _folding.spectral_integral

        def spectral_integral(spectral, energy_edges, key):
            flux = spectral.integral(energy_edges[:-1], energy_edges[1:])
            return np.array(flux, dtype=np.float64).reshape(1, -1)

        _folding.spectral_integral = spectral_integral
        return self

    def __exit__(self, *exc):
        self.module.spectral_integral = self.original
        return False


#: Speed-ups switched off, one at a time (the variants of :func:`experiments`).
SPEEDUPS = {"whole-map Cash": WholeMapCash, "unshared spectral integrals": UnsharedIntegrals}


# --------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------


def environment() -> dict:
    import iminuit
    import scipy

    import gammaxr

    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "load_average": list(os.getloadavg()),
        "versions": {
            "gammaxr": gammaxr.__version__,
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "iminuit": iminuit.__version__,
        },  # fmt: skip
    }


def best(runs: list[dict]) -> dict:
    """The run with the least wall time, with the least CPU time of all runs beside."""
    out = dict(min(runs, key=lambda r: r["seconds"]))
    out["cpu_seconds_min"] = min(r["cpu_seconds"] for r in runs)
    out["seconds_all"] = [r["seconds"] for r in runs]
    out["cpu_seconds_all"] = [r["cpu_seconds"] for r in runs]
    out["load_average_all"] = [r["load_average"][0] for r in runs]
    return out


def agreement(ours: dict, theirs: dict) -> dict:
    """Per parameter: value difference in units of gammaxr's error, relative error difference."""
    out = {}
    for name, (value, error) in ours["parameters"].items():
        if name not in theirs["parameters"]:
            continue
        other, other_error = theirs["parameters"][name]
        out[name] = {
            "gammaxr": [value, error],
            "gammapy": [other, other_error],
            "delta_over_sigma": (value - other) / error if error > 0 else float("nan"),
            "relative_value": (value - other) / abs(other) if other else float("nan"),
            "relative_error": (error - other_error) / other_error if other_error else float("nan"),
        }
    return out


def markdown(report: dict) -> str:
    env = report["environment"]
    lines = [
        "# Fit benchmark: gammaxr vs Gammapy",
        "",
        f"gammaxr {env['versions']['gammaxr']}, Gammapy {report.get('gammapy_version', '2.1')}; "
        f"iminuit {env['versions']['iminuit']}, numpy {env['versions']['numpy']}; "
        f"{env['cpu_count']} cores shared with other jobs; {env['date']}.",
        "",
        "Both tools run MIGRAD (tol 0.1, strategy 1; Gammapy's defaults) with one BLAS thread. "
        "gammaxr's `fit` then runs HESSE (its default); Gammapy's `Fit.run` takes the "
        "covariance from MIGRAD's state without a new HESSE, so the *MIGRAD only* row times "
        "gammaxr doing the same work (a second fit in the same process, `covariance=False`). "
        f"Each figure is the best of {report['repeat']} runs (a3d-joint: "
        f"{report.get('joint_repeat', report['repeat'])}), each in a fresh process (data read "
        "and imports done before the clock starts; evaluators, PSF kernels and cut-outs built "
        "inside the timing), the tools taking turns. *evals*: statistic evaluations; *per "
        "eval*: time / evals; *npred*: one uncached npred of every dataset of the case. The "
        "machine was loaded by other jobs (load average at the start of each run, last "
        "column, on 2 cores), which inflates wall times by up to 3x: the CPU times are the "
        "fairer comparison.",
        "",
        "| case | tool | data | wall s | CPU s | evals | per eval ms (CPU) | npred ms | load |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    ratios = []
    for case, entry in report["cases"].items():
        gx_run = entry["gammaxr"]
        rows = [("gammaxr", "gammaxr", gx_run)]
        if "seconds_migrad" in gx_run:
            migrad = {**gx_run, "seconds": gx_run["seconds_migrad"],
                      "cpu_seconds_min": gx_run["cpu_seconds_migrad"],
                      "nfev": gx_run["nfev_migrad"]}  # fmt: skip
            migrad.pop("npred_seconds")
            rows.append(("gammaxr, MIGRAD only", "gammaxr", migrad))
        rows += [("Gammapy", "gammaxr" if k.endswith("-gx") or k == "crab" else "Gammapy", r)
                 for k, r in entry["gammapy"].items()]  # fmt: skip
        for tool, data, run in rows:
            npred_ms = f"{1e3 * run['npred_seconds']:.1f}" if "npred_seconds" in run else ""
            loads = ", ".join(f"{x:.1f}" for x in run["load_average_all"])
            lines.append(
                f"| {case} | {tool} | {data} | {run['seconds']:.2f} | {run['cpu_seconds_min']:.2f}"
                f" | {run['nfev']} | {1e3 * run['seconds'] / run['nfev']:.1f} "
                f"({1e3 * run['cpu_seconds_min'] / run['nfev']:.1f}) | {npred_ms} | {loads} |"
            )
        for key, run in entry["gammapy"].items():
            for label, _, ours in rows[: 2 if "seconds_migrad" in gx_run else 1]:
                per_eval = (run["cpu_seconds_min"] / run["nfev"]) / (
                    ours["cpu_seconds_min"] / ours["nfev"]
                )
                ratios.append(
                    f"| {case} | {key} | {label} | {run['seconds'] / ours['seconds']:.1f}x | "
                    f"{run['cpu_seconds_min'] / ours['cpu_seconds_min']:.1f}x | {per_eval:.1f}x |"
                )
    lines += [
        "",
        "Speed-up, Gammapy time / gammaxr time (the issue's target is 10x):",
        "",
        "| case | Gammapy run | gammaxr run | wall | CPU | CPU per evaluation |",
        "|---|---|---|---|---|---|",
        *ratios,
        "",
        "## Best-fit values",
        "",
        "Value ± error of each free parameter (lon/lat deg, amplitude cm-2 s-1 TeV-1, lambda "
        "TeV-1); Δ/σ is (gammaxr − Gammapy) over gammaxr's error; the last column the relative "
        "difference of the errors.",
        "",
    ]
    for case, entry in report["cases"].items():
        for key, comparison in entry["agreement"].items():
            lines += [f"**{case}** vs Gammapy `{key}` (statistic: gammaxr "
                      f"{entry['gammaxr']['statistic']:.3f}, Gammapy "
                      f"{entry['gammapy'][key]['statistic']:.3f})", "",
                      "| parameter | gammaxr | Gammapy | Δ/σ | error rel. diff |",
                      "|---|---|---|---|---|"]  # fmt: skip
            for name, c in comparison.items():
                lines.append(
                    f"| {name} | {c['gammaxr'][0]:.5g} ± {c['gammaxr'][1]:.3g} | "
                    f"{c['gammapy'][0]:.5g} ± {c['gammapy'][1]:.3g} | "
                    f"{c['delta_over_sigma']:+.3f} | {c['relative_error']:+.2%} |"
                )
            lines.append("")
    if report.get("prepare"):
        prep = report["prepare"]
        lines += ["## Reduction (for information; one run each, not interleaved)", "",
                  "| case | gammaxr wall s (CPU) | Gammapy wall s (CPU) |",
                  "|---|---|---|"]  # fmt: skip
        for case in CASES:
            g, p = prep["gammaxr"].get(case), prep["gammapy"].get(case)
            if g and p:
                lines.append(f"| {case} | {g['seconds']:.1f} ({g['cpu_seconds']:.1f}) | "
                             f"{p['seconds']:.1f} ({p['cpu_seconds']:.1f}) |")  # fmt: skip
        lines += [
            "",
            "Gammapy's `a3d-joint` time includes writing the ten datasets; "
            "`crab` is reduced by gammaxr only (Gammapy fits gammaxr's dataset).",
            "",
        ]
    for case, prof in report.get("profiles", {}).items():
        what = prof.get("what", "fit")
        lines += [f"## Profile: gammaxr `{case}` {what} ({prof['seconds']:.2f} s "
                  f"under cProfile, {prof['nfev']} evaluations)", "", "By own time:", "", "```",
                  prof["tottime"], "```", "", "By cumulative time:", "", "```",
                  prof["cumulative"], "```", ""]  # fmt: skip
    for case, exp in report.get("experiments", {}).items():
        lines += [
            f"## Speed-up experiments: `{case}` (one process; speed-ups switched off by "
            "monkeypatching)",
            "",
            "CPU per evaluation: mean over 20 evaluations at points around the start values "
            "(every parameter moved, so the source moves at each one: the worst case for the "
            "tiled Cash sum); |Δ stat|: largest difference from the statistic as is at those "
            "points; the fit: best of 3 (a3d-joint: 1), MIGRAD + HESSE.",
            "",
            "| variant | CPU per eval ms | \\|Δ stat\\| | fit wall s | fit CPU s | evals | "
            "statistic | index |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for label, r in exp.items():
            index = r["parameters"].get("index", [float("nan")])[0]
            lines.append(
                f"| {label} | {1e3 * r['cpu_per_eval']:.2f} | {r['max_stat_difference']:.1e} | "
                f"{r['seconds']:.3f} | {r['cpu_seconds']:.3f} | {r['nfev']} | "
                f"{r['statistic']:.4f} | {index:.6f} |"
            )
        lines.append("")
    if report.get("notes"):
        lines += ["## Notes", "", report["notes"], ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", help="folder holding cta-1dc ($GAMMAXR_DATA, ../shared/data)")
    parser.add_argument("--scratch", default=str(DEFAULT_SCRATCH), help="reduced datasets")
    parser.add_argument("--gammapy-python", default=GAMMAPY_PYTHON)
    parser.add_argument("--prepare", nargs="?", const="both", choices=("both", "gammaxr"),
                        help="reduce and write (both tools, or gammaxr only)")  # fmt: skip
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per case and tool")
    parser.add_argument("--cases", nargs="*", default=list(CASES), choices=CASES)
    parser.add_argument(
        "--joint-repeat",
        type=int,
        default=1,
        help="timed runs of a3d-joint per tool (default 1: minutes each)",
    )
    parser.add_argument(
        "--no-gammapy-gx",
        action="store_true",
        help="skip Gammapy's fit of gammaxr's a3d reduction (a3d-gx)",
    )
    parser.add_argument("--joint-gx", action="store_true",
                        help="also Gammapy's fit of gammaxr's a3d-joint reduction")  # fmt: skip
    parser.add_argument("--profile", action="store_true", help="cProfile gammaxr's fits")
    parser.add_argument("--experiment", action="store_true", help="speed-ups switched off")
    parser.add_argument("--markdown", action="store_true", help="rewrite fit.md from fit.json")
    parser.add_argument("--one", choices=CASES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    scratch = Path(args.scratch)
    if args.one:
        print(json.dumps(one_run(args.one, scratch)))
        return
    if args.markdown:
        (RESULTS / "fit.md").write_text(markdown(json.loads((RESULTS / "fit.json").read_text())))
        return
    if args.prepare:
        data = find_data(args.data)
        print(
            json.dumps(prepare(data, scratch, args.gammapy_python, args.prepare), indent=1),
            flush=True,
        )
    report = {"environment": environment(), "repeat": args.repeat,
              "joint_repeat": args.joint_repeat, "fit_options": FIT_OPTIONS,
              "scratch": str(scratch), "cases": {}}  # fmt: skip
    if (scratch / "prepare.json").exists():
        report["prepare"] = json.loads((scratch / "prepare.json").read_text())
    runs: dict = {case: {"gammaxr": [], "gammapy": {}} for case in args.cases}
    # Repeats outermost: every tool sees the same load over time.
    for r in range(max(args.repeat, args.joint_repeat)):
        for case in args.cases:
            if r >= (args.joint_repeat if case == "a3d-joint" else args.repeat):
                continue
            keys = GAMMAPY_CASES[case]
            if args.no_gammapy_gx and case == "a3d" or not args.joint_gx and case == "a3d-joint":
                keys = keys[:1]
            order = ["gammaxr", *keys] if r % 2 == 0 else [*keys, "gammaxr"]
            for key in order:
                if key == "gammaxr":
                    run = subprocess_run([sys.executable, __file__, "--one", case,
                                          "--scratch", str(scratch)])  # fmt: skip
                    runs[case]["gammaxr"].append(run)
                else:
                    run = subprocess_run([args.gammapy_python, str(HERE / "bench_fit_gammapy.py"),
                                          "--one", key, "--scratch", str(scratch)])  # fmt: skip
                    runs[case]["gammapy"].setdefault(key, []).append(run)
                print(
                    f"{case} {key}: {run['seconds']:.2f} s wall, {run['cpu_seconds']:.2f} s "
                    f"CPU, {run['nfev']} evals, load {run['load_average'][0]:.1f}",
                    flush=True,
                )
    for case in args.cases:
        entry = {"gammaxr": best(runs[case]["gammaxr"]),
                 "gammapy": {k: best(v) for k, v in runs[case]["gammapy"].items()}}  # fmt: skip
        entry["agreement"] = {k: agreement(entry["gammaxr"], v)
                              for k, v in entry["gammapy"].items()}  # fmt: skip
        report["cases"][case] = entry
    if args.profile:
        report["profiles"] = {case: profile(case, scratch) for case in args.cases}
    if args.experiment:
        report["experiments"] = {
            case: experiments(case, scratch, repeat=1 if case == "a3d-joint" else 3)
            for case in args.cases
        }
    previous = RESULTS / "fit.json"
    if previous.exists():  # keep hand-written notes
        report["notes"] = json.loads(previous.read_text()).get("notes", "")
    RESULTS.mkdir(exist_ok=True)
    previous.write_text(json.dumps(report, indent=1))
    (RESULTS / "fit.md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
