"""One observation (run): events, GTI, pointing and IRFs, loaded lazily."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from astropy.time import Time

from gammaxr.data.events import select_time as select_events_time
from gammaxr.exceptions import FormatError, GeometryError, MissingHDUError
from gammaxr.io.gadf.events import read_events, read_gti, read_header, read_pointing
from gammaxr.io.gadf.irf import read_irf
from gammaxr.io.gadf.legacy import fix_legacy_hess_bkg, is_legacy_hess
from gammaxr.sky.pointing import Pointing

__all__ = ["IRF_TYPES", "Observation", "select_observation_time"]

# hdu_type values of the GADF HDU index that hold IRFs, and the attribute they load into.
IRF_TYPES = ("aeff", "edisp", "psf", "bkg", "rad_max")


@dataclass(frozen=True, eq=False)
class Observation:
    """An observation: where its HDUs are, and lazy access to their contents.

    Nothing is read on construction; each product is read on first access
    and kept. Build observations with :class:`gammaxr.DataStore`.

    Parameters
    ----------
    obs_id : int
        Observation id.
    hdus : pandas.DataFrame
        This observation's rows of the HDU index (``hdu_type``, ``hdu_class``,
        ``path``, ``hdu_name``).
    info : dict
        This observation's row of the observation index (may be empty; it
        describes the whole run, also for a time-selected observation).
    time_interval : tuple of float, optional
        ``(t_start, t_stop)`` in s since the time reference of the event
        file: only that part of the run is used (events, GTI, live time; see
        :meth:`select_time`). None for the whole run.
    """

    obs_id: int
    hdus: pd.DataFrame = field(repr=False)
    info: dict = field(default_factory=dict, repr=False)
    time_interval: tuple[float, float] | None = None

    def __repr__(self) -> str:
        cut = "" if self.time_interval is None else f", time_interval={self.time_interval}"
        return f"Observation(obs_id={self.obs_id}, hdus={self.available}{cut})"

    @property
    def available(self) -> list[str]:
        """The HDU types this observation has (``events``, ``gti``, ``aeff``, ...)."""
        return list(self.hdus["hdu_type"])

    @cached_property
    def _locations(self) -> dict[str, tuple[Path, str, str]]:
        """(path, HDU name, HDU class) by HDU type: the first row of each type."""
        locations: dict[str, tuple[Path, str, str]] = {}
        names = ("hdu_type", "path", "hdu_name", "hdu_class")
        columns = [self.hdus[name].tolist() for name in names]
        for hdu_type, path, hdu_name, hdu_class in zip(*columns, strict=True):
            locations.setdefault(hdu_type, (Path(path), str(hdu_name), str(hdu_class)))
        return locations

    def location(self, hdu_type: str) -> tuple[Path, str, str]:
        """File path, HDU name and HDU class of one of this observation's HDUs."""
        try:
            return self._locations[hdu_type]
        except KeyError:
            raise MissingHDUError(
                f"observation {self.obs_id}: no {hdu_type!r} HDU in the HDU index "
                f"(it has {self.available})"
            ) from None

    @cached_property
    def events(self) -> pd.DataFrame:
        """The event list (see :func:`gammaxr.io.read_events`), with the GTI in attrs."""
        path, hdu, _ = self.location("events")
        gti_hdu = None
        if "gti" in self.available:
            gti_path, gti_name, _ = self.location("gti")
            gti_hdu = gti_name if gti_path == path else None
        events = read_events(path, hdu, gti_hdu=gti_hdu)
        if gti_hdu is None and "gti" in self.available:
            gti = _read_gti(self)
            events.attrs["gti"] = [tuple(r) for r in gti[["start", "stop"]].to_numpy().tolist()]
            events.attrs["gti_source"] = "GTI HDU"
        if self.time_interval is not None:
            events = _cut_events(events, *self.time_interval)
        return events

    @cached_property
    def gti(self) -> pd.DataFrame:
        """Good time intervals: ``start``, ``stop`` in s since the time reference.

        For a time-selected observation, the intervals are clipped to
        :attr:`time_interval` (those left empty are dropped).
        """
        gti = _read_gti(self)
        if self.time_interval is None:
            return gti
        t_start, t_stop = self.time_interval
        start = gti["start"].clip(t_start, t_stop)
        stop = gti["stop"].clip(t_start, t_stop)
        keep = (stop > start).to_numpy()
        clipped = gti.assign(start=start, stop=stop)[keep].reset_index(drop=True)
        clipped.attrs = dict(gti.attrs)
        return clipped

    def select_time(self, t_start: float | Time, t_stop: float | Time) -> Observation:
        """The observation in ``[t_start, t_stop)``: see :func:`select_observation_time`."""
        return select_observation_time(self, t_start, t_stop)

    def time_reference(self) -> tuple[float, str]:
        """The time reference of the event file: ``(mjdref, timesys)``, MJD in days and scale.

        Read from the EVENTS header only (``MJDREFI`` + ``MJDREFF`` or
        ``MJDREF``; ``TIMESYS``, TT when absent); the events are not read.
        """
        header = self._events_header
        if "MJDREFI" in header:
            mjdref = float(header["MJDREFI"]) + float(header.get("MJDREFF", 0.0))
        elif "MJDREF" in header:
            mjdref = float(header["MJDREF"])
        else:
            raise FormatError(
                f"observation {self.obs_id}: the EVENTS header has no MJDREFI/MJDREFF or "
                "MJDREF keyword (time reference)"
            )
        timesys = str(header.get("TIMESYS", "TT")).strip().lower()
        if timesys not in Time.SCALES:
            raise FormatError(
                f"observation {self.obs_id}: TIMESYS {timesys.upper()!r} is not a time scale"
            )
        return mjdref, timesys

    @cached_property
    def pointing(self) -> Pointing:
        """Pointing: RADEC always; ALTAZ where the file or the index gives it."""
        path, hdu, _ = self.location("events")
        pointing = read_pointing(path, hdu)
        if not pointing.has_altaz and "alt_pnt" in self.info and "az_pnt" in self.info:
            pointing = Pointing(
                pointing.ra,
                pointing.dec,
                float(self.info["alt_pnt"]),
                float(self.info["az_pnt"]),
                pointing.mode,
            )
        return pointing

    def irf(self, hdu_type: str) -> xr.DataArray | xr.Dataset:
        """Read one IRF by its HDU type (``aeff``, ``edisp``, ``psf``, ``bkg``, ``rad_max``)."""
        if hdu_type not in IRF_TYPES:
            raise MissingHDUError(f"unknown IRF type {hdu_type!r}; expected one of {IRF_TYPES}")
        path, hdu, hdu_class = self.location(hdu_type)
        irf = read_irf(path, hdu, hdu_class=hdu_class)
        if irf.attrs["hdu_class"] == "bkg_3d" and is_legacy_hess(self._events_header):
            irf = fix_legacy_hess_bkg(irf)
        irf.attrs["obs_id"] = int(self.obs_id)
        return irf

    @cached_property
    def _events_header(self) -> dict:
        path, hdu, _ = self.location("events")
        return read_header(path, hdu)

    @cached_property
    def aeff(self) -> xr.DataArray:
        """Effective area ``(energy_true, offset)``, m2."""
        return self.irf("aeff")

    @cached_property
    def edisp(self) -> xr.DataArray:
        """Energy dispersion ``(energy_true, migra, offset)``, dP/dmigra."""
        return self.irf("edisp")

    @cached_property
    def psf(self) -> xr.DataArray | xr.Dataset:
        """PSF: a table ``(energy_true, offset, rad)`` in sr-1, or parameters (3GAUSS, KING)."""
        return self.irf("psf")

    @cached_property
    def bkg(self) -> xr.DataArray:
        """Background rate ``(energy, fov_lat, fov_lon)`` or ``(energy, offset)``.

        In MeV-1 s-1 sr-1.
        """
        return self.irf("bkg")

    @cached_property
    def rad_max(self) -> xr.DataArray:
        """Directional cut of point-like IRFs ``(energy, offset)``, deg."""
        return self.irf("rad_max")

    @property
    def irfs(self) -> dict[str, xr.DataArray | xr.Dataset]:
        """Every IRF the observation has, by HDU type (reads those not yet read)."""
        return {name: getattr(self, name) for name in IRF_TYPES if name in self.available}

    @property
    def livetime(self) -> float:
        """Live time, s (from the events header)."""
        return float(self.events.attrs["livetime"])

    @property
    def ontime(self) -> float:
        """On time (live time plus dead time), s."""
        return float(self.events.attrs["ontime"])

    @property
    def deadc(self) -> float:
        """Dead-time correction factor: live time / on time."""
        return float(self.events.attrs["deadc"])


