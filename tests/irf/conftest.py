"""Fixtures for the IRF tests: small synthetic IRFs built in code, and a dask guard."""

from __future__ import annotations

import contextlib

import dask
import numpy as np
import pytest
import xarray as xr

import gammaxr as gx


@contextlib.contextmanager
def _raise_if_dask_computes():
    def scheduler(*args, **kwargs):
        raise AssertionError("a dask graph was computed; the result should stay lazy")

    with dask.config.set(scheduler=scheduler):
        yield


def _node_axis(values, *, name: str, units: str = "deg", interp: str = "lin") -> xr.DataArray:
    values = np.asarray(values, dtype=float)
    attrs = {"units": units, "interp": interp}
    return xr.DataArray(values, dims=name, coords={name: (name, values, attrs)}, attrs=attrs)


def _make_irf(*axes: xr.DataArray, values=None, units: str = "m2", rng=0) -> xr.DataArray:
    if values is None:
        values = np.random.default_rng(rng).uniform(1, 2, [axis.size for axis in axes])
    coords = {name: coord for axis in axes for name, coord in axis.coords.items()}
    dims = [axis.dims[0] for axis in axes]
    return xr.DataArray(values, dims=dims, coords=coords, name="irf", attrs={"units": units})


@pytest.fixture
def raise_if_dask_computes():
    """Context manager that fails if anything inside it computes a dask graph."""
    return _raise_if_dask_computes


@pytest.fixture
def node_axis():
    """Factory: a node axis (no edges), as read from GADF columns with equal _LO and _HI."""
    return _node_axis


@pytest.fixture
def make_irf():
    """Factory: an IRF DataArray on the given axes (random values in [1, 2) by default)."""
    return _make_irf


@pytest.fixture
def energy_true_axis() -> xr.DataArray:
    return gx.energy_axis(0.1, 100, per_decade=4, name="energy_true")


@pytest.fixture
def offset_nodes() -> xr.DataArray:
    return _node_axis([0.0, 0.5, 1.0, 1.5, 2.5], name="offset")


@pytest.fixture
def aeff(energy_true_axis, offset_nodes) -> xr.DataArray:
    """Random effective area on a binned log energy_true axis and offset nodes."""
    return _make_irf(energy_true_axis, offset_nodes)
