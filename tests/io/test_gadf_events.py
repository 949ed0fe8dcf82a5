"""GADF EVENTS and GTI HDUs as DataFrames: snake_case columns, canonical units, attrs."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.time import Time

import gammaxr as gx
from gammaxr.io import read_events, read_gti, read_obs_index, read_pointing
from gammaxr.testing import write_event_file

DEG_PER_RAD = 180.0 / math.pi


def raw_columns(path, hdu="EVENTS") -> dict[str, np.ndarray]:
    with fits.open(path) as hdul:
        data = hdul[hdu].data
        return {name: np.array(data[name]) for name in data.columns.names}


def raw_header(path, hdu="EVENTS") -> fits.Header:
    with fits.open(path) as hdul:
        return hdul[hdu].header.copy()


# --- synthetic files ----------------------------------------------------------------


def test_columns_are_snake_case_in_canonical_units(tmp_path):
    written = write_event_file(
        tmp_path / "events.fits", 40, energy_unit="GeV", angle_unit="rad", rng=1
    )
    raw = raw_columns(written.path)
    with fits.open(written.path) as hdul:  # the file really is in GeV and rad
        units = {c.name: c.unit for c in hdul["EVENTS"].columns}
    assert units["ENERGY"] == "GeV" and units["RA"] == "rad"

    events = read_events(written.path)
    assert isinstance(events, pd.DataFrame)
    # Every scalar column, snake_case, in file order; the vector TEL_IMPACT is left out.
    assert list(events.columns) == [
        "event_id", "time", "ra", "dec", "energy", "detx", "dety", "multip", "event_type",
    ]  # fmt: skip
    assert len(events) == 40
    np.testing.assert_array_equal(events["event_id"], raw["EVENT_ID"])
    np.testing.assert_array_equal(events["time"], raw["TIME"])
    np.testing.assert_allclose(events["energy"], raw["ENERGY"] * 1e-3, rtol=1e-6)
    np.testing.assert_allclose(events["ra"], raw["RA"] * DEG_PER_RAD, rtol=1e-6)
    np.testing.assert_allclose(events["dec"], raw["DEC"] * DEG_PER_RAD, rtol=1e-6)
    np.testing.assert_allclose(events["detx"], raw["DETX"] * DEG_PER_RAD, rtol=1e-6)
    np.testing.assert_array_equal(events["multip"], raw["MULTIP"])
    assert events["event_type"].tolist() == [str(v).strip() for v in raw["EVENT_TYPE"]]
    assert events["energy"].between(0.1, 100).all()  # TeV, not GeV
    assert events["event_id"].dtype.kind == "i"
    assert events["multip"].dtype.kind == "i"
    assert events.attrs["units"] == {
        "time": "s", "ra": "deg", "dec": "deg", "energy": "TeV", "detx": "deg", "dety": "deg",
    }  # fmt: skip


def test_event_attrs(tmp_path):
    written = write_event_file(
        tmp_path / "events.fits", 10, obs_id=4242, pointing=(120.5, -33.25), rng=2
    )
    header = written.header
    events = read_events(written.path)
    attrs = events.attrs
    assert attrs["obs_id"] == 4242 and isinstance(attrs["obs_id"], int)
    assert (attrs["ra_pnt"], attrs["dec_pnt"]) == (120.5, -33.25)
    assert (attrs["alt_pnt"], attrs["az_pnt"]) == (60.0, 180.0)
    assert attrs["obs_mode"] == "POINTING"
    assert attrs["object"] == "Synthetic source"
    # The GTIs have a gap: ONTIME (1500 s) is not TSTOP - TSTART (1800 s) and must be
    # taken from the header, as must DEADC.
    assert (attrs["tstart"], attrs["tstop"]) == (1.0e8, 1.0e8 + 1800.0)
    assert attrs["ontime"] == header["ONTIME"] == 1500.0
    assert attrs["livetime"] == header["LIVETIME"] == 1350.0
    assert attrs["deadc"] == pytest.approx(0.9)
    assert attrs["mjdref"] == pytest.approx(51910 + 7.428703703703703e-4, abs=1e-12)
    assert attrs["timesys"] == "tt"
    # time_start/stop: ISO UTC strings of MJDREF + TSTART/TSTOP (TT).
    for key, met in (("time_start", 1.0e8), ("time_stop", 1.0e8 + 1800.0)):
        expected = Time(51910, 7.428703703703703e-4 + met / 86400, format="mjd", scale="tt")
        got = Time(attrs[key], format="isot", scale="utc")
        assert abs((got - expected.utc).to_value("s")) < 1e-3
        assert len(attrs[key]) == len("2004-03-03T09:46:40.000")
    assert attrs["gti"] == [(1.0e8, 1.0e8 + 600.0), (1.0e8 + 900.0, 1.0e8 + 1800.0)]
    assert attrs["gti_source"] == "GTI HDU"


def test_attrs_survive_pandas_selection(tmp_path):
    written = write_event_file(tmp_path / "events.fits", 30, rng=3)
    events = read_events(written.path)
    selected = events[events["energy"] > 0.5]
    assert selected.attrs["obs_id"] == 1
    assert selected.attrs["gti"] == events.attrs["gti"]


def test_hess_time_reference(tmp_path):
    """H.E.S.S. MJDREF is 2001-01-01 00:00:00 UTC in TT: a MET maps to UTC by adding seconds
    (no leap second between 2001 and 2005)."""
    written = write_event_file(tmp_path / "events.fits", 5, tstart=123890826.0, rng=4)
    attrs = read_events(written.path).attrs
    start = datetime(2001, 1, 1) + timedelta(seconds=123890826)
    assert attrs["time_start"] == start.isoformat(timespec="milliseconds")


def test_ontime_and_deadc_derived_when_missing(tmp_path):
    written = write_event_file(
        tmp_path / "events.fits", 5, header={"ONTIME": None, "DEADC": None}, rng=5
    )
    header = raw_header(written.path)
    assert "ONTIME" not in header and "DEADC" not in header
    attrs = read_events(written.path).attrs
    assert attrs["ontime"] == 1800.0  # TSTOP - TSTART
    assert attrs["deadc"] == pytest.approx(1350.0 / 1800.0)


def test_single_mjdref_keyword(tmp_path):
    written = write_event_file(
        tmp_path / "events.fits",
        5,
        header={"MJDREFI": None, "MJDREFF": None, "MJDREF": 51544.5},
        rng=6,
    )
    assert read_events(written.path).attrs["mjdref"] == 51544.5


def test_timeunit_days(tmp_path):
    """TIME, TSTART and TSTOP in days (TIMEUNIT = 'd') come back in seconds."""
    written = write_event_file(
        tmp_path / "events.fits",
        5,
        time_unit="d",
        header={"TIMEUNIT": "d", "TSTART": 1000.0, "TSTOP": 1000.5, "ONTIME": 0.25},
        rng=7,
    )
    raw = raw_columns(written.path)
    events = read_events(written.path, gti_hdu=None)
    np.testing.assert_allclose(events["time"], raw["TIME"] * 86400.0, rtol=1e-12)
    assert events.attrs["tstart"] == 1000.0 * 86400
    assert events.attrs["tstop"] == 1000.5 * 86400
    assert events.attrs["ontime"] == 0.25 * 86400


def test_ra_is_wrapped_into_0_360(tmp_path):
    written = write_event_file(tmp_path / "events.fits", 200, pointing=(0.5, 10.0), rng=8)
    raw = raw_columns(written.path)["RA"].astype(float)
    assert (raw < 0).any()  # as in CTA 1DC files
    events = read_events(written.path)
    assert events["ra"].between(0, 360, inclusive="left").all()
    np.testing.assert_allclose(events["ra"], np.mod(raw, 360.0), rtol=1e-6)


def test_gti_hdu_and_fallback(tmp_path):
    written = write_event_file(tmp_path / "events.fits", 5, rng=9)
    gti = read_gti(written.path)
    assert list(gti.columns) == ["start", "stop"]
    np.testing.assert_array_equal(gti[["start", "stop"]].to_numpy(), written.gti)
    assert gti.attrs["mjdref"] == pytest.approx(51910 + 7.428703703703703e-4, abs=1e-12)
    assert gti.attrs["timesys"] == "tt"
    assert gti.attrs["units"] == {"start": "s", "stop": "s"}
    # No GTI HDU: one interval [TSTART, TSTOP].
    without = write_event_file(tmp_path / "no_gti.fits", 5, gti_hdu=False, rng=9)
    attrs = read_events(without.path).attrs
    assert attrs["gti"] == [(1.0e8, 1.0e8 + 1800.0)]
    assert attrs["gti_source"] == "TSTART/TSTOP"
    skipped = read_events(written.path, gti_hdu=None).attrs
    assert skipped["gti_source"] == "TSTART/TSTOP"


@pytest.mark.parametrize(("timeunit", "factor"), [("s", 1.0), ("d", 86400.0)])
def test_gti_without_units_uses_timeunit(tmp_path, timeunit, factor):
    """CTA 1DC GTIs have no TUNIT: START/STOP are in the table's TIMEUNIT."""
    table = fits.BinTableHDU.from_columns(
        [
            fits.Column("START", format="D", array=[10.0, 30.0]),
            fits.Column("STOP", format="D", array=[20.0, 45.0]),
        ],
        name="GTI",
    )
    table.header.update({"MJDREFI": 51544, "MJDREFF": 0.5, "TIMEUNIT": timeunit})
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(tmp_path / "gti.fits")
    gti = read_gti(tmp_path / "gti.fits")
    np.testing.assert_array_equal(gti["start"], np.array([10.0, 30.0]) * factor)
    np.testing.assert_array_equal(gti["stop"], np.array([20.0, 45.0]) * factor)
    assert gti.attrs["mjdref"] == 51544.5


