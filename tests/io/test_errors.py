"""Bad GADF input raises one specific gammaxr exception that names what is wrong."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from gammaxr import GammaxrError
from gammaxr.exceptions import (
    ColumnError,
    DataFileError,
    FormatError,
    HDUClassError,
    IRFShapeError,
    MissingHDUError,
    UnitError,
)
from gammaxr.io import (
    read_events,
    read_gti,
    read_hdu_index,
    read_irf,
    read_obs_index,
    read_pointing,
)
from gammaxr.testing import write_datastore, write_event_file, write_irf_file


def rewrite_table(
    path: Path,
    hdu: str,
    *,
    drop: tuple[str, ...] = (),
    replace: dict[str, tuple[np.ndarray, str | None]] | None = None,
    units: dict[str, str] | None = None,
):
    """Rewrite one table with columns dropped, replaced (row-0 cell, TDIM) or re-united.

    Only the ``HDU*``/``FOVALIGN`` keywords of the old header are kept.
    """
    replace = replace or {}
    units = units or {}
    with fits.open(path) as hdul:
        hdus = [h.copy() for h in hdul]
    index = next(i for i, h in enumerate(hdus) if h.name == hdu)
    table = hdus[index]
    columns = []
    for col in table.columns:
        if col.name in drop:
            continue
        if col.name in replace:
            cell, dim = replace[col.name]
            columns.append(
                fits.Column(col.name, format=f"{cell.size}E", unit=col.unit, dim=dim, array=[cell])
            )
            continue
        columns.append(
            fits.Column(
                col.name,
                format=col.format,
                unit=units.get(col.name, col.unit),
                dim=col.dim,
                array=table.data[col.name],
            )
        )
    new = fits.BinTableHDU.from_columns(columns, name=hdu)
    for key, value in table.header.items():
        if key.startswith(("HDU", "FOVALIGN", "OBS_ID")):
            new.header[key] = value
    hdus[index] = new
    fits.HDUList(hdus).writeto(path, overwrite=True)


def names(message: str, *parts: str) -> None:
    for part in parts:
        assert part in message, f"{part!r} not in {message!r}"


# --- the family -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "builtins"),
    [
        (DataFileError, (FileNotFoundError, OSError)),
        (FormatError, (ValueError,)),
        (MissingHDUError, (FormatError, LookupError, ValueError)),
        (HDUClassError, (FormatError, ValueError)),
        (ColumnError, (FormatError, LookupError, ValueError)),
        (IRFShapeError, (FormatError, ValueError)),
        (UnitError, (ValueError,)),
    ],
)
def test_errors_subclass_gammaxr_error_and_builtins(error, builtins):
    assert issubclass(error, GammaxrError)
    for builtin in builtins:
        assert issubclass(error, builtin)
    with pytest.raises(builtins[0]):
        raise error("x")


# --- files ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "read",
    [
        lambda p: read_irf(p, "AEFF"),
        lambda p: read_events(p),
        lambda p: read_gti(p),
        lambda p: read_pointing(p),
        lambda p: read_obs_index(p),
        lambda p: read_hdu_index(p),
    ],
    ids=["irf", "events", "gti", "pointing", "obs_index", "hdu_index"],
)
def test_missing_file(tmp_path, read):
    path = tmp_path / "nowhere" / "missing.fits.gz"
    with pytest.raises(DataFileError, match=re.escape(str(path))) as info:
        read(path)
    assert "not found" in str(info.value)
    assert isinstance(info.value, FileNotFoundError)


def test_folder_is_not_a_file(tmp_path):
    with pytest.raises(DataFileError, match="file not found"):
        read_irf(tmp_path, "AEFF")


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("text.fits", b"this is not a FITS file\n" * 200),
        ("empty.fits", b""),
        ("bad-gzip.fits.gz", b"\x1f\x8b\x08\x00" + b"garbage" * 50),
        ("gzipped-text.fits.gz", gzip.compress(b"not FITS at all " * 400, mtime=0)),
    ],
    ids=["text", "empty", "bad-gzip", "gzipped-text"],
)
@pytest.mark.filterwarnings("ignore:Error validating header")  # astropy warns, then raises
def test_corrupt_non_fits_file(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    for read in (lambda: read_irf(path, "AEFF"), lambda: read_events(path)):
        with pytest.raises(DataFileError) as info:
            read()
        names(str(info.value), str(path), "not a readable FITS file")


@pytest.mark.filterwarnings("ignore:File may have been truncated")
def test_truncated_fits_file(tmp_path):
    written = write_event_file(tmp_path / "events.fits", 2000, rng=1)
    data = written.path.read_bytes()
    path = tmp_path / "truncated.fits"
    path.write_bytes(data[: len(data) // 2 // 2880 * 2880])
    with pytest.raises(DataFileError) as info:
        read_events(path)
    names(str(info.value), str(path), "truncated", "EVENTS")


def test_truncated_gzip_file(tmp_path):
    """astropy stops quietly where a gzip stream ends: the error must say truncated."""
    written = write_event_file(tmp_path / "events.fits.gz", 2000, rng=1)
    data = written.path.read_bytes()
    path = tmp_path / "truncated.fits.gz"
    path.write_bytes(data[: len(data) * 3 // 4])
    with pytest.raises(DataFileError) as info:
        read_events(path)
    names(str(info.value), str(path), "truncated or corrupt gzip file")


# --- HDUs and classes -----------------------------------------------------------------


def test_missing_hdu(tmp_path):
    irf = write_irf_file(tmp_path / "aeff.fits", "aeff_2d", rng=2)
    with pytest.raises(MissingHDUError) as info:
        read_irf(irf.path, "EDISP")
    names(str(info.value), str(irf.path), "'EDISP'", "['PRIMARY', 'AEFF']")
    with pytest.raises(MissingHDUError, match="no HDU 5"):
        read_irf(irf.path, 5)
    with pytest.raises(MissingHDUError, match="'EVENTS'"):
        read_events(irf.path)
    with pytest.raises(MissingHDUError, match="'GTI'"):
        read_gti(irf.path)
    assert isinstance(info.value, LookupError)


def test_unknown_hdu_class_from_header(tmp_path):
    irf = write_irf_file(tmp_path / "aeff.fits", "aeff_2d", header={"HDUCLAS4": "AEFF_3D"}, rng=3)
    with pytest.raises(HDUClassError) as info:
        read_irf(irf.path, "AEFF")
    names(str(info.value), str(irf.path), "'AEFF'", "HDUCLAS4='AEFF_3D'", "EFF_AREA", "aeff_2d")


def test_events_hdu_is_not_an_irf(tmp_path):
    events = write_event_file(tmp_path / "events.fits", 5, rng=4)
    with pytest.raises(HDUClassError) as info:
        read_irf(events.path, "EVENTS")
    names(str(info.value), str(events.path), "'EVENTS'", "unknown IRF class")


def test_unknown_hdu_class_argument(tmp_path):
    irf = write_irf_file(tmp_path / "aeff.fits", "aeff_2d", rng=5)
    with pytest.raises(HDUClassError) as info:
        read_irf(irf.path, "AEFF", hdu_class="aeff_3d")
    names(str(info.value), str(irf.path), "'AEFF'", "'aeff_3d'", "'psf_table'")


def test_primary_hdu_is_not_a_table(tmp_path):
    irf = write_irf_file(tmp_path / "aeff.fits", "aeff_2d", rng=6)
    with pytest.raises(FormatError, match="expected a binary table"):
        read_irf(irf.path, 0, hdu_class="aeff_2d")


# --- columns -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hdu_class", "column", "expected"),
    [
        ("aeff_2d", "EFFAREA", "'EFFAREA'"),
        ("edisp_2d", "MATRIX", "'MATRIX'"),
        ("psf_table", "RPSF", "'RPSF'"),
        ("psf_3gauss", "SIGMA_2", "'SIGMA_2'"),
        ("psf_king", "GAMMA", "'GAMMA'"),
        ("bkg_3d", "BKG", "'BKG or BGD'"),
        ("rad_max_2d", "RAD_MAX", "'RAD_MAX'"),
    ],
)
def test_missing_data_column(tmp_path, hdu_class, column, expected):
    irf = write_irf_file(tmp_path / "irf.fits", hdu_class, rng=7)
    rewrite_table(irf.path, irf.hdu_name, drop=(column,))
    with pytest.raises(ColumnError) as info:
        read_irf(irf.path, irf.hdu_name)
    names(str(info.value), str(irf.path), repr(irf.hdu_name), "missing data column", expected)
    assert isinstance(info.value, LookupError)


def test_missing_axis_columns(tmp_path):
    irf = write_irf_file(tmp_path / "irf.fits", "edisp_2d", rng=8)
    rewrite_table(irf.path, "EDISP", drop=("MIGRA_LO", "MIGRA_HI"))
    with pytest.raises(ColumnError) as info:
        read_irf(irf.path, "EDISP")
    names(
        str(info.value),
        str(irf.path),
        "'EDISP'",
        "expected axis columns",
        "MIGRA_LO/MIGRA_HI",
        "found ['ENERG_LO/ENERG_HI', 'THETA_LO/THETA_HI']",
    )


def test_axis_column_without_partner(tmp_path):
    irf = write_irf_file(tmp_path / "irf.fits", "aeff_2d", rng=9)
    rewrite_table(irf.path, "AEFF", drop=("THETA_HI",))
    with pytest.raises(ColumnError) as info:
        read_irf(irf.path, "AEFF")
    names(str(info.value), str(irf.path), "'THETA_LO'", "'THETA_HI'")


def test_wrong_axis_for_class(tmp_path):
    """A bkg_3d HDU read as bkg_2d: DETX/DETY instead of THETA."""
    irf = write_irf_file(tmp_path / "irf.fits", "bkg_3d", rng=10)
    with pytest.raises(ColumnError) as info:
        read_irf(irf.path, "BKG", hdu_class="bkg_2d")
    names(str(info.value), "expected axis columns", "THETA_LO/THETA_HI", "DETX_LO/DETX_HI")


def test_unknown_axis_columns(tmp_path):
    irf = write_irf_file(tmp_path / "irf.fits", "aeff_2d", rng=11)
    with fits.open(irf.path) as hdul:
        table = hdul["AEFF"]
        columns = [*table.columns]
        extra = [
            fits.Column("ZENITH_LO", format="2E", array=[[0, 1]]),
            fits.Column("ZENITH_HI", format="2E", array=[[1, 2]]),
        ]
        new = fits.BinTableHDU.from_columns(columns + extra, name="AEFF")
        new.header.update({k: table.header[k] for k in ("HDUCLAS2", "HDUCLAS4")})
        fits.HDUList([fits.PrimaryHDU(), new]).writeto(irf.path, overwrite=True)
    with pytest.raises(FormatError, match="unknown IRF axis columns ZENITH_LO/ZENITH_HI"):
        read_irf(irf.path, "AEFF")


@pytest.mark.parametrize(
    ("drop", "expected"),
    [(("ENERGY",), "'ENERGY'"), (("RA", "DEC"), "'RA', 'DEC'"), (("TIME",), "'TIME'")],
)
def test_missing_event_columns(tmp_path, drop, expected):
    events = write_event_file(tmp_path / "events.fits", 5, rng=12)
    rewrite_table(events.path, "EVENTS", drop=drop)
    with pytest.raises(ColumnError) as info:
        read_events(events.path)
    names(str(info.value), str(events.path), "'EVENTS'", "missing event columns", expected)


def test_missing_gti_column(tmp_path):
    events = write_event_file(tmp_path / "events.fits", 5, rng=13)
    rewrite_table(events.path, "GTI", drop=("STOP",))
    with pytest.raises(ColumnError) as info:
        read_gti(events.path)
    names(str(info.value), str(events.path), "'GTI'", "'STOP'")


def test_index_tables_missing_columns(tmp_path):
    store = write_datastore(tmp_path / "store", obs_ids=(1,), irfs=(), rng=14)
    rewrite_table(store.obs_index, "OBS_INDEX", drop=("OBS_ID",))
    with pytest.raises(ColumnError) as info:
        read_obs_index(store.obs_index)
    names(str(info.value), str(store.obs_index), "'OBS_ID'")
    rewrite_table(store.hdu_index, "HDU_INDEX", drop=("HDU_CLASS", "FILE_DIR"))
    with pytest.raises(ColumnError) as info:
        read_hdu_index(store.hdu_index)
    names(str(info.value), str(store.hdu_index), "'HDU_CLASS'", "'FILE_DIR'")


# --- shapes -------------------------------------------------------------------------------


def test_tdim_inconsistent_with_axes(tmp_path):
    """ENERG (7) is the first axis pair, but the cell's TDIM says (4,7): transposed."""
    irf = write_irf_file(tmp_path / "irf.fits", "aeff_2d", rng=15)
    cell = irf.data["EFFAREA"].T  # numpy (7, 4) instead of (4, 7)
    rewrite_table(irf.path, "AEFF", replace={"EFFAREA": (np.ascontiguousarray(cell), "(4,7)")})
    with pytest.raises(IRFShapeError) as info:
        read_irf(irf.path, "AEFF")
    names(
        str(info.value),
        str(irf.path),
        "'AEFF'",
        "'EFFAREA'",
        "(7, 4)",
        "energy_true=7, offset=4",
        "need (4, 7)",
    )


