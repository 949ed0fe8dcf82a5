"""NetCDF / Zarr exchange of datasets: exact round trips, laziness, rejected attrs."""

from __future__ import annotations

import json
import tempfile
from contextlib import contextmanager
from pathlib import Path

import dask
import dask.array
import netCDF4
import numpy as np
import pytest
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import gammaxr as gx
from gammaxr.exceptions import DataFileError, FormatError
from gammaxr.io.dataset_store import ENCODING_ATTR, read_dataset, write_dataset
from gammaxr.stacking import concat_observations, stack

SUFFIXES = {"netcdf": ".nc", "zarr": ".zarr"}
FORMATS = list(SUFFIXES)
INT64 = np.iinfo(np.int64)

# Every kind of allowed attribute value, with the exact type it must come back as.
ALLOWED_ATTRS = {
    "object": "Crab Nebula",
    "observer": "Åsa Ørsted — 東京 ✓",
    "empty": "",
    "multiline": "line one\n  line two\t",
    "obs_id": 23523,
    "big_int": INT64.max,
    "negative_int": INT64.min,
    "livetime": 1581.7367584109306,
    "nan": float("nan"),
    "inf": float("-inf"),
    "int64": np.int64(-7),
    "int8": np.int8(3),
    "uint64": np.uint64(2**64 - 1),
    "float64": np.float64(0.1),
    "float32": np.float32(0.1),
    "gti": [0.0, 1687.0, 1700.5, 1800.25],
    "ids": [23523, 23526],
    "one_int": [5],
    "one_float": [2.5],
    "mixed_numbers": [1, 2.5, np.float32(0.5), np.int16(-3)],
    "no_items": [],
    "names": ["a", "é", ""],
    "one_name": ["only"],
    "pair": (0.5, 1),
    "float32_array": np.array([0.1, 0.2], dtype=np.float32),
    "int_array": np.arange(4, dtype=np.int32),
    "empty_array": np.array([], dtype=np.float64),
}


@contextmanager
def raise_if_dask_computes():
    """Fail if anything inside the block computes a Dask graph."""

    def scheduler(dsk, keys, **kwargs):
        raise AssertionError("a Dask graph was computed")

    with dask.config.set(scheduler=scheduler):
        yield


def make_dataset(
    *,
    spatial: bool = True,
    counts_dtype: str = "int64",
    seed: int = 0,
    obs_id: int = 23523,
    energy: xr.DataArray | None = None,
    energy_true: xr.DataArray | None = None,
    sky: xr.DataArray | None = None,
) -> xr.Dataset:
    """A synthetic dataset with every kind of schema variable."""
    rng = np.random.default_rng(seed)
    energy = gx.energy_axis(0.1, 100, nbin=4) if energy is None else energy
    if energy_true is None:
        energy_true = gx.energy_axis(0.05, 200, nbin=5, name="energy_true")
    rad = gx.axis_from_edges(np.linspace(0, 0.5, 4), name="rad", units="deg")
    if spatial and sky is None:
        sky = gx.sky_grid((83.63, 22.01), width=(0.6, 0.4), binsz=0.2)
    geom = gx.make_geom(energy, energy_true, rad, sky=sky if spatial else None)
    dims = ("lat", "lon") if spatial else ()
    shape = tuple(geom.sizes[d] for d in dims)
    n_e, n_et, n_rad = geom.sizes["energy"], geom.sizes["energy_true"], geom.sizes["rad"]
    ds = geom.copy()
    counts = rng.poisson(3.0, (n_e, *shape)).astype(counts_dtype)
    ds["counts"] = (("energy", *dims), counts, {"units": ""})
    exposure = rng.uniform(1e8, 1e9, (n_et, *shape)).astype(np.float32)
    exposure.flat[0] = np.nan
    ds["exposure"] = (("energy_true", *dims), exposure, {"units": "m2 s"})
    background = rng.uniform(0, 2, (n_e, *shape)).astype(np.float32)
    ds["background"] = (("energy", *dims), background, {"units": ""})
    psf = rng.uniform(0, 1e4, (n_et, n_rad)).astype(np.float32)
    ds["psf"] = (("energy_true", "rad"), psf, {"units": "sr-1"})
    edisp = rng.dirichlet(np.ones(n_e), size=n_et).astype(np.float32)
    ds["edisp"] = (("energy_true", "energy"), edisp, {"units": ""})
    ds["mask_safe"] = (("energy", *dims), rng.random((n_e, *shape)) > 0.3, {"units": ""})
    ds["mask_fit"] = (("energy", *dims), rng.random((n_e, *shape)) > 0.5, {"units": ""})
    ds.attrs.update(obs_id=obs_id, livetime=1581.7)
    if spatial:
        ds.attrs["frame"] = sky.attrs["frame"]
    else:
        ds.attrs["on_region"] = "icrs;circle(83.63,22.01,0.11)"
    return ds