def _read_gti(observation: Observation) -> pd.DataFrame:
    """The GTI HDU of an observation as stored (the whole run)."""
    path, hdu, _ = observation.location("gti")
    return read_gti(path, hdu)


def _cut_events(events: pd.DataFrame, t_start: float, t_stop: float) -> pd.DataFrame:
    """Events in ``[t_start, t_stop)``; an empty interval (``t_start == t_stop``) keeps none."""
    if t_start < t_stop:
        return select_events_time(events, t_start, t_stop)
    # An empty interval (nested selections that do not overlap): no events, no GTI.
    empty = select_events_time(events, t_start, t_start + 1.0).iloc[:0].copy()
    attrs = dict(empty.attrs)
    attrs.update(gti=[], ontime=0.0, livetime=0.0, tstart=float(t_start), tstop=float(t_start))
    if "time_start" in attrs:
        attrs["time_stop"] = attrs["time_start"]
    empty.attrs = attrs
    return empty


def _met_seconds(observation: Observation, value: float | Time, name: str) -> float:
    """A time in s since the observation's time reference, from MET seconds or a Time."""
    if isinstance(value, Time):
        if not value.isscalar:
            raise GeometryError(f"select_time: {name} must be one time, got {value.shape}")
        mjdref, timesys = observation.time_reference()
        reference = Time(mjdref, format="mjd", scale=timesys)
        return float((getattr(value, timesys) - reference).sec)
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise GeometryError(
            f"select_time: {name} must be a number (s since the time reference) or an "
            f"astropy Time, got {value!r}"
        ) from None
    if not np.isfinite(seconds):
        raise GeometryError(f"select_time: {name} must be finite, got {seconds}")
    return seconds


