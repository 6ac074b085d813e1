"""CBPE estimates against oracles: a brute-force pass over thresholds and sklearn for the point estimate, sklearn on
the same label draws for the sampled AUC, and cohorts whose labels are drawn as Bernoulli(score), where the
interval must cover the realized AUC and default rate at about its nominal rate (and miss when scores are not
calibrated)."""

from datetime import date

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from ml_assets.core.monitoring.estimation import (
    cohort_estimates,
    estimate_performance,
    expected_roc_auc,
    sampled_metrics,
)
from ml_assets.core.training.record import TrainingWindow
from ml_assets.spec import EstimationSpec

ESTIMATION = EstimationSpec(samples=200, level=0.9, seed=0)


def brute_force_cbpe_auc(scores: np.ndarray) -> float:
    """NannyML's description step by step: for each distinct score t, expected TP/FP/TN/FN summed over rows, then
    the trapezoid area under (FPR, TPR) from (0, 0)."""
    points = [(0.0, 0.0)]
    for threshold in sorted(set(scores.tolist()), reverse=True):
        tp = fp = tn = fn = 0.0
        for p in scores:
            if p >= threshold:
                tp, fp = tp + p, fp + (1 - p)
            else:
                fn, tn = fn + p, tn + (1 - p)
        points.append((fp / (fp + tn), tp / (tp + fn)))
    return sum((x1 - x0) * (y0 + y1) / 2 for (x0, y0), (x1, y1) in zip(points, points[1:]))


def test_expected_auc_equals_the_brute_force_cbpe_and_sklearn_on_weighted_rows() -> None:
    scores = np.round(np.random.default_rng(0).beta(1.2, 4, 300), 2)  # rounded: many tied scores
    expected = expected_roc_auc(scores)
    assert expected == pytest.approx(brute_force_cbpe_auc(scores), abs=1e-12)
    weighted = roc_auc_score(np.r_[np.ones(300), np.zeros(300)], np.r_[scores, scores],
                             sample_weight=np.r_[scores, 1 - scores])  # each row a positive (p) and a negative (1-p)
    assert expected == pytest.approx(weighted, abs=1e-12)
    assert np.isnan(expected_roc_auc(np.zeros(5))) and np.isnan(expected_roc_auc(np.ones(5)))


def test_sampled_auc_and_rate_equal_sklearn_on_the_same_draws() -> None:
    scores = np.round(np.random.default_rng(1).beta(1, 3, 250), 2)
    rates, aucs = sampled_metrics(scores, samples=30, seed=7)
    labels = np.random.default_rng(7).random((30, 250)) < scores  # the draws sampled_metrics makes
    assert aucs == pytest.approx([roc_auc_score(draw, scores) for draw in labels], abs=1e-12)
    assert rates == pytest.approx(labels.mean(axis=1))


def bernoulli_cohorts(count: int, rows: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Cohorts of calibrated scores (Beta-distributed risk) with labels drawn as Bernoulli(score)."""
    rng = np.random.default_rng(seed)
    cohorts = []
    for _ in range(count):
        scores = rng.beta(rng.uniform(0.6, 2.0), rng.uniform(2.0, 6.0), rows)
        cohorts.append((scores, (rng.random(rows) < scores).astype(float)))
    return cohorts


def coverage(cohorts: list[tuple[np.ndarray, np.ndarray]], scored: float = 1.0,
             estimation: EstimationSpec = ESTIMATION) -> tuple[float, float, float]:
    """Share of cohorts whose realized AUC and default rate lie in the interval estimated from scores * `scored`,
    and the mean absolute AUC error of the point estimate."""
    auc_hits, rate_hits, errors = [], [], []
    for scores, labels in cohorts:
        estimate = estimate_performance(np.clip(scores * scored, 0, 1), estimation)
        auc, rate = roc_auc_score(labels, scores), labels.mean()
        auc_hits.append(estimate.estimated_roc_auc_low <= auc <= estimate.estimated_roc_auc_high)
        rate_hits.append(estimate.estimated_default_rate_low <= rate <= estimate.estimated_default_rate_high)
        errors.append(abs(estimate.estimated_roc_auc - auc))
    return float(np.mean(auc_hits)), float(np.mean(rate_hits)), float(np.mean(errors))


def test_interval_covers_realized_auc_and_rate_at_its_nominal_rate_when_scores_are_calibrated() -> None:
    auc_coverage, rate_coverage, auc_error = coverage(bernoulli_cohorts(300, 400, seed=3))
    # 300 cohorts: the binomial standard error of a 90% coverage is 1.7 points
    assert 0.85 <= auc_coverage <= 0.95 and 0.85 <= rate_coverage <= 0.95
    assert auc_error < 0.04


def test_a_large_cohort_draws_a_sample_and_keeps_the_nominal_coverage() -> None:
    """Above max_rows the draws use a sample and the interval is scaled by sqrt(sample / rows)."""
    estimation = EstimationSpec(samples=200, level=0.9, seed=0, max_rows=1000)
    auc_coverage, rate_coverage, _ = coverage(bernoulli_cohorts(150, 4000, seed=6), estimation=estimation)
    # 150 cohorts: the binomial standard error of a 90% coverage is 2.4 points
    assert 0.83 <= auc_coverage <= 0.97 and 0.83 <= rate_coverage <= 0.97
    scores = bernoulli_cohorts(1, 4000, seed=7)[0][0]
    sampled, full = estimate_performance(scores, estimation), estimate_performance(scores, ESTIMATION)
    assert sampled.estimated_roc_auc == full.estimated_roc_auc == expected_roc_auc(scores), "points use every row"
    width = sampled.estimated_roc_auc_high - sampled.estimated_roc_auc_low
    assert width == pytest.approx(full.estimated_roc_auc_high - full.estimated_roc_auc_low, rel=0.25)


def test_interval_misses_when_scores_are_not_calibrated() -> None:
    """The assumption matters: scores 1.5x too high put the default rate outside the interval nearly always."""
    _, rate_coverage, _ = coverage(bernoulli_cohorts(100, 400, seed=4), scored=1.5)
    assert rate_coverage < 0.2


def test_cohort_estimates_flag_cohorts_touching_the_training_window() -> None:
    rng = np.random.default_rng(5)
    cohort = pd.DataFrame({"seg": ["a"] * 200 + ["b"] * 200, "model_name": ["m-a"] * 200 + ["m-b"] * 200,
                           "model_version": "1", "day": pd.Timestamp("2024-05-01") + pd.to_timedelta(
                               np.tile(np.arange(10), 40), "D"), "score": rng.beta(1, 4, 400)})
    windows = {("m-a", "1"): TrainingWindow(date(2024, 1, 1), date(2024, 5, 1)),
               ("m-b", "1"): TrainingWindow(date(2024, 1, 1), date(2024, 4, 30))}
    table = cohort_estimates(cohort, "seg", "day", "score", windows, ESTIMATION).set_index("segment")
    assert table.loc["a", "in_sample"] and not table.loc["b", "in_sample"]
    assert table.loc["a", "estimated_default_rate"] == pytest.approx(cohort["score"][:200].mean())
    assert table.loc["b", "estimated_roc_auc"] == pytest.approx(expected_roc_auc(cohort["score"][200:].to_numpy()))
    assert table.loc["b", "rows"] == 200
