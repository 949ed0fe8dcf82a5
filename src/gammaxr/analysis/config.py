"""The point-source analysis as a YAML file: read, check, write.

A configuration file holds where the data are, where the products go, and the
settings of :class:`~gammaxr.analysis.AnalysisConfig`::

    data_store: null          # data store folder; null: the shipped Crab runs
    output: crab-analysis     # folder for the products
    plots: true
    analysis:                 # the fields of AnalysisConfig (defaults if left out)
      name: crab
      ra: 83.633              # deg, ICRS
      dec: 22.014
      energy_range: [0.5, 50.0]   # TeV
      ...

``gammaxr config`` writes such a file (every setting, with its default) and
``gammaxr run FILE`` runs it. Unknown keys, wrong types and impossible values
(a reversed energy range, a negative radius) are refused with a
:class:`~gammaxr.exceptions.ConfigError` naming the file and the setting.
Relative paths in the file are taken relative to the file's folder.
"""

from __future__ import annotations

import dataclasses
import itertools
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydantic
import yaml

from gammaxr.analysis.point_source import AnalysisConfig
from gammaxr.exceptions import ConfigError
from gammaxr.reduce.safe_mask import SAFE_MASK_METHODS

__all__ = [
    "RunConfig",
    "check_analysis_config",
    "config_from_dict",
    "config_to_dict",
    "read_config",
    "write_config",
]


@dataclass(frozen=True)
class RunConfig:
    """A whole run: data, output and the analysis settings.

    Attributes
    ----------
    analysis : AnalysisConfig
        Target and settings.
    data_store : Path or None
        Data store folder (``None``: the H.E.S.S. Crab runs shipped with gammaxr).
    output : Path
        Folder for the products.
    plots : bool
        Whether to draw the PNG plots.
    """

    analysis: AnalysisConfig
    data_store: Path | None = None
    output: Path = Path("analysis")
    plots: bool = True


