"""Field-of-view background normalisation: scale the background template to the data.

The IRF background template is fitted, per observation, to the counts in the
safe bins outside an exclusion mask (the sources): a norm, and optionally a
spectral tilt, ``background * norm * (E / reference) ** -tilt``. With the norm
alone the maximum-likelihood solution is closed form,
``norm = sum(counts) / sum(background)`` over the fit bins; with the tilt the
Poisson (Cash) likelihood of the energy spectrum of those bins is maximised
numerically. Where there are too few counts the background is left untouched
and a :class:`~gammaxr.exceptions.GammaxrWarning` says so.
"""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr
from scipy.optimize import minimize

from gammaxr.conventions import ENERGY, LAT, LON, OBS_ID, require_dims
from gammaxr.exceptions import DimensionError, GammaxrWarning, GeometryError

__all__ = ["fit_fov_background"]


def _cash(counts: np.ndarray, model: np.ndarray) -> float:
    model = np.maximum(model, 1e-300)
    return float(2 * np.sum(model - counts * np.log(model)))


def _fit_one(counts_e: np.ndarray, bkg_e: np.ndarray, energy: np.ndarray, reference: float,
             tilt: bool) -> tuple[float, float, bool]:  # fmt: skip
    """(norm, tilt, success) for one observation's fit-region spectra."""
    norm = counts_e.sum() / bkg_e.sum()
    if not tilt:
        return float(norm), 0.0, True
    log_e = np.log(energy / reference)

    def statistic(x: np.ndarray) -> float:
        return _cash(counts_e, bkg_e * np.exp(x[0] - x[1] * log_e))

    result = minimize(statistic, x0=[np.log(norm), 0.0], method="Nelder-Mead",
                      options={"xatol": 1e-8, "fatol": 1e-10, "maxiter": 2000})  # fmt: skip
    return float(np.exp(result.x[0])), float(result.x[1]), bool(result.success)


def fit_fov_background(
    dataset: xr.Dataset,
    exclusion_mask: xr.DataArray | None = None,
    *,
    tilt: bool = False,
    reference: float = 1.0,
    min_counts: int = 10,
) -> xr.Dataset:
    """Scale a map dataset's background to its counts outside excluded regions.

    Parameters
    ----------
    dataset : xarray.Dataset
        Map dataset with ``counts``, ``background`` (energy, lat, lon) and
        ``mask_safe``; one observation, or the joint form with an ``obs_id``
        dim (each observation is fitted on its own).
    exclusion_mask : xarray.DataArray, optional
        Boolean ``(lat, lon)``: True where a pixel is EXCLUDED from the fit (a
        source), e.g. ``gammaxr.region_mask(CircleSkyRegion(...), geom)``.
    tilt : bool
        Also fit a spectral tilt (``(E / reference) ** -tilt``).
    reference : float
        Reference energy of the tilt, TeV.
    min_counts : int
        Fewer counts than this in the fit bins leave the background untouched
        (with a warning).

    Returns
    -------
    xarray.Dataset
        A copy with ``background`` scaled and the fitted ``background_norm``,
        ``background_tilt`` (``obs_id`` dim in the joint form, else scalars)
        and ``background_fit_ok`` (False where the background was left as it was).
    """
    require_dims(dataset, (ENERGY, LAT, LON), what="fit_fov_background dataset")
    for name in ("counts", "background", "mask_safe"):
        if name not in dataset:
            raise DimensionError(f"fit_fov_background: the dataset has no {name!r} variable")
    if reference <= 0:
        raise GeometryError(f"fit_fov_background: reference must be positive, got {reference}")
    region = dataset["mask_safe"].astype(bool)
    if exclusion_mask is not None:
        require_dims(exclusion_mask, (LAT, LON), what="exclusion_mask")
        if exclusion_mask.dtype != bool:
            raise DimensionError("fit_fov_background: exclusion_mask must be boolean")
        region = region & ~exclusion_mask
    spatial = [LAT, LON]
    counts_e = dataset["counts"].where(region, 0).sum(spatial, dtype=np.float64)
    bkg_e = dataset["background"].where(region, 0).sum(spatial, dtype=np.float64)
    joint = OBS_ID in dataset.dims
    if not joint:
        counts_e, bkg_e = counts_e.expand_dims(OBS_ID), bkg_e.expand_dims(OBS_ID)
    counts_np = np.asarray(counts_e.transpose(OBS_ID, ENERGY).values)
    bkg_np = np.asarray(bkg_e.transpose(OBS_ID, ENERGY).values)
    energy = np.asarray(dataset[ENERGY].values, dtype=float)
    norms, tilts, ok = [], [], []
    for index in range(counts_np.shape[0]):  # a loop over observations only
        total = counts_np[index].sum()
        if total < min_counts or bkg_np[index].sum() <= 0:
            label = dataset[OBS_ID].values[index] if joint else dataset.attrs.get("obs_id", "")
            warnings.warn(
                f"fit_fov_background: observation {label}: {total:.0f} counts (< {min_counts}) "
                "or no background in the fit region; background left untouched",
                GammaxrWarning,
                stacklevel=2,
            )
            norms.append(1.0)
            tilts.append(0.0)
            ok.append(False)
            continue
        norm, slope, success = _fit_one(counts_np[index], bkg_np[index], energy, reference, tilt)
        if not success:
            warnings.warn(
                f"fit_fov_background: the norm/tilt fit did not converge for observation "
                f"{index}; background left untouched", GammaxrWarning, stacklevel=2,
            )  # fmt: skip
            norm, slope = 1.0, 0.0
        norms.append(norm)
        tilts.append(slope)
        ok.append(success)
    coords = {OBS_ID: counts_e[OBS_ID].values} if joint else None
    dims = (OBS_ID,) if joint else ()
    values = (np.array(norms), np.array(tilts), np.array(ok))
    if not joint:
        values = tuple(v[0] for v in values)  # type: ignore[assignment]
    norm_da = xr.DataArray(values[0], dims=dims, coords=coords, attrs={"units": ""})
    tilt_da = xr.DataArray(values[1], dims=dims, coords=coords, attrs={"units": ""})
    scale = norm_da * (dataset[ENERGY] / reference) ** (-tilt_da)
    out = dataset.copy()
    background = dataset["background"]
    scaled = (background * scale).astype(background.dtype).transpose(*background.dims)
    scaled.attrs = dict(background.attrs)  # arithmetic must not carry other attrs over
    out["background"] = scaled
    out["background_norm"] = norm_da
    out["background_tilt"] = tilt_da.assign_attrs(reference=reference)
    out["background_fit_ok"] = xr.DataArray(values[2], dims=dims, coords=coords)
    return out