def round_trip(ds: xr.Dataset, fmt: str, tmp_path: Path, **read_kwargs) -> xr.Dataset:
    path = write_dataset(ds, tmp_path / f"dataset{SUFFIXES[fmt]}")
    return read_dataset(path, **read_kwargs)


def assert_types_equal(actual, expected, where: str = "") -> None:
    """The same type, recursively for lists and tuples, and the same numpy dtype."""
    assert type(actual) is type(expected), (where, actual, expected)
    if isinstance(expected, (list, tuple)):
        assert len(actual) == len(expected), where
        for a, e in zip(actual, expected, strict=True):
            assert_types_equal(a, e, where)
    if isinstance(expected, (np.ndarray, np.generic)):
        assert actual.dtype == expected.dtype, (where, actual.dtype, expected.dtype)


def assert_exact(actual: xr.Dataset, expected: xr.Dataset) -> None:
    """Identical (values, coords, attrs), with the same dtypes and attr types everywhere."""
    xr.testing.assert_identical(actual, expected)
    assert list(actual.attrs) == list(expected.attrs)
    for key, value in expected.attrs.items():
        assert_types_equal(actual.attrs[key], value, f"attr {key}")
    for name, var in expected.variables.items():
        assert actual[name].dtype == var.dtype, name
        assert actual[name].dims == var.dims, name
        assert name in actual.coords if name in expected.coords else name in actual.data_vars
        for key, value in var.attrs.items():
            assert_types_equal(actual[name].attrs[key], value, f"{name}.attrs[{key}]")


# --------------------------------------------------------------------------------------
# Hand-made round trips
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("counts_dtype", ["int64", "float32"])
@pytest.mark.parametrize("spatial", [True, False], ids=["map", "spectrum"])
def test_round_trip_dataset(fmt, counts_dtype, spatial, tmp_path):
    ds = make_dataset(spatial=spatial, counts_dtype=counts_dtype)
    ds.attrs.update(ALLOWED_ATTRS)
    ds["counts"].attrs.update(ALLOWED_ATTRS)
    ds["energy"].attrs["per_decade"] = np.float32(1.25)
    back = round_trip(ds, fmt, tmp_path)
    assert_exact(back, ds)
    assert back.mask_safe.dtype == bool
    assert back.mask_fit.dtype == bool
    back.close()


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_joint_and_stacked(fmt, tmp_path):
    observations = [make_dataset(seed=i, obs_id=100 + i) for i in range(3)]
    for i, ds in enumerate(observations):  # per-observation numbers and strings
        ds.attrs.update(time_start=f"2004-12-0{i + 4}T22:00:00", pointing_ra=83.1 + i)
    joint = concat_observations(observations)
    assert joint.time_start.dtype.kind == "U"
    assert joint.livetime.dims == ("obs_id",)
    back = round_trip(joint, fmt, tmp_path)
    assert_exact(back, joint)
    stacked = stack(back)
    (tmp_path / "stacked").mkdir()
    assert_exact(round_trip(stacked, fmt, tmp_path / "stacked"), stacked)
    assert stacked.attrs["obs_ids"] == [100, 101, 102]


