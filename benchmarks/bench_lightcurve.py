"""The public light-curve benchmark cases, gammaxr side by side with Gammapy.

Run with the gammaxr environment; it starts Gammapy's side
(``bench_lightcurve_gammapy.py``) in the Gammapy environment, interleaved::

    /work/venv/bin/python benchmarks/bench_lightcurve.py [--repeat 2] \\
        [--cases lightcurve_1d lightcurve_3d] [--gammapy-python /work/gp-venv/bin/python] \\
        [--data PATH]

The cases are gammapy/gammapy-benchmarks ``benchmarks/lightcurve_1d.py`` and
``benchmarks/lightcurve_3d.py`` (ten simulated CTA observations; see the
docstring of ``bench_lightcurve_gammapy.py`` for the settings), each in three
timed steps, reproduced with gammaxr as follows:

``simulations``
    the CTA 1DC ``South_z20_50h`` IRFs read (:func:`gammaxr.io.gadf.irf.read_irf`);
    ten observations of 1 h from the IRFs alone (gammaxr has no event-less
    ``Observation.create``: :class:`IrfObservation` below gives the reduction
    what it reads from an observation: IRFs, pointing, times); each reduced
    with the public reducers (1D: :func:`gammaxr.reduce.make_spectrum_dataset`,
    exposure, background and edisp, no containment correction, as Gammapy's
    ``SpectrumDatasetMaker`` default; 3D: :func:`gammaxr.make_map_dataset`,
    exposure, background and the ``offset-max`` 4 deg safe mask, plus
    :func:`gammaxr.reduce.make_psf` and :func:`gammaxr.reduce.make_edisp` at the
    simulated source's position, where Gammapy evaluates its PSF and edisp maps
    when it folds the source); the background integrated over each bin from its
    edges (``background_integration="edges"``, Gammapy's method); the ten
    datasets joined along ``obs_id`` (:func:`gammaxr.concat_observations`) and
    faked at once: ``numpy.random.Generator.poisson`` of
    :func:`gammaxr.models.npred` (background plus the simulation model, whose
    temporal part is averaged over each observation);
``lc estimation``
    :func:`gammaxr.estimators.light_curve` of the joint dataset (one bin per
    observation), energy edges 1 and 10 TeV, ``reoptimize=False``; gammaxr
    always gives the asymmetric errors and the 2 sigma upper limit, so it
    compares with both of Gammapy's runs (the suite's default selection, and
    ``["errn-errp", "ul"]``);
``temporal fitting``
    :func:`gammaxr.fit.fit` of the joint dataset with the same start models and
    free parameters as Gammapy. The benchmark's ``FoVBackgroundModel`` norms stay
    at 1 in both estimation and fit (frozen), so gammaxr uses the background as
    it is.

Every run (each tool, each case) is a fresh process; the runs alternate
(Gammapy, gammaxr, Gammapy, gammaxr, ...), ``--repeat`` times, and the table
gives the best wall-clock and CPU times (``time.process_time``) per step, with
``OMP_NUM_THREADS=1``. The first Gammapy run also dumps its counts, which a
last gammaxr process loads into its own reduced datasets: the light curve and
the temporal fit are then compared on identical counts (norm, errors, upper
limit, TS per time bin; fitted parameters), and the reduced products and the
simulation model's predicted counts are compared directly.

Writes ``benchmarks/results/lightcurve_cases.json`` and ``lightcurve_cases.md``.
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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
IRF_FILE = "cta-1dc/caldb/data/cta/1dc/bcf/South_z20_50h/irf_file.fits"
IRF_HDUS = {
    "aeff": "EFFECTIVE AREA",
    "edisp": "ENERGY DISPERSION",
    "psf": "POINT SPREAD FUNCTION",
    "bkg": "BACKGROUND",
}
CASES = ("lightcurve_1d", "lightcurve_3d")
STEPS = ("imports", "simulations", "lc estimation", "temporal fitting")
N_OBS = 10
SEED = 20200301
REFERENCE_TIME = "2020-03-01"  # UTC; the observations start 1 h after it, every 2 h
POINTING = (0.5, 0.5)  # Galactic, deg
SOURCE = (0.2, 0.1)  # Galactic, deg: the Gaussian of the 3D case
LC_COLUMNS = ("norm", "norm_err", "norm_errn", "norm_errp", "norm_ul", "ts", "counts",
              "npred", "npred_excess", "ref_flux")  # fmt: skip


def data_folder(arg: str | None) -> Path:
    for candidate in (arg, os.environ.get("GAMMAXR_DATA"), HERE.parent.parent / "shared/data"):
        if candidate and (Path(candidate) / IRF_FILE).is_file():
            return Path(candidate)
    sys.exit(f"no data folder holding {IRF_FILE}: pass --data or set GAMMAXR_DATA")


class Clock:
    """Wall-clock and CPU seconds of named steps."""

    def __init__(self) -> None:
        self.steps: dict[str, dict[str, float]] = {}

    def __call__(self, name: str, func, *args, **kwargs):
        wall, cpu = time.perf_counter(), time.process_time()
        result = func(*args, **kwargs)
        self.steps[name] = {
            "wall": time.perf_counter() - wall,
            "cpu": time.process_time() - cpu,
        }
        return result


# --------------------------------------------------------------------------------------
# gammaxr: the cases
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class IrfObservation:
    """A simulated observation: IRFs, a fixed pointing and one GTI, no events.

    It has what the reducers read from a :class:`gammaxr.Observation` (IRFs,
    ``pointing``, ``livetime``, ``ontime``, ``deadc`` and the times in
    ``events.attrs``); times are s since ``mjdref`` (MJD, TT). No dead time.
    """

    obs_id: int
    pointing: object
    irfs: dict
    tstart: float
    tstop: float
    mjdref: float
    info: dict = field(default_factory=dict)
    deadc: float = 1.0

    @property
    def available(self) -> list[str]:
        return list(self.irfs)

    def __getattr__(self, name: str):
        if name in IRF_HDUS:
            return self.irfs[name]
        raise AttributeError(name)

    @property
    def livetime(self) -> float:
        return self.tstop - self.tstart

    @property
    def ontime(self) -> float:
        return self.tstop - self.tstart

    @property
    def events(self):
        import pandas as pd

        events = pd.DataFrame({name: np.zeros(0) for name in ("time", "ra", "dec", "energy")})
        events.attrs = {
            "tstart": self.tstart,
            "tstop": self.tstop,
            "mjdref": self.mjdref,
            "timesys": "tt",
            "gti": [(self.tstart, self.tstop)],
            "livetime": self.livetime,
            "ontime": self.ontime,
            "deadc": self.deadc,
        }
        return events


def geometry(case: str):
    import gammaxr as gx

    if case == "lightcurve_1d":
        reco, true, sky = np.logspace(-0.5, 1.0, 10), np.logspace(-1.2, 2.0, 31), None
    else:
        reco, true = np.logspace(-1.0, 1.0, 10), np.logspace(-1.5, 1.5, 30)
        sky = gx.sky_grid((0.0, 0.0), width=4, binsz=0.02, frame="galactic")
    axes = [
        gx.axis_from_edges(reco, name="energy", units="TeV", interp="log"),
        gx.axis_from_edges(true, name="energy_true", units="TeV", interp="log"),
    ]
    return gx.make_geom(*axes, sky=sky)


def simulation_model(case: str):
    import astropy.units as u
    from astropy.time import Time

    from gammaxr.models import (
        ExpDecayTemporalModel,
        GaussianSpatialModel,
        PowerLawSpectralModel,
        SkyModel,
    )

    spectral = PowerLawSpectralModel(index=3, amplitude=1e-11, reference=1)
    temporal = ExpDecayTemporalModel(t0=6 * u.h, t_ref=Time(REFERENCE_TIME).utc.mjd)
    spatial = None
    if case == "lightcurve_3d":
        spatial = GaussianSpatialModel(lon_0=SOURCE[0], lat_0=SOURCE[1], sigma=0.3,
                                       frame="galactic")  # fmt: skip
    return SkyModel(spectral, spatial, temporal, name="model-simu")


def reduce_observations(case: str, data: Path):
    """The ten observations reduced (no counts yet), joined along ``obs_id``."""
    import astropy.units as u
    from astropy.coordinates import SkyCoord
    from astropy.time import Time
    from regions import CircleSkyRegion

    import gammaxr as gx
    from gammaxr.io.gadf.irf import read_irf
    from gammaxr.reduce import make_edisp, make_map_dataset, make_psf, make_spectrum_dataset

    irfs = {name: read_irf(data / IRF_FILE, hdu) for name, hdu in IRF_HDUS.items()}
    icrs = SkyCoord(*POINTING, unit="deg", frame="galactic").icrs
    pointing = gx.Pointing(float(icrs.ra.deg), float(icrs.dec.deg))
    mjdref = float(Time(REFERENCE_TIME).tt.mjd)
    geom = geometry(case)
    on_region = CircleSkyRegion(SkyCoord(0.0, 0.0, unit="deg", frame="galactic"), 0.11 * u.deg)
    reduced = []
    for i in range(N_OBS):
        start = 3600.0 * (1 + 2 * i)
        obs = IrfObservation(i, pointing, irfs, start, start + 3600.0, mjdref)
        if case == "lightcurve_1d":
            ds = make_spectrum_dataset(
                obs, on_region, geom, products=("exposure", "background", "edisp"),
                containment_correction=False, background_integration="edges",
            )  # fmt: skip
        else:
            ds = make_map_dataset(
                obs, geom, products=("exposure", "background", "mask_safe"),
                safe_mask={"offset-max": {"offset_max": 4.0}}, background_integration="edges",
            )  # fmt: skip
            psf = make_psf(obs, geom, position=SOURCE)
            edisp = make_edisp(obs, geom, position=SOURCE)
            offset = psf.attrs.pop("offset")
            edisp.attrs.pop("offset")
            ds = ds.assign(psf=psf, edisp=edisp).assign_attrs(irf_offset=float(offset))
        reduced.append(ds)
    return gx.concat_observations(reduced)


def simulate(case: str, data: Path, rng):
    from gammaxr.models import Models
    from gammaxr.models.npred import npred

    joint = reduce_observations(case, data)
    mu = npred(joint, Models([simulation_model(case)]))
    counts = mu.copy(data=rng.poisson(mu.to_numpy())).astype(np.int64)
    return joint.assign(counts=counts.assign_attrs(units=""))


def lc_models(case: str):
    from dataclasses import replace

    from gammaxr.models import GaussianSpatialModel, Models, PowerLawSpectralModel, SkyModel

    spectral = PowerLawSpectralModel(index=3, amplitude=1e-11, reference=1)
    if case == "lightcurve_1d":
        return Models([SkyModel(spectral, name="model-fit")]), "model-fit"
    spatial = GaussianSpatialModel(lon_0=SOURCE[0], lat_0=SOURCE[1], sigma=0.3, frame="galactic")
    frozen = {name: replace(spatial.parameters[name], frozen=True)
              for name in ("lon_0", "lat_0", "sigma")}  # fmt: skip
    spatial = spatial.with_parameters(**frozen)
    return Models([SkyModel(spectral, spatial, name="model_fit")]), "model_fit"


def get_lc(case: str, joint):
    from gammaxr.estimators import light_curve

    models, source = lc_models(case)
    return light_curve(joint, models, source, [1.0, 10.0])


def fit_models(case: str):
    from dataclasses import replace

    import astropy.units as u
    from astropy.time import Time

    from gammaxr.models import (
        ExpDecayTemporalModel,
        GaussianSpatialModel,
        Models,
        PowerLawSpectralModel,
        SkyModel,
    )

    temporal = ExpDecayTemporalModel(t0=10 * u.h, t_ref=Time(REFERENCE_TIME).utc.mjd)
    if case == "lightcurve_1d":
        spectral = PowerLawSpectralModel(index=2.0, amplitude=1e-12, reference=1)
        return Models([SkyModel(spectral, None, temporal, name="model-test")])
    spectral = PowerLawSpectralModel(index=3.0, amplitude=2e-11, reference=1)
    spatial = GaussianSpatialModel(lon_0=SOURCE[0], lat_0=SOURCE[1], sigma=0.3, frame="galactic")
    spatial = spatial.with_parameters(sigma=replace(spatial.parameters["sigma"], frozen=True))
    return Models([SkyModel(spectral, spatial, temporal, name="fit")])


def fit_lc(case: str, joint) -> tuple[object, dict]:
    """The joint temporal fit: MINUIT (the default backend), else scipy (L-BFGS-B).

    MINUIT's second Newton step leaves the domain where the power law's
    integral is finite (index ~700); the fit rejects such points (the backends
    see a large finite penalty there, and say how many they rejected) and
    converges. Should MINUIT still fail, the benchmark fits again with the
    scipy backend, and the time of both attempts counts.
    """
    from gammaxr.exceptions import GammaxrError
    from gammaxr.fit import fit

    models = fit_models(case)
    try:
        result = fit(joint, models)
    except GammaxrError as error:
        failure = f"{type(error).__name__}: {error}"
    else:
        if result.success:
            return result, {"backend": "minuit"}
        failure = result.message
    return fit(joint, models, backend="scipy"), {"backend": "scipy", "minuit_failure": failure}


def lc_values(lc) -> dict:
    out = {
        "time_min": lc["time_lo"].to_numpy().tolist(),
        "time_max": lc["time_hi"].to_numpy().tolist(),
        "e_min": np.broadcast_to(lc["energy_lo"].to_numpy(), (lc.sizes["time"],)).tolist(),
        "e_max": np.broadcast_to(lc["energy_hi"].to_numpy(), (lc.sizes["time"],)).tolist(),
    }
    for name in LC_COLUMNS:
        out[name] = lc[name].to_numpy().astype(float).ravel().tolist()
    return out


def fit_values(fitted: tuple) -> dict:
    result, info = fitted
    params = {}
    for name, row in result.parameters.iterrows():
        short = name.rsplit(".", 1)[-1]
        params[short] = {
            "value": float(row["value"]),
            "error": float(row["error"]),
            "unit": str(row["unit"]),
            "frozen": bool(row["frozen"]),
        }
    return {
        "success": bool(result.success),
        "statistic": float(result.statistic),
        "nfev": int(result.nfev),
        "parameters": params,
        **info,
    }


def worker(case: str, data: Path) -> dict:
    """One timed run of a case (imports included): steps, light curve, fit."""
    clock = Clock()
    clock("imports", _import_gammaxr)
    rng = np.random.default_rng(SEED)
    joint = clock("simulations", simulate, case, data, rng)
    lc = clock("lc estimation", get_lc, case, joint)
    result = clock("temporal fitting", fit_lc, case, joint)
    return {
        "case": case,
        "steps": clock.steps,
        "lc": lc_values(lc),
        "fit": fit_values(result),
    }


def _import_gammaxr() -> None:
    import gammaxr  # noqa: F401
    import gammaxr.estimators  # noqa: F401
    import gammaxr.fit  # noqa: F401
    import gammaxr.io.gadf.irf  # noqa: F401
    import gammaxr.models  # noqa: F401
    import gammaxr.reduce  # noqa: F401


def compare_worker(case: str, data: Path, npz: Path) -> dict:
    """gammaxr's reduction with Gammapy's counts: products, light curve and fit."""
    arrays = dict(np.load(npz))
    joint = reduce_observations(case, data)
    out: dict = {"products": compare_products(case, joint, arrays)}
    dims = joint["background"].dims
    counts = arrays["counts"].astype(np.int64).reshape(joint["background"].shape)
    if case == "lightcurve_3d":
        counts = counts[..., ::-1]  # Gammapy's lon axis decreases along the pixel x axis
    joint = joint.assign(counts=(dims, counts, {"units": ""}))
    clock = Clock()
    lc = clock("lc estimation", get_lc, case, joint)
    result = clock("temporal fitting", fit_lc, case, joint)
    out.update(steps=clock.steps, lc=lc_values(lc), fit=fit_values(result))
    return out


def compare_products(case: str, joint, arrays: dict) -> dict:
    """Largest relative differences of the reduced products (first observation)."""
    from gammaxr.models.npred import fold

    first = joint.isel(obs_id=0)
    flip = (lambda a: a[..., ::-1]) if case == "lightcurve_3d" else (lambda a: a)
    out = {}
    if case == "lightcurve_3d":
        lon = joint["lon"].to_numpy()
        lat = joint["lat"].to_numpy()
        out["pixel_centres_max_abs_deg"] = float(max(
            np.abs(lon - arrays["lon"][::-1]).max(), np.abs(lat - arrays["lat"]).max()
        ))  # fmt: skip
        mask = first["mask_safe"].to_numpy()
        out["mask_safe_equal"] = bool(np.array_equal(mask, flip(arrays["mask_safe"][0])))
    for name in ("exposure", "background"):
        ours = first[name].to_numpy().astype(float)
        theirs = flip(arrays[name].astype(float)).reshape(ours.shape)
        out[f"{name}_max_rel"] = max_rel(ours, theirs)
    edisp = first["edisp"].transpose("energy_true", "energy").to_numpy().astype(float)
    out["edisp_max_abs"] = float(np.abs(edisp - arrays["edisp"]).max())
    signal = fold(joint, simulation_model(case))
    dims = [dim for dim in signal.dims if dim not in ("obs_id", "energy")]
    ours = signal.sum(dims).transpose("obs_id", "energy").to_numpy()
    theirs = arrays["npred_simu"].astype(float).reshape(ours.shape)
    out["npred_simu_max_rel"] = max_rel(ours, theirs)
    out["npred_simu_total_rel"] = float(ours.sum() / theirs.sum() - 1)
    return out


def max_rel(ours: np.ndarray, theirs: np.ndarray) -> float:
    """Largest ``|ours / theirs - 1|`` where Gammapy's value is not tiny."""
    ours, theirs = np.asarray(ours, float), np.asarray(theirs, float)
    significant = np.abs(theirs) > 1e-6 * np.abs(theirs).max()
    return float(np.max(np.abs(ours[significant] / theirs[significant] - 1)))


