"""Observation: lazy products, pointing, GTI, IRFs, live time, pickling."""

from __future__ import annotations

import dataclasses
import math
import pickle

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from astropy.io import fits

import gammaxr as gx
import gammaxr.data.observation as observation_module
from gammaxr.exceptions import MissingHDUError
from gammaxr.sky import Pointing


@pytest.fixture
def fresh_obs(crab_store):
    """Observation 23523 with nothing read yet (the session fixture caches its products)."""
    return crab_store.observation(23523)


def test_repr_and_available(fresh_obs):
    assert fresh_obs.available == ["aeff", "bkg", "edisp", "events", "gti", "psf"]
    assert repr(fresh_obs) == f"Observation(obs_id=23523, hdus={fresh_obs.available})"
    path, hdu, hdu_class = fresh_obs.location("edisp")
    assert path.name == "hess_dl3_dr1_obs_id_023523.fits.gz"
    assert (hdu, hdu_class) == ("edisp", "edisp_2d")


def test_nothing_read_on_construction(crab_store, monkeypatch):
    calls = []

    def spy(name, function):
        def wrapper(*args, **kwargs):
            calls.append(name)
            return function(*args, **kwargs)

        monkeypatch.setattr(observation_module, name, wrapper)

    for name in ("read_events", "read_gti", "read_pointing", "read_irf"):
        spy(name, getattr(observation_module, name))
    obs = crab_store.observation(23526)
    _ = obs.available, obs.location("aeff"), repr(obs), obs.info
    assert calls == []
    _ = obs.aeff
    assert calls == ["read_irf"]
    _ = obs.aeff  # cached
    assert calls == ["read_irf"]
    _ = obs.events
    assert calls == ["read_irf", "read_events"]  # the GTI comes with the events
    _ = obs.livetime, obs.ontime, obs.deadc
    assert calls == ["read_irf", "read_events"]
    _ = obs.pointing
    assert calls[-1] == "read_pointing"


def test_events(crab_obs, crab_store):
    events = crab_obs.events
    assert isinstance(events, pd.DataFrame)
    assert len(events) == crab_store.obs_table.loc[23523, "event_count"] == 7613
    assert {"event_id", "time", "ra", "dec", "energy"} <= set(events.columns)
    assert events["event_id"].is_unique
    attrs = events.attrs
    assert attrs["obs_id"] == 23523
    assert attrs["gti"] == [(123890826.0, 123892513.0)]
    assert attrs["gti_source"] == "GTI HDU"
    # One event of this run is stamped 6 ms after TSTOP (as in the released file).
    assert events["time"].min() == pytest.approx(attrs["tstart"] + 0.668, abs=1e-3)
    assert events["time"].max() == pytest.approx(attrs["tstop"] + 0.006, abs=1e-3)
    assert events["energy"].min() > 0
    assert crab_obs.events is events  # read once


def test_gti(crab_obs, crab_store):
    gti = crab_obs.gti
    assert list(gti.columns) == ["start", "stop"]
    row = crab_store.obs_table.loc[23523]
    np.testing.assert_array_equal(gti.to_numpy(), [[row["tstart"], row["tstop"]]])
    assert gti.attrs["timesys"] == "tt"
    np.testing.assert_allclose(gti.attrs["mjdref"], 51910.00074287037)
    assert float((gti["stop"] - gti["start"]).sum()) == crab_obs.ontime == 1687.0


def test_livetime(crab_obs, crab_store):
    row = crab_store.obs_table.loc[23523]
    assert crab_obs.livetime == pytest.approx(1581.73681640625, rel=1e-12)
    assert crab_obs.livetime == pytest.approx(row["livetime"], rel=1e-7)
    assert crab_obs.ontime == row["ontime"]
    assert crab_obs.deadc == pytest.approx(row["deadc"], rel=1e-6)
    # DEADC may come from the header (float32) or be LIVETIME / ONTIME.
    assert crab_obs.deadc == pytest.approx(crab_obs.livetime / crab_obs.ontime, rel=1e-6)


