"""Risk categories from cut-points, group labels and new-customer clusters."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml_assets.core.scoring.clustering import assign_clusters, category_index, cluster_table, cutpoints_for, group_label
from ml_assets.spec import ArrearsRule
from ml_assets_tests.conftest import make_spec

CUTS = [0.2, 0.5, 0.8]


@pytest.fixture
def clustering(tmp_path):
    return make_spec(tmp_path).clustering


def test_category_boundaries_go_to_the_higher_category():
    scores = np.array([0.0, 0.1999, 0.2, 0.3, 0.5, 0.7999, 0.8, 1.0])
    assert category_index(scores, CUTS).tolist() == [0, 0, 1, 1, 2, 2, 3, 3]


def test_category_index_accepts_lists_and_single_cut():
    assert category_index([0.49, 0.5, 0.51], [0.5]).tolist() == [0, 1, 1]


def test_group_label_matches_float_values_to_integer_config(clustering):
    # estrato read as float (e.g. after a NaN) must still match the config's ints
    values = pd.Series([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, np.nan, 7.0])
    result = group_label(values, clustering.groups)
    assert result.iloc[:6].tolist() == ["1-2", "1-2", "3-4", "3-4", "5-6", "5-6"]
    assert pd.isna(result.iloc[6])
    assert pd.isna(result.iloc[7])


def test_group_label_int_and_text_values(clustering):
    assert group_label(pd.Series([1, 4, 6]), clustering.groups).tolist() == ["1-2", "3-4", "5-6"]
    assert group_label(pd.Series(["2", "5"]), clustering.groups).tolist() == ["1-2", "5-6"]
    assert group_label(pd.Series(pd.array([3, None], dtype="Int64")), clustering.groups).iloc[0] == "3-4"


def test_group_label_non_whole_floats_do_not_match(clustering):
    result = group_label(pd.Series([3.5, 0.5]), clustering.groups)
    assert result.isna().all()


def test_group_label_whole_float_matches_next_to_a_fractional_value(clustering):
    result = group_label(pd.Series([3.5, 3.0]), clustering.groups)
    assert result.iloc[1] == "3-4"


def test_assign_clusters_marks_new_customers_and_keeps_risk_category(clustering):
    scores = np.array([0.1, 0.9, 0.6, 0.3])
    groups = pd.Series([1.0, 5.0, 3.0, 2.0], index=[10, 11, 12, 13])
    new = pd.Series([0.0, 1.0, np.nan, 1.0], index=[10, 11, 12, 13])
    out = assign_clusters(scores, CUTS, groups, new, clustering)
    assert list(out.columns) == ["risk_category", "group", "in_arrears", "risk_cluster"]
    assert not out["in_arrears"].any()
    assert out["risk_category"].tolist() == ["low", "very_high", "high", "medium"]
    assert out["group"].tolist() == ["1-2", "5-6", "3-4", "1-2"]
    # new customers get the new-customer label; unknown tenure (NaN) is not new
    assert out["risk_cluster"].tolist() == ["low", clustering.new_customer_label, "high", clustering.new_customer_label]
    assert clustering.new_customer_label == "new_customer"


def test_assign_clusters_without_groups_or_new_flag(clustering):
    out = assign_clusters(np.array([0.1, 0.85]), CUTS, None, None, clustering)
    assert out["risk_category"].tolist() == ["low", "very_high"]
    assert out["risk_cluster"].tolist() == ["low", "very_high"]
    assert out["group"].isna().all()


def with_arrears(clustering, **rule):
    return clustering.model_copy(update={"arrears": ArrearsRule(column="arrears", **rule)})


def test_arrears_rule_raises_the_category_and_labels_the_cluster(clustering):
    rule = with_arrears(clustering, above=0, label="in_arrears", min_category="high")
    scores = np.array([0.1, 0.1, 0.9, 0.1])
    arrears = pd.Series([0.0, 250.0, 10.0, np.nan])
    new = pd.Series([0.0, 1.0, 0.0, 1.0])
    out = assign_clusters(scores, CUTS, None, new, rule, arrears)
    assert out["in_arrears"].tolist() == [False, True, True, False], "missing arrears are not arrears"
    assert out["risk_category"].tolist() == ["low", "high", "very_high", "low"], "raised to at least high, never lowered"
    assert out["risk_cluster"].tolist() == ["low", "in_arrears", "in_arrears", "new_customer"], "arrears before new"


def test_arrears_rule_with_only_a_minimum_category(clustering):
    rule = with_arrears(clustering, above=100, label=None, min_category="medium")
    out = assign_clusters(np.array([0.1, 0.1]), CUTS, None, None, rule, pd.Series([100.0, 101.0]))
    assert out["risk_category"].tolist() == ["low", "medium"]
    assert out["risk_cluster"].tolist() == ["low", "medium"]


def test_cutpoints_from_the_model_or_the_batch(clustering):
    scores = np.linspace(0, 1, 101)
    assert cutpoints_for(scores, CUTS, clustering, "m v1") == CUTS
    batch = clustering.model_copy(update={"cutpoints": "batch"})
    assert cutpoints_for(scores, CUTS, batch, "m v1") == pytest.approx([0.5, 0.8, 0.95])
    with pytest.raises(ValueError, match="m v1 stores 2 cut-points but clustering.labels has 4 labels; retrain"):
        cutpoints_for(scores, [0.3, 0.6], clustering, "m v1")


def cluster_input(spec) -> pd.DataFrame:
    """Two model versions; version 2 scores two days."""
    return pd.DataFrame({
        "model_name": ["m", "m", "m", "m", "m"], "model_version": ["1", "2", "2", "2", "2"],
        "invoice_date": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-01", "2024-01-02", "2024-01-02"]),
        "score": [0.3, 0.3, 0.6, 0.1, 0.2], "estrato": [1.0, 3.0, 5.0, 6.0, 2.0],
        "is_new_customer": [0.0] * 5, "arrears": [0.0] * 5}, index=[7, 8, 9, 10, 11])


def test_cluster_table_cuts_each_model_version_with_its_cutpoints(tmp_path):
    spec = make_spec(tmp_path)
    table = cluster_table(cluster_input(spec), {("m", "1"): [0.2, 0.5, 0.8], ("m", "2"): [0.4, 0.5, 0.9]},
                          spec.scoring_sections())
    assert table["risk_category"].tolist() == ["medium", "low", "high", "low", "low"]
    assert table["group"].tolist() == ["1-2", "3-4", "5-6", "5-6", "1-2"]
    assert table["score"].tolist() == [0.3, 0.3, 0.6, 0.1, 0.2], "rows keep their order"


def test_cluster_table_in_batch_mode_cuts_each_day(tmp_path):
    spec = make_spec(tmp_path, clustering={"cutpoints": "batch"})
    table = cluster_table(cluster_input(spec), {("m", "1"): [], ("m", "2"): []}, spec.scoring_sections())
    # version 2, day 1: scores 0.3, 0.6 (median 0.45); day 2: 0.1, 0.2 (median 0.15)
    assert table["risk_category"].tolist()[1:] == ["low", "very_high", "low", "very_high"]