@pytest.mark.parametrize("fmt", FORMATS)
def test_explicit_attr_values_survive(fmt, tmp_path):
    ds = xr.Dataset(
        attrs={
            "object": "Ĉrab Ñebula — 蟹状星云",
            "obs_id": np.int64(23523),
            "livetime": np.float64(1581.7367584109306),
            "python_int": 2**62,
            "python_float": 1e-300,
            "gti": [0.0, 1687.0],
            "energy_range": [0.5, 100],
        }
    )
    back = round_trip(ds, fmt, tmp_path)
    assert back.attrs["object"] == "Ĉrab Ñebula — 蟹状星云"
    assert back.attrs["obs_id"] == 23523
    assert type(back.attrs["obs_id"]) is np.int64
    assert type(back.attrs["livetime"]) is np.float64
    assert back.attrs["livetime"] == 1581.7367584109306
    assert back.attrs["python_int"] == 2**62
    assert type(back.attrs["python_int"]) is int
    assert back.attrs["gti"] == [0.0, 1687.0]
    assert back.attrs["energy_range"] == [0.5, 100]
    assert type(back.attrs["energy_range"][1]) is int
    assert ENCODING_ATTR not in back.attrs


def test_cross_format_round_trip(tmp_path):
    ds = make_dataset()
    ds.attrs.update(ALLOWED_ATTRS)
    via_nc = read_dataset(write_dataset(ds, tmp_path / "a.nc"), chunks={})
    via_zarr = read_dataset(write_dataset(via_nc, tmp_path / "b.zarr"), chunks={})
    again_nc = read_dataset(write_dataset(via_zarr, tmp_path / "c.nc"))
    assert_exact(again_nc, ds)
    for obj in (via_nc, via_zarr, again_nc):
        obj.close()


@pytest.mark.parametrize("fmt", FORMATS)
def test_writer_leaves_input_unchanged(fmt, tmp_path):
    ds = make_dataset()
    ds.attrs.update(ALLOWED_ATTRS)
    copy = ds.copy(deep=True)
    write_dataset(ds, tmp_path / f"x{SUFFIXES[fmt]}")
    assert_exact(ds, copy)
    assert ds.encoding == copy.encoding


def test_netcdf_stores_bools_as_int8_with_marker(tmp_path):
    path = write_dataset(make_dataset(), tmp_path / "x.nc")
    with netCDF4.Dataset(path) as nc:
        variable = nc["mask_safe"]
        assert variable.dtype == np.int8
        assert variable.getncattr("dtype") == "bool"
    # A plain xarray reader restores them too.
    with xr.open_dataset(path, engine="netcdf4") as plain:
        assert plain.mask_safe.dtype == bool


@pytest.mark.parametrize("fmt", FORMATS)
def test_datetime_and_string_variables(fmt, tmp_path):
    ds = xr.Dataset(
        {
            "flux": ("time", np.array([1.0, 2.0, np.nan], dtype=np.float32), {"units": "m-2"}),
            "duration": ("time", np.array([10, 20, 30], dtype="timedelta64[s]").astype("m8[ns]")),
            "label": ("time", np.array(["run a", "run é", "c"])),
        },
        coords={"time": np.array(["2004-12-04", "2004-12-05", "2004-12-06"], "M8[ns]")},
    )
    back = round_trip(ds, fmt, tmp_path)  # no warning (Zarr: variable-length strings)
    assert_exact(back, ds)
    with raise_if_dask_computes():
        lazy = read_dataset(back.encoding["source"], chunks={})
        assert lazy.label.dtype == ds.label.dtype
        assert isinstance(lazy.label.data, dask.array.Array)
    assert_exact(lazy.compute(scheduler="synchronous"), ds)


def test_big_endian_comes_back_native(tmp_path):
    ds = xr.Dataset({"aeff": ("energy", np.arange(3, dtype=">f4"), {"units": "m2"})})
    back = round_trip(ds, "netcdf", tmp_path)
    xr.testing.assert_identical(back, ds)
    assert back.aeff.dtype == np.dtype("=f4")