class _RunModel(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    data_store: Path | None = None
    output: Path | None = None
    plots: bool = True
    analysis: dict[str, Any]


def _analysis_model() -> type[pydantic.BaseModel]:
    """A pydantic model with the fields, types and defaults of :class:`AnalysisConfig`."""
    hints = typing.get_type_hints(AnalysisConfig)
    fields: dict[str, Any] = {
        f.name: (hints[f.name], ... if f.default is dataclasses.MISSING else f.default)
        for f in dataclasses.fields(AnalysisConfig)
    }
    settings = pydantic.ConfigDict(extra="forbid")
    return pydantic.create_model("AnalysisSettings", __config__=settings, **fields)


def check_analysis_config(config: AnalysisConfig) -> None:
    """Refuse settings no analysis can run with.

    Parameters
    ----------
    config : AnalysisConfig
        The settings.

    Raises
    ------
    ConfigError
        Naming the first impossible setting: a position off the sky, a
        non-positive size or radius, an energy range or edge list that does not
        increase, a reco-energy range outside the true-energy range, an unknown
        safe-mask method, or pixels larger than the map.
    """
    if not -90.0 <= config.dec <= 90.0:
        raise ConfigError(f"analysis.dec must be within [-90, 90] deg, got {config.dec}")
    positive = (
        "max_offset", "on_radius", "exclusion_radius", "map_width", "map_binsz",
        "correlation_radius", "bins_per_decade",
    )  # fmt: skip
    for name in positive:
        value = getattr(config, name)
        if not value > 0:
            raise ConfigError(f"analysis.{name} must be > 0, got {value}")
    increasing = ("energy_range", "true_energy_range", "flux_point_edges", "light_curve_range")
    for name in increasing:
        values = list(getattr(config, name))
        steps = [b - a for a, b in itertools.pairwise(values)]
        if len(values) < 2 or values[0] <= 0 or min(steps) <= 0:
            raise ConfigError(
                f"analysis.{name} must be >= 2 increasing positive energies (TeV), got {values}"
            )
    unknown = sorted(set(config.safe_mask) - set(SAFE_MASK_METHODS))
    if unknown:
        raise ConfigError(
            f"analysis.safe_mask: unknown methods {unknown}; known: {list(SAFE_MASK_METHODS)}"
        )
    lo, hi = config.true_energy_range
    if config.energy_range[0] < lo or config.energy_range[1] > hi:
        raise ConfigError(
            f"analysis.energy_range {list(config.energy_range)} TeV must lie within "
            f"analysis.true_energy_range {[lo, hi]} TeV"
        )
    if config.map_binsz >= config.map_width:
        raise ConfigError(
            f"analysis.map_binsz ({config.map_binsz} deg) must be smaller than "
            f"analysis.map_width ({config.map_width} deg)"
        )


def _errors(err: pydantic.ValidationError, prefix: str) -> str:
    parts = []
    for item in err.errors():
        where = ".".join(str(part) for part in (prefix, *item["loc"]) if part != "")
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def config_from_dict(values: dict[str, Any], *, source: str = "config") -> RunConfig:
    """Check a configuration mapping (as read from YAML) and build the :class:`RunConfig`.

    Parameters
    ----------
    values : dict
        ``data_store``, ``output``, ``plots`` and ``analysis`` (a mapping of
        :class:`AnalysisConfig` fields).
    source : str
        What to name in error messages (the file).

    Raises
    ------
    ConfigError
        For unknown keys, wrong types or impossible values, naming each one.
    """
    if not isinstance(values, dict):
        raise ConfigError(f"{source}: expected a mapping of settings, got {type(values).__name__}")
    try:
        run = _RunModel.model_validate(values)
    except pydantic.ValidationError as err:
        raise ConfigError(f"{source}: {_errors(err, '')}") from err
    try:
        settings = _analysis_model().model_validate(run.analysis)
    except pydantic.ValidationError as err:
        raise ConfigError(f"{source}: {_errors(err, 'analysis')}") from err
    analysis = AnalysisConfig(**settings.model_dump())
    try:
        check_analysis_config(analysis)
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from None
    output = run.output if run.output is not None else Path(f"{analysis.name}-analysis")
    return RunConfig(analysis=analysis, data_store=run.data_store, output=output, plots=run.plots)


def read_config(path: str | Path) -> RunConfig:
    """Read a YAML configuration file.

    Parameters
    ----------
    path : str or Path
        The file. Relative ``data_store`` and ``output`` paths in it are
        taken relative to its folder.

    Returns
    -------
    RunConfig

    Raises
    ------
    ConfigError
        If the file is missing, is not YAML, or holds unknown keys, wrong
        types or impossible values (the message names the file and setting).
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the configuration file ({err})") from err
    try:
        values = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from err
    config = config_from_dict(values, source=str(path))
    base = path.parent
    data_store = config.data_store
    if data_store is not None and not data_store.is_absolute():
        data_store = base / data_store
    output = config.output if config.output.is_absolute() else base / config.output
    return dataclasses.replace(config, data_store=data_store, output=output)


def config_to_dict(config: RunConfig) -> dict[str, Any]:
    """The plain mapping :func:`write_config` writes (lists for tuples, strings for paths)."""
    analysis = {
        key: list(value) if isinstance(value, tuple) else value
        for key, value in dataclasses.asdict(config.analysis).items()
    }
    return {
        "data_store": None if config.data_store is None else str(config.data_store),
        "output": str(config.output),
        "plots": config.plots,
        "analysis": analysis,
    }


_HEADER = """\
# gammaxr point-source analysis (run it with: gammaxr run {name})
# data_store: data store folder (null: the H.E.S.S. Crab runs shipped with gammaxr)
# output: folder for the products; relative paths are relative to this file
# analysis: positions and sizes in deg (ICRS), energies in TeV
"""


def write_config(config: RunConfig, path: str | Path) -> Path:
    """Write a configuration as YAML (every setting, readable by :func:`read_config`).

    Parameters
    ----------
    config : RunConfig
        What to write.
    path : str or Path
        The file (overwritten).

    Returns
    -------
    Path
        The file written.
    """
    path = Path(path)
    text = yaml.safe_dump(config_to_dict(config), sort_keys=False, default_flow_style=None)
    path.write_text(_HEADER.format(name=path.name) + text)
    return path
