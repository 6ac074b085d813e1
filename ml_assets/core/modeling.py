"""Per-segment XGBoost training and evaluation on time-ordered data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

from ml_assets.core.features import category_vocabulary, model_matrix
from ml_assets.spec import PipelineSpec

BASE_PARAMS: dict[str, Any] = {"objective": "binary:logistic", "eval_metric": "auc", "tree_method": "hist"}


@dataclass(frozen=True)
class TrainedModel:
    """A booster with what scoring needs to reproduce its inputs."""

    booster: xgb.Booster
    feature_names: list[str]
    vocabulary: dict[str, list[str]]
    params: dict[str, Any]
    best_iteration: int


def training_window(as_of: date, label_delay_days: int, window_days: int) -> tuple[date, date]:
    """First and last record date whose label has matured by `as_of`, spanning `window_days` days."""
    last = as_of - timedelta(days=label_delay_days)
    return last - timedelta(days=window_days - 1), last


def split_by_time(frame: pd.DataFrame, date_column: str, holdout_days: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows of the most recent `holdout_days` dates go to the holdout; earlier rows to training."""
    dates = pd.to_datetime(frame[date_column])
    cutoff = dates.max().normalize() - pd.Timedelta(days=holdout_days - 1)
    return frame[dates < cutoff], frame[dates >= cutoff]


def _validation_mask(dates: pd.Series, fraction: float) -> np.ndarray:
    """True for the latest `fraction` of distinct dates: the early-stopping slice."""
    distinct = np.sort(pd.to_datetime(dates).unique())
    n_valid = max(1, int(round(len(distinct) * fraction)))
    return (pd.to_datetime(dates) >= distinct[-n_valid]).to_numpy()


def require_two_classes(target: pd.Series, what: str) -> None:
    """Fail with a clear message when a target has fewer than two classes."""
    classes = sorted(pd.unique(target.dropna()))
    if len(classes) < 2:
        raise ValueError(f"{what}: the target has only the classes {classes}; widen the training window or check the labels")


def train_booster(matrix: pd.DataFrame, target: pd.Series, dates: pd.Series, params: dict[str, Any],
                  num_boost_round: int, early_stopping_rounds: int, validation_fraction: float,
                  seed: int) -> tuple[xgb.Booster, int]:
    """Fit XGBoost (hist) with early stopping on the latest dates; returns the booster and best iteration."""
    valid = _validation_mask(dates, validation_fraction)
    y = target.to_numpy(dtype="float64")
    train_dm = xgb.DMatrix(matrix[~valid], y[~valid], enable_categorical=True)
    valid_dm = xgb.DMatrix(matrix[valid], y[valid], enable_categorical=True)
    booster = xgb.train({**BASE_PARAMS, "seed": seed, "nthread": 0, **params}, train_dm,
                        num_boost_round=num_boost_round, evals=[(valid_dm, "validation")],
                        early_stopping_rounds=early_stopping_rounds, verbose_eval=False)
    return booster, int(booster.best_iteration)


def predict(booster: xgb.Booster, matrix: pd.DataFrame, best_iteration: int | None = None) -> np.ndarray:
    """Probability of the positive class, using trees up to the best iteration."""
    rounds = (0, best_iteration + 1) if best_iteration is not None else (0, 0)
    return booster.predict(xgb.DMatrix(matrix, enable_categorical=True), iteration_range=rounds)


def ks_score(target: np.ndarray, score: np.ndarray) -> float:
    """Kolmogorov-Smirnov separation between the score distributions of positives and negatives."""
    order = np.argsort(score, kind="mergesort")
    y = target[order]
    cum_pos = np.cumsum(y) / max(y.sum(), 1)
    cum_neg = np.cumsum(1 - y) / max((1 - y).sum(), 1)
    return float(np.max(np.abs(cum_pos - cum_neg)))


