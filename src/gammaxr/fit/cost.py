"""Cost objects: a dataset and a prediction, evaluated as a fit statistic.

A :class:`Cost` maps a :class:`~gammaxr.models.Models` collection to a float
(``-2 ln L`` up to a constant, so ``errordef = 1``). Costs add: ``cost_a +
cost_b`` is a :class:`JointCost` for a joint fit over datasets of different
geometries or instruments. The prediction is any callable ``predict(models) ->
array like counts`` (for a map or spectrum dataset, forward folding with
``gammaxr.models.npred``), so the cost knows nothing of IRFs.

The cost is where the lazy world meets the optimiser: ``cost(models)`` returns
a Python float, which computes a dask-backed statistic (per chunk, then summed).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import xarray as xr

from gammaxr.conventions import LAT, LON
from gammaxr.exceptions import FitError
from gammaxr.fit.statistics import (
    NPRED_FLOOR,
    STATISTICS,
    cash_terms,
    combined_mask,
    deviance_terms,
)

if TYPE_CHECKING:
    from gammaxr.models import Models

__all__ = ["Cost", "IncrementalPredictor", "JointCost", "MapCost"]

#: ``predict(models) -> predicted counts`` (numpy array shaped like counts, or a DataArray).
Predictor = Callable[["Models"], Any]

#: Side of the square tiles of ``(lat, lon)`` pixels over which :class:`MapCost`
#: sums Cash when its prediction says where it changed.
TILE = 16


@runtime_checkable
class IncrementalPredictor(Protocol):
    """A prediction that says where it changed (``NpredEvaluator`` is one).

    ``dims`` are the dims of its arrays. ``evaluate_since(models, version)``
    returns ``(npred, version, regions)``: the predicted counts (numpy, read
    only, valid until the next call), a version number to pass to the next
    call, and pixel rectangles ``(y0, y1, x0, x1)`` (rows of ``lat``, columns
    of ``lon``, every other dim) outside which ``npred`` is bit for bit what
    the call that returned ``version`` gave, or None when unknown.
    """

    dims: tuple[str, ...]

    def evaluate_since(
        self, models: Models, version: int
    ) -> tuple[np.ndarray, int, Sequence[tuple[int, int, int, int]] | None]:
        """Predicted counts, a version number, and the pixels changed since ``version``."""


class Cost(ABC):
    """A fit statistic as a function of models: ``cost(models) -> float``.

    Attributes
    ----------
    errordef : float
        Rise of the statistic that defines a 1-sigma error of one parameter
        (1 for ``-2 ln L`` statistics such as Cash).
    """

    errordef: float = 1.0

    @abstractmethod
    def __call__(self, models: Models) -> float:
        """The statistic for ``models``."""

    @property
    @abstractmethod
    def ndata(self) -> int:
        """Number of data bins that enter the statistic."""

    @property
    def members(self) -> tuple[Cost, ...]:
        """The single costs this one sums (itself for a single cost)."""
        return (self,)

    def __add__(self, other: Cost) -> JointCost:
        if not isinstance(other, Cost):
            return NotImplemented
        return JointCost(self, other)

    def __radd__(self, other: Any) -> Cost:
        if isinstance(other, int) and other == 0:  # so that sum(costs) works
            return self
        return NotImplemented


class MapCost(Cost):
    """The Poisson statistic of one binned dataset (map, spectrum or cube).

    Parameters
    ----------
    dataset : xarray.Dataset
        Holds ``counts`` and, optionally, ``mask_safe`` and ``mask_fit``.
    predictor : callable
        ``predictor(models)`` returns the predicted counts (events per bin): an
        array of the shape of ``counts`` in its dim order, or a DataArray. A
        DataArray on the dims and shape of ``counts`` is taken as this dataset's
        grid as it is (no coordinate alignment in the fit's inner loop); others
        are broadcast and aligned with ``counts`` by name.
    mask : xarray.DataArray, optional
        Bins to use (True) instead of the dataset's ``mask_safe & mask_fit``.
        Default: the dataset's masks, or every bin if it has none.
    dataset_name : str, optional
        Name of the dataset: the predictor then only gets the models that apply
        to it (``models.for_dataset(dataset_name)``), so a FoV background model
        scales its own dataset in a joint fit. Default ``dataset.attrs["name"]``
        if set, else every model is passed.
    statistic : {"cash"}
        The statistic (a key of :data:`gammaxr.fit.statistics.STATISTICS`).
    incremental : IncrementalPredictor, optional
        The same prediction as ``predictor``, by an object that also says
        which pixels changed since its last call (``NpredEvaluator``; what
        :func:`gammaxr.fit.as_cost` passes). For a numpy-backed map (dims
        ending in ``lat, lon``, the same dims as ``counts``), the Cash
        statistic is then summed per tile of :data:`TILE` x :data:`TILE`
        pixels, and only the tiles that changed are summed again: when a
        source moves, the work is on its cutout instead of the whole map.
        The value is a function of the prediction alone (the tiles summed
        afresh or not give the same bits); it differs from a plain sum by
        rounding only.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from gammaxr.fit import MapCost
    >>> from gammaxr.models import Models
    >>> ds = xr.Dataset({"counts": ("energy", np.array([3, 5]))})
    >>> cost = MapCost(ds, lambda models: np.array([3.0, 5.0]))
    >>> round(cost(Models()), 4), cost.ndata
    (-6.6861, 2)
    """

    def __init__(
        self,
        dataset: xr.Dataset,
        predictor: Predictor,
        *,
        mask: xr.DataArray | None = None,
        dataset_name: str | None = None,
        statistic: str = "cash",
        incremental: IncrementalPredictor | None = None,
    ) -> None:
        if "counts" not in dataset:
            raise FitError(
                f"MapCost: the dataset has no 'counts' variable (it has {list(dataset.data_vars)})"
            )
        if statistic not in STATISTICS:
            raise FitError(
                f"MapCost: unknown statistic {statistic!r}; use one of {list(STATISTICS)}"
            )
        if not callable(predictor):
            raise FitError("MapCost: predictor must be a callable predictor(models) -> npred")
        self.counts: xr.DataArray = dataset["counts"]
        self.predictor = predictor
        self.dataset_name = dataset_name if dataset_name is not None else dataset.attrs.get("name")
        self.statistic = statistic
        self._kernel = STATISTICS[statistic]
        mask = combined_mask(dataset) if mask is None else mask.astype(bool)
        if mask is not None:
            extra = sorted(map(str, set(mask.dims) - set(self.counts.dims)))
            if extra:
                raise FitError(
                    f"MapCost{_label(self.dataset_name)}: the mask has dims {extra} "
                    f"that counts {self.counts.dims} do not have"
                )
            mask = mask.broadcast_like(self.counts).transpose(*self.counts.dims)
        self.mask: xr.DataArray | None = mask
        self._ndata: int | None = None
        # the arrays of the inner loop, converted once (dask arrays stay lazy)
        self._counts64 = self.counts.data.astype(np.float64)
        self._mask_data = None if mask is None else mask.data
        # numpy data: mask weights and the bins with counts, for the sparse Cash sum
        self._sparse: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        if isinstance(self._counts64, np.ndarray) and (
            self._mask_data is None or isinstance(self._mask_data, np.ndarray)
        ):
            flat = self._counts64.reshape(-1)
            used = (
                np.ones(flat.shape, bool)
                if self._mask_data is None
                else np.asarray(self._mask_data, bool).reshape(-1)
            )
            index = np.flatnonzero(used & (flat > 0))
            self._sparse = (used.astype(np.float64), index, flat[index])
        self._incremental: IncrementalPredictor | None = None
        self._tiles: _TiledCash | None = None
        self._version = 0
        if incremental is not None:
            if not isinstance(incremental, IncrementalPredictor):
                raise FitError(
                    f"MapCost{_label(self.dataset_name)}: incremental must have 'dims' and "
                    f"'evaluate_since' (an NpredEvaluator), got {type(incremental).__name__}"
                )
            if (
                self._sparse is not None
                and tuple(incremental.dims) == self.counts.dims
                and self.counts.dims[-2:] == (LAT, LON)
            ):
                self._incremental = incremental

    @property
    def ndata(self) -> int:
        """Number of bins inside the mask (computed once)."""
        if self._ndata is None:
            self._ndata = int(self.counts.size if self.mask is None else self.mask.sum())
        return self._ndata

    def npred(self, models: Models) -> Any:
        """Predicted counts for ``models`` (those that apply to this dataset)."""
        if self.dataset_name is not None:
            models = models.for_dataset(self.dataset_name)
        return self.predictor(models)

    def __call__(self, models: Models) -> float:
        """The statistic (float64) for ``models``: +inf where the prediction is not finite.

        A prediction that overflows (a spectrum far outside its usual domain)
        would give NaN (``inf - inf`` in Cash); the cost is then +inf, so an
        optimiser sees a failed step rather than an undefined one.
        """
        if self._incremental is not None and self._kernel is cash_terms:
            value = self._tiled_cash(models)
        else:
            value = self._sum(self._kernel, self.npred(models))
        return value if not math.isnan(value) else math.inf

    def _tiled_cash(self, models: Models) -> float:
        """Cash summed per tile; only the tiles where the prediction changed are summed again."""
        if self.dataset_name is not None:
            models = models.for_dataset(self.dataset_name)
        npred, version, regions = self._incremental.evaluate_since(models, self._version)  # type: ignore[union-attr]
        if np.shape(npred) != self.counts.shape:
            raise FitError(
                f"MapCost{_label(self.dataset_name)}: the predictor returned shape "
                f"{np.shape(npred)}, counts have {self.counts.shape} {self.counts.dims}"
            )
        if self._tiles is None:
            weights, index, counts = self._sparse  # type: ignore[misc]
            self._tiles = _TiledCash(weights.reshape(self.counts.shape), index, counts)
            regions = None
        value = self._tiles.update(npred, regions)
        self._version = version
        return value

    def deviance(self, models: Models) -> float:
        """The Cash deviance (goodness of fit; ~chi2 with ``ndata - nfree`` dof)."""
        return self._sum(deviance_terms, self.npred(models))

    def _sum(self, kernel: Callable[..., Any], npred: Any) -> float:
        if isinstance(npred, xr.DataArray):
            if npred.dims == self.counts.dims and npred.shape == self.counts.shape:
                npred = npred.data  # this dataset's own grid: skip the alignment
            else:
                terms = xr.apply_ufunc(
                    kernel, self.counts, npred, *_opt(self.mask), dask="allowed"
                )
                return float(terms.sum())
        if np.shape(npred) != self.counts.shape:
            raise FitError(
                f"MapCost{_label(self.dataset_name)}: the predictor returned shape "
                f"{np.shape(npred)}, counts have {self.counts.shape} {self.counts.dims}"
            )
        if kernel is cash_terms and isinstance(npred, np.ndarray) and self._sparse is not None:
            return self._sparse_cash(npred)
        return float(np.sum(kernel(self._counts64, npred, self._mask_data)))

    def _sparse_cash(self, npred: np.ndarray) -> float:
        """Cash on numpy arrays: logs only where there are counts (most bins have none).

        Equal to summing :func:`cash_terms`: ``2 (sum_mask mu - sum_{n > 0} n ln mu)``
        with ``mu`` floored at ``NPRED_FLOOR``.
        """
        weights, index, counts = self._sparse
        mu = np.maximum(npred.reshape(-1), NPRED_FLOOR)
        return float(2.0 * (np.dot(mu, weights) - np.dot(counts, np.log(mu[index]))))

    def __repr__(self) -> str:
        dims = ", ".join(f"{d}: {n}" for d, n in self.counts.sizes.items())
        return f"MapCost({self.statistic}{_label(self.dataset_name)}, counts({dims}))"


class _TiledCash:
    """Cash of numpy arrays as a sum over tiles of the last two (pixel) axes.

    ``2 (sum_mask mu - sum_{n > 0} n ln mu)`` with ``mu`` floored at
    ``NPRED_FLOOR`` (as :meth:`MapCost._sparse_cash`), kept as two
    ``(tile rows, tile columns)`` tables of partial sums. :meth:`update`
    re-sums the tiles a list of changed pixel rectangles touches. A tile's
    sum is computed the same way whether alone or with the whole map, so
    the statistic depends on the prediction only, not on what was re-summed.

    Parameters
    ----------
    weights : numpy.ndarray
        The mask as 0/1 float64, shaped like counts (``(..., Y, X)``).
    index : numpy.ndarray
        Flat indices of the masked bins with counts.
    counts : numpy.ndarray
        Their counts (float64).
    """

    def __init__(self, weights: np.ndarray, index: np.ndarray, counts: np.ndarray) -> None:
        self.weights = weights
        self.shape = weights.shape
        ny, nx = self.shape[-2:]
        self.n_rows, self.n_cols = math.ceil(ny / TILE), math.ceil(nx / TILE)
        coords = np.unravel_index(index, self.shape)
        tile = (coords[-2] // TILE) * self.n_cols + coords[-1] // TILE
        order = np.argsort(tile, kind="stable")
        self.index = index[order]
        self.coords = tuple(c[order] for c in coords)  # for predictions that are views
        self.counts = counts[order]
        self.tile = tile[order]
        self.tile_row, self.tile_col = np.divmod(self.tile, self.n_cols)
        # bins with counts of tile t: positions ptr[t]:ptr[t + 1] of the sorted arrays
        self.ptr = np.searchsorted(self.tile, np.arange(self.n_rows * self.n_cols + 1))
        self.linear = np.zeros((self.n_rows, self.n_cols))
        self.logs = np.zeros((self.n_rows, self.n_cols))

    def update(
        self, npred: np.ndarray, regions: Sequence[tuple[int, int, int, int]] | None
    ) -> float:
        """Re-sum the tiles that ``regions`` touch (all if None); the statistic."""
        for rect in self._tile_rects(regions):
            self._sum_tiles(npred, *rect)
        return float(2.0 * (self.linear.sum() - self.logs.sum()))

    def _tile_rects(
        self, regions: Sequence[tuple[int, int, int, int]] | None
    ) -> list[tuple[int, int, int, int]]:
        """Rectangles of tiles (``a0, a1, b0, b1``) covering the changed pixels."""
        if regions is None:
            return [(0, self.n_rows, 0, self.n_cols)]
        if not regions:
            return []
        dirty = np.zeros((self.n_rows, self.n_cols), bool)
        for y0, y1, x0, x1 in regions:
            dirty[y0 // TILE : -(-y1 // TILE), x0 // TILE : -(-x1 // TILE)] = True
        rows = np.flatnonzero(dirty.any(axis=1))
        cols = np.flatnonzero(dirty.any(axis=0))
        a0, a1, b0, b1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
        if 2 * np.count_nonzero(dirty) >= (a1 - a0) * (b1 - b0):
            return [(a0, a1, b0, b1)]
        # scattered: the span of dirty tiles in each tile row
        out = []
        for a in rows:
            span = np.flatnonzero(dirty[a])
            out.append((a, a + 1, span[0], span[-1] + 1))
        return out

    def _sum_tiles(self, npred: np.ndarray, a0: int, a1: int, b0: int, b1: int) -> None:
        """Partial sums of the tiles ``[a0, a1) x [b0, b1)`` from ``npred``."""
        ny, nx = self.shape[-2:]
        rows = slice(a0 * TILE, min(a1 * TILE, ny))
        cols = slice(b0 * TILE, min(b1 * TILE, nx))
        block = npred[..., rows, cols]
        h, w = block.shape[-2:]
        weights = self.weights[..., rows, cols]
        if block.min(initial=np.inf) >= NPRED_FLOOR:
            # nothing to floor: one pass over the prediction and the mask, no copy
            flat = block.reshape(-1, h, w)
            pixels = np.einsum(
                "kij,kij->ij", flat, np.broadcast_to(weights, block.shape).reshape(-1, h, w)
            )
        else:
            mu = np.maximum(block, NPRED_FLOOR)
            mu *= weights
            pixels = mu.reshape(-1, h, w).sum(axis=0)
        tiles = np.add.reduceat(pixels, np.arange(0, h, TILE), axis=0)
        self.linear[a0:a1, b0:b1] = np.add.reduceat(tiles, np.arange(0, w, TILE), axis=1)
        # the bins with counts: contiguous in the sorted arrays within a tile row
        n_cols = b1 - b0
        positions: slice | np.ndarray
        if n_cols == self.n_cols:
            positions = slice(self.ptr[a0 * n_cols], self.ptr[a1 * n_cols])
        else:
            starts = self.ptr[np.arange(a0, a1) * self.n_cols + b0]
            stops = self.ptr[np.arange(a0, a1) * self.n_cols + b1]
            positions = np.concatenate(
                [np.arange(p0, p1) for p0, p1 in zip(starts, stops, strict=True)]
            )
        local = (self.tile_row[positions] - a0) * n_cols + (self.tile_col[positions] - b0)
        if npred.flags.c_contiguous:
            values = npred.reshape(-1)[self.index[positions]]
        else:
            values = npred[tuple(c[positions] for c in self.coords)]
        terms = self.counts[positions] * np.log(np.maximum(values, NPRED_FLOOR))
        sums = np.bincount(local, weights=terms, minlength=(a1 - a0) * n_cols)
        self.logs[a0:a1, b0:b1] = sums.reshape(a1 - a0, n_cols)


class OnOffCost(MapCost):
    """The WStat statistic of an on-off dataset: background profiled out per bin.

    Parameters
    ----------
    dataset : xarray.Dataset
        Holds ``counts``, ``counts_off``, ``acceptance``, ``acceptance_off``
        (alpha = acceptance / acceptance_off) and optionally ``mask_safe`` /
        ``mask_fit``.
    predictor : callable
        ``predictor(models)`` returns the predicted *signal* counts in the on
        region (no background: WStat estimates it from the off counts).
    mask, dataset_name
        As for :class:`MapCost`.
    """

    def __init__(
        self,
        dataset: xr.Dataset,
        predictor: Predictor,
        *,
        mask: xr.DataArray | None = None,
        dataset_name: str | None = None,
    ) -> None:
        missing = [n for n in ("counts_off", "acceptance", "acceptance_off") if n not in dataset]
        if missing:
            raise FitError(f"OnOffCost: the dataset lacks the on-off variables {missing}")
        super().__init__(dataset, predictor, mask=mask, dataset_name=dataset_name)
        from gammaxr.fit.wstat import on_off_alpha, wstat

        self.statistic = "wstat"
        order = self.counts.dims
        n_off = dataset["counts_off"].broadcast_like(self.counts).transpose(*order)
        alpha = on_off_alpha(dataset).broadcast_like(self.counts).transpose(*order)
        n_off_data, alpha_data = n_off.data.astype(np.float64), alpha.data.astype(np.float64)

        def kernel(n_on, mu_sig, mask=None):
            return wstat(n_on, n_off_data, alpha_data, mu_sig, mask=mask)

        self._kernel = kernel

    def deviance(self, models: Models) -> float:
        """WStat is already a deviance (zero for a perfect prediction)."""
        return self(models)

    def __repr__(self) -> str:
        return "On" + super().__repr__()[3:]


class JointCost(Cost):
    """The sum of several costs: a joint fit (``cost_a + cost_b`` builds one).

    Parameters
    ----------
    *costs : Cost
        The members (joint costs are flattened). They must share ``errordef``.
    """

    def __init__(self, *costs: Cost) -> None:
        members = tuple(member for cost in costs for member in cost.members)
        if not members:
            raise FitError("JointCost: needs at least one cost")
        errordefs = {cost.errordef for cost in members}
        if len(errordefs) > 1:
            raise FitError(f"JointCost: the members have different errordef values {errordefs}")
        self._members = members
        self.errordef = errordefs.pop()

    @property
    def members(self) -> tuple[Cost, ...]:
        """The single costs, in order."""
        return self._members

    @property
    def ndata(self) -> int:
        """Total number of data bins."""
        return sum(cost.ndata for cost in self._members)

    def __call__(self, models: Models) -> float:
        """The summed statistic."""
        return float(sum(cost(models) for cost in self._members))

    def __repr__(self) -> str:
        return f"JointCost({', '.join(map(repr, self._members))})"


def _opt(mask: xr.DataArray | None) -> tuple[xr.DataArray, ...]:
    return () if mask is None else (mask,)


def _label(name: str | None) -> str:
    return "" if name is None else f" {name!r}"
