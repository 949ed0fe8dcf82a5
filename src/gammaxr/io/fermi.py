"""Fermi-LAT binned data (DL4) in the WCS-FITS form of the Fermi Science Tools.

Reads the cubes that ``gtbin`` (counts), ``gtexpcube2`` (exposure), a
background model cube and ``gtpsf`` (PSF table) write, into a gammaxr map
dataset:

- **Counts / background cubes**: a primary image ``(energy, lat, lon)`` on a
  CAR grid with its reference on the equator (``CRVAL2 = 0``), and an
  ``EBOUNDS`` table (``E_MIN``, ``E_MAX``, keV unless a unit is given): reco
  energy bins.
- **Exposure cube**: the same grid, with an ``ENERGIES`` table (``Energy``, MeV):
  exposure at true-energy *nodes*. gammaxr's ``energy_true`` axis is binned:
  each node becomes a bin with log-midpoint edges (the outer edges half a log
  step beyond the first and last node, as Gammapy's node axes), holding the
  node's exposure. The unit is ``BUNIT`` or, when absent (as ``gtexpcube2``
  leaves it), ``cm2 s``.
- **PSF table**: ``PSF`` (``Energy`` MeV, ``Psf`` sr-1 per ``THETA.Theta`` deg)
  becomes ``psf(energy_true, rad)``, interpolated log-log in energy to the
  exposure's nodes (the grid folding needs), with ``rad`` bins whose centres
  are the theta nodes (edges at midpoints, from 0).

The pixel grid becomes the separable ``lon``/``lat`` grid of gammaxr
(increasing ``lon``: a negative ``CDELT1`` is flipped), in ``galactic``
(``GLON``/``GLAT``) or ``icrs`` (``RA``/``DEC``). Other projections, or CAR
grids whose reference is off the equator, are not lon/lat-separable and are
refused.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr
from astropy.io import fits

from gammaxr.axes import axis_from_edges, make_geom
from gammaxr.conventions import ENERGY, ENERGY_TRUE, LAT, LON, RAD
from gammaxr.exceptions import FormatError
from gammaxr.io._fits import column, find_hdu, open_fits

__all__ = ["read_fermi_cube", "read_fermi_dataset", "read_fermi_psf"]

_FRAMES = {("GLON", "GLAT"): "galactic", ("RA", "DEC"): "icrs"}


def _sky_axes(header: fits.Header, path: Path) -> tuple[xr.DataArray, xr.DataArray, str, bool]:
    """``lon``, ``lat`` axes, the frame and whether the lon axis is flipped."""
    ctype = (str(header.get("CTYPE1", "")), str(header.get("CTYPE2", "")))
    names = tuple(c.split("-")[0].strip() for c in ctype)
    if names not in _FRAMES or not all(c.endswith("-CAR") for c in ctype):
        raise FormatError(f"{path}: expected a CAR grid in GLON/GLAT or RA/DEC, got CTYPE {ctype}")
    if float(header.get("CRVAL2", 0.0)) != 0.0:
        raise FormatError(
            f"{path}: CAR grids with their reference off the equator (CRVAL2 = "
            f"{header['CRVAL2']}) are not lon/lat-separable; reproject the cube first"
        )
    if header.get("PC1_2", 0) or header.get("PC2_1", 0) or header.get("CROTA2", 0):
        raise FormatError(f"{path}: rotated WCS grids are not supported")
    axes = []
    for k in (1, 2):
        n = int(header[f"NAXIS{k}"])
        step = float(header[f"CDELT{k}"])
        first = float(header[f"CRVAL{k}"]) + (1 - float(header[f"CRPIX{k}"])) * step
        edges = first + step * (np.arange(n + 1) - 0.5)
        axes.append((edges, step < 0))
    (lon_edges, flipped), (lat_edges, lat_flipped) = axes
    if lat_flipped:
        raise FormatError(f"{path}: CDELT2 must be positive (latitude increasing)")
    frame = _FRAMES[names]
    lon = axis_from_edges(lon_edges[::-1] if flipped else lon_edges, name=LON, units="deg")
    lat = axis_from_edges(lat_edges, name=LAT, units="deg")
    for axis in (lon, lat):
        axis.coords[axis.name].attrs["frame"] = frame
    return lon, lat, frame, flipped


def _node_edges(nodes: np.ndarray) -> np.ndarray:
    """Edges of bins centred (in log) on ``nodes``: midpoints, half steps beyond the ends."""
    log = np.log(nodes)
    inner = 0.5 * (log[1:] + log[:-1])
    first = log[0] - 0.5 * (log[1] - log[0])
    last = log[-1] + 0.5 * (log[-1] - log[-2])
    return np.exp(np.concatenate([[first], inner, [last]]))


def read_fermi_cube(path: str | Path, *, name: str | None = None) -> xr.DataArray:
    """Read one Fermi WCS cube: counts or background (``EBOUNDS``) or exposure (``ENERGIES``).

    Parameters
    ----------
    path : str or Path
        FITS file with the cube in the primary HDU.
    name : str, optional
        Name of the DataArray (default: ``counts`` with ``EBOUNDS``, ``exposure``
        with ``ENERGIES``).

    Returns
    -------
    xarray.DataArray
        ``(energy, lat, lon)`` with ``EBOUNDS`` (units from ``BUNIT``, else
        ``""``), or ``(energy_true, lat, lon)`` with ``ENERGIES`` (units from
        ``BUNIT``, else ``cm2 s``); float32 values as stored, ``lon``
        increasing; attrs ``frame``.

    Raises
    ------
    FormatError
        If the file has no energy table, or a grid that is not a CAR grid on
        the equator.
    """
    path = Path(path)
    with open_fits(path) as hdul:
        header = hdul[0].header
        data = np.asarray(hdul[0].data)
        lon, lat, frame, flipped = _sky_axes(header, path)
        names = [hdu.name for hdu in hdul]
        if "EBOUNDS" in names:
            hdu = find_hdu(hdul, "EBOUNDS", path=path)
            where = f"{path}[EBOUNDS]"
            lo = column(hdu, "E_MIN", where=where, unit="TeV", default_unit="keV")
            hi = column(hdu, "E_MAX", where=where, unit="TeV", default_unit="keV")
            axis = axis_from_edges(np.append(lo, hi[-1]), name=ENERGY, units="TeV", interp="log")
            default_units, default_name = str(header.get("BUNIT", "")), "counts"
        elif "ENERGIES" in names:
            hdu = find_hdu(hdul, "ENERGIES", path=path)
            where = f"{path}[ENERGIES]"
            nodes = column(hdu, "Energy", where=where, unit="TeV", default_unit="MeV")
            axis = axis_from_edges(_node_edges(nodes), name=ENERGY_TRUE, units="TeV", interp="log")
            default_units, default_name = str(header.get("BUNIT", "cm2 s")), "exposure"
        else:
            raise FormatError(f"{path}: no EBOUNDS or ENERGIES table: not a Fermi cube")
    if data.shape != (axis.size, lat.size, lon.size):
        raise FormatError(
            f"{path}: cube shape {data.shape} does not match the axes "
            f"({axis.size}, {lat.size}, {lon.size})"
        )
    data = data.astype(data.dtype.newbyteorder("="), copy=False)
    if flipped:
        data = data[..., ::-1]
    geom = make_geom(
        axis, sky=xr.Dataset(coords={**lat.coords, **lon.coords}, attrs={"frame": frame})
    )
    return xr.DataArray(
        np.ascontiguousarray(data),
        dims=(axis.name, LAT, LON),
        coords=geom.coords,
        name=name or default_name,
        attrs={"units": default_units},
    )


def read_fermi_psf(path: str | Path, energy_true: xr.DataArray | None = None) -> xr.DataArray:
    """Read a ``gtpsf`` PSF table as ``psf(energy_true, rad)`` in sr-1.

    Parameters
    ----------
    path : str or Path
        FITS file with ``PSF`` (``Energy``, ``Psf``) and ``THETA`` (``Theta``) tables.
    energy_true : xarray.DataArray, optional
        A binned ``energy_true`` axis (TeV) to interpolate the PSF to (log-log
        in energy, at the bin centres; held at the table's ends). Default: the
        table's energies as nodes (bins with log-midpoint edges).

    Returns
    -------
    xarray.DataArray
        ``psf(energy_true, rad)``, float64, units ``sr-1``; ``rad`` bins centred
        on the theta nodes.
    """
    path = Path(path)
    with open_fits(path) as hdul:
        table = find_hdu(hdul, "PSF", path=path)
        where = f"{path}[PSF]"
        energy = column(table, "Energy", where=where, unit="TeV", default_unit="MeV")
        values = np.asarray(column(table, "Psf", where=where), dtype=float)
        theta_hdu = find_hdu(hdul, "THETA", path=path)
        theta = column(theta_hdu, "Theta", where=f"{path}[THETA]", unit="deg", default_unit="deg")
    if values.shape != (energy.size, theta.size):
        raise FormatError(
            f"{path}: Psf has shape {values.shape}, expected ({energy.size}, {theta.size})"
        )
    rad_edges = np.concatenate(
        [[0.0], 0.5 * (theta[1:] + theta[:-1]), [theta[-1] + 0.5 * (theta[-1] - theta[-2])]]
    )
    rad = axis_from_edges(rad_edges, name=RAD, units="deg")
    rad = rad.assign_coords({RAD: (RAD, theta, {"units": "deg"})})
    if energy_true is None:
        energy_true = axis_from_edges(
            _node_edges(energy), name=ENERGY_TRUE, units="TeV", interp="log"
        )
        table_values = values
    else:
        centres = np.asarray(energy_true[ENERGY_TRUE].values, dtype=float)
        log_e = np.log(energy)
        with np.errstate(divide="ignore"):
            log_psf = np.log(values)
        position = np.clip(np.log(centres), log_e[0], log_e[-1])
        upper = np.clip(np.searchsorted(log_e, position, side="right"), 1, energy.size - 1)
        weight = ((position - log_e[upper - 1]) / (log_e[upper] - log_e[upper - 1]))[:, None]
        with np.errstate(invalid="ignore"):
            table_values = np.exp((1 - weight) * log_psf[upper - 1] + weight * log_psf[upper])
        table_values = np.nan_to_num(table_values)
    return xr.DataArray(
        table_values,
        dims=(ENERGY_TRUE, RAD),
        coords={**{k: v for k, v in energy_true.coords.items()}, **rad.coords},
        name="psf",
        attrs={"units": "sr-1"},
    )


def read_fermi_dataset(
    counts: str | Path,
    exposure: str | Path,
    *,
    background: str | Path | None = None,
    psf: str | Path | None = None,
    name: str = "fermi",
) -> xr.Dataset:
    """A gammaxr map dataset from Fermi-LAT counts, exposure, background and PSF files.

    Parameters
    ----------
    counts, exposure : str or Path
        Counts cube (``EBOUNDS``) and exposure cube (``ENERGIES``) on the same grid.
    background : str or Path, optional
        Background model cube (predicted counts, ``EBOUNDS``), e.g. the
        Galactic diffuse and isotropic models folded by the Science Tools.
    psf : str or Path, optional
        ``gtpsf`` table, interpolated to the exposure's true energies.
    name : str
        ``attrs["name"]`` of the dataset.

    Returns
    -------
    xarray.Dataset
        ``counts(energy, lat, lon)``, ``exposure(energy_true, lat, lon)``,
        optional ``background`` and ``psf(energy_true, rad)``; no ``edisp``
        (folding then uses the diagonal response: each true-energy bin goes to
        the reco bin holding its centre) and no masks. Attrs ``name``,
        ``frame``, ``telescope``.

    Raises
    ------
    FormatError
        If a file is not a Fermi cube or the grids differ.

    Examples
    --------
    >>> from gammaxr.io.fermi import read_fermi_dataset
    >>> ds = read_fermi_dataset(  # doctest: +SKIP
    ...     "fermi-3fhl-gc-counts-cube.fits.gz", "fermi-3fhl-gc-exposure-cube.fits.gz",
    ...     background="fermi-3fhl-gc-background-cube.fits.gz",
    ...     psf="fermi-3fhl-gc-psf-cube.fits.gz",
    ... )
    """
    cubes = {"counts": read_fermi_cube(counts, name="counts"),
             "exposure": read_fermi_cube(exposure, name="exposure")}  # fmt: skip
    if ENERGY not in cubes["counts"].dims:
        raise FormatError(f"{counts}: the counts cube needs an EBOUNDS table")
    if ENERGY_TRUE not in cubes["exposure"].dims:
        raise FormatError(f"{exposure}: the exposure cube needs an ENERGIES table")
    if background is not None:
        cubes["background"] = read_fermi_cube(background, name="background")
        cubes["background"].attrs["units"] = ""
    for key, cube in cubes.items():
        for dim in (LAT, LON):
            if not np.allclose(cube[dim].values, cubes["counts"][dim].values, atol=1e-9):
                raise FormatError(f"{key}: its sky grid differs from the counts cube's")
        if (
            cube.attrs.get("frame", cube[LON].attrs.get("frame"))
            != cubes["counts"][LON].attrs["frame"]
        ):
            raise FormatError(f"{key}: its frame differs from the counts cube's")
    variables: dict[str, xr.DataArray] = {
        key: cube.assign_coords({d: cubes["counts"].coords[d] for d in cubes["counts"].coords
                                 if d in cube.coords and cube.coords[d].dims[0] in (LAT, LON)})
        for key, cube in cubes.items()
    }  # fmt: skip
    if psf is not None:
        variables["psf"] = read_fermi_psf(psf, cubes["exposure"][ENERGY_TRUE])
    frame = str(cubes["counts"][LON].attrs["frame"])
    return xr.Dataset(variables, attrs={"name": name, "frame": frame, "telescope": "Fermi-LAT"})
