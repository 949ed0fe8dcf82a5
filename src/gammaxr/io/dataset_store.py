"""Datasets to and from NetCDF and Zarr, with nothing lost.

:func:`write_dataset` stores any gammaxr dataset (a map or spectrum dataset, a
joint form with an ``obs_id`` dim, a stacked one, flux points, ...) as NetCDF4
(``.nc``, through the ``netCDF4`` engine) or Zarr (``.zarr``, the format that
the installed zarr-python writes by default), and :func:`read_dataset` gives
back a dataset that is identical: every variable and coordinate, its dtype, and
every attribute with its value *and its Python type*.

How that is achieved
--------------------
- **Booleans.** NetCDF has no boolean type. A bool variable (``mask_safe``,
  ``mask_fit``) is written as ``int8`` 0/1 with the attribute
  ``dtype = "bool"``, the convention of xarray's CF coder, so the file also
  opens correctly with a plain :func:`xarray.open_dataset`, and the decoding
  stays lazy. Zarr stores booleans natively.
- **Attribute types.** NetCDF returns numbers as numpy scalars, lists as
  arrays and one-element lists as scalars; Zarr keeps JSON types only. The
  writer therefore records the type of every attribute (dataset and variable
  attrs) in one dataset attribute, ``gammaxr_encoding``, a JSON string that
  also records the dtype of every variable. The reader removes it, restores
  each attribute to its recorded type and checks every dtype.
- **What attributes may hold.** What both formats store exactly: ``str``
  (UTF-8, no NUL character), ``int`` (within int64), ``float`` (NaN and
  infinities included), numpy integer and floating scalars (except
  ``float16``), lists and tuples of those (all strings or all numbers), and
  1-D numeric numpy arrays. Booleans, ``None``, dicts, bytes and anything
  else are rejected with a :class:`~gammaxr.exceptions.FormatError` that
  names each offending attribute (DESIGN.md section 1): store a flag as
  ``0``/``1`` or a string, and structured metadata as a YAML or JSON string.
  Attribute names starting with ``_`` and the names the CF decoders act on
  (``_FillValue``, ``missing_value``, ``scale_factor``, ``add_offset``,
  ``calendar``, ``coordinates``, ``dtype``, ``compress``) are rejected too,
  since a reader would act on them instead of returning them. The same rules
  apply to both formats, so whatever is written as Zarr can also be written as
  NetCDF.
- **Variables** may have dtypes of kind bool, (unsigned) integer, float
  (``float32``/``float64``), ``datetime64``, ``timedelta64`` and unicode
  strings. Byte order is not kept: a big-endian array (as read from FITS)
  comes back in native order with the same values. Zarr version 3 has a
  specification for variable-length strings only, so string variables are
  stored in Zarr as variable-length UTF-8 and converted back to their
  fixed-width dtype on reading; with ``chunks=None`` that conversion loads
  those (small, metadata-like) variables, with Dask it stays lazy.
- **Encodings** of the input (e.g. chunks or compressors from the file it
  was read from) are dropped, so a dataset read from one format can be
  written to the other. NetCDF data variables are compressed (zlib level 4
  with shuffle); Zarr uses zarr-python's default compressor. Data variables
  are stored in the chunks of a Dask-backed input (made regular for Zarr
  where needed), else one observation per chunk when they have an
  ``obs_id`` dim (so ``read_dataset(path, chunks={})`` gives one Dask task
  per observation), else in the library's default chunks. No ``_FillValue``
  is written for numeric variables: NaN is stored as NaN.

Zarr stores are written without consolidated metadata (not part of the Zarr 3
specification) and read without it.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import xarray as xr

from gammaxr.conventions import OBS_ID
from gammaxr.exceptions import DataFileError, FormatError

__all__ = ["ENCODING_ATTR", "read_dataset", "write_dataset"]

DatasetFormat = Literal["netcdf", "zarr"]

#: Dataset attribute holding the JSON record of attribute types and dtypes.
ENCODING_ATTR = "gammaxr_encoding"
_ENCODING_VERSION = 1

_SUFFIXES: dict[str, DatasetFormat] = {
    ".nc": "netcdf",
    ".nc4": "netcdf",
    ".netcdf": "netcdf",
    ".zarr": "zarr",
}
_FORMATS: tuple[DatasetFormat, ...] = ("netcdf", "zarr")
# Attributes the CF decoders of xarray (or the netCDF library) act on.
_RESERVED_ATTRS = frozenset(
    {
        "_FillValue",
        "missing_value",
        "scale_factor",
        "add_offset",
        "calendar",
        "coordinates",
        "dtype",
        "compress",
    }
)
_DTYPE_KINDS = "biufMmU"
_NETCDF_MAGIC = (b"\x89HDF\r\n\x1a\n", b"CDF\x01", b"CDF\x02", b"CDF\x05")
_INT64 = np.iinfo(np.int64)

Tag = str | dict[str, Any]


# --------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------


def write_dataset(
    ds: xr.Dataset,
    path: str | os.PathLike[str],
    *,
    format: DatasetFormat | None = None,
) -> Path:
    """Write a dataset to NetCDF4 or Zarr so that :func:`read_dataset` restores it exactly.

    An existing file or store at ``path`` is replaced (as :meth:`xarray.Dataset.to_netcdf`
    does). Dask-backed data is computed while writing, chunk by chunk.

    Parameters
    ----------
    ds : xarray.Dataset
        Any gammaxr dataset. Its attributes must be storable (see the module
        documentation); ``ds`` itself is not changed.
    path : str or path-like
        Target file (NetCDF) or directory (Zarr store).
    format : {"netcdf", "zarr"}, optional
        File format. By default it follows the suffix of ``path``: ``.nc``,
        ``.nc4`` or ``.netcdf`` for NetCDF4, ``.zarr`` for Zarr.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    FormatError
        If the format cannot be told from the suffix, or if an attribute,
        attribute name, variable name or dtype cannot be stored exactly; the
        message names every offending item.

    Examples
    --------
    >>> import numpy as np
    >>> import xarray as xr
    >>> from gammaxr.io.dataset_store import read_dataset, write_dataset
    >>> ds = xr.Dataset(
    ...     {"mask_safe": ("energy", np.array([False, True]), {"units": ""})},
    ...     attrs={"obs_id": 23523, "livetime": 1581.7, "gti": [0.0, 1687.0]},
    ... )
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = write_dataset(ds, pathlib.Path(tmp) / "obs.nc")
    ...     with read_dataset(path) as back:
    ...         back.identical(ds), back.mask_safe.dtype, type(back.attrs["obs_id"])
    (True, dtype('bool'), <class 'int'>)
    """
    if not isinstance(ds, xr.Dataset):
        raise TypeError(f"write_dataset: expected an xarray.Dataset, got {type(ds).__name__}")
    path = Path(path)
    fmt = _resolve_format(path, format, what="write_dataset")
    manifest = _check_and_describe(ds)
    out = _encode(ds.drop_encoding(), manifest, fmt)
    if fmt == "netcdf":
        encoding = {
            name: _netcdf_encoding(var, is_data=name in ds.data_vars)
            for name, var in out.variables.items()
        }
        out.to_netcdf(path, mode="w", format="NETCDF4", engine="netcdf4", encoding=encoding)
    elif fmt == "zarr":
        encoding = {
            name: _zarr_encoding(var, is_data=name in ds.data_vars)
            for name, var in out.variables.items()
        }
        out.to_zarr(path, mode="w", consolidated=False, encoding=encoding)
    else:  # pragma: no cover - _resolve_format only returns known formats
        raise FormatError(f"write_dataset: unknown format {fmt!r}")
    return path


def read_dataset(
    path: str | os.PathLike[str],
    *,
    chunks: int | str | Mapping[str, int] | None = None,
    format: DatasetFormat | None = None,
) -> xr.Dataset:
    """Open a dataset written by :func:`write_dataset` (or any NetCDF file or Zarr store).

    Nothing is loaded: with ``chunks=None`` the variables are lazily indexed
    backend arrays (loaded on first use), with ``chunks`` given they are Dask
    arrays. For a NetCDF file the file stays open until the dataset is closed
    (``ds.close()`` or a ``with`` block).

    Parameters
    ----------
    path : str or path-like
        A NetCDF file or a Zarr store.
    chunks : int, dict, "auto" or None, optional
        Passed to :func:`xarray.open_dataset`: ``None`` for no Dask, ``{}`` for
        the chunks stored in the file, a dict of chunk sizes per dim, or
        ``"auto"``.
    format : {"netcdf", "zarr"}, optional
        File format. By default it follows the suffix (see :func:`write_dataset`);
        a path with another suffix is read as Zarr if it is a directory and as
        NetCDF if its first bytes say so.

    Returns
    -------
    xarray.Dataset
        The dataset, with attribute types and dtypes restored when the file
        was written by :func:`write_dataset`; other files are returned as
        xarray decodes them.

    Raises
    ------
    DataFileError
        If ``path`` does not exist.
    FormatError
        If the format cannot be told, the encoding record is unreadable or of a
        newer version, or a variable does not read back with its recorded dtype.
    """
    path = Path(path)
    if not path.exists():
        raise DataFileError(f"read_dataset: {str(path)!r} does not exist")
    fmt = _resolve_format(path, format, what="read_dataset")
    if fmt == "netcdf":
        ds = xr.open_dataset(path, engine="netcdf4", chunks=chunks)
    elif fmt == "zarr":
        ds = xr.open_dataset(path, engine="zarr", chunks=chunks, consolidated=False)
    else:  # pragma: no cover - _resolve_format only returns known formats
        raise FormatError(f"read_dataset: unknown format {fmt!r}")
    return _decode(ds, where=str(path))


# --------------------------------------------------------------------------------------
# Formats
# --------------------------------------------------------------------------------------


def _resolve_format(path: Path, fmt: str | None, *, what: str) -> DatasetFormat:
    """The storage format of ``path``: given, from the suffix, or sniffed (reading only)."""
    if fmt is not None:
        if fmt not in _FORMATS:
            raise FormatError(f"{what}: format must be one of {_FORMATS}, got {fmt!r}")
        return fmt  # type: ignore[return-value]
    suffix = path.suffix.lower()
    if suffix in _SUFFIXES:
        return _SUFFIXES[suffix]
    if what == "read_dataset":
        if path.is_dir():
            return "zarr"
        with path.open("rb") as stream:
            head = stream.read(8)
        if head.startswith(_NETCDF_MAGIC):
            return "netcdf"
    raise FormatError(
        f"{what}: cannot tell the format of {str(path)!r} from its suffix {suffix!r}; use one "
        f"of {sorted(_SUFFIXES)} or pass format='netcdf' or format='zarr'"
    )


def _netcdf_encoding(var: xr.Variable, *, is_data: bool) -> dict[str, Any]:
    """NetCDF4 encoding of one (already bool-encoded) variable."""
    encoding: dict[str, Any] = {}
    if var.dtype.kind in "iuf":
        encoding["_FillValue"] = None
        if is_data and var.ndim > 0 and var.size > 0:
            encoding.update(zlib=True, complevel=4, shuffle=True)
            chunks = _storage_chunks(var)
            if chunks is not None:
                encoding["chunksizes"] = chunks
    return encoding


def _zarr_encoding(var: xr.Variable, *, is_data: bool) -> dict[str, Any]:
    """Zarr encoding of one variable: no fill value for numbers and bools."""
    encoding: dict[str, Any] = {"_FillValue": None} if var.dtype.kind in "biuf" else {}
    if is_data and var.chunks is None and var.size > 0:
        chunks = _storage_chunks(var)
        if chunks is not None:
            encoding["chunks"] = chunks
    return encoding


def _storage_chunks(var: xr.Variable) -> tuple[int, ...] | None:
    """Chunk shape on disk: the Dask chunks, or one observation per chunk, or the default."""
    if var.chunks is not None:
        return tuple(max(1, sizes[0]) for sizes in var.chunks)
    if OBS_ID in var.dims:
        return tuple(1 if dim == OBS_ID else max(1, size) for dim, size in var.sizes.items())
    return None


def _regular_chunks(var: xr.Variable) -> xr.Variable:
    """Rechunk a Dask-backed variable whose chunks Zarr cannot store (irregular ones)."""
    if var.chunks is None:
        return var
    irregular = {
        dim: max(sizes)
        for dim, sizes in zip(var.dims, var.chunks, strict=True)
        if len(set(sizes[:-1])) > 1 or (len(sizes) > 1 and sizes[-1] > sizes[0])
    }
    return var.chunk(irregular) if irregular else var


# --------------------------------------------------------------------------------------
# Writing: validation and encoding
# --------------------------------------------------------------------------------------


def _check_and_describe(ds: xr.Dataset) -> dict[str, Any]:
    """Validate names, dtypes and attrs of ``ds``; return its encoding record.

    Every problem is collected so that one :class:`FormatError` names them all.
    """
    problems = [
        f"dim name {dim!r}: must be a non-empty string without '/'"
        for dim in ds.dims
        if not isinstance(dim, str) or not dim or "/" in dim
    ]
    dtypes: dict[str, str] = {}
    variable_attrs: dict[str, dict[str, Tag]] = {}
    for name, var in ds.variables.items():
        if not isinstance(name, str) or not name or "/" in name:
            problems.append(f"variable name {name!r}: must be a non-empty string without '/'")
            continue
        dtype = var.dtype
        if dtype.kind not in _DTYPE_KINDS or dtype == np.float16:
            problems.append(
                f"variable {name!r}: dtype {dtype} cannot be stored; use bool, integers, "
                "float32/float64, datetime64, timedelta64 or unicode strings"
            )
            continue
        dtypes[name] = dtype.newbyteorder("=").str
        if dtype.kind in "Mm":
            problems.extend(
                f"variable {name!r}: attribute {key!r} is set by the time encoding; "
                f"remove it from a {dtype} variable"
                for key in ("units", "calendar")
                if key in var.attrs
            )
        variable_attrs[name] = _describe_attrs(var.attrs, f"variable {name!r}", problems)
    dataset_attrs = _describe_attrs(ds.attrs, "dataset", problems)
    if ENCODING_ATTR in ds.attrs:
        problems.append(f"dataset: attribute {ENCODING_ATTR!r} is reserved for gammaxr's record")
    if problems:
        raise FormatError(
            "cannot store this dataset in NetCDF/Zarr without loss:\n  - "
            + "\n  - ".join(problems)
            + "\nAttributes may hold str, int, float, numpy numbers, lists of them, or 1-D "
            "numeric arrays (DESIGN.md section 1); store flags as 0/1 and structured "
            "metadata as a string (YAML, JSON, a DS9 region)."
        )
    return {
        "version": _ENCODING_VERSION,
        "dtypes": dtypes,
        "dataset_attrs": dataset_attrs,
        "variable_attrs": variable_attrs,
    }


def _describe_attrs(
    attrs: Mapping[Hashable, Any], owner: str, problems: list[str]
) -> dict[str, Tag]:
    """Type tags of ``attrs``, in their order; append any problems found."""
    tags: dict[str, Tag] = {}
    for key, value in attrs.items():
        where = f"{owner}: attribute {key!r}"
        if not isinstance(key, str) or not key:
            problems.append(f"{where}: attribute names must be non-empty strings")
            continue
        if key.startswith("_") or key in _RESERVED_ATTRS:
            problems.append(
                f"{where}: the name is reserved by NetCDF/CF decoding (names starting with "
                f"'_' and {sorted(_RESERVED_ATTRS)}); rename it"
            )
            continue
        try:
            tags[key] = _tag(value)
        except _Unstorable as err:
            problems.append(f"{where} = {_short_repr(value)}: {err}")
    return tags


class _Unstorable(Exception):
    """An attribute value that NetCDF/Zarr cannot store exactly (internal)."""


def _tag(value: Any) -> Tag:
    """The type tag of a storable attribute value; raise :class:`_Unstorable` otherwise."""
    if isinstance(value, (list, tuple)):
        if any(isinstance(item, (list, tuple, dict, np.ndarray)) for item in value):
            raise _Unstorable("lists must hold scalars only (no nesting)")
        items = [_scalar_tag(item) for item in value]
        kinds = {"str" if tag in ("str", "numpy:str") else "number" for tag in items}
        if len(kinds) > 1:
            raise _Unstorable("a list must hold only strings or only numbers")
        if kinds == {"number"}:
            _check_numeric_list(value, items)
        return {"tuple" if isinstance(value, tuple) else "list": items}
    if isinstance(value, np.ndarray):
        if value.ndim != 1:
            raise _Unstorable(f"only 1-D arrays can be stored, got {value.ndim}-D")
        if value.dtype.kind not in "iuf" or value.dtype == np.float16:
            raise _Unstorable(
                f"only integer or float32/float64 arrays can be stored, got {value.dtype}; "
                "use a list for strings"
            )
        return {"ndarray": value.dtype.name}
    return _scalar_tag(value)


def _scalar_tag(value: Any) -> str:
    """Type tag of a scalar attribute value (or list item)."""
    if isinstance(value, (bool, np.bool_)):
        raise _Unstorable("booleans cannot be stored in NetCDF; use 0/1 or a string")
    if value is None:
        raise _Unstorable("None cannot be stored; leave the attribute out")
    if isinstance(value, str):
        if "\x00" in value:
            raise _Unstorable("strings must not contain NUL characters (NetCDF drops them)")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as err:
            raise _Unstorable(f"the string is not valid Unicode ({err.reason})") from None
        return "numpy:str" if isinstance(value, np.str_) else "str"
    if isinstance(value, np.generic):
        if value.dtype.kind not in "iuf" or value.dtype == np.float16:
            raise _Unstorable(f"numpy scalars of dtype {value.dtype} cannot be stored")
        return f"numpy:{value.dtype.name}"
    if isinstance(value, int):
        if not _INT64.min <= value <= _INT64.max:
            raise _Unstorable("Python ints must fit in int64; use numpy.uint64 or a float")
        return "int"
    if isinstance(value, float):
        return "float"
    raise _Unstorable(
        f"values of type {type(value).__name__} cannot be stored in NetCDF/Zarr attributes"
    )


def _check_numeric_list(value: list | tuple, tags: list[str]) -> None:
    """Reject a list of numbers whose common NetCDF array type would change a value."""
    if not value:
        return
    array = np.asarray(value)
    if array.dtype.kind not in "iuf":
        raise _Unstorable(f"the numbers have no common NetCDF type (numpy gives {array.dtype})")
    for item, tag, stored in zip(value, tags, array.tolist(), strict=True):
        try:
            back = _restore_scalar(tag, stored)
        except (OverflowError, ValueError):
            back = None
        if not _same(back, item):
            raise _Unstorable(
                f"{item!r} would change to {stored!r} in the list's common type "
                f"{array.dtype}; use numbers of one type"
            )


def _encode(ds: xr.Dataset, manifest: dict[str, Any], fmt: DatasetFormat) -> xr.Dataset:
    """The dataset as it is handed to xarray's writer: bools, attrs and the record encoded."""
    out = ds.copy(deep=False)  # new Variable objects and attrs dicts, shared data
    replaced: dict[Hashable, xr.Variable] = {}
    for name, var in out.variables.items():
        var.attrs = {key: _stored_value(value, fmt) for key, value in var.attrs.items()}
        if fmt == "netcdf" and var.dtype.kind == "b":
            replaced[name] = var.astype(np.int8)
            replaced[name].attrs["dtype"] = "bool"
        elif fmt == "zarr" and var.dtype.kind == "U":
            # Variable-length UTF-8 has a Zarr 3 specification, fixed width not yet.
            replaced[name] = _regular_chunks(var.astype(object))
        elif fmt == "zarr" and var.chunks is not None:
            replaced[name] = _regular_chunks(var)
    out = _replace_variables(out, replaced)
    out.attrs = {key: _stored_value(value, fmt) for key, value in ds.attrs.items()}
    out.attrs[ENCODING_ATTR] = json.dumps(manifest, ensure_ascii=True, allow_nan=False)
    return out


