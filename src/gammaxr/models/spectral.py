"""Spectral models: differential fluxes of energy, their integrals and compositions.

Every model is immutable, holds named :class:`~gammaxr.models.Parameter`
objects and evaluates on floats, numpy arrays, xarray DataArrays (dims kept)
and dask arrays (kept lazy):

>>> from gammaxr.models.spectral import PowerLawSpectralModel
>>> pl = PowerLawSpectralModel(index=2.5, amplitude=2e-12)
>>> float(pl(1.0))
2e-12
>>> float(pl.integral(1.0, 10.0))  # doctest: +ELLIPSIS
1.29...e-12

Energies are in TeV, ``dnde`` in ``cm-2 s-1 TeV-1``, integral fluxes in
``cm-2 s-1`` and energy fluxes in ``TeV cm-2 s-1``. Models combine with
``+``, ``-`` and ``*`` into a :class:`CompoundSpectralModel`. Model types are
registered under Gammapy's YAML type names and short aliases (``"pl"``,
``"ecpl"``, ...) in ``MODEL_REGISTRY["spectral"]``.

The implementation is split by theme: :mod:`~gammaxr.models.spectral_base`
(base class, integration, composition), :mod:`~gammaxr.models.spectral_powerlaw`,
:mod:`~gammaxr.models.spectral_cutoff` and :mod:`~gammaxr.models.spectral_table`.
"""

from gammaxr.models.spectral_base import (
    DNDE_UNIT,
    EFLUX_UNIT,
    FLUX_UNIT,
    CompoundSpectralModel,
    ConstantSpectralModel,
    ScaleSpectralModel,
    SpectralModel,
    SpectralModelError,
    SpectralModelTypeError,
    integrate_spectrum,
)
from gammaxr.models.spectral_cutoff import (
    ExpCutoffPowerLaw3FGLSpectralModel,
    ExpCutoffPowerLawNormSpectralModel,
    ExpCutoffPowerLawSpectralModel,
    SuperExpCutoffPowerLaw3FGLSpectralModel,
    SuperExpCutoffPowerLaw4FGLDR3SpectralModel,
    SuperExpCutoffPowerLaw4FGLSpectralModel,
)
from gammaxr.models.spectral_powerlaw import (
    BrokenPowerLawSpectralModel,
    GaussianSpectralModel,
    LogParabolaNormSpectralModel,
    LogParabolaSpectralModel,
    PowerLaw2SpectralModel,
    PowerLawNormSpectralModel,
    PowerLawSpectralModel,
    SmoothBrokenPowerLawSpectralModel,
)
from gammaxr.models.spectral_table import (
    EBLAbsorptionNormSpectralModel,
    PiecewiseNormSpectralModel,
    TemplateSpectralModel,
    read_ebl_table,
)

__all__ = [
    "DNDE_UNIT",
    "EFLUX_UNIT",
    "FLUX_UNIT",
    "BrokenPowerLawSpectralModel",
    "CompoundSpectralModel",
    "ConstantSpectralModel",
    "EBLAbsorptionNormSpectralModel",
    "ExpCutoffPowerLaw3FGLSpectralModel",
    "ExpCutoffPowerLawNormSpectralModel",
    "ExpCutoffPowerLawSpectralModel",
    "GaussianSpectralModel",
    "LogParabolaNormSpectralModel",
    "LogParabolaSpectralModel",
    "PiecewiseNormSpectralModel",
    "PowerLaw2SpectralModel",
    "PowerLawNormSpectralModel",
    "PowerLawSpectralModel",
    "ScaleSpectralModel",
    "SmoothBrokenPowerLawSpectralModel",
    "SpectralModel",
    "SpectralModelError",
    "SpectralModelTypeError",
    "SuperExpCutoffPowerLaw3FGLSpectralModel",
    "SuperExpCutoffPowerLaw4FGLDR3SpectralModel",
    "SuperExpCutoffPowerLaw4FGLSpectralModel",
    "TemplateSpectralModel",
    "integrate_spectrum",
    "read_ebl_table",
]
