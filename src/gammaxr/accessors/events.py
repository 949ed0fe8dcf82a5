"""``DataFrame.gp``: event-list verbs that pandas does not know."""

from __future__ import annotations

import pandas as pd

from gammaxr.data import events as _events

__all__ = ["EventsAccessor"]


@pd.api.extensions.register_dataframe_accessor("gp")
class EventsAccessor:
    """Event-list methods under ``events.gp``; each calls a function of :mod:`gammaxr.data`."""

    def __init__(self, obj: pd.DataFrame) -> None:
        self._obj = obj

    @property
    def offset(self) -> pd.Series:
        """Offset of each event from the pointing, deg."""
        return _events.event_offset(self._obj)

    def sky_coords(self, frame: str = "icrs"):
        """Event positions ``(lon, lat)`` in deg, in ``frame``."""
        return _events.event_sky_coords(self._obj, frame)

    def select_energy(self, e_min: float, e_max: float) -> pd.DataFrame:
        """Events with ``e_min <= energy < e_max`` (TeV)."""
        return _events.select_energy(self._obj, e_min, e_max)

    def select_time(self, t_start: float, t_stop: float) -> pd.DataFrame:
        """Events in ``[t_start, t_stop)`` (s since the time reference); GTI clipped."""
        return _events.select_time(self._obj, t_start, t_stop)

    def select_offset(self, offset_min: float, offset_max: float) -> pd.DataFrame:
        """Events with offset in ``[offset_min, offset_max)`` deg."""
        return _events.select_offset(self._obj, offset_min, offset_max)

    def select_region(self, region) -> pd.DataFrame:
        """Events inside a sky region."""
        return _events.select_region(self._obj, region)

    def bin(self, geom, *, region=None):
        """Counts on a geometry (see :func:`gammaxr.bin_events`)."""
        return _events.bin_events(self._obj, geom, region=region)
