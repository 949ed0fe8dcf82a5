"""The ``gammaxr`` command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from gammaxr.data.store import DataStore, example_data_path, open_datastore
from gammaxr.exceptions import GammaxrError

__all__ = ["app", "main", "observation_summary"]

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="gammaxr: gamma-ray astronomy analysis on pandas and xarray.",
)


def _echo_attribution(store: DataStore) -> None:
    """Print the attribution the store's data licence asks for (H.E.S.S. DR1), if any."""
    if store.attribution is not None:
        typer.echo(f"Data: {store.attribution}")

OBS_COLUMNS = [
    "obs_id", "object", "ra_pnt", "dec_pnt", "zen_pnt", "livetime", "event_count",
]  # fmt: skip


def observation_summary(store: DataStore) -> pd.DataFrame:
    """One row per observation: events, live time, pointing and the IRFs present.

    Reads each observation's events and IRF headers (the IRF data too, to
    check that they load).

    Returns
    -------
    pandas.DataFrame
        Columns ``obs_id``, ``n_events``, ``livetime`` (s), ``ra_pnt``,
        ``dec_pnt``, ``alt_pnt``, ``az_pnt`` (deg), ``gti`` (number of
        intervals) and ``irfs`` (IRF classes, comma separated).
    """
    rows = []
    for obs in store.observations():
        events = obs.events
        pointing = obs.pointing
        irfs = [irf.attrs["hdu_class"] for irf in obs.irfs.values()]
        rows.append(
            {
                "obs_id": obs.obs_id,
                "n_events": len(events),
                "livetime": round(obs.livetime, 1),
                "ra_pnt": round(pointing.ra, 3),
                "dec_pnt": round(pointing.dec, 3),
                "alt_pnt": round(pointing.alt, 2),
                "az_pnt": round(pointing.az, 2),
                "gti": len(events.attrs["gti"]),
                "irfs": ",".join(irfs),
            }
        )
    return pd.DataFrame(rows)


@app.command()
def info(
    path: Annotated[
        Path | None,
        typer.Argument(help="Data store folder (obs-index + hdu-index); default: shipped data."),
    ] = None,
) -> None:
    """Print the observation table and a per-run summary of a GADF data store."""
    try:
        store = open_datastore(path)
    except GammaxrError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(code=1) from err
    where = path if path is not None else example_data_path()
    typer.echo(f"Data store: {where}  ({len(store.obs_table)} observations)")
    _echo_attribution(store)
    columns = [c for c in OBS_COLUMNS if c in store.obs_table]
    with pd.option_context("display.width", 200, "display.max_rows", 500):
        typer.echo("\nObservation table:")
        typer.echo(store.obs_table[columns].to_string(index=False))
        try:
            summary = observation_summary(store)
        except GammaxrError as err:
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(code=1) from err
        typer.echo("\nPer-run summary:")
        typer.echo(summary.to_string(index=False))
    typer.echo(
        f"\nTotal: {summary['n_events'].sum()} events, "
        f"{summary['livetime'].sum() / 3600:.2f} h live time"
    )


@app.command()
def crab(
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Folder for the products.")
    ] = Path("crab-analysis"),
    data: Annotated[
        Path | None,
        typer.Option(help="Data store folder; default: the shipped H.E.S.S. Crab runs."),
    ] = None,
    plots: Annotated[bool, typer.Option(help="Draw the PNG plots.")] = True,
) -> None:
    """Run a complete Crab analysis (1D and 3D) and write its products to OUTPUT."""
    from gammaxr.analysis import crab_config, run_point_source_analysis

    try:
        store = open_datastore(data)
        _echo_attribution(store)
        result = run_point_source_analysis(
            crab_config(), output, store=store, plots=plots, log=typer.echo
        )
    except GammaxrError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(code=1) from err
    typer.echo("\n" + result.summary())
    typer.echo(f"\n{len(result.files)} files written to {output}/")


@app.command("config")
def write_config_file(
    path: Annotated[Path, typer.Argument(help="The YAML file to write.")] = Path("analysis.yaml"),
    name: Annotated[str, typer.Option(help="Source name.")] = "crab",
    ra: Annotated[float, typer.Option(help="Target right ascension, deg (ICRS).")] = 83.633,
    dec: Annotated[float, typer.Option(help="Target declination, deg (ICRS).")] = 22.014,
    data: Annotated[
        Path | None,
        typer.Option(help="Data store folder; default: the shipped H.E.S.S. Crab runs."),
    ] = None,
) -> None:
    """Write a point-source analysis configuration (every setting, its default) to PATH."""
    from gammaxr.analysis.config import RunConfig, write_config
    from gammaxr.analysis.point_source import AnalysisConfig

    try:
        analysis = AnalysisConfig(name=name, ra=ra, dec=dec)
        config = RunConfig(analysis, data_store=data, output=Path(f"{name}-analysis"))
        write_config(config, path)
    except (GammaxrError, OSError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(code=1) from err
    typer.echo(f"wrote {path}; edit it, then: gammaxr run {path}")


@app.command()
def run(
    config: Annotated[Path, typer.Argument(help="YAML configuration (see: gammaxr config).")],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Folder for the products (overrides the file)."),
    ] = None,
    plots: Annotated[
        bool | None, typer.Option(help="Draw the PNG plots (overrides the file).")
    ] = None,
) -> None:
    """Run the point-source analysis a YAML configuration describes."""
    from gammaxr.analysis import run_point_source_analysis
    from gammaxr.analysis.config import read_config

    try:
        settings = read_config(config)
        store = open_datastore(settings.data_store)
        _echo_attribution(store)
        output = output if output is not None else settings.output
        result = run_point_source_analysis(
            settings.analysis,
            output,
            store=store,
            plots=settings.plots if plots is None else plots,
            log=typer.echo,
        )
    except GammaxrError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(code=1) from err
    typer.echo("\n" + result.summary())
    typer.echo(f"\n{len(result.files)} files written to {output}/")


@app.callback()
def _root() -> None:
    """Gamma-ray astronomy analysis on pandas and xarray."""


def main() -> None:
    """Entry point of the ``gammaxr`` command."""
    app()
