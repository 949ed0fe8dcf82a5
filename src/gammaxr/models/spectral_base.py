r"""Spectral model base: array dispatch, integration over energy bins, composition.

Conventions
-----------
Energies are in TeV, differential fluxes (``dnde``) in ``cm-2 s-1 TeV-1``,
integral fluxes in ``cm-2 s-1`` and energy fluxes in ``TeV cm-2 s-1``. Norm
models (absorption, piecewise norms, ...) are dimensionless; their "integral"
is then in TeV. Inputs may be Python floats, numpy arrays, ``xarray.DataArray``
(dims and coordinates are kept, ``attrs["units"]`` is honoured and set on the
output) or dask arrays (the result stays lazy); they broadcast as numpy does.

Integration
-----------
:meth:`SpectralModel.integral` and :meth:`SpectralModel.energy_flux` use the
closed form of a model (``evaluate_integral`` / ``evaluate_energy_flux``)
where there is one, and otherwise :func:`integrate_spectrum`: a composite
Gauss-Legendre rule in :math:`\ln E`, with every bin split into ``n_sub``
equal parts in :math:`\ln E` and ``n_nodes`` nodes in each (defaults 4 x 12,
48 evaluations per bin, all bins at once). For the smooth models of this
package the relative error is below 1e-9 for bins up to one decade wide and
below 1e-6 for bins of four decades (the worst case tested: a sharp
super-exponential cutoff or a sharply smoothed broken power law). Integrands
with kinks (tabulated absorption, products with piecewise models) converge
more slowly, as :math:`h^2` in the sub-interval width; still typically better
than 1e-6 on analysis-sized bins.
"""

from __future__ import annotations

import operator as _operator
from collections.abc import Callable, Mapping
from dataclasses import replace
from functools import cache
from typing import TYPE_CHECKING, Any, ClassVar

import astropy.units as u
import dask
import dask.array as da
import numpy as np
import xarray as xr

from gammaxr.conventions import parse_unit, require_units
from gammaxr.exceptions import GammaxrError, UnitError
from gammaxr.models.core import Model, register_model
from gammaxr.models.parameters import Parameter, Parameters

if TYPE_CHECKING:
    from typing import TypeAlias

    ArrayLike: TypeAlias = float | np.ndarray | xr.DataArray | da.Array

__all__ = [
    "DNDE_UNIT",
    "EFLUX_UNIT",
    "FLUX_UNIT",
    "CompoundSpectralModel",
    "ConstantSpectralModel",
    "ScaleSpectralModel",
    "SpectralModel",
    "SpectralModelError",
    "SpectralModelTypeError",
    "integrate_spectrum",
]

#: Unit of a differential flux.
DNDE_UNIT = "cm-2 s-1 TeV-1"
#: Unit of an integral flux.
FLUX_UNIT = "cm-2 s-1"
#: Unit of an energy flux.
EFLUX_UNIT = "TeV cm-2 s-1"

#: Default composite Gauss-Legendre rule: sub-intervals per bin, nodes per sub-interval.
N_SUB = 4
N_NODES = 12

_AUX_DIM = "_spectral_aux"
_KNOWN_UNITS = {DNDE_UNIT: (FLUX_UNIT, EFLUX_UNIT), "": ("TeV", "TeV2")}


class SpectralModelError(GammaxrError, ValueError):
    """An invalid spectral model definition: energy nodes, tables, interpolation, operator."""


class SpectralModelTypeError(GammaxrError, TypeError):
    """An object that is not a spectral model where one is needed (composition)."""


# --------------------------------------------------------------------------------------
# array helpers: the same code on numpy, xarray and dask


def _is_xarray(*args: Any) -> bool:
    return any(isinstance(a, xr.DataArray | xr.Variable) for a in args)


def where(cond: Any, x: Any, y: Any) -> Any:
    """``np.where`` that keeps xarray objects (and dask laziness)."""
    if _is_xarray(cond, x, y):
        return xr.where(cond, x, y)
    return np.where(cond, x, y)


def zeros_like(x: Any) -> Any:
    """Float zeros shaped like ``x`` (numpy, xarray or dask)."""
    if _is_xarray(x):
        return xr.zeros_like(x, dtype=float)
    return np.zeros_like(x, dtype=float)


