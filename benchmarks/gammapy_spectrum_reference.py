"""Gammapy 2.1 reference numbers for tests/fit (spectrum fit, Cash terms, TS).

Run with the Gammapy environment from the repository root:
/work/gp-venv/bin/python benchmarks/gammapy_spectrum_reference.py
"""

import sys

sys.path.insert(0, "tests/fit")
import astropy.units as u
import numpy as np
from gammapy.datasets import SpectrumDataset
from gammapy.maps import MapAxis, RegionGeom, RegionNDMap
from gammapy.modeling import Fit
from gammapy.modeling.models import PowerLawSpectralModel, SkyModel
from gammapy.stats import cash

n = np.array([0, 0, 1, 3, 10, 2, 5])
mu = np.array([0, 0.5, 1e-30, 2.5, 12.0, -1.0, 5.0])
print(repr(cash(n, mu)), cash(n, mu).sum())
edges = np.geomspace(0.5, 50, 21)
lo, hi = edges[:-1], edges[1:]
centre = np.sqrt(lo * hi)
exposure = 3e9 * (1.0 - np.exp(-centre / 0.8))
background = 6.0 * centre**-1.0
# same simulation as the tests' first realisation
ax = MapAxis.from_edges(edges, unit="TeV", name="energy", interp="log")
axt = MapAxis.from_edges(edges, unit="TeV", name="energy_true", interp="log")
geom = RegionGeom.create("icrs;circle(0,0,0.1)", axes=[ax])
geomt = RegionGeom.create("icrs;circle(0,0,0.1)", axes=[axt])
pl = PowerLawSpectralModel(index=2.5, amplitude="4e-11 cm-2 s-1 TeV-1")
flux = pl.integral(lo * u.TeV, hi * u.TeV).to_value("cm-2 s-1")
npred = exposure * 1e4 * flux + background
rng = np.random.default_rng(0)
counts = rng.poisson(npred, size=(200, 20))[0]
print(list(counts))
ds = SpectrumDataset(
    counts=RegionNDMap.from_geom(geom, data=counts.reshape(-1, 1, 1).astype(float)),
    exposure=RegionNDMap.from_geom(geomt, data=exposure.reshape(-1, 1, 1), unit="m2 s"),
    background=RegionNDMap.from_geom(geom, data=background.reshape(-1, 1, 1)),
    name="a",
)
model = SkyModel(
    spectral_model=PowerLawSpectralModel(index=2.5, amplitude="4e-11 cm-2 s-1 TeV-1"), name="src"
)
ds.models = [model]
print(ds.npred().data.ravel() / npred - 1)
res = Fit(backend="minuit", optimize_opts=dict(tol=0.0001)).run([ds])
print(repr(res.total_stat), res.success)
for p in res.parameters.free_parameters:
    print(p.name, repr(p.value), repr(p.error))

# minos-like: profile-based asymmetric errors via Fit.stat_profile? use confidence
fit = Fit(backend="minuit", optimize_opts=dict(tol=0.0001))
res = fit.run([ds])
ci = fit.confidence(datasets=[ds], parameter=ds.models.parameters["index"], sigma=1)
print("index conf", ci)
ds.models.parameters["index"].frozen = True
ul_model = ds.models
# TS of the source: stat without source
stat_with = res.total_stat
ds.models = []
print("stat without", repr(ds.stat_sum()), "TS", ds.stat_sum() - stat_with)
