"""Make the Gammapy-written OGIP files of this folder (run in the Gammapy 2.1 env).

    /work/gp-venv/bin/python benchmarks/gammapy_fixtures/make_gammapy_ogip.py

Gammapy's standard 1D reduction of the shipped H.E.S.S. DL3 DR1 Crab runs
23523 and 23526 (src/gammaxr/datasets/hess-dl3-dr1-crab): on region a circle
of 0.11 deg at the Crab, reflected off regions, safe mask ``aeff-max`` 10 %,
written with ``SpectrumDatasetOnOff.write(format="ogip")``, one set per run
and one for their stack (``Datasets.stack_reduce``). It also prints the
numbers of Gammapy's info tables that tests/io/test_ogip.py compares with.
"""

from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from gammapy.data import DataStore
from gammapy.datasets import Datasets, SpectrumDataset
from gammapy.makers import (
    ReflectedRegionsBackgroundMaker,
    SafeMaskMaker,
    SpectrumDatasetMaker,
)
from gammapy.maps import MapAxis, RegionGeom
from regions import CircleSkyRegion

HERE = Path(__file__).resolve().parents[2] / "tests" / "io" / "data" / "ogip"
DATA = HERE.parents[3] / "src" / "gammaxr" / "datasets" / "hess-dl3-dr1-crab"

store = DataStore.from_dir(DATA)
observations = store.get_observations([23523, 23526])
on_region = CircleSkyRegion(SkyCoord(83.633, 22.014, unit="deg"), radius=0.11 * u.deg)
energy = MapAxis.from_energy_bounds(0.5, 40, nbin=12, unit="TeV", name="energy")
energy_true = MapAxis.from_energy_bounds(0.3, 100, nbin=30, unit="TeV", name="energy_true")
geom = RegionGeom.create(region=on_region, axes=[energy])
empty = SpectrumDataset.create(geom=geom, energy_axis_true=energy_true)
maker = SpectrumDatasetMaker(selection=["counts", "exposure", "edisp"])
background = ReflectedRegionsBackgroundMaker()
safe = SafeMaskMaker(methods=["aeff-max"], aeff_percent=10)

datasets = Datasets()
for observation in observations:
    dataset = maker.run(empty.copy(name=str(observation.obs_id)), observation)
    dataset = background.run(dataset, observation)
    dataset = safe.run(dataset, observation)
    dataset.write(HERE / f"pha_obs{observation.obs_id}.fits.gz", format="ogip", overwrite=True)
    datasets.append(dataset)

stacked = datasets.stack_reduce(name="stacked")
stacked.write(HERE / "pha_stacked.fits.gz", format="ogip", overwrite=True)

columns = [
    "counts",
    "counts_off",
    "alpha",
    "excess",
    "sqrt_ts",
    "livetime",
    "background_rate",
    "excess_rate",
]
for cumulative in (False, True):
    table = datasets.info_table(cumulative=cumulative)
    print(f"INFO_{'CUMULATIVE' if cumulative else 'PER_OBS'} = {{")
    for col in columns:
        print(f"    {col!r}: {np.asarray(table[col], dtype=float).tolist()!r},")
    print("}")
print("STACKED_ALPHA =", stacked.alpha.data.ravel().tolist())
print("STACKED_MASK =", stacked.mask_safe.data.ravel().astype(int).tolist())

# WStat of a fixed power law on run 23523 (read back from its OGIP files).
from gammapy.datasets import SpectrumDatasetOnOff  # noqa: E402
from gammapy.modeling.models import PowerLawSpectralModel, SkyModel  # noqa: E402

dataset = SpectrumDatasetOnOff.read(HERE / "pha_obs23523.fits.gz", format="ogip")
dataset.models = [
    SkyModel(
        spectral_model=PowerLawSpectralModel(index=2.6, amplitude="4e-11 cm-2 s-1 TeV-1"),
        name="crab",
    )
]
print("NPRED_SIGNAL_23523 =", dataset.npred_signal().data.ravel().tolist())
print("STAT_SUM_23523 =", repr(dataset.stat_sum()))
