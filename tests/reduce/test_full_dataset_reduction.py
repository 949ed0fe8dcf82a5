"""Reduction of every H.E.S.S. DL3 DR1 run, checked against independent computations."""

import numpy as np
import pytest
from scipy.interpolate import RegularGridInterpolator

import gammaxr as gx

pytestmark = pytest.mark.requires_data

# Regions around the known gamma-ray sources of the release, excluded from the
# background check (RX J1713.7-3946 and the Galactic-plane fields are extended).
EXCLUSION_RADIUS = {"RXJ 1713.7-3946": 1.2, "G346.1+0.0": 1.2, "G346.8+0.0": 1.2,
                    "G347.5+0.0": 1.2, "MSH 15-5-02": 0.6, "MSH15-52": 0.6}  # fmt: skip


@pytest.fixture(scope="module")
def reduced(data_dir):
    store = gx.open_datastore(data_dir / "hess-dl3-dr1")
    results = []
    for obs in store.observations():
        geom = gx.make_geom(
            gx.energy_axis(0.5, 50, per_decade=4),
            gx.energy_axis(0.3, 100, per_decade=6, name="energy_true"),
            sky=gx.sky_grid(obs.pointing.radec, width=4, binsz=0.1),
        )
        ds = gx.make_map_dataset(
            obs, geom, products=("counts", "exposure", "background", "mask_safe"),
            safe_mask=("aeff-default", "offset-max"),
        )  # fmt: skip
        results.append((obs, geom, ds))
    return results


def test_every_run_reduces_with_exact_counts(reduced):
    assert len(reduced) == 105
    for obs, geom, ds in reduced:
        events = obs.events
        lon_edges, lat_edges = gx.conventions.edges(geom, "lon"), gx.conventions.edges(geom, "lat")
        e_edges = gx.conventions.edges(geom, "energy")
        ra = events.ra.to_numpy(float)
        ra = np.where(
            ra < lon_edges[0] - 180, ra + 360, np.where(ra > lon_edges[-1] + 180, ra - 360, ra)
        )
        inside = (
            (events.energy >= e_edges[0]) & (events.energy <= e_edges[-1])
            & (ra >= lon_edges[0]) & (ra <= lon_edges[-1])
            & (events.dec >= lat_edges[0]) & (events.dec <= lat_edges[-1])
        )  # fmt: skip
        assert int(ds.counts.sum()) == int(inside.sum()), obs.obs_id


def test_exposure_matches_an_independent_interpolation(reduced):
    for obs, _, ds in reduced[::15]:
        aeff = obs.aeff.transpose("energy_true", "offset")
        interp = RegularGridInterpolator(
            (np.log(aeff.energy_true.values), aeff.offset.values), aeff.values
        )
        for i, j, k in [(3, 20, 20), (8, 5, 30), (12, 35, 12)]:
            offset = gx.angular_separation(
                obs.pointing.ra, obs.pointing.dec, float(ds.lon[k]), float(ds.lat[j])
            )
            energy = float(ds.energy_true[i])
            expected = interp([[np.log(energy), offset]])[0] * obs.livetime
            assert float(ds.exposure[i, j, k]) == pytest.approx(expected, rel=1e-4, abs=1.0)


def test_predicted_background_follows_the_off_source_counts(reduced):
    ratios, pulls = [], []
    for obs, _, ds in reduced:
        target = (float(obs.info["ra_obj"]), float(obs.info["dec_obj"]))
        radius = EXCLUSION_RADIUS.get(str(obs.info["object"]), 0.4)
        off = gx.angular_separation(*target, ds.lon, ds.lat) > radius
        region = ds.mask_safe & off
        observed = float(ds.counts.where(region, 0).sum())
        predicted = float(ds.background.where(region, 0).sum(dtype=float))
        ratios.append(observed / predicted)
        pulls.append((observed - predicted) / np.sqrt(predicted))
    ratios = np.array(ratios)
    # The template is a population average: runs scatter by ~10-20% around it,
    # far beyond Poisson errors, but its mean must describe the data.
    assert np.all(np.isfinite(ratios))
    assert 0.9 < np.median(ratios) < 1.15
    assert np.mean(np.abs(ratios - 1) < 0.3) > 0.9
