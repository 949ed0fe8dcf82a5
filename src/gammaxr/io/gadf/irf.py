"""GADF IRF HDUs as xarray objects with the standard dims.

Every GADF IRF is a one-row binary table: for each axis a pair of vector
columns ``X_LO``/``X_HI`` and one or more data cells whose FITS axes follow the
order of those pairs (the first pair is the fastest-varying FITS axis, the last
numpy axis). The reader maps that layout, whatever the axis order in the file,
onto the canonical dims and units:

============ ======================================== =====================
class        dims                                     units
============ ======================================== =====================
aeff_2d      (energy_true, offset)                    m2
edisp_2d     (energy_true, migra, offset)             (dP/dmigra)
psf_table    (energy_true, offset, rad)               sr-1
psf_3gauss   Dataset (energy_true, offset)            sr-1 / deg / 1
psf_king     Dataset (energy_true, offset)            deg / 1
bkg_3d       (energy, fov_lat, fov_lon)               MeV-1 s-1 sr-1
bkg_2d       (energy, offset)                         MeV-1 s-1 sr-1
rad_max_2d   (energy, offset)                         deg
============ ======================================== =====================

Axes whose ``_LO`` and ``_HI`` columns are equal are node axes (no edge
coordinates); all others are binned (centres plus ``_lo``/``_hi``). Bin centres
are computed from each bin's own edges: the geometric mean for energies, the
arithmetic mean otherwise.

The 3-Gauss PSF ``SCALE`` is in sr-1 (GADF 0.3); files written to the older
spelling of the format (CTA 1DC) give it no unit, and it is read as sr-1 too.

Parsed IRFs are cached (least recently used, :data:`IRF_CACHE_SIZE` entries),
keyed by the resolved file path, the file's version
(:func:`gammaxr.io._fits.file_version`: inode, size, modification and
status-change times), the HDU and the IRF class, so observations that share an
IRF file (CTA 1DC runs, or the same run reduced twice) read it once. Every call
returns a new object whose numpy arrays are read-only views of the cached ones:
attrs can be changed freely, values cannot be changed in place.
:func:`set_irf_cache_size` resizes (0 disables) and clears the cache.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from gammaxr.conventions import (
    ENERGY,
    ENERGY_TRUE,
    FOV_LAT,
    FOV_LON,
    MIGRA,
    OFFSET,
    RAD,
    hi_name,
    lo_name,
)
from gammaxr.exceptions import ColumnError, FormatError, HDUClassError, IRFShapeError
from gammaxr.io._fits import FitsTable, Header, column, file_version, has_column, read_table

__all__ = [
    "IRF_CACHE_SIZE",
    "IRF_CLASSES",
    "IRFSpec",
    "hdu_class_from_header",
    "read_irf",
    "set_irf_cache_size",
]

#: Default number of parsed IRFs kept by :func:`read_irf` (a run's four IRFs, twice).
IRF_CACHE_SIZE = 8


@dataclass(frozen=True)
class IRFSpec:
    """How one GADF IRF class maps onto xarray.

    Attributes
    ----------
    name : str
        Variable name of the result (``aeff``, ``edisp``, ...).
    dims : tuple of str
        Canonical dim order of the result.
    columns : dict
        Data column name -> canonical unit; alternatives separated by ``|``
        (first found is used).
    energy_dim : str
        Dim of the ``ENERG`` axis: true or reconstructed energy.
    unitless_means_canonical : tuple of str
        Data columns whose missing TUNIT means the canonical unit (files written
        to an older version of the format that gave them no unit).
    """

    name: str
    dims: tuple[str, ...]
    columns: dict[str, str]
    energy_dim: str
    unitless_means_canonical: tuple[str, ...] = ()


IRF_CLASSES: dict[str, IRFSpec] = {
    "aeff_2d": IRFSpec("aeff", (ENERGY_TRUE, OFFSET), {"EFFAREA": "m2"}, ENERGY_TRUE),
    "edisp_2d": IRFSpec("edisp", (ENERGY_TRUE, MIGRA, OFFSET), {"MATRIX": ""}, ENERGY_TRUE),
    "psf_table": IRFSpec("psf", (ENERGY_TRUE, OFFSET, RAD), {"RPSF": "sr-1"}, ENERGY_TRUE),
    "psf_3gauss": IRFSpec(
        "psf",
        (ENERGY_TRUE, OFFSET),
        {
            "SCALE": "sr-1",
            "SIGMA_1": "deg",
            "AMPL_2": "",
            "SIGMA_2": "deg",
            "AMPL_3": "",
            "SIGMA_3": "deg",
        },
        ENERGY_TRUE,
        unitless_means_canonical=("SCALE",),
    ),
    "psf_king": IRFSpec("psf", (ENERGY_TRUE, OFFSET), {"GAMMA": "", "SIGMA": "deg"}, ENERGY_TRUE),
    "bkg_3d": IRFSpec("bkg", (ENERGY, FOV_LAT, FOV_LON), {"BKG|BGD": "MeV-1 s-1 sr-1"}, ENERGY),
    "bkg_2d": IRFSpec("bkg", (ENERGY, OFFSET), {"BKG|BGD": "MeV-1 s-1 sr-1"}, ENERGY),
    "rad_max_2d": IRFSpec("rad_max", (ENERGY, OFFSET), {"RAD_MAX": "deg"}, ENERGY),
}

# GADF axis column prefixes -> dim (ENERG depends on the IRF class).
_AXIS_PREFIXES = {
    "ENERG": None,
    "ETRUE": ENERGY_TRUE,
    "THETA": OFFSET,
    "MIGRA": MIGRA,
    "RAD": RAD,
    "DETX": FOV_LON,
    "DETY": FOV_LAT,
}
_AXIS_UNITS = {
    ENERGY: "TeV",
    ENERGY_TRUE: "TeV",
    OFFSET: "deg",
    RAD: "deg",
    FOV_LON: "deg",
    FOV_LAT: "deg",
    MIGRA: "",
}

# (HDUCLAS2, HDUCLAS4) spellings seen in GADF files, including the CTA 1DC ones.
_HEADER_CLASSES = {
    ("EFF_AREA", "AEFF_2D"): "aeff_2d",
    ("EFF_AREA", "2D"): "aeff_2d",
    ("EDISP", "EDISP_2D"): "edisp_2d",
    ("EDISP", "2D"): "edisp_2d",
    ("RPSF", "PSF_TABLE"): "psf_table",
    ("PSF", "PSF_TABLE"): "psf_table",
    ("RPSF", "PSF_3GAUSS"): "psf_3gauss",
    ("PSF", "PSF_3GAUSS"): "psf_3gauss",
    ("RPSF", "3GAUSS"): "psf_3gauss",
    ("RPSF", "PSF_KING"): "psf_king",
    ("PSF", "PSF_KING"): "psf_king",
    ("RPSF", "KING"): "psf_king",
    ("BKG", "BKG_3D"): "bkg_3d",
    ("BKG", "3D"): "bkg_3d",
    ("BKG", "BKG_2D"): "bkg_2d",
    ("BKG", "2D"): "bkg_2d",
    ("RAD_MAX", "RAD_MAX_2D"): "rad_max_2d",
    ("RAD_MAX", "RAD_MAX"): "rad_max_2d",
}


def hdu_class_from_header(header: Header, *, where: str) -> str:
    """The IRF class (``aeff_2d``, ...) of an HDU from its ``HDUCLAS2``/``HDUCLAS4`` keywords."""
    clas2 = str(header.get("HDUCLAS2", "")).strip().upper()
    clas4 = str(header.get("HDUCLAS4", "")).strip().upper()
    try:
        return _HEADER_CLASSES[(clas2, clas4)]
    except KeyError:
        raise HDUClassError(
            f"{where}: unknown IRF class HDUCLAS2={clas2!r}, HDUCLAS4={clas4!r}; "
            f"gammaxr reads {sorted(IRF_CLASSES)}"
        ) from None


def read_irf(
    path: str | Path, hdu: str | int, *, hdu_class: str | None = None
) -> xr.DataArray | xr.Dataset:
    """Read one GADF IRF HDU.

    Parameters
    ----------
    path : str or Path
        FITS file.
    hdu : str or int
        HDU name or index.
    hdu_class : str, optional
        IRF class as given by an HDU index (``aeff_2d``, ``edisp_2d``,
        ``psf_table``, ``psf_3gauss``, ``psf_king``, ``bkg_2d``, ``bkg_3d``,
        ``rad_max_2d``). Read from the header when not given.

    Returns
    -------
    xarray.DataArray or xarray.Dataset
        The IRF on its canonical dims and units (see the module docstring); a
        Dataset of parameters for parametric PSFs. ``attrs`` holds
        ``hdu_class``, ``irf_type`` (``full-enclosure`` / ``point-like``),
        ``fovalign`` (background 3D), ``lo_thres``/``hi_thres`` (TeV, when
        given) and ``source`` (file and HDU).

    Raises
    ------
    HDUClassError
        Unknown IRF class.
    ColumnError
        Missing axis or data column.
    IRFShapeError
        Data shape inconsistent with the axes.

    Notes
    -----
    The result comes from a cache of parsed IRFs (see the module docstring): its
    arrays are read-only; use ``.copy()`` for a writable IRF.
    """
    path = Path(path)
    if not path.is_file():
        read_table(path, hdu)  # raises the DataFileError that names the file
    hdu_class = None if hdu_class is None else hdu_class.strip().lower()
    key = (str(path.resolve()), file_version(path), hdu, hdu_class)
    return _read_only_copy(_IRF_CACHE.get(key, lambda: _read_irf(path, hdu, hdu_class)))


def _read_irf(path: Path, hdu: str | int, hdu_class: str | None) -> xr.DataArray | xr.Dataset:
    table = read_table(path, hdu)
    where = f"{path}, HDU {table.name!r}"
    if hdu_class is None:
        hdu_class = hdu_class_from_header(table.header, where=where)
    hdu_class = hdu_class.strip().lower()
    if hdu_class not in IRF_CLASSES:
        raise HDUClassError(
            f"{where}: unknown IRF class {hdu_class!r}; gammaxr reads {sorted(IRF_CLASSES)}"
        )
    return _freeze(_read_table(table, IRF_CLASSES[hdu_class], hdu_class, where))


class _LRUCache:
    """A small thread-safe least-recently-used cache (values are made on a miss)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, make: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = make()  # outside the lock: two threads may both read a missing IRF
        if self.size > 0:
            with self._lock:
                self._items[key] = value
                self._items.move_to_end(key)
                while len(self._items) > self.size:
                    self._items.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


