"""Monitoring end to end on demo data with drift injected from June: drift_report, its Evidently report and
alert, model_performance, the retrain_on_drift sensor driving a real training run, fail_on_drift, and the
run failure alert; all on a real Dagster instance (instance_for_test) and a real HTTP webhook."""

import json
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import mlflow
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from sklearn.metrics import roc_auc_score

from ml_assets.core.data import lake
from ml_assets.core.monitoring.estimation import expected_roc_auc
from ml_assets.definitions import INGEST_JOB, SCORING_JOB, TRAINING_JOB, build_definitions
from ml_assets.defs.monitoring import AUC_ABOVE_FLOOR, NO_HIGH_DRIFT, drift_check, drift_range_summary
from ml_assets.defs.sensors import TRIGGER_TAG, build_failure_alert_sensor
from ml_assets.resources.alerts import AlertWebhook
from ml_assets.runner import RANGE_END_TAG, RANGE_START_TAG
from ml_assets.spec import PipelineSpec
from ml_assets_tests.conftest import make_spec
from ml_assets_tests.webhook import WebhookServer

TRAINING = {"window_days": 45, "holdout_days": 14, "min_auc": 0.55}
# Only the days the tests need: the training window (as of June 15: labels matured by April 1, so February 17 to
# April 1), the predictions whose labels mature in the last week of June (March 25 to April 16: in-sample cohorts
# until the one judged on June 27, which starts on April 2), and that week with its price shock.
TRAINED_AS_OF = "2024-06-15"
INGEST_RANGES = [("2024-02-17", "2024-04-16"), ("2024-06-24", "2024-06-30")]
SCORING_RANGES = [("2024-03-25", "2024-04-16"), ("2024-06-24", "2024-06-30")]


@pytest.fixture(scope="module")
def webhook() -> WebhookServer:
    with WebhookServer() as server:
        yield server


def run_job(defs: dg.Definitions, job: str, instance: dg.DagsterInstance, first: str, last: str,
            **kwargs: object) -> dg.ExecuteInProcessResult:
    """One run of a job over the partition range first..last."""
    return defs.resolve_job_def(job).execute_in_process(
        instance=instance, raise_on_error=False, tags={RANGE_START_TAG: first, RANGE_END_TAG: last}, **kwargs)


@pytest.fixture(scope="module")
def monitored(tmp_path_factory: pytest.TempPathFactory, landing_dir: Path,
              webhook: WebhookServer) -> tuple[PipelineSpec, dict[str, dict], dg.DagsterInstance]:
    """Ingest, train and score the days above on one instance that stays open for the sensor tests;
    returns the spec, the last materialization metadata per asset, and the instance."""
    home = tmp_path_factory.mktemp("monitoring")
    (home / "landing").symlink_to(landing_dir)
    spec = make_spec(home, training=TRAINING, monitoring={"alerts": {"webhook_url": webhook.url}})
    defs, previous_uri = build_definitions(spec), mlflow.get_tracking_uri()
    with dg.instance_for_test() as instance:
        for first, last in INGEST_RANGES:
            assert run_job(defs, INGEST_JOB, instance, first, last).success
        run_job(defs, TRAINING_JOB, instance, spec.segment_names[0], spec.segment_names[-1],
                run_config={"ops": {"training_set": {"config": {"as_of": TRAINED_AS_OF}}}})
        for first, last in SCORING_RANGES:
            result = run_job(defs, SCORING_JOB, instance, first, last)
            assert result.success, result.get_step_failure_events()
        metadata = {e.asset_key.to_user_string(): {k: v.value for k, v in e.materialization.metadata.items()}
                    for e in result.get_asset_materialization_events()}
        yield spec, metadata, instance
    mlflow.set_tracking_uri(previous_uri)  # dagster-mlflow set the process-wide URI to this module's store


def sensor_tick(spec: PipelineSpec, instance: dg.DagsterInstance, cursor: str | None = None) -> dg.SensorResult:
    """One evaluation of retrain_on_drift through Dagster's own tick machinery."""
    defs = build_definitions(spec)
    sensor = defs.resolve_sensor_def("retrain_on_drift")
    with dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs) as context:
        return sensor.evaluate_tick(context)


def test_drift_report_detects_the_shock_with_an_evidently_report_and_an_alert(monitored, webhook) -> None:
    spec, metadata, instance = monitored
    metadata = metadata["drift_report"]
    assert metadata["verdict"]["domestic"] == "high" and metadata["verdict_day"] == "2024-06-30"
    html = Path(metadata["evidently_report_domestic"])
    assert html.parent == spec.reports_dir / "drift_report" / "date=2024-06-30" / "segment=domestic"
    assert (html.parent / "part.parquet").exists() and "<html" in html.read_text()[:2000].lower()
    records = instance.fetch_materializations(dg.AssetKey("drift_report"), limit=1000).records
    last_run = next(record.run_id for record in records if record.partition_key == "2024-06-30")
    days = {record.partition_key for record in records if record.run_id == last_run
            and "evidently_report_domestic" in record.asset_materialization.metadata}
    assert days == {"2024-06-30"}, "drift.evidently.days: last (of the run)"
    [drift_alert] = [m["text"] for m in webhook.messages if "drift in segment 'domestic' on 2024-06-30" in m["text"]]
    assert "amount (PSI" in drift_alert and str(html) in drift_alert


