"""Reduce the shipped H.E.S.S. Crab runs to a stacked 3D map dataset.

Run: python examples/map_reduction.py
Writes crab-stacked.nc to a temporary folder and reads it back.
"""

import tempfile
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from regions import CircleSkyRegion

import gammaxr as gx
from gammaxr.reduce import fit_fov_background

crab = SkyCoord(83.633, 22.014, unit="deg")
geom = gx.make_geom(
    gx.energy_axis(0.5, 50, per_decade=5),
    gx.energy_axis(0.3, 100, per_decade=8, name="energy_true"),
    sky=gx.sky_grid(crab, width=3, binsz=0.02),
)
exclusion = gx.region_mask(CircleSkyRegion(crab, 0.3 * u.deg), geom)

store = gx.open_datastore()
datasets = []
for obs in store.observations():
    ds = gx.make_map_dataset(obs, geom, safe_mask=["aeff-default", "offset-max"])
    ds = fit_fov_background(ds, exclusion)
    print(f"run {obs.obs_id}: {int(ds.counts.sum())} counts, "
          f"background norm {float(ds.background_norm):.3f}")
    datasets.append(ds.drop_vars(["background_norm", "background_tilt", "background_fit_ok"]))

joint = gx.concat_observations(datasets)          # obs_id dim: the joint form
stacked = joint.gp.stack()                        # reduce over obs_id
on = gx.angular_separation(crab.ra.deg, crab.dec.deg, stacked.lon, stacked.lat) < 0.15
n_on = float(stacked.counts.where(on & stacked.mask_safe, 0).sum())
b_on = float(stacked.background.where(on & stacked.mask_safe, 0).sum(dtype=float))
print(f"stacked: {int(stacked.counts.sum())} counts; within 0.15 deg of the Crab "
      f"{n_on:.0f} counts over {b_on:.1f} background (excess {n_on - b_on:.0f})")

with tempfile.TemporaryDirectory() as folder:
    path = stacked.gp.write(Path(folder) / "crab-stacked.nc")
    back = gx.read_dataset(path).load()
    assert back.identical(stacked)
    print(f"wrote and re-read {path.name}: identical, {np.dtype(back.counts.dtype)} counts")

# Fit a point source with a power law, and the background norm, to the stack.
from gammaxr.models import (  # noqa: E402
    FoVBackgroundModel,
    Models,
    PointSpatialModel,
    PowerLawSpectralModel,
    SkyModel,
)

stacked.attrs["name"] = "crab-stacked"
models = Models([
    SkyModel(PowerLawSpectralModel(index=2.6, amplitude=3.8e-11),
             PointSpatialModel(lon_0=83.633, lat_0=22.014), name="crab"),
    FoVBackgroundModel("crab-stacked"),
])  # fmt: skip
result = stacked.gp.fit(models)
fitted = result.parameters
print(f"fit converged: {result.success}; index {fitted.loc['crab.spectral.index', 'value']:.2f}"
      f" +- {fitted.loc['crab.spectral.index', 'error']:.2f}, amplitude "
      f"{fitted.loc['crab.spectral.amplitude', 'value']:.3g} cm-2 s-1 TeV-1 at 1 TeV")
assert result.success
