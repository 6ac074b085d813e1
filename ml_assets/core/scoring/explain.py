"""Reason codes: the features pushing each score up most, from XGBoost's own SHAP contributions.

Texts are built with Arrow compute (no Python string per row), so codes for a million rows stay cheap.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import xgboost as xgb

from ml_assets.core.data.features import model_matrix
from ml_assets.core.scoring.clustering import category_index, cutpoints_for
from ml_assets.core.sections import ScoringSections
from ml_assets.core.training.record import ScoringMeta
from ml_assets.spec import ClusteringSpec, ScoringSpec

MISSING_TEXT = "missing"


def contributions(booster: xgb.Booster, matrix: pd.DataFrame, best_iteration: int, approximate: bool) -> np.ndarray:
    """Each feature's contribution to each row's log-odds (bias column dropped): exact TreeSHAP, or with
    `approximate` Saabas attributions (approx_contribs), which cost about as much as a prediction."""
    if matrix.empty:
        return np.zeros((0, matrix.shape[1]), dtype="float32")
    values = booster.predict(xgb.DMatrix(matrix, enable_categorical=True), pred_contribs=True,
                             approx_contribs=approximate, iteration_range=(0, best_iteration + 1))
    return values[:, :-1]


def readable_texts(name: str, values: pd.Series) -> pa.Array:
    """'name = value' per value: numbers rounded for reading (whole from 100, one decimal from 1, else three
    decimals), text as it is, missing values as 'missing'."""
    if pd.api.types.is_numeric_dtype(values):
        numbers = values.to_numpy(dtype="float64", na_value=np.nan)
        size = np.abs(numbers)
        rounded = np.where(size >= 100, np.round(numbers), np.where(size >= 1, np.round(numbers, 1), np.round(numbers, 3)))
        text = pa.array(rounded + 0.0, from_pandas=True).cast(pa.string())  # + 0.0 turns -0.0 into 0.0
    else:
        text = pa.array(values.astype("string"), type=pa.string(), from_pandas=True)
    return pc.binary_join_element_wise(f"{name} = ", pc.fill_null(text, MISSING_TEXT), "")


def reason_codes(contribs: np.ndarray, values: pd.DataFrame, columns: list[str]) -> dict[str, pa.Array]:
    """Per row, the features with the largest positive contributions as 'feature = value' texts, strongest
    in the first column (null where fewer features push the score up). `values` holds the features in the
    order of the contribution columns."""
    count = min(len(columns), contribs.shape[1])
    order = np.argsort(-contribs, axis=1, kind="stable")[:, :count]
    feature = np.where(np.take_along_axis(contribs, order, axis=1) > 0, order, -1)
    position, pieces, offset = np.full(feature.shape, -1, dtype="int64"), [], 0
    for j, name in enumerate(values.columns):
        row, slot = np.nonzero(feature == j)  # row-major: rows ascending
        needed = row[np.r_[True, row[1:] != row[:-1]]] if len(row) else row
        pieces.append(readable_texts(name, values[name].iloc[needed]))
        position[row, slot] = offset + np.searchsorted(needed, row)
        offset += len(needed)
    texts = pa.concat_arrays(pieces) if pieces else pa.array([], pa.string())
    codes = {column: pc.take(texts, pa.array(position[:, s], mask=position[:, s] < 0))
             for s, column in enumerate(columns[:count])}
    return codes | {column: pa.nulls(len(contribs), pa.string()) for column in columns[count:]}


def rows_to_explain(scores: np.ndarray, days: pd.Series, stored_cutpoints: list[float], scoring: ScoringSpec,
                    clustering: ClusteringSpec, model: str) -> np.ndarray:
    """True for rows whose score falls in a category of scoring.reason_codes.categories (all rows when unset);
    cut like risk_clusters cuts them (per day with `cutpoints: batch`)."""
    categories = scoring.reason_codes.categories
    if categories is None:
        return np.ones(len(scores), dtype=bool)
    wanted = np.isin(np.asarray(clustering.labels, dtype=object), categories)
    chosen = np.zeros(len(scores), dtype=bool)
    batches = days.groupby(days.to_numpy()).indices.values() if clustering.cutpoints == "batch" else [slice(None)]
    for rows in batches:
        cutpoints = cutpoints_for(scores[rows], stored_cutpoints, clustering, model)
        chosen[rows] = wanted[category_index(scores[rows], cutpoints)]
    return chosen


def reason_frame(rows: pd.DataFrame, scores: np.ndarray, booster: xgb.Booster, meta: ScoringMeta,
                 spec: ScoringSections, model: str, matrix: pd.DataFrame | None = None) -> pd.DataFrame:
    """reason_1 .. reason_<count> of one segment's rows (same order): codes for the rows the spec asks to
    explain, null for the others. `matrix`: the rows' model matrix when already built."""
    chosen = np.flatnonzero(rows_to_explain(scores, rows[spec.dataset.date], meta.cutpoints, spec.scoring,
                                            spec.clustering, model))
    subset = rows.iloc[chosen]
    matrix = model_matrix(subset, spec.features, meta.vocabulary) if matrix is None else matrix.iloc[chosen]
    approximate = spec.scoring.reason_codes.method == "approx"
    codes = reason_codes(contributions(booster, matrix, meta.best_iteration, approximate), subset[matrix.columns],
                         spec.scoring.reason_columns())
    return pd.DataFrame({column: spread(texts, chosen, len(rows)) for column, texts in codes.items()})


def spread(values: pa.Array, positions: np.ndarray, length: int) -> pd.arrays.ArrowExtensionArray:
    """A column of `length` rows holding `values` at `positions` and nulls elsewhere."""
    index = np.full(length, -1, dtype="int64")
    index[positions] = np.arange(len(positions))
    return pd.arrays.ArrowExtensionArray(pc.take(values, pa.array(index, mask=index < 0)))