def stored_day(spec: PipelineSpec, asset: str, day: str) -> pd.DataFrame:
    return lake.read_partition(lake.partition_dir(spec.lake_dir, asset, "date", day))


def stored_predictions(spec: PipelineSpec, first: str, last: str, segment: str) -> pd.DataFrame:
    """The stored predictions of one segment dated first..last (days never scored are skipped)."""
    keys = [key for key in lake.stored_keys(spec.lake_dir, "predictions", "date") if first <= key <= last]
    rows = lake.read_frames([lake.partition_dir(spec.lake_dir, "predictions", "date", key) for key in keys])
    return rows[rows["model_segment"] == segment]


def test_model_performance_judges_out_of_sample_cohorts_beside_their_estimate(monitored) -> None:
    spec, metadata, _ = monitored
    domestic = stored_day(spec, "model_performance", "2024-06-30").set_index("segment").loc["domestic"]
    assert (domestic["cohort_first"], domestic["cohort_last"]) == ("2024-04-03", "2024-04-16")
    assert not domestic["in_sample"], "the version was trained on February 17 to April 1"
    assert domestic["judged"] and domestic["roc_auc"] > spec.training.min_auc and not domestic["below_floor"]
    assert 0 < domestic["default_rate"] < 0.5 and domestic["training_roc_auc"] > 0.5
    cohort = stored_predictions(spec, "2024-04-03", "2024-04-16", "domestic")
    assert domestic["rows"] == len(cohort) and domestic["roc_auc"] == pytest.approx(
        roc_auc_score(cohort["defaulted"], cohort["score"]))
    assert domestic["estimated_roc_auc"] == pytest.approx(expected_roc_auc(cohort["score"].to_numpy()))
    assert domestic["estimated_default_rate"] == pytest.approx(cohort["score"].mean())
    assert metadata["model_performance"]["below_floor"] == {"domestic": False}
    assert stored_day(spec, "model_performance", "2024-04-16").empty, "April's predictions have not matured by then"


def test_a_cohort_inside_the_training_window_is_shown_in_sample_and_never_fails_the_floor(monitored) -> None:
    base, _, instance = monitored
    domestic = stored_day(base, "model_performance", "2024-06-24").set_index("segment").loc["domestic"]
    assert (domestic["cohort_first"], domestic["cohort_last"]) == ("2024-03-28", "2024-04-10")
    assert domestic["in_sample"] and domestic["judged"] and not domestic["below_floor"]
    spec = make_spec(base.base_dir, training=TRAINING, monitoring={"performance": {"min_auc": 0.99}})
    result = build_definitions(spec).resolve_job_def(SCORING_JOB).execute_in_process(
        instance=instance, raise_on_error=False, asset_selection=[dg.AssetKey("model_performance")],
        tags={RANGE_START_TAG: "2024-06-24", RANGE_END_TAG: "2024-06-26"})
    [check] = result.get_asset_check_evaluations()
    assert check.check_name == AUC_ABOVE_FLOOR and check.passed, "in-sample cohorts below 0.99 are not judged"
    assert check.metadata["in_sample_cohorts_not_judged"].value >= 3
    assert check.metadata["judged_cohorts"].value == 0


def test_estimated_performance_is_there_as_soon_as_predictions_exist(monitored) -> None:
    spec, metadata, _ = monitored
    domestic = stored_day(spec, "estimated_performance", "2024-06-30").set_index("segment").loc["domestic"]
    assert (domestic["cohort_first"], domestic["cohort_last"]) == ("2024-06-17", "2024-06-30")
    cohort = stored_predictions(spec, "2024-06-17", "2024-06-30", "domestic")  # June 24..30 were scored
    assert domestic["rows"] == len(cohort) and not domestic["in_sample"] and domestic["model_version"] == "1"
    assert domestic["estimated_roc_auc"] == pytest.approx(expected_roc_auc(cohort["score"].to_numpy()))
    assert domestic["estimated_default_rate"] == pytest.approx(cohort["score"].mean())
    assert domestic["estimated_roc_auc_low"] < domestic["estimated_roc_auc"] < domestic["estimated_roc_auc_high"]
    assert domestic["estimated_default_rate_low"] < domestic["estimated_default_rate"] \
        < domestic["estimated_default_rate_high"]
    early = stored_day(spec, "estimated_performance", "2024-03-25").set_index("segment").loc["domestic"]
    assert early["in_sample"], "March 25 lies inside the training window"
    assert "CBPE" in metadata["estimated_performance"]["method"]


