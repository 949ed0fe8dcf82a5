"""The FITS reader of the GADF readers: headers and binary tables as astropy reads them."""

from __future__ import annotations

import os

import numpy as np
import pytest
from astropy.io import fits

import gammaxr as gx
from gammaxr.exceptions import DataFileError, FormatError, MissingHDUError
from gammaxr.io._fits import FitsTable, column, read_header, read_table, table_to_frame


def astropy_cards(header: fits.Header) -> dict:
    """Keyword -> value as astropy reads them (first occurrence, no commentary cards)."""
    out: dict = {}
    for card in header.cards:
        key = card.keyword.upper()
        if key in ("", "COMMENT", "HISTORY") or key in out:
            continue
        out[key] = None if isinstance(card.value, fits.card.Undefined) else card.value
    return out


def assert_same_field(got: np.ndarray, expected: np.ndarray, name: str) -> None:
    """Same values; strings (bytes here, str from astropy) compared without trailing blanks."""
    assert got.shape == expected.shape, name
    if expected.dtype.kind in "SU":
        assert got.dtype.kind == "S", name
        decoded = np.char.rstrip(np.char.decode(got, "ascii"))
        np.testing.assert_array_equal(decoded, np.char.rstrip(expected.astype(str)))
        return
    assert got.dtype == expected.dtype, name
    np.testing.assert_array_equal(got, expected)


def shipped_files() -> list:
    root = gx.data.store.example_data_path()
    return sorted(root.glob("*.fits*")) + sorted((root / "data").glob("*.fits*"))


@pytest.mark.parametrize("path", shipped_files(), ids=lambda p: p.name)
def test_headers_and_tables_of_the_shipped_files_match_astropy(path):
    with fits.open(path) as hdul:
        for index, hdu in enumerate(hdul):
            header = read_header(path, index)
            assert dict(header) == astropy_cards(hdu.header)
            assert read_header(path, hdu.name) == header
            if not isinstance(hdu, fits.BinTableHDU):
                continue
            table = read_table(path, hdu.name)
            assert isinstance(table, FitsTable)
            assert table.name == hdu.name and table.names == list(hdu.columns.names)
            assert table.n_rows == len(hdu.data)
            for i, name in enumerate(hdu.columns.names):
                assert_same_field(table.field(i), np.asarray(hdu.data.field(i)), name)
                if np.asarray(hdu.data.field(i)).dtype.kind not in "SU":
                    np.testing.assert_array_equal(
                        column(table, name, where="x"), column(hdu, name, where="x")
                    )


def write(path, header_cards=(), columns=(), n_rows=None):
    table = fits.BinTableHDU.from_columns(list(columns), name="TABLE", nrows=n_rows or 0)
    for card in header_cards:
        table.header.append(card)
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(path, overwrite=True)
    return path


def test_every_card_form(tmp_path):
    cards = [
        ("QUOTED", "it's a 'test'", "with a comment"),
        ("EMPTY", ""),
        ("LEADING", "  leading blanks kept"),
        ("LONGSTR", "x" * 150 + " and a long tail that needs CONTINUE cards " * 3),
        ("TRUE", True),
        ("FALSE", False),
        ("INT", -42),
        ("BIG", 2**40),
        ("FLOAT", -1.25e-7),
        ("UNDEF", fits.card.UNDEFINED),
        ("HIERARCH ESO TEL ALT", 45.5),
        fits.Card.fromstring("DEXP    =                1.5D3 / a D exponent"),
        fits.Card.fromstring("COMMENT = not a value"),
    ]
    path = write(tmp_path / "cards.fits", cards, [fits.Column("A", "E", array=[1.0])])
    header = read_header(path, "TABLE")
    with fits.open(path) as hdul:
        expected = astropy_cards(hdul["TABLE"].header)
    assert dict(header) == expected
    assert header["quoted"] == "it's a 'test'" and header["DEXP"] == 1500.0
    assert header["LONGSTR"].endswith("CONTINUE cards")
    assert header["ESO TEL ALT"] == 45.5 and header["UNDEF"] is None
    assert "COMMENT" not in header and header.get("MISSING", 3) == 3