def apply_elementwise(kernel: Callable[..., np.ndarray], *args: Any) -> Any:
    """Apply an element-wise numpy ``kernel`` to numpy, xarray or dask arguments.

    The kernel gets numpy arrays that broadcast against each other and returns
    a float array of their broadcast shape. xarray arguments go through
    :func:`xarray.apply_ufunc` (dims kept, dask-backed data stays lazy), dask
    arrays through :func:`dask.array.apply_gufunc`.
    """
    if _is_xarray(*args):
        return xr.apply_ufunc(kernel, *args, dask="parallelized", output_dtypes=[float])
    if any(dask.is_dask_collection(a) for a in args):
        signature = ",".join(["()"] * len(args)) + "->()"
        return da.apply_gufunc(kernel, signature, *args, output_dtypes=float)
    return kernel(*(np.asarray(a, dtype=float) for a in args))


def aux_axis(values: np.ndarray, *like: Any) -> Any:
    """``values`` on a new leading axis that broadcasts against ``like``.

    For xarray inputs the axis is a private dim; for numpy and dask it is
    axis 0. :func:`sum_aux` reduces it.
    """
    if _is_xarray(*like):
        return xr.DataArray(values, dims=_AUX_DIM)
    ndim = max((np.ndim(x) for x in like), default=0)
    return np.asarray(values).reshape((-1,) + (1,) * ndim)


def sum_aux(values: Any) -> Any:
    """Sum over the axis added by :func:`aux_axis` (NaN propagates)."""
    if isinstance(values, xr.DataArray):
        return values.sum(_AUX_DIM, skipna=False)
    return values.sum(axis=0)


def exp_integral(u_lo: Any, u_hi: Any, k: Any) -> Any:
    r"""The integral :math:`\int_{u_{lo}}^{u_{hi}} e^{k u}\,du`, numerically stable.

    Exact for :math:`k = 0` (gives :math:`u_{hi} - u_{lo}`), accurate for
    :math:`k \to 0` (``expm1``), anchored at the end where the integrand is
    largest so that infinite bounds (``E = 0`` or ``E = inf``) of a convergent
    integral give finite results. Signed: reversed bounds give the negative.
    """
    d = u_hi - u_lo
    positive = k > 0
    anchor = where(positive, u_hi, u_lo)
    sign = where(positive, -1.0, 1.0)
    k_safe = where(k == 0, 1.0, k)
    ratio = where(k == 0, d, sign * np.expm1(sign * k * d) / k_safe)
    return np.exp(k * anchor) * ratio


def log(x: Any) -> Any:
    """Natural log; ``log(0) = -inf`` without a warning (open-ended integration bounds)."""
    with np.errstate(divide="ignore"):
        return np.log(x)


def as_energy(energy: Any, what: str = "energy") -> Any:
    """An energy input in TeV: floats, arrays, DataArrays (``attrs["units"]``) or Quantities."""
    if isinstance(energy, u.Quantity):
        try:
            return energy.to_value(u.TeV)
        except u.UnitConversionError as err:
            raise UnitError(f"{what}: unit {energy.unit} is not an energy") from err
    if isinstance(energy, xr.DataArray):
        if energy.attrs.get("units"):
            return require_units(energy, "TeV", what=what)
        return energy
    if isinstance(energy, list | tuple):
        return np.asarray(energy, dtype=float)
    return energy


def with_units(values: Any, unit: str, name: str) -> Any:
    """Name an xarray result and set its ``attrs["units"]`` (a shallow copy); others pass."""
    if isinstance(values, xr.DataArray):
        values = values.copy(deep=False)
        values.name = name
        values.attrs = {"units": unit}
    return values


@cache
def _unit_times_energy(unit: str, power: int) -> str:
    if unit in _KNOWN_UNITS:
        return _KNOWN_UNITS[unit][power - 1]
    return (parse_unit(unit) * u.TeV**power).to_string("fits")


