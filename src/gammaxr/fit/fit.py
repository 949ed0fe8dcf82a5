"""Fitting: costs and models in, an immutable :class:`FitResult` out.

:func:`fit` maps the free parameters of a :class:`~gammaxr.models.Models`
collection to a vector (parameters that share a ``link`` label are one entry,
see :meth:`Models.free_parameters`), minimises the cost with a backend from
:mod:`gammaxr.fit.backends` and returns new models with the best-fit values and
errors. Nothing it is given is changed.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr

from gammaxr.exceptions import FitError
from gammaxr.fit.backends import OptimizeResult, check_options, get_backend
from gammaxr.fit.cost import Cost, JointCost, MapCost, OnOffCost

if TYPE_CHECKING:
    from gammaxr.models import Models

__all__ = ["FitResult", "as_cost", "fit"]

#: What :func:`fit` accepts as data: a cost, a dataset, or a sequence or mapping of them.
CostLike = Cost | xr.Dataset | Iterable[Any] | Mapping[str, Any]


def as_cost(data: CostLike) -> Cost:
    """A :class:`Cost` from a cost, a dataset, or a sequence or mapping of them.

    A dataset is forward-folded with ``gammaxr.models.npred.NpredEvaluator``
    (which also tells the :class:`MapCost` where its prediction changed, so
    that a map's Cash statistic is summed again on those pixels only); in a
    mapping, the keys are the dataset names (FoV background models apply by
    name). Sequences and mappings become a :class:`JointCost`.

    Raises
    ------
    FitError
        If ``data`` is none of these, or empty.
    """
    if isinstance(data, Cost):
        return data
    if isinstance(data, xr.Dataset):
        return _dataset_cost(data, data.attrs.get("name"))
    if isinstance(data, Mapping):
        costs = [
            item if isinstance(item, Cost) else _dataset_cost(item, str(name))
            for name, item in data.items()
        ]
    elif isinstance(data, Iterable) and not isinstance(data, str | bytes):
        costs = [as_cost(item) for item in data]
    else:
        raise FitError(
            f"cannot fit {type(data).__name__}: give a Cost, a dataset or a list of them"
        )
    if not costs:
        raise FitError("nothing to fit: the list of datasets or costs is empty")
    return costs[0] if len(costs) == 1 else JointCost(*costs)


def _dataset_cost(dataset: xr.Dataset, name: str | None) -> MapCost:
    try:
        from gammaxr.models.npred import NpredEvaluator
    except ImportError as err:  # forward folding lives in gammaxr.models.npred
        raise FitError(
            "fitting a dataset needs gammaxr.models.npred (forward folding); "
            "give a MapCost with your own predictor instead"
        ) from err
    if not isinstance(dataset, xr.Dataset):
        raise FitError(f"expected an xarray.Dataset or a Cost, got {type(dataset).__name__}")
    evaluator = NpredEvaluator(dataset, dataset_name=name)
    counts_dims = dataset["counts"].dims if "counts" in dataset else None
    # numpy straight from the evaluator when it is on the dims of counts (no xarray wrap)
    predictor = evaluator.evaluate if evaluator.dims == counts_dims else evaluator
    if "counts_off" in dataset:
        return OnOffCost(dataset, predictor, dataset_name=name)
    # Cash summed per tile, re-summed where the prediction changed
    return MapCost(dataset, predictor, dataset_name=name, incremental=evaluator)


class Problem:
    """A cost and models, as a function of the vector of free fit variables.

    Attributes
    ----------
    groups : list of list of str
        Names of the parameters behind each variable (linked ones share one).
    names : list of str
        The first name of each group (labels the variables).
    x0, scales : numpy.ndarray
        Start values and scales (of each group's first parameter).
    bounds : numpy.ndarray
        ``(n, 2)``: the tightest bounds of each group (-inf / inf if none).
    """

    def __init__(self, cost: Cost, models: Models) -> None:
        self.cost, self.models = cost, models
        self.groups = models.free_parameters()
        parameters = models.parameters
        first = [parameters[group[0]] for group in self.groups]
        self.names = [p.name for p in first]
        self.x0 = np.array([p.value for p in first], dtype=float)
        self.scales = np.array([p.scale for p in first], dtype=float)
        self.steps = np.array([p.error for p in first], dtype=float)
        lo = [np.nanmax([parameters[n].min for n in g] + [-np.inf]) for g in self.groups]
        hi = [np.nanmin([parameters[n].max for n in g] + [np.inf]) for g in self.groups]
        self.bounds = np.column_stack([lo, hi]) if self.groups else np.empty((0, 2))

    def models_at(self, x: np.ndarray) -> Models:
        """The models with the variables set to ``x`` (clipped to the bounds)."""
        x = np.clip(x, self.bounds[:, 0], self.bounds[:, 1])
        return self.models.with_values(self.groups, x)

    def __call__(self, x: np.ndarray) -> float:
        """The cost at ``x``; inf where ``x`` or the cost is not finite.

        A non-finite ``x`` builds no models. Overflows in the models (which an
        optimiser exploring far from the data can cause) are silent: the
        backends reject such points and count them in their message.
        """
        x = np.asarray(x, dtype=float)
        if not np.isfinite(x).all():
            return math.inf
        with np.errstate(over="ignore", invalid="ignore"):
            value = float(self.cost(self.models_at(x)))
        return value if math.isfinite(value) else math.inf

    def minimize(self, backend: str, **options: Any) -> OptimizeResult:
        """Run ``backend`` from ``x0`` (nothing to do when no parameter is free)."""
        if not self.groups:
            return OptimizeResult(
                x=np.empty(0), fun=float(self.cost(self.models)), covariance=np.empty((0, 0)),
                success=True, message="no free parameters", nfev=1, backend=backend,
            )  # fmt: skip
        func = get_backend(backend)
        check_options(func, options, backend)
        options.setdefault("errordef", self.cost.errordef)
        if "steps" in _keywords(func):
            options.setdefault("steps", self.steps)
        if "names" in _keywords(func):
            options.setdefault("names", self.names)
        result = func(self, self.x0, self.bounds, scales=self.scales, **options)
        if not np.isfinite(result.x).all():  # a backend that does not guard against it
            n = len(self.x0)
            result = replace(
                result, x=self.x0, fun=math.nan, covariance=np.full((n, n), np.nan),
                success=False, message=f"{result.message}; the backend returned non-finite "
                "parameter values: the parameters are left at their start values",
            )  # fmt: skip
        return result


def _keywords(func: Any) -> set[str]:
    return set(inspect.signature(func).parameters)


@dataclass(frozen=True, eq=False)
class FitResult:
    """The outcome of :func:`fit`; immutable (the tables are returned as copies).

    Attributes
    ----------
    models : Models
        New models with the best-fit values and, for free parameters, errors.
    statistic : float
        The cost at the best fit (``-2 ln L`` up to a constant).
    success : bool
        Whether the optimiser converged.
    message : str
        The optimiser's message.
    nfev : int
        Cost evaluations, covariance and MINOS included.
    backend : str
        The backend used.
    ndata : int
        Number of data bins fitted.
    """

    models: Models
    statistic: float
    success: bool
    message: str
    nfev: int
    backend: str
    ndata: int
    _parameters: pd.DataFrame
    _covariance: xr.DataArray

    @property
    def parameters(self) -> pd.DataFrame:
        """One row per parameter (index ``name``).

        Columns ``value``, ``error`` (1 sigma, from the covariance),
        ``error_lo`` / ``error_hi`` (asymmetric errors, positive, NaN unless
        ``minos``), ``unit``, ``min``, ``max``, ``frozen``, ``link``.
        """
        return self._parameters.copy()

    @property
    def covariance(self) -> xr.DataArray:
        """Covariance of the free parameters, dims ``("parameter", "parameter_other")``.

        Linked parameters each have a row: they are one variable, so their
        rows are equal (correlation 1).
        """
        return self._covariance.copy()

    @property
    def nfree(self) -> int:
        """Number of fit variables (linked parameters count once)."""
        return len(self.models.free_parameters())

    def __repr__(self) -> str:
        state = "converged" if self.success else "FAILED"
        return (
            f"FitResult({state}, backend={self.backend!r}, statistic={self.statistic:.6g}, "
            f"nfev={self.nfev}, message={self.message!r})"
        )


def fit(
    data: CostLike,
    models: Models,
    *,
    backend: str = "minuit",
    minos: bool = False,
    covariance: bool = True,
    **options: Any,
) -> FitResult:
    """Fit models to data by minimising a fit statistic.

    Parameters
    ----------
    data : Cost, xarray.Dataset, or a sequence or mapping of them
        What to fit (see :func:`as_cost`); several make a joint fit.
    models : Models
        The models, at their start values. Frozen parameters stay fixed;
        parameters with the same ``link`` label are one variable; bounds are
        ``Parameter.min`` / ``max``; the optimiser sees ``value / scale``.
    backend : {"minuit", "scipy"} or another registered name
        The optimiser (:mod:`gammaxr.fit.backends`).
    minos : bool
        Also compute asymmetric errors (MINOS with minuit, profile-likelihood
        crossings with scipy).
    covariance : bool
        Compute the covariance (HESSE / numerical Hessian).
    **options
        Backend options, e.g. ``tol``, ``strategy``, ``max_calls`` (minuit) or
        ``method``, ``max_calls``, ``tol`` (scipy).

    Returns
    -------
    FitResult
        A failed convergence gives ``success=False`` and the optimiser's
        message; it does not raise.

    Raises
    ------
    FitError
        If the fit cannot be set up (unknown backend or option, nothing to fit).

    Examples
    --------
    A power law fitted to five energy bins, with a hand-written predictor
    (exposure 1e12 cm2 s, no background):

    >>> import numpy as np, xarray as xr
    >>> from gammaxr.fit import MapCost, fit
    >>> from gammaxr.models import Models, PowerLawSpectralModel, SkyModel
    >>> edges = np.geomspace(1.0, 10.0, 6)
    >>> ds = xr.Dataset({"counts": ("energy", [410, 180, 95, 37, 19])})
    >>> def predict(models):
    ...     return 1e12 * models["src"].spectral.integral(edges[:-1], edges[1:])
    >>> models = Models([SkyModel(PowerLawSpectralModel(), name="src")])
    >>> result = fit(MapCost(ds, predict), models)
    >>> result.success
    True
    >>> result.parameters.loc["src.spectral.index", ["value", "error"]].round(3).tolist()
    [2.676, 0.078]
    """
    cost = as_cost(data)
    problem = Problem(cost, models)
    result = problem.minimize(backend, minos=minos, covariance=covariance, **options)
    return make_result(problem, result)


_COLUMNS = [
    "name", "value", "error", "error_lo", "error_hi", "unit", "min", "max", "frozen", "link",
]  # fmt: skip


def make_result(problem: Problem, result: OptimizeResult) -> FitResult:
    """Assemble a :class:`FitResult` from a problem and what its backend returned."""
    errors = np.sqrt(np.diag(result.covariance)) if len(result.x) else np.empty(0)
    best = problem.models_at(result.x) if problem.groups else problem.models
    fitted = best.parameters
    changes = {
        name: replace(fitted[name], error=float(error))
        for group, error in zip(problem.groups, errors, strict=True)
        for name in group
    }
    models = best.with_parameters(**changes) if changes else best
    asymmetric = {
        name: (lo, hi)
        for group, lo, hi in zip(problem.groups, result.errors_lo, result.errors_hi, strict=True)
        for name in group
    }
    nan = (math.nan, math.nan)
    table = pd.DataFrame(
        [
            {
                "name": p.name,
                "value": p.value,
                "error": p.error,
                "error_lo": asymmetric.get(p.name, nan)[0],
                "error_hi": asymmetric.get(p.name, nan)[1],
                "unit": p.unit,
                "min": p.min,
                "max": p.max,
                "frozen": p.frozen,
                "link": p.link,
            }
            for p in models.parameters.values()
        ],
        columns=_COLUMNS,
    ).set_index("name")
    index = [i for i, group in enumerate(problem.groups) for _ in group]
    names = [name for group in problem.groups for name in group]
    covariance = xr.DataArray(
        np.asarray(result.covariance)[np.ix_(index, index)],
        dims=("parameter", "parameter_other"),
        coords={"parameter": names, "parameter_other": names},
        name="covariance",
    )
    return FitResult(
        models=models,
        statistic=float(result.fun),
        success=result.success,
        message=result.message,
        nfev=result.nfev,
        backend=result.backend,
        ndata=problem.cost.ndata,
        _parameters=table,
        _covariance=covariance,
    )
