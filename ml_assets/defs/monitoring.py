"""drift_report, estimated_performance and model_performance: daily drift against each champion's reference
profile, the performance estimated from calibrated scores as soon as predictions exist, and the realized
performance of past predictions once their labels have matured (beside the estimate of the same cohort).

A run over a range works a chunk of `storage.chunk_days` days at a time: each chunk reads its days plus the
trailing window before them, and stages its output days; the tables kept for metadata hold a few rows per day."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd

from ml_assets.core.data.features import SEGMENT_COLUMN
from ml_assets.core.monitoring import drift
from ml_assets.core.monitoring.daily_tables import (
    VersionKey,
    day_verdicts,
    drift_by_day,
    estimates_by_day,
    latest_day,
    performance_by_day,
    worst_features,
)
from ml_assets.core.monitoring.evidently_report import (
    HTML_FILE,
    drift_plot_path,
    write_drift_html,
    write_drift_table,
)
from ml_assets.core.monitoring.segment_monitoring import (
    at_least,
    auc_floor,
    day_verdict,
    drift_alert_text,
    evidently_days,
    maturity_cohort,
    performance_alert_text,
    trailing_windows,
    windows_in_sample,
)
from ml_assets.core.scoring.risk_report import concat_tables
from ml_assets.core.scoring.scores import SCORE_COLUMN
from ml_assets.core.training import plots
from ml_assets.core.training.record import ScoringMeta
from ml_assets.defs.daily import Chunk, DailyRun
from ml_assets.defs.metadata import (
    Figure,
    PartitionFigures,
    add_drift_figures,
    add_estimation_figures,
    add_performance_figures,
    image_markdown,
    link_evidently_reports,
    markdown_table,
)
from ml_assets.defs.partitions import daily_partitions, trailing_days
from ml_assets.defs.retries import names_outage_when_spent, service_retry_policy
from ml_assets.resources.alerts import AlertWebhook
from ml_assets.resources.registry import CHAMPION, ArtifactError, LoadedModel, ModelRegistry
from ml_assets.resources.storage import DailyFrames
from ml_assets.spec import PipelineSpec

NO_HIGH_DRIFT = "no_high_drift"
AUC_ABOVE_FLOOR = "auc_above_floor"


def with_trailing_days(view: DailyFrames, first: date, last: date, window_days: int,
                       columns: list[str]) -> pd.DataFrame:
    """A chunk's rows of a daily input (only `columns`) with the stored days of the `window_days - 1` days before
    it, for trailing windows. The input's partition mapping stays the identity: a window mapping would make a
    backfill of days D1..D2 target this asset's days up to D2 + window_days - 1 as well, in a run of their own."""
    frame = view.read(first, last, columns)
    before = view.read_stored(first - timedelta(days=window_days - 1), first - timedelta(days=1), columns)
    if before.empty or frame.empty:  # concatenating an empty frame would blur the dtypes
        return frame if before.empty else before
    return pd.concat([before, frame], ignore_index=True)


def performance_inputs(spec: PipelineSpec) -> list[str]:
    """The columns of predictions that model_performance reads."""
    return [spec.dataset.date, spec.dataset.target, SEGMENT_COLUMN, "model_name", "model_version", SCORE_COLUMN]


def drift_inputs(spec: PipelineSpec) -> tuple[list[str], list[str]]:
    """The columns drift_report reads of features (keys, segment, every feature) and of predictions (keys,
    segment, score)."""
    keys = [spec.dataset.id, spec.dataset.date, SEGMENT_COLUMN]
    return keys + spec.feature_columns(), keys + [SCORE_COLUMN]


def run_champions(registry: ModelRegistry, spec: PipelineSpec,
                  log: dg.DagsterLogManager) -> dict[str, tuple[LoadedModel, drift.ReferenceProfile]]:
    """Each segment's champion with its reference profile; a segment without a champion is left out (warned)."""
    champions = {}
    for segment in spec.segment_names:
        try:
            champion = registry.load_alias(spec.registered_model_name(segment), CHAMPION)
            if champion is None:
                log.warning(f"segment {segment!r} has no champion: no reference to compare against")
                continue
            champions[segment] = (champion, registry.reference_profile(champion))
        except ArtifactError as error:
            log.error(f"segment {segment!r}: no drift report: {error}")
    return champions


