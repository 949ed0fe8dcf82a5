"""Shared pieces of the plots: axes, labels, points with errors and upper limits."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from gammaxr.exceptions import DimensionError, FormatError

if TYPE_CHECKING:
    from matplotlib.axes import Axes

#: Axis labels of the SED types.
SED_LABELS = {
    "likelihood": "Norm",
    "dnde": "dN/dE",
    "e2dnde": "E² dN/dE",
    "flux": "Flux",
    "eflux": "Energy flux",
}

#: Points whose TS is below this are drawn as upper limits (sqrt(TS) < 2).
TS_THRESHOLD_UL = 4.0

#: Length of an upper-limit arrow, as a fraction of the limit (down to ``(1 - f) * UL``).
UL_ARROW_FRACTION = 0.5


def get_axes(ax: Axes | None) -> Axes:
    """``ax``, or the current axes of pyplot (matplotlib imported here, lazily)."""
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.gca()


def unit_label(name: str, units: str | None) -> str:
    """``"name (units)"``, or ``name`` for dimensionless quantities."""
    return f"{name} ({units})" if units else name


def squeeze_to(obj: Any, dims: tuple[str, ...], *, what: str) -> Any:
    """``obj`` with its size-one dims outside ``dims`` dropped; an error for larger ones."""
    extra = [d for d in obj.dims if d not in dims]
    large = [d for d in extra if obj.sizes[d] > 1]
    if large:
        raise DimensionError(
            f"{what}: cannot plot the dims {large} (sizes "
            f"{[obj.sizes[d] for d in large]}); select one value with .isel/.sel first"
        )
    return obj.isel({d: 0 for d in extra}, drop=True) if extra else obj


def upper_limit_mask(ds: xr.Dataset, ts_threshold_ul: float) -> xr.DataArray:
    """Where a point is an upper limit: ``is_ul`` if present, else ``ts < ts_threshold_ul``."""
    if "is_ul" in ds:
        return ds["is_ul"].astype(bool)
    if "ts" in ds:
        return ds["ts"] < ts_threshold_ul
    return xr.zeros_like(ds["norm"] if "norm" in ds else next(iter(ds.data_vars.values())), bool)


def asymmetric_errors(ds: xr.Dataset, name: str) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Lower and upper errors of ``name``: ``_errn``/``_errp`` where finite, else ``_err``."""
    sym = ds[f"{name}_err"].values if f"{name}_err" in ds else None
    low = ds[f"{name}_errn"].values if f"{name}_errn" in ds else None
    high = ds[f"{name}_errp"].values if f"{name}_errp" in ds else None
    if sym is not None:
        low = sym if low is None else np.where(np.isfinite(low), low, sym)
        high = sym if high is None else np.where(np.isfinite(high), high, sym)
    return low, high


def draw_points(
    ax: Axes,
    x: np.ndarray,
    y: np.ndarray,
    *,
    xerr: tuple[np.ndarray, np.ndarray] | None,
    yerr: tuple[np.ndarray | None, np.ndarray | None],
    is_ul: np.ndarray,
    y_ul: np.ndarray | None,
    label: str | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """Points with (asymmetric) error bars, and upper limits as downward arrows.

    Returns ``{"points": ErrorbarContainer | None, "upper_limits": ErrorbarContainer |
    None}``. Points are those not flagged ``is_ul`` with a finite value; upper
    limits those flagged with a finite ``y_ul``.
    """
    kwargs.setdefault("marker", "o")
    kwargs.setdefault("linestyle", "none")
    is_ul = np.asarray(is_ul, dtype=bool)
    points = ~is_ul & np.isfinite(y)
    out: dict[str, Any] = {"points": None, "upper_limits": None}
    color = kwargs.pop("color", None)
    if points.any():
        low, high = yerr
        err = None
        if low is not None and high is not None:
            err = np.vstack([np.nan_to_num(low[points]), np.nan_to_num(high[points])])
        xe = None if xerr is None else np.vstack([xerr[0][points], xerr[1][points]])
        container = ax.errorbar(
            x[points], y[points], yerr=err, xerr=xe, label=label, color=color, **kwargs
        )
        color = container.lines[0].get_color()
        out["points"] = container
        label = None
    if y_ul is not None:
        limits = is_ul & np.isfinite(y_ul)
        if limits.any():
            ul = y_ul[limits]
            xe = None if xerr is None else np.vstack([xerr[0][limits], xerr[1][limits]])
            ul_kwargs = {k: v for k, v in kwargs.items() if k != "marker"}
            out["upper_limits"] = ax.errorbar(
                x[limits],
                ul,
                yerr=UL_ARROW_FRACTION * np.abs(ul),
                xerr=xe,
                uplims=True,
                marker="none",
                color=color,
                label=label,
                **ul_kwargs,
            )
    return out


def require(ds: xr.Dataset, names: tuple[str, ...], *, what: str) -> None:
    """Raise FormatError naming the variables of ``names`` missing from ``ds``."""
    missing = [name for name in names if name not in ds.variables]
    if missing:
        raise FormatError(f"{what}: the dataset lacks {missing} (it has {list(ds.variables)})")
