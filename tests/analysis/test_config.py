"""The YAML analysis configuration and the ``gammaxr config`` / ``gammaxr run`` commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from gammaxr.analysis import (
    AnalysisConfig,
    RunConfig,
    config_from_dict,
    crab_config,
    read_config,
    write_config,
)
from gammaxr.cli import app
from gammaxr.exceptions import ConfigError

runner = CliRunner()


def test_write_read_round_trip(tmp_path):
    config = RunConfig(crab_config(), data_store=Path("/data/store"), output=Path("/out"))
    path = write_config(config, tmp_path / "crab.yaml")
    assert path.read_text().startswith("# gammaxr point-source analysis")
    assert read_config(path) == config


def test_defaults_fill_missing_settings_and_output_follows_name(tmp_path):
    path = tmp_path / "pks.yaml"
    path.write_text("analysis: {name: pks2155, ra: 329.717, dec: -30.226}\n")
    config = read_config(path)
    assert config.analysis == AnalysisConfig(name="pks2155", ra=329.717, dec=-30.226)
    assert config.data_store is None
    assert config.output == tmp_path / "pks2155-analysis"
    assert config.plots is True


def test_relative_paths_are_relative_to_the_file(tmp_path):
    (tmp_path / "sub").mkdir()
    path = tmp_path / "sub" / "a.yaml"
    path.write_text(
        "data_store: ../store\noutput: products\nanalysis: {name: a, ra: 1.0, dec: 2.0}\n"
    )
    config = read_config(path)
    assert config.data_store == tmp_path / "sub" / ".." / "store"
    assert config.output == tmp_path / "sub" / "products"


def test_yaml_types_are_coerced():
    config = config_from_dict(
        {"analysis": {"name": "a", "ra": "83.6", "dec": 22, "energy_range": [1, 10]}}
    )
    assert config.analysis.ra == 83.6
    assert config.analysis.energy_range == (1.0, 10.0)
    assert isinstance(config.analysis.energy_range, tuple)


@pytest.mark.parametrize(
    ("values", "match"),
    [
        ({"analysis": {"name": "a", "ra": 1, "dec": 1}, "extra": 1}, r"extra: Extra inputs"),
        ({"analysis": {"name": "a", "ra": 1, "dec": 1, "radius": 1}}, r"analysis\.radius"),
        ({"analysis": {"name": "a", "ra": "east", "dec": 1}}, r"analysis\.ra: Input should"),
        ({"analysis": {"name": "a", "dec": 1}}, r"analysis\.ra: Field required"),
        ({"plots": "sometimes", "analysis": {"name": "a", "ra": 1, "dec": 1}}, r"plots"),
        ({"analysis": {"name": "a", "ra": 1, "dec": 91}}, r"analysis\.dec must be within"),
        (
            {"analysis": {"name": "a", "ra": 1, "dec": 1, "energy_range": [10, 1]}},
            r"analysis\.energy_range must be >= 2 increasing",
        ),
        (
            {"analysis": {"name": "a", "ra": 1, "dec": 1, "energy_range": [0.1, 10]}},
            r"within analysis\.true_energy_range",
        ),
        (
            {"analysis": {"name": "a", "ra": 1, "dec": 1, "flux_point_edges": [1]}},
            r"analysis\.flux_point_edges",
        ),
        ({"analysis": {"name": "a", "ra": 1, "dec": 1, "on_radius": 0}}, r"on_radius must be"),
        (
            {"analysis": {"name": "a", "ra": 1, "dec": 1, "safe_mask": ["aeff-min"]}},
            r"unknown methods \['aeff-min'\]",
        ),
        (
            {"analysis": {"name": "a", "ra": 1, "dec": 1, "map_binsz": 4.0}},
            r"map_binsz \(4.0 deg\) must be smaller",
        ),
        (["not", "a", "mapping"], r"expected a mapping"),
    ],
)
def test_bad_settings_are_refused_by_name(values, match):
    with pytest.raises(ConfigError, match=r"^my\.yaml: .*" + match):
        config_from_dict(values, source="my.yaml")


def test_unreadable_files_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match=r"nowhere\.yaml: cannot read"):
        read_config(tmp_path / "nowhere.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("analysis: [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: not valid YAML"):
        read_config(bad)


def test_cli_config_then_run(tmp_path):
    """``gammaxr config`` writes a file that ``gammaxr run`` runs (a small, fast cube)."""
    path = tmp_path / "crab.yaml"
    result = runner.invoke(app, ["config", str(path)])
    assert result.exit_code == 0, result.output
    values = yaml.safe_load(path.read_text())
    assert values["analysis"]["name"] == "crab"
    assert values["output"] == "crab-analysis"
    values["analysis"].update(map_width=1.0, map_binsz=0.05)
    path.write_text(yaml.safe_dump(values))
    result = runner.invoke(app, ["run", str(path), "--no-plots"])
    assert result.exit_code == 0, result.output
    assert "HESS DL3 DR1, H.E.S.S. collaboration, 2018" in result.output
    output = tmp_path / "crab-analysis"
    summary = json.loads((output / "crab-summary.json").read_text())
    assert summary["n_observations"] == 4
    assert not list(output.glob("*.png"))
    fit_1d, fit_3d = summary["fit_1d"], summary["fit_3d"]
    assert fit_1d["success"] and fit_3d["success"]
    combined_error = (fit_1d["index_err"] ** 2 + fit_3d["index_err"] ** 2) ** 0.5
    assert abs(fit_1d["index"] - fit_3d["index"]) < 2 * combined_error


def test_cli_run_reports_bad_config(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("analysis: {name: a, ra: 1, dec: 1, colour: blue}\n")
    result = runner.invoke(app, ["run", str(path)])
    assert result.exit_code == 1
    assert "analysis.colour" in result.output