def test_column_types_and_scalings(tmp_path):
    rng = np.random.default_rng(1)
    n = 5
    columns = [
        fits.Column("L", "L", array=[True, False, True, True, False]),
        fits.Column("B", "B", array=np.arange(n, dtype=np.uint8) + 250),
        fits.Column("I", "I", array=np.arange(n, dtype=np.int16) - 3),
        fits.Column("J", "J", array=np.arange(n, dtype=np.int32) * 100000),
        fits.Column("K", "K", array=np.arange(n, dtype=np.int64) * 2**40),
        fits.Column("U2", "I", bzero=2**15, array=np.array([0, 1, 2**16 - 1, 7, 8], np.uint16)),
        fits.Column("U4", "J", bzero=2**31, array=np.array([0, 1, 2**32 - 1, 7, 8], np.uint32)),
        fits.Column("U8", "K", bzero=2**63, array=np.array([0, 1, 2**64 - 1, 7, 8], np.uint64)),
        fits.Column("E", "E", unit="TeV", array=rng.normal(size=n).astype(np.float32)),
        fits.Column("D", "D", array=rng.normal(size=n)),
        fits.Column("C", "C", array=rng.normal(size=n) + 1j),
        fits.Column("M", "M", array=rng.normal(size=n) - 2j),
        fits.Column("A", "8A", array=["a", "bb ", "  c", "dddddddd", ""]),
        fits.Column("VEC", "6E", dim="(3,2)", array=rng.normal(size=(n, 2, 3))),
        fits.Column("VEC1", "4D", array=rng.normal(size=(n, 4))),
    ]
    path = write(tmp_path / "types.fits", columns=columns)
    table = read_table(path, "TABLE")
    with fits.open(path) as hdul:
        hdu = hdul["TABLE"]
        for i, name in enumerate(hdu.columns.names):
            assert_same_field(table.field(i), np.asarray(hdu.data.field(i)), name)
            if name == "A":
                continue
            converted = column(table, name, where="x")
            assert converted.dtype.isnative
            np.testing.assert_array_equal(converted, column(hdu, name, where="x"))
    assert column(table, "E", where="x", unit="GeV").dtype == np.float32
    assert [c.shape for c in table.columns if c.name.startswith("VEC")] == [(2, 3), (4,)]
    frame = table_to_frame(table, where="x")
    assert frame["a"].tolist() == ["a", "bb", "c", "dddddddd", ""]
    assert frame.attrs["units"] == {"e": "TeV"}


def test_layouts_it_does_not_decode_are_read_by_astropy(tmp_path):
    columns = [
        fits.Column("VLA", "PE()", array=[np.arange(k, dtype=np.float32) for k in range(1, 4)]),
        fits.Column("BITS", "3X", array=np.array([[1, 0, 1], [0, 0, 1], [1, 1, 1]], bool)),
        fits.Column("SCALED", "J", array=np.array([0, 3, 4], np.int32)),
        fits.Column("S1", "B", bzero=-128, array=np.array([-128, 0, 127], np.int8)),
    ]
    path = write(tmp_path / "vla.fits", columns=columns)
    fits.setval(path, "TSCAL3", value=0.5, ext=1)
    fits.setval(path, "TZERO3", value=10.0, ext=1)
    table = read_table(path, "TABLE")
    with fits.open(path) as hdul:
        data = hdul["TABLE"].data
        for name in ("BITS", "SCALED", "S1"):
            np.testing.assert_array_equal(table.field(table.names.index(name)), data[name])
        assert data["SCALED"].tolist() == [10.0, 11.5, 12.0]
        for got, expected in zip(table.field(0), data["VLA"], strict=True):
            np.testing.assert_array_equal(got, expected)


def test_a_rewritten_file_is_read_again(tmp_path):
    path = write(tmp_path / "f.fits", [("VERSION", 1)], [fits.Column("A", "E", array=[1.0])])
    assert read_header(path, "TABLE")["VERSION"] == 1
    assert read_table(path, "TABLE").field(0).tolist() == [1.0]
    write(path, [("VERSION", 2)], [fits.Column("A", "E", array=[2.0, 3.0])])
    assert read_header(path, "TABLE")["VERSION"] == 2
    assert read_table(path, "TABLE").field(0).tolist() == [2.0, 3.0]


def test_errors_name_the_file_and_hdu(tmp_path):
    path = write(tmp_path / "f.fits", columns=[fits.Column("A", "E", array=np.arange(2000.0))])
    with pytest.raises(
        MissingHDUError, match=r"no HDU 'EVENTS'; the file has \['PRIMARY', 'TABLE'\]"
    ):
        read_table(path, "EVENTS")
    with pytest.raises(MissingHDUError, match="no HDU 7"):
        read_header(path, 7)
    with pytest.raises(FormatError, match="expected a binary table, got the primary HDU"):
        read_table(path, 0)
    data = path.read_bytes()
    cut = tmp_path / "cut.fits"
    cut.write_bytes(data[: 2880 + 400])  # the table header is cut before its END card
    with pytest.raises(DataFileError, match="ends before its END card"):
        read_table(cut, "TABLE")
    assert read_header(cut, 0)["SIMPLE"] is True
    cut.write_bytes(data[: 3 * 2880])  # the data is cut
    os.utime(cut, ns=(1, 1))
    with pytest.raises(DataFileError, match=r"truncated FITS file: HDU 1 \('TABLE'\) needs"):
        read_table(cut, "TABLE")
    with pytest.raises(DataFileError, match="file not found"):
        read_header(tmp_path / "missing.fits", 0)
