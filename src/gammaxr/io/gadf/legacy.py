"""Known deviations of published DL3 files from the GADF layout, corrected on reading.

H.E.S.S. DL3 DR1 (files whose EVENTS header has ``CREATOR = 'SASH FITS::EventListWriter'``
and ``HDUVERS = '0.2'``) stores the BKG_3D cell with its two field-of-view axes
in the opposite order to its ``DETX``/``DETY`` columns and TDIM, and with
``DETX`` growing the other way from the field-of-view longitude convention (see
:mod:`gammaxr.reduce`). Gammapy reads these files the same way (it flags them
``REVERSE_LON_RADEC``). The reading was checked against the data: fitting the
four shipped Crab runs' off-source counts with each of the eight possible
orientations of the template prefers this one by a likelihood difference of
292 over the plain TDIM reading (``benchmarks/hess_bkg_orientation.py``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import xarray as xr

from gammaxr.conventions import ENERGY, FOV_LAT, FOV_LON, hi_name, lo_name
from gammaxr.exceptions import IRFShapeError

__all__ = ["LEGACY_HESS_NOTE", "fix_legacy_hess_bkg", "is_legacy_hess"]

LEGACY_HESS_NOTE = (
    "legacy H.E.S.S. SASH file: fov axes swapped and fov_lon reversed on reading (as Gammapy)"
)


def is_legacy_hess(header: Mapping) -> bool:
    """Whether an EVENTS header marks a legacy H.E.S.S. (SASH, HDUVERS 0.2) file."""
    creator = str(header.get("CREATOR", header.get("creator", ""))).strip()
    version = str(header.get("HDUVERS", header.get("hduvers", ""))).strip()
    return creator == "SASH FITS::EventListWriter" and version == "0.2"


def fix_legacy_hess_bkg(bkg: xr.DataArray) -> xr.DataArray:
    """Return a legacy H.E.S.S. BKG_3D in the standard field-of-view orientation.

    The value at ``(fov_lat = y, fov_lon = x)`` of the result is the file's cell
    at ``(DETX index of -x, DETY index of y)``.

    Parameters
    ----------
    bkg : xarray.DataArray
        Background ``(energy, fov_lat, fov_lon)`` as read by :func:`read_irf`.
    """
    bkg = bkg.transpose(ENERGY, FOV_LAT, FOV_LON)
    if bkg.sizes[FOV_LAT] != bkg.sizes[FOV_LON]:
        raise IRFShapeError(
            f"{bkg.attrs.get('source', 'bkg')}: legacy H.E.S.S. background needs a square "
            f"field-of-view grid, got {bkg.sizes[FOV_LAT]} x {bkg.sizes[FOV_LON]}"
        )
    values = np.asarray(bkg.values).transpose(0, 2, 1)[:, :, ::-1]
    lon = bkg.coords[FOV_LON]
    coords = {name: c for name, c in bkg.coords.items() if FOV_LON not in c.dims}
    coords[FOV_LON] = (FOV_LON, -lon.values[::-1], lon.attrs)
    if lo_name(FOV_LON) in bkg.coords:
        lo, hi = bkg.coords[lo_name(FOV_LON)], bkg.coords[hi_name(FOV_LON)]
        coords[lo_name(FOV_LON)] = (FOV_LON, -hi.values[::-1], hi.attrs)
        coords[hi_name(FOV_LON)] = (FOV_LON, -lo.values[::-1], lo.attrs)
    out = xr.DataArray(values, dims=bkg.dims, coords=coords, name=bkg.name, attrs=bkg.attrs)
    out.attrs["legacy"] = LEGACY_HESS_NOTE
    return out
