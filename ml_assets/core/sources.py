"""Reading the raw records of a range of days from daily landing files."""

from __future__ import annotations

from datetime import date, timedelta
from collections.abc import Callable
from pathlib import Path

import pandas as pd

READERS = {".csv": pd.read_csv, ".gz": pd.read_csv, ".parquet": pd.read_parquet}


def days_between(start: date, end: date) -> list[date]:
    """Every calendar day from start to end inclusive."""
    return [start + timedelta(days=offset) for offset in range((end - start).days + 1)]


def read_landing_file(path: Path) -> pd.DataFrame:
    """One landing file (CSV, CSV.gz or Parquet), with errors that name the file and what to do."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: landing file not found; generate it (`ml-assets demo`) or fix dataset.source.path")
    reader = READERS.get(path.suffix)
    if reader is None:
        raise ValueError(f"{path}: unsupported file type {path.suffix!r}; use .csv, .csv.gz or .parquet")
    try:
        return reader(path)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    except Exception as exc:
        raise ValueError(f"{path}: cannot be read ({type(exc).__name__}: {exc}); check the file is complete and in the format its name says") from exc


def read_days(path_for_day: Callable[[date], Path], start: date, end: date) -> pd.DataFrame:
    """Concatenate the landing files of start..end."""
    frames = [read_landing_file(path_for_day(day)) for day in days_between(start, end)]
    frames = [frame for frame in frames if not frame.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
