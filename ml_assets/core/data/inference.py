"""Infer a complete pipeline config from a data file: column types, optional columns, segments, and a role for
every column (feature, calendar part of the date, identifier, code, left out) with the reason for it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ml_assets.spec import suggest_name

MAX_CATEGORIES = 500
DATE_PARSE_SHARE = 0.95
PART_MATCH_SHARE = 0.99     # a column equal to a part of the date on this share of rows is that part
SAMPLE_ROWS = 50_000        # rows of the file the value rules look at
MIN_IDENTIFIER_ROWS = 20    # fewer rows than this prove nothing about uniqueness
MONOTONIC_RANK_CORRELATION = 0.99
CODE_MIN_VALUES = 20        # integer columns with fewer distinct values are quantities or small enums
IRREGULAR_HISTOGRAM = 0.2   # adjacent values' log counts correlate less than this: codes, not a quantity
MAX_HISTOGRAM_RANGE = 1_000_000
CODE_WORDS = {"id", "code", "agent", "company", "account", "zip", "postcode", "postal", "key", "sku", "store",
              "branch", "vendor", "supplier", "product", "employee", "user"}
CALENDAR_NAMES = {  # last words of a column name -> the part of the date it names, with that part's value range
    "year": "year", "yr": "year", "quarter": "quarter", "month": "month", "week": "week", "week_number": "week",
    "week_of_year": "week", "weekofyear": "week", "day": "day of month", "day_of_month": "day of month",
    "dayofmonth": "day of month", "weekday": "weekday", "day_of_week": "weekday", "dayofweek": "weekday",
    "dow": "weekday", "day_of_year": "day of year", "dayofyear": "day of year"}
PART_RANGES = {"quarter": (1, 4), "month": (1, 12), "week": (1, 53), "day of month": (1, 31), "weekday": (0, 7),
               "day of year": (1, 366)}

ID, DATE, TARGET, SEGMENT, EXCLUDED = "id", "date", "target", "segment", "excluded"
NUMERIC, CATEGORICAL, CALENDAR, DAYS_SINCE, LEFT_OUT = "numeric", "categorical", "calendar part", "days since", "left out"


@dataclass(frozen=True)
class ColumnChoice:
    """The role init gave one column and why: printed as a table and written as comments in the config."""

    column: str
    type: str
    role: str
    reason: str
    categorical: bool = False  # for feature roles: used as categories (text, codes, month names)


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


@dataclass(frozen=True)
class InferredConfig:
    """A config inferred from a data file (as a dict, for YAML) and the choice made for each column."""

    config: dict[str, Any]
    choices: tuple[ColumnChoice, ...]

    def comment_block(self) -> str:
        """The choices as YAML comment lines: column, role, reason."""
        width = max(len(choice.column) for choice in self.choices)
        return "".join(f"#   {c.column:<{width}}  {c.role:<13}  {c.reason}\n" for c in self.choices)

    def notes(self) -> tuple[str, ...]:
        """What a reader of the config should weigh before running it (printed and written as comments)."""
        note = calendar_note(self.config["features"]["calendar"]["columns"], self.config["training"]["window_days"])
        return (note,) if note else ()


def calendar_note(calendar: list[str], window_days: int) -> str | None:
    """Why calendar parts kept as model features meet values the model never fitted when the training window is
    under a year, and what to do; None otherwise."""
    if not calendar or window_days >= 365:
        return None
    return (f"{len(calendar)} calendar parts stay model features, and training.window_days {window_days} is under a "
            "year: the months and weeks outside the training window are values the model never fitted "
            "(drift_report names them: unseen_calendar_values). For seasonal effects train on 365 days or more, "
            "or set features.calendar.handling: drop")


def infer_config(frame: pd.DataFrame, *, name: str, source_path: str, id_column: str, date_column: str,
                 target: str, segment: str, exclude: list[str], label_delay_days: int = 0) -> InferredConfig:
    """A pipeline config for `frame` and the role of every column; excluded columns are left out of the schema
    and features, calendar parts of the date are features that drift does not judge."""
    _require_columns(frame, [id_column, date_column, target, segment, *exclude])
    dates = pd.to_datetime(frame[date_column], errors="coerce", format="mixed")
    roles = {id_column: (ID, "dataset.id (--id)"), date_column: (DATE, "dataset.date, the daily partition key (--date)"),
             target: (TARGET, "dataset.target (--target)"), segment: (SEGMENT, "dataset.segment, a model per value "
                                                                                   "(--segment)")}
    sample = frame.sample(n=min(len(frame), SAMPLE_ROWS), random_state=0)
    choices = tuple(_choose(frame, sample, column, dates, date_column, roles, exclude) for column in frame.columns)
    kept = [c for c in choices if c.role != EXCLUDED]
    features = [c for c in kept if c.role in (NUMERIC, CATEGORICAL, CALENDAR)]
    config = {
        "name": name,
        "dataset": {
            "source": {"kind": "files", "path": source_path},
            "columns": {c.column: c.type for c in kept},
            "id": id_column, "date": date_column, "target": target,
            "label_delay_days": label_delay_days,
            "segment": segment,
            "segments": {segment_name(v): [_plain(v)] for v in sorted(frame[segment].dropna().unique(), key=str)},
            "start_date": dates.min().date().isoformat(),
            "optional": [c.column for c in kept if frame[c.column].isna().any() and c.column not in roles],
        },
        "features": {
            "numeric": [c.column for c in features if not c.categorical],
            "categorical": [c.column for c in features if c.categorical],
            "engineered": {
                "days_since": [{"name": f"days_since_{c.column}", "column": c.column, "unit": "days"}
                               for c in kept if c.role == DAYS_SINCE],
                "normalize_strings": [c.column for c in features if c.categorical and c.type == "str"],
            },
            "calendar": {"columns": [c.column for c in kept if c.role == CALENDAR], "handling": "unmonitored"},
        },
        "model": {"params": {"max_depth": 5, "eta": 0.08, "subsample": 0.8, "colsample_bytree": 0.8,
                             "min_child_weight": 5},
                  "num_boost_round": 400, "early_stopping_rounds": 30},
        "training": {"window_days": 120, "holdout_days": 14, "min_auc": 0.6, "promotion_margin": 0.005},
        "storage": {"home": f"data/{name}", "lake": f"data/{name}/lake", "reports": f"data/{name}/reports"},
        "mlflow": {"experiment": name},
    }
    return InferredConfig(config, choices)


def _choose(frame: pd.DataFrame, sample: pd.DataFrame, column: str, dates: pd.Series, date_column: str,
            roles: dict[str, tuple[str, str]], exclude: list[str]) -> ColumnChoice:
    """The first rule that applies to a column: its dataset role, --exclude, calendar part, identifier, date,
    integer code, constant, then numeric or categorical by type."""
    kind = column_type(frame[column])
    if column in roles:
        role, reason = roles[column]
        return ColumnChoice(column, "date" if role == DATE else "int" if role == TARGET else kind, role, reason)
    if column in exclude:
        return ColumnChoice(column, kind, EXCLUDED, "--exclude: left out of the schema and the features")
    values, sample_dates = sample[column], dates.loc[sample.index]
    part = calendar_part(column, values, sample_dates, date_column)
    if part:
        return ColumnChoice(column, kind, CALENDAR, part + "; a model feature, not drift-judged "
                            "(features.calendar.handling)", categorical=kind == "str")
    if kind == "date":
        return ColumnChoice(column, kind, DAYS_SINCE, f"a date: days from it to {date_column} as days_since_{column}")
    identifier = identifier_reason(values, kind, sample_dates, date_column)
    if identifier:
        return ColumnChoice(column, kind, LEFT_OUT, f"identifier-like: {identifier}")
    distinct = int(frame[column].nunique())
    if distinct <= 1:
        return ColumnChoice(column, kind, LEFT_OUT, "constant: one value, nothing to learn")
    code = code_reason(column, values, kind, distinct)
    if code and distinct <= MAX_CATEGORIES:
        return ColumnChoice(column, kind, CATEGORICAL, f"{code}: categories, not numbers", categorical=True)
    if code:
        return ColumnChoice(column, kind, LEFT_OUT, f"{code}, more than {MAX_CATEGORIES} of them")
    if kind in ("int", "float", "bool"):
        return ColumnChoice(column, kind, NUMERIC, f"{kind} with {distinct} distinct values")
    if distinct <= MAX_CATEGORIES:
        return ColumnChoice(column, kind, CATEGORICAL, f"text with {distinct} distinct values", categorical=True)
    return ColumnChoice(column, kind, LEFT_OUT, f"text with {distinct} distinct values (more than {MAX_CATEGORIES})")


def date_parts(dates: pd.Series) -> dict[str, pd.Series]:
    """Each part of the dates a column may hold, by name: numbers, and month and day names in lower case."""
    weekday = dates.dt.weekday
    return {"year": dates.dt.year, "quarter": dates.dt.quarter, "month": dates.dt.month,
            "ISO week": dates.dt.isocalendar().week.astype("float64"), "day of month": dates.dt.day,
            "weekday (Monday=0)": weekday, "weekday (Monday=1)": weekday + 1,
            "weekday (Sunday=1)": (weekday + 1) % 7 + 1, "day of year": dates.dt.dayofyear,
            "month name": dates.dt.month_name().str.lower(), "month abbreviation": dates.dt.month_name().str[:3].str.lower(),
            "day name": dates.dt.day_name().str.lower(), "day abbreviation": dates.dt.day_name().str[:3].str.lower()}


def calendar_part(column: str, values: pd.Series, dates: pd.Series, date_column: str) -> str | None:
    """Why `column` is a part of the date (values equal to one on nearly every row, or a calendar name with
    values in that part's range), or None. Text columns are compared with month and day names."""
    known = values.notna() & dates.notna()
    if known.sum() == 0:
        return None
    numeric = pd.api.types.is_numeric_dtype(values)
    present = values[known].astype("float64") if numeric else values[known].astype(str).str.strip().str.lower()
    for part, expected in date_parts(dates[known]).items():
        if numeric == pd.api.types.is_numeric_dtype(expected):
            matches = float((present == (expected.astype("float64") if numeric else expected)).mean())
            if matches >= PART_MATCH_SHARE:
                return f"values equal the {part} of {date_column} on {matches:.1%} of rows"
    return _calendar_by_name(column, values[known], dates[known])


def _calendar_by_name(column: str, values: pd.Series, dates: pd.Series) -> str | None:
    """Why a numeric column named like a part of the date is one (whole values in that part's range), or None."""
    words = _words(column)
    part = next((CALENDAR_NAMES[tail] for n in (3, 2, 1) if len(words) >= n
                 and (tail := "_".join(words[-n:])) in CALENDAR_NAMES), None)
    if part is None or not pd.api.types.is_numeric_dtype(values) or not bool((values % 1 == 0).all()):
        return None
    low, high = (int(dates.dt.year.min()), int(dates.dt.year.max())) if part == "year" else PART_RANGES[part]
    if values.min() < low or values.max() > high:
        return None
    return f"named like the {part} of the date, whole values {int(values.min())}..{int(values.max())} in its range"


def identifier_reason(values: pd.Series, kind: str, dates: pd.Series, date_column: str) -> str | None:
    """Why a column identifies rows (unique per row, or rising or falling with the date), or None."""
    present = values.dropna()
    if kind in ("int", "str") and len(present) >= MIN_IDENTIFIER_ROWS and present.nunique() == len(present):
        return f"unique per row ({len(present):,} distinct values in {len(present):,} rows)"
    if kind not in ("int", "float") or present.nunique() < MIN_IDENTIFIER_ROWS:
        return None
    correlation = values.astype("float64").corr(dates.astype("int64").astype("float64"), method="spearman")
    if abs(correlation) >= MONOTONIC_RANK_CORRELATION:
        return f"monotonic with {date_column} (rank correlation {correlation:+.3f})"
    return None


def code_reason(column: str, values: pd.Series, kind: str, distinct: int) -> str | None:
    """Why an integer column holds codes (ids of agents, companies...) rather than quantities, or None: many
    distinct whole values and either a name that says so or a histogram with no order (neighbouring values'
    counts unrelated)."""
    present = values.dropna()
    if kind not in ("int", "float") or present.empty or not bool((present % 1 == 0).all()):
        return None
    if distinct < CODE_MIN_VALUES:
        return None
    word = next((w for w in _words(column) if w in CODE_WORDS), None)
    if word:
        return f"integer codes ({distinct} distinct values; the name says '{word}')"
    regularity = histogram_regularity(present)
    if regularity < IRREGULAR_HISTOGRAM:
        return (f"integer codes ({distinct} distinct values whose neighbours' counts are unrelated: correlation "
                f"{regularity:.2f})")
    return None


def histogram_regularity(values: pd.Series) -> float:
    """Correlation of the log counts of neighbouring whole values over the column's range (about 1 for a
    quantity's smooth histogram, about 0 for codes)."""
    counts = values.astype("int64").value_counts()
    if counts.index.max() - counts.index.min() > MAX_HISTOGRAM_RANGE:
        return 1.0  # too wide to lay out; say nothing rather than guess
    full = counts.reindex(np.arange(counts.index.min(), counts.index.max() + 1), fill_value=0).to_numpy()
    logs = np.log1p(full.astype("float64"))
    if logs.size < 3 or logs[:-1].std() == 0 or logs[1:].std() == 0:
        return 1.0
    return float(np.corrcoef(logs[:-1], logs[1:])[0, 1])


def _words(column: str) -> list[str]:
    """A column name as lower-case words: 'arrivalDateWeekNumber' and 'arrival_date_week_number' alike."""
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", column)
    return [word for word in re.split(r"[^a-z0-9]+", snake.lower()) if word]


def _require_columns(frame: pd.DataFrame, columns: list[str]) -> None:
    """Fail naming each column that the data does not have, with the closest name."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        valid = [str(c) for c in frame.columns]
        raise ValueError("; ".join(f"column {c!r} is not in the data{suggest_name(c, valid)}" for c in missing))


def _plain(value: object) -> object:
    """numpy scalars as plain Python values, for YAML."""
    return value.item() if hasattr(value, "item") else value
