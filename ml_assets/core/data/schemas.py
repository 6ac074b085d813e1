"""Pandera contracts for raw_data and features, built from the spec."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from ml_assets.core.data.features import SEGMENT_COLUMN
from ml_assets.spec import ColumnRule, DatasetSpec, FeaturesSpec

PANDAS_DTYPES = {"int": "Int64", "float": "float64", "str": "object", "date": "datetime64[ns]", "bool": "boolean"}
FLOAT32_MAX = float(np.finfo(np.float32).max)  # XGBoost reads features as float32: larger values become inf
EXPECTED_TEXT = {"Int64": "a whole number (no fraction, no thousands separator)",
                 "float64": "a number with '.' as decimal point (no thousands separator)",
                 "datetime64[ns]": "a date as YYYY-MM-DD or YYYY-MM-DD HH:MM:SS, without a time zone offset",
                 "boolean": "true/false or 1/0"}


@dataclass(frozen=True)
class ContractResult:
    """Outcome of a contract: the coerced frame when it passed, and the failure cases either way."""

    frame: pd.DataFrame | None
    failures: pd.DataFrame

    @property
    def passed(self) -> bool:
        return self.frame is not None


def _finite(series: pd.Series) -> pd.Series:
    """No +/-inf (NaN is handled by `nullable`)."""
    return ~np.isinf(series.astype("float64"))


def _float32_range(series: pd.Series) -> pd.Series:
    """Values XGBoost can read: |x| within float32's range (NaN is handled by `nullable`, inf by `_finite`)."""
    values = series.astype("float64")
    return values.isna() | np.isinf(values) | (values.abs() <= FLOAT32_MAX)


FINITE_CHECKS = [pa.Check(_finite, error="finite (no inf)"),
                 pa.Check(_float32_range, error=f"within float32 range (|x| <= {FLOAT32_MAX:.3g}, what XGBoost reads)")]


def _raw_column(name: str, kind: str, ds: DatasetSpec, start: date, end: date) -> pa.Column:
    """Column contract: dtype with coercion, nullability and the role's value rules."""
    optional = name in ds.optional
    checks: list[pa.Check] = []
    if kind in ("int", "float"):
        checks += FINITE_CHECKS
    if name == ds.target:
        checks.append(pa.Check.isin([0, 1], error="target must be 0 or 1"))
    if name == ds.date:
        last_moment = pd.Timestamp(end) + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)
        checks.append(pa.Check.in_range(pd.Timestamp(start), last_moment, error=f"date inside {start}..{end}"))
    checks += _rule_checks(ds.rules.get(name))
    return pa.Column(PANDAS_DTYPES[kind], nullable=optional, coerce=True, checks=checks)


def _rule_checks(rule: ColumnRule | None) -> list[pa.Check]:
    """Blocking checks of a column rule: min, max, allowed values."""
    if rule is None:
        return []
    checks = []
    if rule.min is not None:
        checks.append(pa.Check.ge(rule.min, error=f">= {rule.min}"))
    if rule.max is not None:
        checks.append(pa.Check.le(rule.max, error=f"<= {rule.max}"))
    if rule.allowed is not None:
        checks.append(pa.Check.isin(rule.allowed, error=f"one of {rule.allowed}"))
    return checks