def test_pointing_with_and_without_altaz(tmp_path):
    with_altaz = write_event_file(tmp_path / "a.fits", 5, altaz=(45.5, 10.25), rng=10)
    pointing = read_pointing(with_altaz.path)
    assert (pointing.ra, pointing.dec) == (83.63, 22.51)
    assert (pointing.alt, pointing.az) == (45.5, 10.25)
    assert pointing.has_altaz
    assert pointing.zenith == pytest.approx(44.5)
    assert pointing.mode == "POINTING"

    without = write_event_file(tmp_path / "b.fits", 5, altaz=None, rng=10)
    header = raw_header(without.path)
    assert "ALT_PNT" not in header and "AZ_PNT" not in header
    pointing = read_pointing(without.path)
    assert (pointing.ra, pointing.dec) == (83.63, 22.51)
    assert math.isnan(pointing.alt) and math.isnan(pointing.az)
    assert not pointing.has_altaz
    attrs = read_events(without.path).attrs
    assert "alt_pnt" not in attrs and "az_pnt" not in attrs


def test_hdu_by_index_and_name_case(tmp_path):
    written = write_event_file(tmp_path / "events.fits", 7, rng=11)
    by_index = read_events(written.path, 1)
    by_name = read_events(written.path, "events")
    pd.testing.assert_frame_equal(by_index, by_name)
    assert len(by_index) == 7


