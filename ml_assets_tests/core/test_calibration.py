"""Calibration: JSON-storable maps that match scikit-learn, and that lower ECE on a miscalibrated model."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pandas as pd
import pytest
from sklearn.isotonic import IsotonicRegression

from ml_assets.core.calibration import apply_calibration, fit_calibration
from ml_assets.core.features import SEGMENT_COLUMN, build_features
from ml_assets.core.modeling import expected_calibration_error, fit_segment
from ml_assets.core.synthetic import generate_invoices
from ml_assets_tests.conftest import make_spec


def overconfident(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from p, scores that push p towards 0 and 1 (logit doubled plus a shift)."""
    rng = np.random.default_rng(seed)
    logit = rng.normal(-1.5, 1.0, n)
    target = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float)
    scores = 1 / (1 + np.exp(-(2 * logit + 1)))
    return target, scores


def test_no_calibration_is_none_and_leaves_scores_alone():
    target, scores = overconfident(200, 0)
    assert fit_calibration(target, scores, "none") is None
    np.testing.assert_array_equal(apply_calibration(scores, None), scores)


def test_sigmoid_recovers_the_distortion_and_is_json():
    target, scores = overconfident(20_000, 1)
    calibration = fit_calibration(target, scores, "sigmoid")
    assert json.loads(json.dumps(calibration)) == calibration
    # scores have logit 2x+1, so the inverse map is slope 1/2, intercept -1/2
    assert calibration["slope"] == pytest.approx(0.5, abs=0.05)
    assert calibration["intercept"] == pytest.approx(-0.5, abs=0.1)


def test_isotonic_map_matches_scikit_learn_predictions():
    target, scores = overconfident(3000, 2)
    calibration = fit_calibration(target, scores, "isotonic")
    reference = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(scores, target)
    probe = np.linspace(-0.1, 1.1, 500)
    np.testing.assert_allclose(apply_calibration(probe, calibration), reference.predict(probe))


@pytest.mark.parametrize("method", ["sigmoid", "isotonic"])
def test_calibration_lowers_ece_on_new_rows(method):
    fit_target, fit_scores = overconfident(5000, 3)
    test_target, test_scores = overconfident(5000, 4)
    calibration = fit_calibration(fit_target, fit_scores, method)
    before = expected_calibration_error(test_target, test_scores)
    after = expected_calibration_error(test_target, apply_calibration(test_scores, calibration))
    assert before > 0.05
    assert after < before / 3


def test_calibration_needs_both_classes_and_says_what_to_do():
    with pytest.raises(ValueError, match="needs both classes.*validation_fraction.*calibration: none"):
        fit_calibration(np.zeros(10), np.linspace(0, 1, 10), "sigmoid")


def test_unknown_stored_method_is_an_error():
    with pytest.raises(ValueError, match="unknown calibration method 'beta'"):
        apply_calibration(np.array([0.5]), {"method": "beta"})


def test_calibration_lowers_ece_of_a_reweighted_booster_on_its_holdout(tmp_path):
    """scale_pos_weight inflates probabilities; the sigmoid fitted on the validation slice repairs the holdout."""
    spec = make_spec(tmp_path, model={"imbalance": "scale_pos_weight", "calibration": "sigmoid"},
                     training={"window_days": 90, "holdout_days": 14})
    invoices = generate_invoices(1500, date(2024, 1, 1), date(2024, 4, 30), seed=5)
    features = build_features(invoices, spec)
    frame = features[features[SEGMENT_COLUMN] == "domestic"].reset_index(drop=True)
    fit = fit_segment(frame, spec, "domestic")
    assert fit.imbalance["method"] == "scale_pos_weight" and fit.model.params["scale_pos_weight"] > 3
    assert fit.raw_metrics["ece"] > 0.15, "the reweighted booster is miscalibrated"
    assert fit.metrics["ece"] < fit.raw_metrics["ece"] / 3
    assert fit.metrics["log_loss"] < fit.raw_metrics["log_loss"]
    assert fit.metrics["roc_auc"] == pytest.approx(fit.raw_metrics["roc_auc"]), "a monotone map keeps the ranking"
    assert pd.Series(fit.holdout_scores).between(0, 1).all()
