"""Feature engineering: string normalization, history averages, tenure, segments, model matrix."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml_assets.core.data.features import (
    DAYS_PER_MONTH,
    SEGMENT_COLUMN,
    assign_segments,
    build_features,
    category_vocabulary,
    history_average,
    input_columns,
    model_matrix,
    normalize_strings,
    time_since,
)
from ml_assets_tests.conftest import make_spec


@pytest.fixture
def spec(tmp_path):
    return make_spec(tmp_path)


def raw_frame() -> pd.DataFrame:
    """Three invoices with the columns of pipeline.yaml and hand-checkable values."""
    frame = pd.DataFrame({
        "invoice_id": [10, 11, 12],
        "invoice_date": pd.to_datetime(["2024-03-01", "2024-03-01", "2024-03-02"]),
        "customer_id": ["C1", "C2", "C3"],
        "tariff": ["domestic", "industrial", "commercial"],
        "estrato": [1, 5, 3],
        "region": [" Bogotá", "MEDELLIN ", None],
        "connection_date": pd.to_datetime(["2024-01-31", "2020-03-01", None]),
        "consumption_kwh": [100.0, 9000.0, 150.0],
        "amount": [50_000.0, 800_000.0, 60_000.0],
        "arrears": [0.0, 10.0, 0.0],
        "defaulted": [0, 1, 0],
    })
    for k in range(1, 7):
        frame[f"amount_prev_{k}"] = [1000.0 * k, np.nan, np.nan]
        frame[f"days_late_prev_{k}"] = [float(k), np.nan, np.nan] if k <= 2 else [np.nan, np.nan, np.nan]
    return frame


# --- normalize_strings ---------------------------------------------------------------------------

def test_normalize_strings_merges_spellings():
    result = normalize_strings(pd.Series([" Bogotá", "BOGOTA ", "bogota", "San  José "], dtype=object))
    assert result.tolist() == ["bogota", "bogota", "bogota", "san jose"]


def test_normalize_strings_keeps_missing_values_missing():
    result = normalize_strings(pd.Series(["Cali", None], dtype=object))
    assert result.iloc[0] == "cali"
    assert pd.isna(result.iloc[1])
    assert result.dtype == object


def test_normalize_strings_none_stays_none():
    result = normalize_strings(pd.Series([" Bogotá", None], dtype=object))
    assert result.iloc[1] is None


# --- history_average -----------------------------------------------------------------------------

def test_history_average_ignores_missing_periods_and_is_nan_when_all_missing():
    frame = pd.DataFrame({"p1": [1.0, np.nan, np.nan], "p2": [3.0, 4.0, np.nan], "p3": [np.nan, 8.0, np.nan]})
    result = history_average(frame, ["p1", "p2", "p3"])
    assert result.iloc[0] == pytest.approx(2.0)
    assert result.iloc[1] == pytest.approx(6.0)
    assert np.isnan(result.iloc[2])


def test_history_average_accepts_nullable_integers():
    frame = pd.DataFrame({"p1": pd.array([2, None], dtype="Int64"), "p2": pd.array([4, None], dtype="Int64")})
    result = history_average(frame, ["p1", "p2"])
    assert result.iloc[0] == pytest.approx(3.0)
    assert np.isnan(result.iloc[1])


# --- time_since ----------------------------------------------------------------------------------

def test_time_since_in_days_and_months():
    dates = pd.Series(pd.to_datetime(["2024-01-01", "2024-03-01", "2024-03-11"]))
    reference = pd.Series(pd.to_datetime(["2024-01-31", "2024-03-01", "2024-03-01"]))
    days = time_since(dates, reference, "days")
    assert days.tolist() == [30.0, 0.0, -10.0]
    months = time_since(dates, reference, "months")
    np.testing.assert_allclose(months.to_numpy(), np.array([30.0, 0.0, -10.0]) / DAYS_PER_MONTH)


def test_time_since_one_year_is_about_twelve_months_and_missing_stays_nan():
    dates = pd.Series(pd.to_datetime(["2023-01-01", None]))
    reference = pd.Series(pd.to_datetime(["2024-01-01", "2024-01-01"]))
    months = time_since(dates, reference, "months")
    assert months.iloc[0] == pytest.approx(12.0, abs=0.05)
    assert np.isnan(months.iloc[1])


# --- assign_segments -----------------------------------------------------------------------------

def test_assign_segments_maps_values_by_spec_groups(tmp_path):
    spec = make_spec(tmp_path, dataset={"segments": {"homes": ["domestic", "rural"], "business": ["industrial"]}},
                     model={"segment_params": {}})
    result = assign_segments(pd.Series(["domestic", "rural", "industrial", "commercial", None]), spec.dataset)
    assert result.iloc[:3].tolist() == ["homes", "homes", "business"]
    assert pd.isna(result.iloc[3])
    assert result.iloc[4] is None


def test_assign_segments_matches_integer_config_values(tmp_path):
    spec = make_spec(tmp_path, dataset={"segment": "estrato", "segments": {"low": [1, 2], "high": [5, 6]}},
                     model={"segment_params": {}})
    result = assign_segments(pd.Series([1, 2, 5, 3]), spec.dataset)
    assert result.iloc[:3].tolist() == ["low", "low", "high"]
    assert pd.isna(result.iloc[3])


def test_assign_segments_unknown_value_is_none(spec):
    result = assign_segments(pd.Series(["domestic", "commercial"]), spec.dataset)
    assert result.iloc[1] is None


# --- build_features ------------------------------------------------------------------------------

def test_build_features_columns_and_values(spec):
    raw = raw_frame()
    out = build_features(raw, spec.dataset, spec.features)
    ds = spec.dataset
    assert set(out.columns) == {ds.id, ds.date, ds.target, SEGMENT_COLUMN, *spec.feature_columns()}
    assert len(out) == 3
    assert out["invoice_id"].tolist() == [10, 11, 12]
    assert out["defaulted"].tolist() == [0, 1, 0]
    # segment from the spec's groups; 'commercial' matches none
    assert out[SEGMENT_COLUMN].iloc[:2].tolist() == ["domestic", "industrial"]
    assert pd.isna(out[SEGMENT_COLUMN].iloc[2])
    # numeric raw features are float64
    for column in spec.features.numeric:
        assert out[column].dtype == "float64", column
    assert out["estrato"].tolist() == [1.0, 5.0, 3.0]
    # normalized categorical
    assert out["region"].iloc[:2].tolist() == ["bogota", "medellin"]
    assert pd.isna(out["region"].iloc[2])
    # history averages over existing periods only
    assert out["days_late_avg_6m"].iloc[0] == pytest.approx(1.5)
    assert out["amount_avg_6m"].iloc[0] == pytest.approx(3500.0)
    assert out["days_late_avg_6m"].iloc[1:].isna().all()
    # tenure in months from connection_date to invoice_date
    assert out["tenure_months"].iloc[0] == pytest.approx(30 / DAYS_PER_MONTH)
    assert out["tenure_months"].iloc[1] == pytest.approx(1461 / DAYS_PER_MONTH)
    assert np.isnan(out["tenure_months"].iloc[2])
    # new-customer flag: tenure <= 12 months, NaN when tenure is unknown
    assert out["is_new_customer"].iloc[0] == 1.0
    assert out["is_new_customer"].iloc[1] == 0.0
    assert np.isnan(out["is_new_customer"].iloc[2])


def test_build_features_needs_only_its_input_columns(spec):
    raw = raw_frame()
    columns = input_columns(spec.dataset, spec.features)
    assert "customer_id" not in columns and set(columns) < set(raw.columns)
    pd.testing.assert_frame_equal(build_features(raw[columns], spec.dataset, spec.features),
                                  build_features(raw, spec.dataset, spec.features))


def test_build_features_new_customer_boundary_is_inclusive(tmp_path):
    spec = make_spec(tmp_path)
    raw = raw_frame()
    # exactly 12 months (12 * 30.4375 = 365.25 days -> 365 days is just under, 366 just over)
    raw["connection_date"] = pd.to_datetime(["2023-03-02", "2023-03-01", "2023-02-28"])
    raw["invoice_date"] = pd.to_datetime(["2024-03-01", "2024-03-01", "2024-03-01"])
    out = build_features(raw, spec.dataset, spec.features)
    assert out["tenure_months"].tolist() == pytest.approx([365 / DAYS_PER_MONTH, 366 / DAYS_PER_MONTH,
                                                           367 / DAYS_PER_MONTH])
    assert out["is_new_customer"].tolist() == [1.0, 0.0, 0.0]


def test_build_features_resets_index(spec):
    raw = raw_frame()
    raw.index = [7, 8, 9]
    out = build_features(raw, spec.dataset, spec.features)
    assert out.index.tolist() == [0, 1, 2]
    assert out["region"].iloc[0] == "bogota"


def test_build_features_keeps_non_normalized_categoricals_as_text(tmp_path):
    spec = make_spec(tmp_path, features={"engineered": {"normalize_strings": []},
                                         "categorical": ["region", "estrato"], "numeric": ["amount"]},
                     clustering={"arrears": None}, scoring={"report_columns": None})  # they name other features
    out = build_features(raw_frame(), spec.dataset, spec.features)
    assert out["region"].iloc[:2].tolist() == [" Bogotá", "MEDELLIN "]
    assert out["region"].iloc[2] is None
    assert out["estrato"].tolist() == ["1", "5", "3"]


# --- model_matrix / category_vocabulary ----------------------------------------------------------

def test_category_vocabulary_sorted_distinct_without_missing():
    features = pd.DataFrame({"region": ["cali", "bogota", None, "cali", "armenia"], "city": ["b", "a", "b", None, "c"]})
    vocab = category_vocabulary(features, ["region", "city"])
    assert vocab == {"region": ["armenia", "bogota", "cali"], "city": ["a", "b", "c"]}


def test_model_matrix_uses_training_vocabulary(spec):
    train = build_features(raw_frame(), spec.dataset, spec.features)
    vocab = category_vocabulary(train, spec.features.categorical)
    assert vocab == {"region": ["bogota", "medellin"]}
    scoring = train.copy()
    scoring["region"] = ["medellin", "cali", "bogota"]  # 'cali' was never seen in training
    matrix = model_matrix(scoring, spec.features, vocab)
    assert list(matrix.columns) == spec.feature_columns()
    region = matrix["region"]
    assert isinstance(region.dtype, pd.CategoricalDtype)
    assert list(region.cat.categories) == ["bogota", "medellin"]
    assert region.iloc[0] == "medellin"
    assert pd.isna(region.iloc[1])
    assert region.iloc[2] == "bogota"
    # codes are fixed by the vocabulary, not by the scoring rows
    assert region.cat.codes.tolist() == [1, -1, 0]
    for column in spec.features.model_numeric():
        assert matrix[column].dtype == "float64", column


def test_model_matrix_shares_float_columns_with_the_features(spec):
    features = build_features(raw_frame(), spec.dataset, spec.features)
    matrix = model_matrix(features, spec.features, category_vocabulary(features, spec.features.categorical))
    assert matrix.index.equals(features.index)
    float_columns = [c for c in spec.features.model_numeric() if features[c].dtype == "float64"]
    assert float_columns
    for column in float_columns:
        assert np.shares_memory(matrix[column].to_numpy(), features[column].to_numpy()), column


def date_part_spec(tmp_path, handling: str = "same_period", listed: bool = True):
    """The demo spec with the invoice's month and weekday as engineered date parts."""
    from ml_assets.spec import parse_spec
    from ml_assets_tests.conftest import demo_config
    raw = demo_config(tmp_path)
    raw["features"]["engineered"]["date_parts"] = [{"name": "invoice_month", "part": "month"},
                                                   {"name": "invoice_weekday", "part": "weekday"}]
    raw["features"]["calendar"] = {"columns": ["invoice_month", "invoice_weekday"] if listed else [],
                                   "handling": handling}
    return parse_spec(raw, base_dir=tmp_path)


def test_date_parts_are_the_record_dates_parts(tmp_path):
    spec = date_part_spec(tmp_path)
    raw = raw_frame()
    out = build_features(raw, spec.dataset, spec.features)
    dates = pd.to_datetime(raw["invoice_date"])
    np.testing.assert_array_equal(out["invoice_month"], [d.month for d in dates])
    np.testing.assert_array_equal(out["invoice_weekday"], [d.weekday() for d in dates])
    assert {"invoice_month", "invoice_weekday"} <= set(spec.feature_columns())
    assert spec.features.calendar_features() == ["invoice_month", "invoice_weekday"]


def test_a_date_part_must_be_a_calendar_column_and_drop_removes_it(tmp_path):
    from ml_assets.spec import ConfigError
    with pytest.raises(ConfigError, match=r"date_parts\[0\]: 'invoice_month' is a part of the record date; list it "
                                          r"in features.calendar.columns"):
        date_part_spec(tmp_path, listed=False)
    dropped = date_part_spec(tmp_path, handling="drop")
    assert "invoice_month" not in dropped.feature_columns() and not dropped.features.engineered.date_parts
