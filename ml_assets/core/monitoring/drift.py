"""Drift statistics between a reference and a current sample: PSI, KS, chi-square, Wasserstein,
and the severity bands built on their effect sizes (at a million rows every p-value is about 0).

The reference side is a `ReferenceProfile` (quantile bin edges and counts, category counts, sorted
values), built once per model version, so daily drift never touches the training data again.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import pandas as pd
from scipy import stats

from ml_assets.spec import ThresholdSpec

SEVERITIES = ("none", "low", "moderate", "high")
DRIFT_COLUMNS = ["feature", "kind", "psi", "ks_stat", "chi2_stat", "chi2_pvalue",
                 "wasserstein", "ref_rows", "cur_rows", "severity"]
PARALLEL_MIN_ROWS = 100_000  # below this many rows a thread per column costs more than it saves
DISCRETE_SHARE = 16  # KS/Wasserstein from distinct values when there are at most 1/16 as many as rows
T = TypeVar("T")


@dataclass(frozen=True)
class NumericReference:
    """Reference of a numeric column: interior quantile edges, counts per bin (missing last), and its
    non-missing values sorted (all of them, or a random sample for KS and Wasserstein)."""

    edges: np.ndarray
    counts: np.ndarray
    sorted_values: np.ndarray
    rows: int


@dataclass(frozen=True)
class CategoricalReference:
    """Reference of a categorical column: count per category (as text) and count of missing values."""

    counts: dict[str, int]
    missing: int
    rows: int


@dataclass(frozen=True)
class ReferenceProfile:
    """Everything drift needs of a reference sample, per column."""

    numeric: dict[str, NumericReference]
    categorical: dict[str, CategoricalReference]


@dataclass(frozen=True)
class UnseenValues:
    """The values of a column that its reference never held, and the share of the current rows (with a value)
    holding them: a calendar part's months or weeks outside the training window, which the model never fitted."""

    share: float
    values: tuple[str, ...]


def unseen_values(reference: NumericReference | CategoricalReference, current: pd.Series) -> UnseenValues:
    """The current values absent from a reference (a numeric one by its sorted values: all of them up to
    drift.reference_sample_rows rows, a sample above); share NaN when no current row has a value."""
    if isinstance(reference, CategoricalReference):
        present = current.dropna().astype(str).to_numpy()
        known = np.array(list(reference.counts), dtype=object)
    else:
        values = _as_float(current)
        present, known = values[~np.isnan(values)], reference.sorted_values
    unseen = ~np.isin(present, known)
    share = float(unseen.mean()) if present.size else float("nan")
    return UnseenValues(share, tuple(_value_text(value) for value in sorted(set(present[unseen].tolist()))))


def _value_text(value: object) -> str:
    """A feature value as text: whole floats without their '.0' (week 27, not 27.0)."""
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def quantile_bin_edges(reference: np.ndarray, bins: int = 10) -> np.ndarray:
    """Interior cut-points at reference quantiles (unique, NaN dropped)."""
    return _sorted_quantile_edges(_sorted_without_nan(reference), bins)


def numeric_reference(values: np.ndarray, bins: int = 10, max_sorted: int | None = None,
                      seed: int = 0) -> NumericReference:
    """Profile of one numeric column; bins and counts use every value, the sorted values are a random
    sample of at most `max_sorted` (None: all)."""
    values = np.asarray(values, dtype="float64")
    finite = _sorted_without_nan(values)
    edges = _sorted_quantile_edges(finite, bins)
    counts = _sorted_bin_counts(finite, edges, values.size - finite.size)
    return NumericReference(edges, counts, _sorted_subsample(finite, max_sorted, seed), int(values.size))


def categorical_reference(values: pd.Series) -> CategoricalReference:
    """Profile of one categorical column: counts of the present categories (keyed as text) and of missing."""
    counts = values.value_counts(dropna=False, sort=False)
    missing = counts.index.isna()
    by_text: dict[str, int] = {}
    for key, n in counts[~missing & (counts.to_numpy() > 0)].items():
        by_text[str(key)] = by_text.get(str(key), 0) + int(n)
    return CategoricalReference(by_text, int(counts[missing].sum()), len(values))


