"""``DataArray.gp`` and ``Dataset.gp``: thin delegates to gammaxr functions."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from gammaxr import axes as _axes
from gammaxr import conventions as _conventions

if TYPE_CHECKING:
    import astropy.units as u

__all__ = ["DataArrayAccessor", "DatasetAccessor"]


@xr.register_dataarray_accessor("gp")
class DataArrayAccessor:
    """gammaxr methods on DataArrays (maps, IRFs, axes); each delegates to a function."""

    def __init__(self, obj: xr.DataArray) -> None:
        self._obj = obj

    @property
    def quantity(self) -> u.Quantity:
        """The values as an astropy Quantity, unit from ``attrs["units"]`` (loads the data)."""
        return _axes.quantity(self._obj)

    def edges(self, dim: str) -> np.ndarray:
        """Bin edges of ``dim`` from its ``_lo``/``_hi`` coordinates."""
        return _conventions.edges(self._obj, dim)

    def solid_angle(self) -> xr.DataArray:
        """Exact solid angle of each sky pixel, sr, dims ``(lat, lon)``."""
        return _axes.solid_angle(self._obj)


@xr.register_dataset_accessor("gp")
class DatasetAccessor:
    """gammaxr methods on Datasets (geometries, datasets, parametric IRFs)."""

    def __init__(self, obj: xr.Dataset) -> None:
        self._obj = obj

    def edges(self, dim: str) -> np.ndarray:
        """Bin edges of ``dim`` from its ``_lo``/``_hi`` coordinates."""
        return _conventions.edges(self._obj, dim)

    def solid_angle(self) -> xr.DataArray:
        """Exact solid angle of each sky pixel, sr, dims ``(lat, lon)``."""
        return _axes.solid_angle(self._obj)
