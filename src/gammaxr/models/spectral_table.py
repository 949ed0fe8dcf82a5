"""Tabulated spectral models: piecewise norms, templates and EBL absorption.

The node energies and tables are fixed model state, not parameters (they
enter :meth:`~gammaxr.models.Model._extra_state`, so they count for equality).
Interpolation follows Gammapy 2.1:

- :class:`PiecewiseNormSpectralModel`: linear in (log E, log norm) between the
  nodes, constant beyond the end nodes (``interp="lin"``: linear in E and norm);
- :class:`TemplateSpectralModel`: linear in (log E, log value), extrapolated
  as power laws beyond the end nodes;
- :class:`EBLAbsorptionNormSpectralModel`: the optical depth bilinear in
  (redshift, log E), extrapolated linearly in log E.

Between nodes the first two are power laws (or straight lines), so their
integrals are exact closed forms, summed over the segments a bin overlaps.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

import astropy.units as u
import numpy as np
import xarray as xr
from astropy.io import fits

from gammaxr.conventions import parse_unit
from gammaxr.exceptions import ColumnError, DataFileError, FormatError, MissingHDUError, UnitError
from gammaxr.models.core import register_model
from gammaxr.models.parameters import Parameter, Parameters
from gammaxr.models.spectral_base import (
    DNDE_UNIT,
    SpectralModel,
    SpectralModelError,
    apply_elementwise,
    aux_axis,
    exp_integral,
    log,
    sum_aux,
)

if TYPE_CHECKING:
    from gammaxr.models.spectral_base import ArrayLike

__all__ = [
    "EBLAbsorptionNormSpectralModel",
    "PiecewiseNormSpectralModel",
    "TemplateSpectralModel",
    "read_ebl_table",
]

_TINY = np.finfo(float).tiny


def _energy_nodes(energy: Any, *, what: str, min_size: int = 1) -> np.ndarray:
    """Node energies as a float array in TeV: 1-D, positive, finite, strictly increasing."""
    if isinstance(energy, u.Quantity):
        try:
            energy = energy.to_value(u.TeV)
        except u.UnitConversionError as err:
            raise UnitError(f"{what}: unit {energy.unit} is not an energy") from err
    elif isinstance(energy, xr.DataArray):
        factor = parse_unit(energy.attrs.get("units") or "TeV").to(u.TeV)
        energy = energy.to_numpy() * factor
    values = np.array(energy, dtype=float)
    if values.ndim != 1 or values.size < min_size:
        raise SpectralModelError(
            f"{what}: need a 1-D array of at least {min_size} energies, got shape {values.shape}"
        )
    if not (np.all(np.isfinite(values)) and np.all(values > 0)):
        raise SpectralModelError(f"{what}: energies must be positive and finite")
    if np.any(np.diff(values) <= 0):
        raise SpectralModelError(f"{what}: energies must be strictly increasing")
    return values


# --------------------------------------------------------------------------------------
# piecewise power laws in log-log: the shared kernel and its integral


def _loglog_segments(
    energy: np.ndarray, values: np.ndarray, *, extrapolate: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nodes (log E, log value) and the slopes of the n + 1 segments of a log-log polyline.

    Segment 0 lies below the first node, segment j (1 <= j < n) between nodes
    j - 1 and j, segment n above the last node. The outer slopes are those of
    the end segments when ``extrapolate`` (power-law extrapolation), else 0.
    """
    log_e = np.log(energy)
    log_v = np.log(np.clip(values, _TINY, None))
    inner = np.diff(log_v) / np.diff(log_e)
    outer = (inner[0], inner[-1]) if extrapolate and inner.size else (0.0, 0.0)
    slopes = np.concatenate([[outer[0]], inner, [outer[1]]])
    return log_e, log_v, slopes