def drift_chunk(champions: dict[str, tuple[LoadedModel, drift.ReferenceProfile]], features: pd.DataFrame,
                predictions: pd.DataFrame, days: list[date], registry: ModelRegistry, spec: PipelineSpec,
                run_last: date) -> tuple[dict[str, pd.DataFrame], dict[str, dict[date, Path]]]:
    """Each segment's drift table for `days` and its Evidently reports (by day); `features` and `predictions`
    hold those days and the trailing window before them, `run_last` is the run's last day."""
    tables, reports = {}, {}
    for segment, (champion, profile) in champions.items():
        seg_features = features[features[SEGMENT_COLUMN] == segment]
        seg_scores = predictions[predictions[SEGMENT_COLUMN] == segment]
        table = drift_by_day(profile, seg_features, seg_scores, days, spec.dataset.date, spec.features, spec.drift)
        tables[segment] = table.assign(segment=segment, model_version=champion.version, in_sample=windows_in_sample(
            table[spec.dataset.date], spec.drift.window_days, champion.meta.window))
        reports[segment] = write_segment_reports(tables[segment], seg_features, seg_scores, champion, registry, spec,
                                                 run_last)
    return tables, reports


def write_segment_reports(table: pd.DataFrame, features: pd.DataFrame, predictions: pd.DataFrame,
                          champion: LoadedModel, registry: ModelRegistry, spec: PipelineSpec,
                          run_last: date | None = None) -> dict[date, Path]:
    """For the days `drift.evidently.days` selects, one segment's drift table of the day and an Evidently
    HTML report beside it (bounded samples of the reference and of the day's trailing window); returns the
    HTML paths by day. `run_last`: the run's last day when `table` covers a chunk of the run."""
    date_column, segment = spec.dataset.date, str(table["segment"].iat[0])
    html_days = evidently_days(day_verdicts(table, date_column), spec.drift.evidently, run_last)
    if not html_days:
        return {}
    reference = registry.reference(champion)
    scored = features.merge(predictions[[spec.dataset.id, SCORE_COLUMN]], on=spec.dataset.id, how="left")
    windows = dict(trailing_windows(scored, date_column, html_days, spec.drift.window_days))
    numeric = spec.features.model_numeric() + [SCORE_COLUMN]
    paths = {}
    for day in html_days:
        folder = write_drift_table(table[table[date_column].dt.date == day].reset_index(drop=True),
                                   spec.reports_dir, day, segment)
        if len(windows[day]):
            paths[day] = write_drift_html(reference, windows[day], numeric, spec.features.categorical,
                                          folder / HTML_FILE, spec.drift.evidently.sample_rows)
    return paths


def send_drift_alerts(table: pd.DataFrame, reports: dict[str, dict[date, Path]], alerts: AlertWebhook,
                      spec: PipelineSpec) -> list[str]:
    """One alert per segment whose latest day, out of sample, reaches monitoring.alerts.drift_severity; returns
    the segments alerted."""
    date_column, alerted = spec.dataset.date, []
    latest = table[table[date_column] == table[date_column].max()]
    for segment, rows in latest.groupby("segment"):
        verdict = day_verdict(rows)
        if rows["in_sample"].any() or not at_least(verdict, spec.monitoring.alerts.drift_severity):
            continue
        day = rows[date_column].iat[0].date()
        worst = rows[rows["judged"]].sort_values("psi", ascending=False).head(5)
        report = reports.get(str(segment), {}).get(day)
        alerts.send(drift_alert_text(spec.name, day.isoformat(), str(segment), verdict, worst,
                                     str(report) if report else None))
        alerted.append(str(segment))
    return alerted


def drift_check(table: pd.DataFrame, spec: PipelineSpec, alerted: list[str]) -> dg.AssetCheckResult:
    """Fails when any judged feature of any out-of-sample day reaches 'high' (in-sample days are counted, not
    judged); blocking only with drift.fail_on_drift."""
    date_column = spec.dataset.date
    all_high = table[table["severity"] == "high"] if "severity" in table else table.iloc[0:0]
    high = all_high[~all_high["in_sample"].astype(bool)] if len(all_high) else all_high
    days = {str(seg): sorted(rows[date_column].dt.strftime("%Y-%m-%d").unique().tolist())
            for seg, rows in high.groupby("segment")}
    features = {str(seg): sorted(rows["feature"].unique().tolist()) for seg, rows in high.groupby("segment")}
    in_sample = {str(seg): int(rows.loc[rows["in_sample"].astype(bool), date_column].nunique())
                 for seg, rows in all_high.groupby("segment")}
    severity = dg.AssetCheckSeverity.ERROR if spec.drift.fail_on_drift else dg.AssetCheckSeverity.WARN
    return dg.AssetCheckResult(check_name=NO_HIGH_DRIFT, passed=high.empty, severity=severity, metadata={
        "high_drift_days": dg.MetadataValue.json(days), "high_drift_features": dg.MetadataValue.json(features),
        "in_sample_high_days_not_judged": dg.MetadataValue.json(in_sample),
        "alerted_segments": dg.MetadataValue.json(alerted)})


