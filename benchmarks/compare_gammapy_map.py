"""Gammapy's map dataset for one H.E.S.S. run, saved for comparison with gammaxr.

Run with the Gammapy environment (it does not import gammaxr)::

    /work/gp-venv/bin/python benchmarks/compare_gammapy_map.py            # comparison
    /work/gp-venv/bin/python benchmarks/compare_gammapy_map.py --timing   # timing only

The geometry is the gammaxr one: a CAR grid with its reference on the equator,
so that pixels are a plain lon/lat grid (``gx.sky_grid``), and the energy edges
of ``gx.energy_axis`` (``numpy.geomspace``). Arrays are written with the
gammaxr axis order: ``lon`` increasing (FITS images run the other way).

Writes ``benchmarks/results/gammapy_map_<obs_id>.npz`` (or
``gammapy_timing_<obs_id>.json`` with ``--timing``).
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.wcs import WCS

warnings.simplefilter("ignore")

from gammapy.data import DataStore  # noqa: E402
from gammapy.datasets import MapDataset  # noqa: E402
from gammapy.makers import MapDatasetMaker, SafeMaskMaker  # noqa: E402
from gammapy.makers.utils import make_edisp_kernel_map, make_psf_map  # noqa: E402
from gammapy.maps import MapAxis, WcsGeom  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "src" / "gammaxr" / "datasets" / "hess-dl3-dr1-crab"
RESULTS = ROOT / "benchmarks" / "results"
METHODS = ("offset-max", "aeff-default", "aeff-max", "edisp-bias", "bkg-peak")


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


def build_geometry(args):
    energy = MapAxis.from_energy_edges(
        energy_edges(args.emin, args.emax, args.per_decade) * u.TeV, name="energy"
    )
    energy_true = MapAxis.from_energy_edges(
        energy_edges(args.etmin, args.etmax, args.true_per_decade) * u.TeV, name="energy_true"
    )
    geom = equatorial_car_geom(args.ra, args.dec, args.width, args.binsz, [energy])
    return geom, energy, energy_true


def run_maker(observation, geom, energy_true, selection=None, methods=METHODS):
    empty = MapDataset.create(geom=geom, energy_axis_true=energy_true, name="gp")
    maker = MapDatasetMaker(selection=selection)
    dataset = maker.run(empty, observation)
    if methods:
        dataset = SafeMaskMaker(methods=list(methods)).run(dataset, observation)
    return dataset


def flip(data: np.ndarray) -> np.ndarray:
    """From FITS order (lon decreasing) to gammaxr order (lon increasing)."""
    return np.ascontiguousarray(data[..., ::-1])


def comparison(args, observation) -> None:
    geom, energy, energy_true = build_geometry(args)
    coords = geom.to_image().get_coord()
    ra, dec = flip(coords.lon.to_value("deg")), flip(coords.lat.to_value("deg"))
    dataset = run_maker(observation, geom, energy_true, methods=())
    centre = geom.center_skydir
    pointing = observation.get_pointing_icrs(observation.tmid)

    one_pixel = WcsGeom.create(skydir=centre, npix=1, binsz=0.01, frame="icrs")
    rad = MapAxis.from_bounds(0, 0.66, nbin=66, node_type="edges", name="rad", unit="deg")
    psf_map = make_psf_map(observation.psf, pointing, one_pixel.to_cube([rad, energy_true]))
    psf = psf_map.psf_map.quantity[:, :, 0, 0].to_value("sr-1")
    edisp_map = make_edisp_kernel_map(
        observation.edisp, pointing, one_pixel.to_cube([energy, energy_true])
    )
    edisp = edisp_map.edisp_map.data[:, :, 0, 0]

    out = {
        "ra": ra,
        "dec": dec,
        "energy_edges": energy.edges.to_value("TeV"),
        "energy_true_edges": energy_true.edges.to_value("TeV"),
        "counts": flip(dataset.counts.data),
        "exposure": flip(dataset.exposure.quantity.to_value("m2 s")),
        "background": flip(dataset.background.data),
        "psf": psf,
        "edisp": edisp,
        "irf_offset": centre.separation(pointing).deg,
    }
    maker_oversampled = MapDatasetMaker(selection=["background"], background_oversampling=20)
    oversampled = maker_oversampled.run(
        MapDataset.create(geom=geom, energy_axis_true=energy_true), observation
    )
    out["background_oversampled"] = flip(oversampled.background.data)
    full = run_maker(observation, geom, energy_true, methods=())
    for method in METHODS:
        masked = SafeMaskMaker(methods=[method]).run(full.copy(), observation)
        out[f"mask_{method}"] = flip(masked.mask_safe.data)
    masked = SafeMaskMaker(methods=list(METHODS)).run(full.copy(), observation)
    out["mask_all"] = flip(masked.mask_safe.data)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"gammapy_map_{args.obs_id}.npz"
    np.savez_compressed(path, **out)
    print(f"wrote {path}")
    print(f"counts {out['counts'].sum():.0f}, background {out['background'].sum():.2f}")


def timing(args, observation) -> None:
    geom, _, energy_true = build_geometry(args)
    for name in ("aeff", "edisp", "psf", "bkg", "events"):
        getattr(observation, name)  # read the HDUs once: time the reduction only
    results = {}
    for label, selection in (
        ("all", None),
        ("counts+exposure+background", ["counts", "exposure", "background"]),
    ):
        times, cpu = [], []
        for _ in range(args.repeat):
            start, start_cpu = time.perf_counter(), time.process_time()
            run_maker(
                observation,
                geom,
                energy_true,
                selection=selection,
                methods=METHODS if selection is None else (),
            )
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
        results[label] = {
            "min": min(times),
            "median": float(np.median(times)),
            "cpu_min": min(cpu),
            "all": times,
        }
        print(
            f"gammapy {label}: wall min {min(times):.3f} s, median {np.median(times):.3f} s; "
            f"CPU min {min(cpu):.3f} s"
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"gammapy_timing_{args.obs_id}.json"
    geometry = {
        k: getattr(args, k)
        for k in (
            "width",
            "binsz",
            "emin",
            "emax",
            "per_decade",
            "etmin",
            "etmax",
            "true_per_decade",
        )
    }
    path.write_text(json.dumps({"geometry": geometry, "times": results}, indent=2))
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--obs-id", type=int, default=23523)
    parser.add_argument("--ra", type=float, default=83.633)
    parser.add_argument("--dec", type=float, default=22.014)
    parser.add_argument("--width", type=float, default=2.0)
    parser.add_argument("--binsz", type=float, default=0.05)
    parser.add_argument("--emin", type=float, default=0.5)
    parser.add_argument("--emax", type=float, default=50.0)
    parser.add_argument("--per-decade", type=float, default=5)
    parser.add_argument("--etmin", type=float, default=0.3)
    parser.add_argument("--etmax", type=float, default=100.0)
    parser.add_argument("--true-per-decade", type=float, default=8)
    parser.add_argument("--timing", action="store_true", help="time the makers instead")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if args.timing:
        defaults = {"width": 2.0, "binsz": 0.05, "per_decade": 5}
        timing_geometry = {"width": 4.0, "binsz": 0.02, "per_decade": 10}
        for key, value in timing_geometry.items():
            if getattr(args, key) == defaults[key]:
                setattr(args, key, value)
    observation = DataStore.from_dir(DATA).obs(args.obs_id)
    if args.timing:
        timing(args, observation)
    else:
        comparison(args, observation)


if __name__ == "__main__":
    main()
