"""Gammapy's side of ``bench_fit.py``: time ``Fit.run`` on the same fits as gammaxr.

Run with the Gammapy environment (it does not import gammaxr). ``bench_fit.py``
drives it (``--prepare`` once, then ``--one CASE`` in a fresh process per timed
run, interleaved with gammaxr's runs); by hand::

    /work/gp-venv/bin/python benchmarks/bench_fit_gammapy.py --prepare [--data PATH]
    /work/gp-venv/bin/python benchmarks/bench_fit_gammapy.py --one a3d [--scratch DIR]

Cases (models, start values and fit settings as in ``bench_fit.py``):

``crab``
    The four shipped H.E.S.S. Crab runs reduced and stacked by *gammaxr*
    (``bench_fit.py --prepare``), handed over as ``crab.npz`` and turned into a
    ``MapDataset`` here: counts, exposure, background, safe mask on the same
    CAR grid (reference on the equator), the PSF as a ``PSFMap`` holding
    gammaxr's radial profile ``psf(energy_true, rad)`` everywhere, the energy
    dispersion as an ``EDispKernelMap`` holding gammaxr's migration matrix.
    Point source + power law + ``FoVBackgroundModel`` (norm free, tilt frozen).
``a3d``
    gammapy/gammapy-benchmarks ``benchmarks/analysis_3d.py``: its ``data_prep``
    (CTA 1DC run 110380 read ten times, stacked on 10 x 8 deg at 0.05 deg,
    10 log energy bins 0.1-10 TeV, safe mask offset-max 4 deg), reduced here by
    Gammapy in ``--prepare`` and written to the scratch folder; the timed part
    is ``Fit().run(datasets)``: point source at (0.01, 0.01) deg galactic,
    exponential-cutoff power law (index 2, amplitude 3e-12 cm-2 s-1 TeV-1,
    reference 1 TeV, lambda 0.1 TeV-1), no background model.
``a3d-joint``
    ``benchmarks/analysis_3d_joint.py``: the same run ten times, each a cutout
    of 2 x offset_max = 8 deg around the pointing of a 10 x 8 deg geometry at
    0.02 deg, ten datasets fitted jointly with one model (point source at
    (-0.05, -0.05) deg, the same spectrum).
``a3d-gx``, ``a3d-joint-gx``
    The same fits on gammaxr's reductions (``a3d.npz``, ``a3d-joint-*.npz``),
    converted as for ``crab``: the same data for both tools.

Fit settings are Gammapy's defaults (MIGRAD with ``tol=0.1``, ``strategy=1``),
which ``bench_fit.py`` also gives gammaxr. ``Fit.run`` takes the covariance
from the MIGRAD state of its Minuit object (it does not call HESSE again;
gammaxr does, see ``bench_fit.py``). ``--one`` prints one JSON line: wall and
CPU time of ``Fit.run``, the number of statistic evaluations (calls of
``Datasets.stat_sum``), the best-fit values and errors, the statistic and the
load average.
"""

from __future__ import annotations

import argparse
import json
import os

# One BLAS thread, as for gammaxr: the machine has 2 shared cores.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

warnings.simplefilter("ignore")

HERE = Path(__file__).resolve().parent
OBS_ID, N_OBS = 110380, 10
CASES = ("crab", "a3d", "a3d-gx", "a3d-joint", "a3d-joint-gx")
DEFAULT_SCRATCH = Path(tempfile.gettempdir()) / "gammaxr-bench-fit"


def find_data(path: str | None) -> Path:
    """The folder holding cta-1dc, from --data, $GAMMAXR_DATA or ../shared/data."""
    default = [os.environ.get("GAMMAXR_DATA"), HERE.parents[1] / "shared" / "data"]
    for candidate in [path] if path else default:
        if candidate and (Path(candidate) / "cta-1dc" / "index" / "gps").is_dir():
            return Path(candidate).resolve()
    sys.exit("no cta-1dc data found; give --data PATH")


