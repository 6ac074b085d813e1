"""Calibration: JSON-storable maps that match scikit-learn, `auto` that keeps a map only where it beats the raw
scores out of time, and a calibration slice the booster never trains or early-stops on."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pandas as pd
import pytest
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss

from ml_assets.core.calibration import (
    NO_CALIBRATION, apply_calibration, calibrate, fit_calibration, load_calibration, select_calibration)
from ml_assets.core.features import SEGMENT_COLUMN, build_features
from ml_assets.core.modeling import expected_calibration_error, fit_segment, time_slices
from ml_assets.core.synthetic import generate_invoices
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
    assert fit_calibration(target, scores, "none") == NO_CALIBRATION == load_calibration(None)
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
    chosen = select_calibration(target, scores, later_half(8000))
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
    chosen = select_calibration(target, scores, later_half(6000))
    assert chosen.method == "none" and chosen.parameters == {}
    assert "auto chose none" in chosen.reason and set(chosen.selection_log_loss) == {"none", "sigmoid", "isotonic"}
    np.testing.assert_array_equal(apply_calibration(scores, chosen), scores)


def test_auto_without_enough_rows_of_a_class_leaves_the_dates_to_the_booster(tmp_path):
    """The demo's small industrial segment: its calibration slice would hold a handful of defaults, so auto carves
    none and the booster trains on every date but the early-stopping ones."""
    spec = make_spec(tmp_path, training={"window_days": 91, "holdout_days": 14, "leakage": {"refit_top": 0}})
    features = build_features(generate_invoices(2500, date(2024, 1, 1), date(2024, 3, 31), seed=3), spec)
    frame = features[features[SEGMENT_COLUMN] == "industrial"].reset_index(drop=True)
    fit = fit_segment(frame, spec, "industrial")
    assert fit.model.calibration.method == "none" and "fewer than 30 rows of a class" in fit.model.calibration.reason
    assert fit.metrics["roc_auc"] > 0.75


def test_auto_with_one_class_in_a_part_keeps_the_raw_scores():
    target = np.r_[np.zeros(50), np.tile([0.0, 1.0], 25)]
    chosen = calibrate(target, np.linspace(0.1, 0.9, 100), later_half(100) == 0, "auto")
    assert chosen.method == "none" and "one class only" in chosen.reason


def test_explicit_method_needs_both_classes_and_says_what_to_do():
    with pytest.raises(ValueError, match="needs both classes.*calibration_fraction.*calibration: none"):
        fit_calibration(np.zeros(10), np.linspace(0, 1, 10), "sigmoid")


def test_unknown_stored_method_is_an_error():
    with pytest.raises(ValueError, match="unknown calibration method 'beta'"):
        load_calibration({"method": "beta"})


def test_time_slices_keep_calibration_out_of_the_boosters_rows():
    dates = pd.Series(pd.date_range("2024-01-01", periods=100).repeat(3))
    slices = time_slices(dates, validation_fraction=0.2, calibration_fraction=0.2)
    day = dates.dt.day_of_year.to_numpy()
    assert not (slices.fit & (slices.validation | slices.calibration)).any()
    assert not (slices.validation & slices.calibration).any()
    assert (slices.fit | slices.validation | slices.calibration).all()
    assert sorted(set(day[slices.calibration])) == list(range(5, 101, 5)), "every 5th date, across the window"
    assert day[slices.fit].max() < day[slices.validation].min(), "early stopping on the latest other dates"
    assert (slices.calibration.sum(), slices.validation.sum(), slices.selection.sum()) == (60, 60, 30)
    assert not (slices.selection & ~slices.calibration).any() and day[slices.selection].min() == 55
    off = time_slices(dates, 0.2, 0.0)
    assert not off.calibration.any() and off.validation.sum() == 60


def test_auto_repairs_a_reweighted_booster_on_its_holdout(tmp_path):
    """scale_pos_weight inflates probabilities; auto keeps a map fitted on the calibration slice and repairs the
    holdout, keeping the ranking."""
    spec = make_spec(tmp_path, model={"imbalance": "scale_pos_weight", "calibration": "auto"},
                     training={"window_days": 90, "holdout_days": 14})
    invoices = generate_invoices(1500, date(2024, 1, 1), date(2024, 4, 30), seed=5)
    features = build_features(invoices, spec)
    frame = features[features[SEGMENT_COLUMN] == "domestic"].reset_index(drop=True)
    fit = fit_segment(frame, spec, "domestic")
    assert fit.imbalance["method"] == "scale_pos_weight" and fit.model.params["scale_pos_weight"] > 3
    assert fit.raw_metrics["ece"] > 0.15, "the reweighted booster is miscalibrated"
    assert fit.model.calibration.method in {"sigmoid", "isotonic"}
    assert fit.metrics["ece"] < fit.raw_metrics["ece"] / 3
    assert fit.metrics["log_loss"] < fit.raw_metrics["log_loss"]
    assert fit.metrics["roc_auc"] == pytest.approx(fit.raw_metrics["roc_auc"], abs=0.005), "a monotone map"
    assert pd.Series(fit.holdout_scores).between(0, 1).all()
