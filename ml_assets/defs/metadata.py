"""Metadata that belongs to its partition: per-day (or per-segment) figures of a run over many partitions.

A single run over a range stamps its Output metadata on every partition it materializes (dagster issues 18123,
21072); Dagster 1.13's `context.add_asset_metadata(..., partition_key=...)` instead puts figures on that
partition's own materialization, overriding keys of the same name. Assets collect their figures here while they
work chunk by chunk, then call `stamp` once, before yielding their Output."""

import base64
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from urllib.parse import quote

import dagster as dg
import numpy as np
import pandas as pd
from mlflow import MlflowClient

from ml_assets.core.data.features import SEGMENT_COLUMN
from ml_assets.core.data.sources import days_between
from ml_assets.core.scoring.scores import SCORE_COLUMN
from ml_assets.core.training.evaluation import ModelEvaluation
from ml_assets.core.training.record import ModelRecord
from ml_assets.resources.storage import calendar_days
from ml_assets.spec import MlflowSpec

ROW_COUNT = "dagster/row_count"
COLUMN_SCHEMA = "dagster/column_schema"
RANGE_SUMMARY = "range_summary"
PREVIEW_ROWS = 5
Figure = int | float | str | dg.MetadataValue


def column_schema(frame: pd.DataFrame) -> dg.TableSchema:
    """The frame's columns and dtypes as Dagster's table schema (the asset page's Columns tab)."""
    return dg.TableSchema(columns=[dg.TableColumn(name=str(name), type=str(dtype))
                                   for name, dtype in frame.dtypes.items()])


def numeric(value: float | int | None) -> dg.MetadataValue:
    """A number as int or float metadata (the Plots tab draws them over partitions); NaN when unknown."""
    if isinstance(value, bool | np.bool_):
        return dg.MetadataValue.bool(bool(value))
    if isinstance(value, int | np.integer):
        return dg.MetadataValue.int(int(value))
    return dg.MetadataValue.float(float("nan") if value is None else float(value))


def as_metadata(value: Figure) -> dg.MetadataValue:
    """A figure as a metadata value: numbers typed, text as text, metadata values kept."""
    if isinstance(value, dg.MetadataValue):
        return value
    if isinstance(value, str):
        return dg.MetadataValue.text(value)
    return numeric(value)


def rows_by_day(frame: pd.DataFrame, date_column: str, first: date, last: date) -> dict[str, int]:
    """Row count of each day first..last (0 for a day without rows)."""
    counts = pd.Series(calendar_days(frame[date_column])).value_counts() if len(frame) else pd.Series(dtype=int)
    by_key = {f"{day:%Y-%m-%d}": int(count) for day, count in counts.items()}
    return {day.isoformat(): by_key.get(day.isoformat(), 0) for day in days_between(first, last)}


def day_slices(frame: pd.DataFrame, date_column: str) -> dict[str, pd.DataFrame]:
    """Each day's rows (YYYY-MM-DD -> rows in their order, index kept; undated rows left out) as slices of the
    frame put in day order once: a groupby would copy every column of every day, text columns included."""
    days = calendar_days(frame[date_column]) if len(frame) else np.array([], dtype="datetime64[D]")
    dated = ~np.isnat(days)
    if not dated.all():
        frame, days = frame[dated], days[dated]
    if len(days) > 1 and (days[1:] < days[:-1]).any():
        order = np.argsort(days, kind="stable")
        frame, days = frame.take(order), days[order]
    starts = np.flatnonzero(np.r_[True, days[1:] != days[:-1]]) if len(days) else np.array([], dtype=int)
    stops = np.r_[starts[1:], len(days)]
    return {str(days[start]): frame.iloc[start:stop] for start, stop in zip(starts, stops)}


