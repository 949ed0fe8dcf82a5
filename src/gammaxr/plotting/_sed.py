"""Spectral plots: flux points (SED), model curves with error bands, likelihood scans."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from gammaxr.conventions import ENERGY, edges
from gammaxr.exceptions import ConfigError, FormatError
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

    from gammaxr.models import SkyModel, SpectralModel

__all__ = ["plot_model_sed", "plot_scan", "plot_sed", "plot_sensitivity"]


def _sed(fp: xr.Dataset, sed_type: str) -> xr.Dataset:
    from gammaxr.estimators.flux_points import sed_quantities

    return sed_quantities(fp, sed_type)


def _energy_power_label(units: str, energy_power: float) -> str:
    if energy_power == 0:
        return units
    power = f"{energy_power:g}"
    return f"TeV{power} {units}".strip() if units else f"TeV{power}"


def plot_sed(
    fp: xr.Dataset,
    sed_type: str = "e2dnde",
    ax: Axes | None = None,
    *,
    energy_power: float = 0,
    ts_threshold_ul: float = TS_THRESHOLD_UL,
    **kwargs: Any,
) -> Axes:
    """Plot flux points: values with asymmetric errors, upper limits as arrows.

    Parameters
    ----------
    fp : xarray.Dataset
        Flux points on dim ``energy`` (:func:`gammaxr.estimators.flux_points`
        layout: ``norm``, ``norm_err``/``norm_errn``/``norm_errp``,
        ``norm_ul``, ``ts``, the ``ref_*`` references, ``energy_lo``/``_hi``);
        other dims must have size one.
    sed_type : {"e2dnde", "dnde", "flux", "eflux", "likelihood"}
        The quantity plotted (``"likelihood"``: the norms).
    ax : matplotlib.axes.Axes, optional
        Where to draw (default the current axes).
    energy_power : float
        Multiply the values by ``E**energy_power`` (E in TeV; the unit label
        gains ``TeV<power>``).
    ts_threshold_ul : float
        Points with ``ts`` below this are upper limits (unless the dataset has
        an ``is_ul`` variable, which then decides); default 4 (sqrt(TS) < 2).
    **kwargs
        Passed to ``Axes.errorbar`` (``color``, ``marker``, ``label``, ...).

    Returns
    -------
    matplotlib.axes.Axes
        The axes, log-log (linear y for ``"likelihood"``), with the energy
        bins as x error bars.

    Raises
    ------
    ConfigError, FormatError, DimensionError
        Unknown SED type, missing variables, or dims that cannot be plotted.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> import gammaxr as gx
    >>> from gammaxr.plotting import plot_sed
    >>> energy = gx.energy_axis(1, 100, nbin=3)
    >>> fp = xr.Dataset(
    ...     {"norm": ("energy", [1.0, 0.8, 0.3]), "norm_err": ("energy", [0.1, 0.2, 0.3]),
    ...      "norm_ul": ("energy", [1.2, 1.2, 0.9]), "ts": ("energy", [80.0, 20.0, 1.0]),
    ...      "ref_dnde": ("energy", 1e-11 * energy.values**-2.5, {"units": "cm-2 s-1 TeV-1"})},
    ...     coords=energy.coords,
    ... )
    >>> ax = plot_sed(fp)  # two points and one upper limit (ts < 4)
    >>> [len(c.lines[0].get_xdata()) for c in ax.containers]
    [2, 1]
    """
    fp = squeeze_to(fp.drop_dims("norm_scan", errors="ignore"), (ENERGY,), what="plot_sed")
    require(fp, ("norm",), what="plot_sed")
    sed = _sed(fp, sed_type)
    energy = fp[ENERGY].values
    factor = energy**energy_power
    name = "norm" if sed_type == "likelihood" else sed_type
    y = sed[name].values * factor
    low, high = asymmetric_errors(sed, name)
    yerr = (None if low is None else low * factor, None if high is None else high * factor)
    y_ul = sed[f"{name}_ul"].values * factor if f"{name}_ul" in sed else None
    xerr = None
    if f"{ENERGY}_lo" in fp.coords:
        bins = edges(fp, ENERGY)
        xerr = (energy - bins[:-1], bins[1:] - energy)
    ax = get_axes(ax)
    is_ul = upper_limit_mask(fp, ts_threshold_ul).values
    draw_points(ax, energy, y, xerr=xerr, yerr=yerr, is_ul=is_ul, y_ul=y_ul, **kwargs)
    units = sed[name].attrs.get("units", "")
    ax.set_xscale("log")
    if sed_type != "likelihood":
        ax.set_yscale("log")
    ax.set_xlabel("Energy (TeV)")
    ax.set_ylabel(unit_label(SED_LABELS[sed_type], _energy_power_label(units, energy_power)))
    return ax


def _spectral(model: SpectralModel | SkyModel) -> SpectralModel:
    from gammaxr.models.sky import SkyModel
    from gammaxr.models.spectral import SpectralModel

    if isinstance(model, SkyModel):
        return model.spectral
    if isinstance(model, SpectralModel):
        return model
    raise ConfigError(f"plot_model_sed: expected a SpectralModel or SkyModel, got {model!r}")


def _covariance_matrix(model: SpectralModel, covariance: Any) -> tuple[list[str], np.ndarray]:
    """The free parameters' names and their covariance (from a labelled or plain matrix)."""
    free = [p.name for p in model.parameters.free]
    if isinstance(covariance, xr.DataArray):
        if covariance.ndim != 2:
            raise ConfigError("plot_model_sed: covariance must be a 2-d DataArray")
        labels = [str(label) for label in covariance[covariance.dims[0]].values]

        def find(name: str) -> int | None:
            hits = [i for i, lab in enumerate(labels) if lab == name or lab.endswith("." + name)]
            if len(hits) > 1:
                raise ConfigError(
                    f"plot_model_sed: parameter {name!r} matches several covariance rows "
                    f"{[labels[i] for i in hits]}; pass the model's own block"
                )
            return hits[0] if hits else None

        index = {name: find(name) for name in free}
        names = [name for name in free if index[name] is not None]
        rows = [index[name] for name in names]
        return names, np.asarray(covariance.values, dtype=float)[np.ix_(rows, rows)]
    matrix = np.asarray(covariance, dtype=float)
    if matrix.shape != (len(free), len(free)):
        raise ConfigError(
            f"plot_model_sed: a plain covariance must be {len(free)} x {len(free)} (the free "
            f"parameters {free}), got shape {matrix.shape}"
        )
    return free, matrix


