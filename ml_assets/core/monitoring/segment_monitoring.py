"""Monitoring of a segment's model: drift against its reference profile over trailing windows of days,
realized performance once labels mature, and the rules that turn both into retrain requests and alerts."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from ml_assets.core.monitoring import drift
from ml_assets.core.monitoring.estimation import ESTIMATE_COLUMNS, estimate_performance, in_sample
from ml_assets.core.scoring.scores import SCORE_COLUMN
from ml_assets.core.training.modeling import expected_calibration_error
from ml_assets.core.training.record import TrainingWindow
from ml_assets.spec import (
    DatasetSpec,
    DriftSpec,
    EstimationSpec,
    EvidentlySpec,
    FeaturesSpec,
    PerformanceSpec,
    TrainingSpec,
)

PERFORMANCE_COLUMNS = ["segment", "model_name", "model_version", "cohort_first", "cohort_last", "in_sample", "rows",
                       "unlabeled_rows", "positives", "roc_auc", "ece", "default_rate", "mean_score",
                       *[column for column in ESTIMATE_COLUMNS if column != "rows"],
                       "training_roc_auc", "training_ece", "training_default_rate", "judged", "below_floor"]


def feature_reference(frame: pd.DataFrame, features: FeaturesSpec, settings: DriftSpec) -> drift.ReferenceProfile:
    """The drift reference of a version's training rows without the score: every model feature (training
    computes it while the booster trains; `with_score_reference` adds the score)."""
    return drift.build_profile(frame, features.model_numeric(), features.categorical, settings.bins,
                               settings.reference_sample_rows)


def with_score_reference(profile: drift.ReferenceProfile, scores: np.ndarray,
                         settings: DriftSpec) -> drift.ReferenceProfile:
    """`profile` plus the holdout scores as the `score` column (bins and counts from all rows, sorted values
    capped at drift.reference_sample_rows)."""
    score = drift.numeric_reference(np.asarray(scores, dtype="float64"), settings.bins,
                                    settings.reference_sample_rows)
    return drift.ReferenceProfile({**profile.numeric, SCORE_COLUMN: score}, profile.categorical)


def trailing_windows(frame: pd.DataFrame, date_column: str, days: list[date],
                     window_days: int) -> Iterator[tuple[date, pd.DataFrame]]:
    """For each day, the rows dated in the `window_days` days ending on it."""
    dates = pd.to_datetime(frame[date_column])
    for day in days:
        end = pd.Timestamp(day)
        yield day, frame[(dates > end - timedelta(days=window_days)) & (dates <= end)]


@dataclass(frozen=True)
class DriftScope:
    """What a drift table compares and what its verdict judges: every model feature is compared and shown;
    `monitored` ones are judged (those in `same_period` against the reference rows of the calendar values the
    current window holds, the others against the whole reference); the score is always judged. Of the `calendar`
    parts among the features, the table also says which values the reference never held."""

    features: tuple[str, ...]
    monitored: frozenset[str]
    same_period: frozenset[str]
    calendar: frozenset[str]


def drift_scope(features: FeaturesSpec, settings: DriftSpec) -> DriftScope:
    """The drift scope of a config: drift.monitored (default every feature but calendar parts) and, with
    features.calendar.handling same_period, the calendar parts judged against the same calendar period."""
    monitored = frozenset(settings.monitored_features(features))
    same_period = monitored & set(features.calendar_features()) \
        if features.calendar.handling == "same_period" else frozenset()
    return DriftScope(tuple(features.model_columns()), monitored, frozenset(same_period),
                      frozenset(features.calendar_features()))


def segment_drift(profile: drift.ReferenceProfile, current: pd.DataFrame, scores: pd.Series, scope: DriftScope,
                  settings: DriftSpec) -> pd.DataFrame:
    """Drift of every feature and of the score, with `monitored` (in the verdict's scope) and `judged`
    (monitored, at least `min_rows` current rows and a non-empty reference); severity is 'none' unless judged."""
    psi, ks = settings.psi, settings.ks
    plain = [column for column in scope.features if column not in scope.same_period]
    same_period = [column for column in scope.features if column in scope.same_period]
    parts = [drift.profile_drift_table(profile, current, psi, ks, columns=plain, category_bins=settings.bins),
             drift.same_period_drift_table(profile, current, same_period, psi, ks, settings.bins),
             drift.profile_drift_table(profile, scores.to_frame(SCORE_COLUMN), psi, ks, columns=[SCORE_COLUMN])]
    table = pd.concat([part for part in parts if len(part)], ignore_index=True)
    table["monitored"] = table["feature"].isin(scope.monitored | {SCORE_COLUMN})
    table["judged"] = table["monitored"] & (table["cur_rows"] >= settings.min_rows) & (table["ref_rows"] > 0)
    table.loc[~table["judged"], "severity"] = "none"
    return with_unseen_calendar_values(table, profile, current, scope.calendar)


def with_unseen_calendar_values(table: pd.DataFrame, profile: drift.ReferenceProfile, current: pd.DataFrame,
                                calendar: frozenset[str]) -> pd.DataFrame:
    """`table` with `unseen_share` and `unseen_values` of its calendar-part rows (NaN and empty elsewhere): the
    current rows whose month, week or day the reference (the training window) never held: values the model never
    fitted, whether drift judges the part or not."""
    found = {column: drift.unseen_values(profile.numeric.get(column) or profile.categorical[column], current[column])
             for column in table["feature"] if column in calendar}
    table["unseen_share"] = [found[c].share if c in found else np.nan for c in table["feature"]]
    table["unseen_values"] = [", ".join(found[c].values) if c in found else "" for c in table["feature"]]
    return table


NOT_JUDGED = "not judged"  # a segment's day verdict when no feature or score of its window was judged


def day_verdict(rows: pd.DataFrame) -> str:
    """A segment's drift verdict of a day from its drift rows: the worst severity of the judged ones, or NOT_JUDGED
    when none was (a window under drift.min_rows rows says nothing, which 'none' would claim)."""
    judged = rows[rows["judged"].astype(bool)]
    return drift.overall_severity(judged["severity"]) if len(judged) else NOT_JUDGED


def windows_in_sample(days: pd.Series, window_days: int, window: TrainingWindow) -> pd.Series:
    """Per drift row day D: True when the window of `window_days` days ending on D touches the version's training
    window, so its rows are part of the reference they are compared with (shown, never acted on)."""
    last = pd.to_datetime(days).dt.date
    return pd.Series([window.overlaps(day - timedelta(days=window_days - 1), day) for day in last], index=days.index,
                     dtype=bool)


def at_least(severity: str, level: str) -> bool:
    """True when `severity` is `level` or worse; NOT_JUDGED reaches no level."""
    return severity != NOT_JUDGED and drift.SEVERITIES.index(severity) >= drift.SEVERITIES.index(level)


def evidently_days(verdicts: pd.Series, option: EvidentlySpec, run_last: date | None = None) -> list[date]:
    """Days (from a day-indexed series of worst severities) that get an Evidently HTML report:
    none, the last day of the run, the last plus every day at or above evidently.min_severity, or all.
    `run_last` is the run's last day when `verdicts` cover only part of the run (a chunk of a range);
    by default the last day of `verdicts`."""
    days = sorted(verdicts.index)
    if option.days == "none" or not days:
        return []
    if option.days == "all":
        return days
    drifted = [day for day in days if at_least(verdicts[day], option.min_severity)] if option.days == "drifted" else []
    last = days[-1] if run_last is None else run_last
    return sorted({*([last] if last in verdicts.index else []), *drifted})


def auc_floor(performance: PerformanceSpec, training: TrainingSpec) -> float:
    """AUC below which realized performance is flagged: monitoring.performance.min_auc or training.min_auc."""
    return training.min_auc if performance.min_auc is None else performance.min_auc


def maturity_cohort(day: date, ds: DatasetSpec, performance: PerformanceSpec) -> tuple[date, date]:
    """First and last prediction date judged on `day`: the trailing window ending label_delay_days earlier."""
    last = day - timedelta(days=ds.label_delay_days)
    return last - timedelta(days=performance.window_days - 1), last


def realized_performance(target: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """ROC AUC (NaN unless both classes occur), calibration error, default rate and mean score."""
    target, scores = np.asarray(target, dtype="float64"), np.asarray(scores, dtype="float64")
    if target.size == 0:
        return {"roc_auc": np.nan, "ece": np.nan, "default_rate": np.nan, "mean_score": np.nan}
    both_classes = 0 < target.sum() < target.size
    return {"roc_auc": float(roc_auc_score(target, scores)) if both_classes else np.nan,
            "ece": expected_calibration_error(target, scores), "default_rate": float(target.mean()),
            "mean_score": float(scores.mean())}


def cohort_performance(cohort: pd.DataFrame, segment_column: str, date_column: str, target: str,
                       training_metrics: dict[tuple[str, str], dict[str, float]],
                       windows: dict[tuple[str, str], TrainingWindow], floor: float, min_rows: int,
                       estimation: EstimationSpec) -> pd.DataFrame:
    """PERFORMANCE_COLUMNS per segment and model version of a cohort of predictions: realized metrics on the
    labelled rows beside the CBPE estimate from their scores and the version's holdout metrics. in_sample when a
    cohort date lies inside the version's training window; judged with at least `min_rows` labelled rows, both
    classes among them; below_floor only when judged, out of sample and the realized AUC is under `floor`."""
    rows = []
    for (segment, name, version), part in cohort.groupby([segment_column, "model_name", "model_version"], sort=True):
        labelled = part[part[target].notna()]
        scores = labelled[SCORE_COLUMN].to_numpy()
        realized = realized_performance(labelled[target].to_numpy(), scores)
        estimate = estimate_performance(scores, estimation).columns()
        estimate.pop("rows")
        trained = training_metrics.get((str(name), str(version)), {})
        judged = len(labelled) >= min_rows and not np.isnan(realized["roc_auc"])
        seen = in_sample(part[date_column], windows.get((str(name), str(version))))
        rows.append({"segment": segment, "model_name": name, "model_version": str(version), "in_sample": seen,
                     "rows": len(labelled), "unlabeled_rows": len(part) - len(labelled),
                     "positives": int(labelled[target].sum()), **realized, **estimate,
                     "training_roc_auc": trained.get("roc_auc", np.nan), "training_ece": trained.get("ece", np.nan),
                     "training_default_rate": trained.get("positive_rate", np.nan),
                     "judged": judged, "below_floor": bool(judged and not seen and realized["roc_auc"] < floor)})
    return pd.DataFrame(rows, columns=PERFORMANCE_COLUMNS)


@dataclass(frozen=True)
class RetrainSignal:
    """One reason to retrain a segment: drift or low realized performance of a model version on a day."""

    segment: str
    model_version: str
    day: str
    reason: str

    @property
    def run_key(self) -> str:
        """Identity of the event: the same reason, segment, version and day never triggers twice."""
        return f"{self.reason}:{self.segment}:v{self.model_version}:{self.day}"


def drift_signals(metadata: Mapping[str, Any], min_severity: str) -> list[RetrainSignal]:
    """Signals of a drift_report materialization: segments whose latest-day verdict reaches `min_severity` on an
    out-of-sample window (an in-sample one compares the model's training rows with themselves)."""
    verdict, versions = metadata.get("verdict") or {}, metadata.get("model_versions") or {}
    in_sample = metadata.get("in_sample") or {}
    return [RetrainSignal(segment, str(versions.get(segment, "?")), str(metadata.get("verdict_day", "")), "drift")
            for segment, severity in sorted(verdict.items())
            if at_least(severity, min_severity) and not in_sample.get(segment, False)]


def performance_signals(metadata: Mapping[str, Any]) -> list[RetrainSignal]:
    """Signals of a model_performance materialization: segments whose realized AUC is below the floor."""
    below, versions = metadata.get("below_floor") or {}, metadata.get("model_versions") or {}
    return [RetrainSignal(segment, str(versions.get(segment, "?")), str(metadata.get("performance_day", "")),
                          "performance") for segment, is_below in sorted(below.items()) if is_below]


def plan_retraining(signals: list[RetrainSignal], last_requests: Mapping[str, datetime], now: datetime,
                    cooldown_hours: float) -> tuple[list[RetrainSignal], list[str]]:
    """At most one request per segment (its latest signal), none while the segment is in cooldown;
    returns the signals to request and why the others were held back."""
    latest: dict[str, RetrainSignal] = {}
    for signal in sorted(signals, key=lambda s: (s.day, s.reason)):
        latest[signal.segment] = signal
    chosen, held = [], []
    for segment, signal in sorted(latest.items()):
        if in_cooldown(last_requests.get(segment), now, cooldown_hours):
            held.append(f"{segment}: {signal.reason} on {signal.day} held back, a retrain was requested at "
                        f"{last_requests[segment].isoformat()} (cooldown {cooldown_hours} h)")
        else:
            chosen.append(signal)
    return chosen, held


def in_cooldown(last_request: datetime | None, now: datetime, cooldown_hours: float) -> bool:
    """True while less than `cooldown_hours` have passed since the last retrain request."""
    return last_request is not None and now - last_request < timedelta(hours=cooldown_hours)


class ErrorInfo(Protocol):
    """What a failure alert reads of a step's error (Dagster's serialized error and its causes)."""

    cls_name: str | None
    message: str
    cause: ErrorInfo | None


def root_error(error: ErrorInfo) -> ErrorInfo:
    """The innermost cause of a step error: the user's exception, not Dagster's wrapper."""
    while error.cause is not None:
        error = error.cause
    return error


def run_failure_text(pipeline: str, job: str, run_id: str, message: str, steps: list[tuple[str, str]],
                     max_error_chars: int = 300) -> str:
    """Alert message for a failed run, with each failed step's error on one line (shortened)."""
    lines = [f":x: [{pipeline}] run {run_id} of {job} failed: {message}"]
    for step, error in steps:
        text = " ".join(line.strip() for line in error.splitlines() if line.strip()) or "no message"
        lines.append(f"- {step}: {text if len(text) <= max_error_chars else text[:max_error_chars - 3] + '...'}")
    return "\n".join(lines)


def drift_alert_text(pipeline: str, day: str, segment: str, severity: str, worst: pd.DataFrame,
                     report: str | None) -> str:
    """Alert message for drift in one segment: severity, day and the worst features by PSI."""
    features = ", ".join(f"{row.feature} (PSI {row.psi:.3f}, KS {row.ks_stat:.3f})"
                         for row in worst.itertuples() if not pd.isna(row.psi))
    lines = [f":warning: [{pipeline}] {severity} drift in segment '{segment}' on {day}",
             f"worst features: {features or 'none'}"]
    return "\n".join(lines + ([f"Evidently report: {report}"] if report else []))


def performance_alert_text(pipeline: str, day: str, row: pd.Series, floor: float) -> str:
    """Alert message for realized AUC under the floor."""
    return (f":warning: [{pipeline}] realized ROC AUC {row['roc_auc']:.3f} of segment '{row['segment']}' "
            f"({row['model_name']} v{row['model_version']}, predictions {row['cohort_first']}..{row['cohort_last']}, "
            f"{row['rows']} labelled rows) is below the floor {floor:.3f} (holdout AUC {row['training_roc_auc']:.3f}); "
            f"judged on {day}")
