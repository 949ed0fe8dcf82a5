"""Event selection (energy, time, offset, regions, pandas) and binning onto geometries."""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from astropy.coordinates import SkyCoord
from astropy.time import Time
from hypothesis import given, settings
from hypothesis import strategies as st
from regions import (
    CircleAnnulusSkyRegion,
    CircleSkyRegion,
    PolygonSkyRegion,
    RectangleSkyRegion,
    Regions,
)

import gammaxr as gx
from gammaxr.data.events import event_offset, event_sky_coords
from gammaxr.exceptions import ColumnError, DimensionError, GeometryError
from gammaxr.sky.separation import tangent_plane_offsets

CRAB = SkyCoord(83.633333, 22.014444, unit="deg", frame="icrs")


def _separation(events, centre: SkyCoord) -> np.ndarray:
    """Independent reference: astropy's separation of each event from ``centre``."""
    coords = SkyCoord(events["ra"].to_numpy(float), events["dec"].to_numpy(float), unit="deg")
    return coords.separation(centre).deg


def _assert_same_events(result, expected_mask, events):
    expected = events[np.asarray(expected_mask)]
    pd.testing.assert_frame_equal(result, expected)
    assert result.attrs == events.attrs


# --- energy ---------------------------------------------------------------------------


def test_select_energy(synthetic_events):
    events = synthetic_events
    result = gx.select_energy(events, 1.0, 10.0)
    _assert_same_events(result, (events.energy >= 1) & (events.energy < 10), events)
    # Log-uniform over three decades: a third of the events per decade.
    assert abs(len(result) - len(events) / 3) < 4 * np.sqrt(len(events) / 3)


def test_select_energy_edges(synthetic_events):
    events = synthetic_events.head(4).copy()
    events["energy"] = [1.0, 2.0, 10.0, 10.000001]
    assert list(gx.select_energy(events, 1.0, 10.0)["energy"]) == [1.0, 2.0]


def test_select_energy_needs_the_column(synthetic_events):
    with pytest.raises(ColumnError, match=r"select_energy: events lack columns \['energy'\]"):
        gx.select_energy(synthetic_events.drop(columns="energy"), 1, 10)


def test_selection_does_not_change_its_input(synthetic_events):
    before = synthetic_events.copy(deep=True)
    attrs = {**synthetic_events.attrs, "gti": list(synthetic_events.attrs["gti"])}
    gx.select_energy(synthetic_events, 1, 10)
    gx.select_time(synthetic_events, 100, 200)
    gx.select_offset(synthetic_events, 0.5, 1)
    gx.select_region(synthetic_events, CircleSkyRegion(CRAB, 1 * u.deg))
    pd.testing.assert_frame_equal(synthetic_events, before)
    assert synthetic_events.attrs == attrs


# --- time -----------------------------------------------------------------------------


def test_select_time_clips_gti_and_livetime(synthetic_events):
    events = synthetic_events  # GTIs (0, 1000) and (1500, 2500), deadc 0.9
    result = gx.select_time(events, 500.0, 2000.0)
    _assert_same_events_data(result, (events.time >= 500) & (events.time < 2000), events)
    attrs = result.attrs
    assert attrs["gti"] == [(500.0, 1000.0), (1500.0, 2000.0)]
    assert attrs["ontime"] == 1000.0
    assert attrs["livetime"] == pytest.approx(900.0)
    assert (attrs["tstart"], attrs["tstop"]) == (500.0, 2000.0)
    expected = Time(attrs["mjdref"], 500.0 / 86400, format="mjd", scale="tt").utc.isot
    assert attrs["time_start"] == expected
    assert attrs["time_stop"] > attrs["time_start"]
    # Everything else is carried over; the input keeps its own GTI.
    assert attrs["obs_id"] == 1
    assert attrs["units"] == events.attrs["units"]
    assert events.attrs["gti"] == [(0.0, 1000.0), (1500.0, 2500.0)]
    assert events.attrs["livetime"] == pytest.approx(1800.0)


def _assert_same_events_data(result, mask, events):
    pd.testing.assert_frame_equal(result, events[np.asarray(mask)])


