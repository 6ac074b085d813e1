"""The training job end to end on a real SQLite MLflow store: what it logs, registers and refuses to promote."""

import json
from dataclasses import replace
from pathlib import Path

import dagster as dg
import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from ml_assets.core.data import lake
from ml_assets.core.data.fingerprint import data_fingerprint
from ml_assets.core.scoring.scores import model_scores
from ml_assets.core.scoring.similar import CONTRIBUTIONS_ATTR, build_index
from ml_assets.core.training.calibration import NO_CALIBRATION
from ml_assets.core.training.record import (
    SCHEMA_VERSION,
    ModelRecord,
    ScoringMeta,
    TrainingWindow,
    UnknownSchemaVersion,
)
from ml_assets.resources.champion_log import HISTORY_TAG
from ml_assets.resources.registry import (
    FINGERPRINT_FILE,
    META_FILE,
    PROFILE_DIR,
    REFERENCE_FILE,
    SIMILAR_FILE,
    ModelRegistry,
)
from ml_assets.spec import PipelineSpec
from ml_assets_tests.training_support import (
    INGEST_FIRST,
    INGEST_LAST,
    TRAINING,
    shuffle_training_labels,
    spec_with_lake,
    train,
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, landing_dir: Path, ingested_lake: Path):
    """Both segments trained once on 2024-01-01..2024-03-31."""
    spec = spec_with_lake(tmp_path_factory.mktemp("trained"), landing_dir, ingested_lake)
    result = train(spec)
    assert result.success
    return spec, result


def record_of(spec: PipelineSpec, asset: str, segment: str) -> dict:
    return lake.read_partition(lake.partition_dir(spec.lake_dir, asset, "segment", segment))


def test_version_tags_name_the_run_window_and_metrics(trained) -> None:
    spec, result = trained
    client = MlflowClient(tracking_uri=spec.tracking_uri)
    for segment in spec.segment_names:
        name = spec.registered_model_name(segment)
        tags = client.get_model_version(name, "1").tags
        assert tags["dagster_run_id"] == result.run_id
        assert (tags["window_first"], tags["window_last"]) == (INGEST_FIRST.isoformat(), INGEST_LAST.isoformat())
        record = record_of(spec, "segment_model", segment)
        assert float(tags["holdout_roc_auc"]) == pytest.approx(record["metrics"]["roc_auc"], abs=1e-4)
        assert float(tags["baseline_roc_auc"]) == pytest.approx(record["baseline_metrics"]["roc_auc"], abs=1e-4)
        assert tags["champion_move"] == "gate" and tags["champion_reason"].startswith("first model")
        history = json.loads(client.get_registered_model(name).tags[HISTORY_TAG])
        assert [(h["version"], h["move"]) for h in history] == [("1", "gate")]


def test_data_fingerprint_is_logged(trained) -> None:
    spec, _ = trained
    client = MlflowClient(tracking_uri=spec.tracking_uri)
    frame = lake.read_partition(lake.partition_dir(spec.lake_dir, "training_set", "segment", "domestic"))
    expected = data_fingerprint(frame, spec.dataset.date, spec.dataset.target).as_dict()
    run_id = record_of(spec, "segment_model", "domestic")["run_id"]
    logged = mlflow.artifacts.load_dict(f"{client.get_run(run_id).info.artifact_uri}/{FINGERPRINT_FILE}")
    assert {k: logged[k] for k in expected} == expected
    assert logged["partitions_used"] == 91 and len(logged["partitions"]) == 91
    assert client.get_run(run_id).data.params["data_hash"] == expected["hash"]


