"""The ``.gp`` accessors: thin delegates to the functions that do the work."""

from gammaxr.accessors import events as _events  # noqa: F401
from gammaxr.accessors import xarray as _xarray  # noqa: F401

__all__: list[str] = []
