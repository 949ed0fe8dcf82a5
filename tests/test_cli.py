from typer.testing import CliRunner

import gammaxr as gx
from gammaxr.cli import app, observation_summary

runner = CliRunner()


def test_info_on_shipped_data_prints_tables_and_attribution():
    result = runner.invoke(app, ["info"])
    assert result.exit_code == 0, result.output
    assert "HESS DL3 DR1, H.E.S.S. collaboration, 2018" in result.output
    for obs_id in ("23523", "23526", "23559", "23592"):
        assert obs_id in result.output
    assert "aeff_2d,edisp_2d,psf_table,bkg_3d" in result.output
    assert "Total: 30129 events" in result.output


def test_info_with_path_argument():
    result = runner.invoke(app, ["info", str(gx.example_data_path())])
    assert result.exit_code == 0, result.output
    assert "4 observations" in result.output


def test_info_reports_missing_store_cleanly(tmp_path):
    result = runner.invoke(app, ["info", str(tmp_path / "nowhere")])
    assert result.exit_code == 1
    assert "data store folder not found" in result.output


def test_observation_summary_matches_obs_index(crab_store):
    summary = observation_summary(crab_store)
    expected = crab_store.obs_table.set_index("obs_id")["event_count"]
    assert summary.set_index("obs_id")["n_events"].to_dict() == expected.to_dict()
    assert (summary["gti"] == 1).all()
