"""Pandera contracts for raw_data and features, built from the spec."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from ml_assets.core.features import SEGMENT_COLUMN
from ml_assets.spec import PipelineSpec

PANDAS_DTYPES = {"int": "Int64", "float": "float64", "str": "object", "date": "datetime64[ns]", "bool": "boolean"}


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


def _raw_column(name: str, kind: str, spec: PipelineSpec, start: date, end: date) -> pa.Column:
    """Column contract: dtype with coercion, nullability and the role's value rules."""
    ds = spec.dataset
    optional = name in ds.optional
    checks: list[pa.Check] = []
    if kind in ("int", "float"):
        checks.append(pa.Check(_finite, error="finite (no inf)"))
    if name == ds.target:
        checks.append(pa.Check.isin([0, 1], error="target must be 0 or 1"))
    if name == ds.date:
        checks.append(pa.Check.in_range(pd.Timestamp(start), pd.Timestamp(end), error=f"date inside {start}..{end}"))
    return pa.Column(PANDAS_DTYPES[kind], nullable=optional, required=not optional, coerce=True, checks=checks)


def raw_schema(spec: PipelineSpec, start: date, end: date) -> pa.DataFrameSchema:
    """Contract of raw_data for the partitions start..end."""
    ds = spec.dataset
    columns = {name: _raw_column(name, kind, spec, start, end) for name, kind in ds.columns.items()}
    unique_id = pa.Check(lambda df: ~df.duplicated([ds.date, ds.id], keep=False), error=f"{ds.id} unique within a date")
    return pa.DataFrameSchema(columns, checks=[unique_id], add_missing_columns=True, strict=False,
                              name="raw_data")


def features_schema(spec: PipelineSpec) -> pa.DataFrameSchema:
    """Contract of features: keys present, numeric features finite floats, categoricals text."""
    ds = spec.dataset
    columns = {
        ds.id: pa.Column(nullable=False),
        ds.date: pa.Column("datetime64[ns]", nullable=False),
        ds.target: pa.Column("Int64", pa.Check.isin([0, 1]), nullable=False, coerce=True),
        SEGMENT_COLUMN: pa.Column(object, nullable=True),
    }
    columns |= {name: pa.Column("float64", pa.Check(_finite, error="finite (no inf)"), nullable=True)
                for name in spec.features.model_numeric()}
    columns |= {name: pa.Column(object, nullable=True) for name in spec.features.categorical}
    return pa.DataFrameSchema(columns, strict=True, name="features")


def enforce(schema: pa.DataFrameSchema, frame: pd.DataFrame) -> ContractResult:
    """Validate lazily (every failure collected); the coerced frame when it passes."""
    try:
        return ContractResult(schema.validate(frame, lazy=True), _no_failures())
    except SchemaErrors as errors:
        return ContractResult(None, _failure_table(errors.failure_cases))


def _no_failures() -> pd.DataFrame:
    return pd.DataFrame(columns=["column", "check", "failure_case", "index"])


def _failure_table(cases: pd.DataFrame) -> pd.DataFrame:
    """Failure cases as plain text columns: which column, which rule, the bad value, the row."""
    table = cases.reindex(columns=["column", "check", "failure_case", "index"]).copy()
    return table.astype({"column": str, "check": str, "failure_case": str}).reset_index(drop=True)


def describe_failures(failures: pd.DataFrame, limit: int = 5) -> str:
    """One line per failing (column, check) with its count and sample values."""
    lines = []
    for (column, check), group in failures.groupby(["column", "check"], sort=False):
        sample = ", ".join(group["failure_case"].astype(str).head(3))
        lines.append(f"column {column!r} fails {check!r} on {len(group)} row(s), e.g. {sample}")
    return "; ".join(lines[:limit])