def build_profile(frame: pd.DataFrame, numeric: list[str], categorical: list[str], bins: int = 10,
                  max_sorted: int | None = None, seed: int = 0) -> ReferenceProfile:
    """Reference profile of the given columns of a frame (columns in parallel threads on large frames)."""
    numeric_refs = _map_columns(lambda c: numeric_reference(_as_float(frame[c]), bins, max_sorted, seed),
                                numeric, len(frame))
    categorical_refs = _map_columns(lambda c: categorical_reference(frame[c]), categorical, len(frame))
    return ReferenceProfile(dict(zip(numeric, numeric_refs)), dict(zip(categorical, categorical_refs)))


def psi_from_counts(ref_counts: np.ndarray, cur_counts: np.ndarray, eps: float = 1e-4) -> float:
    """Population stability index; proportions clipped at eps so empty bins stay finite."""
    ref_total, cur_total = np.sum(ref_counts), np.sum(cur_counts)
    if ref_total == 0 or cur_total == 0:
        return float("nan")
    expected = np.clip(np.asarray(ref_counts) / ref_total, eps, None)
    actual = np.clip(np.asarray(cur_counts) / cur_total, eps, None)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def psi_numeric(reference: np.ndarray, current: np.ndarray, edges: np.ndarray) -> float:
    """PSI over the bins defined by interior `edges` (np.searchsorted on sorted arrays, side='right');
    NaNs form their own bin."""
    return psi_from_counts(_bin_counts(reference, edges), _bin_counts(current, edges))


def psi_categorical(reference: pd.Series, current: pd.Series) -> float:
    """PSI over categories (union of both sides; unseen categories counted; missing as its own category)."""
    return psi_from_counts(*_aligned_counts(categorical_reference(reference), categorical_reference(current)))


def ks_statistic(reference: np.ndarray, current: np.ndarray) -> float:
    """Two-sample KS statistic, equal to scipy.stats.ks_2samp's; NaNs dropped, NaN when a side is empty.
    One merge of the two sorted samples (severity reads the effect size, so no p-value is computed)."""
    ref, cur = _sorted_without_nan(reference), _sorted_without_nan(current)
    if ref.size == 0 or cur.size == 0:
        return float("nan")
    return _ks_and_wasserstein(ref, cur)[0]


def chi_square(reference: pd.Series, current: pd.Series) -> tuple[float, float]:
    """Chi-square test of homogeneity on the 2 x k contingency table (scipy.stats.chi2_contingency,
    correction=False); statistic and p-value."""
    return _chi_square_from_counts(*_aligned_counts(categorical_reference(reference), categorical_reference(current)))


def wasserstein(reference: np.ndarray, current: np.ndarray) -> float:
    """1-D Wasserstein distance equal to scipy.stats.wasserstein_distance, from the same merge as KS;
    NaNs dropped, NaN when a side is empty."""
    ref, cur = _sorted_without_nan(reference), _sorted_without_nan(current)
    if ref.size == 0 or cur.size == 0:
        return float("nan")
    return _ks_and_wasserstein(ref, cur)[1]


def severity(value: float, thresholds: ThresholdSpec) -> str:
    """Severity band of one effect size; NaN (a statistic that does not apply or an empty side) is 'none'."""
    reached = sum(value >= cut for cut in (thresholds.low, thresholds.moderate, thresholds.high))
    return SEVERITIES[reached]


def overall_severity(severities: Iterable[str]) -> str:
    """Worst severity of a collection ('none' when empty)."""
    return max(severities, key=SEVERITIES.index, default="none")


def feature_drift_table(reference: pd.DataFrame, current: pd.DataFrame, numeric: list[str],
                        categorical: list[str], psi_thresholds: ThresholdSpec,
                        ks_thresholds: ThresholdSpec, bins: int = 10) -> pd.DataFrame:
    """One row per column (DRIFT_COLUMNS): PSI on reference-quantile bins, KS and Wasserstein for numeric
    columns, PSI and chi-square for categorical ones (the other statistics NaN), row counts, and the worst
    of the PSI and KS-statistic severities. An empty side gives NaN statistics and severity 'none'."""
    profile = build_profile(reference, numeric, categorical, bins)
    return profile_drift_table(profile, current, psi_thresholds, ks_thresholds)


