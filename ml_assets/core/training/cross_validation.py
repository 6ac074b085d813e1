"""Optional stratified k-fold CV on the training part: how stable the booster's quality is across folds.

The folds ignore time, so they measure stability within the window; the time-split holdout stays the
honest test of the model that is registered.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold

from ml_assets.core.training.record import CV_METRICS, CrossValidation, FoldMetrics


def fold_metrics(booster: xgb.Booster, matrix: pd.DataFrame, target: np.ndarray) -> FoldMetrics:
    """ROC AUC and log loss of one fold's held-out rows."""
    score = np.clip(booster.predict(xgb.DMatrix(matrix, enable_categorical=True)), 1e-7, 1 - 1e-7)
    return FoldMetrics(float(roc_auc_score(target, score)), float(log_loss(target, score, labels=[0, 1])))


def cross_validate(matrix: pd.DataFrame, target: pd.Series, params: dict[str, Any], num_boost_round: int,
                   folds: int, seed: int) -> CrossValidation:
    """Fit `folds` boosters of `num_boost_round` trees (the main fit's best count) and score each left-out fold."""
    y = target.to_numpy(dtype="float64")
    minority = int(min(y.sum(), len(y) - y.sum()))
    if minority < folds:
        raise ValueError(f"training.cv_folds is {folds} but the training part has only {minority} rows of its "
                         "smaller class; lower cv_folds or widen the training window")
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    per_fold = []
    for fit_rows, test_rows in splitter.split(matrix, y):
        booster = xgb.train(params, xgb.DMatrix(matrix.iloc[fit_rows], y[fit_rows], enable_categorical=True),
                            num_boost_round=num_boost_round)
        per_fold.append(fold_metrics(booster, matrix.iloc[test_rows], y[test_rows]))
    figures = [float(getattr(np, stat)([getattr(fold, name) for fold in per_fold]))
               for name in CV_METRICS for stat in ("mean", "std")]
    return CrossValidation(folds, *figures, tuple(per_fold))
