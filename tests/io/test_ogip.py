"""OGIP PHA / ARF / RMF / BKG: exact round trip, layout, Gammapy-written files, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from astropy.io import fits

import gammaxr as gx
from gammaxr.estimators import info_table
from gammaxr.exceptions import (
    ColumnError,
    DataFileError,
    DimensionError,
    FormatError,
    MissingHDUError,
)
from gammaxr.fit.wstat import on_off_alpha, stack_on_off, wstat
from gammaxr.io.ogip import read_ogip, read_ogip_set, write_ogip

DATA = Path(__file__).parent / "data" / "ogip"


def make_dataset(seed: int = 0, *, n_reco: int = 8, n_true: int = 12) -> xr.Dataset:
    """A synthetic on-off spectrum dataset with gammaxr's dtypes and typical attrs."""
    rng = np.random.default_rng(seed)
    energy = gx.energy_axis(0.5, 50, nbin=n_reco)
    energy_true = gx.energy_axis(0.3, 100, nbin=n_true, name="energy_true")
    edisp = rng.uniform(0, 1, (n_true, n_reco))
    edisp[edisp < 0.5] = 0  # several runs of non-zero channels per row
    edisp[3] = 0  # a row without any probability
    edisp = (edisp / np.maximum(edisp.sum(axis=1, keepdims=True), 1)).astype(np.float32)
    mask = np.ones(n_reco, dtype=bool)
    mask[[0, -1]] = False
    return xr.Dataset(
        {
            "counts": ("energy", rng.poisson(20, n_reco).astype(np.int64), {"units": ""}),
            "counts_off": ("energy", rng.poisson(60, n_reco).astype(np.int64), {"units": ""}),
            "acceptance": ("energy", np.ones(n_reco, np.float32), {"units": ""}),
            "acceptance_off": (
                "energy",
                rng.uniform(1, 12, n_reco).astype(np.float32),
                {"units": ""},
            ),
            "exposure": (
                "energy_true",
                rng.uniform(1e6, 1e10, n_true).astype(np.float32),
                {"units": "m2 s"},
            ),
            "edisp": (("energy_true", "energy"), edisp, {"units": ""}),
            "mask_safe": ("energy", mask, {"units": "", "energy_min": 0.75}),
        },
        coords={**energy.coords, **energy_true.coords},
        attrs={
            "obs_id": 23523 + seed,
            "livetime": 1581.736764695497,
            "ontime": 1687.0,
            "telescope": "HESS",
            "tstart": 123456789.25,
            "pointing_ra": 83.63,
            "region": "# Region file format: DS9\nicrs\ncircle(83.633,22.014,0.11)\n",
            "n_off_regions": 11,
            "safe_mask": "aeff-max",
            "labels": ["a", "b"],
            "note": "it's a 'quoted' & long note, ünïcode\tand\nnewlines " * 3,
            "tilt": float("nan"),
        },
    )


def test_round_trip_is_identical(tmp_path):
    ds = make_dataset()
    paths = write_ogip(ds, tmp_path / "pha_obs23523.fits")
    assert sorted(paths) == ["arf", "bkg", "pha", "rmf"]
    assert paths["arf"] == tmp_path / "pha_obs23523_arf.fits"
    back = read_ogip(paths["pha"])
    xr.testing.assert_identical(back, ds)
    for name, var in ds.variables.items():
        assert back[name].dtype == var.dtype, name
    assert type(back.attrs["obs_id"]) is int
    assert back.attrs["labels"] == ["a", "b"]


@pytest.mark.parametrize("seed", range(5))
def test_round_trip_is_exact_for_random_values(tmp_path, seed):
    ds = make_dataset(seed, n_reco=20, n_true=40)
    ds.attrs["livetime"] = float(np.random.default_rng(seed).uniform(100, 1e5))
    write_ogip(ds, tmp_path / "pha.fits.gz")  # compressed files too
    xr.testing.assert_identical(read_ogip(tmp_path / "pha.fits.gz"), ds)


def test_round_trip_in_kev_and_of_float64_variables(tmp_path):
    ds = make_dataset()
    for name in ("exposure", "acceptance_off", "edisp"):
        ds[name] = ds[name].astype(np.float64)
    write_ogip(ds, tmp_path / "pha.fits", energy_unit="keV")
    with fits.open(tmp_path / "pha.fits") as hdul:
        assert hdul["EBOUNDS"].columns["E_MIN"].unit == "keV"
        assert hdul["EBOUNDS"].data["E_MIN"][0] == pytest.approx(0.5e9, rel=1e-15)
    back = read_ogip(tmp_path / "pha.fits")
    for name, var in ds.variables.items():
        assert back[name].dtype == var.dtype, name
        if name == "exposure" or name.startswith("energy"):  # unit conversions: a few ulp
            np.testing.assert_allclose(back[name].values, var.values, rtol=1e-15, atol=0)
        else:
            np.testing.assert_array_equal(back[name].values, var.values)


