"""A complete point-source analysis, DL3 to DL5, in one call.

:func:`run_point_source_analysis` chains the package's steps for one target:

1. select the observations pointed within ``max_offset`` of the target;
2. reduce them to 1D on-off spectra (reflected regions; joint and stacked) and
   to a stacked 3D cube (FoV background normalised outside an exclusion
   region);
3. fit a power law: WStat on the stacked spectrum, Cash on the cube (point
   source + power law + background norm);
4. compute flux points (1D and 3D), a light curve per observation and the
   significance (excess) and TS maps of the cube;
5. write the datasets (NetCDF), fit results (CSV and model YAML), flux points
   and light curve (ECSV), maps (NetCDF) and plots (PNG) to a folder, and
   return a short summary.

:func:`crab_config` gives the settings for the Crab runs shipped with the
package; ``gammaxr crab`` runs it from the command line.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import astropy.units as u
import numpy as np
import pandas as pd
import xarray as xr
from astropy.coordinates import SkyCoord
from regions import CircleSkyRegion

from gammaxr.axes import energy_axis, make_geom, sky_grid
from gammaxr.data.store import DataStore, open_datastore
from gammaxr.estimators.summary import info_table
from gammaxr.exceptions import ConfigError
from gammaxr.fit import FitResult, fit
from gammaxr.fit.wstat import stack_on_off
from gammaxr.io.dataset_store import write_dataset
from gammaxr.io.models_yaml import write_models
from gammaxr.models import (
    FoVBackgroundModel,
    Models,
    PointSpatialModel,
    PowerLawSpectralModel,
    SkyModel,
)
from gammaxr.reduce import fit_fov_background, make_map_dataset, make_on_off_spectrum
from gammaxr.sky import region_mask
from gammaxr.stacking import concat_observations, stack

__all__ = ["AnalysisConfig", "AnalysisResult", "crab_config", "run_point_source_analysis"]


@dataclass(frozen=True)
class AnalysisConfig:
    """Settings of :func:`run_point_source_analysis`.

    Attributes
    ----------
    name : str
        Source name (model and file names).
    ra, dec : float
        Target position, deg (ICRS).
    max_offset : float
        Observations pointed within this distance of the target are used, deg.
    on_radius : float
        Radius of the 1D on region, deg.
    exclusion_radius : float
        Radius around the target excluded from the background estimates, deg.
    energy_range : tuple of float
        Reco energy range of the datasets, TeV.
    bins_per_decade : int
        Reco energy bins per decade of the datasets.
    true_energy_range : tuple of float
        True energy range, TeV (wider than the reco range).
    map_width, map_binsz : float
        Side and pixel size of the 3D cube, deg.
    flux_point_edges : tuple of float
        Energy edges of the flux points, TeV (snapped to dataset bin edges).
    light_curve_range : tuple of float
        Energy range of the light curve, TeV.
    correlation_radius : float
        Radius of the significance map's top-hat correlation, deg.
    safe_mask : tuple of str
        Safe-mask methods of the reduction.
    """

    name: str
    ra: float
    dec: float
    max_offset: float = 2.5
    on_radius: float = 0.11
    exclusion_radius: float = 0.3
    energy_range: tuple[float, float] = (0.5, 50.0)
    bins_per_decade: int = 8
    true_energy_range: tuple[float, float] = (0.3, 100.0)
    map_width: float = 3.0
    map_binsz: float = 0.02
    flux_point_edges: tuple[float, ...] = (0.7, 1.0, 2.0, 4.0, 10.0, 30.0)
    light_curve_range: tuple[float, float] = (0.7, 30.0)
    correlation_radius: float = 0.1
    safe_mask: tuple[str, ...] = ("aeff-default", "offset-max")

    @property
    def position(self) -> SkyCoord:
        """The target as a SkyCoord (ICRS)."""
        return SkyCoord(self.ra, self.dec, unit="deg")


def crab_config() -> AnalysisConfig:
    """Settings for the H.E.S.S. Crab runs shipped with the package."""
    return AnalysisConfig(name="crab", ra=83.633, dec=22.014)


@dataclass
class AnalysisResult:
    """What :func:`run_point_source_analysis` made (also written to ``output``).

    Attributes
    ----------
    spectrum_joint, spectrum_stacked, cube : xarray.Dataset
        The reduced datasets.
    fit_1d, fit_3d : FitResult
        The power-law fits (WStat on the stacked spectrum; Cash on the cube).
    flux_points_1d, flux_points_3d, light_curve : xarray.Dataset
        Science products.
    significance_map, ts_map : xarray.Dataset
        Maps of the cube.
    info : pandas.DataFrame
        Per-observation on-off summary.
    files : list of Path
        Everything written.
    timings : dict
        Wall time of each step, s.
    attribution : str or None
        The attribution the data's licence asks for (H.E.S.S. DR1), also
        written to the summary file.
    """

    spectrum_joint: xr.Dataset
    spectrum_stacked: xr.Dataset
    cube: xr.Dataset
    fit_1d: FitResult
    fit_3d: FitResult
    flux_points_1d: xr.Dataset
    flux_points_3d: xr.Dataset
    light_curve: xr.Dataset
    significance_map: xr.Dataset
    ts_map: xr.Dataset
    info: pd.DataFrame
    files: list[Path] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    attribution: str | None = None

    def summary(self) -> str:
        """A few lines for the terminal: data, fits, products, files."""
        return _summary(self)


def _geometry(config: AnalysisConfig, *, sky: bool) -> xr.Dataset:
    reco = energy_axis(*config.energy_range, per_decade=config.bins_per_decade)
    true = energy_axis(*config.true_energy_range, per_decade=2 * config.bins_per_decade,
                       name="energy_true")  # fmt: skip
    if not sky:
        return make_geom(reco, true)
    grid = sky_grid(config.position, width=config.map_width, binsz=config.map_binsz)
    return make_geom(reco, true, sky=grid)


def _power_law_model(config: AnalysisConfig, *, spatial: bool) -> SkyModel:
    spectral = PowerLawSpectralModel(index=2.5, amplitude=3e-11)
    position = PointSpatialModel(lon_0=config.ra, lat_0=config.dec) if spatial else None
    return SkyModel(spectral, position, name=config.name)


def reduce_spectra(
    observations: list, config: AnalysisConfig, exclusion: xr.DataArray
) -> tuple[xr.Dataset, xr.Dataset]:
    """Per-observation on-off spectra (reflected regions): the joint and the stacked form."""
    region = CircleSkyRegion(config.position, config.on_radius * u.deg)
    geom = _geometry(config, sky=False)
    spectra = [
        make_on_off_spectrum(obs, region, geom, exclusion_mask=exclusion,
                             safe_mask=list(config.safe_mask[:1]))
        for obs in observations
    ]  # fmt: skip
    joint = concat_observations(spectra).assign_attrs(name=f"{config.name}-1d")
    return joint, stack_on_off(joint).assign_attrs(name=f"{config.name}-1d")


def reduce_cube(observations: list, config: AnalysisConfig) -> xr.Dataset:
    """The stacked 3D dataset, each observation's background normalised off the target."""
    geom = _geometry(config, sky=True)
    exclusion = region_mask(CircleSkyRegion(config.position, config.exclusion_radius * u.deg),
                            geom)  # fmt: skip
    datasets = []
    for obs in observations:
        ds = make_map_dataset(obs, geom, safe_mask=list(config.safe_mask))
        ds = fit_fov_background(ds, exclusion)
        datasets.append(ds.drop_vars(["background_norm", "background_tilt", "background_fit_ok"]))
    return stack(concat_observations(datasets)).assign_attrs(name=f"{config.name}-3d")