def no_drift_rows(date_column: str) -> pd.DataFrame:
    """A drift table without rows (no champion to compare against)."""
    return pd.DataFrame({date_column: pd.Series(dtype="datetime64[ns]")})


@dataclass
class DriftFindings:
    """A run's drift tables and Evidently report paths per segment, added up over its chunks."""

    tables: dict[str, list[pd.DataFrame]]
    reports: dict[str, dict[date, Path]]

    @classmethod
    def of(cls, segments: Iterable[str]) -> "DriftFindings":
        """No findings yet for each of `segments`."""
        segments = list(segments)
        return cls({segment: [] for segment in segments}, {segment: {} for segment in segments})

    def add(self, tables: dict[str, pd.DataFrame], reports: dict[str, dict[date, Path]]) -> None:
        """Add one chunk's drift table and Evidently reports of each segment."""
        for segment, table in tables.items():
            self.tables[segment].append(table)
            self.reports[segment] |= reports[segment]

    def table(self, date_column: str) -> pd.DataFrame:
        """Every segment's drift rows of the run, segment by segment in chunk order."""
        if not self.tables:
            return no_drift_rows(date_column)
        return pd.concat([table for tables in self.tables.values() for table in tables], ignore_index=True)


def champion_versions(champions: dict[str, tuple[LoadedModel, drift.ReferenceProfile]]) -> dict[str, str]:
    """The champion version each segment was compared against."""
    return {segment: champion.version for segment, (champion, _) in champions.items()}


def add_drift_chunk_figures(chunk: Chunk, tables: dict[str, pd.DataFrame]) -> None:
    """Per day of a chunk: its drift rows and worst PSI, its verdict and worst features, and its own name."""
    date_column = chunk.date_column
    add_drift_figures(chunk.figures, tables, date_column, chunk.first, chunk.last)
    chunk.describe_days(concat_tables(list(tables.values())) if tables else no_drift_rows(date_column),
                        lambda day: drift_day_figures(day, date_column))
    chunk.name_days("verdict_day")


def add_drift_run_figures(run: DailyRun, table: pd.DataFrame, reports: dict[str, dict[date, Path]],
                          champions: dict[str, tuple[LoadedModel, drift.ReferenceProfile]],
                          registry: ModelRegistry) -> None:
    """Of the whole run: each Evidently report linked in MLflow and by path on its day, and the range summary on
    the run's last day."""
    link_evidently_reports(run.figures, reports, {seg: (c.name, c.version) for seg, (c, _) in champions.items()},
                           registry.client, run.spec.mlflow)
    add_report_paths(run.figures, reports)
    run.add_range_summary(drift_range_summary(table, run.spec, (run.first, run.last)))


