"""GADF EVENTS and GTI HDUs as pandas DataFrames."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import astropy.units as u
import numpy as np
import pandas as pd
from astropy.time import Time

from gammaxr.conventions import parse_unit
from gammaxr.exceptions import ColumnError, FormatError, UnitError
from gammaxr.io._fits import FitsTable, Header, column, read_table, snake_case
from gammaxr.io._fits import read_header as _read_header
from gammaxr.sky.pointing import Pointing

__all__ = ["read_events", "read_gti", "read_header", "read_pointing"]

REQUIRED_EVENT_COLUMNS = ("EVENT_ID", "TIME", "RA", "DEC", "ENERGY")

# Columns converted to a canonical unit on reading; others keep the file's unit.
CANONICAL_UNITS = {
    "ENERGY": "TeV",
    "TIME": "s",
    "RA": "deg",
    "DEC": "deg",
    "DETX": "deg",
    "DETY": "deg",
    "ALT": "deg",
    "AZ": "deg",
    "GLON": "deg",
    "GLAT": "deg",
    "THETA": "deg",
}

# Header keywords copied into events.attrs (snake_case), when present.
HEADER_KEYWORDS = (
    "OBS_ID", "TELESCOP", "INSTRUME", "OBJECT", "RA_OBJ", "DEC_OBJ", "RA_PNT", "DEC_PNT",
    "ALT_PNT", "AZ_PNT", "OBS_MODE", "ONTIME", "LIVETIME", "DEADC", "TSTART", "TSTOP",
    "MJDREFI", "MJDREFF", "TIMESYS", "TIMEREF", "TIMEUNIT", "GEOLON", "GEOLAT", "ALTITUDE",
    "N_TELS", "TELLIST", "EV_CLASS", "MUONEFF", "CREATOR", "HDUVERS",
)  # fmt: skip


def _where(path: Path | str, hdu: FitsTable) -> str:
    return f"{path}, HDU {hdu.name!r}"


def _time_unit(header: Header, where: str) -> str:
    """The unit of times in an HDU (``TIMEUNIT``, seconds when absent)."""
    text = str(header.get("TIMEUNIT", "s")).strip() or "s"
    unit = parse_unit(text, where=f"{where}, keyword 'TIMEUNIT'")
    if not unit.is_equivalent(u.s):
        raise UnitError(f"{where}: TIMEUNIT {text!r} is not a unit of time")
    return text


def _met_seconds(header: Header, key: str, where: str) -> float:
    """A header time (``TSTART``, ``TSTOP``, ...) in s, from its ``TIMEUNIT``."""
    factor = parse_unit(_time_unit(header, where)).to(u.s)
    return float(header[key]) * factor


def _time_reference_mjd(header: Header, where: str) -> float:
    if "MJDREFI" in header:
        return float(header["MJDREFI"]) + float(header.get("MJDREFF", 0.0))
    if "MJDREF" in header:
        return float(header["MJDREF"])
    raise FormatError(f"{where}: no MJDREFI/MJDREFF or MJDREF keyword (time reference)")


def read_events(path: str | Path, hdu: str | int = "EVENTS", *, gti_hdu: str | None = "GTI"):
    """Read a GADF event list into a DataFrame.

    Parameters
    ----------
    path : str or Path
        FITS file holding the events.
    hdu : str or int
        Name or index of the EVENTS HDU.
    gti_hdu : str or None
        Name of the GTI HDU in the same file, copied into ``attrs["gti"]``
        (``None`` to skip; a missing GTI HDU then falls back to one interval
        ``[TSTART, TSTOP]``, recorded in ``attrs["gti_source"]``).

    Returns
    -------
    pandas.DataFrame
        One row per event. Columns in snake_case: ``event_id``, ``time`` (s
        since the time reference, TT), ``ra`` (deg, ICRS, in [0, 360)),
        ``dec`` (deg, ICRS), ``energy``
        (TeV), plus every other scalar column of the file (angles in deg).
        ``attrs`` holds ``obs_id``, the pointing (``ra_pnt``, ``dec_pnt``,
        ``alt_pnt``, ``az_pnt``), ``livetime``, ``ontime``, ``deadc`` (s, s,
        fraction), ``tstart``/``tstop`` (s), ``mjdref`` (d), ``timesys``,
        ``time_start``/``time_stop`` (ISO UTC strings), ``gti`` (list of
        ``(start, stop)`` pairs in s) and ``units`` (column -> unit). A time
        column without TUNIT, and ``TSTART``/``TSTOP``, are in ``TIMEUNIT``.
        ``ontime`` and ``deadc`` are the header's; only when it lacks them are
        they derived (``TSTOP - TSTART``, ``LIVETIME / ONTIME``).
    """
    path = Path(path)
    table = read_table(path, hdu)
    where = _where(path, table)
    header = table.header
    names = [name.upper() for name in table.names]
    missing = [name for name in REQUIRED_EVENT_COLUMNS if name not in names]
    if missing:
        raise ColumnError(f"{where}: missing event columns {missing}; it has {names}")
    attrs = _event_attrs(header, where)
    time_unit = _time_unit(header, where)
    data: dict[str, np.ndarray] = {}
    units: dict[str, str] = {}
    for name, col in zip(names, table.columns, strict=True):
        if col.shape != ():
            continue  # vector columns (e.g. per-telescope arrays) are not tabular
        key = snake_case(name)
        target = CANONICAL_UNITS.get(name)
        default = time_unit if name == "TIME" else None
        values = column(table, name, where=where, unit=target, default_unit=default)
        if values.dtype.kind == "S":
            values = np.char.strip(np.char.decode(values, "ascii")).astype(object)
        if name == "RA":
            values = _wrap_ra(values)
        data[key] = values
        if target is not None:
            units[key] = target
        elif col.unit and str(col.unit).strip():
            unit = parse_unit(col.unit, where=f"{where}, column {name!r}")
            units[key] = unit.to_string("fits")
    gti = None
    if gti_hdu is not None:
        try:
            gti_table = read_table(path, gti_hdu)
        except LookupError:
            gti_table = None
        if gti_table is not None:
            gti = _gti_frame(gti_table, _where(path, gti_table))
    events = pd.DataFrame(data, copy=False)  # the arrays are fresh copies already
    attrs["units"] = units
    if gti is not None:
        attrs["gti"] = [tuple(row) for row in gti[["start", "stop"]].to_numpy().tolist()]
        attrs["gti_source"] = "GTI HDU"
    else:
        attrs["gti"] = [(attrs["tstart"], attrs["tstop"])]
        attrs["gti_source"] = "TSTART/TSTOP"
    events.attrs.update(attrs)
    return events


def _wrap_ra(ra: np.ndarray) -> np.ndarray:
    """Right ascensions in [0, 360) deg (some files, e.g. CTA 1DC, use [-180, 180))."""
    full_turn = np.asarray(360.0, dtype=ra.dtype)
    if ra.size and ra.min() >= -full_turn and ra.max() < full_turn:
        # Within one turn of the range, mod is adding a turn to the negative values
        # (the same float operation numpy's mod does there), without the division.
        ra = np.where(ra < 0, ra + full_turn, ra)
    else:
        ra = np.mod(ra, full_turn)
    # In float32 a tiny negative angle wraps to exactly 360.
    return np.where(ra >= full_turn, ra - full_turn, ra)


def _event_attrs(header: Header, where: str) -> dict:
    attrs: dict = {}
    for key in HEADER_KEYWORDS:
        if key in header:
            value = header[key]
            attrs[snake_case(key)] = value.strip() if isinstance(value, str) else value
    for key in ("OBS_ID", "TSTART", "TSTOP", "RA_PNT", "DEC_PNT", "LIVETIME"):
        if key not in header:
            raise FormatError(f"{where}: missing header keyword {key!r}")
    attrs["obs_id"] = int(header["OBS_ID"])
    for key in ("TSTART", "TSTOP", "ONTIME"):
        if key in header:
            attrs[key.lower()] = _met_seconds(header, key, where)
    attrs["livetime"] = float(header["LIVETIME"])
    if "ontime" not in attrs:
        attrs["ontime"] = attrs["tstop"] - attrs["tstart"]
    if "deadc" in attrs:
        attrs["deadc"] = float(attrs["deadc"])
    elif attrs["ontime"] > 0:
        attrs["deadc"] = attrs["livetime"] / attrs["ontime"]
    else:
        raise FormatError(f"{where}: no DEADC keyword and ONTIME is {attrs['ontime']}")
    mjdref = _time_reference_mjd(header, where)
    attrs["mjdref"] = mjdref
    timesys = str(header.get("TIMESYS", "TT")).strip().lower()
    if timesys not in Time.SCALES:
        raise FormatError(f"{where}: TIMESYS {timesys.upper()!r} is not a known time scale")
    attrs["timesys"] = timesys
    for key, met in (("time_start", attrs["tstart"]), ("time_stop", attrs["tstop"])):
        time = Time(mjdref, met / 86400.0, format="mjd", scale=timesys)
        attrs[key] = time.utc.isot
    return attrs


def _gti_frame(table: FitsTable, where: str) -> pd.DataFrame:
    # START/STOP without TUNIT (as in CTA 1DC files) are in the table's TIMEUNIT.
    time_unit = _time_unit(table.header, where)
    start = column(table, "START", where=where, unit="s", default_unit=time_unit)
    stop = column(table, "STOP", where=where, unit="s", default_unit=time_unit)
    if np.any(stop < start):
        raise FormatError(f"{where}: GTI with STOP before START")
    frame = pd.DataFrame({"start": start.astype(float), "stop": stop.astype(float)})
    header = table.header
    frame.attrs["mjdref"] = _time_reference_mjd(header, where)
    frame.attrs["timesys"] = str(header.get("TIMESYS", "TT")).strip().lower()
    frame.attrs["units"] = {"start": "s", "stop": "s"}
    return frame


def read_gti(path: str | Path, hdu: str | int = "GTI") -> pd.DataFrame:
    """Read a GADF GTI table.

    Returns
    -------
    pandas.DataFrame
        Columns ``start`` and ``stop`` (s since the time reference; without
        TUNIT they are read in the table's ``TIMEUNIT``); ``attrs`` holds
        ``mjdref`` (d) and ``timesys``.
    """
    path = Path(path)
    table = read_table(path, hdu)
    return _gti_frame(table, _where(path, table))


def read_pointing(path: str | Path, hdu: str | int = "EVENTS") -> Pointing:
    """Read the pointing of an observation from the header of its EVENTS HDU.

    Returns
    -------
    Pointing
        RADEC from ``RA_PNT``/``DEC_PNT``; ALTAZ from ``ALT_PNT``/``AZ_PNT`` when present.
    """
    path = Path(path)
    header = _read_header(path, hdu)
    return pointing_from_header(header, _hdu_where(path, header, hdu))


def _hdu_where(path: Path, header: Header, hdu: str | int) -> str:
    name = header.get("EXTNAME", hdu if isinstance(hdu, str) else "PRIMARY")
    return f"{path}, HDU {str(name).strip()!r}"


def pointing_from_header(header: Mapping, where: str) -> Pointing:
    """Build a :class:`Pointing` from GADF header keywords."""
    for key in ("RA_PNT", "DEC_PNT"):
        if key not in header:
            raise FormatError(f"{where}: missing pointing keyword {key!r}")
    return Pointing(
        ra=float(header["RA_PNT"]),
        dec=float(header["DEC_PNT"]),
        alt=float(header.get("ALT_PNT", math.nan)),
        az=float(header.get("AZ_PNT", math.nan)),
        mode=str(header.get("OBS_MODE", "")).strip(),
    )


def read_header(path: str | Path, hdu: str | int = "EVENTS") -> dict:
    """The header of one HDU as a plain dict (keyword -> value), without reading data."""
    return dict(_read_header(Path(path), hdu))
