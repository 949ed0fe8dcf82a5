"""Read and write models in the Gammapy model YAML layout.

A Gammapy ``models.yaml`` reads into a :class:`~gammaxr.models.Models`
collection, and a file written here reads back into Gammapy 2.1 with the same
values. Model types are looked up by their YAML ``type`` in
:data:`~gammaxr.models.MODEL_REGISTRY` (Gammapy's class names, and its short
tags such as ``pl`` or ``ecpl``).

The layout
----------
A mapping with a ``components`` list, one entry per sky model or field-of-view
background model::

    components:
    -   name: crab
        type: SkyModel
        datasets_names:            # optional: the datasets the model applies to
        - d1
        spectral:
            type: PowerLawSpectralModel
            parameters:
            -   name: index
                value: 2.3
                error: 0.1         # optional (omitted: not fitted)
                min: 1.0           # optional (omitted: the model's default bound)
                max: 5.0
                link: index@aB3xZ  # optional: parameters with one label are one fit variable
            -   name: amplitude
                value: 3.2e-11
                unit: TeV-1 s-1 cm-2
            -   name: reference
                value: 1.0
                unit: TeV
                frozen: true       # optional (omitted: the model's default)
        spatial:
            type: GaussianSpatialModel
            frame: icrs
            parameters: [...]
        temporal:
            type: ExpDecayTemporalModel
            parameters: [...]
            scale: utc
    -   type: FoVBackgroundModel
        datasets_names:
        - d1
        spectral:
            type: PowerLawNormSpectralModel
            parameters: [...]
    metadata:
        creator: gammaxr 0.1.0

Parameters are written as Gammapy writes them: units in the FITS spelling
(``TeV-1 s-1 cm-2``, ``deg``, omitted for dimensionless parameters), and
``min``, ``max``, ``error`` and ``frozen`` only where they differ from the
model's defaults (``full_output=True`` writes them all). On reading, any unit
astropy parses (``1 / (TeV s cm2)``, ``erg-1 cm-2 s-1``, ``arcmin``) is
converted to the model's canonical unit, with its bounds and error.
Parameters missing from a model are filled with their defaults, with a
:class:`ModelsYAMLWarning` (Gammapy fills them too, and logs a warning).

State that is not a parameter follows Gammapy's keys:

- ``PiecewiseNormSpectralModel``: ``energy: {data: [...], unit: TeV}`` and ``interp``;
- ``CompoundSpectralModel``: ``model1``, ``model2`` (nested spectral models) and
  ``operator`` (``add``, ``sub`` or ``mul``);
- ``TemplateSpectralModel``: ``energy`` and ``values`` inline, each ``{data, unit}``;
- ``EBLAbsorptionNormSpectralModel``: inline ``energy``, ``param`` (redshifts) and
  ``values`` (absorption factors ``exp(-tau)``), or a ``filename`` of an XSPEC
  table (:func:`~gammaxr.models.read_ebl_table`); a model read from a file is
  written with the same ``filename``;
- ``TemplateSpatialModel``: ``filename`` of the map, ``normalize``, ``unit``
  (and ``interp: lin`` for a template interpolated linearly, a gammaxr key:
  Gammapy ignores it and interpolates in log);
- ``LightCurveTemplateTemporalModel``: ``filename`` of a FITS table with
  ``TIME`` (relative to ``MJDREFI + MJDREFF``, in ``TIMESYS``) and ``NORM``
  columns, ``format: table``. The node times are read relative to the file's
  reference and placed at the ``t_ref`` parameter of the YAML (which Gammapy
  ignores, taking ``t_ref`` from the file; the two agree in files written by
  either package); without a ``t_ref`` entry the file's reference is used.

``ScaleSpectralModel`` (which Gammapy 2.1 cannot serialise: it drops the
wrapped model) is written with the wrapped model under ``model``.

Written and read back, every model type in the registry comes back equal
(parameters with their units, bounds, errors, frozen flags and link labels,
frames, time scales and tables), except that an inline EBL table, stored as
absorption factors ``exp(-tau)`` as Gammapy does, returns ``tau`` to rounding.

Template files
--------------
Templates are written to files next to the YAML file and referenced by their
name (relative to the YAML file, where Gammapy looks for them):
``<yaml stem>_<model name>_spatial.fits`` and
``<yaml stem>_<model name>_lightcurve.fits``. The spatial map is a FITS
image in the plate carrée (CAR) projection with its reference on the equator
(the gammaxr sky grid), holding the model's surface brightness in ``sr-1``
with ``normalize: false``, so that Gammapy and gammaxr read it without
normalising it again; two extra image HDUs, ``LON_EDGES`` and ``LAT_EDGES``,
keep the exact pixel edges (Gammapy ignores them). ``template_format="netcdf"``
writes a NetCDF file instead (exact for any grid, but Gammapy cannot read it).
A template ``normalize: true`` (what Gammapy writes) is normalised on reading
as Gammapy does it, from the map's pixel solid angles (exact here; Gammapy's
differ from the exact ones by about 2.5e-7 for 0.1 deg pixels).
Existing files are replaced. Reading resolves a relative ``filename`` against
the YAML file's directory, then the working directory; ``$VARIABLES`` and
``~`` are expanded.

Not read: the ``covariance`` file (errors come from the parameters;
correlations are not kept) and ``metadata``; parameter ``prior`` entries are
ignored with a warning. Gammapy features that gammaxr has no equivalent for
raise a clear error: ``apply_irf`` other than all true, spatial FoV background
models, energy-dependent templates, and spatial templates that are not CAR
maps with ``CRVAL2 = 0`` (Gammapy's ``WcsGeom.create`` puts ``CRVAL2`` at the
map centre: reproject such maps onto a gammaxr sky grid first).
"""

from __future__ import annotations

import math
import os
import re
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

import astropy.units as u
import numpy as np
import xarray as xr
import yaml
from astropy.io import fits
from astropy.time import Time
from astropy.wcs import WCS, FITSFixedWarning

from gammaxr.axes import axis_from_edges, sky_frame
from gammaxr.conventions import LAT, LON, edges, parse_unit
from gammaxr.exceptions import (
    DataFileError,
    FormatError,
    GammaxrError,
    GammaxrWarning,
    UnitError,
)
from gammaxr.io.dataset_store import read_dataset, write_dataset
from gammaxr.models import (
    MODEL_REGISTRY,
    CompoundSpectralModel,
    EBLAbsorptionNormSpectralModel,
    FoVBackgroundModel,
    LightCurveTemplateTemporalModel,
    Model,
    Models,
    ModelTypeError,
    Parameter,
    ParameterError,
    PiecewiseNormSpectralModel,
    ScaleSpectralModel,
    SkyModel,
    SpatialModel,
    SpectralModel,
    TemplateSpatialModel,
    TemplateSpectralModel,
    TemporalModel,
    read_ebl_table,
)

