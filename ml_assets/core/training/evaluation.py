"""Holdout evaluation of a registered version: headline metrics, decisions at a threshold, lift by decile and
plots, and the evaluation record model_evaluation stores."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from ml_assets.core.data.features import model_matrix
from ml_assets.core.scoring.explain import contributions
from ml_assets.core.scoring.scores import model_scores
from ml_assets.core.sections import TrainingSections
from ml_assets.core.training import modeling, plots
from ml_assets.core.training.comparison import AucComparison, compare_auc
from ml_assets.core.training.leakage import LeakageAudit
from ml_assets.core.training.record import ModelRecord, ScoringMeta


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


def evaluation_folder(reports_dir: Path, segment: str, version: str) -> Path:
    """Where a version's evaluation plots are written: <reports>/model_evaluation/<segment>/v<version>."""
    return reports_dir / "model_evaluation" / segment / f"v{version}"


@dataclass(frozen=True)
class HoldoutEvaluation:
    """A registered version on its holdout: metrics (headline and at the decision threshold), the confusion at
    that threshold, lift by decile and the plots written (title -> PNG)."""

    metrics: dict[str, float]
    confusion: dict[str, int]
    lift: pd.DataFrame
    plots: dict[str, Path]


@dataclass(frozen=True)
class ModelEvaluation:
    """What model_evaluation stores of one segment: its model record, the version's leakage audit (None before
    the leakage_suspects check audited it) and its holdout evaluation."""

    record: ModelRecord
    leakage: LeakageAudit | None
    holdout: HoldoutEvaluation

    def to_document(self) -> dict[str, Any]:
        """The JSON document stored in the lake: the model record's keys, then the audit and the evaluation."""
        holdout = self.holdout
        return {**self.record.to_document(), "leakage": self.leakage.as_dict() if self.leakage else None,
                "evaluation": holdout.metrics, "confusion": holdout.confusion,
                "lift": holdout.lift.to_dict(orient="records"),
                "plots": {title: str(path) for title, path in holdout.plots.items()}}


def holdout_metrics(target: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    """Headline metrics, the decision threshold and precision, recall and flagged share at it."""
    at_threshold = threshold_metrics(target, scores, threshold)
    return modeling.classification_metrics(target, scores) | {"decision_threshold": threshold} | {
        f"{name}_at_threshold": value for name, value in at_threshold.items()}


def evaluate_holdout(frame: pd.DataFrame, sections: TrainingSections, booster: xgb.Booster, meta: ScoringMeta,
                     folder: Path) -> HoldoutEvaluation:
    """Score a training set's holdout with a registered version (booster and scoring metadata), compute its
    metrics, confusion and lift, and write its plots into `folder`."""
    _, holdout = modeling.split_by_time(frame, sections.dataset.date, sections.training.holdout_days)
    target = holdout[sections.dataset.target].to_numpy(dtype="float64")
    matrix = model_matrix(holdout, sections.features, meta.vocabulary)
    scores = model_scores(booster, matrix, meta)
    threshold = sections.training.decision_threshold
    metrics = holdout_metrics(target, scores, threshold)
    shap = contributions(booster, matrix, meta.best_iteration, approximate=False)
    images = plots.evaluation_plots(target, scores, metrics, modeling.gain_importance(booster), matrix, shap, folder)
    return HoldoutEvaluation(metrics, confusion_counts(target, scores, threshold), lift_table(target, scores), images)


def champion_comparison(fit: modeling.SegmentFit, sections: TrainingSections, booster: xgb.Booster,
                        meta: ScoringMeta) -> AucComparison:
    """The paired bootstrap of the challenger's AUC against the champion's (booster and scoring metadata) on the
    challenger's holdout."""
    champion_scores = model_scores(booster, model_matrix(fit.holdout, sections.features, meta.vocabulary), meta)
    training = sections.training
    return compare_auc(fit.holdout[sections.dataset.target].to_numpy(), fit.holdout_scores, champion_scores,
                       margin=training.promotion_margin, alpha=training.gate_alpha,
                       samples=training.bootstrap_samples, seed=training.seed)
