"""Time selection of observations: events, GTI and live time of a time interval."""

from __future__ import annotations

import dataclasses
import pickle

import astropy.units as u
import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.time import Time

import gammaxr as gx
import gammaxr.data.observation as observation_module
from gammaxr.data.observation import Observation, select_observation_time
from gammaxr.exceptions import GeometryError
from gammaxr.reduce import make_on_off_spectrum


@pytest.fixture
def fresh_obs(crab_store):
    """Observation 23523 with nothing read yet."""
    return crab_store.observation(23523)


def _thirds(obs):
    """Edges cutting an observation's GTI span into three pieces (s)."""
    start, stop = float(obs.gti.start.min()), float(obs.gti.stop.max())
    return np.array([start, start + 600.0, start + 1200.0, stop + 1.0])


def test_pieces_count_events_and_add_up_live_time(crab_store):
    obs = crab_store.observation(23526)
    edges = _thirds(obs)
    pieces = [obs.select_time(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True)]
    time = obs.events["time"].to_numpy()
    for piece, a, b in zip(pieces, edges[:-1], edges[1:], strict=True):
        direct = int(np.count_nonzero((time >= a) & (time < b)))
        assert len(piece.events) == direct > 1000
        assert piece.events["time"].between(a, b, inclusive="left").all()
        assert piece.deadc == obs.deadc
        np.testing.assert_allclose(piece.livetime, piece.ontime * obs.deadc, rtol=1e-12)
        # the GTI: one interval, the intersection of the run's with [a, b)
        np.testing.assert_allclose(
            piece.gti[["start", "stop"]].to_numpy(),
            [[max(a, obs.gti.start[0]), min(b, obs.gti.stop[0])]],
        )
        assert piece.events.attrs["gti"] == [tuple(row) for row in piece.gti.to_numpy().tolist()]
        assert piece.events.attrs["tstart"] == piece.gti.start[0]
        assert piece.events.attrs["tstop"] == piece.gti.stop[0]
    assert sum(len(p.events) for p in pieces) == len(obs.events)
    np.testing.assert_allclose([p.ontime for p in pieces], [600.0, 600.0, obs.ontime - 1200.0])
    np.testing.assert_allclose(sum(p.ontime for p in pieces), obs.ontime, rtol=1e-12)
    np.testing.assert_allclose(sum(p.livetime for p in pieces), obs.livetime, rtol=1e-6)
    # ISO times follow the cut
    second = pieces[1].events.attrs
    duration = (Time(second["time_stop"]) - Time(second["time_start"])).to_value(u.s)
    assert duration == pytest.approx(600.0, abs=1e-3)


def test_selection_reads_nothing_and_keeps_the_input(crab_store, monkeypatch):
    calls = []
    for name in ("read_events", "read_gti", "read_pointing", "read_irf", "read_header"):
        function = getattr(observation_module, name)

        def wrapper(*args, _name=name, _function=function, **kwargs):
            calls.append(_name)
            return _function(*args, **kwargs)

        monkeypatch.setattr(observation_module, name, wrapper)
    obs = crab_store.observation(23559)
    piece = obs.select_time(124067051.0, 124067651.0)
    assert calls == []
    assert piece.time_interval == (124067051.0, 124067651.0)
    assert obs.time_interval is None
    assert "time_interval=(124067051.0, 124067651.0)" in repr(piece)
    # an astropy Time needs the time reference: the EVENTS header only
    piece = obs.select_time(Time(53520.0, format="mjd"), Time(53530.0, format="mjd"))
    assert calls == ["read_header"]
    _ = piece.events
    assert calls == ["read_header", "read_events"]
    assert len(obs.events) == 7601  # the whole run is untouched


def test_time_bounds_as_astropy_time(fresh_obs):
    mjdref, timesys = fresh_obs.time_reference()
    assert (mjdref, timesys) == (pytest.approx(51910.000742870370), "tt")
    start = float(fresh_obs.gti.start[0])
    t0 = Time(mjdref, start / 86400.0, format="mjd", scale="tt").utc  # another scale
    piece = fresh_obs.select_time(t0 + 100 * u.s, t0 + 700 * u.s)
    np.testing.assert_allclose(piece.time_interval, (start + 100.0, start + 700.0), atol=1e-5)
    reference = fresh_obs.select_time(start + 100.0, start + 700.0)
    assert len(piece.events) == len(reference.events)
    np.testing.assert_allclose(piece.ontime, 600.0, atol=1e-5)


def test_nested_and_disjoint_selections(fresh_obs):
    start = float(fresh_obs.gti.start[0])
    outer = fresh_obs.select_time(start + 100.0, start + 900.0)
    inner = outer.select_time(start + 500.0, start + 2000.0)
    assert inner.time_interval == (start + 500.0, start + 900.0)
    assert inner.ontime == pytest.approx(400.0)
    # disjoint nested selection: nothing left
    empty = outer.select_time(start + 1000.0, start + 1100.0)
    assert len(empty.events) == 0 and len(empty.gti) == 0
    assert empty.livetime == 0.0 and empty.ontime == 0.0
    # an interval before the run: no events, no GTI, no live time
    before = fresh_obs.select_time(start - 1000.0, start - 10.0)
    assert len(before.events) == 0 and len(before.gti) == 0 and before.livetime == 0.0