# --------------------------------------------------------------------------------------
# Reduction (Gammapy's own, the benchmark's way), written once by --prepare
# --------------------------------------------------------------------------------------


def a3d_geom(binsz: float):
    from gammapy.maps import MapAxis, WcsGeom

    energy = MapAxis.from_bounds(0.1, 10, nbin=10, unit="TeV", name="energy", interp="log")
    return WcsGeom.create(
        skydir=(0, 0), binsz=binsz, width=(10, 8), frame="galactic", proj="CAR", axes=[energy]
    )


def prepare(data: Path, scratch: Path) -> dict:
    """Reduce analysis_3d (stacked) and analysis_3d_joint (10 cutouts); write them."""
    import astropy.units as u
    from gammapy.data import DataStore
    from gammapy.datasets import MapDataset
    from gammapy.makers import MapDatasetMaker, SafeMaskMaker

    scratch.mkdir(parents=True, exist_ok=True)
    out = {}
    t = time.perf_counter(), time.process_time()
    store = DataStore.from_dir(data / "cta-1dc" / "index" / "gps")
    observations = store.get_observations(OBS_ID * np.ones(N_OBS))
    stacked = MapDataset.create(a3d_geom(0.05), name="stacked_ds")
    maker = MapDatasetMaker()
    safe = SafeMaskMaker(methods=["offset-max"], offset_max="4 deg")
    for obs in observations:
        stacked.stack(safe.run(maker.run(stacked, obs), obs))
    out["a3d"] = {"seconds": time.perf_counter() - t[0], "cpu_seconds": time.process_time() - t[1]}
    stacked.write(scratch / "gp-a3d.fits", overwrite=True)

    t = time.perf_counter(), time.process_time()
    observations = store.get_observations(OBS_ID * np.ones(N_OBS))
    full = MapDataset.create(a3d_geom(0.02))
    shapes = []
    for idx, obs in enumerate(observations):
        pointing = obs.get_pointing_icrs(obs.tmid)
        cutout = full.cutout(pointing, width=8.0 * u.deg, name=f"dataset{idx}")
        dataset = safe.run(maker.run(cutout, obs), obs)
        dataset.write(scratch / f"gp-a3d-joint-{idx}.fits", overwrite=True)
        shapes.append(list(dataset.counts.data.shape))
    out["a3d-joint"] = {
        "seconds": time.perf_counter() - t[0],
        "cpu_seconds": time.process_time() - t[1],
        "note": "includes writing the ten datasets",
    }
    # The cutout's pixel bounds, so that gammaxr cuts the same pixels.
    centers = dataset.counts.geom.to_image().get_coord()
    lon = np.asarray(centers.lon.to_value("deg"))
    lon = np.where(lon > 180, lon - 360, lon)
    lat = np.asarray(centers.lat.to_value("deg"))
    out["a3d-joint"]["cutout"] = {
        "shape": shapes[0],
        "lon_range": [float(lon.min()), float(lon.max())],
        "lat_range": [float(lat.min()), float(lat.max())],
    }
    (scratch / "gp-prepare.json").write_text(json.dumps(out, indent=1))
    return out


# --------------------------------------------------------------------------------------
# gammaxr's reductions as Gammapy datasets
# --------------------------------------------------------------------------------------


