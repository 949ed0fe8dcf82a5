"""Readers and writers: GADF FITS (events, GTI, IRFs, index tables), NetCDF/Zarr datasets."""

from gammaxr.io.dataset_store import read_dataset, write_dataset
from gammaxr.io.gadf import (
    read_events,
    read_gti,
    read_hdu_index,
    read_irf,
    read_obs_index,
    read_pointing,
)
from gammaxr.io.sed import read_flux_points, write_flux_points

__all__ = [
    "read_dataset",
    "read_events",
    "read_flux_points",
    "read_gti",
    "read_hdu_index",
    "read_irf",
    "read_obs_index",
    "read_pointing",
    "write_dataset",
    "write_flux_points",
]
