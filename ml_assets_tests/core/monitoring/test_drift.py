import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from ml_assets.core.monitoring.drift import (
    DRIFT_COLUMNS,
    SEVERITIES,
    ReferenceProfile,
    build_profile,
    categorical_reference,
    chi_square,
    feature_drift_table,
    ks_statistic,
    numeric_reference,
    overall_severity,
    pooled_counts,
    profile_drift_table,
    psi_categorical,
    psi_from_counts,
    psi_numeric,
    quantile_bin_edges,
    same_period_drift_table,
    severity,
    wasserstein,
)
from ml_assets.spec import ThresholdSpec

PSI_THRESHOLDS = ThresholdSpec(low=0.1, moderate=0.2, high=0.25)
KS_THRESHOLDS = ThresholdSpec(low=0.05, moderate=0.1, high=0.2)
EPS = 1e-4


def _samples(case: str) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of samples covering sizes, ties and each branch of scipy's KS p-value."""
    rng = np.random.default_rng(sum(map(ord, case)))
    return {
        "small": (rng.normal(size=30), rng.normal(0.3, size=50)),
        "different_sizes": (rng.normal(size=500), rng.normal(0.1, 1.2, size=1_700)),
        "ties": (rng.integers(0, 6, 1_000).astype(float), rng.integers(0, 7, 300).astype(float)),
        "identical": (np.arange(200.0), np.arange(200.0)),
        "smirnov_tail_small_n": (rng.normal(size=600), rng.normal(0.5, size=600)),
        "smirnov_tail_large_n": (rng.normal(size=200_000), rng.normal(0.05, size=150_000)),
        "far_tail": (rng.normal(size=5_000), rng.normal(3.0, size=5_000)),
        "near_null": (rng.normal(size=50_000), rng.normal(size=40_000)),
    }[case]


CASES = ["small", "different_sizes", "ties", "identical", "smirnov_tail_small_n",
         "smirnov_tail_large_n", "far_tail", "near_null"]


@pytest.mark.parametrize("case", CASES)
def test_ks_statistic_matches_scipy(case):
    reference, current = _samples(case)
    expected = stats.ks_2samp(reference, current, method="asymp")
    assert ks_statistic(reference, current) == pytest.approx(expected.statistic, rel=1e-9, abs=1e-9)


def test_ks_statistic_drops_nan_and_handles_an_empty_side():
    reference, current = _samples("different_sizes")
    expected = stats.ks_2samp(reference, current, method="asymp")
    with_nan = ks_statistic(np.append(reference, [np.nan, np.nan]), np.append(np.nan, current))
    assert with_nan == pytest.approx(expected.statistic, rel=1e-9, abs=1e-9)
    assert math.isnan(ks_statistic(reference, np.array([np.nan])))


@pytest.mark.parametrize("case", CASES)
def test_wasserstein_matches_scipy(case):
    reference, current = _samples(case)
    expected = stats.wasserstein_distance(reference, current)
    assert wasserstein(reference, current) == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_wasserstein_drops_nan_and_handles_an_empty_side():
    reference, current = np.array([0.0, 1.0, np.nan, 3.0]), np.array([np.nan, 5.0, 2.0])
    expected = stats.wasserstein_distance([0.0, 1.0, 3.0], [5.0, 2.0])
    assert wasserstein(reference, current) == pytest.approx(expected, rel=1e-12)
    assert math.isnan(wasserstein(reference, np.array([])))


def test_chi_square_matches_scipy_on_a_hand_built_table():
    reference = pd.Series(["a"] * 10 + ["b"] * 20 + ["c"] * 5)
    current = pd.Series(["b"] * 8 + ["a"] * 12 + ["d"] * 6 + [None] * 2)
    #                 a   b   c  d  missing
    table = np.array([[10, 20, 5, 0, 0],
                      [12, 8, 0, 6, 2]])
    expected = stats.chi2_contingency(table, correction=False)
    statistic, pvalue = chi_square(reference, current)
    assert statistic == pytest.approx(expected.statistic, rel=1e-12)
    assert pvalue == pytest.approx(expected.pvalue, rel=1e-9)


