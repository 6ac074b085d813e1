"""Risk categories from score cut-points, group labels (e.g. estrato 1-2), new-customer and arrears marks."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml_assets.core.scoring.scores import SCORE_COLUMN
from ml_assets.core.sections import ScoringSections
from ml_assets.core.training.modeling import score_cutpoints
from ml_assets.spec import ArrearsRule, ClusteringSpec

CLUSTER_COLUMNS = ["risk_category", "group", "in_arrears", "risk_cluster"]
MODEL_KEYS = ["model_name", "model_version"]


def category_index(scores: np.ndarray, cutpoints: list[float]) -> np.ndarray:
    """Position of each score's category in the labels: the number of cut-points at or below it, so scores at
    or above cut-point i fall into category i + 1."""
    return np.searchsorted(np.asarray(cutpoints, dtype="float64"), np.asarray(scores, dtype="float64"), side="right")


def cutpoints_for(scores: np.ndarray, stored: list[float], spec: ClusteringSpec, model: str) -> list[float]:
    """Cut-points of one batch of a model's scores: those stored with the model version, or with
    `cutpoints: batch` the spec's quantiles of the batch's own scores."""
    if spec.cutpoints == "batch":
        return score_cutpoints(scores, spec.quantiles)
    if len(stored) != len(spec.labels) - 1:
        raise ValueError(f"{model} stores {len(stored)} cut-points but clustering.labels has {len(spec.labels)} "
                         "labels; retrain the segment with the current clustering.quantiles or set "
                         "clustering.cutpoints: batch")
    return stored


def group_label(values: pd.Series, groups: dict[str, list[str | int]]) -> pd.Series:
    """Name of the group each value belongs to (compared as text), as a categorical; missing when in no group."""
    lookup = {str(value): position for position, members in enumerate(groups.values()) for value in members}
    codes, uniques = pd.factorize(values)
    group_of = np.array([lookup.get(_value_text(value), -1) for value in uniques] + [-1], dtype="int64")
    return pd.Series(pd.Categorical.from_codes(group_of[codes], categories=list(groups)), index=values.index)


def cluster_labels(spec: ClusteringSpec) -> list[str]:
    """Every value risk_cluster can take: the categories, then the new-customer and arrears labels."""
    extra = [spec.new_customer_label] + ([spec.arrears.label] if spec.arrears and spec.arrears.label else [])
    return list(dict.fromkeys(spec.labels + extra))


def _value_text(value: object) -> str | None:
    """One value as text: None for missing, '3' for 3.0, so it matches config values."""
    if pd.isna(value):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def in_arrears(values: pd.Series, rule: ArrearsRule) -> np.ndarray:
    """True where the rule's column is above its threshold (missing values are not in arrears)."""
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan) > rule.above


def assign_clusters(scores: np.ndarray, cutpoints: list[float], group_values: pd.Series | None,
                    is_new_customer: pd.Series | None, spec: ClusteringSpec,
                    arrears_values: pd.Series | None = None) -> pd.DataFrame:
    """risk_category (raised to the arrears rule's minimum for rows in arrears), group, in_arrears and
    risk_cluster: the arrears label, else the new-customer label, else the category (categoricals)."""
    index = category_index(scores, cutpoints)
    rule, labels = spec.arrears, cluster_labels(spec)
    arrears = in_arrears(arrears_values, rule) if rule and arrears_values is not None else np.zeros(len(index), bool)
    if rule and rule.min_category:
        index = np.where(arrears, np.maximum(index, spec.labels.index(rule.min_category)), index)
    new = is_new_customer.fillna(0).to_numpy() > 0 if is_new_customer is not None else np.zeros(len(index), bool)
    cluster = np.where(new, labels.index(spec.new_customer_label), index)  # categories come first in `labels`
    if rule and rule.label:
        cluster = np.where(arrears, labels.index(rule.label), cluster)
    groups = (group_label(group_values, spec.groups).array if group_values is not None
              else pd.Categorical.from_codes(np.full(len(index), -1), categories=list(spec.groups)))
    return pd.DataFrame({"risk_category": pd.Categorical.from_codes(index, categories=spec.labels), "group": groups,
                         "in_arrears": arrears, "risk_cluster": pd.Categorical.from_codes(cluster, categories=labels)})


def cluster_table(predictions: pd.DataFrame, stored_cutpoints: dict[tuple[str, str], list[float]],
                  spec: ScoringSections) -> pd.DataFrame:
    """Predictions with the cluster columns, cut per model version (and per day with `cutpoints: batch`);
    `stored_cutpoints` maps (model name, version) to the cut-points stored with that version."""
    clustering, flag = spec.clustering, spec.features.engineered.new_customer
    keys = MODEL_KEYS + ([spec.dataset.date] if clustering.cutpoints == "batch" else [])
    group, new, arrears = clustering.group_column, flag.name if flag else None, getattr(clustering.arrears, "column", None)
    inputs = predictions[list(dict.fromkeys(c for c in (SCORE_COLUMN, group, new, arrears) if c))]
    parts, positions = [], []
    for key, rows_at in predictions.groupby(keys, sort=False).indices.items():
        rows = inputs.iloc[rows_at]
        name, version = str(key[0]), str(key[1])
        scores = rows[SCORE_COLUMN].to_numpy(dtype="float64")
        cutpoints = cutpoints_for(scores, stored_cutpoints[(name, version)], clustering, f"{name} v{version}")
        parts.append(assign_clusters(scores, cutpoints, _column(rows, group), _column(rows, new), clustering,
                                     _column(rows, arrears)))
        positions.append(rows_at)
    if not parts:
        return predictions.assign(**{column: None for column in CLUSTER_COLUMNS})
    assigned = pd.concat(parts, ignore_index=True).iloc[np.argsort(np.concatenate(positions), kind="stable")]
    return predictions.reset_index(drop=True).assign(**{column: assigned[column].array for column in CLUSTER_COLUMNS})


def _column(rows: pd.DataFrame, name: str | None) -> pd.Series | None:
    """A column of `rows`, or None when no column is configured."""
    return rows[name] if name else None