def _replace_variables(ds: xr.Dataset, variables: Mapping[Hashable, xr.Variable]) -> xr.Dataset:
    """``ds`` with some coordinates or data variables replaced (same dims)."""
    coords = {name: var for name, var in variables.items() if name in ds.coords}
    data = {name: var for name, var in variables.items() if name not in ds.coords}
    return ds.assign_coords(coords).assign(data) if variables else ds


def _stored_value(value: Any, fmt: DatasetFormat) -> Any:
    """An (already validated) attribute value in the form the backend stores exactly."""
    if fmt == "zarr":
        if isinstance(value, (list, tuple, np.ndarray)):
            return [_python_scalar(item) for item in value]
        return _python_scalar(value)
    if isinstance(value, (list, tuple)):
        if value and all(isinstance(item, str) for item in value):
            return [str(item) for item in value]
        return np.asarray(value, dtype=float if not value else None)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return np.int64(value)
    if isinstance(value, float):
        return np.float64(value)
    return value


def _python_scalar(value: Any) -> Any:
    """A numpy scalar as the Python scalar JSON stores; other values unchanged."""
    if isinstance(value, np.str_):
        return str(value)
    return value.item() if isinstance(value, np.generic) else value


# --------------------------------------------------------------------------------------
# Reading: decoding
# --------------------------------------------------------------------------------------