@dataclass
class SoftRuleTally:
    """What the soft rules need from a range read chunk by chunk: the source's columns, rows and nulls per
    column, and the values outside each `expected` list, so the findings are those of the whole range."""

    rows: int = 0
    nulls: dict[str, int] = field(default_factory=dict)
    original_columns: set[str] = field(default_factory=set)
    unseen: dict[str, set[str]] = field(default_factory=dict)

    def add(self, original_columns: list[str], frame: pd.DataFrame, ds: DatasetSpec) -> None:
        """Count one chunk: `original_columns` as the source gave them, `frame` as the contract coerced it."""
        self.original_columns |= set(original_columns)
        if len(frame):
            self.rows += len(frame)
            for name in ds.columns:
                if name in frame.columns:
                    self.nulls[name] = self.nulls.get(name, 0) + int(frame[name].isna().sum())
        for name, rule in ds.rules.items():
            if rule.expected is not None and name in frame.columns:
                seen = set(frame[name].dropna().astype(str)) - {str(v) for v in rule.expected}
                self.unseen[name] = self.unseen.get(name, set()) | seen

    def findings(self, ds: DatasetSpec) -> pd.DataFrame:
        """One row (column, rule, detail) per soft rule broken over everything counted."""
        findings = [(name, "missing optional column", "filled with nulls")
                    for name in ds.optional if name not in self.original_columns]
        for name in ds.columns:
            if name not in self.nulls or name not in self.original_columns:
                continue
            limit = (ds.rules.get(name) or ColumnRule()).max_null_rate
            limit = ds.max_null_rate if limit is None else limit
            rate = self.nulls[name] / self.rows
            if rate > limit:
                findings.append((name, "null rate", f"{rate:.1%} nulls > {limit:.0%}"))
        for name, values in self.unseen.items():
            if values:
                unseen = sorted(values)
                findings.append((name, "unexpected values", f"{len(unseen)} value(s), e.g. {unseen[:5]}"))
        return pd.DataFrame(findings, columns=["column", "rule", "detail"])


def raw_schema(ds: DatasetSpec, start: date, end: date) -> pa.DataFrameSchema:
    """Contract of raw_data for the partitions start..end."""
    columns = {name: _raw_column(name, kind, ds, start, end) for name, kind in ds.columns.items()}
    return pa.DataFrameSchema(columns, unique=[ds.date, ds.id], add_missing_columns=True, strict=False,
                              name="raw_data")


def features_schema(ds: DatasetSpec, features: FeaturesSpec) -> pa.DataFrameSchema:
    """Contract of features: keys present, numeric features finite floats, categoricals text."""
    columns = {
        ds.id: pa.Column(nullable=False),
        ds.date: pa.Column("datetime64[ns]", nullable=False),
        ds.target: pa.Column("Int64", pa.Check.isin([0, 1]), nullable=False, coerce=True),
        SEGMENT_COLUMN: pa.Column(object, nullable=True),
    }
    columns |= {name: pa.Column("float64", FINITE_CHECKS, nullable=True) for name in features.model_numeric()}
    columns |= {name: pa.Column(object, nullable=True) for name in features.categorical}
    return pa.DataFrameSchema(columns, strict=True, name="features")


def enforce(schema: pa.DataFrameSchema, frame: pd.DataFrame) -> ContractResult:
    """Validate lazily (every failure collected); the coerced frame when it passes."""
    try:
        return ContractResult(schema.validate(frame, lazy=True), _no_failures())
    except SchemaErrors as errors:
        return ContractResult(None, _failure_table(_quote_raw_text(errors.failure_cases, frame)))


def _no_failures() -> pd.DataFrame:
    return pd.DataFrame(columns=["column", "check", "failure_case", "index"])


