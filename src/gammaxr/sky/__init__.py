"""Sky geometry: pointings, angular separations, regions to masks."""

from gammaxr.sky.pointing import Pointing
from gammaxr.sky.regions import region_mask, region_to_string
from gammaxr.sky.separation import angular_separation

__all__ = ["Pointing", "angular_separation", "region_mask", "region_to_string"]
