"""Write gammaxr's 1D reduction of the four shipped Crab runs as OGIP sets.

    /work/venv/bin/python benchmarks/make_crab_ogip.py

The files (tests/io/data/ogip_crab) are the common input of the 1D validation:
gammaxr's tests (tests/io/test_ogip_joint_fit.py, tests/fit/test_crab_1d_validation.py)
and Gammapy (benchmarks/gammapy_crab1d_reference.py) fit the same spectra, so
the comparison tests the fitting (forward folding, WStat, stacking,
minimisation), not differences between the reductions.

Reduction: on region a circle of 0.11 deg at the Crab, reflected off regions,
safe mask ``aeff-max`` 10 %, 16 reco-energy bins 0.5-50 TeV (8 per decade),
30 true-energy bins 0.3-100 TeV.
"""

from pathlib import Path

import astropy.units as u
from astropy.coordinates import SkyCoord
from regions import CircleSkyRegion

import gammaxr as gx
from gammaxr.reduce import make_on_off_spectrum

OUT = Path(__file__).resolve().parents[1] / "tests" / "io" / "data" / "ogip_crab"
REGION = CircleSkyRegion(SkyCoord(83.633, 22.014, unit="deg"), 0.11 * u.deg)
GEOM = gx.make_geom(
    gx.energy_axis(0.5, 50, per_decade=8),
    gx.energy_axis(0.3, 100, nbin=30, name="energy_true"),
)


def main() -> None:
    """Reduce the runs and write one OGIP set per run."""
    OUT.mkdir(parents=True, exist_ok=True)
    store = gx.open_datastore()
    for observation in store.observations():
        spectrum = make_on_off_spectrum(
            observation, REGION, GEOM, safe_mask={"aeff-max": {"percent": 10}}
        )
        # Keep the standard metadata only: the files are a fixture, not an archive.
        keep = (
            "obs_id",
            "livetime",
            "ontime",
            "tstart",
            "tstop",
            "mjdref",
            "timesys",
            "telescope",
        )
        spectrum.attrs = {k: v for k, v in spectrum.attrs.items() if k in keep}
        spectrum.attrs.setdefault("telescope", "HESS")
        paths = gx.write_ogip(spectrum, OUT / f"pha_obs{observation.obs_id}.fits.gz")
        print(observation.obs_id, sorted(p.name for p in paths.values()))


if __name__ == "__main__":
    main()
