"""One row per segment and day of what monitoring knows: the model version, its drift verdict, the performance
estimated from its scores and, once the labels have matured, the realized performance of the same cohort."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import pandas as pd

from ml_assets.core.monitoring import drift
from ml_assets.core.monitoring.segment_monitoring import day_verdict

DRIFTED_FROM = "moderate"  # a feature is listed as drifted at this severity or worse


@dataclass(frozen=True)
class MonitorRow:
    """A segment's day: `date` is the last prediction day of the cohort (monitoring.performance.window_days long)
    that the estimate and the realized figures describe; realized_* stay None until its labels mature."""

    segment: str
    date: str
    model_version: str | None
    drift_severity: str | None
    drifted_features: list[str]
    estimated_auc: float | None
    estimated_default_rate: float | None
    realized_auc: float | None
    realized_default_rate: float | None
    in_sample: bool | None

    def as_json(self) -> dict[str, object]:
        """The row as a JSON object (the keys are a public contract)."""
        return asdict(self)


def day_drift(table: pd.DataFrame, date_column: str) -> pd.DataFrame:
    """Per segment, day and compared model version of a drift_report table: the worst severity and the features at
    DRIFTED_FROM or worse (highest PSI first)."""
    if table.empty or "severity" not in table:
        return pd.DataFrame(columns=["segment", "date", "model_version", "drift_severity", "drifted_features"])
    rows = []
    days = pd.to_datetime(table[date_column]).dt.date
    for (segment, day, version), part in table.groupby(["segment", days, table["model_version"].astype(str)]):
        worse = part[part["severity"].map(drift.SEVERITIES.index) >= drift.SEVERITIES.index(DRIFTED_FROM)]
        rows.append({"segment": str(segment), "date": day.isoformat(), "model_version": version,
                     "drift_severity": day_verdict(part),
                     "drifted_features": worse.sort_values("psi", ascending=False)["feature"].astype(str).tolist()})
    return pd.DataFrame(rows)


def _value(value: object) -> object:
    """A cell as a plain JSON value: NaN and missing as None, numpy scalars as Python ones."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    return value.item() if hasattr(value, "item") else value


def monitor_rows(drift_table: pd.DataFrame, estimated: pd.DataFrame, performance: pd.DataFrame,
                 date_column: str) -> list[MonitorRow]:
    """Rows of drift_report (the version it compared against), estimated_performance and model_performance joined on
    segment, cohort day (a realized cohort judged on day J is shown on its cohort_last) and model version; sorted by
    segment and date."""
    keys = ["segment", "date", "model_version"]
    frames = [day_drift(drift_table, date_column)]
    if len(estimated):
        frames.append(estimated.assign(date=pd.to_datetime(estimated[date_column]).dt.strftime("%Y-%m-%d"),
                                       model_version=estimated["model_version"].astype(str))
                      [[*keys, "in_sample", "estimated_roc_auc", "estimated_default_rate"]])
    if len(performance):
        frames.append(performance.assign(date=performance["cohort_last"].astype(str),
                                         model_version=performance["model_version"].astype(str))
                      .rename(columns={"in_sample": "realized_in_sample"})
                      [[*keys, "realized_in_sample", "roc_auc", "default_rate"]])
    table = frames[0]
    for frame in frames[1:]:
        table = table.merge(frame, on=keys, how="outer")
    if table.empty:
        return []
    columns = {"model_version": None, "drift_severity": None, "drifted_features": None, "in_sample": None,
               "realized_in_sample": None, "estimated_roc_auc": None, "estimated_default_rate": None,
               "roc_auc": None, "default_rate": None}
    table = table.assign(**{c: v for c, v in columns.items() if c not in table})
    table = table[table["model_version"].notna()].sort_values(["segment", "date", "model_version"])
    return [MonitorRow(segment=str(row.segment), date=str(row.date), model_version=_value(row.model_version),
                       drift_severity=_value(row.drift_severity),
                       drifted_features=list(row.drifted_features) if isinstance(row.drifted_features, list) else [],
                       estimated_auc=_value(row.estimated_roc_auc),
                       estimated_default_rate=_value(row.estimated_default_rate),
                       realized_auc=_value(row.roc_auc), realized_default_rate=_value(row.default_rate),
                       in_sample=_in_sample(row.in_sample, row.realized_in_sample))
            for row in table.itertuples(index=False)]


def _in_sample(estimated: object, realized: object) -> bool | None:
    """The cohort's in-sample flag from the estimate, or from the realized row when there is no estimate."""
    for flag in (estimated, realized):
        value = _value(flag)
        if value is not None:
            return bool(value)
    return None
