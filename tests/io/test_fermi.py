"""Fermi-LAT WCS cubes and PSF tables: synthetic files, and the 3FHL Galactic-centre data."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from gammaxr.exceptions import FormatError
from gammaxr.io.fermi import read_fermi_cube, read_fermi_dataset, read_fermi_psf


def cube_header(n_lon=6, n_lat=4, *, ctype=("GLON-CAR", "GLAT-CAR"), crval2=0.0):
    header = fits.Header()
    header["CTYPE1"], header["CTYPE2"] = ctype
    header["CRPIX1"], header["CRVAL1"], header["CDELT1"] = (n_lon + 1) / 2, 10.0, -0.5
    header["CRPIX2"], header["CRVAL2"], header["CDELT2"] = (n_lat + 1) / 2, crval2, 0.5
    return header


def write_counts(path, data, **header_options):
    ebounds = fits.BinTableHDU.from_columns(
        [
            fits.Column("CHANNEL", "I", array=np.arange(1, data.shape[0] + 1)),
            fits.Column("E_MIN", "E", unit="keV", array=[1e7, 1e8][: data.shape[0]]),
            fits.Column("E_MAX", "E", unit="keV", array=[1e8, 1e9][: data.shape[0]]),
        ],
        name="EBOUNDS",
    )
    header = cube_header(data.shape[2], data.shape[1], **header_options)
    fits.HDUList([fits.PrimaryHDU(data, header=header), ebounds]).writeto(path)


def write_exposure(path, data):
    energies = fits.BinTableHDU.from_columns(
        [fits.Column("Energy", "D", array=np.geomspace(1e4, 1e6, data.shape[0]))],
        name="ENERGIES",
    )
    header = cube_header(data.shape[2], data.shape[1])
    fits.HDUList([fits.PrimaryHDU(data, header=header), energies]).writeto(path)


def test_counts_cube_axes_are_flipped_to_increasing_lon(tmp_path):
    data = np.arange(2 * 4 * 6, dtype=">i4").reshape(2, 4, 6)
    write_counts(tmp_path / "counts.fits", data)
    cube = read_fermi_cube(tmp_path / "counts.fits")
    assert cube.dims == ("energy", "lat", "lon") and cube.name == "counts"
    assert cube.lon.attrs["frame"] == "galactic"
    # CRVAL1 = 10 at the centre, CDELT1 = -0.5: pixel centres 11.25 ... 8.75, flipped
    np.testing.assert_allclose(cube.lon, [8.75, 9.25, 9.75, 10.25, 10.75, 11.25])
    np.testing.assert_allclose(cube.lat, [-0.75, -0.25, 0.25, 0.75])
    np.testing.assert_allclose(cube.lon_lo, cube.lon - 0.25)
    np.testing.assert_array_equal(cube.values, data[..., ::-1])
    assert cube.dtype.isnative
    np.testing.assert_allclose(cube.energy_lo, [0.01, 0.1])  # keV -> TeV
    np.testing.assert_allclose(cube.energy_hi, [0.1, 1.0])


def test_exposure_nodes_become_bins_centred_on_them(tmp_path):
    write_exposure(tmp_path / "exposure.fits", np.ones((3, 4, 6), dtype=">f4"))
    cube = read_fermi_cube(tmp_path / "exposure.fits")
    assert cube.dims == ("energy_true", "lat", "lon") and cube.attrs["units"] == "cm2 s"
    np.testing.assert_allclose(cube.energy_true, [0.01, 0.1, 1.0])  # MeV -> TeV
    np.testing.assert_allclose(cube.energy_true_lo, [0.01 / 10**0.5, 0.1 / 10**0.5, 10**-0.5])
    np.testing.assert_allclose(cube.energy_true_hi, [0.1 / 10**0.5, 10**-0.5, 10**0.5])


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"ctype": ("RA---TAN", "DEC--TAN")}, "CAR"),
        ({"crval2": 30.0}, "off the equator"),
    ],
)
def test_unsupported_grids_are_refused(tmp_path, options, match):
    write_counts(tmp_path / "counts.fits", np.zeros((1, 4, 6), dtype=">i4"), **options)
    with pytest.raises(FormatError, match=match):
        read_fermi_cube(tmp_path / "counts.fits")


def test_a_cube_without_energy_table_is_refused(tmp_path):
    fits.PrimaryHDU(np.zeros((1, 4, 6)), header=cube_header()).writeto(tmp_path / "x.fits")
    with pytest.raises(FormatError, match="EBOUNDS or ENERGIES"):
        read_fermi_cube(tmp_path / "x.fits")


@pytest.mark.requires_data
def test_fermi_3fhl_galactic_centre(data_dir):
    folder = data_dir / "fermi-3fhl-gc"
    ds = read_fermi_dataset(
        folder / "fermi-3fhl-gc-counts-cube.fits.gz",
        folder / "fermi-3fhl-gc-exposure-cube.fits.gz",
        background=folder / "fermi-3fhl-gc-background-cube.fits.gz",
        psf=folder / "fermi-3fhl-gc-psf-cube.fits.gz",
    )
    assert ds.sizes == {"energy": 11, "lat": 200, "lon": 400, "energy_true": 12, "rad": 300}
    assert ds.attrs["frame"] == "galactic"
    np.testing.assert_allclose(ds.lon[[0, -1]], [-9.975, 9.975])
    np.testing.assert_allclose(ds.lat[[0, -1]], [-4.975, 4.975])
    np.testing.assert_allclose(ds.energy_lo[0], 0.01, rtol=1e-6)  # 10 GeV
    np.testing.assert_allclose(ds.energy_hi[-1], 0.5, rtol=1e-6)  # 500 GeV
    with fits.open(folder / "fermi-3fhl-gc-counts-cube.fits.gz") as hdul:
        raw = hdul[0].data
        assert int(ds.counts.sum()) == int(raw.sum())
        # the first FITS column is the largest longitude
        np.testing.assert_array_equal(ds.counts.values[:, :, -1], raw[:, :, 0])
    # the PSF at its own energies integrates to one over the sphere (up to 10 deg)
    psf = read_fermi_psf(folder / "fermi-3fhl-gc-psf-cube.fits.gz")
    rad = np.deg2rad(np.r_[psf.rad_lo.values[0], psf.rad_hi.values])
    annulus = 2 * np.pi * -np.diff(np.cos(rad))
    np.testing.assert_allclose((psf.values * annulus).sum(axis=1), 1.0, rtol=0.02)
    # interpolated to the exposure's nodes, which include the table's first energy
    np.testing.assert_allclose(ds.psf.isel(energy_true=0), psf.isel(energy_true=0), rtol=1e-9)
