"""Calibration: JSON-storable maps that match scikit-learn, `auto` that keeps a map only where it beats the raw
scores out of time, fitted on cross-fitted scores while the served booster trains on every date."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn.calibration import calibration_curve
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss

from ml_assets.core.data.features import SEGMENT_COLUMN, build_features
from ml_assets.core.data.synthetic import generate_invoices
from ml_assets.core.training.calibration import (
    NO_CALIBRATION,
    Calibration,
    apply_calibration,
    fit_calibration,
    load_calibration,
    select_calibration,
)
from ml_assets.core.training.modeling import (
    FoldScheme,
    TrainingRows,
    booster_params,
    cross_fitted_calibration,
    expected_calibration_error,
    fit_booster,
    fit_segment,
    out_of_fold_scores,
    predict,
    time_slices,
)
from ml_assets_tests.conftest import make_spec


def planted(n: int, seed: int, slope: float = 2.0, shift: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels drawn from a known p, and scores with logit = slope * logit(p) + shift (slope 1, shift 0: calibrated)."""
    rng = np.random.default_rng(seed)
    logit = rng.normal(-1.5, 1.0, n)
    truth = 1 / (1 + np.exp(-logit))
    target = (rng.random(n) < truth).astype(float)
    return target, 1 / (1 + np.exp(-(slope * logit + shift))), truth


def later_half(n: int) -> np.ndarray:
    """Selection mask: the second half of n rows."""
    return np.arange(n) >= n // 2


def test_no_calibration_leaves_scores_alone():
    target, scores, _ = planted(200, 0)
    assert fit_calibration(target, scores, "none") == NO_CALIBRATION == load_calibration(NO_CALIBRATION.as_dict())
    np.testing.assert_array_equal(apply_calibration(scores, NO_CALIBRATION), scores)


def test_sigmoid_recovers_the_distortion_and_round_trips_through_json():
    target, scores, _ = planted(20_000, 1)
    calibration = fit_calibration(target, scores, "sigmoid")
    stored = json.loads(json.dumps(calibration.as_dict()))
    assert load_calibration(stored) == calibration
    # scores have logit 2x+1, so the inverse map is slope 1/2, intercept -1/2
    assert calibration.parameters["slope"] == pytest.approx(0.5, abs=0.05)
    assert calibration.parameters["intercept"] == pytest.approx(-0.5, abs=0.1)
    logit = np.log(scores / (1 - scores)).reshape(-1, 1)
    reference = LogisticRegression(C=np.inf).fit(logit, target.astype(int))
    np.testing.assert_allclose(apply_calibration(scores, calibration), reference.predict_proba(logit)[:, 1], rtol=1e-6)


def test_isotonic_map_matches_scikit_learn_predictions():
    target, scores, _ = planted(3000, 2)
    calibration = fit_calibration(target, scores, "isotonic")
    reference = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(scores, target)
    probe = np.linspace(-0.1, 1.1, 500)
    np.testing.assert_allclose(apply_calibration(probe, calibration), reference.predict(probe))


def test_auto_repairs_planted_miscalibration_on_new_rows():
    """Overconfident scores: auto keeps a map, and on fresh rows it brings ECE and log loss near the truth's."""
    target, scores, _ = planted(8000, 3)
    chosen = select_calibration(target, scores, later_half(8000), scores[later_half(8000)])
    assert chosen.method in {"sigmoid", "isotonic"} and chosen.requested == "auto" and chosen.fit_rows == 8000
    half = 4000
    fit = slice(0, half)
    for method in ("sigmoid", "isotonic"):  # each candidate was fitted on the earlier half, scored on the later
        candidate = fit_calibration(target[fit], scores[fit], method)
        expected = log_loss(target[half:], np.clip(apply_calibration(scores[half:], candidate), 1e-7, 1 - 1e-7))
        assert chosen.selection_log_loss[method] == pytest.approx(expected, rel=1e-9)
    assert chosen.selection_log_loss["none"] == pytest.approx(log_loss(target[half:], scores[half:]), rel=1e-9)
    assert chosen.selection_log_loss[chosen.method] == min(chosen.selection_log_loss.values())
    new_target, new_scores, truth = planted(8000, 4)
    calibrated = apply_calibration(new_scores, chosen)
    assert expected_calibration_error(new_target, new_scores) > 0.05
    assert expected_calibration_error(new_target, calibrated) < 0.02
    assert log_loss(new_target, calibrated) == pytest.approx(log_loss(new_target, truth), abs=0.01)
    assert log_loss(new_target, calibrated) < log_loss(new_target, new_scores) - 0.03


