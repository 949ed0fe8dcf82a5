"""Flux points as GADF SED tables (ECSV, FITS) and NetCDF; Gammapy-written tables."""

import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from astropy.table import Table

import gammaxr as gx
from gammaxr.estimators import flux_points, sed_quantities
from gammaxr.exceptions import ColumnError, DataFileError, FormatError
from gammaxr.models import Models, PowerLawSpectralModel, SkyModel

DATA = Path(__file__).parent / "data"


def gammapy_inputs_dataset():
    """The dataset of Gammapy's fixture (benchmarks/gammapy_fixtures/check_sed_gammapy.py)."""
    inputs = json.loads((DATA / "gammapy_flux_points_input.json").read_text())
    edges = np.array(inputs["edges"])
    energy = gx.axis_from_edges(edges, name="energy", units="TeV", interp="log")
    energy_true = gx.axis_from_edges(edges, name="energy_true", units="TeV", interp="log")
    ds = xr.Dataset(
        {
            "counts": ("energy", np.array(inputs["counts"])),
            "background": ("energy", np.array(inputs["background"]), {"units": ""}),
            "exposure": ("energy_true", np.array(inputs["exposure_m2_s"]), {"units": "m2 s"}),
        },
        coords={**energy.coords, **energy_true.coords},
        attrs={"name": "sim"},
    )
    models = Models([SkyModel(PowerLawSpectralModel(**inputs["model"]), name="src")])
    return ds, models, np.array(inputs["fp_edges"]), np.array(inputs["scan"])


@pytest.fixture(scope="module")
def fp():
    ds, models, edges, scan = gammapy_inputs_dataset()
    return flux_points(ds, models, "src", edges, scan=scan)


@pytest.mark.parametrize("suffix", ["ecsv", "fits", "fits.gz", "nc"])
def test_round_trips_are_lossless(fp, tmp_path, suffix):
    path = gx.write_flux_points(fp, tmp_path / f"fp.{suffix}")
    back = gx.read_flux_points(path)
    xr.testing.assert_identical(back, fp)


def test_table_layout_follows_the_gadf_sed_format(fp, tmp_path):
    path = gx.write_flux_points(fp, tmp_path / "fp.fits")
    table = Table.read(path, hdu="FLUXPOINTS")
    assert table.meta["SED_TYPE"] == "likelihood"
    assert table.meta["UL_CONF"] == pytest.approx(0.9544997)  # n_sigma_ul = 2, Gammapy's way
    for name in ("e_ref", "e_min", "e_max", "norm", "norm_err", "norm_errn", "norm_errp",
                 "norm_ul", "ts", "sqrt_ts", "ref_dnde", "ref_flux", "ref_eflux", "counts",
                 "npred", "norm_scan", "stat_scan"):  # fmt: skip
        assert name in table.colnames, name
    assert table["e_ref"].unit == "TeV"
    assert table["stat_scan"].shape == (5, 31) and table["counts"].shape == (5, 1)
    np.testing.assert_allclose(table["norm"], fp.norm)


def test_dnde_tables_read_into_the_same_form(fp, tmp_path):
    path = gx.write_flux_points(fp, tmp_path / "fp_dnde.ecsv", sed_type="dnde")
    table = Table.read(path)
    assert table.meta["SED_TYPE"] == "dnde" and "dnde_ul" in table.colnames
    # a plain dnde table, as another tool writes it (no gammaxr metadata, no e_min/e_max)
    plain = Table({name: table[name] for name in ("e_ref", "dnde", "dnde_err", "dnde_ul")})
    plain.meta["SED_TYPE"] = "dnde"
    plain.write(tmp_path / "plain.ecsv")
    back = gx.read_flux_points(tmp_path / "plain.ecsv")
    dnde = fp.norm * fp.ref_dnde
    good = np.isfinite(dnde) & (dnde > 0)
    np.testing.assert_allclose(back.norm[good], 1.0, rtol=1e-12)
    np.testing.assert_allclose(back.ref_dnde[good], dnde[good], rtol=1e-12)
    np.testing.assert_allclose(
        sed_quantities(back, "dnde").dnde_ul, fp.norm_ul * fp.ref_dnde, rtol=1e-12
    )
    np.testing.assert_allclose(back.energy, fp.energy)
    # edges half-way in log energy between the points: the flux points' own edges here
    np.testing.assert_allclose(back.energy_lo[1:], fp.energy_lo[1:], rtol=1e-12)


