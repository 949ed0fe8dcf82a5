"""The GADF IRF reader puts every FITS cell at the right (dim=i, ...) position.

Each check reads the file again with astropy alone: the data cell
``hdul[hdu].data[column][0]`` is in numpy order, i.e. its axes are the
``*_LO``/``*_HI`` column pairs in reverse order (the i-th pair is FITS axis i
of the TDIM). Every cell of the result is compared with the raw cell after the
expected unit conversion, whose factors are written out here by hand.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from astropy.io import fits

import gammaxr as gx
from gammaxr.io import read_irf
from gammaxr.testing import IRF_LAYOUTS, write_irf_file

# Dims of each class in the order documented in gammaxr/io/gadf/irf.py.
DIMS = {
    "aeff_2d": ("energy_true", "offset"),
    "edisp_2d": ("energy_true", "migra", "offset"),
    "psf_table": ("energy_true", "offset", "rad"),
    "psf_3gauss": ("energy_true", "offset"),
    "psf_king": ("energy_true", "offset"),
    "bkg_2d": ("energy", "offset"),
    "bkg_3d": ("energy", "fov_lat", "fov_lon"),
    "rad_max_2d": ("energy", "offset"),
}

# GADF data column -> (variable of the result, canonical unit).
VARIABLES = {
    "aeff_2d": {"EFFAREA": ("aeff", "m2")},
    "edisp_2d": {"MATRIX": ("edisp", "")},
    "psf_table": {"RPSF": ("psf", "sr-1")},
    "psf_3gauss": {
        "SCALE": ("scale", "sr-1"),
        "SIGMA_1": ("sigma_1", "deg"),
        "AMPL_2": ("ampl_2", ""),
        "SIGMA_2": ("sigma_2", "deg"),
        "AMPL_3": ("ampl_3", ""),
        "SIGMA_3": ("sigma_3", "deg"),
    },
    "psf_king": {"GAMMA": ("gamma", ""), "SIGMA": ("sigma", "deg")},
    "bkg_2d": {"BKG": ("bkg", "MeV-1 s-1 sr-1"), "BGD": ("bkg", "MeV-1 s-1 sr-1")},
    "bkg_3d": {"BKG": ("bkg", "MeV-1 s-1 sr-1"), "BGD": ("bkg", "MeV-1 s-1 sr-1")},
    "rad_max_2d": {"RAD_MAX": ("rad_max", "deg")},
}

RECO_ENERGY_CLASSES = ("bkg_2d", "bkg_3d", "rad_max_2d")

AXIS_UNITS = {
    "energy": "TeV",
    "energy_true": "TeV",
    "offset": "deg",
    "migra": "",
    "rad": "deg",
    "fov_lon": "deg",
    "fov_lat": "deg",
}

DEG_PER_RAD = 180.0 / math.pi


def dim_of(prefix: str, hdu_class: str) -> str:
    """The dim of a GADF axis column prefix, written out independently of the reader."""
    if prefix == "ENERG":
        return "energy" if hdu_class in RECO_ENERGY_CLASSES else "energy_true"
    return {
        "ETRUE": "energy_true",
        "THETA": "offset",
        "MIGRA": "migra",
        "RAD": "rad",
        "DETX": "fov_lon",
        "DETY": "fov_lat",
    }[prefix]


def raw_table(path: Path, hdu: str | int) -> dict[str, np.ndarray]:
    """Every column of row 0 of an IRF table, as float64 arrays (astropy only)."""
    with fits.open(path) as hdul:
        data = hdul[hdu].data
        return {name: np.array(data[name][0], dtype=float) for name in data.columns.names}


def variables(result: xr.DataArray | xr.Dataset) -> dict[str, xr.DataArray]:
    if isinstance(result, xr.Dataset):
        return {str(name): var for name, var in result.data_vars.items()}
    return {str(result.name): result}


def assert_cells(da: xr.DataArray, raw: np.ndarray, fits_dims: tuple[str, ...], factor: float):
    """Every cell: ``da`` at ``(dim=i, ...)`` equals ``raw[numpy index] * factor``."""
    numpy_dims = tuple(reversed(fits_dims))
    assert raw.ndim == len(numpy_dims)
    assert dict(da.sizes) == {dim: raw.shape[k] for k, dim in enumerate(numpy_dims)}
    # All cells at once: the numpy index of each raw cell, mapped to da's dims by name.
    index = np.indices(raw.shape)
    position = {dim: index[k] for k, dim in enumerate(numpy_dims)}
    values = np.asarray(da.values)[tuple(position[dim] for dim in da.dims)]
    np.testing.assert_allclose(values, raw * factor, rtol=1e-6, atol=0)
    # And a few cells literally, through xarray's own indexing.
    rng = np.random.default_rng(0)
    cells = [(0,) * raw.ndim, tuple(n - 1 for n in raw.shape)]
    cells += [tuple(int(rng.integers(0, n)) for n in raw.shape) for _ in range(5)]
    for cell in cells:
        selection = {dim: cell[k] for k, dim in enumerate(numpy_dims)}
        assert float(da.isel(selection)) == pytest.approx(raw[cell] * factor, rel=1e-6)


def assert_axis(
    result: xr.DataArray | xr.Dataset, dim: str, lo: np.ndarray, hi: np.ndarray, factor: float
):
    """Centres and edges of one axis, from the raw ``_LO``/``_HI`` columns."""
    lo, hi = lo * factor, hi * factor
    coord = result.coords[dim]
    log = dim in ("energy", "energy_true")
    assert coord.attrs["units"] == AXIS_UNITS[dim]
    assert coord.attrs["interp"] == ("log" if log else "lin")
    if np.array_equal(lo, hi):  # nodes: no edges
        assert f"{dim}_lo" not in result.coords
        assert f"{dim}_hi" not in result.coords
        np.testing.assert_allclose(coord.values, lo, rtol=1e-6, atol=1e-12)
        return
    for name, edge in ((f"{dim}_lo", lo), (f"{dim}_hi", hi)):
        assert result.coords[name].dims == (dim,)
        assert result.coords[name].attrs["units"] == AXIS_UNITS[dim]
        np.testing.assert_allclose(result.coords[name].values, edge, rtol=1e-6, atol=1e-12)
    centres = np.sqrt(lo * hi) if log else 0.5 * (lo + hi)
    np.testing.assert_allclose(coord.values, centres, rtol=1e-6, atol=1e-12)


def check_irf(
    result: xr.DataArray | xr.Dataset,
    path: Path,
    hdu: str | int,
    hdu_class: str,
    fits_order: tuple[str, ...],
    *,
    factors: dict[str, float] | None = None,
):
    """Dims, attrs, axes and every cell of a read IRF against an astropy read of the file.

    ``fits_order`` lists the axis column prefixes in FITS axis order; ``factors``
    maps a data column or axis prefix to the factor from its file unit to the
    canonical one (1 when absent).
    """
    factors = factors or {}
    raw = raw_table(path, hdu)
    fits_dims = tuple(dim_of(prefix, hdu_class) for prefix in fits_order)
    assert result.attrs["hdu_class"] == hdu_class
    assert str(path) in result.attrs["source"]
    # Data variables: names, dims in the documented order, units, cells.
    expected = {
        var: (column, unit)
        for column, (var, unit) in VARIABLES[hdu_class].items()
        if column in raw
    }
    found = variables(result)
    assert sorted(found) == sorted(expected)
    for var, (column, unit) in expected.items():
        da = found[var]
        assert da.dims == DIMS[hdu_class]
        assert da.attrs["units"] == unit
        assert da.dtype == np.float32
        assert_cells(da, raw[column], fits_dims, factors.get(column, 1.0))
    # Axes.
    for prefix, dim in zip(fits_order, fits_dims, strict=True):
        lo, hi = raw[f"{prefix}_LO"], raw[f"{prefix}_HI"]
        assert_axis(result, dim, lo, hi, factors.get(prefix, 1.0))


LAYOUT_ORDERS = [
    (hdu_class, order)
    for hdu_class, layout in IRF_LAYOUTS.items()
    for order in itertools.permutations(layout.axis_order)
]


@pytest.mark.parametrize(("hdu_class", "axis_order"), LAYOUT_ORDERS)
def test_every_class_in_every_axis_order(tmp_path, hdu_class, axis_order):
    irf = write_irf_file(tmp_path / "irf.fits", hdu_class, axis_order=axis_order, rng=1)
    result = read_irf(irf.path, irf.hdu_name)
    check_irf(result, irf.path, irf.hdu_name, hdu_class, axis_order)
    assert result.attrs["irf_type"] == (
        "point-like" if hdu_class == "rad_max_2d" else "full-enclosure"
    )
    if hdu_class == "bkg_3d":
        assert result.attrs["fovalign"] == "RADEC"
    else:
        assert "fovalign" not in result.attrs
    if isinstance(result, xr.Dataset):
        assert result.attrs["name"] == "psf"


def test_same_irf_in_another_column_order_reads_identical(tmp_path):
    """Reordering the axis columns and transposing the cell to match changes nothing."""
    first = write_irf_file(tmp_path / "a.fits", "edisp_2d", rng=3)  # ENERG, MIGRA, THETA
    # Rewrite it by hand as THETA, ENERG, MIGRA: numpy (t, m, e) becomes (m, e, t).
    cell = np.transpose(first.data["MATRIX"], (1, 2, 0))
    columns = []
    for prefix in ("THETA", "ENERG", "MIGRA"):
        lo, hi = first.edges[prefix]
        unit = first.units[prefix] or None
        columns += [
            fits.Column(f"{prefix}_LO", format=f"{lo.size}E", unit=unit, array=[lo]),
            fits.Column(f"{prefix}_HI", format=f"{hi.size}E", unit=unit, array=[hi]),
        ]
    sizes = f"({first.edges['THETA'][0].size},{first.edges['ENERG'][0].size},"
    sizes += f"{first.edges['MIGRA'][0].size})"
    columns.append(fits.Column("MATRIX", format=f"{cell.size}E", dim=sizes, array=[cell]))
    table = fits.BinTableHDU.from_columns(columns, name="EDISP")
    table.header.update({"HDUCLAS2": "EDISP", "HDUCLAS4": "EDISP_2D"})
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(tmp_path / "b.fits")

    a = read_irf(first.path, "EDISP")
    b = read_irf(tmp_path / "b.fits", "EDISP")
    assert a.dims == b.dims == ("energy_true", "migra", "offset")
    assert a.shape == (7, 6, 4)
    b.attrs["source"] = a.attrs["source"]
    xr.testing.assert_identical(a, b)


def test_factory_writes_what_it_returns(tmp_path):
    irf = write_irf_file(
        tmp_path / "irf.fits", "bkg_3d", axis_order=("DETX", "DETY", "ENERG"), rng=2
    )
    raw = raw_table(irf.path, irf.hdu_name)
    assert irf.shape == (7, 5, 8) == raw["BKG"].shape
    np.testing.assert_array_equal(raw["BKG"], irf.data["BKG"])
    for prefix, (lo, hi) in irf.edges.items():
        np.testing.assert_array_equal(raw[f"{prefix}_LO"], lo)
        np.testing.assert_array_equal(raw[f"{prefix}_HI"], hi)
    with fits.open(irf.path) as hdul:
        assert hdul[irf.hdu_name].header["TDIM7"] == "(8,5,7)"


UNIT_VARIANTS = [
    pytest.param(
        "aeff_2d", None, {"EFFAREA": "cm2", "ENERG": "GeV"}, {"EFFAREA": 1e-4, "ENERG": 1e-3},
        id="aeff-cm2-GeV",
    ),
    pytest.param(
        "aeff_2d", None, {"EFFAREA": "m**2", "THETA": "rad"}, {"THETA": DEG_PER_RAD},
        id="aeff-m**2-rad",
    ),
    pytest.param(
        "edisp_2d", ("ETRUE", "MIGRA", "THETA"), {"ETRUE": "MeV"}, {"ETRUE": 1e-6},
        id="edisp-ETRUE-MeV",
    ),
    pytest.param(
        "psf_table", ("RAD", "THETA", "ENERG"), {"RPSF": "deg-2", "RAD": "arcmin"},
        {"RPSF": DEG_PER_RAD**2, "RAD": 1 / 60},
        id="psf_table-deg-2-arcmin",
    ),
    pytest.param(
        "psf_table", None, {"RPSF": "sr^(-1)", "ENERG": "GeV"}, {"ENERG": 1e-3},
        id="psf_table-sr^(-1)",
    ),
    pytest.param("psf_3gauss", None, {"SCALE": ""}, {}, id="psf_3gauss-1DC-unitless-scale"),
    pytest.param(
        "psf_3gauss", None, {"SCALE": "sr^(-1)", "SIGMA_1": "arcmin", "SIGMA_3": "rad"},
        {"SIGMA_1": 1 / 60, "SIGMA_3": DEG_PER_RAD},
        id="psf_3gauss-prod5-arcmin-rad",
    ),
    pytest.param("psf_king", None, {"SIGMA": "rad"}, {"SIGMA": DEG_PER_RAD}, id="king-rad"),
    pytest.param("bkg_3d", None, {"BKG": "1/s/MeV/sr"}, {}, id="bkg_3d-1/s/MeV/sr"),
    pytest.param("bkg_3d", None, {"BKG": "1/s/TeV/sr"}, {"BKG": 1e-6}, id="bkg_3d-per-TeV"),
    pytest.param(
        "bkg_3d", ("DETX", "DETY", "ENERG"), {"BKG": "s-1 GeV-1 sr-1", "ENERG": "GeV"},
        {"BKG": 1e-3, "ENERG": 1e-3},
        id="bkg_3d-hess-order-GeV",
    ),
    pytest.param(
        "bkg_2d", None, {"BKG": "MeV-1 s-1 sr-1", "ENERG": "MeV"}, {"ENERG": 1e-6},
        id="bkg_2d-MeV",
    ),
    pytest.param(
        "rad_max_2d", None, {"RAD_MAX": "arcmin"}, {"RAD_MAX": 1 / 60}, id="rad_max-arcmin"
    ),
]  # fmt: skip


@pytest.mark.parametrize(("hdu_class", "axis_order", "units", "factors"), UNIT_VARIANTS)
def test_unit_variants(tmp_path, hdu_class, axis_order, units, factors):
    irf = write_irf_file(
        tmp_path / "irf.fits", hdu_class, axis_order=axis_order, units=units, rng=4
    )
    with fits.open(irf.path) as hdul:  # the file really carries the variant units
        written = {c.name: c.unit for c in hdul[irf.hdu_name].columns}
    for key, unit in units.items():
        column = key if key in written else f"{key}_LO"
        assert (written[column] or "") == unit
    result = read_irf(irf.path, irf.hdu_name)
    order = axis_order or IRF_LAYOUTS[hdu_class].axis_order
    check_irf(result, irf.path, irf.hdu_name, hdu_class, order, factors=factors)


@pytest.mark.parametrize("hdu_class", ["bkg_2d", "bkg_3d"])
def test_bgd_column(tmp_path, hdu_class):
    """CTA 1DC names the background column BGD."""
    irf = write_irf_file(
        tmp_path / "bkg.fits", hdu_class, data_column="BGD", units={"BGD": "1/s/MeV/sr"}, rng=5
    )
    assert set(irf.data) == {"BGD"}
    result = read_irf(irf.path, irf.hdu_name)
    assert result.name == "bkg"
    check_irf(result, irf.path, irf.hdu_name, hdu_class, IRF_LAYOUTS[hdu_class].axis_order)


@pytest.mark.parametrize(
    ("hdu_class", "nodes"),
    [
        ("aeff_2d", ("THETA",)),
        ("edisp_2d", ("THETA",)),
        ("psf_table", ("THETA",)),
        ("bkg_2d", ("THETA",)),
        ("rad_max_2d", ("ENERG", "THETA")),
        ("psf_king", ("ENERG",)),
    ],
)
def test_node_axes(tmp_path, hdu_class, nodes):
    """``X_LO == X_HI`` (H.E.S.S. THETA) is a node axis: centres only, no edges."""
    irf = write_irf_file(tmp_path / "irf.fits", hdu_class, nodes=nodes, rng=6)
    for prefix in nodes:
        lo, hi = irf.edges[prefix]
        np.testing.assert_array_equal(lo, hi)
    result = read_irf(irf.path, irf.hdu_name)
    check_irf(result, irf.path, irf.hdu_name, hdu_class, IRF_LAYOUTS[hdu_class].axis_order)
    for prefix in nodes:
        dim = dim_of(prefix, hdu_class)
        assert f"{dim}_lo" not in result.coords
        np.testing.assert_allclose(result[dim].values, irf.edges[prefix][0], rtol=1e-6)
    binned = [p for p in IRF_LAYOUTS[hdu_class].axis_order if p not in nodes]
    for prefix in binned:
        assert f"{dim_of(prefix, hdu_class)}_lo" in result.coords


@pytest.mark.parametrize("hdu_class", sorted(IRF_LAYOUTS))
def test_cells_without_tdim(tmp_path, hdu_class):
    """Flat vector cells (no TDIM) are in FITS order: the first axis runs fastest."""
    order = tuple(reversed(IRF_LAYOUTS[hdu_class].axis_order))
    irf = write_irf_file(tmp_path / "irf.fits", hdu_class, axis_order=order, tdim=False, rng=7)
    with fits.open(irf.path) as hdul:
        table = hdul[irf.hdu_name]
        assert not any(key.startswith("TDIM") for key in table.header)
        column = next(iter(irf.data))
        flat = np.array(table.data[column][0], dtype=float)
    assert flat.ndim == 1
    result = read_irf(irf.path, irf.hdu_name)
    var = variables(result)[VARIABLES[hdu_class][column][0]]
    fits_dims = tuple(dim_of(prefix, hdu_class) for prefix in order)
    assert_cells(var, flat.reshape(irf.shape), fits_dims, 1.0)
    # The first FITS axis is the fastest-varying one in the flat vector.
    first = {dim: 0 for dim in fits_dims}
    second = {**first, fits_dims[0]: 1}
    assert float(var.isel(first)) == pytest.approx(flat[0])
    assert float(var.isel(second)) == pytest.approx(flat[1])


def test_bins_with_gaps_keep_their_own_centres(tmp_path):
    irf = write_irf_file(tmp_path / "aeff.fits", "aeff_2d", sizes={"ENERG": 3}, rng=8)
    lo = np.array([1.0, 2.0, 4.0], dtype=np.float32)
    hi = np.array([1.5, 3.0, 5.0], dtype=np.float32)
    with fits.open(irf.path, mode="update") as hdul:
        hdul[irf.hdu_name].data["ENERG_LO"][0] = lo
        hdul[irf.hdu_name].data["ENERG_HI"][0] = hi
    result = read_irf(irf.path, irf.hdu_name)
    np.testing.assert_allclose(result["energy_true"].values, np.sqrt(lo * hi))
    np.testing.assert_array_equal(result["energy_true_lo"].values, lo)
    np.testing.assert_array_equal(result["energy_true_hi"].values, hi)


@pytest.mark.parametrize("fovalign", ["RADEC", "ALTAZ", None])
def test_bkg_3d_fovalign(tmp_path, fovalign):
    irf = write_irf_file(tmp_path / "bkg.fits", "bkg_3d", fovalign=fovalign, rng=9)
    result = read_irf(irf.path, irf.hdu_name)
    assert result.attrs["fovalign"] == (fovalign or "RADEC")
    check_irf(result, irf.path, irf.hdu_name, "bkg_3d", ("ENERG", "DETX", "DETY"))


def test_point_like_attrs(tmp_path):
    irf = write_irf_file(
        tmp_path / "aeff.fits",
        "aeff_2d",
        irf_type="POINT-LIKE",
        header={"RAD_MAX": 0.125, "LO_THRES": 0.3, "HI_THRES": 80.0},
        rng=10,
    )
    result = read_irf(irf.path, irf.hdu_name)
    assert result.attrs["irf_type"] == "point-like"
    assert result.attrs["rad_max"] == 0.125
    assert result.attrs["lo_thres"] == 0.3
    assert result.attrs["hi_thres"] == 80.0
    rad_max = write_irf_file(tmp_path / "rad_max.fits", "rad_max_2d", rng=11)
    with fits.open(rad_max.path) as hdul:
        assert hdul["RAD_MAX"].header["HDUCLAS3"] == "POINT-LIKE"
    assert read_irf(rad_max.path, "RAD_MAX").attrs["irf_type"] == "point-like"


@pytest.mark.parametrize(
    ("hdu_class", "hduclas2", "hduclas4"),
    [
        ("aeff_2d", "EFF_AREA", "AEFF_2D"),
        ("aeff_2d", "EFF_AREA", "2D"),
        ("edisp_2d", "EDISP", "EDISP_2D"),
        ("edisp_2d", "EDISP", "2D"),
        ("psf_table", "RPSF", "PSF_TABLE"),
        ("psf_table", "PSF", "PSF_TABLE"),
        ("psf_3gauss", "RPSF", "3GAUSS"),
        ("psf_3gauss", "PSF", "PSF_3GAUSS"),
        ("psf_king", "RPSF", "KING"),
        ("psf_king", "PSF", "PSF_KING"),
        ("bkg_2d", "BKG", "BKG_2D"),
        ("bkg_3d", "BKG", "3D"),
        ("rad_max_2d", "RAD_MAX", "RAD_MAX_2D"),
    ],
)
def test_class_from_header_spellings(tmp_path, hdu_class, hduclas2, hduclas4):
    irf = write_irf_file(
        tmp_path / "irf.fits",
        hdu_class,
        header={"HDUCLAS2": hduclas2, "HDUCLAS4": hduclas4},
        rng=12,
    )
    assert read_irf(irf.path, irf.hdu_name).attrs["hdu_class"] == hdu_class


def test_class_argument_and_hdu_index(tmp_path):
    """An HDU-index class (any case) replaces missing HDUCLAS keywords; HDUs by index."""
    irf = write_irf_file(
        tmp_path / "irf.fits", "psf_king", header={"HDUCLAS2": None, "HDUCLAS4": None}, rng=13
    )
    result = read_irf(irf.path, irf.hdu_name, hdu_class=" PSF_KING ")
    check_irf(result, irf.path, irf.hdu_name, "psf_king", ("ENERG", "THETA"))
    by_index = read_irf(irf.path, 1, hdu_class="psf_king")
    xr.testing.assert_identical(by_index, result)
    assert read_irf(irf.path, irf.hdu_name.lower(), hdu_class="psf_king").sizes == result.sizes


def test_several_irfs_in_one_file(tmp_path):
    path = tmp_path / "irfs.fits"
    written = {}
    for number, hdu_class in enumerate(IRF_LAYOUTS):
        written[hdu_class] = write_irf_file(
            path, hdu_class, hdu_name=hdu_class.upper(), rng=number, append=number > 0
        )
    for hdu_class, irf in written.items():
        result = read_irf(path, irf.hdu_name)
        check_irf(result, path, irf.hdu_name, hdu_class, IRF_LAYOUTS[hdu_class].axis_order)


# --- the shipped H.E.S.S. run ---------------------------------------------------------

HESS_RUN = "data/hess_dl3_dr1_obs_id_023523.fits.gz"

# Attribute of the observation -> (HDU, class, FITS axis order, TDIM of the data cell).
HESS_IRFS = {
    "aeff": ("AEFF", "aeff_2d", ("ENERG", "THETA"), "(96,6)"),
    "edisp": ("EDISP", "edisp_2d", ("ENERG", "MIGRA", "THETA"), "(96,160,6)"),
    "psf": ("PSF", "psf_table", ("ENERG", "THETA", "RAD"), "(32,6,144)"),
    "bkg": ("BKG", "bkg_3d", ("DETX", "DETY", "ENERG"), "(50,50,20)"),
}


@pytest.mark.parametrize("name", sorted(HESS_IRFS))
def test_hess_run_23523_cell_by_cell(crab_obs, name):
    hdu, hdu_class, order, tdim = HESS_IRFS[name]
    path = gx.example_data_path() / HESS_RUN
    with fits.open(path) as hdul:
        table = hdul[hdu]
        data_index = len(order) * 2 + 1
        assert table.header[f"TDIM{data_index}"].replace(" ", "") == tdim
        assert [table.header[f"TTYPE{2 * i + 1}"] for i in range(len(order))] == [
            f"{prefix}_LO" for prefix in order
        ]
    # The reader maps the file as its TDIM says; the observation then reorients
    # the legacy H.E.S.S. background (tested below), so check the reader here.
    result = read_irf(path, hdu)
    check_irf(result, path, hdu, hdu_class, order)
    result = getattr(crab_obs, name)
    assert result.attrs["obs_id"] == 23523
    assert result.attrs["irf_type"] == "full-enclosure"
    # H.E.S.S. gives THETA as nodes.
    if "offset" in result.dims:
        assert "offset_lo" not in result.coords
        np.testing.assert_allclose(result["offset"].values, [0, 0.5, 1, 1.5, 2, 2.5])


def test_hess_known_values(crab_obs):
    """A few values and thresholds, as printed by astropy for this run."""
    aeff = crab_obs.aeff
    assert aeff.attrs["lo_thres"] == pytest.approx(0.870963589956081)
    assert aeff.attrs["hi_thres"] == 100.0
    assert crab_obs.bkg.attrs["fovalign"] == "RADEC"
    assert float(aeff["energy_true_lo"][0]) == pytest.approx(0.01)
    assert float(aeff["energy_true_hi"][0]) == pytest.approx(0.01100694, rel=1e-6)
    assert float(aeff["energy_true"][0]) == pytest.approx(math.sqrt(0.01 * 0.01100694), rel=1e-6)
    assert float(crab_obs.bkg["fov_lon_lo"][0]) == pytest.approx(-2.5)
    assert float(crab_obs.bkg["fov_lon"][0]) == pytest.approx(-2.45)


def test_hess_legacy_background_is_reoriented_as_gammapy(crab_obs):
    """SASH files hold the cell as (ENERG, DETX, DETY) in numpy order with DETX reversed."""
    path = gx.example_data_path() / HESS_RUN
    with fits.open(path) as hdul:
        raw = np.asarray(hdul["BKG"].data["BKG"][0], dtype=float)  # (20, 50, 50)
        detx = 0.5 * (hdul["BKG"].data["DETX_LO"][0] + hdul["BKG"].data["DETX_HI"][0])
        dety = 0.5 * (hdul["BKG"].data["DETY_LO"][0] + hdul["BKG"].data["DETY_HI"][0])
    bkg = crab_obs.bkg
    assert "legacy" in bkg.attrs
    for energy, a, b in [(8, 32, 14), (3, 0, 49), (15, 25, 7)]:
        value = bkg.isel(energy=energy).sel(
            fov_lat=dety[b], fov_lon=-detx[a], method="nearest", tolerance=1e-4
        )
        assert float(value) == pytest.approx(raw[energy, a, b], rel=1e-6)
    # Gammapy 2.1 (Background3D.read, REVERSE_LON_RADEC) gives 7.1283015e-05 MeV-1 s-1 sr-1
    # at energy index 8, fov_lon = 0.75 deg, fov_lat = -1.05 deg (standard orientation).
    value = bkg.isel(energy=8).sel(fov_lat=-1.05, fov_lon=0.75, method="nearest")
    assert float(value) == pytest.approx(7.1283015e-05, rel=1e-6)


# --- the full data sets under GAMMAXR_DATA ----------------------------------------------

CTA_1DC_IRF = "cta-1dc/caldb/data/cta/1dc/bcf/South_z20_50h/irf_file.fits"

# HDU -> (class, FITS axis order, factors from the file's units).
CTA_1DC_HDUS = {
    "EFFECTIVE AREA": ("aeff_2d", ("ENERG", "THETA"), {}),
    "POINT SPREAD FUNCTION": ("psf_3gauss", ("ENERG", "THETA"), {}),
    "ENERGY DISPERSION": ("edisp_2d", ("ETRUE", "MIGRA", "THETA"), {}),
    "BACKGROUND": ("bkg_3d", ("DETX", "DETY", "ENERG"), {}),
}


@pytest.mark.requires_data
@pytest.mark.parametrize("hdu", sorted(CTA_1DC_HDUS))
def test_cta_1dc_irf_file(data_dir, hdu):
    hdu_class, order, factors = CTA_1DC_HDUS[hdu]
    path = data_dir / CTA_1DC_IRF
    with fits.open(path) as hdul:
        header = hdul[hdu].header
        assert header["HDUCLAS4"] in ("2D", "3D", "3GAUSS")  # the 1DC spellings
        units = {c.name: c.unit for c in hdul[hdu].columns}
    if hdu_class == "bkg_3d":
        assert "BGD" in units and units["BGD"] == "1/s/MeV/sr"
    if hdu_class == "psf_3gauss":
        assert not units["SCALE"]  # no unit in 1DC: read as sr-1, as the GADF spec now says
    result = read_irf(path, hdu)  # class from the header
    check_irf(result, path, hdu, hdu_class, order, factors=factors)


@pytest.mark.requires_data
def test_cta_1dc_datastore_psf_and_bkg(data_dir):
    store = gx.open_datastore(data_dir / "cta-1dc/index/gps")
    obs = store.observation(110380)
    path = (data_dir / CTA_1DC_IRF).resolve()  # the HDU index resolves its paths
    check_irf(obs.psf, path, "POINT SPREAD FUNCTION", "psf_3gauss", ("ENERG", "THETA"))
    check_irf(obs.bkg, path, "BACKGROUND", "bkg_3d", ("DETX", "DETY", "ENERG"))


PROD5_HDUS = {
    "EFFECTIVE AREA": ("aeff_2d", ("ENERG", "THETA")),
    "POINT SPREAD FUNCTION": ("psf_3gauss", ("ENERG", "THETA")),
    "ENERGY DISPERSION": ("edisp_2d", ("ENERG", "MIGRA", "THETA")),
    "BACKGROUND": ("bkg_3d", ("ENERG", "DETX", "DETY")),
}


@pytest.mark.requires_data
@pytest.mark.parametrize("site", ["North", "South"])
@pytest.mark.parametrize("hdu", sorted(PROD5_HDUS))
def test_cta_prod5_irfs(data_dir, site, hdu):
    (path,) = sorted((data_dir / "cta-caldb").glob(f"Prod5-{site}-*.fits.gz"))
    hdu_class, order = PROD5_HDUS[hdu]
    with fits.open(path) as hdul:
        units = {c.name: c.unit for c in hdul[hdu].columns}
    if hdu_class == "psf_3gauss":
        assert units["SCALE"] == "sr^(-1)"
    if hdu_class == "bkg_3d":
        assert units["BKG"] == "s^-1 MeV^-1 sr^-1"
        assert units["ENERG_LO"] == "TeV"
    result = read_irf(path, hdu)
    check_irf(result, path, hdu, hdu_class, order)
    if hdu_class == "bkg_3d":
        assert dict(result.sizes) == {"energy": 21, "fov_lat": 60, "fov_lon": 60}


# --- the cache of parsed IRFs -----------------------------------------------------------


@pytest.fixture
def irf_cache():
    """The IRF cache, emptied before and reset after the test."""
    from gammaxr.io.gadf.irf import IRF_CACHE_SIZE, set_irf_cache_size

    set_irf_cache_size(IRF_CACHE_SIZE)
    yield set_irf_cache_size
    set_irf_cache_size(IRF_CACHE_SIZE)


def test_cached_irfs_are_shared_read_only_and_own_their_attrs(tmp_path, irf_cache):
    irf = write_irf_file(tmp_path / "edisp.fits", "edisp_2d", rng=11)
    first = read_irf(irf.path, "EDISP")
    second = read_irf(irf.path, "EDISP")
    assert first is not second and first.identical(second)
    assert np.shares_memory(first.values, second.values)  # parsed once
    for da in (first, first.coords["migra_lo"]):
        assert not da.values.flags.writeable
        with pytest.raises(ValueError, match="read-only"):
            da.values[...] = 0
    first.attrs["obs_id"] = 7
    first.coords["offset"].attrs["note"] = "changed"
    third = read_irf(irf.path, "EDISP")
    assert "obs_id" not in third.attrs and "note" not in third.coords["offset"].attrs
    writable = third.copy()  # a deep copy is writable
    writable.values[...] = 0
    assert read_irf(irf.path, "EDISP").identical(second)


def test_cache_off_reads_the_same_irf_every_time(tmp_path, irf_cache):
    irf = write_irf_file(tmp_path / "bkg.fits", "bkg_3d", rng=12)
    cached = read_irf(irf.path, "BKG")
    irf_cache(0)
    fresh = [read_irf(irf.path, "BKG") for _ in range(2)]
    assert not np.shares_memory(fresh[0].values, fresh[1].values)
    assert fresh[0].identical(cached) and fresh[1].identical(cached)
    with pytest.raises(ValueError, match="integer >= 0"):
        irf_cache(-1)


def test_a_rewritten_irf_file_is_read_again(tmp_path, irf_cache):
    path = tmp_path / "aeff.fits"

    def cell(written):
        return np.sort(written.data["EFFAREA"].ravel())

    old = write_irf_file(path, "aeff_2d", rng=13)
    np.testing.assert_allclose(np.sort(read_irf(path, "AEFF").values.ravel()), cell(old))
    new = write_irf_file(path, "aeff_2d", rng=14)
    assert not np.allclose(cell(new), cell(old))
    np.testing.assert_allclose(np.sort(read_irf(path, "AEFF").values.ravel()), cell(new))


def test_observations_sharing_an_irf_file_parse_it_once(tmp_path, irf_cache):
    from gammaxr.testing import write_datastore

    written = write_datastore(tmp_path / "store", (1, 2), shared_irf_file=True, rng=15)
    store = gx.open_datastore(written.folder)
    first, second = store.observation(1), store.observation(2)
    assert first.location("aeff")[0] == second.location("aeff")[0]
    assert np.shares_memory(first.aeff.values, second.aeff.values)
    assert (first.aeff.attrs["obs_id"], second.aeff.attrs["obs_id"]) == (1, 2)
    irf_cache(0)
    third = store.observation(1)
    assert not np.shares_memory(third.aeff.values, first.aeff.values)
    assert third.aeff.identical(first.aeff)