__all__ = [
    "ModelsYAMLWarning",
    "models_from_dict",
    "models_to_dict",
    "read_models",
    "write_models",
]

#: Component types (the ``type`` of a ``components`` entry) and their Gammapy aliases.
COMPONENT_TYPES: dict[str, str] = {
    "SkyModel": "SkyModel",
    "sky-model": "SkyModel",
    "FoVBackgroundModel": "FoVBackgroundModel",
    "fov-bkg": "FoVBackgroundModel",
}
#: Suffixes read as NetCDF / Zarr rather than FITS (spatial templates).
_XARRAY_SUFFIXES = (".nc", ".nc4", ".netcdf", ".zarr")
#: Tolerance, in pixels, between a map's WCS and its exact ``LON_EDGES`` / ``LAT_EDGES``.
_EDGE_TOLERANCE = 1e-6
#: Keyword arguments of :func:`yaml.safe_dump` (Gammapy's layout: 4-space indents).
_YAML_FORMAT: dict[str, Any] = {
    "sort_keys": False,
    "indent": 4,
    "width": 80,
    "default_flow_style": False,
    "allow_unicode": True,
}

TemplateFormat = Literal["fits", "netcdf"]


class ModelsYAMLWarning(GammaxrWarning):
    """A model file that reads, but not exactly as written (defaults filled, entries ignored)."""


# --------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------


def read_models(source: str | os.PathLike[str]) -> Models:
    """Read models from a Gammapy model YAML file or text.

    Parameters
    ----------
    source : str or path-like
        A path to the YAML file, or the YAML text itself (a string holding a
        newline, or starting with ``components``). Template files named in the
        YAML are looked for next to the file (for text: in the working directory).

    Returns
    -------
    Models
        The sky and background models, in file order.

    Raises
    ------
    DataFileError
        If the file, or a template file it names, does not exist.
    FormatError
        If the text is not YAML or not the model layout (names the component).
    ModelTypeError
        For an unknown model ``type`` (names the component and lists the known types).
    ParameterError
        For unknown, duplicated or invalid parameters (names the parameter).
    UnitError
        For a parameter unit that does not parse or does not convert to the
        model's unit (names the parameter).

    Warns
    -----
    ModelsYAMLWarning
        When parameters are missing (their defaults are used, as Gammapy does)
        or entries are ignored (parameter priors).

    Examples
    --------
    >>> from gammaxr.io.models_yaml import read_models
    >>> models = read_models('''
    ... components:
    ... -   name: crab
    ...     type: SkyModel
    ...     spectral:
    ...         type: PowerLawSpectralModel
    ...         parameters:
    ...         - {name: index, value: 2.6}
    ...         - {name: amplitude, value: 3.5e-11, unit: TeV-1 s-1 cm-2}
    ...         - {name: reference, value: 1000.0, unit: GeV}
    ... ''')
    >>> models["crab"].spectral.parameters["reference"].value  # converted to TeV
    1.0
    """
    if isinstance(source, os.PathLike):
        text, context = _read_file(Path(source))
    elif isinstance(source, str):
        if "\n" in source or source.lstrip().startswith(("components", "{")):
            text, context = source, _ReadContext("<YAML text>", Path.cwd())
        else:
            text, context = _read_file(Path(source))
    else:
        raise TypeError(f"read_models: expected a path or YAML text, got {type(source).__name__}")
    return _read_models_dict(_load_yaml(text, context.source), context)


def write_models(
    models: Models | Iterable[SkyModel | FoVBackgroundModel],
    path: str | os.PathLike[str] | None = None,
    *,
    full_output: bool = False,
    template_format: TemplateFormat = "fits",
) -> str:
    """Write models in the Gammapy model YAML layout.

    Parameters
    ----------
    models : Models or iterable of SkyModel and FoVBackgroundModel
        The models to write.
    path : str or path-like, optional
        The YAML file to write (replaced if it exists). Template maps and
        light curves are written next to it (see the module documentation);
        without ``path`` only models without templates can be written.
    full_output : bool
        Write every parameter field (``unit``, ``min``, ``max``, ``frozen``),
        not only those that differ from the model's defaults.
    template_format : {"fits", "netcdf"}
        File format of spatial templates (FITS: what Gammapy reads).

    Returns
    -------
    str
        The YAML text.

    Raises
    ------
    FormatError
        If a template model needs a file and no ``path`` is given, or a spatial
        template is not on a regular lon/lat grid (FITS needs one).
    ModelTypeError
        If a model has no YAML layout.

    Examples
    --------
    >>> from gammaxr.io.models_yaml import read_models, write_models
    >>> from gammaxr.models import Models, PowerLawSpectralModel, SkyModel
    >>> models = Models([SkyModel(PowerLawSpectralModel(index=2.6), name="crab")])
    >>> text = write_models(models)
    >>> print(text.split("metadata")[0])
    components:
    -   name: crab
        type: SkyModel
        spectral:
            type: PowerLawSpectralModel
            parameters:
            -   name: index
                value: 2.6
            -   name: amplitude
                value: 1.0e-12
                unit: TeV-1 s-1 cm-2
            -   name: reference
                value: 1.0
                unit: TeV
    <BLANKLINE>
    >>> read_models(text) == models
    True
    """
    target = None if path is None else Path(path)
    data = models_to_dict(
        models, path=target, full_output=full_output, template_format=template_format
    )
    text = yaml.safe_dump(data, **_YAML_FORMAT)
    if target is not None:
        target.write_text(text)
    return text


def models_to_dict(
    models: Models | Iterable[SkyModel | FoVBackgroundModel],
    *,
    path: str | os.PathLike[str] | None = None,
    full_output: bool = False,
    template_format: TemplateFormat = "fits",
) -> dict[str, Any]:
    """The models as a dict in the Gammapy model YAML layout (plain Python types).

    Parameters
    ----------
    models : Models or iterable of SkyModel and FoVBackgroundModel
        The models.
    path : str or path-like, optional
        The YAML file the dict is meant for. Needed only for template models:
        their maps and light curves are written next to it (this function
        writes them) and referenced by file name.
    full_output : bool
        Write every parameter field, not only those that differ from the defaults.
    template_format : {"fits", "netcdf"}
        File format of spatial templates.

    Returns
    -------
    dict
        ``{"components": [...], "metadata": {...}}``.

    Raises
    ------
    FormatError, ModelTypeError
        See :func:`write_models`.
    """
    if template_format not in ("fits", "netcdf"):
        raise FormatError(f"template_format must be 'fits' or 'netcdf', got {template_format!r}")
    writer = _Writer(
        path=None if path is None else Path(path),
        full_output=bool(full_output),
        template_format=template_format,
    )
    items = list(models.values() if isinstance(models, Models) else models)
    for item in items:
        if not isinstance(item, SkyModel | FoVBackgroundModel):
            raise ModelTypeError(
                f"cannot write {type(item).__name__}: a model file holds SkyModel and "
                "FoVBackgroundModel objects"
            )
    Models(items)  # the collection's checks (unique names) before any file is written
    components = [writer.component(model) for model in items]
    return {"components": components, "metadata": {"creator": f"gammaxr {_version()}"}}