def test_chi_square_of_an_empty_side_is_nan():
    assert all(math.isnan(value) for value in chi_square(pd.Series(["a", "b"]), pd.Series([], dtype=object)))


def test_psi_from_counts_is_the_textbook_formula_with_clipping():
    expected = (0.6 - 0.5) * math.log(0.6 / 0.5) + (0.4 - 0.5) * math.log(0.4 / 0.5)
    assert psi_from_counts(np.array([5, 5, 0]), np.array([6, 4, 0])) == pytest.approx(expected, rel=1e-12)
    assert math.isnan(psi_from_counts(np.array([1, 2]), np.array([0, 0])))


def test_psi_numeric_matches_a_hand_computed_example():
    reference = np.array([1.0, 2.0, 3.0, 4.0])
    current = np.array([1.0, 2.0, 2.0, 4.0, np.nan])
    # edge 2.0 with side='right': x <= 2 goes left; bins (<=2, >2, NaN): reference 2/2/0, current 3/1/1
    p, q = np.array([0.5, 0.5, EPS]), np.array([0.6, 0.2, 0.2])
    expected = float(np.sum((q - p) * np.log(q / p)))
    assert psi_numeric(reference, current, np.array([2.0])) == pytest.approx(expected, rel=1e-12)


def test_psi_numeric_is_near_zero_for_the_same_distribution_and_large_for_a_mean_shift():
    rng = np.random.default_rng(7)
    reference = rng.normal(size=200_000)
    edges = quantile_bin_edges(reference)
    assert psi_numeric(reference, rng.normal(size=200_000), edges) < 0.001
    assert psi_numeric(reference, rng.normal(1.0, size=200_000), edges) > 0.25


def test_quantile_bin_edges_are_unique_interior_cut_points_without_nan():
    with_nan = np.r_[np.arange(101.0), np.nan]
    np.testing.assert_allclose(quantile_bin_edges(with_nan, bins=4), [25.0, 50.0, 75.0])
    np.testing.assert_allclose(quantile_bin_edges(np.r_[np.zeros(90), np.ones(10)]), [0.0, 0.1])
    assert quantile_bin_edges(np.array([np.nan])).size == 0


def test_psi_categorical_counts_an_unseen_category():
    reference = pd.Series(["a"] * 50 + ["b"] * 50)
    current = pd.Series(["a"] * 40 + ["b"] * 40 + ["c"] * 20)
    expected = 2 * (0.4 - 0.5) * math.log(0.4 / 0.5) + (0.2 - EPS) * math.log(0.2 / EPS)
    assert psi_categorical(reference, current) == pytest.approx(expected, rel=1e-12)


def test_psi_categorical_treats_missing_as_a_category_and_accepts_categoricals():
    reference = pd.Series(pd.Categorical(["a", "b", "a", None], categories=["a", "b", "z"]))
    current = pd.Series(pd.Categorical(["a", "b", "a", "b"], categories=["a", "b"]))
    p, q = np.array([0.5, 0.25, 0.25]), np.array([0.5, 0.5, EPS])
    expected = float(np.sum((q - p) * np.log(q / p)))
    assert psi_categorical(reference, current) == pytest.approx(expected, rel=1e-12)
    assert psi_categorical(pd.Series(["x", None, np.nan]), pd.Series([None, "x", None])) == pytest.approx(0.0)


@pytest.mark.parametrize(("value", "expected"), [
    (0.0, "none"), (0.0999, "none"), (0.1, "low"), (0.1999, "low"), (0.2, "moderate"),
    (0.2499, "moderate"), (0.25, "high"), (3.0, "high"), (float("nan"), "none"),
])
def test_severity_boundaries(value, expected):
    assert severity(value, PSI_THRESHOLDS) == expected


def test_thresholds_must_be_ordered():
    with pytest.raises(ValueError, match="thresholds must increase: low 0.3 <= moderate 0.2"):
        ThresholdSpec(low=0.3, moderate=0.2, high=0.25)


