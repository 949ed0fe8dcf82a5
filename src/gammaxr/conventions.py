"""The vocabulary shared by every module: dim names, edge coordinates, units.

A binned dim ``X`` carries its bin centres as the index coordinate and its
edges as two auxiliary coordinates ``X_lo`` and ``X_hi`` on the same dim. Units
are CF-style strings in ``attrs["units"]``, parsed by :mod:`astropy.units`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import TYPE_CHECKING

import astropy.units as u
import numpy as np

from gammaxr.exceptions import DimensionError, UnitError

if TYPE_CHECKING:
    import xarray as xr

__all__ = [
    "DIMS",
    "ENERGY",
    "ENERGY_TRUE",
    "FOV_LAT",
    "FOV_LON",
    "IRF_LAT",
    "IRF_LON",
    "LAT",
    "LON",
    "MIGRA",
    "OBS_ID",
    "OFFSET",
    "RAD",
    "edges",
    "hi_name",
    "lo_name",
    "parse_unit",
    "require_dims",
    "require_units",
    "unit_of",
]

ENERGY = "energy"
ENERGY_TRUE = "energy_true"
LON = "lon"
LAT = "lat"
RAD = "rad"
OFFSET = "offset"
MIGRA = "migra"
FOV_LON = "fov_lon"
FOV_LAT = "fov_lat"
OBS_ID = "obs_id"
#: Coarse sky grid of PSF / edisp maps (same frame as lon/lat).
IRF_LAT = "irf_lat"
IRF_LON = "irf_lon"
TIME = "time"
EVENT = "event"

DIMS = (ENERGY, ENERGY_TRUE, LON, LAT, RAD, OFFSET, MIGRA, FOV_LON, FOV_LAT, OBS_ID, TIME, EVENT)


def lo_name(dim: str) -> str:
    """Name of the lower-edge coordinate of ``dim``."""
    return f"{dim}_lo"


def hi_name(dim: str) -> str:
    """Name of the upper-edge coordinate of ``dim``."""
    return f"{dim}_hi"


def parse_unit(text: str | None, *, where: str = "") -> u.UnitBase:
    """Parse a unit string as written in FITS headers or ``attrs["units"]``.

    Accepts the FITS/OGIP spellings seen in IACT files (``m2``, ``m**2``,
    ``sr^-1``, ``sr^(-1)``, ``1/s/MeV/sr``, ``s^-1 MeV^-1 sr^-1``); an empty or
    missing unit is dimensionless.

    Parameters
    ----------
    text : str or None
        The unit string.
    where : str
        What the unit belongs to (file, HDU, column), for the error message.

    Raises
    ------
    UnitError
        If the string is not a unit.
    """
    if text is None or not str(text).strip():
        return u.dimensionless_unscaled
    unit = _parse_unit_cached(str(text).strip())
    if unit is None:
        raise UnitError(f"{where or 'unit'}: cannot parse unit {str(text).strip()!r}")
    return unit


@functools.lru_cache(maxsize=1024)
def _parse_unit_cached(text: str) -> u.UnitBase | None:
    """Parse a unit string once (astropy's parser is slow; fits rebuild models often)."""
    for fmt in ("fits", "ogip", "generic"):
        try:
            return u.Unit(text, format=fmt, parse_strict="raise")
        except ValueError:
            continue
    return None


def unit_of(da: xr.DataArray, *, what: str | None = None) -> u.UnitBase:
    """The astropy unit of a DataArray or coordinate, from ``attrs["units"]``."""
    return parse_unit(da.attrs.get("units"), where=what or str(da.name))


def require_units(da: xr.DataArray, unit: str | u.UnitBase, *, what: str | None = None):
    """Return ``da`` converted to ``unit``, or raise :class:`UnitError`.

    Parameters
    ----------
    da : xarray.DataArray
        Data with ``attrs["units"]``.
    unit : str or astropy unit
        The unit wanted.
    what : str, optional
        Name used in the error message.
    """
    target = parse_unit(unit) if isinstance(unit, str) else unit
    have = unit_of(da, what=what)
    try:
        factor = have.to(target)
    except u.UnitConversionError as err:
        raise UnitError(
            f"{what or da.name}: unit {have.to_string()!r} is not convertible to "
            f"{target.to_string()!r}"
        ) from err
    out = da.copy(deep=False) if factor == 1 else da * factor
    out.attrs = {**da.attrs, "units": target.to_string("fits") if target != u.one else ""}
    return out


def require_dims(obj: xr.DataArray | xr.Dataset, dims: Iterable[str], *, what: str) -> None:
    """Raise :class:`DimensionError` unless ``obj`` has all of ``dims``.

    Parameters
    ----------
    obj : xarray.DataArray or xarray.Dataset
        The object to check.
    dims : iterable of str
        Dimension names that must be present.
    what : str
        What the object is, for the error message (e.g. ``"aeff"``).
    """
    missing = [dim for dim in dims if dim not in obj.dims]
    if missing:
        raise DimensionError(
            f"{what}: missing dims {missing}; it has {list(obj.dims)}. Build axes with "
            "gammaxr.energy_axis / gammaxr.sky_grid so the dims carry their standard names."
        )


def edges(obj: xr.DataArray | xr.Dataset, dim: str) -> np.ndarray:
    """Bin edges of a binned dim, from its ``X_lo`` / ``X_hi`` coordinates.

    Returns ``n + 1`` edges for ``n`` contiguous bins.

    Raises
    ------
    DimensionError
        If the edge coordinates are missing or the bins are not contiguous.
    """
    lo, hi = lo_name(dim), hi_name(dim)
    if lo not in obj.coords or hi not in obj.coords:
        raise DimensionError(
            f"dim {dim!r} has no edge coordinates {lo!r}/{hi!r}: it holds nodes, not bins"
        )
    lo_values = np.asarray(obj.coords[lo].values, dtype=float)
    hi_values = np.asarray(obj.coords[hi].values, dtype=float)
    if not np.allclose(lo_values[1:], hi_values[:-1], rtol=1e-6, atol=0):
        raise DimensionError(f"dim {dim!r}: bins are not contiguous")
    return np.append(lo_values, hi_values[-1])
