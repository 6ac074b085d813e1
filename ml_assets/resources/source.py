"""The data source injected into raw_data: landing files or a database, from the spec."""

from datetime import date

import dagster as dg
import pandas as pd

from ml_assets.core.data import sources
from ml_assets.resources.secrets import secret_value
from ml_assets.spec import FileSourceSpec, PipelineSpec


class DataSource(dg.ConfigurableResource):
    """Reads the raw records of a date range; `location` is a path template, a file, or a database URL."""

    kind: str
    location: str
    date_column: str
    delimiter: str = ","
    encoding: str = "utf-8"
    query: str = ""
    connect_timeout_s: int = 10

    @classmethod
    def from_spec(cls, spec: PipelineSpec) -> "DataSource":
        """The source a pipeline config describes, with local paths made absolute."""
        source = spec.dataset.source
        if isinstance(source, FileSourceSpec):
            return cls(kind="files", location=spec.resolve_location(source.path), date_column=spec.dataset.date,
                       delimiter=source.delimiter, encoding=source.encoding)
        return cls(kind="sql", location=secret_value(spec, "dataset.source.url", source.url),
                   date_column=spec.dataset.date, query=source.query, connect_timeout_s=spec.retries.request_timeout_s)

    def read(self, start: date, end: date) -> pd.DataFrame:
        """Records dated start..end."""
        if self.kind == "sql":
            return sources.read_sql(self.location, self.query, start, end, self.connect_timeout_s)
        if "{date}" in self.location:
            return sources.read_daily_files(lambda day: self.location.format(date=day.isoformat()), start, end,
                                            self.delimiter, self.encoding)
        return sources.read_file_range(self.location, self.date_column, start, end, self.delimiter, self.encoding)