def test_version_run_holds_its_references_and_the_similar_reference_names_its_method(trained) -> None:
    spec, _ = trained
    registry = ModelRegistry(tracking_uri=spec.tracking_uri)
    client = MlflowClient(tracking_uri=spec.tracking_uri)
    for segment in spec.segment_names:
        record = record_of(spec, "segment_model", segment)
        assert client.get_model_version(record["model_name"], record["version"]).run_id == record["run_id"]
        logged = {item.path for item in client.list_artifacts(record["run_id"])}
        assert {REFERENCE_FILE, SIMILAR_FILE, PROFILE_DIR, META_FILE, FINGERPRINT_FILE} <= logged
        model = registry.load(record["model_name"], record["version"])
        similar = registry.similar_reference(model)
        assert similar.attrs[CONTRIBUTIONS_ATTR] == "approx"
        assert build_index(similar, spec.dataset, spec.scoring.similar_customers).method == "approx"
        assert registry.reference_profile(model).numeric["score"].rows == record["metrics"]["rows"]


def test_model_has_signature_and_an_input_example_that_serves(trained) -> None:
    """The categorical column is served as its vocabulary code, so MLflow's pyfunc can score the example."""
    spec, _ = trained
    name = spec.registered_model_name("domestic")
    model_uri = f"models:/{name}/1"
    previous_uri = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(spec.tracking_uri)
    try:
        info = mlflow.models.get_model_info(model_uri)
        example = mlflow.models.Model.load(model_uri).load_input_example(mlflow.artifacts.download_artifacts(model_uri))
        served = mlflow.pyfunc.load_model(model_uri).predict(example)
    finally:
        mlflow.set_tracking_uri(previous_uri)
    assert [c["name"] for c in info.signature.inputs.to_dict()] == spec.feature_columns()
    assert info.saved_input_example_info["type"] == "dataframe"
    assert list(example.columns) == spec.feature_columns() and example["region"].dtype == "float64"
    loaded = ModelRegistry(tracking_uri=spec.tracking_uri).load(name, "1")
    raw = model_scores(loaded.booster, example, replace(loaded.meta, calibration=NO_CALIBRATION))
    np.testing.assert_allclose(served, raw, rtol=1e-6)
    calibration = record_of(spec, "segment_model", "domestic")["calibration"]
    assert calibration["requested"] == "auto" and loaded.meta.calibration.as_dict() == calibration


def test_scoring_meta_round_trips_through_the_registry(trained) -> None:
    """The typed scoring metadata segment_model logs is what the registry's loader gives back, field by field."""
    spec, _ = trained
    registry = ModelRegistry(tracking_uri=spec.tracking_uri)
    client = MlflowClient(tracking_uri=spec.tracking_uri)
    for segment in spec.segment_names:
        record = record_of(spec, "segment_model", segment)
        loaded = registry.load(record["model_name"], record["version"]).meta
        logged = mlflow.artifacts.load_dict(f"{client.get_run(record['run_id']).info.artifact_uri}/{META_FILE}")
        assert logged["schema_version"] == SCHEMA_VERSION and ScoringMeta.from_document(logged) == loaded
        assert loaded.to_document() == logged
        assert loaded.segment == segment and loaded.holdout_metrics == pytest.approx(record["metrics"])
        assert loaded.window == TrainingWindow(INGEST_FIRST, INGEST_LAST)
        assert loaded.data_hash == record["window"]["fingerprint"]
        assert loaded.calibration.as_dict() == record["calibration"]
        assert loaded.feature_names == spec.feature_columns()


def test_model_record_is_stored_typed_and_versioned(trained) -> None:
    """segment_model's stored record reads back as a ModelRecord and writes the same document again."""
    spec, _ = trained
    for segment in spec.segment_names:
        stored = record_of(spec, "segment_model", segment)
        record = ModelRecord.from_document(stored)
        assert stored["schema_version"] == SCHEMA_VERSION and record.to_document() == stored
        assert record.window == TrainingWindow(INGEST_FIRST, INGEST_LAST) and record.version == "1"
    with pytest.raises(UnknownSchemaVersion, match="has schema_version 0, this ml_assets reads schema_version 1"):
        ModelRecord.from_document({**stored, "schema_version": 0})


