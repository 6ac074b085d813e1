"""Partitions shared by the asset graph: daily dates and model segments."""

import base64
from datetime import date
from pathlib import Path

import dagster as dg

from ml_assets.spec import PipelineSpec

RANGE_START_TAG = "dagster/asset_partition_range_start"  # a run over a range of partitions (a single-run backfill)
RANGE_END_TAG = "dagster/asset_partition_range_end"


def daily_partitions(spec: PipelineSpec) -> dg.DailyPartitionsDefinition:
    """One partition per record date from the spec's start date."""
    return dg.DailyPartitionsDefinition(start_date=spec.dataset.start_date.isoformat())


def segment_partitions(spec: PipelineSpec) -> dg.StaticPartitionsDefinition:
    """One partition per segment named in the spec."""
    return dg.StaticPartitionsDefinition(spec.segment_names)


def run_dates(context: dg.AssetExecutionContext) -> tuple[date, date]:
    """First and last date of the partitions this run materializes (a single run may span many)."""
    window = context.partition_time_window
    return window.start.date(), date.fromordinal(window.end.date().toordinal() - 1)


def image_markdown(paths: dict[str, Path]) -> dg.MetadataValue:
    """Inline PNG previews for the Dagster UI, with the file path under each."""
    parts = []
    for title, path in paths.items():
        encoded = base64.b64encode(path.read_bytes()).decode()
        parts.append(f"**{title}**\n\n![{title}](data:image/png;base64,{encoded})\n\n`{path}`")
    return dg.MetadataValue.md("\n\n".join(parts))