@pytest.mark.parametrize("fmt", FORMATS)
def test_dask_input_with_irregular_chunks(fmt, tmp_path):
    ds = make_dataset()
    lazy = ds.chunk({"energy": (1, 3), "energy_true": 2})
    assert lazy.counts.chunks[0] == (1, 3)
    back = round_trip(lazy, fmt, tmp_path)
    assert_exact(back.load(), ds)


# --------------------------------------------------------------------------------------
# Laziness
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_read_is_lazy(fmt, tmp_path):
    ds = concat_observations([make_dataset(seed=i, obs_id=i) for i in range(2)])
    path = write_dataset(ds, tmp_path / f"x{SUFFIXES[fmt]}")
    with read_dataset(path) as back:
        # Backend arrays, not loaded yet (xarray's own flag).
        assert not any(back[name].variable._in_memory for name in back.data_vars)
        assert back.mask_safe.dtype == bool
        assert not back.mask_safe.variable._in_memory
        assert_exact(back.load(), ds)
    with raise_if_dask_computes():
        back = read_dataset(path, chunks={})  # the stored chunks: one per observation
        for name in back.data_vars:
            assert isinstance(back[name].data, dask.array.Array), name
            if "obs_id" in back[name].dims:
                assert back[name].chunksizes["obs_id"] == (1, 1), name
        assert back.mask_safe.dtype == bool
        stacked = stack(back)
    with dask.config.set(scheduler="synchronous"):
        assert_exact(back.compute(), ds)
        xr.testing.assert_allclose(stacked.compute(), stack(ds), rtol=1e-6)
    back.close()


# --------------------------------------------------------------------------------------
# What cannot be stored, and bad paths
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (True, "booleans"),
        (np.bool_(False), "booleans"),
        (None, "None"),
        ({"ra": 83.6}, "dict"),
        (b"bytes", "bytes"),
        ({1, 2}, "set"),
        (1j, "complex"),
        (2**64, "int64"),
        (np.float16(1), "float16"),
        (np.complex64(1), "complex64"),
        ("a\x00b", "NUL"),
        ("\ud800", "Unicode"),
        ([1, "a"], "only strings or only numbers"),
        ([[1, 2]], "nesting"),
        ([True, False], "booleans"),
        ([np.uint64(2**64 - 1), -1], "one type"),
        ([2**60 + 1, 0.5], "one type"),
        (np.ones((2, 2)), "1-D"),
        (np.array(["a", "b"]), "list for strings"),
        (np.array([True]), "integer or float"),
    ],
)
def test_unstorable_attrs_are_rejected(fmt, value, reason, tmp_path):
    ds = make_dataset()
    ds["counts"].attrs["bad_attr"] = value
    path = tmp_path / f"x{SUFFIXES[fmt]}"
    with pytest.raises(FormatError, match=reason) as info:
        write_dataset(ds, path)
    assert "variable 'counts': attribute 'bad_attr'" in str(info.value)
    assert isinstance(info.value, ValueError)
    assert not path.exists()


@pytest.mark.parametrize(
    "name", ["_FillValue", "_private", "scale_factor", "add_offset", "dtype", "coordinates"]
)
def test_reserved_attr_names_are_rejected(name, tmp_path):
    ds = make_dataset()
    ds["exposure"].attrs[name] = 1
    with pytest.raises(FormatError, match=f"attribute '{name}': the name is reserved"):
        write_dataset(ds, tmp_path / "x.nc")
    with pytest.raises(FormatError, match=ENCODING_ATTR):
        write_dataset(
            ds.drop_vars("exposure").assign_attrs({ENCODING_ATTR: "{}"}), tmp_path / "x.nc"
        )