def test_layout_of_the_files(tmp_path):
    ds = make_dataset()
    sub = tmp_path / "responses"
    paths = write_ogip(ds, tmp_path / "pha.fits", arf=sub / "a.arf", rmf=sub / "r.rmf")
    with fits.open(paths["pha"]) as hdul:
        assert [hdu.name for hdu in hdul] == ["PRIMARY", "SPECTRUM", "EBOUNDS"]
        header, data = hdul["SPECTRUM"].header, hdul["SPECTRUM"].data
        assert data.columns.names == [
            "CHANNEL", "COUNTS", "QUALITY", "GROUPING", "AREASCAL", "BACKSCAL",
        ]  # fmt: skip
        expected = {
            "HDUCLASS": "OGIP",
            "HDUCLAS1": "SPECTRUM",
            "HDUCLAS2": "TOTAL",
            "HDUCLAS3": "COUNT",
            "HDUCLAS4": "TYPE:I",
            "EXPOSURE": ds.attrs["livetime"],
            "POISSERR": True,
            "TELESCOP": "HESS",
            "INSTRUME": "unknown",
            "OBS_ID": 23523,
            "ONTIME": 1687.0,
            "DETCHANS": 8,
            "ANCRFILE": "responses/a.arf",
            "RESPFILE": "responses/r.rmf",
            "BACKFILE": "pha_bkg.fits",
            "TLMIN1": 0,
        }
        for keyword, value in expected.items():
            assert header[keyword] == value, keyword
        assert data["CHANNEL"].tolist() == list(range(8))
        assert data["QUALITY"].tolist() == [5, 0, 0, 0, 0, 0, 0, 5]
        assert data["GROUPING"].tolist() == [1] * 8
        np.testing.assert_array_equal(data["COUNTS"], ds.counts.values)
        np.testing.assert_array_equal(data["BACKSCAL"], ds.acceptance.values)
        ebounds = hdul["EBOUNDS"].data
        np.testing.assert_array_equal(ebounds["E_MIN"], ds.energy_lo.values)
        np.testing.assert_array_equal(ebounds["E_MAX"], ds.energy_hi.values)
    with fits.open(paths["arf"]) as hdul:
        arf = hdul["SPECRESP"]
        assert arf.header["HDUCLAS2"] == "SPECRESP"
        assert arf.columns["SPECRESP"].unit == "cm2"
        expected_area = ds.exposure.values.astype(float) / ds.attrs["livetime"] * 1e4
        np.testing.assert_allclose(arf.data["SPECRESP"], expected_area, rtol=1e-15)
    with fits.open(paths["rmf"]) as hdul:
        matrix = hdul["MATRIX"]
        assert matrix.header["HDUCLAS2"] == "RSP_MATRIX"
        assert matrix.header["TLMIN4"] == 0
        edisp = ds.edisp.values
        assert matrix.header["NUMELT"] == np.count_nonzero(edisp)
        for row, values in enumerate(edisp):
            nonzero = np.flatnonzero(values)
            runs = (
                np.split(nonzero, np.flatnonzero(np.diff(nonzero) > 1) + 1) if nonzero.size else []
            )
            assert matrix.data["N_GRP"][row] == len(runs)
            assert matrix.data["F_CHAN"][row].tolist() == [run[0] for run in runs]
            assert matrix.data["N_CHAN"][row].tolist() == [run.size for run in runs]
            np.testing.assert_array_equal(matrix.data["MATRIX"][row], values[nonzero])
    with fits.open(paths["bkg"]) as hdul:
        header, data = hdul["SPECTRUM"].header, hdul["SPECTRUM"].data
        assert header["HDUCLAS2"] == "BKG"
        np.testing.assert_array_equal(data["COUNTS"], ds.counts_off.values)
        np.testing.assert_array_equal(data["BACKSCAL"], ds.acceptance_off.values)
    # Relative references are resolved from the PHA's folder, not the working directory.
    xr.testing.assert_identical(read_ogip(paths["pha"]), ds)