# --- the shipped H.E.S.S. runs -----------------------------------------------------------

HESS_RUNS = [23523, 23526, 23559, 23592]


def hess_file(obs_id: int):
    return gx.example_data_path() / "data" / f"hess_dl3_dr1_obs_id_{obs_id:06d}.fits.gz"


@pytest.mark.parametrize("obs_id", HESS_RUNS)
def test_hess_events_match_fits_and_obs_index(obs_id):
    path = hess_file(obs_id)
    events = read_events(path)
    raw = raw_columns(path)
    header = raw_header(path)
    obs_index = read_obs_index(gx.example_data_path() / "obs-index.fits.gz")
    assert len(events) == obs_index.loc[obs_id, "event_count"] == raw["ENERGY"].size
    assert list(events.columns) == ["event_id", "time", "ra", "dec", "energy"]
    for name in ("EVENT_ID", "TIME", "RA", "DEC", "ENERGY"):  # TeV, s and deg already
        np.testing.assert_array_equal(events[name.lower()], raw[name])
    attrs = events.attrs
    assert attrs["obs_id"] == obs_id == header["OBS_ID"]
    for key in ("LIVETIME", "ONTIME", "DEADC", "TSTART", "TSTOP", "RA_PNT", "DEC_PNT"):
        assert attrs[key.lower()] == header[key], key
    assert attrs["alt_pnt"] == header["ALT_PNT"]
    assert attrs["livetime"] == pytest.approx(obs_index.loc[obs_id, "livetime"], rel=1e-6)
    gti = raw_columns(path, "GTI")
    assert attrs["gti"] == list(zip(gti["START"].tolist(), gti["STOP"].tolist(), strict=True))
    assert attrs["gti_source"] == "GTI HDU"


