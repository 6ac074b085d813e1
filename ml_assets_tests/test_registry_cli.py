"""`ml-assets models`, `promote` and `rollback` against a registry filled by the training job."""

import json
from pathlib import Path

import mlflow
import pytest
import yaml
from mlflow.tracking import MlflowClient

from ml_assets.cli import main
from ml_assets.resources.champion_log import HISTORY_TAG
from ml_assets.spec import PipelineSpec
from ml_assets_tests.conftest import demo_config
from ml_assets_tests.training_support import TRAINING, spec_with_lake, train


@pytest.fixture(scope="module")
def registry_home(tmp_path_factory: pytest.TempPathFactory, landing_dir: Path,
                  ingested_lake: Path) -> tuple[PipelineSpec, Path]:
    """v1 of both segments (champions), then v2 of domestic on the same data (a challenger the gate keeps out)."""
    home = tmp_path_factory.mktemp("registry")
    spec = spec_with_lake(home, landing_dir, ingested_lake)
    assert train(spec).success
    assert train(spec, "domestic", "domestic").success
    config = home / "pipeline.yaml"
    config.write_text(yaml.safe_dump(demo_config(home, training=TRAINING), sort_keys=False))
    return spec, config


def table_rows(text: str) -> dict[str, str]:
    """Lines of a printed markdown table by their first cell (the version)."""
    return {line.split("|")[1].strip(): line for line in text.splitlines()
            if line.startswith("|") and line.split("|")[1].strip().isdigit()}


def champion(spec: PipelineSpec, segment: str) -> str:
    client = MlflowClient(tracking_uri=spec.tracking_uri)
    return str(client.get_model_version_by_alias(spec.registered_model_name(segment), "champion").version)


def test_models_lists_versions_with_metrics_aliases_window_and_run(
        registry_home: tuple[PipelineSpec, Path], capsys: pytest.CaptureFixture[str]) -> None:
    spec, config = registry_home
    assert main(["models", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    client = MlflowClient(tracking_uri=spec.tracking_uri)
    domestic, industrial = (table_rows(part) for part in out.split("utility_risk-industrial"))
    rows = domestic
    assert "champion" in rows["1"] and "challenger" in rows["2"]
    for version in ("1", "2"):
        tags = client.get_model_version(spec.registered_model_name("domestic"), version).tags
        assert tags["dagster_run_id"] in rows[version]
        assert tags["holdout_roc_auc"] in rows[version] and tags["baseline_roc_auc"] in rows[version]
        assert "2024-01-01..2024-03-31" in rows[version]
    assert "gate: first model" in rows["1"]
    assert list(industrial) == ["1"] and "challenger, champion" in industrial["1"]


def test_promote_then_rollback_move_the_champion_and_record_why(
        registry_home: tuple[PipelineSpec, Path], capsys: pytest.CaptureFixture[str]) -> None:
    spec, config = registry_home
    name = spec.registered_model_name("domestic")
    client = MlflowClient(tracking_uri=spec.tracking_uri)
    assert main(["promote", "--config", str(config), "--segment", "domestic", "--version", "2",
                 "--reason", "checked by hand on March invoices"]) == 0
    assert champion(spec, "domestic") == "2"
    tags = client.get_model_version(name, "2").tags
    assert (tags["champion_move"], tags["champion_reason"]) == ("promote", "checked by hand on March invoices")

    assert main(["rollback", "--config", str(config), "--segment", "domestic", "--reason", "complaints"]) == 0
    assert champion(spec, "domestic") == "1"
    assert "rolled back to v1 (reason: complaints)" in capsys.readouterr().out
    assert client.get_model_version(name, "1").tags["champion_reason"] == "complaints"
    history = json.loads(client.get_registered_model(name).tags[HISTORY_TAG])
    assert [(h["version"], h["move"]) for h in history] == [("1", "gate"), ("2", "promote"), ("1", "rollback")]
    assert history[1]["reason"] == "checked by hand on March invoices"

    assert main(["rollback", "--config", str(config), "--segment", "domestic", "--reason", "again"]) == 2
    assert "v1 is the first recorded champion" in capsys.readouterr().err
    assert champion(spec, "domestic") == "1"


def test_promote_refuses_unknown_versions_and_segments(
        registry_home: tuple[PipelineSpec, Path], capsys: pytest.CaptureFixture[str]) -> None:
    spec, config = registry_home
    assert main(["promote", "--config", str(config), "--segment", "industrial", "--version", "7", "--reason", "x"]) == 2
    assert "utility_risk-industrial has no version 7; versions: 1" in capsys.readouterr().err
    assert main(["rollback", "--config", str(config), "--segment", "domestik", "--reason", "x"]) == 2
    assert "'domestik' is not a segment of utility_risk; did you mean 'domestic'?" in capsys.readouterr().err
    assert champion(spec, "industrial") == "1"


def test_models_json_prints_every_version_with_the_contract_keys(
        registry_home: tuple[PipelineSpec, Path], capsys: pytest.CaptureFixture[str]) -> None:
    spec, config = registry_home
    assert main(["models", "--config", str(config), "--json"]) == 0
    objects = json.loads(capsys.readouterr().out)
    assert [(o["segment"], o["version"]) for o in objects] == [("domestic", "1"), ("domestic", "2"), ("industrial", "1")]
    contract = {"segment", "version", "aliases", "holdout_auc", "holdout_ece", "holdout_ece_raw", "calibration",
                "leakage_suspects"}
    client = MlflowClient(tracking_uri=spec.tracking_uri)
    for listed in objects:
        assert contract <= set(listed)
        name = spec.registered_model_name(listed["segment"])
        version = client.get_model_version(name, listed["version"])
        run = client.get_run(version.run_id)
        meta = mlflow.artifacts.load_dict(f"{run.info.artifact_uri}/scoring_meta.json")
        assert listed["holdout_auc"] == pytest.approx(run.data.metrics["holdout_roc_auc"], abs=1e-4)
        assert listed["holdout_ece"] == pytest.approx(run.data.metrics["holdout_ece"], abs=1e-4)
        assert listed["holdout_ece_raw"] == pytest.approx(run.data.metrics["holdout_raw_ece"], abs=1e-4)
        assert listed["calibration"] == meta["calibration"]["method"] in {"none", "sigmoid", "isotonic"}
        audit = mlflow.artifacts.load_dict(f"{run.info.artifact_uri}/leakage_audit.json")
        assert listed["leakage_suspects"] == audit["suspects"]
        assert listed["calibration"] == "none" or listed["holdout_ece"] != listed["holdout_ece_raw"]
    domestic = {o["version"]: o for o in objects if o["segment"] == "domestic"}
    assert domestic["1"]["aliases"] == ["champion"] and domestic["2"]["aliases"] == ["challenger"]
    assert domestic["2"]["gate_promoted"] is False and domestic["2"]["gate_margin"] == 0.005
    assert main(["models", "--config", str(config), "--json", "--segment", "industrial"]) == 0
    assert [o["segment"] for o in json.loads(capsys.readouterr().out)] == ["industrial"]
