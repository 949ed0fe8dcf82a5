"""High-level workflows: a whole analysis, DL3 to DL5, in one call.

>>> from gammaxr.analysis import crab_config, run_point_source_analysis
>>> # result = run_point_source_analysis(crab_config(), "crab-analysis", log=print)
"""

from gammaxr.analysis.point_source import (
    AnalysisConfig,
    AnalysisResult,
    crab_config,
    run_point_source_analysis,
)

__all__ = ["AnalysisConfig", "AnalysisResult", "crab_config", "run_point_source_analysis"]