@cache
def _composite_gauss_legendre(n_sub: int, n_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes in [0, 1] and weights (summing to 1) of a composite Gauss-Legendre rule."""
    x, w = np.polynomial.legendre.leggauss(n_nodes)
    nodes = ((np.arange(n_sub)[:, None] + 0.5 * (x[None, :] + 1.0)) / n_sub).ravel()
    weights = np.tile(w, n_sub) / (2.0 * n_sub)
    return nodes, weights


def integrate_spectrum(
    func: Callable[[Any], Any],
    energy_min: ArrayLike,
    energy_max: ArrayLike,
    *,
    energy_power: int = 0,
    n_sub: int = N_SUB,
    n_nodes: int = N_NODES,
) -> Any:
    r"""Integrate ``func(E) * E**energy_power`` over energy bins, vectorised.

    Uses a composite Gauss-Legendre rule in :math:`u = \ln E`:
    :math:`\int f(E) E^p\,dE = \int f(e^u) e^{(p+1)u}\,du`, each bin split
    into ``n_sub`` equal parts in :math:`u` with ``n_nodes`` nodes each. All
    bins are evaluated in one call of ``func`` on an array with one extra
    leading axis (numpy, dask) or one extra private dim (xarray), so ``func``
    must broadcast.

    Parameters
    ----------
    func : callable
        ``func(energy)`` with energy in TeV; returns the spectrum (e.g. dnde in
        ``cm-2 s-1 TeV-1``).
    energy_min, energy_max : float, array, DataArray or dask array
        Bin edges, in TeV (positive).
    energy_power : int, optional
        Integrate ``func(E) * E**energy_power`` (0: flux, 1: energy flux).
    n_sub, n_nodes : int, optional
        Sub-intervals per bin and Gauss-Legendre nodes per sub-interval.

    Returns
    -------
    float, array, DataArray or dask array
        The integrals, with the broadcast shape of the edges; in the unit of
        ``func`` times ``TeV**(1 + energy_power)``.

    Examples
    --------
    >>> import numpy as np
    >>> from gammaxr.models.spectral import integrate_spectrum
    >>> float(integrate_spectrum(lambda e: e**-2, 1.0, 10.0))  # doctest: +ELLIPSIS
    0.9000000...
    """
    if n_sub < 1 or n_nodes < 1:
        raise SpectralModelError(f"n_sub and n_nodes must be >= 1, got {n_sub}, {n_nodes}")
    nodes, weights = _composite_gauss_legendre(int(n_sub), int(n_nodes))
    log_min = np.log(energy_min)
    log_width = np.log(energy_max) - log_min
    t = aux_axis(nodes, energy_min, energy_max)
    w = aux_axis(weights, energy_min, energy_max)
    energy = np.exp(log_min + log_width * t)
    values = func(energy) * energy ** (1 + energy_power)
    return log_width * sum_aux(values * w)


# --------------------------------------------------------------------------------------
# base class


class SpectralModel(Model):
    """Base class of spectral models: ``dnde(E)``, integrals over bins, ``+``, ``-``, ``*``.

    Subclasses declare :attr:`parameter_defaults` and a pure ``evaluate(energy,
    **parameters)`` taking energies in TeV and parameters in their canonical
    units (static, unless the model holds fixed state such as nodes or a
    table: then it is an instance method that depends only on its arguments
    and that state). Where a closed form exists they add
    ``evaluate_integral(energy_min, energy_max, **parameters)`` and
    ``evaluate_energy_flux(...)``; otherwise :func:`integrate_spectrum` is used.
    """

    #: Unit of ``evaluate`` (differential flux; ``""`` for norm models).
    _dnde_unit: ClassVar[str] = DNDE_UNIT

    @property
    def dnde_unit(self) -> str:
        """Unit of the model values: ``cm-2 s-1 TeV-1``, or ``""`` for a norm model."""
        return self._dnde_unit

    @property
    def is_norm(self) -> bool:
        """Whether the model is a dimensionless norm (a factor in a product)."""
        return self.dnde_unit == ""

    @property
    def flux_unit(self) -> str:
        """Unit of :meth:`integral`."""
        return _unit_times_energy(self.dnde_unit, 1)

    @property
    def energy_flux_unit(self) -> str:
        """Unit of :meth:`energy_flux`."""
        return _unit_times_energy(self.dnde_unit, 2)

    # evaluation ---------------------------------------------------------------------

    def __call__(self, energy: ArrayLike) -> Any:
        """Evaluate the model at ``energy`` (TeV) with the current parameter values.

        Parameters
        ----------
        energy : float, array, DataArray, dask array or Quantity
            Energies, in TeV (a DataArray's ``attrs["units"]`` or a Quantity's
            unit is converted).

        Returns
        -------
        float, array, DataArray or dask array
            Model values in :attr:`dnde_unit`, same shape or dims as ``energy``
            (a DataArray is named ``"dnde"``, or ``"norm"`` for a norm model,
            with ``attrs["units"]``).
        """
        name = "norm" if self.is_norm else "dnde"
        return with_units(self._evaluate(as_energy(energy)), self.dnde_unit, name)

    def _evaluate(self, energy: Any) -> Any:
        return self.evaluate(energy, **self.parameter_values())  # type: ignore[attr-defined]

    def integral(self, energy_min: ArrayLike, energy_max: ArrayLike) -> Any:
        r"""Integral flux :math:`\int_{E_{min}}^{E_{max}} \phi(E)\,dE` over bins.

        Parameters
        ----------
        energy_min, energy_max : float, array, DataArray, dask array or Quantity
            Bin edges, in TeV; they broadcast against each other.

        Returns
        -------
        float, array, DataArray or dask array
            Integral flux in :attr:`flux_unit` (``cm-2 s-1``); a DataArray is
            named ``"flux"``.
        """
        emin = as_energy(energy_min, "energy_min")
        emax = as_energy(energy_max, "energy_max")
        return with_units(self._integral(emin, emax, 0), self.flux_unit, "flux")

    def energy_flux(self, energy_min: ArrayLike, energy_max: ArrayLike) -> Any:
        r"""Energy flux :math:`\int_{E_{min}}^{E_{max}} E\,\phi(E)\,dE` over bins.

        Parameters
        ----------
        energy_min, energy_max : float, array, DataArray, dask array or Quantity
            Bin edges, in TeV; they broadcast against each other.

        Returns
        -------
        float, array, DataArray or dask array
            Energy flux in :attr:`energy_flux_unit` (``TeV cm-2 s-1``); a
            DataArray is named ``"eflux"``.
        """
        emin = as_energy(energy_min, "energy_min")
        emax = as_energy(energy_max, "energy_max")
        return with_units(self._integral(emin, emax, 1), self.energy_flux_unit, "eflux")

    def _integral(self, energy_min: Any, energy_max: Any, energy_power: int) -> Any:
        """Integral of ``dnde * E**energy_power`` (0 or 1), without units."""
        name = "evaluate_integral" if energy_power == 0 else "evaluate_energy_flux"
        analytic = getattr(self, name, None)
        if analytic is not None:
            return analytic(energy_min, energy_max, **self.parameter_values())
        return integrate_spectrum(
            self._evaluate, energy_min, energy_max, energy_power=energy_power
        )

    # composition --------------------------------------------------------------------

    def __add__(self, other: object) -> CompoundSpectralModel:
        if not isinstance(other, SpectralModel | int | float):
            return NotImplemented
        return CompoundSpectralModel(self, _as_spectral_model(other), "add")

    def __radd__(self, other: object) -> CompoundSpectralModel:
        if not isinstance(other, int | float):
            return NotImplemented
        return CompoundSpectralModel(_as_spectral_model(other), self, "add")

    def __sub__(self, other: object) -> CompoundSpectralModel:
        if not isinstance(other, SpectralModel | int | float):
            return NotImplemented
        return CompoundSpectralModel(self, _as_spectral_model(other), "sub")

    def __rsub__(self, other: object) -> CompoundSpectralModel:
        if not isinstance(other, int | float):
            return NotImplemented
        return CompoundSpectralModel(_as_spectral_model(other), self, "sub")

    def __mul__(self, other: object) -> CompoundSpectralModel:
        if not isinstance(other, SpectralModel):
            return NotImplemented
        return CompoundSpectralModel(self, other, "mul")


def _as_spectral_model(value: SpectralModel | float) -> SpectralModel:
    if isinstance(value, SpectralModel):
        return value
    return ConstantSpectralModel(const=float(value))


# --------------------------------------------------------------------------------------
# simple models that composition needs


@register_model("spectral")
class ConstantSpectralModel(SpectralModel):
    r"""Constant differential flux: :math:`\phi(E) = k`.

    Parameters
    ----------
    const : float
        :math:`k`, in ``cm-2 s-1 TeV-1``. Default 1e-12.
    """

    tags = ("ConstantSpectralModel", "const")
    parameter_defaults = (Parameter("const", 1e-12, DNDE_UNIT, scale=1e-12),)

    @staticmethod
    def evaluate(energy: ArrayLike, const: float) -> Any:
        """Evaluate the model (static function; energy in TeV)."""
        return zeros_like(energy) + const

    @staticmethod
    def evaluate_integral(energy_min: ArrayLike, energy_max: ArrayLike, const: float) -> Any:
        r"""Integral flux: :math:`k (E_{max} - E_{min})`."""
        return const * (energy_max - energy_min)

    @staticmethod
    def evaluate_energy_flux(energy_min: ArrayLike, energy_max: ArrayLike, const: float) -> Any:
        r"""Energy flux: :math:`k (E_{max}^2 - E_{min}^2) / 2`."""
        return 0.5 * const * (energy_max**2 - energy_min**2)


_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "add": _operator.add,
    "sub": _operator.sub,
    "mul": _operator.mul,
}
_SYMBOLS = {"add": "+", "sub": "-", "mul": "*"}


@register_model("spectral")
class CompoundSpectralModel(SpectralModel):
    """Two spectral models combined by ``+``, ``-`` or ``*``.

    Usually made with the operators: ``pl + lp``, ``pl * ebl``.

    Parameters
    ----------
    model1, model2 : SpectralModel
        The operands.
    operator : {"add", "sub", "mul"} or the matching function of :mod:`operator`
        How they combine (the names of Gammapy's YAML ``operator`` field).

    Notes
    -----
    **Parameter names.** The compound's parameters are those of ``model1``
    then ``model2``, renamed ``"model1.<name>"`` and ``"model2.<name>"``
    (nested compounds nest the prefix: ``"model1.model2.index"``), the names
    Gammapy uses as ``parameters_unique_names``. Change them with
    ``compound.with_parameters(**{"model1.index": 2.5})``; the operands are
    rebuilt, never changed. Links (``Parameter.link``) are kept, so a
    parameter shared by both operands can still be tied in a fit.

    **Units.** ``+`` and ``-`` need operands of the same :attr:`dnde_unit`;
    ``*`` multiplies the units (a flux model times a norm model is a flux).

    **Integrals.** For ``+`` and ``-`` the integral is the sum or difference of
    the operands' integrals (closed forms kept); for ``*`` it is numerical
    (:func:`integrate_spectrum`).
    """

    tags = ("CompoundSpectralModel", "compound")

    def __init__(
        self,
        model1: SpectralModel,
        model2: SpectralModel,
        operator: str | Callable[[Any, Any], Any] = "add",
    ) -> None:
        for name, model in (("model1", model1), ("model2", model2)):
            if not isinstance(model, SpectralModel):
                raise SpectralModelTypeError(
                    f"CompoundSpectralModel: {name} must be a SpectralModel, "
                    f"got {type(model).__name__}"
                )
        if callable(operator):
            names = [k for k, v in _OPERATORS.items() if v is operator]
            if not names:
                raise SpectralModelError(
                    f"CompoundSpectralModel: operator {operator!r} is not one of "
                    f"{list(_OPERATORS)}"
                )
            operator = names[0]
        if operator not in _OPERATORS:
            raise SpectralModelError(
                f"CompoundSpectralModel: operator {operator!r} is not one of {list(_OPERATORS)}"
            )
        if operator in ("add", "sub") and parse_unit(model1.dnde_unit) != parse_unit(
            model2.dnde_unit
        ):
            raise UnitError(
                f"cannot {operator} spectral models with units {model1.dnde_unit!r} and "
                f"{model2.dnde_unit!r}"
            )
        self.model1 = model1
        self.model2 = model2
        self.operator = operator
        self._parameters = Parameters(
            [replace(p, name=f"model1.{p.name}") for p in model1.parameters.values()]
            + [replace(p, name=f"model2.{p.name}") for p in model2.parameters.values()]
        )

    @property
    def dnde_unit(self) -> str:
        """Unit of the model values (the operands' unit, or their product for ``*``)."""
        unit1, unit2 = self.model1.dnde_unit, self.model2.dnde_unit
        if self.operator != "mul" or unit2 == "":
            return unit1
        if unit1 == "":
            return unit2
        return (parse_unit(unit1) * parse_unit(unit2)).to_string("fits")

    def _split(self, values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        first: dict[str, Any] = {}
        second: dict[str, Any] = {}
        for name, value in values.items():
            prefix, _, rest = name.partition(".")
            if prefix == "model1":
                first[rest] = value
            elif prefix == "model2":
                second[rest] = value
            else:
                raise SpectralModelError(
                    f"CompoundSpectralModel: parameter {name!r} is not prefixed "
                    "'model1.' or 'model2.'"
                )
        return first, second

    def evaluate(self, energy: ArrayLike, **parameters: Any) -> Any:
        """Evaluate both operands and combine them (parameters by prefixed name)."""
        first, second = self._split(parameters)
        value1 = self.model1.evaluate(energy, **first)  # type: ignore[attr-defined]
        value2 = self.model2.evaluate(energy, **second)  # type: ignore[attr-defined]
        return _OPERATORS[self.operator](value1, value2)

    def _integral(self, energy_min: Any, energy_max: Any, energy_power: int) -> Any:
        if self.operator == "mul":
            return integrate_spectrum(
                self._evaluate, energy_min, energy_max, energy_power=energy_power
            )
        value1 = self.model1._integral(energy_min, energy_max, energy_power)
        value2 = self.model2._integral(energy_min, energy_max, energy_power)
        return _OPERATORS[self.operator](value1, value2)

    def _replace_parameters(self, parameters: Parameters) -> CompoundSpectralModel:
        items = list(parameters.values())
        n1 = len(self.model1.parameters)
        names1, names2 = list(self.model1.parameters), list(self.model2.parameters)
        first = Parameters(replace(p, name=n) for p, n in zip(items[:n1], names1, strict=True))
        second = Parameters(replace(p, name=n) for p, n in zip(items[n1:], names2, strict=True))
        return CompoundSpectralModel(
            self.model1._replace_parameters(first),  # type: ignore[arg-type]
            self.model2._replace_parameters(second),  # type: ignore[arg-type]
            self.operator,
        )

    def _extra_state(self) -> Mapping[str, Any]:
        return {"model1": self.model1, "model2": self.model2, "operator": self.operator}

    def __repr__(self) -> str:
        return f"({self.model1!r} {_SYMBOLS[self.operator]} {self.model2!r})"


@register_model("spectral")
class ScaleSpectralModel(SpectralModel):
    r"""Another spectral model times a free norm: :math:`\phi(E) = N\,\phi_{model}(E)`.

    The wrapped model is fixed state (its parameters are not parameters of the
    wrapper), as in Gammapy: this is how a reference spectrum is rescaled, for
    example in flux-point estimation.

    Parameters
    ----------
    model : SpectralModel
        The model to scale.
    norm : float
        :math:`N`, dimensionless. Default 1.
    """

    tags = ("ScaleSpectralModel", "scale")
    parameter_defaults = (Parameter("norm", 1.0),)

    def __init__(self, model: SpectralModel, **values: float | u.Quantity | Parameter) -> None:
        if not isinstance(model, SpectralModel):
            raise SpectralModelTypeError(
                f"ScaleSpectralModel: model must be a SpectralModel, got {type(model).__name__}"
            )
        super().__init__(**values)
        self.model = model

    @property
    def dnde_unit(self) -> str:
        """Unit of the wrapped model."""
        return self.model.dnde_unit

    def evaluate(self, energy: ArrayLike, norm: float) -> Any:
        """Evaluate: ``norm`` times the wrapped model at its current parameters."""
        return norm * self.model._evaluate(energy)

    def _integral(self, energy_min: Any, energy_max: Any, energy_power: int) -> Any:
        norm = self.parameters["norm"].value
        return norm * self.model._integral(energy_min, energy_max, energy_power)

    def _extra_state(self) -> Mapping[str, Any]:
        return {"model": self.model}