@dataclass
class PartitionFigures:
    """Figures of each partition of a run (partition key -> name -> value), and the schema of the asset's rows."""

    figures: dict[str, dict[str, Figure]] = field(default_factory=dict)
    schema: dg.TableSchema | None = None

    def add(self, partition: str, values: Mapping[str, Figure]) -> None:
        """Set figures of one partition (later values of a name win)."""
        self.figures.setdefault(partition, {}).update(values)

    def add_rows(self, frame: pd.DataFrame, date_column: str, first: date, last: date) -> None:
        """Row counts of days first..last from a chunk's frame, and the frame's column schema (first one seen)."""
        for day, rows in rows_by_day(frame, date_column, first, last).items():
            self.add(day, {ROW_COUNT: rows})
        if self.schema is None and len(frame.columns):
            self.schema = column_schema(frame)

    def add_by_day(self, frame: pd.DataFrame, date_column: str, values: Mapping[str, tuple[str, str]],
                   first: date, last: date) -> None:
        """Per-day figures of days first..last from a table with a date column: figure name -> (numeric column,
        aggregation); NaN on a day without rows."""
        found: dict[str, dict[str, Figure]] = {}
        if len(frame):
            days = pd.Series(calendar_days(frame[date_column]), index=frame.index, name="day")
            table = frame.groupby(days).agg(**{name: (column, how) for name, (column, how) in values.items()})
            found = {f"{pd.Timestamp(day):%Y-%m-%d}": {name: float(row[name]) for name in values}
                     for day, row in table.iterrows()}
        for day in days_between(first, last):
            self.add(day.isoformat(), found.get(day.isoformat(), dict.fromkeys(values, float("nan"))))

    def add_each_day(self, frame: pd.DataFrame, date_column: str, first: date, last: date,
                     describe: Callable[[pd.DataFrame], Mapping[str, Figure]]) -> None:
        """Figures `describe` makes of each day's rows of first..last (an empty frame for a day without rows)."""
        by_day = day_slices(frame, date_column)
        for day in days_between(first, last):
            self.add(day.isoformat(), describe(by_day.get(day.isoformat(), frame.iloc[:0])))

    def add_day_names(self, name: str, first: date, last: date) -> None:
        """Each day of first..last names itself under `name` (readers of one materialization, the sensor, need it)."""
        for day in days_between(first, last):
            self.add(day.isoformat(), {name: day.isoformat()})

    def add_range_summary(self, context: dg.AssetExecutionContext, values: Mapping[str, Figure]) -> None:
        """Figures of the whole run on its last partition only, as `range_<name>` beside a `range_summary` label
        naming the range (the asset page's latest materialization; no other day claims them)."""
        if not values:
            return
        keys = context.partition_keys
        self.add(keys[-1], {RANGE_SUMMARY: f"range summary {keys[0]}..{keys[-1]}",
                            **{f"range_{name}": value for name, value in values.items()}})

    def stamp(self, context: dg.AssetExecutionContext) -> None:
        """Put each partition's figures on its own materialization of this run, the schema on all of them."""
        if self.schema is not None:
            context.add_asset_metadata({COLUMN_SCHEMA: self.schema})
        targeted = set(context.partition_keys)
        for partition, values in self.figures.items():
            if partition in targeted:
                context.add_asset_metadata({name: as_metadata(value) for name, value in values.items()},
                                           partition_key=partition)


def mlflow_run_url(mlflow: MlflowSpec, experiment_id: str, run_id: str) -> dg.MetadataValue:
    """Link to a run in the MLflow UI."""
    return dg.MetadataValue.url(f"{mlflow.ui_url.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}")


def mlflow_version_url(mlflow: MlflowSpec, name: str, version: str) -> dg.MetadataValue:
    """Link to a registered model version in the MLflow UI."""
    return dg.MetadataValue.url(f"{mlflow.ui_url.rstrip('/')}/#/models/{quote(name)}/versions/{version}")


def mlflow_artifact_url(mlflow: MlflowSpec, experiment_id: str, run_id: str, path: str) -> dg.MetadataValue:
    """Link to an artifact of a run (an Evidently HTML report) in the MLflow UI's artifact viewer."""
    return dg.MetadataValue.url(f"{mlflow.ui_url.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"
                                f"/artifacts/{path}")


def markdown_cell(value: object) -> str:
    """One value as a markdown table cell: missing values empty, midnight timestamps as dates, floats as tabulate
    shows them (6 significant digits), pipes escaped."""
    if value is None or (np.ndim(value) == 0 and pd.isna(value)):
        return ""
    if isinstance(value, pd.Timestamp) and value == value.normalize():
        return value.date().isoformat()  # a date, not "2024-01-01 00:00:00"
    text = f"{value:g}" if isinstance(value, float | np.floating) else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(frame: pd.DataFrame) -> str:
    """A small frame as a GitHub-flavoured markdown table, built directly: pandas' to_markdown (tabulate) pads every
    column to its width, which the Dagster UI does not need, at about three times the cost (2.6 against 0.8 ms for
    ten rows), paid per day."""
    lines = ["| " + " | ".join(markdown_cell(name) for name in frame.columns) + " |",
             "|" + "|".join(" --- " for _ in frame.columns) + "|"]
    lines += ["| " + " | ".join(map(markdown_cell, row)) + " |" for row in frame.itertuples(index=False, name=None)]
    return "\n".join(lines)