def model_sed_band(
    model: SpectralModel | SkyModel, energy: np.ndarray, covariance: Any
) -> np.ndarray:
    r"""1-sigma error of ``dnde(E)`` from a parameter covariance (linear propagation).

    :math:`\sigma^2(E) = J C J^T` with :math:`J_k = \partial\,\mathrm{dnde}(E) /
    \partial p_k` by central differences (steps of 1e-4 of each parameter's
    error, or of its value).

    Parameters
    ----------
    model : SpectralModel or SkyModel
        The model.
    energy : numpy.ndarray
        Energies, TeV.
    covariance : DataArray or array
        Covariance of the free parameters (see :func:`plot_model_sed`).

    Returns
    -------
    numpy.ndarray
        :math:`\sigma(E)`, cm-2 s-1 TeV-1.
    """
    spectral = _spectral(model)
    names, matrix = _covariance_matrix(spectral, covariance)
    jacobian = np.empty((len(names), energy.size))
    for k, name in enumerate(names):
        value = spectral.parameters[name].value
        scale = np.sqrt(matrix[k, k]) if matrix[k, k] > 0 else abs(value)
        step = 1e-4 * (scale if scale > 0 else 1.0)
        up = spectral.with_parameters(**{name: value + step})(energy)
        down = spectral.with_parameters(**{name: value - step})(energy)
        jacobian[k] = (np.asarray(up) - np.asarray(down)) / (2 * step)
    variance = np.einsum("ke,kl,le->e", jacobian, matrix, jacobian)
    return np.sqrt(np.maximum(variance, 0.0))