# --------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------


def run_subprocess(command: list[str]) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    out = Path(command[command.index("--out") + 1])
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(out.read_text())


def environment() -> dict:
    import gammaxr

    return {
        "date": datetime.date.today().isoformat(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "gammaxr": gammaxr.__version__,
        "numpy": np.__version__,
    }


def best(runs: list[dict], step: str, clock: str) -> float:
    return min(run["steps"][step][clock] for run in runs if step in run["steps"])


def driver(args: argparse.Namespace) -> None:
    data = data_folder(args.data)
    scratch = Path(tempfile.mkdtemp(prefix="bench_lightcurve_"))
    report: dict = {"environment": environment(), "repeat": args.repeat, "cases": {}}
    loads = [list(os.getloadavg())]
    for case in args.cases:
        gammapy_runs, gammaxr_runs = [], []
        npz = scratch / f"{case}.npz"
        for k in range(args.repeat):
            command = [args.gammapy_python, str(HERE / "bench_lightcurve_gammapy.py"),
                       "--case", case, "--data", str(data),
                       "--out", str(scratch / f"gp_{case}_{k}.json")]  # fmt: skip
            if k == 0:
                command += ["--dump", str(npz)]
            gammapy_runs.append(run_subprocess(command))
            loads.append(list(os.getloadavg()))
            command = [sys.executable, __file__, "--worker", case, "--data", str(data),
                       "--out", str(scratch / f"gx_{case}_{k}.json")]  # fmt: skip
            gammaxr_runs.append(run_subprocess(command))
            loads.append(list(os.getloadavg()))
            print(f"{case} run {k + 1}: Gammapy {total(gammapy_runs[-1]):.1f} s, "
                  f"gammaxr {total(gammaxr_runs[-1]):.1f} s (wall)", flush=True)  # fmt: skip
        command = [sys.executable, __file__, "--compare", case, "--data", str(data),
                   "--npz", str(npz), "--out", str(scratch / f"cmp_{case}.json")]  # fmt: skip
        comparison = run_subprocess(command)
        report["cases"][case] = {
            "gammapy_version": gammapy_runs[0]["version"],
            "gammapy_runs": gammapy_runs,
            "gammaxr_runs": gammaxr_runs,
            "comparison": comparison,
            "agreement": agreement(comparison, gammapy_runs[0]),
        }
    report["load_average"] = loads
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "lightcurve_cases.json").write_text(json.dumps(report, indent=1))
    (RESULTS / "lightcurve_cases.md").write_text(markdown(report))
    print(markdown(report))


