"""Fingerprint of the data a model was trained on: the partitions used, row counts and a hash."""

from __future__ import annotations

from typing import Any

import pandas as pd


def frame_hash(frame: pd.DataFrame) -> str:
    """Order-independent hash of a frame's rows."""
    return f"{int(pd.util.hash_pandas_object(frame, index=False).sum()) & 0xFFFFFFFFFFFF:012x}"


def partition_dates(frame: pd.DataFrame, date_column: str) -> list[str]:
    """The distinct record dates (daily partitions) a frame holds, in order (only distinct days are formatted,
    not every row)."""
    return sorted(f"{day:%Y-%m-%d}" for day in pd.to_datetime(frame[date_column]).dt.normalize().dropna().unique())


def data_fingerprint(frame: pd.DataFrame, date_column: str, target: str) -> dict[str, Any]:
    """Partitions used (count, first, last), rows, positives and the hash of a training set."""
    dates = partition_dates(frame, date_column)
    return {"partitions_used": len(dates), "first": dates[0] if dates else None, "last": dates[-1] if dates else None,
            "rows": len(frame), "positives": int(frame[target].sum()), "hash": frame_hash(frame)}
