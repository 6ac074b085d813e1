"""Scoring a day's features with a segment's model."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from ml_assets.core.calibration import apply_calibration
from ml_assets.core.features import SEGMENT_COLUMN, model_matrix
from ml_assets.core.modeling import predict
from ml_assets.spec import PipelineSpec

SCORE_COLUMN = "score"


def passthrough_columns(spec: PipelineSpec) -> list[str]:
    """Feature columns kept beside the score because clustering and reports need them."""
    wanted = [spec.clustering.group_column]
    if spec.features.engineered.new_customer:
        wanted.append(spec.features.engineered.new_customer.name)
    if spec.clustering.arrears:
        wanted.append(spec.clustering.arrears.column)
    wanted += [c for c in spec.scoring.report_columns or [] if c in spec.feature_columns()]
    return list(dict.fromkeys(column for column in wanted if column))


def prediction_columns(spec: PipelineSpec) -> list[str]:
    """Columns of the predictions table, in order."""
    ds = spec.dataset
    return [ds.id, ds.date, SEGMENT_COLUMN, ds.target, SCORE_COLUMN, "model_name", "model_version",
            *passthrough_columns(spec)]


def model_scores(booster: xgb.Booster, matrix: pd.DataFrame, meta: dict[str, Any]) -> np.ndarray:
    """A registered model's probabilities: the booster's, through the calibration stored in its metadata."""
    return apply_calibration(predict(booster, matrix, meta["best_iteration"]), meta.get("calibration"))


def score_rows(rows: pd.DataFrame, booster: xgb.Booster, meta: dict[str, Any], model_name: str,
               model_version: str, spec: PipelineSpec) -> pd.DataFrame:
    """Scores of one segment's rows with the model that made them."""
    matrix = model_matrix(rows, spec, meta["vocabulary"])
    scored = rows[[c for c in prediction_columns(spec) if c in rows.columns]].copy()
    scored[SCORE_COLUMN] = model_scores(booster, matrix, meta)
    scored["model_name"] = model_name
    scored["model_version"] = str(model_version)
    return scored[prediction_columns(spec)]


def empty_predictions(spec: PipelineSpec) -> pd.DataFrame:
    """A predictions table with no rows but the right columns (typed where the type is known)."""
    known = {spec.dataset.date: "datetime64[ns]", SCORE_COLUMN: "float64"}
    return pd.DataFrame({column: pd.Series(dtype=known.get(column, object)) for column in prediction_columns(spec)})
