"""Paired bootstrap comparison of two models' ROC AUC on the same rows (the registry gate's test)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import sparse

MAX_CELLS_PER_CHUNK = 4_000_000  # resamples x rows held in memory at once


@dataclass(frozen=True)
class AucComparison:
    """Challenger minus champion AUC on one holdout, with its bootstrap interval and p-value.

    p_value is one-sided, for H0: the true AUC gain is at most `margin` (the share of resampled gains at or
    below it); [ci_low, ci_high] holds the central 1 - 2 * alpha of the resampled gains, so ci_low above the
    margin and p below alpha say the same thing."""

    challenger_auc: float
    champion_auc: float
    delta: float
    ci_low: float
    ci_high: float
    p_value: float
    margin: float
    alpha: float
    samples: int

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def weighted_auc(target: np.ndarray, score: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """ROC AUC (ties count one half) for each row of `weights` (resamples x rows of case weights)."""
    _, group = np.unique(score, return_inverse=True)
    indicator = sparse.csr_matrix((np.ones(len(score)), (group, np.arange(len(score)))),
                                  shape=(group.max() + 1, len(score)))
    positives = (indicator @ (weights * target).T).T  # weight of positives per distinct score, ascending
    negatives = (indicator @ (weights * (1 - target)).T).T
    below = np.cumsum(negatives, axis=1) - negatives
    correct = (positives * (below + 0.5 * negatives)).sum(axis=1)
    return correct / (positives.sum(axis=1) * negatives.sum(axis=1))


def stratified_bootstrap_weights(target: np.ndarray, samples: int, rng: np.random.Generator) -> np.ndarray:
    """Case counts of `samples` resamples that keep the number of positives and negatives fixed."""
    weights = np.zeros((samples, len(target)))
    for members in (np.flatnonzero(target == 1), np.flatnonzero(target == 0)):
        weights[:, members] = rng.multinomial(len(members), np.full(len(members), 1 / len(members)), size=samples)
    return weights


def bootstrap_auc_gains(target: np.ndarray, challenger: np.ndarray, champion: np.ndarray, samples: int,
                        seed: int) -> np.ndarray:
    """Challenger minus champion AUC on `samples` paired resamples (the same rows for both models)."""
    rng = np.random.default_rng(seed)
    chunk = max(1, MAX_CELLS_PER_CHUNK // max(len(target), 1))
    gains = []
    for start in range(0, samples, chunk):
        weights = stratified_bootstrap_weights(target, min(chunk, samples - start), rng)
        gains.append(weighted_auc(target, challenger, weights) - weighted_auc(target, champion, weights))
    return np.concatenate(gains)


def compare_auc(target: np.ndarray, challenger: np.ndarray, champion: np.ndarray, margin: float,
                alpha: float, samples: int = 1000, seed: int = 0) -> AucComparison:
    """Does the challenger beat the champion by `margin` on these rows? Paired, class-stratified bootstrap."""
    target = np.asarray(target, dtype="float64")
    if len(np.unique(target)) < 2:
        raise ValueError("comparing AUCs needs both classes in the holdout; widen training.holdout_days")
    ones = np.ones((1, len(target)))
    challenger_auc = float(weighted_auc(target, challenger, ones)[0])
    champion_auc = float(weighted_auc(target, champion, ones)[0])
    gains = bootstrap_auc_gains(target, challenger, champion, samples, seed)
    low, high = np.quantile(gains, [alpha, 1 - alpha])
    return AucComparison(
        challenger_auc=challenger_auc, champion_auc=champion_auc, delta=challenger_auc - champion_auc,
        ci_low=float(low), ci_high=float(high), p_value=float(np.mean(gains <= margin)), margin=margin,
        alpha=alpha, samples=samples)