def test_select_time_drops_intervals_outside(synthetic_events):
    result = gx.select_time(synthetic_events, 1200.0, 1400.0)
    assert len(result) == 0
    assert result.attrs["gti"] == []
    assert result.attrs["ontime"] == 0.0
    assert result.attrs["livetime"] == 0.0
    inside = gx.select_time(synthetic_events, 1600.0, 1700.0)
    assert inside.attrs["gti"] == [(1600.0, 1700.0)]
    assert inside.attrs["livetime"] == pytest.approx(90.0)


def test_select_time_wider_than_the_run_changes_nothing(synthetic_events):
    result = gx.select_time(synthetic_events, -1e9, 1e9)
    pd.testing.assert_frame_equal(result, synthetic_events)
    for key in ("gti", "ontime", "livetime", "tstart", "tstop"):
        assert result.attrs[key] == synthetic_events.attrs[key]


def test_select_time_chains(synthetic_events):
    once = gx.select_time(synthetic_events, 500.0, 1800.0)
    twice = gx.select_time(gx.select_time(synthetic_events, 0.0, 1800.0), 500.0, 2500.0)
    pd.testing.assert_frame_equal(once, twice)
    assert once.attrs == twice.attrs


def test_select_time_rejects_empty_interval(synthetic_events):
    with pytest.raises(GeometryError, match="t_start < t_stop"):
        gx.select_time(synthetic_events, 10.0, 10.0)


def test_select_time_real_run(crab_obs):
    events = crab_obs.events
    t_start, t_stop = events.attrs["tstart"], events.attrs["tstop"]
    middle = 0.5 * (t_start + t_stop)
    first = gx.select_time(events, t_start, middle)
    second = gx.select_time(events, middle, t_stop + 1)
    assert len(first) + len(second) == len(events) == 7613
    assert first.attrs["gti"] == [(t_start, middle)]
    # Live time = on time x DEADC; the header's DEADC is rounded (to ~3e-8).
    assert first.attrs["livetime"] + second.attrs["livetime"] == pytest.approx(
        crab_obs.livetime, rel=1e-7
    )
    assert first.attrs["ontime"] == second.attrs["ontime"] == 843.5
    assert first.attrs["livetime"] == pytest.approx(843.5 * crab_obs.deadc, rel=1e-12)
    assert first.attrs["time_start"] == events.attrs["time_start"]
    assert first.attrs["time_stop"] == "2004-12-04T22:21:09.500"


# --- offset ---------------------------------------------------------------------------


def test_event_offset_matches_astropy(synthetic_events):
    events = synthetic_events
    pointing = SkyCoord(events.attrs["ra_pnt"], events.attrs["dec_pnt"], unit="deg")
    offset = event_offset(events)
    assert offset.name == "offset"
    assert offset.index.equals(events.index)
    np.testing.assert_allclose(offset, _separation(events, pointing), atol=1e-9)
    assert offset.max() <= 3.0 + 1e-9


def test_select_offset(synthetic_events):
    events = synthetic_events
    pointing = SkyCoord(events.attrs["ra_pnt"], events.attrs["dec_pnt"], unit="deg")
    separation = _separation(events, pointing)
    result = gx.select_offset(events, 1.0, 2.0)
    _assert_same_events(result, (separation >= 1) & (separation < 2), events)
    # Uniform on the cap: the 1-2 deg ring holds (cos 1 - cos 2) / (1 - cos 3) of the events.
    fraction = (np.cos(np.deg2rad(1)) - np.cos(np.deg2rad(2))) / (1 - np.cos(np.deg2rad(3)))
    assert abs(len(result) - fraction * len(events)) < 4 * np.sqrt(fraction * len(events))


def test_offset_needs_the_pointing(synthetic_events):
    events = synthetic_events.copy()
    events.attrs = {k: v for k, v in events.attrs.items() if k != "dec_pnt"}
    with pytest.raises(ColumnError, match="dec_pnt"):
        event_offset(events)


def test_select_offset_real_run(crab_obs):
    events = crab_obs.events
    near = gx.select_offset(events, 0.0, 2.5)
    pointing = crab_obs.pointing.radec
    assert len(near) == int(np.sum(_separation(events, pointing) < 2.5)) == 6320


# --- sky regions ----------------------------------------------------------------------


def test_select_circle(synthetic_events):
    region = CircleSkyRegion(CRAB, 0.8 * u.deg)
    result = gx.select_region(synthetic_events, region)
    _assert_same_events(result, _separation(synthetic_events, CRAB) <= 0.8, synthetic_events)
    assert len(result) > 50


