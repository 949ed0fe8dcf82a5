"""1D spectra of H.E.S.S. DR1 PKS 2155-304 and MSH 15-52 runs: reflected regions, WStat fit.

Five runs of each source (GAMMAXR_DATA): on region a circle (0.11 deg at
PKS 2155-304, 0.2 deg at the extended MSH 15-52), reflected off regions, safe
mask ``aeff-default``, 0.3-50 TeV in 11 reco bins, true 0.1-100 TeV in 30 bins;
a power law (reference 1 TeV) fitted with WStat, jointly and stacked.

Checks: sane physics (literature: PKS 2155-304 during the July 2006 flare,
photon index ~3.4-3.6 and a flux of a few Crab, ~1e-10 cm-2 s-1 TeV-1 at 1 TeV;
MSH 15-52 index ~2.3, ~6e-12 at 1 TeV, Aharonian et al. 2005, A&A 435, L17),
and agreement with Gammapy 2.1 on the same runs and settings
(benchmarks/gammapy_dr1_spectra_reference.py). The on counts agree exactly;
the off counts differ by a few per run (the reflected regions are placed
slightly differently), so the joint fits agree to a fraction of their error.

Gammapy's *stacked* PKS 2155-304 index (3.686) is 1.2 sigma from its own joint
fit (3.634), while gammaxr's stacked fit (3.629) stays with the joint one:
Gammapy weights the stacked energy dispersion by the exposure without the PSF
containment correction, gammaxr by the exposure that enters the predicted
counts (with ``containment_correction=False`` both stacks agree to 1e-7). So
the stacked fit is compared with the joint fits, not with Gammapy's stack.
"""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from regions import CircleSkyRegion

import gammaxr as gx
from gammaxr.models import Models, PowerLawSpectralModel, SkyModel
from gammaxr.reduce import make_on_off_spectrum

pytestmark = pytest.mark.requires_data

GEOM = gx.make_geom(
    gx.energy_axis(0.3, 50, nbin=11), gx.energy_axis(0.1, 100, nbin=30, name="energy_true")
)
SOURCES = {
    "pks2155": {
        "position": (329.716938, -30.225588),
        "radius": 0.11,
        "obs_ids": [33787, 33788, 33789, 33790, 33791],
        "index": (3.2, 3.9),
        "amplitude": (5e-11, 5e-10),
    },
    "msh1552": {
        "position": (228.53, -59.16),
        "radius": 0.2,
        "obs_ids": [20136, 20137, 20282, 20283, 20301],
        "index": (1.9, 2.7),
        "amplitude": (2e-12, 1.5e-11),
    },
}
# benchmarks/gammapy_dr1_spectra_reference.py (Gammapy 2.1): on / off counts per run
# and the joint power-law fit, name -> (value, error).
GAMMAPY = {
    "pks2155": {
        "counts": [262, 868, 1761, 1777, 1354],
        "counts_off": [233, 276, 302, 319, 200],
        "index": (3.633993492436878, 0.04225337377010106),
        "amplitude": (1.4339426900431505e-10, 3.2625638254723972e-12),
    },
    "msh1552": {
        "counts": [152, 68, 141, 108, 160],
        "counts_off": [399, 375, 385, 510, 444],
        "index": (2.250894230186779, 0.13437276412860188),
        "amplitude": (4.8581904140830106e-12, 6.363186991187886e-13),
    },
}


def start() -> Models:
    return Models(
        [SkyModel(PowerLawSpectralModel(index=2.5, amplitude=1e-11, reference=1.0), name="s")]
    )


def best(result, name: str) -> tuple[float, float]:
    row = result.parameters.loc[f"s.spectral.{name}"]
    return row["value"], row["error"]


@pytest.fixture(scope="module", params=list(SOURCES))
def source(request, data_dir):
    setup = SOURCES[request.param]
    store = gx.open_datastore(data_dir / "hess-dl3-dr1")
    region = CircleSkyRegion(SkyCoord(*setup["position"], unit="deg"), setup["radius"] * u.deg)
    spectra = [
        make_on_off_spectrum(store.observation(i), region, GEOM, safe_mask=("aeff-default",))
        for i in setup["obs_ids"]
    ]
    return request.param, spectra


def test_spectra_are_made(source):
    name, spectra = source
    reference = GAMMAPY[name]
    assert [ds.attrs["obs_id"] for ds in spectra] == SOURCES[name]["obs_ids"]
    assert [int(ds.counts.sum()) for ds in spectra] == reference["counts"]
    off = np.array([int(ds.counts_off.sum()) for ds in spectra])
    np.testing.assert_allclose(off, reference["counts_off"], rtol=0.05)
    for ds in spectra:
        assert ds.attrs["off_method"] == "reflected" and ds.attrs["n_off_regions"] >= 3
        assert ds.mask_safe.any() and np.isfinite(ds.exposure).all()


def test_power_law_fits_are_sane_and_agree(source):
    name, spectra = source
    setup, reference = SOURCES[name], GAMMAPY[name]
    joint = gx.fit(spectra, start())
    stacked = gx.fit(gx.stack(gx.concat_observations(spectra)), start())
    assert joint.success and stacked.success
    for param in ("index", "amplitude"):
        value, error = best(joint, param)
        lo, hi = setup[param]
        assert lo < value < hi, (param, value)
        ref_value, ref_error = reference[param]
        assert abs(value - ref_value) < 0.25 * ref_error, param
        assert error == pytest.approx(ref_error, rel=0.05), param
        assert abs(best(stacked, param)[0] - value) < 0.25 * error, param