def test_overall_severity_is_the_worst():
    assert overall_severity([]) == "none"
    assert overall_severity(["low", "high", "none"]) == "high"
    assert overall_severity(iter(["low", "moderate"])) == "moderate"
    assert SEVERITIES == ("none", "low", "moderate", "high")


def _frames(rows: int = 20_000) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reference and current frames: one numeric and one categorical column shifted, one of each not."""
    rng = np.random.default_rng(3)

    def frame(shift: float, cities: list[str]) -> pd.DataFrame:
        return pd.DataFrame({
            "stable_num": rng.normal(size=rows),
            "shifted_num": rng.normal(shift, size=rows),
            "stable_cat": rng.choice(["x", "y", "z"], size=rows),
            "shifted_cat": rng.choice(cities, size=rows),
        })

    return frame(0.0, ["bogota", "cali"]), frame(1.5, ["cali", "medellin"])


def test_feature_drift_table_flags_the_shifted_columns_only():
    reference, current = _frames()
    table = feature_drift_table(reference, current, ["stable_num", "shifted_num"],
                                ["stable_cat", "shifted_cat"], PSI_THRESHOLDS, KS_THRESHOLDS)
    assert list(table.columns) == DRIFT_COLUMNS
    by_feature = table.set_index("feature")
    assert by_feature["kind"].tolist() == ["numeric", "numeric", "categorical", "categorical"]
    assert by_feature["severity"].to_dict() == {"stable_num": "none", "shifted_num": "high",
                                                "stable_cat": "none", "shifted_cat": "high"}
    numeric = by_feature[by_feature["kind"] == "numeric"]
    categorical = by_feature[by_feature["kind"] == "categorical"]
    assert numeric[["chi2_stat", "chi2_pvalue"]].isna().all().all()
    assert categorical[["ks_stat", "wasserstein"]].isna().all().all()
    assert numeric[["psi", "ks_stat", "wasserstein"]].notna().all().all()
    assert categorical[["psi", "chi2_stat", "chi2_pvalue"]].notna().all().all()
    assert (table["ref_rows"] == len(reference)).all() and (table["cur_rows"] == len(current)).all()
    expected_ks = stats.ks_2samp(reference["shifted_num"], current["shifted_num"], method="asymp").statistic
    assert by_feature.loc["shifted_num", "ks_stat"] == pytest.approx(expected_ks, rel=1e-9)


def test_feature_drift_table_severity_takes_the_worse_of_psi_and_ks():
    rng = np.random.default_rng(11)
    reference = pd.DataFrame({"value": rng.normal(size=50_000)})
    current = pd.DataFrame({"value": rng.normal(0.15, size=50_000)})
    row = feature_drift_table(reference, current, ["value"], [], PSI_THRESHOLDS, KS_THRESHOLDS).iloc[0]
    assert severity(row["psi"], PSI_THRESHOLDS) == "none"
    assert row["severity"] == severity(row["ks_stat"], KS_THRESHOLDS) == "low"


@pytest.mark.parametrize("empty_side", ["current", "reference"])
def test_feature_drift_table_with_an_empty_side_gives_nan_and_none(empty_side):
    reference, current = _frames(rows=500)
    if empty_side == "current":
        current = current.iloc[:0]
    else:
        reference = reference.iloc[:0]
    table = feature_drift_table(reference, current, ["stable_num"], ["stable_cat"],
                                PSI_THRESHOLDS, KS_THRESHOLDS)
    statistics = ["psi", "ks_stat", "chi2_stat", "chi2_pvalue", "wasserstein"]
    assert table[statistics].isna().all().all()
    assert table["severity"].tolist() == ["none", "none"]


def test_feature_drift_table_accepts_nullable_dtypes_and_no_columns():
    reference = pd.DataFrame({"value": pd.array([1.0, 2.0, None, 4.0], dtype="Float64")})
    current = pd.DataFrame({"value": pd.array([1.0, None, 3.0, 4.0], dtype="Float64")})
    row = feature_drift_table(reference, current, ["value"], [], PSI_THRESHOLDS, KS_THRESHOLDS).iloc[0]
    assert row["ks_stat"] == pytest.approx(stats.ks_2samp([1.0, 2.0, 4.0], [1.0, 3.0, 4.0]).statistic)
    empty = feature_drift_table(reference, current, [], [], PSI_THRESHOLDS, KS_THRESHOLDS)
    assert list(empty.columns) == DRIFT_COLUMNS and empty.empty


def _evidently_psi(reference: pd.Series, current: pd.Series, numeric: bool) -> float:
    """Evidently's own PSI stattest (legacy engine, as DataDriftPreset runs it)."""
    from evidently.legacy.calculations.stattests import psi_stat_test
    from evidently.legacy.core import ColumnType

    kind = ColumnType.Numerical if numeric else ColumnType.Categorical
    return float(psi_stat_test(reference, current, kind, threshold=0.1).drift_score)