def preview(frame: pd.DataFrame) -> dict[str, Figure]:
    """The first rows of a day, as markdown."""
    return {"preview": dg.MetadataValue.md(markdown_table(frame.head(PREVIEW_ROWS)) if len(frame) else "no rows")}


def frame_table(frame: pd.DataFrame) -> dg.MetadataValue:
    """A small frame as a table the Dagster UI shows inline (numbers rounded to 4 places)."""
    frame = frame.round(4)
    columns = [dg.TableColumn(name=str(name), type="float" if pd.api.types.is_float_dtype(dtype)
                              else "int" if pd.api.types.is_integer_dtype(dtype) else "string")
               for name, dtype in frame.dtypes.items()]
    records = [dg.TableRecord({str(key): (value.item() if isinstance(value, np.generic) else
                                          value if isinstance(value, int | float | bool) or value is None
                                          else str(value))
                               for key, value in row.items()}) for row in frame.to_dict(orient="records")]
    return dg.MetadataValue.table(records=records, schema=dg.TableSchema(columns=columns))


def add_drift_figures(figures: PartitionFigures, tables: Mapping[str, pd.DataFrame], date_column: str,
                      first: date, last: date) -> None:
    """Per day: rows of the drift table, and the PSI of the worst judged feature (or score), overall and per
    segment."""
    judged = {segment: table[table["judged"].astype(bool)] for segment, table in tables.items() if len(table)}
    every = pd.concat(tables.values(), ignore_index=True) if tables else pd.DataFrame({date_column: []})
    figures.add_rows(every, date_column, first, last)
    for segment, table in judged.items():
        figures.add_by_day(table, date_column, {f"worst_psi_{segment}": ("psi", "max")}, first, last)
    if judged:
        figures.add_by_day(pd.concat(judged.values(), ignore_index=True), date_column,
                           {"worst_psi": ("psi", "max")}, first, last)


def add_performance_figures(figures: PartitionFigures, table: pd.DataFrame, date_column: str, segments: list[str],
                            first: date, last: date) -> None:
    """Per day: rows of the performance table, and each segment's realized AUC and ECE on its largest judged
    cohort (NaN on days with none)."""
    figures.add_rows(table, date_column, first, last)
    judged = table[table["judged"].astype(bool)].sort_values("rows") if len(table) else table
    for segment in segments:
        rows = judged[judged["segment"] == segment] if len(judged) else judged
        figures.add_by_day(rows, date_column, {f"realized_auc_{segment}": ("roc_auc", "last"),
                                               f"ece_{segment}": ("ece", "last")}, first, last)


def link_evidently_reports(figures: PartitionFigures, reports: Mapping[str, Mapping[date, Path]],
                           versions: Mapping[str, tuple[str, str]], client: MlflowClient, mlflow: MlflowSpec) -> None:
    """Log each Evidently report as an artifact of its champion's MLflow run (the MLflow UI serves it), and
    link it from its day's partition as `evidently_report_url_<segment>` (beside the local path)."""
    for segment, by_day in reports.items():
        if not by_day:
            continue
        run = client.get_run(client.get_model_version(*versions[segment]).run_id).info
        for day, path in by_day.items():
            folder = f"evidently/{day.isoformat()}"
            client.log_artifact(run.run_id, str(path), artifact_path=folder)
            figures.add(day.isoformat(), {f"evidently_report_url_{segment}": mlflow_artifact_url(
                mlflow, run.experiment_id, run.run_id, f"{folder}/{path.name}")})


def mlflow_links(client: MlflowClient, mlflow: MlflowSpec, name: str, version: str, run_id: str) -> dict[str, Figure]:
    """Links to a model version and its training run in the MLflow UI."""
    experiment_id = client.get_run(run_id).info.experiment_id
    return {"mlflow_run": mlflow_run_url(mlflow, experiment_id, run_id),
            "mlflow_model_version": mlflow_version_url(mlflow, name, version)}


def add_model_figures(figures: PartitionFigures, records: Mapping[str, ModelRecord], client: MlflowClient,
                      mlflow: MlflowSpec) -> None:
    """Per segment: the new version's holdout AUC and ECE, its baseline's AUC, and links to it in MLflow."""
    for segment, record in records.items():
        figures.add(segment, {"holdout_roc_auc": record.metrics["roc_auc"], "holdout_ece": record.metrics["ece"],
                              "baseline_roc_auc": record.baseline_metrics.get("roc_auc"),
                              "model_version": str(record.version), "promoted": record.promoted,
                              **mlflow_links(client, mlflow, record.model_name, str(record.version), record.run_id)})


