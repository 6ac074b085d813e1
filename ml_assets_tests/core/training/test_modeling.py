"""Modeling: time windows and splits, metrics on hand-checkable inputs, the quality gate, XGBoost fits."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp
from sklearn.metrics import roc_auc_score

from ml_assets.core.data.features import SEGMENT_COLUMN, build_features, model_matrix
from ml_assets.core.data.synthetic import generate_invoices
from ml_assets.core.training.comparison import AucComparison
from ml_assets.core.training.cross_validation import cross_validate
from ml_assets.core.training.modeling import (
    beats_champion,
    classification_metrics,
    expected_calibration_error,
    fit_segment,
    imbalance_params,
    ks_score,
    predict,
    require_two_classes,
    rows_where,
    score_cutpoints,
    split_by_time,
    train_booster,
    training_window,
)
from ml_assets.core.training.record import CrossValidation, ImbalanceStatement
from ml_assets_tests.conftest import make_spec

# --- training_window / split_by_time -------------------------------------------------------------

def test_training_window_ends_label_delay_before_as_of_and_spans_window_days():
    first, last = training_window(date(2024, 6, 30), label_delay_days=75, window_days=120)
    assert last == date(2024, 4, 16)
    assert first == date(2023, 12, 19)
    assert (last - first).days + 1 == 120


def test_training_window_without_delay_ends_on_as_of():
    assert training_window(date(2024, 3, 10), 0, 7) == (date(2024, 3, 4), date(2024, 3, 10))


def test_split_by_time_holds_out_latest_days():
    days = pd.date_range("2024-01-01", "2024-01-20", freq="D")
    frame = pd.DataFrame({"d": np.repeat(days, 3), "x": np.arange(60)})
    train, holdout = split_by_time(frame, "d", holdout_days=5)
    assert sorted(holdout["d"].unique()) == list(days[-5:])
    assert sorted(train["d"].unique()) == list(days[:-5])
    assert len(train) + len(holdout) == len(frame)
    assert len(holdout) == 15
    assert train["d"].max() < holdout["d"].min()


def test_split_by_time_accepts_date_strings_and_times_of_day():
    frame = pd.DataFrame({"d": ["2024-01-01 08:00", "2024-01-02 23:59", "2024-01-03 00:00", "2024-01-03 18:00"]})
    train, holdout = split_by_time(frame, "d", holdout_days=2)
    assert train.index.tolist() == [0]
    assert holdout.index.tolist() == [1, 2, 3]


def test_split_by_time_holdout_counts_calendar_days_like_the_training_window():
    days = pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-05", "2024-01-08", "2024-01-09"])
    frame = pd.DataFrame({"d": days})
    train, holdout = split_by_time(frame, "d", holdout_days=3)
    assert sorted(holdout["d"]) == list(days[-2:])
    assert sorted(train["d"]) == list(days[:3])


def test_rows_where_is_a_view_for_one_contiguous_run_and_a_copy_otherwise():
    frame = pd.DataFrame({"x": np.arange(10.0), "y": np.arange(10.0) * 2})
    run = rows_where(frame, (frame["x"] >= 3).to_numpy() & (frame["x"] < 7).to_numpy())
    assert run["x"].tolist() == [3, 4, 5, 6] and run.index.tolist() == [3, 4, 5, 6]
    assert np.shares_memory(run["x"].to_numpy(), frame["x"].to_numpy())
    scattered = rows_where(frame, (frame["x"] % 2 == 0).to_numpy())
    assert scattered["x"].tolist() == [0, 2, 4, 6, 8]
    assert not np.shares_memory(scattered["x"].to_numpy(), frame["x"].to_numpy())
    assert rows_where(frame["y"], np.zeros(10, dtype=bool)).empty


def test_split_by_time_of_date_ordered_rows_copies_nothing():
    days = pd.date_range("2024-01-01", "2024-01-20", freq="D")
    frame = pd.DataFrame({"d": np.repeat(days, 3), "x": np.arange(60.0)})
    train, holdout = split_by_time(frame, "d", holdout_days=5)
    assert len(train) == 45 and len(holdout) == 15
    assert np.shares_memory(train["x"].to_numpy(), frame["x"].to_numpy())
    assert np.shares_memory(holdout["x"].to_numpy(), frame["x"].to_numpy())


# --- require_two_classes -------------------------------------------------------------------------

def test_require_two_classes_passes_with_both_classes():
    require_two_classes(pd.Series([0, 1, None, 1]), "segment 'domestic'")


@pytest.mark.parametrize("target", [pd.Series([1, 1, 1]), pd.Series([0.0, np.nan]), pd.Series([], dtype=float)])
def test_require_two_classes_error_names_what_and_what_to_do(target):
    with pytest.raises(ValueError) as error:
        require_two_classes(target, "segment 'domestic' holdout")
    message = str(error.value)
    assert message.startswith("segment 'domestic' holdout: the target has only the classes")
    assert "widen the training window or check the labels" in message


def test_require_two_classes_message_lists_plain_class_values():
    with pytest.raises(ValueError, match=r"only the classes \[1\];"):
        require_two_classes(pd.Series([1, 1, 1]), "training rows")


# --- ks_score / expected_calibration_error / classification_metrics -------------------------------

def test_ks_is_one_for_separable_scores():
    target = np.array([0, 0, 0, 1, 1])
    score = np.array([0.1, 0.2, 0.3, 0.8, 0.9])
    assert ks_score(target, score) == pytest.approx(1.0)


def test_ks_matches_hand_computed_value_without_ties():
    target = np.array([0, 1, 0, 1])
    score = np.array([0.1, 0.2, 0.3, 0.4])
    # negatives at 0.1, 0.3; positives at 0.2, 0.4: max CDF gap is 0.5
    assert ks_score(target, score) == pytest.approx(0.5)
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    s = rng.random(500) + 0.3 * y
    assert ks_score(y, s) == pytest.approx(ks_2samp(s[y == 1], s[y == 0]).statistic)


def test_ks_is_zero_when_scores_do_not_separate_tied_rows():
    assert ks_score(np.array([0, 1]), np.array([0.5, 0.5])) == pytest.approx(0.0)


def test_ece_is_zero_for_perfectly_calibrated_scores():
    # bin of 0.25: 1 positive in 4; bin of 0.75: 3 positives in 4
    score = np.array([0.25] * 4 + [0.75] * 4)
    target = np.array([1, 0, 0, 0, 1, 1, 1, 0], dtype=float)
    assert expected_calibration_error(target, score) == pytest.approx(0.0, abs=1e-12)


def test_ece_hand_computed():
    # all scores 0.9 in one bin, observed rate 0.5 -> |0.5 - 0.9| = 0.4
    score = np.full(4, 0.9)
    target = np.array([1, 0, 1, 0], dtype=float)
    assert expected_calibration_error(target, score) == pytest.approx(0.4)
    # two bins: 0.1 with rate 0 (gap 0.1, weight 1/2), 0.95 and 1.0 in the last bin with rate 1 (gap 0.025)
    score = np.array([0.1, 0.1, 0.95, 1.0])
    target = np.array([0, 0, 1, 1], dtype=float)
    assert expected_calibration_error(target, score) == pytest.approx(0.5 * 0.1 + 0.5 * 0.025)


def test_classification_metrics_match_sklearn_and_hand_values():
    rng = np.random.default_rng(1)
    target = rng.integers(0, 2, 300)
    score = np.clip(0.3 + 0.4 * target + rng.normal(0, 0.2, 300), 0.01, 0.99)
    metrics = classification_metrics(target, score)
    assert metrics["roc_auc"] == pytest.approx(roc_auc_score(target, score))
    assert metrics["positive_rate"] == pytest.approx(target.mean())
    assert metrics["rows"] == 300.0
    assert metrics["brier"] == pytest.approx(np.mean((score - target) ** 2))
    assert 0.0 < metrics["ks"] <= 1.0
    assert set(metrics) == {"roc_auc", "pr_auc", "log_loss", "brier", "ks", "ece", "positive_rate", "rows"}


def test_classification_metrics_clip_extreme_scores_for_log_loss():
    metrics = classification_metrics(np.array([0, 1]), np.array([1.0, 0.0]))
    assert np.isfinite(metrics["log_loss"])
    assert metrics["roc_auc"] == pytest.approx(0.0)


# --- score_cutpoints -----------------------------------------------------------------------------

def test_score_cutpoints_are_quantiles():
    scores = np.arange(101) / 100.0  # 0.00 .. 1.00
    cuts = score_cutpoints(scores, [0.5, 0.8, 0.95])
    assert cuts == pytest.approx([0.5, 0.8, 0.95])
    assert all(isinstance(c, float) for c in cuts)
    rng = np.random.default_rng(2)
    other = rng.random(1000)
    assert score_cutpoints(other, [0.25, 0.75]) == pytest.approx(list(np.quantile(other, [0.25, 0.75])))


# --- beats_champion ------------------------------------------------------------------------------

def comparison(delta: float, p_value: float, champion_auc: float = 0.70, margin: float = 0.005) -> AucComparison:
    return AucComparison(challenger_auc=champion_auc + delta, champion_auc=champion_auc, delta=delta,
                         ci_low=delta - 0.01, ci_high=delta + 0.01, p_value=p_value, margin=margin, alpha=0.05,
                         samples=1000)


def test_beats_champion_below_floor_fails_even_without_champion():
    ok, reason = beats_champion(0.6, None, min_auc=0.65)
    assert not ok
    assert "below the floor" in reason and "0.6000" in reason and "0.6500" in reason


def test_beats_champion_first_model_passes_floor():
    ok, reason = beats_champion(0.7, None, min_auc=0.65)
    assert ok
    assert reason.startswith("first model")


def test_beats_champion_with_a_significant_gain():
    ok, reason = beats_champion(0.72, comparison(0.02, p_value=0.01), min_auc=0.65)
    assert ok
    assert "beats champion 0.7000" in reason and "p=0.010" in reason and "CI [+0.0100, +0.0300]" in reason


def test_beats_champion_refuses_a_gain_that_is_not_significant():
    ok, reason = beats_champion(0.72, comparison(0.02, p_value=0.2), min_auc=0.65)
    assert not ok
    assert "does not beat champion 0.7000 by 0.005 with p < 0.05" in reason and "p=0.200" in reason
    assert not beats_champion(0.68, comparison(-0.02, p_value=1.0), min_auc=0.65)[0]


def test_beats_champion_floor_checked_before_champion():
    ok, reason = beats_champion(0.64, comparison(0.14, p_value=0.0, champion_auc=0.5), min_auc=0.65)
    assert not ok
    assert "below the floor" in reason


# --- train_booster / predict ---------------------------------------------------------------------

def separable_problem(n: int, seed: int) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = rng.normal(size=n)
    color = rng.choice(["red", "blue"], size=n)
    y = ((x1 + 0.5 * x2 + (color == "red") * 0.8) > 0.4).astype(int)
    matrix = pd.DataFrame({"x1": x1, "x2": x2, "color": pd.Categorical(color, categories=["blue", "red"])})
    dates = pd.Series(pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(n) % 50, unit="D"))
    return matrix, pd.Series(y), dates


def test_train_booster_and_predict_on_a_separable_problem():
    matrix, target, dates = separable_problem(3000, seed=0)
    params = {"max_depth": 3, "eta": 0.3}
    booster, best_iteration = train_booster(matrix, target, dates, params, num_boost_round=100,
                                            early_stopping_rounds=10, validation_fraction=0.2, seed=0)
    assert 0 <= best_iteration < 100
    test_matrix, test_target, _ = separable_problem(1000, seed=1)
    scores = predict(booster, test_matrix, best_iteration)
    assert scores.shape == (1000,)
    assert ((scores >= 0) & (scores <= 1)).all()
    assert roc_auc_score(test_target, scores) > 0.9
    # all trees vs up to the best iteration: both valid probabilities, same length
    assert predict(booster, test_matrix).shape == (1000,)


def test_train_booster_is_deterministic_for_a_seed():
    matrix, target, dates = separable_problem(800, seed=3)
    params = {"max_depth": 3, "eta": 0.3, "subsample": 0.8}
    first, it1 = train_booster(matrix, target, dates, params, 30, 5, 0.2, seed=7)
    second, it2 = train_booster(matrix, target, dates, params, 30, 5, 0.2, seed=7)
    assert it1 == it2
    np.testing.assert_allclose(predict(first, matrix, it1), predict(second, matrix, it2))


# --- fit_segment on demo data --------------------------------------------------------------------

@pytest.fixture(scope="module")
def demo_features(tmp_path_factory) -> pd.DataFrame:
    spec = make_spec(tmp_path_factory.mktemp("modeling"))
    invoices = generate_invoices(1500, date(2024, 1, 1), date(2024, 5, 31), seed=11)
    return build_features(invoices, spec.dataset, spec.features)


def test_fit_segment_domestic_on_demo_data(tmp_path, demo_features):
    spec = make_spec(tmp_path)
    frame = demo_features[demo_features[SEGMENT_COLUMN] == "domestic"].reset_index(drop=True)
    fit = fit_segment(frame, spec.training_sections(), "domestic")
    holdout_days = pd.to_datetime(fit.holdout["invoice_date"]).dt.normalize().unique()
    assert len(holdout_days) == spec.training.holdout_days
    assert fit.train_rows + len(fit.holdout) == len(frame)
    assert len(fit.holdout_scores) == len(fit.holdout)
    assert fit.metrics["rows"] == len(fit.holdout)
    assert fit.metrics["roc_auc"] > 0.7
    assert fit.metrics["roc_auc"] == pytest.approx(roc_auc_score(fit.holdout["defaulted"], fit.holdout_scores))
    assert len(fit.cutpoints) == len(spec.clustering.quantiles)
    assert all(a < b for a, b in zip(fit.cutpoints, fit.cutpoints[1:]))
    assert fit.cutpoints == pytest.approx(list(np.quantile(fit.holdout_scores, spec.clustering.quantiles)))
    assert fit.model.feature_names == spec.feature_columns()
    assert fit.model.vocabulary["region"] == sorted(fit.model.vocabulary["region"])
    assert "bogota" in fit.model.vocabulary["region"]
    assert fit.model.params == spec.model.params_for("domestic")


def test_fit_segment_single_class_holdout_raises(tmp_path, demo_features):
    spec = make_spec(tmp_path)
    frame = demo_features[demo_features[SEGMENT_COLUMN] == "domestic"].reset_index(drop=True)
    last_days = pd.to_datetime(frame["invoice_date"]) >= pd.to_datetime(frame["invoice_date"]).max() - pd.Timedelta(days=20)
    frame.loc[last_days, "defaulted"] = 0
    with pytest.raises(ValueError, match=r"segment 'domestic' holdout \(14 latest days\)"):
        fit_segment(frame, spec.training_sections(), "domestic")


def test_fit_segment_reports_baseline_calibration_and_imbalance(tmp_path, demo_features):
    spec = make_spec(tmp_path)
    frame = demo_features[demo_features[SEGMENT_COLUMN] == "domestic"].reset_index(drop=True)
    fit = fit_segment(frame, spec.training_sections(), "domestic")
    calibration = fit.model.calibration
    assert calibration.requested == "auto" and set(calibration.selection_log_loss) == {"none", "sigmoid", "isotonic"}
    assert calibration.reason.startswith(f"auto chose {calibration.method}")
    assert set(fit.baseline_metrics) == set(fit.metrics)
    assert fit.baseline_metrics["rows"] == fit.metrics["rows"], "baseline scored on the same holdout"
    assert 0.6 < fit.baseline_metrics["roc_auc"] < 1
    assert fit.imbalance == ImbalanceStatement("none", pytest.approx(frame["defaulted"].mean(), abs=0.05), None, None)
    assert fit.tuning is None and fit.cv is None


def test_fit_segment_without_calibration_serves_the_raw_scores(tmp_path, demo_features):
    spec = make_spec(tmp_path, model={"calibration": "none", "baseline": False})
    frame = demo_features[demo_features[SEGMENT_COLUMN] == "domestic"].reset_index(drop=True)
    fit = fit_segment(frame, spec.training_sections(), "domestic")
    assert fit.model.calibration.method == "none" and fit.baseline_metrics == {}
    matrix = model_matrix(fit.holdout, spec.features, fit.model.vocabulary)
    raw = predict(fit.model.booster, matrix, fit.model.best_iteration)
    np.testing.assert_array_equal(fit.holdout_scores, raw)
    assert fit.raw_metrics == fit.metrics == classification_metrics(fit.holdout["defaulted"].to_numpy(), raw)


def test_fit_segment_with_tuning_and_cross_validation(tmp_path, demo_features):
    search = {"max_depth": {"low": 2, "high": 5, "integer": True}, "eta": {"low": 0.05, "high": 0.3, "log": True}}
    spec = make_spec(tmp_path, model={"tuning": {"enabled": True, "n_trials": 4, "search_space": search}},
                     training={"cv_folds": 3})
    frame = demo_features[demo_features[SEGMENT_COLUMN] == "domestic"].reset_index(drop=True)
    fit = fit_segment(frame, spec.training_sections(), "domestic")
    assert len(fit.tuning.trials) == 4
    best = max(fit.tuning.trials, key=lambda trial: trial["validation_auc"])
    assert fit.tuning.best_validation_auc == pytest.approx(best["validation_auc"])
    assert fit.model.params["max_depth"] == best["max_depth"] and fit.model.params["eta"] == best["eta"]
    assert 2 <= fit.model.params["max_depth"] <= 5
    assert fit.model.params["subsample"] == spec.model.params["subsample"], "params outside the search keep their value"
    assert fit.cv.folds == 3 and len(fit.cv.per_fold) == 3
    assert 0.6 < fit.cv.roc_auc_mean < 1 and fit.cv.roc_auc_std < 0.1
    assert fit.cv.roc_auc_mean == pytest.approx(np.mean([f.roc_auc for f in fit.cv.per_fold]))
    assert CrossValidation.from_dict(json.loads(json.dumps(fit.cv.as_dict()))) == fit.cv, "the stored form reads back"


def test_cross_validation_needs_enough_rows_of_each_class():
    matrix = pd.DataFrame({"x": np.arange(20.0)})
    target = pd.Series([1, 1, 1] + [0] * 17)
    with pytest.raises(ValueError, match="cv_folds is 5 but the training part has only 3 rows of its smaller class"):
        cross_validate(matrix, target, {"objective": "binary:logistic"}, num_boost_round=2, folds=5, seed=0)


def test_imbalance_params():
    target = pd.Series([1, 0, 0, 0, 0, 1, 0, 0])
    assert imbalance_params(target, "none") == {}
    assert imbalance_params(target, "scale_pos_weight") == {"scale_pos_weight": 3.0}
