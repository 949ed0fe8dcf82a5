"""DataStore: opening, pandas selection of runs, cone selection, laziness, pickling."""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import astropy.units as u
import numpy as np
import pandas as pd
import pytest
from astropy.coordinates import SkyCoord

import gammaxr as gx
from gammaxr.exceptions import DataFileError, GammaxrError

CRAB_IDS = [23523, 23526, 23559, 23592]
CRAB = SkyCoord(83.633333, 22.014444, unit="deg", frame="icrs")


def test_open_shipped_store(crab_store):
    assert isinstance(crab_store, gx.DataStore)
    assert crab_store.obs_ids == CRAB_IDS
    assert repr(crab_store) == "DataStore(4 observations)"
    table = crab_store.obs_table
    assert list(table.index) == CRAB_IDS
    assert (table["object"] == "Crab Nebula").all()
    assert table.loc[23523, "event_count"] == 7613
    assert table.loc[23592, "event_count"] == 7334
    np.testing.assert_allclose(table.loc[23523, ["ra_pnt", "dec_pnt"]], [83.633333, 21.514444])
    np.testing.assert_allclose(table["livetime"].sum(), 6313.8118, rtol=1e-6)
    # Six HDUs per run, all in the run's file, all of which exist.
    hdus = crab_store.hdu_table
    assert len(hdus) == 24
    assert sorted(hdus["hdu_type"].unique()) == ["aeff", "bkg", "edisp", "events", "gti", "psf"]
    assert hdus.groupby("obs_id")["path"].nunique().eq(1).all()
    assert all(Path(path).is_file() for path in hdus["path"])


def test_open_datastore_with_path_equals_default(crab_store):
    store = gx.open_datastore(gx.example_data_path())
    pd.testing.assert_frame_equal(store.obs_table, crab_store.obs_table)
    pd.testing.assert_frame_equal(store.hdu_table, crab_store.hdu_table)


def test_open_datastore_missing_folder(tmp_path):
    with pytest.raises(DataFileError, match="not found"):
        gx.open_datastore(tmp_path / "nowhere")


def test_open_datastore_folder_without_index(tmp_path):
    with pytest.raises(DataFileError, match="no obs index") as info:
        gx.open_datastore(tmp_path)
    assert str(tmp_path) in str(info.value)
    assert isinstance(info.value, FileNotFoundError)


def test_select_with_query(crab_store):
    store = crab_store.select(crab_store.obs_table.query("offset_obj < 1"))
    assert store.obs_ids == [23523, 23526]
    assert set(store.hdu_table["obs_id"]) == {23523, 23526}
    assert len(store.hdu_table) == 12
    # The original store is unchanged.
    assert crab_store.obs_ids == CRAB_IDS
    assert len(crab_store.hdu_table) == 24


def test_select_with_query_on_object(crab_store):
    assert crab_store.select(crab_store.obs_table.query("object == 'Crab Nebula'")).obs_ids == (
        CRAB_IDS
    )
    assert crab_store.select(crab_store.obs_table.query("object == 'Vela'")).obs_ids == []


def test_select_with_boolean_series(crab_store):
    table = crab_store.obs_table
    store = crab_store.select(table["livetime"] > 1580)
    assert store.obs_ids == [23523, 23592]
    # A mask built on a sub-table selects within it.
    sub = table.iloc[:2]
    assert crab_store.select(sub["deadc"] > 0.935).obs_ids == [23523]


def test_select_with_boolean_array(crab_store):
    mask = crab_store.obs_table["event_count"].to_numpy() > 7590
    assert crab_store.select(mask).obs_ids == [23523, 23559]
    assert crab_store.select([False, True, False, True]).obs_ids == [23526, 23592]


def test_select_with_misaligned_mask_raises(crab_store):
    mask = crab_store.obs_table.reset_index(drop=True)["livetime"] > 1580
    with pytest.raises(GammaxrError, match="index labels"):
        crab_store.select(mask)
    with pytest.raises(GammaxrError, match="needs 4 values"):
        crab_store.select(np.array([True, False]))


def test_select_with_ids(crab_store):
    # Order of the ids does not matter: the table order is kept.
    assert crab_store.select([23592, 23523]).obs_ids == [23523, 23592]
    assert crab_store.select(np.array([23559])).obs_ids == [23559]
    assert crab_store.select(pd.Series([23526, 23526])).obs_ids == [23526]
    assert crab_store.select(iter([23526])).obs_ids == [23526]
    assert crab_store.select([]).obs_ids == []


def test_select_unknown_id_raises(crab_store):
    with pytest.raises(GammaxrError, match=r"not in the observation index: \[1, 99999\]"):
        crab_store.select([23523, 99999, 1])


def test_select_frame_with_unknown_id_raises(crab_store):
    other = pd.DataFrame({"obs_id": [23523, 42]})
    with pytest.raises(GammaxrError, match=r"\[42\]"):
        crab_store.select(other)
    with pytest.raises(GammaxrError, match="no 'obs_id' column"):
        crab_store.select(pd.DataFrame({"id": [23523]}))


