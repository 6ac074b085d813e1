"""Daily scoring on the graph run: reason codes, similar past customers, report files, and the checks on
predictions when a segment has no champion or rows fall outside the segments."""

from pathlib import Path

import dagster as dg
import mlflow
import pandas as pd
from mlflow.tracking import MlflowClient

from ml_assets.core.data import lake
from ml_assets.core.data.features import SEGMENT_COLUMN
from ml_assets.definitions import build_resources
from ml_assets.defs.ingest import build_ingest_assets
from ml_assets.defs.scoring import build_scoring_assets
from ml_assets.defs.training import build_training_assets
from ml_assets.resources.registry import ModelRegistry
from ml_assets.runner import RunSummary
from ml_assets.spec import PipelineSpec, parse_spec
from ml_assets_tests.conftest import demo_config
from ml_assets_tests.defs.test_graph import stored

DAY = "2024-06-28"


def test_reason_codes_explain_the_scores_in_the_named_categories(graph_run: tuple[PipelineSpec, RunSummary]) -> None:
    spec, _ = graph_run
    predictions = stored(spec, "predictions")
    registry = ModelRegistry(tracking_uri=spec.tracking_uri)
    lowest = spec.clustering.labels.index(spec.scoring.reason_codes.categories[0])
    for segment, rows in predictions.groupby(SEGMENT_COLUMN):
        cutpoints = registry.load(spec.registered_model_name(segment), "1").meta.cutpoints
        assert (rows["reason_1"].notna() == (rows["score"] >= cutpoints[lowest - 1])).all(), segment
    explained = predictions.dropna(subset=["reason_1"])
    named = explained["reason_1"].str.split(" = ").str[0]
    assert set(named) <= set(spec.feature_columns()) and named.nunique() > 1
    assert explained["reason_1"].str.fullmatch(r"\w+ = \S+").all()


def test_similar_customers_for_the_top_rows_of_each_day(graph_run: tuple[PipelineSpec, RunSummary]) -> None:
    spec, summary = graph_run
    similar = spec.scoring.similar_customers
    predictions = stored(spec, "predictions")
    for _, rows in predictions.groupby([spec.dataset.date, SEGMENT_COLUMN]):
        chosen = rows["similar_customers"].notna()
        assert chosen.sum() == min(similar.top_n, len(rows))
        if (~chosen).any():
            assert rows.loc[chosen, "score"].min() >= rows.loc[~chosen, "score"].max()
    listed = predictions["similar_customers"].dropna()
    assert listed.str.split("; ").str.len().eq(similar.k).all()
    assert listed.str.contains(r"\(2024-0[1-4]-\d\d\): defaulted=[01]").all(), "labeled rows of the training window"
    assert predictions["similar_default_rate"].dropna().between(0, 1).all()
    days = summary.metadata["risk_report"].values()
    assert all("similar_customers" in figures["highest_risk"] for figures in days if figures["dagster/row_count"])


def test_report_files_hold_the_spec_columns(graph_run: tuple[PipelineSpec, RunSummary]) -> None:
    spec, _ = graph_run
    part = pd.read_parquet(spec.reports_dir / "risk_report" / f"date={DAY}" / "segment=domestic" / "part.parquet")
    assert list(part.columns) == spec.scoring.report_columns
    clusters = stored(spec, "risk_clusters")
    assert len(part) == ((clusters["invoice_date"] == pd.Timestamp(DAY)) & (clusters[SEGMENT_COLUMN] == "domestic")).sum()


def spec_with_one_champion(graph: PipelineSpec, home: Path) -> PipelineSpec:
    """A pipeline `partial` on the graph run's MLflow store whose only champion is a copy of domestic v1."""
    config = demo_config(home)
    config["name"] = "partial"
    config["mlflow"] = {"tracking_uri": graph.tracking_uri, "experiment": "partial"}
    spec = parse_spec(config, base_dir=home)
    client, name = MlflowClient(tracking_uri=graph.tracking_uri), spec.registered_model_name("domestic")
    source = client.get_model_version(graph.registered_model_name("domestic"), "1")
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(graph.tracking_uri)  # MLflow resolves a models:/ source with the global tracking URI
    try:
        client.create_registered_model(name)
        copy = client.create_model_version(name, source.source, run_id=source.run_id)
    finally:
        mlflow.set_tracking_uri(previous)
    client.set_registered_model_alias(name, "champion", copy.version)
    return spec


def test_segment_without_champion_fails_its_check_and_the_others_are_scored(
        graph_run: tuple[PipelineSpec, RunSummary], tmp_path: Path) -> None:
    graph, _ = graph_run
    spec = spec_with_one_champion(graph, tmp_path)
    features = lake.read_partition(lake.partition_dir(graph.lake_dir, "features", "date", DAY))
    features.loc[:2, SEGMENT_COLUMN] = None  # a tariff outside dataset.segments
    lake.write_frame(lake.partition_dir(spec.lake_dir, "features", "date", DAY), features)
    assets = [*build_ingest_assets(spec), *build_training_assets(spec), *build_scoring_assets(spec)]
    with dg.instance_for_test() as instance:
        result = dg.materialize(assets, selection=["predictions", "risk_clusters", "risk_report"], partition_key=DAY,
                                resources=build_resources(spec), instance=instance)
    assert result.success
    checks = {check.check_name: check for check in result.get_asset_check_evaluations()}
    assert not checks["champion_available"].passed
    assert checks["champion_available"].metadata["unscored_rows_by_segment"].value == {
        "industrial": int((features[SEGMENT_COLUMN] == "industrial").sum())}
    assert not checks["segments_known"].passed
    assert checks["segments_known"].metadata["rows_outside_segments"].value == 3
    assert str(features.loc[0, "invoice_id"]) in checks["segments_known"].metadata["sample"].value
    predictions = lake.read_partition(lake.partition_dir(spec.lake_dir, "predictions", "date", DAY))
    assert set(predictions[SEGMENT_COLUMN]) == {"domestic"}
    assert len(predictions) == int((features[SEGMENT_COLUMN] == "domestic").sum())
    assert [p.name for p in (spec.reports_dir / "risk_report" / f"date={DAY}").iterdir()] == ["segment=domestic"]
