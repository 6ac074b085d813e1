"""Pandera contracts of raw_data and features: coercion, every failure collected and named."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from ml_assets.core.data.features import build_features
from ml_assets.core.data.schemas import (
    FailureTally,
    SoftRuleTally,
    describe_failures,
    enforce,
    features_schema,
    raw_schema,
)
from ml_assets_tests.conftest import make_spec

START, END = date(2024, 1, 1), date(2024, 1, 31)


@pytest.fixture
def spec(tmp_path):
    return make_spec(tmp_path)


@pytest.fixture
def schema(spec):
    return raw_schema(spec.dataset, START, END)


def valid_raw() -> pd.DataFrame:
    """Three rows as a CSV reader would give them: dates as text, some ints as floats."""
    frame = pd.DataFrame({
        "invoice_id": [1, 2, 3],
        "invoice_date": ["2024-01-01", "2024-01-01", "2024-01-31"],
        "customer_id": ["C1", "C2", "C3"],
        "tariff": ["domestic", "industrial", "domestic"],
        "estrato": [1.0, 5.0, 3.0],
        "region": ["Cali", " Bogotá", "MEDELLIN"],
        "connection_date": ["2020-01-01", "2023-06-15", "2019-12-31"],
        "consumption_kwh": [100, 9000, 150],
        "amount": [50_000, 800_000, 60_000],
        "arrears": [0.0, 10.0, 0.0],
        "defaulted": [0, 1, 0],
    })
    for k in range(1, 7):
        frame[f"amount_prev_{k}"] = [1000.0, np.nan, 2000.0]
        frame[f"days_late_prev_{k}"] = [0.0, 3.0, np.nan]
    return frame


def failures_for(result, column: str) -> pd.DataFrame:
    return result.failures[result.failures["column"] == column]


def test_valid_frame_passes_and_is_coerced(schema):
    result = enforce(schema, valid_raw())
    assert result.passed
    assert result.failures.empty
    frame = result.frame
    assert frame["invoice_date"].dtype == "datetime64[ns]"
    assert frame["connection_date"].dtype == "datetime64[ns]"
    assert frame["invoice_id"].dtype == "Int64"
    assert frame["estrato"].dtype == "Int64"
    assert frame["defaulted"].dtype == "Int64"
    assert frame["amount"].dtype == "float64"
    assert frame["consumption_kwh"].dtype == "float64"
    assert frame["customer_id"].dtype == object
    assert frame["estrato"].tolist() == [1, 5, 3]
    assert frame["invoice_date"].iloc[2] == pd.Timestamp("2024-01-31")
    assert frame["amount_prev_1"].isna().sum() == 1


def test_extra_columns_are_allowed(schema):
    frame = valid_raw()
    frame["note"] = ["a", "b", "c"]
    assert enforce(schema, frame).passed


def test_target_value_two_fails_on_the_target_column(schema):
    frame = valid_raw()
    frame.loc[1, "defaulted"] = 2
    result = enforce(schema, frame)
    assert not result.passed and result.frame is None
    bad = failures_for(result, "defaulted")
    assert bad["check"].tolist() == ["target must be 0 or 1"]
    assert bad["failure_case"].tolist() == ["2"]
    assert bad["index"].tolist() == [1]


def test_duplicate_id_within_a_date_fails_naming_the_id(schema):
    frame = valid_raw()
    frame.loc[1, "invoice_id"] = 1  # rows 0 and 1 share id 1 on 2024-01-01
    result = enforce(schema, frame)
    assert not result.passed
    bad = failures_for(result, "invoice_id")
    assert set(bad["check"]) == {"unique together (one row per id and date)"}
    assert sorted(bad["index"].tolist()) == [0, 1]
    text = describe_failures(result.failures)
    assert "'invoice_id'" in text and "unique together" in text


def test_same_id_on_different_dates_passes(schema):
    frame = valid_raw()
    frame.loc[2, "invoice_id"] = 1  # row 2 is on 2024-01-31
    assert enforce(schema, frame).passed


@pytest.mark.parametrize("bad_date", ["2023-12-31", "2024-02-01"])
def test_date_outside_the_partitions_fails_naming_the_date_column(schema, bad_date):
    frame = valid_raw()
    frame.loc[2, "invoice_date"] = bad_date
    result = enforce(schema, frame)
    assert not result.passed
    bad = failures_for(result, "invoice_date")
    assert bad["check"].tolist() == ["date inside 2024-01-01..2024-01-31"]
    assert bad["index"].tolist() == [2]


def test_time_of_day_on_the_last_day_is_inside_the_range(schema):
    frame = valid_raw()
    frame["invoice_date"] = ["2024-01-01 00:00:00", "2024-01-15 12:00:00", "2024-01-31 23:59:00"]
    assert enforce(schema, frame).passed


def test_inf_in_amount_fails_naming_the_column(schema):
    frame = valid_raw()
    frame["amount"] = frame["amount"].astype(float)
    frame.loc[0, "amount"] = np.inf
    frame.loc[2, "amount"] = -np.inf
    result = enforce(schema, frame)
    assert not result.passed
    bad = failures_for(result, "amount")
    finite = bad[bad["check"] == "finite (no inf)"]
    assert sorted(finite["index"].tolist()) == [0, 2]
    assert sorted(finite["failure_case"].tolist()) == ["-inf", "inf"]
    assert set(bad["index"]) == {0, 2}  # no other row of amount fails


def test_value_rules_of_the_spec_are_enforced(spec, schema):
    assert spec.dataset.rules["amount"].min == 0
    frame = valid_raw()
    frame["amount"] = frame["amount"].astype(float)
    frame.loc[1, "amount"] = -5.0
    frame.loc[2, "estrato"] = 7.0
    result = enforce(schema, frame)
    assert not result.passed
    assert failures_for(result, "amount")[["check", "index"]].values.tolist() == [[">= 0.0", 1]]
    assert failures_for(result, "estrato")["index"].tolist() == [2]


def test_missing_required_column_fails_naming_it(schema):
    result = enforce(schema, valid_raw().drop(columns=["amount"]))
    assert not result.passed
    bad = failures_for(result, "amount")
    assert len(bad) == 1
    assert "required column is missing" in bad["check"].iloc[0]
    assert "column 'amount'" in describe_failures(result.failures)


def test_null_in_required_column_fails(schema):
    frame = valid_raw()
    frame["customer_id"] = ["C1", None, "C3"]
    result = enforce(schema, frame)
    assert not result.passed
    assert failures_for(result, "customer_id")["index"].tolist() == [1]


def test_null_values_in_optional_columns_pass(schema):
    frame = valid_raw()
    frame["amount_prev_3"] = np.nan
    result = enforce(schema, frame)
    assert result.passed
    assert result.frame["amount_prev_3"].isna().all()


def test_missing_optional_column_becomes_a_null_column(schema):
    result = enforce(schema, valid_raw().drop(columns=["amount_prev_3"]))
    assert result.passed
    assert "amount_prev_3" in result.frame.columns
    assert result.frame["amount_prev_3"].isna().all()
    assert result.frame["amount_prev_3"].dtype == "float64"


def test_every_failure_is_collected(schema):
    frame = valid_raw()
    frame.loc[0, "defaulted"] = 2
    frame.loc[1, "invoice_date"] = "2024-03-01"
    frame["amount"] = frame["amount"].astype(float)
    frame.loc[2, "amount"] = np.inf
    result = enforce(schema, frame)
    assert {"defaulted", "invoice_date", "amount"} <= set(result.failures["column"])
    assert list(result.failures.columns) == ["column", "check", "failure_case", "index"]


def test_describe_failures_names_column_check_count_and_samples(schema):
    frame = valid_raw()
    frame["defaulted"] = [2, 3, 0]
    text = describe_failures(enforce(schema, frame).failures)
    assert text == "column 'defaulted' fails 'target must be 0 or 1' on 2 row(s), e.g. 2, 3"


def test_describe_failures_limits_lines():
    failures = pd.DataFrame({"column": [f"c{i}" for i in range(8)], "check": ["x"] * 8,
                             "failure_case": ["1"] * 8, "index": range(8)})
    assert describe_failures(failures, limit=3).count("; ") == 2


def test_describe_failures_mentions_other_failures_next_to_a_duplicate(schema):
    frame = valid_raw()
    frame.loc[1, "invoice_id"] = 1
    frame.loc[2, "defaulted"] = 2
    result = enforce(schema, frame)
    assert "target must be 0 or 1" in set(result.failures["check"])  # the failure is collected...
    assert "target must be 0 or 1" in describe_failures(result.failures)  # ...but not described


def two_chunks() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Six valid rows as two chunks of a range (ids 1-3, then 4-6 a week later)."""
    second = valid_raw().assign(invoice_id=[4, 5, 6], invoice_date=["2024-01-08", "2024-01-08", "2024-01-09"])
    return valid_raw(), second


