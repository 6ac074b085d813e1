"""The run of a daily asset over its partitions: chunk by chunk, staged, each partition with its own figures.

Every daily asset is one recipe around its own core call: for each chunk of `storage.chunk_days` days, read the
chunk of its inputs, compute, add the chunk's figures and stage its table; then stamp each partition's figures
and return the staged days as its Output, which the lake IO manager moves into place. Leaving the run's block
discards whatever is still staged, so a range that fails (an error, a failed blocking check) stores nothing."""

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from types import TracebackType

import dagster as dg
import pandas as pd

from ml_assets.core.data.sources import days_between
from ml_assets.defs.metadata import Figure, PartitionFigures
from ml_assets.defs.partitions import run_chunks, run_dates, staged_output
from ml_assets.resources.storage import DailyFrames, StagedDays
from ml_assets.spec import PipelineSpec


@dataclass(frozen=True)
class Chunk:
    """Days first..last of a daily run, held at once: read its inputs, add its figures, stage its output."""

    first: date
    last: date
    date_column: str
    figures: PartitionFigures
    staged: StagedDays

    @property
    def days(self) -> list[date]:
        """Every day of the chunk, in order."""
        return days_between(self.first, self.last)

    def read(self, frames: DailyFrames, columns: list[str] | None = None) -> pd.DataFrame:
        """The chunk's rows of a daily input (only `columns` when given)."""
        return frames.read(self.first, self.last, columns)

    def add_rows(self, frame: pd.DataFrame,
                 describe: Callable[[pd.DataFrame], Mapping[str, Figure]] | None = None) -> None:
        """Each day's row count of `frame` (and the asset's column schema), with what `describe` makes of the
        day's rows when given."""
        self.figures.add_rows(frame, self.date_column, self.first, self.last)
        if describe is not None:
            self.describe_days(frame, describe)

    def describe_days(self, frame: pd.DataFrame, describe: Callable[[pd.DataFrame], Mapping[str, Figure]]) -> None:
        """What `describe` makes of each day's rows of `frame`, as that day's figures."""
        self.figures.add_each_day(frame, self.date_column, self.first, self.last, describe)

    def name_days(self, name: str) -> None:
        """Each day names itself under `name` (readers of one materialization, the sensor, need it)."""
        self.figures.add_day_names(name, self.first, self.last)

    def stage(self, table: pd.DataFrame) -> None:
        """Stage the chunk's output, one file per day, until the run's Output is stored."""
        self.staged.add(table, self.first, self.last)


class DailyRun:
    """A daily asset's run over the partitions it materializes: its chunks (announced as they start), the staging
    of their output, and each partition's figures, stamped on its own materialization by `output`.

    Use it as a context manager around the chunk loop and the Output: leaving the block discards what is still
    staged."""

    def __init__(self, context: dg.AssetExecutionContext, spec: PipelineSpec) -> None:
        self.context = context
        self.spec = spec
        self.first, self.last = run_dates(context)
        self.figures = PartitionFigures()
        self.staged = staged_output(spec, context.asset_key.path[-1])

    def chunks(self) -> Iterator[Chunk]:
        """The run's days as chunks of `storage.chunk_days` days, in order."""
        for first, last in run_chunks(self.context, self.spec):
            yield Chunk(first, last, self.spec.dataset.date, self.figures, self.staged)

    def add_range_summary(self, values: Mapping[str, Figure]) -> None:
        """Figures of the whole run, on its last partition only (as `range_<name>`)."""
        self.figures.add_range_summary(self.context, values)

    def output(self, metadata: Mapping[str, Figure] | None = None) -> dg.Output:
        """Stamp each partition's figures on its materialization; the staged days as the asset's Output, with
        `metadata` that holds for every partition of the run."""
        self.figures.stamp(self.context)
        return dg.Output(self.staged, metadata=dict(metadata or {}))

    def __enter__(self) -> "DailyRun":
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.staged.discard()