def test_psi_matches_evidently_on_its_sturges_bins():
    """Evidently bins numeric columns on equal-width Sturges bins over both samples; with those edges
    (interior ones, continuous data so no value sits on an edge) our PSI is the same number."""
    rng = np.random.default_rng(5)
    reference, current = rng.normal(size=5_000), rng.normal(0.3, 1.2, size=4_000)
    edges = np.histogram_bin_edges(np.concatenate([reference, current]), bins="sturges")[1:-1]
    expected = _evidently_psi(pd.Series(reference), pd.Series(current), numeric=True)
    assert psi_numeric(reference, current, edges) == pytest.approx(expected, rel=1e-9)


def test_psi_matches_evidently_on_our_quantile_bins():
    """Our reference-quantile bins given to Evidently as categories (the bin of each value) give our PSI."""
    rng = np.random.default_rng(6)
    reference, current = rng.gamma(2.0, size=6_000), rng.gamma(2.4, size=3_000)
    edges = quantile_bin_edges(reference)
    as_bins = [pd.Series(np.searchsorted(edges, values, side="left")) for values in (reference, current)]
    expected = _evidently_psi(*as_bins, numeric=False)
    assert psi_numeric(reference, current, edges) == pytest.approx(expected, rel=1e-9)


def test_categorical_psi_matches_evidently_with_an_unseen_category():
    reference = pd.Series(["bogota"] * 500 + ["cali"] * 300 + ["medellin"] * 200)
    current = pd.Series(["bogota"] * 350 + ["cali"] * 350 + ["pasto"] * 100)
    expected = _evidently_psi(reference, current, numeric=False)
    assert psi_categorical(reference, current) == pytest.approx(expected, rel=1e-9)


def test_profile_drift_table_equals_the_frame_table_when_the_profile_keeps_every_value():
    reference, current = _frames(rows=3_000)
    numeric, categorical = ["stable_num", "shifted_num"], ["stable_cat", "shifted_cat"]
    profile = build_profile(reference, numeric, categorical, bins=10)
    from_profile = profile_drift_table(profile, current, PSI_THRESHOLDS, KS_THRESHOLDS)
    from_frames = feature_drift_table(reference, current, numeric, categorical, PSI_THRESHOLDS, KS_THRESHOLDS)
    pd.testing.assert_frame_equal(from_profile, from_frames)


def test_profile_bins_count_every_row_while_the_sorted_sample_is_bounded():
    rng = np.random.default_rng(8)
    values = np.append(rng.normal(size=20_000), [np.nan] * 50)
    reference = numeric_reference(values, bins=10, max_sorted=1_000)
    assert reference.rows == 20_050 and reference.counts.sum() == 20_050 and reference.counts[-1] == 50
    assert reference.sorted_values.size == 1_000 and np.all(np.diff(reference.sorted_values) >= 0)
    assert set(reference.sorted_values) <= set(values)
    current = rng.normal(0.5, size=3_000)
    table = profile_drift_table(ReferenceProfile({"x": reference}, {}), pd.DataFrame({"x": current}),
                                PSI_THRESHOLDS, KS_THRESHOLDS)
    expected = stats.ks_2samp(reference.sorted_values, current, method="asymp")
    assert table.loc[0, "ks_stat"] == pytest.approx(expected.statistic, rel=1e-9)
    assert table.loc[0, "psi"] == pytest.approx(psi_numeric(values, current, reference.edges), rel=1e-12)


