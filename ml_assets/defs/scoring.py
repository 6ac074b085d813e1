"""predictions, risk_clusters and risk_report: daily scoring with each segment's champion."""

import dagster as dg
import pandas as pd

from ml_assets.core import clustering, lake, reporting, similar
from ml_assets.core.daily_scoring import empty_scores, score_segment
from ml_assets.core.features import SEGMENT_COLUMN
from ml_assets.core.scoring import SCORE_COLUMN
from ml_assets.defs.partitions import daily_partitions, run_dates
from ml_assets.resources.mlflow import CHAMPION, LoadedModel, ModelRegistry
from ml_assets.resources.storage import DATE_DIMENSION
from ml_assets.spec import PipelineSpec

SAMPLE_ROWS = 10


def label_matured(dates: pd.Series, spec: PipelineSpec) -> pd.Series:
    """True where the label is known by the latest stored features date."""
    stored = lake.stored_keys(spec.lake_dir, "features", DATE_DIMENSION)
    as_of = pd.Timestamp(stored[-1]) if stored else pd.Timestamp.max
    return reporting.labels_matured(dates, spec.dataset.label_delay_days, as_of)


def similar_index(registry: ModelRegistry, model: LoadedModel, spec: PipelineSpec,
                  log: dg.DagsterLogManager) -> similar.SimilarIndex | None:
    """The similar-customer index of a model version; None when turned off or not logged with the version."""
    if spec.scoring.similar_customers.top_n == 0:
        return None
    reference = registry.similar_reference(model)
    if reference is None:
        log.warning(f"{model.name} v{model.version} was trained before similar customers were logged: "
                    "no similar customers for its rows; retrain the segment to add them")
        return None
    return similar.build_index(reference, spec)


def champion_check(unscored: dict[str, int]) -> dg.AssetCheckResult:
    """Fails naming each segment that had rows but no champion model (its rows were not scored)."""
    return dg.AssetCheckResult(
        check_name="champion_available", passed=not unscored, severity=dg.AssetCheckSeverity.ERROR,
        metadata={"unscored_rows_by_segment": unscored,
                  "what_to_do": "train the segment (ml-assets run or the training job) or promote a version "
                                f"to {CHAMPION}; the other segments were scored"} if unscored else {})


def segments_check(outside: pd.DataFrame, spec: PipelineSpec) -> dg.AssetCheckResult:
    """Warns with the count and a sample of rows whose segment value is not in dataset.segments."""
    ds = spec.dataset
    sample = outside[[ds.id, ds.date]].head(SAMPLE_ROWS)
    return dg.AssetCheckResult(
        check_name="segments_known", passed=outside.empty, severity=dg.AssetCheckSeverity.WARN,
        metadata={"rows_outside_segments": len(outside),
                  "sample": dg.MetadataValue.md(sample.to_markdown(index=False) if len(sample) else "none"),
                  "what_to_do": f"add their {ds.segment} values to dataset.segments to score them"})


def highest_risk_preview(table: pd.DataFrame, spec: PipelineSpec) -> str:
    """Markdown of the run's highest scores with their reason codes and similar past customers."""
    columns = [spec.dataset.id, spec.dataset.date, SEGMENT_COLUMN, SCORE_COLUMN, "risk_cluster",
               *spec.scoring.reason_columns(), "similar_default_rate", "similar_customers"]
    if table.empty:
        return "no scored rows"
    return table.nlargest(SAMPLE_ROWS, SCORE_COLUMN)[columns].to_markdown(index=False)