def test_select_circle_real_run(crab_obs):
    events = crab_obs.events
    result = gx.select_region(events, CircleSkyRegion(CRAB, 0.2 * u.deg))
    _assert_same_events(result, _separation(events, CRAB) <= 0.2, events)
    assert len(result) == 313
    # The Crab is bright: five times the events of the mirror position about the
    # pointing (same offset, same acceptance, background only).
    mirror = SkyCoord(83.633333, 21.014444, unit="deg")
    background = gx.select_region(events, CircleSkyRegion(mirror, 0.2 * u.deg))
    assert len(background) == 58


def test_select_annulus(synthetic_events):
    region = CircleAnnulusSkyRegion(CRAB, 0.5 * u.deg, 1.0 * u.deg)
    separation = _separation(synthetic_events, CRAB)
    result = gx.select_region(synthetic_events, region)
    _assert_same_events(result, (separation >= 0.5) & (separation < 1.0), synthetic_events)


def _tangent_plane(events, centre: SkyCoord, frame: str):
    lon, lat = event_sky_coords(events, frame)
    centre = centre.transform_to(frame)
    return tangent_plane_offsets(lon, lat, centre.spherical.lon.deg, centre.spherical.lat.deg)


@pytest.mark.parametrize("frame", ["icrs", "galactic"])
def test_select_rectangle(synthetic_events, frame):
    centre = CRAB.transform_to(frame)
    region = RectangleSkyRegion(centre, width=2.0 * u.deg, height=1.0 * u.deg)
    x, y = _tangent_plane(synthetic_events, centre, frame)
    # Rectangles are defined in the tangent plane at their centre; skip the
    # events too close to the boundary for the comparison to be meaningful.
    margin = np.minimum(np.abs(np.abs(x) - 1.0), np.abs(np.abs(y) - 0.5))
    expected = (np.abs(x) <= 1.0) & (np.abs(y) <= 0.5)
    result = gx.select_region(synthetic_events, region)
    got = synthetic_events.index.isin(result.index)
    clear = margin > 1e-6
    np.testing.assert_array_equal(got[clear], expected[clear])
    assert expected.sum() > 50
    assert result.attrs == synthetic_events.attrs


def test_select_galactic_circle(synthetic_events):
    centre = SkyCoord(184.5, -5.8, unit="deg", frame="galactic")
    region = CircleSkyRegion(centre, 1.0 * u.deg)
    result = gx.select_region(synthetic_events, region)
    _assert_same_events(result, _separation(synthetic_events, centre) <= 1.0, synthetic_events)
    assert len(result) > 100


def test_select_ds9_string(synthetic_events):
    text = "icrs; circle(83.633333, 22.014444, 0.8)"
    by_string = gx.select_region(synthetic_events, text)
    by_object = gx.select_region(synthetic_events, CircleSkyRegion(CRAB, 0.8 * u.deg))
    pd.testing.assert_frame_equal(by_string, by_object)
    galactic = "galactic; circle(184.5, -5.8, 1.0)"
    expected = _separation(synthetic_events, SkyCoord(184.5, -5.8, unit="deg", frame="galactic"))
    _assert_same_events(
        gx.select_region(synthetic_events, galactic), expected <= 1.0, synthetic_events
    )


def test_select_region_list_is_a_union(synthetic_events):
    east = SkyCoord(84.6, 22.0, unit="deg")
    west = SkyCoord(82.6, 22.0, unit="deg")
    regions = Regions([CircleSkyRegion(east, 0.6 * u.deg), CircleSkyRegion(west, 0.6 * u.deg)])
    expected = (_separation(synthetic_events, east) <= 0.6) | (
        _separation(synthetic_events, west) <= 0.6
    )
    _assert_same_events(gx.select_region(synthetic_events, regions), expected, synthetic_events)
    text = regions.serialize(format="ds9")
    _assert_same_events(gx.select_region(synthetic_events, text), expected, synthetic_events)


