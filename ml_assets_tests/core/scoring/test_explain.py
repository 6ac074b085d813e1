"""Reason codes: contributions, readable texts, the strongest positive features, which rows get codes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xgboost as xgb

from ml_assets.core.data.features import model_matrix
from ml_assets.core.scoring.explain import contributions, readable_texts, reason_codes, reason_frame, rows_to_explain
from ml_assets_tests.core.conftest import scoring_meta, with_scoring

COLUMNS = ["reason_1", "reason_2", "reason_3"]


def texts(codes: dict) -> dict[str, list]:
    return {column: values.to_pylist() for column, values in codes.items()}


def test_readable_texts_round_numbers_for_reading():
    values = pd.Series([41.33, 123456.7, 0.01234, -0.0001, np.nan, 3.0])
    assert readable_texts("x", values).to_pylist() == [
        "x = 41.3", "x = 123457", "x = 0.012", "x = 0", "x = missing", "x = 3"]


def test_readable_texts_keep_text_values():
    assert readable_texts("region", pd.Series(["cali", None])).to_pylist() == ["region = cali", "region = missing"]


def test_reason_codes_are_the_largest_positive_contributions_strongest_first():
    contribs = np.array([[0.5, -1.0, 2.0, 0.1], [-1.0, -2.0, -3.0, -4.0], [0.3, 0.2, 0.0, 0.0]])
    values = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [10.0, 20.0, 30.0], "c": ["x", "y", None], "d": [0.5, 0.25, 7.0]})
    assert texts(reason_codes(contribs, values, COLUMNS)) == {
        "reason_1": ["c = x", None, "a = 3"],
        "reason_2": ["a = 1", None, "b = 30"],
        "reason_3": ["d = 0.5", None, None],
    }


def test_reason_codes_with_fewer_features_than_codes():
    codes = reason_codes(np.array([[1.0, 2.0]]), pd.DataFrame({"a": [1.0], "b": [2.0]}), COLUMNS)
    assert texts(codes) == {"reason_1": ["b = 2"], "reason_2": ["a = 1"], "reason_3": [None]}


def test_contributions_add_up_to_the_margin(domestic_fit):
    spec, frame, fit = domestic_fit
    model = fit.model
    matrix = model_matrix(frame.head(300), spec.features, model.vocabulary)
    margin = model.booster.predict(xgb.DMatrix(matrix, enable_categorical=True), output_margin=True,
                                   iteration_range=(0, model.best_iteration + 1))
    for approximate in (False, True):
        values = contributions(model.booster, matrix, model.best_iteration, approximate)
        assert values.shape == matrix.shape
        bias = margin - values.sum(axis=1)
        assert np.ptp(bias) < 1e-4, "what the features do not explain is one constant (the expected margin)"


def test_rows_to_explain_follow_the_named_categories(domestic_fit):
    spec = with_scoring(domestic_fit[0], reason_codes={"categories": ["high", "very_high"]})
    scores = np.array([0.1, 0.5, 0.79, 0.8, 0.95, 0.3])
    days = pd.Series(pd.to_datetime(["2024-01-01"] * 3 + ["2024-01-02"] * 3))
    chosen = rows_to_explain(scores, days, [0.2, 0.5, 0.8], spec.scoring, spec.clustering, "m v1")
    assert chosen.tolist() == [False, True, True, True, True, False]
    batch = spec.model_copy(update={"clustering": spec.clustering.model_copy(update={"cutpoints": "batch"})})
    # each day cut at its own quantiles 0.5 / 0.8 / 0.95: only each day's top score is high or above
    chosen_by_day = rows_to_explain(scores, days, [], batch.scoring, batch.clustering, "m v1")
    assert chosen_by_day.tolist() == [False, False, True, False, True, False]
    everyone = with_scoring(spec, reason_codes={"categories": None})
    assert rows_to_explain(scores, days, [0.2, 0.5, 0.8], everyone.scoring, everyone.clustering, "m v1").all()


def test_reason_frame_names_the_strongest_exact_contribution(domestic_fit):
    spec, frame, fit = domestic_fit
    spec = with_scoring(spec, reason_codes={"method": "exact", "categories": ["very_high"]})
    rows = frame.tail(400).reset_index(drop=True)
    meta = scoring_meta(fit)
    matrix = model_matrix(rows, spec.features, meta.vocabulary)
    scores = np.asarray(fit.model.booster.predict(xgb.DMatrix(matrix, enable_categorical=True)), dtype="float64")
    reasons = reason_frame(rows, scores, fit.model.booster, meta, spec.scoring_sections(), "m v1")
    assert list(reasons.columns) == COLUMNS and len(reasons) == len(rows)
    explained = reasons["reason_1"].notna().to_numpy()
    assert (explained == (scores >= fit.cutpoints[-1])).all() and explained.any()
    exact = contributions(fit.model.booster, matrix[explained], meta.best_iteration, approximate=False)
    strongest = matrix.columns[exact.argmax(axis=1)]
    assert [text.split(" = ")[0] for text in reasons.loc[explained, "reason_1"]] == list(strongest)


def test_exact_contributions_add_up_to_the_margin_with_a_categorical_column():
    rng = np.random.default_rng(0)
    matrix = pd.DataFrame({"x": rng.normal(size=400),
                           "color": pd.Categorical(rng.choice(["a", "b", "c"], 400), categories=["a", "b", "c"])})
    target = ((matrix["x"] > 0) ^ (matrix["color"] == "b")).astype(int)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 3},
                        xgb.DMatrix(matrix, target, enable_categorical=True), num_boost_round=20)
    values = pd.DataFrame(contributions(booster, matrix, 9, approximate=False), columns=matrix.columns)
    margin = booster.predict(xgb.DMatrix(matrix, enable_categorical=True), output_margin=True, iteration_range=(0, 10))
    bias = margin - values.sum(axis=1).to_numpy()
    np.testing.assert_allclose(bias, bias[0], atol=1e-4)
    assert values["color"].abs().mean() > 0.1 and values["x"].abs().mean() > 0.1