_IRF_CACHE = _LRUCache(IRF_CACHE_SIZE)


def set_irf_cache_size(size: int = IRF_CACHE_SIZE) -> None:
    """Resize the cache of parsed IRFs behind :func:`read_irf`, emptying it.

    Parameters
    ----------
    size : int
        Number of IRFs kept (least recently used dropped first); 0 turns the
        cache off, so that every call reads and parses the file.

    Raises
    ------
    ValueError
        If ``size`` is not an integer >= 0.
    """
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ValueError(f"set_irf_cache_size: size must be an integer >= 0, got {size!r}")
    _IRF_CACHE.clear()
    _IRF_CACHE.size = size


def _freeze(irf: xr.DataArray | xr.Dataset) -> xr.DataArray | xr.Dataset:
    """Make every numpy array of an IRF (data and coordinates) read-only, in place."""
    variables = irf.variables.values() if isinstance(irf, xr.Dataset) else (
        [irf.variable, *(c.variable for c in irf.coords.values())]
    )  # fmt: skip
    for variable in variables:
        data = variable.data
        if isinstance(data, np.ndarray):
            data.flags.writeable = False
    return irf


def _read_only_copy(irf: xr.DataArray | xr.Dataset) -> xr.DataArray | xr.Dataset:
    """A new object sharing the (read-only) arrays of ``irf``, with copies of its attrs."""
    return irf.copy(deep=False)


