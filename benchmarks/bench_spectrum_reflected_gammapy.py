"""Gammapy's reflected regions for the spectrum benchmark cases, and how they lie.

Run in the Gammapy environment (gammapy is never imported by gammaxr or its tests):

    /work/gp-venv/bin/python benchmarks/bench_spectrum_reflected_gammapy.py

For the four shipped H.E.S.S. Crab runs (on region: a 0.11 deg circle at
(83.633, 22.014), ``crab_1d``) and for run 23523 with the ``spectrum_1d`` on
region and exclusion mask, it runs ``ReflectedRegionsFinder`` with its defaults
(what ``ReflectedRegionsBackgroundMaker`` uses) and records the region
centres and their geometry: the smallest angular distance between the
centres of two off regions and between an off region and the on region, in
units of the circle diameter (below 1: the circles overlap). Results:
``results/spectrum_reflected.json``; ``tests/reduce/test_off_regions.py`` keeps
the centres for run 23559 as golden numbers.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from gammapy import __version__
from gammapy.data import DataStore
from gammapy.makers import ReflectedRegionsFinder
from gammapy.maps import WcsGeom
from regions import CircleSkyRegion

HERE = Path(__file__).resolve().parent
DATA = Path(os.environ.get("GAMMAXR_DATA", HERE.parent.parent / "shared" / "data"))
RADIUS = 0.11


def geometry(on: CircleSkyRegion, regions: list) -> dict:
    """Region centres and the smallest centre distances in units of the diameter."""
    centres = SkyCoord([r.center.icrs for r in regions])
    out = {
        "n": len(regions),
        "centres": [[float(c.ra.deg), float(c.dec.deg)] for c in centres],
    }
    if len(regions) > 1:
        separation = centres[:, None].separation(centres[None, :]).deg
        np.fill_diagonal(separation, np.inf)
        out["min_separation_over_diameter"] = float(separation.min() / (2 * RADIUS))
    if regions:
        to_on = centres.separation(on.center.icrs).deg
        out["min_to_on_over_diameter"] = float(to_on.min() / (2 * RADIUS))
    return out


def main() -> None:
    finder = ReflectedRegionsFinder()
    result: dict = {"gammapy": __version__, "radius_deg": RADIUS, "runs": {}}
    crab = CircleSkyRegion(SkyCoord(83.633, 22.014, unit="deg"), RADIUS * u.deg)
    store = DataStore.from_dir(DATA / "hess-dl3-dr1")
    for obs_id in (23523, 23526, 23559, 23592):
        obs = store.obs(obs_id)
        pointing = obs.get_pointing_icrs(obs.tmid)
        regions, _ = finder.run(region=crab, center=pointing)
        entry = geometry(crab, regions)
        entry["pointing"] = [float(pointing.ra.deg), float(pointing.dec.deg)]
        entry["offset_deg"] = float(pointing.separation(crab.center).deg)
        result["runs"][str(obs_id)] = entry
    # spectrum_1d: another on-region centre and an exclusion mask far from the regions.
    target = SkyCoord(83.63, 22.01, unit="deg")
    on = CircleSkyRegion(target, RADIUS * u.deg)
    geom = WcsGeom.create(skydir=target.galactic, width=7.5 * u.deg, binsz=0.05, frame="galactic")
    excluded = CircleSkyRegion(
        SkyCoord(183.604, -8.708, unit="deg", frame="galactic"), 0.5 * u.deg
    )
    mask = ~geom.region_mask([excluded])
    obs = store.obs(23523)
    pointing = obs.get_pointing_icrs(obs.tmid)
    regions, _ = finder.run(region=on, center=pointing, exclusion_mask=mask)
    result["spectrum_1d"] = geometry(on, regions)
    path = HERE / "results" / "spectrum_reflected.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    for name, entry in [*result["runs"].items(), ("spectrum_1d", result["spectrum_1d"])]:
        print(
            f"{name}: {entry['n']} regions, closest pair at "
            f"{entry.get('min_separation_over_diameter', float('nan')):.4f} diameters, "
            f"closest to the on region at {entry.get('min_to_on_over_diameter', float('nan')):.4f}"
        )


if __name__ == "__main__":
    main()
