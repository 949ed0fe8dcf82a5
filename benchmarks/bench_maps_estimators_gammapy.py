"""Gammapy's side of ``bench_maps_estimators.py``: TS maps and ring-background excess maps.

Run with the Gammapy environment (it does not import gammaxr)::

    /work/gp-venv/bin/python benchmarks/bench_maps_estimators_gammapy.py [--data PATH]
        [--cases tsmap_fermi ring_msh1552 tsmap_crab]

Cases (gammapy/gammapy-benchmarks, ported to the Gammapy 2.1 API):

``tsmap_fermi``
    ``benchmarks/tsmap_estimator.py``: the Fermi-LAT 3FHL Galactic-centre cubes
    (counts, background, exposure in cm2 s, the gtpsf PSF, a diagonal energy
    dispersion from the counts' energy axis to the exposure's), and
    ``TSMapEstimator`` with a point source of power-law index 2,
    ``kernel_width="1 deg"``, ``energy_edges=[10, 30, 300] GeV`` and the
    default selection (no asymmetric errors, no upper limits).
``ring_msh1552``
    ``benchmarks/ring_background_estimator.py``: the H.E.S.S. DR1 runs within
    2.5 deg of MSH 15-52, 3D datasets on a 3 x 3 deg, 0.02 deg grid centred on
    it (0.5-5 TeV, 10 bins, true energy the same axis), not stacked; the ring
    (``r_in`` 0.5, ``width`` 0.3 deg, 0.3 deg exclusion around the source) on each
    run's image, stacked into a ``MapDatasetOnOff``; then
    ``ExcessMapEstimator(0.1 deg)``.
``tsmap_crab``
    The four shipped Crab runs reduced on gammaxr's equatorial CAR grid
    (3 x 3 deg at 0.02 deg, 0.5-50 TeV at 5 bins per decade, true energy
    0.3-100 TeV at 8 per decade; ``aeff-default`` safe mask), stacked, and
    ``TSMapEstimator`` (point source, index 2, ``kernel_width=0.6 deg``, one
    energy group, upper limits).

Writes ``benchmarks/results/maps_estimators_gammapy.json`` (timings, summaries)
and the maps (gammaxr's order: lon increasing) to ``MAPS``, a scratch file
outside the repository (``$TMPDIR/gammaxr-bench/maps_estimators_gammapy.npz``)
that ``bench_maps_estimators.py`` reads.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import warnings
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from astropy.wcs import WCS

warnings.simplefilter("ignore")

from gammapy.data import DataStore  # noqa: E402
from gammapy.datasets import MapDataset, MapDatasetOnOff  # noqa: E402
from gammapy.estimators import ExcessMapEstimator, TSMapEstimator  # noqa: E402
from gammapy.irf import EDispKernelMap, PSFMap  # noqa: E402
from gammapy.makers import (  # noqa: E402
    MapDatasetMaker,
    RingBackgroundMaker,
    SafeMaskMaker,
)
from gammapy.maps import Map, MapAxis, WcsGeom  # noqa: E402
from gammapy.modeling.models import (  # noqa: E402
    PointSpatialModel,
    PowerLawSpectralModel,
    SkyModel,
)
from regions import CircleSkyRegion  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
CRAB = ROOT / "src" / "gammaxr" / "datasets" / "hess-dl3-dr1-crab"
MSH1552 = (228.32, -59.08)
MAPS = Path(tempfile.gettempdir()) / "gammaxr-bench" / "maps_estimators_gammapy.npz"


def find_data(path: str | None) -> Path:
    for candidate in [path, os.environ.get("GAMMAXR_DATA"), ROOT.parent / "shared" / "data"]:
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    raise SystemExit("no data folder: give --data or set GAMMAXR_DATA")


def flip(data: np.ndarray) -> np.ndarray:
    """FITS order (lon decreasing) to gammaxr order (lon increasing)."""
    return np.ascontiguousarray(np.asarray(data)[..., ::-1])


def tsmap_fermi(data: Path, out: dict, arrays: dict) -> None:
    folder = data / "fermi-3fhl-gc"
    start = time.perf_counter()
    counts = Map.read(folder / "fermi-3fhl-gc-counts-cube.fits.gz")
    background = Map.read(folder / "fermi-3fhl-gc-background-cube.fits.gz")
    exposure = Map.read(folder / "fermi-3fhl-gc-exposure-cube.fits.gz")
    exposure = Map.from_geom(exposure.geom, data=exposure.data, unit="cm2 s")  # not in the file
    psf = PSFMap.read(folder / "fermi-3fhl-gc-psf-cube.fits.gz", format="gtpsf")
    edisp = EDispKernelMap.from_diagonal_response(
        energy_axis=counts.geom.axes["energy"],
        energy_axis_true=exposure.geom.axes["energy_true"],
    )
    dataset = MapDataset(
        counts=counts, background=background, exposure=exposure, psf=psf,
        name="fermi-3fhl-gc", edisp=edisp,
    )  # fmt: skip
    read = time.perf_counter() - start
    model = SkyModel(
        spatial_model=PointSpatialModel(), spectral_model=PowerLawSpectralModel(index=2)
    )
    estimator = TSMapEstimator(model, kernel_width="1 deg", energy_edges=[10, 30, 300] * u.GeV)
    start = time.perf_counter()
    maps = estimator.run(dataset)
    elapsed = time.perf_counter() - start
    out["tsmap_fermi"] = {"read_s": read, "tsmap_s": elapsed}
    for name in ("sqrt_ts", "ts", "norm", "norm_err", "flux", "npred_excess"):
        arrays[f"fermi_{name}"] = flip(maps[name].data)
    print(f"tsmap_fermi: {elapsed:.1f} s")


def ring_msh1552(data: Path, out: dict, arrays: dict) -> None:
    source = SkyCoord(*MSH1552, unit="deg")
    start = time.perf_counter()
    store = DataStore.from_dir(data / "hess-dl3-dr1")
    table = store.obs_table
    pointing = SkyCoord(table["RA_PNT"], table["DEC_PNT"], unit="deg")
    obs_ids = table["OBS_ID"][pointing.separation(source) < 2.5 * u.deg]
    observations = store.get_observations(obs_ids)
    energy = MapAxis.from_energy_bounds(0.5, 5, nbin=10, unit="TeV")
    geom = WcsGeom.create(skydir=source, width=3 * u.deg, binsz=0.02, frame="icrs",
                          axes=[energy])  # fmt: skip
    maker = MapDatasetMaker()
    safe = SafeMaskMaker(methods=["aeff-default", "offset-max"], offset_max=3.5 * u.deg)
    empty = MapDataset.create(geom=geom, energy_axis_true=energy.copy(name="energy_true"))
    datasets = []
    for obs in observations:
        cutout = empty.cutout(obs.get_pointing_icrs(obs.tmid), width=7 * u.deg)
        dataset = safe.run(maker.run(cutout, obs), obs)
        datasets.append(dataset)
    prepared = time.perf_counter() - start
    start = time.perf_counter()
    geom_image = geom.to_image().to_cube([energy.squash()])
    exclusion = ~geom_image.region_mask([CircleSkyRegion(source, 0.3 * u.deg)])
    ring = RingBackgroundMaker(r_in="0.5 deg", width="0.3 deg", exclusion_mask=exclusion)
    stacked = MapDatasetOnOff.create(
        geom=geom_image, energy_axis_true=energy.copy(name="energy_true"), name="stacked"
    )
    for dataset in datasets:
        stacked.stack(ring.run(dataset.to_image()))
    ring_s = time.perf_counter() - start
    start = time.perf_counter()
    maps = ExcessMapEstimator(0.1 * u.deg).run(stacked)
    excess_s = time.perf_counter() - start
    coords = geom_image.to_image().get_coord()
    arrays["msh_ra"] = flip(coords.lon.to_value("deg"))
    arrays["msh_dec"] = flip(coords.lat.to_value("deg"))
    for name in ("sqrt_ts", "npred_excess", "counts"):
        arrays[f"msh_{name}"] = flip(maps[name].data[0])
    arrays["msh_counts_off"] = flip(stacked.counts_off.data[0])
    sqrt_ts = maps["sqrt_ts"].data[0]
    j, i = np.unravel_index(np.nanargmax(sqrt_ts), sqrt_ts.shape)
    peak = [float(coords.lon.to_value("deg")[j, i]), float(coords.lat.to_value("deg")[j, i])]
    out["ring_msh1552"] = {
        "obs_ids": [int(x) for x in obs_ids],
        "prepare_s": prepared,
        "ring_and_stack_s": ring_s,
        "excess_map_s": excess_s,
        "peak_sqrt_ts": float(np.nanmax(sqrt_ts)),
        "peak_ra_dec": peak,
    }
    print(f"ring_msh1552: prepare {prepared:.1f} s, ring {ring_s:.1f} s, excess {excess_s:.2f} s")


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


def edges(e_min, e_max, per_decade):
    nbin = max(1, int(np.round(np.log10(e_max / e_min) * per_decade)))
    return np.geomspace(e_min, e_max, nbin + 1)


def tsmap_crab(data: Path, out: dict, arrays: dict) -> None:
    del data
    energy = MapAxis.from_energy_edges(edges(0.5, 50, 5) * u.TeV, name="energy")
    energy_true = MapAxis.from_energy_edges(edges(0.3, 100, 8) * u.TeV, name="energy_true")
    geom = equatorial_car_geom(83.633, 22.014, 3.0, 0.02, [energy])
    store = DataStore.from_dir(CRAB)
    start = time.perf_counter()
    stacked = MapDataset.create(geom=geom, energy_axis_true=energy_true, name="crab")
    maker, safe = MapDatasetMaker(), SafeMaskMaker(methods=["aeff-default"])
    for obs in store.get_observations([23523, 23526, 23559, 23592]):
        stacked.stack(safe.run(maker.run(stacked.copy(name="one"), obs), obs))
    reduce_s = time.perf_counter() - start
    model = SkyModel(
        spatial_model=PointSpatialModel(), spectral_model=PowerLawSpectralModel(index=2)
    )
    estimator = TSMapEstimator(model, kernel_width="0.6 deg", selection_optional=["ul"])
    start = time.perf_counter()
    maps = estimator.run(stacked)
    elapsed = time.perf_counter() - start
    for name in ("sqrt_ts", "ts", "norm", "norm_err", "norm_ul", "flux"):
        arrays[f"crab_{name}"] = flip(maps[name].data[0])
    sqrt_ts = maps["sqrt_ts"].data[0]
    j, i = np.unravel_index(np.nanargmax(sqrt_ts), sqrt_ts.shape)
    coords = geom.to_image().get_coord()
    peak = [float(coords.lon.to_value("deg")[j, i]), float(coords.lat.to_value("deg")[j, i])]
    out["tsmap_crab"] = {
        "reduce_s": reduce_s,
        "tsmap_s": elapsed,
        "peak_sqrt_ts": float(np.nanmax(sqrt_ts)),
        "peak_ra_dec": peak,
    }
    print(f"tsmap_crab: {elapsed:.1f} s")


CASES = {"tsmap_fermi": tsmap_fermi, "ring_msh1552": ring_msh1552, "tsmap_crab": tsmap_crab}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data")
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    args = parser.parse_args()
    data = find_data(args.data)
    RESULTS.mkdir(parents=True, exist_ok=True)
    json_path = RESULTS / "maps_estimators_gammapy.json"
    npz_path = MAPS
    npz_path.parent.mkdir(parents=True, exist_ok=True)
    out = json.loads(json_path.read_text()) if json_path.exists() else {}
    arrays = dict(np.load(npz_path)) if npz_path.exists() else {}
    import gammapy

    out["gammapy_version"] = gammapy.__version__
    for case in args.cases:
        CASES[case](data, out, arrays)
        json_path.write_text(json.dumps(out, indent=2))
        np.savez_compressed(npz_path, **arrays)


if __name__ == "__main__":
    main()
