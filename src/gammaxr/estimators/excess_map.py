r"""Excess and significance maps: counts correlated within a radius, Cash or WStat.

Every pixel gets the counts summed over a disk of ``correlation_radius``
around it (a top-hat in true angle on the grid: the pixels whose centre lies
within the radius, the kernel of :mod:`gammaxr.reduce.ring`), and the same
sums of the background. The excess and its significance then follow from the
Poisson likelihood of those correlated counts (its profile is searched with
:func:`gammaxr.estimators.norm_fit.fit_norm` with a unit signal, so that
``norm`` *is* the excess):

Cash (a map dataset with ``background``)
    :math:`\mu = \mu_b + \mathrm{excess}` with the correlated background
    :math:`\mu_b` known (``background``, or :func:`gammaxr.models.npred` of the
    models when they are given): ``sqrt_ts`` is Gammapy's
    ``CashCountsStatistic.sqrt_ts`` (:func:`gammaxr.estimators.significance_cash`).
WStat (an on-off map dataset: ``counts_off``, ``acceptance``, ``acceptance_off``, e.g. from
:func:`gammaxr.reduce.make_ring_background`)
    The background is profiled with the off counts: ``sqrt_ts`` is Li & Ma
    (1983) eq. 17 (:func:`gammaxr.estimators.significance`) of the correlated
    on counts, the correlated off counts and the effective ratio
    :math:`\alpha = \sum \alpha_q n_{\mathrm{off},q} / \sum n_{\mathrm{off},q}` over
    the disk (per pixel :math:`\alpha_q = ` ``acceptance / acceptance_off``),
    as Gammapy's ``ExcessMapEstimator`` with ``correlate_off=True``; with
    ``correlate_off=False`` the off counts of the pixel itself are used, with
    :math:`\alpha = \sum_{disk} \mathrm{acceptance} / \mathrm{acceptance\_off}`.

The excess, ``ts`` and ``excess_err`` (from the likelihood's curvature at the
best fit: :math:`\sqrt{n}` for Cash, :math:`\sqrt{n_\mathrm{on} + \alpha^2
n_\mathrm{off}}` for WStat, as Gammapy) have closed forms, computed
directly; ``excess_errn``/``excess_errp``, where the statistic rises by
``n_sigma**2``, and ``excess_ul``, where it rises by ``n_sigma_ul**2``, come
from the solver. With an exposure, the
fluxes are the excess divided by the counts the spectral model (a power law
of index 2 by default) predicts per unit norm, averaged over the disk, times
the model's integral flux over the energy group: ``flux``, ``flux_err``,
``flux_errn``, ``flux_errp``, ``flux_ul`` in cm-2 s-1.

Energy bins are summed within each group of ``energy_edges`` (all of them by
default), within ``mask_safe & mask_fit``. Joint datasets are refused: stack
them first (:func:`gammaxr.stacking.stack`, or
:func:`gammaxr.fit.wstat.stack_on_off` for on-off datasets).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from gammaxr.estimators._maps import (
    check_map_dataset,
    energy_groups,
    fit_mask,
    output_coords,
    reco_exposure,
    values,
)
from gammaxr.estimators.norm_fit import fit_norm
from gammaxr.exceptions import ConfigError, DimensionError
from gammaxr.fit.statistics import deviance_terms
from gammaxr.fit.wstat import wstat
from gammaxr.models.npred import npred
from gammaxr.models.sky import FoVBackgroundModel, Models, SkyModel
from gammaxr.models.spectral_base import SpectralModel
from gammaxr.models.spectral_powerlaw import PowerLawSpectralModel
from gammaxr.reduce.ring import _correlate, _tophat_kernel

__all__ = ["excess_map"]

_ON_OFF = ("counts_off", "acceptance", "acceptance_off")


def excess_map(
    dataset: xr.Dataset,
    models: Models | Sequence[SkyModel | FoVBackgroundModel] | None = None,
    *,
    correlation_radius: float = 0.1,
    n_sigma: float = 1.0,
    n_sigma_ul: float = 2.0,
    energy_edges: Sequence[float] | np.ndarray | None = None,
    spectral_model: SpectralModel | None = None,
    correlate_off: bool = True,
    asymmetric_errors: bool = True,
    upper_limits: bool = True,
) -> xr.Dataset:
    """Correlated counts, background, excess, significance, errors, upper limits and flux.

    Parameters
    ----------
    dataset : xarray.Dataset
        Stacked map dataset with ``counts(energy, lat, lon)`` and either
        ``background`` (Cash) or ``counts_off``, ``acceptance`` and
        ``acceptance_off`` (WStat, chosen when ``counts_off`` is present);
        optional ``exposure(energy_true, lat, lon)`` (for fluxes; with
        ``edisp`` if any), ``mask_safe``, ``mask_fit``.
    models : Models or sequence of models, optional
        Cash only: the background hypothesis is :func:`gammaxr.models.npred`
        of these (background model and known sources) instead of the
        dataset's ``background``.
    correlation_radius : float
        Radius of the top-hat disk, deg.
    n_sigma : float
        Asymmetric errors where the statistic rises by ``n_sigma**2``.
    n_sigma_ul : float
        Upper limits where the statistic rises by ``n_sigma_ul**2``.
    energy_edges : sequence of float, optional
        Reco-energy edges of the groups, TeV (moved to the nearest edges of
        the dataset's axis). Default: one group, and no ``energy`` dim.
    spectral_model : SpectralModel, optional
        Spectrum that converts excess to flux (default: power law of index 2).
    correlate_off : bool
        WStat: correlate the off counts too (default, as Gammapy); see the
        module documentation.
    asymmetric_errors, upper_limits : bool
        Compute ``excess_errn``/``excess_errp`` and ``excess_ul`` (and the
        fluxes): profile-likelihood root searches, the costly part.

    Returns
    -------
    xarray.Dataset
        On ``(energy?, lat, lon)``: ``counts`` and ``background`` (correlated;
        for WStat the background is ``alpha * counts_off``), ``excess``,
        ``ts``, ``sqrt_ts`` (signed significance), ``excess_err``,
        ``excess_errn``, ``excess_errp``, ``excess_ul`` (as asked), for WStat also
        ``counts_off`` and ``alpha``, and with an exposure ``flux``,
        ``flux_err``, ``flux_errn``, ``flux_errp``, ``flux_ul`` (cm-2 s-1)
        and ``exposure_reco`` (counts per unit norm of the spectral model,
        the disk's mean). Attrs: ``statistic`` (``"cash"`` or ``"wstat"``),
        ``correlation_radius`` (deg), ``n_sigma``, ``n_sigma_ul``, and
        ``energy_min``/``energy_max`` (TeV) without an ``energy`` dim.

    Raises
    ------
    DimensionError
        If the dataset is joint, lacks counts, or has neither a background
        nor the on-off variables.
    ConfigError
        If an option is invalid.

    Examples
    --------
    >>> import gammaxr as gx
    >>> from gammaxr.estimators.excess_map import excess_map
    >>> geom = gx.make_geom(
    ...     gx.energy_axis(1, 10, nbin=2),
    ...     gx.energy_axis(0.5, 20, nbin=4, name="energy_true"),
    ...     sky=gx.sky_grid((83.633, 22.014), width=2, binsz=0.05),
    ... )
    >>> ds = gx.make_map_dataset(gx.open_datastore().observation(23523), geom)
    >>> maps = excess_map(ds, correlation_radius=0.1)
    >>> bool(float(maps.sqrt_ts.max()) > 10)
    True
    """
    what = "excess_map"
    check_map_dataset(dataset, what=what, variables=("counts",))
    on_off = "counts_off" in dataset.data_vars
    if on_off:
        check_map_dataset(dataset, what=what, variables=_ON_OFF)
        if models is not None:
            raise ConfigError(
                f"{what}: models apply to Cash datasets only; an on-off dataset's background "
                "comes from its off counts"
            )
    elif models is None and "background" not in dataset.data_vars:
        raise DimensionError(
            f"{what}: the dataset has neither 'background' (Cash) nor 'counts_off', "
            "'acceptance' and 'acceptance_off' (WStat); give one, or models=..."
        )
    if not correlation_radius > 0:
        raise ConfigError(f"{what}: correlation_radius must be a positive angle in deg")
    for name, value in (("n_sigma", n_sigma), ("n_sigma_ul", n_sigma_ul)):
        if not value > 0:
            raise ConfigError(f"{what}: {name} must be positive, got {value}")
    spectral = PowerLawSpectralModel(index=2.0) if spectral_model is None else spectral_model
    if not isinstance(spectral, SpectralModel):
        raise ConfigError(
            f"{what}: spectral_model must be a SpectralModel, got {type(spectral_model).__name__}"
        )

    kernel = _tophat_kernel(dataset, float(correlation_radius))
    mask = fit_mask(dataset)
    group_edges, members = energy_groups(dataset, energy_edges, what=what)
    counts = np.where(mask, values(dataset["counts"]), 0.0)
    if on_off:
        n_off = np.where(mask, values(dataset["counts_off"]), 0.0)
        acceptance_off = values(dataset["acceptance_off"])
        with np.errstate(divide="ignore", invalid="ignore"):
            alpha = np.where(acceptance_off > 0, values(dataset["acceptance"]) / acceptance_off, 0)
        alpha = np.where(mask, alpha, 0.0)
    else:
        background = (
            values(npred(dataset, models)) if models is not None else values(dataset["background"])
        )
        background = np.where(mask, background, 0.0)
    has_exposure = "exposure" in dataset.data_vars
    if has_exposure:
        exposure, _ = reco_exposure(dataset, spectral)

    def group_sum(array: np.ndarray) -> np.ndarray:
        return np.stack([array[idx].sum(axis=0) for idx in members])  # (G, Y, X)

    def correlate(image: np.ndarray) -> np.ndarray:
        return _correlate(image, kernel)

    n_on = np.rint(correlate(group_sum(counts)))
    out: dict[str, tuple[np.ndarray, str]] = {"counts": (n_on, "")}
    if on_off:
        if correlate_off:
            off = np.rint(correlate(group_sum(n_off)))
            mu_bkg = np.maximum(correlate(group_sum(alpha * n_off)), 0.0)
            with np.errstate(divide="ignore", invalid="ignore"):
                alpha_eff = np.where(off > 0, mu_bkg / off, 0.0)
        else:
            off = group_sum(n_off)
            acceptance = np.where(mask, values(dataset["acceptance"]), 0.0)
            with np.errstate(divide="ignore", invalid="ignore"):
                alpha_eff = np.where(
                    group_sum(np.where(mask, acceptance_off, 0.0)) > 0,
                    correlate(group_sum(acceptance))
                    / group_sum(np.where(mask, acceptance_off, 0.0)),
                    0.0,
                )
            mu_bkg = alpha_eff * off
        excess = n_on - alpha_eff * off
        ts = np.maximum(wstat(n_on, off, alpha_eff, 0.0), 0.0)
        error = np.sqrt(n_on + alpha_eff**2 * off)
        fit_inputs = {"counts_off": off[..., None], "alpha": alpha_eff[..., None]}
        out["counts_off"] = (off, "")
        out["alpha"] = (alpha_eff, "")
    else:
        mu_bkg = np.maximum(correlate(group_sum(background)), 0.0)
        excess = n_on - mu_bkg
        ts = np.maximum(deviance_terms(n_on, mu_bkg), 0.0)
        error = np.sqrt(n_on)
        fit_inputs = {"background": mu_bkg[..., None]}
    out["background"] = (mu_bkg, "")
    out["excess"] = (excess, "")
    out["ts"] = (ts, "")
    out["sqrt_ts"] = (np.sign(excess) * np.sqrt(ts), "")
    out["excess_err"] = (error, "")
    errors = ["err"]
    if asymmetric_errors or upper_limits:
        # profile-likelihood crossings: the 1D solver with a unit signal (norm = excess)
        result = fit_norm(
            n_on[..., None], 1.0, axis=-1, n_sigma=n_sigma, n_sigma_ul=n_sigma_ul,
            asymmetric=bool(asymmetric_errors), upper_limit=bool(upper_limits), **fit_inputs,
        )  # fmt: skip
        if asymmetric_errors:
            out["excess_errn"] = (result["norm_errn"], "")
            out["excess_errp"] = (result["norm_errp"], "")
            errors += ["errn", "errp"]
        if upper_limits:
            out["excess_ul"] = (result["norm_ul"], "")
            errors += ["ul"]
    if has_exposure:
        inside = group_sum(mask.astype(float)) > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            mean_exposure = correlate(group_sum(np.where(mask, exposure, 0.0))) / correlate(
                inside.astype(float)
            )
        flux_ref = np.asarray(spectral.integral(group_edges[:-1], group_edges[1:]), dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            per_count = np.where(
                mean_exposure > 0, flux_ref[:, None, None] / mean_exposure, np.nan
            )
        out["exposure_reco"] = (mean_exposure, "")
        out["flux"] = (excess * per_count, "cm-2 s-1")
        for name in errors:
            out[f"flux_{name}"] = (out[f"excess_{name}"][0] * per_count, "cm-2 s-1")

    # pixels whose disk holds no selected bin: no measurement
    empty = correlate(group_sum(mask.astype(float))) <= 0
    out = {name: (np.where(empty, np.nan, array), units) for name, (array, units) in out.items()}
    has_energy = energy_edges is not None
    coords, dims = output_coords(dataset, group_edges if has_energy else None)
    variables = {
        name: xr.DataArray(array if has_energy else array[0], dims=dims, coords=coords,
                           attrs={"units": units})
        for name, (array, units) in out.items()
    }  # fmt: skip
    attrs: dict[str, object] = {
        "estimator": "excess_map",
        "statistic": "wstat" if on_off else "cash",
        "correlation_radius": float(correlation_radius),
        "n_sigma": float(n_sigma),
        "n_sigma_ul": float(n_sigma_ul),
    }
    if on_off:
        attrs["correlate_off"] = int(bool(correlate_off))
    if has_exposure:
        attrs["spectral_model"] = type(spectral).__name__
    if not has_energy:
        attrs["energy_min"] = float(group_edges[0])
        attrs["energy_max"] = float(group_edges[-1])
    return xr.Dataset(variables, attrs=attrs)