def test_without_background_or_edisp(tmp_path):
    ds = make_dataset().drop_vars(["counts_off", "acceptance_off", "edisp"])
    paths = write_ogip(ds, tmp_path / "pha.fits")
    assert sorted(paths) == ["arf", "pha"]
    with fits.open(paths["pha"]) as hdul:
        assert hdul["SPECTRUM"].header["BACKFILE"] == "NONE"
        assert hdul["SPECTRUM"].header["RESPFILE"] == "NONE"
    xr.testing.assert_identical(read_ogip(paths["pha"]), ds)


def test_one_observation_of_a_joint_dataset(tmp_path):
    first = make_dataset(0)
    joint = gx.concat_observations([first, make_dataset(1)])
    with pytest.raises(DimensionError, match="sel"):
        write_ogip(joint, tmp_path / "joint.fits")
    write_ogip(joint.sel(obs_id=23523), tmp_path / "pha.fits")  # 0-d livetime, scalar obs_id
    back = read_ogip(tmp_path / "pha.fits")
    assert back.attrs["obs_id"] == 23523
    assert back.attrs["livetime"] == first.attrs["livetime"]
    xr.testing.assert_identical(back.counts, first.counts)


def test_edited_keywords_win_over_the_record(tmp_path):
    write_ogip(make_dataset(), tmp_path / "pha.fits")
    with fits.open(tmp_path / "pha.fits", mode="update") as hdul:
        hdul["SPECTRUM"].header["EXPOSURE"] = 1000.0
        hdul["SPECTRUM"].header["TELESCOP"] = "CTA"
    back = read_ogip(tmp_path / "pha.fits")
    assert back.attrs["livetime"] == 1000.0
    assert back.attrs["telescope"] == "CTA"


# --------------------------------------------------------------------------------------
# Files written by Gammapy 2.1 (benchmarks/gammapy_fixtures/make_gammapy_ogip.py)
# --------------------------------------------------------------------------------------

# Gammapy Datasets.info_table of runs 23523 and 23526 (float32 sums in the cumulative one).
GAMMAPY_INFO_PER_OBS = {
    "counts": [151.0, 180.0],
    "counts_off": [119.0, 204.0],
    "alpha": [0.08333333333333333, 0.08333333333333333],
    "excess": [141.08333333333334, 163.0],
    "sqrt_ts": [20.571021233745643, 20.620454331524762],
    "livetime": [1581.736764695497, 1572.6867490857787],
    "background_rate": [0.006269479781976075, 0.010809527078346847],
    "excess_rate": [0.08919520395702098, 0.10364428904532566],
}
GAMMAPY_INFO_CUMULATIVE = {
    "counts": [151.0, 331.0],
    "counts_off": [119.0, 323.0],
    "alpha": [0.0833333358168602, 0.0833333432674408],
    "excess": [141.0833282470703, 304.0833435058594],
    "sqrt_ts": [20.571021045073465, 29.03730955976845],
    "livetime": [1581.736764695497, 3154.4235137812757],
    "background_rate": [0.006269479982952271, 0.008532991758394377],
    "excess_rate": [0.08919520074140182, 0.09639902257174976],
}
# npred_signal() and stat_sum() of run 23523 for PowerLaw(index 2.6, 4e-11 cm-2 s-1 TeV-1).
GAMMAPY_NPRED_SIGNAL_23523 = [
    37.07999374903845, 71.36531387583396, 44.71482942687923, 31.270633297651546,
    22.599541138794166, 15.251148152354878, 9.761023252325499, 5.877373749348718,
    3.464305013105402, 1.9756624570682042, 1.1163397706995069, 0.6418829589428009,
]  # fmt: skip
GAMMAPY_STAT_SUM_23523 = 32.924489318433594


@pytest.fixture(scope="module")
def gammapy_runs() -> list[xr.Dataset]:
    return read_ogip_set([DATA / "pha_obs23523.fits.gz", DATA / "pha_obs23526.fits.gz"])