def build_monitoring_assets(spec: PipelineSpec) -> list[dg.AssetsDefinition]:
    """drift_report, model_performance and estimated_performance over daily partitions."""
    ds, performance = spec.dataset, spec.monitoring.performance
    delay, window, cohort_days = ds.label_delay_days, spec.drift.window_days, performance.window_days

    @dg.asset(
        retry_policy=service_retry_policy(spec.retries),
        partitions_def=daily_partitions(spec),
        backfill_policy=dg.BackfillPolicy.single_run(),
        check_specs=[dg.AssetCheckSpec(NO_HIGH_DRIFT, asset="drift_report", blocking=spec.drift.fail_on_drift,
                                       description="no judged feature or score at 'high' drift on any "
                                                   "out-of-sample day of the run (blocking, and so stopping "
                                                   "risk_report, with drift.fail_on_drift)")],
        group_name="monitoring",
        kinds={"pandas", "parquet"},
    )
    @names_outage_when_spent(spec.retries, spec.tracking_uri)
    def drift_report(context: dg.AssetExecutionContext, features: DailyFrames, predictions: DailyFrames,
                     model_registry: ModelRegistry, alerts: AlertWebhook):
        """PSI, KS, chi-square and Wasserstein per feature and on the score, per segment and day, against the
        champion's reference profile; Evidently HTML reports for the days drift.evidently.days selects."""
        champions = run_champions(model_registry, spec, context.log)
        found = DriftFindings.of(champions)
        feature_columns, score_columns = drift_inputs(spec)
        with DailyRun(context, spec) as run:
            for chunk in run.chunks():
                tables, reports = drift_chunk(
                    champions, with_trailing_days(features, chunk.first, chunk.last, window, feature_columns),
                    with_trailing_days(predictions, chunk.first, chunk.last, window, score_columns),
                    chunk.days, model_registry, spec, run.last)
                found.add(tables, reports)
                add_drift_chunk_figures(chunk, tables)
                chunk.stage(pd.concat(tables.values(), ignore_index=True) if tables else no_drift_rows(ds.date))
            table = found.table(ds.date)
            alerted = send_drift_alerts(table, found.reports, alerts, spec) if champions else []
            add_drift_run_figures(run, table, found.reports, champions, model_registry)
            yield run.output({"model_versions": dg.MetadataValue.json(champion_versions(champions)),
                              "monitored_features": dg.MetadataValue.json(spec.monitored_features())})
        yield drift_check(table, spec, alerted)

    @dg.asset(
        retry_policy=service_retry_policy(spec.retries),
        partitions_def=daily_partitions(spec),
        backfill_policy=dg.BackfillPolicy.single_run(),
        ins={"predictions": dg.AssetIn(partition_mapping=trailing_days(cohort_days, lag=delay))},
        check_specs=[dg.AssetCheckSpec(AUC_ABOVE_FLOOR, asset="model_performance",
                                       description="realized ROC AUC of every judged out-of-sample cohort at or above "
                                                   "the floor (warns, never blocks)")],
        group_name="monitoring",
        kinds={"pandas", "parquet"},
    )
    @names_outage_when_spent(spec.retries, spec.tracking_uri)
    def model_performance(context: dg.AssetExecutionContext, predictions: DailyFrames, model_registry: ModelRegistry,
                          alerts: AlertWebhook):
        """For each day D, per segment and model version: realized ROC AUC, calibration error and default rate
        of the predictions whose labels matured on D (dated D - label_delay_days, pooled over
        monitoring.performance.window_days), beside the CBPE estimate of the same rows and the version's holdout
        metrics; cohorts touching the version's training window are marked in_sample and never judged."""
        tables = []
        with DailyRun(context, spec) as run:
            for chunk in run.chunks():
                cohorts = predictions.read_stored(maturity_cohort(chunk.first, ds, performance)[0],
                                                  maturity_cohort(chunk.last, ds, performance)[1],
                                                  performance_inputs(spec))
                table = chunk_performance(cohorts, chunk.days, model_registry, spec)
                tables.append(table)
                chunk.stage(table)
                add_performance_figures(chunk.figures, table, ds.date, spec.segment_names, chunk.first, chunk.last)
                chunk.describe_days(table, performance_day_figures)
                chunk.name_days("performance_day")
            table = concat_tables(tables)
            alerted = send_performance_alerts(latest_day(table, ds.date), alerts, spec, run.last)
            yield run.output({"floor": auc_floor(spec.monitoring.performance, spec.training)})
        yield floor_check(table, alerted, spec)

    @dg.asset(
        partitions_def=daily_partitions(spec),
        backfill_policy=dg.BackfillPolicy.single_run(),
        group_name="monitoring",
        kinds={"pandas", "parquet"},
    )
    def estimated_performance(context: dg.AssetExecutionContext, predictions: DailyFrames,
                              model_registry: ModelRegistry):
        """For each day D, per segment and model version: default rate and ROC AUC estimated from the calibrated
        scores (CBPE, with an interval) of the predictions dated in the monitoring.performance.window_days days
        ending on D, the cohort model_performance judges once its labels mature; in_sample marks cohorts that
        touch the version's training window."""
        with DailyRun(context, spec) as run:
            for chunk in run.chunks():
                rows = with_trailing_days(predictions, chunk.first, chunk.last, cohort_days, estimation_inputs(spec))
                table = chunk_estimates(rows, chunk.days, model_registry, spec)
                chunk.stage(table)
                add_estimation_figures(chunk.figures, table, ds.date, spec.segment_names, chunk.first, chunk.last)
                chunk.describe_days(table, estimation_day_figures)
            yield run.output({"method": estimation_method(spec)})

    return [drift_report, model_performance, estimated_performance]


