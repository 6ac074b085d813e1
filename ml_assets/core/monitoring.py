"""Daily drift of a segment against its model's reference, over a trailing window of days."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

import pandas as pd

from ml_assets.core import drift
from ml_assets.core.scoring import SCORE_COLUMN
from ml_assets.spec import PipelineSpec, ThresholdSpec


def thresholds(spec_thresholds: ThresholdSpec) -> drift.Thresholds:
    """Core thresholds from a spec section."""
    return drift.Thresholds(spec_thresholds.low, spec_thresholds.moderate, spec_thresholds.high)


def trailing_windows(frame: pd.DataFrame, date_column: str, days: list[date],
                     window_days: int) -> Iterator[tuple[date, pd.DataFrame]]:
    """For each day, the rows dated in the `window_days` days ending on it."""
    dates = pd.to_datetime(frame[date_column])
    for day in days:
        end = pd.Timestamp(day)
        yield day, frame[(dates > end - timedelta(days=window_days)) & (dates <= end)]


def segment_drift(reference: pd.DataFrame, current: pd.DataFrame, scores: pd.Series,
                  spec: PipelineSpec) -> pd.DataFrame:
    """Drift of every feature and of the score; severity only judged with at least `min_rows` current rows."""
    psi, ks = thresholds(spec.drift.psi), thresholds(spec.drift.ks)
    table = pd.concat([
        drift.feature_drift_table(reference, current, spec.features.model_numeric(), spec.features.categorical,
                                  psi, ks, bins=spec.drift.bins),
        drift.feature_drift_table(reference[[SCORE_COLUMN]].dropna(), scores.to_frame(SCORE_COLUMN),
                                  [SCORE_COLUMN], [], psi, ks, bins=spec.drift.bins),
    ], ignore_index=True)
    table["judged"] = table["cur_rows"] >= spec.drift.min_rows
    table.loc[~table["judged"], "severity"] = "none"
    return table
