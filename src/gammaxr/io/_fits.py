"""Low-level FITS access with errors that name the file, HDU and column."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.io import fits

from gammaxr.conventions import parse_unit
from gammaxr.exceptions import ColumnError, DataFileError, FormatError, MissingHDUError

__all__ = ["column", "column_unit", "find_hdu", "has_column", "open_fits", "snake_case"]


@contextmanager
def open_fits(path: str | Path) -> Iterator[fits.HDUList]:
    """Open a FITS file (memory-mapped where possible), raising :class:`DataFileError`."""
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"{path}: file not found")
    try:
        hdul = fits.open(path, memmap=True, lazy_load_hdus=True)
    except OSError as err:
        raise DataFileError(f"{path}: not a readable FITS file ({err})") from err
    try:
        yield hdul
    finally:
        hdul.close()


def find_hdu(hdul: fits.HDUList, name: str | int, *, path: str | Path) -> fits.BinTableHDU:
    """Return an HDU by EXTNAME (case-insensitive) or index, raising :class:`MissingHDUError`."""
    if isinstance(name, int):
        if 0 <= name < len(hdul):
            return hdul[name]
    else:
        wanted = name.strip().upper()
        for hdu in hdul:
            if hdu.name.strip().upper() == wanted:
                return hdu
    present = [hdu.name for hdu in hdul]
    raise MissingHDUError(f"{path}: no HDU {name!r}; the file has {present}")


def has_column(hdu: fits.BinTableHDU, name: str) -> bool:
    """Whether a binary table HDU has a column (case-insensitive)."""
    return name.upper() in (c.upper() for c in hdu.columns.names)


def _column_index(hdu: fits.BinTableHDU, name: str, where: str) -> int:
    names = [c.upper() for c in hdu.columns.names]
    try:
        return names.index(name.upper())
    except ValueError:
        raise ColumnError(
            f"{where}: missing column {name!r}; the HDU has {hdu.columns.names}"
        ) from None


def column_unit(hdu: fits.BinTableHDU, name: str, *, where: str) -> u.UnitBase:
    """The unit of a column from its TUNIT keyword (dimensionless if absent)."""
    index = _column_index(hdu, name, where)
    return parse_unit(hdu.columns[index].unit, where=f"{where}, column {name!r}")


def column(
    hdu: fits.BinTableHDU,
    name: str,
    *,
    where: str,
    unit: str | u.UnitBase | None = None,
    row: int | None = None,
) -> np.ndarray:
    """Read a column as a native-endian float or int array, optionally converted to ``unit``.

    Parameters
    ----------
    hdu : BinTableHDU
        The table.
    name : str
        Column name (case-insensitive).
    where : str
        ``"file, HDU"`` text for error messages.
    unit : str or astropy unit, optional
        Convert to this unit (the column's TUNIT is the source unit).
    row : int, optional
        For IRF tables stored as one row of vector cells: the row to read.
    """
    index = _column_index(hdu, name, where)
    data = hdu.data.field(index)
    if row is not None:
        if len(data) <= row:
            raise FormatError(f"{where}: column {name!r} has no row {row}")
        data = data[row]
    values = np.asarray(data)
    values = values.astype(values.dtype.newbyteorder("="), copy=False)
    if unit is not None:
        source = column_unit(hdu, name, where=where)
        target = parse_unit(unit) if isinstance(unit, str) else unit
        try:
            factor = source.to(target)
        except u.UnitConversionError as err:
            raise FormatError(
                f"{where}, column {name!r}: unit {source.to_string()!r} is not "
                f"convertible to {target.to_string()!r}"
            ) from err
        if factor != 1:
            values = values * np.asarray(factor, dtype=values.dtype)
    return values


_SNAKE = re.compile(r"[^0-9a-zA-Z]+")


def snake_case(name: str) -> str:
    """Map a FITS column or keyword name to snake_case (``DATE-OBS`` -> ``date_obs``)."""
    return _SNAKE.sub("_", name.strip()).strip("_").lower()


def table_to_frame(hdu: fits.BinTableHDU, *, where: str):
    """Convert a FITS binary table to a pandas DataFrame with snake_case columns.

    Scalar columns become native-endian numpy columns, strings are stripped
    ``str``; vector columns are kept as one array per row (object dtype).
    ``df.attrs["units"]`` maps each column with a TUNIT to its unit string.
    """
    import pandas as pd

    if not isinstance(hdu, fits.BinTableHDU):
        raise FormatError(f"{where}: expected a binary table, got {type(hdu).__name__}")
    data = hdu.data
    columns: dict[str, object] = {}
    units: dict[str, str] = {}
    n_rows = 0 if data is None else len(data)
    for index, col in enumerate(hdu.columns):
        key = snake_case(col.name)
        values = np.asarray(data.field(index)) if data is not None else np.empty(0)
        if values.dtype.kind in "SU":
            values = np.char.strip(values.astype(str)).astype(object)
        elif values.ndim > 1:
            values = list(values.astype(values.dtype.newbyteorder("="), copy=False))
        else:
            values = values.astype(values.dtype.newbyteorder("="), copy=False)
        columns[key] = values
        if col.unit:
            units[key] = parse_unit(col.unit, where=f"{where}, column {col.name!r}").to_string(
                "fits"
            )
    frame = pd.DataFrame(columns, index=pd.RangeIndex(n_rows))
    frame.attrs["units"] = units
    return frame