def _loglog_kernel(
    energy: np.ndarray, log_e: np.ndarray, log_v: np.ndarray, slopes: np.ndarray
) -> np.ndarray:
    """Evaluate a log-log polyline at ``energy`` (numpy)."""
    log_energy = np.log(energy)
    segment = np.searchsorted(log_e, log_energy, side="right")
    anchor = np.maximum(segment - 1, 0)
    return np.exp(log_v[anchor] + slopes[segment] * (log_energy - log_e[anchor]))


def _loglog_integral(
    energy_min: Any,
    energy_max: Any,
    log_e: np.ndarray,
    log_v: np.ndarray,
    slopes: np.ndarray,
    energy_power: int,
) -> Any:
    r"""Exact :math:`\int f(E) E^p dE` of a log-log polyline over bins (vectorised).

    On segment j, :math:`f = e^{v_a + s (u - u_a)}` with :math:`u = \ln E`, so
    the integrand in :math:`u` is :math:`e^{v_a + (p+1) u_a} e^{(s + p + 1)(u - u_a)}`.
    """
    n = log_e.size
    anchor = np.maximum(np.arange(n + 1) - 1, 0)
    left = np.concatenate([[-np.inf], log_e])
    right = np.concatenate([log_e, [np.inf]])
    like = (energy_min, energy_max)
    u_a = aux_axis(log_e[anchor], *like)
    prefactor = aux_axis(np.exp(log_v[anchor] + (energy_power + 1) * log_e[anchor]), *like)
    k = aux_axis(slopes + energy_power + 1, *like)
    left_ = aux_axis(left, *like)
    right_ = aux_axis(right, *like)
    u_lo = np.minimum(np.maximum(log(energy_min), left_), right_)
    u_hi = np.minimum(np.maximum(log(energy_max), left_), right_)
    return sum_aux(prefactor * exp_integral(u_lo - u_a, u_hi - u_a, k))


def _linear_kernel(energy: np.ndarray, nodes: np.ndarray, values: np.ndarray) -> np.ndarray:
    return np.interp(energy, nodes, values)


def _linear_integral(
    energy_min: Any, energy_max: Any, nodes: np.ndarray, values: np.ndarray, energy_power: int
) -> Any:
    """Exact integral of ``np.interp(E, nodes, values) * E**p`` over bins (vectorised)."""
    slope_inner = np.diff(values) / np.diff(nodes)
    slope = np.concatenate([[0.0], slope_inner, [0.0]])
    anchor = np.maximum(np.arange(nodes.size + 1) - 1, 0)
    offset = values[anchor] - slope * nodes[anchor]  # f = offset + slope * E on each segment
    like = (energy_min, energy_max)
    left = aux_axis(np.concatenate([[0.0], nodes]), *like)
    right = aux_axis(np.concatenate([nodes, [np.inf]]), *like)
    lo = np.minimum(np.maximum(energy_min, left), right)
    hi = np.minimum(np.maximum(energy_max, left), right)
    p = energy_power
    a, b = aux_axis(offset, *like), aux_axis(slope, *like)
    constant_part = a * (hi ** (p + 1) - lo ** (p + 1)) / (p + 1)
    linear_part = b * (hi ** (p + 2) - lo ** (p + 2)) / (p + 2)
    return sum_aux(constant_part + linear_part)


# --------------------------------------------------------------------------------------


