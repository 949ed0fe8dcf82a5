"""OGIP spectra: on-off spectrum datasets to and from PHA, ARF, RMF and BKG files.

The OGIP formats (OGIP/92-007 for PHA spectra, CAL/GEN/92-002 for ARF and
RMF) are how X-ray tools (XSPEC, Sherpa) and Gammapy exchange 1D spectra.
:func:`write_ogip` writes one observation's on-off spectrum dataset as four
files, and :func:`read_ogip` reads such a set back, whoever wrote it:

=======  =====================  ================================================
file     HDUs                   content
=======  =====================  ================================================
PHA      ``SPECTRUM``,          type-I spectrum: ``CHANNEL``, ``COUNTS``,
         ``EBOUNDS``            ``QUALITY`` (0 inside ``mask_safe``, 5 outside),
                                ``GROUPING`` (1: no grouping), ``AREASCAL`` (1),
                                ``BACKSCAL`` (= ``acceptance``); keywords
                                ``HDUCLASS = OGIP``, ``HDUCLAS1 = SPECTRUM``,
                                ``HDUCLAS2 = TOTAL``, ``HDUCLAS3 = COUNT``,
                                ``HDUCLAS4 = TYPE:I``, ``EXPOSURE`` (= live
                                time, s), ``POISSERR = T``, ``BACKFILE``,
                                ``RESPFILE``, ``ANCRFILE``, ``TELESCOP``,
                                ``INSTRUME``, ``OBS_ID``...; ``EBOUNDS``: the
                                reco-energy bins of the channels (``E_MIN``,
                                ``E_MAX``)
ARF      ``SPECRESP``           ``ENERG_LO``, ``ENERG_HI``, ``SPECRESP`` in cm2:
                                ``exposure / livetime``
RMF      ``MATRIX``,            ``ENERG_LO``, ``ENERG_HI``, ``N_GRP``,
         ``EBOUNDS``            ``F_CHAN``, ``N_CHAN``, ``MATRIX`` (the
                                migration probabilities ``edisp(energy_true,
                                energy)`` in the compressed form: the runs of
                                non-zero channels of each row)
BKG      ``SPECTRUM``,          as the PHA, with ``COUNTS`` = ``counts_off``,
         ``EBOUNDS``            ``BACKSCAL`` = ``acceptance_off``,
                                ``HDUCLAS2 = BKG``
=======  =====================  ================================================

Layout details
--------------
* Channels are numbered from 0 (``TLMIN`` of ``CHANNEL`` and ``F_CHAN`` is
  0), as Gammapy writes and reads them.
* Energies are written in TeV by default (Gammapy's ``ogip`` layout), so that
  a round trip is exact; ``energy_unit="keV"`` writes the keV that XSPEC and
  Sherpa expect (values then come back to within 1 ulp). Columns carry
  ``TUNIT``; on reading, energies without a unit are keV and ``SPECRESP``
  without a unit is cm2 (the OGIP defaults).
* Background scaling: with OGIP's convention the background is scaled to the
  source by ``(EXPOSURE * AREASCAL * BACKSCAL)_src / (...)_bkg``. On reading,
  ``acceptance = BACKSCAL_src`` and ``acceptance_off = BACKSCAL_bkg *
  AREASCAL_bkg * EXPOSURE_bkg / EXPOSURE_src``, so ``alpha = acceptance /
  acceptance_off`` is that ratio. A source ``AREASCAL`` other than 1 is
  refused (it would scale the effective area per reco-energy channel).
* ``QUALITY`` (column or keyword): ``mask_safe`` is ``QUALITY == 0``.
  ``BACKSCAL``, ``AREASCAL`` may be columns or keywords. ``GROUPING`` is
  ignored on reading: channels are used one by one, as Gammapy does.
* The files a PHA names (``BACKFILE``, ``RESPFILE``, ``ANCRFILE``) are
  written relative to the PHA file's folder and resolved that way on reading;
  ``NONE`` (or an empty value) means no such file. The ARF is required.
* Dtypes. A set written by gammaxr comes back with the dtypes of the
  dataset written (recorded with the attributes, see below). Otherwise:
  counts as int64, ``mask_safe`` as bool, and ``BACKSCAL``, ``MATRIX`` and
  the exposure (``SPECRESP * EXPOSURE``) in the precision of the file's
  column (``E``: float32, ``D`` and integers: float64; keywords: float64),
  so that a Gammapy-written set gives Gammapy's numbers. The writer writes
  ``BACKSCAL`` and ``MATRIX`` in the precision of the dataset, ``SPECRESP``
  in float64: every variable of a dataset with gammaxr's dtypes (float32
  exposure, acceptances and edisp) comes back bit for bit; a float64
  exposure comes back to within a few ulp (``SPECRESP`` is a quotient).

Metadata
--------
The standard keywords hold what other tools read: ``OBS_ID`` (``obs_id``; without one, the
``name`` attribute or ``unknown``, since Gammapy names datasets after it),
``EXPOSURE`` (``livetime``, s), ``ONTIME`` (``ontime``, s), ``TELESCOP``
(``telescope``), ``INSTRUME`` (``instrument``), ``TSTART``, ``TSTOP``,
``MJDREF``, ``TIMESYS`` (``tstart``, ``tstop``, ``mjdref``, ``timesys``). All
dataset attributes, the variables' attributes other than ``units`` and the
variables' dtypes are also stored as a JSON record in the ``GXATTRS`` keyword of the PHA
``SPECTRUM`` HDU, so that gammaxr gets them back exactly; where a standard
keyword disagrees with the record (the file was edited), the keyword wins.

Errors name the file, HDU and column: a missing HDU or column
(:class:`~gammaxr.exceptions.MissingHDUError`,
:class:`~gammaxr.exceptions.ColumnError`), a missing file named by a keyword
(:class:`~gammaxr.exceptions.DataFileError`), channel counts or energy axes
that do not match between the files, type-II spectra and other layouts
gammaxr does not read (:class:`~gammaxr.exceptions.FormatError`).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

import astropy.units as u
import numpy as np
import xarray as xr
from astropy.io import fits

from gammaxr.axes import axis_from_edges
from gammaxr.conventions import (
    ENERGY,
    ENERGY_TRUE,
    OBS_ID,
    edges,
    lo_name,
    parse_unit,
    require_units,
)
from gammaxr.exceptions import (
    ColumnError,
    DataFileError,
    DimensionError,
    FormatError,
    UnitError,
)
from gammaxr.io._fits import column, column_unit, find_hdu, has_column, open_fits

__all__ = ["ATTRS_KEYWORD", "read_ogip", "read_ogip_set", "write_ogip"]

#: Header keyword (PHA ``SPECTRUM`` HDU) holding the JSON record of the attributes.
ATTRS_KEYWORD = "GXATTRS"
_RECORD_VERSION = 1
#: First channel number (``TLMIN`` of ``CHANNEL`` and ``F_CHAN``), as Gammapy.
FIRST_CHANNEL = 0
#: ``QUALITY`` written for channels outside the safe mask ("bad, set by the user").
BAD_QUALITY = 5

# Dataset attributes with a standard OGIP keyword, and the keyword's Python type.
_KEYWORDS: dict[str, tuple[str, type]] = {
    "obs_id": ("OBS_ID", int),
    "livetime": ("EXPOSURE", float),
    "ontime": ("ONTIME", float),
    "telescope": ("TELESCOP", str),
    "instrument": ("INSTRUME", str),
    "tstart": ("TSTART", float),
    "tstop": ("TSTOP", float),
    "mjdref": ("MJDREF", float),
    "timesys": ("TIMESYS", str),
}
_UNKNOWN = "unknown"
_NO_FILE = {"", "NONE"}
_SPECTRUM_VARIABLES = {
    "counts": (ENERGY,),
    "counts_off": (ENERGY,),
    "acceptance": (ENERGY,),
    "acceptance_off": (ENERGY,),
    "mask_safe": (ENERGY,),
    "exposure": (ENERGY_TRUE,),
    "edisp": (ENERGY_TRUE, ENERGY),
}


# --------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------


def write_ogip(
    ds: xr.Dataset,
    path: str | os.PathLike[str],
    *,
    arf: str | os.PathLike[str] | None = None,
    rmf: str | os.PathLike[str] | None = None,
    bkg: str | os.PathLike[str] | None = None,
    energy_unit: str = "TeV",
) -> dict[str, Path]:
    """Write one observation's (on-off) spectrum dataset as OGIP PHA, ARF, RMF and BKG files.

    Existing files are replaced (as :func:`gammaxr.write_dataset` does).

    Parameters
    ----------
    ds : xarray.Dataset
        A spectrum dataset without ``obs_id`` dim (write a joint dataset one
        observation at a time: ``ds.sel(obs_id=i)``): ``counts(energy)``
        (integer-valued), ``exposure(energy_true)`` (convertible to ``m2 s``)
        and the live time (``attrs["livetime"]`` or a 0-d ``livetime``
        variable, s, positive) are required; ``mask_safe``, ``acceptance``
        (default 1), ``edisp(energy_true, energy)``, ``counts_off`` with
        ``acceptance_off`` are written when present.
    path : str or path-like
        The PHA file (e.g. ``pha_obs23523.fits``; ``.fits.gz`` compresses).
    arf, rmf, bkg : str or path-like, optional
        Where to write the ARF, RMF and BKG files; by default next to the PHA
        file, named as Gammapy names them (``pha_obs23523_arf.fits``,
        ``_rmf``, ``_bkg``). The PHA refers to them by their path relative to
        its own folder.
    energy_unit : str
        Unit of the energy columns: ``"TeV"`` (default; Gammapy's layout, exact
        round trip) or ``"keV"`` (XSPEC, Sherpa), or any energy unit.

    Returns
    -------
    dict of str to Path
        The files written: ``"pha"``, ``"arf"`` and, when written, ``"rmf"``
        and ``"bkg"``.

    Raises
    ------
    DimensionError
        If the dataset has an ``obs_id`` dim, a variable has other dims than
        its schema, or an energy dim has no edges.
    FormatError
        If a required variable or the live time is missing, counts are not
        integers, ``counts_off`` comes without ``acceptance_off``, or an
        attribute cannot be stored (see the module notes).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np, xarray as xr
    >>> import gammaxr as gx
    >>> from gammaxr.io.ogip import read_ogip, write_ogip
    >>> e = gx.energy_axis(1, 10, nbin=2)
    >>> et = gx.energy_axis(0.5, 20, nbin=3, name="energy_true")
    >>> ds = xr.Dataset(
    ...     {"counts": ("energy", np.array([3, 1]), {"units": ""}),
    ...      "exposure": ("energy_true", np.array([1e8, 2e8, 3e8], np.float32),
    ...                   {"units": "m2 s"})},
    ...     coords={**e.coords, **et.coords}, attrs={"obs_id": 1, "livetime": 1800.0},
    ... )
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> sorted(write_ogip(ds, folder / "pha_obs1.fits"))
    ['arf', 'pha']
    >>> read_ogip(folder / "pha_obs1.fits").counts.values.tolist()
    [3, 1]
    """
    path = Path(path)
    _check_writable(ds)
    livetime = _livetime(ds)
    unit = parse_unit(energy_unit, where="write_ogip: energy_unit")
    if not unit.is_equivalent(u.TeV):
        raise FormatError(f"write_ogip: energy_unit {energy_unit!r} is not an energy unit")
    unit_text = unit.to_string("fits")
    e_reco = _edges_in(ds, ENERGY, unit)
    e_true = _edges_in(ds, ENERGY_TRUE, unit)
    n_chan = e_reco.size - 1

    names = _default_names(path)
    paths = {
        "pha": path,
        "arf": Path(arf) if arf is not None else path.parent / names["arf"],
    }
    if "edisp" in ds:
        paths["rmf"] = Path(rmf) if rmf is not None else path.parent / names["rmf"]
    if "counts_off" in ds:
        paths["bkg"] = Path(bkg) if bkg is not None else path.parent / names["bkg"]
    refs = {key: os.path.relpath(value, path.parent) for key, value in paths.items()}

    meta = _meta_keywords(ds, livetime)
    ebounds = _ebounds_hdu(e_reco, unit_text, meta)
    mask = (
        _values(ds["mask_safe"], (ENERGY,)).astype(bool)
        if "mask_safe" in ds
        else np.ones(n_chan, dtype=bool)
    )
    quality = np.where(mask, 0, BAD_QUALITY).astype(np.int16)

    # PHA
    header = _spectrum_header(meta, n_chan, kind="TOTAL")
    header["BACKFILE"] = (refs.get("bkg", "NONE"), "background file")
    header["RESPFILE"] = (refs.get("rmf", "NONE"), "redistribution matrix file (RMF)")
    header["ANCRFILE"] = (refs["arf"], "ancillary response file (ARF)")
    header["LONGSTRN"] = ("OGIP 1.0", "long strings use the CONTINUE convention")
    header[ATTRS_KEYWORD] = (_attrs_record(ds), "gammaxr attributes (JSON)")
    acceptance = (
        _values(ds["acceptance"], (ENERGY,))
        if "acceptance" in ds
        else np.ones(n_chan, dtype=np.float32)
    )
    counts = _counts(ds["counts"], "counts")
    spectrum = _spectrum_hdu(counts, quality, acceptance, header)
    _write(paths["pha"], [fits.PrimaryHDU(), spectrum, ebounds])

    # ARF
    exposure = _values(require_units(ds["exposure"], "m2 s", what="exposure"), (ENERGY_TRUE,))
    specresp = exposure.astype(np.float64) / livetime * 1e4  # m2 -> cm2
    _write(paths["arf"], [fits.PrimaryHDU(), _arf_hdu(e_true, specresp, unit_text, meta)])

    # RMF
    if "rmf" in paths:
        matrix = _values(ds["edisp"], (ENERGY_TRUE, ENERGY))
        rmf_hdu = _rmf_hdu(e_true, matrix, unit_text, meta)
        _write(paths["rmf"], [fits.PrimaryHDU(), rmf_hdu, _ebounds_hdu(e_reco, unit_text, meta)])

    # BKG
    if "bkg" in paths:
        header = _spectrum_header(meta, n_chan, kind="BKG")
        for keyword in ("BACKFILE", "RESPFILE", "ANCRFILE"):
            header[keyword] = "NONE"
        counts_off = _counts(ds["counts_off"], "counts_off")
        acceptance_off = _values(ds["acceptance_off"], (ENERGY,))
        spectrum = _spectrum_hdu(counts_off, quality, acceptance_off, header)
        _write(paths["bkg"], [fits.PrimaryHDU(), spectrum, _ebounds_hdu(e_reco, unit_text, meta)])
    return paths


def _check_writable(ds: xr.Dataset) -> None:
    if OBS_ID in ds.dims:
        raise DimensionError(
            f"write_ogip: the dataset has an {OBS_ID!r} dim ({ds.sizes[OBS_ID]} observations); "
            "an OGIP set holds one spectrum: write ds.sel(obs_id=i) for each observation, "
            "or stack them first"
        )
    missing = [name for name in ("counts", "exposure") if name not in ds]
    if "counts_off" in ds and "acceptance_off" not in ds:
        missing.append("acceptance_off (with counts_off)")
    if missing:
        raise FormatError(f"write_ogip: the dataset lacks {missing}")
    for name, dims in _SPECTRUM_VARIABLES.items():
        if name in ds and set(ds[name].dims) != set(dims):
            raise DimensionError(
                f"write_ogip: {name} must have dims {dims}, has {ds[name].dims} (OGIP holds "
                "a 1D spectrum: no sky or observation dims)"
            )


def _livetime(ds: xr.Dataset) -> float:
    if "livetime" in ds.variables:
        var = ds["livetime"]
        if var.ndim != 0:
            raise DimensionError(f"write_ogip: livetime must be a scalar, has dims {var.dims}")
        if "units" in var.attrs:
            var = require_units(var, "s", what="livetime")
        value = float(var.values)
    elif "livetime" in ds.attrs:
        value = float(ds.attrs["livetime"])
    else:
        raise FormatError(
            "write_ogip: the dataset has no live time (attrs['livetime'] or a 0-d livetime "
            "variable, s); OGIP's EXPOSURE keyword and the ARF need it"
        )
    if not (value > 0 and math.isfinite(value)):
        raise FormatError(f"write_ogip: the live time must be positive and finite, got {value}")
    return value


def _edges_in(ds: xr.Dataset, dim: str, unit: u.UnitBase) -> np.ndarray:
    if dim not in ds.dims:
        raise DimensionError(f"write_ogip: the dataset has no {dim!r} dim")
    values = edges(ds, dim)
    source = parse_unit(ds.coords[lo_name(dim)].attrs.get("units", "TeV"), where=lo_name(dim))
    factor = source.to(unit)
    return values if factor == 1 else values * factor


def _values(da: xr.DataArray, dims: tuple[str, ...]) -> np.ndarray:
    """The values of ``da`` in the order ``dims``, native byte order (loads the data)."""
    values = np.asarray(da.transpose(*dims).values)
    return values.astype(values.dtype.newbyteorder("="), copy=False)


def _counts(da: xr.DataArray, name: str) -> np.ndarray:
    values = _values(da, (ENERGY,))
    if values.dtype.kind in "iu":
        out = values.astype(np.int64)
    else:
        finite = np.isfinite(values)
        if not (finite.all() and np.array_equal(values, np.round(values))):
            raise FormatError(
                f"write_ogip: {name} must hold whole numbers (OGIP type-I COUNTS are integers)"
            )
        out = values.astype(np.int64)
    if out.size and (out.min() < 0 or out.max() > np.iinfo(np.int32).max):
        raise FormatError(f"write_ogip: {name} must lie in [0, 2**31 - 1]")
    return out


def _default_names(path: Path) -> dict[str, str]:
    suffix = "".join(path.suffixes) or ".fits"
    stem = path.name[: len(path.name) - len("".join(path.suffixes))]
    return {key: f"{stem}_{key}{suffix}" for key in ("arf", "rmf", "bkg")}


def _meta_keywords(ds: xr.Dataset, livetime: float) -> dict[str, Any]:
    """Standard keywords from the dataset attributes (``EXPOSURE`` = the live time)."""
    attrs = dict(ds.attrs)
    if OBS_ID not in attrs and OBS_ID in ds.coords and ds.coords[OBS_ID].ndim == 0:
        attrs[OBS_ID] = ds.coords[OBS_ID].item()
    meta: dict[str, Any] = {
        "TELESCOP": str(attrs.get("telescope", _UNKNOWN)),
        "INSTRUME": str(attrs.get("instrument", _UNKNOWN)),
        "FILTER": "NONE",
    }
    for attr, (keyword, kind) in _KEYWORDS.items():
        if attr in ("telescope", "instrument"):
            continue
        if attr == "livetime":
            meta[keyword] = livetime
        elif attr in attrs:
            try:
                meta[keyword] = kind(_python(attrs[attr]))
            except (TypeError, ValueError):
                continue  # kept in the JSON record only
    if "ontime" in ds.variables and ds["ontime"].ndim == 0:
        meta["ONTIME"] = float(ds["ontime"].values)
    if "OBS_ID" not in meta:  # Gammapy's reader names the dataset after OBS_ID, and needs it
        meta["OBS_ID"] = str(attrs.get("name", _UNKNOWN))
    return meta


def _spectrum_header(meta: Mapping[str, Any], n_chan: int, *, kind: str) -> fits.Header:
    header = fits.Header()
    header["HDUCLASS"] = ("OGIP", "format conforms to OGIP standard")
    header["HDUCLAS1"] = ("SPECTRUM", "PHA dataset (OGIP/92-007)")
    header["HDUCLAS2"] = (kind, "TOTAL: source + background; BKG: background")
    header["HDUCLAS3"] = ("COUNT", "PHA data stored as counts")
    header["HDUCLAS4"] = ("TYPE:I", "single spectrum")
    header["HDUVERS"] = ("1.2.1", "version of the format")
    header["CHANTYPE"] = ("PHA", "channel type")
    header["DETCHANS"] = (n_chan, "number of channels")
    header["POISSERR"] = (True, "Poisson errors apply")
    header["CORRFILE"] = ("NONE", "no correction file")
    header["CORRSCAL"] = (1.0, "correction scaling")
    for keyword, value in meta.items():
        header[keyword] = value
    header["CREATOR"] = ("gammaxr", "program that wrote the file")
    return header


def _spectrum_hdu(
    counts: np.ndarray, quality: np.ndarray, backscal: np.ndarray, header: fits.Header
) -> fits.BinTableHDU:
    n_chan = counts.size
    backscal_format = "E" if backscal.dtype == np.float32 else "D"
    columns = [
        fits.Column("CHANNEL", "J", array=np.arange(FIRST_CHANNEL, FIRST_CHANNEL + n_chan)),
        # No TUNIT (optional in OGIP/92-007), as Gammapy writes: Gammapy 2.1 reads a
        # "count" unit into its counts maps, and its stack_reduce then fails to add them
        # to the unitless maps it starts from.
        fits.Column("COUNTS", "J", array=counts.astype(np.int32)),
        fits.Column("QUALITY", "I", array=quality),
        fits.Column("GROUPING", "I", array=np.ones(n_chan, dtype=np.int16)),
        fits.Column("AREASCAL", "E", array=np.ones(n_chan, dtype=np.float32)),
        fits.Column("BACKSCAL", backscal_format, array=backscal),
    ]
    hdu = fits.BinTableHDU.from_columns(columns, header=header, name="SPECTRUM")
    hdu.header["TLMIN1"] = FIRST_CHANNEL
    hdu.header["TLMAX1"] = FIRST_CHANNEL + n_chan - 1
    return hdu


def _ebounds_hdu(e_reco: np.ndarray, unit: str, meta: Mapping[str, Any]) -> fits.BinTableHDU:
    n_chan = e_reco.size - 1
    columns = [
        fits.Column("CHANNEL", "J", array=np.arange(FIRST_CHANNEL, FIRST_CHANNEL + n_chan)),
        fits.Column("E_MIN", "D", unit=unit, array=e_reco[:-1]),
        fits.Column("E_MAX", "D", unit=unit, array=e_reco[1:]),
    ]
    hdu = fits.BinTableHDU.from_columns(columns, name="EBOUNDS")
    _response_keywords(hdu.header, "EBOUNDS", "1.2.0", meta)
    hdu.header["CHANTYPE"] = "PHA"
    hdu.header["DETCHANS"] = n_chan
    hdu.header["TLMIN1"] = FIRST_CHANNEL
    hdu.header["TLMAX1"] = FIRST_CHANNEL + n_chan - 1
    return hdu


def _arf_hdu(
    e_true: np.ndarray, specresp: np.ndarray, unit: str, meta: Mapping[str, Any]
) -> fits.BinTableHDU:
    columns = [
        fits.Column("ENERG_LO", "D", unit=unit, array=e_true[:-1]),
        fits.Column("ENERG_HI", "D", unit=unit, array=e_true[1:]),
        fits.Column("SPECRESP", "D", unit="cm2", array=specresp),
    ]
    hdu = fits.BinTableHDU.from_columns(columns, name="SPECRESP")
    _response_keywords(hdu.header, "SPECRESP", "1.1.0", meta)
    return hdu


def _rmf_hdu(
    e_true: np.ndarray, matrix: np.ndarray, unit: str, meta: Mapping[str, Any]
) -> fits.BinTableHDU:
    """The ``MATRIX`` HDU: each row's runs of non-zero channels (NaN counts as non-zero)."""
    n_chan = matrix.shape[1]
    nonzero = matrix != 0
    padded = np.pad(nonzero, ((0, 0), (1, 1)))
    starts = padded[:, 1:-1] & ~padded[:, :-2]
    stops = padded[:, 1:-1] & ~padded[:, 2:]
    _, first = np.nonzero(starts)  # row-major: the groups in file order
    _, last = np.nonzero(stops)
    n_grp = starts.sum(axis=1)
    group_split = np.cumsum(n_grp)[:-1]
    value_split = np.cumsum(nonzero.sum(axis=1))[:-1]
    f_chan = np.split((first + FIRST_CHANNEL).astype(np.int32), group_split)
    n_chan_groups = np.split((last - first + 1).astype(np.int32), group_split)
    values = np.split(matrix[nonzero], value_split)
    matrix_format = "PE()" if matrix.dtype == np.float32 else "PD()"
    columns = [
        fits.Column("ENERG_LO", "D", unit=unit, array=e_true[:-1]),
        fits.Column("ENERG_HI", "D", unit=unit, array=e_true[1:]),
        fits.Column("N_GRP", "J", array=n_grp.astype(np.int32)),
        fits.Column("F_CHAN", "PJ()", array=_object_array(f_chan)),
        fits.Column("N_CHAN", "PJ()", array=_object_array(n_chan_groups)),
        fits.Column("MATRIX", matrix_format, array=_object_array(values)),
    ]
    hdu = fits.BinTableHDU.from_columns(columns, name="MATRIX")
    _response_keywords(hdu.header, "RSP_MATRIX", "1.3.0", meta)
    hdu.header["HDUCLAS3"] = ("REDIST", "redistribution only (the area is in the ARF)")
    hdu.header["CHANTYPE"] = "PHA"
    hdu.header["DETCHANS"] = n_chan
    hdu.header["NUMGRP"] = int(n_grp.sum())
    hdu.header["NUMELT"] = int(nonzero.sum())
    hdu.header["LO_THRES"] = (0.0, "all non-zero probabilities are stored")
    hdu.header["TLMIN4"] = FIRST_CHANNEL
    hdu.header["TLMAX4"] = FIRST_CHANNEL + n_chan - 1
    return hdu


