"""Per-partition truth: after one run over a range, each day's (and segment's) materialization in the instance's
event log carries that partition's own figures, checked against the stored lake files and the MLflow store."""

from datetime import date
from pathlib import Path

import dagster as dg
import numpy as np
import pytest
from mlflow import MlflowClient

from ml_assets.core import lake
from ml_assets.core.scoring import SCORE_COLUMN
from ml_assets.defs.partitions import daily_partitions
from ml_assets.spec import ConfigError, PipelineSpec, parse_spec
from ml_assets_tests.conftest import demo_config, make_spec
from ml_assets_tests.defs.conftest import UI_END, UI_START, UiInstance

DAILY_FRAMES = ["raw_data", "features", "predictions", "risk_clusters", "drift_report", "model_performance"]


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


@pytest.mark.parametrize("asset", DAILY_FRAMES)
def test_each_day_shows_its_own_row_count(range_run, asset: str) -> None:
    spec, instance = range_run
    events = materializations(instance, asset)
    assert len(events) == (UI_END - UI_START).days + 1
    shown = {day: event.metadata["dagster/row_count"].value for day, event in events.items()}
    stored = {day: len(stored_day(spec, asset, day)) for day in events}
    assert shown == stored
    if asset != "drift_report":  # drift_report holds one row per segment and feature every day
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