def from_npz(path: Path, name: str):
    """A ``MapDataset`` from the arrays ``bench_fit.py`` exports (see its ``to_npz``)."""
    import astropy.units as u
    from astropy.wcs import WCS
    from gammapy.datasets import MapDataset
    from gammapy.irf import EDispKernel, EDispKernelMap, PSFMap
    from gammapy.maps import Map, MapAxis, WcsGeom

    a = np.load(path)
    frame = str(a["frame"])
    binsz = float(a["binsz"])
    lon, lat_lo = a["lon"], a["lat_lo"]
    nlon, nlat = len(lon), len(lat_lo)
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---CAR", "DEC--CAR"] if frame == "icrs" else ["GLON-CAR", "GLAT-CAR"]
    wcs.wcs.cunit = ["deg", "deg"]
    wcs.wcs.crval = [float(np.mean(lon)), 0.0]
    wcs.wcs.cdelt = [-binsz, binsz]
    wcs.wcs.crpix = [nlon / 2 + 0.5, 0.5 - float(lat_lo[0]) / binsz]
    energy = MapAxis.from_energy_edges(
        np.append(a["energy_lo"], a["energy_hi"][-1]) * u.TeV, name="energy"
    )
    energy_true = MapAxis.from_energy_edges(
        np.append(a["energy_true_lo"], a["energy_true_hi"][-1]) * u.TeV, name="energy_true"
    )

    def flip(x):  # gammaxr's lon increases with the index, FITS x runs the other way
        return np.ascontiguousarray(x[..., ::-1])

    geom = WcsGeom(wcs=wcs, npix=(nlon, nlat), axes=[energy])
    geom_true = WcsGeom(wcs=wcs, npix=(nlon, nlat), axes=[energy_true])
    counts = Map.from_geom(geom, data=flip(a["counts"]).astype(float))
    exposure = Map.from_geom(geom_true, data=flip(a["exposure"]), unit=str(a["exposure_unit"]))
    background = Map.from_geom(geom, data=flip(a["background"]).astype(float))
    mask = Map.from_geom(geom, data=flip(a["mask_safe"]).astype(bool), dtype=bool)
    rad = MapAxis.from_edges(np.append(a["rad_lo"], a["rad_hi"][-1]) * u.deg, name="rad")
    center = geom.center_skydir
    # The same radial profile everywhere, on a coarse grid covering the field.
    psf_geom = WcsGeom.create(
        skydir=center, binsz=1.0, width=(nlon * binsz + 4, nlat * binsz + 4),
        frame=frame, proj="CAR", axes=[rad, energy_true],
    )  # fmt: skip
    psf_data = np.broadcast_to(a["psf"][:, :, None, None], psf_geom.data_shape).copy()
    psf = PSFMap(Map.from_geom(psf_geom, data=psf_data, unit="sr-1"))
    kernel = EDispKernel(axes=[energy_true, energy], data=np.asarray(a["edisp"], dtype=float))
    edisp = EDispKernelMap.from_edisp_kernel(kernel)
    return MapDataset(
        counts=counts, exposure=exposure, background=background, psf=psf, edisp=edisp,
        mask_safe=mask, name=name,
    )  # fmt: skip


# --------------------------------------------------------------------------------------
# Models and the timed fit
# --------------------------------------------------------------------------------------


def gc_source(lon: float, lat: float):
    import astropy.units as u
    from gammapy.modeling.models import (
        ExpCutoffPowerLawSpectralModel,
        PointSpatialModel,
        SkyModel,
    )

    spatial = PointSpatialModel(lon_0=f"{lon} deg", lat_0=f"{lat} deg", frame="galactic")
    spectral = ExpCutoffPowerLawSpectralModel(
        index=2, amplitude=3e-12 * u.Unit("cm-2 s-1 TeV-1"), reference=1.0 * u.TeV,
        lambda_=0.1 / u.TeV,
    )  # fmt: skip
    return SkyModel(spatial_model=spatial, spectral_model=spectral, name="gc-source")


