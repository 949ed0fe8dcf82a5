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
Gauss-Legendre rule in :math:`\ln E`. Every bin is first cut at the model's
:attr:`SpectralModel.breakpoints` (table nodes, break energies), then each
piece is split into ``n_sub`` equal parts in :math:`\ln E` with ``n_nodes``
nodes each (defaults 4 x 12: 48 evaluations per piece, all bins at once).
Measured against adaptive quadrature (``scipy.integrate.quad``, see the
tests), the relative error is at the 1e-15 level on bins up to a decade wide
for the smooth built-in models, and below 1e-9 on bins up to four decades
(worst cases: 1e-10 for a sharp :math:`\exp(-E^2)` cutoff and for 4FGL-DR3,
3e-9 for a smoothly broken power law with :math:`\beta = 0.1`). Thanks to the
cuts, products with piecewise norms, templates or EBL tables keep the same
accuracy (without them, their kinks would limit it to 1e-5..1e-3).
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
_PIECE_DIM = "_spectral_piece"
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


def aux_axis(values: np.ndarray, *like: Any, dim: str = _AUX_DIM, inner: int = 0) -> Any:
    """``values`` on a new leading axis that broadcasts against ``like``.

    For xarray inputs the axis is the private dim ``dim``; for numpy and dask
    it is a leading axis, followed by ``inner`` length-1 axes (room for
    further auxiliary axes) and then the axes of ``like``. :func:`sum_aux`
    reduces such axes.
    """
    if _is_xarray(*like):
        return xr.DataArray(values, dims=dim)
    ndim = max((np.ndim(x) for x in like), default=0)
    return np.asarray(values).reshape((-1,) + (1,) * (inner + ndim))


def sum_aux(values: Any, dims: tuple[str, ...] = (_AUX_DIM,)) -> Any:
    """Sum over the auxiliary axes added by :func:`aux_axis` (NaN propagates)."""
    if isinstance(values, xr.DataArray):
        return values.sum(list(dims), skipna=False)
    return values.sum(axis=tuple(range(len(dims))))


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


def _inner_breakpoints(breakpoints: Any, energy_min: Any, energy_max: Any) -> np.ndarray:
    """Sorted positive breakpoints; for in-memory edges only those inside their range."""
    points = np.unique(np.asarray(breakpoints, dtype=float).ravel())
    points = points[np.isfinite(points) & (points > 0)]
    if (
        points.size == 0
        or dask.is_dask_collection(energy_min)
        or dask.is_dask_collection(energy_max)
    ):
        return points
    with np.errstate(invalid="ignore"):
        low = np.nanmin(np.minimum(energy_min, energy_max))
        high = np.nanmax(np.maximum(energy_min, energy_max))
    return points[(points > low) & (points < high)]


