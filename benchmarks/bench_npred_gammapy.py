"""Gammapy's side of ``bench_npred.py``: time ``MapDataset.npred()`` and save its numbers.

Run with the Gammapy environment (it does not import gammaxr)::

    /work/gp-venv/bin/python benchmarks/bench_npred_gammapy.py [--n-iter 10] [--case all]

Two cases, each timed for a fresh evaluation (models assigned again, so every
evaluator, PSF kernel and cutout is rebuilt: what ``npred()`` costs the first
time) and for the re-evaluations a fit makes (models kept, one parameter
changed: Gammapy's evaluator caches apply):

``public``
    The ``npred`` case of the public benchmark suite
    (gammapy/gammapy-benchmarks, ``benchmarks/npred.py``) with its exact
    settings: a 500 x 500 CAR map of 0.01 deg at (0, 0), 15 reco and 15 true
    energy bins (0.1-100 TeV, 5 per decade), exposure 1 m2 s,
    ``PSFMap.from_gauss`` (sigma 0.1 deg), ``EDispKernelMap.from_gauss``
    (sigma 0.1, bias 0), no background, 10 Gaussian sources (sigma 0.5 deg,
    default power law) at positions uniform in [-4, 4] deg. The suite draws
    them from the unseeded global generator; here they come from
    ``numpy.random.default_rng(0)`` so that gammaxr folds the same sources.
    ``MapDataset.create`` leaves ``mask_safe`` all False, so as published
    every evaluator finds that its source does not contribute and ``npred()``
    is zero: the suite times Gammapy's set-up only. This case is therefore run
    twice: ``public_as_published`` (mask as created) and ``public`` (``mask_safe``
    set True everywhere, so the sources are folded: the comparison that counts).
``crab``
    H.E.S.S. run 23523 reduced by ``MapDatasetMaker`` on the geometry of
    ``bench_npred.py`` (3 x 3 deg at 0.02 deg, reco 0.5-50 TeV and true
    0.3-100 TeV at 10 bins per decade, the gammaxr CAR grid), with a
    Crab-like point source (power law, index 2.6, amplitude 3.8e-11
    cm-2 s-1 TeV-1 at 1 TeV) and a ``FoVBackgroundModel``.

Writes ``benchmarks/results/npred_gammapy.json`` (times, totals, per-energy
sums) and, for pixel comparisons, ``npred_gammapy_<case>.npz`` in the scratch
folder given by ``--scratch`` (default ``$TMPDIR/gammaxr-bench-npred``).
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
import warnings
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.wcs import WCS

warnings.simplefilter("ignore")

import gammapy  # noqa: E402
from gammapy.data import DataStore  # noqa: E402
from gammapy.datasets import Datasets, MapDataset  # noqa: E402
from gammapy.irf import EDispKernelMap, PSFMap  # noqa: E402
from gammapy.makers import MapDatasetMaker  # noqa: E402
from gammapy.maps import MapAxis, WcsGeom  # noqa: E402
from gammapy.modeling.models import (  # noqa: E402
    FoVBackgroundModel,
    GaussianSpatialModel,
    Models,
    PointSpatialModel,
    PowerLawSpectralModel,
    SkyModel,
)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
CRAB_DATA = ROOT / "src" / "gammaxr" / "datasets" / "hess-dl3-dr1-crab"
CRAB = (83.633, 22.014)
N_SRC = 10
SEED = 0


def public_positions(n_src: int = N_SRC, seed: int = SEED) -> np.ndarray:
    """Source positions (lon, lat) in deg, as ``bench_npred.py`` draws them."""
    return np.random.default_rng(seed).uniform(-4.0, 4.0, (n_src, 2))


def flip(data: np.ndarray) -> np.ndarray:
    """From FITS order (lon decreasing) to gammaxr order (lon increasing)."""
    return np.ascontiguousarray(data[..., ::-1])


def energy_edges(e_min: float, e_max: float, per_decade: float) -> np.ndarray:
    """Edges as ``gx.energy_axis`` makes them."""
    nbin = max(1, int(np.round(np.log10(e_max / e_min) * per_decade)))
    return np.geomspace(e_min, e_max, nbin + 1)


def equatorial_car_geom(lon0, lat0, width, binsz, axes):
    """A WcsGeom equal to ``gx.sky_grid((lon0, lat0), width=width, binsz=binsz)``."""
    n = int(np.round(width / binsz))
    lat_first_edge = lat0 - binsz * n / 2
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---CAR", "DEC--CAR"]
    wcs.wcs.cunit = ["deg", "deg"]
    wcs.wcs.crval = [lon0, 0.0]
    wcs.wcs.cdelt = [-binsz, binsz]
    wcs.wcs.crpix = [n / 2 + 0.5, 0.5 - lat_first_edge / binsz]
    return WcsGeom(wcs=wcs, npix=(n, n), axes=axes)


# -- the public suite's case ------------------------------------------------------------


def public_dataset(*, safe: bool = True) -> Datasets:
    """``prepare_dataset`` of gammapy-benchmarks ``benchmarks/npred.py``.

    Verbatim, except that with ``safe`` the safe mask is set True everywhere.
    """
    energy = MapAxis.from_energy_bounds(0.1, 100, 5, per_decade=True, unit="TeV")
    energy_true = MapAxis.from_energy_bounds(
        0.1, 100, 5, unit="TeV", per_decade=True, name="energy_true"
    )
    geom = WcsGeom.create(npix=500, binsz=0.01, axes=[energy])
    dataset = MapDataset.create(geom, energy_axis_true=energy_true)
    dataset.exposure += "1 m2 s"
    dataset.psf = PSFMap.from_gauss(energy_true)
    dataset.edisp = EDispKernelMap.from_gauss(energy, energy_true, 0.1, 0.0)
    if safe:
        dataset.mask_safe.data[...] = True
    return Datasets([dataset])


def public_models(positions: np.ndarray) -> Models:
    models = Models()
    for i, pos in enumerate(positions):
        pos = u.Quantity(pos, "deg")
        models.append(
            SkyModel(
                spectral_model=PowerLawSpectralModel(),
                spatial_model=GaussianSpatialModel(lon_0=pos[0], lat_0=pos[1], sigma="0.5 deg"),
                name=f"src-{i}",
            )
        )
    return models


# -- the Crab run ------------------------------------------------------------------------


def crab_dataset() -> MapDataset:
    energy = MapAxis.from_energy_edges(energy_edges(0.5, 50, 10) * u.TeV, name="energy")
    energy_true = MapAxis.from_energy_edges(energy_edges(0.3, 100, 10) * u.TeV, name="energy_true")
    geom = equatorial_car_geom(*CRAB, 3.0, 0.02, [energy])
    observation = DataStore.from_dir(CRAB_DATA).obs(23523)
    empty = MapDataset.create(geom=geom, energy_axis_true=energy_true, name="crab-23523")
    return MapDatasetMaker().run(empty, observation)


def crab_models(dataset_name: str) -> Models:
    spectral = PowerLawSpectralModel(
        index=2.6, amplitude="3.8e-11 cm-2 s-1 TeV-1", reference="1 TeV"
    )
    spatial = PointSpatialModel(lon_0=f"{CRAB[0]} deg", lat_0=f"{CRAB[1]} deg", frame="icrs")
    crab = SkyModel(spectral_model=spectral, spatial_model=spatial, name="crab")
    return Models([crab, FoVBackgroundModel(dataset_name=dataset_name)])


# -- timing --------------------------------------------------------------------------------


def clock(func, n_iter: int) -> dict:
    """Wall and CPU time of ``func()`` per call: min and median over ``n_iter`` calls."""
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


def run_case(name: str, dataset: MapDataset, models: Models, n_iter: int, scratch: Path):
    """Time fresh and cached npred, and save the numbers."""
    out: dict = {}

    def fresh(_):
        dataset.models = models
        return dataset.npred()

    out["fresh"] = clock(fresh, n_iter)
    dataset.models = models
    npred = dataset.npred()
    npred_signal = dataset.npred_signal()
    source = models[0]
    index0 = source.spectral_model.index.value
    lon0 = source.spatial_model.lon_0.value

    def spectral(i):
        source.spectral_model.index.value = index0 + 1e-3 * (i + 1)
        return dataset.npred()

    out["cached_spectral"] = clock(spectral, n_iter)
    source.spectral_model.index.value = index0

    def spatial(i):
        source.spatial_model.lon_0.value = lon0 + 1e-3 * (i + 1)
        return dataset.npred()

    out["cached_spatial"] = clock(spatial, n_iter)
    source.spatial_model.lon_0.value = lon0
    dataset.npred()

    data = npred.data.astype(np.float64)
    signal = npred_signal.data.astype(np.float64)
    out["npred_total"] = float(data.sum())
    out["npred_signal_total"] = float(signal.sum())
    out["npred_per_energy"] = data.sum(axis=(1, 2)).tolist()
    out["npred_signal_per_energy"] = signal.sum(axis=(1, 2)).tolist()
    per_source = {}
    for model in models:
        if isinstance(model, SkyModel):
            per_source[model.name] = float(
                dataset.npred_signal(model_names=[model.name]).data.sum()
            )
    out["npred_signal_per_source"] = per_source
    arrays = {"npred": flip(data), "npred_signal": flip(signal)}
    if dataset.background is not None:
        arrays["background"] = flip(dataset.background.data.astype(np.float64))
    arrays["exposure"] = flip(dataset.exposure.quantity.to_value("m2 s"))
    evaluator = dataset.evaluators[source.name]
    if evaluator.psf is not None:
        arrays["psf_kernel"] = flip(evaluator.psf.psf_kernel_map.data)
    if evaluator.edisp is not None:
        arrays["edisp"] = evaluator.edisp.pdf_matrix
    if name == "crab":
        position = source.spatial_model.position
        psf = dataset.psf.psf_map.interp_by_coord(
            {
                "skycoord": position,
                "energy_true": dataset.exposure.geom.axes["energy_true"].center[:, None],
                "rad": dataset.psf.psf_map.geom.axes["rad"].center[None, :],
            }
        )
        arrays["psf"] = psf
        arrays["rad_edges"] = dataset.psf.psf_map.geom.axes["rad"].edges.to_value("deg")
    scratch.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(scratch / f"npred_gammapy_{name}.npz", **arrays)
    print(
        f"{name}: fresh {out['fresh']['wall_min'] * 1e3:.1f} ms "
        f"(CPU {out['fresh']['cpu_min'] * 1e3:.1f}), "
        f"cached spectral {out['cached_spectral']['wall_min'] * 1e3:.1f} ms, "
        f"cached spatial {out['cached_spatial']['wall_min'] * 1e3:.1f} ms; "
        f"total npred {out['npred_total']:.6g}"
    )
    return out


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
    parser.add_argument(
        "--scratch",
        type=Path,
        default=Path(tempfile.gettempdir()) / "gammaxr-bench-npred",
    )
    args = parser.parse_args()
    results: dict = {
        "gammapy": gammapy.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "load_average": list(os.getloadavg()),
    }
    if args.case in ("all", "public"):
        for name, safe in (("public_as_published", False), ("public", True)):
            start = time.perf_counter()
            datasets = public_dataset(safe=safe)
            setup = time.perf_counter() - start
            models = public_models(public_positions())
            results[name] = run_case(name, datasets[0], models, args.n_iter, args.scratch)
            results[name]["setup"] = setup
            results[name]["positions"] = public_positions().tolist()
    if args.case in ("all", "crab"):
        dataset = crab_dataset()
        models = crab_models(dataset.name)
        results["crab"] = run_case("crab", dataset, models, args.n_iter, args.scratch)
    path = RESULTS / "npred_gammapy.json"
    if path.exists() and (args.keep_best or args.case != "all"):
        previous = json.loads(path.read_text())
        if args.keep_best:
            results = keep_best(results, previous)
        else:
            previous.update(results)
            results = previous
    RESULTS.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
