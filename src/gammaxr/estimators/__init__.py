"""Estimators: science products from datasets (summary statistics so far)."""

from gammaxr.estimators.excess_map import excess_map
from gammaxr.estimators.flux_points import flux_points, sed_quantities
from gammaxr.estimators.flux_profile import annuli, boxes_along_line, flux_profile
from gammaxr.estimators.lightcurve import light_curve, reduce_time_bins
from gammaxr.estimators.sensitivity import sensitivity
from gammaxr.estimators.summary import excess, info_table, significance, significance_cash
from gammaxr.estimators.ts_map import ts_map, ts_map_kernel

__all__ = [
    "annuli",
    "boxes_along_line",
    "excess",
    "excess_map",
    "flux_points",
    "flux_profile",
    "info_table",
    "light_curve",
    "reduce_time_bins",
    "sed_quantities",
    "sensitivity",
    "significance",
    "significance_cash",
    "ts_map",
    "ts_map_kernel",
]
