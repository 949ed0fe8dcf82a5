"""Plots of gammaxr products with matplotlib (imported only when a plot is drawn).

Each product has its function, and :func:`plot` (``obj.gp.plot()``) picks one
by content:

========================================  =======================================
content                                   plot
========================================  =======================================
``norm`` and a ``time`` dim               :func:`plot_light_curve`
``norm`` and a ``region`` dim             :func:`plot_profile`
``stat_scan`` (with ``kind="scan"``)      :func:`plot_scan`
``norm`` on ``energy``                    :func:`plot_sed`
``e2dnde`` and ``criterion``              :func:`plot_sensitivity`
a DataArray on ``(lat, lon)``             :func:`plot_sky_map`
========================================  =======================================
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import xarray as xr

from gammaxr.conventions import ENERGY, LAT, LON, TIME
from gammaxr.exceptions import ConfigError, FormatError
from gammaxr.plotting._sed import plot_model_sed, plot_scan, plot_sed, plot_sensitivity
from gammaxr.plotting._series import REGION, plot_light_curve, plot_profile
from gammaxr.plotting._sky import plot_regions, plot_sky_map, region_outlines

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "KINDS",
    "plot",
    "plot_kind",
    "plot_light_curve",
    "plot_model_sed",
    "plot_profile",
    "plot_regions",
    "plot_scan",
    "plot_sed",
    "plot_sensitivity",
    "plot_sky_map",
    "region_outlines",
]

#: The plot functions by ``kind``.
KINDS = {
    "sed": plot_sed,
    "scan": plot_scan,
    "light_curve": plot_light_curve,
    "profile": plot_profile,
    "sensitivity": plot_sensitivity,
    "sky_map": plot_sky_map,
}


def plot_kind(obj: xr.Dataset | xr.DataArray) -> str:
    """The kind of plot :func:`plot` draws for ``obj`` (a key of :data:`KINDS`).

    Raises
    ------
    FormatError
        If nothing fits.
    """
    if isinstance(obj, xr.DataArray):
        if LAT in obj.dims and LON in obj.dims:
            return "sky_map"
        raise FormatError(
            f"plot: a DataArray is plotted as a sky map and needs lat and lon dims, got "
            f"{obj.dims}; use xarray's own .plot for other arrays"
        )
    if not isinstance(obj, xr.Dataset):
        raise FormatError(f"plot: expected an xarray Dataset or DataArray, got {type(obj)}")
    if "norm" in obj:
        dims = obj["norm"].dims
        if TIME in dims:
            return "light_curve"
        if REGION in dims:
            return "profile"
        if ENERGY in dims or ENERGY in obj.coords:
            return "sed"
    if "criterion" in obj and "e2dnde" in obj:
        return "sensitivity"
    raise FormatError(
        "plot: cannot tell what this Dataset holds (flux points need 'norm' on 'energy', a light "
        "curve a 'time' dim, a profile a 'region' dim, a sensitivity 'e2dnde' and 'criterion'); "
        f"it has {list(obj.data_vars)}. Pick a variable for a sky map, or pass kind="
    )


def plot(
    obj: xr.Dataset | xr.DataArray, ax: Axes | None = None, *, kind: str | None = None, **kwargs
) -> Axes:
    """Plot a gammaxr product, choosing the plot by its content (see the module table).

    Parameters
    ----------
    obj : xarray.Dataset or xarray.DataArray
        Flux points, a light curve, a profile, a sensitivity curve, or a sky map.
    ax : matplotlib.axes.Axes, optional
        Where to draw (default the current axes).
    kind : str, optional
        Force a plot: one of :data:`KINDS` (``"scan"`` for the likelihood scans
        of flux points).
    **kwargs
        Passed to the plot function.

    Returns
    -------
    matplotlib.axes.Axes
    """
    if kind is None:
        kind = plot_kind(obj)
    if kind not in KINDS:
        raise ConfigError(f"plot: kind must be one of {list(KINDS)}, got {kind!r}")
    function: Any = KINDS[kind]
    return function(obj, ax=ax, **kwargs)