@pytest.mark.parametrize(
    ("operator", "combine"),
    [("|", np.logical_or), ("&", np.logical_and), ("^", np.logical_xor)],
)
def test_select_compound(synthetic_events, operator, combine):
    a_centre = SkyCoord(83.3, 22.0, unit="deg")
    b_centre = SkyCoord(84.0, 22.0, unit="deg")
    a = CircleSkyRegion(a_centre, 0.6 * u.deg)
    b = CircleSkyRegion(b_centre, 0.6 * u.deg)
    region = {"|": a | b, "&": a & b, "^": a ^ b}[operator]
    expected = combine(
        _separation(synthetic_events, a_centre) <= 0.6,
        _separation(synthetic_events, b_centre) <= 0.6,
    )
    assert expected.sum() > 20
    _assert_same_events(gx.select_region(synthetic_events, region), expected, synthetic_events)


def test_select_compound_circle_and_galactic_rectangle(synthetic_events):
    circle = CircleSkyRegion(CRAB, 1.0 * u.deg)
    centre = CRAB.galactic
    rectangle = RectangleSkyRegion(centre, width=3.0 * u.deg, height=0.5 * u.deg)
    x, y = _tangent_plane(synthetic_events, centre, "galactic")
    expected = (
        (_separation(synthetic_events, CRAB) <= 1.0) & (np.abs(x) <= 1.5) & (np.abs(y) <= 0.25)
    )
    result = gx.select_region(synthetic_events, circle & rectangle)
    _assert_same_events(result, expected, synthetic_events)
    assert 10 < len(result) < expected.size


def test_select_polygon(synthetic_events):
    vertices = SkyCoord([83.0, 84.5, 83.6], [21.5, 21.5, 22.8], unit="deg")
    result = gx.select_region(synthetic_events, PolygonSkyRegion(vertices))
    assert len(result) > 30
    # Every selected event lies in the polygon's bounding box, and the
    # centroid region is fully selected.
    assert result["ra"].between(82.95, 84.55).all()
    assert result["dec"].between(21.49, 22.81).all()
    core = _separation(synthetic_events, SkyCoord(83.7, 21.93, unit="deg")) < 0.2
    assert synthetic_events.index[core].isin(result.index).all()


def test_select_region_rejects_other_types(synthetic_events):
    with pytest.raises(GeometryError, match="expected a SkyRegion"):
        gx.select_region(synthetic_events, 42)


# --- pandas ---------------------------------------------------------------------------


def test_pandas_query_and_masks_keep_attrs(crab_obs):
    events = crab_obs.events
    result = events.query("energy > 1 and dec > 22")
    mask = (events["energy"] > 1) & (events["dec"] > 22)
    pd.testing.assert_frame_equal(result, events[mask])
    assert result.attrs == events.attrs
    assert 0 < len(result) < len(events)
    chained = events[events.energy > 1].gp.select_region(CircleSkyRegion(CRAB, 0.2 * u.deg))
    assert chained.attrs["obs_id"] == 23523
    assert (chained["energy"] > 1).all()


# --- the .gp accessor -----------------------------------------------------------------


def _energy_geom():
    return gx.make_geom(gx.energy_axis(0.5, 50, per_decade=5))


def _cube_geom(frame="icrs"):
    return gx.make_geom(
        gx.energy_axis(0.5, 50, per_decade=5),
        sky=gx.sky_grid(CRAB, width=3, binsz=0.1, frame=frame),
    )


@pytest.mark.parametrize(
    ("method", "function", "args", "kwargs"),
    [
        ("select_energy", gx.select_energy, (1.0, 10.0), {}),
        ("select_time", gx.select_time, (123891000.0, 123892000.0), {}),
        ("select_offset", gx.select_offset, (0.5, 1.5), {}),
        ("select_region", gx.select_region, (CircleSkyRegion(CRAB, 0.3 * u.deg),), {}),
        ("select_region", gx.select_region, ("icrs; box(83.6, 22.0, 1, 0.5, 0)",), {}),
    ],
)
def test_accessor_selections_delegate(crab_obs, method, function, args, kwargs):
    events = crab_obs.events
    via_accessor = getattr(events.gp, method)(*args, **kwargs)
    via_function = function(events, *args, **kwargs)
    pd.testing.assert_frame_equal(via_accessor, via_function)
    assert via_accessor.attrs == via_function.attrs
    assert 0 < len(via_accessor) < len(events)


def test_accessor_offset_and_coords_delegate(crab_obs):
    events = crab_obs.events
    pd.testing.assert_series_equal(events.gp.offset, event_offset(events))
    for frame in ("icrs", "galactic"):
        for a, b in zip(events.gp.sky_coords(frame), event_sky_coords(events, frame), strict=True):
            np.testing.assert_array_equal(a, b)