def test_registered_model_reproduces_the_holdout_metrics(trained) -> None:
    spec, _ = trained
    for segment in spec.segment_names:
        record = record_of(spec, "model_evaluation", segment)
        assert record["evaluation"]["roc_auc"] == pytest.approx(record["metrics"]["roc_auc"])
        assert record["evaluation"]["ece"] == pytest.approx(record["metrics"]["ece"])
        assert record["raw_metrics"]["roc_auc"] == pytest.approx(record["metrics"]["roc_auc"])


def test_evaluation_reports_threshold_lift_confusion_and_shap(trained) -> None:
    spec, _ = trained
    record = record_of(spec, "model_evaluation", "domestic")
    evaluation, confusion, lift = record["evaluation"], record["confusion"], pd.DataFrame(record["lift"])
    assert sum(confusion.values()) == evaluation["rows"]
    flagged = confusion["tp"] + confusion["fp"]
    assert evaluation["precision_at_threshold"] == pytest.approx(confusion["tp"] / flagged if flagged else 0.0)
    assert evaluation["recall_at_threshold"] == pytest.approx(confusion["tp"] / (confusion["tp"] + confusion["fn"]))
    assert evaluation["decision_threshold"] == spec.training.decision_threshold == 0.3
    assert lift["decile"].tolist() == list(range(1, 11)) and lift["rows"].sum() == evaluation["rows"]
    assert lift.loc[0, "lift"] > 2 > lift.loc[9, "lift"], "the top decile holds far more defaults than the bottom"
    assert lift["cumulative_gain"].iloc[-1] == pytest.approx(1.0)
    assert Path(record["plots"]["SHAP summary"]).read_bytes()[:4] == b"\x89PNG"
    client = MlflowClient(tracking_uri=spec.tracking_uri)
    artifacts = {a.path for a in client.list_artifacts(record["run_id"], "evaluation")}
    expected = {"shap_summary.png", "lift_by_decile.csv", "confusion_matrix.json", "roc.png", "calibration.png"}
    assert {f"evaluation/{name}" for name in expected} <= artifacts


def test_leakage_audit_is_its_own_step_after_registration_and_before_the_evaluation(trained) -> None:
    """leakage_suspects runs after segment_model (the version is registered without waiting for it) and before
    model_evaluation, on each segment's own partition: its WARN result, the run artifact, the run and version tags
    and model_evaluation's table hold the same audit."""
    spec, result = trained
    order = [(event.event_type_value, event.step_key) for event in result.all_events
             if event.event_type_value in ("STEP_START", "STEP_SUCCESS")]
    [check_step] = {key for _, key in order if key.endswith("leakage_suspects")}
    assert (order.index(("STEP_SUCCESS", "segment_model")) < order.index(("STEP_START", check_step))
            < order.index(("STEP_SUCCESS", check_step)) < order.index(("STEP_START", "model_evaluation")))
    [evaluation] = [e for e in result.get_asset_check_evaluations() if e.check_name == "leakage_suspects"]
    assert evaluation.severity == dg.AssetCheckSeverity.WARN
    suspects = evaluation.metadata["suspects"].value
    assert evaluation.passed == (not any(suspects.values())) and set(suspects) == set(spec.segment_names)
    client = MlflowClient(tracking_uri=spec.tracking_uri)
    for segment in spec.segment_names:
        record = record_of(spec, "segment_model", segment)
        audit = mlflow.artifacts.load_dict(f"{client.get_run(record['run_id']).info.artifact_uri}/leakage_audit.json")
        assert audit["holdout_auc"] == pytest.approx(record["raw_metrics"]["roc_auc"]), "the segment's own partition"
        assert audit["suspects"] == suspects[segment] and "leakage" not in record
        assert json.loads(client.get_model_version(record["model_name"], record["version"]).tags["leakage_suspects"]) \
            == suspects[segment] == json.loads(client.get_run(record["run_id"]).data.tags["leakage_suspects"])
        assert sum(f["drop_cost"] is not None for f in audit["features"]) == spec.training.leakage.refit_top
        assert record_of(spec, "model_evaluation", segment)["leakage"] == audit