def test_flat_cell_of_wrong_size(tmp_path):
    irf = write_irf_file(tmp_path / "irf.fits", "bkg_3d", rng=16)
    cell = irf.data["BKG"].ravel()[:-5]
    rewrite_table(irf.path, "BKG", replace={"BKG": (cell, None)})
    with pytest.raises(IRFShapeError) as info:
        read_irf(irf.path, "BKG")
    names(str(info.value), str(irf.path), "'BKG'", f"({cell.size},)", "need (5, 8, 7)")


def test_lo_hi_of_different_lengths(tmp_path):
    irf = write_irf_file(tmp_path / "irf.fits", "psf_table", rng=17)
    lo, _ = irf.edges["RAD"]
    rewrite_table(irf.path, "PSF", replace={"RAD_LO": (lo[:-1], None)})
    with pytest.raises(IRFShapeError) as info:
        read_irf(irf.path, "PSF")
    names(str(info.value), str(irf.path), "RAD_LO has 8 values", "RAD_HI has 9")


@pytest.mark.parametrize(
    ("lo", "hi", "expected"),
    [
        ([0.0, 1.0, 0.5, 2.0], [1.0, 2.0, 1.5, 3.0], "not increasing"),
        ([0.0, 1.0, 2.0, 3.0], [1.5, 2.5, 3.5, 4.5], "non-overlapping"),
        ([0.0, 1.0, 2.0, 3.0], [0.0, 2.0, 3.0, 4.0], "not increasing"),
        ([0.0, 1.0, 1.0, 3.0], [0.0, 1.0, 1.0, 3.0], "nodes are not strictly increasing"),
    ],
)
def test_bad_axis_bins(tmp_path, lo, hi, expected):
    irf = write_irf_file(tmp_path / "irf.fits", "aeff_2d", rng=18)
    rewrite_table(
        irf.path,
        "AEFF",
        replace={
            "THETA_LO": (np.array(lo, dtype=np.float32), None),
            "THETA_HI": (np.array(hi, dtype=np.float32), None),
        },
    )
    with pytest.raises(FormatError) as info:
        read_irf(irf.path, "AEFF")
    names(str(info.value), str(irf.path), "THETA", expected)