def run_point_source_analysis(
    config: AnalysisConfig,
    output: str | Path,
    *,
    store: DataStore | None = None,
    plots: bool = True,
    log: Callable[[str], Any] | None = None,
) -> AnalysisResult:
    """Run the whole analysis of one point source and write its products.

    Parameters
    ----------
    config : AnalysisConfig
        Target and settings (:func:`crab_config` for the shipped Crab runs).
    output : str or Path
        Folder for the products (created; files in it are overwritten).
    store : DataStore, optional
        Where the observations come from (default: the shipped runs).
    plots : bool
        Also draw the PNG plots (needs matplotlib).
    log : callable, optional
        Called with a line of progress after each step (e.g. ``print``).

    Returns
    -------
    AnalysisResult
        The datasets, fits and products; ``result.summary()`` describes them.

    Raises
    ------
    ConfigError
        If no observation is pointed near the target.
    """
    from gammaxr.estimators import excess_map, flux_points, light_curve, ts_map

    say = log if log is not None else (lambda line: None)
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    store = open_datastore() if store is None else store
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def step(label: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[label] = now - clock
        clock = now
        say(f"{label}: {timings[label]:.1f} s")

    selected = store.select_cone(config.position, config.max_offset)
    observations = selected.observations()
    if not observations:
        raise ConfigError(
            f"no observation of the data store is pointed within {config.max_offset} deg "
            f"of {config.name} (ra {config.ra}, dec {config.dec})"
        )
    step(f"select {len(observations)} observations")

    cube = reduce_cube(observations, config)
    exclusion = region_mask(
        CircleSkyRegion(config.position, config.exclusion_radius * u.deg),
        sky_grid(config.position, width=2 * config.max_offset + 2, binsz=0.02),
    )
    joint, stacked = reduce_spectra(observations, config, exclusion)
    step("reduce (3D cube, 1D spectra)")

    info = info_table(joint)
    models_1d = Models([_power_law_model(config, spatial=False)])
    fit_1d = fit(stacked, models_1d)
    models_3d = Models(
        [_power_law_model(config, spatial=True), FoVBackgroundModel(cube.attrs["name"])]
    )
    fit_3d = fit(cube, models_3d)
    step("fit (1D WStat, 3D Cash)")

    edges = np.asarray(config.flux_point_edges)
    fp_1d = flux_points(stacked, fit_1d.models, config.name, edges)
    fp_3d = flux_points(cube, fit_3d.models, config.name, edges)
    lc = light_curve(joint, fit_1d.models, config.name, np.asarray(config.light_curve_range))
    step("flux points and light curve")

    sig = excess_map(cube, correlation_radius=config.correlation_radius)
    background_only = Models([m for m in fit_3d.models.values()
                              if isinstance(m, FoVBackgroundModel)])  # fmt: skip
    ts = ts_map(cube, background_only)
    step("significance and TS maps")

    result = AnalysisResult(
        spectrum_joint=joint, spectrum_stacked=stacked, cube=cube, fit_1d=fit_1d,
        fit_3d=fit_3d, flux_points_1d=fp_1d, flux_points_3d=fp_3d, light_curve=lc,
        significance_map=sig, ts_map=ts, info=info, timings=timings,
        attribution=store.attribution,
    )  # fmt: skip
    result.files = write_products(result, output, config, plots=plots)
    step("write products")
    return result


def write_products(
    result: AnalysisResult, output: Path, config: AnalysisConfig, *, plots: bool = True
) -> list[Path]:
    """Write the datasets, fits, products and plots of an analysis to ``output``."""
    from gammaxr.io.sed import write_flux_points

    name = config.name
    files: list[Path] = []

    def add(path: Path) -> None:
        files.append(path)

    for label, ds in (
        ("spectrum-joint", result.spectrum_joint),
        ("spectrum-stacked", result.spectrum_stacked),
        ("cube-stacked", result.cube),
        ("significance-map", result.significance_map),
        ("ts-map", result.ts_map),
        ("light-curve", result.light_curve),
    ):
        add(write_dataset(ds, output / f"{name}-{label}.nc"))
    for label, res in (("1d", result.fit_1d), ("3d", result.fit_3d)):
        table = output / f"{name}-fit-{label}.csv"
        res.parameters.to_csv(table)
        add(table)
        add(write_models(res.models, output / f"{name}-models-{label}.yaml"))
    for label, fp in (("1d", result.flux_points_1d), ("3d", result.flux_points_3d)):
        path = output / f"{name}-flux-points-{label}.ecsv"
        write_flux_points(fp, path)
        add(path)
    lc_table = output / f"{name}-light-curve.csv"
    result.light_curve.to_dataframe().to_csv(lc_table)
    add(lc_table)
    info = output / f"{name}-info.csv"
    result.info.to_csv(info)
    add(info)
    summary = output / f"{name}-summary.json"
    summary.write_text(json.dumps(_summary_numbers(result), indent=2) + "\n")
    add(summary)
    if plots:
        files.extend(_plots(result, output, config))
    return files


def _plots(result: AnalysisResult, output: Path, config: AnalysisConfig) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from gammaxr.plotting import plot_light_curve, plot_model_sed, plot_sed, plot_sky_map

    name, files = config.name, []
    on_region = CircleSkyRegion(config.position, config.on_radius * u.deg)

    fig, ax = plt.subplots(figsize=(6, 4.5))
    plot_sed(result.flux_points_1d, ax=ax, label="1D flux points")
    plot_sed(result.flux_points_3d, ax=ax, label="3D flux points")
    plot_model_sed(result.fit_1d.models[name].spectral, config.energy_range, ax=ax,
                   covariance=result.fit_1d.covariance, label="1D power law")  # fmt: skip
    ax.legend()
    files.append(_save(fig, output / f"{name}-sed.png"))

    fig, ax = plt.subplots(figsize=(6, 4))
    plot_light_curve(result.light_curve, ax=ax)
    files.append(_save(fig, output / f"{name}-light-curve.png"))

    for label, da in (
        ("significance-map", result.significance_map["sqrt_ts"]),
        ("ts-map", result.ts_map["sqrt_ts"]),
    ):
        fig, ax = plt.subplots(figsize=(5.5, 4.5))
        plot_sky_map(da.squeeze(drop=True), ax=ax, regions=[on_region])
        files.append(_save(fig, output / f"{name}-{label}.png"))
    return files


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def _parameter(res: FitResult, name: str) -> tuple[float, float]:
    row = res.parameters.loc[name]
    return float(row["value"]), float(row["error"])


def _summary_numbers(result: AnalysisResult) -> dict[str, Any]:
    name = next(iter(result.fit_1d.models))
    out: dict[str, Any] = {
        "n_observations": int(result.spectrum_joint.sizes["obs_id"]),
        "livetime_h": float(result.info["livetime"].sum() / 3600.0),
        "excess_1d": float(result.info["excess"].sum()),
        "significance_1d": float(_stacked_significance(result.spectrum_stacked)),
    }
    for label, res in (("1d", result.fit_1d), ("3d", result.fit_3d)):
        index, index_err = _parameter(res, f"{name}.spectral.index")
        amp, amp_err = _parameter(res, f"{name}.spectral.amplitude")
        out[f"fit_{label}"] = {
            "success": bool(res.success), "index": index, "index_err": index_err,
            "amplitude": amp, "amplitude_err": amp_err, "statistic": float(res.statistic),
        }  # fmt: skip
    sqrt_ts = result.significance_map["sqrt_ts"]
    out["max_significance"] = float(sqrt_ts.max())
    out["max_ts_map_sqrt_ts"] = float(result.ts_map["sqrt_ts"].max())
    out["flux_points_1d"] = int(np.isfinite(result.flux_points_1d["norm"]).sum())
    out["light_curve_points"] = int(result.light_curve.sizes.get("time", 0))
    out["timings_s"] = {k: round(v, 2) for k, v in result.timings.items()}
    if result.attribution is not None:
        out["data_attribution"] = result.attribution
    return out


def _stacked_significance(stacked: xr.Dataset) -> float:
    return float(info_table(stacked)["sqrt_ts"].iloc[0])


def _summary(result: AnalysisResult) -> str:
    numbers = _summary_numbers(result)
    lines = [
        f"{numbers['n_observations']} observations, {numbers['livetime_h']:.2f} h live time",
        f"1D: excess {numbers['excess_1d']:.0f} counts, significance "
        f"{numbers['significance_1d']:.1f} sigma",
    ]
    for label in ("1d", "3d"):
        f = numbers[f"fit_{label}"]
        lines.append(
            f"{label.upper()} power law ({'converged' if f['success'] else 'FAILED'}): index "
            f"{f['index']:.2f} +- {f['index_err']:.2f}, amplitude {f['amplitude']:.3g} +- "
            f"{f['amplitude_err']:.2g} cm-2 s-1 TeV-1 at 1 TeV"
        )
    lines.append(
        f"flux points: {numbers['flux_points_1d']} (1D); light curve: "
        f"{numbers['light_curve_points']} points; peak significance "
        f"{numbers['max_significance']:.1f} sigma, peak TS-map sqrt(TS) "
        f"{numbers['max_ts_map_sqrt_ts']:.1f}"
    )
    return "\n".join(lines)


def replace(config: AnalysisConfig, **changes: Any) -> AnalysisConfig:
    """A copy of ``config`` with some settings changed (checked against the fields)."""
    names = {f.name for f in dataclasses.fields(AnalysisConfig)}
    unknown = sorted(set(changes) - names)
    if unknown:
        raise ConfigError(f"AnalysisConfig has no settings {unknown}; it has {sorted(names)}")
    return dataclasses.replace(config, **changes)
