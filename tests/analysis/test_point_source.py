"""The main job: a complete Crab analysis of the shipped runs, through the command line."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

import gammaxr as gx
from gammaxr.analysis import crab_config
from gammaxr.analysis.point_source import replace
from gammaxr.cli import app
from gammaxr.exceptions import ConfigError


@pytest.fixture(scope="module")
def crab_run(tmp_path_factory):
    output = tmp_path_factory.mktemp("crab-analysis")
    result = CliRunner().invoke(app, ["crab", "--output", str(output)])
    assert result.exit_code == 0, result.output
    return output, result.output


def test_outputs_written(crab_run):
    output, text = crab_run
    names = {p.name for p in output.iterdir()}
    expected = {
        "crab-spectrum-joint.nc", "crab-spectrum-stacked.nc", "crab-cube-stacked.nc",
        "crab-significance-map.nc", "crab-ts-map.nc", "crab-light-curve.nc",
        "crab-fit-1d.csv", "crab-fit-3d.csv", "crab-models-1d.yaml", "crab-models-3d.yaml",
        "crab-flux-points-1d.ecsv", "crab-flux-points-3d.ecsv", "crab-light-curve.csv",
        "crab-info.csv", "crab-summary.json", "crab-sed.png", "crab-light-curve.png",
        "crab-significance-map.png", "crab-ts-map.png",
    }  # fmt: skip
    assert expected <= names
    assert "H.E.S.S. DL3 public test data release 1" in text
    assert "files written to" in text


def test_numbers_are_physical(crab_run):
    output, _ = crab_run
    summary = json.loads((output / "crab-summary.json").read_text())
    assert summary["n_observations"] == 4
    assert "HESS DL3 DR1, H.E.S.S. collaboration, 2018" in summary["data_attribution"]
    one, three = summary["fit_1d"], summary["fit_3d"]
    assert one["success"] and three["success"]
    # the 1D (WStat, reflected regions) and 3D (Cash, FoV background) fits share the
    # same events but not the background estimate: their indices agree within errors
    both = np.hypot(one["index_err"], three["index_err"])
    assert abs(one["index"] - three["index"]) < 2 * both
    assert 2.4 < one["index"] < 2.9 and 3e-11 < one["amplitude"] < 6e-11
    assert summary["significance_1d"] > 20
    assert summary["max_significance"] > 15 and summary["max_ts_map_sqrt_ts"] > 15
    assert summary["light_curve_points"] == 4


def test_products_read_back(crab_run):
    output, _ = crab_run
    cube = gx.read_dataset(output / "crab-cube-stacked.nc")
    assert set(cube.counts.dims) == {"energy", "lat", "lon"}
    fp = gx.read_flux_points(output / "crab-flux-points-1d.ecsv")
    # flux points agree with the fitted model (norm = 1) within their errors
    ok = np.isfinite(fp.norm) & (fp.ts > 4)
    pulls = (fp.norm[ok] - 1) / fp.norm_err[ok]
    assert int(ok.sum()) >= 4
    assert float((pulls**2).sum()) < 3 * int(ok.sum())
    models = gx.read_models(output / "crab-models-3d.yaml")
    assert "crab" in models


def test_bad_settings():
    with pytest.raises(ConfigError, match="no settings"):
        replace(crab_config(), on_radius_deg=0.1)
