"""Low-level FITS access with errors that name the file, HDU and column.

Two ways in:

* :func:`read_table` / :func:`read_header`: a small reader of FITS binary
  tables written for the GADF readers. It parses the headers itself (no card
  objects, no verification passes), finds an HDU by name from a scan of the
  file's headers that is cached by path, size and modification time, and
  returns columns as numpy views of the bytes (memory-mapped for plain files,
  the decompressed bytes, also cached, for ``.gz``). A run file is thus
  decompressed and scanned once, however many of its HDUs are read. Tables it
  does not decode itself (variable-length arrays, bit columns, unusual
  scalings or headers) are read through astropy instead, with the same
  result.
* :func:`open_fits` / :func:`find_hdu`: an astropy ``HDUList``, for readers
  that need astropy's objects (images, WCS).

The column helpers (:func:`column`, :func:`has_column`, :func:`column_unit`,
:func:`table_to_frame`) take a table of either kind.
"""

from __future__ import annotations

import functools
import gzip
import io
import mmap
import os
import re
import zlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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

__all__ = [
    "FitsColumn",
    "FitsTable",
    "Header",
    "column",
    "column_unit",
    "file_version",
    "find_hdu",
    "has_column",
    "open_fits",
    "read_header",
    "read_table",
    "snake_case",
]

_BLOCK = 2880
_CARD = 80
_GZIP_MAGIC = b"\x1f\x8b"


FileVersion = tuple[int, int, int, int]


def file_version(path: str | Path) -> FileVersion:
    """What the caches of parsed files are keyed on, besides the path.

    The inode, size, modification and status-change times (ns): a file
    replaced or rewritten gets a new key. (File systems with coarse
    timestamps could still give a file rewritten within the same tick, to the
    same size and inode, the same key.)
    """
    stat = os.stat(path)
    return stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns


@functools.lru_cache(maxsize=16)
def _decompressed(path: str, version: FileVersion) -> bytes:
    """The decompressed bytes of a gzipped file, cached by path and :func:`file_version`.

    A run's HDUs (events, GTI, four IRFs) live in one ``.fits.gz``; reading them
    one by one would decompress the file once per HDU. ``bytes`` are immutable,
    so the cache is safe to share between threads.
    """
    try:
        with gzip.open(path, "rb") as stream:
            return stream.read()
    except (EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise DataFileError(f"{path}: truncated or corrupt gzip file ({err})") from err


# --------------------------------------------------------------------------------------
# The fast reader: headers and binary tables
# --------------------------------------------------------------------------------------


class Header(Mapping):
    """A read-only FITS header: keyword -> value, keywords case-insensitive.

    Values are ``str`` (trailing blanks removed, long strings joined across
    ``CONTINUE`` cards), ``bool``, ``int``, ``float``, ``complex`` or ``None``
    (no value). Commentary cards (``COMMENT``, ``HISTORY``, blank) are left
    out; a repeated keyword keeps its first value. ``HIERARCH`` keywords are
    stored without the ``HIERARCH`` prefix.
    """

    __slots__ = ("_cards",)

    def __init__(self, cards: Mapping[str, Any]) -> None:
        self._cards = dict(cards)

    def __getitem__(self, key: str) -> Any:
        return self._cards[key.upper()]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.upper() in self._cards

    def __iter__(self) -> Iterator[str]:
        return iter(self._cards)

    def __len__(self) -> int:
        return len(self._cards)

    def __repr__(self) -> str:
        return f"Header({self._cards!r})"


_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[EeDd][+-]?[0-9]+)?")


_COMMENTARY = ("", "COMMENT", "HISTORY")


class _CardError(ValueError):
    """A card the fast parser does not understand (the file is then read by astropy)."""


def _string_value(text: str) -> tuple[str, str]:
    """A quoted FITS string at the start of ``text``: (value, rest after the closing quote)."""
    parts, start = [], 1
    while True:
        quote = text.find("'", start)
        if quote < 0:
            raise _CardError(f"unterminated string {text!r}")
        if text[quote + 1 : quote + 2] == "'":  # '' is a quote inside the string
            parts.append(text[start : quote + 1])
            start = quote + 2
            continue
        parts.append(text[start:quote])
        return "".join(parts).rstrip(), text[quote + 1 :]


