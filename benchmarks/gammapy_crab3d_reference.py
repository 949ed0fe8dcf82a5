"""Gammapy 2.1 reference for tests/fit: joint 3D fit of the 4 shipped H.E.S.S. Crab runs.

Run with the Gammapy environment: /work/gp-venv/bin/python benchmarks/gammapy_crab3d_reference.py
"""

import json
import time
import warnings
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.wcs import WCS
from gammapy.data import DataStore
from gammapy.datasets import Datasets, MapDataset
from gammapy.makers import MapDatasetMaker, SafeMaskMaker
from gammapy.maps import MapAxis, WcsGeom
from gammapy.modeling import Fit
from gammapy.modeling.models import (
    FoVBackgroundModel,
    Models,
    PointSpatialModel,
    PowerLawSpectralModel,
    SkyModel,
)

warnings.simplefilter("ignore")

CRAB = (83.633, 22.014)
DATA = Path("/work/main/src/gammaxr/datasets/hess-dl3-dr1-crab")


def energy_edges(e_min, e_max, per_decade):
    nbin = max(1, int(np.round(np.log10(e_max / e_min) * per_decade)))
    return np.geomspace(e_min, e_max, nbin + 1)


def equatorial_car_geom(lon0, lat0, width, binsz, axes):
    n = int(np.round(width / binsz))
    lat_first_edge = lat0 - binsz * n / 2
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---CAR", "DEC--CAR"]
    wcs.wcs.cunit = ["deg", "deg"]
    wcs.wcs.crval = [lon0, 0.0]
    wcs.wcs.cdelt = [-binsz, binsz]
    wcs.wcs.crpix = [n / 2 + 0.5, 0.5 - lat_first_edge / binsz]
    return WcsGeom(wcs=wcs, npix=(n, n), axes=axes)


energy = MapAxis.from_energy_edges(energy_edges(0.7, 30, 5) * u.TeV, name="energy")
energy_true = MapAxis.from_energy_edges(energy_edges(0.5, 50, 8) * u.TeV, name="energy_true")
geom = equatorial_car_geom(*CRAB, 1.6, 0.04, [energy])
store = DataStore.from_dir(DATA)
datasets = Datasets()
for obs in store.get_observations([23523, 23526, 23559, 23592]):
    empty = MapDataset.create(geom=geom, energy_axis_true=energy_true, name=f"run{obs.obs_id}")
    ds = MapDatasetMaker().run(empty, obs)
    ds = SafeMaskMaker(methods=["aeff-default"]).run(ds, obs)
    datasets.append(ds)
results = {}
for free_position in (False, True):
    spatial = PointSpatialModel(lon_0=f"{CRAB[0]} deg", lat_0=f"{CRAB[1]} deg", frame="icrs")
    spatial.lon_0.frozen = spatial.lat_0.frozen = not free_position
    spectral = PowerLawSpectralModel(
        index=2.6, amplitude="3.8e-11 cm-2 s-1 TeV-1", reference="1 TeV"
    )
    models = Models([SkyModel(spectral_model=spectral, spatial_model=spatial, name="crab")])
    models.extend(FoVBackgroundModel(dataset_name=ds.name) for ds in datasets)
    datasets.models = models
    t = time.perf_counter()
    res = Fit(backend="minuit", optimize_opts={"tol": 1e-4}).run(datasets)
    key = "free_position" if free_position else "fixed_position"
    results[key] = {
        "success": bool(res.success),
        "total_stat": float(res.total_stat),
        "time": time.perf_counter() - t,
        "counts": [float(ds.counts.data[ds.mask_safe.data].sum()) for ds in datasets],
        "parameters": {
            f"{m.name}.{p.name}": [float(p.value), float(p.error)]
            for m in datasets.models
            for p in m.parameters.free_parameters
        },
    }
print(json.dumps(results, indent=1))
