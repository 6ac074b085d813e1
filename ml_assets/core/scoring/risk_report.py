"""Risk report: row-level report files per date and segment, and the run's risk summary per segment and
risk cluster (all the run's days together)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from ml_assets.core.data import lake
from ml_assets.core.data.features import SEGMENT_COLUMN
from ml_assets.spec import ScoringSpec

SUMMARY_KEYS = ["segment", "risk_cluster"]
REPORT_FOLDER = "risk_report"  # <reports>/risk_report/date=YYYY-MM-DD/segment=<segment>/part.parquet
RUN_SUMMARY_FOLDER = "run_risk_summary"  # <reports>/run_risk_summary/<first>_<last>/part.parquet


def risk_summary(clusters: pd.DataFrame, segment_column: str, score_column: str, target_column: str,
                 label_matured: pd.Series, date_column: str | None = None) -> pd.DataFrame:
    """Per segment and cluster (and per day with `date_column`): count, share of the segment, mean score,
    realized default rate (matured labels only) and lift of that rate over the segment's matured average."""
    days = [date_column] if date_column else []
    frame = pd.DataFrame({  # .array keeps Arrow and categorical columns as they are (cheap to group)
        **{column: clusters[column].array for column in days},
        "segment": clusters[segment_column].array,
        "risk_cluster": clusters["risk_cluster"].array,
        "score": clusters[score_column].to_numpy(dtype="float64"),
        "matured_target": clusters[target_column].where(label_matured).astype("float64").to_numpy(),
    })
    summary = frame.groupby(days + SUMMARY_KEYS, observed=True).agg(
        count=("score", "size"), mean_score=("score", "mean"),
        matured_count=("matured_target", "count"), realized_default_rate=("matured_target", "mean"),
    ).reset_index()
    segment_totals = frame.groupby(days + ["segment"]).agg(total=("score", "size"),
                                                           segment_rate=("matured_target", "mean"))
    summary = summary.join(segment_totals, on=days + ["segment"])
    summary["share"] = summary["count"] / summary["total"]
    summary["lift"] = summary["realized_default_rate"] / summary["segment_rate"].replace(0, np.nan)
    columns = days + SUMMARY_KEYS + ["count", "share", "mean_score", "matured_count", "realized_default_rate", "lift"]
    return summary[columns].sort_values(days + ["segment", "mean_score"]).reset_index(drop=True)


def summary_over_days(daily: pd.DataFrame) -> pd.DataFrame:
    """The risk_summary of all days together, from the per-day one: counts, score sums and default counts add
    up over days, so the run risk summary needs no second pass over its rows."""
    defaults = (daily["realized_default_rate"] * daily["matured_count"]).fillna(0.0)
    parts = daily[SUMMARY_KEYS].assign(count=daily["count"], score_sum=daily["mean_score"] * daily["count"],
                                       matured_count=daily["matured_count"], defaults=defaults)
    summary = parts.groupby(SUMMARY_KEYS, observed=True, sort=False).sum().reset_index()
    segment = summary.groupby("segment", observed=True)[["count", "matured_count", "defaults"]].transform("sum")
    summary["share"] = summary["count"] / segment["count"]
    summary["mean_score"] = summary["score_sum"] / summary["count"]
    summary["realized_default_rate"] = summary["defaults"] / summary["matured_count"].replace(0, np.nan)
    segment_rate = segment["defaults"] / segment["matured_count"].replace(0, np.nan)
    summary["lift"] = summary["realized_default_rate"] / segment_rate.replace(0, np.nan)
    columns = SUMMARY_KEYS + ["count", "share", "mean_score", "matured_count", "realized_default_rate", "lift"]
    return summary[columns].sort_values(["segment", "mean_score"]).reset_index(drop=True)


def labels_matured(dates: pd.Series, label_delay_days: int, as_of: pd.Timestamp) -> pd.Series:
    """True where a row's label is known by `as_of` (its date plus the label delay)."""
    return pd.to_datetime(dates) + timedelta(days=label_delay_days) <= as_of


def report_rows(table: pd.DataFrame, scoring: ScoringSpec) -> pd.DataFrame:
    """The columns of scoring.report_columns, in that order (every column when unset)."""
    columns = scoring.report_columns
    if columns is None:
        return table
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"scoring.report_columns names {missing}, which the scored table does not have; "
                         f"it has {list(table.columns)}")
    return table[columns]


def rows_grouped(keys: np.ndarray) -> bool:
    """True when the rows of each key are together (one run of each key), in whatever order the keys come."""
    runs = int(np.count_nonzero(keys[1:] != keys[:-1])) + 1 if len(keys) else 0
    return runs == len(np.unique(keys))


def write_report_files(table: pd.DataFrame, folder: Path, date_column: str, scoring: ScoringSpec) -> list[Path]:
    """Row-level report: <folder>/date=YYYY-MM-DD/segment=<segment>/part.parquet with the report columns.

    The table goes to Arrow once and each file is a slice of it: as it is when each segment and day's rows are
    already together (scored tables by segment, tables read back from the lake by day), else put in segment and
    day order first."""
    days = pd.to_datetime(table[date_column]).to_numpy(dtype="datetime64[D]").astype("int64")
    segment_codes, segments = pd.factorize(table[SEGMENT_COLUMN])
    offset = days - days.min() if len(days) else days
    keys = segment_codes * (offset.max(initial=0) + 1) + offset  # one key per segment and day
    rows = pa.Table.from_pandas(report_rows(table, scoring), preserve_index=False)
    order = np.arange(len(keys))
    if not rows_grouped(keys):
        order = np.argsort(keys, kind="stable")
        rows = rows.take(order)
    starts = np.flatnonzero(np.r_[True, keys[order][1:] != keys[order][:-1]]) if len(order) else order
    paths = []
    for start, stop in zip(starts, np.r_[starts[1:], len(order)].astype("int64")):
        first = order[start]
        day = np.datetime64(int(days[first]), "D")
        part = folder / f"date={day}" / f"segment={segments[segment_codes[first]]}"
        paths.append(lake.write_table(part, rows.slice(start, stop - start)))
    return paths


def report_folder(reports_dir: Path) -> Path:
    """Where the row-level report files of every day go."""
    return reports_dir / REPORT_FOLDER


def write_run_summary(summary: pd.DataFrame, reports_dir: Path, first: date, last: date) -> Path:
    """Store the risk summary of a run over first..last as <reports>/run_risk_summary/<first>_<last>/part.parquet
    (atomically); returns the file."""
    return lake.write_frame(reports_dir / RUN_SUMMARY_FOLDER / f"{first}_{last}", summary)


def concat_tables(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """Small per-chunk tables (summaries, counts) as one; empty ones are left out unless all are empty."""
    return pd.concat([table for table in tables if len(table)] or tables[:1], ignore_index=True)