def _card_value(text: str) -> Any:
    """The value of a card from its value field (column 11 on)."""
    field = text.lstrip()
    if field.startswith("'"):
        value, rest = _string_value(field)
        rest = rest.strip()
        if rest and not rest.startswith("/"):
            raise _CardError(f"text after a string value: {text!r}")
        return value
    token = field.split("/", 1)[0].strip()
    if token == "T":
        return True
    if token == "F":
        return False
    if not token:
        return None
    if _INT.fullmatch(token):
        return int(token)
    if _FLOAT.fullmatch(token):
        return float(token.replace("D", "E").replace("d", "e"))
    raise _CardError(f"value {token!r}")


def _parse_header(raw: bytes) -> tuple[Header, int] | None:
    """Parse the header at the start of ``raw``; None if ``raw`` ends before its END card.

    Returns the header and its length in bytes (whole blocks).
    """
    cards: dict[str, Any] = {}
    long_key: str | None = None
    for start in range(0, len(raw) - _CARD + 1, _CARD):
        card = raw[start : start + _CARD].decode("ascii", errors="replace")
        key = card[:8].rstrip().upper()
        if key == "END" and not card[8:].strip():
            size = (start // _BLOCK + 1) * _BLOCK
            return Header(cards), size
        if key == "CONTINUE" and long_key is not None:
            value = _card_value(card[8:])
            if not isinstance(value, str):
                raise _CardError(f"CONTINUE card without a string: {card!r}")
            previous = cards[long_key][:-1]
            cards[long_key] = previous + value
            if not value.endswith("&"):
                long_key = None
            continue
        long_key = None
        if key in _COMMENTARY:
            continue
        if key == "HIERARCH":
            rest = card[9:]
            if "=" not in rest:
                continue
            name, text = rest.split("=", 1)
            key, value = name.strip().upper(), _card_value(text)
        elif card[8:10] == "= ":
            value = _card_value(card[10:])
        else:
            continue  # commentary card (COMMENT, HISTORY, blank) or no value indicator
        if key in cards:
            continue
        cards[key] = value
        if isinstance(value, str) and value.endswith("&"):
            long_key = key
    return None


@dataclass(frozen=True)
class _HDUInfo:
    """Where one HDU lies in a file, and its header."""

    index: int
    name: str
    header: Header
    data_offset: int
    data_size: int


@dataclass(frozen=True)
class _Scan:
    """The HDUs of a file, and why the scan stopped early (None if it did not)."""

    hdus: tuple[_HDUInfo, ...]
    problem: str | None


def _data_size(header: Header) -> int:
    """Bytes of an HDU's data (without padding), from its size keywords."""
    naxis = int(header.get("NAXIS", 0))
    if naxis == 0:
        return 0
    shape = [int(header[f"NAXIS{i}"]) for i in range(1, naxis + 1)]
    if header.get("GROUPS") is True and shape[0] == 0:
        shape = shape[1:]  # random groups
    elements = int(np.prod(shape, dtype=np.int64))
    bits = abs(int(header["BITPIX"])) * int(header.get("GCOUNT", 1))
    return bits * (int(header.get("PCOUNT", 0)) + elements) // 8


def _scan_bytes(raw: bytes | mmap.mmap | memoryview, size: int) -> _Scan:
    """Find every HDU of a FITS byte string: names, headers, data offsets and sizes."""
    hdus: list[_HDUInfo] = []
    offset = 0
    if size < _BLOCK:
        raise _CardError("shorter than one FITS block")
    while offset < size:
        first = bytes(raw[offset : offset + 8])
        if hdus and first != b"XTENSION":
            break  # padding or trailing bytes after the last HDU
        if not hdus and first != b"SIMPLE  ":
            raise _CardError("the file does not start with SIMPLE")
        parsed = None
        end = offset
        while parsed is None:
            end += 16 * _BLOCK
            parsed = _parse_header(bytes(raw[offset : min(end, size)]))
            if parsed is None and end >= size:
                return _Scan(tuple(hdus), f"HDU {len(hdus)} ends before its END card")
        header, header_size = parsed
        index = len(hdus)
        name = "PRIMARY" if index == 0 else str(header.get("EXTNAME", "")).strip()
        data_offset = offset + header_size
        data_size = _data_size(header)
        hdus.append(_HDUInfo(index, name, header, data_offset, data_size))
        if data_offset + data_size > size:
            return _Scan(
                tuple(hdus),
                f"truncated FITS file: HDU {index} ({name!r}) needs "
                f"{data_offset + data_size} bytes but the file has {size}",
            )
        offset = data_offset + -(-data_size // _BLOCK) * _BLOCK
    return _Scan(tuple(hdus), None)


def _file_key(path: Path) -> tuple[str, FileVersion]:
    if not path.is_file():
        raise DataFileError(f"{path}: file not found")
    return str(path), file_version(path)


def _is_gzip(path: str) -> bool:
    with open(path, "rb") as stream:
        return stream.read(2) == _GZIP_MAGIC


def _buffer(path: str, version: FileVersion) -> bytes | np.ndarray:
    """The bytes of a FITS file: decompressed (cached) for gzip, memory-mapped otherwise."""
    if _is_gzip(path):
        return _decompressed(path, version)
    if version[1] == 0:
        return b""
    return np.memmap(path, dtype=np.uint8, mode="r")


@functools.lru_cache(maxsize=64)
def _scan_file(path: str, version: FileVersion) -> _Scan | None:
    """The scan of a file, cached by path and :func:`file_version`; None: leave it to astropy."""
    try:
        buffer = _buffer(path, version)
    except DataFileError as err:
        raise DataFileError(f"{path}: not a readable FITS file ({err})") from err
    except OSError as err:
        raise DataFileError(f"{path}: not a readable FITS file ({err})") from err
    try:
        return _scan_bytes(memoryview(buffer) if isinstance(buffer, np.ndarray) else buffer,
                           len(buffer))  # fmt: skip
    except (_CardError, KeyError, ValueError, TypeError):
        return None  # not a layout this reader knows: astropy reads (or rejects) the file


# Binary-table column codes -> numpy type (big-endian, as FITS stores them).
_TFORM = re.compile(r"\s*([0-9]*)\s*([LXBIJKAEDCMPQ])(.*)")
_CODES = {
    "L": "u1", "B": "u1", "I": ">i2", "J": ">i4", "K": ">i8",
    "E": ">f4", "D": ">f8", "C": ">c8", "M": ">c16",
}  # fmt: skip
# TZERO values that mark unsigned integers (which astropy returns as such): the type to
# read the bits as, the sign bit to flip (which adds TZERO), and the type of the result.
# (astropy returns signed bytes, B with TZERO = -128, as floats: left to astropy.)
_OFFSET_INTEGERS = {
    ("I", 2**15): (">u2", np.uint16(2**15), None),
    ("J", 2**31): (">u4", np.uint32(2**31), None),
    ("K", 2**63): (">u8", np.uint64(2**63), None),
}


@dataclass(frozen=True)
class FitsColumn:
    """One column of a binary table.

    Attributes
    ----------
    name : str
        ``TTYPEn``.
    format : str
        ``TFORMn`` as written.
    unit : str or None
        ``TUNITn``.
    dim : str or None
        ``TDIMn``.
    shape : tuple of int
        Shape of one cell in numpy order (``()`` for a scalar or a string).
    """

    name: str
    format: str
    unit: str | None
    dim: str | None
    shape: tuple[int, ...]


class FitsTable:
    """A FITS binary table: its header, columns and data, read by :func:`read_table`.

    ``field(i)`` returns column ``i`` as a numpy array with one row per table
    row (then the cell shape); numbers are in the file's byte order and may be
    read-only views: :func:`column` converts them.
    """

    def __init__(
        self,
        name: str,
        header: Header,
        columns: tuple[FitsColumn, ...],
        n_rows: int,
        fields,
    ) -> None:
        self.name = name
        self.header = header
        self.columns = columns
        self.n_rows = n_rows
        self._fields = fields

    @property
    def names(self) -> list[str]:
        """Column names (``TTYPEn``), in file order."""
        return [col.name for col in self.columns]

    def field(self, index: int) -> np.ndarray:
        """Column ``index`` (see the class docstring)."""
        return self._fields(index)

    def __repr__(self) -> str:
        return f"FitsTable({self.name!r}, {self.n_rows} rows, columns={self.names})"


def _column_layout(header: Header, index: int) -> tuple[FitsColumn, np.dtype, Any]:
    """A column's description, its numpy type in the row, and how to decode it."""
    tform = str(header[f"TFORM{index}"])
    match = _TFORM.fullmatch(tform)
    if match is None:
        raise _CardError(f"TFORM{index} = {tform!r}")
    repeat = int(match.group(1) or 1)
    code = match.group(2)
    if code in "XPQ":
        raise _CardError(f"column format {code} is read by astropy")
    name = str(header.get(f"TTYPE{index}", "")).strip()
    unit = header.get(f"TUNIT{index}")
    unit = None if unit is None else str(unit)
    dim = header.get(f"TDIM{index}")
    dim = None if dim is None else str(dim)
    scale, zero = header.get(f"TSCAL{index}", 1), header.get(f"TZERO{index}", 0)
    decode: Any = None
    if code == "A":
        if dim is not None:
            raise _CardError("string column with TDIM")
        if scale != 1 or zero != 0:
            raise _CardError("scaled string column")
        return FitsColumn(name, tform, unit, dim, ()), np.dtype(f"S{repeat}"), None
    numpy_type = _CODES[code]
    if scale != 1 or zero != 0:
        if scale != 1 or (code, zero) not in _OFFSET_INTEGERS:
            raise _CardError("scaled column")
        numpy_type, flip, final = _OFFSET_INTEGERS[(code, zero)]
        decode = ("flip", (flip, final))
    if code == "L":
        decode = ("logical", None)
    if dim is not None:
        text = dim.strip()
        if not (text.startswith("(") and text.endswith(")")):
            raise _CardError(f"TDIM{index} = {dim!r}")
        sizes = tuple(int(part) for part in text[1:-1].split(","))
        if int(np.prod(sizes)) != repeat:
            raise _CardError(f"TDIM{index} does not match TFORM{index}")
        shape = sizes[::-1]
    else:
        shape = () if repeat == 1 else (repeat,)
    if repeat == 0:
        shape = (0,)
    return FitsColumn(name, tform, unit, dim, shape), np.dtype((numpy_type, shape)), decode


def _decode(values: np.ndarray, decode) -> np.ndarray:
    if decode is None:
        return values
    kind, extra = decode
    if kind == "logical":
        return values == ord("T")
    # Offset integers: flipping the sign bit adds the TZERO offset.
    flip, final = extra
    flipped = values ^ flip
    return flipped if final is None else flipped.view(final)


def _fast_table(buffer, info: _HDUInfo) -> FitsTable:
    """Decode a binary table from the file bytes; :class:`_CardError` if it cannot."""
    header = info.header
    if str(header.get("XTENSION", "")).strip() != "BINTABLE":
        raise _CardError("not a binary table")
    n_fields = int(header.get("TFIELDS", 0))
    row_size, n_rows = int(header["NAXIS1"]), int(header["NAXIS2"])
    columns, names, formats, offsets, decoders = [], [], [], [], []
    position = 0
    for index in range(1, n_fields + 1):
        col, dtype, decode = _column_layout(header, index)
        columns.append(col)
        names.append(f"f{index}")
        formats.append(dtype)
        offsets.append(position)
        decoders.append(decode)
        position += dtype.itemsize
    if position != row_size:
        raise _CardError(f"columns take {position} bytes per row, NAXIS1 = {row_size}")
    row = np.dtype({"names": names, "formats": formats, "offsets": offsets,
                    "itemsize": row_size})  # fmt: skip
    if n_rows and row_size:
        rows = np.frombuffer(buffer, dtype=row, count=n_rows, offset=info.data_offset)
    else:
        rows = np.zeros(n_rows, dtype=row)

    def field(index: int) -> np.ndarray:
        return _decode(rows[names[index]], decoders[index])

    return FitsTable(info.name, header, tuple(columns), n_rows, field)


def _astropy_table(path: Path, hdu: str | int) -> FitsTable:
    """A table read through astropy, for layouts the fast reader leaves to it."""
    with open_fits(path) as hdul:
        table = find_hdu(hdul, hdu, path=path)
        if not isinstance(table, fits.BinTableHDU):
            raise FormatError(
                f"{path}, HDU {table.name!r}: expected a binary table, got {type(table).__name__}"
            )
        header = _astropy_header(table.header)
        data = table.data
        arrays = (
            [] if data is None else [np.array(data.field(i)) for i in range(len(table.columns))]
        )
        n_rows = 0 if data is None else len(data)
        columns = tuple(
            FitsColumn(
                col.name,
                str(col.format),
                None if col.unit is None else str(col.unit),
                None if col.dim is None else str(col.dim),
                arrays[i].shape[1:] if arrays and arrays[i].dtype.kind not in "SU" else (),
            )
            for i, col in enumerate(table.columns)
        )
        return FitsTable(table.name, header, columns, n_rows, arrays.__getitem__)


def _astropy_header(header: fits.Header) -> Header:
    cards: dict[str, Any] = {}
    for card in header.cards:
        key = card.keyword.upper()
        if key in ("", "COMMENT", "HISTORY") or key in cards:
            continue
        value = card.value
        cards[key] = None if isinstance(value, fits.card.Undefined) else value
    return Header(cards)


def _locate(path: Path) -> tuple[_Scan | None, tuple[str, FileVersion]]:
    key = _file_key(path)
    return _scan_file(*key), key


def _find_info(scan: _Scan, hdu: str | int, path: Path) -> _HDUInfo:
    """An HDU of a scanned file by EXTNAME (case-insensitive) or index."""
    if isinstance(hdu, int):
        found = scan.hdus[hdu] if 0 <= hdu < len(scan.hdus) else None
    else:
        wanted = hdu.strip().upper()
        found = next((h for h in scan.hdus if h.name.strip().upper() == wanted), None)
    if found is None:
        if scan.problem is not None:
            raise DataFileError(f"{path}: {scan.problem} (looking for HDU {hdu!r})")
        present = [h.name for h in scan.hdus]
        raise MissingHDUError(f"{path}: no HDU {hdu!r}; the file has {present}")
    if (
        scan.problem is not None
        and scan.problem.startswith("truncated")
        and (found.index == len(scan.hdus) - 1)
    ):
        raise DataFileError(f"{path}: {scan.problem}")
    return found


def read_header(path: str | Path, hdu: str | int) -> Header:
    """The header of one HDU, by EXTNAME (case-insensitive) or index, without reading data.

    Raises
    ------
    DataFileError
        If the file is missing, not FITS, or truncated before that HDU.
    MissingHDUError
        If the file has no such HDU.
    """
    path = Path(path)
    scan, _ = _locate(path)
    if scan is None:
        with open_fits(path) as hdul:
            return _astropy_header(find_hdu(hdul, hdu, path=path).header)
    return _find_info(scan, hdu, path).header


def read_table(path: str | Path, hdu: str | int) -> FitsTable:
    """One binary-table HDU, by EXTNAME (case-insensitive) or index.

    Raises
    ------
    DataFileError
        If the file is missing, not FITS, or shorter than the HDU needs.
    MissingHDUError
        If the file has no such HDU.
    FormatError
        If the HDU is not a binary table.
    """
    path = Path(path)
    scan, key = _locate(path)
    if scan is None:
        return _astropy_table(path, hdu)
    info = _find_info(scan, hdu, path)
    if str(info.header.get("XTENSION", "")).strip() != "BINTABLE":
        kind = "the primary HDU" if info.index == 0 else repr(info.header.get("XTENSION"))
        raise FormatError(f"{path}, HDU {info.name!r}: expected a binary table, got {kind}")
    try:
        return _fast_table(_buffer(*key), info)
    except (_CardError, KeyError, ValueError, TypeError):
        return _astropy_table(path, hdu)


# --------------------------------------------------------------------------------------
# astropy HDUList access
# --------------------------------------------------------------------------------------


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
            source = io.BytesIO(_decompressed(str(path), file_version(path)))
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
    # The HDU's own fileinfo: HDUList.fileinfo would re-serialise every header to check
    # whether it was resized, which costs more than reading the table.
    info = hdul[index].fileinfo()
    if info is None:
        return
    end = int(info["datLoc"]) + int(info["datSpan"])
    size = path.stat().st_size
    if end > size:
        raise DataFileError(
            f"{path}: truncated FITS file: HDU {index} ({hdul[index].name!r}) needs "
            f"{end} bytes but the file has {size}"
        )


# --------------------------------------------------------------------------------------
# Columns, of either kind of table
# --------------------------------------------------------------------------------------


def _names(hdu: FitsTable | fits.BinTableHDU) -> list[str]:
    return hdu.names if isinstance(hdu, FitsTable) else list(hdu.columns.names)


def _field(hdu: FitsTable | fits.BinTableHDU, index: int) -> np.ndarray:
    return hdu.field(index) if isinstance(hdu, FitsTable) else hdu.data.field(index)


def _n_rows(hdu: FitsTable | fits.BinTableHDU) -> int:
    if isinstance(hdu, FitsTable):
        return hdu.n_rows
    return 0 if hdu.data is None else len(hdu.data)


def _unit_of(hdu: FitsTable | fits.BinTableHDU, index: int) -> str | None:
    return hdu.columns[index].unit


def has_column(hdu: FitsTable | fits.BinTableHDU, name: str) -> bool:
    """Whether a binary table has a column (case-insensitive)."""
    return name.upper() in (c.upper() for c in _names(hdu))


def _column_index(hdu: FitsTable | fits.BinTableHDU, name: str, where: str) -> int:
    names = [c.upper() for c in _names(hdu)]
    try:
        return names.index(name.upper())
    except ValueError:
        raise ColumnError(f"{where}: missing column {name!r}; the HDU has {_names(hdu)}") from None


def column_unit(
    hdu: FitsTable | fits.BinTableHDU, name: str, *, where: str, default: str | None = None
) -> u.UnitBase:
    """The unit of a column from its TUNIT keyword.

    A column without TUNIT is dimensionless, or in ``default`` when given
    (e.g. the ``TIMEUNIT`` of a GTI table whose ``START`` has no unit).
    """
    index = _column_index(hdu, name, where)
    text = _unit_of(hdu, index)
    if default is not None and not (text and str(text).strip()):
        text = default
    return parse_unit(text, where=f"{where}, column {name!r}")


def column(
    hdu: FitsTable | fits.BinTableHDU,
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
    hdu : FitsTable or BinTableHDU
        The table (:func:`read_table`, or an astropy HDU).
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

    Returns
    -------
    numpy.ndarray
        A new array (never a view of the file's bytes).

    Raises
    ------
    ColumnError
        If the column is missing.
    UnitError
        If its unit cannot be parsed or converted to ``unit``.
    """
    index = _column_index(hdu, name, where)
    data = _field(hdu, index)
    if row is not None:
        if len(data) <= row:
            raise FormatError(f"{where}: column {name!r} has no row {row}")
        data = data[row]
    values = np.array(data, dtype=np.asarray(data).dtype.newbyteorder("="))
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


def table_to_frame(hdu: FitsTable | fits.BinTableHDU, *, where: str):
    """Convert a FITS binary table to a pandas DataFrame with snake_case columns.

    Scalar columns become native-endian numpy columns, strings are stripped
    ``str``; vector columns are kept as one array per row (object dtype).
    ``df.attrs["units"]`` maps each column with a TUNIT to its unit string.
    """
    import pandas as pd

    if not isinstance(hdu, FitsTable | fits.BinTableHDU):
        raise FormatError(f"{where}: expected a binary table, got {type(hdu).__name__}")
    n_rows = _n_rows(hdu)
    columns: dict[str, object] = {}
    units: dict[str, str] = {}
    for index, name in enumerate(_names(hdu)):
        key = snake_case(name)
        values = np.asarray(_field(hdu, index)) if n_rows else np.empty(0)
        if values.dtype.kind in "SU":
            values = np.char.strip(values.astype(str)).astype(object)
        elif values.ndim > 1:
            values = list(np.array(values, dtype=values.dtype.newbyteorder("=")))
        else:
            values = np.array(values, dtype=values.dtype.newbyteorder("="))
        columns[key] = values
        unit = _unit_of(hdu, index)
        if unit:
            units[key] = parse_unit(unit, where=f"{where}, column {name!r}").to_string("fits")
    frame = pd.DataFrame(columns, index=pd.RangeIndex(n_rows))
    frame.attrs["units"] = units
    return frame
