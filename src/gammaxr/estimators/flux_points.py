r"""Flux points: the norm of a reference spectrum refitted in energy bins.

:func:`flux_points` takes the datasets of a fit and its best-fit models. In
each flux-point bin (a group of reconstructed-energy bins) it refits one number,
``norm``, that scales the reference spectrum of the source, using only the
counts of that bin. The result is an :class:`xarray.Dataset` on dim ``energy``
in the *likelihood* form of the GADF SED format: ``norm`` with its errors, upper
limit and TS, plus the reference model's ``dnde``, ``e2dnde``, ``flux`` and
``eflux`` in each bin, so that :func:`sed_quantities` turns the norms into any
SED type (``dnde = norm * ref_dnde``, and so on).

Two ways to refit
-----------------
* ``reoptimize=False`` (default): every other parameter stays at its value,
  so each bin is a one-parameter problem with predicted counts
  ``background + norm * signal``, where ``signal`` is the source folded at
  ``norm = 1`` and ``background`` is everything else (the dataset's scaled
  background plus the other sources). All bins are solved at once by
  :func:`gammaxr.estimators.norm_fit.fit_norm` (Cash, or WStat for on-off
  datasets, whose background is profiled per bin).
* ``reoptimize=True``: each bin is fitted by :func:`gammaxr.fit.fit` with the
  other free parameters (e.g. a background norm, another source) refitted too;
  TS, asymmetric errors, upper limits and scans use the profile likelihood. The
  source's own other parameters (spectral shape, position) stay fixed.

Statistic values (``stat``, ``stat_null``, ``stat_scan``) are ``-2 ln L`` up to
a constant that differs between the two ways (a deviance in the first, the Cash
or WStat sum of the fitted bins in the second): only differences within a bin
mean something.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import astropy.units as u
import numpy as np
import xarray as xr

from gammaxr.axes import axis_from_edges
from gammaxr.conventions import ENERGY, edges, parse_unit
from gammaxr.estimators._maps import nearest_edges
from gammaxr.exceptions import ConfigError, GammaxrError, GeometryError

if TYPE_CHECKING:
    from gammaxr.models import Models, SkyModel

__all__ = ["SED_TYPES", "SED_UNITS", "flux_points", "sed_quantities"]

#: The SED types (GADF) and the reference quantity each one scales.
SED_TYPES = ("likelihood", "dnde", "e2dnde", "flux", "eflux")

#: Units of the reference quantities (energies in TeV).
SED_UNITS = {
    "dnde": "cm-2 s-1 TeV-1",
    "e2dnde": "TeV cm-2 s-1",
    "flux": "cm-2 s-1",
    "eflux": "TeV cm-2 s-1",
}

#: The norm quantities, each converted by the same factor to another SED type.
NORM_QUANTITIES = ("norm", "norm_err", "norm_errn", "norm_errp", "norm_ul")


# --------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------


def flux_points(
    data: xr.Dataset | Sequence[xr.Dataset] | Mapping[str, xr.Dataset],
    models: Models,
    source: str,
    energy_edges: Any,
    *,
    reoptimize: bool = False,
    n_sigma: float = 1.0,
    n_sigma_ul: float = 2.0,
    scan: Any = None,
    backend: str = "minuit",
) -> xr.Dataset:
    r"""Flux points of one source: its reference spectrum's norm refitted per energy bin.

    Parameters
    ----------
    data : xarray.Dataset, or a sequence or mapping of them
        What :func:`gammaxr.fit.fit` accepts: a map dataset, a spectrum
        dataset or an on-off dataset (WStat), stacked or in the joint form
        (``obs_id`` dim: one norm per energy bin shared by all observations,
        the statistic summed over them), or several datasets (a joint fit;
        in a mapping the keys are the dataset names).
    models : Models
        The models, usually the best fit (``result.models``): the source's
        spectrum there is the reference.
    source : str
        Name of the source (a :class:`~gammaxr.models.SkyModel` in ``models``).
    energy_edges : array_like or astropy Quantity
        Edges of the flux-point bins in reconstructed energy, TeV (a Quantity
        is converted), increasing. Each edge **snaps to the nearest edge** (in
        log energy) of each dataset's reconstructed-energy axis, so a bin is a
        whole number of dataset bins; the output's ``energy_lo``/``energy_hi``
        are the snapped edges (of the first dataset).
    reoptimize : bool
        Refit the other free parameters in each bin with the general fitter
        (see the module documentation). Default: keep them fixed (fast).
    n_sigma : float
        Asymmetric errors ``norm_errn``/``norm_errp`` where the statistic
        rises by ``n_sigma**2``.
    n_sigma_ul : float
        Upper limit ``norm_ul`` where the statistic rises by
        ``n_sigma_ul**2`` above its minimum (2: a one-sided 97.7 % limit).
    scan : array_like, optional
        Norm values at which to tabulate the statistic per bin
        (``stat_scan``), e.g. ``np.linspace(0, 3, 31)``.
    backend : str
        Optimiser backend of the general fitter (``reoptimize=True`` only).

    Returns
    -------
    xarray.Dataset
        On dim ``energy`` (coords ``energy`` = log centre ``e_ref``,
        ``energy_lo``, ``energy_hi``, TeV):

        - ``norm``, ``norm_err`` (from the curvature, 1 sigma), ``norm_errn``,
          ``norm_errp`` (positive distances to the ``n_sigma`` crossings),
          ``norm_ul``;
        - ``ts`` (statistic at ``norm = 0`` minus at the best fit),
          ``sqrt_ts`` (signed by ``norm``), ``stat``, ``stat_null``;
        - ``counts`` (observed, summed over the fitted bins and observations),
          ``npred`` (total predicted counts at the best fit), ``npred_excess``
          (the source's share of it);
        - ``ref_dnde``, ``ref_e2dnde``, ``ref_flux``, ``ref_eflux``: the
          reference model at ``e_ref`` and integrated over the bin (units in
          attrs);
        - ``success`` (bool); ``stat_scan(energy, norm_scan)`` if ``scan``.

        Attrs: ``sed_type_init = "likelihood"``, ``n_sigma``, ``n_sigma_ul``,
        ``source``, ``reference_model`` (the source as Gammapy-layout model YAML).

    Raises
    ------
    ConfigError
        For an unknown source, bad ``n_sigma``/``scan``, no datasets, or a
        mix of on-off and other datasets without ``reoptimize``.
    GeometryError
        If ``energy_edges`` are not increasing positive energies, or two of
        them snap to the same dataset edge.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> import gammaxr as gx
    >>> from gammaxr.estimators.flux_points import flux_points
    >>> from gammaxr.models import Models, PowerLawSpectralModel, SkyModel
    >>> e = gx.axis_from_edges(np.geomspace(1, 10, 7), name="energy", units="TeV",
    ...                        interp="log")
    >>> et = gx.axis_from_edges(np.geomspace(1, 10, 7), name="energy_true", units="TeV",
    ...                         interp="log")
    >>> ds = xr.Dataset(
    ...     {"counts": ("energy", [250, 130, 70, 36, 18, 10]),
    ...      "background": ("energy", np.full(6, 2.0)),
    ...      "exposure": ("energy_true", np.full(6, 2.2e9), {"units": "m2 s"})},
    ...     coords={**e.coords, **et.coords},
    ... )
    >>> crab = SkyModel(PowerLawSpectralModel(index=2.6, amplitude=3.8e-11), name="crab")
    >>> fp = flux_points(ds, Models([crab]), "crab", [1, 2.15, 4.64, 10])
    >>> fp.norm.round(2).values.tolist(), fp.sqrt_ts.round(1).values.tolist()
    ([1.02, 0.94, 0.76], [52.4, 22.4, 8.0])
    """
    _check_positive(n_sigma, "n_sigma")
    _check_positive(n_sigma_ul, "n_sigma_ul")
    scan_values = _scan_values(scan)
    datasets = _dataset_list(data)
    from gammaxr.models import Models, SkyModel

    if not isinstance(models, Models):
        raise ConfigError(f"flux_points: models must be a Models collection, got {type(models)}")
    if source not in models or not isinstance(models[source], SkyModel):
        sky = [name for name, m in models.items() if isinstance(m, SkyModel)]
        raise ConfigError(f"flux_points: no sky model {source!r} in models; they are {sky}")
    requested = _energy_edges(energy_edges)
    groups = [_snap(requested, edges(ds, ENERGY), name) for name, ds in datasets]
    first = edges(datasets[0][1], ENERGY)[groups[0]]
    if reoptimize:
        results = _fit_general(datasets, groups, models, source, n_sigma, n_sigma_ul,
                               scan_values, backend)  # fmt: skip
    else:
        results = _fit_fast(datasets, groups, models, source, n_sigma, n_sigma_ul, scan_values)
    return _assemble(results, first, models[source], n_sigma, n_sigma_ul, scan_values)


def sed_quantities(fp: xr.Dataset, sed_type: str = "dnde") -> xr.Dataset:
    """Flux points as one SED type: the norms times the reference quantity.

    Parameters
    ----------
    fp : xarray.Dataset
        Flux points (:func:`flux_points` or :func:`gammaxr.read_flux_points`)
        with ``norm`` (and any of ``norm_err``, ``norm_errn``, ``norm_errp``,
        ``norm_ul``) and the reference ``ref_<sed_type>`` (``ref_e2dnde`` may
        be missing: it is ``energy**2 * ref_dnde``).
    sed_type : {"dnde", "e2dnde", "flux", "eflux", "likelihood"}
        The SED type; ``"likelihood"`` returns the norms themselves.

    Returns
    -------
    xarray.Dataset
        On dim ``energy``: ``<sed_type>``, ``<sed_type>_err``,
        ``<sed_type>_errn``, ``<sed_type>_errp``, ``<sed_type>_ul`` (those
        whose norm exists), units in attrs (``dnde``: cm-2 s-1 TeV-1,
        ``e2dnde``: TeV cm-2 s-1, ``flux``: cm-2 s-1, ``eflux``: TeV cm-2 s-1),
        and ``ref_<sed_type>``.

    Raises
    ------
    ConfigError
        For an unknown ``sed_type`` or missing ``norm`` / reference.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from gammaxr.estimators import sed_quantities
    >>> fp = xr.Dataset(
    ...     {"norm": ("energy", [1.0, 0.5]), "norm_err": ("energy", [0.1, 0.2]),
    ...      "ref_dnde": ("energy", [2e-11, 1e-12], {"units": "cm-2 s-1 TeV-1"})},
    ...     coords={"energy": ("energy", [1.0, 3.0], {"units": "TeV"})},
    ... )
    >>> sed = sed_quantities(fp, "e2dnde")
    >>> sed.e2dnde.values.tolist(), sed.e2dnde.attrs["units"]
    ([2e-11, 4.5e-12], 'TeV cm-2 s-1')
    """
    if sed_type not in SED_TYPES:
        raise ConfigError(f"sed_type must be one of {list(SED_TYPES)}, got {sed_type!r}")
    if "norm" not in fp:
        raise ConfigError(f"sed_quantities: the flux points have no 'norm' ({list(fp)})")
    present = [name for name in NORM_QUANTITIES if name in fp]
    coords = {k: v for k, v in fp.coords.items() if ENERGY in v.dims and v.ndim == 1}
    if sed_type == "likelihood":
        return xr.Dataset({name: fp[name] for name in present}, coords=coords)
    reference = reference_quantity(fp, sed_type)
    out = {}
    for name in present:
        values = fp[name] * reference
        values.attrs = {"units": SED_UNITS[sed_type]}
        out[name.replace("norm", sed_type, 1)] = values
    out[f"ref_{sed_type}"] = reference
    return xr.Dataset(out, coords=coords)


def reference_quantity(fp: xr.Dataset, sed_type: str) -> xr.DataArray:
    """The reference ``ref_<sed_type>`` of flux points, in :data:`SED_UNITS`.

    ``ref_e2dnde`` is derived from ``ref_dnde`` and the ``energy`` coordinate
    when it is missing. Other units are converted.

    Raises
    ------
    ConfigError
        If the reference is missing.
    """
    name = f"ref_{sed_type}"
    if name not in fp and sed_type == "e2dnde" and "ref_dnde" in fp:
        energy = fp[ENERGY] * _factor(fp[ENERGY].attrs.get("units") or "TeV", "TeV")
        values = reference_quantity(fp, "dnde") * energy**2
        values.attrs = {"units": SED_UNITS["e2dnde"]}
        return values.rename(name)
    if name not in fp:
        raise ConfigError(f"the flux points have no reference {name!r} ({list(fp)})")
    values = fp[name] * _factor(fp[name].attrs.get("units", SED_UNITS[sed_type]),
                                SED_UNITS[sed_type])  # fmt: skip
    values.attrs = {"units": SED_UNITS[sed_type]}
    return values.rename(name)


# --------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------


def _factor(unit: str, target: str) -> float:
    return float(parse_unit(unit).to(parse_unit(target)))


def _check_positive(value: float, name: str) -> None:
    if not (np.isscalar(value) and np.isfinite(value) and value > 0):
        raise ConfigError(f"flux_points: {name} must be a positive number, got {value!r}")


def _scan_values(scan: Any) -> np.ndarray | None:
    if scan is None:
        return None
    values = np.atleast_1d(np.asarray(scan, dtype=float))
    if values.ndim != 1 or values.size < 2 or not np.all(np.isfinite(values)):
        raise ConfigError(f"flux_points: scan must be a 1D array of norms, got {scan!r}")
    if np.any(np.diff(values) <= 0):
        raise ConfigError("flux_points: scan norms must be increasing")
    return values


def _dataset_list(data: Any) -> list[tuple[str | None, xr.Dataset]]:
    if isinstance(data, xr.Dataset):
        items = [(data.attrs.get("name"), data)]
    elif isinstance(data, Mapping):
        items = [(str(name), ds) for name, ds in data.items()]
    elif isinstance(data, Iterable) and not isinstance(data, str | bytes):
        items = [(getattr(ds, "attrs", {}).get("name"), ds) for ds in data]
    else:
        raise ConfigError(
            f"flux_points: data must be a dataset or a list of them, got {type(data).__name__}"
        )
    if not items:
        raise ConfigError("flux_points: no datasets given")
    for name, ds in items:
        if not isinstance(ds, xr.Dataset) or "counts" not in ds:
            raise ConfigError(
                f"flux_points: dataset {name!r} must be an xarray.Dataset with 'counts'"
            )
    return items


def _energy_edges(energy_edges: Any) -> np.ndarray:
    if isinstance(energy_edges, u.Quantity):
        try:
            energy_edges = energy_edges.to_value(u.TeV)
        except u.UnitConversionError as err:
            raise GeometryError(f"energy_edges: {energy_edges.unit} is not an energy") from err
    elif isinstance(energy_edges, xr.DataArray):
        factor = _factor(energy_edges.attrs.get("units") or "TeV", "TeV")
        energy_edges = energy_edges.to_numpy() * factor
    values = np.asarray(energy_edges, dtype=float)
    if values.ndim != 1 or values.size < 2:
        raise GeometryError(f"energy_edges: need at least two edges (1D), got {values.shape}")
    if not (np.all(np.isfinite(values)) and np.all(values > 0) and np.all(np.diff(values) > 0)):
        raise GeometryError(f"energy_edges: need increasing positive energies (TeV), got {values}")
    return values


def _snap(requested: np.ndarray, reco: np.ndarray, name: str | None) -> np.ndarray:
    """Indices of the dataset edges nearest (in log energy) to the requested edges."""
    index = nearest_edges(requested, reco)
    if np.any(np.diff(index) <= 0):
        empty = [
            (float(requested[i]), float(requested[i + 1]))
            for i in np.flatnonzero(np.diff(index) <= 0)
        ]
        raise GeometryError(
            f"energy_edges: the bins {empty} TeV hold no reconstructed-energy bin of dataset "
            f"{name!r} once snapped to its edges ({np.round(reco, 4).tolist()} TeV); "
            "choose edges at least one dataset bin apart"
        )
    return index


def _split_models(models: Models, source: str, name: str | None) -> tuple[SkyModel | None, Any]:
    """The source (if it applies to this dataset) and the models without it."""
    from gammaxr.models import Models

    applying = models if name is None else models.for_dataset(name)
    others = Models(m for key, m in applying.items() if key != source)
    return applying.get(source), others


# --------------------------------------------------------------------------------------
# The fast path: fit_norm on every bin at once
# --------------------------------------------------------------------------------------


def _energy_first(da: xr.DataArray, like: xr.DataArray, lead: int = 1) -> np.ndarray:
    """``da`` broadcast like ``like``, as float64 ``(*like.shape[:lead], rest)``.

    ``like`` has energy first (``lead=1``: ``(n_energy, rest)``), or a batch dim
    then energy (``lead=2``: ``(n_batch, n_energy, rest)``).
    """
    values = da.broadcast_like(like).transpose(*like.dims).to_numpy()
    return np.asarray(values, dtype=np.float64).reshape(*values.shape[:lead], -1)


def _fit_fast(datasets, groups, models, source, n_sigma, n_sigma_ul, scan) -> dict[str, Any]:
    inputs = _fast_inputs(datasets, groups, models, source)
    return _solve_fast(inputs, n_sigma, n_sigma_ul, scan)


def _fast_inputs(
    datasets: list[tuple[str | None, xr.Dataset]],
    groups: list[np.ndarray],
    models: Models,
    source: str,
    *,
    batch_dim: str | None = None,
) -> dict[str, Any]:
    """The arrays of the one-parameter fits of every flux-point bin (the fast path).

    Parameters
    ----------
    datasets, groups, models, source
        As in :func:`_fit_fast`: ``(name, dataset)`` pairs, each dataset's
        reco-energy group edges (indices), the models and the source's name.
    batch_dim : str, optional
        A dim of every dataset (e.g. ``obs_id``) along which to fit separately:
        one problem per entry (a leading batch axis in every array) instead of
        one whose statistic sums over the dim. Entry ``i`` uses exactly the bins
        it would use on its own.

    Returns
    -------
    dict
        ``onoff`` (bool: WStat); ``arrays``: ``n`` (counts), ``s`` (source at
        ``norm = 1``), ``b`` (Cash: everything else predicted), ``m`` (mask,
        0/1), ``off`` and ``alpha`` (WStat), each ``(*batch, n_groups, n_bins)``;
        ``totals``: ``counts``, ``signal``, ``background``, each
        ``(*batch, n_groups)``, summed over the fitted bins (the background over
        every bin in the mask).
    """
    from gammaxr.fit.statistics import combined_mask
    from gammaxr.fit.wstat import on_off_alpha
    from gammaxr.models import SkyModel
    from gammaxr.models.npred import fold, npred

    kinds = {"counts_off" in ds for _, ds in datasets}
    if len(kinds) > 1:
        raise ConfigError(
            "flux_points: on-off datasets (WStat) and datasets with a background (Cash) "
            "cannot share the fast one-parameter fit; pass reoptimize=True"
        )
    onoff = kinds.pop()
    lead = 1 if batch_dim is None else 2
    n_groups = len(groups[0]) - 1
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("n", "s", "b", "m", "off", "alpha")}
    batch: tuple[int, ...] = ()
    if batch_dim is not None:
        batch = (datasets[0][1].sizes[batch_dim],)
    totals = {key: np.zeros((*batch, n_groups)) for key in ("counts", "signal", "background")}
    for (name, ds), index in zip(datasets, groups, strict=True):
        model, others = _split_models(models, source, name)
        # the layout of every array below: (batch?, energy, rest)
        order = (ENERGY, ...) if batch_dim is None else (batch_dim, ENERGY, ...)
        like = ds["counts"].transpose(*order)
        mask_da = combined_mask(ds)
        mask = (
            np.ones((*like.shape[:lead], like.size // int(np.prod(like.shape[:lead]))))
            if mask_da is None
            else _energy_first(mask_da.astype(float), like, lead)
        )
        n = np.nan_to_num(_energy_first(like, like, lead))
        if model is None:
            signal = np.zeros_like(n)
        else:  # >= 0 (an FFT convolution leaves round-off of either sign, ~1e-16)
            signal = np.maximum(_energy_first(fold(ds, model), like, lead), 0.0)
        if onoff:
            if any(isinstance(m, SkyModel) for m in others.values()):
                raise ConfigError(
                    "flux_points: other sky models on an on-off dataset need reoptimize=True"
                )
            off = _energy_first(ds["counts_off"], like, lead)
            alpha = _energy_first(on_off_alpha(ds), like, lead)
            background = np.zeros_like(n)
        else:
            background = _energy_first(npred(ds, others, dataset_name=name), like, lead)
            # bins without signal are constant in norm: drop them (large maps); in a
            # batch, keep those of any entry and mask out, per entry, those of others
            own = np.any((signal * mask) > 0, axis=-2)  # (batch?, rest)
            keep = np.flatnonzero(own.reshape(-1, own.shape[-1]).any(axis=0))
            totals["background"] += _group_sums(np.sum(background * mask, axis=-1), index)
            n, signal, background, mask = (a[..., keep] for a in (n, signal, background, mask))
            mask = mask * own[..., np.newaxis, keep]
            off = alpha = None
        totals["counts"] += _group_sums(np.sum(n * mask, axis=-1), index)
        totals["signal"] += _group_sums(np.sum(signal * mask, axis=-1), index)
        gathered = _gather(index, n=n, s=signal, b=background, m=mask, off=off, alpha=alpha)
        for key, value in gathered.items():
            parts[key].append(value)
    arrays = {k: np.concatenate(v, axis=-1) for k, v in parts.items() if v}
    return {"onoff": onoff, "arrays": arrays, "totals": totals}


def _solve_fast(
    inputs: dict[str, Any],
    n_sigma: float,
    n_sigma_ul: float,
    scan: np.ndarray | None,
    *,
    compress: bool = False,
) -> dict[str, Any]:
    """Fit the norm of every problem of :func:`_fast_inputs` (one :func:`fit_norm` call).

    ``compress`` (Cash only) first merges, per problem, the bins without counts
    into one (see :func:`_compress_cash`): the same statistic, summed in
    another order, so the results change by rounding only, and much faster on
    maps where few bins have counts.

    Returns
    -------
    dict
        The flux-point quantities (``norm``, errors, ``ts``, ``stat``,
        ``stat_null``, ``success``, ``counts``, ``npred``, ``npred_excess`` and
        ``stat_scan`` if ``scan``), each of the problems' batch shape.
    """
    from gammaxr.estimators.norm_fit import fit_norm, norm_scan

    onoff, arrays, totals = inputs["onoff"], dict(inputs["arrays"]), inputs["totals"]
    if compress and not onoff:
        arrays = _compress_cash(arrays)
    common = {
        "mask": arrays["m"] > 0,
        "counts_off": arrays.get("off"),
        "alpha": arrays.get("alpha"),
    }
    background = None if onoff else arrays["b"]
    res = fit_norm(arrays["n"], arrays["s"], background, axis=-1, n_sigma=n_sigma,
                   n_sigma_ul=n_sigma_ul, **common)  # fmt: skip
    norm = res["norm"]
    if onoff:
        npred_total = res["npred_background"] + norm * res["npred_signal"]
    else:
        npred_total = totals["background"] + norm * totals["signal"]
    out = {key: res[key] for key in (*NORM_QUANTITIES, "ts", "stat", "stat_null", "success")}
    out.update(counts=totals["counts"], npred=npred_total, npred_excess=norm * totals["signal"])
    if scan is not None:
        out["stat_scan"] = norm_scan(arrays["n"], arrays["s"], background, scan, axis=-1,
                                     **common)  # fmt: skip
    return out


def _compress_cash(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Cash problems ``(..., K)`` with the bins without counts merged into one per problem.

    Where ``n = 0`` a bin adds ``2 (b + norm s)`` to the Cash statistic, linear
    in ``norm``: the sum over such bins is one bin with the summed ``b`` and
    ``s``. The bin without counts that sets the lower bound of ``norm`` (the
    largest ``-b / s``) stays as it is, so the domain does not change. Bins with
    counts keep their order; problems are padded (masked) to a common width.
    """
    n, s, b, m = (arrays[key] for key in ("n", "s", "b", "m"))
    shape = n.shape[:-1]
    n, s, b, m = (a.reshape(-1, a.shape[-1]) for a in (n, s, b, m))
    used = m > 0
    empty = used & (n == 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(empty & (s > 0), -b / np.where(s > 0, s, 1.0), -np.inf)
    bound = np.argmax(ratio, axis=1)
    rows = np.arange(n.shape[0])
    kept = used & (n > 0)
    kept[rows, bound] |= np.isfinite(ratio[rows, bound])
    merged = empty & ~kept
    order = np.argsort(~kept, axis=1, kind="stable")  # kept bins first, in order
    width = int(kept.sum(axis=1).max())
    take = order[:, :width]
    inside = np.arange(width)[np.newaxis, :] < kept.sum(axis=1)[:, np.newaxis]
    out = {}
    for key, values, extra in (
        ("n", n, np.zeros(n.shape[0])),
        ("s", s, np.sum(np.where(merged, s, 0.0), axis=1)),
        ("b", b, np.sum(np.where(merged, b, 0.0), axis=1)),
        ("m", m, merged.any(axis=1).astype(m.dtype)),
    ):
        taken = np.take_along_axis(values, take, axis=1)
        if key == "m":
            taken = taken * inside
        joined = np.concatenate([taken, extra[:, np.newaxis]], axis=1)
        out[key] = joined.reshape(*shape, width + 1)
    return out


def _group_sums(per_bin: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Sums of ``per_bin`` over the dataset bins ``[index[g], index[g + 1])`` (last axis)."""
    zeros = np.zeros((*per_bin.shape[:-1], 1))
    cumulative = np.concatenate([zeros, np.cumsum(per_bin, axis=-1)], axis=-1)
    return cumulative[..., index[1:]] - cumulative[..., index[:-1]]


def _gather(index: np.ndarray, **arrays: np.ndarray | None) -> dict[str, np.ndarray]:
    """``(..., n_energy, rest)`` arrays regrouped to ``(..., n_groups, width * rest)``, padded.

    Group ``g`` holds the dataset bins ``[index[g], index[g + 1])``; groups
    narrower than the widest are padded with masked-out bins.
    """
    widths = np.diff(index)
    offsets = np.arange(widths.max())
    rows = np.minimum(index[:-1, None] + offsets[None, :], index[-1] - 1)  # (G, W)
    inside = offsets[None, :] < widths[:, None]
    out = {}
    for key, values in arrays.items():
        if values is None:
            continue
        taken = np.take(values, rows, axis=-2)  # (..., G, W, rest)
        if key == "m":
            taken = taken * inside[:, :, None]
        out[key] = taken.reshape(*taken.shape[:-3], taken.shape[-3], -1)
    return out


# --------------------------------------------------------------------------------------
# The general path: gammaxr.fit per bin
# --------------------------------------------------------------------------------------


def _bin_models(models: Models, source: str) -> tuple[Models, str]:
    """Models for one bin's general fit: the source rescaled, the others as they are.

    The source becomes ``ScaleSpectralModel(reference)`` with a free ``norm`` (its
    own other parameters frozen); the free parameters of the other models are refit.
    """
    from gammaxr.models import Models, SkyModel
    from gammaxr.models.spectral_base import ScaleSpectralModel

    def frozen(model):
        changes = {
            name: replace(p, frozen=True) for name, p in model.parameters.items() if not p.frozen
        }
        return model.with_parameters(**changes) if changes else model

    items = []
    for name, model in models.items():
        if name == source:
            spatial = None if model.spatial is None else frozen(model.spatial)
            temporal = None if model.temporal is None else frozen(model.temporal)
            model = SkyModel(ScaleSpectralModel(model.spectral), spatial, temporal,
                             name=name, datasets_names=model.datasets_names)  # fmt: skip
        items.append(model)
    return Models(items), f"{source}.spectral.norm"


def _fit_general(
    datasets, groups, models, source, n_sigma, n_sigma_ul, scan, backend
) -> dict[str, Any]:
    from gammaxr.fit import JointCost, as_cost, fit
    from gammaxr.fit.backends import get_backend, profile_crossing
    from gammaxr.fit.fit import Problem
    from gammaxr.fit.profile import profile

    start, norm_name = _bin_models(models, source)
    func = get_backend(backend)
    # start each bin's fit at the one-parameter solution (a robust start and step size:
    # far below it, a norm that drives predicted counts to zero flattens the Cash statistic)
    try:
        first_guess = _fit_fast(datasets, groups, models, source, 1.0, 1.0, None)
    except ConfigError:  # on-off and Cash datasets mixed: start at the reference
        first_guess = {
            "norm": np.ones(len(groups[0]) - 1),
            "norm_err": np.full(len(groups[0]) - 1, 0.1),
        }
    n_groups = len(groups[0]) - 1
    keys = (*NORM_QUANTITIES, "ts", "stat", "stat_null", "counts", "npred", "npred_excess")
    out: dict[str, Any] = {key: np.full(n_groups, np.nan) for key in keys}
    out["success"] = np.zeros(n_groups, bool)
    if scan is not None:
        out["stat_scan"] = np.full((n_groups, scan.size), np.nan)
    for g in range(n_groups):
        members = []
        for (_, ds), index in zip(datasets, groups, strict=True):
            in_bin = xr.zeros_like(ds[ENERGY], dtype=bool)
            in_bin[index[g] : index[g + 1]] = True
            mask_fit = in_bin if "mask_fit" not in ds else ds["mask_fit"] & in_bin
            selected = ds.assign(mask_fit=mask_fit)
            members.append((as_cost(selected), selected))
        cost = members[0][0] if len(members) == 1 else JointCost(*(c for c, _ in members))
        guess, step = first_guess["norm"][g], first_guess["norm_err"][g]
        start_norm = replace(
            start.parameters[norm_name],
            value=guess if np.isfinite(guess) else 1.0,
            error=step if np.isfinite(step) and step > 0 else 0.1,
        )
        result = fit(cost, start.with_parameters(**{norm_name: start_norm}), backend=backend)
        problem = Problem(cost, result.models)
        index = problem.names.index(norm_name)
        x_best, fun_best = problem.x0, result.statistic
        error = float(result.parameters.loc[norm_name, "error"])
        step = error if np.isfinite(error) and error > 0 else 0.1

        def crossing(delta, direction, problem=problem, x_best=x_best, fun_best=fun_best,
                     index=index, step=step):  # fmt: skip
            try:
                return profile_crossing(
                    func, problem, x_best, fun_best, problem.bounds, problem.scales, index,
                    delta=delta * problem.cost.errordef, direction=direction, step=step,
                    errordef=problem.cost.errordef,
                )  # fmt: skip
            except GammaxrError:  # the re-fits left the valid domain: no crossing
                return np.nan

        norm = float(x_best[index])
        null = profile(cost, result.models, norm_name, [0.0], backend=backend)
        out["norm"][g], out["norm_err"][g] = norm, error
        out["norm_errp"][g] = crossing(n_sigma**2, +1) - norm
        out["norm_errn"][g] = norm - crossing(n_sigma**2, -1)
        out["norm_ul"][g] = crossing(n_sigma_ul**2, +1)
        out["stat"][g], out["stat_null"][g] = fun_best, float(null.statistic[0])
        out["ts"][g] = max(float(null.statistic[0]) - fun_best, 0.0)
        out["success"][g] = result.success and bool(null.success[0])
        if scan is not None:
            scanned = profile(cost, result.models, norm_name, scan, backend=backend)
            out["stat_scan"][g] = scanned.statistic.to_numpy()
        totals = [_predicted(member, ds, result.models, source) for member, ds in members]
        out["counts"][g], out["npred"][g], out["npred_excess"][g] = np.sum(totals, axis=0)
    return out


def _predicted(cost: Any, ds: xr.Dataset, models: Models, source: str) -> tuple[float, ...]:
    """Observed counts, total and source predicted counts over a cost's fitted bins."""
    from gammaxr.fit import OnOffCost
    from gammaxr.fit.wstat import on_off_alpha, wstat_mu_bkg
    from gammaxr.models import Models as _Models

    mask = 1.0 if cost.mask is None else cost.mask.to_numpy()
    counts = cost.counts.to_numpy().astype(float)
    mu = np.asarray(cost.npred(models), dtype=float)
    # the predictor adds the dataset's own background (if any): the source alone is
    # its prediction with the source minus that without any model
    empty = np.asarray(cost.npred(_Models([])), dtype=float)
    excess = np.asarray(cost.npred(_Models([models[source]])), dtype=float) - empty
    if isinstance(cost, OnOffCost):
        alpha = on_off_alpha(ds).broadcast_like(cost.counts).to_numpy()
        off = ds["counts_off"].broadcast_like(cost.counts).to_numpy().astype(float)
        mu = mu + alpha * wstat_mu_bkg(counts, off, alpha, mu)
    return (
        float(np.sum(counts * mask)),
        float(np.sum(mu * mask)),
        float(np.sum(excess * mask)),
    )


# --------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------


def _assemble(
    results, energy_edges, model, n_sigma, n_sigma_ul, scan, leading: tuple[str, ...] = ()
) -> xr.Dataset:
    """The flux-point dataset; ``leading`` names the dims of a batch of them (e.g. ``time``).

    With ``leading``, ``results`` hold arrays ``(*batch, n_energy)`` and every
    variable gets those dims first (the reference quantities broadcast along them).
    """
    from gammaxr.io.models_yaml import write_models
    from gammaxr.models import Models

    axis = axis_from_edges(energy_edges, name=ENERGY, units="TeV", interp="log")
    lo, hi, centre = axis[f"{ENERGY}_lo"].values, axis[f"{ENERGY}_hi"].values, axis.values
    spectral = model.spectral
    ref_dnde = np.asarray(spectral(centre), dtype=float)
    reference = {
        "ref_dnde": ref_dnde,
        "ref_e2dnde": ref_dnde * centre**2,
        "ref_flux": np.asarray(spectral.integral(lo, hi), dtype=float),
        "ref_eflux": np.asarray(spectral.energy_flux(lo, hi), dtype=float),
    }
    norm = np.asarray(results["norm"], dtype=float)
    ts = np.asarray(results["ts"], dtype=float)
    dims = (*leading, ENERGY)
    variables: dict[str, Any] = {}
    for name in NORM_QUANTITIES:
        variables[name] = (dims, np.asarray(results[name], float), {"units": ""})
    variables["ts"] = (dims, ts, {"units": ""})
    variables["sqrt_ts"] = (dims, np.sign(norm) * np.sqrt(np.maximum(ts, 0.0)), {"units": ""})
    for name in ("stat", "stat_null", "counts", "npred", "npred_excess"):
        variables[name] = (dims, np.asarray(results[name], float), {"units": ""})
    for name, values in reference.items():
        if leading:
            values = np.broadcast_to(values, norm.shape).copy()
        variables[name] = (dims, values, {"units": SED_UNITS[name[4:]]})
    variables["success"] = (dims, np.asarray(results["success"], bool))
    coords = dict(axis.coords)
    if scan is not None:
        coords["norm_scan"] = ("norm_scan", scan, {"units": ""})
        variables["stat_scan"] = ((*dims, "norm_scan"), results["stat_scan"], {"units": ""})
    try:
        yaml_text = write_models(Models([model]))
    except GammaxrError:  # a template model needs files to be written: no YAML then
        yaml_text = ""
    attrs = {
        "sed_type_init": "likelihood",
        "n_sigma": float(n_sigma),
        "n_sigma_ul": float(n_sigma_ul),
        "source": model.name,
        "reference_model": yaml_text,
    }
    return xr.Dataset(variables, coords=coords, attrs=attrs)