def test_all_problems_reported_at_once(tmp_path):
    ds = make_dataset()
    ds.attrs.update(flag=True, region=None)
    ds["psf"].attrs["meta"] = {"a": 1}
    ds["weird"] = ("energy", np.ones(4, dtype=np.complex128))
    ds["objects"] = ("energy", np.array([1, "a", None, 2.0], dtype=object))
    ds["half"] = ("energy", np.ones(4, dtype=np.float16))
    with pytest.raises(FormatError) as info:
        write_dataset(ds, tmp_path / "x.zarr")
    message = str(info.value)
    for text in (
        "'flag'",
        "'region'",
        "variable 'psf': attribute 'meta'",
        "'weird'",
        "complex",
        "'objects'",
        "'half'",
    ):
        assert text in message


def test_time_variable_with_units_attr_is_rejected(tmp_path):
    ds = xr.Dataset(coords={"time": ("time", np.array(["2004-12-04"], "M8[ns]"), {"units": "s"})})
    with pytest.raises(FormatError, match="'time': attribute 'units' is set by the time encoding"):
        write_dataset(ds, tmp_path / "x.nc")


def test_format_from_suffix_or_argument(tmp_path):
    ds = make_dataset(spatial=False)
    with pytest.raises(FormatError, match="cannot tell the format"):
        write_dataset(ds, tmp_path / "x.fits")
    with pytest.raises(FormatError, match="format must be one of"):
        write_dataset(ds, tmp_path / "x.nc", format="hdf5")
    nc = write_dataset(ds, tmp_path / "data.bin", format="netcdf")
    assert_exact(read_dataset(nc), ds)  # sniffed from the file's first bytes
    store = write_dataset(ds, tmp_path / "store", format="zarr")
    assert (store / "zarr.json").is_file()
    assert_exact(read_dataset(store), ds)  # a directory is a Zarr store
    (tmp_path / "text.dat").write_text("not a dataset")
    with pytest.raises(FormatError, match="cannot tell the format"):
        read_dataset(tmp_path / "text.dat")


def test_read_missing_path(tmp_path):
    with pytest.raises(DataFileError, match="does not exist") as info:
        read_dataset(tmp_path / "missing.nc")
    assert isinstance(info.value, FileNotFoundError)


def test_overwrite_replaces_existing(tmp_path):
    first, second = make_dataset(seed=1), make_dataset(seed=2, obs_id=7)
    for suffix in (".nc", ".zarr"):
        write_dataset(first, tmp_path / f"x{suffix}")
        write_dataset(second, tmp_path / f"x{suffix}")
        assert_exact(read_dataset(tmp_path / f"x{suffix}"), second)


def test_foreign_files_are_returned_as_xarray_reads_them(tmp_path):
    ds = xr.Dataset({"counts": ("energy", np.arange(3))}, attrs={"obs_id": 5})
    ds.to_netcdf(tmp_path / "plain.nc", engine="netcdf4")
    back = read_dataset(tmp_path / "plain.nc")
    xr.testing.assert_identical(back, ds)
    assert type(back.attrs["obs_id"]) is np.int64  # no record, so no type restoration


def test_newer_or_broken_record_is_rejected(tmp_path):
    xr.Dataset(attrs={ENCODING_ATTR: '{"version": 99}'}).to_netcdf(tmp_path / "new.nc")
    with pytest.raises(FormatError, match="newer gammaxr"):
        read_dataset(tmp_path / "new.nc")
    xr.Dataset(attrs={ENCODING_ATTR: "{not json"}).to_netcdf(tmp_path / "broken.nc")
    with pytest.raises(FormatError, match="unreadable"):
        read_dataset(tmp_path / "broken.nc")


# --------------------------------------------------------------------------------------
# Property test: random geometries and attributes, both formats
# --------------------------------------------------------------------------------------