def profile_drift_table(profile: ReferenceProfile, current: pd.DataFrame, psi_thresholds: ThresholdSpec,
                        ks_thresholds: ThresholdSpec, columns: list[str] | None = None,
                        category_bins: int | None = None) -> pd.DataFrame:
    """`feature_drift_table` against a stored profile: one row per profiled column (or per name in
    `columns`), numeric columns first; `current` must hold those columns. With `category_bins`, a categorical
    column with more categories is compared on that many bins (see `pooled_counts`)."""
    wanted = list(profile.numeric) + list(profile.categorical) if columns is None else columns
    _require_profiled(profile, wanted)
    missing = [column for column in wanted if column not in current.columns]
    if missing:
        raise KeyError(f"current data lacks the profiled columns {missing}; pass a frame that holds them")
    numeric = [column for column in wanted if column in profile.numeric]
    categorical = [column for column in wanted if column in profile.categorical]
    rows = _map_columns(lambda c: {"feature": c, "kind": "numeric", "ref_rows": profile.numeric[c].rows,
                                   **_numeric_drift(profile.numeric[c], _as_float(current[c]))},
                        numeric, len(current))
    rows += _map_columns(lambda c: {"feature": c, "kind": "categorical", "ref_rows": profile.categorical[c].rows,
                                    **_categorical_drift(profile.categorical[c], current[c], category_bins)},
                         categorical, len(current))
    table = pd.DataFrame(rows, columns=DRIFT_COLUMNS)
    table["ref_rows"] = table["ref_rows"].astype("int64")
    table["cur_rows"] = len(current)
    table["severity"] = [overall_severity([severity(psi, psi_thresholds), severity(ks, ks_thresholds)])
                         for psi, ks in zip(table["psi"], table["ks_stat"])]
    return table


def same_period_drift_table(profile: ReferenceProfile, current: pd.DataFrame, columns: list[str],
                            psi_thresholds: ThresholdSpec, ks_thresholds: ThresholdSpec, bins: int = 10) -> pd.DataFrame:
    """`profile_drift_table` of calendar parts of the date, each against only the reference rows holding a value
    the current window holds (the same weeks, months or days): the reference side of a numeric column is its
    sorted sample restricted to those values, of a categorical one its counts of those categories."""
    _require_profiled(profile, columns)
    restricted = ReferenceProfile(
        {c: same_values_reference(profile.numeric[c], _as_float(current[c]), bins) for c in columns
         if c in profile.numeric},
        {c: same_categories_reference(profile.categorical[c], current[c]) for c in columns if c in profile.categorical})
    return profile_drift_table(restricted, current, psi_thresholds, ks_thresholds, columns=columns, category_bins=bins)


def same_values_reference(reference: NumericReference, current: np.ndarray, bins: int = 10) -> NumericReference:
    """A numeric reference rebuilt from the reference's sorted values that also occur in `current`."""
    values = reference.sorted_values
    kept = values[np.isin(values, current[~np.isnan(current)])]
    return numeric_reference(kept, bins)


def same_categories_reference(reference: CategoricalReference, current: pd.Series) -> CategoricalReference:
    """A categorical reference keeping only the categories that occur in `current` (no missing values)."""
    present = {str(value) for value in current.dropna().unique()}
    counts = {category: n for category, n in reference.counts.items() if category in present}
    return CategoricalReference(counts, 0, sum(counts.values()))


def _require_profiled(profile: ReferenceProfile, columns: list[str]) -> None:
    """Fail naming the columns a profile does not cover."""
    unknown = [column for column in columns if column not in profile.numeric and column not in profile.categorical]
    if unknown:
        raise KeyError(f"the reference profile has no columns {unknown}; rebuild it (retrain the model) "
                       "after adding features")


