r"""Forward folding: predicted counts of sky models on a dataset.

:func:`fold` gives the predicted counts of one :class:`~gammaxr.models.SkyModel`,
:func:`npred` those of a whole model collection plus the (scaled) background,
and :class:`NpredEvaluator` does the same with caches, for fits.

Conventions
-----------
The dataset is a map dataset (:func:`gammaxr.make_map_dataset`): ``exposure
(energy_true, lat, lon)`` (any area x time unit, e.g. ``m2 s``),
``psf(energy_true, rad)`` in sr-1 at the geometry centre (optional),
``edisp(energy_true, energy)`` migration probabilities (optional) and
``background(energy, lat, lon)`` predicted counts (optional); or a spectrum
dataset, the same without ``lat``/``lon`` and without a PSF; or either in the
joint form, with an ``obs_id`` dim on any of these variables.

For a source with spectrum :math:`\phi(E)` (cm-2 s-1 TeV-1), spatial model
:math:`S` and temporal model :math:`T(t)`:

1. **Flux per true-energy bin**, cm-2 s-1: :math:`F_j = \int_{E_j}^{E_{j+1}}
   \phi(E)\,dE` (``spectral.integral`` over ``energy_true_lo``/``_hi``),
   times, if the model has a temporal component, its mean norm over the
   dataset's time range: ``temporal.integral(t_start, t_stop)`` with the
   ``tstart``/``tstop`` attrs (s since ``mjdref``, in ``timesys``; in the
   joint form, ``(obs_id)`` variables) converted to MJD in the model's time
   scale. A dataset without a time range (a stacked one) cannot fold a model
   with a temporal component (:class:`FoldingError`). Gammapy sums over the
   GTIs; one interval per observation is the same for a run without gaps.
2. **Spatial fraction** per pixel, :math:`s_p`: ``spatial.integrate_geom`` on
   the pixels within the model's ``evaluation_radius`` (plus one pixel);
   point sources use ``method="bilinear"`` (Gammapy's centroid-preserving
   weights), so that the counts vary continuously with the position.
3. **Predicted counts in true energy**: :math:`F_j s_p X_{jp}` with the
   exposure :math:`X` converted to cm2 s.
4. **PSF**: convolution, per true energy, with a kernel built on the
   dataset's pixel grid from ``psf(energy_true, rad)``: the PSF interpolated
   linearly in ``rad`` at the true angular separation of each sub-pixel
   centre from a source at the centre of the reference pixel (the row of the
   geometry centre, where the PSF is evaluated), times the sub-pixel's exact
   solid angle, summed per pixel (oversampled by Gammapy's rule, ``ceil(12 /
   (2 r68 / pixel))`` sub-pixels per axis, at most 8), cut at the radius
   containing 99.9% of the PSF (the largest over true energies, at most the
   last ``rad`` edge: the pixels whose centre lies within it) and normalised
   to a sum of one per true energy and observation: the PSF conserves counts.
   The convolution is a batched real FFT (``scipy.fft``, zero-padded), or,
   for images with a few non-zero pixels (a point source), a direct sum of
   shifted kernels. One kernel serves the whole map: the lon pixel width
   shrinks as ``cos(lat)``, so away from the kernel's row a source is smeared
   by the kernel of the reference row (a relative error of about
   ``tan(lat) * dlat`` in the lon width, e.g. 1.8% at 2.5 deg from the centre
   of a field at lat 22 deg; Gammapy does the same).
5. **Energy dispersion**: :math:`N_{ip} = \sum_j \tilde N_{jp} R_{ji}` with
   the migration matrix ``edisp(energy_true, energy)``; without an ``edisp``
   variable, the diagonal response (each true bin to the reco bin holding its
   centre).

Steps 3 to 5 are linear, so :func:`npred` sums sources that share a region in
true energy and convolves and redistributes them once. The exposure is
applied before the PSF (the exposure at the true position, as it should be);
Gammapy convolves the spatial model first and multiplies by the exposure at
the reconstructed position, which differs where the exposure changes over a
PSF width (see the benchmark notes).

Cutouts
-------
A source is folded on a cutout: the pixels within its evaluation radius plus
one pixel (its *support*), grown by the PSF kernel's half size in rows and
columns, clipped to the map. Outside the support the spatial fraction is zero
and the kernel does not reach beyond the cutout, so the result equals a
whole-map evaluation to rounding (``cutout=False`` does the whole map).
Flux that would be scattered into the map from outside it is not counted (as
in Gammapy): keep a margin of a PSF radius around the region of interest.

Background
----------
``background * spectral(E)`` for the dataset's
:class:`~gammaxr.models.FoVBackgroundModel` (``norm * (E / reference) **
-tilt`` for the default), evaluated at the reco-energy bin centres, as
Gammapy does. The background model is the one whose ``dataset_name`` is the
dataset's name (``dataset_name=`` or ``ds.attrs["name"]``); without one the
background is used as it is. :func:`npred` returns ``background + signal``
clipped at zero (as Gammapy), :func:`fold` the signal alone (not clipped).

Joint form
----------
Variables with an ``obs_id`` dim are folded per observation, vectorised:
exposure, PSF (one kernel per observation, with its own radius and
oversampling, so the result does not depend on the other observations),
edisp and time range; shared variables broadcast. One background model
applies to every observation of a joint dataset.

Memory
------
The results are numpy-backed. A Dask-backed dataset works: only the exposure
cutouts that are used are computed (the background, PSF and edisp are loaded
whole).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from functools import cache

import numpy as np
import xarray as xr

from gammaxr.conventions import ENERGY_TRUE, OBS_ID
from gammaxr.models._folding import (
    Box,
    FoldingContext,
    FoldingError,
    fold_sources,
    redistribute,
    redistribute_one,
    source_boxes,
)
from gammaxr.models._psf_kernel import fft_cost
from gammaxr.models.sky import FoVBackgroundModel, Models, SkyModel
from gammaxr.models.spatial import SpatialModel

__all__ = ["FoldingError", "NpredEvaluator", "fold", "npred", "psf_kernel"]

#: Relative tolerance under which a new flux is taken as a multiple of the
#: cached one (the cached counts are then rescaled).
PROPORTIONAL_RTOL = 1e-13
#: Updates of the cached total (a source's old counts subtracted, its new ones
#: added) between two sums made afresh.
MAX_INCREMENTS = 64
#: A source whose peak counts drop by more than this factor makes the total be
#: summed afresh.
DROP_GUARD = 4.0
#: Evaluations remembered by :meth:`NpredEvaluator.evaluate_since` (the pixel
#: regions each one changed).
CHANGE_LOG = 16

#: A rectangle of pixels ``(y0, y1, x0, x1)``: rows ``[y0, y1)`` of ``lat``,
#: columns ``[x0, x1)`` of ``lon`` (every energy and observation).
Region = tuple[int, int, int, int]


def fold(ds: xr.Dataset, model: SkyModel, *, cutout: bool = True) -> xr.DataArray:
    """Predicted counts of one source on a dataset.

    Parameters
    ----------
    ds : xarray.Dataset
        Map dataset (``exposure(energy_true, lat, lon)``, optional
        ``psf(energy_true, rad)`` and ``edisp(energy_true, energy)``) or
        spectrum dataset (no ``lat``/``lon``), optionally in the joint form
        (``obs_id`` dim). See the module documentation for the conventions.
    model : SkyModel
        The source. On a map dataset it needs a spatial model; on a spectrum
        dataset the spatial model is ignored (the exposure of a spectrum
        dataset already holds the containment in its region).
    cutout : bool
        Fold on a cutout around the source (default) or on the whole map
        (same result to rounding; for checks).

    Returns
    -------
    xarray.DataArray
        ``npred_signal``: float64 predicted counts, dims ``(obs_id?, energy,
        lat, lon)`` (``(obs_id?, energy)`` for a spectrum dataset), with the
        dataset's coordinates; units ``""``.

    Raises
    ------
    FoldingError
        If a map dataset gets a model without a spatial component, or a model
        with a temporal component meets a dataset without a time range.
    DimensionError, UnitError
        If the dataset lacks a variable or axis, or a unit is wrong.

    Examples
    --------
    >>> import gammaxr as gx
    >>> from gammaxr.models import PointSpatialModel, PowerLawSpectralModel, SkyModel
    >>> from gammaxr.models.npred import fold
    >>> geom = gx.make_geom(
    ...     gx.energy_axis(1, 10, nbin=2),
    ...     gx.energy_axis(0.5, 20, nbin=4, name="energy_true"),
    ...     sky=gx.sky_grid((83.633, 22.014), width=1, binsz=0.1),
    ... )
    >>> ds = gx.make_map_dataset(gx.open_datastore().observation(23523), geom)
    >>> crab = SkyModel(
    ...     PowerLawSpectralModel(index=2.6, amplitude=3.8e-11),
    ...     PointSpatialModel(lon_0=83.633, lat_0=22.014),
    ...     name="crab",
    ... )
    >>> signal = fold(ds, crab)
    >>> signal.dims, bool(signal.sum() > 100)
    (('energy', 'lat', 'lon'), True)
    """
    if not isinstance(model, SkyModel):
        raise FoldingError(f"fold: expected a SkyModel, got {type(model).__name__}")
    ctx = FoldingContext(ds)
    out = np.zeros(_output_shape(ctx))
    _add_sources(ctx, out, [model], cutout=cutout)
    return ctx.to_dataarray(out, name="npred_signal")


def npred(
    ds: xr.Dataset,
    models: Models | Iterable[SkyModel | FoVBackgroundModel],
    *,
    dataset_name: str | None = None,
    cutout: bool = True,
) -> xr.DataArray:
    """Predicted counts on a dataset: scaled background plus every source folded.

    Parameters
    ----------
    ds : xarray.Dataset
        Map or spectrum dataset (see :func:`fold`), with an optional
        ``background`` (predicted counts, same dims as ``counts``).
    models : Models or sequence of SkyModel and FoVBackgroundModel
        The models; those that apply to the dataset are used
        (:meth:`Models.for_dataset`): sky models whose ``datasets_names`` is
        None or holds the dataset's name, and the background model whose
        ``dataset_name`` is the dataset's name.
    dataset_name : str, optional
        The dataset's name (default ``ds.attrs["name"]``). Without a name only
        sky models for every dataset apply, and a background model is an
        error (it cannot be matched).
    cutout : bool
        Fold each source on a cutout (default) or on the whole map.

    Returns
    -------
    xarray.DataArray
        ``npred``: float64 predicted counts, ``background * bkg_model(E) +
        sum of fold(ds, source)``, clipped at zero; dims as :func:`fold`.

    Notes
    -----
    Sources are grouped by region: the PSF convolution and the energy
    redistribution are linear, so sources whose cutouts overlap enough are
    summed in true energy and folded once on the union of their cutouts (the
    grouping minimises an estimate of the FFT and matrix work).

    Examples
    --------
    >>> import gammaxr as gx
    >>> from gammaxr.models import (
    ...     FoVBackgroundModel, Models, PointSpatialModel, PowerLawSpectralModel, SkyModel
    ... )
    >>> from gammaxr.models.npred import npred
    >>> geom = gx.make_geom(
    ...     gx.energy_axis(1, 10, nbin=2),
    ...     gx.energy_axis(0.5, 20, nbin=4, name="energy_true"),
    ...     sky=gx.sky_grid((83.633, 22.014), width=1, binsz=0.1),
    ... )
    >>> ds = gx.make_map_dataset(gx.open_datastore().observation(23523), geom)
    >>> crab = SkyModel(
    ...     PowerLawSpectralModel(index=2.6, amplitude=3.8e-11),
    ...     PointSpatialModel(lon_0=83.633, lat_0=22.014),
    ...     name="crab",
    ... )
    >>> models = Models([crab, FoVBackgroundModel("run-23523")])
    >>> predicted = npred(ds, models, dataset_name="run-23523")
    >>> bool(predicted.sum() > ds.background.sum())
    True
    """
    ctx = FoldingContext(ds)
    name = dataset_name if dataset_name is not None else ds.attrs.get("name")
    sources, background_model = select_models(models, name)
    out = _background(ctx, background_model)
    _add_sources(ctx, out, sources, cutout=cutout)
    np.maximum(out, 0.0, out=out)
    return ctx.to_dataarray(out, name="npred")


def psf_kernel(ds: xr.Dataset) -> xr.DataArray:
    """The PSF kernel that folding uses on a map dataset.

    Parameters
    ----------
    ds : xarray.Dataset
        Map dataset with ``psf(energy_true, rad)`` (and the sky grid).

    Returns
    -------
    xarray.DataArray
        Dims ``(obs_id?, energy_true, kernel_lat, kernel_lon)``: the fraction
        of the counts of a source at the centre pixel that lands in each
        pixel (each image sums to one). ``kernel_lat``/``kernel_lon`` hold the
        pixel offsets in deg (rows times the lat step, columns times the lon
        step); ``attrs["radius"]`` is the kernel radius, deg.

    Examples
    --------
    >>> import gammaxr as gx
    >>> from gammaxr.models.npred import psf_kernel
    >>> geom = gx.make_geom(
    ...     gx.energy_axis(1, 10, nbin=2),
    ...     gx.energy_axis(0.5, 20, nbin=4, name="energy_true"),
    ...     sky=gx.sky_grid((83.633, 22.014), width=2, binsz=0.02),
    ... )
    >>> ds = gx.make_map_dataset(gx.open_datastore().observation(23523), geom)
    >>> kernel = psf_kernel(ds)
    >>> kernel.dims, round(float(kernel.isel(energy_true=0).sum()), 12)
    (('energy_true', 'kernel_lat', 'kernel_lon'), 1.0)
    """
    ctx = FoldingContext(ds)
    kernel = ctx.kernel
    if kernel is None:
        raise FoldingError("psf_kernel: the dataset has no 'psf' variable")
    hy, hx = ctx.kernel_half_sizes
    has_obs = ctx.psf is not None and OBS_ID in ctx.psf.dims
    dims = ((OBS_ID,) if has_obs else ()) + (ENERGY_TRUE, "kernel_lat", "kernel_lon")
    values = kernel if has_obs else kernel[0]
    coords = {key: coord for key, coord in ds.coords.items() if set(coord.dims) <= set(dims)}
    coords["kernel_lat"] = ("kernel_lat", np.arange(-hy, hy + 1) * ctx.dlat, {"units": "deg"})
    coords["kernel_lon"] = ("kernel_lon", np.arange(-hx, hx + 1) * ctx.dlon, {"units": "deg"})
    return xr.DataArray(
        values,
        dims=dims,
        coords=coords,
        name="psf_kernel",
        attrs={"units": "", "radius": ctx.kernel_radius},
    )


def select_models(
    models: Models | Iterable[SkyModel | FoVBackgroundModel], dataset_name: str | None
) -> tuple[list[SkyModel], FoVBackgroundModel | None]:
    """The sky models and the background model that apply to a dataset.

    Parameters
    ----------
    models : Models or iterable of SkyModel and FoVBackgroundModel
        The model collection.
    dataset_name : str or None
        The dataset's name.

    Returns
    -------
    sources : list of SkyModel
        Sky models whose ``datasets_names`` is None or holds ``dataset_name``.
    background : FoVBackgroundModel or None
        The background model of ``dataset_name``.

    Raises
    ------
    FoldingError
        For an object that is neither model type, or a background model when
        the dataset has no name.
    """
    items = list(models.values() if isinstance(models, Models) else models)
    for model in items:
        if not isinstance(model, SkyModel | FoVBackgroundModel):
            raise FoldingError(
                f"expected SkyModel or FoVBackgroundModel objects, got {type(model).__name__}"
            )
    if not isinstance(models, Models):
        Models(items)  # unique names
    sources: list[SkyModel] = []
    background = None
    for model in items:
        if isinstance(model, SkyModel):
            if model.datasets_names is None or (
                dataset_name is not None and dataset_name in model.datasets_names
            ):
                sources.append(model)
        elif isinstance(model, FoVBackgroundModel):
            if dataset_name is None:
                raise FoldingError(
                    f"background model {model.name!r}: the dataset has no name to match; "
                    "pass dataset_name= or set ds.attrs['name']"
                )
            if model.dataset_name == dataset_name:
                background = model
    return sources, background


# -- uncached folding ---------------------------------------------------------------------


def _output_shape(ctx: FoldingContext) -> tuple[int, int, int, int]:
    spatial = (ctx.ny, ctx.nx) if ctx.is_map else (1, 1)
    return (ctx.n_obs, ctx.n_reco, *spatial)


def _background(ctx: FoldingContext, model: FoVBackgroundModel | None) -> np.ndarray:
    """The scaled background as a new ``(B, E, Y, X)`` array (zeros without one)."""
    out = np.zeros(_output_shape(ctx))
    background = ctx.background()
    if background is None:
        return out
    if model is None:
        out += background
    else:
        factor = np.asarray(model.spectral(ctx.energy_centres), dtype=np.float64)
        out += background * factor.reshape(1, -1, 1, 1)
    return out


@dataclass
class _Item:
    flux: np.ndarray
    fraction: np.ndarray
    support: Box
    box: Box


def _add_sources(
    ctx: FoldingContext, out: np.ndarray, models: Sequence[SkyModel], *, cutout: bool
) -> None:
    """Fold the sources and add them to ``out`` ``(B, E, Y, X)``, in place."""
    items = []
    for model in models:
        boxes = source_boxes(ctx, model.spatial if ctx.is_map else None, cutout=cutout)
        if boxes is None:
            continue
        support, box = boxes
        flux = ctx.flux(model)
        spatial = model.spatial if ctx.is_map else None
        fraction = np.ones((1, 1)) if spatial is None else ctx.spatial_fraction(spatial, support)
        items.append(_Item(flux, fraction, support, box))
    if not items:
        return
    n_images = max(item.flux.shape[0] for item in items) * ctx.n_true
    kernel = ctx.kernel
    kernel_shape = None if kernel is None else tuple(kernel.shape[-2:])
    for box, members in _group(items, n_images, ctx.n_reco, kernel_shape):
        counts = fold_sources(ctx, [(m.flux, m.fraction, m.support) for m in members], box)
        rows, cols = box.slices
        out[:, :, rows, cols] += counts


def _group(
    items: list[_Item],
    n_images: int,
    n_reco: int,
    kernel_shape: tuple[int, ...] | None,
) -> list[tuple[Box, list[_Item]]]:
    """Greedy merging of source cutouts while the estimated work goes down."""

    @cache
    def cost(h: int, w: int) -> float:
        return fft_cost(h, w, kernel_shape, n_images) + n_images * n_reco * h * w  # type: ignore[arg-type]

    def box_cost(box: Box) -> float:
        return cost(*box.shape)

    groups: list[tuple[Box, list[_Item]]] = [(item.box, [item]) for item in items]
    if len(groups) > 16:
        # many sources: one pass, each joining the group that saves the most
        merged: list[tuple[Box, list[_Item]]] = []
        for box, members in groups:
            best, best_saving = None, 0.0
            for i, (other, _) in enumerate(merged):
                union = box.union(other)
                saving = box_cost(box) + box_cost(other) - box_cost(union)
                if saving > best_saving:
                    best, best_saving = i, saving
            if best is None:
                merged.append((box, members))
            else:
                other, others = merged[best]
                merged[best] = (box.union(other), others + members)
        return merged
    while len(groups) > 1:
        best = None
        for i in range(len(groups)):
            for j in range(i + 1, len(groups)):
                union = groups[i][0].union(groups[j][0])
                saving = box_cost(groups[i][0]) + box_cost(groups[j][0]) - box_cost(union)
                if saving > 0 and (best is None or saving > best[0]):
                    best = (saving, i, j, union)
        if best is None:
            break
        _, i, j, union = best
        members = groups[i][1] + groups[j][1]
        groups = [g for k, g in enumerate(groups) if k not in (i, j)] + [(union, members)]
    return groups


# -- cached folding -----------------------------------------------------------------------


@dataclass
class _SourceCache:
    """What the evaluator keeps of one source (see :class:`NpredEvaluator`)."""

    spatial: SpatialModel | None
    box: Box | None
    # (B, T, h, w), or (1, T, h, w) when the batch rows share it: PSF-convolved exposure x fraction
    template: np.ndarray | None = None
    flux: np.ndarray | None = None  # (B, T)
    counts: np.ndarray | None = None  # (B, E, h, w)
    counts_range: tuple[float, float] = (0.0, 0.0)  # see _range
    # lowest and highest count, exactly (0 if higher / lower): no negative count if low is 0
    extremes: tuple[float, float] = (0.0, 0.0)


class NpredEvaluator:
    """Predicted counts on one dataset, re-using what a parameter change leaves valid.

    Built once per dataset (it copies the exposure, background and IRFs as
    float64 and builds the PSF kernel), then called with a model collection
    as often as a fit needs; each call returns what :func:`npred` returns for
    the same models (to rounding).

    Parameters
    ----------
    ds : xarray.Dataset
        Map or spectrum dataset (see :func:`fold`). Later changes to ``ds``
        are not seen: build a new evaluator.
    dataset_name : str, optional
        The dataset's name, to select models (default ``ds.attrs["name"]``).
    cutout : bool
        Fold sources on cutouts (default) or on the whole map.

    Notes
    -----
    Cache rules, per source (keyed by model name):

    - **Spatial**: the spatial fraction, the cutout and the *template* (the
      fraction times the exposure, convolved with the PSF, per true energy)
      are kept while the source's spatial model is equal (``==``: same type,
      frame and parameter values, same template data) to the one they were
      made with. Any change of a spatial parameter rebuilds them.
    - **Spectral and temporal**: the flux per true-energy bin (times the
      temporal mean norm) is recomputed at every call (it is cheap) and
      compared with the cached flux. Equal: the source's counts are re-used.
      A constant multiple (within :data:`PROPORTIONAL_RTOL`, e.g. only the
      amplitude changed): the cached counts are rescaled. Otherwise the counts
      are recomputed from the template: linear in the flux, one matrix product
      with the migration matrix, no convolution.
    - **Total**: the sum of the scaled background and the sources' counts is
      kept. When the background factor (recomputed at every call) is equal
      and at most half of the sources changed, the changed sources' old
      counts are subtracted and their new ones added, on their cutouts only.
      The sum is made afresh otherwise, after :data:`MAX_INCREMENTS` such
      updates, and when a changed source's counts are negative or their peak
      drops by more than :data:`DROP_GUARD` (so the rounding the updates leave
      stays below ``1e-13`` of the total).
    - Sources no longer in the collection are forgotten.
    - **Clip**: :func:`npred` clips the total at zero. The evaluator knows
      when the total has no negative value (the background, its factor and
      every source's counts are non-negative when summed afresh; after an
      update, the updated cutouts are checked) and then copies it instead.

    The keys are the quantities themselves (the flux values, the spatial
    model), never a "changed" flag, so a changed parameter always changes
    the result. The memory held is about ``8 * n_obs * (n_true + n_reco)``
    bytes per cutout pixel per source.

    For a fit statistic that is summed in pieces, :meth:`evaluate_since`
    returns the cached total itself (no copy) with the pixel regions that
    changed since an earlier call (see :class:`gammaxr.fit.MapCost`).

    Examples
    --------
    >>> import gammaxr as gx
    >>> from gammaxr.models import Models, PointSpatialModel, PowerLawSpectralModel, SkyModel
    >>> from gammaxr.models.npred import NpredEvaluator
    >>> geom = gx.make_geom(
    ...     gx.energy_axis(1, 10, nbin=2),
    ...     gx.energy_axis(0.5, 20, nbin=4, name="energy_true"),
    ...     sky=gx.sky_grid((83.633, 22.014), width=1, binsz=0.1),
    ... )
    >>> ds = gx.make_map_dataset(gx.open_datastore().observation(23523), geom)
    >>> crab = SkyModel(
    ...     PowerLawSpectralModel(index=2.6, amplitude=3.8e-11),
    ...     PointSpatialModel(lon_0=83.633, lat_0=22.014),
    ...     name="crab",
    ... )
    >>> evaluator = NpredEvaluator(ds)
    >>> first = evaluator.evaluate(Models([crab]))  # builds the source's template
    >>> softer = Models([crab]).with_parameters(**{"crab.spectral.index": 2.8})
    >>> bool(evaluator.evaluate(softer).sum() < first.sum())  # no convolution needed
    True
    """

    def __init__(
        self, ds: xr.Dataset, *, dataset_name: str | None = None, cutout: bool = True
    ) -> None:
        self._ctx = FoldingContext(ds, copy=True)
        self.dataset_name = dataset_name if dataset_name is not None else ds.attrs.get("name")
        self.cutout = cutout
        self._sources: dict[str, _SourceCache] = {}
        self._total: np.ndarray | None = None
        self._total_factor: np.ndarray | None = None
        self._in_total: dict[str, _SourceCache] = {}
        self._increments = 0
        self._nonnegative = False  # the total has no negative value (exactly)...
        self._unchecked: set[Region] = set()  # ...once these regions are checked
        self._background_nonnegative: bool | None = None
        self._background_sign_free: bool | None = None
        # whether every observation has the same migration matrix (found once)
        self._one_response: bool | None = None
        # pixel regions where the total may differ from that of the last rebuild
        self._touched: set[Region] = set()
        self._version = 0
        self._changes: deque[tuple[int, tuple[Region, ...] | None]] = deque(maxlen=CHANGE_LOG)
        _ = self._ctx.kernel  # build the PSF kernel now

    @property
    def dims(self) -> tuple[str, ...]:
        """Dims of the arrays that :meth:`evaluate` returns (and of the DataArray)."""
        return self._ctx.output_dims(self._ctx.has_obs)

    def __call__(self, models: Models | Iterable[SkyModel | FoVBackgroundModel]) -> xr.DataArray:
        """Predicted counts as a DataArray named ``npred`` (as :func:`npred`)."""
        return self._ctx.to_dataarray(self._evaluate(models), name="npred")

    def evaluate(self, models: Models | Iterable[SkyModel | FoVBackgroundModel]) -> np.ndarray:
        """Predicted counts as a new float64 numpy array on :attr:`dims`.

        For a fit's inner loop: no xarray wrapping. The array is the caller's.
        """
        out = self._evaluate(models)
        if not self._ctx.is_map:
            out = out[..., 0, 0]
        return out if self._ctx.has_obs else out[0]

    def evaluate_since(
        self, models: Models | Iterable[SkyModel | FoVBackgroundModel], version: int
    ) -> tuple[np.ndarray, int, tuple[Region, ...] | None]:
        """Predicted counts, and the pixels where they changed since an earlier call.

        For a fit statistic that is summed in pieces and re-sums only the
        pieces that changed (:class:`gammaxr.fit.MapCost`).

        Parameters
        ----------
        models : Models or iterable of SkyModel and FoVBackgroundModel
            The models (as :meth:`evaluate`).
        version : int
            The version returned by an earlier call (0: none).

        Returns
        -------
        npred : numpy.ndarray
            The predicted counts on :attr:`dims`: a read-only view of the
            evaluator's cached total, valid until its next call (copy it to
            keep it). Not clipped at zero: where sources have negative counts
            it may hold negative values, which :meth:`evaluate` sets to 0
            (a statistic that floors the prediction, as Cash does at
            ``NPRED_FLOOR``, gives the same value for both).
        version : int
            This result's version, to pass to the next call.
        regions : tuple of (y0, y1, x0, x1) or None
            Pixel rectangles (rows of ``lat``, columns of ``lon``; every
            energy and observation) outside which ``npred`` equals, bit for
            bit, the result of the call that returned ``version``; ``()`` if
            nothing changed. None when that is not known: the first call, a
            ``version`` that is too old (the evaluator remembers
            :data:`CHANGE_LOG` calls), a changed background factor, or a
            spectrum dataset.
        """
        self._refresh(models)
        ctx = self._ctx
        out = self._total
        if ctx.has_obs and out.shape[0] != ctx.n_obs:
            out = np.broadcast_to(out, (ctx.n_obs, *out.shape[1:]))
        else:
            out = out.view()
            out.flags.writeable = False
        if not ctx.is_map:
            out = out[..., 0, 0]
        if not ctx.has_obs:
            out = out[0]
        return out, self._version, self._changes_since(version)

    def _changes_since(self, version: int) -> tuple[Region, ...] | None:
        """The regions changed by the evaluations after ``version`` (None: unknown)."""
        if not self._ctx.is_map or version <= 0 or version > self._version:
            return None
        if not self._changes or self._changes[0][0] > version + 1:
            return None  # older than the log
        regions: set[Region] = set()
        for number, changed in self._changes:
            if number <= version:
                continue
            if changed is None:
                return None
            regions.update(changed)
        return tuple(sorted(regions))

    def _evaluate(self, models) -> np.ndarray:
        ctx = self._ctx
        self._refresh(models)
        out = self._total.copy() if self._is_nonnegative() else np.maximum(self._total, 0.0)
        if ctx.has_obs and out.shape[0] != ctx.n_obs:
            out = np.broadcast_to(out, (ctx.n_obs, *out.shape[1:])).copy()
        return out

    def _refresh(self, models) -> None:
        """Bring the cached total up to ``models`` and log the pixels that changed."""
        sources, background_model = select_models(models, self.dataset_name)
        factor = self._background_factor(background_model)
        current: dict[str, _SourceCache] = {}
        for model in sources:
            entry = self._update(model)
            if entry.box is not None and entry.counts is not None:
                current[model.name] = replace(entry)
        for name in set(self._sources) - {model.name for model in sources}:
            del self._sources[name]
        changed = self._update_total(current, factor)
        if changed is None:
            same_background = self._total is not None and _equal_or_none(
                factor, self._total_factor
            )
            previous = self._touched
            self._rebuild_total(current, factor)
            # summed afresh: outside what sources ever covered, the same background values
            changed = previous | self._touched if same_background else None
        self._in_total = current
        self._version += 1
        self._changes.append((self._version, None if changed is None else tuple(changed)))

    def _background_factor(self, model: FoVBackgroundModel | None) -> np.ndarray | None:
        """The background scale per reco-energy bin (None without a background)."""
        if self._ctx.background() is None:
            return None
        if model is None:
            return np.ones(self._ctx.n_reco)
        return np.asarray(model.spectral(self._ctx.energy_centres), dtype=np.float64)

    def _rebuild_total(self, current: dict[str, _SourceCache], factor: np.ndarray | None) -> None:
        """Background plus every source's counts, summed afresh."""
        ctx = self._ctx
        shape = _output_shape(ctx)
        background = ctx.background()
        # the last total's memory is re-used (evaluate_since's views are valid until now)
        total = self._total if self._total is not None else np.empty(shape)
        if background is not None and factor is not None:
            np.multiply(background, factor.reshape(1, -1, 1, 1), out=total)
            if not (self._background_has_no_sign_bit() and not np.signbit(factor).any()):
                total += 0.0  # as a sum from zeros: -0.0 becomes 0.0
        else:
            total.fill(0.0)
        for entry in current.values():
            rows, cols = entry.box.slices  # type: ignore[union-attr]
            total[:, :, rows, cols] += entry.counts
        self._total, self._total_factor, self._increments = total, factor, 0
        self._touched = {_region(entry.box) for entry in current.values()}  # type: ignore[arg-type]
        # a sum of non-negative parts (from zeros) has no negative value
        self._unchecked = set()
        self._nonnegative = (
            (background is None or factor is None or self._background_is_nonnegative())
            and (factor is None or bool(np.all(factor >= 0)))
            and all(entry.extremes[0] >= 0 for entry in current.values())
        )

    def _background_has_no_sign_bit(self) -> bool:
        """Whether no background value is negative or -0.0 (or a NaN with its sign bit)."""
        if self._background_sign_free is None:
            background = self._ctx.background()
            self._background_sign_free = background is None or not bool(
                np.signbit(background).any()
            )
        return self._background_sign_free

    def _is_nonnegative(self) -> bool:
        """Whether the total has no negative value (checks the regions updated since asked)."""
        if self._nonnegative and self._unchecked:
            # subtracting can leave rounding below zero: look at the updated pixels
            total = self._total
            self._nonnegative = all(
                bool(np.min(total[:, :, y0:y1, x0:x1]) >= 0) for y0, y1, x0, x1 in self._unchecked
            )
        self._unchecked = set()
        return self._nonnegative

    def _background_is_nonnegative(self) -> bool:
        if self._background_nonnegative is None:
            background = self._ctx.background()
            self._background_nonnegative = background is None or bool(np.min(background) >= 0)
        return self._background_nonnegative

    def _update_total(
        self, current: dict[str, _SourceCache], factor: np.ndarray | None
    ) -> set[Region] | None:
        """Update the total by the sources that changed: their regions, or None to rebuild.

        Only while the background is unchanged, at most half the sources
        changed, fewer than :data:`MAX_INCREMENTS` updates were made since the
        last rebuild, and no changed source's counts are negative or drop by
        more than :data:`DROP_GUARD` at their peak (so that the rounding left by
        subtracting them stays below ``1e-13`` of the total).
        """
        if self._total is None or self._increments >= MAX_INCREMENTS:
            return None
        if not _equal_or_none(factor, self._total_factor):
            return None
        previous = self._in_total
        changed = [
            name
            for name in {*current, *previous}
            if name not in current
            or name not in previous
            or current[name].counts is not previous[name].counts
        ]
        if not changed:
            return set()
        if 2 * len(changed) > len(current) + 1:
            return None
        for name in changed:
            old, new = previous.get(name), current.get(name)
            if old is None:
                continue
            if new is None:
                return None
            old_low, old_peak = old.counts_range
            new_low, new_peak = new.counts_range
            # non-finite counts (an overflowing model: subtracting them leaves NaN),
            # negative counts (beyond FFT rounding) or a large drop: sum afresh
            if not all(map(math.isfinite, (old_low, old_peak, new_low, new_peak))):
                return None
            if min(old_low, new_low) < 0 or old_peak > DROP_GUARD * new_peak:
                return None
        total = self._total
        regions: set[Region] = set()
        for name in changed:
            for entry, sign in ((previous.get(name), -1), (current.get(name), 1)):
                if entry is None:
                    continue
                rows, cols = entry.box.slices  # type: ignore[union-attr]
                if sign < 0:
                    total[:, :, rows, cols] -= entry.counts
                else:
                    total[:, :, rows, cols] += entry.counts
                regions.add(_region(entry.box))  # type: ignore[arg-type]
        self._unchecked |= regions
        self._touched |= regions
        self._increments += 1
        return regions

    def _update(self, model: SkyModel) -> _SourceCache:
        ctx = self._ctx
        spatial = model.spatial if ctx.is_map else None
        entry = self._sources.get(model.name)
        if entry is None or not _same(entry.spatial, spatial):
            entry = self._new_entry(spatial)
            self._sources[model.name] = entry
        if entry.box is None:
            return entry
        flux = ctx.flux(model)
        old = entry.flux
        if old is not None and entry.counts is not None and old.shape == flux.shape:
            if np.array_equal(flux, old):
                return entry
            factor = _proportion(flux, old)
            if factor is not None:
                entry.flux, entry.counts = flux, entry.counts * factor
                # (rounding is monotonic: the extremes scale into the extremes)
                low, high = (factor * x for x in entry.extremes)
                entry.extremes = (low, high) if factor >= 0 else (high, low)
                low, high = (factor * x for x in entry.counts_range)
                entry.counts_range = (min(low, high), max(low, high))
                return entry
        entry.flux = flux
        entry.counts = self._redistribute(entry.template, flux)
        low, high = (
            float(np.min(entry.counts, initial=0.0)),
            float(np.max(entry.counts, initial=0.0)),
        )
        entry.extremes = (low, high)
        entry.counts_range = _range(low, high)
        return entry

    def _new_entry(self, spatial: SpatialModel | None) -> _SourceCache:
        """A source's cache for a spatial model: its cutout and template (no counts yet)."""
        boxes = source_boxes(self._ctx, spatial, cutout=self.cutout)
        if boxes is None:
            return _SourceCache(spatial, None)
        support, box = boxes
        return _SourceCache(spatial, box, template=self._template(spatial, support, box))

    def _redistribute(self, template: np.ndarray, flux: np.ndarray) -> np.ndarray:
        """:func:`redistribute` of ``template * flux``, once for observations that share it.

        When every observation has the same template (exposure and PSF, see
        :meth:`FoldingContext.shared_batches`) and energy dispersion, and the
        fluxes differ by a factor per observation only (a temporal model), the
        first observation's counts scaled by those factors are the others'
        (to rounding): one matrix product instead of one per observation.
        """
        ctx = self._ctx
        scales = self._shared_scales(template, flux)
        if scales is None:
            return redistribute(ctx, template, flux)
        first = redistribute_one(ctx, template[0], flux[0])
        return scales[:, None, None, None] * first[None]

    def _shared_scales(self, template: np.ndarray, flux: np.ndarray) -> np.ndarray | None:
        """Per-observation factors ``c`` with ``flux[b] = c[b] flux[0]``, if folding can share."""
        if flux.shape[0] < 2:
            return None
        if template.shape[0] > 1:
            shared = self._ctx.shared_batches()
            if shared is None or len(shared[0]) != 1:
                return None
        if self._one_response is None:  # the same migration matrix for every observation
            edisp = self._ctx.edisp_t
            self._one_response = bool(edisp.shape[0] == 1 or np.all(edisp == edisp[:1]))
        if not self._one_response:
            return None
        reference = flux[0]
        k = int(np.argmax(np.abs(reference)))
        if reference[k] == 0 or not np.all(np.isfinite(flux)):
            return None
        scales = flux[:, k] / reference[k]
        expected = scales[:, None] * reference[None, :]
        if not np.all(np.abs(flux - expected) <= PROPORTIONAL_RTOL * np.abs(expected)):
            return None
        return scales

    def _template(self, spatial: SpatialModel | None, support: Box, box: Box) -> np.ndarray:
        """Exposure times spatial fraction, PSF-convolved: ``(B, T, h, w)`` on ``box``."""
        ctx = self._ctx
        exposure = ctx.exposure(support)
        if spatial is None:
            return exposure.copy()
        fraction = ctx.spatial_fraction(spatial, support)
        shared = ctx.shared_batches()
        if shared is None:
            return ctx.convolve(exposure * fraction, support, box)
        # observations with the same exposure and PSF: one convolution per group
        unique, inverse = shared
        if exposure.shape[0] > 1:
            exposure = exposure[unique]
        template = ctx.convolve(exposure * fraction, support, box, shared=True)
        return template if len(unique) == 1 else template[inverse]


