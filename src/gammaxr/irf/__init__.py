"""IRF evaluation: one interpolation routine, PSF containment, migration matrices.

IRFs are the DataArrays (and parametric-PSF Datasets) read by
:func:`gammaxr.read_irf`; every function here takes coordinates as DataArrays
broadcast by dim name, numpy arrays or scalars, and stays lazy on dask input.
"""

from __future__ import annotations

from gammaxr.irf._evaluate import evaluate
from gammaxr.irf._interpolate import interpolate
from gammaxr.irf.edisp import migration_matrix
from gammaxr.irf.psf import (
    containment,
    containment_radius,
    evaluate_psf,
    psf_kind,
    psf_to_table,
)

__all__ = [
    "containment",
    "containment_radius",
    "evaluate",
    "evaluate_psf",
    "interpolate",
    "migration_matrix",
    "psf_kind",
    "psf_to_table",
]
