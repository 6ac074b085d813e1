"""Risk summary per segment and cluster: counts, shares, realized default rate over matured rows, lift."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml_assets.core.scoring.risk_report import (
    labels_matured,
    report_rows,
    risk_summary,
    summary_over_days,
    write_report_files,
)
from ml_assets_tests.conftest import make_spec


def clusters_frame() -> pd.DataFrame:
    """Two segments; domestic has 6 rows (4 matured), industrial 3 rows (all matured)."""
    return pd.DataFrame({
        "seg": ["domestic"] * 6 + ["industrial"] * 3,
        "risk_cluster": ["low", "low", "low", "high", "high", "new_customer", "low", "high", "high"],
        "score": [0.1, 0.2, 0.3, 0.8, 0.9, 0.5, 0.05, 0.6, 0.7],
        "y": [0, 0, 1, 1, 0, 1, 0, 1, 0],
    })


MATURED = pd.Series([True, True, False, True, True, False, True, True, True])


@pytest.fixture
def summary() -> pd.DataFrame:
    return risk_summary(clusters_frame(), "seg", "score", "y", MATURED)


def row(summary: pd.DataFrame, segment: str, cluster: str) -> pd.Series:
    match = summary[(summary["segment"] == segment) & (summary["risk_cluster"] == cluster)]
    assert len(match) == 1
    return match.iloc[0]


def test_columns_and_order(summary):
    assert list(summary.columns) == ["segment", "risk_cluster", "count", "share", "mean_score", "matured_count",
                                     "realized_default_rate", "lift"]
    # sorted by segment then mean score
    assert list(zip(summary["segment"], summary["risk_cluster"])) == [
        ("domestic", "low"), ("domestic", "new_customer"), ("domestic", "high"),
        ("industrial", "low"), ("industrial", "high"),
    ]


def test_counts_and_mean_scores(summary):
    assert row(summary, "domestic", "low")["count"] == 3
    assert row(summary, "domestic", "high")["count"] == 2
    assert row(summary, "domestic", "new_customer")["count"] == 1
    assert row(summary, "industrial", "high")["count"] == 2
    assert row(summary, "domestic", "low")["mean_score"] == pytest.approx(0.2)
    assert row(summary, "industrial", "high")["mean_score"] == pytest.approx(0.65)
    assert summary["count"].sum() == 9


def test_share_sums_to_one_per_segment(summary):
    assert row(summary, "domestic", "low")["share"] == pytest.approx(0.5)
    assert row(summary, "industrial", "high")["share"] == pytest.approx(2 / 3)
    for _, shares in summary.groupby("segment")["share"]:
        assert shares.sum() == pytest.approx(1.0)


def test_realized_default_rate_only_over_matured_rows(summary):
    low = row(summary, "domestic", "low")
    # rows 0, 1 matured (y 0, 0); row 2 (y 1) is not matured and must not count
    assert low["matured_count"] == 2
    assert low["realized_default_rate"] == pytest.approx(0.0)
    high = row(summary, "domestic", "high")
    assert high["matured_count"] == 2
    assert high["realized_default_rate"] == pytest.approx(0.5)
    new = row(summary, "domestic", "new_customer")
    assert new["matured_count"] == 0
    assert np.isnan(new["realized_default_rate"])
    assert row(summary, "industrial", "high")["realized_default_rate"] == pytest.approx(0.5)


def test_lift_is_rate_over_segment_matured_rate(summary):
    # domestic matured rows: y = 0, 0, 1, 0 -> segment rate 0.25
    assert row(summary, "domestic", "high")["lift"] == pytest.approx(0.5 / 0.25)
    assert row(summary, "domestic", "low")["lift"] == pytest.approx(0.0)
    assert np.isnan(row(summary, "domestic", "new_customer")["lift"])
    # industrial matured rows: y = 0, 1, 0 -> segment rate 1/3
    assert row(summary, "industrial", "high")["lift"] == pytest.approx(0.5 / (1 / 3))
    assert row(summary, "industrial", "low")["lift"] == pytest.approx(0.0)


def test_lift_is_nan_when_segment_has_no_defaults():
    clusters = pd.DataFrame({"seg": ["a", "a"], "risk_cluster": ["low", "high"], "score": [0.1, 0.9], "y": [0, 0]})
    summary = risk_summary(clusters, "seg", "score", "y", pd.Series([True, True]))
    assert summary["realized_default_rate"].tolist() == [0.0, 0.0]
    assert summary["lift"].isna().all()


def test_uses_the_frame_index_of_matured_flags():
    clusters = clusters_frame()
    clusters.index = range(100, 109)
    matured = MATURED.copy()
    matured.index = clusters.index
    summary = risk_summary(clusters, "seg", "score", "y", matured)
    assert row(summary, "domestic", "low")["matured_count"] == 2
    assert row(summary, "domestic", "high")["lift"] == pytest.approx(2.0)


def test_nullable_target_with_unmatured_missing_labels():
    clusters = pd.DataFrame({"seg": ["a", "a", "a"], "risk_cluster": ["low", "low", "high"], "score": [0.1, 0.2, 0.9],
                             "y": pd.array([0, None, 1], dtype="Int64")})
    summary = risk_summary(clusters, "seg", "score", "y", pd.Series([True, False, True]))
    low = row(summary, "a", "low")
    assert low["count"] == 2 and low["matured_count"] == 1
    assert low["realized_default_rate"] == pytest.approx(0.0)
    assert row(summary, "a", "high")["lift"] == pytest.approx(2.0)


def test_daily_summary_in_one_pass_matches_each_day_alone():
    clusters = clusters_frame().assign(day=pd.to_datetime(["2024-01-01", "2024-01-02"] * 4 + ["2024-01-01"]))
    daily = risk_summary(clusters, "seg", "score", "y", MATURED, date_column="day")
    assert list(daily.columns[:3]) == ["day", "segment", "risk_cluster"]
    for day, rows in clusters.groupby("day"):
        alone = risk_summary(rows, "seg", "score", "y", MATURED[rows.index.to_numpy()])
        pd.testing.assert_frame_equal(daily[daily["day"] == day].drop(columns="day").reset_index(drop=True), alone)


def test_labels_matured_after_the_delay():
    dates = pd.Series(pd.to_datetime(["2024-01-01", "2024-01-02"]))
    assert labels_matured(dates, 10, pd.Timestamp("2024-01-11")).tolist() == [True, False]


def report_table() -> pd.DataFrame:
    """Scored rows of two segments over two days, not in file order."""
    return pd.DataFrame({
        "invoice_id": [1, 2, 3, 4, 5], "model_segment": ["industrial", "domestic", "domestic", "industrial", "domestic"],
        "invoice_date": pd.to_datetime(["2024-01-02", "2024-01-01", "2024-01-02", "2024-01-02", "2024-01-01"]),
        "score": [0.1, 0.2, 0.3, 0.4, 0.5], "risk_cluster": pd.Categorical(["low", "low", "high", "high", "low"]),
        "reason_1": pd.array(["amount = 3", None, "arrears = 5", None, None], dtype="string[pyarrow]")})


def test_report_files_per_date_and_segment_with_the_spec_columns(tmp_path):
    spec = make_spec(tmp_path, scoring={"report_columns": ["invoice_id", "score", "reason_1", "risk_cluster"]})
    paths = write_report_files(report_table(), tmp_path / "risk_report", spec.dataset.date, spec.scoring)
    assert sorted(str(p.relative_to(tmp_path / "risk_report")) for p in paths) == [
        "date=2024-01-01/segment=domestic/part.parquet", "date=2024-01-02/segment=domestic/part.parquet",
        "date=2024-01-02/segment=industrial/part.parquet"]
    part = pd.read_parquet(tmp_path / "risk_report" / "date=2024-01-02" / "segment=industrial" / "part.parquet")
    assert list(part.columns) == ["invoice_id", "score", "reason_1", "risk_cluster"]
    assert part["invoice_id"].tolist() == [1, 4] and part["reason_1"].tolist()[0] == "amount = 3"


@pytest.mark.parametrize("order", ["by_day", "shuffled"])
def test_report_files_hold_the_same_rows_whatever_order_the_table_comes_in(tmp_path, order):
    spec = make_spec(tmp_path, scoring={"report_columns": ["invoice_id", "score", "reason_1", "risk_cluster"]})
    table = report_table()
    reordered = (table.sort_values(["invoice_date", "model_segment"], kind="stable") if order == "by_day"
                 else table.sample(frac=1, random_state=3))
    expected = write_report_files(table, tmp_path / "as_scored", spec.dataset.date, spec.scoring)
    written = write_report_files(reordered, tmp_path / "reordered", spec.dataset.date, spec.scoring)
    assert sorted(p.relative_to(tmp_path / "reordered") for p in written) == sorted(
        p.relative_to(tmp_path / "as_scored") for p in expected)
    for path in expected:
        part = pd.read_parquet(tmp_path / "reordered" / path.relative_to(tmp_path / "as_scored"))
        rows_in_table_order = reordered[reordered["invoice_id"].isin(part["invoice_id"])]["invoice_id"].tolist()
        assert part["invoice_id"].tolist() == rows_in_table_order
        pd.testing.assert_frame_equal(part.sort_values("invoice_id").reset_index(drop=True),
                                      pd.read_parquet(path).sort_values("invoice_id").reset_index(drop=True))


def test_report_rows_name_a_missing_column(tmp_path):
    spec = make_spec(tmp_path, scoring={"report_columns": ["invoice_id", "estrato"]})
    with pytest.raises(ValueError, match=r"scoring.report_columns names \['estrato'\]"):
        report_rows(report_table(), spec.scoring)


def test_summary_over_days_equals_the_summary_of_all_rows():
    clusters = clusters_frame().assign(day=pd.to_datetime(["2024-01-01", "2024-01-02"] * 4 + ["2024-01-03"]))
    daily = risk_summary(clusters, "seg", "score", "y", MATURED, date_column="day")
    expected = risk_summary(clusters, "seg", "score", "y", MATURED)
    combined = summary_over_days(daily)
    pd.testing.assert_frame_equal(combined.astype({"count": "int64", "matured_count": "int64"}),
                                  expected.astype({"count": "int64", "matured_count": "int64"}), check_exact=False)
