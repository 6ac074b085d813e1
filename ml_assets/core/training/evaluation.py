"""Holdout evaluation beyond the headline metrics: decisions at a threshold, lift by decile, SHAP values."""

from __future__ import annotations

import numpy as np
import pandas as pd


def confusion_counts(target: np.ndarray, score: np.ndarray, threshold: float) -> dict[str, int]:
    """True/false positives and negatives when rows scoring at or above `threshold` are called positive."""
    actual = np.asarray(target) == 1
    called = np.asarray(score) >= threshold
    return {"tp": int(np.sum(called & actual)), "fp": int(np.sum(called & ~actual)),
            "fn": int(np.sum(~called & actual)), "tn": int(np.sum(~called & ~actual))}


def threshold_metrics(target: np.ndarray, score: np.ndarray, threshold: float) -> dict[str, float]:
    """Precision, recall and the share of rows flagged at `threshold` (precision is 0 when none is flagged)."""
    counts = confusion_counts(target, score, threshold)
    flagged, positives = counts["tp"] + counts["fp"], counts["tp"] + counts["fn"]
    return {"precision": counts["tp"] / flagged if flagged else 0.0,
            "recall": counts["tp"] / positives if positives else 0.0,
            "flagged_share": flagged / max(len(score), 1)}


def lift_table(target: np.ndarray, score: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Rows, positives, rate, lift and cumulative gain per score decile, highest scores first.

    Deciles are cut on the rank (ties broken by row order), so every decile has the same size."""
    target = np.asarray(target, dtype="float64")
    order = np.argsort(-np.asarray(score, dtype="float64"), kind="mergesort")
    decile = np.empty(len(order), dtype=int)
    decile[order] = np.arange(len(order)) * bins // max(len(order), 1) + 1
    table = (pd.DataFrame({"decile": decile, "positives": target, "score": score})
             .groupby("decile").agg(rows=("positives", "size"), positives=("positives", "sum"),
                                    mean_score=("score", "mean")))
    base_rate = target.mean()
    table["rate"] = table["positives"] / table["rows"]
    table["lift"] = table["rate"] / base_rate
    table["cumulative_gain"] = table["positives"].cumsum() / target.sum()
    table["cumulative_lift"] = (table["positives"].cumsum() / table["rows"].cumsum()) / base_rate
    return table.reset_index()
