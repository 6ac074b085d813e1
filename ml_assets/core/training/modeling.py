"""Per-segment XGBoost training and evaluation on time-ordered data."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

from ml_assets.core.data.features import category_vocabulary, model_matrix
from ml_assets.core.data.fingerprint import partition_dates
from ml_assets.core.monitoring.drift import ks_statistic
from ml_assets.core.sections import TrainingSections
from ml_assets.core.training.baseline import baseline_scores, fit_baseline
from ml_assets.core.training.calibration import (
    MIN_CLASS_ROWS,
    NO_CALIBRATION,
    Calibration,
    apply_calibration,
    fit_calibration,
    select_calibration,
)
from ml_assets.core.training.comparison import AucComparison
from ml_assets.core.training.cross_validation import cross_validate
from ml_assets.core.training.leakage import LeakageAudit, Refit, audit_leakage
from ml_assets.core.training.record import CrossValidation, ImbalanceStatement, ScoringMeta
from ml_assets.core.training.tuning import TuningResult, tune_params

# Early stopping on log loss: the product is a probability, and AUC stops ranking-only models after a few trees.
BASE_PARAMS: dict[str, Any] = {"objective": "binary:logistic", "eval_metric": "logloss", "tree_method": "hist"}


@dataclass(frozen=True)
class TrainedModel:
    """A booster with what scoring needs to reproduce its inputs."""

    booster: xgb.Booster
    feature_names: list[str]
    vocabulary: dict[str, list[str]]
    params: dict[str, Any]
    best_iteration: int
    calibration: Calibration = NO_CALIBRATION


def registered_model(booster: xgb.Booster, meta: ScoringMeta, params: dict[str, Any]) -> TrainedModel:
    """A registered version as the leakage audit refits it: its booster and inputs, and the params it trained with."""
    return TrainedModel(booster, meta.feature_names, meta.vocabulary, params, meta.best_iteration, meta.calibration)


def training_window(as_of: date, label_delay_days: int, window_days: int) -> tuple[date, date]:
    """First and last record date whose label has matured by `as_of`, spanning `window_days` days."""
    last = as_of - timedelta(days=label_delay_days)
    return last - timedelta(days=window_days - 1), last


Rows = TypeVar("Rows", pd.DataFrame, pd.Series)


def rows_where(rows: Rows, mask: np.ndarray) -> Rows:
    """The rows where `mask` is True, in order: a view (no copy) when they are one contiguous run, as a time split
    of date-ordered data is; a copy otherwise. Read them, do not write into them."""
    positions = np.flatnonzero(mask)
    if len(positions) and positions[-1] - positions[0] + 1 == len(positions):
        return rows.iloc[positions[0]:positions[-1] + 1]
    return rows.iloc[positions]


def split_by_time(frame: pd.DataFrame, date_column: str, holdout_days: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows of the most recent `holdout_days` dates go to the holdout; earlier rows to training (views of `frame`
    when it is ordered by date)."""
    dates = pd.to_datetime(frame[date_column])
    cutoff = dates.max().normalize() - pd.Timedelta(days=holdout_days - 1)
    return rows_where(frame, (dates < cutoff).to_numpy()), rows_where(frame, (dates >= cutoff).to_numpy())


@dataclass(frozen=True)
class SplitStatement:
    """Rows and dates of the time split a training set gets, and the validation and fold settings after it."""

    train_rows: int
    holdout_rows: int
    holdout_first: str | None
    validation_fraction: float
    calibration_folds: int
    cv_folds: int


def split_statement(frame: pd.DataFrame, spec: TrainingSections) -> SplitStatement:
    """How segment_model will split a training set's frame by time."""
    train, holdout = split_by_time(frame, spec.dataset.date, spec.training.holdout_days)
    holdout_dates = partition_dates(holdout, spec.dataset.date)
    training = spec.training
    return SplitStatement(len(train), len(holdout), holdout_dates[0] if holdout_dates else None,
                          training.validation_fraction, training.calibration_folds, training.cv_folds)


