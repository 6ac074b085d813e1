"""The registry gate's paired bootstrap of AUC differences."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from ml_assets.core.training.comparison import compare_auc, stratified_bootstrap_weights, weighted_auc


def two_models(n: int, seed: int, gap: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels and two scores; the first separates the classes better by `gap`."""
    rng = np.random.default_rng(seed)
    target = (rng.random(n) < 0.15).astype(float)
    noise = rng.normal(size=n)
    better = noise + (1.0 + gap) * target
    worse = noise + 1.0 * target + rng.normal(scale=0.3, size=n)
    return target, better, worse


def test_weighted_auc_matches_scikit_learn_with_ties_and_weights():
    rng = np.random.default_rng(0)
    target = (rng.random(500) < 0.3).astype(float)
    score = np.round(rng.random(500) + 0.3 * target, 1)  # many ties
    weights = rng.integers(0, 4, size=(3, 500)).astype(float)
    expected = [roc_auc_score(target, score, sample_weight=w) for w in weights]
    np.testing.assert_allclose(weighted_auc(target, score, weights), expected)


def test_stratified_weights_keep_class_counts():
    target = np.array([1, 0, 0, 1, 0, 0, 0], dtype=float)
    weights = stratified_bootstrap_weights(target, 50, np.random.default_rng(1))
    assert (weights[:, target == 1].sum(axis=1) == 2).all()
    assert (weights[:, target == 0].sum(axis=1) == 5).all()


def test_identical_models_are_never_significant():
    target, better, _ = two_models(1000, 2, 0.5)
    result = compare_auc(target, better, better, margin=0.0, alpha=0.05, samples=300, seed=0)
    assert result.delta == 0.0 and result.ci_low == result.ci_high == 0.0
    assert result.p_value == 1.0


def test_clearly_better_model_is_significant_and_ci_holds_the_gain():
    target, better, worse = two_models(3000, 3, 0.8)
    result = compare_auc(target, better, worse, margin=0.0, alpha=0.05, samples=500, seed=0)
    assert result.delta == pytest.approx(roc_auc_score(target, better) - roc_auc_score(target, worse))
    assert result.delta > 0.05
    assert result.ci_low < result.delta < result.ci_high
    assert result.ci_low > 0 and result.p_value < 0.01


def test_margin_larger_than_the_gain_is_not_significant():
    target, better, worse = two_models(3000, 3, 0.8)
    gain = roc_auc_score(target, better) - roc_auc_score(target, worse)
    result = compare_auc(target, better, worse, margin=gain + 0.05, alpha=0.05, samples=500, seed=0)
    assert result.p_value > 0.95


def test_worse_challenger_is_not_significant_and_seed_makes_it_repeatable():
    target, better, worse = two_models(2000, 4, 0.8)
    first = compare_auc(target, worse, better, margin=0.0, alpha=0.05, samples=400, seed=7)
    second = compare_auc(target, worse, better, margin=0.0, alpha=0.05, samples=400, seed=7)
    assert first == second
    assert first.delta < 0 and first.p_value > 0.99


def test_one_class_holdout_is_refused():
    with pytest.raises(ValueError, match="both classes in the holdout"):
        compare_auc(np.zeros(5), np.arange(5.0), np.arange(5.0), 0.0, 0.05, 100)