def add_evaluation_figures(figures: PartitionFigures, results: Mapping[str, ModelEvaluation],
                           plots: Mapping[str, dg.MetadataValue], client: MlflowClient, mlflow: MlflowSpec) -> None:
    """Per segment: the evaluation's metrics as numbers, its lift table, its plots and links to it in MLflow."""
    for segment, result in results.items():
        metrics = {name: value for name, value in result.holdout.metrics.items() if isinstance(value, int | float)}
        record = result.record
        figures.add(segment, {**metrics, "lift_by_decile": frame_table(result.holdout.lift), "plots": plots[segment],
                              **mlflow_links(client, mlflow, record.model_name, str(record.version), record.run_id)})


def add_prediction_figures(figures: PartitionFigures, features: pd.DataFrame, scored: pd.DataFrame,
                           date_column: str, first: date, last: date) -> None:
    """Per day: scored rows, mean score, model versions used, rows not scored and rows outside dataset.segments."""
    figures.add_rows(scored, date_column, first, last)
    figures.add_by_day(scored, date_column, {"mean_score": (SCORE_COLUMN, "mean")}, first, last)
    kept = rows_by_day(scored, date_column, first, last)
    for day, rows in rows_by_day(features, date_column, first, last).items():
        figures.add(day, {"unscored_rows": rows - kept[day]})
    figures.add_each_day(features[[date_column, SEGMENT_COLUMN]], date_column, first, last,
                         lambda day: {"rows_outside_segments": int(day[SEGMENT_COLUMN].isna().sum())})
    versions = scored[[date_column, "model_name", "model_version"]]  # scored rows come by segment: days are apart
    figures.add_each_day(versions, date_column, first, last, lambda day: {"models": ", ".join(sorted(
        f"{name} v{version}" for name, version in day[["model_name", "model_version"]].drop_duplicates()
        .itertuples(index=False))) or "none"})


def add_cluster_counts(figures: PartitionFigures, clusters: pd.DataFrame, date_column: str, first: date,
                       last: date) -> None:
    """Per day: its rows per segment and risk cluster, as a table (counted for the whole chunk at once)."""
    days = pd.Series(calendar_days(clusters[date_column]), index=clusters.index, name=date_column)
    counts = (clusters.groupby([days, clusters[SEGMENT_COLUMN], clusters["risk_cluster"]], observed=True).size()
              .rename("rows").reset_index())
    figures.add_each_day(counts, date_column, first, last,
                         lambda day: {"rows_by_cluster": frame_table(day.drop(columns=date_column))})


def add_report_file_figures(figures: PartitionFigures, files: list[Path], first: date, last: date) -> None:
    """Per day: the row-level report files written (<folder>/date=YYYY-MM-DD/segment=<segment>/...)."""
    written = pd.Series([part.split("=", 1)[1] for path in files for part in path.parts if part.startswith("date=")],
                        dtype=object).value_counts()
    for day in days_between(first, last):
        figures.add(day.isoformat(), {"report_files": int(written.get(day.isoformat(), 0))})


def add_estimation_figures(figures: PartitionFigures, table: pd.DataFrame, date_column: str, segments: list[str],
                           first: date, last: date) -> None:
    """Per day: rows of the estimates table, and each segment's estimated AUC and default rate on its largest
    cohort (NaN on days with none)."""
    figures.add_rows(table, date_column, first, last)
    ordered = table.sort_values("rows") if len(table) else table
    for segment in segments:
        rows = ordered[ordered["segment"] == segment] if len(ordered) else ordered
        figures.add_by_day(rows, date_column, {f"estimated_roc_auc_{segment}": ("estimated_roc_auc", "last"),
                                               f"estimated_default_rate_{segment}": ("estimated_default_rate",
                                                                                     "last")}, first, last)

def image_markdown(paths: dict[str, Path]) -> dg.MetadataValue:
    """Inline PNG previews for the Dagster UI, with the file path under each."""
    parts = []
    for title, path in paths.items():
        encoded = base64.b64encode(path.read_bytes()).decode()
        parts.append(f"**{title}**\n\n![{title}](data:image/png;base64,{encoded})\n\n`{path}`")
    return dg.MetadataValue.md("\n\n".join(parts))