def test_failure_tally_over_chunks_describes_the_whole_range(schema):
    first, second = two_chunks()
    first.loc[0, "defaulted"] = 2
    second.loc[1, "defaulted"] = 3
    second["amount"] = second["amount"].astype(float)
    second.loc[2, "amount"] = np.inf
    whole = enforce(schema, pd.concat([first, second], ignore_index=True)).failures
    tally = FailureTally(sample_rows=20)
    tally.add(enforce(schema, first).failures)
    tally.add(enforce(schema, second).failures, first_row=len(first))
    assert tally.count == len(whole) == 4  # inf breaks "finite" and the max rule
    rules = {line.split(", e.g.")[0] for line in tally.describe().split("; ")}  # samples may print 2 or 2.0
    assert rules == {line.split(", e.g.")[0] for line in describe_failures(whole).split("; ")}
    assert set(zip(tally.sample["column"], tally.sample["index"].astype(int))) == set(
        zip(whole["column"], whole["index"].astype(int))), "row numbers count over the whole range"


def test_failure_tally_counts_a_missing_column_once_and_keeps_a_bounded_sample(schema):
    tally = FailureTally(sample_rows=2)
    for chunk in two_chunks():
        tally.add(enforce(schema, chunk.drop(columns=["region"]).assign(defaulted=2)).failures)
    assert tally.describe().startswith("column 'region': required column is missing")
    assert "on 6 row(s)" in tally.describe()
    assert tally.count == 1 + 6 and len(tally.sample) == 2