def _quote_raw_text(cases: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """A column whose coercion failed as a whole is reported with no row and no value: name its rows instead,
    each with the text as the source wrote it."""
    whole = cases["check"].astype(str).str.startswith("coerce_dtype") & cases["index"].isna()
    named = [cases[~whole]]
    for case in cases[whole].itertuples(index=False):
        offenders = _uncoercible(frame[case.column], str(case.check)) if case.column in frame.columns else []
        if len(offenders) == 0:  # pandas refused the column for another reason: report it as pandera did
            named.append(pd.DataFrame([case._asdict()]))
            continue
        named.append(pd.DataFrame({"schema_context": case.schema_context, "column": case.column,
                                   "check": case.check, "check_number": case.check_number,
                                   "failure_case": offenders.astype(str), "index": offenders.index}))
    return pd.concat(named, ignore_index=True)


def _uncoercible(values: pd.Series, check: str) -> pd.Series:
    """The values (as written) of a column that do not convert to the dtype named in a coerce_dtype check."""
    present = values[values.notna()]
    if "datetime64" in check:
        text = present.astype(str)
        parsed = pd.to_datetime(text, errors="coerce", format="ISO8601", utc=True)
        offset = text.str.contains(r"(?:[+-]\d\d:?\d\d|Z)$", regex=True)
        return present[parsed.isna() | offset]
    numbers = pd.to_numeric(present, errors="coerce")
    if "Int64" in check:
        return present[numbers.isna() | (numbers % 1 != 0)]
    return present[numbers.isna()]


def _failure_table(cases: pd.DataFrame) -> pd.DataFrame:
    """Failure cases as text: column, rule, bad value, row; a column that cannot be coerced reports only that."""
    table = cases.reindex(columns=["column", "check", "failure_case", "index"]).copy()
    table = table.astype({"column": str, "check": str, "failure_case": str})
    table.loc[table["check"] == "multiple_fields_uniqueness", "check"] = "unique together (one row per id and date)"
    missing = table["check"].isin(["add_missing_has_default", "column_in_dataframe"])
    table.loc[missing, "column"] = table.loc[missing, "failure_case"]
    table.loc[missing, "check"] = "required column is missing (add it, or list it in dataset.optional)"
    uncoercible = set(table.loc[table["check"].str.startswith("coerce_dtype"), "column"])
    follow_ups = table["column"].isin(uncoercible) & ~table["check"].str.startswith("coerce_dtype")
    return table[~follow_ups].reset_index(drop=True)


def describe_failures(failures: pd.DataFrame, limit: int = 5) -> str:
    """One line per failing (column, check) with its count and sample values."""
    tally = FailureTally()
    tally.add(failures)
    return tally.describe(limit)


@dataclass
class FailureTally:
    """Failure cases of a contract enforced chunk by chunk: exact counts per (column, check), a few sample values
    of each, and the first `sample_rows` cases with their row numbers in the whole range. A failure of a column
    rather than of a row (a missing column) is counted once however many chunks report it."""

    sample_rows: int = 20
    count: int = 0
    sample: pd.DataFrame = field(default_factory=lambda: _no_failures())
    rules: dict[tuple[str, str], tuple[int, list[str]]] = field(default_factory=dict)
    column_failures: set[tuple[str, str, str]] = field(default_factory=set)

    def add(self, failures: pd.DataFrame, first_row: int = 0) -> None:
        """Count one chunk's failure table; `first_row` is the range's row number of the chunk's first row."""
        failures = self._new_cases(failures)
        if first_row:
            rows = pd.to_numeric(failures["index"], errors="coerce").astype("Int64")
            failures = failures.assign(index=rows + first_row)
        self.count += len(failures)
        if len(self.sample) < self.sample_rows and len(failures):
            kept = failures.head(self.sample_rows - len(self.sample))
            self.sample = kept if self.sample.empty else pd.concat([self.sample, kept], ignore_index=True)
        for (column, check), group in failures.groupby(["column", "check"], sort=False):
            count, examples = self.rules.get((column, check), (0, []))
            examples = examples + group["failure_case"].astype(str).head(3 - len(examples)).tolist()
            self.rules[(column, check)] = (count + len(group), examples)

    def _new_cases(self, failures: pd.DataFrame) -> pd.DataFrame:
        """The failure cases not already counted: column-level cases (no row) seen in an earlier chunk are dropped."""
        whole_column = failures["index"].isna()
        keys = list(zip(failures["column"], failures["check"], failures["failure_case"].astype(str)))
        repeated = whole_column & pd.Series([key in self.column_failures for key in keys], index=failures.index,
                                            dtype=bool)
        self.column_failures |= {key for key, column_level in zip(keys, whole_column) if column_level}
        return failures[~repeated]

    def describe(self, limit: int = 5) -> str:
        """One line per failing (column, check) with its count and sample values, at most `limit` lines."""
        lines = []
        for (column, check), (count, examples) in self.rules.items():
            if check.startswith("required column"):
                lines.append(f"column {column!r}: {check}")
                continue
            expected = next((f" (expected {text})" for dtype, text in EXPECTED_TEXT.items()
                             if check.startswith("coerce_dtype") and f"'{dtype}'" in check), "")
            lines.append(f"column {column!r} fails {check!r} on {count} row(s), e.g. {', '.join(examples)}{expected}")
        return "; ".join(lines[:limit])
