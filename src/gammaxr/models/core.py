"""The model base class and the registry of model types (tags).

A model is an immutable object holding :class:`Parameters`; subclasses declare
their parameters with :meth:`Model.parameter_defaults` and implement a pure
static ``evaluate`` taking plain numbers or arrays (numpy, xarray, dask) in
the canonical units of each parameter. ``model.with_parameters(...)``
returns a changed copy; nothing mutates a model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import astropy.units as u
import numpy as np
import xarray as xr

from gammaxr.exceptions import GammaxrError
from gammaxr.models.parameters import Parameter, ParameterError, Parameters

__all__ = ["MODEL_REGISTRY", "Model", "ModelTypeError", "is_xarray", "register_model", "where"]


def is_xarray(*values: Any) -> bool:
    """Whether any of the values is an xarray object."""
    return any(isinstance(v, xr.DataArray | xr.Dataset | xr.Variable) for v in values)


def where(condition, x, y):
    """``np.where`` that keeps xarray objects labelled (dask arrays dispatch by themselves)."""
    if is_xarray(condition, x, y):
        return xr.where(condition, x, y)
    return np.where(condition, x, y)


class ModelTypeError(GammaxrError, LookupError):
    """An unknown model type (tag), or a tag registered twice."""


MODEL_REGISTRY: dict[str, dict[str, type[Model]]] = {}


def register_model(kind: str):
    """Class decorator: register a model class under its ``tags`` for ``kind``.

    ``kind`` is ``"spectral"``, ``"spatial"``, ``"temporal"`` or ``"sky"``.
    A tag registered twice raises :class:`ModelTypeError`.
    """

    def decorator(cls: type[Model]) -> type[Model]:
        registry = MODEL_REGISTRY.setdefault(kind, {})
        for tag in cls.tags:
            if tag in registry and registry[tag] is not cls:
                raise ModelTypeError(
                    f"{kind} model tag {tag!r} is already used by {registry[tag].__name__}"
                )
            registry[tag] = cls
        return cls

    return decorator


def _as_parameter(current: Parameter, given: float | u.Quantity | Parameter) -> Parameter:
    """Fill the slot of ``current`` with a value, a Quantity or a whole Parameter.

    A number or Quantity sets the value; a Parameter replaces it whole, renamed
    to the slot and converted to its unit.
    """
    if not isinstance(given, Parameter):
        return current.with_value(given)
    if given.name != current.name:
        given = given.with_name(current.name)
    return given if given.unit == current.unit else given.with_unit(current.unit)


class Model:
    """Base class of every model: named, immutable parameters and a pure ``evaluate``.

    Parameters
    ----------
    **values : float, astropy Quantity or Parameter
        Parameter values by name; missing ones take their defaults. A Quantity
        is converted to the parameter's default unit; a Parameter replaces the
        default whole (its unit must be convertible).
    """

    tags: ClassVar[tuple[str, ...]] = ()
    #: Default parameters, in the order ``evaluate`` takes them.
    parameter_defaults: ClassVar[tuple[Parameter, ...]] = ()

    def __init__(self, **values: float | u.Quantity | Parameter) -> None:
        defaults = {p.name: p for p in self.parameter_defaults}
        unknown = sorted(set(values) - set(defaults))
        if unknown:
            raise ParameterError(
                f"{type(self).__name__}: unknown parameters {unknown}; "
                f"it has {list(defaults)}"
            )
        items = []
        for name, default in defaults.items():
            given = values.get(name)
            items.append(default if given is None else _as_parameter(default, given))
        self._parameters = Parameters(items)

    @property
    def parameters(self) -> Parameters:
        """The model's parameters."""
        return self._parameters

    @property
    def tag(self) -> str:
        """The model's type name in model files."""
        return self.tags[0] if self.tags else type(self).__name__

    def parameter_values(self) -> dict[str, float]:
        """Parameter values by name, in the canonical units ``evaluate`` expects."""
        return {p.name: p.value for p in self._parameters.values()}

    def with_parameters(self, **changes: float | u.Quantity | Parameter) -> Model:
        """A copy with some parameter values (or whole parameters) changed."""
        current: dict[str, Any] = dict(self._parameters.items())
        for name, value in changes.items():
            if name not in current:
                raise ParameterError(
                    f"{type(self).__name__}: unknown parameter {name!r}; it has {list(current)}"
                )
            current[name] = _as_parameter(current[name], value)
        return self._replace_parameters(Parameters(current.values()))

    def _replace_parameters(self, parameters: Parameters) -> Model:
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new._parameters = parameters
        return new

    def __repr__(self) -> str:
        values = ", ".join(
            f"{p.name}={p.value:.4g}{' ' + p.unit if p.unit else ''}"
            for p in self._parameters.values()
        )
        return f"{type(self).__name__}({values})"

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return dict(self._parameters) == dict(other._parameters) and self._extra_state() == (
            other._extra_state()  # type: ignore[attr-defined]
        )

    __hash__ = None  # type: ignore[assignment]

    def _extra_state(self) -> Mapping[str, Any]:
        """Non-parameter state that defines the model (templates, frames); for equality."""
        return {}
