"""predictions, risk_clusters and risk_report: daily scoring with each segment's champion."""

from datetime import timedelta

import dagster as dg
import pandas as pd

from ml_assets.core import clustering, lake, reporting
from ml_assets.core.features import SEGMENT_COLUMN
from ml_assets.core.scoring import SCORE_COLUMN, empty_predictions, score_rows
from ml_assets.defs.partitions import daily_partitions, run_dates
from ml_assets.resources.mlflow import CHAMPION, ModelRegistry
from ml_assets.resources.storage import DATE_DIMENSION
from ml_assets.spec import PipelineSpec


def label_matured(dates: pd.Series, spec: PipelineSpec) -> pd.Series:
    """True where the label is known by the latest stored features date."""
    stored = lake.stored_keys(spec.lake_dir, "features", DATE_DIMENSION)
    as_of = pd.Timestamp(stored[-1]) if stored else pd.Timestamp.max
    return pd.to_datetime(dates) + timedelta(days=spec.dataset.label_delay_days) <= as_of


def build_scoring_assets(spec: PipelineSpec) -> list[dg.AssetsDefinition]:
    """predictions -> risk_clusters -> risk_report over daily partitions."""
    partitions = daily_partitions(spec)
    ds = spec.dataset

    @dg.asset(
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        deps=[dg.AssetDep("segment_model", partition_mapping=dg.AllPartitionMapping())],
        group_name="scoring",
        kinds={"xgboost", "parquet"},
    )
    def predictions(context: dg.AssetExecutionContext, features: pd.DataFrame,
                    model_registry: ModelRegistry) -> dg.Output[pd.DataFrame]:
        """Each row scored by its segment's champion model, with the model name and version."""
        scored, unscored = [], {}
        for segment, rows in features.groupby(SEGMENT_COLUMN, sort=False):
            name = spec.registered_model_name(str(segment))
            champion = model_registry.load_alias(name, CHAMPION)
            if champion is None:
                unscored[str(segment)] = len(rows)
                context.log.warning(f"segment {segment!r}: no champion model {name}@{CHAMPION}; "
                                    f"{len(rows)} rows not scored (train it with ml-assets run or the training job)")
                continue
            scored.append(score_rows(rows, champion.booster, champion.meta, name, champion.version, spec))
        no_segment = features[features[SEGMENT_COLUMN].isna()]
        if len(no_segment):
            context.log.warning(f"{len(no_segment)} rows have a {ds.segment} value outside dataset.segments, e.g. "
                                f"{no_segment[ds.id].head(3).tolist()}; they are not scored")
        table = pd.concat(scored, ignore_index=True) if scored else empty_predictions(spec)
        return dg.Output(table, metadata={
            "dagster/row_count": len(table),
            "unscored_rows_by_segment": unscored,
            "rows_outside_segments": len(no_segment),
            "models": sorted({f"{n} v{v}" for n, v in zip(table["model_name"], table["model_version"])}),
            "mean_score": float(table[SCORE_COLUMN].mean()) if len(table) else float("nan"),
        })

    @dg.asset(
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        group_name="scoring",
        kinds={"pandas", "parquet"},
    )
    def risk_clusters(predictions: pd.DataFrame, model_registry: ModelRegistry) -> dg.Output[pd.DataFrame]:
        """Risk category from the cut-points stored with the scoring model version, group and new-customer mark."""
        parts = []
        for (name, version), rows in predictions.groupby(["model_name", "model_version"], sort=False):
            cutpoints = model_registry.load(str(name), str(version)).meta["cutpoints"]
            group_values = rows[spec.clustering.group_column] if spec.clustering.group_column else None
            flag = spec.features.engineered.new_customer
            new = rows[flag.name] if flag else None
            assigned = clustering.assign_clusters(rows[SCORE_COLUMN].to_numpy(), cutpoints, group_values, new,
                                                  spec.clustering)
            parts.append(pd.concat([rows.reset_index(drop=True), assigned], axis=1))
        table = pd.concat(parts, ignore_index=True) if parts else predictions.assign(
            risk_category=None, group=None, risk_cluster=None)
        counts = table.groupby([SEGMENT_COLUMN, "risk_cluster"]).size().rename("rows").reset_index()
        return dg.Output(table, metadata={"dagster/row_count": len(table),
                                          "rows_by_cluster": dg.MetadataValue.md(counts.to_markdown(index=False))})

    @dg.asset(
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        group_name="scoring",
        kinds={"pandas", "parquet"},
    )
    def risk_report(context: dg.AssetExecutionContext, risk_clusters: pd.DataFrame) -> dg.Output[pd.DataFrame]:
        """Daily BENCHMARK summary per segment and cluster; row-level report files per date and segment."""
        start, end = run_dates(context)
        matured = label_matured(risk_clusters[ds.date], spec)
        write_report_files(risk_clusters, spec)
        daily = [reporting.risk_summary(rows, SEGMENT_COLUMN, SCORE_COLUMN, ds.target, matured.loc[rows.index])
                 .assign(**{ds.date: day}) for day, rows in risk_clusters.groupby(ds.date, sort=True)]
        summary = pd.concat(daily, ignore_index=True) if daily else pd.DataFrame({ds.date: pd.Series(dtype="datetime64[ns]")})
        benchmark = reporting.risk_summary(risk_clusters, SEGMENT_COLUMN, SCORE_COLUMN, ds.target, matured)
        benchmark_path = lake.write_frame(spec.reports_dir / "benchmark" / f"{start}_{end}", benchmark)
        return dg.Output(summary, metadata={
            "benchmark": dg.MetadataValue.md(benchmark.round(4).to_markdown(index=False)),
            "benchmark_path": dg.MetadataValue.path(str(benchmark_path)),
            "report_folder": dg.MetadataValue.path(str(spec.reports_dir / "risk_report")),
        })

    return [predictions, risk_clusters, risk_report]


def write_report_files(table: pd.DataFrame, spec: PipelineSpec) -> None:
    """Row-level report: one parquet file per date and segment under reports/risk_report."""
    days = pd.to_datetime(table[spec.dataset.date]).dt.strftime("%Y-%m-%d")
    for (day, segment), rows in table.groupby([days, SEGMENT_COLUMN], sort=False):
        folder = spec.reports_dir / "risk_report" / f"date={day}" / f"segment={segment}"
        lake.write_frame(folder, rows.reset_index(drop=True))
