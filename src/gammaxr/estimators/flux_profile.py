r"""Flux profiles: counts, excess, significance and flux in a sequence of sky regions.

A profile measures how the emission changes along a line (boxes along a
line: :func:`boxes_along_line`), with the distance from a centre (annuli:
:func:`annuli`), or across any list of regions. For each region and energy
band :func:`flux_profile`

1. sums, over the pixels of the region (their centres inside it, as
   :func:`gammaxr.sky.region_mask`) and the dataset's safe mask, the counts,
   the background (the dataset's ``background``, or the predicted counts of
   ``models`` when given; for on-off maps :math:`\sum \alpha_p n_{\mathrm{off},p}`
   with the effective :math:`\alpha = \sum \alpha_p n_{\mathrm{off},p} / \sum
   n_{\mathrm{off},p}`, the rule Gammapy uses to reduce an on-off map to a
   region) and the reference signal;
2. fits the amplitude ``norm`` of the reference signal in each region and
   energy band with :func:`gammaxr.estimators.norm_fit.fit_norm` (Cash, or
   WStat for on-off maps), over the reco-energy bins of the band: norm, its
   symmetric and asymmetric errors, upper limit and TS.

The reference signal is a surface brightness constant over the sky with the
spectrum ``spectral_model`` (per sr), folded through the dataset's exposure
and energy dispersion (:func:`gammaxr.models.fold`; not through the PSF, which
leaves a uniform brightness unchanged except for spurious losses at the map's
edges). The flux of the
reference in a region is its spectrum integrated over the band times the
region's solid angle, so ``flux = norm * ref_flux`` is the flux from the
region (cm-2 s-1) that, spread uniformly over it, gives the measured excess.
Divide by ``solid_angle`` for a mean surface brightness.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import astropy.units as u
import numpy as np
import xarray as xr
import yaml
from astropy.coordinates import SkyCoord
from regions import (
    CircleAnnulusSkyRegion,
    CircleSkyRegion,
    RectangleSkyRegion,
    Regions,
    SkyRegion,
)

from gammaxr.axes import solid_angle
from gammaxr.conventions import ENERGY, LAT, LON, OBS_ID, edges, hi_name, lo_name
from gammaxr.estimators._maps import nearest_edges
from gammaxr.estimators.norm_fit import fit_norm
from gammaxr.exceptions import DimensionError, FormatError, GeometryError
from gammaxr.fit.statistics import combined_mask
from gammaxr.models.npred import fold, npred
from gammaxr.models.sky import Models, SkyModel
from gammaxr.models.spatial import ConstantSpatialModel
from gammaxr.models.spectral import PowerLawSpectralModel, SpectralModel
from gammaxr.sky.regions import as_region_list, region_mask, region_to_string
from gammaxr.stacking import stack, stack_on_off

__all__ = ["annuli", "boxes_along_line", "flux_profile"]

#: Dim of a profile's regions.
REGION = "region"


def _degrees(value: float | u.Quantity, name: str) -> float:
    if isinstance(value, u.Quantity):
        return float(value.to_value("deg"))
    try:
        return float(value)
    except (TypeError, ValueError):
        raise GeometryError(f"{name} must be an angle in deg, got {value!r}") from None


def _position(position: SkyCoord | tuple[float, float], frame: str, name: str) -> SkyCoord:
    if isinstance(position, SkyCoord):
        return position
    try:
        lon, lat = position
        return SkyCoord(float(lon), float(lat), unit="deg", frame=frame)
    except (TypeError, ValueError):
        raise GeometryError(
            f"{name} must be a SkyCoord or a (lon, lat) pair in deg, got {position!r}"
        ) from None


def boxes_along_line(
    start: SkyCoord | tuple[float, float],
    end: SkyCoord | tuple[float, float],
    n: int,
    width: float | u.Quantity,
    *,
    frame: str = "icrs",
) -> list[RectangleSkyRegion]:
    """``n`` adjacent rectangles tiling the great-circle arc from ``start`` to ``end``.

    Parameters
    ----------
    start, end : SkyCoord or (lon, lat)
        Ends of the profile line (pairs in deg, in ``frame``).
    n : int
        Number of boxes (>= 1).
    width : float or Quantity
        Size of the boxes across the line, deg.
    frame : {"icrs", "galactic"}
        Frame of ``(lon, lat)`` pairs (a SkyCoord keeps its own).

    Returns
    -------
    list of regions.RectangleSkyRegion
        Box ``i`` is centred at ``(i + 1/2) / n`` of the arc, its ``width`` (the
        size along the line, ``arc / n``) oriented along the arc's local
        direction there, its ``height`` is ``width``.

    Examples
    --------
    >>> from gammaxr.estimators import boxes_along_line
    >>> boxes = boxes_along_line((0, 0), (0, 2), 4, 0.5)
    >>> [round(float(b.center.dec.deg), 3) for b in boxes]
    [0.25, 0.75, 1.25, 1.75]
    >>> round(float(boxes[0].width.to_value("deg")), 3)
    0.5
    """
    start = _position(start, frame, "start")
    end = _position(end, frame, "end").transform_to(start.frame)
    if not isinstance(n, int | np.integer) or n < 1:
        raise GeometryError(f"boxes_along_line: n must be a positive integer, got {n!r}")
    height = _degrees(width, "width")
    if height <= 0:
        raise GeometryError(f"boxes_along_line: width must be positive, got {height}")
    length = start.separation(end).deg
    if length <= 0:
        raise GeometryError("boxes_along_line: start and end are the same position")
    fractions = (np.arange(n) + 0.5) / n
    centres = start.directional_offset_by(start.position_angle(end), fractions * length * u.deg)
    angles = centres.position_angle(end).to("deg") + 90 * u.deg
    step = length / n * u.deg
    return [
        RectangleSkyRegion(centres[i], width=step, height=height * u.deg, angle=angles[i])
        for i in range(n)
    ]


def annuli(
    centre: SkyCoord | tuple[float, float],
    radii: Sequence[float] | np.ndarray | u.Quantity,
    *,
    frame: str = "icrs",
) -> list[CircleSkyRegion | CircleAnnulusSkyRegion]:
    """Concentric annuli between consecutive radii (a circle if the first radius is 0).

    Parameters
    ----------
    centre : SkyCoord or (lon, lat)
        Common centre (a pair in deg, in ``frame``).
    radii : sequence of float or Quantity
        ``n + 1`` strictly increasing radii, deg (the first may be 0).
    frame : {"icrs", "galactic"}
        Frame of a ``(lon, lat)`` pair.

    Returns
    -------
    list of regions.CircleAnnulusSkyRegion (or a CircleSkyRegion first)

    Examples
    --------
    >>> from gammaxr.estimators import annuli
    >>> rings = annuli((83.63, 22.01), [0, 0.1, 0.2, 0.3])
    >>> [type(r).__name__ for r in rings]
    ['CircleSkyRegion', 'CircleAnnulusSkyRegion', 'CircleAnnulusSkyRegion']
    """
    centre = _position(centre, frame, "centre")
    values = radii.to_value("deg") if isinstance(radii, u.Quantity) else radii
    radii = np.asarray(values, dtype=float)
    if radii.ndim != 1 or radii.size < 2 or radii[0] < 0 or np.any(np.diff(radii) <= 0):
        raise GeometryError(
            f"annuli: radii must be >= 2 increasing non-negative values in deg, got {values!r}"
        )
    out: list[CircleSkyRegion | CircleAnnulusSkyRegion] = []
    for inner, outer in zip(radii[:-1], radii[1:], strict=True):
        if inner == 0:
            out.append(CircleSkyRegion(centre, outer * u.deg))
        else:
            out.append(CircleAnnulusSkyRegion(centre, inner * u.deg, outer * u.deg))
    return out


# --------------------------------------------------------------------------------------
# distances along the profile
# --------------------------------------------------------------------------------------


def _profile_axis(regions: list[SkyRegion]) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """``x_ref``, ``x_min``, ``x_max`` (deg) of each region, and the profile type."""
    radial = all(isinstance(r, CircleSkyRegion | CircleAnnulusSkyRegion) for r in regions)
    if radial:
        centre = regions[0].center
        radial = all(r.center.separation(centre).deg < 1e-9 for r in regions)
    if radial:
        inner = np.array(
            [
                r.inner_radius.to_value("deg") if isinstance(r, CircleAnnulusSkyRegion) else 0.0
                for r in regions
            ]
        )
        outer = np.array(
            [
                r.outer_radius.to_value("deg")
                if isinstance(r, CircleAnnulusSkyRegion)
                else r.radius.to_value("deg")
                for r in regions
            ]
        )
        return 0.5 * (inner + outer), inner, outer, "annuli"
    centres = SkyCoord([_centre(r) for r in regions])
    distance = centres.separation(centres[0]).deg
    if all(isinstance(r, RectangleSkyRegion) for r in regions):
        half = np.array([r.width.to_value("deg") / 2 for r in regions])
        x_ref = distance + half[0]
        return x_ref, x_ref - half, x_ref + half, "boxes"
    if len(regions) == 1:
        return distance, distance, distance, "regions"
    middles = 0.5 * (distance[1:] + distance[:-1])
    x_min = np.concatenate([[distance[0] - (middles[0] - distance[0])], middles])
    x_max = np.concatenate([middles, [distance[-1] + (distance[-1] - middles[-1])]])
    return distance, x_min, x_max, "regions"


def _centre(region: SkyRegion) -> SkyCoord:
    centre = getattr(region, "center", None)
    if centre is None:
        raise GeometryError(
            f"flux_profile: cannot place region {region!r} on the profile: it has no centre"
        )
    return centre.icrs


# --------------------------------------------------------------------------------------
# energy bands
# --------------------------------------------------------------------------------------


def _energy_groups(ds: xr.Dataset, energy_edges: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """Group index of each reco bin (-1: outside every group) and the snapped edges."""
    reco = edges(ds, ENERGY)
    n_bins = reco.size - 1
    if energy_edges is None:
        return np.zeros(n_bins, dtype=int), None
    if isinstance(energy_edges, u.Quantity):
        energy_edges = energy_edges.to_value("TeV")
    requested = np.asarray(energy_edges, dtype=float)
    if requested.ndim != 1 or requested.size < 2 or np.any(requested <= 0):
        raise FormatError(
            f"flux_profile: energy_edges must be >= 2 positive energies in TeV, got "
            f"{energy_edges!r}"
        )
    index = np.unique(nearest_edges(requested, reco))
    if index.size < 2:
        raise FormatError(
            f"flux_profile: energy_edges {requested.tolist()} snap to fewer than two of the "
            f"dataset's reco-energy edges {reco.tolist()}"
        )
    group = np.full(n_bins, -1)
    for g, (lo, hi) in enumerate(zip(index[:-1], index[1:], strict=True)):
        group[lo:hi] = g
    return group, reco[index]


# --------------------------------------------------------------------------------------
# the estimator
# --------------------------------------------------------------------------------------


def _as_regions(regions: Any) -> list[SkyRegion]:
    if isinstance(regions, str | Regions):
        items = as_region_list(regions)
    elif isinstance(regions, SkyRegion):
        items = [regions]
    else:
        try:
            items = list(regions)
        except TypeError:
            raise GeometryError(
                f"flux_profile: regions must be a sequence of sky regions or DS9 strings, got "
                f"{type(regions).__name__}"
            ) from None
        expanded: list[SkyRegion] = []
        for item in items:
            parsed = as_region_list(item)
            if len(parsed) != 1:
                raise GeometryError(
                    f"flux_profile: each region must be one region, got {len(parsed)} in {item!r}"
                )
            expanded.extend(parsed)
        items = expanded
    if not items:
        raise GeometryError("flux_profile: no regions given")
    return items


def _sky_values(da: xr.DataArray, dims: tuple[str, ...]) -> np.ndarray:
    """``da`` broadcast to ``dims`` (energy, lat, lon) as float64 numpy."""
    extra = set(da.dims) - set(dims)
    if extra:
        raise DimensionError(f"flux_profile: {da.name} has unexpected dims {sorted(extra)}")
    for dim in dims:
        if dim not in da.dims:
            da = da.expand_dims({dim: 1})
    return np.asarray(da.transpose(*dims).values, dtype=np.float64)


def flux_profile(
    dataset: xr.Dataset,
    regions: Sequence[SkyRegion | str] | Regions | str,
    *,
    models: Models | None = None,
    spectral_model: SpectralModel | None = None,
    n_sigma: float = 1.0,
    n_sigma_ul: float = 2.0,
    energy_edges: Sequence[float] | np.ndarray | u.Quantity | None = None,
) -> xr.Dataset:
    r"""Flux, excess and significance in each of a sequence of regions of a map dataset.

    See the module documentation for the method.

    Parameters
    ----------
    dataset : xarray.Dataset
        Map dataset (``counts``, ``exposure``, optional ``psf``, ``edisp``,
        ``mask_safe``/``mask_fit``) with ``background`` (Cash) or on-off map
        (``counts_off``, ``acceptance``, ``acceptance_off``: WStat, e.g. from
        :func:`gammaxr.reduce.make_ring_background`). A joint dataset
        (``obs_id`` dim) is stacked first.
    regions : sequence of SkyRegion or DS9 str, or a Regions list
        The regions, in profile order (see :func:`boxes_along_line`,
        :func:`annuli`).
    models : Models, optional
        The background is their predicted counts (:func:`gammaxr.models.npred`:
        scaled background plus every source in them) instead of the dataset's
        ``background``. Not allowed with on-off data (WStat takes the
        background from the off counts).
    spectral_model : SpectralModel, optional
        Spectrum of the reference surface brightness (per sr); default a
        power law of index 2. Its amplitude cancels in the fluxes.
    n_sigma : float
        Errors at a rise of ``n_sigma**2`` of the statistic.
    n_sigma_ul : float
        Upper limits at a rise of ``n_sigma_ul**2`` above the best fit.
    energy_edges : sequence of float or Quantity, optional
        Energy bands, TeV; each edge snaps to the nearest reco-energy edge of
        the dataset (in log). Default: one band over every reco bin, and no
        ``energy`` dim in the result.

    Returns
    -------
    xarray.Dataset
        Dims ``(region[, energy])``. Coordinates: ``region`` (0, 1, ...),
        ``x_ref``, ``x_min``, ``x_max`` (deg: for annuli the radii, for boxes
        the distance along the line from its start, else the distance of each
        region's centre from the first's with bounds half-way to the
        neighbours), ``region_ds9`` (DS9 strings); ``energy``, ``energy_lo``,
        ``energy_hi`` (TeV) with ``energy_edges``. Variables:

        - ``counts``, ``background``, ``excess`` (= counts - background),
          ``excess_err``, ``excess_errn``, ``excess_errp``, ``excess_ul``;
        - ``ts``, ``sqrt_ts`` (signed significance), ``success``;
        - ``norm``, ``norm_err``, ``norm_errn``, ``norm_errp``, ``norm_ul``
          (in units of the reference);
        - ``npred_ref`` (reference counts), ``solid_angle`` (sr, per region);
        - ``ref_dnde``, ``ref_e2dnde``, ``ref_flux``, ``ref_eflux``: the
          reference in the region (surface brightness times solid angle),
          so that ``flux = norm * ref_flux`` etc.;
        - ``flux``, ``flux_err``, ``flux_errn``, ``flux_errp``, ``flux_ul``
          (cm-2 s-1).

        attrs: ``n_sigma``, ``n_sigma_ul``, ``statistic`` (``cash``/``wstat``),
        ``profile_type`` (``annuli``, ``boxes``, ``regions``),
        ``sed_type_init`` = ``"likelihood"``, ``spectral_model`` (model YAML)
        and, without ``energy_edges``, ``energy_min``/``energy_max`` (TeV).

    Raises
    ------
    DimensionError
        If the dataset is not a map dataset.
    FormatError
        If it lacks counts, exposure or a background, ``models`` comes with
        on-off data, or ``energy_edges`` is unusable.
    GeometryError
        If a region is not a sky region.

    Examples
    --------
    >>> import numpy as np, gammaxr as gx
    >>> from gammaxr.estimators.flux_profile import annuli, flux_profile
    >>> geom = gx.make_geom(gx.energy_axis(1, 10, nbin=2),
    ...                     gx.energy_axis(1, 10, nbin=2, name="energy_true"),
    ...                     sky=gx.sky_grid((0, 0), width=1, binsz=0.05))
    >>> shape = (2, geom.lat.size, geom.lon.size)
    >>> ds = geom.assign(
    ...     counts=(("energy", "lat", "lon"), np.full(shape, 2), {"units": ""}),
    ...     background=(("energy", "lat", "lon"), np.full(shape, 1.0), {"units": ""}),
    ...     exposure=(("energy_true", "lat", "lon"), np.full(shape, 1e11), {"units": "cm2 s"}),
    ... )
    >>> profile = flux_profile(ds, annuli((0, 0), [0, 0.1, 0.2]))
    >>> profile.excess.values.tolist(), profile.x_ref.values.round(3).tolist()
    ([24.0, 80.0], [0.05, 0.15])
    """
    if LAT not in dataset.dims or LON not in dataset.dims:
        raise DimensionError(
            "flux_profile: expected a map dataset with lat/lon dims (a spectrum dataset has a "
            "single region)"
        )
    if ENERGY not in dataset.dims:
        raise DimensionError("flux_profile: the dataset has no 'energy' (reco) dim")
    for name in ("counts", "exposure"):
        if name not in dataset:
            raise FormatError(f"flux_profile: the dataset lacks {name!r}")
    on_off = "counts_off" in dataset
    if on_off and models is not None:
        raise FormatError(
            "flux_profile: models cannot be used with an on-off dataset (WStat estimates the "
            "background from counts_off)"
        )
    if not on_off and models is None and "background" not in dataset:
        raise FormatError(
            "flux_profile: the dataset has no 'background': give models, or an on-off dataset"
        )
    if spectral_model is None:
        spectral_model = PowerLawSpectralModel(index=2.0, amplitude=1e-12)
    if not isinstance(spectral_model, SpectralModel) or spectral_model.is_norm:
        raise FormatError(
            "flux_profile: spectral_model must be a SpectralModel with a flux unit, got "
            f"{spectral_model!r}"
        )
    if OBS_ID in dataset.dims:
        dataset = stack_on_off(dataset) if on_off else stack(dataset)
    items = _as_regions(regions)
    x_ref, x_min, x_max, profile_type = _profile_axis(items)
    group, band_edges = _energy_groups(dataset, energy_edges)

    dims = (ENERGY, LAT, LON)
    n_lat, n_lon = dataset.sizes[LAT], dataset.sizes[LON]
    masks = np.stack([region_mask(item, dataset).transpose(LAT, LON).values for item in items])
    masks = masks.reshape(len(items), n_lat * n_lon).astype(np.float64)  # (R, P)
    pixel_sr = solid_angle(dataset).transpose(LAT, LON).values.ravel()
    region_sr = masks @ pixel_sr

    safe = combined_mask(dataset)
    safe = (
        np.ones((1, 1, 1))
        if safe is None
        else _sky_values(safe.rename("mask").astype(np.float64), dims)
    )
    safe = np.broadcast_to(safe, (dataset.sizes[ENERGY], n_lat, n_lon))

    def region_sum(values: np.ndarray) -> np.ndarray:
        """Sum over each region's safe pixels: ``(E, lat, lon) -> (R, E)``."""
        values = np.broadcast_to(values, safe.shape) * safe
        return masks @ np.nan_to_num(values).reshape(values.shape[0], -1).T

    reference = SkyModel(spectral_model, ConstantSpatialModel(), name="profile-reference")
    # a uniform brightness is unchanged by the PSF (convolving it would only lose flux
    # at the map's edges): fold without it
    no_psf = dataset.drop_vars([name for name in ("psf",) if name in dataset.data_vars])
    signal = region_sum(_sky_values(fold(no_psf, reference).rename("reference"), dims))
    counts = region_sum(_sky_values(dataset["counts"], dims))
    used = region_sum(np.ones(safe.shape)) > 0  # (R, E): a safe pixel of the region
    if on_off:
        acceptance = _sky_values(dataset["acceptance"], dims)
        acceptance_off = _sky_values(dataset["acceptance_off"], dims)
        with np.errstate(divide="ignore", invalid="ignore"):
            alpha_pix = acceptance / acceptance_off
        alpha_pix = np.where(np.isfinite(alpha_pix), alpha_pix, 0.0)
        n_off_pix = _sky_values(dataset["counts_off"], dims)
        n_off = region_sum(n_off_pix)
        background = region_sum(alpha_pix * n_off_pix)
        with np.errstate(divide="ignore", invalid="ignore"):
            alpha_mean = region_sum(alpha_pix) / region_sum(np.ones(safe.shape))
            alpha = np.where(n_off > 0, background / n_off, alpha_mean)
        alpha = np.nan_to_num(alpha)
        fit_kwargs = {"counts_off": n_off[:, None, :], "alpha": alpha[:, None, :]}
        used &= alpha > 0
    else:
        predicted = dataset["background"] if models is None else npred(dataset, models)
        background = region_sum(_sky_values(predicted.rename("background"), dims))
        fit_kwargs = {"background": background[:, None, :]}

    n_groups = int(group.max()) + 1
    in_group = group[None, :] == np.arange(n_groups)[:, None]  # (G, E)
    fit_mask = used[:, None, :] & in_group[None, :, :]  # (R, G, E)
    result = fit_norm(
        counts[:, None, :],
        signal[:, None, :],
        axis=-1,
        mask=fit_mask,
        n_sigma=n_sigma,
        n_sigma_ul=n_sigma_ul,
        **fit_kwargs,
    )
    counts_sum = np.where(fit_mask, counts[:, None, :], 0.0).sum(-1)
    background_sum = np.where(fit_mask, background[:, None, :], 0.0).sum(-1)
    signal_sum = np.where(fit_mask, signal[:, None, :], 0.0).sum(-1)

    if band_edges is None:
        e_lo, e_hi = edges(dataset, ENERGY)[[0, -1]]
        e_lo, e_hi = np.array([e_lo]), np.array([e_hi])
    else:
        e_lo, e_hi = band_edges[:-1], band_edges[1:]
    e_ref = np.sqrt(e_lo * e_hi)
    ref = {
        "ref_dnde": np.asarray(spectral_model(e_ref), dtype=float),
        "ref_flux": np.asarray(spectral_model.integral(e_lo, e_hi), dtype=float),
        "ref_eflux": np.asarray(spectral_model.energy_flux(e_lo, e_hi), dtype=float),
    }
    ref["ref_e2dnde"] = ref["ref_dnde"] * e_ref**2
    units = {
        "ref_dnde": "cm-2 s-1 TeV-1",
        "ref_e2dnde": "TeV cm-2 s-1",
        "ref_flux": "cm-2 s-1",
        "ref_eflux": "TeV cm-2 s-1",
    }

    variables: dict[str, tuple[np.ndarray, str | None]] = {
        "counts": (counts_sum, ""),
        "background": (background_sum, ""),
        "excess": (counts_sum - background_sum, ""),
        "excess_err": (result["norm_err"] * signal_sum, ""),
        "excess_errn": (result["norm_errn"] * signal_sum, ""),
        "excess_errp": (result["norm_errp"] * signal_sum, ""),
        "excess_ul": (result["norm_ul"] * signal_sum, ""),
        "ts": (result["ts"], ""),
        "sqrt_ts": (np.sign(result["norm"]) * np.sqrt(np.maximum(result["ts"], 0.0)), ""),
        "success": (np.asarray(result["success"], dtype=bool), None),
        "norm": (result["norm"], ""),
        "norm_err": (result["norm_err"], ""),
        "norm_errn": (result["norm_errn"], ""),
        "norm_errp": (result["norm_errp"], ""),
        "norm_ul": (result["norm_ul"], ""),
        "npred_ref": (signal_sum, ""),
    }
    for name, values in ref.items():
        variables[name] = (region_sr[:, None] * values[None, :], units[name])
    for suffix in ("", "_err", "_errn", "_errp", "_ul"):
        variables[f"flux{suffix}"] = (
            result["norm" + suffix] * variables["ref_flux"][0],
            "cm-2 s-1",
        )

    region_dims: tuple[str, ...] = (REGION,) if band_edges is None else (REGION, ENERGY)
    squeeze = band_edges is None
    data_vars = {
        name: (
            region_dims,
            values[:, 0] if squeeze else values,
            {} if unit is None else {"units": unit},
        )
        for name, (values, unit) in variables.items()
    }
    data_vars["solid_angle"] = ((REGION,), region_sr, {"units": "sr"})
    coords: dict[str, Any] = {
        REGION: np.arange(len(items)),
        "x_ref": (REGION, x_ref, {"units": "deg"}),
        "x_min": (REGION, x_min, {"units": "deg"}),
        "x_max": (REGION, x_max, {"units": "deg"}),
        "region_ds9": (REGION, np.array([_ds9(item) for item in items], dtype=str)),
    }
    attrs: dict[str, Any] = {
        "n_sigma": float(n_sigma),
        "n_sigma_ul": float(n_sigma_ul),
        "statistic": "wstat" if on_off else "cash",
        "profile_type": profile_type,
        "sed_type_init": "likelihood",
        "spectral_model": yaml.safe_dump(_models_dict(reference), sort_keys=False),
    }
    if squeeze:
        attrs["energy_min"], attrs["energy_max"] = float(e_lo[0]), float(e_hi[0])
    else:
        coords[ENERGY] = (ENERGY, e_ref, {"units": "TeV"})
        coords[lo_name(ENERGY)] = (ENERGY, e_lo, {"units": "TeV"})
        coords[hi_name(ENERGY)] = (ENERGY, e_hi, {"units": "TeV"})
    return xr.Dataset(data_vars, coords=coords, attrs=attrs)


def _ds9(region: SkyRegion) -> str:
    """One region as a single-line DS9 string (without the header)."""
    lines = [line for line in region_to_string(region).splitlines() if line.strip()]
    return ";".join(line for line in lines if not line.startswith("#"))


def _models_dict(model: SkyModel) -> dict:
    from gammaxr.io.models_yaml import models_to_dict

    return models_to_dict(Models([model]))
