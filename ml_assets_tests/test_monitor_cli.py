"""`ml-assets monitor` on a real run of the graph (six months of demo data, models trained as of June 30 on
January 18 to April 16): per segment and day the version, drift, estimated and realized performance, in-sample."""

import json
from pathlib import Path

import pytest
import yaml

from ml_assets.cli import main
from ml_assets.core.data import lake
from ml_assets.core.monitoring.estimation import expected_roc_auc
from ml_assets.runner import RunSummary
from ml_assets.spec import PipelineSpec
from ml_assets_tests.conftest import demo_config

KEYS = ["segment", "date", "model_version", "drift_severity", "drifted_features", "estimated_auc",
        "estimated_default_rate", "realized_auc", "realized_default_rate", "in_sample"]


@pytest.fixture(scope="module")
def config(graph_run: tuple[PipelineSpec, RunSummary]) -> Path:
    """The graph run's config as a file in its home (so its paths resolve to the same lake)."""
    spec, _ = graph_run
    path = spec.base_dir / "monitor.yaml"
    path.write_text(yaml.safe_dump(demo_config(spec.base_dir, training={"window_days": 90, "holdout_days": 14,
                                                                         "min_auc": 0.55})))
    return path


def monitor_json(config: Path, capsys: pytest.CaptureFixture[str], *args: str) -> dict[tuple[str, str], dict]:
    assert main(["monitor", "--config", str(config), "--json", *args]) == 0
    return {(row["segment"], row["date"]): row for row in json.loads(capsys.readouterr().out)}


def stored_predictions(spec: PipelineSpec, first: str, last: str, segment: str):
    keys = [key for key in lake.stored_keys(spec.lake_dir, "predictions", "date") if first <= key <= last]
    rows = lake.read_frames([lake.partition_dir(spec.lake_dir, "predictions", "date", key) for key in keys])
    return rows[rows["model_segment"] == segment]


def test_monitor_json_has_every_day_with_the_public_keys(graph_run, config: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    rows = monitor_json(config, capsys)
    assert all(list(row) == KEYS for row in rows.values())
    assert {day for segment, day in rows if segment == "domestic"} == {
        key for key in lake.stored_keys(graph_run[0].lake_dir, "predictions", "date")}
    latest = rows[("domestic", "2024-06-30")]
    assert latest["model_version"] == "1" and latest["drift_severity"] == "high" and "amount" in latest["drifted_features"]
    assert latest["realized_auc"] is None and latest["realized_default_rate"] is None, "labels mature in September"
    assert 0.5 < latest["estimated_auc"] < 1 and 0 < latest["estimated_default_rate"] < 0.5
    assert latest["in_sample"] is False, "June lies after the training window"


def test_monitor_shows_realized_beside_estimated_once_labels_mature(graph_run, config: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    spec, _ = graph_run
    rows = monitor_json(config, capsys, "--segment", "domestic", "--start", "2024-01-10", "--end", "2024-03-01")
    assert {segment for segment, _ in rows} == {"domestic"}
    assert min(day for _, day in rows) == "2024-01-10" and max(day for _, day in rows) == "2024-03-01"
    before = rows[("domestic", "2024-01-10")]  # cohort December 28 to January 10: January 1..10 were scored
    cohort = stored_predictions(spec, "2024-01-01", "2024-01-10", "domestic")
    assert before["in_sample"] is False, "before the training window (January 18 on)"
    assert before["realized_default_rate"] == pytest.approx(cohort["defaulted"].mean())
    assert before["estimated_default_rate"] == pytest.approx(cohort["score"].mean())
    assert before["estimated_auc"] == pytest.approx(expected_roc_auc(cohort["score"].to_numpy()))
    inside = rows[("domestic", "2024-03-01")]
    assert inside["in_sample"] is True and inside["realized_auc"] is not None


def test_monitor_prints_a_table_per_segment_and_refuses_an_unknown_segment(
        config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["monitor", "--config", str(config), "--start", "2024-06-29", "--end", "2024-06-30"]) == 0
    out = capsys.readouterr().out
    assert "segment domestic" in out and "segment industrial" in out and "2024-06-30" in out and "2024-06-28" not in out
    assert main(["monitor", "--config", str(config), "--segment", "domestik"]) == 2
    assert "did you mean 'domestic'?" in capsys.readouterr().err
