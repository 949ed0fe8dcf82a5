"""High-level workflows: a whole analysis, DL3 to DL5, in one call or one YAML file.

>>> from gammaxr.analysis import crab_config, run_point_source_analysis
>>> # result = run_point_source_analysis(crab_config(), "crab-analysis", log=print)

From a file (``gammaxr config`` writes one, ``gammaxr run`` runs it):

>>> from gammaxr.analysis import read_config
>>> # settings = read_config("analysis.yaml")
>>> # run_point_source_analysis(settings.analysis, settings.output)
"""

from gammaxr.analysis.config import RunConfig, config_from_dict, read_config, write_config
from gammaxr.analysis.point_source import (
    AnalysisConfig,
    AnalysisResult,
    crab_config,
    run_point_source_analysis,
)

__all__ = [
    "AnalysisConfig",
    "AnalysisResult",
    "RunConfig",
    "config_from_dict",
    "crab_config",
    "read_config",
    "run_point_source_analysis",
    "write_config",
]