def one_chunk_findings(columns: list[str], frame: pd.DataFrame, spec) -> pd.DataFrame:
    """The soft-rule findings of `frame` read as a single chunk."""
    tally = SoftRuleTally()
    tally.add(columns, frame, spec.dataset)
    return tally.findings(spec.dataset)


def test_soft_rule_tally_over_chunks_judges_the_whole_range(spec, schema):
    first, second = two_chunks()
    first["amount_prev_1"] = [np.nan, np.nan, 1.0]  # 2 of 3 nulls in one chunk, 2 of 6 over the range
    second["tariff"] = ["domestic", "commercial", "domestic"]
    chunks = [enforce(schema, chunk).frame for chunk in (first, second)]
    whole = pd.concat(chunks, ignore_index=True)
    tally = SoftRuleTally()
    for raw, frame in zip((first, second), chunks):
        tally.add(list(raw.columns), frame, spec.dataset)
    findings = tally.findings(spec.dataset)
    pd.testing.assert_frame_equal(findings, one_chunk_findings(list(first.columns), whole, spec))
    assert "amount_prev_1" not in set(findings["column"]) and "tariff" in set(findings["column"])
    assert "amount_prev_1" in set(one_chunk_findings(list(first.columns), chunks[0], spec)["column"])


# --- features_schema -----------------------------------------------------------------------------

def test_features_schema_accepts_built_features(spec, schema):
    raw = enforce(schema, valid_raw()).frame
    features = build_features(raw, spec.dataset, spec.features)
    result = enforce(features_schema(spec.dataset, spec.features), features)
    assert result.passed, describe_failures(result.failures)


def test_features_schema_rejects_inf(spec, schema):
    features = build_features(enforce(schema, valid_raw()).frame, spec.dataset, spec.features)
    features.loc[1, "amount_avg_6m"] = np.inf
    result = enforce(features_schema(spec.dataset, spec.features), features)
    assert not result.passed
    bad = failures_for(result, "amount_avg_6m")
    assert bad["check"].tolist() == ["finite (no inf)"]
    assert "'amount_avg_6m'" in describe_failures(result.failures)


def test_features_schema_is_strict_about_extra_columns(spec, schema):
    features = build_features(enforce(schema, valid_raw()).frame, spec.dataset, spec.features)
    features["leak"] = 1.0
    result = enforce(features_schema(spec.dataset, spec.features), features)
    assert not result.passed
    assert "leak" in result.failures["failure_case"].tolist()