def test_accessor_bin_delegates(crab_obs):
    events = crab_obs.events
    xr.testing.assert_identical(events.gp.bin(_cube_geom()), gx.bin_events(events, _cube_geom()))
    region = CircleSkyRegion(CRAB, 0.2 * u.deg)
    xr.testing.assert_identical(
        events.gp.bin(_energy_geom(), region=region),
        gx.bin_events(events, _energy_geom(), region=region),
    )


# --- binning --------------------------------------------------------------------------


def _wrap(lon, centre):
    """Reference longitude branch [centre - 180, centre + 180), written independently."""
    lon = np.asarray(lon, dtype=float)
    return np.where(lon - centre >= 180, lon - 360, np.where(lon - centre < -180, lon + 360, lon))


def _reference_counts(events, geom):
    """numpy.histogramdd of (energy, lat, lon) on the geometry's edges."""
    frame = geom.attrs["frame"]
    coords = SkyCoord(events["ra"].to_numpy(float), events["dec"].to_numpy(float), unit="deg")
    if frame == "galactic":
        lon, lat = coords.galactic.l.deg, coords.galactic.b.deg
    else:
        lon, lat = coords.ra.deg, coords.dec.deg
    bins = [np.append(geom[f"{d}_lo"].values, geom[f"{d}_hi"].values[-1]) for d in geom.dims]
    energy_edges, lat_edges, lon_edges = (bins[list(geom.dims).index(d)] for d in geom.dims)
    lon = _wrap(lon, 0.5 * (lon_edges[0] + lon_edges[-1]))
    sample = np.column_stack([events["energy"].to_numpy(float), lat, lon])
    counts, _ = np.histogramdd(sample, bins=[energy_edges, lat_edges, lon_edges])
    inside = (
        (sample[:, 0] >= energy_edges[0])
        & (sample[:, 0] <= energy_edges[-1])
        & (lat >= lat_edges[0])
        & (lat <= lat_edges[-1])
        & (lon >= lon_edges[0])
        & (lon <= lon_edges[-1])
    )
    return counts.astype(np.int64), int(inside.sum())


def _geom(energy_edges, sky):
    return gx.make_geom(gx.axis_from_edges(energy_edges, name="energy", units="TeV"), sky=sky)


def _check_counts(events, geom):
    counts = gx.bin_events(events, geom)
    expected, n_inside = _reference_counts(events, geom)
    assert counts.dims == ("energy", "lat", "lon")
    assert counts.dtype == np.int64
    np.testing.assert_array_equal(counts.values, expected)
    assert int(counts.sum()) == n_inside
    return counts


@pytest.mark.parametrize("frame", ["icrs", "galactic"])
def test_bin_real_run_equals_histogramdd(crab_obs, frame):
    geom = gx.make_geom(
        gx.energy_axis(0.5, 50, per_decade=10),
        sky=gx.sky_grid(crab_obs.pointing.radec, width=4, binsz=0.02, frame=frame),
    )
    counts = _check_counts(crab_obs.events, geom)
    assert counts.shape == (20, 200, 200)
    assert counts.attrs["frame"] == frame
    assert counts.attrs["obs_id"] == 23523
    assert counts.name == "counts"
    # The geometry's coordinates are carried over untouched.
    for name in ("energy", "energy_lo", "energy_hi", "lat", "lat_lo", "lon", "lon_hi"):
        xr.testing.assert_identical(counts.coords[name], geom.coords[name])
    assert 4000 < int(counts.sum()) < 7613


def test_bin_counts_the_crab(crab_obs):
    counts = gx.bin_events(crab_obs.events, _cube_geom())
    peak = counts.sum("energy").argmax(dim=["lat", "lon"])
    lat = float(counts["lat"][peak["lat"]])
    lon = float(counts["lon"][peak["lon"]])
    assert gx.angular_separation(lon, lat, CRAB.ra.deg, CRAB.dec.deg) < 0.1


def test_bin_events_outside_the_grid(events_factory):
    events = events_factory(3000, rng=1, radius=6.0, e_min=0.05, e_max=200.0)
    geom = _geom(np.geomspace(0.5, 50, 11), gx.sky_grid(CRAB, width=(4, 3), binsz=0.1))
    counts = _check_counts(events, geom)
    assert 0 < int(counts.sum()) < len(events) / 2