def _validation_mask(dates: pd.Series, fraction: float) -> np.ndarray:
    """True for the latest `fraction` of distinct dates: the early-stopping slice."""
    distinct = np.sort(pd.to_datetime(dates).unique())
    n_valid = max(1, int(round(len(distinct) * fraction)))
    return (pd.to_datetime(dates) >= distinct[-n_valid]).to_numpy()


@dataclass(frozen=True)
class CalibrationFolds:
    """Cross-fitting folds over a training part's rows: `of_row` is each row's fold (blocks of calendar days dealt to
    the folds round-robin, so every fold spans the whole window); `trains[f]` marks the rows fold f's booster fits:
    the other folds' rows farther than the gap from every day of fold f."""

    of_row: np.ndarray
    trains: tuple[np.ndarray, ...]


@dataclass(frozen=True)
class TimeSlices:
    """Masks over a training part's rows, by date: `validation` the latest dates (early stopping, and the slice
    `auto` chooses the calibration on), `fit` the rest (the booster's); `folds` the calibration's cross-fitting
    folds (None when calibration is off)."""

    fit: np.ndarray
    validation: np.ndarray
    folds: CalibrationFolds | None


@dataclass(frozen=True)
class FoldScheme:
    """training.calibration_folds blocks of calibration_block_days days dealt round-robin, purged by
    calibration_gap_days around each held-out block (folds 0: no calibration)."""

    folds: int
    block_days: int
    gap_days: int


def time_slices(dates: pd.Series, validation_fraction: float, scheme: FoldScheme) -> TimeSlices:
    """Split the distinct dates: the latest `validation_fraction` for early stopping, the rest for the booster; and,
    across every date, the calibration's cross-fitting folds of `scheme`."""
    values = pd.to_datetime(dates).to_numpy()
    distinct = np.sort(np.unique(values))
    n_valid = max(1, int(round(len(distinct) * validation_fraction)))
    if len(distinct) - n_valid < 1:
        raise ValueError(f"the training part has {len(distinct)} dates: none is left for the booster after "
                         f"{n_valid} early-stopping dates; widen training.window_days or lower "
                         "training.validation_fraction")
    validation = values >= distinct[-n_valid]
    return TimeSlices(~validation, validation, date_folds(values, scheme))


def near_days(held_out: np.ndarray, gap_days: int) -> np.ndarray:
    """True for each day (of a run of calendar days) that is held out or within `gap_days` days of one that is."""
    return np.convolve(held_out.astype(int), np.ones(2 * gap_days + 1, dtype=int), mode="same") > 0


