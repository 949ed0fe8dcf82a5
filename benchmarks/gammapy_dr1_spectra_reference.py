"""Gammapy 2.1 1D spectra of H.E.S.S. DR1 PKS 2155-304 and MSH 15-52 runs (Gammapy env).

    GAMMAXR_DATA=/work/shared/data /work/gp-venv/bin/python \
        benchmarks/gammapy_dr1_spectra_reference.py

The same reduction as tests/reduce/test_dr1_spectra.py: on region a circle
(0.11 deg at PKS 2155-304, 0.2 deg at MSH 15-52), reflected off regions,
safe mask ``aeff-default``, PSF containment correction, 0.3-50 TeV (11 log
reco bins), true 0.1-100 TeV (30 bins); a power law (reference
1 TeV) fitted with WStat to the runs jointly and to their stack. Prints and writes
benchmarks/results/gammapy_dr1_spectra_reference.json.
"""

import json
import os
from pathlib import Path

import astropy.units as u
from astropy.coordinates import SkyCoord
from gammapy.data import DataStore
from gammapy.datasets import Datasets, SpectrumDataset
from gammapy.makers import ReflectedRegionsBackgroundMaker, SafeMaskMaker, SpectrumDatasetMaker
from gammapy.maps import MapAxis, RegionGeom
from gammapy.modeling import Fit
from gammapy.modeling.models import PowerLawSpectralModel, SkyModel
from regions import CircleSkyRegion

ROOT = Path(__file__).resolve().parents[1]
CASES = {
    "pks2155": ((329.716938, -30.225588), 0.11, [33787, 33788, 33789, 33790, 33791]),
    "msh1552": ((228.53, -59.16), 0.2, [20136, 20137, 20282, 20283, 20301]),
}


def main():
    store = DataStore.from_dir(Path(os.environ["GAMMAXR_DATA"]) / "hess-dl3-dr1")
    energy = MapAxis.from_energy_bounds(0.3, 50, nbin=11, unit="TeV", name="energy")
    energy_true = MapAxis.from_energy_bounds(0.1, 100, nbin=30, unit="TeV", name="energy_true")
    out = {}
    for name, (position, radius, obs_ids) in CASES.items():
        region = CircleSkyRegion(SkyCoord(*position, unit="deg"), radius * u.deg)
        geom = RegionGeom.create(region=region, axes=[energy])
        empty = SpectrumDataset.create(geom=geom, energy_axis_true=energy_true)
        maker = SpectrumDatasetMaker(
            selection=["counts", "exposure", "edisp"], containment_correction=True
        )
        background = ReflectedRegionsBackgroundMaker()
        safe = SafeMaskMaker(methods=["aeff-default"])
        datasets = Datasets()
        for observation in store.get_observations(obs_ids):
            dataset = maker.run(empty.copy(name=str(observation.obs_id)), observation)
            dataset = background.run(dataset, observation)
            datasets.append(safe.run(dataset, observation))
        entry = {
            "counts": [int(d.counts.data.sum()) for d in datasets],
            "counts_off": [int(d.counts_off.data.sum()) for d in datasets],
        }
        stacked = Datasets([datasets.stack_reduce(name="stacked")])
        for label, data in (("joint", datasets), ("stacked", stacked)):
            data.models = [
                SkyModel(
                    spectral_model=PowerLawSpectralModel(
                        index=2.5, amplitude="1e-11 cm-2 s-1 TeV-1", reference="1 TeV"
                    ),
                    name="src",
                )
            ]
            result = Fit(backend="minuit", optimize_opts={"tol": 1e-5}).run(data)
            fitted = {"stat": float(result.total_stat)}
            for p in result.parameters.free_parameters:
                fitted[p.name] = [float(p.value), float(p.error)]
            entry[label] = fitted
        out[name] = entry
    print(json.dumps(out, indent=1))
    path = ROOT / "benchmarks" / "results" / "gammapy_dr1_spectra_reference.json"
    path.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