def _map_columns(compute: Callable[[str], T], columns: list[str], rows: int) -> list[T]:
    """`compute` for each column, in a thread per core when the data is large (numpy sorts release the GIL)."""
    if rows < PARALLEL_MIN_ROWS or len(columns) < 2:
        return [compute(column) for column in columns]
    with ThreadPoolExecutor(max_workers=min(len(columns), os.cpu_count() or 1)) as pool:
        return list(pool.map(compute, columns))


def _numeric_drift(reference: NumericReference, current: np.ndarray) -> dict[str, float]:
    """PSI on the reference bins, KS and Wasserstein against the reference's sorted values (NaN when a side
    is empty)."""
    cur = _sorted_without_nan(current)
    psi = psi_from_counts(reference.counts, _sorted_bin_counts(cur, reference.edges, current.size - cur.size))
    ref = reference.sorted_values
    if ref.size == 0 or cur.size == 0:
        return {"psi": psi, "ks_stat": np.nan, "wasserstein": np.nan}
    ks, distance = _ks_and_wasserstein(ref, cur)
    return {"psi": psi, "ks_stat": ks, "wasserstein": distance}


def pooled_counts(ref_counts: np.ndarray, cur_counts: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Aligned category counts on at most `bins` bins: the `bins - 1` largest reference categories and one bin
    pooling the rest (rare and unseen ones), so that, as with numeric quantile bins, a small current window's
    empty rare categories do not read as drift (with 177 countries, 350 rows of the same distribution give a
    PSI above 0.25 per category but about 0.02 pooled)."""
    if ref_counts.size <= bins:
        return ref_counts, cur_counts
    order = np.argsort(-ref_counts, kind="stable")
    kept, rest = order[:bins - 1], order[bins - 1:]
    return (np.append(ref_counts[kept], ref_counts[rest].sum()), np.append(cur_counts[kept], cur_counts[rest].sum()))


def _categorical_drift(reference: CategoricalReference, current: pd.Series,
                       bins: int | None = None) -> dict[str, float]:
    """PSI and chi-square of one categorical column, sharing one count table (pooled to `bins` when given)."""
    counts = _aligned_counts(reference, categorical_reference(current))
    counts = pooled_counts(*counts, bins) if bins else counts
    chi2_stat, chi2_pvalue = _chi_square_from_counts(*counts)
    return {"psi": psi_from_counts(*counts), "chi2_stat": chi2_stat, "chi2_pvalue": chi2_pvalue}


def _as_float(values: pd.Series) -> np.ndarray:
    """Column as a float64 array with missing values as NaN (also for nullable dtypes)."""
    return values.to_numpy(dtype="float64", na_value=np.nan)


def _sorted_without_nan(values: np.ndarray) -> np.ndarray:
    """Sorted float64 copy of `values` with NaNs dropped."""
    values = np.asarray(values, dtype="float64")
    missing = np.isnan(values)
    return np.sort(values[~missing] if missing.any() else values)


def _sorted_quantile_edges(sorted_values: np.ndarray, bins: int) -> np.ndarray:
    """Unique interior quantile cut-points of already sorted, NaN-free values."""
    if sorted_values.size == 0:
        return np.empty(0)
    return np.unique(np.quantile(sorted_values, np.linspace(0.0, 1.0, bins + 1)[1:-1]))


def _sorted_subsample(sorted_values: np.ndarray, max_rows: int | None, seed: int) -> np.ndarray:
    """A random subset of at most `max_rows` sorted values, still sorted (all of them when None)."""
    if max_rows is None or sorted_values.size <= max_rows:
        return sorted_values
    keep = np.random.default_rng(seed).choice(sorted_values.size, size=max_rows, replace=False)
    return sorted_values[np.sort(keep)]


def _bin_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts per bin of the interior `edges`, then the NaN count as the last bin."""
    values = np.asarray(values, dtype="float64")
    finite = _sorted_without_nan(values)
    return _sorted_bin_counts(finite, edges, values.size - finite.size)


def _sorted_bin_counts(sorted_values: np.ndarray, edges: np.ndarray, missing: int) -> np.ndarray:
    """Counts of sorted values per bin (x <= edge goes left), then `missing` as the last bin."""
    at_or_below = np.searchsorted(sorted_values, edges, side="right")
    return np.append(np.diff(at_or_below, prepend=0, append=sorted_values.size), missing)


def _aligned_counts(reference: CategoricalReference,
                    current: CategoricalReference) -> tuple[np.ndarray, np.ndarray]:
    """Counts per category over the union of both sides, missing values last; a bin empty on both
    sides (no missing values anywhere) is dropped."""
    categories = list(reference.counts) + [c for c in current.counts if c not in reference.counts]
    ref = np.array([reference.counts.get(c, 0) for c in categories] + [reference.missing], dtype="float64")
    cur = np.array([current.counts.get(c, 0) for c in categories] + [current.missing], dtype="float64")
    filled = (ref + cur) > 0
    return ref[filled], cur[filled]


def _chi_square_from_counts(ref_counts: np.ndarray, cur_counts: np.ndarray) -> tuple[float, float]:
    """Chi-square homogeneity test on two count vectors (NaN when a side is empty)."""
    if ref_counts.sum() == 0 or cur_counts.sum() == 0:
        return float("nan"), float("nan")
    result = stats.chi2_contingency(np.vstack([ref_counts, cur_counts]), correction=False)
    return float(result.statistic), float(result.pvalue)


def _ks_and_wasserstein(ref: np.ndarray, cur: np.ndarray) -> tuple[float, float]:
    """KS statistic and Wasserstein distance of two sorted, non-empty samples: the largest CDF gap read at
    the last of each run of tied values, and the area between the CDFs. Few distinct values (counts,
    codes, ratings): from the CDFs at each distinct value; otherwise from one merge of the samples."""
    if _distinct_count(ref) + _distinct_count(cur) <= (ref.size + cur.size) // DISCRETE_SHARE:
        return _ks_and_wasserstein_discrete(ref, cur)
    values, gap = _merged_cdf_gaps(ref, cur)
    np.abs(gap, out=gap)
    steps = np.diff(values)  # > 0 exactly where the next merged value differs: the last of its ties
    distance = float(np.dot(gap[:-1], steps))
    return max(float(np.max(gap[:-1], where=steps > 0, initial=0.0)), float(gap[-1])), distance


def _distinct_count(sorted_values: np.ndarray) -> int:
    """Number of distinct values of a sorted array."""
    return int(np.count_nonzero(sorted_values[1:] != sorted_values[:-1])) + 1


def _ks_and_wasserstein_discrete(ref: np.ndarray, cur: np.ndarray) -> tuple[float, float]:
    """KS and Wasserstein from both empirical CDFs at every distinct value of either sample (binary
    searches of the few distinct values, instead of a merge of every row)."""
    support = np.union1d(ref[np.append(ref[1:] != ref[:-1], True)], cur[np.append(cur[1:] != cur[:-1], True)])
    gap = np.abs(np.searchsorted(ref, support, side="right") / ref.size
                 - np.searchsorted(cur, support, side="right") / cur.size)
    return float(gap.max()), float(np.dot(gap[:-1], np.diff(support)))


def _merged_cdf_gaps(ref: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both sorted samples merged, with F_ref - F_cur (empirical CDFs) at every merged position. A stable
    argsort of two sorted runs is a linear-time merge; arrays are updated in place to spare memory.
    With s reference values among the first p merged ones, F_ref - F_cur = s (1/n + 1/m) - p/m."""
    combined = np.concatenate([ref, cur])
    order = np.argsort(combined, kind="stable")
    values = combined[order]
    counter = np.int32 if values.size < 2**31 else np.int64  # an int32 running count is faster than int64
    gap = np.cumsum(order < ref.size, dtype=counter) * (1.0 / ref.size + 1.0 / cur.size)
    del order, combined
    seen = np.arange(1.0, values.size + 1.0)
    seen /= cur.size
    gap -= seen
    return values, gap
