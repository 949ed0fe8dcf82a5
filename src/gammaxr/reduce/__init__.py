"""Data reduction, DL3 -> DL4: map datasets and safe masks for one observation.

:func:`make_map_dataset` bins the events and projects the IRFs of one
observation onto a geometry (:func:`gammaxr.make_geom`); the product makers
and the safe-mask methods are available on their own.
"""

from gammaxr.reduce.driver import REDUCTIONS, reduce_observations
from gammaxr.reduce.fov_background import fit_fov_background
from gammaxr.reduce.irf_maps import irf_grid, make_edisp_map, make_psf_map
from gammaxr.reduce.map import (
    OPTIONAL_PRODUCTS,
    PRODUCTS,
    default_rad_axis,
    make_background,
    make_edisp,
    make_exposure,
    make_map_dataset,
    make_psf,
)
from gammaxr.reduce.off_regions import (
    find_reflected_regions,
    find_wobble_regions,
    make_on_off_spectrum,
)
from gammaxr.reduce.ring import make_adaptive_ring_background, make_ring_background
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
from gammaxr.reduce.spectrum import (
    SPECTRUM_PRODUCTS,
    make_spectrum_dataset,
    require_full_enclosure,
)

__all__ = [
    "OPTIONAL_PRODUCTS",
    "PRODUCTS",
    "REDUCTIONS",
    "SAFE_MASK_METHODS",
    "SPECTRUM_PRODUCTS",
    "default_rad_axis",
    "energy_mask",
    "find_reflected_regions",
    "find_wobble_regions",
    "fit_fov_background",
    "irf_grid",
    "make_adaptive_ring_background",
    "make_background",
    "make_edisp",
    "make_edisp_map",
    "make_exposure",
    "make_map_dataset",
    "make_on_off_spectrum",
    "make_psf",
    "make_psf_map",
    "make_ring_background",
    "make_safe_mask",
    "make_spectrum_dataset",
    "mask_aeff_default",
    "mask_aeff_max",
    "mask_bkg_invalid",
    "mask_bkg_peak",
    "mask_edisp_bias",
    "mask_offset_max",
    "reduce_observations",
    "require_full_enclosure",
    "safe_mask_methods",
]
