"""Operations on sky maps and cubes: reprojection."""

from gammaxr.maps.reproject import COUNTS_LIKE, reproject, reprojection_method

__all__ = ["COUNTS_LIKE", "reproject", "reprojection_method"]