def test_energy_edges_must_be_positive(tmp_path):
    irf = write_irf_file(tmp_path / "irf.fits", "aeff_2d", sizes={"ENERG": 3}, rng=19)
    rewrite_table(
        irf.path,
        "AEFF",
        replace={
            "ENERG_LO": (np.array([0.0, 1.0, 2.0], dtype=np.float32), None),
            "ENERG_HI": (np.array([1.0, 2.0, 3.0], dtype=np.float32), None),
        },
    )
    with pytest.raises(FormatError, match="ENERG_LO must be positive"):
        read_irf(irf.path, "AEFF")


def test_bad_fovalign(tmp_path):
    irf = write_irf_file(tmp_path / "irf.fits", "bkg_3d", fovalign="GALACTIC", rng=20)
    with pytest.raises(FormatError) as info:
        read_irf(irf.path, "BKG")
    names(str(info.value), str(irf.path), "FOVALIGN", "'GALACTIC'", "RADEC or ALTAZ")


# --- units ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hdu_class", "units", "column"),
    [
        ("aeff_2d", {"EFFAREA": "blargh"}, "'EFFAREA'"),
        ("aeff_2d", {"THETA": "degrees of freedom"}, "'THETA_LO'"),
        ("bkg_3d", {"BKG": "1/s/MeV/steradian-ish"}, "'BKG'"),
    ],
)
def test_unparseable_units(tmp_path, hdu_class, units, column):
    irf = write_irf_file(tmp_path / "irf.fits", hdu_class, units=units, rng=21)
    with pytest.raises(UnitError) as info:
        read_irf(irf.path, irf.hdu_name)
    (unit,) = units.values()
    names(str(info.value), str(irf.path), repr(irf.hdu_name), column, "cannot parse", repr(unit))