def expected_calibration_error(target: np.ndarray, score: np.ndarray, bins: int = 10) -> float:
    """Weighted mean |observed rate - mean score| over equal-width score bins."""
    index = np.minimum((score * bins).astype(int), bins - 1)
    counts = np.bincount(index, minlength=bins)
    observed = np.bincount(index, weights=target, minlength=bins)
    predicted = np.bincount(index, weights=score, minlength=bins)
    filled = counts > 0
    return float(np.sum(np.abs(observed[filled] - predicted[filled])) / len(score))


def classification_metrics(target: np.ndarray, score: np.ndarray) -> dict[str, float]:
    """Ranking, probability and calibration metrics of binary scores."""
    target = np.asarray(target, dtype="float64")
    score = np.clip(np.asarray(score, dtype="float64"), 1e-7, 1 - 1e-7)
    return {
        "roc_auc": float(roc_auc_score(target, score)),
        "pr_auc": float(average_precision_score(target, score)),
        "log_loss": float(log_loss(target, score, labels=[0, 1])),
        "brier": float(brier_score_loss(target, score)),
        "ks": ks_score(target, score),
        "ece": expected_calibration_error(target, score),
        "positive_rate": float(target.mean()),
        "rows": float(len(target)),
    }


def score_cutpoints(scores: np.ndarray, quantiles: list[float]) -> list[float]:
    """Score values at the given quantiles of a reference score distribution."""
    return [float(v) for v in np.quantile(np.asarray(scores, dtype="float64"), quantiles)]


def gain_importance(booster: xgb.Booster) -> pd.Series:
    """Total gain per feature, largest first (features never split on get 0)."""
    gains = booster.get_score(importance_type="total_gain")
    names = booster.feature_names or list(gains)
    return pd.Series({name: gains.get(name, 0.0) for name in names}).sort_values(ascending=False)


def beats_champion(challenger_auc: float, champion_auc: float | None, min_auc: float, margin: float) -> tuple[bool, str]:
    """Quality gate: above the floor and, when a champion exists, better by at least `margin`."""
    if challenger_auc < min_auc:
        return False, f"holdout AUC {challenger_auc:.4f} is below the floor {min_auc:.4f}"
    if champion_auc is None:
        return True, f"first model: holdout AUC {challenger_auc:.4f} passes the floor {min_auc:.4f}"
    if challenger_auc >= champion_auc + margin:
        return True, f"holdout AUC {challenger_auc:.4f} beats champion {champion_auc:.4f} by >= {margin}"
    return False, f"holdout AUC {challenger_auc:.4f} does not beat champion {champion_auc:.4f} by {margin}"


@dataclass(frozen=True)
class SegmentFit:
    """Everything one segment's training produced, before it is logged or registered."""

    model: TrainedModel
    holdout: pd.DataFrame
    holdout_scores: np.ndarray
    metrics: dict[str, float]
    cutpoints: list[float]
    train_rows: int


def fit_segment(frame: pd.DataFrame, spec: PipelineSpec, segment: str) -> SegmentFit:
    """Time-split a segment's training set, fit XGBoost, and score the held-out days."""
    ds, training = spec.dataset, spec.training
    train, holdout = split_by_time(frame, ds.date, training.holdout_days)
    require_two_classes(train[ds.target], f"segment {segment!r} training rows")
    require_two_classes(holdout[ds.target], f"segment {segment!r} holdout ({training.holdout_days} latest days)")
    vocabulary = category_vocabulary(train, spec.features.categorical)
    params = spec.model.params_for(segment)
    booster, best_iteration = train_booster(
        model_matrix(train, spec, vocabulary), train[ds.target], train[ds.date], params,
        spec.model.num_boost_round, spec.model.early_stopping_rounds, training.validation_fraction, training.seed)
    model = TrainedModel(booster, spec.feature_columns(), vocabulary, params, best_iteration)
    scores = predict(booster, model_matrix(holdout, spec, vocabulary), best_iteration)
    metrics = classification_metrics(holdout[ds.target].to_numpy(), scores)
    return SegmentFit(model, holdout, scores, metrics, score_cutpoints(scores, spec.clustering.quantiles), len(train))
