"""Per-partition truth: after one run over a range, each day's (and segment's) materialization in the instance's
event log carries that partition's own figures, checked against the stored lake files and the MLflow store."""

from datetime import date
from pathlib import Path

import dagster as dg
import numpy as np
import pytest
from mlflow import MlflowClient

from ml_assets.core.data import lake
from ml_assets.core.data.features import SEGMENT_COLUMN
from ml_assets.core.monitoring.drift import SEVERITIES
from ml_assets.core.scoring.scores import SCORE_COLUMN
from ml_assets.defs.partitions import daily_partitions
from ml_assets.runner import run_pipeline
from ml_assets.spec import ConfigError, PipelineSpec, parse_spec
from ml_assets_tests.conftest import demo_config, make_spec
from ml_assets_tests.defs.conftest import UI_END, UI_START, UiInstance

DAILY_FRAMES = ["raw_data", "features", "predictions", "risk_clusters", "drift_report", "model_performance",
                "estimated_performance"]
SAMPLE_DAYS = ["2024-01-05", "2024-03-10", "2024-04-29", UI_END.isoformat()]
DAY_FIGURES = {"dagster/row_count", "dagster/column_schema"}
PER_SEGMENT = "{segment}"
DAY_KEYS = {  # what a day's materialization may carry: that day's figures, and config that holds for every day
    "raw_data": {"preview"},
    "features": {"preview", "rows_without_segment"},
    "predictions": {"mean_score", "unscored_rows", "rows_outside_segments", "models", "reason_codes"},
    "risk_clusters": {"rows_by_cluster", "cutpoints"},
    "risk_report": {"summary", "highest_risk", "report_files", "report_folder"},
    "drift_report": {"verdict", "verdict_day", "in_sample", "worst_features", "worst_psi", "worst_psi_{segment}",
                     "evidently_report_{segment}", "evidently_report_url_{segment}", "model_versions",
                     "monitored_features", "unseen_calendar_values"},
    "model_performance": {"realized_auc_{segment}", "ece_{segment}", "performance_day", "below_floor",
                          "model_versions", "realized_auc", "cohorts", "floor"},
    "estimated_performance": {"estimated_roc_auc_{segment}", "estimated_default_rate_{segment}", "estimates",
                              "method"},
}
RANGE_KEYS = {"risk_report": {"range_risk_summary", "range_risk_summary_path"},
              "drift_report": {"range_days_with_high_drift", "range_days_with_unseen_calendar_values", "range_plots"}}


@pytest.fixture(scope="module")
def range_run(ui_instance: UiInstance) -> tuple[PipelineSpec, dg.DagsterInstance]:
    """The session's small instance: each job ran once over the whole range."""
    return ui_instance.spec, ui_instance.instance


def materializations(instance: dg.DagsterInstance, asset: str) -> dict[str, dg.AssetMaterialization]:
    """The latest materialization of each partition of `asset`."""
    latest: dict[str, dg.AssetMaterialization] = {}
    for record in instance.fetch_materializations(dg.AssetKey(asset), limit=10_000).records:
        latest.setdefault(record.partition_key, record.asset_materialization)
    return latest


def stored_day(spec: PipelineSpec, asset: str, day: str):
    """The stored partition file of one day, read with pandas alone."""
    return lake.read_partition(lake.partition_dir(spec.lake_dir, asset, "date", day))


def allowed_keys(asset: str, segments: list[str]) -> set[str]:
    """The keys a day of `asset` may carry, per-segment names spelled out."""
    names = DAY_FIGURES | DAY_KEYS[asset]
    return {name.format(segment=segment) for name in names for segment in segments}


@pytest.mark.parametrize("asset", DAILY_FRAMES + ["risk_report"])
def test_no_day_carries_a_figure_of_the_whole_range(range_run, asset: str) -> None:
    """Every key of a day is a figure of that day (or config true of every day); the run's own summary sits on
    its last day only, each key named range_*, beside a label naming the range."""
    spec, instance = range_run
    events = materializations(instance, asset)
    allowed = allowed_keys(asset, spec.segment_names)
    last = UI_END.isoformat()
    for day, event in events.items():
        extra = set(event.metadata) - allowed
        if day != last:
            assert not extra, f"{asset} {day} carries keys that are not that day's: {sorted(extra)}"
    extra = set(events[last].metadata) - allowed
    assert extra == ({"range_summary"} | RANGE_KEYS[asset] if asset in RANGE_KEYS else set()), sorted(extra)
    if extra:
        assert events[last].metadata["range_summary"].value == f"range summary {UI_START}..{UI_END}"