def _decode(ds: xr.Dataset, *, where: str) -> xr.Dataset:
    """Restore attribute types and dtypes from the record written by :func:`write_dataset`."""
    if ENCODING_ATTR not in ds.attrs:
        return ds
    try:
        manifest = json.loads(ds.attrs[ENCODING_ATTR])
        version = manifest["version"]
    except (TypeError, ValueError, KeyError) as err:
        raise FormatError(f"{where}: unreadable {ENCODING_ATTR!r} attribute ({err})") from err
    if version > _ENCODING_VERSION:
        raise FormatError(
            f"{where}: written by a newer gammaxr (encoding version {version}, this one reads "
            f"up to {_ENCODING_VERSION}); upgrade gammaxr"
        )
    out = ds.copy(deep=False)  # new Variable objects and attrs dicts; data stays lazy
    replaced: dict[Hashable, xr.Variable] = {}
    for name, tags in manifest["variable_attrs"].items():
        if name not in out.variables:
            raise FormatError(f"{where}: variable {name!r} is recorded but missing")
        var = out.variables[name]
        var.attrs = _restore_attrs(var.attrs, tags, f"{where}: variable {name!r}")
        expected = np.dtype(manifest["dtypes"][name])
        if _same_dtype(var.dtype, expected):
            continue
        if expected.kind == "b" and var.dtype.kind in "iu":
            # xarray decodes its own bool marker lazily; this covers other readers.
            var.attrs.pop("dtype", None)
            replaced[name] = var.astype(bool)
        elif expected.kind == "U" and var.dtype.kind in "OTU":
            # Strings stored with variable length (Zarr); lazy with Dask, else loaded.
            replaced[name] = var.astype(expected)
        else:
            raise FormatError(
                f"{where}: variable {name!r} was written as {expected} but reads back as "
                f"{var.dtype}"
            )
    out = _replace_variables(out, replaced)
    attrs = dict(ds.attrs)
    del attrs[ENCODING_ATTR]
    out.attrs = _restore_attrs(attrs, manifest["dataset_attrs"], f"{where}: dataset")
    return out