@pytest.mark.parametrize("obs_id", [23523, 23526, 23559, 23592])
def test_pointing(crab_store, obs_id):
    obs = crab_store.observation(obs_id)
    row = crab_store.obs_table.loc[obs_id]
    pointing = obs.pointing
    assert isinstance(pointing, Pointing)
    assert pointing.has_altaz
    assert pointing.mode == "WOBBLE"
    np.testing.assert_allclose(
        [pointing.ra, pointing.dec, pointing.alt, pointing.az],
        row[["ra_pnt", "dec_pnt", "alt_pnt", "az_pnt"]].to_numpy(dtype=float),
        rtol=1e-6,
    )
    assert pointing.zenith == pytest.approx(row["zen_pnt"], abs=1e-4)
    np.testing.assert_allclose(
        [pointing.radec.ra.deg, pointing.radec.dec.deg], [pointing.ra, pointing.dec]
    )
    # The pointing is 0.5 or 1.5 deg from the Crab (wobble offset).
    np.testing.assert_allclose(
        gx.angular_separation(pointing.ra, pointing.dec, row["ra_obj"], row["dec_obj"]),
        row["offset_obj"],
        atol=2e-3,
    )


def test_pointing_altaz_falls_back_to_the_index(crab_store, monkeypatch):
    def radec_only(path, hdu):
        return Pointing(83.633333, 21.514444, mode="WOBBLE")

    monkeypatch.setattr(observation_module, "read_pointing", radec_only)
    obs = crab_store.observation(23523)
    assert obs.pointing.alt == pytest.approx(41.3897890380338)
    assert obs.pointing.az == pytest.approx(22.4817052274739)
    # Without the index row, ALTAZ stays unknown.
    bare = gx.Observation(23523, obs.hdus)
    assert not bare.pointing.has_altaz
    assert math.isnan(bare.pointing.zenith)


def _raw_cell(path, hdu, column):
    with fits.open(path) as hdul:
        return np.array(hdul[hdu].data[column][0], dtype=float)


def test_irfs(crab_obs):
    irfs = crab_obs.irfs
    assert list(irfs) == ["aeff", "edisp", "psf", "bkg"]
    expected = {
        "aeff": (("energy_true", "offset"), (96, 6), "m2"),
        "edisp": (("energy_true", "migra", "offset"), (96, 160, 6), ""),
        "psf": (("energy_true", "offset", "rad"), (32, 6, 144), "sr-1"),
        "bkg": (("energy", "fov_lat", "fov_lon"), (20, 50, 50), "MeV-1 s-1 sr-1"),
    }
    for name, (dims, shape, units) in expected.items():
        irf = irfs[name]
        assert isinstance(irf, xr.DataArray)
        assert irf.dims == dims
        assert irf.shape == shape
        assert irf.attrs["units"] == units
        assert irf.attrs["obs_id"] == 23523
        assert np.isfinite(irf.values).all()
        assert (irf.values >= 0).all()
        assert irf is getattr(crab_obs, name)
    assert irfs["bkg"].attrs["fovalign"] == "RADEC"
    assert irfs["aeff"].attrs["lo_thres"] == pytest.approx(0.870963589956081)


def test_irf_values_match_the_file(crab_obs):
    path, _, _ = crab_obs.location("aeff")
    # FITS axis order is reversed in numpy: EFFAREA is (THETA, ENERG) on disk.
    raw = _raw_cell(path, "AEFF", "EFFAREA")
    np.testing.assert_array_equal(crab_obs.aeff.transpose("offset", "energy_true").values, raw)
    assert float(crab_obs.aeff.max()) == pytest.approx(699771.0625)
    # The field-of-view orientation of the background is the reader's business
    # (legacy H.E.S.S. files are reoriented); the values per energy are not.
    raw_bkg = _raw_cell(path, "BKG", "BKG")  # (ENERG, ...) in numpy order, s-1 MeV-1 sr-1
    bkg = crab_obs.bkg
    assert bkg.shape == raw_bkg.shape
    for index in range(raw_bkg.shape[0]):
        np.testing.assert_allclose(
            np.sort(bkg.isel(energy=index).values, axis=None),
            np.sort(raw_bkg[index], axis=None),
            rtol=1e-6,
        )


