"""Holdout evaluation: confusion matrix and precision/recall at a threshold, lift by decile, SHAP values."""

from __future__ import annotations

import numpy as np
import pytest

from ml_assets.core.training.evaluation import confusion_counts, lift_table, threshold_metrics


def test_confusion_counts_by_hand():
    target = np.array([1, 1, 0, 0, 1, 0])
    score = np.array([0.9, 0.2, 0.6, 0.1, 0.5, 0.5])
    # called positive at >= 0.5: rows 0, 2, 4, 5
    assert confusion_counts(target, score, 0.5) == {"tp": 2, "fp": 2, "fn": 1, "tn": 1}
    metrics = threshold_metrics(target, score, 0.5)
    assert metrics == {"precision": 0.5, "recall": pytest.approx(2 / 3), "flagged_share": 4 / 6}


def test_threshold_above_every_score_flags_nothing():
    metrics = threshold_metrics(np.array([0, 1]), np.array([0.1, 0.2]), 0.9)
    assert metrics["precision"] == 0.0 and metrics["recall"] == 0.0 and metrics["flagged_share"] == 0.0


def test_lift_table_of_a_perfect_ranking():
    target = np.array([1] * 10 + [0] * 90, dtype=float)
    score = np.linspace(1, 0, 100)
    table = lift_table(target, score)
    assert table["decile"].tolist() == list(range(1, 11))
    assert (table["rows"] == 10).all()
    assert table.loc[0, "positives"] == 10 and table.loc[0, "lift"] == pytest.approx(10.0)
    assert table["cumulative_gain"].tolist() == [1.0] * 10
    assert table["cumulative_lift"].iloc[-1] == pytest.approx(1.0)


def test_lift_table_of_random_scores_is_flat_on_average():
    rng = np.random.default_rng(0)
    target = (rng.random(20_000) < 0.2).astype(float)
    table = lift_table(target, rng.random(20_000))
    assert table["lift"].between(0.85, 1.15).all()
    assert table["cumulative_gain"].iloc[-1] == pytest.approx(1.0)
    assert table["mean_score"].is_monotonic_decreasing