def load_case(case: str, scratch: Path):
    """The datasets and models of a case (untimed)."""
    from gammapy.datasets import Datasets, MapDataset
    from gammapy.modeling.models import (
        FoVBackgroundModel,
        Models,
        PointSpatialModel,
        PowerLawSpectralModel,
        SkyModel,
    )

    if case == "crab":
        dataset = from_npz(scratch / "crab.npz", "crab-stacked")
        spatial = PointSpatialModel(lon_0="83.633 deg", lat_0="22.014 deg", frame="icrs")
        spectral = PowerLawSpectralModel(
            index=2.6, amplitude="3.8e-11 cm-2 s-1 TeV-1", reference="1 TeV"
        )
        models = Models([
            SkyModel(spectral_model=spectral, spatial_model=spatial, name="crab"),
            FoVBackgroundModel(dataset_name=dataset.name),
        ])  # fmt: skip
        datasets = Datasets([dataset])
    elif case == "a3d":
        datasets = Datasets([MapDataset.read(scratch / "gp-a3d.fits", name="stacked_ds")])
        models = Models([gc_source(0.01, 0.01)])
    elif case == "a3d-gx":
        datasets = Datasets([from_npz(scratch / "a3d.npz", "stacked_ds")])
        models = Models([gc_source(0.01, 0.01)])
    elif case == "a3d-joint":
        datasets = Datasets([
            MapDataset.read(scratch / f"gp-a3d-joint-{i}.fits", name=f"dataset{i}")
            for i in range(N_OBS)
        ])  # fmt: skip
        models = Models([gc_source(-0.05, -0.05)])
    elif case == "a3d-joint-gx":
        datasets = Datasets([
            from_npz(scratch / f"a3d-joint-{i}.npz", f"dataset{i}") for i in range(N_OBS)
        ])  # fmt: skip
        models = Models([gc_source(-0.05, -0.05)])
    else:
        raise ValueError(case)
    datasets.models = models
    return datasets


COMMON = {"lon_0": "lon_0", "lat_0": "lat_0", "index": "index", "amplitude": "amplitude",
          "lambda_": "lambda_", "norm": "bkg_norm"}  # fmt: skip


def one_run(case: str, scratch: Path) -> dict:
    from gammapy.datasets import Datasets
    from gammapy.modeling import Fit

    datasets = load_case(case, scratch)
    datasets.stat_sum()  # warm-up outside the timing (imports; first evaluation)
    calls = [0]
    original = Datasets.stat_sum

    def counted(self):
        calls[0] += 1
        return original(self)

    Datasets.stat_sum = counted
    load = list(os.getloadavg())
    wall, cpu = time.perf_counter(), time.process_time()
    result = Fit(backend="minuit", optimize_opts={"tol": 0.1, "strategy": 1}).run(datasets)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    Datasets.stat_sum = original
    parameters = {}
    for model in datasets.models:
        for p in model.parameters.free_parameters:
            value = float(p.value)
            if p.name == "lon_0" and value > 180:
                value -= 360
            parameters[COMMON.get(p.name, p.name)] = [value, float(p.error)]
    return {
        "tool": "gammapy",
        "case": case,
        "seconds": wall,
        "cpu_seconds": cpu,
        "nfev": calls[0],
        "nfev_migrad": int(result.optimize_result.nfev),
        "success": bool(result.success),
        "message": str(result.optimize_result.message),
        "statistic": float(result.total_stat),
        "parameters": parameters,
        "load_average": load,
        "shape": [list(d.counts.data.shape) for d in datasets][:1],
        "mask_bins": int(sum(d.mask_safe.data.sum() for d in datasets)),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", help="folder holding cta-1dc ($GAMMAXR_DATA, ../shared/data)")
    parser.add_argument("--scratch", default=str(DEFAULT_SCRATCH), help="reduced datasets")
    parser.add_argument("--prepare", action="store_true", help="reduce and write the datasets")
    parser.add_argument("--one", choices=CASES, help="one timed fit; prints a JSON line")
    parser.add_argument("--repeat", type=int, default=1, help="with --one: fits in this process")
    args = parser.parse_args(argv)
    scratch = Path(args.scratch)
    if args.prepare:
        print(json.dumps(prepare(find_data(args.data), scratch)))
    if args.one:
        runs = [one_run(args.one, scratch) for _ in range(args.repeat)]
        print(json.dumps(min(runs, key=lambda r: r["seconds"])))


if __name__ == "__main__":
    main()