def select_observation_time(
    observation: Observation, t_start: float | Time, t_stop: float | Time
) -> Observation:
    """The part of an observation in the time interval ``[t_start, t_stop)``.

    Nothing is read (beyond the EVENTS header when a time is an astropy
    ``Time``): the new observation cuts its products when they are first
    accessed. Its events are those with ``t_start <= time < t_stop``; its GTI
    (``gti`` and ``events.attrs["gti"]``) is intersected with the interval;
    ``ontime`` is the sum of the intersected GTI and ``livetime`` is that
    times the run's dead-time correction ``deadc``; ``events.attrs`` carry
    the ``tstart`` / ``tstop`` (and ``time_start`` / ``time_stop``) of the
    intersected GTI, which the reductions (:func:`gammaxr.make_map_dataset`,
    :func:`gammaxr.reduce.make_spectrum_dataset`,
    :func:`gammaxr.reduce.make_on_off_spectrum`) write to the dataset attrs,
    and which set the mid time used for AltAz field-of-view backgrounds.
    The pointing and IRFs are those of the whole run.

    Selecting from a time-selected observation intersects the intervals. An
    interval that misses every GTI gives an observation with no events and
    zero live time: callers skip those (compare ``len(obs.gti)`` with 0).

    Parameters
    ----------
    observation : Observation
        The observation (whole or already time-selected).
    t_start, t_stop : float or astropy.time.Time
        Interval bounds: seconds since the time reference of the observation's
        event file (MET, in its ``TIMESYS``), or astropy ``Time`` objects
        (converted to that reference and scale).

    Returns
    -------
    Observation
        A new observation (same ``obs_id``, HDUs and index row) with
        :attr:`Observation.time_interval` set; the input is unchanged.

    Raises
    ------
    GeometryError
        If a bound is not a finite number or a scalar Time, or if
        ``t_start >= t_stop``.
    FormatError
        If a Time is given and the EVENTS header has no time reference.

    Examples
    --------
    >>> import gammaxr as gx
    >>> obs = gx.open_datastore().observation(23523)
    >>> first = obs.select_time(obs.gti.start[0], obs.gti.start[0] + 600.0)
    >>> first.ontime
    600.0
    """
    start = _met_seconds(observation, t_start, "t_start")
    stop = _met_seconds(observation, t_stop, "t_stop")
    if not start < stop:
        raise GeometryError(f"select_time: need t_start < t_stop, got {start} and {stop} (s)")
    if observation.time_interval is not None:
        start = max(start, float(observation.time_interval[0]))
        stop = min(stop, float(observation.time_interval[1]))
        stop = max(stop, start)  # disjoint: an empty interval, no events and no GTI left
    return replace(observation, time_interval=(start, stop))
