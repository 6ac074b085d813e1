"""The monitoring tables of a chunk of days, one block of rows per day: drift over each day's trailing window,
the realized performance of the cohort whose labels matured on it, and the estimate of the cohort ending on it.

The frames handed in hold the chunk's days and the days before them that the windows reach back to."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from ml_assets.core.data.features import SEGMENT_COLUMN
from ml_assets.core.monitoring import drift
from ml_assets.core.monitoring.estimation import cohort_estimates
from ml_assets.core.monitoring.segment_monitoring import (
    PERFORMANCE_COLUMNS,
    cohort_performance,
    drift_scope,
    maturity_cohort,
    segment_drift,
    trailing_windows,
)
from ml_assets.core.scoring.scores import SCORE_COLUMN
from ml_assets.core.training.record import TrainingWindow
from ml_assets.spec import DatasetSpec, DriftSpec, EstimationSpec, FeaturesSpec, PerformanceSpec

VersionKey = tuple[str, str]  # (registered model name, version)


def drift_by_day(profile: drift.ReferenceProfile, features: pd.DataFrame, predictions: pd.DataFrame,
                 days: list[date], date_column: str, feature_spec: FeaturesSpec, settings: DriftSpec) -> pd.DataFrame:
    """Drift table of one segment for each day, over the trailing window ending on it."""
    features = features[[date_column, *feature_spec.model_columns()]]  # each day filters them: only what is compared
    predictions = predictions[[date_column, SCORE_COLUMN]]
    scores = dict(trailing_windows(predictions, date_column, days, settings.window_days))
    scope = drift_scope(feature_spec, settings)
    tables = [segment_drift(profile, rows, scores[day][SCORE_COLUMN], scope, settings).assign(
        **{date_column: pd.Timestamp(day)})
        for day, rows in trailing_windows(features, date_column, days, settings.window_days)]
    return pd.concat(tables, ignore_index=True)


def day_verdicts(table: pd.DataFrame, date_column: str) -> pd.Series:
    """Worst severity per day of one segment's drift table, indexed by date."""
    return table.groupby(table[date_column].dt.date)["severity"].agg(drift.overall_severity)


def performance_by_day(predictions: pd.DataFrame, days: list[date], training_metrics: dict[VersionKey, dict[str, float]],
                       windows: dict[VersionKey, TrainingWindow], ds: DatasetSpec, performance: PerformanceSpec,
                       floor: float, estimation: EstimationSpec) -> pd.DataFrame:
    """cohort_performance of each day's matured cohort, dated with the day it was judged on; `training_metrics`
    and `windows` hold the holdout metrics and training window of every version that scored `predictions`."""
    empty = pd.DataFrame({ds.date: pd.Series(dtype="datetime64[ns]"),
                          **{column: pd.Series(dtype=object) for column in PERFORMANCE_COLUMNS}})
    if predictions.empty:
        return empty
    dates = pd.to_datetime(predictions[ds.date]).dt.date
    tables = []
    for day in days:
        first, last = maturity_cohort(day, ds, performance)
        cohort = predictions[(dates >= first) & (dates <= last)]
        if len(cohort):
            tables.append(cohort_performance(cohort, SEGMENT_COLUMN, ds.date, ds.target, training_metrics,
                                             windows, floor, performance.min_rows, estimation).assign(
                **{ds.date: pd.Timestamp(day), "cohort_first": first.isoformat(), "cohort_last": last.isoformat()}))
    return pd.concat(tables, ignore_index=True) if tables else empty


def estimates_by_day(predictions: pd.DataFrame, days: list[date], windows: dict[VersionKey, TrainingWindow],
                     date_column: str, window_days: int, estimation: EstimationSpec) -> pd.DataFrame:
    """cohort_estimates of each day's cohort (the predictions of the `window_days` days ending on it), dated with
    it; `windows` holds the training window of every version that scored `predictions`."""
    no_rows = pd.DataFrame({date_column: pd.Series(dtype="datetime64[ns]")})
    if predictions.empty:
        return no_rows
    dates = pd.to_datetime(predictions[date_column]).dt.date
    tables = []
    for day in days:
        first = day - timedelta(days=window_days - 1)
        cohort = predictions[(dates >= first) & (dates <= day)]
        if len(cohort):
            tables.append(cohort_estimates(cohort, SEGMENT_COLUMN, date_column, SCORE_COLUMN, windows,
                                           estimation).assign(
                **{date_column: pd.Timestamp(day), "cohort_first": first.isoformat(), "cohort_last": day.isoformat()}))
    return pd.concat(tables, ignore_index=True) if tables else no_rows


def worst_features(judged: pd.DataFrame, date_column: str, top: int = 15) -> pd.DataFrame:
    """Each (segment, feature)'s judged day of largest PSI, the largest first, dates as dates."""
    shown = ["segment", "feature", date_column, "psi", "ks_stat", "wasserstein", "chi2_pvalue", "severity"]
    worst = judged.sort_values("psi", ascending=False).drop_duplicates(["segment", "feature"]).head(top)[shown]
    return worst.assign(**{date_column: worst[date_column].dt.date})


def latest_day(table: pd.DataFrame, date_column: str) -> pd.DataFrame:
    """The rows of the table's latest day (the table itself when it has none)."""
    return table[table[date_column] == table[date_column].max()] if len(table) else table
