"""Infer a complete pipeline config from a data file: column types, optional columns, features, segments."""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

from ml_assets.spec import suggest_name

MAX_CATEGORIES = 500
DATE_PARSE_SHARE = 0.95


def looks_like_dates(values: pd.Series) -> bool:
    """True when nearly every non-null text value parses as an ISO-like date."""
    sample = values.dropna().astype(str).head(2000)
    if sample.empty or not sample.str.match(r"^\d{4}-\d{2}-\d{2}").all():
        return False
    return bool(pd.to_datetime(sample, errors="coerce", format="mixed").notna().mean() >= DATE_PARSE_SHARE)


def column_type(values: pd.Series) -> str:
    """Spec type of a column: int, float, bool, date or str."""
    if pd.api.types.is_bool_dtype(values):
        return "bool"
    if pd.api.types.is_integer_dtype(values):
        return "int"
    if pd.api.types.is_float_dtype(values):
        whole = values.dropna()
        return "int" if len(whole) and bool((whole % 1 == 0).all()) and values.notna().all() else "float"
    if pd.api.types.is_datetime64_any_dtype(values) or looks_like_dates(values):
        return "date"
    return "str"


def segment_name(value: object) -> str:
    """A file- and model-safe segment name: 'City Hotel' -> 'city_hotel'."""
    return re.sub(r"[^a-z0-9]+", "_", str(value).lower()).strip("_") or "blank"


def infer_config(frame: pd.DataFrame, *, name: str, source_path: str, id_column: str, date_column: str,
                 target: str, segment: str, exclude: list[str], label_delay_days: int = 0) -> dict[str, Any]:
    """A pipeline config (as a dict) for `frame`; excluded columns are left out of the schema and features."""
    _require_columns(frame, [id_column, date_column, target, segment, *exclude])
    kept = [c for c in frame.columns if c not in exclude]
    types = {c: column_type(frame[c]) for c in kept}
    types[date_column], types[target] = "date", "int"
    roles = {id_column, date_column, target, segment}
    numeric = [c for c in kept if c not in roles and types[c] in ("int", "float", "bool")]
    categorical = [c for c in kept if c not in roles and types[c] == "str" and frame[c].nunique() <= MAX_CATEGORIES]
    other_dates = [c for c in kept if c not in roles and types[c] == "date"]
    dates = pd.to_datetime(frame[date_column], errors="coerce", format="mixed")
    return {
        "name": name,
        "dataset": {
            "source": {"kind": "files", "path": source_path},
            "columns": types,
            "id": id_column, "date": date_column, "target": target,
            "label_delay_days": label_delay_days,
            "segment": segment,
            "segments": {segment_name(v): [_plain(v)] for v in sorted(frame[segment].dropna().unique(), key=str)},
            "start_date": dates.min().date().isoformat(),
            "optional": [c for c in kept if frame[c].isna().any() and c not in roles],
        },
        "features": {
            "numeric": numeric,
            "categorical": categorical,
            "engineered": {
                "days_since": [{"name": f"days_since_{c}", "column": c, "unit": "days"} for c in other_dates],
                "normalize_strings": list(categorical),
            },
        },
        "model": {"params": {"max_depth": 5, "eta": 0.08, "subsample": 0.8, "colsample_bytree": 0.8,
                             "min_child_weight": 5},
                  "num_boost_round": 400, "early_stopping_rounds": 30},
        "training": {"window_days": 120, "holdout_days": 14, "min_auc": 0.6, "promotion_margin": 0.005},
        "storage": {"home": f"data/{name}", "lake": f"data/{name}/lake", "reports": f"data/{name}/reports"},
        "mlflow": {"experiment": name},
    }


def excluded_categoricals(frame: pd.DataFrame, config: dict[str, Any]) -> list[str]:
    """Text columns left out of the features because they have too many distinct values."""
    ds, features = config["dataset"], config["features"]
    roles = {ds["id"], ds["date"], ds["target"], ds["segment"]}
    return [c for c, kind in ds["columns"].items()
            if kind == "str" and c not in roles and c not in features["categorical"]]


def _require_columns(frame: pd.DataFrame, columns: list[str]) -> None:
    """Fail naming each column that the data does not have, with the closest name."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        valid = [str(c) for c in frame.columns]
        raise ValueError("; ".join(f"column {c!r} is not in the data{suggest_name(c, valid)}" for c in missing))


def _plain(value: object) -> object:
    """numpy scalars as plain Python values, for YAML."""
    return value.item() if hasattr(value, "item") else value
