"""Partitions shared by the asset graph: daily dates and model segments."""

import logging
from collections.abc import Iterator
from datetime import date, timedelta

import dagster as dg

from ml_assets.core.data.sources import date_chunks
from ml_assets.resources.storage import StagedDays
from ml_assets.spec import PipelineSpec

RANGE_START_TAG = "dagster/asset_partition_range_start"  # a run over a range of partitions (a single-run backfill)
RANGE_END_TAG = "dagster/asset_partition_range_end"
CHUNK_PROGRESS = logging.getLogger("ml_assets.progress")  # the CLI shows these lines; silent elsewhere


def daily_partitions(spec: PipelineSpec) -> dg.DailyPartitionsDefinition:
    """One partition per record date from the spec's start date to its end date (inclusive), or to today."""
    end = spec.dataset.end_date
    return dg.DailyPartitionsDefinition(start_date=spec.dataset.start_date.isoformat(),
                                        end_date=(end + timedelta(days=1)).isoformat() if end else None)


def segment_partitions(spec: PipelineSpec) -> dg.StaticPartitionsDefinition:
    """One partition per segment named in the spec."""
    return dg.StaticPartitionsDefinition(spec.segment_names)


def trailing_days(days: int, lag: int = 0) -> dg.TimeWindowPartitionMapping:
    """Each day maps to the `days` upstream days ending `lag` days before it (a trailing window); days before the
    first partition are left out."""
    return dg.TimeWindowPartitionMapping(start_offset=-(lag + days - 1), end_offset=-lag,
                                         allow_nonexistent_upstream_partitions=True)


def run_dates(context: dg.AssetExecutionContext) -> tuple[date, date]:
    """First and last date of the partitions this run materializes (a single run may span many)."""
    window = context.partition_time_window
    return window.start.date(), date.fromordinal(window.end.date().toordinal() - 1)


def run_chunks(context: dg.AssetExecutionContext, spec: PipelineSpec) -> Iterator[tuple[date, date]]:
    """The run's dates as (first, last) chunks of `storage.chunk_days` days: what a daily asset holds at once; each
    chunk is announced on CHUNK_PROGRESS as it starts, so a long range shows where it is."""
    chunks = date_chunks(*run_dates(context), spec.storage.chunk_days)
    for number, (first, last) in enumerate(chunks, start=1):
        if len(chunks) > 1:
            CHUNK_PROGRESS.info(f"{context.asset_key.to_user_string()} chunk {number}/{len(chunks)}: {first}..{last}")
        yield first, last


def staged_output(spec: PipelineSpec, asset: str) -> StagedDays:
    """Where a daily asset stages its output chunk by chunk, until the lake IO manager moves it into place."""
    return StagedDays(spec.lake_dir, asset, spec.dataset.date)
