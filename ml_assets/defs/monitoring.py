"""drift_report: daily drift of features and scores against each champion's training reference."""

from datetime import date, timedelta

import dagster as dg
import pandas as pd

from ml_assets.core import drift, lake, plots
from ml_assets.core.features import SEGMENT_COLUMN
from ml_assets.core.monitoring import segment_drift, trailing_windows
from ml_assets.core.scoring import SCORE_COLUMN
from ml_assets.core.sources import days_between
from ml_assets.defs.partitions import daily_partitions, image_markdown, run_dates
from ml_assets.resources.mlflow import CHAMPION, ModelRegistry
from ml_assets.resources.storage import DATE_DIMENSION
from ml_assets.spec import PipelineSpec


def with_preceding_days(frame: pd.DataFrame, asset: str, start: date, spec: PipelineSpec) -> pd.DataFrame:
    """`frame` plus the stored rows of the `window_days - 1` days before `start`, for trailing windows."""
    before = days_between(start - timedelta(days=spec.drift.window_days - 1), start - timedelta(days=1))
    folders = [lake.partition_dir(spec.lake_dir, asset, DATE_DIMENSION, day.isoformat()) for day in before]
    stored = [folder for folder in folders if folder.exists()]
    return pd.concat([lake.read_frames(stored), frame], ignore_index=True) if stored else frame


def build_monitoring_assets(spec: PipelineSpec) -> list[dg.AssetsDefinition]:
    """drift_report over daily partitions."""
    ds = spec.dataset

    @dg.asset(
        partitions_def=daily_partitions(spec),
        backfill_policy=dg.BackfillPolicy.single_run(),
        group_name="monitoring",
        kinds={"pandas", "parquet"},
    )
    def drift_report(context: dg.AssetExecutionContext, features: pd.DataFrame, predictions: pd.DataFrame,
                     model_registry: ModelRegistry) -> dg.Output[pd.DataFrame]:
        """PSI, KS, chi-square and Wasserstein per feature and on the score, per segment and day."""
        start, end = run_dates(context)
        days = days_between(start, end)
        features = with_preceding_days(features, "features", start, spec)
        predictions = with_preceding_days(predictions, "predictions", start, spec)
        tables = []
        for segment in spec.segment_names:
            champion = model_registry.load_alias(spec.registered_model_name(segment), CHAMPION)
            if champion is None:
                context.log.warning(f"segment {segment!r} has no champion: no reference to compare against")
                continue
            reference = model_registry.reference(champion)
            seg_features = features[features[SEGMENT_COLUMN] == segment]
            seg_scores = predictions[predictions[SEGMENT_COLUMN] == segment]
            score_windows = dict(trailing_windows(seg_scores, ds.date, days, spec.drift.window_days))
            for day, rows in trailing_windows(seg_features, ds.date, days, spec.drift.window_days):
                tables.append(segment_drift(reference, rows, score_windows[day][SCORE_COLUMN], spec).assign(
                    **{ds.date: pd.Timestamp(day), "segment": segment, "model_version": champion.version}))
        table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(
            {ds.date: pd.Series(dtype="datetime64[ns]")})
        return dg.Output(table, metadata=drift_metadata(table, spec, (start, end)))

    return [drift_report]


def drift_metadata(table: pd.DataFrame, spec: PipelineSpec, dates: tuple[date, date]) -> dict[str, dg.MetadataValue]:
    """Verdict per segment, the worst features, and a drift-by-feature plot per segment."""
    if table.empty or "severity" not in table:
        return {"verdict": dg.MetadataValue.json({})}
    latest = table[table[spec.dataset.date] == table[spec.dataset.date].max()]
    verdict = {seg: drift.overall_severity(rows["severity"]) for seg, rows in latest.groupby("segment")}
    high_days = {seg: int(rows.loc[rows["severity"] == "high", spec.dataset.date].nunique())
                 for seg, rows in table.groupby("segment")}
    worst = (table.sort_values("psi", ascending=False).groupby(["segment", "feature"], as_index=False).first()
             .sort_values("psi", ascending=False).head(15))
    folder = spec.reports_dir / "drift" / f"{dates[0]}_{dates[1]}"
    images = {f"{seg} drift": plots.drift_plot(rows, folder / f"{seg}.png", f"{seg}: PSI by feature",
                                               (spec.drift.psi.moderate, spec.drift.psi.high))
              for seg, rows in table.groupby("segment")}
    shown = ["segment", "feature", spec.dataset.date, "psi", "ks_stat", "wasserstein", "chi2_pvalue", "severity"]
    return {
        "verdict": dg.MetadataValue.json(verdict),
        "days_with_high_drift": dg.MetadataValue.json(high_days),
        "worst_features": dg.MetadataValue.md(worst[shown].round(4).to_markdown(index=False)),
        "plots": image_markdown(images),
    }
