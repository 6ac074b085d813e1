"""IO manager that stores every partition of an asset as its own file in the lake.

Daily assets are split by their date column, so one run over a range of dates (a single-run
backfill) still stores one file per day; segment assets return a mapping segment -> value, a frame or a
typed record (stored as its `to_document()` JSON, read back through the input's annotated record type).

A range run holds only a chunk of days at a time when its daily assets ask for it: an input annotated
`DailyFrames` is a lazy view that reads the days asked for, and an asset that returns `StagedDays` has
written its output day by day into a staging folder, moved into place only when the whole range is done.
"""

import typing
import uuid
from dataclasses import dataclass
from datetime import date
from types import TracebackType
from typing import Any, Protocol

import dagster as dg
import numpy as np
import pandas as pd
from upath import UPath

from ml_assets.core.data import lake
from ml_assets.core.data.lake import DATE_DIMENSION, SEGMENT_DIMENSION
from ml_assets.core.data.sources import days_between

STAGING_PREFIX = ".staging-"  # hidden: stored_keys and the readers only see date=... folders


def _dimension(partitions_def: dg.PartitionsDefinition | None) -> str | None:
    """Folder prefix of a partitions definition: date=..., segment=..., or none."""
    if partitions_def is None:
        return None
    return DATE_DIMENSION if isinstance(partitions_def, dg.TimeWindowPartitionsDefinition) else SEGMENT_DIMENSION


@typing.runtime_checkable
class StoredRecord(Protocol):
    """A typed record an asset returns per partition: stored as its JSON document."""

    def to_document(self) -> dict[str, Any]: ...


def record_reader(context: dg.InputContext) -> Any:
    """The `from_document` of the record type an input is annotated with (`dict[str, <record type>]`)."""
    value_type = (typing.get_args(context.dagster_type.typing_type) or (None,))[-1]
    reader = getattr(value_type, "from_document", None)
    if reader is None:
        raise TypeError(f"input {context.name!r} reads the stored records of {context.asset_key.to_user_string()}: "
                        "annotate it as dict[str, <record type>] with the record class that stores them")
    return reader


def calendar_days(dates: pd.Series) -> np.ndarray:
    """Each row's calendar day as datetime64[D] (wall-clock day for timezone-aware dates). Dates already typed are
    not passed through pd.to_datetime, which samples a column's values one by one to decide on caching."""
    if not pd.api.types.is_datetime64_any_dtype(dates):
        dates = pd.to_datetime(dates)
    if dates.dt.tz is not None:
        dates = dates.dt.tz_localize(None)
    return dates.to_numpy().astype("datetime64[D]")


def split_by_date(frame: pd.DataFrame, date_column: str, keys: list[str]) -> dict[str, pd.DataFrame]:
    """One frame per partition key (YYYY-MM-DD); keys without rows get an empty frame.

    Rows are grouped on their day as a number and only the distinct days are formatted (formatting every
    row's date would be paid per row by every daily asset of a range run)."""
    days = calendar_days(frame[date_column])
    undated = int(np.isnat(days).sum())
    if undated:
        raise ValueError(f"{undated} rows have no {date_column}: every row of a daily asset needs its date")
    groups = {f"{day:%Y-%m-%d}": rows for day, rows in frame.groupby(days, sort=False)}
    stray = sorted(set(groups) - set(keys))
    if stray:
        raise ValueError(f"rows dated {stray[:3]} fall outside the partitions {keys[0]}..{keys[-1]} being written")
    return {key: groups.get(key, frame.iloc[0:0]).reset_index(drop=True) for key in keys}


@dataclass(frozen=True)
class DailyFrames:
    """The stored days of a daily input, read only when asked: a range run reads them a chunk of days at a time.

    Annotate an asset's input with this class to get it from `LakeIOManager`; a `pd.DataFrame` input gets the
    whole range at once."""

    folders: dict[str, UPath]  # partition key (YYYY-MM-DD) -> its folder, in date order
    lake_root: UPath  # the lake the input is stored in: `read_stored` reaches days outside `folders` there
    asset: str

    def read(self, first: date, last: date, columns: list[str] | None = None) -> pd.DataFrame:
        """The rows of the days first..last (inclusive) among those of the view, in date order; only `columns`
        (those stored) when given."""
        low, high = first.isoformat(), last.isoformat()
        return lake.read_frames([folder for key, folder in self.folders.items() if low <= key <= high], columns)

    def read_stored(self, first: date, last: date, columns: list[str] | None = None) -> pd.DataFrame:
        """The rows of the input's stored days first..last, in date order, skipping days never materialized: the
        trailing window of a run's first days reaches back before the partitions it was given."""
        days = [day.isoformat() for day in days_between(first, last)]
        return lake.read_frames([folder for folder in lake.day_dirs(self.lake_root, self.asset, days)
                                 if lake.stored_file(folder) is not None], columns)