def total(run: dict) -> float:
    return sum(step["wall"] for name, step in run["steps"].items() if name != "imports")


def agreement(ours: dict, theirs: dict) -> dict:
    """How closely gammaxr's light curve and fit on Gammapy's counts match Gammapy's."""
    lc, ref = ours["lc"], theirs["lc_full"]
    times = [np.subtract(lc[key], ref[key]) for key in ("time_min", "time_max")]
    out = {
        "time_max_abs_s": 86400.0 * float(np.abs(times).max()),
        "energy_edges_equal": bool(
            np.allclose(lc["e_min"], ref["e_min"], rtol=1e-9)
            and np.allclose(lc["e_max"], ref["e_max"], rtol=1e-9)
        ),
        "counts_equal": bool(np.array_equal(lc["counts"], ref["counts"])),
    }
    sigma = np.asarray(ref["norm_err"])
    for name in ("norm", "norm_errn", "norm_errp", "norm_ul"):
        diff = np.abs(np.subtract(lc[name], ref[name]))
        out[f"{name}_max_diff_in_sigma"] = float(np.max(diff / sigma))
        out[f"{name}_max_rel"] = float(np.max(diff / np.abs(ref[name])))
    for name in ("norm_err", "ts", "npred", "npred_excess", "ref_flux"):
        out[f"{name}_max_rel"] = float(np.max(np.abs(np.divide(lc[name], ref[name]) - 1)))
    out["ts_max_abs"] = float(np.max(np.abs(np.subtract(lc["ts"], ref["ts"]))))
    fit, fit_ref = ours["fit"]["parameters"], theirs["fit"]["parameters"]
    scale = {"t0": 1 / 24.0}  # Gammapy's t0 in h, gammaxr's in d
    params = {}
    for name, par in fit_ref.items():
        if par["frozen"] or name not in fit:
            continue
        factor = scale.get(name, 1.0)
        value, error = par["value"] * factor, par["error"] * factor
        params[name] = {
            "gammapy": value,
            "gammapy_error": error,
            "gammaxr": fit[name]["value"],
            "gammaxr_error": fit[name]["error"],
            "diff_in_sigma": (fit[name]["value"] - value) / error,
            "error_rel": fit[name]["error"] / error - 1,
        }
    out["fit"] = params
    out["fit_success"] = [ours["fit"]["success"], theirs["fit"]["success"]]
    return out