@register_model("spectral")
class PiecewiseNormSpectralModel(SpectralModel):
    """Piecewise norm: a free norm at each of fixed energy nodes (dimensionless).

    Interpolated linearly in (log E, log norm) between nodes and constant
    beyond the first and last node (``interp="log"``, the default), or
    linearly in (E, norm) (``interp="lin"``), as Gammapy. Integrals are exact.

    Parameters
    ----------
    energy : array, Quantity or DataArray
        Node energies, in TeV; at least two, strictly increasing. Fixed state.
    norms : sequence of float or Parameter, optional
        Initial norm at each node (default 1). The parameters are named
        ``norm_0``, ``norm_1``, ... in node order.
    interp : {"log", "lin"}
        Interpolation scale.

    Notes
    -----
    ``evaluate(energy, **norms)`` needs scalar norms (it interpolates along
    the node axis). With ``interp="log"``, norms are clipped at the smallest
    positive float before taking logs, as in Gammapy.
    """

    tags = ("PiecewiseNormSpectralModel", "piecewise-norm")
    _dnde_unit = ""

    def __init__(
        self,
        energy: Any,
        norms: Sequence[float | Parameter] | np.ndarray | None = None,
        *,
        interp: str = "log",
    ) -> None:
        nodes = _energy_nodes(energy, what="PiecewiseNormSpectralModel energy", min_size=2)
        if norms is None:
            norms = [1.0] * nodes.size
        norms = list(norms)
        if len(norms) != nodes.size:
            raise SpectralModelError(
                f"PiecewiseNormSpectralModel: {len(norms)} norms for {nodes.size} energy nodes"
            )
        if interp == "linear":
            interp = "lin"
        if interp not in ("log", "lin"):
            raise SpectralModelError(
                f"PiecewiseNormSpectralModel: interp must be 'log' or 'lin', got {interp!r}"
            )
        parameters = []
        for k, norm in enumerate(norms):
            name = f"norm_{k}"
            if isinstance(norm, Parameter):
                parameters.append(replace(norm, name=name))
            else:
                parameters.append(Parameter(name, float(norm)))
        self._energy = nodes
        self._interp = interp
        self._parameters = Parameters(parameters)

    @property
    def breakpoints(self) -> tuple[float, ...]:
        """The node energies, in TeV (kinks of the interpolation)."""
        return tuple(self._energy.tolist())

    @property
    def energy(self) -> np.ndarray:
        """Node energies, in TeV (a copy)."""
        return self._energy.copy()

    @property
    def interp(self) -> str:
        """Interpolation scale, ``"log"`` or ``"lin"``."""
        return self._interp

    def _norm_array(self, norms: Mapping[str, Any]) -> np.ndarray:
        try:
            return np.array([float(norms[f"norm_{k}"]) for k in range(self._energy.size)])
        except KeyError as err:
            raise SpectralModelError(
                f"PiecewiseNormSpectralModel: missing parameter {err.args[0]!r}"
            ) from None

    def evaluate(self, energy: ArrayLike, **norms: float) -> Any:
        """Interpolate the norms (``norm_0``, ...; scalars) at ``energy`` (TeV)."""
        values = self._norm_array(norms)
        if self._interp == "lin":
            nodes = self._energy
            return apply_elementwise(lambda e: _linear_kernel(e, nodes, values), energy)
        log_e, log_v, slopes = _loglog_segments(self._energy, values, extrapolate=False)
        return apply_elementwise(lambda e: _loglog_kernel(e, log_e, log_v, slopes), energy)

    def evaluate_integral(
        self, energy_min: ArrayLike, energy_max: ArrayLike, **norms: float
    ) -> Any:
        """Exact integral of the norm over bins (in TeV)."""
        return self._piecewise_integral(energy_min, energy_max, norms, 0)

    def evaluate_energy_flux(
        self, energy_min: ArrayLike, energy_max: ArrayLike, **norms: float
    ) -> Any:
        """Exact integral of ``E * norm(E)`` over bins (in TeV2)."""
        return self._piecewise_integral(energy_min, energy_max, norms, 1)

    def _piecewise_integral(self, emin: Any, emax: Any, norms: Mapping[str, Any], p: int) -> Any:
        values = self._norm_array(norms)
        if self._interp == "lin":
            return _linear_integral(emin, emax, self._energy, values, p)
        log_e, log_v, slopes = _loglog_segments(self._energy, values, extrapolate=False)
        return _loglog_integral(emin, emax, log_e, log_v, slopes, p)

    def _extra_state(self) -> Mapping[str, Any]:
        return {"energy": tuple(self._energy.tolist()), "interp": self._interp}


