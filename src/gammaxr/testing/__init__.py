"""Helpers for testing code that uses gammaxr: synthetic data factories.

:mod:`gammaxr.testing.gadf` writes small GADF DL3 files (IRFs, event lists,
whole data stores) with known content.
"""

from gammaxr.testing.gadf import (
    IRF_LAYOUTS,
    SyntheticDataStore,
    SyntheticEvents,
    SyntheticIRF,
    write_datastore,
    write_event_file,
    write_irf_file,
)

__all__ = [
    "IRF_LAYOUTS",
    "SyntheticDataStore",
    "SyntheticEvents",
    "SyntheticIRF",
    "write_datastore",
    "write_event_file",
    "write_irf_file",
]
