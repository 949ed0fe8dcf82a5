"""Operations on sky maps and cubes: reprojection, energy regrouping and images."""

from gammaxr.maps.energy import resample_energy, to_image
from gammaxr.maps.reproject import COUNTS_LIKE, reproject, reprojection_method

__all__ = ["COUNTS_LIKE", "reproject", "reprojection_method", "resample_energy", "to_image"]