# --------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------


def notes(report: dict) -> list[str]:
    """Explanations of the differences, with the figures of this report."""
    lines = ["", "## Notes", ""]
    lines.append(
        "- Cases: the current gammapy/gammapy-benchmarks `lightcurve_1d.py` and "
        "`lightcurve_3d.py` simulate CTA data (older versions of the suite used ten copies "
        "of H.E.S.S. Crab run 23523); they are written here for the Gammapy 2.1 API. "
        "Gammapy's `dataset.fake()` is seeded (`random_state=SEED + i`), the suite's is not."
    )
    one = report["cases"].get("lightcurve_1d")
    if one:
        agree, products = one["agreement"], one["comparison"]["products"]
        lines.append(
            f"- 1D: the reduced products agree to float32 rounding (exposure "
            f"{fmt(products['exposure_max_rel'])}, edisp {fmt(products['edisp_max_abs'])}, "
            f"background {fmt(products['background_max_rel'])}: integrated from the bin "
            "edges as Gammapy does), so the light curves differ by the fits only: "
            f"asymmetric errors, upper limits and TS to < "
            f"{fmt(max(agree[k] for k in ('norm_errn_max_rel', 'norm_errp_max_rel', 'norm_ul_max_rel', 'ts_max_rel')))} "  # noqa: E501
            f"relative, `norm` to {fmt(agree['norm_max_rel'])} "
            f"({fmt(agree['norm_max_diff_in_sigma'])} sigma) and `norm_err` to "
            f"{fmt(agree['norm_err_max_rel'])}: the precision of Gammapy's MINUIT (its "
            "`norm_err` comes from HESSE, gammaxr's from the analytic curvature)."
        )
    three = report["cases"].get("lightcurve_3d")
    if three:
        agree, products = three["agreement"], three["comparison"]["products"]
        position = max(abs(agree["fit"][k]["diff_in_sigma"]) for k in ("lon_0", "lat_0"))
        lines.append(
            f"- 3D: the exposure differs by up to {fmt(products['exposure_max_rel'])} "
            "(relative) within 0.5 deg of the pointing only: below the first offset node of "
            "the CTA 1DC effective area (0.5 deg) gammaxr clamps to the node, Gammapy "
            "extrapolates linearly. That region overlaps the simulated source (0.5 deg from "
            "the pointing): the predicted counts of the simulation model differ by up to "
            f"{fmt(products['npred_simu_max_rel'])} per energy bin "
            f"({fmt(products['npred_simu_total_rel'])} in total), the light-curve norms by "
            f"up to {fmt(agree['norm_max_rel'])} ({fmt(agree['norm_max_diff_in_sigma'])} "
            f"sigma), the fitted position by {position:.2f} sigma. PSF and edisp are "
            "evaluated at the source position by both (Gammapy interpolates its 0.2 deg "
            f"IRF maps there; edisp differs by {fmt(products['edisp_max_abs'])} at most)."
        )
        fits = three["gammaxr_runs"]
        per_eval = min(run["steps"]["temporal fitting"]["cpu"] / run["fit"]["nfev"]
                       for run in fits)  # fmt: skip
        theirs = min(run["steps"]["temporal fitting"]["cpu"] / run["fit"]["nfev"]
                     for run in three["gammapy_runs"])  # fmt: skip
        lines.append(
            "- 3D temporal fit, the slow step: every evaluation that moves the source "
            "folds it again (FFT convolutions for 10 observations x 29 true-energy bins, "
            "about 1 s CPU each); gammaxr averages "
            f"{per_eval:.2f} s CPU over {fits[0]['fit']['nfev']} evaluations, Gammapy "
            f"{theirs:.2f} s over {three['gammapy_runs'][0]['fit']['nfev']}."
        )
    lines.append(
        "- The light curve is one batched one-parameter fit for all time bins "
        "(`gammaxr.estimators.light_curve`, reoptimize=False); in 3D its time goes mostly "
        "to folding the Gaussian (an FFT convolution per observation and true-energy bin)."
    )
    return lines