def test_read_gammapy_files(gammapy_runs):
    ds = gammapy_runs[0]
    assert ds.attrs == {"obs_id": 23523, "livetime": 1581.736764695497}
    assert ds.sizes == {"energy": 12, "energy_true": 30}
    np.testing.assert_allclose(ds.energy_lo, np.geomspace(0.5, 40, 13)[:-1], rtol=1e-14)
    np.testing.assert_allclose(ds.energy_true_hi[-1], 100.0, rtol=1e-15)
    assert ds.counts.dtype == np.int64
    assert ds.counts.values.tolist() == [37, 55, 24, 31, 14, 12, 9, 4, 1, 1, 0, 0]
    assert ds.counts_off.values.tolist() == [98, 41, 24, 21, 11, 12, 3, 4, 1, 1, 1, 0]
    np.testing.assert_array_equal(on_off_alpha(ds).values, np.full(12, 1 / 12))
    assert ds.mask_safe.values.tolist() == [False] + [True] * 11
    with fits.open(DATA / "pha_obs23523_arf.fits.gz") as hdul:
        area = hdul["SPECRESP"].data["SPECRESP"]  # m2, as Gammapy writes
    np.testing.assert_array_equal(ds.exposure.values, area * ds.attrs["livetime"])
    assert ds.exposure.dtype == np.float64  # the ARF column is double precision
    rows = ds.edisp.sum("energy").values
    assert rows.max() == pytest.approx(1.0, abs=1e-6)
    assert ds.edisp.dtype == np.float32


def test_wstat_on_gammapy_data_matches_gammapy(gammapy_runs):
    ds = gammapy_runs[0]
    terms = wstat(
        ds.counts,
        ds.counts_off,
        on_off_alpha(ds),
        xr.DataArray(GAMMAPY_NPRED_SIGNAL_23523, dims="energy"),
        mask=ds.mask_safe,
    )
    assert float(terms.sum()) == pytest.approx(GAMMAPY_STAT_SUM_23523, rel=1e-12)


@pytest.mark.parametrize("cumulative", [False, True])
def test_info_table_of_gammapy_data_matches_gammapy(gammapy_runs, cumulative):
    table = info_table(gx.concat_observations(gammapy_runs), cumulative=cumulative)
    reference = GAMMAPY_INFO_CUMULATIVE if cumulative else GAMMAPY_INFO_PER_OBS
    assert table.index.tolist() == [23523, 23526]
    for name, values in reference.items():
        np.testing.assert_allclose(table[name].to_numpy(), values, rtol=3e-7, err_msg=name)


def test_stack_of_gammapy_data_matches_gammapy_stack(gammapy_runs):
    ours = stack_on_off(gx.concat_observations(gammapy_runs))
    theirs = read_ogip(DATA / "pha_stacked.fits.gz")
    assert theirs.attrs["name"] == "stacked"
    assert float(ours.livetime) == theirs.attrs["livetime"]
    for name in ("counts", "counts_off", "mask_safe"):
        np.testing.assert_array_equal(ours[name].values, theirs[name].values, err_msg=name)
    np.testing.assert_allclose(on_off_alpha(ours), on_off_alpha(theirs), rtol=2e-7)
    np.testing.assert_allclose(ours.acceptance, theirs.acceptance, rtol=1e-7)
    np.testing.assert_allclose(ours.acceptance_off, theirs.acceptance_off, rtol=2e-7)
    np.testing.assert_allclose(ours.exposure, theirs.exposure, rtol=2e-7)
    np.testing.assert_allclose(ours.edisp, theirs.edisp, rtol=1e-5, atol=1e-7)


def test_read_set_keeps_each_energy_axis(tmp_path):
    write_ogip(make_dataset(n_reco=5, n_true=9), tmp_path / "other.fits")
    hess, other = read_ogip_set([DATA / "pha_obs23523.fits.gz", tmp_path / "other.fits"])
    assert (hess.sizes["energy"], other.sizes["energy"]) == (12, 5)
    assert read_ogip_set(tmp_path / "other.fits")[0].sizes["energy_true"] == 9
    with pytest.raises(FormatError, match="no PHA file"):
        read_ogip_set([])


# --------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------


@pytest.fixture
def written(tmp_path) -> dict[str, Path]:
    return write_ogip(make_dataset(), tmp_path / "pha.fits")


def edit(path: Path, change) -> None:
    """Rewrite a FITS file with ``change(hdul)`` applied (data loaded in memory first)."""
    with fits.open(path, memmap=False) as hdul:
        for hdu in hdul:
            _ = hdu.data
        changed = change(hdul)
        changed.writeto(path.with_suffix(".tmp"), overwrite=True)
    path.with_suffix(".tmp").replace(path)


def drop_column(hdul, hdu_name, column_name):
    hdu = hdul[hdu_name]
    columns = [col for col in hdu.columns if col.name != column_name]
    hdul[hdu_name] = fits.BinTableHDU.from_columns(columns, header=hdu.header, name=hdu_name)
    return hdul


