"""gammaxr: gamma-ray astronomy analysis on pandas and xarray.

Importing the package registers the ``.gp`` accessors on pandas DataFrames and
xarray DataArrays / Datasets.
"""

from gammaxr import accessors as _accessors  # noqa: F401  (registers .gp)
from gammaxr.axes import axis_from_edges, energy_axis, make_geom, sky_frame, sky_grid, solid_angle
from gammaxr.data import (
    DataStore,
    Observation,
    bin_events,
    example_data_path,
    open_datastore,
    select_energy,
    select_offset,
    select_region,
    select_time,
)
from gammaxr.exceptions import GammaxrError
from gammaxr.fit import FitResult, fit
from gammaxr.io import read_dataset, read_events, read_gti, read_irf, write_dataset
from gammaxr.io.models_yaml import read_models, write_models
from gammaxr.io.ogip import read_ogip, read_ogip_set, write_ogip
from gammaxr.io.sed import read_flux_points, write_flux_points
from gammaxr.maps import reproject
from gammaxr.reduce import make_map_dataset
from gammaxr.sky import Pointing, angular_separation, region_mask
from gammaxr.stacking import concat_observations, stack, stack_pair

__version__ = "0.1.0.dev0"

__all__ = [
    "FitResult",
    "DataStore",
    "GammaxrError",
    "Observation",
    "Pointing",
    "angular_separation",
    "axis_from_edges",
    "bin_events",
    "concat_observations",
    "energy_axis",
    "example_data_path",
    "fit",
    "make_geom",
    "make_map_dataset",
    "open_datastore",
    "read_dataset",
    "read_events",
    "read_flux_points",
    "read_gti",
    "read_irf",
    "read_models",
    "read_ogip",
    "read_ogip_set",
    "region_mask",
    "reproject",
    "select_energy",
    "select_offset",
    "select_region",
    "select_time",
    "sky_frame",
    "sky_grid",
    "solid_angle",
    "stack",
    "stack_pair",
    "write_dataset",
    "write_flux_points",
    "write_models",
    "write_ogip",
]