class StagedDays:
    """A daily asset's output over a range, written a chunk at a time into a hidden staging folder of the asset
    (one file per day); `LakeIOManager` moves every day into its partition folder when the asset returns it.

    Use it as a context manager: leaving the block discards whatever is still staged, so a range that fails after
    some chunks (an error, a failed blocking check) leaves the stored partitions as they were."""

    def __init__(self, lake_dir: str | UPath, asset: str, date_column: str) -> None:
        self.root = lake.lake_path(lake_dir) / asset / f"{STAGING_PREFIX}{uuid.uuid4().hex}"
        self.date_column = date_column
        self.files: dict[str, UPath] = {}

    def add(self, frame: pd.DataFrame, first: date, last: date) -> None:
        """Stage one file per day first..last from `frame`'s rows (an empty file for a day without rows)."""
        keys = [day.isoformat() for day in days_between(first, last)]
        for key, part in split_by_date(frame, self.date_column, keys).items():
            self.files[key] = lake.write_frame(self.root / f"{DATE_DIMENSION}={key}", part)

    def commit(self, folders: dict[str, UPath]) -> None:
        """Move each staged day to its partition folder (`folders`: key -> folder, the same days), each move
        atomic (a rename locally, a manifest on an object store), then remove the staging folder."""
        if set(folders) != set(self.files):
            unstaged, extra = sorted(set(folders) - set(self.files)), sorted(set(self.files) - set(folders))
            raise ValueError(f"staged days do not match the partitions being written: missing {unstaged[:3]}, "
                             f"extra {extra[:3]}; stage every day of the run exactly once")
        for key, folder in folders.items():
            lake.commit_file(self.files[key], folder)
        self.discard()

    def discard(self) -> None:
        """Remove the staging folder and whatever it still holds."""
        if self.root.exists():
            self.root.fs.rm(self.root.path, recursive=True)
        self.files = {}

    def __enter__(self) -> "StagedDays":
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.discard()


def stored_document(context: dg.OutputContext, value: Any) -> dict[str, Any]:
    """The JSON document of a record output; TypeError naming the asset for anything else."""
    if not isinstance(value, StoredRecord):
        raise TypeError(f"{context.asset_key.to_user_string()} returned a {type(value).__name__} for a partition: "
                        "return a DataFrame or a typed record with to_document()")
    return value.to_document()


class LakeIOManager(dg.ConfigurableIOManager):
    """Parquet (frames) or JSON (records) per partition under `lake_dir` (a local path or fsspec URL)."""

    lake_dir: str
    date_column: str

    def _folder(self, asset_key: dg.AssetKey, dimension: str | None, key: str | None) -> UPath:
        return lake.partition_dir(lake.lake_path(self.lake_dir), asset_key.path[-1], dimension, key)

    def _pieces(self, context: dg.OutputContext, obj: Any) -> dict[str | None, Any]:
        """Split an output into the values of each partition it covers."""
        if not context.has_asset_partitions:
            return {None: obj}
        keys = list(context.asset_partition_keys)
        if _dimension(context.asset_partitions_def) == DATE_DIMENSION:
            return split_by_date(obj, self.date_column, keys)
        missing = set(keys) - set(obj)
        if missing:
            raise ValueError(f"{context.asset_key.to_user_string()} returned no value for partitions {sorted(missing)}")
        return {key: obj[key] for key in keys}

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        if obj is None:
            return
        if isinstance(obj, StagedDays):
            obj.commit({key: self._folder(context.asset_key, DATE_DIMENSION, key)
                        for key in context.asset_partition_keys})
            return
        dimension = _dimension(context.asset_partitions_def) if context.has_asset_partitions else None
        for key, value in self._pieces(context, obj).items():
            folder = self._folder(context.asset_key, dimension, key)
            if isinstance(value, pd.DataFrame):
                lake.write_frame(folder, value)
            else:
                lake.write_record(folder, stored_document(context, value))

    def load_input(self, context: dg.InputContext) -> Any:
        asset_key = context.asset_key
        if not context.has_asset_partitions:
            return lake.read_partition(self._folder(asset_key, None, None))
        dimension = _dimension(context.asset_partitions_def)
        keys = list(context.asset_partition_keys)
        if dimension == DATE_DIMENSION:
            folders = {key: self._folder(asset_key, dimension, key) for key in keys}
            if context.dagster_type.typing_type is DailyFrames:
                return DailyFrames(folders, lake.lake_path(self.lake_dir), asset_key.path[-1])
            return lake.read_frames(list(folders.values()))
        values = {key: lake.read_partition(self._folder(asset_key, dimension, key)) for key in keys}
        if any(isinstance(value, pd.DataFrame) for value in values.values()):
            return values
        reader = record_reader(context)
        return {key: reader(document) for key, document in values.items()}
