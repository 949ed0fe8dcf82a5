"""Model parameters: immutable values with units, bounds, errors and links.

A :class:`Parameter` never changes: fitting returns new parameters. Two
parameters that carry the same non-empty ``link`` label are one free
parameter in a fit (how a spectral index is shared between two sources or a
background norm between datasets).
"""

from __future__ import annotations

import math
from collections.abc import ItemsView, Iterable, Iterator, Mapping, ValuesView
from dataclasses import dataclass, replace
from typing import ClassVar, TypeVar

import astropy.units as u
import numpy as np
import pandas as pd

from gammaxr.conventions import parse_unit
from gammaxr.exceptions import GammaxrError, UnitError

__all__ = ["NamedItems", "Parameter", "ParameterError", "Parameters"]

T = TypeVar("T")


class ParameterError(GammaxrError, ValueError):
    """A parameter value, bound or unit that is not valid."""


@dataclass(frozen=True, eq=False)
class Parameter:
    """One model parameter.

    Attributes
    ----------
    name : str
        Name, unique within its model.
    value : float
        Value, in ``unit``.
    unit : str
        Unit string (astropy / FITS spelling; empty for dimensionless).
    min, max : float
        Bounds, in ``unit`` (NaN: unbounded).
    frozen : bool
        Whether the fit keeps it fixed.
    error : float
        1-sigma error, in ``unit`` (NaN until fitted).
    link : str
        Label shared by linked parameters (empty: not linked).
    scale : float
        Typical magnitude; the optimiser sees ``value / scale``.
    """

    name: str
    value: float
    unit: str = ""
    min: float = math.nan
    max: float = math.nan
    frozen: bool = False
    error: float = math.nan
    link: str = ""
    scale: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", float(self.value))
        object.__setattr__(self, "min", float(self.min))
        object.__setattr__(self, "max", float(self.max))
        object.__setattr__(self, "error", float(self.error))
        if not math.isfinite(self.value):
            raise ParameterError(
                f"parameter {self.name!r}: value must be finite, got {self.value}"
            )
        try:
            parse_unit(self.unit, where=f"parameter {self.name!r}")
        except UnitError as err:
            raise ParameterError(str(err)) from err
        if not math.isnan(self.min) and self.value < self.min:
            raise ParameterError(
                f"parameter {self.name!r}: value {self.value} is below its minimum {self.min}"
            )
        if not math.isnan(self.max) and self.value > self.max:
            raise ParameterError(
                f"parameter {self.name!r}: value {self.value} is above its maximum {self.max}"
            )
        scale = float(self.scale)
        if not (math.isfinite(scale) and scale > 0):
            raise ParameterError(f"parameter {self.name!r}: scale must be positive, got {scale}")
        object.__setattr__(self, "scale", scale)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Parameter):
            return NotImplemented
        if self.__dict__ == other.__dict__:  # (a NaN equals itself as the same object)
            return True
        return all(
            _same(getattr(self, name), getattr(other, name))
            for name in ("name", "value", "unit", "min", "max", "frozen", "error", "link", "scale")
        )

    __hash__ = None  # type: ignore[assignment]

    @property
    def quantity(self) -> u.Quantity:
        """The value as an astropy Quantity."""
        return u.Quantity(self.value, parse_unit(self.unit))

    def to_value(self, unit: str) -> float:
        """The value converted to ``unit``.

        Raises
        ------
        UnitError
            If the parameter's unit is not convertible to ``unit``.
        """
        try:
            return float(self.quantity.to_value(parse_unit(unit)))
        except u.UnitConversionError as err:
            raise UnitError(
                f"parameter {self.name!r}: unit {self.unit!r} is not convertible to {unit!r}"
            ) from err

    def with_value(self, value: float | u.Quantity, **changes) -> Parameter:
        """A copy with a new value (a Quantity is converted to this parameter's unit)."""
        if isinstance(value, u.Quantity):
            try:
                value = value.to_value(parse_unit(self.unit))
            except u.UnitConversionError as err:
                raise UnitError(
                    f"parameter {self.name!r}: cannot set a value in {value.unit} "
                    f"(expected a unit convertible to {self.unit!r})"
                ) from err
        value = float(value)
        if changes or not self._value_is_valid(value):
            return replace(self, value=value, **changes)  # validates (and raises)
        return self._copy_with(value=value)

    def with_name(self, name: str) -> Parameter:
        """A copy under another name (everything else as it is)."""
        return self._copy_with(name=str(name))

    def _value_is_valid(self, value: float) -> bool:
        """Whether ``value`` passes the checks of ``__post_init__`` for this parameter."""
        return (
            math.isfinite(value)
            and not (value < self.min)  # NaN bounds compare False: unbounded
            and not (value > self.max)
        )

    def _copy_with(self, **fields: object) -> Parameter:
        """A copy with fields changed that are known to be valid (no re-validation).

        For the fit's inner loop: a new value within the bounds, or a new name,
        needs none of the unit parsing of ``__post_init__``.
        """
        new = object.__new__(Parameter)
        new.__dict__.update(self.__dict__)
        new.__dict__.update(fields)
        return new

    def with_unit(self, unit: str) -> Parameter:
        """A copy expressed in another unit (value, bounds and error converted)."""
        factor = self.to_value(unit) / self.value if self.value != 0 else None
        if factor is None:
            factor = float(u.Quantity(1.0, parse_unit(self.unit)).to_value(parse_unit(unit)))
        return replace(
            self,
            value=self.value * factor,
            unit=unit,
            min=self.min * factor,
            max=self.max * factor,
            error=self.error * factor,
            scale=self.scale * abs(factor),
        )


