"""The whole H.E.S.S. DL3 DR1 release: every run, its events and every IRF.

Needs ``GAMMAXR_DATA`` (the folder holding ``hess-dl3-dr1``). All 105 runs are
read once, in a module fixture (20-30 s on one core); the tests then check
every run and report all failures together.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import xarray as xr
from astropy.coordinates import SkyCoord

import gammaxr as gx

pytestmark = pytest.mark.requires_data

N_RUNS = 105
N_EVENTS = 1_046_156

# dims and units of each IRF (GADF 0.3 / HESS DR1); every value must be finite.
IRF_LAYOUT = {
    "aeff": (("energy_true", "offset"), "m2"),
    "edisp": (("energy_true", "migra", "offset"), ""),
    "psf": (("energy_true", "offset", "rad"), "sr-1"),
    "bkg": (("energy", "fov_lat", "fov_lon"), "MeV-1 s-1 sr-1"),
}


@pytest.fixture(scope="module")
def hess_store(data_dir):
    path = data_dir / "hess-dl3-dr1"
    if not path.is_dir():
        pytest.skip(f"{path} not found")
    return gx.open_datastore(path)


@pytest.fixture(scope="module")
def loaded(hess_store):
    """Every observation with its events, GTI, pointing and IRFs read (and the time taken)."""
    wall, cpu = time.perf_counter(), time.process_time()
    observations = hess_store.observations()
    for obs in observations:
        _ = obs.events, obs.gti, obs.pointing, obs.irfs
    return observations, (time.perf_counter() - wall, time.process_time() - cpu)


def test_index_tables(hess_store):
    table = hess_store.obs_table
    assert len(table) == N_RUNS
    assert table["obs_id"].is_unique
    assert int(table["event_count"].sum()) == N_EVENTS
    hdus = hess_store.hdu_table
    assert len(hdus) == 6 * N_RUNS
    types = hdus.groupby("obs_id")["hdu_type"].apply(sorted)
    assert all(t == ["aeff", "bkg", "edisp", "events", "gti", "psf"] for t in types)
    classes = {"events", "gti", "aeff_2d", "edisp_2d", "psf_table", "bkg_3d"}
    assert set(hdus["hdu_class"]) == classes
    crab = SkyCoord(83.633, 22.014, unit="deg")
    assert hess_store.select_cone(crab, 3).obs_ids == [23523, 23526, 23559, 23592]
    pks = hess_store.select(table.query("object == 'PKS 2155-304'"))
    assert len(pks.obs_ids) == 21


def test_load_time(loaded):
    observations, (wall, cpu) = loaded
    assert len(observations) == N_RUNS
    print(f"\nread {N_RUNS} runs (events, GTI, pointing, 4 IRFs): {wall:.1f} s, {cpu:.1f} s CPU")
    # CPU time, so that a busy machine does not fail the test (~20-30 s when idle).
    assert cpu < 60


def test_every_run_has_its_events(loaded, hess_store):
    observations, _ = loaded
    table = hess_store.obs_table
    problems = []
    for obs in observations:
        events = obs.events
        row = table.loc[obs.obs_id]
        if len(events) != row["event_count"]:
            problems.append(f"{obs.obs_id}: {len(events)} events, index says {row['event_count']}")
        if events.attrs["obs_id"] != obs.obs_id:
            problems.append(f"{obs.obs_id}: events header says OBS_ID {events.attrs['obs_id']}")
        if not events["event_id"].is_unique:
            problems.append(f"{obs.obs_id}: duplicate event ids")
        columns = events[["time", "ra", "dec", "energy"]].to_numpy(float)
        if not np.isfinite(columns).all():
            problems.append(f"{obs.obs_id}: non-finite time/ra/dec/energy")
        if not ((events["energy"] > 0).all() and events["dec"].between(-90, 90).all()):
            problems.append(f"{obs.obs_id}: energy <= 0 or |dec| > 90")
        gti = obs.gti
        lo, hi = gti["start"].min(), gti["stop"].max()
        if not events["time"].between(lo - 1, hi + 1).all():
            problems.append(f"{obs.obs_id}: events more than 1 s outside the GTI")
        if not np.isclose(obs.livetime, row["livetime"], rtol=1e-6):
            problems.append(f"{obs.obs_id}: livetime {obs.livetime} vs index {row['livetime']}")
        pointing = obs.pointing
        if gx.angular_separation(pointing.ra, pointing.dec, row["ra_pnt"], row["dec_pnt"]) > 1e-4:
            problems.append(f"{obs.obs_id}: pointing differs from the index")
        if not pointing.has_altaz or abs(pointing.zenith - row["zen_pnt"]) > 1e-3:
            problems.append(f"{obs.obs_id}: ALTAZ pointing missing or off")
    assert problems == []
    assert sum(len(obs.events) for obs in observations) == N_EVENTS


def _edges_ok(irf: xr.DataArray, dim: str) -> bool:
    lo, hi = f"{dim}_lo", f"{dim}_hi"
    if lo not in irf.coords:
        return np.all(np.diff(irf[dim].values) > 0)  # a node axis
    return bool(np.all(irf[hi].values > irf[lo].values) and np.all(np.diff(irf[lo].values) > 0))


def test_every_run_has_all_irfs(loaded, hess_store):
    observations, _ = loaded
    problems = []
    shapes = {}
    for obs in observations:
        irfs = obs.irfs
        if sorted(irfs) != sorted(IRF_LAYOUT):
            problems.append(f"{obs.obs_id}: IRFs {sorted(irfs)}")
            continue
        for name, (dims, units) in IRF_LAYOUT.items():
            irf = irfs[name]
            where = f"{obs.obs_id} {name}"
            if not isinstance(irf, xr.DataArray) or irf.dims != dims:
                problems.append(f"{where}: dims {getattr(irf, 'dims', None)}, expected {dims}")
                continue
            if irf.attrs["units"] != units:
                problems.append(f"{where}: units {irf.attrs['units']!r}")
            values = irf.values
            if not np.isfinite(values).all():
                problems.append(f"{where}: {np.count_nonzero(~np.isfinite(values))} non-finite")
            # The released IRFs hold small negative values (smoothing artefacts):
            # aeff below the safe threshold, edisp and PSF up to 1.2 % of their peak.
            if name == "bkg" and (values < 0).any():
                problems.append(f"{where}: negative values")
            if name in ("edisp", "psf") and values.min() < -0.02 * values.max():
                problems.append(f"{where}: negative values down to {values.min():.3g}")
            if not values.any():
                problems.append(f"{where}: all zero")
            problems.extend(
                f"{where}: axis {dim} not increasing" for dim in dims if not _edges_ok(irf, dim)
            )
            shapes.setdefault(name, set()).add(irf.shape)
        aeff = irfs["aeff"]
        threshold = hess_store.obs_table.loc[obs.obs_id, "safe_energy_lo"]
        if (aeff.sel(energy_true=slice(threshold, None)) < 0).any():
            problems.append(f"{obs.obs_id} aeff: negative above the safe threshold")
        if not 1e4 < float(aeff.max()) < 5e6:
            problems.append(f"{obs.obs_id} aeff: max {float(aeff.max()):.3g} m2")
        edisp = irfs["edisp"]
        norm = (edisp * (edisp["migra_hi"] - edisp["migra_lo"])).sum("migra")
        high = norm.sel(energy_true=slice(2.0, 50.0)).values
        if not np.allclose(high[high > 0], 1.0, atol=0.02):
            problems.append(f"{obs.obs_id} edisp: not normalised above 2 TeV")
        if irfs["bkg"].attrs.get("fovalign") not in ("RADEC", "ALTAZ"):
            problems.append(f"{obs.obs_id} bkg: fovalign {irfs['bkg'].attrs.get('fovalign')}")
    assert problems == []
    # One binning per IRF type for the whole release.
    assert shapes == {
        "aeff": {(96, 6)},
        "edisp": {(96, 160, 6)},
        "psf": {(32, 6, 144)},
        "bkg": {(20, 50, 50)},
    }