def models_from_dict(
    data: Mapping[str, Any], *, path: str | os.PathLike[str] | None = None
) -> Models:
    """Build models from a dict in the Gammapy model YAML layout.

    Parameters
    ----------
    data : mapping
        ``{"components": [...]}`` as loaded from YAML (other keys are ignored).
    path : str or path-like, optional
        The YAML file the dict comes from: relative template file names are
        resolved against its directory (default: the working directory), and
        it names the source in error messages.

    Returns
    -------
    Models
        The models.

    Raises
    ------
    DataFileError, FormatError, ModelTypeError, ParameterError, UnitError
        See :func:`read_models`.
    """
    if path is None:
        context = _ReadContext("<dict>", Path.cwd())
    else:
        context = _ReadContext(str(path), Path(path).resolve().parent)
    return _read_models_dict(data, context)


# --------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _ReadContext:
    """Where the YAML comes from: its name (for messages) and the directory of its files."""

    source: str
    base: Path

    def error(self, cls: type[Exception], where: str, message: str) -> Exception:
        """An exception of ``cls`` whose message names the source and the place in it."""
        return cls(f"{self.source}: {where}: {message}")


def _read_file(path: Path) -> tuple[str, _ReadContext]:
    if not path.is_file():
        raise DataFileError(
            f"model file {str(path)!r} does not exist (read_models takes a path or YAML text)"
        )
    return path.read_text(), _ReadContext(str(path), path.resolve().parent)