RESERVED = {
    "units",
    "dtype",
    "coordinates",
    "calendar",
    "compress",
    "scale_factor",
    "add_offset",
    "missing_value",
}
names = st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True).filter(
    lambda name: name not in RESERVED and name != ENCODING_ATTR
)
texts = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=12)
int64s = st.integers(INT64.min, INT64.max)
floats = st.floats(allow_nan=True, allow_infinity=True)
numpy_scalars = st.one_of(
    int64s.map(np.int64),
    st.integers(0, 2**64 - 1).map(np.uint64),
    st.integers(-(2**31), 2**31 - 1).map(np.int32),
    st.integers(-128, 127).map(np.int8),
    st.floats(width=32).map(np.float32),
    floats.map(np.float64),
)
attr_values = st.one_of(
    texts,
    int64s,
    floats,
    numpy_scalars,
    st.lists(int64s, max_size=4),
    st.lists(floats, max_size=4),
    st.lists(st.floats(width=32).map(np.float32), max_size=4),
    st.lists(texts, max_size=4),
    # (No NaN in tuples: xarray's attr comparison finds (nan,) != (nan,), lists are fine.)
    st.lists(st.integers(-(2**53), 2**53) | st.floats(allow_nan=False), max_size=4).map(tuple),
    hnp.arrays(
        st.sampled_from([np.float32, np.float64, np.int32, np.int64, np.uint16]),
        st.integers(0, 4),
    ),
)
attr_dicts = st.dictionaries(names, attr_values, max_size=5)


def edges_strategy(low: float, high: float):
    return st.lists(
        st.floats(low, high, allow_nan=False, allow_infinity=False),
        min_size=2,
        max_size=5,
        unique=True,
    ).map(sorted)


@st.composite
def datasets(draw):
    energy = gx.axis_from_edges(
        draw(edges_strategy(1e-3, 1e3)), name="energy", units="TeV", interp="log"
    )
    energy_true = gx.axis_from_edges(
        draw(edges_strategy(1e-3, 1e3)), name="energy_true", units="TeV", interp="log"
    )
    spatial = draw(st.booleans())
    sky = None
    if spatial:
        binsz = draw(st.floats(0.01, 2.0))
        n_lon, n_lat = draw(st.integers(1, 4)), draw(st.integers(1, 4))
        center = (draw(st.floats(0, 360)), draw(st.floats(-60, 60)))
        frame = draw(st.sampled_from(["icrs", "galactic"]))
        sky = gx.sky_grid(center, width=(n_lon * binsz, n_lat * binsz), binsz=binsz, frame=frame)
    counts_dtype = draw(st.sampled_from(["int64", "float32"]))
    seed = draw(st.integers(0, 2**32 - 1))
    n_obs = draw(st.none() | st.integers(1, 3))
    kwargs = dict(
        spatial=spatial, counts_dtype=counts_dtype, energy=energy, energy_true=energy_true, sky=sky
    )
    if n_obs is None:
        ds = make_dataset(seed=seed, **kwargs)
    else:
        ids = draw(st.lists(int64s, min_size=n_obs, max_size=n_obs, unique=True))
        ds = concat_observations(
            [make_dataset(seed=seed + i, obs_id=i_d, **kwargs) for i, i_d in enumerate(ids)]
        )
    ds.attrs.update(draw(attr_dicts))
    ds["counts"].attrs.update(draw(attr_dicts))
    ds["energy"].attrs.update(draw(attr_dicts))
    return ds


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ds=datasets())
def test_round_trip_property(ds):
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in FORMATS:
            with read_dataset(write_dataset(ds, Path(tmp) / f"x{SUFFIXES[fmt]}")) as back:
                assert_exact(back, ds)


def test_bool_marker_lost_still_restored_and_dtype_mismatch_detected(tmp_path):
    ds = make_dataset()
    path = write_dataset(ds, tmp_path / "x.nc")
    with netCDF4.Dataset(path, "a") as nc:
        nc["mask_safe"].delncattr("dtype")  # as if written by a tool without xarray's marker
    with read_dataset(path) as back:
        assert back.mask_safe.dtype == bool
        assert_exact(back, ds)
    with netCDF4.Dataset(path, "a") as nc:
        record = json.loads(nc.getncattr(ENCODING_ATTR))
        record["dtypes"]["counts"] = "<f4"
        nc.setncattr(ENCODING_ATTR, json.dumps(record))
    with pytest.raises(FormatError, match="'counts' was written as float32 but reads back as"):
        read_dataset(path)