@pytest.mark.parametrize("asset", ["training_set", "segment_model", "model_evaluation"])
def test_no_segment_carries_another_segments_figures(range_run, asset: str) -> None:
    spec, instance = range_run
    for segment, event in materializations(instance, asset).items():
        others = [other for other in spec.segment_names if other != segment]
        named = [key for key in event.metadata if any(other in key for other in others)]
        assert not named, f"{asset} {segment} carries {named}"
        for key, value in event.metadata.items():
            if isinstance(value, dg.JsonMetadataValue | dg.TextMetadataValue | dg.MarkdownMetadataValue):
                assert not any(f"'{other}'" in str(value.value) or f'"{other}"' in str(value.value)
                               for other in others), f"{asset} {segment} {key} names another segment"


def test_each_segment_model_shows_its_own_stored_record(range_run) -> None:
    spec, instance = range_run
    for segment, event in materializations(instance, "segment_model").items():
        record = lake.read_partition(lake.partition_dir(spec.lake_dir, "segment_model", "segment", segment))
        for name in ("roc_auc", "ece", "log_loss", "brier"):
            value = event.metadata[f"holdout_{name}"]
            assert isinstance(value, dg.FloatMetadataValue)
            assert value.value == pytest.approx(record["metrics"][name])
        assert event.metadata["holdout_ece_raw"].value == pytest.approx(record["raw_metrics"]["ece"])
        assert event.metadata["model_version"].value == str(record["version"])
        assert event.metadata["reason"].value == record["reason"]


@pytest.mark.parametrize("day", SAMPLE_DAYS)
def test_ingest_days_show_their_own_rows(range_run, day: str) -> None:
    spec, instance = range_run
    raw, features = stored_day(spec, "raw_data", day), stored_day(spec, "features", day)
    for asset, stored in (("raw_data", raw), ("features", features)):
        shown = materializations(instance, asset)[day].metadata["preview"].value
        assert len(shown.splitlines()) == 2 + min(5, len(stored))
        assert all(f"| {row_id} " in shown or f"|{row_id} " in shown or f" {row_id} |" in shown
                   for row_id in stored[spec.dataset.id].head(5))
    outside = materializations(instance, "features")[day].metadata["rows_without_segment"]
    assert isinstance(outside, dg.IntMetadataValue) and outside.value == int(features[SEGMENT_COLUMN].isna().sum())


@pytest.mark.parametrize("day", SAMPLE_DAYS)
def test_scoring_days_show_their_own_figures(range_run, day: str) -> None:
    spec, instance = range_run
    features, scored = stored_day(spec, "features", day), stored_day(spec, "predictions", day)
    shown = materializations(instance, "predictions")[day].metadata
    assert shown["unscored_rows"].value == len(features) - len(scored)
    assert shown["rows_outside_segments"].value == int(features[SEGMENT_COLUMN].isna().sum())
    versions = scored[["model_name", "model_version"]].drop_duplicates().itertuples(index=False)
    assert shown["models"].value == ", ".join(sorted(f"{name} v{version}" for name, version in versions))
    clusters = stored_day(spec, "risk_clusters", day)
    counted = {(row.data[SEGMENT_COLUMN], row.data["risk_cluster"]): row.data["rows"]
               for row in materializations(instance, "risk_clusters")[day].metadata["rows_by_cluster"].value.records}
    assert counted == {(str(seg), str(cluster)): len(rows) for (seg, cluster), rows
                       in clusters.groupby([SEGMENT_COLUMN, "risk_cluster"], observed=True)}
    report = materializations(instance, "risk_report")[day].metadata
    summary = stored_day(spec, "risk_report", day)
    assert [(row.data["segment"], row.data["risk_cluster"], row.data["count"]) for row in
            report["summary"].value.records] == list(zip(summary["segment"].astype(str),
                                                         summary["risk_cluster"].astype(str), summary["count"]))
    files = list((spec.reports_dir / "risk_report" / f"date={day}").glob("segment=*/*.parquet"))
    assert report["report_files"].value == len(files) == scored[SEGMENT_COLUMN].nunique()