def test_edisp_is_a_probability_density(crab_obs):
    edisp = crab_obs.edisp
    width = edisp["migra_hi"] - edisp["migra_lo"]
    integral = (edisp * width).sum("migra")
    # Each (energy_true, offset) column integrates to 1 well above threshold
    # (below it, part of the migration falls under migra = 0.2), and is empty
    # below 100 GeV.
    np.testing.assert_allclose(integral.sel(energy_true=slice(0.3, None)), 1.0, atol=1e-3)
    np.testing.assert_array_equal(integral.sel(energy_true=slice(None, 0.1)), 0.0)
    assert edisp["migra_lo"].values[0] == pytest.approx(0.2)
    assert edisp["migra_hi"].values[-1] == pytest.approx(5.0)


def test_missing_irf_raises(crab_obs):
    with pytest.raises(MissingHDUError, match="no 'rad_max' HDU") as info:
        _ = crab_obs.rad_max
    assert "23523" in str(info.value)
    assert isinstance(info.value, LookupError)
    with pytest.raises(MissingHDUError, match="unknown IRF type 'foo'"):
        crab_obs.irf("foo")


def test_events_without_gti_hdu(crab_store):
    obs = crab_store.observation(23592)
    hdus = obs.hdus[obs.hdus["hdu_type"] != "gti"].reset_index(drop=True)
    bare = gx.Observation(23592, hdus, obs.info)
    events = bare.events
    assert events.attrs["gti_source"] == "TSTART/TSTOP"
    assert events.attrs["gti"] == [(124235636.0, 124237322.0)]
    with pytest.raises(MissingHDUError, match="no 'gti' HDU"):
        _ = bare.gti


def test_events_with_gti_in_another_file(crab_store, tmp_path):
    obs = crab_store.observation(23526)
    t0 = float(obs.info["tstart"])
    columns = [
        fits.Column("START", "D", unit="s", array=[t0, t0 + 1000.0]),
        fits.Column("STOP", "D", unit="s", array=[t0 + 500.0, t0 + 1200.0]),
    ]
    gti_hdu = fits.BinTableHDU.from_columns(columns, name="GTI")
    gti_hdu.header["MJDREFI"] = 51910
    gti_hdu.header["MJDREFF"] = 0.000742870370370241
    gti_hdu.header["TIMESYS"] = "TT"
    gti_path = tmp_path / "gti.fits"
    fits.HDUList([fits.PrimaryHDU(), gti_hdu]).writeto(gti_path)
    hdus = obs.hdus.copy()
    hdus.loc[hdus["hdu_type"] == "gti", ["path", "hdu_name"]] = [str(gti_path), "GTI"]
    moved = gx.Observation(23526, hdus, obs.info)
    assert moved.events.attrs["gti"] == [(t0, t0 + 500.0), (t0 + 1000.0, t0 + 1200.0)]
    assert moved.events.attrs["gti_source"] == "GTI HDU"
    assert len(moved.events) == 7581


def test_observation_is_frozen(crab_obs):
    with pytest.raises(dataclasses.FrozenInstanceError):
        crab_obs.obs_id = 1


def test_pickle_unloaded_observation(crab_store):
    obs = crab_store.observation(23559)
    copy = pickle.loads(pickle.dumps(obs))
    assert copy.obs_id == 23559
    assert "events" not in vars(copy)  # still lazy
    pd.testing.assert_frame_equal(copy.hdus, obs.hdus)
    assert len(copy.events) == 7601


def test_pickle_loaded_observation(crab_store):
    obs = crab_store.observation(23523)
    _ = obs.events, obs.aeff, obs.pointing
    copy = pickle.loads(pickle.dumps(obs))
    assert {"events", "aeff", "pointing"} <= set(vars(copy))
    pd.testing.assert_frame_equal(copy.events, obs.events)
    assert copy.events.attrs == obs.events.attrs
    xr.testing.assert_identical(copy.aeff, obs.aeff)
    assert copy.pointing == obs.pointing
    assert copy.livetime == obs.livetime
