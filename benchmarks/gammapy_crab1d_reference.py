"""Gammapy 2.1 reference fits of the four shipped Crab runs, 1D WStat (run in the Gammapy env).

    /work/gp-venv/bin/python benchmarks/gammapy_crab1d_reference.py

Reads the OGIP sets of tests/io/data/ogip_crab (gammaxr's reduction, written by
benchmarks/make_crab_ogip.py) with ``SpectrumDatasetOnOff.read`` and fits, with
WStat and Minuit (tol 1e-5):

* a power law (reference 1 TeV) and a log-parabola (natural log, reference
  1 TeV) to the joint datasets (one likelihood per run, summed);
* the same to their stack (``Datasets.stack_reduce``).

Prints the numbers stored in tests/fit/test_crab_1d_validation.py and writes
them to benchmarks/results/gammapy_crab1d_reference.json.
"""

import json
from pathlib import Path

import gammapy
from gammapy.datasets import Datasets, SpectrumDatasetOnOff
from gammapy.modeling import Fit
from gammapy.modeling.models import (
    LogParabolaSpectralModel,
    PowerLawSpectralModel,
    SkyModel,
)

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "io" / "data" / "ogip_crab"
OBS_IDS = (23523, 23526, 23559, 23592)


def models(kind):
    if kind == "pl":
        spectral = PowerLawSpectralModel(
            index=2.5, amplitude="3e-11 cm-2 s-1 TeV-1", reference="1 TeV"
        )
    else:
        spectral = LogParabolaSpectralModel(
            alpha=2.5, beta=0.1, amplitude="3e-11 cm-2 s-1 TeV-1", reference="1 TeV"
        )
    return [SkyModel(spectral_model=spectral, name="crab")]


def run(datasets, kind):
    datasets = Datasets([d.copy(name=d.name) for d in datasets])
    datasets.models = models(kind)
    fit = Fit(backend="minuit", optimize_opts={"tol": 1e-5})
    result = fit.run(datasets)
    out = {"stat": float(result.total_stat), "success": bool(result.success)}
    for p in result.parameters.free_parameters:
        out[p.name] = [float(p.value), float(p.error)]
    return out


def main():
    joint = Datasets(
        [SpectrumDatasetOnOff.read(DATA / f"pha_obs{i}.fits.gz", format="ogip") for i in OBS_IDS]
    )
    stacked = Datasets([joint.stack_reduce(name="stacked")])
    reference = {"gammapy": gammapy.__version__}
    for label, datasets in (("joint", joint), ("stacked", stacked)):
        for kind in ("pl", "lp"):
            reference[f"{label}_{kind}"] = run(datasets, kind)
    print(json.dumps(reference, indent=1))
    out = ROOT / "benchmarks" / "results" / "gammapy_crab1d_reference.json"
    out.write_text(json.dumps(reference, indent=1) + "\n")


if __name__ == "__main__":
    main()