@pytest.mark.parametrize("seed", [5, 6, 7])
def test_auto_keeps_already_calibrated_scores(seed):
    """Scores equal to the true probabilities: no map beats them out of time, so auto serves them unchanged."""
    target, scores, truth = planted(6000, seed, slope=1.0, shift=0.0)
    np.testing.assert_allclose(scores, truth)
    chosen = select_calibration(target, scores, later_half(6000), scores[later_half(6000)])
    assert chosen.method == "none" and chosen.parameters == {}
    assert "auto chose none" in chosen.reason and set(chosen.selection_log_loss) == {"none", "sigmoid", "isotonic"}
    np.testing.assert_array_equal(apply_calibration(scores, chosen), scores)


def test_auto_without_enough_rows_of_a_class_keeps_the_raw_scores(tmp_path):
    """The demo's small industrial segment: its early-stopping slice holds a handful of defaults, too few to
    show a map beating the raw scores, so auto serves them."""
    spec = make_spec(tmp_path, training={"window_days": 91, "holdout_days": 14, "leakage": {"refit_top": 0}})
    features = build_features(generate_invoices(2500, date(2024, 1, 1), date(2024, 3, 31), seed=3), spec.dataset,
                              spec.features)
    frame = features[features[SEGMENT_COLUMN] == "industrial"].reset_index(drop=True)
    fit = fit_segment(frame, spec.training_sections(), "industrial")
    assert fit.model.calibration.method == "none" and "fewer than 30 rows of a class" in fit.model.calibration.reason
    assert fit.metrics["roc_auc"] > 0.75


def test_auto_with_one_class_in_a_part_keeps_the_raw_scores():
    target = np.r_[np.zeros(50), np.tile([0.0, 1.0], 25)]
    scores, selection = np.linspace(0.1, 0.9, 100), later_half(100) == 0
    chosen = select_calibration(target, scores, selection, scores[selection])
    assert chosen.method == "none" and "one class only" in chosen.reason


def test_explicit_method_needs_both_classes_and_says_what_to_do():
    with pytest.raises(ValueError, match="needs both classes.*window_days.*calibration: none"):
        fit_calibration(np.zeros(10), np.linspace(0, 1, 10), "sigmoid")


def test_unknown_stored_method_is_an_error():
    with pytest.raises(ValueError, match="unknown calibration method 'beta'"):
        load_calibration({"method": "beta"})


DEFAULT_SCHEME = FoldScheme(folds=3, block_days=14, gap_days=2)


