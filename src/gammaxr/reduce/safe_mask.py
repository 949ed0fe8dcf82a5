"""Safe data-range masks: which bins of a map dataset to use.

Each method is a function returning a boolean DataArray (True: safe, use the
bin), on the dims it depends on; :func:`make_safe_mask` combines the chosen
methods with a logical and and broadcasts to ``(energy, lat, lon)``.

The definitions follow Gammapy's ``SafeMaskMaker`` (v2.1) with its default
``irfs="DL4"``:

``offset-max``
    Pixels whose centre is closer than ``offset_max`` (default 3 deg) to the
    pointing.
``aeff-default``
    Reco-energy bins lying entirely within the energy range given with the
    effective area (``LO_THRES`` / ``HI_THRES``, ``attrs["lo_thres"]`` /
    ``["hi_thres"]``), or else the obs-index ``SAFE_ENERGY_LO`` / ``_HI``.
``aeff-max``
    Reco-energy bins whose lower edge is at or above the true energy where the
    effective area, at the geometry centre (or a given position / offset)
    and sampled at the true-energy bin centres of the geometry, first reaches
    ``percent`` % of its maximum. Between those samples the curve is a power
    law (log-log interpolation), so the crossing is found exactly.
``edisp-bias``
    Reco-energy bins whose lower edge is at or above ``E_true * (1 + b)``,
    where ``E_true`` is the first true energy above the one of maximal bias
    at which the relative bias of the migration matrix falls to
    ``b = percent / 100`` (log-log interpolation between the true-energy bin
    centres, as Gammapy does). The bias is ``<E_reco> / E_true - 1``, with
    ``<E_reco>`` the mean of the reco bin centres weighted by the matrix row.
``bkg-peak``
    Reco-energy bins from the one where the predicted background summed over
    the map peaks upwards.

As Gammapy, the energy methods neglect the energy dispersion: a threshold
in true energy is applied to reconstructed energy. Energy bins are kept only if
they lie entirely in the allowed range (bin edges compared with a relative
tolerance of 1e-9).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from gammaxr.conventions import (
    ENERGY,
    ENERGY_TRUE,
    LAT,
    LON,
    hi_name,
    lo_name,
    require_dims,
    require_units,
)
from gammaxr.exceptions import ConfigError
from gammaxr.irf import interpolate
from gammaxr.reduce._geometry import Position, _offset_array, position_offset
from gammaxr.reduce._irf_domain import domain_mask

if TYPE_CHECKING:
    from gammaxr.data.observation import Observation

__all__ = [
    "SAFE_MASK_METHODS",
    "energy_mask",
    "make_safe_mask",
    "mask_aeff_default",
    "mask_aeff_max",
    "mask_bkg_invalid",
    "mask_bkg_peak",
    "mask_edisp_bias",
    "mask_offset_max",
    "safe_mask_methods",
]

SAFE_MASK_METHODS = ("offset-max", "aeff-default", "aeff-max", "edisp-bias", "bkg-peak")

# Keyword options each method accepts.
_OPTIONS = {
    "offset-max": {"offset_max"},
    "aeff-default": set(),
    "aeff-max": {"percent", "position", "offset"},
    "edisp-bias": {"percent", "position", "offset"},
    "bkg-peak": set(),
}

_RTOL = 1e-9
_TINY = np.finfo(np.float64).tiny


def energy_mask(
    geom: xr.Dataset | xr.DataArray,
    energy_min: float | xr.DataArray | None = None,
    energy_max: float | xr.DataArray | None = None,
) -> xr.DataArray:
    """Reco-energy bins lying entirely within ``[energy_min, energy_max]`` (TeV).

    Parameters
    ----------
    geom : xarray.Dataset or xarray.DataArray
        Anything with an ``energy`` axis with edges.
    energy_min, energy_max : float or xarray.DataArray, optional
        Range in TeV; ``None`` leaves that side open. A NaN bound masks every bin.

    Returns
    -------
    xarray.DataArray
        Boolean ``(energy,)`` (broadcast with the bounds' dims).
    """
    require_dims(geom, (ENERGY,), what="energy_mask geometry")
    low = require_units(geom.coords[lo_name(ENERGY)], "TeV", what="energy_lo")
    high = require_units(geom.coords[hi_name(ENERGY)], "TeV", what="energy_hi")
    mask = xr.ones_like(low, dtype=bool)
    if energy_min is not None:
        mask = mask & (low >= energy_min * (1 - _RTOL))
    if energy_max is not None:
        mask = mask & (high <= energy_max * (1 + _RTOL))
    return _mask(mask, geom, "mask_energy")


def _mask(mask: xr.DataArray, geom, name: str) -> xr.DataArray:
    """Name a mask, keep only ``units`` in its attrs and the geometry's coords on its dims."""
    coords = {key: c for key, c in geom.coords.items() if set(c.dims) <= set(mask.dims)}
    mask = mask.assign_coords(coords)
    mask.name = name
    mask.attrs = {"units": ""}
    return mask


def mask_offset_max(
    observation: Observation, geom: xr.Dataset | xr.DataArray, *, offset_max: float = 3.0
) -> xr.DataArray:
    """Pixels whose centre is closer than ``offset_max`` (deg) to the pointing.

    Returns
    -------
    xarray.DataArray
        Boolean ``(lat, lon)``.
    """
    values = _offset_max_values(observation, geom, offset_max=offset_max)
    return _wrap_mask(values, (LAT, LON), geom, "mask_offset_max")


def _offset_max_values(observation: Observation, geom, *, offset_max: float = 3.0) -> np.ndarray:
    if not offset_max > 0:
        raise ConfigError(f"offset-max: offset_max must be positive, got {offset_max}")
    return _offset_array(geom, observation.pointing) < offset_max


def _wrap_mask(values: np.ndarray, dims: tuple[str, ...], geom, name: str) -> xr.DataArray:
    """A numpy mask as a DataArray, as :func:`_mask` names and labels it."""
    coords = {key: c.variable for key, c in geom.coords.items() if set(c.dims) <= set(dims)}
    return xr.DataArray(values, dims=dims, coords=coords, name=name, attrs={"units": ""})


def mask_aeff_default(observation: Observation, geom: xr.Dataset | xr.DataArray) -> xr.DataArray:
    """Reco-energy bins within the safe range given with the effective area.

    The range is the effective area's ``lo_thres`` / ``hi_thres`` attrs (GADF
    ``LO_THRES`` / ``HI_THRES``, TeV); a missing bound falls back to the
    obs-index ``safe_energy_lo`` / ``safe_energy_hi``. A bound found in
    neither is left open, with a warning.

    Returns
    -------
    xarray.DataArray
        Boolean ``(energy,)``.
    """
    bounds = _aeff_default_bounds(observation)
    mask = energy_mask(geom, bounds[0], bounds[1])
    return mask.rename("mask_aeff_default")


def _aeff_default_bounds(observation: Observation) -> list[float | None]:
    """The safe energy range of ``aeff-default``, TeV (None: open), warning when missing."""
    bounds: list[float | None] = []
    for attr, info_key in (("lo_thres", "safe_energy_lo"), ("hi_thres", "safe_energy_hi")):
        value = observation.aeff.attrs.get(attr, observation.info.get(info_key))
        if value is None or not np.isfinite(float(value)):
            warnings.warn(
                f"observation {observation.obs_id}: no {attr} on the effective area and no "
                f"{info_key} in the obs index; that side of the safe energy range is open",
                stacklevel=2,
            )
            bounds.append(None)
        else:
            bounds.append(float(value))
    return bounds


def _energy_mask_values(geom, energy_min: float | None, energy_max: float | None) -> np.ndarray:
    """:func:`energy_mask` for scalar bounds, as a numpy ``(energy,)`` array."""
    require_dims(geom, (ENERGY,), what="energy_mask geometry")
    low = np.asarray(require_units(geom.coords[lo_name(ENERGY)], "TeV", what="energy_lo").values)
    high = np.asarray(require_units(geom.coords[hi_name(ENERGY)], "TeV", what="energy_hi").values)
    mask = np.ones(low.shape, dtype=bool)
    if energy_min is not None:
        mask = mask & (low >= energy_min * (1 - _RTOL))
    if energy_max is not None:
        mask = mask & (high <= energy_max * (1 + _RTOL))
    return mask


def mask_aeff_max(
    observation: Observation,
    geom: xr.Dataset | xr.DataArray,
    *,
    percent: float = 10.0,
    position: Position | None = None,
    offset: float | None = None,
) -> xr.DataArray:
    """Reco-energy bins above the energy where the effective area reaches ``percent`` % of its max.

    Parameters
    ----------
    observation : Observation
        The observation (effective area, pointing).
    geom : xarray.Dataset or xarray.DataArray
        Geometry with ``energy`` and ``energy_true`` axes (and a sky grid,
        for its centre).
    percent : float
        Threshold, percent of the maximum effective area (default 10).
    position : SkyCoord or (lon, lat), optional
        Where to evaluate the effective area (default: geometry centre).
    offset : float, optional
        Evaluate at this offset from the pointing instead, deg.

    Returns
    -------
    xarray.DataArray
        Boolean ``(energy,)``; all False if the effective area is zero there.
        ``attrs["energy_min"]`` is the threshold, TeV.
    """
    if not 0 < percent <= 100:
        raise ConfigError(f"aeff-max: percent must be in (0, 100], got {percent}")
    require_dims(geom, (ENERGY, ENERGY_TRUE), what="aeff-max geometry")
    aeff = require_units(observation.aeff, "m2", what="aeff")
    irf_offset = position_offset(observation.pointing, geom, position=position, offset=offset)
    energy_true = require_units(geom.coords[ENERGY_TRUE], "TeV", what=ENERGY_TRUE)
    values = interpolate(aeff, energy_true=energy_true, offset=irf_offset)
    values = values.where(domain_mask(aeff, energy_true=energy_true, offset=irf_offset), 0.0)
    threshold = xr.apply_ufunc(
        _aeff_threshold_kernel,
        values.drop_vars(["offset"], errors="ignore"),
        input_core_dims=[[ENERGY_TRUE]],
        kwargs={"energies": np.asarray(energy_true.values, dtype=float), "level": percent / 100},
        dask="parallelized",
        output_dtypes=[np.float64],
    )
    mask = energy_mask(geom, energy_min=threshold).rename("mask_aeff_max")
    return mask.assign_attrs(energy_min=float(threshold)) if threshold.ndim == 0 else mask


def _first_crossing(
    values: np.ndarray, energies: np.ndarray, level: np.ndarray, start: np.ndarray
) -> np.ndarray:
    """First energy at or after node ``start`` where a log-log interpolated curve equals ``level``.

    ``values`` (..., n) are sampled at ``energies`` (n,); non-positive values
    count as the smallest positive float. NaN where the curve never reaches
    ``level`` after ``start``.
    """
    if energies.size < 2:
        return np.where(np.asarray(values)[..., 0] == level, energies[0], np.nan)
    log_energy = np.log(energies)
    distance = np.log(np.clip(values, _TINY, None)) - np.log(level)[..., np.newaxis]
    d0, d1 = distance[..., :-1], distance[..., 1:]
    index = np.arange(energies.size - 1)
    crossing = ((d0 == 0) | (d0 * d1 < 0)) & (index >= start[..., np.newaxis])
    found = crossing.any(axis=-1)
    first = np.argmax(crossing, axis=-1)[..., np.newaxis]
    d0 = np.take_along_axis(d0, first, axis=-1)[..., 0]
    d1 = np.take_along_axis(d1, first, axis=-1)[..., 0]
    first = first[..., 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        step = np.where(d0 == 0, 0.0, -d0 / (d1 - d0))
    root = np.exp(log_energy[first] + step * (log_energy[first + 1] - log_energy[first]))
    last_equal = distance[..., -1] == 0
    root = np.where(found, root, np.where(last_equal, energies[-1], np.nan))
    return root


def _aeff_threshold_kernel(values: np.ndarray, *, energies: np.ndarray, level: float):
    """True energy where ``values`` (..., n) first reach ``level`` times their maximum."""
    positive = values > 0
    any_positive = positive.any(axis=-1)
    start = np.argmax(positive, axis=-1)
    target = level * np.max(values, axis=-1)
    with np.errstate(invalid="ignore"):
        root = _first_crossing(values, energies, np.where(any_positive, target, 1.0), start)
    fallback = energies[start]
    return np.where(any_positive, np.where(np.isnan(root), fallback, root), np.nan)


def mask_edisp_bias(
    observation: Observation,
    geom: xr.Dataset | xr.DataArray,
    *,
    percent: float = 10.0,
    position: Position | None = None,
    offset: float | None = None,
    edisp: xr.DataArray | None = None,
) -> xr.DataArray:
    """Reco-energy bins above the energy where the energy bias falls to ``percent`` %.

    Parameters
    ----------
    observation : Observation
        The observation (energy dispersion, pointing).
    geom : xarray.Dataset or xarray.DataArray
        Geometry with ``energy`` and ``energy_true`` axes (and a sky grid).
    percent : float
        Bias threshold, percent (default 10).
    position : SkyCoord or (lon, lat), optional
        Where to evaluate the energy dispersion (default: geometry centre).
    offset : float, optional
        Evaluate at this offset from the pointing instead, deg.
    edisp : xarray.DataArray, optional
        A migration matrix ``(energy_true, energy)`` already made at that
        place (:func:`gammaxr.reduce.make_edisp`), to reuse.

    Returns
    -------
    xarray.DataArray
        Boolean ``(energy,)``. ``attrs["energy_min"]`` is the reco-energy
        threshold, TeV.
    """
    from gammaxr.reduce.map import make_edisp

    if not percent > 0:
        raise ConfigError(f"edisp-bias: percent must be positive, got {percent}")
    if edisp is None:
        edisp = make_edisp(observation, geom, position=position, offset=offset)
    require_dims(edisp, (ENERGY_TRUE, ENERGY), what="edisp-bias migration matrix")
    energy_true = require_units(edisp.coords[ENERGY_TRUE], "TeV", what=ENERGY_TRUE)
    energy = require_units(edisp.coords[ENERGY], "TeV", what=ENERGY)
    matrix = edisp.astype(np.float64)
    total = matrix.sum(ENERGY)
    mean = ((matrix * energy).sum(ENERGY) / total.where(total > 0)).fillna(0.0)
    bias = (mean - energy_true) / energy_true
    level = percent / 100
    threshold = xr.apply_ufunc(
        _bias_threshold_kernel,
        bias.drop_vars([c for c in bias.coords if c != ENERGY_TRUE]),
        input_core_dims=[[ENERGY_TRUE]],
        kwargs={"energies": np.asarray(energy_true.values, dtype=float), "level": level},
        dask="parallelized",
        output_dtypes=[np.float64],
    )
    mask = energy_mask(geom, energy_min=threshold).rename("mask_edisp_bias")
    return mask.assign_attrs(energy_min=float(threshold)) if threshold.ndim == 0 else mask


def _bias_threshold_kernel(bias: np.ndarray, *, energies: np.ndarray, level: float):
    """Reco energy ``E_true * (1 + level)``, the bias falling to ``level`` after its peak."""
    start = np.argmax(np.where(np.isnan(bias), -np.inf, bias), axis=-1)
    root = _first_crossing(bias, energies, np.full(bias.shape[:-1], level), start)
    root = np.where(np.isnan(root), energies[start], root)
    return root * (1 + level)


def mask_bkg_peak(background: xr.DataArray) -> xr.DataArray:
    """Reco-energy bins from the peak of the background spectrum upwards.

    Parameters
    ----------
    background : xarray.DataArray
        Predicted background counts on ``(energy, ...)`` with energy edges
        (:func:`gammaxr.reduce.make_background`).

    Returns
    -------
    xarray.DataArray
        Boolean ``(energy,)``: bins whose lower edge is at or above that of
        the bin where the spectrum, summed over every other dim, is largest.
    """
    require_dims(background, (ENERGY,), what="bkg-peak background")
    others = [dim for dim in background.dims if dim != ENERGY]
    spectrum = background.astype(np.float64).sum(others).fillna(0.0)
    peak = spectrum.argmax(ENERGY)
    low = background.coords[lo_name(ENERGY)]
    mask = low >= low.isel({ENERGY: peak})
    return _mask(mask.drop_vars([c for c in mask.coords if c not in low.coords]), background,
                 "mask_bkg_peak")  # fmt: skip


def mask_bkg_invalid(background: xr.DataArray) -> xr.DataArray:
    """Bins where the predicted background is finite and positive (Gammapy always applies it)."""
    valid = np.isfinite(background) & (background > 0)
    return _mask(valid, background, "mask_bkg_invalid")


def safe_mask_methods(
    methods: Sequence[str] | Mapping[str, Mapping[str, Any]] | str,
) -> dict[str, dict[str, Any]]:
    """Normalise a safe-mask specification to ``{method: options}``.

    Raises
    ------
    ConfigError
        For an unknown method or options that are not a mapping.
    """
    if isinstance(methods, str):
        methods = [methods]
    if isinstance(methods, Mapping):
        spec = {str(name): dict(options or {}) for name, options in methods.items()}
    else:
        spec = {str(name): {} for name in methods}
    unknown = [name for name in spec if name not in SAFE_MASK_METHODS]
    if unknown:
        raise ConfigError(f"unknown safe-mask methods {unknown}; choose from {SAFE_MASK_METHODS}")
    for name, options in spec.items():
        bad = sorted(set(options) - _OPTIONS[name])
        if bad:
            raise ConfigError(
                f"safe-mask method {name!r}: unknown options {bad}; it takes "
                f"{sorted(_OPTIONS[name]) or 'none'}"
            )
    return spec


def make_safe_mask(
    observation: Observation,
    geom: xr.Dataset,
    methods: Sequence[str] | Mapping[str, Mapping[str, Any]] = ("aeff-default",),
    *,
    background: xr.DataArray | None = None,
    edisp: xr.DataArray | None = None,
    bkg: xr.DataArray | None = None,
) -> xr.DataArray:
    """Combine safe-mask methods into one ``mask_safe(energy, lat, lon)``.

    Parameters
    ----------
    observation : Observation
        The observation.
    geom : xarray.Dataset
        The dataset geometry (``energy``, ``lat``, ``lon``; ``energy_true``
        for ``aeff-max`` and ``edisp-bias``).
    methods : sequence of str, or mapping
        Methods from :data:`SAFE_MASK_METHODS`, or a mapping of method to
        keyword options of its function (``offset_max`` for ``offset-max``;
        ``percent``, ``position``, ``offset`` for ``aeff-max`` and
        ``edisp-bias``).
    background : xarray.DataArray, optional
        The predicted background, if made: used by ``bkg-peak`` (made when
        needed otherwise), and its zero or non-finite bins are excluded.
    edisp : xarray.DataArray, optional
        The migration matrix at the geometry centre, if made: reused by
        ``edisp-bias`` unless that method is given a position or offset.
    bkg : xarray.DataArray, optional
        Background IRF to use instead of ``observation.bkg`` when ``bkg-peak``
        has to make the background (see :func:`gammaxr.reduce.make_background`).

    Returns
    -------
    xarray.DataArray
        ``mask_safe(energy, lat, lon)``, bool (True: use the bin).
    """
    spec = safe_mask_methods(methods)
    require_dims(geom, (ENERGY, LAT, LON), what="make_safe_mask geometry")
    values = _safe_mask_values(
        observation,
        geom,
        spec,
        background=None if background is None else np.asarray(background.values),
        background_da=background,
        edisp=edisp,
        bkg=bkg,
    )
    return _wrap_mask(values, (ENERGY, LAT, LON), geom, "mask_safe")


def _safe_mask_values(
    observation: Observation,
    geom: xr.Dataset,
    spec: Mapping[str, Mapping[str, Any]],
    *,
    background: np.ndarray | None,
    background_da: xr.DataArray | None = None,
    edisp: xr.DataArray | None = None,
    bkg: xr.DataArray | None = None,
) -> np.ndarray:
    """:func:`make_safe_mask` as a numpy ``(energy, lat, lon)`` array.

    ``background`` is the predicted background as a numpy ``(energy, lat, lon)``
    array (``background_da`` the same as a DataArray, if there is one); the
    methods in ``spec`` are already checked (:func:`safe_mask_methods`).
    """
    from gammaxr.reduce.map import make_background

    n_energy, n_lat, n_lon = (geom.sizes[name] for name in (ENERGY, LAT, LON))
    # Combine the 1-D energy masks and the 2-D sky masks first, then broadcast once.
    energy_ok = np.ones(n_energy, dtype=bool)
    sky_ok = np.ones((n_lat, n_lon), dtype=bool)
    for name, options in spec.items():
        if name == "offset-max":
            sky_ok = sky_ok & _offset_max_values(observation, geom, **options)
            continue
        if name == "aeff-default":
            energy_ok = energy_ok & _energy_mask_values(geom, *_aeff_default_bounds(observation))
            continue
        if name == "aeff-max":
            part = mask_aeff_max(observation, geom, **options)
        elif name == "edisp-bias":
            reuse = edisp if not {"position", "offset"} & set(options) else None
            part = mask_edisp_bias(observation, geom, edisp=reuse, **options)
        elif name == "bkg-peak":
            if background_da is None and background is not None:
                background_da = _wrap_mask(background, (ENERGY, LAT, LON), geom, "background")
            if background_da is None:
                background_da = make_background(observation, geom, bkg=bkg)
            part = mask_bkg_peak(background_da)
        else:  # pragma: no cover - safe_mask_methods rejects unknown names
            raise ConfigError(f"unknown safe-mask method {name!r}")
        if part.dims != (ENERGY,):
            raise ConfigError(
                f"safe-mask method {name!r}: expected an (energy,) mask, got {part.dims}"
            )
        energy_ok = energy_ok & np.asarray(part.values, dtype=bool)
    mask = energy_ok[:, np.newaxis, np.newaxis] & sky_ok
    if background is not None:
        mask = mask & (np.isfinite(background) & (background > 0))
    return mask
