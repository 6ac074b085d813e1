"""Risk categories from score cut-points, group labels (e.g. estrato 1-2) and new-customer marks."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml_assets.spec import ClusteringSpec


def risk_category(scores: np.ndarray, cutpoints: list[float], labels: list[str]) -> np.ndarray:
    """Label of each score: scores at or above cut-point i fall into labels[i + 1]."""
    index = np.searchsorted(np.asarray(cutpoints, dtype="float64"), np.asarray(scores, dtype="float64"), side="right")
    return np.asarray(labels, dtype=object)[index]


def group_label(values: pd.Series, groups: dict[str, list[str | int]]) -> pd.Series:
    """Name of the group each value belongs to (compared as text); None when it is in no group."""
    lookup = {str(value): name for name, members in groups.items() for value in members}
    return _as_text(values).map(lookup).astype(object)


def _as_text(values: pd.Series) -> pd.Series:
    """Values as text, whole floats without a decimal part (3.0 -> '3'), so they match config values."""
    if pd.api.types.is_float_dtype(values) and bool((values.dropna() % 1 == 0).all()):
        values = values.astype("Int64")
    return values.astype("string")


def assign_clusters(scores: np.ndarray, cutpoints: list[float], group_values: pd.Series | None,
                    is_new_customer: pd.Series | None, spec: ClusteringSpec) -> pd.DataFrame:
    """risk_category, group and risk_cluster (the category, or the new-customer label) per row."""
    category = risk_category(scores, cutpoints, spec.labels)
    out = pd.DataFrame({"risk_category": category})
    out["group"] = group_label(group_values, spec.groups).to_numpy() if group_values is not None else None
    new = is_new_customer.fillna(0).to_numpy() > 0 if is_new_customer is not None else np.zeros(len(out), bool)
    out["risk_cluster"] = np.where(new, spec.new_customer_label, category)
    return out
