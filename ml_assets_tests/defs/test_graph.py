"""The whole graph on generated data: ingest, train per segment, score, report and monitor."""

from pathlib import Path

import dagster as dg
import pandas as pd
from mlflow.entities import RunStatus
from mlflow.tracking import MlflowClient

from ml_assets.core.data import lake
from ml_assets.core.data.sources import days_between
from ml_assets.definitions import build_definitions
from ml_assets.runner import RunSummary
from ml_assets.spec import PipelineSpec
from ml_assets_tests.conftest import SMALL_END, SMALL_START

N_DAYS = len(days_between(SMALL_START, SMALL_END))


def run_keys(spec: PipelineSpec, asset: str) -> list[str]:
    """Stored partition keys of the graph run's range (other tests may store later days in the same lake)."""
    return [key for key in lake.stored_keys(spec.lake_dir, asset, "date") if key <= SMALL_END.isoformat()]


def stored(spec: PipelineSpec, asset: str) -> pd.DataFrame:
    """Every stored daily partition of an asset in the run's range, concatenated."""
    return lake.read_frames([lake.partition_dir(spec.lake_dir, asset, "date", key) for key in run_keys(spec, asset)])


def test_every_day_is_stored_once(graph_run: tuple[PipelineSpec, RunSummary], landing_dir: Path) -> None:
    spec, _ = graph_run
    landed = sum(len(pd.read_csv(path)) for path in landing_dir.glob("invoices_*.csv"))
    for asset in ("raw_data", "features", "predictions", "risk_clusters", "risk_report", "drift_report"):
        assert len(run_keys(spec, asset)) == N_DAYS, asset
    assert len(stored(spec, "raw_data")) == landed
    assert len(stored(spec, "features")) == landed


def test_features_are_engineered(graph_run: tuple[PipelineSpec, RunSummary]) -> None:
    spec, _ = graph_run
    features = stored(spec, "features")
    assert set(features["region"].dropna()) <= {"bogota", "medellin", "cali", "barranquilla", "bucaramanga"}
    assert features["tenure_months"].min() >= 0
    new = features["is_new_customer"] == 1
    assert new.any() and (features.loc[new, "tenure_months"] <= 12).all()
    assert features["days_late_avg_6m"].notna().mean() > 0.8


def test_one_registered_champion_per_segment(graph_run: tuple[PipelineSpec, RunSummary]) -> None:
    spec, summary = graph_run
    client = MlflowClient(tracking_uri=spec.tracking_uri)
    for segment in spec.segment_names:
        name = spec.registered_model_name(segment)
        versions = client.search_model_versions(f"name='{name}'")
        assert [str(v.version) for v in versions] == ["1"]
        assert str(client.get_model_version_by_alias(name, "champion").version) == "1"
        record = lake.read_partition(lake.partition_dir(spec.lake_dir, "segment_model", "segment", segment))
        assert record["version"] == "1" and record["promoted"] is True
    auc = {seg: figures["holdout_roc_auc"] for seg, figures in summary.metadata["segment_model"].items()}
    assert auc["domestic"] > 0.72, auc


def test_domestic_model_beats_its_logistic_baseline(graph_run: tuple[PipelineSpec, RunSummary]) -> None:
    """On the demo data the booster ranks the same holdout better than a logistic regression on the same rows."""
    _, summary = graph_run
    auc, baseline = ({seg: figures[key] for seg, figures in summary.metadata["segment_model"].items()}
                     for key in ("holdout_roc_auc", "baseline_roc_auc"))
    print(f"\nholdout AUC {auc}, logistic baseline {baseline}")
    assert auc["domestic"] > baseline["domestic"] + 0.005


def test_mlflow_runs_are_nested_per_segment_and_finished(graph_run: tuple[PipelineSpec, RunSummary]) -> None:
    spec, summary = graph_run
    client = MlflowClient(tracking_uri=spec.tracking_uri)
    experiment = client.get_experiment_by_name(spec.experiment_name)
    assert experiment.artifact_location.startswith(spec.home_dir.as_uri())
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 1 and parents[0].info.status == RunStatus.to_string(RunStatus.FINISHED)
    assert parents[0].data.tags["dagster_run_id"] == summary.run_ids["training_job"]
    depth = {r.data.tags["segment"]: r.data.params["max_depth"] for r in children}
    assert depth == {"domestic": "4", "industrial": "3"}
    assert all(r.data.metrics["holdout_roc_auc"] > 0.5 for r in children)


def test_model_evaluation_writes_plots(graph_run: tuple[PipelineSpec, RunSummary]) -> None:
    spec, _ = graph_run
    for segment in spec.segment_names:
        record = lake.read_partition(lake.partition_dir(spec.lake_dir, "model_evaluation", "segment", segment))
        assert set(record["plots"]) == {"ROC", "Precision-recall", "Calibration", "Feature importance", "SHAP summary"}
        for path in record["plots"].values():
            assert Path(path).read_bytes()[:4] == b"\x89PNG"
        assert 0 < record["evaluation"]["roc_auc"] <= 1


