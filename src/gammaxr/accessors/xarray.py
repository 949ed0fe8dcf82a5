"""``DataArray.gp`` and ``Dataset.gp``: thin delegates to gammaxr functions."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from gammaxr import axes as _axes
from gammaxr import conventions as _conventions
from gammaxr import irf as _irf
from gammaxr import maps as _maps
from gammaxr import stacking as _stacking
from gammaxr.io import dataset_store as _dataset_store

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

    def reproject(self, target, *, method=None, oversample=None, fill_value=None):
        """Reproject onto another sky grid (see :func:`gammaxr.maps.reproject`)."""
        return _maps.reproject(
            self._obj, target, method=method, oversample=oversample, fill_value=fill_value
        )

    def interpolate(self, *, fill_value: float | None = None, **coords) -> xr.DataArray:
        """Evaluate an IRF at coordinates (see :func:`gammaxr.irf.interpolate`)."""
        return _irf.interpolate(self._obj, fill_value=fill_value, **coords)

    def containment(self, rad_max, *, fill_value: float | None = None, **coords) -> xr.DataArray:
        """PSF containment within ``rad_max`` deg (see :func:`gammaxr.irf.containment`)."""
        return _irf.containment(self._obj, rad_max, fill_value=fill_value, **coords)

    def containment_radius(
        self, fraction, *, fill_value: float | None = None, **coords
    ) -> xr.DataArray:
        """PSF radius containing ``fraction``, deg (see :func:`gammaxr.irf.containment_radius`)."""
        return _irf.containment_radius(self._obj, fraction, fill_value=fill_value, **coords)

    def migration_matrix(
        self, energy_true: xr.DataArray, energy: xr.DataArray, **coords
    ) -> xr.DataArray:
        """Energy-dispersion migration matrix (see :func:`gammaxr.irf.migration_matrix`)."""
        return _irf.migration_matrix(self._obj, energy_true, energy, **coords)

    def plot(self, ax=None, **kwargs):
        """Plot a sky map with matplotlib (see :func:`gammaxr.plotting.plot`)."""
        from gammaxr.plotting import plot

        return plot(self._obj, ax=ax, **kwargs)


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

    def reproject(self, target, *, method=None, oversample=None, fill_value=None):
        """Reproject onto another sky grid (see :func:`gammaxr.maps.reproject`)."""
        return _maps.reproject(
            self._obj, target, method=method, oversample=oversample, fill_value=fill_value
        )

    def evaluate_psf(self, *, rad, fill_value: float | None = None, **coords) -> xr.DataArray:
        """Evaluate a parametric PSF, sr-1 (see :func:`gammaxr.irf.evaluate_psf`)."""
        return _irf.evaluate_psf(self._obj, rad=rad, fill_value=fill_value, **coords)

    def containment(self, rad_max, *, fill_value: float | None = None, **coords) -> xr.DataArray:
        """PSF containment within ``rad_max`` deg (see :func:`gammaxr.irf.containment`)."""
        return _irf.containment(self._obj, rad_max, fill_value=fill_value, **coords)

    def containment_radius(
        self, fraction, *, fill_value: float | None = None, **coords
    ) -> xr.DataArray:
        """PSF radius containing ``fraction``, deg (see :func:`gammaxr.irf.containment_radius`)."""
        return _irf.containment_radius(self._obj, fraction, fill_value=fill_value, **coords)

    def stack(self, *, dim: str = "obs_id") -> xr.Dataset:
        """Stack the joint form over observations (see :func:`gammaxr.stack`)."""
        return _stacking.stack(self._obj, dim=dim)

    def to_image(self) -> xr.Dataset:
        """Sum over reco energy within the safe mask (see :func:`gammaxr.maps.to_image`)."""
        return _maps.to_image(self._obj)

    def resample_energy(self, energy_edges=None) -> xr.Dataset:
        """Group the reco-energy bins (see :func:`gammaxr.maps.resample_energy`)."""
        return _maps.resample_energy(self._obj, energy_edges)

    def write(self, path, *, format=None):
        """Write losslessly to NetCDF or Zarr (see :func:`gammaxr.write_dataset`)."""
        return _dataset_store.write_dataset(self._obj, path, format=format)

    def fit(self, models, **options):
        """Fit models to this dataset by maximum likelihood (see :func:`gammaxr.fit`)."""
        from gammaxr.fit import fit

        return fit(self._obj, models, **options)

    def fold(self, model, **options) -> xr.DataArray:
        """Predicted counts of one source (see :func:`gammaxr.models.fold`)."""
        from gammaxr.models.npred import fold

        return fold(self._obj, model, **options)

    def npred(self, models, **options) -> xr.DataArray:
        """Predicted counts: background plus sources (see :func:`gammaxr.models.npred`)."""
        from gammaxr.models.npred import npred

        return npred(self._obj, models, **options)

    def sed(self, sed_type: str = "dnde") -> xr.Dataset:
        """Flux points as one SED type (see :func:`gammaxr.estimators.sed_quantities`)."""
        from gammaxr.estimators.flux_points import sed_quantities

        return sed_quantities(self._obj, sed_type)

    def plot(self, ax=None, **kwargs):
        """Plot flux points, a light curve, ... by content (see :func:`gammaxr.plotting.plot`)."""
        from gammaxr.plotting import plot

        return plot(self._obj, ax=ax, **kwargs)