def test_bin_events_on_edges(events_factory):
    # Binary-exact edges; one event on every edge combination (outer ones included).
    energy_edges = np.array([0.5, 1.0, 2.0, 4.0, 8.0])
    sky = gx.sky_grid((80.0, 20.0), width=(2.0, 1.0), binsz=0.25)
    lon_edges = np.append(sky["lon_lo"].values, sky["lon_hi"].values[-1])
    lat_edges = np.append(sky["lat_lo"].values, sky["lat_hi"].values[-1])
    np.testing.assert_array_equal(lon_edges, np.arange(79.0, 81.01, 0.25))
    energy, lat, lon = (a.ravel() for a in np.meshgrid(energy_edges, lat_edges, lon_edges))
    events = events_factory(energy.size)
    events["energy"], events["dec"], events["ra"] = energy, lat, lon
    counts = _check_counts(events, _geom(energy_edges, sky))
    # Each bin gets the event on its lower corner; the last bin of each axis
    # also gets those on its upper edges: (nE + 1)(nlat + 1)(nlon + 1) in all.
    assert int(counts.sum()) == events.shape[0] == 5 * 5 * 9
    assert int(counts[0, 0, 0]) == 1
    assert int(counts[-1, -1, -1]) == 8


def test_bin_events_on_edges_just_outside(events_factory):
    sky = gx.sky_grid((80.0, 20.0), width=2.0, binsz=0.5)
    events = events_factory(4)
    events["energy"] = [1.0, 1.0, np.nextafter(1.0, 0), np.nextafter(8.0, 9)]
    events["ra"] = [np.nextafter(79.0, 0), 81.0, 80.0, 80.0]
    events["dec"] = [20.0, 21.0, 20.0, 20.0]
    counts = _check_counts(events, _geom(np.array([1.0, 2.0, 4.0, 8.0]), sky))
    assert int(counts.sum()) == 1  # only the event on the upper lon edge


@pytest.mark.parametrize("centre_lon", [0.0, 359.5, 0.5])
def test_bin_straddling_ra_zero(events_factory, centre_lon):
    events = events_factory(4000, rng=2, ra_pnt=centre_lon, dec_pnt=-30.0, radius=3.0)
    assert events["ra"].between(0, 360, inclusive="left").all()
    assert (events["ra"] > 350).any()
    assert (events["ra"] < 10).any()
    sky = gx.sky_grid((centre_lon, -30.0), width=4.0, binsz=0.05)
    counts = _check_counts(events, _geom(np.geomspace(0.1, 100, 7), sky))
    # Events on both sides of RA = 0 land in the grid.
    lon_lo, lon_hi = float(sky["lon_lo"][0]), float(sky["lon_hi"][-1])
    assert lon_lo < 0 < lon_hi or lon_lo < 360 < lon_hi
    column_sums = counts.sum(["energy", "lat"]).values
    assert column_sums[:10].sum() > 0 and column_sums[-10:].sum() > 0
    # All events within 1.9 deg of the centre are counted.
    near = _separation(events, SkyCoord(centre_lon, -30.0, unit="deg")) < 1.9
    assert int(counts.sum()) >= near.sum()


def test_bin_straddling_ra_zero_on_edges(events_factory):
    sky = gx.sky_grid((0.0, 0.0), width=2.0, binsz=0.25)  # lon edges -1 ... 1
    lon_edges = np.append(sky["lon_lo"].values, sky["lon_hi"].values[-1])
    events = events_factory(lon_edges.size)
    events["ra"] = lon_edges % 360.0  # -0.75 -> 359.25 exactly
    events["dec"] = 0.0
    events["energy"] = 1.0
    counts = _check_counts(events, _geom(np.array([0.5, 2.0]), sky))
    np.testing.assert_array_equal(counts[0, 4].values, [1, 1, 1, 1, 1, 1, 1, 2])


def test_bin_galactic_centre(events_factory):
    # A galactic grid around l = 0: events on both sides of the l = 0/360 cut.
    centre = SkyCoord(0.0, 0.0, unit="deg", frame="galactic").icrs
    events = events_factory(3000, rng=3, ra_pnt=centre.ra.deg, dec_pnt=centre.dec.deg)
    sky = gx.sky_grid(SkyCoord(0, 0, unit="deg", frame="galactic"), width=5, binsz=0.1,
                      frame="galactic")  # fmt: skip
    counts = _check_counts(events, _geom(np.geomspace(0.1, 100, 4), sky))
    assert float(sky["lon_lo"][0]) == pytest.approx(-2.5)
    assert int(counts.sum()) > 0.5 * len(events)