def build_scoring_assets(spec: PipelineSpec) -> list[dg.AssetsDefinition]:
    """predictions -> risk_clusters -> risk_report over daily partitions."""
    partitions = daily_partitions(spec)
    ds = spec.dataset

    @dg.asset(
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        deps=[dg.AssetDep("segment_model", partition_mapping=dg.AllPartitionMapping())],
        check_specs=[
            dg.AssetCheckSpec("champion_available", asset="predictions", blocking=False,
                              description="every segment with rows has a champion model; segments without one "
                                          "are not scored, the others are"),
            dg.AssetCheckSpec("segments_known", asset="predictions", blocking=False,
                              description="every row's segment value is in dataset.segments (others are not scored)"),
        ],
        group_name="scoring",
        kinds={"xgboost", "parquet"},
    )
    def predictions(context: dg.AssetExecutionContext, features: pd.DataFrame, model_registry: ModelRegistry):
        """Each row scored by its segment's champion model, with the model name and version, reason codes and,
        for the day's highest scores, similar past customers."""
        scored, unscored = [], {}
        for segment, rows in features.groupby(SEGMENT_COLUMN, sort=False):
            name = spec.registered_model_name(str(segment))
            champion = model_registry.load_alias(name, CHAMPION)
            if champion is None:
                unscored[str(segment)] = len(rows)
                context.log.warning(f"segment {segment!r}: no champion model {name}@{CHAMPION}; {len(rows)} rows "
                                    "not scored (train it with ml-assets run or the training job)")
                continue
            index = similar_index(model_registry, champion, spec, context.log)
            scored.append(score_segment(rows, champion.booster, champion.meta, name, champion.version, spec, index))
        outside = features[features[SEGMENT_COLUMN].isna()]
        table = pd.concat(scored, ignore_index=True) if scored else empty_scores(spec)
        yield dg.Output(table, metadata={
            "dagster/row_count": len(table),
            "unscored_rows_by_segment": unscored,
            "rows_outside_segments": len(outside),
            "models": sorted({f"{n} v{v}" for n, v in table[["model_name", "model_version"]].drop_duplicates()
                              .itertuples(index=False)}),
            "mean_score": float(table[SCORE_COLUMN].mean()) if len(table) else float("nan"),
            "reason_codes": f"{spec.scoring.reason_codes.method} contributions for "
                            f"{spec.scoring.reason_codes.categories or 'every category'}",
        })
        yield champion_check(unscored)
        yield segments_check(outside, spec)

    @dg.asset(
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        group_name="scoring",
        kinds={"pandas", "parquet"},
    )
    def risk_clusters(predictions: pd.DataFrame, model_registry: ModelRegistry) -> dg.Output[pd.DataFrame]:
        """Risk category from the cut-points stored with the scoring model version (or the day's quantiles),
        the arrears rule, group and new-customer mark."""
        versions = predictions[["model_name", "model_version"]].drop_duplicates().itertuples(index=False)
        stored = {(str(n), str(v)): model_registry.load(str(n), str(v)).meta["cutpoints"] for n, v in versions}
        table = clustering.cluster_table(predictions, stored, spec)
        counts = table.groupby([SEGMENT_COLUMN, "risk_cluster"], observed=True).size().rename("rows").reset_index()
        return dg.Output(table, metadata={"dagster/row_count": len(table), "cutpoints": spec.clustering.cutpoints,
                                          "rows_by_cluster": dg.MetadataValue.md(counts.to_markdown(index=False))})

    @dg.asset(
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        deps=["drift_report"],  # runs after it, so drift.fail_on_drift can stop the day's report
        group_name="scoring",
        kinds={"pandas", "parquet"},
    )
    def risk_report(context: dg.AssetExecutionContext, risk_clusters: pd.DataFrame) -> dg.Output[pd.DataFrame]:
        """Daily summary per segment and cluster; row-level report files per date and segment with the
        spec's report columns; the BENCHMARK summary of the run."""
        start, end = run_dates(context)
        matured = label_matured(risk_clusters[ds.date], spec)
        folder = spec.reports_dir / "risk_report"
        files = reporting.write_report_files(risk_clusters, folder, spec)
        summary = reporting.risk_summary(risk_clusters, SEGMENT_COLUMN, SCORE_COLUMN, ds.target, matured, ds.date)
        benchmark = reporting.risk_summary(risk_clusters, SEGMENT_COLUMN, SCORE_COLUMN, ds.target, matured)
        benchmark_path = lake.write_frame(spec.reports_dir / "benchmark" / f"{start}_{end}", benchmark)
        return dg.Output(summary, metadata={
            "benchmark": dg.MetadataValue.md(benchmark.round(4).to_markdown(index=False)),
            "benchmark_path": dg.MetadataValue.path(str(benchmark_path)),
            "highest_risk": dg.MetadataValue.md(highest_risk_preview(risk_clusters, spec)),
            "report_folder": dg.MetadataValue.path(str(folder)),
            "report_files": len(files),
        })

    return [predictions, risk_clusters, risk_report]
