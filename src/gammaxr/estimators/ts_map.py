r"""TS maps: the significance of a test source at every pixel of a map dataset.

At each pixel :math:`p` a test source (a spatial kernel model there, with a
fixed spectral shape) is added to the known predicted counts :math:`b` and
its amplitude ``norm`` is fitted to the counts :math:`n` with the Cash
statistic over the kernel's footprint,

.. math::

    \mu_q = b_q + \mathrm{norm}\cdot s_{p,q}, \qquad
    TS_p = C(\mathrm{norm} = 0) - C(\widehat{\mathrm{norm}}),

the approach of Stewart (2009, A&A 495, 989), as Gammapy's ``TSMapEstimator``.

The test source
    The signal at pixel :math:`q` of a source at :math:`p` factorises as
    :math:`s_{p,q}(E) = X_p(E)\, K(E, q - p)`:

    - :math:`X_p(E)`, the *reco-energy exposure*: the counts the spectral model
      (``norm = 1``) gives in reco-energy bin :math:`E` with the exposure at
      :math:`p` (exposure times the flux per true-energy bin, redistributed
      by the energy dispersion);
    - :math:`K(E, \delta)`, the *kernel*: the fraction of those counts that
      lands at pixel offset :math:`\delta`. It is folded once, with
      :func:`gammaxr.models.fold` (exposure, PSF and energy dispersion), for
      the kernel model at the centre of the reference pixel (the map centre)
      on a small grid of the dataset's pixel steps, with the exposure
      spectrum of that pixel, and divided by that pixel's :math:`X(E)`. So
      the kernel keeps the fraction of the flux beyond its edges: cutting the
      footprint (``kernel_width``) shrinks the fitted region but does not bias
      ``norm``.

    One kernel serves the whole map (as Gammapy, and as the PSF kernel of
    folding); the exposure varies from pixel to pixel through :math:`X_p`,
    taken at the source's pixel, as folding does (Gammapy multiplies the
    kernel by the exposure at each footprint pixel :math:`q` instead; the two
    differ where the exposure changes across a footprint). The default
    footprint is the box around the circle holding 90% of the kernel's counts
    (:data:`KERNEL_CONTAINMENT`): the PSF's far tails add bins, and time, but
    almost no information.

Energy groups
    ``energy_edges`` groups the reco-energy bins (each edge moved to the
    nearest edge of the dataset's axis); each group gives one map. With
    ``sum_over_energy_groups`` (default, as Gammapy) counts, background and
    signal are summed over the bins of a group before the fit (a 2D fit);
    otherwise every bin of the group is a separate term of the fit.

Masks
    ``mask_safe & mask_fit`` select the bins that enter the fits. Pixels
    where no bin is selected or the exposure is zero are NaN
    (``success = False``).

The fit
    :func:`gammaxr.estimators.norm_fit.fit_norm`, vectorised over the pixels
    of blocks of rows; the blocks run on a thread pool. A footprint holds
    many bins without counts, whose Cash terms are linear in ``norm``: they
    are merged into one bin, plus the one bin among them that sets the lowest
    allowed ``norm`` (where its predicted counts reach zero), so that each fit
    only carries the bins with counts. The merged bin's signal and
    background are the footprint totals (FFT correlations of the mask and
    background with the kernel) minus those of the bins carried; the bins
    with counts are gathered as (pixel, bin) pairs from the list of bins with
    counts. This is exact: the statistic, its derivatives and its domain are
    those of :func:`fit_norm` on the whole footprint (the tests check it).

Joint datasets (an ``obs_id`` dim) are refused: stack them first. The
dataset's arrays are loaded into memory (Dask-backed variables are computed).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import numpy as np
import xarray as xr

from gammaxr.axes import axis_from_edges
from gammaxr.conventions import ENERGY, ENERGY_TRUE, LAT, LON, RAD
from gammaxr.estimators._maps import (
    check_map_dataset,
    energy_groups,
    fit_mask,
    output_coords,
    reco_exposure,
    values,
)
from gammaxr.estimators.norm_fit import fit_norm_rows
from gammaxr.exceptions import ConfigError, DimensionError, GeometryError
from gammaxr.models._folding import Box, FoldingContext
from gammaxr.models.npred import fold, npred
from gammaxr.models.sky import FoVBackgroundModel, Models, SkyModel
from gammaxr.models.spatial import PointSpatialModel, SpatialModel, convert_frame
from gammaxr.models.spectral_base import SpectralModel
from gammaxr.models.spectral_powerlaw import PowerLawSpectralModel

__all__ = ["ts_map", "ts_map_kernel"]

#: Kernel values below this fraction of the kernel's peak are dropped.
KERNEL_RTOL = 1e-8
#: Pixels fitted together have numbers of bins within this factor (the padding it costs).
BUCKET_RATIO = 1.25
#: Default footprint: the box around the circle holding this fraction of the kernel's counts.
KERNEL_CONTAINMENT = 0.9

#: Quantities of :func:`fit_norm` kept in the product.
_FIT_NAMES = ("norm", "norm_err", "norm_errn", "norm_errp", "norm_ul", "ts", "stat",
              "stat_null", "success", "npred_signal", "counts", "npred_background")  # fmt: skip


def ts_map(
    dataset: xr.Dataset,
    models: Models | Sequence[SkyModel | FoVBackgroundModel] | None = None,
    *,
    kernel_model: SpatialModel | None = None,
    spectral_model: SpectralModel | None = None,
    energy_edges: Sequence[float] | np.ndarray | None = None,
    kernel_width: float | None = None,
    n_sigma: float = 1.0,
    n_sigma_ul: float = 2.0,
    sum_over_energy_groups: bool = True,
    asymmetric_errors: bool = False,
    upper_limits: bool = True,
    n_jobs: int | None = None,
    block_size: int | None = None,
) -> xr.Dataset:
    """TS, norm, errors, upper limit and flux of a test source at every pixel.

    Parameters
    ----------
    dataset : xarray.Dataset
        Stacked map dataset: ``counts(energy, lat, lon)``,
        ``exposure(energy_true, lat, lon)``, ``background`` (predicted
        counts; unless ``models`` give it), optional ``psf(energy_true,
        rad)``, ``edisp(energy_true, energy)``, ``mask_safe``, ``mask_fit``.
    models : Models or sequence of models, optional
        Known sources and the background model: the null hypothesis is
        :func:`gammaxr.models.npred` of them (all frozen). Default: the
        dataset's ``background`` as it is.
    kernel_model : SpatialModel, optional
        Morphology of the test source (its position is ignored); a
        :class:`~gammaxr.models.PointSpatialModel` by default, or e.g. a
        Gaussian or disk of a given size.
    spectral_model : SpectralModel, optional
        Spectrum of the test source; ``norm`` scales it. Default: a power law
        of index 2 and amplitude ``1e-12 cm-2 s-1 TeV-1`` at 1 TeV.
    energy_edges : sequence of float, optional
        Reco-energy edges of the groups, TeV (moved to the nearest edges of
        the dataset's axis). Default: one group, the whole axis, and no
        ``energy`` dim in the product.
    kernel_width : float, optional
        Full width of the kernel's footprint, deg (a box of half-width
        ``kernel_width / 2``, at most what the folded kernel reaches, down to
        :data:`KERNEL_RTOL` of its peak). Default: the box around the circle
        that holds :data:`KERNEL_CONTAINMENT` (90%) of the test source's
        counts; give a large width for the whole kernel.
    n_sigma : float
        Asymmetric errors where the statistic rises by ``n_sigma**2``.
    n_sigma_ul : float
        Upper limits where the statistic rises by ``n_sigma_ul**2``.
    sum_over_energy_groups : bool
        Sum the reco-energy bins of a group before fitting (default), or fit
        the bins of a group jointly.
    asymmetric_errors : bool
        Compute ``norm_errn``/``norm_errp`` (and the flux ones): one more root
        search per side and pixel (default False, as Gammapy).
    upper_limits : bool
        Compute ``norm_ul``/``flux_ul`` (default True).
    n_jobs : int, optional
        Threads (default: the number of CPUs, at most 4).
    block_size : int, optional
        Pixels per task, rounded to whole rows (default: an eighth of the
        rows, at least twice the kernel's half height).

    Returns
    -------
    xarray.Dataset
        On ``(energy?, lat, lon)``: ``ts``, ``sqrt_ts`` (signed by ``norm``),
        ``norm``, ``norm_err`` (curvature), ``norm_errn`` and ``norm_errp``
        (with ``asymmetric_errors``), ``norm_ul`` (with ``upper_limits``),
        ``flux``, ``flux_err`` (and ``flux_errn``, ``flux_errp``,
        ``flux_ul`` likewise; integral flux over the group's energy range, cm-2 s-1:
        ``norm`` times the spectral model's integral), ``npred_excess``
        (``norm`` times the test source's counts in the footprint),
        ``npred_background`` and ``counts`` (sums over the bins fitted),
        ``stat``, ``stat_null``, ``success``. Attrs: ``n_sigma``,
        ``n_sigma_ul``, the kernel and spectral model types, the kernel's
        half sizes in pixels, and ``energy_min``/``energy_max`` (TeV) without
        an ``energy`` dim.

    Raises
    ------
    DimensionError
        If the dataset is joint, or lacks counts, exposure or a background.
    ConfigError
        If an option is invalid.
    GeometryError
        If the dataset has no exposure at all.

    Examples
    --------
    >>> import gammaxr as gx
    >>> from gammaxr.estimators.ts_map import ts_map
    >>> geom = gx.make_geom(
    ...     gx.energy_axis(1, 10, nbin=2),
    ...     gx.energy_axis(0.5, 20, nbin=4, name="energy_true"),
    ...     sky=gx.sky_grid((83.633, 22.014), width=1, binsz=0.05),
    ... )
    >>> ds = gx.make_map_dataset(gx.open_datastore().observation(23523), geom)
    >>> maps = ts_map(ds, kernel_width=0.5)
    >>> peak = maps.sqrt_ts.where(maps.sqrt_ts == maps.sqrt_ts.max(), drop=True)
    >>> bool(abs(float(peak.lon[0]) - 83.633) < 0.1 and float(peak.max()) > 10)
    True
    """
    what = "ts_map"
    check_map_dataset(dataset, what=what, variables=("counts",))
    if "exposure" not in dataset.data_vars:
        raise DimensionError(f"{what}: the dataset has no 'exposure' variable")
    spatial = PointSpatialModel() if kernel_model is None else kernel_model
    if not isinstance(spatial, SpatialModel) or "lon_0" not in spatial.parameters:
        raise ConfigError(
            f"{what}: kernel_model must be a spatial model with a position (Point, Gaussian, "
            f"Disk, ...), got {type(kernel_model).__name__}"
        )
    spectral = PowerLawSpectralModel(index=2.0) if spectral_model is None else spectral_model
    if not isinstance(spectral, SpectralModel):
        raise ConfigError(
            f"{what}: spectral_model must be a SpectralModel, got {type(spectral_model).__name__}"
        )
    for name, value in (("n_sigma", n_sigma), ("n_sigma_ul", n_sigma_ul)):
        if not value > 0:
            raise ConfigError(f"{what}: {name} must be positive, got {value}")
    if kernel_width is not None and not kernel_width > 0:
        raise ConfigError(f"{what}: kernel_width must be a positive angle in deg")
    n_jobs = _n_jobs(n_jobs, what)
    if block_size is not None and not (isinstance(block_size, int) and block_size > 0):
        raise ConfigError(f"{what}: block_size must be a positive integer, got {block_size!r}")

    counts = values(dataset["counts"])
    background = _background(dataset, models, what)
    mask = fit_mask(dataset) & np.isfinite(background) & np.isfinite(counts)
    exposure, ctx = reco_exposure(dataset, spectral)
    kernel = _kernel(dataset, ctx, spatial, spectral, kernel_width)
    group_edges, members = energy_groups(dataset, energy_edges, what=what)

    results = [
        _ts_group(
            counts[idx], background[idx], mask[idx], exposure[idx], kernel[idx],
            sum_over_energy_groups=bool(sum_over_energy_groups), n_sigma=n_sigma,
            n_sigma_ul=n_sigma_ul, asymmetric=bool(asymmetric_errors),
            upper_limit=bool(upper_limits), n_jobs=n_jobs, block_size=block_size,
        )
        for idx in members
    ]  # fmt: skip
    flux_ref = np.asarray(spectral.integral(group_edges[:-1], group_edges[1:]), dtype=float)
    has_energy = energy_edges is not None
    coords, dims = output_coords(dataset, group_edges if has_energy else None)
    data = {name: np.stack([r[name] for r in results]) for name in _FIT_NAMES}
    computed = ["", "_err"]
    if asymmetric_errors:
        computed += ["_errn", "_errp"]
    if upper_limits:
        computed += ["_ul"]
    if not has_energy:
        data = {name: array[0] for name, array in data.items()}
        flux_ref = flux_ref[0]
    else:
        flux_ref = flux_ref[:, None, None]
    norm = data["norm"]
    out = {
        "ts": (data["ts"], ""),
        "sqrt_ts": (np.sign(norm) * np.sqrt(data["ts"]), ""),
    }
    for name in computed:
        out[f"norm{name}"] = (data[f"norm{name}"], "")
    for name in computed:
        out[f"flux{name}"] = (data[f"norm{name}"] * flux_ref, "cm-2 s-1")
    out["npred_excess"] = (norm * data["npred_signal"], "")
    out["npred_background"] = (data["npred_background"], "")
    out["counts"] = (data["counts"], "")
    out["stat"] = (data["stat"], "")
    out["stat_null"] = (data["stat_null"], "")
    out["success"] = (data["success"].astype(bool), "")
    variables = {
        name: xr.DataArray(array, dims=dims, coords=coords, attrs={"units": units})
        for name, (array, units) in out.items()
    }
    for name in ("counts", "npred_background"):
        variables[name] = variables[name].where(np.isfinite(norm))
    attrs: dict[str, object] = {
        "estimator": "ts_map",
        "frame": str(dataset.attrs.get("frame", dataset[LON].attrs.get("frame", ""))),
        "n_sigma": float(n_sigma),
        "n_sigma_ul": float(n_sigma_ul),
        "kernel_model": type(spatial).__name__,
        "spectral_model": type(spectral).__name__,
        "sum_over_energy_groups": int(bool(sum_over_energy_groups)),
        "kernel_half_sizes": [int(kernel.shape[1] // 2), int(kernel.shape[2] // 2)],
    }
    if not has_energy:
        attrs["energy_min"] = float(group_edges[0])
        attrs["energy_max"] = float(group_edges[-1])
    return xr.Dataset(variables, attrs=attrs)


def ts_map_kernel(
    dataset: xr.Dataset,
    *,
    kernel_model: SpatialModel | None = None,
    spectral_model: SpectralModel | None = None,
    kernel_width: float | None = None,
) -> xr.DataArray:
    """The test-source kernel :func:`ts_map` uses: ``K(energy, kernel_lat, kernel_lon)``.

    The fraction of a source's counts in each reco-energy bin that lands at
    each pixel offset from its pixel (see the module documentation).

    Parameters
    ----------
    dataset, kernel_model, spectral_model, kernel_width
        As :func:`ts_map`.

    Returns
    -------
    xarray.DataArray
        Dims ``(energy, kernel_lat, kernel_lon)`` with the offsets in deg
        (rows times the lat step, columns times the lon step); units ``""``.
    """
    check_map_dataset(dataset, what="ts_map_kernel", variables=())
    spatial = PointSpatialModel() if kernel_model is None else kernel_model
    spectral = PowerLawSpectralModel(index=2.0) if spectral_model is None else spectral_model
    ctx = FoldingContext(dataset)
    kernel = _kernel(dataset, ctx, spatial, spectral, kernel_width)
    hy, hx = kernel.shape[1] // 2, kernel.shape[2] // 2
    coords = {k: v for k, v in dataset.coords.items() if set(v.dims) <= {ENERGY}}
    coords["kernel_lat"] = ("kernel_lat", np.arange(-hy, hy + 1) * ctx.dlat, {"units": "deg"})
    coords["kernel_lon"] = ("kernel_lon", np.arange(-hx, hx + 1) * ctx.dlon, {"units": "deg"})
    return xr.DataArray(
        kernel,
        dims=(ENERGY, "kernel_lat", "kernel_lon"),
        coords=coords,
        name="ts_map_kernel",
        attrs={"units": ""},
    )


# -- inputs ---------------------------------------------------------------------------------


def _n_jobs(n_jobs: int | None, what: str) -> int:
    if n_jobs is None:
        return max(1, min(4, os.cpu_count() or 1))
    if not (isinstance(n_jobs, int) and n_jobs > 0):
        raise ConfigError(f"{what}: n_jobs must be a positive integer, got {n_jobs!r}")
    return n_jobs


def _background(ds: xr.Dataset, models, what: str) -> np.ndarray:
    """The null hypothesis: npred of the models, or the dataset's background."""
    if models is not None:
        return values(npred(ds, models))
    if "background" not in ds.data_vars:
        raise DimensionError(
            f"{what}: the dataset has no 'background' variable; give it one or pass the "
            "models of the null hypothesis (models=...)"
        )
    return values(ds["background"])


def _kernel(
    ds: xr.Dataset,
    ctx: FoldingContext,
    spatial: SpatialModel,
    spectral: SpectralModel,
    width: float | None,
) -> np.ndarray:
    """The normalised kernel ``(E, ky, kx)`` (odd sizes, centred) of a test source."""
    if not ctx.is_map:
        raise DimensionError("ts_map: the dataset has no sky grid (lat, lon)")
    cy, cx = ctx.ny // 2, ctx.nx // 2
    lon_c, lat_c = float(ctx.lon_centres[cx]), float(ctx.lat_centres[cy])
    exposure = ctx.exposure(Box(cy, cy + 1, cx, cx + 1))[0, :, 0, 0]
    if not np.any(exposure > 0):
        # no exposure at the centre: the mean exposure spectrum of the exposed pixels
        full = ctx.exposure(None)[0]
        exposed = full.sum(axis=0) > 0
        if not exposed.any():
            raise GeometryError("ts_map: the dataset's exposure is zero everywhere")
        exposure = full[:, exposed].mean(axis=1)
    hy_psf, hx_psf = ctx.kernel_half_sizes
    radius = float(spatial.evaluation_radius or 0.0)
    cos_lat = max(math.cos(math.radians(lat_c)), 1e-3)
    hy = hy_psf + math.ceil(radius / ctx.dlat) + 2
    hx = hx_psf + math.ceil(radius / (ctx.dlon * cos_lat)) + 2
    lat_edges = lat_c + ctx.dlat * (np.arange(-hy, hy + 2) - 0.5)
    lon_edges = lon_c + ctx.dlon * (np.arange(-hx, hx + 2) - 0.5)
    if lat_edges[0] < -90 or lat_edges[-1] > 90:
        raise GeometryError("ts_map: the kernel's footprint reaches a pole of the frame")
    coords: dict[str, xr.DataArray] = {}
    for edges_, dim in ((lat_edges, LAT), (lon_edges, LON)):
        axis = axis_from_edges(edges_, name=dim, units="deg")
        axis.coords[dim].attrs["frame"] = ctx.frame
        coords.update({str(k): v for k, v in axis.coords.items()})
    for name, coord in ds.coords.items():
        if set(coord.dims) <= {ENERGY, ENERGY_TRUE, RAD} and coord.dims:
            coords[str(name)] = coord
    n_true = ctx.n_true
    cut_vars = {
        "exposure": xr.DataArray(
            np.broadcast_to(exposure[:, None, None], (n_true, 2 * hy + 1, 2 * hx + 1)),
            dims=(ENERGY_TRUE, LAT, LON),
            attrs={"units": "cm2 s"},
        )
    }
    for name in ("psf", "edisp"):
        if name in ds.data_vars:
            cut_vars[name] = ds[name]
    cut = xr.Dataset(cut_vars, coords=coords, attrs={"frame": ctx.frame})
    lon_m, lat_m = convert_frame(lon_c, lat_c, ctx.frame, spatial.frame)
    centred = spatial.with_parameters(lon_0=float(lon_m), lat_0=float(lat_m))
    source = SkyModel(spectral, centred, name="ts-map-kernel")
    folded = fold(cut, source).transpose(ENERGY, LAT, LON).to_numpy()
    lo, hi = ctx.energy_true_edges[:-1], ctx.energy_true_edges[1:]
    flux = np.asarray(spectral.integral(lo, hi), dtype=np.float64)
    reco = ctx.edisp_t[0] @ (exposure * flux)  # (E,): counts of the source at the centre
    with np.errstate(divide="ignore", invalid="ignore"):
        kernel = np.where(reco[:, None, None] > 0, folded / reco[:, None, None], 0.0)
    kernel = np.where(kernel > KERNEL_RTOL * np.max(kernel, initial=0.0), kernel, 0.0)
    # crop symmetrically to the pixels reached (and to the requested width)
    support = kernel.max(axis=0) > 0
    rows, cols = np.nonzero(support)
    if rows.size == 0:
        raise GeometryError("ts_map: the test-source kernel is empty (no exposure or flux)")
    half_y = int(np.max(np.abs(rows - hy)))
    half_x = int(np.max(np.abs(cols - hx)))
    if width is None:
        # the radius holding KERNEL_CONTAINMENT of the kernel's counts (all energies)
        image = np.tensordot(reco, kernel, axes=1)
        offset_y = (np.arange(2 * hy + 1) - hy)[:, None] * ctx.dlat
        offset_x = (np.arange(2 * hx + 1) - hx)[None, :] * ctx.dlon * cos_lat
        distance = np.hypot(offset_y, offset_x).ravel()
        order = np.argsort(distance, kind="stable")
        cumulative = np.cumsum(image.ravel()[order])
        reach = np.searchsorted(cumulative, KERNEL_CONTAINMENT * cumulative[-1])
        radius_c = float(distance[order][min(reach, distance.size - 1)])
        half_y = min(half_y, math.ceil(radius_c / ctx.dlat - 1e-9))
        half_x = min(half_x, math.ceil(radius_c / (ctx.dlon * cos_lat) - 1e-9))
    else:
        half_y = min(half_y, int(math.floor(0.5 * width / ctx.dlat + 1e-9)))
        half_x = min(half_x, int(math.floor(0.5 * width / ctx.dlon + 1e-9)))
    return np.ascontiguousarray(
        kernel[:, hy - half_y : hy + half_y + 1, hx - half_x : hx + half_x + 1]
    )


# -- the fits -------------------------------------------------------------------------------


def _ts_group(
    counts: np.ndarray,
    background: np.ndarray,
    mask: np.ndarray,
    exposure: np.ndarray,
    kernel: np.ndarray,
    *,
    sum_over_energy_groups: bool,
    n_sigma: float,
    n_sigma_ul: float,
    asymmetric: bool,
    upper_limit: bool,
    n_jobs: int,
    block_size: int | None,
) -> dict[str, np.ndarray]:
    """Fit every pixel for one energy group; arrays ``(Eg, Y, X)``, kernel ``(Eg, ky, kx)``.

    The bins of a fit are *layers* (one, the group's sum, with
    ``sum_over_energy_groups``; else the group's reco-energy bins) times the
    footprint's pixels. The signal of a source at ``p`` in bin ``(l, q)`` is
    ``sum_{e in l} X(e, p) K(e, q - p) M(e, q)``. Bins with counts are
    gathered as (pixel, bin) pairs; the others are merged into one bin per
    pixel, whose signal and background are the footprint totals (FFT
    correlations) minus those of the gathered bins.
    """
    n_e, ny, nx = counts.shape
    hy, hx = kernel.shape[1] // 2, kernel.shape[2] // 2
    support = kernel.max(axis=0) > 0
    valid = mask.any(axis=0) & (exposure.sum(axis=0) > 0)
    # energy planes masked everywhere hold no bin: drop them
    used = mask.any(axis=(1, 2))
    counts, background, mask = counts[used], background[used], mask[used]
    exposure, kernel = exposure[used], kernel[used]
    # planes selected everywhere: their signal is one matrix product, X^T K
    full = mask.all(axis=(1, 2))
    dy, dx = np.nonzero(support)
    kernel_flat = kernel[:, dy, dx]  # (Eg, nk)
    dy, dx = dy - hy, dx - hx
    c = np.where(mask, counts, 0.0)
    b = np.where(mask, background, 0.0)
    # footprint totals of every pixel: signal, background, counts
    signal_total = np.sum(exposure * _correlate(mask.astype(float), kernel), axis=0)
    background_total = _correlate(b.sum(axis=0), support.astype(float))
    if sum_over_energy_groups:
        c, b = c.sum(axis=0, keepdims=True), b.sum(axis=0, keepdims=True)
    layer, rows, cols = np.nonzero(c > 0)
    bin_counts = c[layer, rows, cols]
    bin_background = b[layer, rows, cols]
    pad = ((0, 0), (hy, hy), (hx, hx))
    all_true = bool(full.all())

    rows_per_block = _rows_per_block(block_size, nx, hy, ny)
    starts = range(0, ny, rows_per_block)
    context = SimpleNamespace(
        kernel_flat=kernel_flat, dy=dy, dx=dx, exposure=exposure, mask=mask, valid=valid,
        layer=layer, rows=rows, cols=cols, counts=bin_counts, background=bin_background,
        signal_total=signal_total, background_total=background_total,
        counts_pad=np.pad(c, pad), background_pad=np.pad(b, pad),
        mask_pad=None if all_true else np.pad(mask, pad), inside_pad=np.pad(
            np.ones((1, ny, nx), dtype=bool), pad), hy=hy, hx=hx,
        summed=sum_over_energy_groups, n_sigma=n_sigma, n_sigma_ul=n_sigma_ul,
        asymmetric=asymmetric, upper_limit=upper_limit, full=np.flatnonzero(full),
        mixed=np.flatnonzero(~full),
    )  # fmt: skip

    def run(r0: int) -> tuple[int, int, dict[str, np.ndarray]]:
        r1 = min(r0 + rows_per_block, ny)
        return r0, r1, _fit_rows(context, r0, r1, nx)

    if not used.any():
        done = []
    elif n_jobs > 1 and len(starts) > 1:
        with ThreadPoolExecutor(max_workers=n_jobs) as pool:
            done = list(pool.map(run, starts))
    else:
        done = [run(r0) for r0 in starts]
    out = {name: np.full((ny, nx), np.nan) for name in _FIT_NAMES}
    out["success"] = np.zeros((ny, nx))
    for r0, r1, result in done:
        for name in _FIT_NAMES:
            out[name][r0:r1] = result[name]
    return out


def _correlate(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``sum_d kernel[d] image[p + d]`` over the last two axes (zero outside the map)."""
    from gammaxr.reduce.ring import _correlate as correlate

    return correlate(image, kernel)


def _rows_per_block(block_size: int | None, nx: int, hy: int, ny: int) -> int:
    """Rows of pixels per task: ``block_size`` pixels, or about 8 tasks of at least 2 hy rows."""
    if block_size is not None:
        return max(1, block_size // max(nx, 1))
    return max(2 * hy, 4, math.ceil(ny / 8))


def _bound_bins(
    ctx: SimpleNamespace, r0: int, r1: int, nx: int, full_signal: np.ndarray | None
) -> tuple[np.ndarray, ...]:
    """Per pixel of rows ``[r0, r1)``, the bin without counts with the smallest ``b / s``.

    That bin sets the lowest ``norm`` allowed among the bins without counts
    (where its predicted counts reach zero); it is kept apart from the merged
    bin. Returns its signal and background (0 where there is none), raveled.
    A loop over the kernel's offsets, each a whole-rows array operation.
    ``full_signal`` is :func:`_full_signal` of these rows (summed groups only).
    """
    c, hy, hx = ctx, ctx.hy, ctx.hx
    shape = (r1 - r0, nx)
    if c.summed and not c.mixed.size:
        return _bound_bins_summed(ctx, r0, r1, nx, full_signal)
    best = np.full(shape, np.inf)
    s_star, b_star = np.zeros(shape), np.zeros(shape)
    exposure = c.exposure[:, r0:r1]
    if c.summed:
        # signal of the fully selected planes at every offset: (nk, rows, nx)
        full_signal = full_signal.reshape(-1, *shape)
    for k in range(c.dy.size):
        y0, x0 = r0 + hy + c.dy[k], hx + c.dx[k]
        window = (slice(None), slice(y0, y0 + shape[0]), slice(x0, x0 + nx))
        weight = c.kernel_flat[:, k]
        inside = c.mask_pad[window] if c.mask_pad is not None else c.inside_pad[window]
        if c.summed:
            signal = full_signal[k] * c.inside_pad[window][0]
            for e in c.mixed:
                signal = signal + weight[e] * exposure[e] * inside[e]
            signal = signal[None]
        else:
            signal = exposure * weight[:, None, None] * inside
        background = c.background_pad[window]
        usable = (signal > 0) & (c.counts_pad[window] == 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(usable, background / np.where(usable, signal, 1.0), np.inf)
        if ratio.shape[0] == 1:
            ratio, signal, background = ratio[0], signal[0], background[0]
        else:
            layer = np.argmin(ratio, axis=0)[None]
            ratio = np.take_along_axis(ratio, layer, axis=0)[0]
            signal = np.take_along_axis(signal, layer, axis=0)[0]
            background = np.take_along_axis(background, layer, axis=0)[0]
        better = ratio < best
        np.copyto(best, ratio, where=better)
        np.copyto(s_star, signal, where=better)
        np.copyto(b_star, background, where=better)
    return s_star.ravel(), b_star.ravel()


def _bound_bins_summed(
    ctx: SimpleNamespace, r0: int, r1: int, nx: int, full_signal: np.ndarray
) -> tuple[np.ndarray, ...]:
    """:func:`_bound_bins` when every plane of a summed group is selected everywhere.

    The signal at offset ``k`` is then ``full_signal[k]`` wherever the bin is
    inside the map, so the loop needs one division per offset: the background
    of the bins without counts (inf elsewhere) over ``s``; the best offset is
    kept and the signal and background gathered once at the end.
    """
    c, hy, hx = ctx, ctx.hy, ctx.hx
    shape = (r1 - r0, nx)
    free = np.where((c.counts_pad[0] == 0) & c.inside_pad[0], c.background_pad[0], np.inf)
    signal = full_signal.reshape(-1, *shape)  # (nk, rows, nx)
    best = np.full(shape, np.inf)
    which = np.zeros(shape, dtype=np.intp)
    ratio = np.empty(shape)
    # b / 0: inf (never best); 0 / 0 (no background, no signal): NaN, never best
    with np.errstate(divide="ignore", invalid="ignore"):
        for k in range(c.dy.size):
            y0, x0 = r0 + hy + c.dy[k], hx + c.dx[k]
            np.divide(free[y0 : y0 + shape[0], x0 : x0 + nx], signal[k], out=ratio)
            better = ratio < best
            np.copyto(best, ratio, where=better)
            np.copyto(which, k, where=better)
    found = np.isfinite(best).ravel()
    which = which.ravel()
    rows, cols = np.divmod(np.arange(which.size), nx)
    s_star = np.where(found, full_signal[which, np.arange(which.size)], 0.0)
    b_star = free[r0 + hy + c.dy[which] + rows, hx + c.dx[which] + cols]
    return s_star, np.where(found, b_star, 0.0)


def _full_signal(ctx: SimpleNamespace, r0: int, r1: int, nx: int) -> np.ndarray:
    """``sum_e X(e, p) K(e, d)`` over the planes selected everywhere: ``(offsets, pixels)``."""
    exposure = ctx.exposure[ctx.full, r0:r1].reshape(ctx.full.size, (r1 - r0) * nx)
    return ctx.kernel_flat[ctx.full].T @ exposure


def _fit_rows(ctx: SimpleNamespace, r0: int, r1: int, nx: int) -> dict[str, np.ndarray]:
    """Fit the pixels of rows ``[r0, r1)``: arrays ``(r1 - r0, nx)``."""
    c = ctx  # short alias
    hy = c.hy
    near = (c.rows >= r0 - hy) & (c.rows < r1 + hy)
    b_layer, b_row, b_col = c.layer[near], c.rows[near], c.cols[near]
    p_row = b_row[:, None] - c.dy[None, :]
    p_col = b_col[:, None] - c.dx[None, :]
    keep = (p_row >= r0) & (p_row < r1) & (p_col >= 0) & (p_col < nx)
    keep[keep] = c.valid[p_row[keep], p_col[keep]]
    which_bin, which_offset = np.nonzero(keep)
    p_row, p_col = p_row[keep], p_col[keep]
    pixel = (p_row - r0) * nx + p_col
    n_pix = (r1 - r0) * nx
    n_pairs = np.bincount(pixel, minlength=n_pix)
    todo = c.valid[r0:r1].ravel()
    # buckets of pixels with similar numbers of bins (within a factor BUCKET_RATIO);
    # the pairs sorted by bucket, then pixel: each bucket a contiguous run
    bucket = np.where(todo, np.ceil(np.log(n_pairs + 1.0) / np.log(BUCKET_RATIO)), -1)
    bucket = bucket.astype(np.intp)
    pixel_order = np.argsort(bucket, kind="stable")
    rank = np.empty(n_pix, dtype=np.int32)  # of each pixel in (bucket, pixel) order
    rank[pixel_order] = np.arange(n_pix, dtype=np.int32)
    # (the order of a pixel's pairs among themselves is immaterial)
    order = np.argsort(rank[pixel], kind="quicksort")
    which_bin, which_offset, pixel = which_bin[order], which_offset[order], pixel[order]
    if not c.summed or c.mixed.size:
        p_row, p_col = p_row[order], p_col[order]
    full_signal = _full_signal(c, r0, r1, nx) if c.summed else None
    if c.summed:
        signal = full_signal[which_offset, pixel]
        for e in c.mixed:
            q_row, q_col = b_row[which_bin], b_col[which_bin]
            weight = c.kernel_flat[e, which_offset] * c.mask[e, q_row, q_col]
            signal += c.exposure[e, p_row, p_col] * weight
    else:
        e = b_layer[which_bin]
        signal = c.exposure[e, p_row, p_col] * c.kernel_flat[e, which_offset]
    counts = c.counts[near][which_bin]
    background = c.background[near][which_bin]
    rest_signal = c.signal_total[r0:r1].ravel() - np.bincount(pixel, signal, minlength=n_pix)
    rest_background = (c.background_total[r0:r1].ravel()
                       - np.bincount(pixel, background, minlength=n_pix))  # fmt: skip
    s_star, b_star = _bound_bins(c, r0, r1, nx, full_signal)
    rest_signal -= s_star
    rest_background -= b_star
    scale = np.abs(c.signal_total[r0:r1].ravel())
    rest_signal = np.where(rest_signal > 1e-9 * scale, rest_signal, 0.0)
    rest_background = np.maximum(rest_background, 0.0)
    # each pair's slot among its pixel's pairs, and its pixel's row in its bucket
    first_pair = np.zeros(n_pix, dtype=np.intp)
    sorted_buckets = bucket[pixel_order]
    in_bucket = np.empty(n_pix, dtype=np.intp)
    bucket_start = np.searchsorted(sorted_buckets, sorted_buckets, side="left")
    in_bucket[pixel_order] = np.arange(n_pix) - bucket_start
    starts = np.flatnonzero(np.r_[True, pixel[1:] != pixel[:-1]]) if pixel.size else pixel
    first_pair[pixel[starts]] = starts
    slot = np.arange(pixel.size) - first_pair[pixel]
    row = in_bucket[pixel]
    pair_bucket = bucket[pixel]
    out = {name: np.full(n_pix, np.nan) for name in _FIT_NAMES}
    out["success"] = np.zeros(n_pix)
    for level in np.unique(bucket[todo]):
        sel = pixel_order[np.searchsorted(sorted_buckets, level) :
                          np.searchsorted(sorted_buckets, level, side="right")]  # fmt: skip
        width = int(n_pairs[sel].max())
        shape = (sel.size, width + 2)
        cc, ss, bb = np.zeros(shape), np.zeros(shape), np.zeros(shape)
        ww = np.zeros(shape, dtype=bool)
        span = slice(np.searchsorted(pair_bucket, level),
                     np.searchsorted(pair_bucket, level, side="right"))  # fmt: skip
        r, k = row[span], slot[span]
        cc[r, k], ss[r, k], bb[r, k] = counts[span], signal[span], background[span]
        ww[r, k] = True
        ss[:, width], bb[:, width] = s_star[sel], b_star[sel]
        ww[:, width] = s_star[sel] > 0
        ss[:, width + 1], bb[:, width + 1] = rest_signal[sel], rest_background[sel]
        ww[:, width + 1] = rest_signal[sel] > 0
        result = fit_norm_rows(
            cc, ss, bb, ww, n_sigma=c.n_sigma, n_sigma_ul=c.n_sigma_ul,
            asymmetric=c.asymmetric, upper_limit=c.upper_limit,
        )  # fmt: skip
        for name in _FIT_NAMES:
            if name in result:
                out[name][sel] = result[name]
    return {name: array.reshape(r1 - r0, nx) for name, array in out.items()}
