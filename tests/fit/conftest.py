"""Small analytic spectrum datasets, predictors and Poisson simulations for the fit tests.

A spectrum dataset here has ``counts``, ``exposure`` (m2 s) and ``background``
(counts) on one ``energy`` axis with edges, no energy dispersion, so

    npred_i = exposure_i * 1e4 * integral(E_lo_i, E_hi_i) + bkg_norm * background_i

(1e4: m2 -> cm2). This keeps the fit tests independent of forward folding.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from gammaxr.fit import MapCost
from gammaxr.models import (
    FoVBackgroundModel,
    Models,
    Parameter,
    PowerLawSpectralModel,
    SkyModel,
    SpectralModel,
)

EDGES = np.geomspace(0.5, 50.0, 21)  # 20 bins, TeV
TRUTH = {"index": 2.5, "amplitude": 4e-11}  # cm-2 s-1 TeV-1 at 1 TeV (Crab-like)


def _spectrum_dataset(
    counts, *, exposure=None, background=None, edges=EDGES, name=None, mask_safe=None
) -> xr.Dataset:
    """A spectrum dataset (counts as given; exposure in m2 s; background in counts)."""
    lo, hi = edges[:-1], edges[1:]
    centre = np.sqrt(lo * hi)
    if exposure is None:  # 1e5 m2 x 8 h, rising over the threshold: ~2000 Crab counts
        exposure = 3e9 * (1.0 - np.exp(-centre / 0.8))
    if background is None:  # a few counts per bin at 1 TeV, falling steeply
        background = 6.0 * centre**-1.0
    coords = {
        "energy": ("energy", centre, {"units": "TeV"}),
        "energy_lo": ("energy", lo, {"units": "TeV"}),
        "energy_hi": ("energy", hi, {"units": "TeV"}),
    }
    variables = {
        "counts": ("energy", np.asarray(counts), {"units": ""}),
        "exposure": ("energy", np.asarray(exposure, float), {"units": "m2 s"}),
        "background": ("energy", np.asarray(background, float), {"units": ""}),
    }
    if mask_safe is not None:
        variables["mask_safe"] = ("energy", np.asarray(mask_safe, bool), {"units": ""})
    attrs = {} if name is None else {"name": name}
    return xr.Dataset(variables, coords=coords, attrs=attrs)


class _SpectrumPredictor:
    """``predict(models) -> npred`` (numpy) for a :func:`spectrum_dataset`."""

    def __init__(self, dataset: xr.Dataset) -> None:
        self.lo = dataset["energy_lo"].values
        self.hi = dataset["energy_hi"].values
        self.centre = dataset["energy"].values
        self.exposure_cm2 = dataset["exposure"].values * 1e4
        self.background = dataset["background"].values

    def __call__(self, models: Models) -> np.ndarray:
        npred = np.zeros_like(self.background)
        bkg_seen = False
        for model in models.values():
            if isinstance(model, FoVBackgroundModel):
                npred = npred + self.background * model.spectral(self.centre)
                bkg_seen = True
            else:
                npred = npred + self.exposure_cm2 * model.spectral.integral(self.lo, self.hi)
        return npred if bkg_seen else npred + self.background


def _power_law_models(index=TRUTH["index"], amplitude=TRUTH["amplitude"], name="src", **kw):
    """One power-law source (no spatial model)."""
    return Models(
        [SkyModel(PowerLawSpectralModel(index=index, amplitude=amplitude), name=name, **kw)]
    )


class FastPowerLaw(SpectralModel):
    """A power law with dimensionless parameters, for the many-fit statistical tests.

    ``dnde = norm * 1e-11 * E**-index`` (cm-2 s-1 TeV-1, E in TeV): the same
    function as :class:`PowerLawSpectralModel` with ``amplitude = norm * 1e-11``
    and ``reference = 1``. Why: every cost evaluation rebuilds the models, and
    today each Parameter with a unit re-parses its unit string through astropy
    (~1 ms per evaluation, 80 % of a fit); parameters without units skip it,
    which makes a fit ~6x faster. With a cached ``parse_unit`` the statistical
    tests could use PowerLawSpectralModel directly.
    """

    parameter_defaults = (Parameter("index", 2.0), Parameter("norm", 1.0))

    @staticmethod
    def evaluate(energy, index, norm):
        return norm * 1e-11 * energy ** (-index)

    @staticmethod
    def evaluate_integral(energy_min, energy_max, index, norm):
        return norm * 1e-11 * (energy_max ** (1 - index) - energy_min ** (1 - index)) / (1 - index)


def _fast_models(index=TRUTH["index"], norm=TRUTH["amplitude"] / 1e-11, name="src", **kw):
    """One FastPowerLaw source."""
    return Models([SkyModel(FastPowerLaw(index=index, norm=norm), name=name, **kw)])


def _make_cost(counts, **kwargs) -> MapCost:
    ds = _spectrum_dataset(counts, **kwargs)
    return MapCost(ds, _SpectrumPredictor(ds))


# Helpers are handed out as fixtures (tests run with --import-mode=importlib).


@pytest.fixture(scope="session")
def spectrum_dataset():
    """``spectrum_dataset(counts, *, exposure, background, edges, name, mask_safe)``."""
    return _spectrum_dataset


@pytest.fixture(scope="session")
def predictor():
    """The predictor class: ``predictor(dataset)(models) -> npred``."""
    return _SpectrumPredictor


@pytest.fixture(scope="session")
def power_law_models():
    """``power_law_models(index, amplitude, name, **skymodel_kwargs) -> Models``."""
    return _power_law_models


@pytest.fixture(scope="session")
def fast_models():
    """``fast_models(index, norm, name, **skymodel_kwargs) -> Models`` (FastPowerLaw)."""
    return _fast_models


@pytest.fixture(scope="session")
def make_cost():
    """``make_cost(counts, **dataset_kwargs) -> MapCost`` with the analytic predictor."""
    return _make_cost


@pytest.fixture(scope="session")
def npred_true() -> np.ndarray:
    """Expected counts of the true power law over the default dataset."""
    ds = _spectrum_dataset(np.zeros(len(EDGES) - 1))
    return _SpectrumPredictor(ds)(_power_law_models())


@pytest.fixture(scope="session")
def simulated_counts(npred_true) -> np.ndarray:
    """200 Poisson realisations (rows) of the true spectrum: one vectorised draw."""
    rng = np.random.default_rng(0)
    return rng.poisson(npred_true, size=(200, npred_true.size))
