"""Fingerprint of the data a model was trained on: the partitions used, row counts and a hash."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd


def frame_hash(frame: pd.DataFrame) -> str:
    """Order-independent hash of a frame's rows."""
    return f"{int(pd.util.hash_pandas_object(frame, index=False).sum()) & 0xFFFFFFFFFFFF:012x}"


def partition_dates(frame: pd.DataFrame, date_column: str) -> list[str]:
    """The distinct record dates (daily partitions) a frame holds, in order (only distinct days are formatted,
    not every row)."""
    return sorted(f"{day:%Y-%m-%d}" for day in pd.to_datetime(frame[date_column]).dt.normalize().dropna().unique())


@dataclass(frozen=True)
class DataFingerprint:
    """Partitions used (count, first and last day), rows, positives and the hash of a training set."""

    partitions_used: int
    first: str | None
    last: str | None
    rows: int
    positives: int
    hash: str

    def as_dict(self) -> dict[str, Any]:
        """JSON form kept in the model record and logged as data_fingerprint.json."""
        return asdict(self)

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> DataFingerprint:
        """Read the stored form (`as_dict()`)."""
        return cls(int(document["partitions_used"]), document["first"], document["last"], int(document["rows"]),
                   int(document["positives"]), str(document["hash"]))


def data_fingerprint(frame: pd.DataFrame, date_column: str, target: str) -> DataFingerprint:
    """Partitions used (count, first, last), rows, positives and the hash of a training set."""
    return fingerprint_of(frame, partition_dates(frame, date_column), target)


def fingerprint_of(frame: pd.DataFrame, dates: list[str], target: str) -> DataFingerprint:
    """The fingerprint of a frame whose distinct record dates (`partition_dates`) are known."""
    return DataFingerprint(len(dates), dates[0] if dates else None, dates[-1] if dates else None, len(frame),
                           int(frame[target].sum()), frame_hash(frame))


@dataclass(frozen=True)
class TrainingData:
    """A training set's fingerprint and the daily partitions it holds, as its run logs them."""

    fingerprint: DataFingerprint
    partitions: list[str]

    def as_dict(self) -> dict[str, Any]:
        """JSON form logged as data_fingerprint.json: the fingerprint's fields, then the partitions."""
        return {**self.fingerprint.as_dict(), "partitions": self.partitions}


def training_data(frame: pd.DataFrame, date_column: str, target: str) -> TrainingData:
    """The fingerprint and partitions of a training set (its dates formatted once for both)."""
    dates = partition_dates(frame, date_column)
    return TrainingData(fingerprint_of(frame, dates, target), dates)
