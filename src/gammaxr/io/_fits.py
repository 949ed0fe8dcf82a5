"""Low-level FITS access with errors that name the file, HDU and column."""

from __future__ import annotations

import functools
import gzip
import io
import re
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.io import fits

from gammaxr.conventions import parse_unit
from gammaxr.exceptions import (
    ColumnError,
    DataFileError,
    FormatError,
    MissingHDUError,
    UnitError,
)

__all__ = ["column", "column_unit", "find_hdu", "has_column", "open_fits", "snake_case"]


@functools.lru_cache(maxsize=16)
def _decompressed(path: str, mtime_ns: int, size: int) -> bytes:
    """The decompressed bytes of a gzipped file, cached by path, mtime and size.

    A run's HDUs (events, GTI, four IRFs) live in one ``.fits.gz``; reading them
    one by one would decompress the file once per HDU. ``bytes`` are immutable,
    so the cache is safe to share between threads.
    """
    try:
        with gzip.open(path, "rb") as stream:
            return stream.read()
    except (EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise DataFileError(f"{path}: truncated or corrupt gzip file ({err})") from err


@contextmanager
def open_fits(path: str | Path) -> Iterator[fits.HDUList]:
    """Open a FITS file (memory-mapped where possible), raising :class:`DataFileError`.

    HDUs are loaded as they are reached (a compressed file is only decompressed
    up to the HDU wanted). A file that is not FITS, or not a readable gzip
    stream, is reported here; a later HDU that cannot be read, or a file shorter
    than an HDU needs, by :func:`find_hdu`. Each error names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"{path}: file not found")
    try:
        if path.suffix == ".gz":
            stat = path.stat()
            source = io.BytesIO(_decompressed(str(path), stat.st_mtime_ns, stat.st_size))
            hdul = fits.open(source, lazy_load_hdus=True)
        else:
            hdul = fits.open(path, memmap=True, lazy_load_hdus=True)
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise DataFileError(f"{path}: not a readable FITS file ({err})") from err
    try:
        yield hdul
    finally:
        hdul.close()


def find_hdu(hdul: fits.HDUList, name: str | int, *, path: str | Path) -> fits.BinTableHDU:
    """Return an HDU by EXTNAME (case-insensitive) or index.

    Raises
    ------
    MissingHDUError
        If the file has no such HDU (the message lists those it has).
    DataFileError
        If the file is corrupt before that HDU, or shorter than the HDU needs.
    """
    path = Path(path)
    try:
        index = _hdu_index(hdul, name)
    except (OSError, EOFError, zlib.error) as err:
        raise DataFileError(f"{path}: not a readable FITS file ({err})") from err
    if index is None:
        _check_stream(path)  # astropy stops quietly at the end of a truncated gzip stream
        present = [hdu.name for hdu in hdul]
        raise MissingHDUError(f"{path}: no HDU {name!r}; the file has {present}")
    _check_complete(hdul, index, path)
    return hdul[index]


def _hdu_index(hdul: fits.HDUList, name: str | int) -> int | None:
    if isinstance(name, int):
        return name if 0 <= name < len(hdul) else None
    wanted = name.strip().upper()
    for index, hdu in enumerate(hdul):
        if hdu.name.strip().upper() == wanted:
            return index
    return None


def _check_stream(path: Path) -> None:
    """Raise :class:`DataFileError` if a gzip file does not decompress to its end."""
    if path.suffix.lower() != ".gz":
        return
    try:
        with gzip.open(path) as stream:
            while stream.read(1 << 22):
                pass
    except (OSError, EOFError, zlib.error) as err:
        raise DataFileError(f"{path}: truncated or corrupt gzip file ({err})") from err


def _check_complete(hdul: fits.HDUList, index: int, path: Path) -> None:
    """Raise :class:`DataFileError` if an uncompressed file is shorter than an HDU needs."""
    if path.suffix.lower() in (".gz", ".bz2", ".z", ".zip"):
        return  # a truncated compressed stream fails to decompress or loses its last HDUs
    info = hdul.fileinfo(index)
    if info is None:
        return
    end = int(info["datLoc"]) + int(info["datSpan"])
    size = path.stat().st_size
    if end > size:
        raise DataFileError(
            f"{path}: truncated FITS file: HDU {index} ({hdul[index].name!r}) needs "
            f"{end} bytes but the file has {size}"
        )


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


def column_unit(
    hdu: fits.BinTableHDU, name: str, *, where: str, default: str | None = None
) -> u.UnitBase:
    """The unit of a column from its TUNIT keyword.

    A column without TUNIT is dimensionless, or in ``default`` when given
    (e.g. the ``TIMEUNIT`` of a GTI table whose ``START`` has no unit).
    """
    index = _column_index(hdu, name, where)
    text = hdu.columns[index].unit
    if default is not None and not (text and str(text).strip()):
        text = default
    return parse_unit(text, where=f"{where}, column {name!r}")


def column(
    hdu: fits.BinTableHDU,
    name: str,
    *,
    where: str,
    unit: str | u.UnitBase | None = None,
    default_unit: str | None = None,
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
    default_unit : str, optional
        Source unit assumed when the column has no TUNIT (default: dimensionless).
    row : int, optional
        For IRF tables stored as one row of vector cells: the row to read.

    Raises
    ------
    ColumnError
        If the column is missing.
    UnitError
        If its unit cannot be parsed or converted to ``unit``.
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
        source = column_unit(hdu, name, where=where, default=default_unit)
        target = parse_unit(unit) if isinstance(unit, str) else unit
        try:
            factor = source.to(target)
        except u.UnitConversionError as err:
            raise UnitError(
                f"{where}, column {name!r}: unit {_unit_text(source)!r} is not "
                f"convertible to {_unit_text(target)!r}"
            ) from err
        if factor != 1:
            if values.dtype.kind not in "fc":
                values = values.astype(np.float64)  # never scale integers in place
            values = values * np.asarray(factor, dtype=values.dtype)
    return values


def _unit_text(unit: u.UnitBase) -> str:
    """A unit as written in FITS files (``MeV-1 s-1 sr-1``), for messages."""
    if unit == u.dimensionless_unscaled:
        return "(dimensionless)"
    try:
        return unit.to_string("fits")
    except ValueError:
        return unit.to_string()


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