def test_select_chains(crab_store):
    store = crab_store.select([23523, 23526, 23559]).select([23559])
    assert store.obs_ids == [23559]
    with pytest.raises(GammaxrError, match="23592"):
        store.select([23592])


@pytest.mark.parametrize(
    ("radius", "expected"),
    [
        (0.4, []),
        (0.6, [23523, 23526]),
        (0.6 * u.deg, [23523, 23526]),
        (36 * u.arcmin, [23523, 23526]),
        (1.6, CRAB_IDS),
    ],
)
def test_select_cone(crab_store, radius, expected):
    assert crab_store.select_cone(CRAB, radius).obs_ids == expected


def test_select_cone_in_galactic_frame(crab_store):
    centre = SkyCoord(85.253334, 22.014444, unit="deg").galactic
    assert crab_store.select_cone(centre, 0.01).obs_ids == [23559]


def test_observation_unknown_id(crab_store):
    with pytest.raises(GammaxrError, match="observation 1 is not in the HDU index"):
        crab_store.observation(1)


def test_observations(crab_store):
    observations = crab_store.observations()
    assert [obs.obs_id for obs in observations] == CRAB_IDS
    assert [obs.obs_id for obs in crab_store.observations([23559])] == [23559]
    obs = crab_store.observation(np.int64(23526))
    assert obs.obs_id == 23526
    assert isinstance(obs.obs_id, int)
    assert obs.info["event_count"] == 7581
    assert list(obs.hdus.index) == list(range(6))


def test_store_is_frozen_and_pickles(crab_store):
    with pytest.raises(AttributeError):
        crab_store.obs_table = None
    copy = pickle.loads(pickle.dumps(crab_store))
    pd.testing.assert_frame_equal(copy.obs_table, crab_store.obs_table)
    pd.testing.assert_frame_equal(copy.hdu_table, crab_store.hdu_table)


def _copy_index_files(tmp_path):
    source = gx.example_data_path()
    for name in ("obs-index.fits.gz", "hdu-index.fits.gz"):
        shutil.copy(source / name, tmp_path / name)
    return tmp_path


def test_store_reads_no_data_file_before_access(tmp_path):
    # The index tables name data files that are not there: opening the store,
    # selecting and making observations must all work; only access fails.
    store = gx.open_datastore(_copy_index_files(tmp_path))
    assert store.obs_ids == CRAB_IDS
    obs = store.select_cone(CRAB, 0.6).observation(23526)
    missing = tmp_path / "data" / "hess_dl3_dr1_obs_id_023526.fits.gz"
    assert obs.location("events") == (missing, "events", "events")
    with pytest.raises(DataFileError, match="file not found") as info:
        _ = obs.events
    assert str(missing) in str(info.value)
    with pytest.raises(DataFileError, match="hess_dl3_dr1_obs_id_023526.fits.gz"):
        _ = obs.aeff


def test_store_fails_only_on_the_missing_file(crab_store, tmp_path):
    # Point the events of one run at a missing file: the IRFs still load.
    hdus = crab_store.hdu_table.copy()
    missing = tmp_path / "gone.fits.gz"
    hdus.loc[(hdus["obs_id"] == 23559) & (hdus["hdu_type"] == "events"), "path"] = str(missing)
    store = gx.DataStore(crab_store.obs_table, hdus)
    obs = store.observation(23559)
    assert obs.aeff.dims == ("energy_true", "offset")
    assert len(obs.gti) == 1
    with pytest.raises(DataFileError) as info:
        _ = obs.events
    assert str(missing) in str(info.value)
    # Other runs of the same store are not affected.
    assert len(store.observation(23523).events) == 7613


def test_observation_rows_equal_a_table_filter(crab_store):
    """The per-id row lookup gives the rows a pandas filter gives, in table order."""
    shuffled = gx.DataStore(
        crab_store.obs_table.iloc[::-1], crab_store.hdu_table.sample(frac=1, random_state=2)
    )
    for obs_id in crab_store.obs_ids:
        obs = shuffled.observation(obs_id)
        table = shuffled.hdu_table
        expected = table[table["obs_id"] == obs_id].reset_index(drop=True)
        pd.testing.assert_frame_equal(obs.hdus, expected)
        assert obs.info == crab_store.obs_table.loc[obs_id].to_dict()
        row = expected[expected.hdu_type == "aeff"].iloc[0]
        assert obs.location("aeff") == (Path(row["path"]), row["hdu_name"], "aeff_2d")


def test_attribution_of_hess_dr1_stores(crab_store):
    assert "HESS DL3 DR1, H.E.S.S. collaboration, 2018" in crab_store.attribution
    # a selection keeps it; a store of other files has none
    assert crab_store.select([23523]).attribution == crab_store.attribution
    other = gx.DataStore(
        crab_store.obs_table,
        crab_store.hdu_table.assign(file_name="run_023523.fits"),
    )
    assert other.attribution is None