@pytest.mark.parametrize("day", SAMPLE_DAYS)
def test_monitoring_days_show_their_own_verdict_and_metrics(range_run, day: str) -> None:
    spec, instance = range_run
    drift = stored_day(spec, "drift_report", day)
    verdict = {str(seg): max(rows.loc[rows["judged"], "severity"], key=SEVERITIES.index, default="not judged")
               for seg, rows in drift.groupby("segment")}
    assert materializations(instance, "drift_report")[day].metadata["verdict"].value == verdict
    performance = stored_day(spec, "model_performance", day)
    judged = performance[performance["judged"].astype(bool) & ~performance["in_sample"].astype(bool)]
    largest = judged.sort_values("rows").groupby("segment").tail(1)
    shown = materializations(instance, "model_performance")[day].metadata
    assert shown["realized_auc"].value == {str(r.segment): round(float(r.roc_auc), 4) for r in largest.itertuples()}
    assert shown["below_floor"].value == {str(r.segment): bool(r.below_floor) for r in largest.itertuples()}
    assert shown["performance_day"].value == day
    estimated = stored_day(spec, "estimated_performance", day)
    shown = materializations(instance, "estimated_performance")[day].metadata
    for segment in spec.segment_names:
        rows = estimated[estimated["segment"] == segment].sort_values("rows")
        value = shown[f"estimated_roc_auc_{segment}"]
        assert isinstance(value, dg.FloatMetadataValue)
        assert value.value == pytest.approx(rows["estimated_roc_auc"].iloc[-1] if len(rows) else np.nan, nan_ok=True)


@pytest.mark.parametrize("asset", DAILY_FRAMES)
def test_each_day_shows_its_own_row_count(range_run, asset: str) -> None:
    spec, instance = range_run
    events = materializations(instance, asset)
    assert len(events) == (UI_END - UI_START).days + 1
    shown = {day: event.metadata["dagster/row_count"].value for day, event in events.items()}
    stored = {day: len(stored_day(spec, asset, day)) for day in events}
    assert shown == stored
    if asset not in ("drift_report", "estimated_performance"):  # one row per segment (and feature) every day
        assert len(set(shown.values())) > 1, "days differ in size, so a range total stamped on each day would show"


def test_each_day_shows_its_own_mean_score_as_a_float(range_run) -> None:
    spec, instance = range_run
    events = materializations(instance, "predictions")
    for day in ("2024-01-05", "2024-04-29"):
        value = events[day].metadata["mean_score"]
        assert isinstance(value, dg.FloatMetadataValue)
        assert value.value == pytest.approx(stored_day(spec, "predictions", day)[SCORE_COLUMN].mean(), rel=1e-9)
    assert events["2024-01-05"].metadata["mean_score"].value != events["2024-04-29"].metadata["mean_score"].value


def test_each_day_shows_the_psi_of_its_worst_judged_feature(range_run) -> None:
    spec, instance = range_run
    events = materializations(instance, "drift_report")
    for day in ("2024-03-10", UI_END.isoformat()):
        table = stored_day(spec, "drift_report", day)
        judged = table[table["judged"].astype(bool)]
        assert events[day].metadata["worst_psi"].value == pytest.approx(judged["psi"].max())
        for segment, rows in judged.groupby("segment"):
            assert events[day].metadata[f"worst_psi_{segment}"].value == pytest.approx(rows["psi"].max())
    last = UI_END.isoformat()
    assert events[last].metadata["worst_psi"].value > events["2024-03-10"].metadata["worst_psi"].value, \
        "the price shock from May drifts the amounts: the last day's worst PSI is above a quiet day's"