def floor_check(table: pd.DataFrame, alerted: list[str], spec: PipelineSpec) -> dg.AssetCheckResult:
    """Passes when no judged out-of-sample cohort of any day of the run is below the AUC floor (in-sample cohorts
    are listed, never judged); warns, never blocks."""
    below = table[table["below_floor"].astype(bool)] if len(table) else table
    shown = ["segment", "model_version", spec.dataset.date, "cohort_first", "cohort_last", "rows", "roc_auc",
             "estimated_roc_auc", "training_roc_auc"]
    judged = table[table["judged"].astype(bool)] if len(table) else table
    return dg.AssetCheckResult(
        check_name=AUC_ABOVE_FLOOR, passed=below.empty, severity=dg.AssetCheckSeverity.WARN, metadata={
            "floor": auc_floor(spec.monitoring.performance, spec.training),
            "alerted_segments": dg.MetadataValue.json(alerted),
            "judged_cohorts": int((~judged["in_sample"].astype(bool)).sum()) if len(judged) else 0,
            "in_sample_cohorts_not_judged": int(judged["in_sample"].astype(bool).sum()) if len(judged) else 0,
            "below_floor": dg.MetadataValue.md(below[shown].round(4).to_markdown(index=False) if len(below)
                                               else "none")})


def estimation_inputs(spec: PipelineSpec) -> list[str]:
    """The columns of predictions that estimated_performance reads."""
    return [spec.dataset.date, SEGMENT_COLUMN, "model_name", "model_version", SCORE_COLUMN]


def scoring_records(predictions: pd.DataFrame, registry: ModelRegistry) -> dict[VersionKey, ScoringMeta]:
    """The scoring record (training window, holdout metrics) of every model version that scored `predictions`."""
    versions = predictions[["model_name", "model_version"]].drop_duplicates().itertuples(index=False)
    return {(str(n), str(v)): registry.load(str(n), str(v)).meta for n, v in versions}


def chunk_performance(cohorts: pd.DataFrame, days: list[date], registry: ModelRegistry,
                      spec: PipelineSpec) -> pd.DataFrame:
    """performance_by_day of a chunk's days, with the holdout metrics and training windows of the versions that
    scored its cohorts."""
    records = scoring_records(cohorts, registry) if len(cohorts) else {}
    return performance_by_day(cohorts, days, {key: meta.holdout_metrics for key, meta in records.items()},
                              {key: meta.window for key, meta in records.items()}, spec.dataset,
                              spec.monitoring.performance, auc_floor(spec.monitoring.performance, spec.training),
                              spec.monitoring.estimation)


def chunk_estimates(rows: pd.DataFrame, days: list[date], registry: ModelRegistry, spec: PipelineSpec) -> pd.DataFrame:
    """estimates_by_day of a chunk's days, with the training windows of the versions that scored its rows."""
    records = scoring_records(rows, registry) if len(rows) else {}
    return estimates_by_day(rows, days, {key: meta.window for key, meta in records.items()}, spec.dataset.date,
                            spec.monitoring.performance.window_days, spec.monitoring.estimation)


def estimation_day_figures(day: pd.DataFrame) -> dict[str, Figure]:
    """A day's estimates per segment and model version."""
    shown = ["segment", "model_version", "cohort_first", "cohort_last", "in_sample", "rows", "estimated_default_rate",
             "estimated_default_rate_low", "estimated_default_rate_high", "estimated_roc_auc",
             "estimated_roc_auc_low", "estimated_roc_auc_high"]
    return {"estimates": dg.MetadataValue.md(markdown_table(day[shown].round(4)) if len(day) else "no predictions")}


def estimation_method(spec: PipelineSpec) -> str:
    """How the estimates are made, in one line."""
    estimation = spec.monitoring.estimation
    return (f"CBPE from calibrated scores; {estimation.level:.0%} interval of {estimation.samples} "
            "Bernoulli(score) label draws")


def send_performance_alerts(latest: pd.DataFrame, alerts: AlertWebhook, spec: PipelineSpec, day: date) -> list[str]:
    """One alert per segment and model version of the latest day whose realized AUC is below the floor."""
    below = latest[latest["below_floor"].astype(bool)] if len(latest) else latest
    for _, row in below.iterrows():
        alerts.send(performance_alert_text(spec.name, day.isoformat(), row,
                                           auc_floor(spec.monitoring.performance, spec.training)))
    return sorted({str(segment) for segment in below["segment"]}) if len(below) else []


