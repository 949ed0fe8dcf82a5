"""Readers and writers: GADF FITS (events, GTI, IRFs, index tables)."""

from gammaxr.io.gadf import (
    read_events,
    read_gti,
    read_hdu_index,
    read_irf,
    read_obs_index,
    read_pointing,
)

__all__ = [
    "read_events",
    "read_gti",
    "read_hdu_index",
    "read_irf",
    "read_obs_index",
    "read_pointing",
]