def fmt(value: float, digits: int = 3) -> str:
    if not np.isfinite(value):
        return "nan"
    if value == 0 or 1e-3 <= abs(value) < 1e5:
        return f"{value:.{digits}g}" if abs(value) < 1 else f"{value:.{digits}f}"
    return f"{value:.{digits}e}"


def markdown(report: dict) -> str:
    env = report["environment"]
    loads = np.asarray(report["load_average"])
    lines = [
        "# Light-curve benchmark cases: gammaxr vs Gammapy",
        "",
        "Written by `benchmarks/bench_lightcurve.py` (Gammapy's side: "
        "`bench_lightcurve_gammapy.py`). The cases are gammapy/gammapy-benchmarks "
        "`lightcurve_1d` and `lightcurve_3d`: ten simulated 1 h CTA observations "
        "(1DC `South_z20_50h` IRFs) of a power law fading as exp(-t / 6 h); 1D: "
        "spectrum datasets in a 0.11 deg circle, 9 reco x 30 true energy bins; 3D: "
        "map datasets of 9 x 200 x 200 pixels (0.02 deg), 29 true energy bins, a "
        "Gaussian source (sigma 0.3 deg). Steps: simulations (IRFs read, reduction, "
        "Poisson fake), light curve (1-10 TeV, one bin per observation, "
        "reoptimize=False), joint fit of a power law x exponential decay.",
        "",
        f"{env['date']}, {env['machine']}, {env['cpus']} CPUs, Python {env['python']}, "
        f"gammaxr {env['gammaxr']}, Gammapy "
        f"{next(iter(report['cases'].values()))['gammapy_version']}; "
        f"OMP_NUM_THREADS=1; each run a fresh process, Gammapy and gammaxr runs "
        f"alternating, best of {report['repeat']}. Load average (1 min) during the runs: "
        f"{loads[:, 0].min():.2f}-{loads[:, 0].max():.2f}.",
        "",
        "## Timings (s)",
        "",
        "`lc estimation` is Gammapy with the suite's default selection (norm, error, TS); "
        "`lc (errn-errp, ul)` adds the asymmetric errors and upper limits, which gammaxr "
        "always computes, so its one figure stands in both rows. Imports are outside the "
        "total.",
        "",
        "| case | step | gammaxr CPU | Gammapy CPU | ratio CPU | gammaxr wall | "
        "Gammapy wall | ratio wall |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for case, entry in report["cases"].items():
        gx_runs, gp_runs = entry["gammaxr_runs"], entry["gammapy_runs"]
        rows = [
            ("imports", "imports", "imports"),
            ("simulations", "simulations", "simulations"),
            ("lc estimation", "lc estimation", "lc estimation"),
            ("lc (errn-errp, ul)", "lc estimation", "lc estimation (errn-errp, ul)"),
            ("temporal fitting", "temporal fitting", "temporal fitting"),
        ]
        for label, ours, theirs in rows:
            cells = []
            for clock in ("cpu", "wall"):
                a, b = best(gx_runs, ours, clock), best(gp_runs, theirs, clock)
                cells += [f"{a:.2f}", f"{b:.2f}", f"{b / a:.1f}"]
            lines.append(f"| {case} | {label} | " + " | ".join(cells) + " |")
        cells = []
        for clock in ("cpu", "wall"):
            steps = ("simulations", "lc estimation", "temporal fitting")
            a = sum(best(gx_runs, s, clock) for s in steps)
            b = sum(best(gp_runs, s, clock) for s in steps)
            cells += [f"{a:.2f}", f"{b:.2f}", f"{b / a:.1f}"]
        lines.append(f"| {case} | **total** | " + " | ".join(cells) + " |")
    lines.append("")
    for case, entry in report["cases"].items():
        backends = [run["fit"].get("backend", "minuit") for run in entry["gammaxr_runs"]]
        failures = {run["fit"]["minuit_failure"] for run in entry["gammaxr_runs"]
                    if "minuit_failure" in run["fit"]}  # fmt: skip
        note = f"{case}: gammaxr's temporal fit ran with {', '.join(backends)}"
        if failures:
            note += (f" (MINUIT from the benchmark's start values failed: {'; '.join(failures)}; "
                     "the time of both attempts counts)")  # fmt: skip
        lines.append(f"- {note}.")
    for case, entry in report["cases"].items():
        lines += case_section(case, entry)
    lines += notes(report)
    return "\n".join(lines) + "\n"


def case_section(case: str, entry: dict) -> list[str]:
    cmp, ref, agree = entry["comparison"], entry["gammapy_runs"][0], entry["agreement"]
    lc, lc_ref = cmp["lc"], ref["lc_full"]
    lines = [
        "",
        f"## {case}: light curve on identical counts",
        "",
        "gammaxr's reduced datasets with the counts Gammapy simulated (its first run); "
        "`norm` scales the reference power law (index 3, 1e-11 cm-2 s-1 TeV-1 at 1 TeV), "
        "errors are the symmetric ones, `ul` the 2 sigma upper limit of the norm.",
        "",
        "| MJD start (TT) | counts | norm gx | norm gp | err gx | err gp | errn gx / gp | "
        "errp gx / gp | ul gx / gp | TS gx | TS gp |",
        "|---|---:|---:|---:|---:|---:|---|---|---|---:|---:|",
    ]
    for i, start in enumerate(lc["time_min"]):
        lines.append(
            f"| {start:.5f} | {lc['counts'][i]:.0f} | {lc['norm'][i]:.4f} | "
            f"{lc_ref['norm'][i]:.4f} | {lc['norm_err'][i]:.4f} | {lc_ref['norm_err'][i]:.4f} | "
            f"{lc['norm_errn'][i]:.4f} / {lc_ref['norm_errn'][i]:.4f} | "
            f"{lc['norm_errp'][i]:.4f} / {lc_ref['norm_errp'][i]:.4f} | "
            f"{lc['norm_ul'][i]:.4f} / {lc_ref['norm_ul'][i]:.4f} | "
            f"{lc['ts'][i]:.2f} | {lc_ref['ts'][i]:.2f} |"
        )
    lines += ["", "Largest differences (light curve; reduced products of the first observation; "
              "`npred_simu`: predicted counts of the simulation model per observation and "
              "energy bin):", ""]  # fmt: skip
    for key, value in {**agree, **cmp["products"]}.items():
        if key in ("fit", "fit_success"):
            continue
        lines.append(f"- `{key}`: {value if isinstance(value, bool) else fmt(value)}")
    lines += [
        "",
        f"Temporal fit on the same counts (converged: gammaxr {agree['fit_success'][0]}, "
        f"Gammapy {agree['fit_success'][1]}; `t0` in d):",
        "",
        "| parameter | gammaxr | Gammapy | difference / sigma | error ratio - 1 |",
        "|---|---|---|---:|---:|",
    ]
    for name, par in agree["fit"].items():
        lines.append(
            f"| {name} | {fmt(par['gammaxr'], 5)} ± {fmt(par['gammaxr_error'])} | "
            f"{fmt(par['gammapy'], 5)} ± {fmt(par['gammapy_error'])} | "
            f"{par['diff_in_sigma']:.3f} | {par['error_rel']:.2e} |"
        )
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--gammapy-python", default="/work/gp-venv/bin/python")
    parser.add_argument("--data", help="folder holding cta-1dc (default $GAMMAXR_DATA)")
    parser.add_argument("--worker", choices=CASES, help=argparse.SUPPRESS)
    parser.add_argument("--compare", choices=CASES, help=argparse.SUPPRESS)
    parser.add_argument("--npz", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument(
        "--report-only", action="store_true", help="rewrite the .md from the existing .json"
    )
    args = parser.parse_args(argv)
    if args.report_only:
        report = json.loads((RESULTS / "lightcurve_cases.json").read_text())
        (RESULTS / "lightcurve_cases.md").write_text(markdown(report))
    elif args.worker:
        result = worker(args.worker, data_folder(args.data))
        args.out.write_text(json.dumps(result, indent=1))
    elif args.compare:
        result = compare_worker(args.compare, data_folder(args.data), args.npz)
        args.out.write_text(json.dumps(result, indent=1))
    else:
        driver(args)


if __name__ == "__main__":
    main()
