"""Scoring a day's features with a segment's model."""

from __future__ import annotations

from typing import Any

import pandas as pd
import xgboost as xgb

from ml_assets.core.features import SEGMENT_COLUMN, model_matrix
from ml_assets.core.modeling import predict
from ml_assets.spec import PipelineSpec

SCORE_COLUMN = "score"


def passthrough_columns(spec: PipelineSpec) -> list[str]:
    """Feature columns kept beside the score because clustering and reports need them."""
    wanted = [spec.clustering.group_column]
    if spec.features.engineered.new_customer:
        wanted.append(spec.features.engineered.new_customer.name)
    return [column for column in wanted if column]


def prediction_columns(spec: PipelineSpec) -> list[str]:
    """Columns of the predictions table, in order."""
    ds = spec.dataset
    return [ds.id, ds.date, SEGMENT_COLUMN, ds.target, SCORE_COLUMN, "model_name", "model_version",
            *passthrough_columns(spec)]


def score_rows(rows: pd.DataFrame, booster: xgb.Booster, meta: dict[str, Any], model_name: str,
               model_version: str, spec: PipelineSpec) -> pd.DataFrame:
    """Scores of one segment's rows with the model that made them."""
    matrix = model_matrix(rows, spec, meta["vocabulary"])
    scored = rows[[c for c in prediction_columns(spec) if c in rows.columns]].copy()
    scored[SCORE_COLUMN] = predict(booster, matrix, meta["best_iteration"])
    scored["model_name"] = model_name
    scored["model_version"] = str(model_version)
    return scored[prediction_columns(spec)]


def empty_predictions(spec: PipelineSpec) -> pd.DataFrame:
    """A predictions table with no rows but the right columns."""
    return pd.DataFrame({column: pd.Series(dtype=object) for column in prediction_columns(spec)})