def test_every_fold_booster_sees_every_calendar_month_and_the_selection_slice_is_the_latest():
    """A year of daily dates: blocks of 14 days dealt round-robin, so each fold's booster fits rows of every
    calendar month, never a row of its own fold nor within 2 days of one; the early-stopping (selection) slice is
    the latest fifth of the dates, and the booster fits every earlier date."""
    dates = pd.Series(pd.date_range("2023-05-01", "2024-04-30").repeat(2))
    slices = time_slices(dates, validation_fraction=0.2, scheme=DEFAULT_SCHEME)
    day = ((dates - dates.min()).dt.days).to_numpy()
    assert (slices.fit ^ slices.validation).all()
    assert dates[slices.fit].max() < dates[slices.validation].min() == pd.Timestamp("2024-02-18")
    assert sorted(set(dates[slices.validation].dt.date)) == sorted(set(dates.dt.date))[-73:]
    folds = slices.folds
    np.testing.assert_array_equal(folds.of_row, (day // 14) % 3)
    months = set(dates.dt.to_period("M"))
    for fold, train in enumerate(folds.trains):
        held_days = np.unique(day[folds.of_row == fold])
        distance = np.abs(day[train][:, None] - held_days[None, :]).min(axis=1)
        assert distance.min() == 3, "the booster's rows are more than the 2-day gap from its fold's days"
        assert set(dates[train].dt.to_period("M")) == months, f"fold {fold}'s booster misses a calendar month"
        left_out = ~train & (folds.of_row != fold)
        assert left_out.any() and (np.abs(day[left_out][:, None] - held_days[None, :]).min(axis=1) <= 2).all()
    assert time_slices(dates, 0.2, FoldScheme(0, 14, 2)).folds is None


def test_a_short_training_part_gets_shorter_blocks_and_a_narrower_gap():
    """20 days cannot hold 3 blocks of 14: blocks of 6 days (20 // 3), still dealt in turn, each booster 2 days
    from its fold; 4 days in 2 folds of 2 leave no room for a 2-day gap: it narrows to the widest that leaves both boosters rows."""
    month = pd.Series(pd.date_range("2024-01-01", periods=20))
    folds = time_slices(month, 0.2, FoldScheme(3, 14, 2)).folds
    assert folds.of_row.tolist() == [0] * 6 + [1] * 6 + [2] * 6 + [0] * 2
    assert [int(train.sum()) for train in folds.trains] == [8, 10, 10]
    short = time_slices(pd.Series(pd.date_range("2024-01-01", periods=4)), 0.25, FoldScheme(2, 14, 2)).folds
    assert short.of_row.tolist() == [0, 0, 1, 1] and [t.tolist() for t in short.trains] == [
        [False, False, False, True], [True, False, False, False]], "a 1-day gap, the widest that leaves rows"


def test_fewer_days_than_folds_say_what_to_change():
    with pytest.raises(ValueError, match="spans 2 days: fewer than training.calibration_folds 3; widen"):
        time_slices(pd.Series(pd.date_range("2024-01-01", periods=2)), 0.5, FoldScheme(3, 14, 2))


def planted_rows(n: int, days: int, seed: int) -> tuple[pd.DataFrame, pd.Series, pd.Series, np.ndarray]:
    """Rows over `days` dates whose label is Bernoulli of a known non-linear p(x): matrix, target, dates, p."""
    rng = np.random.default_rng(seed)
    matrix = pd.DataFrame(rng.normal(size=(n, 4)), columns=["a", "b", "c", "d"])
    logit = 1.2 * matrix.a - 0.8 * matrix.b + 0.6 * matrix.c * matrix.d + 0.5 * np.abs(matrix.d) - 1.8
    truth = (1 / (1 + np.exp(-logit))).to_numpy()
    target = pd.Series((rng.random(n) < truth).astype("int64"))
    dates = pd.Series(pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(n) * days // n, unit="D"))
    return matrix, target, dates, truth


def served(params: dict, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, Calibration]:
    """Train as fit_model does (early stopping on the latest dates, auto cross-fitted calibration) on planted rows;
    score fresh rows of the same p: labels, raw scores, served scores and the true p."""
    matrix, target, dates, _ = planted_rows(12_000, 90, seed)
    rows = TrainingRows(matrix, matrix, target, dates, time_slices(dates, 0.2, DEFAULT_SCHEME))
    booster, best = fit_booster(matrix, target, rows.fit, rows.validation, params, 400, 30, seed)
    calibration = cross_fitted_calibration(rows, params, booster, best, "auto", seed)
    fresh, fresh_target, _, truth = planted_rows(20_000, 30, seed + 100)
    raw = predict(booster, fresh, best)
    return fresh_target.to_numpy(), raw, apply_calibration(raw, calibration), truth, calibration


@pytest.mark.parametrize("seed", [0, 1])
def test_cross_fitted_auto_never_makes_a_well_calibrated_booster_worse(seed):
    """Oracle: the planted p. A plain log-loss booster is close to calibrated; what auto serves is no further from
    the truth on fresh rows than the raw scores (ECE within 0.002, log loss not above raw by more than noise)."""
    target, raw, scores, truth, calibration = served({"max_depth": 3, "eta": 0.1}, seed)
    print(f"\nseed {seed}: {calibration.reason}; ECE raw {expected_calibration_error(target, raw):.4f} served "
          f"{expected_calibration_error(target, scores):.4f}")
    assert expected_calibration_error(target, scores) <= expected_calibration_error(target, raw) + 0.002
    assert log_loss(target, np.clip(scores, 1e-7, 1 - 1e-7)) <= log_loss(target, raw) + 0.002
    assert set(calibration.selection_log_loss) == {"none", "sigmoid", "isotonic"}
    assert np.mean(np.abs(scores - truth)) <= np.mean(np.abs(raw - truth)) + 0.002


def test_cross_fitted_auto_repairs_a_reweighted_booster():
    """Oracle: the planted p. scale_pos_weight 4 inflates the booster's probabilities; auto keeps a map fitted on
    out-of-fold scores, which brings fresh rows' ECE and log loss near the truth's, ranking unchanged."""
    target, raw, scores, truth, calibration = served({"max_depth": 3, "eta": 0.1, "scale_pos_weight": 4.0})
    assert calibration.method in {"sigmoid", "isotonic"}, calibration.reason
    assert expected_calibration_error(target, raw) > 0.1
    assert expected_calibration_error(target, scores) < 0.02
    served_loss = log_loss(target, np.clip(scores, 1e-7, 1 - 1e-7))
    assert served_loss < log_loss(target, raw) - 0.03 and served_loss < log_loss(target, truth) + 0.02
    assert np.mean(np.abs(scores - truth)) < np.mean(np.abs(raw - truth)) / 3


def test_out_of_fold_scores_come_from_boosters_that_did_not_see_the_fold():
    """Each fold's scores equal those of a booster of the same params and trees fitted on the other folds' rows
    more than the gap away from the fold's days (a bare mask of the dates as oracle)."""
    matrix, target, dates, _ = planted_rows(3000, 60, 3)
    folds = time_slices(dates, 0.2, DEFAULT_SCHEME).folds
    params = booster_params({"max_depth": 2}, 0)
    scores = out_of_fold_scores(matrix, target, folds, params, 20)
    day = (dates - dates.min()).dt.days.to_numpy()
    held = (day // 14) % 3 == 2
    others = np.abs(day[:, None] - np.unique(day[held])[None, :]).min(axis=1) > 2
    booster = xgb.train(params, xgb.DMatrix(matrix[others], target[others]), num_boost_round=20)
    np.testing.assert_allclose(scores[held], booster.predict(xgb.DMatrix(matrix[held])), rtol=1e-6)


def test_auto_repairs_a_reweighted_booster_on_its_holdout(tmp_path):
    """scale_pos_weight inflates probabilities; auto keeps a map fitted on the calibration slice and repairs the
    holdout, keeping the ranking."""
    spec = make_spec(tmp_path, model={"imbalance": "scale_pos_weight", "calibration": "auto"},
                     training={"window_days": 90, "holdout_days": 14})
    invoices = generate_invoices(1500, date(2024, 1, 1), date(2024, 4, 30), seed=5)
    features = build_features(invoices, spec.dataset, spec.features)
    frame = features[features[SEGMENT_COLUMN] == "domestic"].reset_index(drop=True)
    fit = fit_segment(frame, spec.training_sections(), "domestic")
    assert fit.imbalance.method == "scale_pos_weight" and fit.model.params["scale_pos_weight"] > 3
    assert fit.raw_metrics["ece"] > 0.15, "the reweighted booster is miscalibrated"
    assert fit.model.calibration.method in {"sigmoid", "isotonic"}
    assert fit.metrics["ece"] < fit.raw_metrics["ece"] / 3
    assert fit.metrics["log_loss"] < fit.raw_metrics["log_loss"]
    tolerance = 0.0 if fit.model.calibration.method == "sigmoid" else 0.015  # isotonic's flat steps tie scores
    assert fit.metrics["roc_auc"] >= fit.raw_metrics["roc_auc"] - tolerance - 1e-9, "a monotone map keeps the ranking"
    assert pd.Series(fit.holdout_scores).between(0, 1).all()


def seasonal_rows(n: int, first: str, days: int, seed: int) -> tuple[pd.DataFrame, pd.Series, pd.Series, np.ndarray]:
    """Rows over `days` dates from `first` whose label is Bernoulli of a known p with a season term in the calendar
    month, which is a feature (as the benchmark's billing month): matrix, target, dates, p."""
    rng = np.random.default_rng(seed)
    dates = pd.Series(pd.Timestamp(first) + pd.to_timedelta(np.arange(n) * days // n, unit="D"))
    matrix = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), "month": dates.dt.month.to_numpy()})
    logit = 1.0 * matrix.a - 0.7 * matrix.b + 0.8 * np.cos(2 * np.pi * matrix.month / 12) - 2.0
    truth = (1 / (1 + np.exp(-logit))).to_numpy()
    return matrix, pd.Series((rng.random(n) < truth).astype("int64")), dates, truth


def month_error(scores: np.ndarray, truth: np.ndarray, dates: pd.Series) -> float:
    """Mean over calendar months of |mean score - mean true p|: how far scores are off per month."""
    frame = pd.DataFrame({"gap": scores - truth, "month": dates.dt.month})
    return float(frame.groupby("month")["gap"].mean().abs().mean())


def test_round_robin_out_of_fold_scores_follow_the_season_where_contiguous_blocks_do_not():
    """Oracle: the planted p. With a calendar-month feature and a year of dates, three contiguous blocks (the old
    scheme, blocks of a third of the window) leave each fold's booster blind to its block's months, so its
    out-of-fold scores are off by month; blocks of 14 days dealt round-robin keep them as close as the served
    booster's own fit."""
    matrix, target, dates, truth = seasonal_rows(30_000, "2023-05-01", 366, 11)
    params = booster_params({"max_depth": 3, "eta": 0.1}, 0)
    contiguous = time_slices(dates, 0.2, FoldScheme(3, 122, 0)).folds
    assert all(len(set(dates[train].dt.month)) <= 9 for train in contiguous.trains), "each misses 3+ months"
    round_robin = time_slices(dates, 0.2, DEFAULT_SCHEME).folds
    blind = month_error(out_of_fold_scores(matrix, target, contiguous, params, 150), truth, dates)
    seeing = month_error(out_of_fold_scores(matrix, target, round_robin, params, 150), truth, dates)
    print(f"\nmean |score - p| by month: contiguous {blind:.4f}, round-robin {seeing:.4f}")
    assert blind > 0.02 and seeing < blind / 2


def bare_ece(target: np.ndarray, scores: np.ndarray) -> float:
    """ECE from scikit-learn's calibration_curve (10 uniform bins), weighted by each non-empty bin's rows."""
    observed, predicted = calibration_curve(target, scores, n_bins=10, strategy="uniform")
    counts = np.bincount(np.searchsorted(np.linspace(0, 1, 11)[1:-1], scores), minlength=10)
    return float(np.sum(counts[counts > 0] * np.abs(observed - predicted)) / len(scores))


@pytest.mark.parametrize(("seed", "params"), [(0, {"max_depth": 3, "eta": 0.1}),
                                              (1, {"max_depth": 4, "eta": 0.08, "subsample": 0.8}),
                                              (2, {"max_depth": 3, "eta": 0.1, "scale_pos_weight": 3.0})])
def test_auto_never_makes_the_out_of_time_ece_worse_on_a_seasonal_year(seed, params):
    """Trained as fit_model trains (a year of a planted season, early stopping and auto on the latest dates), the
    served scores of the next 30 days are no less calibrated than the raw ones by the bare ECE of scikit-learn's
    calibration_curve (within 0.002), and the project's ECE is that computation."""
    matrix, target, dates, _ = seasonal_rows(30_000, "2023-05-01", 366, seed)
    rows = TrainingRows(matrix, matrix, target, dates, time_slices(dates, 0.2, DEFAULT_SCHEME))
    booster, best = fit_booster(matrix, target, rows.fit, rows.validation, params, 400, 30, seed)
    calibration = cross_fitted_calibration(rows, params, booster, best, "auto", seed)
    fresh, fresh_target, _, _ = seasonal_rows(3_000, "2024-05-01", 30, seed + 50)
    raw = predict(booster, fresh, best)
    scores = apply_calibration(raw, calibration)
    labels = fresh_target.to_numpy()
    print(f"\nseed {seed}: {calibration.reason}; ECE raw {bare_ece(labels, raw):.4f} served "
          f"{bare_ece(labels, scores):.4f}")
    assert expected_calibration_error(labels, scores) == pytest.approx(bare_ece(labels, scores), abs=1e-12)
    assert bare_ece(labels, scores) <= bare_ece(labels, raw) + 0.002