def test_hess_run_23523_times_and_pointing(crab_obs):
    attrs = crab_obs.events.attrs
    assert attrs["time_start"] == "2004-12-04T22:07:06.000"  # 2001-01-01 UTC + 123890826 s
    assert attrs["time_stop"] == "2004-12-04T22:35:13.000"
    assert attrs["deadc"] == 0.937603298574686  # the header value, not LIVETIME / ONTIME
    pointing = crab_obs.pointing
    assert (pointing.ra, pointing.dec) == (83.633333333333, 21.514444444444)
    assert (pointing.alt, pointing.az) == (41.3897890380338, 22.4817052274739)
    assert pointing.mode == "WOBBLE"


# --- the full data sets under GAMMAXR_DATA ------------------------------------------------


@pytest.mark.requires_data
def test_cta_1dc_events(data_dir):
    path = data_dir / "cta-1dc/data/baseline/gps/gps_baseline_110380.fits"
    events = read_events(path)
    raw = raw_columns(path)
    obs_index = read_obs_index(data_dir / "cta-1dc/index/gps/obs-index.fits.gz")
    assert len(events) == obs_index.loc[110380, "event_count"] == 106217
    assert (raw["RA"] < 0).any()  # 1DC writes RA in [-180, 180)
    np.testing.assert_allclose(events["ra"], np.mod(raw["RA"].astype(float), 360), rtol=1e-6)
    np.testing.assert_array_equal(events["energy"], raw["ENERGY"])
    np.testing.assert_array_equal(events["event_id"], raw["EVENT_ID"])
    assert list(events.columns) == [
        "event_id", "time", "ra", "dec", "energy", "detx", "dety", "mc_id",
    ]  # fmt: skip
    attrs = events.attrs
    assert attrs["gti"] == [(664502400.0, 664504200.0)]  # GTI columns without TUNIT
    assert attrs["livetime"] == 1764.0
    assert attrs["time_start"] == "2021-01-21T11:58:50.816"  # 2000-01-01T12:00 TT + TSTART


@pytest.mark.requires_data
def test_hess_full_release_event_counts(data_dir):
    folder = data_dir / "hess-dl3-dr1"
    obs_index = read_obs_index(folder / "obs-index.fits.gz")
    assert len(obs_index) == 105
    for obs_id in obs_index.index[::15]:
        path = folder / "data" / f"hess_dl3_dr1_obs_id_{obs_id:06d}.fits.gz"
        events = read_events(path)
        assert len(events) == obs_index.loc[obs_id, "event_count"], obs_id
        assert events.attrs["livetime"] == pytest.approx(obs_index.loc[obs_id, "livetime"])


def test_integer_column_is_converted_in_float(tmp_path):
    """An integer column with a unit to convert must not be truncated (GeV -> TeV)."""
    written = write_event_file(tmp_path / "events.fits", 6, rng=12)
    with fits.open(written.path) as hdul:
        table = hdul["EVENTS"]
        columns = [c for c in table.columns if c.name != "ENERGY"]
        energy_gev = np.array([150, 900, 1200, 75, 30000, 999], dtype=np.int32)
        columns.append(fits.Column("ENERGY", format="J", unit="GeV", array=energy_gev))
        new = fits.BinTableHDU.from_columns(columns, name="EVENTS")
        for key in written.header:
            new.header[key] = table.header[key]
        fits.HDUList([fits.PrimaryHDU(), new]).writeto(tmp_path / "int.fits")
    events = read_events(tmp_path / "int.fits")
    assert events["energy"].dtype == np.float64
    np.testing.assert_allclose(events["energy"], energy_gev / 1000.0, rtol=1e-15)
