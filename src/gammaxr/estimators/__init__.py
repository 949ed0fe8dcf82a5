"""Estimators: science products from datasets (summary statistics so far)."""

from gammaxr.estimators.summary import excess, info_table, significance, significance_cash

__all__ = ["excess", "info_table", "significance", "significance_cash"]
