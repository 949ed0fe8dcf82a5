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

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

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

__all__ = ["Cost", "JointCost", "MapCost"]

#: ``predict(models) -> predicted counts`` (numpy array shaped like counts, or a DataArray).
Predictor = Callable[["Models"], Any]


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
        """The statistic (float64) for ``models``."""
        return self._sum(self._kernel, self.npred(models))

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