def test_reads_gammapy_written_flux_points_with_its_numbers():
    ds, models, edges, scan = gammapy_inputs_dataset()
    ours = flux_points(ds, models, "src", edges, scan=scan)
    for name in ("gammapy_flux_points.ecsv", "gammapy_flux_points.fits"):
        theirs = gx.read_flux_points(DATA / name)
        assert theirs.attrs["sed_type_init"] == "likelihood"
        assert theirs.attrs["n_sigma_ul"] == pytest.approx(2.0)
        np.testing.assert_allclose(theirs.energy_lo, ours.energy_lo, rtol=1e-12)
        np.testing.assert_allclose(theirs.ref_dnde, ours.ref_dnde, rtol=1e-12)
        np.testing.assert_allclose(theirs.ref_eflux, ours.ref_eflux, rtol=1e-12)
        np.testing.assert_allclose(theirs.counts, ours.counts)
        # four points with counts: the same fit (Gammapy's MIGRAD stops within ~0.01 sigma;
        # its profile crossings and TS are exact)
        sl = slice(0, 4)
        diff = np.abs(theirs.norm.values - ours.norm.values)[sl]
        np.testing.assert_array_less(diff, 0.01 * ours.norm_err.values[sl])
        np.testing.assert_allclose(theirs.norm_err[sl], ours.norm_err[sl], rtol=3e-3)
        for q in ("norm_errn", "norm_errp", "norm_ul", "ts"):
            np.testing.assert_allclose(theirs[q][sl], ours[q][sl], rtol=1e-4, err_msg=q)
        np.testing.assert_allclose(theirs.norm_scan, scan)
        rise_theirs = theirs.stat_scan - theirs.stat_scan.min("norm_scan")
        rise_ours = ours.stat_scan - ours.stat_scan.min("norm_scan")
        np.testing.assert_allclose(rise_theirs[sl], rise_ours[sl], rtol=1e-6, atol=1e-6)
        assert theirs.is_ul.dtype == bool
    dnde = gx.read_flux_points(DATA / "gammapy_flux_points_dnde.ecsv")
    np.testing.assert_allclose(
        (dnde.norm * dnde.ref_dnde)[:4], (ours.norm * ours.ref_dnde)[:4], rtol=3e-3
    )


def test_gadf_dloglike_scan_and_missing_sed_type(tmp_path):
    table = Table(
        {
            "e_min": [1.0, 3.0], "e_max": [3.0, 10.0], "norm": [1.0, 2.0],
            "ref_dnde": [1e-11, 1e-12], "norm_scan": [[0.0, 1.0, 2.0]] * 2,
            "dloglike_scan": [[-1.0, 0.0, -1.0], [-2.0, -0.5, 0.0]],
        }
    )  # fmt: skip
    table["e_min"].unit = table["e_max"].unit = "GeV"
    table.write(tmp_path / "gadf.fits")
    fp = gx.read_flux_points(tmp_path / "gadf.fits")
    assert fp.attrs["sed_type_init"] == "likelihood"  # inferred from the norm column
    np.testing.assert_allclose(fp.energy_lo, [1e-3, 3e-3])
    np.testing.assert_allclose(fp.energy, np.sqrt([3e-6, 30e-6]))
    np.testing.assert_allclose(fp.stat_scan[0], [2.0, 0.0, 2.0])


def test_bad_files_raise_clear_errors(fp, tmp_path):
    with pytest.raises(FormatError, match="unknown suffix"):
        gx.write_flux_points(fp, tmp_path / "fp.txt")
    with pytest.raises(FormatError, match="sed_type"):
        gx.write_flux_points(fp, tmp_path / "fp.ecsv", sed_type="nufnu")
    with pytest.raises(DataFileError, match="no file"):
        gx.read_flux_points(tmp_path / "missing.ecsv")
    gx.write_flux_points(fp, tmp_path / "fp.ecsv")
    with pytest.raises(FormatError, match="exists"):
        gx.write_flux_points(fp, tmp_path / "fp.ecsv", overwrite=False)
    Table({"e_ref": [1.0], "counts": [3]}).write(tmp_path / "bad.ecsv")
    with pytest.raises(ColumnError, match="none of the columns"):
        gx.read_flux_points(tmp_path / "bad.ecsv")
    Table({"counts": [3], "norm": [1.0]}).write(tmp_path / "noenergy.ecsv")
    with pytest.raises(ColumnError, match="e_ref"):
        gx.read_flux_points(tmp_path / "noenergy.ecsv")
