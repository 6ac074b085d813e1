"""Probability calibration kept as plain numbers, so it is stored as JSON beside the model (no pickle).

Fitted on cross-fitted scores (core.training.modeling.cross_fitted_calibration): the training part's calendar days
are cut into blocks of training.calibration_block_days dealt round-robin to training.calibration_folds folds, and a
booster with the served params and tree count, fitted on the other folds' rows minus training.calibration_gap_days
around the fold's blocks, scores each fold: every training row gets a score from a booster that never saw it, and
every such booster saw every part of the calendar, as the served booster did. `auto` fits sigmoid and isotonic maps
on the out-of-fold scores of the dates before the early-stopping slice (the latest dates), scores them and the raw
scores by log loss on the served booster's own scores of that slice (dates it neither fitted nor saw: out of time,
as serving is), and keeps the lowest among the raw scores and the maps that beat them clearly (paired, by
MIN_GAIN_SE standard errors): `none` when no map does. The kept method is then refitted on every fold's out-of-fold
scores. `apply_calibration` applies it wherever a model scores.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

EPSILON = 1e-7
SCHEMA_VERSION = 1
METHODS = ("none", "sigmoid", "isotonic")
MIN_CLASS_ROWS = 30  # auto: fewer rows of a class in the selection slice or before it and the raw scores stay
MIN_GAIN_SE = 2.0  # auto keeps a map only when it lowers the selection log loss by this many standard errors

Method = Literal["none", "sigmoid", "isotonic"]


@dataclass(frozen=True)
class Calibration:
    """The calibration a model version serves, and why: `requested` is model.calibration, `method` what is applied,
    `selection_log_loss` the log loss of each candidate (raw scores as `none`) on the selection slice (auto only)."""

    method: Method
    requested: str = "none"
    parameters: dict[str, Any] = field(default_factory=dict)
    fit_rows: int = 0
    selection_rows: int = 0
    selection_log_loss: dict[str, float] = field(default_factory=dict)
    reason: str = "calibration off (model.calibration: none)"

    def as_dict(self) -> dict[str, Any]:
        """JSON form stored in scoring_meta.json: the map's numbers beside the method, as scoring reads them."""
        return {"schema_version": SCHEMA_VERSION, "method": self.method, **self.parameters,
                "requested": self.requested, "fit_rows": self.fit_rows, "selection_rows": self.selection_rows,
                "selection_log_loss": self.selection_log_loss, "reason": self.reason}


NO_CALIBRATION = Calibration(method="none")
PARAMETER_KEYS = {"none": (), "sigmoid": ("slope", "intercept"), "isotonic": ("x", "y")}


def load_calibration(stored: dict[str, Any]) -> Calibration:
    """The Calibration of a stored scoring_meta.json entry (as `Calibration.as_dict` wrote it)."""
    method = stored.get("method")
    if method not in PARAMETER_KEYS:
        raise ValueError(f"unknown calibration method {method!r} in the model's scoring metadata; "
                         "expected none, sigmoid or isotonic (retrain the model with this version of ml_assets)")
    return Calibration(
        method=method, requested=stored["requested"], parameters={key: stored[key] for key in PARAMETER_KEYS[method]},
        fit_rows=stored["fit_rows"], selection_rows=stored["selection_rows"],
        selection_log_loss=stored["selection_log_loss"], reason=stored["reason"])


def _logit(scores: np.ndarray) -> np.ndarray:
    """Log-odds of probabilities, clipped away from 0 and 1."""
    clipped = np.clip(np.asarray(scores, dtype="float64"), EPSILON, 1 - EPSILON)
    return np.log(clipped / (1 - clipped))


