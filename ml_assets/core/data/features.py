"""Feature engineering: history averages, dates relative to the record date, parts of the record date, string
normalization, new-customer flags, and the segment each row belongs to."""

from __future__ import annotations

import unicodedata
from typing import Any

import numpy as np
import pandas as pd

from ml_assets.spec import DatasetSpec, FeaturesSpec

SEGMENT_COLUMN = "model_segment"
DAYS_PER_MONTH = 30.4375


def normalize_strings(values: pd.Series) -> pd.Series:
    """Lower-case, strip accents and collapse whitespace, so ' Bogotá' and 'BOGOTA' are one value."""
    categories = pd.Series(values.dropna().unique(), dtype=object)
    normalized = {raw: _normalize_one(str(raw)) for raw in categories}
    return values.map(normalized).astype(object).where(values.notna(), None)


def _normalize_one(text: str) -> str:
    """Normalize one string (NFKD, drop combining marks, lower, single spaces)."""
    decomposed = unicodedata.normalize("NFKD", text)
    ascii_text = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(ascii_text.lower().split())


def history_average(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    """Row-wise mean of previous-period columns, ignoring the periods that did not exist (NaN)."""
    return frame[columns].astype("float64").mean(axis=1, skipna=True)


def time_since(dates: pd.Series, reference_dates: pd.Series, unit: str) -> pd.Series:
    """Time from `dates` to `reference_dates` in days or months (negative when dates are later)."""
    days = (pd.to_datetime(reference_dates) - pd.to_datetime(dates)).dt.days.astype("float64")
    return days / DAYS_PER_MONTH if unit == "months" else days


def date_part(dates: pd.Series, part: str) -> pd.Series:
    """A part of each date (year, month, ISO week, day of the month, weekday with Monday 0) as floats."""
    values = pd.to_datetime(dates)
    parts = {"year": values.dt.year, "month": values.dt.month, "week": values.dt.isocalendar().week,
             "day": values.dt.day, "weekday": values.dt.weekday}
    return parts[part].astype("float64")


def assign_segments(values: pd.Series, dataset: DatasetSpec) -> pd.Series:
    """Segment name of each row from the spec's value groups; rows matching no group get None."""
    lookup = {str(value): name for name, group in dataset.segments.items() for value in group}
    segments = values.astype(str).map(lookup).astype(object)
    return segments.where(segments.notna() & values.notna(), None)


def input_columns(ds: DatasetSpec, features: FeaturesSpec) -> list[str]:
    """The raw columns `build_features` reads (a stored range can be read back with only these)."""
    eng = features.engineered
    columns = [ds.id, ds.date, ds.target, ds.segment, *features.numeric, *features.categorical,
               *(column for average in eng.history_averages for column in average.columns),
               *(since.column for since in eng.days_since)]
    return list(dict.fromkeys(columns))


def build_features(raw: pd.DataFrame, ds: DatasetSpec, features: FeaturesSpec) -> pd.DataFrame:
    """Model-ready table: keys, segment, target and every feature the features section asks for."""
    eng = features.engineered
    out = raw[[ds.id, ds.date, ds.target]].copy()
    out[SEGMENT_COLUMN] = assign_segments(raw[ds.segment], ds)
    for column in features.numeric:
        out[column] = pd.to_numeric(raw[column], errors="coerce").astype("float64")
    for column in features.categorical:
        values = raw[column].astype(object).where(raw[column].notna(), None)
        out[column] = normalize_strings(values) if column in eng.normalize_strings else values.map(
            lambda v: None if v is None else str(v))
    for average in eng.history_averages:
        out[average.name] = history_average(raw, average.columns)
    for since in eng.days_since:
        out[since.name] = time_since(raw[since.column], raw[ds.date], since.unit)
    if eng.new_customer:
        tenure = out[eng.new_customer.tenure_feature]
        out[eng.new_customer.name] = np.where(tenure.isna(), np.nan, (tenure <= eng.new_customer.max_months) * 1.0)
    for part in eng.date_parts:
        out[part.name] = date_part(raw[ds.date], part.part).to_numpy()
    return out.reset_index(drop=True)


def model_matrix(frame: pd.DataFrame, features: FeaturesSpec, vocabulary: dict[str, list[str]]) -> pd.DataFrame:
    """Feature columns in model order; categoricals use the training vocabulary (unseen values become NaN).

    float64 columns are shared with `frame`, not copied (a million-row copy is costly on fresh memory): read
    the matrix, do not write into it."""
    columns: dict[str, Any] = {column: frame[column].astype("float64", copy=False)
                               for column in features.model_numeric()}
    columns |= {column: pd.Categorical(frame[column], categories=vocabulary[column])
                for column in features.categorical}
    return pd.DataFrame(columns, index=frame.index, copy=False)


def category_vocabulary(features: pd.DataFrame, categorical: list[str]) -> dict[str, list[str]]:
    """Sorted distinct values of each categorical column, fixed with the model."""
    return {column: sorted({str(value) for value in features[column].unique() if pd.notna(value)})
            for column in categorical}
