"""Shared fixtures: the shipped example data and the full data sets under GAMMAXR_DATA."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import gammaxr as gx


def gammaxr_data() -> Path | None:
    """The folder named by GAMMAXR_DATA, or None when unset or missing."""
    value = os.environ.get("GAMMAXR_DATA")
    if not value:
        return None
    path = Path(value)
    return path if path.is_dir() else None


def pytest_collection_modifyitems(config, items):
    if gammaxr_data() is not None:
        return
    skip = pytest.mark.skip(
        reason="needs the full data sets: set GAMMAXR_DATA to the shared data folder "
        "(e.g. ../shared/data)"
    )
    for item in items:
        if "requires_data" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The GAMMAXR_DATA folder (tests using it carry @pytest.mark.requires_data)."""
    path = gammaxr_data()
    if path is None:
        pytest.skip("GAMMAXR_DATA is not set")
    return path


@pytest.fixture(scope="session")
def crab_store() -> gx.DataStore:
    """The shipped H.E.S.S. DL3 DR1 Crab runs."""
    return gx.open_datastore()


@pytest.fixture(scope="session")
def crab_obs(crab_store):
    """Observation 23523 of the shipped Crab runs."""
    return crab_store.observation(23523)