def plot_model_sed(
    model: SpectralModel | SkyModel,
    energy_range: tuple[float, float],
    ax: Axes | None = None,
    *,
    sed_type: str = "e2dnde",
    energy_power: float = 0,
    n_points: int = 100,
    covariance: Any = None,
    n_sigma: float = 1.0,
    band_kwargs: dict[str, Any] | None = None,
    **kwargs: Any,
) -> Axes:
    """Plot a spectral model, optionally with its error band ("butterfly").

    Parameters
    ----------
    model : SpectralModel or SkyModel
        The model (a sky model's spectral component is plotted).
    energy_range : (float, float)
        Energies, TeV, sampled at ``n_points`` log-spaced values.
    ax : matplotlib.axes.Axes, optional
        Where to draw.
    sed_type : {"e2dnde", "dnde"}
        The quantity plotted.
    energy_power : float
        Multiply by ``E**energy_power`` (TeV).
    n_points : int
        Number of energies.
    covariance : xarray.DataArray or array, optional
        Covariance of the model's free parameters: a DataArray such as
        :attr:`gammaxr.fit.FitResult.covariance` whose labels are the
        parameter names or end with ``.<name>`` (e.g.
        ``crab.spectral.index``), or a plain matrix in the order of
        ``model.parameters.free``. Draws a band of ``n_sigma`` errors.
    n_sigma : float
        Width of the band, in errors.
    band_kwargs : dict, optional
        Passed to ``Axes.fill_between`` (default ``alpha=0.3``, the line's colour).
    **kwargs
        Passed to ``Axes.plot``.

    Returns
    -------
    matplotlib.axes.Axes
    """
    if sed_type not in ("dnde", "e2dnde"):
        raise ConfigError(f"plot_model_sed: sed_type must be 'dnde' or 'e2dnde', got {sed_type!r}")
    e_min, e_max = (float(e) for e in energy_range)
    if not 0 < e_min < e_max:
        raise ConfigError(
            f"plot_model_sed: energy_range must be 0 < min < max TeV, got {energy_range}"
        )
    spectral = _spectral(model)
    energy = np.geomspace(e_min, e_max, int(n_points))
    factor = energy ** (energy_power + (2 if sed_type == "e2dnde" else 0))
    values = np.asarray(spectral(energy), dtype=float) * factor
    ax = get_axes(ax)
    (line,) = ax.plot(energy, values, **kwargs)
    if covariance is not None:
        sigma = model_sed_band(spectral, energy, covariance) * factor
        options = {"alpha": 0.3, "color": line.get_color(), "linewidth": 0}
        options.update(band_kwargs or {})
        ax.fill_between(energy, values - n_sigma * sigma, values + n_sigma * sigma, **options)
    units = "TeV cm-2 s-1" if sed_type == "e2dnde" else spectral.dnde_unit
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("Energy (TeV)")
    ax.set_ylabel(unit_label(SED_LABELS[sed_type], _energy_power_label(units, energy_power)))
    return ax


def _scan_edges(values: np.ndarray) -> np.ndarray:
    """Cell edges around increasing centres (mid-points, ends mirrored)."""
    middle = 0.5 * (values[1:] + values[:-1])
    return np.concatenate([[2 * values[0] - middle[0]], middle, [2 * values[-1] - middle[-1]]])