def test_bin_empty_events(synthetic_events):
    counts = gx.bin_events(synthetic_events.iloc[:0], _cube_geom())
    assert counts.shape == (10, 30, 30)
    assert int(counts.sum()) == 0


def test_bin_energy_in_region_equals_direct_count(crab_obs):
    events = crab_obs.events
    region = CircleSkyRegion(CRAB, 0.2 * u.deg)
    geom = _energy_geom()
    counts = gx.bin_events(events, geom, region=region)
    inside = events[_separation(events, CRAB) <= 0.2]
    expected, _ = np.histogram(inside["energy"].to_numpy(float), bins=np.geomspace(0.5, 50, 11))
    assert counts.dims == ("energy",)
    np.testing.assert_array_equal(counts.values, expected)
    assert counts.dtype == np.int64
    assert Regions.parse(counts.attrs["region"], format="ds9")[0].radius.to_value("deg") == 0.2
    xr.testing.assert_identical(counts.coords["energy_lo"], geom.coords["energy_lo"])
    # A cube geometry with a region gives the same spectrum (sky axes ignored).
    xr.testing.assert_identical(gx.bin_events(events, _cube_geom(), region=region), counts)


def test_bin_energy_in_region_equals_cube_in_mask(events_factory):
    # Spectrum in a circle = cube summed over the pixels whose *events* are in it:
    # a consistency check between the two paths on a region with many events.
    events = events_factory(5000, rng=4)
    region = CircleSkyRegion(CRAB, 1.0 * u.deg)
    spectrum = gx.bin_events(events, _energy_geom(), region=region)
    selected = gx.select_region(events, region)
    cube = gx.bin_events(selected, _cube_geom())
    np.testing.assert_array_equal(spectrum.values, cube.sum(["lat", "lon"]).values)


def test_bin_errors(synthetic_events):
    sky = gx.sky_grid(CRAB, width=2, binsz=0.5)
    with pytest.raises(DimensionError, match="no 'energy' dim"):
        gx.bin_events(synthetic_events, gx.make_geom(sky=sky))
    with pytest.raises(DimensionError, match="give a region"):
        gx.bin_events(synthetic_events, _energy_geom())
    nodes = xr.Dataset(coords={"energy": ("energy", [1.0, 2.0])})
    with pytest.raises(DimensionError, match="no edge coordinates"):
        gx.bin_events(synthetic_events, nodes)
    with pytest.raises(ColumnError, match="energy"):
        gx.bin_events(synthetic_events.drop(columns="energy"), _cube_geom())


# --- property: bin_events == histogramdd ----------------------------------------------


@st.composite
def grids_and_events(draw):
    frame = draw(st.sampled_from(["icrs", "galactic"]))
    lon0 = draw(st.floats(0.0, 360.0, allow_nan=False))
    lat0 = draw(st.floats(-70.0, 70.0, allow_nan=False))
    binsz = draw(st.floats(0.05, 2.0))
    n_lon = draw(st.integers(1, 40))
    n_lat = draw(st.integers(1, 20))
    width = (n_lon * binsz, n_lat * binsz)
    e_min = draw(st.floats(0.05, 5.0))
    n_energy = draw(st.integers(1, 8))
    e_max = e_min * draw(st.floats(1.5, 1000.0))
    n_events = draw(st.integers(0, 400))
    n_on_edges = draw(st.integers(0, 50))
    seed = draw(st.integers(0, 2**32 - 1))
    return frame, (lon0, lat0), width, binsz, (e_min, e_max, n_energy), n_events, n_on_edges, seed