def test_missing_column_names_file_hdu_and_column(written):
    edit(written["pha"], lambda h: drop_column(h, "SPECTRUM", "COUNTS"))
    with pytest.raises(ColumnError, match=r"pha\.fits, HDU 'SPECTRUM': missing column 'COUNTS'"):
        read_ogip(written["pha"])


def test_missing_hdu_names_file(written):
    edit(written["arf"], lambda h: fits.HDUList([h[0]]))
    with pytest.raises(MissingHDUError, match=r"pha_arf\.fits: no HDU 'SPECRESP'"):
        read_ogip(written["pha"])


def test_missing_named_file(written):
    written["rmf"].unlink()
    with pytest.raises(DataFileError, match=r"RESPFILE = 'pha_rmf\.fits': file not found"):
        read_ogip(written["pha"])


def test_inconsistent_channel_counts(written, tmp_path):
    # A background spectrum with fewer channels.
    short = make_dataset(n_reco=7)
    other = write_ogip(short, tmp_path / "short.fits")
    other["bkg"].replace(written["bkg"])
    with pytest.raises(FormatError, match="inconsistent channel counts.*pha_bkg.fits"):
        read_ogip(written["pha"])


def test_inconsistent_rmf_channels(written):
    def change(hdul):
        hdul["MATRIX"].header["DETCHANS"] = 9
        return hdul

    edit(written["rmf"], change)
    with pytest.raises(FormatError, match=r"inconsistent channel counts: .*pha_rmf\.fits"):
        read_ogip(written["pha"])


def test_detchans_disagrees_with_table(written):
    def change(hdul):
        hdul["SPECTRUM"].header["DETCHANS"] = 10
        return hdul

    edit(written["pha"], change)
    with pytest.raises(FormatError, match="DETCHANS = 10 but the table has 8 rows"):
        read_ogip(written["pha"])


def test_arf_and_rmf_energies_must_agree(written, tmp_path):
    other = write_ogip(make_dataset(n_true=10), tmp_path / "other.fits")
    other["arf"].replace(written["arf"])
    with pytest.raises(FormatError, match="energy axes do not match"):
        read_ogip(written["pha"])


def test_unsupported_layouts(written):
    def type_two(hdul):
        hdul["SPECTRUM"].header["HDUCLAS4"] = "TYPE:II"
        return hdul

    def areascal(hdul):
        hdul["SPECTRUM"].data["AREASCAL"][2] = 0.5
        return hdul

    def no_arf(hdul):
        hdul["SPECTRUM"].header["ANCRFILE"] = "none"
        return hdul

    for change, message in (
        (type_two, "type-II"),
        (areascal, "AREASCAL"),
        (no_arf, "needs an ARF"),
    ):
        write_ogip(make_dataset(), written["pha"])
        edit(written["pha"], change)
        with pytest.raises(FormatError, match=message):
            read_ogip(written["pha"])


def test_background_exposure_and_areascal_enter_alpha(written):
    ds = read_ogip(written["pha"])

    def change(hdul):
        hdul["SPECTRUM"].header["EXPOSURE"] = 2 * hdul["SPECTRUM"].header["EXPOSURE"]
        hdul["SPECTRUM"].data["AREASCAL"][:] = 0.5
        return hdul

    edit(written["bkg"], change)
    back = read_ogip(written["pha"])
    np.testing.assert_array_equal(back.acceptance_off.values, ds.acceptance_off.values)


def test_write_errors(tmp_path):
    ds = make_dataset()
    with pytest.raises(FormatError, match="no live time"):
        write_ogip(ds.drop_attrs(deep=False), tmp_path / "a.fits")
    with pytest.raises(FormatError, match="positive"):
        write_ogip(ds.assign_attrs(livetime=0.0), tmp_path / "a.fits")
    with pytest.raises(FormatError, match="whole numbers"):
        write_ogip(ds.assign(counts=ds.counts + 0.5), tmp_path / "a.fits")
    with pytest.raises(FormatError, match="acceptance_off"):
        write_ogip(ds.drop_vars("acceptance_off"), tmp_path / "a.fits")
    with pytest.raises(DimensionError, match="edisp must have dims"):
        write_ogip(ds.assign(edisp=ds.edisp.sum("energy")), tmp_path / "a.fits")
    with pytest.raises(FormatError, match="attribute 'flag'"):
        write_ogip(ds.assign_attrs(flag=True), tmp_path / "a.fits")
    with pytest.raises(FormatError, match="not an energy unit"):
        write_ogip(ds, tmp_path / "a.fits", energy_unit="m")
