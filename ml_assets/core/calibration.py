"""Probability calibration kept as plain numbers, so it is stored as JSON beside the model (no pickle).

Fitted on rows the booster did not train on (the early-stopping validation slice) and applied by
`apply_calibration` wherever a model scores: evaluation, the gate and daily predictions.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

EPSILON = 1e-7


def _logit(scores: np.ndarray) -> np.ndarray:
    """Log-odds of probabilities, clipped away from 0 and 1."""
    clipped = np.clip(np.asarray(scores, dtype="float64"), EPSILON, 1 - EPSILON)
    return np.log(clipped / (1 - clipped))


def fit_sigmoid(target: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
    """Platt scaling on the log-odds: p = 1 / (1 + exp(-(slope * logit(score) + intercept)))."""
    model = LogisticRegression(C=np.inf).fit(_logit(scores).reshape(-1, 1), np.asarray(target, dtype=int))
    return {"method": "sigmoid", "slope": float(model.coef_[0, 0]), "intercept": float(model.intercept_[0])}


def fit_isotonic(target: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
    """Monotone step fit; its thresholds are stored and interpolated linearly, as scikit-learn does."""
    model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(scores, target)
    return {"method": "isotonic", "x": model.X_thresholds_.tolist(), "y": model.y_thresholds_.tolist()}


def fit_calibration(target: np.ndarray, scores: np.ndarray, method: str) -> dict[str, Any] | None:
    """The calibration map for `method` ('none', 'sigmoid' or 'isotonic'); None when off."""
    if method == "none":
        return None
    target = np.asarray(target, dtype="float64")
    if len(np.unique(target)) < 2:
        raise ValueError(f"calibration needs both classes in its rows, got only {np.unique(target).tolist()}; "
                         "raise training.validation_fraction or set model.calibration: none")
    fitters = {"sigmoid": fit_sigmoid, "isotonic": fit_isotonic}
    if method not in fitters:
        raise ValueError(f"unknown calibration method {method!r}; use none, sigmoid or isotonic")
    return fitters[method](target, np.asarray(scores, dtype="float64"))


def apply_calibration(scores: np.ndarray, calibration: dict[str, Any] | None) -> np.ndarray:
    """Calibrated probabilities; the scores unchanged when the model has no calibration."""
    scores = np.asarray(scores, dtype="float64")
    if calibration is None:
        return scores
    method = calibration.get("method")
    if method == "sigmoid":
        return 1.0 / (1.0 + np.exp(-(calibration["slope"] * _logit(scores) + calibration["intercept"])))
    if method == "isotonic":
        return np.interp(scores, calibration["x"], calibration["y"])
    raise ValueError(f"unknown calibration method {method!r} in the model's scoring metadata; "
                     "expected sigmoid or isotonic (retrain the model with this version of ml_assets)")
