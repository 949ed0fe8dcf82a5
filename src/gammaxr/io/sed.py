"""Flux points as files: GADF SED tables (ECSV, FITS) and NetCDF / Zarr.

The table layout is the *SED* format of the gamma-astro-data-formats (GADF)
specification, as Gammapy writes and reads it: one row per energy bin with
``e_ref``, ``e_min``, ``e_max`` (TeV), the header keyword ``SED_TYPE``
(``likelihood``, ``dnde``, ``e2dnde``, ``flux`` or ``eflux``) and ``UL_CONF``,
the confidence level of the ``*_ul`` column, which Gammapy writes as ``1 - 2
sf(n_sigma_ul)`` (0.9545 for the limit at a rise of 4); gammaxr writes and reads
it the same way, to and from ``attrs["n_sigma_ul"]``. A ``likelihood`` table
holds the norms (``norm``, ``norm_err``, ``norm_errn``, ``norm_errp``,
``norm_ul``), the reference model (``ref_dnde``, ``ref_flux``, ``ref_eflux``),
``ts``, ``sqrt_ts``, ``counts``, ``npred``, ``npred_excess`` (2D columns of
one dataset: the layout Gammapy reads), ``stat``, ``stat_null``, ``success``
and, with a likelihood scan, the 2D columns ``norm_scan`` and ``stat_scan``.
The other SED types hold ``<type>``, ``<type>_err``, ``<type>_errn``,
``<type>_errp`` and ``<type>_ul``.

gammaxr also stores its Dataset attributes and unit strings as JSON in the
keyword ``GX_META``, so that a ``likelihood`` table reads back identical
(NetCDF and Zarr go through :func:`gammaxr.write_dataset`). Tables written by
other tools read into the same Dataset form: a ``dnde``, ``e2dnde``, ``flux``
or ``eflux`` table gets as reference a :class:`TemplateSpectralModel` through
its own values (log-log interpolation), so its norms are 1 where the values
are measured; a GADF ``dloglike_scan`` column becomes ``stat_scan = -2 *
dloglike_scan``; a 2D ``counts`` or ``npred`` (one column per dataset, as
Gammapy writes them) is summed over datasets.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import astropy.units as u
import numpy as np
import scipy.special
import xarray as xr
from astropy.table import Table

from gammaxr.conventions import ENERGY, parse_unit
from gammaxr.exceptions import ColumnError, DataFileError, FormatError

__all__ = ["read_flux_points", "write_flux_points"]

_META_KEY = "GX_META"
_TABLE_FORMATS = {".ecsv": "ascii.ecsv", ".fits": "fits", ".fit": "fits", ".fits.gz": "fits"}
_NETCDF = (".nc", ".zarr")
_NORMS = ("norm", "norm_err", "norm_errn", "norm_errp", "norm_ul")
_OTHER = ("ts", "sqrt_ts", "stat", "stat_null", "counts", "npred", "npred_excess")
_REFS = ("ref_dnde", "ref_flux", "ref_eflux")
_PER_DATASET = ("counts", "npred", "npred_excess")


def _suffix(path: Path) -> str:
    name = path.name.lower()
    return ".fits.gz" if name.endswith(".fits.gz") else path.suffix.lower()


def write_flux_points(
    fp: xr.Dataset,
    path: str | os.PathLike[str],
    *,
    sed_type: str = "likelihood",
    overwrite: bool = True,
) -> Path:
    """Write flux points to an ECSV or FITS SED table, or to NetCDF / Zarr.

    Parameters
    ----------
    fp : xarray.Dataset
        Flux points (:func:`gammaxr.estimators.flux_points`).
    path : str or path-like
        ``.ecsv``, ``.fits`` (``.fit``, ``.fits.gz``): a GADF SED table;
        ``.nc`` / ``.zarr``: :func:`gammaxr.write_dataset` (every variable).
    sed_type : {"likelihood", "dnde", "e2dnde", "flux", "eflux"}
        SED type of a table (``likelihood`` keeps everything and reads back
        identical; the others hold the converted values, see
        :func:`gammaxr.estimators.sed_quantities`).
    overwrite : bool
        Replace an existing file.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    FormatError
        For an unknown suffix or ``sed_type``, or an existing file without
        ``overwrite``.
    """
    path = Path(path)
    suffix = _suffix(path)
    if path.exists() and not overwrite:
        raise FormatError(f"write_flux_points: {path} exists (pass overwrite=True)")
    if suffix in _NETCDF:
        from gammaxr.io.dataset_store import write_dataset

        return Path(write_dataset(fp, path))  # (replaces an existing store)
    if suffix not in _TABLE_FORMATS:
        raise FormatError(
            f"write_flux_points: unknown suffix {suffix!r} of {path}; use one of "
            f"{sorted(_TABLE_FORMATS) + list(_NETCDF)}"
        )
    table = to_table(fp, sed_type=sed_type)
    if _TABLE_FORMATS[suffix] == "fits":
        from astropy.io import fits

        hdu = fits.table_to_hdu(table)
        hdu.name = "FLUXPOINTS"
        fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path, overwrite=True)
    else:
        table.write(path, format="ascii.ecsv", overwrite=True)
    return path


def to_table(fp: xr.Dataset, *, sed_type: str = "likelihood") -> Table:
    """Flux points as an astropy Table in the GADF SED layout (see the module docs)."""
    from gammaxr.estimators.flux_points import SED_TYPES, sed_quantities

    if sed_type not in SED_TYPES:
        raise FormatError(f"sed_type must be one of {list(SED_TYPES)}, got {sed_type!r}")
    if ENERGY not in fp.dims or f"{ENERGY}_lo" not in fp.coords:
        raise FormatError("to_table: flux points need an 'energy' dim with energy_lo/energy_hi")
    table = Table()
    for column, coord in (("e_ref", ENERGY), ("e_min", "energy_lo"), ("e_max", "energy_hi")):
        table[column] = u.Quantity(fp[coord].to_numpy(), _unit(fp[coord].attrs, "TeV"))
    units: dict[str, str] = {}
    if sed_type == "likelihood":
        names = [n for n in (*_REFS, "ref_e2dnde", *_NORMS) if n in fp]
        values = fp
    else:
        values = sed_quantities(fp, sed_type)
        names = [n for n in values.data_vars if not n.startswith("ref_")]
    names += [n for n in (*_OTHER, "is_ul", "success") if n in fp and n not in names]
    for name in names:
        da = values[name] if name in values else fp[name]
        unit = da.attrs.get("units")
        if unit is not None:
            units[name] = unit
        data = da.to_numpy()
        if name in _PER_DATASET:  # one column per dataset, as Gammapy writes (and expects)
            data = data.reshape(-1, 1)
        table[name] = u.Quantity(data, parse_unit(unit)) if unit and da.dtype.kind == "f" else data
    if sed_type == "likelihood" and "stat_scan" in fp:
        scan = fp["norm_scan"].to_numpy()
        table["norm_scan"] = np.broadcast_to(scan, (fp.sizes[ENERGY], scan.size))
        table["stat_scan"] = fp["stat_scan"].transpose(ENERGY, "norm_scan").to_numpy()
    table.meta["SED_TYPE"] = sed_type
    if "n_sigma_ul" in fp.attrs:  # Gammapy's convention: 1 - 2 sf(n_sigma_ul)
        conf = 1.0 - 2.0 * scipy.special.ndtr(-float(fp.attrs["n_sigma_ul"]))  # 1 - 2 sf
        table.meta["UL_CONF"] = float(np.round(conf, 7))
    coord_attrs = {name: dict(fp[name].attrs) for name in fp.coords}
    meta = {"attrs": dict(fp.attrs), "units": units, "coords": coord_attrs,
            "dtypes": {n: str(fp[n].dtype) for n in fp.data_vars}}  # fmt: skip
    table.meta[_META_KEY] = json.dumps(meta, default=_json_default)
    return table


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot store {type(value).__name__} in the table metadata")


def _unit(attrs: dict, default: str) -> u.UnitBase:
    return parse_unit(attrs.get("units") or default)


def read_flux_points(path: str | os.PathLike[str]) -> xr.Dataset:
    """Read flux points from a GADF SED table (ECSV, FITS) or NetCDF / Zarr.

    Parameters
    ----------
    path : str or path-like
        ``.ecsv`` or ``.fits`` (``.fit``, ``.fits.gz``; the ``FLUXPOINTS`` HDU,
        else the first table) in the SED layout of any ``SED_TYPE``, or a
        ``.nc`` / ``.zarr`` store written by :func:`write_flux_points`.

    Returns
    -------
    xarray.Dataset
        The form of :func:`gammaxr.estimators.flux_points`: norms, the
        reference quantities, and whatever else the table holds (see the
        module documentation for tables of other SED types).

    Raises
    ------
    DataFileError
        If the file does not exist.
    FormatError, ColumnError
        For an unknown suffix, a table without energies or values, or an
        unknown ``SED_TYPE``.
    """
    path = Path(path)
    if not path.exists():
        raise DataFileError(f"read_flux_points: no file {path}")
    suffix = _suffix(path)
    if suffix in _NETCDF:
        from gammaxr.io.dataset_store import read_dataset

        return read_dataset(path).load()
    if suffix not in _TABLE_FORMATS:
        raise FormatError(f"read_flux_points: unknown suffix {suffix!r} of {path}")
    if _TABLE_FORMATS[suffix] == "fits":
        from astropy.io import fits

        with fits.open(path) as hdus:
            names = [h.name for h in hdus]
            hdu = "FLUXPOINTS" if "FLUXPOINTS" in names else None
            if hdu is None:
                tables = [i for i, h in enumerate(hdus) if isinstance(h, fits.BinTableHDU)]
                if not tables:
                    raise FormatError(f"read_flux_points: {path} holds no table HDU")
                hdu = tables[0]
        table = Table.read(path, hdu=hdu, format="fits")
    else:
        table = Table.read(path, format="ascii.ecsv")
    return from_table(table, where=str(path))


def from_table(table: Table, *, where: str = "<table>") -> xr.Dataset:
    """Flux points from an astropy Table in the GADF SED layout (see :func:`read_flux_points`)."""
    meta = {str(k).upper(): v for k, v in table.meta.items()}
    stored = json.loads(meta[_META_KEY]) if _META_KEY in meta else None
    sed_type = str(meta.get("SED_TYPE") or _infer_sed_type(table, where))
    energy, lo, hi = _energies(table, where)
    coords = {
        ENERGY: (ENERGY, energy, {"units": "TeV", "interp": "log"}),
        f"{ENERGY}_lo": (ENERGY, lo, {"units": "TeV"}),
        f"{ENERGY}_hi": (ENERGY, hi, {"units": "TeV"}),
    }
    variables: dict[str, Any] = {}
    from gammaxr.estimators.flux_points import SED_TYPES, SED_UNITS

    if sed_type not in SED_TYPES:
        raise FormatError(f"{where}: unknown SED_TYPE {sed_type!r}; expected one of {SED_TYPES}")
    if sed_type == "likelihood":
        if "norm" not in table.colnames:
            raise ColumnError(f"{where}: a likelihood SED needs a 'norm' column")
        for name in _NORMS:
            if name in table.colnames:
                variables[name] = (ENERGY, _float(table[name]), {"units": ""})
        for name in (*_REFS, "ref_e2dnde"):
            if name in table.colnames:
                target = SED_UNITS[name[4:]]
                variables[name] = (ENERGY, _float(table[name], target), {"units": target})
        if "ref_dnde" in variables and "ref_e2dnde" not in variables:
            ref_e2dnde = variables["ref_dnde"][1] * energy**2
            variables["ref_e2dnde"] = (ENERGY, ref_e2dnde, {"units": SED_UNITS["e2dnde"]})
    else:
        variables.update(_from_sed_values(table, sed_type, energy, lo, hi, where))
    for name in _OTHER:
        if name in table.colnames:
            values = np.asarray(table[name])
            if values.ndim == 2:  # one column per dataset (Gammapy): the total
                values = values.sum(axis=1)
            variables[name] = (ENERGY, values.astype(float), {"units": ""})
    for name in ("is_ul", "success"):
        if name in table.colnames:
            variables[name] = (ENERGY, np.asarray(table[name], dtype=bool))
    scan_coords = _scan(table, variables)
    coords.update(scan_coords)
    attrs = _attrs(meta, sed_type)
    ds = xr.Dataset(variables, coords=coords, attrs=attrs)
    if stored is not None:
        ds = _restore(ds, stored)
    return ds


def _restore(ds: xr.Dataset, stored: dict) -> xr.Dataset:
    """Put back the attrs, unit strings and dtypes that gammaxr wrote."""
    ds.attrs = dict(stored.get("attrs", ds.attrs))
    for name, unit in stored.get("units", {}).items():
        if name in ds and ds[name].attrs.get("units") != unit:
            factor = 1.0
            if ds[name].dtype.kind == "f" and ds[name].attrs.get("units") is not None:
                factor = float(parse_unit(ds[name].attrs["units"]).to(parse_unit(unit)))
            ds[name] = (ds[name] * factor).assign_attrs(units=unit)
        elif name in ds:
            ds[name].attrs["units"] = unit
    for name, attrs in stored.get("coords", {}).items():
        if name in ds.coords:
            ds[name].attrs = dict(attrs)
    for name, dtype in stored.get("dtypes", {}).items():
        if name in ds and str(ds[name].dtype) != dtype:
            ds[name] = ds[name].astype(dtype)
    return ds


def _float(column: Any, unit: str | None = None) -> np.ndarray:
    if unit is not None and getattr(column, "unit", None) is not None:
        return np.asarray(u.Quantity(column).to_value(parse_unit(unit)), dtype=float)
    return np.asarray(column, dtype=float)


def _infer_sed_type(table: Table, where: str) -> str:
    for name in ("norm", "dnde", "e2dnde", "flux", "eflux"):
        if name in table.colnames:
            return "likelihood" if name == "norm" else name
    raise ColumnError(
        f"{where}: no SED_TYPE keyword and none of the columns norm, dnde, e2dnde, flux, eflux"
    )


def _energies(table: Table, where: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    names = table.colnames
    lo = _float(table["e_min"], "TeV") if "e_min" in names else None
    hi = _float(table["e_max"], "TeV") if "e_max" in names else None
    ref = _float(table["e_ref"], "TeV") if "e_ref" in names else None
    if ref is None and (lo is None or hi is None):
        raise ColumnError(f"{where}: needs e_ref, or e_min and e_max (TeV)")
    if ref is None:
        ref = np.sqrt(lo * hi)
    if lo is None or hi is None:  # edges half-way (in log) between the reference energies
        log_ref = np.log(ref)
        if ref.size > 1:
            inner = 0.5 * (log_ref[1:] + log_ref[:-1])
            first = log_ref[0] - (inner[0] - log_ref[0])
            last = log_ref[-1] + (log_ref[-1] - inner[-1])
            log_edges = np.concatenate([[first], inner, [last]])
        else:
            log_edges = log_ref[0] + np.array([-0.5, 0.5]) * np.log(10) / 10
        lo, hi = np.exp(log_edges[:-1]), np.exp(log_edges[1:])
    return ref, lo, hi


def _from_sed_values(table, sed_type, energy, lo, hi, where) -> dict[str, Any]:
    """Norms and reference quantities for a dnde / e2dnde / flux / eflux table."""
    from gammaxr.estimators.flux_points import SED_UNITS
    from gammaxr.models.spectral_table import TemplateSpectralModel

    unit = SED_UNITS[sed_type]
    if sed_type not in table.colnames:
        raise ColumnError(f"{where}: SED_TYPE {sed_type!r} but no {sed_type!r} column")
    values = _float(table[sed_type], unit)
    upper = _float(table[f"{sed_type}_ul"], unit) if f"{sed_type}_ul" in table.colnames else None
    # the reference: a template through the values (or the limits where no value)
    approx = values if upper is None else np.where(np.isfinite(values) & (values > 0),
                                                   values, upper)  # fmt: skip
    to_dnde = {
        "dnde": np.ones_like(energy),
        "e2dnde": 1.0 / energy**2,
        "flux": 1.0 / (hi - lo),
        "eflux": 1.0 / ((hi - lo) * energy),
    }[sed_type]
    dnde = approx * to_dnde
    good = np.isfinite(dnde) & (dnde > 0)
    if not good.any():
        raise FormatError(f"{where}: no positive {sed_type} value to build a reference from")
    template = TemplateSpectralModel(energy[good], dnde[good])
    reference = {
        "dnde": np.asarray(template(energy), float),
        "flux": np.asarray(template.integral(lo, hi), float),
        "eflux": np.asarray(template.energy_flux(lo, hi), float),
    }
    reference["e2dnde"] = reference["dnde"] * energy**2
    out: dict[str, Any] = {}
    for suffix in ("", "_err", "_errn", "_errp", "_ul"):
        column = f"{sed_type}{suffix}"
        if column in table.colnames:
            out[f"norm{suffix}"] = (ENERGY, _float(table[column], unit) / reference[sed_type],
                                    {"units": ""})  # fmt: skip
    for name, values_ref in reference.items():
        out[f"ref_{name}"] = (ENERGY, values_ref, {"units": SED_UNITS[name]})
    return out


def _scan(table: Table, variables: dict[str, Any]) -> dict[str, Any]:
    names = table.colnames
    if "norm_scan" not in names:
        return {}
    norms = np.asarray(table["norm_scan"], dtype=float)
    if "stat_scan" in names:
        stat = np.asarray(table["stat_scan"], dtype=float)
    elif "dloglike_scan" in names:
        stat = -2.0 * np.asarray(table["dloglike_scan"], dtype=float)
    else:
        return {}
    if norms.ndim == 2 and not np.allclose(norms, norms[:1], rtol=1e-12, atol=0):
        variables["norm_scan_values"] = ((ENERGY, "norm_scan"), norms, {"units": ""})
        variables["stat_scan"] = ((ENERGY, "norm_scan"), stat, {"units": ""})
        return {}
    variables["stat_scan"] = ((ENERGY, "norm_scan"), stat, {"units": ""})
    return {"norm_scan": ("norm_scan", np.atleast_2d(norms)[0], {"units": ""})}


def _attrs(meta: dict[str, Any], sed_type: str) -> dict[str, Any]:
    attrs: dict[str, Any] = {"sed_type_init": sed_type}
    if "UL_CONF" in meta:  # Gammapy's convention: UL_CONF = 1 - 2 sf(n_sigma_ul)
        conf = float(meta["UL_CONF"])
        attrs["n_sigma_ul"] = float(np.round(-scipy.special.ndtri((1.0 - conf) / 2.0), 6))
    for key in ("N_SIGMA", "N_SIGMA_UL"):
        if key in meta:
            attrs[key.lower()] = float(meta[key])
    return attrs