def plot_scan(
    fp: xr.Dataset,
    ax: Axes | None = None,
    *,
    sed_type: str = "likelihood",
    vmax: float = 25.0,
    cmap: str = "viridis_r",
    add_colorbar: bool = True,
    **kwargs: Any,
) -> Axes:
    """Plot the likelihood scans of flux points: delta-stat per energy bin as an image.

    Parameters
    ----------
    fp : xarray.Dataset
        Flux points with ``stat_scan(energy, norm_scan)`` and the norm values
        ``norm_scan`` (a coordinate on ``norm_scan`` or an ``(energy,
        norm_scan)`` variable), ``energy_lo``/``_hi`` and, for other SED types,
        the references.
    ax : matplotlib.axes.Axes, optional
        Where to draw.
    sed_type : {"likelihood", "dnde", "e2dnde", "flux", "eflux"}
        The y axis: the norms, or the norms times the reference.
    vmax : float
        Top of the colour scale (delta-stat; 25 is 5 sigma for one parameter).
    cmap : str
        Colour map.
    add_colorbar : bool
        Add a colour bar labelled ``Δ stat``.
    **kwargs
        Passed to ``Axes.pcolormesh``.

    Returns
    -------
    matplotlib.axes.Axes
        One image column per energy bin; delta-stat is ``stat_scan`` minus
        the best-fit ``stat`` (or the scan's minimum if there is none).
    """
    from matplotlib.colors import Normalize

    fp = squeeze_to(fp, (ENERGY, "norm_scan"), what="plot_scan")
    require(fp, ("stat_scan", "norm_scan"), what="plot_scan")
    scan = fp["stat_scan"].transpose(ENERGY, "norm_scan").values
    norms = np.broadcast_to(
        fp["norm_scan"]
        .transpose(*[d for d in (ENERGY, "norm_scan") if d in fp["norm_scan"].dims])
        .values,
        scan.shape,
    )
    best = fp["stat"].values if "stat" in fp else np.nanmin(scan, axis=1)
    delta = scan - best[:, None]
    if sed_type == "likelihood":
        reference = np.ones(scan.shape[0])
        units = ""
    else:
        ref = _sed(fp, sed_type)[f"ref_{sed_type}"]
        reference, units = ref.values, ref.attrs.get("units", "")
    bins = edges(fp, ENERGY)
    ax = get_axes(ax)
    norm = Normalize(vmin=0.0, vmax=vmax)
    mesh = None
    for j in range(scan.shape[0]):  # one column per energy bin: their y values differ
        y = norms[j] * reference[j]
        order = np.argsort(y)
        y_edges = _scan_edges(y[order])
        if sed_type != "likelihood" and np.any(y_edges <= 0):
            keep = y[order] > 0
            if keep.sum() < 2:
                continue
            y_edges = _scan_edges(y[order][keep])
            order = order[keep]
        mesh = ax.pcolormesh(
            bins[j : j + 2], y_edges, delta[j][order][:, None], norm=norm, cmap=cmap, **kwargs
        )
    ax.set_xscale("log")
    if sed_type != "likelihood":
        ax.set_yscale("log")
    ax.set_xlabel("Energy (TeV)")
    ax.set_ylabel(unit_label(SED_LABELS[sed_type], units))
    if add_colorbar and mesh is not None:
        ax.figure.colorbar(mesh, ax=ax, label="Δ stat")
    return ax


def plot_sensitivity(
    sens: xr.Dataset, ax: Axes | None = None, *, quantity: str = "e2dnde", **kwargs: Any
) -> Axes:
    """Plot a differential sensitivity curve (:func:`gammaxr.estimators.sensitivity`).

    Parameters
    ----------
    sens : xarray.Dataset
        Sensitivity on dim ``energy`` with ``e2dnde`` (or ``quantity``).
    ax : matplotlib.axes.Axes, optional
        Where to draw.
    quantity : {"e2dnde", "dnde"}
        The variable plotted, as a step per energy bin.
    **kwargs
        Passed to ``Axes.stairs`` / ``Axes.plot``.

    Returns
    -------
    matplotlib.axes.Axes
    """
    sens = squeeze_to(sens, (ENERGY,), what="plot_sensitivity")
    require(sens, (quantity,), what="plot_sensitivity")
    values = sens[quantity].values
    if not np.isfinite(values).any():
        raise FormatError("plot_sensitivity: no finite values to plot")
    ax = get_axes(ax)
    if f"{ENERGY}_lo" in sens.coords:
        ax.stairs(values, edges(sens, ENERGY), **kwargs)
    else:
        ax.plot(sens[ENERGY].values, values, **kwargs)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("Energy (TeV)")
    label = SED_LABELS.get(quantity, quantity)
    ax.set_ylabel(unit_label(f"Sensitivity {label}", sens[quantity].attrs.get("units", "")))
    return ax