def integrate_spectrum(
    func: Callable[[Any], Any],
    energy_min: ArrayLike,
    energy_max: ArrayLike,
    *,
    energy_power: int = 0,
    breakpoints: Any = (),
    n_sub: int = N_SUB,
    n_nodes: int = N_NODES,
) -> Any:
    r"""Integrate ``func(E) * E**energy_power`` over energy bins, vectorised.

    Uses a composite Gauss-Legendre rule in :math:`u = \ln E`:
    :math:`\int f(E) E^p\,dE = \int f(e^u) e^{(p+1)u}\,du`. Each bin is first
    cut at the ``breakpoints`` inside it (energies where ``func`` has a kink
    or a sharp feature: table nodes, a break energy), then every piece is split
    into ``n_sub`` equal parts in :math:`u` with ``n_nodes`` Gauss-Legendre
    nodes each. All bins and pieces are evaluated in one call of ``func`` on
    an array with extra leading axes (numpy, dask) or extra private dims
    (xarray), so ``func`` must broadcast. Cost: ``(n_breakpoints + 1) *
    n_sub * n_nodes`` evaluations per bin; with in-memory edges only the
    breakpoints inside the overall range of the bins count.

    Parameters
    ----------
    func : callable
        ``func(energy)`` with energy in TeV; returns the spectrum (e.g. dnde in
        ``cm-2 s-1 TeV-1``).
    energy_min, energy_max : float, array, DataArray or dask array
        Bin edges, in TeV (positive). Reversed bins give the negative.
    energy_power : int, optional
        Integrate ``func(E) * E**energy_power`` (0: flux, 1: energy flux).
    breakpoints : sequence of float, optional
        Energies (TeV) at which to cut the bins.
    n_sub, n_nodes : int, optional
        Sub-intervals per piece and Gauss-Legendre nodes per sub-interval.

    Returns
    -------
    float, array, DataArray or dask array
        The integrals, with the broadcast shape of the edges; in the unit of
        ``func`` times ``TeV**(1 + energy_power)``.

    Examples
    --------
    >>> import numpy as np
    >>> from gammaxr.models.spectral import integrate_spectrum
    >>> edges = np.array([1.0, 10.0, 100.0])
    >>> integrate_spectrum(lambda e: e**-2, edges[:-1], edges[1:]).round(12)
    array([0.9 , 0.09])
    """
    if n_sub < 1 or n_nodes < 1:
        raise SpectralModelError(f"n_sub and n_nodes must be >= 1, got {n_sub}, {n_nodes}")
    nodes, weights = _composite_gauss_legendre(int(n_sub), int(n_nodes))
    like = (energy_min, energy_max)
    log_a, log_b = log(energy_min), log(energy_max)
    log_lo, log_hi = np.minimum(log_a, log_b), np.maximum(log_a, log_b)
    sign = where(log_b < log_a, -1.0, 1.0)
    cuts = np.log(_inner_breakpoints(breakpoints, energy_min, energy_max))
    # piece j spans [cut_{j-1}, cut_j] clipped to the bin (cut_{-1} = -inf, cut_m = +inf)
    starts = aux_axis(np.concatenate([[-np.inf], cuts]), *like, dim=_PIECE_DIM, inner=1)
    ends = aux_axis(np.concatenate([cuts, [np.inf]]), *like, dim=_PIECE_DIM, inner=1)
    piece_lo = np.minimum(np.maximum(starts, log_lo), log_hi)
    piece_width = np.minimum(np.maximum(ends, log_lo), log_hi) - piece_lo
    t = aux_axis(nodes, *like)
    w = aux_axis(weights, *like)
    energy = np.exp(piece_lo + piece_width * t)
    values = func(energy) * energy ** (1 + energy_power)
    return sign * sum_aux(piece_width * w * values, dims=(_PIECE_DIM, _AUX_DIM))


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
    def breakpoints(self) -> tuple[float, ...]:
        """Energies (TeV) of kinks or sharp features; numerical integrals cut bins there."""
        return ()

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
            self._evaluate,
            energy_min,
            energy_max,
            energy_power=energy_power,
            breakpoints=self.breakpoints,
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

    @property
    def breakpoints(self) -> tuple[float, ...]:
        """The operands' breakpoints, merged."""
        return tuple(sorted(set(self.model1.breakpoints) | set(self.model2.breakpoints)))

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
                self._evaluate,
                energy_min,
                energy_max,
                energy_power=energy_power,
                breakpoints=self.breakpoints,
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

    @property
    def breakpoints(self) -> tuple[float, ...]:
        """The wrapped model's breakpoints."""
        return self.model.breakpoints

    def evaluate(self, energy: ArrayLike, norm: float) -> Any:
        """Evaluate: ``norm`` times the wrapped model at its current parameters."""
        return norm * self.model._evaluate(energy)

    def _integral(self, energy_min: Any, energy_max: Any, energy_power: int) -> Any:
        norm = self.parameters["norm"].value
        return norm * self.model._integral(energy_min, energy_max, energy_power)

    def _extra_state(self) -> Mapping[str, Any]:
        return {"model": self.model}
