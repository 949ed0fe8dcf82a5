"""Event selection and binning on pandas event tables.

Selections return new DataFrames (inputs are never changed) whose ``attrs``
describe what is left: time selections clip ``attrs["gti"]`` and recompute the
live time in proportion (the dead-time fraction of a run is taken as constant).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
from astropy.time import Time
from regions import CompoundSkyRegion, Regions, SkyRegion

from gammaxr.axes import sky_frame
from gammaxr.conventions import ENERGY, LAT, LON, edges
from gammaxr.exceptions import ColumnError, DimensionError, GeometryError
from gammaxr.sky.frames import transform_lonlat
from gammaxr.sky.regions import as_region_list, contains, region_to_string
from gammaxr.sky.separation import angular_separation

__all__ = [
    "bin_events",
    "event_offset",
    "event_sky_coords",
    "select_energy",
    "select_offset",
    "select_region",
    "select_time",
]


def _require_columns(events: pd.DataFrame, names: tuple[str, ...], what: str) -> None:
    missing = [name for name in names if name not in events.columns]
    if missing:
        raise ColumnError(f"{what}: events lack columns {missing}; they have {list(events)}")


def event_sky_coords(events: pd.DataFrame, frame: str = "icrs") -> tuple[np.ndarray, np.ndarray]:
    """Event positions ``(lon, lat)`` in deg, in ``frame`` (``icrs`` or ``galactic``)."""
    _require_columns(events, ("ra", "dec"), "event_sky_coords")
    ra = events["ra"].to_numpy(dtype=float)
    dec = events["dec"].to_numpy(dtype=float)
    if frame not in ("icrs", "galactic"):
        raise GeometryError(f"unknown sky frame {frame!r}; expected 'icrs' or 'galactic'")
    return transform_lonlat(ra, dec, "icrs", frame)


def event_offset(events: pd.DataFrame) -> pd.Series:
    """Angular distance of each event from the pointing, deg (pointing from ``attrs``)."""
    _require_columns(events, ("ra", "dec"), "event_offset")
    for key in ("ra_pnt", "dec_pnt"):
        if key not in events.attrs:
            raise ColumnError(f"event_offset: events.attrs lacks the pointing {key!r}")
    offset = angular_separation(
        events.attrs["ra_pnt"],
        events.attrs["dec_pnt"],
        events["ra"].to_numpy(dtype=float),
        events["dec"].to_numpy(dtype=float),
    )
    return pd.Series(offset, index=events.index, name="offset")


def select_energy(events: pd.DataFrame, e_min: float, e_max: float) -> pd.DataFrame:
    """Events with ``e_min <= energy < e_max`` (TeV)."""
    _require_columns(events, ("energy",), "select_energy")
    energy = events["energy"]
    return events[(energy >= e_min) & (energy < e_max)]


def select_offset(events: pd.DataFrame, offset_min: float, offset_max: float) -> pd.DataFrame:
    """Events with ``offset_min <= offset < offset_max`` from the pointing (deg)."""
    offset = event_offset(events)
    return events[(offset >= offset_min) & (offset < offset_max)]


def select_region(events: pd.DataFrame, region: SkyRegion | Regions | str) -> pd.DataFrame:
    """Events inside a sky region (a region, a union of regions or a DS9 string).

    Each shape is tested in its own frame (``galactic`` for galactic regions,
    ``icrs`` otherwise), so a rectangle or ellipse keeps its orientation
    whatever the frame of the other parts of a compound region.
    """
    positions: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def position(frame: str) -> tuple[np.ndarray, np.ndarray]:
        if frame not in positions:
            positions[frame] = event_sky_coords(events, frame)
        return positions[frame]

    inside = np.zeros(len(events), dtype=bool)
    for item in as_region_list(region):
        inside |= _contains(item, position)
    return events[inside]


def _contains(region: SkyRegion, position) -> np.ndarray:
    """Whether each event is in ``region``; ``position(frame)`` gives event lon/lat."""
    if isinstance(region, CompoundSkyRegion):
        first = _contains(region.region1, position)
        second = _contains(region.region2, position)
        return np.asarray(region.operator(first, second), dtype=bool)
    frame = _region_frame(region)
    lon, lat = position(frame)
    return contains(region, lon, lat, frame)


def _region_frame(region: SkyRegion) -> str:
    """``galactic`` for a region defined in galactic coordinates, else ``icrs``."""
    coord = getattr(region, "center", None)
    if coord is None:
        coord = getattr(region, "vertices", None)
    if coord is None:
        return "icrs"
    return "galactic" if coord.frame.name == "galactic" else "icrs"


def select_time(events: pd.DataFrame, t_start: float, t_stop: float) -> pd.DataFrame:
    """Events with ``t_start <= time < t_stop`` (s since the time reference).

    ``attrs["gti"]`` is clipped to the interval; ``livetime`` and ``ontime``
    are recomputed from the clipped GTI (live time scaled by ``deadc``), and
    ``tstart`` / ``tstop`` (with their ISO forms ``time_start`` / ``time_stop``)
    follow the clipped GTI.
    """
    _require_columns(events, ("time",), "select_time")
    if not t_start < t_stop:
        raise GeometryError(f"select_time: need t_start < t_stop, got {t_start}, {t_stop}")
    time = events["time"]
    selected = events[(time >= t_start) & (time < t_stop)]
    attrs = dict(events.attrs)
    if "gti" in attrs:
        gti = np.asarray(attrs["gti"], dtype=float).reshape(-1, 2)
        start = np.clip(gti[:, 0], t_start, t_stop)
        stop = np.clip(gti[:, 1], t_start, t_stop)
        keep = stop > start
        attrs["gti"] = [tuple(pair) for pair in np.column_stack([start, stop])[keep].tolist()]
        ontime = float(np.sum(stop[keep] - start[keep]))
        attrs["ontime"] = ontime
        if "deadc" in attrs:
            attrs["livetime"] = ontime * float(attrs["deadc"])
        attrs["tstart"] = float(start[keep].min()) if keep.any() else float(t_start)
        attrs["tstop"] = float(stop[keep].max()) if keep.any() else float(t_start)
        _update_iso_times(attrs)
    selected = selected.copy()
    selected.attrs = attrs
    return selected


def _update_iso_times(attrs: dict) -> None:
    """Recompute ``time_start`` / ``time_stop`` (ISO UTC) from ``tstart`` / ``tstop``."""
    if "mjdref" not in attrs:
        attrs.pop("time_start", None)
        attrs.pop("time_stop", None)
        return
    scale = str(attrs.get("timesys", "tt")).lower()
    for key, met in (("time_start", attrs["tstart"]), ("time_stop", attrs["tstop"])):
        time = Time(float(attrs["mjdref"]), float(met) / 86400.0, format="mjd", scale=scale)
        attrs[key] = time.utc.isot


def _wrap_longitude(lon: np.ndarray, centre: float) -> np.ndarray:
    """Longitudes moved by whole turns onto the branch ``[centre - 180, centre + 180)``.

    Values already on that branch are returned unchanged, bit for bit, so an
    event exactly on a bin edge stays on it (``(lon - c) % 360 + c`` would
    round about half of them by one ulp).
    """
    turns = np.floor((lon - centre + 180.0) / 360.0)
    return np.where(turns == 0, lon, lon - 360.0 * turns)


#: Up to this many bin edges, :func:`_bin_index` counts the edges below each value
#: (one comparison per edge) instead of searching.
_FEW_EDGES = 24


def _bin_index(values: np.ndarray, bin_edges: np.ndarray) -> np.ndarray:
    """Bin index of each value, -1 outside; bins are [lo, hi) except the last, [lo, hi]."""
    if 2 <= bin_edges.size <= _FEW_EDGES and np.all(np.diff(bin_edges) > 0):
        return _few_edges_bin_index(values, bin_edges)
    index = _regular_bin_index(values, bin_edges)
    if index is None:
        index = np.searchsorted(bin_edges, values, side="right") - 1
    index[values == bin_edges[-1]] = bin_edges.size - 2
    index[(values < bin_edges[0]) | (values > bin_edges[-1]) | ~np.isfinite(values)] = -1
    return index


def _few_edges_bin_index(values: np.ndarray, bin_edges: np.ndarray) -> np.ndarray:
    """:func:`_bin_index` for a few increasing edges: the number of edges <= each value, - 1.

    That count is ``searchsorted(bin_edges, values, "right")`` exactly, and on a
    short axis one comparison per edge is several times faster than the search.
    NaN counts no edge (-1); values at the last edge go to the last bin and values
    above it (or +inf) to -1.
    """
    count = np.zeros(values.shape, dtype=np.int8)
    for edge in bin_edges:
        count += values >= edge
    index = count.astype(np.intp)
    index -= 1
    n_bins = bin_edges.size - 1
    top = np.flatnonzero(index == n_bins)
    if top.size:
        flat = index.reshape(-1)
        flat[top] = np.where(values.reshape(-1)[top] == bin_edges[-1], n_bins - 1, -1)
    return index


def _regular_bin_index(values: np.ndarray, bin_edges: np.ndarray) -> np.ndarray | None:
    """``searchsorted(bin_edges, values, "right") - 1`` for edges evenly spaced in x or log(x).

    The bin is computed arithmetically, moved by one where rounding put it next
    to the right one, and checked against the edges themselves (anything left
    over is searched), so the result is exactly the search's for every value in
    ``[bin_edges[0], bin_edges[-1])``; values outside (and NaN) get any index
    (:func:`_bin_index` overwrites them). None when the edges are not regular.
    """
    n = bin_edges.size - 1
    if n < 2 or values.size < 64:
        return None
    widths = np.diff(bin_edges)
    with np.errstate(divide="ignore", invalid="ignore"):
        if np.all(widths > 0) and np.allclose(widths, widths[0], rtol=1e-6, atol=0):
            position = (values - bin_edges[0]) * (n / (bin_edges[-1] - bin_edges[0]))
        elif bin_edges[0] > 0 and np.allclose(
            np.diff(np.log(bin_edges)), np.log(bin_edges[-1] / bin_edges[0]) / n, rtol=1e-6
        ):
            position = np.log(values / bin_edges[0]) * (n / np.log(bin_edges[-1] / bin_edges[0]))
        else:
            return None
        index = np.clip(np.nan_to_num(np.floor(position), nan=0.0), 0, n - 1).astype(np.intp)
    index -= (values < bin_edges[index]) & (index > 0)
    index += (values >= bin_edges[index + 1]) & (index < n - 1)
    inside = (values >= bin_edges[0]) & (values < bin_edges[-1])
    wrong = inside & ~((bin_edges[index] <= values) & (values < bin_edges[index + 1]))
    if wrong.any():
        index[wrong] = np.searchsorted(bin_edges, values[wrong], side="right") - 1
    return index


def bin_events(
    events: pd.DataFrame,
    geom: xr.DataArray | xr.Dataset,
    *,
    region: SkyRegion | Regions | str | None = None,
) -> xr.DataArray:
    """Bin events into a counts DataArray on a geometry.

    Parameters
    ----------
    events : pandas.DataFrame
        Event list with ``energy`` (TeV) and ``ra``/``dec`` (deg).
    geom : xarray.DataArray or Dataset
        Anything carrying an ``energy`` axis with edges and, for a cube,
        ``lon``/``lat`` axes with edges and a frame (see :func:`gammaxr.make_geom`).
    region : SkyRegion, Regions or str, optional
        Count only the events inside this region; the result has only the
        ``energy`` dim (the geometry's sky axes, if any, are ignored).

    Returns
    -------
    xarray.DataArray
        ``counts`` (int64) with dims ``(energy, lat, lon)`` or ``(energy,)``.
        Bins are closed on the left; the last bin of each axis also includes
        its upper edge (the ``numpy.histogramdd`` convention).
    """
    _require_columns(events, ("energy",), "bin_events")
    if ENERGY not in geom.dims:
        raise DimensionError("bin_events: the geometry has no 'energy' dim")
    energy_edges = edges(geom, ENERGY)
    attrs = {"units": "", "obs_id": events.attrs.get("obs_id", -1)}
    energy_coords = {name: coord for name, coord in geom.coords.items() if coord.dims == (ENERGY,)}
    if region is not None or LON not in geom.dims:
        if region is None:
            raise DimensionError(
                "bin_events: the geometry has no lon/lat dims; give a region for a spectrum"
            )
        inside = select_region(events, region)
        index = _bin_index(inside["energy"].to_numpy(dtype=float), energy_edges)
        counts = np.bincount(index[index >= 0], minlength=energy_edges.size - 1)
        attrs["region"] = region_to_string(region)
        return xr.DataArray(
            counts.astype(np.int64, copy=False),
            dims=(ENERGY,),
            coords=energy_coords,
            name="counts",
            attrs=attrs,
        )
    if LAT not in geom.dims:
        raise DimensionError("bin_events: the geometry has 'lon' but no 'lat' dim")
    counts = _bin_counts(events, geom)
    coords = dict(energy_coords)
    coords.update(
        {name: coord for name, coord in geom.coords.items() if coord.dims in ((LAT,), (LON,))}
    )
    attrs["frame"] = sky_frame(geom)
    return xr.DataArray(counts, dims=(ENERGY, LAT, LON), coords=coords, name="counts", attrs=attrs)


def _bin_counts(events: pd.DataFrame, geom: xr.DataArray | xr.Dataset) -> np.ndarray:
    """Counts of events on a geometry's ``(energy, lat, lon)`` bins, int64 numpy array."""
    _require_columns(events, ("energy",), "bin_events")
    if LAT not in geom.dims or LON not in geom.dims or ENERGY not in geom.dims:
        raise DimensionError(
            f"bin_events: the geometry needs energy, lat and lon dims, got {list(geom.dims)}"
        )
    _require_columns(events, ("ra", "dec"), "bin_events")
    frame = sky_frame(geom)
    energy_edges = edges(geom, ENERGY)
    lon_edges, lat_edges = edges(geom, LON), edges(geom, LAT)
    # Energy first: the sky positions are then converted for the events in range only.
    i_energy = _bin_index(events["energy"].to_numpy(dtype=float), energy_edges)
    keep = i_energy >= 0
    i_energy = i_energy[keep]
    ra = events["ra"].to_numpy(dtype=float)[keep]
    dec = events["dec"].to_numpy(dtype=float)[keep]
    lon, lat = transform_lonlat(ra, dec, "icrs", frame)
    lon = _wrap_longitude(lon, 0.5 * (lon_edges[0] + lon_edges[-1]))
    i_lat = _bin_index(lat, lat_edges)
    i_lon = _bin_index(lon, lon_edges)
    shape = (energy_edges.size - 1, lat_edges.size - 1, lon_edges.size - 1)
    valid = (i_lat >= 0) & (i_lon >= 0)
    flat = np.ravel_multi_index((i_energy[valid], i_lat[valid], i_lon[valid]), shape)
    counts = np.bincount(flat, minlength=int(np.prod(shape))).reshape(shape)
    return counts.astype(np.int64, copy=False)