@pytest.mark.parametrize(
    ("hdu_class", "units", "column", "target"),
    [
        ("aeff_2d", {"EFFAREA": "s"}, "'EFFAREA'", "'m2'"),
        ("aeff_2d", {"ENERG": "deg"}, "'ENERG_LO'", "'TeV'"),
        ("edisp_2d", {"MATRIX": "m"}, "'MATRIX'", "'(dimensionless)'"),
        ("psf_table", {"RPSF": "sr"}, "'RPSF'", "'sr-1'"),
        ("bkg_3d", {"BKG": "1/s/sr"}, "'BKG'", "'MeV-1 s-1 sr-1'"),
        ("bkg_3d", {"DETX": "TeV"}, "'DETX_LO'", "'deg'"),
        ("rad_max_2d", {"RAD_MAX": "TeV"}, "'RAD_MAX'", "'deg'"),
    ],
)
def test_non_convertible_units(tmp_path, hdu_class, units, column, target):
    irf = write_irf_file(tmp_path / "irf.fits", hdu_class, units=units, rng=22)
    with pytest.raises(UnitError) as info:
        read_irf(irf.path, irf.hdu_name)
    names(str(info.value), str(irf.path), repr(irf.hdu_name), column, "not convertible", target)


def test_event_units(tmp_path):
    wrong = write_event_file(tmp_path / "a.fits", 5, energy_unit="deg", rng=23)
    with pytest.raises(UnitError) as info:
        read_events(wrong.path)
    names(str(info.value), str(wrong.path), "'EVENTS'", "'ENERGY'", "'deg'", "'TeV'")
    bad = write_event_file(tmp_path / "b.fits", 5, angle_unit="blargh", rng=23)
    with pytest.raises(UnitError) as info:
        read_events(bad.path)
    names(str(info.value), str(bad.path), "'RA'", "cannot parse", "'blargh'")
    missing = write_event_file(tmp_path / "c.fits", 5, energy_unit="", rng=23)
    with pytest.raises(UnitError, match="'ENERGY': unit '\\(dimensionless\\)' is not conv"):
        read_events(missing.path)


