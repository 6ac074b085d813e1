"""Segment training on a Dask cluster: the booster of a segment too large for one machine is fitted with
xgboost.dask, its rows read by the workers, with dask.dataframe, from the feature partitions of the lake.

The trainer fits exactly the rows and the early-stopping slice the local trainer would (the booster's days of
the training part, the segment's rows, the early-stopping dates of `modeling.time_slices`), so the rest
of `modeling.fit_segment` (calibration, holdout metrics, baseline) is unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import dask.dataframe as dd
import pandas as pd
import xgboost as xgb
from distributed import Client
from xgboost import dask as xgb_dask

from ml_assets.core.data import lake
from ml_assets.core.data.features import SEGMENT_COLUMN, model_matrix
from ml_assets.core.data.fingerprint import partition_dates
from ml_assets.core.sections import TrainingSections
from ml_assets.core.training.modeling import BoosterTrainer, TrainingRows, booster_params
from ml_assets.spec import DatasetSpec, FeaturesSpec

if TYPE_CHECKING:
    from upath import UPath

FEATURES_ASSET = "features"
TARGET = "__target__"


def feature_files(lake_dir: UPath, days: list[str]) -> tuple[list[str], dict[str, Any]]:
    """Parquet files of the features partitions of `days` (paths or fsspec URLs) and their storage options."""
    folders = lake.day_dirs(lake_dir, FEATURES_ASSET, days)
    files = {str(folder): lake.stored_file(folder) for folder in folders}
    missing = [folder for folder, file in files.items() if file is None or file.suffix != ".parquet"]
    if missing:
        raise FileNotFoundError(f"distributed training reads features from the lake, but {len(missing)} day(s) are "
                                f"not stored, e.g. {missing[0]}: materialize features for those days first")
    return [str(file) for file in files.values()], dict(lake_dir.storage_options)


def read_segment_rows(files: list[str], storage_options: dict[str, Any], ds: DatasetSpec, features: FeaturesSpec,
                      segment: str) -> dd.DataFrame:
    """The segment's rows of the given feature files, one Dask partition per file, only the columns training uses."""
    columns = [ds.date, ds.target, SEGMENT_COLUMN, *features.model_columns()]
    frame = dd.read_parquet(files, columns=columns, storage_options=storage_options)
    return frame[frame[SEGMENT_COLUMN] == segment]


def matrix_and_target(rows: pd.DataFrame, features: FeaturesSpec, target: str,
                      vocabulary: dict[str, list[str]]) -> pd.DataFrame:
    """One partition's model matrix (categoricals on the training vocabulary) with the `target` column beside it."""
    return model_matrix(rows, features, vocabulary).assign(**{TARGET: rows[target].astype("float64")})


def dask_matrix(client: Client, rows: dd.DataFrame, spec: TrainingSections,
                vocabulary: dict[str, list[str]]) -> xgb_dask.DaskDMatrix:
    """The model matrix and target of `rows` on the workers, from one pass over each partition, so both have the
    same partitions (selected separately from the files, Dask would fuse the target column's files into fewer)."""
    data = rows.map_partitions(matrix_and_target, spec.features, spec.dataset.target, vocabulary)
    return xgb_dask.DaskDMatrix(client, data.drop(columns=TARGET), data[TARGET], enable_categorical=True)


def fit_booster(client: Client, fit_rows: dd.DataFrame, validation_rows: dd.DataFrame, spec: TrainingSections,
                params: dict[str, Any], vocabulary: dict[str, list[str]]) -> tuple[xgb.Booster, int]:
    """xgboost.dask training on `fit_rows` with early stopping on `validation_rows`."""
    output = xgb_dask.train(
        client, booster_params(params, spec.training.seed), dask_matrix(client, fit_rows, spec, vocabulary),
        num_boost_round=spec.model.num_boost_round, early_stopping_rounds=spec.model.early_stopping_rounds,
        evals=[(dask_matrix(client, validation_rows, spec, vocabulary), "validation")], verbose_eval=False)
    booster = output["booster"]
    return booster, int(booster.best_iteration)


def dask_trainer(client: Client, lake_dir: UPath, spec: TrainingSections, segment: str) -> BoosterTrainer:
    """A trainer for `modeling.fit_segment` that fits the segment's booster on the cluster of `client`, from the
    feature partitions in `lake_dir` of the same days, rows and early-stopping slice as the local trainer."""

    def segment_rows(days: list[str]) -> dd.DataFrame:
        return read_segment_rows(*feature_files(lake_dir, days), spec.dataset, spec.features, segment)

    def train(rows: TrainingRows, params: dict[str, Any]) -> tuple[xgb.Booster, int]:
        fit_days = partition_dates(rows.frame[rows.fit], spec.dataset.date)
        validation_days = partition_dates(rows.frame[rows.validation], spec.dataset.date)
        vocabulary = {column: list(rows.matrix[column].cat.categories) for column in spec.features.categorical}
        return fit_booster(client, segment_rows(fit_days), segment_rows(validation_days), spec, params, vocabulary)

    return train
