"""Synthetic event lists for the data-layer tests."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest

# The H.E.S.S. DL3 DR1 time reference (MJDREFI + MJDREFF), TT.
MJDREF = 51910.000742870370


def make_events(
    n: int = 2000,
    *,
    rng: np.random.Generator | int | None = 0,
    ra_pnt: float = 83.633,
    dec_pnt: float = 22.014,
    radius: float = 3.0,
    e_min: float = 0.1,
    e_max: float = 100.0,
    gti: Sequence[tuple[float, float]] = ((0.0, 1000.0), (1500.0, 2500.0)),
    deadc: float = 0.9,
    obs_id: int = 1,
) -> pd.DataFrame:
    """Events uniform on the spherical cap ``radius`` (deg) around the pointing.

    Energies are log-uniform in ``[e_min, e_max)`` TeV, times uniform over
    the GTIs; ``attrs`` mirror what :func:`gammaxr.io.read_events` gives.
    """
    rng = np.random.default_rng(rng)
    # Uniform on the cap: cos(theta) uniform; position angle uniform.
    theta = np.arccos(rng.uniform(np.cos(np.deg2rad(radius)), 1.0, n))
    phi = rng.uniform(0.0, 2.0 * np.pi, n)
    lon0, lat0 = np.deg2rad(ra_pnt), np.deg2rad(dec_pnt)
    sin_lat = np.sin(lat0) * np.cos(theta) + np.cos(lat0) * np.sin(theta) * np.cos(phi)
    lat = np.arcsin(np.clip(sin_lat, -1.0, 1.0))
    dlon = np.arctan2(
        np.sin(phi) * np.sin(theta) * np.cos(lat0),
        np.cos(theta) - np.sin(lat0) * sin_lat,
    )
    ra = np.rad2deg(lon0 + dlon) % 360.0
    dec = np.rad2deg(lat)
    energy = e_min * (e_max / e_min) ** rng.uniform(0.0, 1.0, n)
    intervals = np.asarray(gti, dtype=float).reshape(-1, 2)
    lengths = intervals[:, 1] - intervals[:, 0]
    which = rng.choice(len(intervals), size=n, p=lengths / lengths.sum())
    time = intervals[which, 0] + rng.uniform(0.0, 1.0, n) * lengths[which]
    order = np.argsort(time)
    events = pd.DataFrame(
        {
            "event_id": np.arange(n, dtype=np.int64),
            "time": time[order],
            "ra": ra[order],
            "dec": dec[order],
            "energy": energy[order],
        }
    )
    ontime = float(lengths.sum())
    events.attrs.update(
        {
            "obs_id": obs_id,
            "ra_pnt": ra_pnt,
            "dec_pnt": dec_pnt,
            "ontime": ontime,
            "livetime": ontime * deadc,
            "deadc": deadc,
            "tstart": float(intervals[:, 0].min()),
            "tstop": float(intervals[:, 1].max()),
            "mjdref": MJDREF,
            "timesys": "tt",
            "gti": [tuple(pair) for pair in intervals.tolist()],
            "gti_source": "GTI HDU",
            "units": {"time": "s", "ra": "deg", "dec": "deg", "energy": "TeV"},
        }
    )
    return events


@pytest.fixture(scope="session")
def events_factory():
    """The :func:`make_events` factory (session-scoped, so hypothesis may use it)."""
    return make_events


@pytest.fixture
def synthetic_events():
    """2000 events within 3 deg of a pointing near the Crab, two GTIs."""
    return make_events()