def _restore_attrs(attrs: Mapping[Hashable, Any], tags: Mapping[str, Tag], where: str) -> dict:
    """Attributes converted back to their recorded types, in their recorded order."""
    unknown = [key for key in tags if key not in attrs]
    if unknown:
        raise FormatError(f"{where}: recorded attributes {unknown} are missing")
    restored = {key: _restore(tag, attrs[key]) for key, tag in tags.items()}
    # Attributes added by another tool after writing are kept as read.
    restored.update({key: value for key, value in attrs.items() if key not in tags})
    return restored


def _restore(tag: Tag, raw: Any) -> Any:
    """One attribute value converted back to the type recorded by :func:`_tag`."""
    if isinstance(tag, str):
        return _restore_scalar(tag, raw)
    ((kind, spec),) = tag.items()
    items = _as_list(raw)
    if kind == "ndarray":
        return np.asarray(items, dtype=spec).reshape(-1)
    values = [_restore_scalar(item_tag, item) for item_tag, item in zip(spec, items, strict=True)]
    if kind == "list":
        return values
    if kind == "tuple":
        return tuple(values)
    raise FormatError(f"unknown attribute type record {tag!r}")


def _as_list(raw: Any) -> list:
    """A stored sequence as a list: NetCDF returns arrays, and scalars for one element."""
    if isinstance(raw, np.ndarray):
        return raw.reshape(-1).tolist()
    if isinstance(raw, (list, tuple)):
        return list(raw)
    return [raw.item() if isinstance(raw, np.generic) else raw]


def _restore_scalar(tag: str, raw: Any) -> Any:
    """One scalar converted back to the type of its tag."""
    if tag == "str":
        return str(raw)
    if tag == "int":
        return int(raw)
    if tag == "float":
        return float(raw)
    if tag.startswith("numpy:"):
        return np.dtype(tag.removeprefix("numpy:")).type(raw)
    raise FormatError(f"unknown attribute type record {tag!r}")


def _same_dtype(a: np.dtype, b: np.dtype) -> bool:
    """Equal dtypes up to byte order."""
    if a == b:
        return True
    try:
        return a.newbyteorder("=") == b.newbyteorder("=")
    except TypeError:  # numpy's new-style dtypes (StringDType) have no byte order
        return False


def _same(a: Any, b: Any) -> bool:
    """Equal values of equal type, NaN equal to NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, (float, np.floating)) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b)


def _short_repr(value: Any, limit: int = 60) -> str:
    text = " ".join(repr(value).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
