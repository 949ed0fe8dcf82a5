"""Sky models, field-of-view background models, and the :class:`Models` collection.

A :class:`SkyModel` is spectral x spatial (x temporal); a
:class:`FoVBackgroundModel` scales a dataset's background; a fit works on a
:class:`Models` collection of both.

Parameters are addressed by flat, unique names: ``"<model>.<component>.<name>"``
(e.g. ``"crab.spectral.index"``, ``"crab.spatial.lon_0"``,
``"bkg-23523.spectral.norm"``). Parameters that carry the same non-empty
``link`` label are one free parameter in a fit.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from gammaxr.models.core import Model
from gammaxr.models.parameters import NamedItems, Parameter, ParameterError, Parameters
from gammaxr.models.spatial import SpatialModel
from gammaxr.models.spectral import PowerLawNormSpectralModel, SpectralModel
from gammaxr.models.temporal import TemporalModel

__all__ = ["FoVBackgroundModel", "Models", "SkyModel"]

_COMPONENTS = ("spectral", "spatial", "temporal")


class _Composite(ABC):
    """A named model made of components, each a :class:`Model` or ``None``."""

    name: str
    _components: dict[str, Model | None]

    @property
    def parameters(self) -> Parameters:
        """All component parameters, named ``"<component>.<name>"``."""
        items = []
        for component, model in self._components.items():
            if model is not None:
                items.extend(
                    p.with_name(f"{component}.{p.name}") for p in model.parameters.values()
                )
        return Parameters(items)

    def with_parameters(self, **changes: Any):
        """A copy with parameters changed, addressed as ``"<component>.<name>"``."""
        grouped: dict[str, dict[str, Any]] = {}
        for key, value in changes.items():
            component, _, name = key.partition(".")
            if self._components.get(component) is None or not name:
                raise ParameterError(
                    f"{type(self).__name__} {self.name!r}: no parameter {key!r}; "
                    f"it has {list(self.parameters)}"
                )
            if isinstance(value, Parameter):
                value = value.with_name(name)
            grouped.setdefault(component, {})[name] = value
        components = dict(self._components)
        for component, values in grouped.items():
            components[component] = components[component].with_parameters(**values)  # type: ignore[union-attr]
        return self._rebuild(components)

    @abstractmethod
    def _rebuild(self, components: dict[str, Model | None]):
        """A new model of the same kind from (changed) components."""

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.name == other.name and self._components == other._components  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]


class SkyModel(_Composite):
    """A gamma-ray source: spectral x spatial (x temporal) model with a name.

    Parameters
    ----------
    spectral : SpectralModel
        Differential flux, cm-2 s-1 TeV-1 (integrated over the source).
    spatial : SpatialModel, optional
        Morphology, sr-1 (``None`` for a spectrum-only source, e.g. in 1D analyses).
    temporal : TemporalModel, optional
        Time variation (dimensionless norm).
    name : str
        Unique name of the source in a :class:`Models` collection.
    datasets_names : sequence of str, optional
        Datasets the source applies to (default: every dataset).
    """

    tag = "SkyModel"

    def __init__(
        self,
        spectral: SpectralModel,
        spatial: SpatialModel | None = None,
        temporal: TemporalModel | None = None,
        *,
        name: str = "source",
        datasets_names: Sequence[str] | None = None,
    ) -> None:
        if not isinstance(spectral, SpectralModel):
            raise ParameterError(f"SkyModel {name!r}: spectral must be a SpectralModel")
        if spatial is not None and not isinstance(spatial, SpatialModel):
            raise ParameterError(f"SkyModel {name!r}: spatial must be a SpatialModel or None")
        if temporal is not None and not isinstance(temporal, TemporalModel):
            raise ParameterError(f"SkyModel {name!r}: temporal must be a TemporalModel or None")
        self.name = str(name)
        self.datasets_names = None if datasets_names is None else tuple(datasets_names)
        self._components = {"spectral": spectral, "spatial": spatial, "temporal": temporal}

    @property
    def spectral(self) -> SpectralModel:
        """The spectral component."""
        return self._components["spectral"]  # type: ignore[return-value]

    @property
    def spatial(self) -> SpatialModel | None:
        """The spatial component (``None`` for spectrum-only sources)."""
        return self._components["spatial"]  # type: ignore[return-value]

    @property
    def temporal(self) -> TemporalModel | None:
        """The temporal component, if any."""
        return self._components["temporal"]  # type: ignore[return-value]

    def _rebuild(self, components: dict[str, Model | None]) -> SkyModel:
        return SkyModel(
            components["spectral"],  # type: ignore[arg-type]
            components["spatial"],  # type: ignore[arg-type]
            components["temporal"],  # type: ignore[arg-type]
            name=self.name,
            datasets_names=self.datasets_names,
        )

    def __repr__(self) -> str:
        parts = [f"{c}={m!r}" for c, m in self._components.items() if m is not None]
        return f"SkyModel(name={self.name!r}, {', '.join(parts)})"


class FoVBackgroundModel(_Composite):
    """Scales a dataset's background: ``norm * (E / reference) ** -tilt``.

    Parameters
    ----------
    dataset_name : str
        The dataset whose ``background`` it scales (its name is
        ``"<dataset_name>-bkg"``).
    spectral : SpectralModel, optional
        A norm-like spectral model; default a power-law norm with ``norm = 1``,
        ``tilt = 0`` (frozen), ``reference = 1 TeV``.
    """

    tag = "FoVBackgroundModel"

    def __init__(self, dataset_name: str, spectral: SpectralModel | None = None) -> None:
        spectral = PowerLawNormSpectralModel() if spectral is None else spectral
        if not getattr(spectral, "is_norm", False):
            raise ParameterError(
                f"FoVBackgroundModel {dataset_name!r}: the spectral model must be a norm model "
                f"(dimensionless), got {type(spectral).__name__}"
            )
        self.dataset_name = str(dataset_name)
        self.name = f"{self.dataset_name}-bkg"
        self.datasets_names = (self.dataset_name,)
        self._components = {"spectral": spectral}

    @property
    def spectral(self) -> SpectralModel:
        """The norm-like spectral model."""
        return self._components["spectral"]  # type: ignore[return-value]

    def _rebuild(self, components: dict[str, Model | None]) -> FoVBackgroundModel:
        return FoVBackgroundModel(self.dataset_name, components["spectral"])  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return f"FoVBackgroundModel(dataset_name={self.dataset_name!r}, {self.spectral!r})"


class Models(NamedItems[SkyModel | FoVBackgroundModel]):
    """An immutable, ordered collection of sky and background models with unique names."""

    item_kind = "model"

    def __init__(self, items: Iterable[SkyModel | FoVBackgroundModel] = ()) -> None:
        super().__init__(items)
        # built on first use (the collection never changes): see ``parameters`` and
        # ``with_parameters``
        self._parameters: Parameters | None = None
        self._owners: dict[str, tuple[str, str]] | None = None

    def __add__(self, other: Iterable[SkyModel | FoVBackgroundModel]) -> Models:
        others = other.values() if isinstance(other, Models) else other
        return Models([*self._items.values(), *others])

    def for_dataset(self, dataset_name: str) -> Models:
        """The models that apply to one dataset."""
        return Models(
            m for m in self._items.values()
            if m.datasets_names is None or dataset_name in m.datasets_names
        )  # fmt: skip

    @property
    def parameters(self) -> Parameters:
        """Every parameter, named ``"<model>.<component>.<name>"``."""
        if self._parameters is None:
            self._parameters = Parameters(
                p.with_name(f"{model.name}.{p.name}")
                for model in self._items.values()
                for p in model.parameters.values()
            )
        return self._parameters

    def _owner(self, key: str) -> tuple[str, str]:
        """``(model name, "<component>.<name>")`` of a full parameter name."""
        if self._owners is None:
            # model names may contain dots: the longest model name that prefixes the key
            by_length = sorted(self._items, key=len, reverse=True)
            owners = {}
            for key_ in self.parameters:
                model = next(n for n in by_length if key_.startswith(n + "."))
                owners[key_] = (model, key_[len(model) + 1 :])
            self._owners = owners
        return self._owners[key]

    def to_dataframe(self) -> pd.DataFrame:
        """Every parameter as a DataFrame row (see :meth:`Parameters.to_dataframe`)."""
        return self.parameters.to_dataframe()

    def with_parameters(self, **changes: Any) -> Models:
        """A copy with parameters changed by full name; changes follow links.

        Setting a parameter that has a ``link`` label sets every parameter with
        that label to the same value.
        """
        parameters = self.parameters
        unknown = sorted(set(changes) - set(parameters))
        if unknown:
            raise ParameterError(f"no parameters {unknown}; see Models.parameters")
        expanded = dict(changes)
        for key, value in changes.items():
            link = parameters[key].link
            if link and not isinstance(value, Parameter):
                for other in parameters.values():
                    if other.link == link:
                        expanded.setdefault(other.name, value)
        grouped: dict[str, dict[str, Any]] = {}
        for key, value in expanded.items():
            model, rest = self._owner(key)
            grouped.setdefault(model, {})[rest] = value
        return Models(
            m.with_parameters(**grouped[name]) if name in grouped else m
            for name, m in self._items.items()
        )

    def free_parameters(self) -> list[list[str]]:
        """Free parameters grouped by link: each group is one fit variable.

        Returns
        -------
        list of list of str
            Groups of full parameter names; unlinked parameters form groups of one.
        """
        groups: dict[str, list[str]] = {}
        for p in self.parameters.values():
            if p.frozen:
                continue
            key = f"link:{p.link}" if p.link else f"name:{p.name}"
            groups.setdefault(key, []).append(p.name)
        return list(groups.values())

    def with_values(self, names: Sequence[Sequence[str]], values: np.ndarray) -> Models:
        """A copy with one value per group of :meth:`free_parameters` set."""
        if len(names) != len(values):
            raise ParameterError(f"got {len(values)} values for {len(names)} parameter groups")
        changes = {
            name: float(value)
            for group, value in zip(names, values, strict=True)
            for name in group
        }
        return self.with_parameters(**changes)
