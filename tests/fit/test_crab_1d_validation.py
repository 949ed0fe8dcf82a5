"""1D WStat fits of the four shipped Crab runs against Gammapy: power law and log-parabola.

Both tools fit the same OGIP spectra (gammaxr's reduction of runs 23523, 23526,
23559 and 23592, tests/io/data/ogip_crab, written by benchmarks/make_crab_ogip.py):
one likelihood per run summed (joint), and the stacked dataset. The Gammapy 2.1
numbers below come from benchmarks/gammapy_crab1d_reference.py
(``SpectrumDatasetOnOff.read``, ``Datasets.stack_reduce``, Minuit with tol 1e-5;
also in benchmarks/results/gammapy_crab1d_reference.json).

Tolerances. Both fits minimise the same statistic to an EDM below ~1e-6, so
the best-fit values can differ by ~1e-3 sigma; we allow 0.02 sigma. The
minimum statistic is second order in such offsets (``(d / sigma)**2``): 1e-4
absolute. Errors come from each tool's numerical second derivatives: 2 %.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import gammaxr as gx
from gammaxr.models import LogParabolaSpectralModel, Models, PowerLawSpectralModel, SkyModel

DATA = Path(__file__).parents[1] / "io" / "data" / "ogip_crab"
RUNS = (23523, 23526, 23559, 23592)

# benchmarks/gammapy_crab1d_reference.py, Gammapy 2.1: name -> (value, error); "stat".
GAMMAPY = {
    "joint_pl": {
        "stat": 89.5631429261907,
        "index": (2.627009892889385, 0.05980577808510701),
        "amplitude": (4.2425341509297825e-11, 1.987331944420521e-12),
    },
    "joint_lp": {
        "stat": 81.6709861295949,
        "amplitude": (4.4250257494885095e-11, 2.231319754214379e-12),
        "alpha": (2.354357724750371, 0.11958428814139986),
        "beta": (0.1837999443515899, 0.07253884247558895),
    },
    "stacked_pl": {
        "stat": 18.865569614838982,
        "index": (2.628662778035384, 0.05983082569983126),
        "amplitude": (4.244342023502863e-11, 1.986581041259972e-12),
    },
    "stacked_lp": {
        "stat": 11.295831090222201,
        "amplitude": (4.423474382764508e-11, 2.2274022672999515e-12),
        "alpha": (2.3615584635186835, 0.11959226123279429),
        "beta": (0.1795569924397923, 0.07223503598034066),
    },
}


def start(kind: str) -> Models:
    if kind == "pl":
        spectral = PowerLawSpectralModel(index=2.5, amplitude=3e-11, reference=1.0)
    else:
        spectral = LogParabolaSpectralModel(alpha=2.5, beta=0.1, amplitude=3e-11, reference=1.0)
    return Models([SkyModel(spectral, name="crab")])


@pytest.fixture(scope="module")
def runs():
    return gx.read_ogip_set([DATA / f"pha_obs{i}.fits.gz" for i in RUNS])


@pytest.fixture(scope="module")
def fits(runs):
    stacked = gx.stack(gx.concat_observations(runs))
    data = {"joint": runs, "stacked": stacked}
    return {
        f"{label}_{kind}": gx.fit(data[label], start(kind))
        for label in ("joint", "stacked")
        for kind in ("pl", "lp")
    }


def values(result) -> dict[str, tuple[float, float]]:
    free = result.parameters[~result.parameters["frozen"]]
    return {name.split(".")[-1]: (row["value"], row["error"]) for name, row in free.iterrows()}


@pytest.mark.parametrize("case", list(GAMMAPY))
def test_fit_agrees_with_gammapy(fits, case):
    result, reference = fits[case], GAMMAPY[case]
    assert result.success
    assert result.statistic == pytest.approx(reference["stat"], abs=1e-4)
    ours = values(result)
    assert set(ours) == set(reference) - {"stat"}
    for name, (value, error) in ours.items():
        ref_value, ref_error = reference[name]
        assert abs(value - ref_value) < 0.02 * ref_error, name
        assert error == pytest.approx(ref_error, rel=0.02), name


@pytest.mark.parametrize("kind", ["pl", "lp"])
def test_joint_and_stacked_fits_agree(fits, kind):
    """Same events and off counts: stacking only averages alpha and the response."""
    joint, stacked = values(fits[f"joint_{kind}"]), values(fits[f"stacked_{kind}"])
    for name, (value, error) in joint.items():
        assert abs(stacked[name][0] - value) < 0.15 * error, name
        assert stacked[name][1] == pytest.approx(error, rel=0.03), name


def test_log_parabola_curvature(fits):
    """The Crab spectrum curves: the log-parabola improves on the power law by ~8 (both tools)."""
    for label in ("joint", "stacked"):
        ts = fits[f"{label}_pl"].statistic - fits[f"{label}_lp"].statistic
        reference = GAMMAPY[f"{label}_pl"]["stat"] - GAMMAPY[f"{label}_lp"]["stat"]
        assert ts == pytest.approx(reference, abs=2e-4)
        beta, error = values(fits[f"{label}_lp"])["beta"]
        assert 2 < beta / error < 3