@pytest.mark.parametrize("fraction", [1.0, 0.85])
def test_challenger_trained_on_shuffled_labels_is_not_promoted(tmp_path: Path, landing_dir: Path,
                                                               ingested_lake: Path, fraction: float) -> None:
    """All labels shuffled: the floor and the gate both refuse. 85% shuffled: the challenger passes the floor
    (its quality check succeeds) and only the paired bootstrap against the champion keeps it out."""
    spec = spec_with_lake(tmp_path, landing_dir, ingested_lake, training={**TRAINING, "min_auc": 0.6})
    assert train(spec, "domestic", "domestic").success
    assert shuffle_training_labels(spec, fraction) > 4000
    second = train(spec, "domestic", "domestic")
    client = MlflowClient(tracking_uri=spec.tracking_uri)
    name = spec.registered_model_name("domestic")
    assert str(client.get_model_version_by_alias(name, "champion").version) == "1"
    assert str(client.get_model_version_by_alias(name, "challenger").version) == "2"
    record = record_of(spec, "segment_model", "domestic")
    gate = record["gate"]
    print(f"\n{fraction:.0%} shuffled: AUC {gate['challenger_auc']:.4f} vs champion {gate['champion_auc']:.4f}, "
          f"gain {gate['delta']:+.4f}, CI [{gate['ci_low']:+.4f}, {gate['ci_high']:+.4f}], p={gate['p_value']:.4f}")
    assert record["promoted"] is False and record["previous_champion"] == "1"
    assert gate["challenger_auc"] == pytest.approx(record["metrics"]["roc_auc"]), "compared on the challenger's holdout"
    assert gate["delta"] < -0.1 and gate["ci_high"] < 0 and gate["p_value"] > 0.99
    tags = client.get_model_version(name, "2").tags
    assert tags["gate_promoted"] == "False" and float(tags["gate_p_value"]) == pytest.approx(gate["p_value"])
    if fraction < 1:
        assert second.success, "above the floor: the blocking quality check passes"
        assert record["reason"].startswith(f"holdout AUC {record['metrics']['roc_auc']:.4f} does not beat champion")


def test_tuning_and_cross_validation_are_logged(tmp_path: Path, landing_dir: Path, ingested_lake: Path) -> None:
    search = {"max_depth": {"low": 2, "high": 6, "integer": True}, "eta": {"low": 0.03, "high": 0.3, "log": True}}
    spec = spec_with_lake(tmp_path, landing_dir, ingested_lake, training={**TRAINING, "cv_folds": 3},
                          model={"tuning": {"enabled": True, "n_trials": 3, "search_space": search}})
    assert train(spec, "domestic", "domestic").success
    record = record_of(spec, "segment_model", "domestic")
    run = MlflowClient(tracking_uri=spec.tracking_uri).get_run(record["run_id"])
    assert run.data.metrics["tuning_trials"] == 3 == record["tuning"]["trials"]
    assert run.data.metrics["tuning_best_validation_auc"] == pytest.approx(record["tuning"]["best_validation_auc"])
    tuning = mlflow.artifacts.load_dict(f"{run.info.artifact_uri}/tuning.json")
    assert len(tuning["trials"]) == 3 and tuning["best_params"] == record["params"]
    assert run.data.params["max_depth"] == str(record["params"]["max_depth"])
    assert record["cv"]["folds"] == 3
    assert run.data.metrics["cv_roc_auc_mean"] == pytest.approx(record["cv"]["roc_auc_mean"])
    assert 0.6 < record["cv"]["roc_auc_mean"] < 1
