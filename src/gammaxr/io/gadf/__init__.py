"""The GADF (gamma-astro-data-formats) DL3 FITS layout: the only place its keywords live."""

from gammaxr.io.gadf.events import read_events, read_gti, read_pointing
from gammaxr.io.gadf.index import read_hdu_index, read_obs_index
from gammaxr.io.gadf.irf import IRF_CLASSES, read_irf

__all__ = [
    "IRF_CLASSES",
    "read_events",
    "read_gti",
    "read_hdu_index",
    "read_irf",
    "read_obs_index",
    "read_pointing",
]
