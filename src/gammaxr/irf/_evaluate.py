"""``evaluate``: the one public name for evaluating any IRF at given coordinates."""

from __future__ import annotations

from typing import Any

import xarray as xr

from gammaxr.conventions import RAD
from gammaxr.exceptions import DimensionError
from gammaxr.irf._interpolate import interpolate
from gammaxr.irf.psf import evaluate_psf

__all__ = ["evaluate"]


def evaluate(
    irf: xr.DataArray | xr.Dataset, /, *, fill_value: float | None = None, **coords: Any
) -> xr.DataArray:
    """Evaluate an IRF at given coordinates.

    Parameters
    ----------
    irf : xarray.DataArray or xarray.Dataset
        An IRF table (aeff, edisp, PSF table, background, RAD_MAX): it is
        interpolated with :func:`gammaxr.irf.interpolate`. A Dataset of
        parametric PSF parameters (``psf_3gauss``, ``psf_king``) is evaluated
        with :func:`gammaxr.irf.psf.evaluate_psf` and needs ``rad``.
    fill_value : float, optional
        ``None`` (default) clamps coordinates to the outermost nodes; a number
        (e.g. ``np.nan``) is returned outside them.
    **coords : xarray.DataArray, array-like or scalar
        Dim name -> where to evaluate (units of the IRF's coordinates: TeV,
        deg), broadcast by dim name; dims not given stay as they are.

    Returns
    -------
    xarray.DataArray
        The IRF values, with its ``units``.

    Raises
    ------
    DimensionError
        If a parametric PSF is evaluated without ``rad``, or see
        :func:`gammaxr.irf.interpolate`.

    Examples
    --------
    >>> import gammaxr as gx
    >>> from gammaxr.irf import evaluate
    >>> bkg = gx.open_datastore().observation(23523).bkg
    >>> evaluate(bkg, energy=1.0, fov_lon=0.0, fov_lat=0.0).attrs["units"]
    'MeV-1 s-1 sr-1'
    """
    if isinstance(irf, xr.DataArray):
        return interpolate(irf, fill_value=fill_value, **coords)
    if RAD not in coords:
        raise DimensionError("evaluate: a parametric PSF needs rad= (deg) to be evaluated")
    return evaluate_psf(irf, rad=coords.pop(RAD), fill_value=fill_value, **coords)