@settings(max_examples=60, deadline=None)
@given(case=grids_and_events())
def test_bin_events_equals_histogramdd(events_factory, case):
    frame, (lon0, lat0), width, binsz, (e_min, e_max, n_energy), n, n_edges, seed = case
    sky = gx.sky_grid((lon0, lat0), width=width, binsz=binsz, frame=frame)
    geom = gx.make_geom(gx.energy_axis(e_min, e_max, nbin=n_energy), sky=sky)
    rng = np.random.default_rng(seed)
    centre = SkyCoord(lon0, lat0, unit="deg", frame=frame).icrs
    radius = min(1.5 * max(width), 60.0)
    events = events_factory(
        n + n_edges, rng=rng, ra_pnt=centre.ra.deg, dec_pnt=centre.dec.deg, radius=radius,
        e_min=e_min / 2, e_max=e_max * 2,
    )  # fmt: skip
    if n_edges and frame == "icrs":
        # Put some events exactly on grid edges (energy, lat and lon).
        lon_edges = np.append(sky["lon_lo"].values, sky["lon_hi"].values[-1])
        lat_edges = np.append(sky["lat_lo"].values, sky["lat_hi"].values[-1])
        energy_edges = np.append(geom["energy_lo"].values, geom["energy_hi"].values[-1])
        rows = events.index[-n_edges:]
        events.loc[rows, "ra"] = rng.choice(lon_edges, n_edges) % 360.0
        events.loc[rows, "dec"] = rng.choice(lat_edges, n_edges)
        events.loc[rows, "energy"] = rng.choice(energy_edges, n_edges)
    _check_counts(events, geom)


# --- golden numbers from Gammapy 2.1 (EventList.select_*) on run 23523 ---------------


@pytest.mark.parametrize(
    ("select", "expected"),
    [
        (lambda ev: gx.select_energy(ev, 1.0, 10.0), 2972),
        (lambda ev: gx.select_offset(ev, 0.0, 2.5), 6320),
        (lambda ev: gx.select_region(ev, CircleSkyRegion(CRAB, 0.2 * u.deg)), 313),
        (lambda ev: gx.select_region(ev, "icrs;circle(83.633333,22.014444,0.3)"), 424),
        (lambda ev: gx.select_region(ev, RectangleSkyRegion(CRAB, 3 * u.deg, 0.5 * u.deg)), 973),
        (
            lambda ev: gx.select_region(
                ev, RectangleSkyRegion(CRAB.galactic, 3 * u.deg, 0.5 * u.deg)
            ),
            913,
        ),
        (
            lambda ev: gx.select_region(
                ev, CircleSkyRegion(SkyCoord(184.5, -5.8, unit="deg", frame="galactic"), 1 * u.deg)
            ),
            1739,
        ),
    ],
    ids=[
        "energy",
        "offset",
        "circle",
        "ds9",
        "rectangle",
        "galactic-rectangle",
        "galactic-circle",
    ],
)
def test_selections_match_gammapy(crab_obs, select, expected):
    assert len(select(crab_obs.events)) == expected


def test_regular_bin_index_is_the_search_exactly():
    """The arithmetic bin of evenly (or log-) spaced edges is searchsorted's, edges included."""
    from gammaxr.data.events import _bin_index

    def searched(values, bin_edges):
        index = np.searchsorted(bin_edges, values, side="right") - 1
        index[values == bin_edges[-1]] = bin_edges.size - 2
        index[(values < bin_edges[0]) | (values > bin_edges[-1]) | ~np.isfinite(values)] = -1
        return index

    rng = np.random.default_rng(7)
    cases = [
        np.linspace(-5.0, 5.0, 201),
        np.linspace(83.633 - 2.0, 83.633 + 2.0, 201),
        gx.conventions.edges(gx.energy_axis(0.5, 50, per_decade=10), "energy"),
        gx.conventions.edges(gx.energy_axis(0.1, 10, nbin=10), "energy"),
        np.geomspace(0.03, 300, 41).astype(np.float32).astype(float),
        np.sort(rng.uniform(0, 10, 30)),  # irregular: searched
    ]
    for bin_edges in cases:
        width = bin_edges[-1] - bin_edges[0]
        values = np.concatenate([
            rng.uniform(bin_edges[0] - 0.1 * width, bin_edges[-1] + 0.1 * width, 20000),
            bin_edges, np.nextafter(bin_edges, np.inf), np.nextafter(bin_edges, -np.inf),
            [np.nan, np.inf, -np.inf, 0.0, -1.0],
        ])  # fmt: skip
        values = np.concatenate([values, values.astype(np.float32).astype(float)])
        np.testing.assert_array_equal(_bin_index(values, bin_edges), searched(values, bin_edges))