# --- event headers -------------------------------------------------------------------------


@pytest.mark.parametrize("keyword", ["OBS_ID", "TSTART", "TSTOP", "RA_PNT", "DEC_PNT", "LIVETIME"])
def test_missing_required_event_keyword(tmp_path, keyword):
    events = write_event_file(tmp_path / "events.fits", 5, header={keyword: None}, rng=24)
    with pytest.raises(FormatError) as info:
        read_events(events.path)
    names(str(info.value), str(events.path), "'EVENTS'", f"missing header keyword {keyword!r}")


def test_missing_time_reference(tmp_path):
    events = write_event_file(
        tmp_path / "events.fits", 5, header={"MJDREFI": None, "MJDREFF": None}, rng=25
    )
    with pytest.raises(FormatError) as info:
        read_events(events.path)
    names(str(info.value), str(events.path), "'EVENTS'", "MJDREFI", "MJDREF")


@pytest.mark.parametrize("keyword", ["RA_PNT", "DEC_PNT"])
def test_missing_pointing_keyword(tmp_path, keyword):
    events = write_event_file(tmp_path / "events.fits", 5, header={keyword: None}, rng=26)
    with pytest.raises(FormatError) as info:
        read_pointing(events.path)
    names(str(info.value), str(events.path), "'EVENTS'", repr(keyword))


def test_bad_time_keywords(tmp_path):
    events = write_event_file(tmp_path / "a.fits", 5, header={"TIMEUNIT": "m"}, rng=27)
    with pytest.raises(UnitError, match="TIMEUNIT 'm' is not a unit of time"):
        read_events(events.path)
    events = write_event_file(tmp_path / "b.fits", 5, header={"TIMESYS": "MARS"}, rng=27)
    with pytest.raises(FormatError, match="TIMESYS 'MARS'"):
        read_events(events.path)


def test_gti_stop_before_start(tmp_path):
    events = write_event_file(tmp_path / "events.fits", 5, gti=[(100.0, 50.0)], rng=28)
    with pytest.raises(FormatError) as info:
        read_gti(events.path)
    names(str(info.value), str(events.path), "'GTI'", "STOP before START")
