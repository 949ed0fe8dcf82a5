"""Observations and events: the data store, observations, event selection and binning."""

from gammaxr.data.events import (
    bin_events,
    select_energy,
    select_offset,
    select_region,
    select_time,
)
from gammaxr.data.observation import IRF_TYPES, Observation
from gammaxr.data.store import DataStore, example_data_path, open_datastore

__all__ = [
    "IRF_TYPES",
    "DataStore",
    "Observation",
    "bin_events",
    "example_data_path",
    "open_datastore",
    "select_energy",
    "select_offset",
    "select_region",
    "select_time",
]