def fit_sigmoid(target: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """Platt scaling on the log-odds: p = 1 / (1 + exp(-(slope * logit(score) + intercept)))."""
    from sklearn.linear_model import LogisticRegression  # only where a map is fitted: scoring never imports it

    model = LogisticRegression(C=np.inf).fit(_logit(scores).reshape(-1, 1), np.asarray(target, dtype=int))
    return {"slope": float(model.coef_[0, 0]), "intercept": float(model.intercept_[0])}


def fit_isotonic(target: np.ndarray, scores: np.ndarray) -> dict[str, list[float]]:
    """Monotone step fit; its thresholds are stored and interpolated linearly, as scikit-learn does."""
    from sklearn.isotonic import IsotonicRegression

    model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(scores, target)
    return {"x": model.X_thresholds_.tolist(), "y": model.y_thresholds_.tolist()}


FITTERS = {"sigmoid": fit_sigmoid, "isotonic": fit_isotonic}


def require_both_classes(target: np.ndarray, what: str) -> None:
    """Fail, saying what to change, when calibration rows hold one class only."""
    classes = np.unique(target).tolist()
    if len(classes) < 2:
        raise ValueError(f"calibration needs both classes in its rows ({what}), got only {classes}; "
                         "widen training.window_days or set model.calibration: none")


def fit_calibration(target: np.ndarray, scores: np.ndarray, method: str) -> Calibration:
    """The calibration map of `method` ('none', 'sigmoid' or 'isotonic') fitted on all the given rows."""
    if method not in METHODS:
        raise ValueError(f"unknown calibration method {method!r}; use auto, none, sigmoid or isotonic")
    if method == "none":
        return NO_CALIBRATION
    target = np.asarray(target, dtype="float64")
    require_both_classes(target, "the training rows")
    return Calibration(method=method, requested=method,
                       parameters=FITTERS[method](target, np.asarray(scores, dtype="float64")),
                       fit_rows=len(target), reason=f"{method} set by model.calibration")


def apply_calibration(scores: np.ndarray, calibration: Calibration) -> np.ndarray:
    """Calibrated probabilities; the scores unchanged when the method is none."""
    scores = np.asarray(scores, dtype="float64")
    parameters = calibration.parameters
    if calibration.method == "sigmoid":
        return 1.0 / (1.0 + np.exp(-(parameters["slope"] * _logit(scores) + parameters["intercept"])))
    if calibration.method == "isotonic":
        return np.interp(scores, parameters["x"], parameters["y"])
    return scores


def row_log_losses(target: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """Each row's log loss, probabilities clipped away from 0 and 1 (an isotonic map may reach both)."""
    clipped = np.clip(np.asarray(probabilities, dtype="float64"), EPSILON, 1 - EPSILON)
    return -(target * np.log(clipped) + (1 - target) * np.log(1 - clipped))


def clearly_lower(candidate: np.ndarray, raw: np.ndarray) -> bool:
    """True when the candidate's mean row log loss is below the raw scores' by more than MIN_GAIN_SE standard
    errors of the paired differences: a map kept for a gain within noise would only add variance."""
    gains = raw - candidate
    return bool(gains.mean() > MIN_GAIN_SE * gains.std(ddof=1) / np.sqrt(len(gains)))


def select_calibration(target: np.ndarray, scores: np.ndarray, selection: np.ndarray,
                       selection_scores: np.ndarray) -> Calibration:
    """auto: fit each map on the out-of-fold `scores` of the rows outside `selection`, keep the lowest log loss on
    the rows inside it scored as served (`selection_scores`, the raw ones count as `none`), then refit the kept map
    on every row's out-of-fold scores."""
    target, scores = np.asarray(target, dtype="float64"), np.asarray(scores, dtype="float64")
    fit_target, fit_scores = target[~selection], scores[~selection]
    check_target, check_scores = target[selection], np.asarray(selection_scores, dtype="float64")
    if len(np.unique(fit_target)) < 2 or len(np.unique(check_target)) < 2:
        return Calibration(method="none", requested="auto", fit_rows=len(fit_target),
                           selection_rows=len(check_target),
                           reason="auto kept the raw scores: the selection slice or the dates before it hold one "
                                  "class only (widen training.window_days)")
    raw_losses = row_log_losses(check_target, check_scores)
    losses, beats = {"none": float(raw_losses.mean())}, {}
    for method, fitter in FITTERS.items():
        candidate = Calibration(method=method, parameters=fitter(fit_target, fit_scores))
        candidate_losses = row_log_losses(check_target, apply_calibration(check_scores, candidate))
        losses[method] = float(candidate_losses.mean())
        beats[method] = clearly_lower(candidate_losses, raw_losses)
    chosen = min([m for m in FITTERS if beats[m]] or ["none"], key=lambda method: losses[method])
    figures = ", ".join(f"{method} {loss:.5f}" for method, loss in losses.items())
    reason = (f"auto chose {chosen}: lowest log loss on the served booster's scores of the {len(check_target)} rows "
              f"of the latest dates (the early-stopping slice) among the raw scores and the maps fitted on the "
              f"out-of-fold scores of the earlier dates that beat them by {MIN_GAIN_SE:g} standard errors "
              f"({figures})")
    parameters = FITTERS[chosen](target, scores) if chosen != "none" else {}
    return Calibration(method=chosen, requested="auto", parameters=parameters, fit_rows=len(target),
                       selection_rows=len(check_target), selection_log_loss=losses, reason=reason)
