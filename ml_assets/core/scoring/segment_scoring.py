"""One segment's daily scoring step: calibrated scores from its model, reason codes and similar past customers.

The predictions asset and benchmarks/scoring.py both call `score_segment`, so the benchmark measures what runs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import xgboost as xgb

from ml_assets.core.data.features import SEGMENT_COLUMN, model_matrix
from ml_assets.core.scoring.explain import reason_frame
from ml_assets.core.scoring.scores import SCORE_COLUMN, empty_predictions, scored_columns
from ml_assets.core.scoring.similar import SIMILAR_COLUMNS, SimilarIndex, similar_frame
from ml_assets.core.sections import ScoringSections
from ml_assets.core.training.record import ScoringMeta
from ml_assets.spec import ScoringSpec


def explanation_columns(scoring: ScoringSpec) -> list[str]:
    """Columns `score_segment` adds beside the scores: reason codes, then similar past customers."""
    return scoring.reason_columns() + SIMILAR_COLUMNS


def score_segment(rows: pd.DataFrame, booster: xgb.Booster, meta: ScoringMeta, model_name: str,
                  model_version: str, spec: ScoringSections, index: SimilarIndex | None) -> pd.DataFrame:
    """One segment's rows scored by its model, with reason codes and (for the top rows of each day, when an
    index is given) similar past customers; built as one frame from its columns."""
    matrix = model_matrix(rows, spec.features, meta.vocabulary)
    columns = scored_columns(rows, matrix, booster, meta, model_name, model_version, spec)
    segment = str(rows[SEGMENT_COLUMN].iat[0]) if len(rows) else ""
    constants = {SEGMENT_COLUMN: segment, "model_name": model_name, "model_version": str(model_version)}
    for column, value in constants.items():  # one value per segment: Arrow strings, cheap to group and store
        columns[column] = constant_text(value, len(rows))
    scores = np.asarray(columns[SCORE_COLUMN], dtype="float64")
    reasons = reason_frame(rows, scores, booster, meta, spec, f"{model_name} v{model_version}", matrix)
    similar = similar_frame(rows, scores, booster, meta, spec, index)
    return pd.DataFrame(columns | dict(reasons.items()) | dict(similar.items()))


def constant_text(value: str, length: int) -> pd.arrays.ArrowExtensionArray:
    """A text column holding `value` on every row."""
    return pd.arrays.ArrowExtensionArray(pa.repeat(pa.scalar(value, pa.string()), length))


def empty_scores(spec: ScoringSections) -> pd.DataFrame:
    """A scored table with no rows but every column `score_segment` returns."""
    return empty_predictions(spec).assign(**{column: None for column in explanation_columns(spec.scoring)})