@register_model("spectral")
class TemplateSpectralModel(SpectralModel):
    """A tabulated spectrum, interpolated in log-log (no free parameters, as in Gammapy).

    Values are interpolated linearly in (log E, log value) and extrapolated as
    power laws beyond the end nodes (one node: a constant). Integrals are
    exact. To fit a template, scale it: ``ScaleSpectralModel(template)`` or
    ``template * PowerLawNormSpectralModel()``.

    Parameters
    ----------
    energy : array, Quantity or DataArray
        Node energies, in TeV; strictly increasing. Fixed state.
    values : array or Quantity
        Model values at the nodes: a differential flux (converted to
        ``cm-2 s-1 TeV-1``) or dimensionless (a norm template). Non-negative;
        zeros are clipped to the smallest positive float before taking logs.
    unit : str, optional
        Unit of ``values`` when it is not a Quantity. Default ``cm-2 s-1 TeV-1``;
        ``""`` makes a norm template.
    """

    tags = ("TemplateSpectralModel", "template")

    def __init__(self, energy: Any, values: Any, *, unit: str = DNDE_UNIT) -> None:
        nodes = _energy_nodes(energy, what="TemplateSpectralModel energy")
        if isinstance(values, u.Quantity):
            unit, values = values.unit.to_string("fits"), values.value
        elif isinstance(values, xr.DataArray):
            unit, values = values.attrs.get("units", unit), values.to_numpy()
        table = np.array(values, dtype=float)
        parsed = parse_unit(unit, where="TemplateSpectralModel values")
        if parsed == u.dimensionless_unscaled:
            unit = ""
        else:
            try:
                table = table * parsed.to(parse_unit(DNDE_UNIT))
            except u.UnitConversionError as err:
                raise UnitError(
                    f"TemplateSpectralModel: values in {unit!r} are neither a differential "
                    f"flux ({DNDE_UNIT}) nor dimensionless"
                ) from err
            unit = DNDE_UNIT
        if table.shape != nodes.shape:
            raise SpectralModelError(
                f"TemplateSpectralModel: {table.shape} values for {nodes.size} energies"
            )
        if not (np.all(np.isfinite(table)) and np.all(table >= 0)):
            raise SpectralModelError("TemplateSpectralModel: values must be finite and >= 0")
        self._energy = nodes
        self._values = table
        self._unit = unit
        self._segments = _loglog_segments(nodes, table, extrapolate=True)
        self._parameters = Parameters()

    @property
    def breakpoints(self) -> tuple[float, ...]:
        """The node energies, in TeV (kinks of the interpolation)."""
        return tuple(self._energy.tolist())

    @property
    def energy(self) -> np.ndarray:
        """Node energies, in TeV (a copy)."""
        return self._energy.copy()

    @property
    def values(self) -> np.ndarray:
        """Node values, in :attr:`dnde_unit` (a copy)."""
        return self._values.copy()

    @property
    def dnde_unit(self) -> str:
        """``cm-2 s-1 TeV-1``, or ``""`` for a norm template."""
        return self._unit

    def evaluate(self, energy: ArrayLike) -> Any:
        """Interpolate the table at ``energy`` (TeV)."""
        log_e, log_v, slopes = self._segments
        return apply_elementwise(lambda e: _loglog_kernel(e, log_e, log_v, slopes), energy)

    def evaluate_integral(self, energy_min: ArrayLike, energy_max: ArrayLike) -> Any:
        """Exact integral over bins."""
        return _loglog_integral(energy_min, energy_max, *self._segments, 0)

    def evaluate_energy_flux(self, energy_min: ArrayLike, energy_max: ArrayLike) -> Any:
        """Exact energy flux over bins."""
        return _loglog_integral(energy_min, energy_max, *self._segments, 1)

    def __repr__(self) -> str:
        unit = self._unit or "norm"
        return (
            f"TemplateSpectralModel({self._energy.size} nodes, {self._energy[0]:.4g} to "
            f"{self._energy[-1]:.4g} TeV, {unit})"
        )

    def _extra_state(self) -> Mapping[str, Any]:
        return {
            "energy": tuple(self._energy.tolist()),
            "values": tuple(self._values.tolist()),
            "unit": self._unit,
        }