def _object_array(items: Sequence[np.ndarray]) -> np.ndarray:
    out = np.empty(len(items), dtype=object)
    out[:] = list(items)
    return out


def _response_keywords(
    header: fits.Header, hduclas2: str, version: str, meta: Mapping[str, Any]
) -> None:
    for keyword in ("TELESCOP", "INSTRUME", "FILTER"):
        header[keyword] = meta[keyword]
    header["HDUCLASS"] = ("OGIP", "format conforms to OGIP standard")
    header["HDUCLAS1"] = ("RESPONSE", "dataset relates to the instrument response")
    header["HDUCLAS2"] = hduclas2
    header["HDUVERS"] = version
    header["CREATOR"] = ("gammaxr", "program that wrote the file")


def _attrs_record(ds: xr.Dataset) -> str:
    """JSON record of the dataset attrs and the variables' attrs other than ``units``."""
    problems: list[str] = []
    record: dict[str, Any] = {
        "version": _RECORD_VERSION,
        "attrs": _jsonable(ds.attrs, "dataset", problems),
        "variable_attrs": {},
        "dtypes": {},
    }
    for name in _SPECTRUM_VARIABLES:
        if name in ds:
            record["dtypes"][name] = ds[name].dtype.newbyteorder("=").str
            extra = {k: v for k, v in ds[name].attrs.items() if k != "units"}
            if extra:
                record["variable_attrs"][name] = _jsonable(extra, f"variable {name!r}", problems)
    if problems:
        raise FormatError(
            "write_ogip: attributes that cannot be stored:\n  - " + "\n  - ".join(problems)
        )
    return json.dumps(record, ensure_ascii=True, allow_nan=True, separators=(",", ":"))