def _axis_columns(table: FitsTable, spec: IRFSpec, where: str) -> list[tuple[str, str]]:
    """(prefix, dim) of the axis column pairs, in column (= FITS axis) order."""
    names = [name.upper() for name in table.names]
    axes = []
    for name in names:
        if not name.endswith("_LO"):
            continue
        prefix = name[:-3]
        if f"{prefix}_HI" not in names:
            raise ColumnError(f"{where}: column {name!r} has no partner {prefix + '_HI'!r}")
        if prefix not in _AXIS_PREFIXES:
            raise FormatError(f"{where}: unknown IRF axis columns {prefix}_LO/{prefix}_HI")
        dim = _AXIS_PREFIXES[prefix] or spec.energy_dim
        axes.append((prefix, dim))
    found = {dim for _, dim in axes}
    if found != set(spec.dims) or len(axes) != len(spec.dims):
        expected = [_column_pair(dim, spec) for dim in spec.dims]
        present = [f"{prefix}_LO/{prefix}_HI" for prefix, _ in axes]
        raise ColumnError(f"{where}: expected axis columns {expected}, found {present}")
    return axes


def _column_pair(dim: str, spec: IRFSpec) -> str:
    for prefix, mapped in _AXIS_PREFIXES.items():
        if (mapped or spec.energy_dim) == dim:
            return f"{prefix}_LO/{prefix}_HI"
    return dim