def test_bad_bounds_raise(fresh_obs):
    with pytest.raises(GeometryError, match="t_start < t_stop"):
        fresh_obs.select_time(10.0, 10.0)
    with pytest.raises(GeometryError, match="t_start must be a number"):
        select_observation_time(fresh_obs, "soon", 10.0)
    with pytest.raises(GeometryError, match="t_stop must be finite"):
        fresh_obs.select_time(0.0, np.inf)
    with pytest.raises(GeometryError, match="one time"):
        fresh_obs.select_time(Time([53000.0, 53001.0], format="mjd"), 1e9)


def test_pickles_and_copies_keep_the_interval(fresh_obs):
    piece = fresh_obs.select_time(123890826.0, 123891426.0)
    n_events = len(piece.events)
    for copy in (pickle.loads(pickle.dumps(piece)), dataclasses.replace(piece)):
        assert copy.time_interval == piece.time_interval
        assert len(copy.events) == n_events


def test_multiple_gtis_are_intersected(crab_store, tmp_path):
    """A run with a gap: pieces' GTIs and live times follow the two intervals."""
    source = crab_store.observation(23523)
    path = tmp_path / "two_gtis.fits"
    with fits.open(source.location("events")[0]) as hdul:
        gti = hdul["GTI"]
        start, stop = gti.data["START"][0], gti.data["STOP"][0]
        gti.data = np.array([(start, start + 800.0), (start + 1000.0, stop)], dtype=gti.data.dtype)
        hdul.writeto(path)
    hdus = source.hdus.assign(path=str(path))
    obs = Observation(23523, hdus)
    np.testing.assert_allclose(obs.gti.to_numpy(), [[start, start + 800], [start + 1000, stop]])
    piece = obs.select_time(start + 600.0, start + 1300.0)
    np.testing.assert_allclose(
        piece.gti.to_numpy(), [[start + 600, start + 800], [start + 1000, start + 1300]]
    )
    assert piece.ontime == pytest.approx(500.0)
    assert piece.livetime == pytest.approx(500.0 * obs.deadc)
    assert piece.events.attrs["gti"] == [tuple(r) for r in piece.gti.to_numpy().tolist()]
    # pieces of the whole span add up to the GTI sum
    edges = np.linspace(start - 50.0, stop + 50.0, 6)
    pieces = [obs.select_time(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True)]
    assert sum(p.ontime for p in pieces) == pytest.approx(stop - start - 200.0)
    assert isinstance(piece.gti, pd.DataFrame) and piece.gti.attrs["timesys"] == "tt"


def test_reductions_use_the_cut(crab_store):
    obs = crab_store.observation(23592)
    start = float(obs.gti.start[0])
    piece = obs.select_time(start + 300.0, start + 900.0)
    geom_1d = gx.make_geom(
        gx.energy_axis(0.5, 50, nbin=6), gx.energy_axis(0.3, 100, nbin=12, name="energy_true")
    )
    on = "icrs;circle(83.633,22.014,0.11)"
    full, cut = (make_on_off_spectrum(o, on, geom_1d) for o in (obs, piece))
    assert cut.attrs["livetime"] == pytest.approx(600.0 * obs.deadc)
    assert cut.attrs["ontime"] == pytest.approx(600.0)
    assert (cut.attrs["tstart"], cut.attrs["tstop"]) == (start + 300.0, start + 900.0)
    ratio = cut.attrs["livetime"] / full.attrs["livetime"]
    np.testing.assert_allclose(cut.exposure, full.exposure * ratio, rtol=1e-5)
    assert int(cut.counts.sum()) < int(full.counts.sum())
    # the counts are the cut events'
    events = piece.events
    assert events["time"].between(start + 300.0, start + 900.0, inclusive="left").all()

    geom_3d = gx.make_geom(
        gx.energy_axis(1, 10, nbin=2),
        gx.energy_axis(0.5, 20, nbin=4, name="energy_true"),
        sky=gx.sky_grid((83.633, 22.014), width=1.0, binsz=0.1),
    )
    products = ("counts", "exposure", "background")
    full, cut = (gx.make_map_dataset(o, geom_3d, products=products) for o in (obs, piece))
    np.testing.assert_allclose(cut.exposure, full.exposure * ratio, rtol=1e-5)
    # the background rate is integrated over the on time (the same AltAz frame within 1e-2)
    np.testing.assert_allclose(cut.background.sum(), full.background.sum() * 600.0 / 1686.0,
                               rtol=1e-2)  # fmt: skip
    assert cut.attrs["tstart"] == start + 300.0
    assert int(cut.counts.sum()) == int(gx.bin_events(events, geom_3d).sum())