def drift_day_figures(day: pd.DataFrame, date_column: str) -> dict[str, Figure]:
    """A day's verdict per segment (read by retrain_on_drift), its worst judged features and, when its window
    holds calendar values the training window never held, those values."""
    verdict = {str(seg): day_verdict(rows) for seg, rows in day.groupby("segment")} if len(day) else {}
    judged = day[day["judged"].astype(bool)] if len(day) else day
    in_sample = {str(seg): bool(rows["in_sample"].any()) for seg, rows in day.groupby("segment")} if len(day) else {}
    figures = {"verdict": dg.MetadataValue.json(verdict), "in_sample": dg.MetadataValue.json(in_sample),
               "worst_features": dg.MetadataValue.md(worst_features_markdown(judged, date_column))}
    unseen = unseen_calendar_rows(day)
    if len(unseen):
        figures["unseen_calendar_values"] = dg.MetadataValue.md(markdown_table(
            unseen[["segment", "feature", "unseen_share", "unseen_values"]].round(4)))
    return figures


def unseen_calendar_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The drift rows of calendar parts whose window holds values the model's training window never held."""
    return table[table["unseen_share"] > 0] if "unseen_share" in table else table.iloc[0:0]


def add_report_paths(figures: PartitionFigures, reports: dict[str, dict[date, Path]]) -> None:
    """Each day's Evidently report path per segment, on that day."""
    for segment, by_day in reports.items():
        for day, path in by_day.items():
            figures.add(day.isoformat(), {f"evidently_report_{segment}": dg.MetadataValue.path(str(path))})


def drift_range_summary(table: pd.DataFrame, spec: PipelineSpec, dates: tuple[date, date]) -> dict[str, Figure]:
    """Of the whole run: days at high drift per segment, and a drift-by-feature plot per segment of its judged
    days."""
    if table.empty or "severity" not in table:
        return {}
    date_column = spec.dataset.date
    high_days = {str(seg): int(rows.loc[(rows["severity"] == "high") & ~rows["in_sample"].astype(bool),
                                        date_column].nunique())
                 for seg, rows in table.groupby("segment")}
    unseen = unseen_calendar_rows(table)
    unseen_days = {str(seg): int(unseen.loc[unseen["segment"] == seg, date_column].nunique())
                   for seg in table["segment"].unique()}
    images = {f"{seg} drift": plots.drift_plot(rows, drift_plot_path(spec.reports_dir, *dates, str(seg)),
                                               f"{seg}: PSI by feature (judged days)",
                                               (spec.drift.psi.moderate, spec.drift.psi.high))
              for seg, rows in table[table["judged"].astype(bool)].groupby("segment")}
    return {"days_with_high_drift": dg.MetadataValue.json(high_days),
            "days_with_unseen_calendar_values": dg.MetadataValue.json(unseen_days), "plots": image_markdown(images)}


def worst_features_markdown(judged: pd.DataFrame, date_column: str) -> str:
    """`worst_features` as a markdown table, or a line saying that no day was judged."""
    if judged.empty:
        return "no judged day (too few rows in the trailing window)"
    return markdown_table(worst_features(judged, date_column).round(4))


def performance_day_figures(day: pd.DataFrame) -> dict[str, Figure]:
    """A day's realized metrics per segment from its largest judged out-of-sample cohort (read by
    retrain_on_drift), and every cohort of the day, in-sample ones marked, realized beside estimated."""
    judged = day[day["judged"].astype(bool) & ~day["in_sample"].astype(bool)] if len(day) else day
    judged = judged.sort_values("rows").groupby("segment").tail(1) if len(judged) else judged
    shown = ["segment", "model_version", "cohort_first", "cohort_last", "in_sample", "rows", "roc_auc",
             "estimated_roc_auc", "estimated_roc_auc_low", "estimated_roc_auc_high", "training_roc_auc", "ece",
             "default_rate", "estimated_default_rate", "training_default_rate", "judged", "below_floor"]
    return {
        "below_floor": dg.MetadataValue.json({str(r.segment): bool(r.below_floor) for r in judged.itertuples()}),
        "model_versions": dg.MetadataValue.json({str(r.segment): str(r.model_version) for r in judged.itertuples()}),
        "realized_auc": dg.MetadataValue.json({str(r.segment): round(float(r.roc_auc), 4) for r in judged.itertuples()}),
        "cohorts": dg.MetadataValue.md(markdown_table(day[shown].round(4)) if len(day) else "no matured predictions"),
    }
