"""Fixtures for the reduction tests: the Crab run 23523 on a small geometry."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest
import xarray as xr

import gammaxr as gx
from gammaxr.reduce import SAFE_MASK_METHODS, make_map_dataset

CRAB = (83.633, 22.014)


@pytest.fixture(scope="session")
def geom() -> xr.Dataset:
    """2 x 2 deg at 0.05 deg at the Crab; 0.5-50 TeV (5/decade), true 0.3-100 TeV (8/decade)."""
    return gx.make_geom(
        gx.energy_axis(0.5, 50, per_decade=5),
        gx.energy_axis(0.3, 100, per_decade=8, name="energy_true"),
        sky=gx.sky_grid(CRAB, width=2, binsz=0.05),
    )


@pytest.fixture(scope="session")
def dataset(crab_obs, geom) -> xr.Dataset:
    """The full map dataset of run 23523, every safe-mask method on."""
    return make_map_dataset(crab_obs, geom, safe_mask=list(SAFE_MASK_METHODS))


def gammapy_oriented(bkg: xr.DataArray) -> xr.DataArray:
    """The background as Gammapy 2.1 holds an H.E.S.S. DR1 table: fov_lon reversed.

    ``Observation.bkg`` already gives the standard orientation (see
    ``gammaxr.io.gadf.legacy``); Gammapy keeps the file's longitude and flags it
    ``REVERSE_LON_RADEC``. Both must give the same background.
    """
    lon = bkg["fov_lon"]
    flipped = bkg.isel(fov_lon=slice(None, None, -1))
    return flipped.assign_coords(
        fov_lon=("fov_lon", -lon.values[::-1], lon.attrs),
        fov_lon_lo=("fov_lon", -bkg["fov_lon_hi"].values[::-1], lon.attrs),
        fov_lon_hi=("fov_lon", -bkg["fov_lon_lo"].values[::-1], lon.attrs),
    ).assign_attrs(fovalign="REVERSE_LON_RADEC")


@dataclass(frozen=True)
class FakeObservation:
    """The parts of an Observation the reduction uses, for synthetic IRFs."""

    pointing: gx.Pointing
    aeff: xr.DataArray | None = None
    edisp: xr.DataArray | None = None
    psf: xr.DataArray | None = None
    bkg: xr.DataArray | None = None
    events: object = None
    info: dict = field(default_factory=dict)
    obs_id: int = 1
    livetime: float = 1000.0
    ontime: float = 1200.0
    deadc: float = 1000.0 / 1200.0


def power_law_bkg_2d(amplitude=1e-3, index=2.5, units="MeV-1 s-1 sr-1") -> xr.DataArray:
    """A ``bkg_2d`` rate ``amplitude * E**-index`` (E in TeV), flat in offset out to 3 deg."""
    energy = gx.axis_from_edges(np.geomspace(0.1, 100, 16), name="energy", units="TeV",
                                interp="log")  # fmt: skip
    offset = gx.axis_from_edges(np.linspace(0, 3, 7), name="offset", units="deg")
    values = amplitude * energy.values[:, None] ** -index * np.ones(offset.size)
    coords = {**energy.coords, **offset.coords}
    return xr.DataArray(values, dims=("energy", "offset"), coords=coords, name="bkg",
                        attrs={"units": units, "hdu_class": "bkg_2d"})  # fmt: skip


@pytest.fixture(scope="session")
def gammapy_bkg(crab_obs) -> xr.DataArray:
    """The run's background IRF as Gammapy 2.1 holds it (REVERSE_LON_RADEC)."""
    return gammapy_oriented(crab_obs.bkg)


@pytest.fixture
def fake_observation() -> type[FakeObservation]:
    """The class of minimal observations built from synthetic IRFs."""
    return FakeObservation


@pytest.fixture
def power_law_bkg():
    """Factory of a power-law ``bkg_2d``."""
    return power_law_bkg_2d
