"""GADF obs-index and hdu-index tables as DataFrames."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from astropy.io import fits

import gammaxr as gx
from gammaxr.io import read_events, read_hdu_index, read_irf, read_obs_index
from gammaxr.testing import write_datastore


def snake(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", name.strip().lower()).strip("_")


def raw_index(path: Path) -> dict[str, np.ndarray]:
    with fits.open(path) as hdul:
        data = hdul[1].data
        return {name: np.array(data[name]) for name in data.columns.names}


def assert_frame_matches_fits(frame: pd.DataFrame, raw: dict[str, np.ndarray]):
    """Every FITS column is a snake_case column with the same values (strings stripped)."""
    assert set(frame.columns) >= {snake(name) for name in raw}
    for name, values in raw.items():
        column = frame[snake(name)]
        if values.dtype.kind in "SU":
            assert column.tolist() == [str(v).strip() for v in values.astype(str)], name
        else:
            np.testing.assert_array_equal(column.to_numpy(), values, err_msg=name)


# --- the shipped H.E.S.S. data store ----------------------------------------------------


def test_hess_obs_index():
    path = gx.example_data_path() / "obs-index.fits.gz"
    frame = read_obs_index(path)
    raw = raw_index(path)
    assert_frame_matches_fits(frame, raw)
    assert list(frame.index) == [23523, 23526, 23559, 23592]
    assert list(frame["obs_id"]) == list(frame.index)
    assert frame.columns[0] == "obs_id"
    for column in ("ra_pnt", "dec_pnt", "alt_pnt", "az_pnt", "livetime", "ontime", "deadc"):
        assert column in frame
    assert frame.loc[23523, "event_count"] == 7613
    assert frame.loc[23523, "object"] == "Crab Nebula"
    assert frame.loc[23523, "livetime"] == pytest.approx(1581.73681640625)
    units = frame.attrs["units"]
    assert units["ra_pnt"] == "deg" and units["livetime"] == "s"
    assert frame.attrs["mjdrefi"] == 51910
    # pandas selection, as the design promises.
    assert frame.query("dec_pnt > 22").index.tolist() == [23526, 23559, 23592]


def test_hess_hdu_index():
    folder = gx.example_data_path()
    path = folder / "hdu-index.fits.gz"
    frame = read_hdu_index(path)
    raw = raw_index(path)
    for name in ("OBS_ID", "FILE_DIR", "FILE_NAME", "HDU_NAME"):
        assert_frame_matches_fits(frame[[snake(name)]], {name: raw[name]})
    # Types and classes are lower case whatever the file says.
    assert frame["hdu_type"].tolist() == [str(v).strip().lower() for v in raw["HDU_TYPE"]]
    assert frame["hdu_class"].tolist() == [str(v).strip().lower() for v in raw["HDU_CLASS"]]
    assert len(frame) == 24
    for obs_id, rows in frame.groupby("obs_id"):
        assert sorted(rows["hdu_type"]) == ["aeff", "bkg", "edisp", "events", "gti", "psf"]
        assert set(rows["hdu_class"]) == {
            "aeff_2d", "bkg_3d", "edisp_2d", "events", "gti", "psf_table",
        }  # fmt: skip
        (name,) = set(rows["file_name"])
        assert name == f"hess_dl3_dr1_obs_id_{obs_id:06d}.fits.gz"
    for _, row in frame.iterrows():
        expected = (folder / row["file_dir"] / row["file_name"]).resolve()
        assert row["path"] == str(expected)
        assert Path(row["path"]).is_file()


def test_hess_obs_index_event_counts_match_events(crab_store):
    for obs_id, count in crab_store.obs_table["event_count"].items():
        assert len(crab_store.observation(obs_id).events) == count


# --- synthetic data stores ----------------------------------------------------------------


def test_synthetic_datastore_index_tables(tmp_path):
    written = write_datastore(tmp_path / "store", obs_ids=(7, 3, 11), rng=1)
    obs = read_obs_index(written.obs_index)
    assert list(obs.index) == [7, 3, 11]
    for row in written.obs_rows:
        for key, value in row.items():
            got = obs.loc[row["OBS_ID"], snake(key)]
            assert got == (pytest.approx(value) if isinstance(value, float) else value), key
    assert obs.attrs["units"]["ontime"] == "s"

    hdus = read_hdu_index(written.hdu_index)
    assert len(hdus) == len(written.hdu_rows) == 3 * 6
    for (_, row), expected in zip(hdus.iterrows(), written.hdu_rows, strict=True):
        for key, value in expected.items():
            assert row[snake(key)] == value, key
        path = written.folder / expected["FILE_DIR"] / expected["FILE_NAME"]
        assert row["path"] == str(path.resolve())


def test_shared_irf_file_paths(tmp_path):
    written = write_datastore(tmp_path / "store", shared_irf_file=True, rng=2)
    hdus = read_hdu_index(written.hdu_index)
    irf_rows = hdus[~hdus["hdu_type"].isin(["events", "gti"])]
    assert set(irf_rows["path"]) == {str((written.folder / "caldb" / "irf.fits").resolve())}
    event_rows = hdus[hdus["hdu_type"] == "events"]
    assert [Path(p).parent.name for p in event_rows["path"]] == ["data", "data"]


def rewrite_hdu_index(path: Path, *, extname: str | None = "HDU_INDEX", **columns):
    """Rewrite an hdu-index with some columns replaced (astropy only)."""
    with fits.open(path) as hdul:
        table = hdul[1]
        new = []
        for col in table.columns:
            values = columns.get(col.name, table.data[col.name])
            fmt = col.format if col.name not in columns else f"{max(map(len, values))}A"
            new.append(fits.Column(col.name, format=fmt, unit=col.unit, array=values))
    out = fits.BinTableHDU.from_columns(new, name=extname)
    fits.HDUList([fits.PrimaryHDU(), out]).writeto(path, overwrite=True)


def test_hdu_index_file_dir_variants(tmp_path):
    written = write_datastore(tmp_path / "store", obs_ids=(1,), irfs=("aeff_2d",), rng=3)
    folder = written.folder
    # Absolute FILE_DIR, empty FILE_DIR (file beside the index) and upper-case classes.
    (folder / "obs_000001.fits.gz").write_bytes((folder / "data/obs_000001.fits.gz").read_bytes())
    absolute = str((folder / "data").resolve())
    rewrite_hdu_index(
        written.hdu_index,
        FILE_DIR=[absolute, "", "./data"],
        HDU_CLASS=["EVENTS", "GTI", "AEFF_2D"],
        extname=None,  # no EXTNAME: the first table is the index
    )
    hdus = read_hdu_index(written.hdu_index)
    assert hdus["hdu_class"].tolist() == ["events", "gti", "aeff_2d"]
    assert hdus["path"].tolist() == [
        str(folder.resolve() / "data/obs_000001.fits.gz"),
        str(folder.resolve() / "obs_000001.fits.gz"),
        str(folder.resolve() / "data/obs_000001.fits.gz"),
    ]


def test_datastore_reads_what_was_written(tmp_path):
    """From index tables to events and IRFs: the store hands back the written content."""
    written = write_datastore(tmp_path / "store", obs_ids=(5, 6), n_events=20, rng=4)
    store = gx.open_datastore(written.folder)
    assert store.obs_ids == [5, 6]
    for number, obs_id in enumerate((5, 6)):
        obs = store.observation(obs_id)
        events = obs.events
        assert len(events) == 20 + number == store.obs_table.loc[obs_id, "event_count"]
        np.testing.assert_array_equal(events["energy"], written.events[obs_id].columns["ENERGY"])
        assert events.attrs["obs_id"] == obs_id
        pd.testing.assert_frame_equal(events, read_events(written.events[obs_id].path))
        for hdu_type, hdu_class in (("aeff", "aeff_2d"), ("bkg", "bkg_3d")):
            irf = written.irfs[obs_id][hdu_class]
            expected = read_irf(irf.path, irf.hdu_name)
            got = getattr(obs, hdu_type)
            assert got.attrs["hdu_class"] == hdu_class
            xr.testing.assert_equal(got, expected)