def _range(low: float, high: float) -> tuple[float, float]:
    """The lowest and highest counts, the lowest taken as 0 when above ``-1e-9`` of the highest.

    (FFT convolution leaves values of about ``-1e-16`` of the peak where the
    counts are zero.)
    """
    return (0.0 if low >= -1e-9 * abs(high) else low), high


def _region(box: Box) -> Region:
    return (box.y0, box.y1, box.x0, box.x1)


def _equal_or_none(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return bool(np.array_equal(a, b))


def _same(a: SpatialModel | None, b: SpatialModel | None) -> bool:
    if a is b:
        return True
    if a is None or b is None:
        return False
    return bool(a == b)


def _proportion(new: np.ndarray, old: np.ndarray) -> float | None:
    """``c`` if ``new == c * old`` within :data:`PROPORTIONAL_RTOL` everywhere, else None."""
    index = np.unravel_index(np.argmax(np.abs(old)), old.shape)  # (the first NaN if any)
    if old[index] == 0 or not math.isfinite(old[index]) or not np.all(np.isfinite(new)):
        return None
    factor = float(new[index] / old[index])
    if not math.isfinite(factor):
        return None
    if np.all(np.abs(new - factor * old) <= PROPORTIONAL_RTOL * np.abs(factor * old)):
        return factor
    return None