def test_categorical_reference_keys_categories_as_text():
    reference = categorical_reference(pd.Series([1, 2, 2, None, "2"], dtype=object))
    assert reference.counts == {"1": 1, "2": 3} and reference.missing == 1 and reference.rows == 5


def test_profile_drift_table_names_what_is_missing():
    reference, current = _frames(rows=200)
    profile = build_profile(reference, ["stable_num"], [], bins=5)
    with pytest.raises(KeyError, match=r"no columns \['amount'\].*retrain"):
        profile_drift_table(profile, current, PSI_THRESHOLDS, KS_THRESHOLDS, columns=["amount"])
    with pytest.raises(KeyError, match=r"lacks the profiled columns \['stable_num'\]"):
        profile_drift_table(profile, current.drop(columns="stable_num"), PSI_THRESHOLDS, KS_THRESHOLDS)


def test_large_frames_give_the_same_table_in_parallel_as_in_one_thread(monkeypatch):
    rng = np.random.default_rng(9)
    rows = 120_000
    reference = pd.DataFrame({f"x{i}": rng.normal(size=rows) for i in range(3)} | {"c": rng.choice(["a", "b"], rows)})
    current = pd.DataFrame({f"x{i}": rng.normal(0.1 * i, size=rows) for i in range(3)} | {"c": rng.choice(["a", "b"], rows)})
    columns = (["x0", "x1", "x2"], ["c"])
    parallel = feature_drift_table(reference, current, *columns, PSI_THRESHOLDS, KS_THRESHOLDS)
    monkeypatch.setattr("ml_assets.core.monitoring.drift.PARALLEL_MIN_ROWS", 10**9)
    pd.testing.assert_frame_equal(parallel, feature_drift_table(reference, current, *columns, PSI_THRESHOLDS,
                                                                KS_THRESHOLDS))


@pytest.mark.parametrize("share", [1, 10**9], ids=["distinct_values", "merge"])
@pytest.mark.parametrize("case", ["ties", "different_sizes"])
def test_both_ks_and_wasserstein_paths_match_scipy(monkeypatch, share, case):
    """Few distinct values take the distinct-value path, others the merge; force each on each kind of data."""
    monkeypatch.setattr("ml_assets.core.monitoring.drift.DISCRETE_SHARE", share)
    reference, current = _samples(case)
    assert ks_statistic(reference, current) == pytest.approx(
        stats.ks_2samp(reference, current, method="asymp").statistic, rel=1e-9, abs=1e-12)
    assert wasserstein(reference, current) == pytest.approx(stats.wasserstein_distance(reference, current), rel=1e-9)


def test_same_period_drift_compares_with_the_reference_rows_of_the_same_calendar_values():
    """Oracle: PSI on quantile bins of the restricted reference by hand, KS from scipy, chi-square from scipy."""
    rng = np.random.default_rng(11)
    reference = pd.DataFrame({"week": rng.integers(1, 18, 4_000).astype(float),
                              "month": rng.choice(["January", "February", "March", "April"], 4_000)})
    current = pd.DataFrame({"week": rng.choice([14.0, 15.0], 300, p=[0.7, 0.3]),
                            "month": rng.choice(["April", "May"], 300)})
    profile = build_profile(reference, ["week"], ["month"], bins=10)
    table = same_period_drift_table(profile, current, ["week", "month"], PSI_THRESHOLDS, KS_THRESHOLDS,
                                    bins=10).set_index("feature")

    same_weeks = reference["week"][reference["week"].isin([14.0, 15.0])].to_numpy()
    edges = quantile_bin_edges(same_weeks, 10)
    ref_counts = np.diff(np.searchsorted(np.sort(same_weeks), edges, side="right"), prepend=0, append=same_weeks.size)
    cur_counts = np.diff(np.searchsorted(np.sort(current["week"]), edges, side="right"), prepend=0, append=300)
    ref_p, cur_p = np.clip(ref_counts / ref_counts.sum(), EPS, None), np.clip(cur_counts / 300, EPS, None)
    assert table.loc["week", "psi"] == pytest.approx(np.sum((cur_p - ref_p) * np.log(cur_p / ref_p)), rel=1e-9)
    ks = stats.ks_2samp(same_weeks, current["week"], method="asymp")
    assert table.loc["week", "ks_stat"] == pytest.approx(ks.statistic, rel=1e-9)
    assert table.loc["week", "ref_rows"] == same_weeks.size

    april = int((reference["month"] == "April").sum())
    observed = np.array([[april, 0], [int((current["month"] == "April").sum()), int((current["month"] == "May").sum())]])
    expected = stats.chi2_contingency(observed, correction=False)
    assert table.loc["month", "chi2_stat"] == pytest.approx(expected.statistic, rel=1e-9)
    assert table.loc["month", "ref_rows"] == april
    plain = profile_drift_table(profile, current, PSI_THRESHOLDS, KS_THRESHOLDS).set_index("feature")
    assert plain.loc["week", "severity"] == "high" and plain.loc["week", "psi"] > 5 * table.loc["week", "psi"]