def test_retrain_on_drift_trains_a_new_version_once(monitored) -> None:
    spec, _, instance = monitored
    tick = sensor_tick(spec, instance)
    assert [(r.partition_key, r.tags[TRIGGER_TAG]) for r in tick.run_requests] == [("domestic", "drift")]
    request = tick.run_requests[0]
    assert request.run_key == "drift:domestic:v1:2024-06-30"
    again = sensor_tick(spec, instance, tick.cursor)
    assert again.run_requests == [] and "no new drift" in again.skip_message, "one drift event, one run"

    result = build_definitions(spec).resolve_job_def(TRAINING_JOB).execute_in_process(
        instance=instance, partition_key=request.partition_key, tags=request.tags, raise_on_error=False)
    name = spec.registered_model_name("domestic")
    client = MlflowClient(tracking_uri=spec.tracking_uri)
    assert sorted(str(v.version) for v in client.search_model_versions(f"name='{name}'")) == ["1", "2"]
    record = lake.read_partition(lake.partition_dir(spec.lake_dir, "segment_model", "segment", "domestic"))
    assert record["version"] == "2" and record["reason"]
    crashes = [e for e in result.get_step_failure_events()
               if e.event_specific_data.error.cls_name != "DagsterAssetCheckFailedError"]
    assert crashes == [], "the run may only stop at the quality gate"


def test_cooldown_holds_back_a_segment_retrained_recently(monitored) -> None:
    spec, _, instance = monitored
    recent = json.dumps({"after": {}, "requested": {"domestic": datetime.now(UTC).isoformat()}})
    tick = sensor_tick(spec, instance, recent)
    assert tick.run_requests == [] and "domestic" in tick.skip_message and "cooldown" in tick.skip_message


def test_in_sample_high_days_are_counted_but_neither_fail_the_check_nor_count_as_high_days(tmp_path: Path) -> None:
    spec = make_spec(tmp_path)
    days = pd.to_datetime(["2024-03-30", "2024-03-31", "2024-04-20"])
    table = pd.DataFrame({spec.dataset.date: days.repeat(2), "segment": "domestic", "feature": ["amount", "score"] * 3,
                          "severity": ["high", "none", "high", "low", "none", "none"], "judged": True,
                          "psi": 0.3, "in_sample": [True, True, True, True, False, False]})
    check = drift_check(table, spec, [])
    assert check.passed and check.metadata["in_sample_high_days_not_judged"].value == {"domestic": 2}
    assert check.metadata["high_drift_days"].value == {}
    later = table.assign(severity=["high", "none", "high", "low", "high", "none"])
    check = drift_check(later, spec, [])
    assert not check.passed and check.metadata["high_drift_days"].value == {"domestic": ["2024-04-20"]}
    summary = drift_range_summary(later, spec, (days[0].date(), days[-1].date()))
    assert summary["days_with_high_drift"].value == {"domestic": 1}


def test_fail_on_drift_blocks_the_days_risk_report_and_low_auc_only_warns(monitored, webhook) -> None:
    base, _, instance = monitored
    spec = make_spec(base.base_dir, training=TRAINING, drift={"fail_on_drift": True, "evidently": {"days": "none"}},
                     monitoring={"performance": {"min_auc": 0.99}, "alerts": {"webhook_url": webhook.url}})
    result = build_definitions(spec).resolve_job_def(SCORING_JOB).execute_in_process(
        instance=instance, raise_on_error=False, tags={RANGE_START_TAG: "2024-06-29", RANGE_END_TAG: "2024-06-30"})
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert not checks[NO_HIGH_DRIFT].passed and checks[NO_HIGH_DRIFT].severity == dg.AssetCheckSeverity.ERROR
    assert not checks[AUC_ABOVE_FLOOR].passed and checks[AUC_ABOVE_FLOOR].severity == dg.AssetCheckSeverity.WARN
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert {"drift_report", "model_performance", "predictions"} <= materialized
    assert "risk_report" not in materialized, "a failed blocking check stops the downstream report"
    assert any("below the floor 0.990" in m["text"] for m in webhook.messages)


def test_failed_runs_are_posted_to_the_webhook(tmp_path: Path) -> None:
    spec = make_spec(tmp_path)

    @dg.op
    def load_landing_file() -> None:
        raise ValueError("landing file invoices_2024-07-01.csv is missing")

    job = dg.GraphDefinition(name="ingest_job", node_defs=[load_landing_file]).to_job()
    with dg.instance_for_test() as instance, WebhookServer() as server:
        result = job.execute_in_process(instance=instance, raise_on_error=False)
        context = dg.build_run_status_sensor_context(
            sensor_name="alert_on_run_failure", dagster_instance=instance, dagster_run=result.dagster_run,
            dagster_event=result.get_run_failure_event(), resources={"alerts": AlertWebhook(webhook_url=server.url)},
        ).for_run_failure()
        build_failure_alert_sensor(spec)(context)
    [message] = server.messages
    assert f"run {result.run_id} of ingest_job failed" in message["text"]
    assert "- load_landing_file: ValueError: landing file invoices_2024-07-01.csv is missing" in message["text"]
