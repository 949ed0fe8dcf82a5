"""Data reduction, DL3 -> DL4: map datasets and safe masks for one observation.

:func:`make_map_dataset` bins the events and projects the IRFs of one
observation onto a geometry (:func:`gammaxr.make_geom`); the product makers
and the safe-mask methods are available on their own.
"""

from gammaxr.reduce.fov_background import fit_fov_background
from gammaxr.reduce.map import (
    PRODUCTS,
    default_rad_axis,
    make_background,
    make_edisp,
    make_exposure,
    make_map_dataset,
    make_psf,
)
from gammaxr.reduce.safe_mask import (
    SAFE_MASK_METHODS,
    energy_mask,
    make_safe_mask,
    mask_aeff_default,
    mask_aeff_max,
    mask_bkg_invalid,
    mask_bkg_peak,
    mask_edisp_bias,
    mask_offset_max,
    safe_mask_methods,
)

__all__ = [
    "PRODUCTS",
    "SAFE_MASK_METHODS",
    "default_rad_axis",
    "energy_mask",
    "fit_fov_background",
    "make_background",
    "make_edisp",
    "make_exposure",
    "make_map_dataset",
    "make_psf",
    "make_safe_mask",
    "mask_aeff_default",
    "mask_aeff_max",
    "mask_bkg_invalid",
    "mask_bkg_peak",
    "mask_edisp_bias",
    "mask_offset_max",
    "safe_mask_methods",
]