def _load_yaml(text: str, source: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise FormatError(f"{source}: not valid YAML: {problem}{where}") from err


def _read_models_dict(data: Any, context: _ReadContext) -> Models:
    if not isinstance(data, Mapping):
        raise FormatError(
            f"{context.source}: expected a mapping with a 'components' list, "
            f"got {type(data).__name__}"
        )
    components = data.get("components")
    if not isinstance(components, list):
        found = "no 'components'" if components is None else type(components).__name__
        raise FormatError(
            f"{context.source}: expected a 'components' list of models, found {found}"
        )
    models = [_read_component(entry, index, context) for index, entry in enumerate(components)]
    try:
        return Models(models)
    except ParameterError as err:
        raise ParameterError(f"{context.source}: {err}") from err


def _read_component(data: Any, index: int, context: _ReadContext) -> SkyModel | FoVBackgroundModel:
    if not isinstance(data, Mapping):
        raise context.error(FormatError, f"component #{index}", "must be a mapping")
    name = data.get("name")
    label = f"component {name!r}" if name is not None else f"component #{index}"
    kind = data.get("type")
    if kind is None:
        raise context.error(
            FormatError, label, f"has no 'type' (one of {sorted(set(COMPONENT_TYPES))})"
        )
    resolved = COMPONENT_TYPES.get(kind) if isinstance(kind, str) else None
    if resolved == "SkyModel":
        return _read_sky_model(data, label, context)
    elif resolved == "FoVBackgroundModel":
        return _read_fov_background(data, label, context)
    else:
        raise context.error(
            ModelTypeError,
            label,
            f"unknown model type {kind!r}; the known component types are "
            f"{sorted(set(COMPONENT_TYPES.values()))} (aliases {sorted(COMPONENT_TYPES)})",
        )


def _read_sky_model(data: Mapping[str, Any], label: str, context: _ReadContext) -> SkyModel:
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise context.error(FormatError, label, "a SkyModel needs a non-empty 'name'")
    apply_irf = data.get("apply_irf")
    if apply_irf is not None and (
        not isinstance(apply_irf, Mapping) or not all(v is True for v in apply_irf.values())
    ):
        raise context.error(
            FormatError,
            label,
            f"apply_irf {apply_irf!r} is not supported: gammaxr always applies every IRF",
        )
    datasets_names = _datasets_names(data, label, context)
    spectral_data = data.get("spectral")
    if spectral_data is None:
        raise context.error(FormatError, label, "a SkyModel needs a 'spectral' model")
    spectral = _read_spectral(spectral_data, f"{label} spectral", context)
    spatial_data = data.get("spatial")
    spatial = None
    if spatial_data is not None:
        spatial = _read_spatial(spatial_data, f"{label} spatial", context)
    temporal_data = data.get("temporal")
    temporal = None
    if temporal_data is not None:
        temporal = _read_temporal(temporal_data, f"{label} temporal", context)
    return SkyModel(spectral, spatial, temporal, name=name, datasets_names=datasets_names)


def _read_fov_background(
    data: Mapping[str, Any], label: str, context: _ReadContext
) -> FoVBackgroundModel:
    names = _datasets_names(data, label, context)
    if names is None or len(names) != 1:
        raise context.error(
            FormatError,
            label,
            f"a FoVBackgroundModel needs exactly one dataset in 'datasets_names', got {names}",
        )
    if data.get("spatial") is not None:
        raise context.error(
            FormatError, label, "FoV background models with a spatial model are not supported"
        )
    spectral_data = data.get("spectral")
    spectral = None
    if spectral_data is not None:
        spectral = _read_spectral(spectral_data, f"{label} spectral", context)
    return _call(FoVBackgroundModel, label, context, names[0], spectral)


def _datasets_names(
    data: Mapping[str, Any], label: str, context: _ReadContext
) -> list[str] | None:
    names = data.get("datasets_names")
    if names is None:
        return None
    if isinstance(names, str):
        names = [names]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise context.error(
            FormatError, label, f"datasets_names must be a list of names, got {names!r}"
        )
    return names


def _call(
    func: Callable[..., Any], where: str, context: _ReadContext, *args: Any, **kwargs: Any
) -> Any:
    """Call a model constructor; a gammaxr error gets the source and place prefixed."""
    try:
        return func(*args, **kwargs)
    except GammaxrError as err:
        raise type(err)(f"{context.source}: {where}: {err}") from err


def _model_class(kind: str, data: Any, where: str, context: _ReadContext) -> type[Model]:
    registry = MODEL_REGISTRY.get(kind, {})
    known = sorted({cls.tags[0] for cls in registry.values()})
    if not isinstance(data, Mapping):
        raise context.error(
            FormatError, where, f"must be a mapping with a 'type' (one of {known})"
        )
    tag = data.get("type")
    if tag is None:
        raise context.error(FormatError, where, f"has no 'type' (one of {known})")
    cls = registry.get(tag) if isinstance(tag, str) else None
    if cls is None:
        raise context.error(
            ModelTypeError,
            where,
            f"unknown {kind} model type {tag!r}; the known types are {known}",
        )
    return cls


# -- parameters ------------------------------------------------------------------------


def _read_parameters(
    entries: Any,
    defaults: Sequence[Parameter],
    where: str,
    context: _ReadContext,
    *,
    warn_missing: bool = True,
) -> dict[str, Parameter]:
    """The parameters given in a YAML ``parameters`` list, in canonical units, by name.

    ``defaults`` are the model's parameters: they give the canonical unit and
    the defaults of the fields an entry leaves out. Missing parameters are left
    out of the result (the model fills its defaults), with a warning.
    """
    if entries is None:
        entries = []
    if not isinstance(entries, list):
        raise context.error(FormatError, where, "'parameters' must be a list")
    given: dict[str, Mapping[str, Any]] = {}
    for index, entry in enumerate(entries):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
            raise context.error(
                FormatError, where, f"parameter #{index} must be a mapping with a 'name'"
            )
        if entry["name"] in given:
            raise context.error(
                ParameterError, where, f"parameter {entry['name']!r} is given twice"
            )
        given[entry["name"]] = entry
    names = [p.name for p in defaults]
    unknown = [name for name in given if name not in names]
    if unknown:
        raise context.error(
            ParameterError, where, f"unknown parameters {unknown}; the model has {names}"
        )
    missing = [name for name in names if name not in given]
    if missing and warn_missing:
        warnings.warn(
            f"{context.source}: {where}: parameters {missing} are not in the file; "
            "using their defaults (as Gammapy does)",
            ModelsYAMLWarning,
            stacklevel=2,
        )
    return {
        p.name: _read_parameter(given[p.name], p, f"{where} parameter {p.name!r}", context)
        for p in defaults
        if p.name in given
    }


def _read_parameter(
    entry: Mapping[str, Any], default: Parameter, where: str, context: _ReadContext
) -> Parameter:
    factor = _unit_factor(entry.get("unit"), default.unit, where, context)
    if "value" in entry:
        value = _number(entry["value"], "value", where, context, allow_null=False) * factor
    elif "factor" in entry:  # files of old Gammapy versions: value = factor * scale
        scale = _number(entry.get("scale", 1.0), "scale", where, context, allow_null=False)
        value = _number(entry["factor"], "factor", where, context, allow_null=False) * scale
        value *= factor
    else:
        warnings.warn(
            f"{context.source}: {where}: no 'value'; using the default {default.value} "
            "(as Gammapy does)",
            ModelsYAMLWarning,
            stacklevel=3,
        )
        value = default.value
    bounds = {}
    for key in ("min", "max"):
        if key in entry:
            bounds[key] = _number(entry[key], key, where, context) * factor
        else:
            bounds[key] = getattr(default, key)
    error = math.nan
    if "error" in entry:
        error = abs(_number(entry["error"], "error", where, context) * factor)
    scale = default.scale
    if "scale" in entry and "value" in entry:
        scale = abs(_number(entry["scale"], "scale", where, context, allow_null=False) * factor)
    frozen = entry.get("frozen", default.frozen)
    if not isinstance(frozen, bool):
        raise context.error(ParameterError, where, f"frozen must be true or false, got {frozen!r}")
    link = entry.get("link") or ""
    if not isinstance(link, str):
        raise context.error(ParameterError, where, f"link must be a label string, got {link!r}")
    if entry.get("prior") is not None:
        warnings.warn(
            f"{context.source}: {where}: the prior is ignored (gammaxr has no priors yet)",
            ModelsYAMLWarning,
            stacklevel=3,
        )
    return _call(
        Parameter,
        where,
        context,
        default.name,
        value,
        default.unit,
        min=bounds["min"],
        max=bounds["max"],
        frozen=frozen,
        error=error,
        link=link,
        scale=scale,
    )


def _unit_factor(text: Any, target: str, where: str, context: _ReadContext) -> float:
    """Factor from the unit ``text`` of a YAML entry to the unit ``target`` (1 when absent)."""
    if text is None:
        return 1.0
    given = _parse_unit(text, where, context)
    wanted = parse_unit(target)
    if given == wanted:
        return 1.0
    try:
        return float(given.to(wanted))
    except u.UnitConversionError:
        raise context.error(
            UnitError,
            where,
            f"unit {str(text)!r} is not convertible to {target or 'dimensionless'!r}",
        ) from None


def _parse_unit(text: Any, where: str, context: _ReadContext) -> u.UnitBase:
    try:
        return parse_unit(str(text))
    except UnitError:
        raise context.error(UnitError, where, f"cannot parse unit {str(text)!r}") from None


def _number(
    raw: Any, key: str, where: str, context: _ReadContext, *, allow_null: bool = True
) -> float:
    """A YAML number (or numeric string such as ``1e-12``); null is NaN where allowed."""
    if raw is None and allow_null:
        return math.nan
    if isinstance(raw, bool) or raw is None:
        raise context.error(ParameterError, where, f"{key} must be a number, got {raw!r}")
    try:
        return float(raw)
    except (TypeError, ValueError):
        raise context.error(
            ParameterError, where, f"{key} must be a number, got {raw!r}"
        ) from None


# -- tables and files ------------------------------------------------------------------


def _table(
    data: Mapping[str, Any], key: str, where: str, context: _ReadContext, *, unit: str | None
) -> tuple[np.ndarray, str]:
    """A ``{data: [...], unit: ...}`` entry as a float array, converted to ``unit`` if given.

    Returns the array and its unit (``unit`` if given, else the entry's unit text).
    """
    block = data.get(key)
    if not isinstance(block, Mapping) or "data" not in block:
        raise context.error(FormatError, where, f"needs '{key}: {{data: [...], unit: ...}}'")
    try:
        values = np.array(block["data"], dtype=float)
    except (TypeError, ValueError):
        raise context.error(
            FormatError, where, f"'{key}' data must be a (nested) list of numbers"
        ) from None
    text = block.get("unit") or ""
    if unit is None:
        return values, str(text)
    return values * _unit_factor(text, unit, f"{where} {key}", context), unit


def _resolve_file(filename: Any, where: str, context: _ReadContext) -> Path:
    """The file a YAML ``filename`` names: absolute, or relative to the YAML file or cwd."""
    if not isinstance(filename, str) or not filename:
        raise context.error(FormatError, where, f"needs a 'filename', got {filename!r}")
    expanded = Path(os.path.expandvars(os.path.expanduser(filename)))
    if expanded.is_absolute():
        candidates = [expanded]
    else:
        candidates = [context.base / expanded, Path.cwd() / expanded]
    for candidate in candidates:
        if candidate.exists():
            return candidate
    hint = " (an environment variable in it is not set)" if "$" in str(expanded) else ""
    looked = ", ".join(repr(str(c)) for c in dict.fromkeys(candidates))
    raise context.error(
        DataFileError, where, f"file {filename!r} not found{hint}; looked for {looked}"
    )


# -- spectral --------------------------------------------------------------------------


def _read_spectral(data: Any, path: str, context: _ReadContext) -> SpectralModel:
    cls = _model_class("spectral", data, path, context)
    where = f"{path} ({cls.__name__})"
    reader = _SPECTRAL_READERS.get(cls.tags[0], _read_spectral_parametric)
    return reader(cls, data, path, where, context)


def _read_spectral_parametric(
    cls: Any, data: Mapping[str, Any], path: str, where: str, context: _ReadContext
) -> SpectralModel:
    parameters = _read_parameters(data.get("parameters"), cls.parameter_defaults, where, context)
    return _call(cls, where, context, **parameters)


def _read_compound(
    cls: Any, data: Mapping[str, Any], path: str, where: str, context: _ReadContext
) -> SpectralModel:
    operands = []
    for key in ("model1", "model2"):
        if data.get(key) is None:
            raise context.error(FormatError, where, f"needs '{key}' (a spectral model)")
        operands.append(_read_spectral(data[key], f"{path}.{key}", context))
    operator = data.get("operator")
    if not isinstance(operator, str):
        raise context.error(
            FormatError, where, f"needs an 'operator' (add, sub or mul), got {operator!r}"
        )
    return _call(cls, where, context, *operands, operator)


def _read_scale(
    cls: Any, data: Mapping[str, Any], path: str, where: str, context: _ReadContext
) -> SpectralModel:
    if data.get("model") is None:
        raise context.error(
            FormatError,
            where,
            "needs the wrapped spectral model under 'model' (Gammapy 2.1 does not write it)",
        )
    model = _read_spectral(data["model"], f"{path}.model", context)
    parameters = _read_parameters(data.get("parameters"), cls.parameter_defaults, where, context)
    return _call(cls, where, context, model, **parameters)


def _read_piecewise_norm(
    cls: Any, data: Mapping[str, Any], path: str, where: str, context: _ReadContext
) -> SpectralModel:
    energy, _ = _table(data, "energy", where, context, unit="TeV")
    if energy.ndim != 1:
        raise context.error(FormatError, where, "'energy' must be a list of energies")
    defaults = [Parameter(f"norm_{k}", 1.0) for k in range(energy.size)]
    parameters = _read_parameters(data.get("parameters"), defaults, where, context)
    norms = [parameters.get(p.name, p) for p in defaults]
    interp = data.get("interp", "log")
    return _call(cls, where, context, energy, norms, interp=interp)


def _read_spectral_template(
    cls: Any, data: Mapping[str, Any], path: str, where: str, context: _ReadContext
) -> SpectralModel:
    energy, _ = _table(data, "energy", where, context, unit="TeV")
    values, unit = _table(data, "values", where, context, unit=None)
    _parse_unit(unit, f"{where} values", context)
    _read_parameters(data.get("parameters"), (), where, context)
    return _call(cls, where, context, energy, values, unit=unit)


def _read_ebl(
    cls: Any, data: Mapping[str, Any], path: str, where: str, context: _ReadContext
) -> SpectralModel:
    parameters = _read_parameters(data.get("parameters"), cls.parameter_defaults, where, context)
    if data.get("filename") is not None:
        filename = data["filename"]
        file = _resolve_file(filename, where, context)
        table = _call(read_ebl_table, where, context, file)
        model = _call(cls.from_table, where, context, table, **parameters)
        # kept so that the model is written back with the same reference
        model.filename = filename if "$" in filename else str(file.resolve())
        return model
    energy, _ = _table(data, "energy", where, context, unit="TeV")
    redshifts, _ = _table(data, "param", where, context, unit="")
    absorption, _ = _table(data, "values", where, context, unit="")
    return _call(cls.from_absorption, where, context, energy, redshifts, absorption, **parameters)


_SpectralReader = Callable[..., SpectralModel]
_SPECTRAL_READERS: dict[str, _SpectralReader] = {
    CompoundSpectralModel.tags[0]: _read_compound,
    ScaleSpectralModel.tags[0]: _read_scale,
    PiecewiseNormSpectralModel.tags[0]: _read_piecewise_norm,
    TemplateSpectralModel.tags[0]: _read_spectral_template,
    EBLAbsorptionNormSpectralModel.tags[0]: _read_ebl,
}


# -- spatial ---------------------------------------------------------------------------


def _read_spatial(data: Any, path: str, context: _ReadContext) -> SpatialModel:
    cls = _model_class("spatial", data, path, context)
    where = f"{path} ({cls.__name__})"
    frame = data.get("frame", "icrs")
    if not isinstance(frame, str):
        raise context.error(FormatError, where, f"frame must be a string, got {frame!r}")
    if cls is TemplateSpatialModel:
        return _read_spatial_template(cls, data, where, context)
    parameters = _read_parameters(data.get("parameters"), cls.parameter_defaults, where, context)
    return _call(cls, where, context, frame=frame, **parameters)


def _read_spatial_template(
    cls: Any, data: Mapping[str, Any], where: str, context: _ReadContext
) -> SpatialModel:
    file = _resolve_file(data.get("filename"), where, context)
    normalize = data.get("normalize", True)
    if not isinstance(normalize, bool):
        raise context.error(
            FormatError, where, f"normalize must be true or false, got {normalize!r}"
        )
    interp = data.get("interp", "log")
    template = _read_sky_map(file, where, context)
    parameters = _read_parameters(data.get("parameters"), cls.parameter_defaults, where, context)
    return _call(
        cls,
        where,
        context,
        template,
        normalize=normalize,
        interp=interp,
        filename=str(file),
        **parameters,
    )


def _read_sky_map(file: Path, where: str, context: _ReadContext) -> xr.DataArray:
    """A spatial template: FITS (CAR, reference on the equator), NetCDF or Zarr."""
    if file.suffix.lower() in _XARRAY_SUFFIXES:
        with read_dataset(file) as ds:
            names = [str(name) for name in ds.data_vars]
            if "template" in names:
                name = "template"
            elif len(names) == 1:
                name = names[0]
            else:
                raise context.error(
                    FormatError,
                    where,
                    f"{file.name}: expected one variable (or 'template'), got {names}",
                )
            template = ds[name].load()
            if "frame" not in template.attrs and "frame" in ds.attrs:
                template = template.assign_attrs(frame=ds.attrs["frame"])
        return template
    return _read_fits_map(file, where, context)


def _read_fits_map(file: Path, where: str, context: _ReadContext) -> xr.DataArray:
    location = f"{where}: {file.name}"
    try:
        hdul = fits.open(file)
    except OSError as err:
        raise FormatError(f"{context.source}: {location}: not a FITS file ({err})") from err
    with hdul:
        hdu = next(
            (
                h
                for h in hdul
                if isinstance(h, fits.PrimaryHDU | fits.ImageHDU | fits.CompImageHDU)
                and h.data is not None
                and h.data.ndim >= 2
            ),
            None,
        )
        if hdu is None:
            raise FormatError(f"{context.source}: {location}: no image HDU")
        data = np.array(hdu.data, dtype=float)
        header = hdu.header.copy()
        exact = {
            name: np.array(hdul[name].data, dtype=float)
            for name in ("LON_EDGES", "LAT_EDGES")
            if name in hdul
        }
    if data.ndim > 2:
        if any(n != 1 for n in data.shape[:-2]):
            raise FormatError(
                f"{context.source}: {location}: the map has shape {data.shape}; energy-dependent "
                "spatial templates are not supported yet"
            )
        data = data.reshape(data.shape[-2:])
    frame, lon_edges, lat_edges, flip_lon, flip_lat = _car_grid(
        header, data.shape, f"{context.source}: {location}"
    )
    if flip_lon:
        data = data[:, ::-1]
    if flip_lat:
        data = data[::-1, :]
    pixel = {LON: abs(lon_edges[1] - lon_edges[0]), LAT: abs(lat_edges[1] - lat_edges[0])}
    if len(exact) == 2:
        for dim, key, derived in ((LON, "LON_EDGES", lon_edges), (LAT, "LAT_EDGES", lat_edges)):
            given = exact[key]
            offset = (
                (given - derived + 180.0) % 360.0 - 180.0 if given.shape == derived.shape else None
            )
            if offset is None or np.max(np.abs(offset)) > _EDGE_TOLERANCE * pixel[dim]:
                raise FormatError(
                    f"{context.source}: {location}: HDU {key} does not match the WCS of the map"
                )
        lon_edges, lat_edges = exact["LON_EDGES"], exact["LAT_EDGES"]
    lon = axis_from_edges(lon_edges, name=LON, units="deg")
    lat = axis_from_edges(lat_edges, name=LAT, units="deg")
    for axis in (lon, lat):
        axis.coords[axis.name].attrs["frame"] = frame
    unit = str(header.get("BUNIT", "") or "").strip()
    return xr.DataArray(
        np.ascontiguousarray(data),
        dims=(LAT, LON),
        coords={**lat.coords, **lon.coords},
        name="template",
        attrs={"units": unit, "frame": frame},
    )


def _car_grid(
    header: fits.Header, shape: tuple[int, ...], location: str
) -> tuple[str, np.ndarray, np.ndarray, bool, bool]:
    """Frame and increasing pixel edges of a plate-carrée map with its reference on the equator.

    Returns the frame, the lon and lat edges (deg, increasing) and whether the
    data must be flipped along lon and lat to match them.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        wcs = WCS(header, naxis=2)
        wcs.wcs.set()
    ctype = [str(c).upper() for c in wcs.wcs.ctype]
    projections = {c[-3:] for c in ctype}
    if projections != {"CAR"} or (wcs.wcs.lng, wcs.wcs.lat) != (0, 1):
        raise FormatError(
            f"{location}: projection {ctype} is not supported; spatial templates must be "
            "plate carrée (CAR) maps with longitude on axis 1 (reproject the map)"
        )
    if ctype[0].startswith("RA--") and wcs.wcs.radesys.upper() in ("ICRS", "FK5", ""):
        frame = "icrs"
    elif ctype[0].startswith("GLON"):
        frame = "galactic"
    else:
        raise FormatError(
            f"{location}: sky frame {ctype[0]!r} (RADESYS {wcs.wcs.radesys!r}) is not supported; "
            "expected ICRS (RA---CAR) or galactic (GLON-CAR)"
        )
    if wcs.wcs.crval[1] != 0:
        raise FormatError(
            f"{location}: a CAR map with its reference at latitude CRVAL2 = {wcs.wcs.crval[1]} "
            "is not a lon/lat grid; reproject it onto a CAR grid with CRVAL2 = 0 "
            "(gammaxr.sky_grid's grids)"
        )
    matrix = wcs.pixel_scale_matrix
    if matrix[0, 1] != 0 or matrix[1, 0] != 0:
        raise FormatError(f"{location}: rotated maps (PC / CD cross terms) are not supported")
    n_lat, n_lon = shape
    step_lon, step_lat = matrix[0, 0], matrix[1, 1]
    crpix = wcs.wcs.crpix
    lon_edges = wcs.wcs.crval[0] + step_lon * (np.arange(n_lon + 1) + 0.5 - crpix[0])
    lat_edges = step_lat * (np.arange(n_lat + 1) + 0.5 - crpix[1])
    # check the plain plate-carrée formula against the WCS at the corner pixels
    x = np.array([0, n_lon - 1, 0, n_lon - 1])
    y = np.array([0, 0, n_lat - 1, n_lat - 1])
    world_lon, world_lat = wcs.wcs_pix2world(x, y, 0)
    lon_c = 0.5 * (lon_edges[x] + lon_edges[x + 1])
    lat_c = 0.5 * (lat_edges[y] + lat_edges[y + 1])
    d_lon = (world_lon - lon_c + 180.0) % 360.0 - 180.0
    tolerance = _EDGE_TOLERANCE * min(abs(step_lon), abs(step_lat))
    if np.max(np.abs(d_lon)) > tolerance or np.max(np.abs(world_lat - lat_c)) > tolerance:
        raise FormatError(
            f"{location}: the WCS is not a plain plate carrée grid (LONPOLE or PV keywords?)"
        )
    flip_lon, flip_lat = bool(step_lon < 0), bool(step_lat < 0)
    if flip_lon:
        lon_edges = lon_edges[::-1]
    if flip_lat:
        lat_edges = lat_edges[::-1]
    if lat_edges[0] < -90 - tolerance or lat_edges[-1] > 90 + tolerance:
        raise FormatError(f"{location}: the map extends beyond the poles")
    return frame, lon_edges, lat_edges, flip_lon, flip_lat


# -- temporal --------------------------------------------------------------------------


def _read_temporal(data: Any, path: str, context: _ReadContext) -> TemporalModel:
    cls = _model_class("temporal", data, path, context)
    where = f"{path} ({cls.__name__})"
    scale = data.get("scale", "utc")
    if not isinstance(scale, str):
        raise context.error(FormatError, where, f"scale must be a string, got {scale!r}")
    if cls is LightCurveTemplateTemporalModel:
        return _read_light_curve_model(cls, data, where, scale, context)
    parameters = _read_parameters(data.get("parameters"), cls.parameter_defaults, where, context)
    return _call(cls, where, context, scale=scale, **parameters)


def _read_light_curve_model(
    cls: Any, data: Mapping[str, Any], where: str, scale: str, context: _ReadContext
) -> TemporalModel:
    file = _resolve_file(data.get("filename"), where, context)
    layout = data.get("format", "table")
    if layout == "map":
        raise context.error(
            FormatError,
            where,
            "format 'map' (energy-dependent light curves) is not supported yet",
        )
    elif layout != "table":
        raise context.error(FormatError, where, f"format must be 'table' or 'map', got {layout!r}")
    offsets, norm, reference = _read_light_curve(file, scale, where, context)
    parameters = _read_parameters(
        data.get("parameters"), cls.parameter_defaults, where, context, warn_missing=False
    )
    t_ref = parameters.get("t_ref")
    if t_ref is None:
        if reference is None:
            raise context.error(
                FormatError, where, f"{file.name}: no MJDREFI/MJDREFF (or MJDREF) and no t_ref"
            )
        t_ref = cls.parameter_defaults[0].with_value(reference)
    # node times relative to t_ref, built exactly (t_ref = 0) and then moved to t_ref
    model = _call(cls, where, context, offsets, norm, t_ref=0.0, scale=scale)
    return model.with_parameters(t_ref=t_ref)


def _read_light_curve(
    file: Path, scale: str, where: str, context: _ReadContext
) -> tuple[np.ndarray, np.ndarray, float | None]:
    """Node offsets (days from the reference), norms and the reference MJD (in ``scale``)."""
    location = f"{context.source}: {where}: {file.name}"
    try:
        hdul = fits.open(file)
    except OSError as err:
        raise FormatError(f"{location}: not a FITS file ({err})") from err
    with hdul:
        hdu = next(
            (
                h
                for h in hdul
                if isinstance(h, fits.BinTableHDU)
                and {"TIME", "NORM"} <= {n.upper() for n in h.columns.names}
            ),
            None,
        )
        if hdu is None:
            raise FormatError(f"{location}: no table with TIME and NORM columns")
        columns = {n.upper(): n for n in hdu.columns.names}
        time = np.array(hdu.data[columns["TIME"]], dtype=float)
        norm = np.array(hdu.data[columns["NORM"]], dtype=float)
        time_unit = hdu.columns[columns["TIME"]].unit
        header = hdu.header.copy()
    if time.ndim != 1 or norm.shape != time.shape:
        raise FormatError(
            f"{location}: TIME and NORM must be 1-D columns of the same length "
            "(energy-dependent light curves are not supported yet)"
        )
    unit = time_unit if time_unit and parse_unit(time_unit).is_equivalent(u.d) else None
    unit = unit or header.get("TIMEUNIT")
    if not unit:
        raise FormatError(f"{location}: the TIME column has no time unit (TUNIT or TIMEUNIT)")
    try:
        factor = float(parse_unit(str(unit)).to(u.d))
    except u.UnitConversionError:
        raise UnitError(f"{location}: TIME unit {unit!r} is not a time") from None
    reference = None
    if "MJDREFI" in header:
        integer, fraction = float(header["MJDREFI"]), float(header.get("MJDREFF", 0.0))
    elif "MJDREF" in header:
        integer, fraction = float(header["MJDREF"]), 0.0
    else:
        integer = fraction = math.nan
    if math.isfinite(integer):
        system = str(header.get("TIMESYS", scale)).lower()
        if system == scale:
            reference = integer + fraction
        else:
            reference = float(
                getattr(Time(integer, fraction, format="mjd", scale=system), scale).mjd
            )
    return time * factor, norm, reference


# --------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------


@cache
def _unit_text(unit: str) -> str:
    """A unit in Gammapy's spelling (astropy's FITS format), ``""`` for dimensionless."""
    parsed = parse_unit(unit)
    return "" if parsed == u.dimensionless_unscaled else parsed.to_string("fits")


def _version() -> str:
    try:
        return metadata.version("gammaxr")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def _quantity_block(values: np.ndarray, unit: str) -> dict[str, Any]:
    return {"data": np.asarray(values, dtype=float).tolist(), "unit": unit}


@dataclass
class _Writer:
    """Builds the YAML dict of models and writes their template files next to ``path``."""

    path: Path | None
    full_output: bool
    template_format: TemplateFormat
    _files: set[str] = field(default_factory=set)

    # -- components -------------------------------------------------------------------

    def component(self, model: Any) -> dict[str, Any]:
        if isinstance(model, SkyModel):
            data: dict[str, Any] = {"name": model.name, "type": "SkyModel"}
            if model.datasets_names is not None:
                data["datasets_names"] = list(model.datasets_names)
            data["spectral"] = self.spectral(model.spectral, model.name)
            if model.spatial is not None:
                data["spatial"] = self.spatial(model.spatial, model.name)
            if model.temporal is not None:
                data["temporal"] = self.temporal(model.temporal, model.name)
            return data
        elif isinstance(model, FoVBackgroundModel):
            return {
                "type": "FoVBackgroundModel",
                "datasets_names": [model.dataset_name],
                "spectral": self.spectral(model.spectral, model.name),
            }
        else:
            raise ModelTypeError(
                f"cannot write {type(model).__name__}: a model file holds SkyModel and "
                "FoVBackgroundModel objects"
            )

    # -- parameters -------------------------------------------------------------------

    def parameters(self, model: Model) -> list[dict[str, Any]]:
        defaults = {p.name: p for p in type(model).parameter_defaults}
        return [
            self.parameter(p, defaults.get(p.name, Parameter(p.name, p.value, p.unit)))
            for p in model.parameters.values()
        ]

    def parameter(self, p: Parameter, default: Parameter) -> dict[str, Any]:
        full = self.full_output
        out: dict[str, Any] = {"name": p.name, "value": p.value}
        unit = _unit_text(p.unit)
        if unit or full:
            out["unit"] = unit
        if not math.isnan(p.error):
            out["error"] = p.error
        for key in ("min", "max"):
            if full or not _same(getattr(p, key), getattr(default, key)):
                out[key] = getattr(p, key)
        if full or p.frozen != default.frozen:
            out["frozen"] = p.frozen
        if p.link:
            out["link"] = p.link
        if p.scale != default.scale:
            out["scale"] = p.scale
        return out

    def _parametric(self, model: Model, allowed: set[str]) -> None:
        extra = sorted(set(model._extra_state()) - allowed)
        if extra:
            raise ModelTypeError(
                f"cannot write {type(model).__name__}: its state {extra} has no model-file layout"
            )

    # -- spectral ---------------------------------------------------------------------

    def spectral(self, model: SpectralModel, owner: str) -> dict[str, Any]:
        tag = model.tags[0]
        data: dict[str, Any] = {"type": tag}
        if isinstance(model, CompoundSpectralModel):
            data["model1"] = self.spectral(model.model1, owner)
            data["model2"] = self.spectral(model.model2, owner)
            data["operator"] = model.operator
            return data
        data["parameters"] = self.parameters(model)
        if isinstance(model, ScaleSpectralModel):
            data["model"] = self.spectral(model.model, owner)
        elif isinstance(model, PiecewiseNormSpectralModel):
            data["energy"] = _quantity_block(model.energy, "TeV")
            data["interp"] = model.interp
        elif isinstance(model, TemplateSpectralModel):
            data["energy"] = _quantity_block(model.energy, "TeV")
            data["values"] = _quantity_block(model.values, _unit_text(model.dnde_unit))
        elif isinstance(model, EBLAbsorptionNormSpectralModel):
            filename = getattr(model, "filename", None)
            if filename:
                data["filename"] = str(filename)
            else:
                table = model.table
                data["energy"] = _quantity_block(table["energy"].to_numpy(), "TeV")
                data["param"] = _quantity_block(table["redshift"].to_numpy(), "")
                data["values"] = _quantity_block(np.exp(-table.to_numpy()), "")
        else:
            self._parametric(model, set())
        return data

    # -- spatial ----------------------------------------------------------------------

    def spatial(self, model: SpatialModel, owner: str) -> dict[str, Any]:
        data: dict[str, Any] = {
            "type": model.tags[0],
            "frame": model.frame,
            "parameters": self.parameters(model),
        }
        if isinstance(model, TemplateSpatialModel):
            suffix = ".fits" if self.template_format == "fits" else ".nc"
            file = self._file(owner, "spatial", suffix)
            template = model.template
            if self.template_format == "fits":
                _write_fits_map(file, template, owner)
            else:
                write_dataset(template.to_dataset(name="template"), file)
            data["filename"] = file.name
            data["normalize"] = False
            data["unit"] = "sr-1"
            if model.interp != "log":
                data["interp"] = model.interp
        else:
            self._parametric(model, {"frame"})
        return data

    # -- temporal ---------------------------------------------------------------------

    def temporal(self, model: TemporalModel, owner: str) -> dict[str, Any]:
        data: dict[str, Any] = {"type": model.tags[0], "parameters": self.parameters(model)}
        data["scale"] = model.scale
        if isinstance(model, LightCurveTemplateTemporalModel):
            file = self._file(owner, "lightcurve", ".fits")
            _write_light_curve(file, model)
            data["filename"] = file.name
            data["format"] = "table"
            data["unit"] = ""
        else:
            self._parametric(model, {"scale"})
        return data

    # -- files ------------------------------------------------------------------------

    def _file(self, owner: str, what: str, suffix: str) -> Path:
        if self.path is None:
            raise FormatError(
                f"model {owner!r}: its {what} template is written to a file next to the YAML "
                "file; give the YAML path (write_models(models, path))"
            )
        safe = re.sub(r"[^A-Za-z0-9_.+-]+", "_", owner)
        name = f"{self.path.stem}_{safe}_{what}{suffix}"
        count = 1
        while name in self._files:
            count += 1
            name = f"{self.path.stem}_{safe}_{what}_{count}{suffix}"
        self._files.add(name)
        return self.path.parent / name


def _write_fits_map(file: Path, template: xr.DataArray, owner: str) -> None:
    """Write a template (sr-1, on a lon/lat grid) as a CAR FITS image with exact edge HDUs."""
    lon_edges, lat_edges = edges(template, LON), edges(template, LAT)
    data = np.asarray(template.transpose(LAT, LON).to_numpy(), dtype=float)
    n_lat, n_lon = data.shape
    step_lon = (lon_edges[-1] - lon_edges[0]) / n_lon
    step_lat = (lat_edges[-1] - lat_edges[0]) / n_lat
    regular = np.allclose(np.diff(lon_edges), step_lon, rtol=1e-9, atol=0) and np.allclose(
        np.diff(lat_edges), step_lat, rtol=1e-9, atol=0
    )
    if not regular:
        raise FormatError(
            f"model {owner!r}: the spatial template is not on a regular lon/lat grid, which a "
            "FITS CAR map needs; write it with template_format='netcdf'"
        )
    frame = sky_frame(template)
    lon_type, lat_type = ("RA---CAR", "DEC--CAR") if frame == "icrs" else ("GLON-CAR", "GLAT-CAR")
    header = fits.Header()
    header["CTYPE1"] = lon_type
    header["CTYPE2"] = lat_type
    header["CRPIX1"] = 0.5 * (n_lon + 1)
    header["CRPIX2"] = 0.5 - lat_edges[0] / step_lat
    header["CRVAL1"] = (0.5 * (lon_edges[0] + lon_edges[-1])) % 360.0
    header["CRVAL2"] = 0.0
    header["CDELT1"] = -step_lon
    header["CDELT2"] = step_lat
    header["CUNIT1"] = "deg"
    header["CUNIT2"] = "deg"
    header["LONPOLE"] = 0.0
    header["LATPOLE"] = 90.0
    if frame == "icrs":
        header["RADESYS"] = "ICRS"
    header["BUNIT"] = "sr-1"
    header["COMMENT"] = "Spatial template written by gammaxr (surface brightness, sr-1)."
    header["COMMENT"] = "HDUs LON_EDGES and LAT_EDGES hold the exact pixel edges in deg."
    hdus = [
        fits.PrimaryHDU(np.ascontiguousarray(data[:, ::-1]), header=header),
        fits.ImageHDU(np.asarray(lon_edges, dtype=float), name="LON_EDGES"),
        fits.ImageHDU(np.asarray(lat_edges, dtype=float), name="LAT_EDGES"),
    ]
    fits.HDUList(hdus).writeto(file, overwrite=True)


def _write_light_curve(file: Path, model: LightCurveTemplateTemporalModel) -> None:
    """Write a light curve as Gammapy's table: TIME (d, from MJDREF) and NORM."""
    t_ref = model.parameters["t_ref"].value
    # node times relative to t_ref, exactly (the model keeps them relative)
    offsets = model.with_parameters(t_ref=Parameter("t_ref", 0.0, "d")).time
    columns = [
        fits.Column(name="TIME", format="D", unit="d", array=np.asarray(offsets, dtype=float)),
        fits.Column(name="NORM", format="D", array=np.asarray(model.norm, dtype=float)),
    ]
    table = fits.BinTableHDU.from_columns(columns)
    integer = math.floor(t_ref)
    table.header["MJDREFI"] = integer
    table.header["MJDREFF"] = t_ref - integer
    table.header["TIMESYS"] = model.scale
    table.header["TIMEUNIT"] = "d"
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(file, overwrite=True)