def _read_axis(table, prefix: str, dim: str, where: str) -> xr.DataArray:
    unit = _AXIS_UNITS[dim]
    lo = column(table, f"{prefix}_LO", where=where, unit=unit, row=0).astype(float).ravel()
    hi = column(table, f"{prefix}_HI", where=where, unit=unit, row=0).astype(float).ravel()
    if lo.shape != hi.shape:
        raise IRFShapeError(
            f"{where}: {prefix}_LO has {lo.size} values but {prefix}_HI has {hi.size}"
        )
    if lo.size == 0:
        raise IRFShapeError(f"{where}: axis columns {prefix}_LO/{prefix}_HI are empty")
    interp = "log" if dim in (ENERGY, ENERGY_TRUE) else "lin"
    attrs = {"units": unit, "interp": interp}
    if np.array_equal(lo, hi):
        if lo.size > 1 and not np.all(np.diff(lo) > 0):
            raise FormatError(f"{where}: {prefix} nodes are not strictly increasing")
        return xr.DataArray(lo, dims=dim, coords={dim: (dim, lo, attrs)}, name=dim, attrs=attrs)
    # Bins may leave gaps but never overlap (float32 edges may differ in the last digit).
    overlap = lo[1:] < hi[:-1] - 1e-6 * np.abs(hi[:-1])
    if np.any(hi <= lo) or np.any(np.diff(lo) <= 0) or np.any(overlap):
        raise FormatError(
            f"{where}: {prefix}_LO/{prefix}_HI are not increasing, non-overlapping bins"
        )
    if interp == "log":
        if lo[0] <= 0:
            raise FormatError(f"{where}: {prefix}_LO must be positive, got {lo[0]}")
        centres = np.sqrt(lo * hi)
    else:
        centres = 0.5 * (lo + hi)
    # The file's edges are kept exactly, gaps included; each centre is its own bin's.
    return xr.DataArray(
        centres,
        dims=dim,
        coords={
            dim: (dim, centres, attrs),
            lo_name(dim): (dim, lo, {"units": unit}),
            hi_name(dim): (dim, hi, {"units": unit}),
        },
        name=dim,
        attrs=attrs,
    )


def _read_cell(
    table, names: str, unit: str, axes, where: str, spec: IRFSpec
) -> tuple[str, np.ndarray]:
    for name in names.split("|"):
        if has_column(table, name):
            break
    else:
        raise ColumnError(
            f"{where}: missing data column {names.replace('|', ' or ')!r}; "
            f"the HDU has {table.names}"
        )
    default_unit = unit if name.upper() in spec.unitless_means_canonical else None
    values = column(table, name, where=where, unit=unit, default_unit=default_unit, row=0)
    expected = tuple(axis.size for axis in reversed(axes))
    if values.shape != expected:
        if values.size == int(np.prod(expected)) and values.ndim == 1:
            values = values.reshape(expected)
        else:
            sizes = ", ".join(f"{axis.name}={axis.size}" for axis in axes)
            raise IRFShapeError(
                f"{where}: column {name!r} has shape {values.shape} (numpy order), but "
                f"its axes ({sizes}, in FITS order) need {expected}"
            )
    return name, values


def _read_table(table: FitsTable, spec: IRFSpec, hdu_class: str, where: str):
    axis_columns = _axis_columns(table, spec, where)
    axes = [_read_axis(table, prefix, dim, where) for prefix, dim in axis_columns]
    numpy_dims = tuple(axis.name for axis in reversed(axes))
    coords: dict[str, xr.DataArray] = {}
    for axis in axes:
        coords.update(axis.coords)
    header = table.header
    attrs = {
        "hdu_class": hdu_class,
        "irf_type": str(header.get("HDUCLAS3", "FULL-ENCLOSURE")).strip().lower(),
        "source": where,
    }
    for key in ("LO_THRES", "HI_THRES"):
        if key in header:
            attrs[key.lower()] = float(header[key])
    if hdu_class == "bkg_3d":
        fovalign = str(header.get("FOVALIGN", "RADEC")).strip().upper()
        if fovalign not in ("RADEC", "ALTAZ"):
            raise FormatError(f"{where}: FOVALIGN must be RADEC or ALTAZ, got {fovalign!r}")
        attrs["fovalign"] = fovalign
    if "RAD_MAX" in header:
        attrs["rad_max"] = float(header["RAD_MAX"])
    variables = {}
    for names, unit in spec.columns.items():
        name, values = _read_cell(table, names, unit, axes, where, spec)
        key = name.lower() if len(spec.columns) > 1 else spec.name
        variables[key] = xr.DataArray(
            values, dims=numpy_dims, coords=coords, attrs={"units": unit}
        ).transpose(*spec.dims)
    if len(variables) == 1:
        (data,) = variables.values()
        data.name = spec.name
        data.attrs.update(attrs)
        return data
    return xr.Dataset(variables, attrs={**attrs, "name": spec.name})
