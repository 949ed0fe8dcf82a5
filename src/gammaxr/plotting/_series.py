"""Light curves and flux profiles: one point per time bin or per region."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from gammaxr.conventions import ENERGY, TIME
from gammaxr.exceptions import ConfigError, DimensionError
from gammaxr.plotting._common import (
    SED_LABELS,
    TS_THRESHOLD_UL,
    asymmetric_errors,
    draw_points,
    get_axes,
    require,
    squeeze_to,
    unit_label,
    upper_limit_mask,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["plot_light_curve", "plot_profile"]

REGION = "region"


def _band_label(ds: xr.Dataset, index: int) -> str | None:
    if f"{ENERGY}_lo" in ds.coords and f"{ENERGY}_hi" in ds.coords:
        lo = float(ds[f"{ENERGY}_lo"].values[index])
        hi = float(ds[f"{ENERGY}_hi"].values[index])
        return f"{lo:.3g}–{hi:.3g} TeV"
    return None


def _series(
    ds: xr.Dataset, dim: str, what: str
) -> tuple[xr.Dataset, list[tuple[xr.Dataset, str | None]]]:
    """``ds`` squeezed to ``(dim[, energy])`` and split into one dataset per energy band."""
    ds = squeeze_to(ds, (dim, ENERGY), what=what)
    if dim not in ds.dims:
        raise DimensionError(f"{what}: the dataset has no {dim!r} dim (dims {dict(ds.sizes)})")
    if ENERGY in ds.dims:
        bands = [(ds.isel({ENERGY: i}), _band_label(ds, i)) for i in range(ds.sizes[ENERGY])]
    else:
        bands = [(ds, None)]
    return ds, bands


def plot_light_curve(
    lc: xr.Dataset,
    ax: Axes | None = None,
    *,
    sed_type: str = "flux",
    time_format: str = "mjd",
    ts_threshold_ul: float = TS_THRESHOLD_UL,
    **kwargs: Any,
) -> Axes:
    """Plot a light curve: flux (or another SED type) against time, one series per band.

    Parameters
    ----------
    lc : xarray.Dataset
        Light curve (:func:`gammaxr.estimators.light_curve` layout): dims
        ``(time[, energy])``, coordinates ``time``, ``time_lo``, ``time_hi``
        (MJD), the flux-point variables (``norm``, errors, ``norm_ul``, ``ts``,
        ``ref_*``).
    ax : matplotlib.axes.Axes, optional
        Where to draw.
    sed_type : {"flux", "eflux", "dnde", "e2dnde", "likelihood"}
        The quantity plotted.
    time_format : {"mjd", "datetime"}
        x axis in MJD, or as dates (UTC, from MJD TT).
    ts_threshold_ul : float
        Bins with ``ts`` below this are upper limits (or as ``is_ul`` says).
    **kwargs
        Passed to ``Axes.errorbar``.

    Returns
    -------
    matplotlib.axes.Axes
        Time bins as x error bars, upper limits as arrows, a legend when
        there are several energy bands.
    """
    from gammaxr.estimators.flux_points import sed_quantities

    require(lc, ("norm",), what="plot_light_curve")
    lc, bands = _series(lc, TIME, "plot_light_curve")
    if time_format not in ("mjd", "datetime"):
        raise ConfigError("plot_light_curve: time_format must be 'mjd' or 'datetime'")
    ax = get_axes(ax)
    name = "norm" if sed_type == "likelihood" else sed_type
    units = ""
    for band, label in bands:
        sed = sed_quantities(band, sed_type)
        x, xerr = _time_axis(band, time_format)
        low, high = asymmetric_errors(sed, name)
        y_ul = sed[f"{name}_ul"].values if f"{name}_ul" in sed else None
        draw_points(
            ax,
            x,
            sed[name].values,
            xerr=xerr,
            yerr=(low, high),
            is_ul=upper_limit_mask(band, ts_threshold_ul).values,
            y_ul=y_ul,
            label=kwargs.pop("label", label),
            **kwargs,
        )
        units = sed[name].attrs.get("units", "")
    ax.set_xlabel("Time (MJD TT)" if time_format == "mjd" else "Time (UTC)")
    ax.set_ylabel(unit_label(SED_LABELS[sed_type], units))
    if len(bands) > 1:
        ax.legend()
    return ax


def _time_axis(ds: xr.Dataset, time_format: str) -> tuple[Any, tuple[Any, Any] | None]:
    centre = ds[TIME].values.astype(float)
    lo = ds[f"{TIME}_lo"].values.astype(float) if f"{TIME}_lo" in ds.coords else None
    hi = ds[f"{TIME}_hi"].values.astype(float) if f"{TIME}_hi" in ds.coords else None
    if time_format == "mjd":
        xerr = None if lo is None or hi is None else (centre - lo, hi - centre)
        return centre, xerr
    from astropy.time import Time

    def dates(mjd: np.ndarray) -> np.ndarray:
        return Time(mjd, format="mjd", scale="tt").utc.datetime64

    x = dates(centre)
    if lo is None or hi is None:
        return x, None
    return x, (x - dates(lo), dates(hi) - x)


def plot_profile(
    profile: xr.Dataset,
    ax: Axes | None = None,
    *,
    quantity: str = "flux",
    per_solid_angle: bool = False,
    ts_threshold_ul: float = TS_THRESHOLD_UL,
    **kwargs: Any,
) -> Axes:
    """Plot a flux profile (:func:`gammaxr.estimators.flux_profile`) against distance.

    Parameters
    ----------
    profile : xarray.Dataset
        Profile on dim ``region`` (optionally ``energy``) with ``x_ref``,
        ``x_min``, ``x_max`` (deg) and the variable ``quantity`` with its
        ``_err``/``_errn``/``_errp``/``_ul`` companions where they exist.
    ax : matplotlib.axes.Axes, optional
        Where to draw.
    quantity : str
        The variable plotted: ``flux`` (default), ``excess``, ``norm``,
        ``sqrt_ts``, ``counts``, ...
    per_solid_angle : bool
        Divide by the regions' ``solid_angle`` (a mean surface brightness, unit
        ``... sr-1``).
    ts_threshold_ul : float
        Regions with ``ts`` below this are drawn as upper limits when
        ``<quantity>_ul`` exists.
    **kwargs
        Passed to ``Axes.errorbar``.

    Returns
    -------
    matplotlib.axes.Axes
        x: the distance along the profile (the radius for annuli), with the
        regions' extents as x error bars.
    """
    require(profile, ("x_ref", quantity), what="plot_profile")
    profile, bands = _series(profile, REGION, "plot_profile")
    ax = get_axes(ax)
    units = profile[quantity].attrs.get("units", "")
    if per_solid_angle:
        require(profile, ("solid_angle",), what="plot_profile")
        units = f"{units} sr-1".strip()
    for band, label in bands:
        scale = 1.0 / band["solid_angle"].values if per_solid_angle else 1.0
        x = band["x_ref"].values
        xerr = None
        if "x_min" in band.coords and "x_max" in band.coords:
            xerr = (x - band["x_min"].values, band["x_max"].values - x)
        low, high = asymmetric_errors(band, quantity)
        y_ul = band[f"{quantity}_ul"].values * scale if f"{quantity}_ul" in band else None
        is_ul = (
            upper_limit_mask(band, ts_threshold_ul).values
            if y_ul is not None
            else np.zeros(x.shape, bool)
        )
        draw_points(
            ax,
            x,
            band[quantity].values * scale,
            xerr=xerr,
            yerr=(None if low is None else low * scale, None if high is None else high * scale),
            is_ul=is_ul,
            y_ul=y_ul,
            label=kwargs.pop("label", label),
            **kwargs,
        )
    radial = profile.attrs.get("profile_type") == "annuli"
    ax.set_xlabel("Radius (deg)" if radial else "Distance (deg)")
    ax.set_ylabel(unit_label(quantity, units))
    if len(bands) > 1:
        ax.legend()
    return ax