def date_folds(values: np.ndarray, scheme: FoldScheme) -> CalibrationFolds | None:
    """Each row's fold, its calendar days cut into blocks of scheme.block_days from the first date and dealt to the
    folds in turn, and each fold's booster rows (None when scheme.folds is 0). A training part too short for that
    many blocks gets shorter blocks, and a gap that would leave a booster no rows a narrower one."""
    if not scheme.folds:
        return None
    days = ((values.astype("datetime64[D]") - values.min().astype("datetime64[D]")) // np.timedelta64(1, "D"))
    days = days.astype(int)
    span = int(days.max()) + 1
    if span < scheme.folds:
        raise ValueError(f"the training part spans {span} days: fewer than training.calibration_folds "
                         f"{scheme.folds}; widen training.window_days or lower training.calibration_folds")
    fold_of_day = (np.arange(span) // min(scheme.block_days, span // scheme.folds)) % scheme.folds
    for gap_days in range(scheme.gap_days, -1, -1):
        trains = tuple(~near_days(fold_of_day == fold, gap_days)[days] for fold in range(scheme.folds))
        if all(train.any() for train in trains):
            return CalibrationFolds(fold_of_day[days], trains)
    raise ValueError(f"the training part's {span} days leave a calibration fold's booster no rows; widen "
                     "training.window_days or lower training.calibration_folds")


def require_two_classes(target: pd.Series, what: str) -> None:
    """Fail with a clear message when a target has fewer than two classes."""
    classes = sorted(value.item() if hasattr(value, "item") else value for value in pd.unique(target.dropna()))
    if len(classes) < 2:
        raise ValueError(f"{what}: the target has only the classes {classes}; widen the training window or check the labels")


def booster_params(params: dict[str, Any], seed: int) -> dict[str, Any]:
    """The full XGBoost params: the project's base (binary logistic, hist, AUC), seed, then `params`."""
    return {**BASE_PARAMS, "seed": seed, "nthread": 0, **params}


def imbalance_params(target: pd.Series, imbalance: str) -> dict[str, float]:
    """scale_pos_weight = negatives / positives of `target` when imbalance handling is on, else nothing."""
    if imbalance == "none":
        return {}
    positives = float(target.sum())
    if positives == 0:
        raise ValueError("imbalance: scale_pos_weight needs positives in the booster's training rows; "
                         "widen training.window_days or set model.imbalance: none")
    return {"scale_pos_weight": round((len(target) - positives) / positives, 4)}


def train_booster(matrix: pd.DataFrame, target: pd.Series, dates: pd.Series, params: dict[str, Any],
                  num_boost_round: int, early_stopping_rounds: int, validation_fraction: float,
                  seed: int) -> tuple[xgb.Booster, int]:
    """Fit XGBoost (hist) with early stopping on the latest dates; returns the booster and best iteration."""
    validation = _validation_mask(dates, validation_fraction)
    return fit_booster(matrix, target, ~validation, validation, params, num_boost_round, early_stopping_rounds, seed)


def fit_booster(matrix: pd.DataFrame, target: pd.Series, fit: np.ndarray, validation: np.ndarray,
                params: dict[str, Any], num_boost_round: int, early_stopping_rounds: int,
                seed: int) -> tuple[xgb.Booster, int]:
    """Fit XGBoost (hist) on the `fit` rows with early stopping on the `validation` rows; returns the booster and
    best iteration."""
    y = target.to_numpy(dtype="float64")
    train_dm = xgb.DMatrix(rows_where(matrix, fit), y[fit], enable_categorical=True)
    valid_dm = xgb.DMatrix(rows_where(matrix, validation), y[validation], enable_categorical=True)
    booster = xgb.train(booster_params(params, seed), train_dm,
                        num_boost_round=num_boost_round, evals=[(valid_dm, "validation")],
                        early_stopping_rounds=early_stopping_rounds, verbose_eval=False)
    return booster, int(booster.best_iteration)


def predict(booster: xgb.Booster, matrix: pd.DataFrame, best_iteration: int | None = None) -> np.ndarray:
    """Probability of the positive class, using trees up to the best iteration."""
    rounds = (0, best_iteration + 1) if best_iteration is not None else (0, 0)
    return booster.predict(xgb.DMatrix(matrix, enable_categorical=True), iteration_range=rounds)


def ks_score(target: np.ndarray, score: np.ndarray) -> float:
    """Kolmogorov-Smirnov separation between the score distributions of positives and negatives."""
    positive = np.asarray(target) == 1
    return ks_statistic(np.asarray(score)[positive], np.asarray(score)[~positive])


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


def beats_champion(challenger_auc: float, comparison: AucComparison | None, min_auc: float) -> tuple[bool, str]:
    """Quality gate: above the floor and, when a champion exists, an AUC gain above the margin that the
    paired bootstrap on the same holdout finds significant (p < alpha)."""
    if challenger_auc < min_auc:
        return False, f"holdout AUC {challenger_auc:.4f} is below the floor {min_auc:.4f}"
    if comparison is None:
        return True, f"first model: holdout AUC {challenger_auc:.4f} passes the floor {min_auc:.4f}"
    c = comparison
    evidence = (f"gain {c.delta:+.4f}, {1 - 2 * c.alpha:.0%} CI [{c.ci_low:+.4f}, {c.ci_high:+.4f}], "
                f"p={c.p_value:.3f} for gain <= {c.margin}")
    if c.p_value < c.alpha:
        return True, (f"holdout AUC {challenger_auc:.4f} beats champion {c.champion_auc:.4f} by > {c.margin} "
                      f"({evidence})")
    return False, (f"holdout AUC {challenger_auc:.4f} does not beat champion {c.champion_auc:.4f} by {c.margin} "
                   f"with p < {c.alpha} ({evidence})")


@dataclass(frozen=True)
class TrainingRows:
    """A segment's training part as the booster sees it; `slices` mark the booster's rows, its early-stopping
    slice and the calibration folds."""

    frame: pd.DataFrame
    matrix: pd.DataFrame
    target: pd.Series
    dates: pd.Series
    slices: TimeSlices

    @property
    def fit(self) -> np.ndarray:
        return self.slices.fit

    @property
    def validation(self) -> np.ndarray:
        return self.slices.validation


@dataclass(frozen=True)
class SegmentFit:
    """Everything one segment's training produced, before it is logged or registered.

    `metrics` and `holdout_scores` are calibrated (what scoring serves); `raw_metrics` are the booster's own."""

    model: TrainedModel
    holdout: pd.DataFrame
    holdout_scores: np.ndarray
    metrics: dict[str, float]
    cutpoints: list[float]
    train_rows: int
    raw_metrics: dict[str, float]
    baseline_metrics: dict[str, float]
    imbalance: ImbalanceStatement
    tuning: TuningResult | None
    cv: CrossValidation | None


def training_rows(train: pd.DataFrame, spec: TrainingSections, vocabulary: dict[str, list[str]],
                  segment: str) -> TrainingRows:
    """Model matrix, target and dates of the training part, with its time slices marked."""
    ds, training = spec.dataset, spec.training
    scheme = FoldScheme(training.calibration_folds if spec.model.calibration != "none" else 0,
                        training.calibration_block_days, training.calibration_gap_days)
    slices = time_slices(train[ds.date], training.validation_fraction, scheme)
    require_two_classes(train.loc[slices.validation, ds.target],
                        f"segment {segment!r} validation slice ({training.validation_fraction:.0%} of training dates)")
    return TrainingRows(train, model_matrix(train, spec.features, vocabulary), train[ds.target], train[ds.date], slices)


def enough_to_calibrate(target: np.ndarray) -> bool:
    """auto calibrates only when a part of the calibration rows holds MIN_CLASS_ROWS of each class: fewer cannot
    show a map beating the raw scores."""
    positives = int(np.sum(target))
    return min(positives, len(target) - positives) >= MIN_CLASS_ROWS


def booster_of_rows(rows: TrainingRows, spec: TrainingSections, params: dict[str, Any]) -> tuple[xgb.Booster, int]:
    """XGBoost with `params` on a segment's training rows, early-stopped on their validation slice."""
    return fit_booster(rows.matrix, rows.target, rows.fit, rows.validation, params, spec.model.num_boost_round,
                       spec.model.early_stopping_rounds, spec.training.seed)


def validation_auc(rows: TrainingRows, spec: TrainingSections, params: dict[str, Any]) -> float:
    """AUC on the validation slice of a booster fitted with `params` (the tuning objective)."""
    booster, best_iteration = booster_of_rows(rows, spec, params)
    scores = predict(booster, rows_where(rows.matrix, rows.validation), best_iteration)
    return float(roc_auc_score(rows.target[rows.validation], scores))


def segment_params(rows: TrainingRows, spec: TrainingSections,
                   segment: str) -> tuple[dict[str, Any], TuningResult | None]:
    """Spec params with the imbalance setting, then the best Optuna trial's params when tuning is on."""
    params = {**spec.model.params_for(segment), **imbalance_params(rows.target[rows.fit], spec.model.imbalance)}
    if not spec.model.tuning.enabled:
        return params, None
    tuning = tune_params(lambda trial_params: validation_auc(rows, spec, trial_params), params, spec.model.tuning,
                         spec.training.seed)
    return tuning.best_params, tuning


BoosterTrainer = Callable[[TrainingRows, dict[str, Any]], tuple[xgb.Booster, int]]
"""Fits the booster of a segment's training rows with early stopping on their validation slice, elsewhere than
in this process (core.training.distributed.dask_trainer: on a Dask cluster); returns it and its best iteration."""


def fit_model(rows: TrainingRows, spec: TrainingSections, params: dict[str, Any],
              vocabulary: dict[str, list[str]], trainer: BoosterTrainer | None = None) -> TrainedModel:
    """XGBoost with early stopping on the validation slice (here, or by `trainer`), then its cross-fitted
    calibration."""
    booster, best_iteration = trainer(rows, params) if trainer else booster_of_rows(rows, spec, params)
    calibration = cross_fitted_calibration(rows, params, booster, best_iteration, spec.model.calibration,
                                           spec.training.seed)
    return TrainedModel(booster, spec.features.model_columns(), vocabulary, params, best_iteration, calibration)


def cross_fitted_calibration(rows: TrainingRows, params: dict[str, Any], booster: xgb.Booster, best_iteration: int,
                             requested: str, seed: int) -> Calibration:
    """The calibration `requested` (auto, none, sigmoid, isotonic) fitted on out-of-fold scores of every training
    row; auto fits its candidate maps on the rows before the validation slice and chooses among them and the raw
    scores on the served booster's own scores of that slice: the latest dates, which it neither fitted nor saw."""
    if requested == "none" or rows.slices.folds is None:
        return NO_CALIBRATION
    target, latest = rows.target.to_numpy(), rows.validation
    if requested == "auto" and not (enough_to_calibrate(target[latest]) and enough_to_calibrate(target[~latest])):
        return Calibration(method="none", requested=requested,
                           reason=f"auto kept the raw scores: the early-stopping slice or the dates before it hold "
                                  f"fewer than {MIN_CLASS_ROWS} rows of a class")
    scores = out_of_fold_scores(rows.matrix, rows.target, rows.slices.folds, booster_params(params, seed),
                                best_iteration + 1)
    if requested != "auto":
        return fit_calibration(target, scores, requested)
    served = predict(booster, rows_where(rows.matrix, latest), best_iteration)
    return select_calibration(target, scores, latest, served)


def out_of_fold_scores(matrix: pd.DataFrame, target: pd.Series, folds: CalibrationFolds, params: dict[str, Any],
                       trees: int) -> np.ndarray:
    """Each row's score by a booster of `trees` trees (the served booster's params and count, no early stopping)
    fitted on its fold's booster rows (the other folds, purged near it): how the booster scores rows it has not
    seen."""
    y = target.to_numpy(dtype="float64")
    scores = np.empty(len(y))
    for fold, train in enumerate(folds.trains):
        held_out = folds.of_row == fold
        if not held_out.any():
            continue
        fold_booster = xgb.train(params, xgb.DMatrix(rows_where(matrix, train), y[train], enable_categorical=True),
                                 num_boost_round=trees)
        scores[held_out] = fold_booster.predict(xgb.DMatrix(rows_where(matrix, held_out), enable_categorical=True))
    return scores


def imbalance_statement(rows: TrainingRows, params: dict[str, Any], imbalance: str) -> ImbalanceStatement:
    """How class imbalance was handled, for the record and the run's params."""
    return ImbalanceStatement(imbalance, float(rows.target[rows.fit].mean()), params.get("scale_pos_weight"),
                              "balanced" if imbalance != "none" else None)


def baseline_holdout_metrics(rows: TrainingRows, holdout: pd.DataFrame, spec: TrainingSections) -> dict[str, float]:
    """Logistic-regression baseline fitted on the booster's own training rows, scored on the same holdout."""
    model = fit_baseline(rows.frame[rows.fit], rows.target[rows.fit], spec.features, spec.model.imbalance != "none",
                         spec.training.seed)
    return classification_metrics(holdout[spec.dataset.target].to_numpy(),
                                  baseline_scores(model, holdout, spec.features))


def refit_sample(target: np.ndarray, fit: np.ndarray, rows: int, seed: int) -> np.ndarray:
    """Positions (in order) of at most `rows` of the booster's rows, each class in its own share, seeded: the audit's
    refits train on these so their cost stays bounded; every booster row when there are no more than `rows`."""
    positions = np.flatnonzero(fit)
    if len(positions) <= rows:
        return positions
    rng, classes = np.random.default_rng(seed), target[positions]
    chosen = [rng.choice(positions[classes == value], size=round(rows * np.mean(classes == value)), replace=False)
              for value in np.unique(classes)]
    return np.sort(np.concatenate(chosen))


def refit_without(rows: TrainingRows, model: TrainedModel, holdout_matrix: pd.DataFrame, sample_rows: int,
                  seed: int) -> Refit:
    """Refits of the booster on the given columns (its params and number of trees) on one seeded, stratified sample
    of at most `sample_rows` of its rows, scoring the holdout."""
    target = rows.target.to_numpy(dtype="float64")
    sample = refit_sample(target, rows.fit, sample_rows, seed)
    matrix = rows.matrix.iloc[sample]

    def refit(columns: list[str]) -> np.ndarray:
        train = xgb.DMatrix(matrix[columns], target[sample], enable_categorical=True)
        booster = xgb.train(booster_params(model.params, seed), train, num_boost_round=model.best_iteration + 1)
        return booster.predict(xgb.DMatrix(holdout_matrix[columns], enable_categorical=True))

    return refit


def segment_leakage(frame: pd.DataFrame, spec: TrainingSections, segment: str, model: TrainedModel,
                    refits: bool) -> LeakageAudit:
    """The leakage audit of a trained segment on the same time split, booster rows and holdout as its training (a
    step after registration, so the version does not wait for it); drop costs only when `refits` (local training)."""
    ds, leakage = spec.dataset, spec.training.leakage
    train, holdout = split_by_time(frame, ds.date, spec.training.holdout_days)
    rows = training_rows(train, spec, model.vocabulary, segment)
    holdout_matrix = model_matrix(holdout, spec.features, model.vocabulary)
    target = holdout[ds.target].to_numpy()
    raw_scores = predict(model.booster, holdout_matrix, model.best_iteration)
    refit = refit_without(rows, model, holdout_matrix, leakage.refit_rows, spec.training.seed) if refits else None
    return audit_leakage(rows.matrix, rows.target.to_numpy(), holdout_matrix, target, raw_scores,
                         gain_importance(model.booster[: model.best_iteration + 1]), spec.features.categorical,
                         leakage, refit)


def fit_segment(frame: pd.DataFrame, spec: TrainingSections, segment: str,
                trainer: BoosterTrainer | None = None) -> SegmentFit:
    """Time-split a segment's training set, fit (and optionally tune) XGBoost, calibrate it, score the held-out
    days, and report the logistic baseline and the optional k-fold CV beside it (the leakage audit is
    `segment_leakage`, run after registration). `trainer` fits the booster elsewhere (e.g. on a Dask cluster);
    everything else runs here."""
    ds, training = spec.dataset, spec.training
    train, holdout = split_by_time(frame, ds.date, training.holdout_days)
    require_two_classes(train[ds.target], f"segment {segment!r} training rows")
    require_two_classes(holdout[ds.target], f"segment {segment!r} holdout ({training.holdout_days} latest days)")
    vocabulary = category_vocabulary(train, spec.features.categorical)
    rows = training_rows(train, spec, vocabulary, segment)
    params, tuning = segment_params(rows, spec, segment)
    model = fit_model(rows, spec, params, vocabulary, trainer)
    target = holdout[ds.target].to_numpy()
    holdout_matrix = model_matrix(holdout, spec.features, vocabulary)
    raw = predict(model.booster, holdout_matrix, model.best_iteration)
    scores = apply_calibration(raw, model.calibration)
    metrics = classification_metrics(target, scores)
    cv = (cross_validate(rows.matrix, rows.target, booster_params(params, training.seed), model.best_iteration + 1,
                         training.cv_folds, training.seed) if training.cv_folds else None)
    return SegmentFit(
        model=model, holdout=holdout, holdout_scores=scores, metrics=metrics,
        cutpoints=score_cutpoints(scores, spec.quantiles), train_rows=len(train),
        raw_metrics=metrics if model.calibration.method == "none" else classification_metrics(target, raw),
        baseline_metrics=baseline_holdout_metrics(rows, holdout, spec) if spec.model.baseline else {},
        imbalance=imbalance_statement(rows, params, spec.model.imbalance), tuning=tuning, cv=cv)
