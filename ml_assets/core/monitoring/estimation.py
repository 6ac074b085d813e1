"""Performance estimated before labels mature: confidence-based performance estimation (CBPE, as in NannyML).

Assumption: the scores are calibrated probabilities, P(target = 1 | row) = score. Then each row is a positive with
probability p and a negative with probability 1 - p, so the expected confusion counts at a threshold t are
TP(t) = sum of p over rows scored >= t and FP(t) = sum of 1 - p over the same rows. The estimated default rate is
the mean score; the estimated ROC AUC is the area under the expected curve (FP(t) / sum(1 - p), TP(t) / sum(p))
over every distinct score t. The interval is the spread of the realized values when the labels are drawn as
Bernoulli(p): what the realized rate and AUC would be if the calibration held. Miscalibration or a change of
P(target | features) (concept drift) is not covered: the estimate is then wrong, which the realized values show
once the labels mature.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from ml_assets.core.training.record import TrainingWindow
from ml_assets.spec import EstimationSpec

DRAW_CELLS = 2_000_000  # rows x draws held at once while sampling labels


@dataclass(frozen=True)
class PerformanceEstimate:
    """Estimated default rate and ROC AUC of a cohort of scores, each with its interval (NaN when undefined)."""

    rows: int
    estimated_default_rate: float
    estimated_default_rate_low: float
    estimated_default_rate_high: float
    estimated_roc_auc: float
    estimated_roc_auc_low: float
    estimated_roc_auc_high: float

    def columns(self) -> dict[str, float | int]:
        """The fields as table columns."""
        return asdict(self)


ESTIMATE_COLUMNS = list(PerformanceEstimate.__dataclass_fields__)


def expected_roc_auc(scores: np.ndarray) -> float:
    """CBPE ROC AUC: the trapezoid area under the expected (FPR, TPR) curve over every distinct score as a
    threshold; NaN when the scores expect no positive or no negative."""
    scores = np.asarray(scores, dtype="float64")
    values, inverse = np.unique(-scores, return_inverse=True)  # distinct scores, highest first
    positives = np.bincount(inverse, weights=scores, minlength=len(values))
    negatives = np.bincount(inverse, weights=1.0 - scores, minlength=len(values))
    total_positive, total_negative = positives.sum(), negatives.sum()
    if total_positive <= 0 or total_negative <= 0:
        return float("nan")
    tpr = np.concatenate([[0.0], np.cumsum(positives) / total_positive])
    fpr = np.concatenate([[0.0], np.cumsum(negatives) / total_negative])
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))


def sampled_metrics(scores: np.ndarray, samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Realized default rate and ROC AUC of `samples` label draws y ~ Bernoulli(scores) (AUC NaN for a draw of one
    class), from the scores' mid-ranks: AUC = (rank sum of the positives - n1 (n1 + 1) / 2) / (n1 n0)."""
    scores = np.asarray(scores, dtype="float64")
    n, rng = len(scores), np.random.default_rng(seed)
    ranks = rankdata(scores)
    rates, aucs = np.empty(samples), np.empty(samples)
    batch = max(1, DRAW_CELLS // max(n, 1))
    for start in range(0, samples, batch):
        stop = min(samples, start + batch)
        labels = rng.random((stop - start, n)) < scores
        n1 = labels.sum(axis=1).astype("float64")
        n0 = n - n1
        rank_sum = labels.astype("float64") @ ranks
        with np.errstate(divide="ignore", invalid="ignore"):
            aucs[start:stop] = np.where((n1 > 0) & (n0 > 0), (rank_sum - n1 * (n1 + 1) / 2) / (n1 * n0), np.nan)
        rates[start:stop] = n1 / n
    return rates, aucs


def interval(values: np.ndarray, level: float) -> tuple[float, float]:
    """Central `level` interval of the defined values (NaN, NaN when fewer than half are defined)."""
    defined = values[~np.isnan(values)]
    if len(defined) < len(values) / 2:
        return float("nan"), float("nan")
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(defined, [tail, 100 - tail])
    return float(low), float(high)


def estimate_performance(scores: np.ndarray, estimation: EstimationSpec) -> PerformanceEstimate:
    """CBPE estimate of a cohort's default rate and ROC AUC from its calibrated scores, with Bernoulli intervals.

    Above `estimation.max_rows` rows the label draws use a seeded sample of that many rows, and the interval's
    distances from the estimate shrink by sqrt(sample / rows) (sampling spread ~ 1 / sqrt(rows) for large cohorts);
    the point estimates always use every row."""
    scores = np.clip(np.asarray(scores, dtype="float64"), 0.0, 1.0)
    if scores.size == 0:
        return PerformanceEstimate(0, *[float("nan")] * 6)
    rate, auc = float(scores.mean()), expected_roc_auc(scores)
    drawn, shrink = scores, 1.0
    if len(scores) > estimation.max_rows:
        drawn = np.random.default_rng(estimation.seed).choice(scores, estimation.max_rows, replace=False)
        shrink = float(np.sqrt(estimation.max_rows / len(scores)))
    rates, aucs = sampled_metrics(drawn, estimation.samples, estimation.seed)
    return PerformanceEstimate(len(scores), rate, *around(rate, float(drawn.mean()), rates, shrink, estimation.level),
                               auc, *around(auc, expected_roc_auc(drawn), aucs, shrink, estimation.level))


def around(estimate: float, drawn_estimate: float, values: np.ndarray, shrink: float,
           level: float) -> tuple[float, float]:
    """The central `level` interval of the drawn values, as distances from their own estimate scaled by `shrink`,
    placed around `estimate`."""
    low, high = interval(values, level)
    return estimate - (drawn_estimate - low) * shrink, estimate + (high - drawn_estimate) * shrink


def in_sample(dates: pd.Series, window: TrainingWindow | None) -> bool:
    """True when any of a cohort's record dates lies inside its version's training window (unknown window: False)."""
    if window is None or dates.empty:
        return False
    days = pd.to_datetime(dates)
    return window.overlaps(days.min().date(), days.max().date())


def cohort_estimates(cohort: pd.DataFrame, segment_column: str, date_column: str, score_column: str,
                     windows: dict[tuple[str, str], TrainingWindow], estimation: EstimationSpec) -> pd.DataFrame:
    """Per segment and model version of a cohort of predictions: the in-sample flag and the CBPE estimate."""
    rows = []
    for (segment, name, version), part in cohort.groupby([segment_column, "model_name", "model_version"], sort=True):
        window = windows.get((str(name), str(version)))
        rows.append({"segment": str(segment), "model_name": str(name), "model_version": str(version),
                     "in_sample": in_sample(part[date_column], window),
                     **estimate_performance(part[score_column].to_numpy(), estimation).columns()})
    return pd.DataFrame(rows, columns=["segment", "model_name", "model_version", "in_sample", *ESTIMATE_COLUMNS])