def test_realized_auc_per_day_and_segment_is_a_float_or_nan(range_run) -> None:
    spec, instance = range_run
    events = materializations(instance, "model_performance")
    day = UI_END.isoformat()
    table = stored_day(spec, "model_performance", day)
    for segment in spec.segment_names:
        value = events[day].metadata[f"realized_auc_{segment}"]
        assert isinstance(value, dg.FloatMetadataValue)
        judged = table[(table["segment"] == segment) & table["judged"].astype(bool)].sort_values("rows")
        expected = judged["roc_auc"].iloc[-1] if len(judged) else np.nan
        assert value.value == pytest.approx(expected, nan_ok=True)


@pytest.mark.parametrize("asset", ["raw_data", "features", "predictions", "risk_clusters", "risk_report"])
def test_data_assets_carry_the_stored_column_schema(range_run, asset: str) -> None:
    spec, instance = range_run
    event = materializations(instance, asset)["2024-02-01"]
    schema = event.metadata["dagster/column_schema"].value
    stored = stored_day(spec, asset, "2024-02-01")
    assert [column.name for column in schema.columns] == list(stored.columns)


def test_segments_show_their_own_evaluation_and_link_to_mlflow(range_run) -> None:
    spec, instance = range_run
    client = MlflowClient(tracking_uri=spec.tracking_uri)
    rows = materializations(instance, "training_set")
    assert {seg: event.metadata["dagster/row_count"].value for seg, event in rows.items()} == {
        seg: len(lake.read_partition(lake.partition_dir(spec.lake_dir, "training_set", "segment", seg)))
        for seg in spec.segment_names}
    events = materializations(instance, "model_evaluation")
    aucs = {}
    for segment, event in events.items():
        assert isinstance(event.metadata["roc_auc"], dg.FloatMetadataValue)
        run_url = event.metadata["mlflow_run"].value
        assert run_url.startswith(spec.mlflow.ui_url)
        run = client.get_run(run_url.rsplit("/", 1)[-1])
        assert run.data.metrics["eval_roc_auc"] == pytest.approx(event.metadata["roc_auc"].value)
        assert run.data.tags["segment"] == segment
        version = event.metadata["mlflow_model_version"].value.rsplit("/", 1)[-1]
        assert client.get_model_version(spec.registered_model_name(segment), version).run_id == run.info.run_id
        assert isinstance(event.metadata["lift_by_decile"], dg.TableMetadataValue)
        aucs[segment] = event.metadata["roc_auc"].value
    assert len(set(aucs.values())) == len(spec.segment_names)


def test_evidently_report_is_an_artifact_of_the_champion_run_linked_from_its_day(range_run) -> None:
    spec, instance = range_run
    client = MlflowClient(tracking_uri=spec.tracking_uri)
    event = materializations(instance, "drift_report")[UI_END.isoformat()]
    links = {key: value.value for key, value in event.metadata.items() if key.startswith("evidently_report_url_")}
    assert set(links) == {f"evidently_report_url_{segment}" for segment in spec.segment_names}
    for url in links.values():
        assert isinstance(url, str) and url.startswith(spec.mlflow.ui_url)
        run_id, path = url.split("/runs/")[1].split("/artifacts/")
        folder, name = path.rsplit("/", 1)
        assert name in {Path(item.path).name for item in client.list_artifacts(run_id, folder)}


def test_daily_partitions_end_at_the_configured_end_date(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, dataset={"end_date": "2024-03-31"})
    assert daily_partitions(spec).get_last_partition_key() == "2024-03-31"
    assert daily_partitions(make_spec(tmp_path, dataset={"end_date": None})).get_last_partition_key() > "2025-01-01"


def test_an_end_date_before_the_start_date_is_refused_naming_both(tmp_path: Path) -> None:
    raw = demo_config(tmp_path, dataset={"end_date": date(2023, 12, 1)})
    with pytest.raises(ConfigError, match="dataset.end_date 2023-12-01 is before dataset.start_date 2024-01-01"):
        parse_spec(raw, base_dir=tmp_path)


def test_a_run_past_the_end_date_is_refused_before_anything_runs(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, dataset={"end_date": "2024-03-31"})
    with dg.instance_for_test() as instance:
        with pytest.raises(ValueError, match="--end 2024-04-02 is after dataset.end_date 2024-03-31; move "
                                             "dataset.end_date later"):
            run_pipeline(spec, date(2024, 3, 30), date(2024, 4, 2), instance, progress=lambda _: None)
        assert not instance.get_runs()