def _jsonable(attrs: Mapping[Hashable, Any], owner: str, problems: list[str]) -> dict:
    out = {}
    for key, value in attrs.items():
        value = _python(value)
        if isinstance(value, (list, tuple)):
            value = [_python(item) for item in value]
            ok = all(_is_scalar(item) for item in value)
        else:
            ok = _is_scalar(value)
        if not ok:
            problems.append(f"{owner}: attribute {key!r} = {value!r} (str, int, float or lists)")
            continue
        out[str(key)] = value
    return out


def _python(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value.item() if isinstance(value, np.generic) else value


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float)) and not isinstance(value, bool)


def _write(path: Path, hdus: list[fits.hdu.base.ExtensionHDU]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fits.HDUList(hdus).writeto(path, overwrite=True)


# --------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------


def read_ogip(path: str | os.PathLike[str]) -> xr.Dataset:
    """Read an OGIP PHA file and the files it names into an on-off spectrum dataset.

    Parameters
    ----------
    path : str or path-like
        The PHA file (type I). Its ``ANCRFILE`` (required), ``RESPFILE`` and
        ``BACKFILE`` keywords are followed, relative to the PHA file's folder.

    Returns
    -------
    xarray.Dataset
        ``counts(energy)`` int64, ``mask_safe(energy)`` bool (``QUALITY ==
        0``), ``acceptance(energy)`` (``BACKSCAL``), ``exposure(energy_true)``
        ``m2 s`` float32 (``SPECRESP * EXPOSURE``); with a BKG file
        ``counts_off(energy)`` and ``acceptance_off(energy)``; with an RMF
        ``edisp(energy_true, energy)``. Energies in TeV (log-centred bins with
        ``_lo`` / ``_hi`` edges). Attributes: ``livetime`` (``EXPOSURE``, s),
        ``obs_id`` (an integer ``OBS_ID``; another ``OBS_ID`` becomes
        ``name``), and the others listed in the module notes.

    Raises
    ------
    DataFileError
        If the PHA file, or a file it names, is missing or not FITS.
    MissingHDUError, ColumnError
        If a file lacks an HDU or column it needs.
    FormatError
        Type-II spectra, no ARF, a source ``AREASCAL`` other than 1, or
        channel counts / energy axes that disagree between the files.
    """
    path = Path(path)
    with open_fits(path) as hdul:
        hdu = _ogip_hdu(hdul, "SPECTRUM", path, hduclas1="SPECTRUM")
        where = f"{path}, HDU {hdu.name!r}"
        header = hdu.header.copy()
        source = _read_spectrum(hdu, where)
        e_pha = _read_ebounds(hdul, path) if _has_hdu(hdul, "EBOUNDS") else None
    livetime = _keyword_float(header, "EXPOSURE", where)
    if not (livetime > 0 and math.isfinite(livetime)):
        raise FormatError(f"{where}: EXPOSURE must be a positive live time, got {livetime}")
    if not np.all(source["areascal"] == 1):
        raise FormatError(
            f"{where}: AREASCAL other than 1 is not supported (it scales the effective area "
            "per channel); fold it into the ARF"
        )
    n_chan = source["counts"].size
    first = source["first_channel"]

    files = {key: _named_file(header, key, path) for key in ("ANCRFILE", "RESPFILE", "BACKFILE")}
    if files["ANCRFILE"] is None:
        raise FormatError(
            f"{where}: ANCRFILE is {header.get('ANCRFILE')!r}; gammaxr needs an ARF for the "
            "exposure (response files with the area folded in are not read)"
        )
    e_true, area, area_dtype = _read_arf(files["ANCRFILE"])
    variables: dict[str, Any] = {}
    e_reco = e_pha
    if files["RESPFILE"] is not None:
        e_true_rmf, matrix, e_rmf = _read_rmf(files["RESPFILE"], n_chan, first)
        _check_same_axis(
            e_true, e_true_rmf, f"{files['ANCRFILE']} (ENERG_LO/HI)",
            f"{files['RESPFILE']} (ENERG_LO/HI)",
        )  # fmt: skip
        if e_reco is None:
            e_reco = e_rmf
        elif e_rmf is not None:
            _check_same_axis(e_reco, e_rmf, f"{path} (EBOUNDS)", f"{files['RESPFILE']} (EBOUNDS)")
        variables["edisp"] = ((ENERGY_TRUE, ENERGY), matrix, {"units": ""})
    if e_reco is None:
        raise FormatError(
            f"{where}: no EBOUNDS HDU in the PHA file and no RMF: the channels' energies are "
            "unknown"
        )
    if e_reco.size - 1 != n_chan:
        raise FormatError(
            f"{path}: inconsistent channel counts: SPECTRUM has {n_chan} channels, EBOUNDS "
            f"{e_reco.size - 1}"
        )

    variables["counts"] = ((ENERGY,), source["counts"], {"units": ""})
    variables["acceptance"] = ((ENERGY,), source["backscal"], {"units": ""})
    if files["BACKFILE"] is not None:
        counts_off, acceptance_off = _read_background(
            files["BACKFILE"], n_chan, first, livetime, where
        )
        variables["counts_off"] = ((ENERGY,), counts_off, {"units": ""})
        variables["acceptance_off"] = ((ENERGY,), acceptance_off, {"units": ""})
    record = _read_record(header, where)
    exposure = (area * livetime).astype(area_dtype)  # m2 s
    variables["exposure"] = ((ENERGY_TRUE,), exposure, {"units": "m2 s"})
    variables["mask_safe"] = ((ENERGY,), source["quality"] == 0, {"units": ""})
    for name, dtype in record.get("dtypes", {}).items():
        if name in variables:  # the dtypes of the dataset gammaxr wrote
            dims, values, var_attrs = variables[name]
            variables[name] = (dims, np.asarray(values).astype(dtype), var_attrs)
    for name, extra in record.get("variable_attrs", {}).items():
        if name in variables:
            variables[name][2].update(extra)
    order = ("counts", "counts_off", "acceptance", "acceptance_off", "exposure", "edisp")
    data_vars = {name: variables[name] for name in (*order, "mask_safe") if name in variables}
    energy = axis_from_edges(e_reco, name=ENERGY, units="TeV", interp="log")
    energy_true = axis_from_edges(e_true, name=ENERGY_TRUE, units="TeV", interp="log")
    attrs = _read_attrs(header, record.get("attrs", {}), livetime)
    return xr.Dataset(data_vars, coords={**energy.coords, **energy_true.coords}, attrs=attrs)


def read_ogip_set(paths: Sequence[str | os.PathLike[str]]) -> list[xr.Dataset]:
    """Read several OGIP spectra, e.g. of different instruments with their own energy axes.

    Parameters
    ----------
    paths : sequence of str or path-like
        PHA files (each with its ARF, RMF and BKG files).

    Returns
    -------
    list of xarray.Dataset
        One dataset per file (:func:`read_ogip`), in order; each keeps its own
        energy axes, ready to be fitted jointly (one cost per dataset, summed).
        Datasets on one geometry can be joined with
        :func:`gammaxr.concat_observations`.

    Raises
    ------
    FormatError
        As :func:`read_ogip`, or if no path is given.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    if not paths:
        raise FormatError("read_ogip_set: no PHA file given")
    return [read_ogip(path) for path in paths]


def _has_hdu(hdul: fits.HDUList, name: str) -> bool:
    return any(hdu.name.strip().upper() == name for hdu in hdul)


def _ogip_hdu(
    hdul: fits.HDUList, extname: str, path: Path, *, hduclas1: str | None = None,
    hduclas2: str | None = None,
) -> fits.BinTableHDU:  # fmt: skip
    """An HDU by EXTNAME, else the first with matching ``HDUCLAS1`` / ``HDUCLAS2``."""
    if not _has_hdu(hdul, extname) and (hduclas1 or hduclas2):
        for hdu in hdul[1:]:
            if (hduclas1 is None or hdu.header.get("HDUCLAS1", "").strip() == hduclas1) and (
                hduclas2 is None or hdu.header.get("HDUCLAS2", "").strip() == hduclas2
            ):
                return hdu
    hdu = find_hdu(hdul, extname, path=path)
    if not isinstance(hdu, fits.BinTableHDU):
        raise FormatError(f"{path}, HDU {extname!r}: expected a binary table")
    return hdu


def _read_spectrum(hdu: fits.BinTableHDU, where: str) -> dict[str, Any]:
    """Channels, counts, quality, BACKSCAL, AREASCAL of a type-I ``SPECTRUM`` HDU."""
    header = hdu.header
    if str(header.get("HDUCLAS4", "TYPE:I")).strip().upper() == "TYPE:II":
        raise FormatError(f"{where}: type-II PHA (several spectra) is not supported")
    if not has_column(hdu, "COUNTS"):
        hint = " (a RATE spectrum: gammaxr reads counts only)" if has_column(hdu, "RATE") else ""
        raise ColumnError(
            f"{where}: missing column 'COUNTS'{hint}; the HDU has {hdu.columns.names}"
        )
    counts = column(hdu, "COUNTS", where=where)
    if counts.ndim != 1:
        raise FormatError(f"{where}: COUNTS has shape {counts.shape}; type-II PHA is not read")
    channels = column(hdu, "CHANNEL", where=where).astype(np.int64)
    n_chan = counts.size
    if n_chan == 0:
        raise FormatError(f"{where}: the spectrum has no channels")
    if channels.size != n_chan or not np.array_equal(np.diff(channels), np.ones(n_chan - 1)):
        raise FormatError(f"{where}: CHANNEL must run in steps of 1, got {channels.tolist()}")
    if "DETCHANS" in header and int(header["DETCHANS"]) != n_chan:
        raise FormatError(
            f"{where}: inconsistent channel counts: DETCHANS = {header['DETCHANS']} but the "
            f"table has {n_chan} rows"
        )
    if counts.dtype.kind == "f" and not np.array_equal(counts, np.round(counts)):
        raise FormatError(f"{where}: COUNTS are not whole numbers")
    return {
        "counts": counts.astype(np.int64),
        "first_channel": int(channels[0]),
        "quality": _column_or_keyword(hdu, "QUALITY", where, default=0).astype(np.int64),
        "backscal": _as_float(_column_or_keyword(hdu, "BACKSCAL", where, default=1.0)),
        "areascal": _as_float(_column_or_keyword(hdu, "AREASCAL", where, default=1.0)),
        "exposure": header.get("EXPOSURE"),
    }


def _as_float(values: np.ndarray) -> np.ndarray:
    """Float32 and float64 columns as they are; integers (Gammapy writes some) as float64."""
    return values if values.dtype.kind == "f" else values.astype(np.float64)


def _column_or_keyword(hdu: fits.BinTableHDU, name: str, where: str, *, default: Any) -> Any:
    """A per-channel column, else the keyword of that name broadcast, else ``default``."""
    n = len(hdu.data)
    if has_column(hdu, name):
        values = column(hdu, name, where=where)
        if values.dtype.kind == "b":
            values = values.astype(np.int64)
        return values
    value = hdu.header.get(name, default)
    kind = np.float64 if isinstance(default, float) else np.int64
    try:
        return np.full(n, value, dtype=kind)
    except (TypeError, ValueError) as err:
        raise FormatError(f"{where}: keyword {name} = {value!r} is not a number") from err


def _read_ebounds(hdul: fits.HDUList, path: Path) -> np.ndarray:
    hdu = _ogip_hdu(hdul, "EBOUNDS", path, hduclas2="EBOUNDS")
    where = f"{path}, HDU {hdu.name!r}"
    e_min = column(hdu, "E_MIN", where=where, unit="TeV", default_unit="keV")
    e_max = column(hdu, "E_MAX", where=where, unit="TeV", default_unit="keV")
    return _contiguous_edges(e_min, e_max, where, "E_MIN/E_MAX")


def _contiguous_edges(lo: np.ndarray, hi: np.ndarray, where: str, what: str) -> np.ndarray:
    lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
    if lo.size == 0 or not np.allclose(lo[1:], hi[:-1], rtol=1e-6, atol=0):
        raise FormatError(f"{where}: {what} bins are empty or not contiguous (gaps, overlaps)")
    return np.append(lo, hi[-1])


def _read_arf(path: Path) -> tuple[np.ndarray, np.ndarray, np.dtype]:
    with open_fits(path) as hdul:
        hdu = _ogip_hdu(hdul, "SPECRESP", path, hduclas2="SPECRESP")
        where = f"{path}, HDU {hdu.name!r}"
        lo = column(hdu, "ENERG_LO", where=where, unit="TeV", default_unit="keV")
        hi = column(hdu, "ENERG_HI", where=where, unit="TeV", default_unit="keV")
        specresp = column(hdu, "SPECRESP", where=where)
        unit = column_unit(hdu, "SPECRESP", where=where, default="cm2")
    if not unit.is_equivalent(u.m**2):
        raise UnitError(f"{where}, column 'SPECRESP': unit {unit} is not an area")
    factor = unit.to(u.m**2)
    dtype = np.dtype(np.float32 if specresp.dtype == np.float32 else np.float64)
    edges_true = _contiguous_edges(lo, hi, where, "ENERG_LO/ENERG_HI")
    area = specresp.astype(np.float64)
    return edges_true, area if factor == 1 else area * factor, dtype


def _read_rmf(
    path: Path, n_chan: int, pha_first: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """True-energy edges, the dense ``(energy_true, channel)`` matrix and the RMF's EBOUNDS."""
    with open_fits(path) as hdul:
        if _has_hdu(hdul, "SPECRESP MATRIX"):
            raise FormatError(
                f"{path}: a 'SPECRESP MATRIX' (area folded into the response) is not read; "
                "gammaxr reads a redistribution MATRIX with a separate ARF"
            )
        hdu = _ogip_hdu(hdul, "MATRIX", path, hduclas2="RSP_MATRIX")
        where = f"{path}, HDU {hdu.name!r}"
        lo = column(hdu, "ENERG_LO", where=where, unit="TeV", default_unit="keV")
        hi = column(hdu, "ENERG_HI", where=where, unit="TeV", default_unit="keV")
        e_true = _contiguous_edges(lo, hi, where, "ENERG_LO/ENERG_HI")
        detchans = int(hdu.header.get("DETCHANS", n_chan))
        if detchans != n_chan:
            raise FormatError(
                f"inconsistent channel counts: {where} has DETCHANS = {detchans}, the PHA "
                f"spectrum {n_chan} channels"
            )
        e_rmf = None
        ebounds_first = None
        if _has_hdu(hdul, "EBOUNDS"):
            e_rmf = _read_ebounds(hdul, path)
            eb = _ogip_hdu(hdul, "EBOUNDS", path)
            if has_column(eb, "CHANNEL"):
                ebounds_first = int(column(eb, "CHANNEL", where=f"{path}, HDU 'EBOUNDS'")[0])
        first = _first_channel(hdu, ebounds_first, pha_first)
        matrix = _decode_matrix(hdu, where, n_chan, first)
    return e_true, matrix, e_rmf


def _first_channel(hdu: fits.BinTableHDU, ebounds_first: int | None, pha_first: int) -> int:
    """Number of the first channel: ``TLMIN`` of ``F_CHAN``, else EBOUNDS', else the PHA's."""
    names = [name.upper() for name in hdu.columns.names]
    key = f"TLMIN{names.index('F_CHAN') + 1}" if "F_CHAN" in names else None
    if key and key in hdu.header:
        return int(hdu.header[key])
    return ebounds_first if ebounds_first is not None else pha_first


def _decode_matrix(hdu: fits.BinTableHDU, where: str, n_chan: int, first: int) -> np.ndarray:
    """Dense matrix from the compressed OGIP form (fixed or variable-length columns)."""
    n_grp = column(hdu, "N_GRP", where=where).astype(np.int64).reshape(-1)
    for name in ("F_CHAN", "N_CHAN", "MATRIX"):
        if not has_column(hdu, name):
            raise ColumnError(f"{where}: missing column {name!r}; the HDU has {hdu.columns.names}")
    f_cells = hdu.data.field("F_CHAN")
    n_cells = hdu.data.field("N_CHAN")
    m_cells = hdu.data.field("MATRIX")
    rows = n_grp.size

    def cell(cells: Any, row: int, size: int, name: str) -> np.ndarray:
        values = np.atleast_1d(np.asarray(cells[row]))
        if values.size < size:
            raise FormatError(
                f"{where}: row {row} of {name} has {values.size} values, needs {size}"
            )
        return values[:size]

    f_chan = np.concatenate(
        [cell(f_cells, r, n_grp[r], "F_CHAN") for r in range(rows)] or [np.empty(0)]
    ).astype(np.int64)
    n_chan_groups = np.concatenate(
        [cell(n_cells, r, n_grp[r], "N_CHAN") for r in range(rows)] or [np.empty(0)]
    ).astype(np.int64)
    group_row = np.repeat(np.arange(rows), n_grp)
    per_row = np.bincount(group_row, weights=n_chan_groups, minlength=rows).astype(np.int64)
    values = np.concatenate(
        [cell(m_cells, r, per_row[r], "MATRIX") for r in range(rows)] or [np.empty(0)]
    )
    dtype = np.float64 if values.dtype == np.float64 else np.float32
    element_row = np.repeat(group_row, n_chan_groups)
    group_start = np.cumsum(n_chan_groups) - n_chan_groups
    offset = np.arange(n_chan_groups.sum()) - np.repeat(group_start, n_chan_groups)
    element_channel = np.repeat(f_chan - first, n_chan_groups) + offset
    if element_channel.size and (element_channel.min() < 0 or element_channel.max() >= n_chan):
        raise FormatError(
            f"{where}: F_CHAN/N_CHAN address channels outside {first}..{first + n_chan - 1} "
            "(inconsistent channel counts or numbering)"
        )
    matrix = np.zeros((rows, n_chan), dtype=dtype)
    matrix[element_row, element_channel] = values
    return matrix


def _read_background(
    path: Path, n_chan: int, first: int, livetime: float, pha_where: str
) -> tuple[np.ndarray, np.ndarray]:
    with open_fits(path) as hdul:
        hdu = _ogip_hdu(hdul, "SPECTRUM", path, hduclas1="SPECTRUM")
        where = f"{path}, HDU {hdu.name!r}"
        background = _read_spectrum(hdu, where)
    if background["counts"].size != n_chan or background["first_channel"] != first:
        raise FormatError(
            f"inconsistent channel counts: {where} has channels {background['first_channel']}.."
            f"{background['first_channel'] + background['counts'].size - 1}, the PHA spectrum "
            f"({pha_where}) {first}..{first + n_chan - 1}"
        )
    exposure = background["exposure"]
    exposure = livetime if exposure is None else float(exposure)
    if not (exposure > 0 and math.isfinite(exposure)):
        raise FormatError(f"{where}: EXPOSURE must be a positive live time, got {exposure}")
    acceptance_off = background["backscal"]
    scale = background["areascal"] * (exposure / livetime)
    if not np.all(scale == 1):
        acceptance_off = (acceptance_off * scale).astype(acceptance_off.dtype)
    return background["counts"], acceptance_off


def _named_file(header: fits.Header, keyword: str, pha: Path) -> Path | None:
    value = str(header.get(keyword, "")).strip()
    if value.upper() in _NO_FILE:
        return None
    target = Path(value)
    if not target.is_absolute():
        target = pha.parent / target
    if not target.is_file():
        raise DataFileError(f"{pha}: {keyword} = {value!r}: file not found ({target})")
    return target


def _check_same_axis(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    if a.shape != b.shape or not np.allclose(a, b, rtol=1e-6, atol=0):
        raise FormatError(
            f"energy axes do not match: {name_a} has {a.size - 1} bins "
            f"[{a[0]:.6g}, {a[-1]:.6g}] TeV, {name_b} {b.size - 1} bins "
            f"[{b[0]:.6g}, {b[-1]:.6g}] TeV"
        )


def _keyword_float(header: fits.Header, keyword: str, where: str) -> float:
    if keyword not in header:
        raise FormatError(f"{where}: missing keyword {keyword!r}")
    try:
        return float(header[keyword])
    except (TypeError, ValueError) as err:
        raise FormatError(
            f"{where}: keyword {keyword} = {header[keyword]!r} is not a number"
        ) from err


def _read_record(header: fits.Header, where: str) -> dict[str, Any]:
    text = header.get(ATTRS_KEYWORD)
    if text is None:
        return {}
    try:
        record = json.loads(str(text))
        version = int(record["version"])
    except (ValueError, KeyError, TypeError) as err:
        raise FormatError(f"{where}: unreadable {ATTRS_KEYWORD} record ({err})") from err
    if version > _RECORD_VERSION:
        raise FormatError(
            f"{where}: {ATTRS_KEYWORD} written by a newer gammaxr (version {version}); upgrade"
        )
    return record


def _read_attrs(header: fits.Header, recorded: Mapping[str, Any], livetime: float) -> dict:
    """Dataset attrs: the JSON record, with the standard keywords where they disagree."""
    attrs = dict(recorded)
    for attr, (keyword, kind) in _KEYWORDS.items():
        if attr == "livetime":
            value: Any = livetime
        elif keyword in header:
            value = header[keyword]
        else:
            continue
        if isinstance(value, str):
            value = value.strip()
            if attr in ("telescope", "instrument") and value in ("", _UNKNOWN):
                continue
        if attr == "obs_id":
            text = str(value).strip()
            if not text.lstrip("-").isdigit():
                if text != _UNKNOWN:
                    attrs.setdefault("name", text)
                continue
            value = int(text)
        try:
            value = kind(value)
        except (TypeError, ValueError):
            continue
        if attr in attrs and _agree(attrs[attr], value):
            continue  # keep the recorded value (and its exact type)
        attrs[attr] = value
    return attrs


def _agree(recorded: Any, value: Any) -> bool:
    if isinstance(value, float) and isinstance(recorded, (int, float)):
        return math.isclose(float(recorded), value, rel_tol=1e-14, abs_tol=0.0) or (
            math.isnan(value) and math.isnan(float(recorded))
        )
    return bool(recorded == value)
