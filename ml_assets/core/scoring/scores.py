"""Scoring a day's features with a segment's model."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from ml_assets.core.data.features import SEGMENT_COLUMN
from ml_assets.core.sections import ScoringSections
from ml_assets.core.training.calibration import apply_calibration
from ml_assets.core.training.modeling import predict
from ml_assets.core.training.record import ScoringMeta

SCORE_COLUMN = "score"


def passthrough_columns(spec: ScoringSections) -> list[str]:
    """Feature columns kept beside the score because clustering and reports need them."""
    wanted = [spec.clustering.group_column]
    if spec.features.engineered.new_customer:
        wanted.append(spec.features.engineered.new_customer.name)
    if spec.clustering.arrears:
        wanted.append(spec.clustering.arrears.column)
    wanted += [c for c in spec.scoring.report_columns or [] if c in spec.features.model_columns()]
    return list(dict.fromkeys(column for column in wanted if column))


def prediction_columns(spec: ScoringSections) -> list[str]:
    """Columns of the predictions table, in order."""
    ds = spec.dataset
    return [ds.id, ds.date, SEGMENT_COLUMN, ds.target, SCORE_COLUMN, "model_name", "model_version",
            *passthrough_columns(spec)]


def model_scores(booster: xgb.Booster, matrix: pd.DataFrame, meta: ScoringMeta) -> np.ndarray:
    """A registered model's probabilities: the booster's, through the calibration stored in its metadata."""
    return apply_calibration(predict(booster, matrix, meta.best_iteration), meta.calibration)


def scored_columns(rows: pd.DataFrame, matrix: pd.DataFrame, booster: xgb.Booster, meta: ScoringMeta,
                   model_name: str, model_version: str, spec: ScoringSections) -> dict[str, Any]:
    """The predictions table's columns for one segment's rows (its model matrix given), in order, as arrays:
    the rows' own columns are not copied into an intermediate frame."""
    values = {column: rows[column].array for column in prediction_columns(spec) if column in rows.columns}
    values |= {SCORE_COLUMN: model_scores(booster, matrix, meta), "model_name": model_name,
               "model_version": str(model_version)}
    return {column: values[column] for column in prediction_columns(spec)}


def empty_predictions(spec: ScoringSections) -> pd.DataFrame:
    """A predictions table with no rows but the right columns (typed where the type is known)."""
    known = {spec.dataset.date: "datetime64[ns]", SCORE_COLUMN: "float64"}
    return pd.DataFrame({column: pd.Series(dtype=known.get(column, object)) for column in prediction_columns(spec)})