# --------------------------------------------------------------------------------------
# EBL absorption


def _bracket(nodes: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices of the bracketing nodes and the linear weight, extrapolating from the ends."""
    if nodes.size == 1:
        zero = np.zeros(x.shape, dtype=int)
        return zero, zero, np.zeros(x.shape)
    i0 = np.clip(np.searchsorted(nodes, x, side="right") - 1, 0, nodes.size - 2)
    weight = (x - nodes[i0]) / (nodes[i0 + 1] - nodes[i0])
    return i0, i0 + 1, weight


def _tau_kernel(
    energy: np.ndarray,
    redshift: np.ndarray,
    log_e: np.ndarray,
    z_nodes: np.ndarray,
    tau: np.ndarray,
) -> np.ndarray:
    """Optical depth, bilinear in (z, log E), extrapolated linearly, clipped at 0 (numpy)."""
    log_energy, z = np.broadcast_arrays(np.log(energy), redshift)
    e0, e1, we = _bracket(log_e, log_energy)
    z0, z1, wz = _bracket(z_nodes, z)
    value = (1 - wz) * ((1 - we) * tau[z0, e0] + we * tau[z0, e1]) + wz * (
        (1 - we) * tau[z1, e0] + we * tau[z1, e1]
    )
    return np.maximum(value, 0.0)


@register_model("spectral")
class EBLAbsorptionNormSpectralModel(SpectralModel):
    r"""Absorption on the extragalactic background light, from an optical-depth table.

    .. math:: N(E) = \exp\left(-\alpha_{norm}\,\tau(E, z)\right)

    :math:`\tau` is interpolated bilinearly in (:math:`z`, :math:`\ln E`) and
    extrapolated linearly in :math:`\ln E` beyond the table (clipped at 0),
    which is Gammapy's interpolation of :math:`\ln N` on its absorption
    tables. Dimensionless: use it in a product, ``pl * ebl``. Integrals are
    numerical.

    Parameters
    ----------
    energy : array, Quantity or DataArray
        Table energies, in TeV; strictly increasing. Fixed state.
    redshifts : array
        Table redshifts; strictly increasing. Fixed state.
    tau : array
        Optical depth, shape ``(len(redshifts), len(energy))``, finite and >= 0.
    redshift : float
        :math:`z` (frozen). Default 0.1. Its bounds are the table's redshift
        range: the table is not extrapolated in redshift.
    alpha_norm : float
        :math:`\alpha_{norm}`, a scale of the optical depth (frozen). Default 1.

    See Also
    --------
    read_ebl_table : read an XSPEC-format table (Gammapy's EBL files).
    """

    tags = ("EBLAbsorptionNormSpectralModel", "ebl-norm")
    _dnde_unit = ""
    parameter_defaults = (
        Parameter("redshift", 0.1, frozen=True),
        Parameter("alpha_norm", 1.0, frozen=True),
    )

    def __init__(
        self, energy: Any, redshifts: Any, tau: Any, **values: float | u.Quantity | Parameter
    ) -> None:
        nodes = _energy_nodes(energy, what="EBLAbsorptionNormSpectralModel energy")
        z_nodes = np.array(redshifts, dtype=float)
        if z_nodes.ndim != 1 or z_nodes.size < 1 or not np.all(np.isfinite(z_nodes)):
            raise SpectralModelError(
                "EBLAbsorptionNormSpectralModel: redshifts must be a finite 1-D array"
            )
        if np.any(np.diff(z_nodes) <= 0):
            raise SpectralModelError(
                "EBLAbsorptionNormSpectralModel: redshifts must be strictly increasing"
            )
        table = np.array(tau, dtype=float)
        if table.shape != (z_nodes.size, nodes.size):
            raise SpectralModelError(
                f"EBLAbsorptionNormSpectralModel: tau has shape {table.shape}, expected "
                f"(len(redshifts), len(energy)) = {(z_nodes.size, nodes.size)}"
            )
        if not (np.all(np.isfinite(table)) and np.all(table >= 0)):
            raise SpectralModelError("EBLAbsorptionNormSpectralModel: tau must be finite and >= 0")
        super().__init__(**values)
        z = self._parameters["redshift"]
        bounded = replace(
            z,
            min=z_nodes[0] if math.isnan(z.min) else z.min,
            max=z_nodes[-1] if math.isnan(z.max) else z.max,
        )
        self._parameters = self._parameters.replace(redshift=bounded)
        self._energy = nodes
        self._log_energy = np.log(nodes)
        self._redshifts = z_nodes
        self._tau = table

    @classmethod
    def from_absorption(
        cls, energy: Any, redshifts: Any, absorption: Any, **values: Any
    ) -> EBLAbsorptionNormSpectralModel:
        """Build from a table of absorption factors ``exp(-tau)`` (as stored in XSPEC files).

        Factors are clipped to [smallest positive float, 1] before taking logs.
        """
        factors = np.clip(np.asarray(absorption, dtype=float), _TINY, 1.0)
        return cls(energy, redshifts, -np.log(factors), **values)

    @classmethod
    def from_table(cls, table: xr.DataArray, **values: Any) -> EBLAbsorptionNormSpectralModel:
        """Build from an optical-depth DataArray with dims ``("redshift", "energy")``.

        The ``energy`` coordinate is in its ``attrs["units"]`` (default TeV).
        """
        missing = {"redshift", "energy"} - set(table.dims)
        if missing:
            raise SpectralModelError(
                f"EBL table: missing dims {sorted(missing)}; expected ('redshift', 'energy')"
            )
        table = table.transpose("redshift", "energy")
        return cls(table["energy"], table["redshift"].to_numpy(), table.to_numpy(), **values)

    @classmethod
    def read(cls, filename: str | PathLike, **values: Any) -> EBLAbsorptionNormSpectralModel:
        """Read an XSPEC-format absorption table (see :func:`read_ebl_table`)."""
        return cls.from_table(read_ebl_table(filename), **values)

    @property
    def breakpoints(self) -> tuple[float, ...]:
        """The node energies, in TeV (kinks of the interpolation)."""
        return tuple(self._energy.tolist())

    @property
    def table(self) -> xr.DataArray:
        """The optical-depth table, dims ``("redshift", "energy")`` (a copy)."""
        return xr.DataArray(
            self._tau.copy(),
            dims=("redshift", "energy"),
            coords={
                "redshift": self._redshifts.copy(),
                "energy": ("energy", self._energy.copy(), {"units": "TeV"}),
            },
            name="tau",
            attrs={"units": ""},
        )

    def tau(self, energy: ArrayLike, redshift: float | None = None) -> Any:
        """Optical depth at ``energy`` (TeV) and ``redshift`` (default: the parameter value)."""
        z = self.parameters["redshift"].value if redshift is None else redshift
        return self._tau_at(energy, z)

    def _tau_at(self, energy: Any, redshift: Any) -> Any:
        log_e, z_nodes, table = self._log_energy, self._redshifts, self._tau
        return apply_elementwise(
            lambda e, z: _tau_kernel(e, z, log_e, z_nodes, table), energy, redshift
        )

    def evaluate(self, energy: ArrayLike, redshift: float, alpha_norm: float) -> Any:
        """Absorption factor ``exp(-alpha_norm * tau(energy, redshift))`` (energy in TeV)."""
        return np.exp(-alpha_norm * self._tau_at(energy, redshift))

    def _extra_state(self) -> Mapping[str, Any]:
        return {
            "energy": tuple(self._energy.tolist()),
            "redshifts": tuple(self._redshifts.tolist()),
            "tau": tuple(self._tau.ravel().tolist()),
        }


def read_ebl_table(filename: str | PathLike) -> xr.DataArray:
    r"""Read an EBL absorption table in the XSPEC table-model format (Gammapy's EBL files).

    The layout (OGIP/92-009, as in ``ebl_franceschini.fits.gz`` and the other
    EBL files of gammapy-data):

    - HDU ``PARAMETERS``: row 0 is the redshift parameter; its ``VALUE``
      column holds the tabulated redshifts (duplicates are dropped, as Gammapy does);
    - HDU ``ENERGIES``: columns ``ENERG_LO``, ``ENERG_HI`` (keV unless the
      column has a unit); the node energies are their geometric means;
    - HDU ``SPECTRA``: column ``INTPSPEC``, one row per redshift (in the order
      of ``VALUE``), the absorption factors :math:`e^{-\tau}`.

    Parameters
    ----------
    filename : str or path
        The FITS file.

    Returns
    -------
    xarray.DataArray
        The optical depth ``tau`` with dims ``("redshift", "energy")`` and the
        ``energy`` coordinate in TeV.

    Raises
    ------
    DataFileError
        If the file does not exist.
    MissingHDUError, ColumnError, FormatError
        If an HDU or column is missing or the shapes do not match.
    """
    path = Path(filename)
    if not path.is_file():
        raise DataFileError(f"EBL table {str(path)!r} does not exist")
    with fits.open(path) as hdul:
        hdus = {}
        for name in ("PARAMETERS", "ENERGIES", "SPECTRA"):
            if name not in hdul:
                raise MissingHDUError(f"{path.name}: no HDU {name!r} (XSPEC table model)")
            hdus[name] = hdul[name]
        columns = {"PARAMETERS": "VALUE", "ENERGIES": "ENERG_LO", "SPECTRA": "INTPSPEC"}
        for hdu_name, column in (*columns.items(), ("ENERGIES", "ENERG_HI")):
            if column not in hdus[hdu_name].columns.names:
                raise ColumnError(f"{path.name}: HDU {hdu_name!r} has no column {column!r}")
        redshifts_all = np.atleast_1d(np.asarray(hdus["PARAMETERS"].data["VALUE"][0], float))
        energies = hdus["ENERGIES"]
        unit_text = energies.columns["ENERG_LO"].unit or "keV"
        factor = parse_unit(unit_text, where=f"{path.name} ENERG_LO").to(u.TeV)
        energy_lo = np.asarray(energies.data["ENERG_LO"], float) * factor
        energy_hi = np.asarray(energies.data["ENERG_HI"], float) * factor
        spectra = np.asarray(hdus["SPECTRA"].data["INTPSPEC"], float)
    redshifts, index = np.unique(redshifts_all, return_index=True)
    if spectra.ndim != 2 or spectra.shape[1] != energy_lo.size:
        raise FormatError(
            f"{path.name}: INTPSPEC has shape {spectra.shape}, expected (n_redshift, "
            f"{energy_lo.size})"
        )
    if spectra.shape[0] < redshifts_all.size:
        raise FormatError(
            f"{path.name}: {spectra.shape[0]} spectra for {redshifts_all.size} redshifts"
        )
    absorption = np.clip(spectra[index], _TINY, 1.0)
    energy = np.sqrt(energy_lo * energy_hi)
    return xr.DataArray(
        -np.log(absorption),
        dims=("redshift", "energy"),
        coords={"redshift": redshifts, "energy": ("energy", energy, {"units": "TeV"})},
        name="tau",
        attrs={"units": "", "source": path.name},
    )