def test_same_period_drift_without_a_same_period_in_the_reference_has_no_reference_rows():
    reference = pd.DataFrame({"week": np.arange(1.0, 18.0).repeat(10)})
    current = pd.DataFrame({"week": np.full(50, 30.0)})
    profile = build_profile(reference, ["week"], [], bins=10)
    [row] = same_period_drift_table(profile, current, ["week"], PSI_THRESHOLDS, KS_THRESHOLDS).to_dict("records")
    assert row["ref_rows"] == 0 and math.isnan(row["psi"]) and row["severity"] == "none"


def test_pooled_categories_keep_the_largest_and_pool_the_rest():
    ref, cur = np.array([50.0, 5.0, 30.0, 10.0, 5.0]), np.array([40.0, 0.0, 35.0, 20.0, 5.0])
    pooled_ref, pooled_cur = pooled_counts(ref, cur, bins=3)
    assert pooled_ref.tolist() == [50.0, 30.0, 20.0] and pooled_cur.tolist() == [40.0, 35.0, 25.0]
    assert pooled_counts(ref, cur, bins=5)[0] is ref


def test_many_rare_categories_of_the_same_distribution_do_not_read_as_drift_once_pooled():
    """177 categories (a long tail, like countries), 350 current rows drawn from the reference distribution:
    pooled to 10 bins the PSI is small; hand-computed PSI and scipy's chi-square on the pooled table agree."""
    rng = np.random.default_rng(4)
    shares = 1 / np.arange(1, 178) ** 1.3
    shares /= shares.sum()
    names = np.array([f"c{i}" for i in range(177)], dtype=object)
    reference = pd.DataFrame({"country": rng.choice(names, 20_000, p=shares)})
    current = pd.DataFrame({"country": rng.choice(names, 350, p=shares)})
    profile = build_profile(reference, [], ["country"])
    raw = profile_drift_table(profile, current, PSI_THRESHOLDS, KS_THRESHOLDS).iloc[0]
    pooled = profile_drift_table(profile, current, PSI_THRESHOLDS, KS_THRESHOLDS, category_bins=10).iloc[0]
    assert raw["psi"] > 0.25 and pooled["psi"] < 0.05 and pooled["severity"] == "none"

    ref_counts = reference["country"].value_counts()
    top = ref_counts.index[:9]
    cur_counts = current["country"].value_counts().reindex(ref_counts.index, fill_value=0)
    ref_bins = np.append(ref_counts[top].to_numpy(), ref_counts.drop(top).sum()).astype(float)
    cur_bins = np.append(cur_counts[top].to_numpy(), cur_counts.drop(top).sum()).astype(float)
    expected_p, actual_p = np.clip(ref_bins / ref_bins.sum(), EPS, None), np.clip(cur_bins / cur_bins.sum(), EPS, None)
    assert pooled["psi"] == pytest.approx(np.sum((actual_p - expected_p) * np.log(actual_p / expected_p)), rel=1e-9)
    chi2 = stats.chi2_contingency(np.vstack([ref_bins, cur_bins]), correction=False)
    assert pooled["chi2_stat"] == pytest.approx(chi2.statistic, rel=1e-9)