def _same(a, b) -> bool:
    """Equality that takes NaN equal to NaN (unset bounds and errors)."""
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return a == b


class NamedItems(Mapping[str, T]):
    """An ordered, immutable mapping of items that carry a unique ``name``.

    Looking up a missing name raises :class:`ParameterError` listing the
    names there are; ``in`` answers without raising.
    """

    #: What one item is called in error messages.
    item_kind: ClassVar[str] = "item"

    def __init__(self, items: Iterable[T] = ()) -> None:
        items = list(items.values() if isinstance(items, NamedItems) else items)
        names = [item.name for item in items]  # type: ignore[attr-defined]
        self._items: dict[str, T] = dict(zip(names, items, strict=True))
        if len(self._items) < len(names):
            duplicated = sorted({n for n in names if names.count(n) > 1})
            raise ParameterError(f"duplicate {self.item_kind} names: {duplicated}")

    def __getitem__(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise ParameterError(
                f"no {self.item_kind} {name!r}; the {self.item_kind}s are {list(self._items)}"
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def values(self) -> ValuesView[T]:
        """The items, in order (a read-only view)."""
        return self._items.values()

    def items(self) -> ItemsView[str, T]:
        """``(name, item)`` pairs, in order (a read-only view)."""
        return self._items.items()

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(self._items)})"


class Parameters(NamedItems[Parameter]):
    """An ordered, immutable set of parameters, looked up by name."""

    item_kind = "parameter"

    @property
    def free(self) -> list[Parameter]:
        """The parameters that are not frozen."""
        return [p for p in self._items.values() if not p.frozen]

    def to_array(self) -> np.ndarray:
        """Values as a float array, in order."""
        return np.array([p.value for p in self._items.values()], dtype=float)

    def replace(self, **changes: Parameter) -> Parameters:
        """A copy with some parameters replaced, by name."""
        unknown = sorted(set(changes) - set(self._items))
        if unknown:
            raise ParameterError(f"no parameters {unknown}; the parameters are {list(self)}")
        return Parameters(changes.get(name, p) for name, p in self._items.items())

    def to_dataframe(self) -> pd.DataFrame:
        """The parameters as a DataFrame: one row each, indexed by name."""
        rows = [
            {
                "name": p.name,
                "value": p.value,
                "unit": p.unit,
                "error": p.error,
                "min": p.min,
                "max": p.max,
                "frozen": p.frozen,
                "link": p.link,
            }
            for p in self._items.values()
        ]
        columns = ["name", "value", "unit", "error", "min", "max", "frozen", "link"]
        return pd.DataFrame(rows, columns=columns).set_index("name")
