"""drift_report: daily drift of features and scores against each champion's training reference."""

from datetime import date

import dagster as dg
import pandas as pd

from ml_assets.core import drift, plots
from ml_assets.core.features import SEGMENT_COLUMN
from ml_assets.core.scoring import SCORE_COLUMN
from ml_assets.defs.partitions import daily_partitions, image_markdown, run_dates
from ml_assets.resources.mlflow import CHAMPION, ModelRegistry
from ml_assets.spec import PipelineSpec, ThresholdSpec


def thresholds(spec_thresholds: ThresholdSpec) -> drift.Thresholds:
    """Core thresholds from a spec section."""
    return drift.Thresholds(spec_thresholds.low, spec_thresholds.moderate, spec_thresholds.high)


def segment_day_drift(reference: pd.DataFrame, features: pd.DataFrame, scores: pd.Series,
                      spec: PipelineSpec) -> pd.DataFrame:
    """Drift table of one segment and day: every feature, plus the prediction score."""
    psi, ks = thresholds(spec.drift.psi), thresholds(spec.drift.ks)
    table = drift.feature_drift_table(reference, features, spec.features.model_numeric(), spec.features.categorical,
                                      psi, ks, bins=spec.drift.bins)
    score_table = drift.feature_drift_table(reference[[SCORE_COLUMN]].dropna(), scores.to_frame(SCORE_COLUMN),
                                            [SCORE_COLUMN], [], psi, ks, bins=spec.drift.bins)
    return pd.concat([table, score_table], ignore_index=True)


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
        tables = []
        for segment in spec.segment_names:
            champion = model_registry.load_alias(spec.registered_model_name(segment), CHAMPION)
            if champion is None:
                context.log.warning(f"segment {segment!r} has no champion: no reference to compare against")
                continue
            reference = model_registry.reference(champion)
            seg_features = features[features[SEGMENT_COLUMN] == segment]
            seg_scores = predictions[predictions[SEGMENT_COLUMN] == segment]
            for day, rows in seg_features.groupby(ds.date, sort=True):
                day_scores = seg_scores.loc[seg_scores[ds.date] == day, SCORE_COLUMN]
                tables.append(segment_day_drift(reference, rows, day_scores, spec).assign(
                    **{ds.date: day, "segment": segment, "model_version": champion.version}))
        table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(
            {ds.date: pd.Series(dtype="datetime64[ns]")})
        return dg.Output(table, metadata=drift_metadata(table, spec, run_dates(context)))

    return [drift_report]


def drift_metadata(table: pd.DataFrame, spec: PipelineSpec, dates: tuple[date, date]) -> dict[str, dg.MetadataValue]:
    """Verdict per segment, the worst features, and a drift-by-feature plot per segment."""
    if table.empty or "severity" not in table:
        return {"verdict": dg.MetadataValue.json({})}
    verdict = {seg: drift.overall_severity(rows["severity"]) for seg, rows in table.groupby("segment")}
    worst = (table.sort_values("psi", ascending=False).groupby(["segment", "feature"], as_index=False).first()
             .sort_values("psi", ascending=False).head(15))
    folder = spec.reports_dir / "drift" / f"{dates[0]}_{dates[1]}"
    images = {f"{seg} drift": plots.drift_plot(rows, folder / f"{seg}.png", f"{seg}: PSI by feature",
                                               (spec.drift.psi.moderate, spec.drift.psi.high))
              for seg, rows in table.groupby("segment")}
    shown = ["segment", "feature", "psi", "ks_stat", "wasserstein", "chi2_pvalue", "severity"]
    return {
        "verdict": dg.MetadataValue.json(verdict),
        "worst_features": dg.MetadataValue.md(worst[shown].round(4).to_markdown(index=False)),
        "plots": image_markdown(images),
    }