def test_predictions_carry_model_and_valid_scores(graph_run: tuple[PipelineSpec, RunSummary]) -> None:
    spec, _ = graph_run
    predictions = stored(spec, "predictions")
    assert len(predictions) == len(stored(spec, "features"))
    assert predictions["score"].between(0, 1).all()
    by_segment = predictions.groupby("model_segment")["model_name"].unique()
    assert {seg: list(names) for seg, names in by_segment.items()} == {
        seg: [spec.registered_model_name(seg)] for seg in spec.segment_names}
    assert set(predictions["model_version"]) == {"1"}


def test_risk_clusters_follow_the_spec(graph_run: tuple[PipelineSpec, RunSummary]) -> None:
    spec, _ = graph_run
    clusters = stored(spec, "risk_clusters")
    rule = spec.clustering.arrears
    assert set(clusters["risk_category"]) == set(spec.clustering.labels)
    assert set(clusters["risk_cluster"]) <= set(spec.clustering.labels) | {"new_customer"}
    arrears = clusters[rule.column] > rule.above
    assert (clusters["in_arrears"] == arrears).all() and arrears.any()
    assert clusters.loc[arrears, "risk_category"].isin(["high", "very_high"]).all(), "arrears rule: at least high"
    assert (clusters.loc[clusters["is_new_customer"] == 1, "risk_cluster"] == "new_customer").all()
    assert set(clusters["group"].dropna()) == {"1-2", "3-4", "5-6"}
    mean_score = clusters[~arrears].groupby("risk_category", observed=True)["score"].mean()
    ranked = mean_score.reindex(spec.clustering.labels).dropna()
    assert len(ranked) >= 3 and list(ranked) == sorted(ranked), "categories rank by score"


def test_risk_report_files_and_run_risk_summary(graph_run: tuple[PipelineSpec, RunSummary]) -> None:
    spec, summary = graph_run
    report = stored(spec, "risk_report")
    shares = report.groupby(["invoice_date", "segment"])["share"].sum()
    assert (shares - 1).abs().max() < 1e-9
    files = [path for path in (spec.reports_dir / "risk_report").glob("date=*/segment=*/part.parquet")
             if path.parent.parent.name <= f"date={SMALL_END}"]
    assert len(files) == N_DAYS * len(spec.segment_names)
    run_summary = pd.read_parquet(spec.reports_dir / "run_risk_summary" / f"{SMALL_START}_{SMALL_END}" / "part.parquet")
    very_high = run_summary[run_summary["risk_cluster"] == "very_high"].set_index("segment")
    low = run_summary[run_summary["risk_cluster"] == "low"].set_index("segment")
    assert (very_high["realized_default_rate"] > low["realized_default_rate"]).all()
    last_day = summary.metadata["risk_report"][SMALL_END.isoformat()]
    assert last_day["range_summary"] == f"range summary {SMALL_START}..{SMALL_END}"
    assert {row.data["risk_cluster"] for row in last_day["range_risk_summary"].records} == set(run_summary["risk_cluster"])


def test_drift_report_flags_the_injected_price_shock(graph_run: tuple[PipelineSpec, RunSummary]) -> None:
    spec, summary = graph_run
    drift = stored(spec, "drift_report")
    assert set(drift["feature"]) == set(spec.feature_columns()) | {"score"}
    amount = drift[(drift["feature"] == "amount") & (drift["segment"] == "domestic")].set_index("invoice_date")
    before, after = amount.loc[: "2024-05-31", "psi"], amount.loc["2024-06-15":, "psi"]
    assert before.median() < spec.drift.psi.moderate
    assert after.min() >= spec.drift.psi.high, "a 35% price shock is high drift"
    assert summary.metadata["drift_report"][SMALL_END.isoformat()]["verdict"]["domestic"] == "high"


def test_retraining_same_data_keeps_the_champion(graph_run: tuple[PipelineSpec, RunSummary]) -> None:
    """A challenger that does not beat the champion by the margin is registered but not promoted."""
    spec, _ = graph_run
    with dg.instance_for_test() as instance:
        result = build_definitions(spec).resolve_job_def("training_job").execute_in_process(
            instance=instance, partition_key="domestic",
            run_config={"ops": {"training_set": {"config": {"as_of": SMALL_END.isoformat()}}}})
    assert result.success
    client = MlflowClient(tracking_uri=spec.tracking_uri)
    name = spec.registered_model_name("domestic")
    assert str(client.get_model_version_by_alias(name, "champion").version) == "1"
    assert str(client.get_model_version_by_alias(name, "challenger").version) == "2"
    record = lake.read_partition(lake.partition_dir(spec.lake_dir, "segment_model", "segment", "domestic"))
    assert record["promoted"] is False and "does not beat champion" in record["reason"]
    assert abs(record["gate"]["delta"]) < 1e-3 and record["gate"]["p_value"] > 0.5, record["gate"]


def test_models_load_from_our_store_whatever_the_global_tracking_uri(graph_run, tmp_path: Path) -> None:
    """A fresh process (or one whose global MLflow URI points elsewhere) still loads from the spec's store."""
    import mlflow

    from ml_assets.resources.registry import ModelRegistry, _load_version

    spec, _ = graph_run
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'elsewhere.db'}")
    _load_version.cache_clear()
    try:
        champion = ModelRegistry(tracking_uri=spec.tracking_uri).load_alias(spec.registered_model_name("domestic"))
    finally:
        mlflow.set_tracking_uri(previous)
    assert champion is not None and champion.booster.num_boosted_rounds() > 0
