"""Fitting: statistics, costs, optimiser backends, fits, profiles and upper limits.

>>> from gammaxr.fit import MapCost, fit
>>> # result = fit(MapCost(dataset, predictor), models, backend="minuit")

The pieces compose: a statistic (:mod:`~gammaxr.fit.statistics`) inside a
:class:`Cost` (one per dataset; costs add for joint fits), minimised by a
backend (:mod:`~gammaxr.fit.backends`) into an immutable :class:`FitResult`;
:mod:`~gammaxr.fit.profile` builds profiles, errors, limits and source tests on
top of it.
"""

from gammaxr.fit.backends import BACKENDS, OptimizeResult, get_backend, optimize
from gammaxr.fit.cost import Cost, IncrementalPredictor, JointCost, MapCost, OnOffCost
from gammaxr.fit.fit import FitResult, as_cost, fit
from gammaxr.fit.flux_points_cost import FluxPointsCost
from gammaxr.fit.profile import (
    asymmetric_errors,
    profile,
    significance_from_ts,
    ts_source,
    upper_limit,
)
from gammaxr.fit.statistics import (
    NPRED_FLOOR,
    STATISTICS,
    cash,
    cash_deviance,
    cash_sum,
    combined_mask,
)

__all__ = [
    "BACKENDS",
    "NPRED_FLOOR",
    "STATISTICS",
    "Cost",
    "FitResult",
    "FluxPointsCost",
    "IncrementalPredictor",
    "JointCost",
    "MapCost",
    "OnOffCost",
    "OptimizeResult",
    "as_cost",
    "asymmetric_errors",
    "cash",
    "cash_deviance",
    "cash_sum",
    "combined_mask",
    "fit",
    "get_backend",
    "optimize",
    "profile",
    "significance_from_ts",
    "ts_source",
    "upper_limit",
]
