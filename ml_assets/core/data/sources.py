"""Reading the raw records of a range of days from landing files or a database.

Every error names the file (or database) and says what to change. A per-day file holding only a
header line is a day with no records (an empty frame), not an error; a missing or 0-byte file is.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import fsspec
import pandas as pd

DELIMITERS = [";", "\t", "|"]


def days_between(start: date, end: date) -> list[date]:
    """Every calendar day from start to end inclusive."""
    return [start + timedelta(days=offset) for offset in range((end - start).days + 1)]


def date_chunks(start: date, end: date, days: int) -> list[tuple[date, date]]:
    """start..end cut into consecutive (first, last) ranges of at most `days` days, in date order."""
    if days < 1:
        raise ValueError(f"chunks need at least one day, got {days}")
    firsts = days_between(start, end)[::days]
    return [(first, min(first + timedelta(days=days - 1), end)) for first in firsts]


def _file_format(location: str) -> str:
    """'csv' or 'parquet' from the file name."""
    name = location.lower()
    if name.endswith((".csv", ".csv.gz", ".txt", ".tsv")):
        return "csv"
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    raise ValueError(f"{location}: unsupported file type; use .csv, .csv.gz or .parquet")


def _check_present(location: str) -> None:
    """Fail clearly when the file is missing or has 0 bytes."""
    fs, path = fsspec.core.url_to_fs(location)
    if not fs.exists(path):
        raise FileNotFoundError(f"{location}: landing file not found; generate it (`ml-assets demo`) "
                                "or fix dataset.source.path")
    if fs.size(path) == 0:
        raise ValueError(f"{location}: file is empty (0 bytes), probably an interrupted copy; "
                         "if the day has no records, write just the header line")


SNIFF_BYTES = 8192


def _head_bytes(location: str, size: int = SNIFF_BYTES) -> bytes:
    """The first bytes of a file as stored (not decompressed)."""
    with fsspec.open(location, "rb", compression=None) as handle:
        return handle.read(size)


def _content_problem(location: str, head: bytes, encoding: str) -> str | None:
    """What a CSV landing file holds when it is not plain CSV text, from its first bytes; None when it looks like text."""
    gzipped = location.lower().endswith(".gz")
    if head.startswith(b"\x1f\x8b"):
        return None if gzipped else "is gzip-compressed but not named .gz; rename it to .csv.gz"
    if gzipped:
        return "is named .gz but is not gzip-compressed; rename it to .csv or compress it"
    if head.startswith(b"PAR1"):
        return "is a Parquet file, not CSV; name it .parquet"
    if head.startswith(b"PK\x03\x04"):
        return "is a zip archive, not CSV; unzip it (or gzip it as .csv.gz)"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) and not encoding.lower().startswith("utf-16"):
        return "is UTF-16 text (it starts with a byte-order mark); save it as UTF-8 or set dataset.source.encoding: utf-16"
    if b"\x00" in head and not encoding.lower().startswith(("utf-16", "utf-32")):
        return "is binary data, not CSV text (it holds NUL bytes); check that the right file was copied here"
    return None


def _truncated_last_line(location: str, frame: pd.DataFrame, delimiter: str, encoding: str) -> str | None:
    """A last line with fewer fields than the header (a copy cut off mid-line), described; None otherwise. A cut
    .gz file is caught by the decompressor instead."""
    if location.lower().endswith(".gz"):
        return None
    with fsspec.open(location, "rb") as handle:
        size = handle.seek(0, 2)
        handle.seek(max(0, size - 65536))
        tail = handle.read()
    lines = tail.decode(encoding, errors="replace").rstrip("\r\n").splitlines()
    if not lines or tail.endswith(b"\n") or len(frame) == 0:
        return None
    fields = len(next(csv.reader([lines[-1]], delimiter=delimiter)))
    if fields >= frame.shape[1]:
        return None
    line_number = len(frame) + 1  # the header is line 1
    return (f"the last line (line {line_number}) is truncated ({fields} of {frame.shape[1]} fields: {lines[-1][:60]!r}); the file "
            "was probably cut off while copying: copy it again")


def _guess_delimiter(frame: pd.DataFrame, delimiter: str) -> str | None:
    """A likelier delimiter when a CSV parsed into one column whose name contains one."""
    if frame.shape[1] != 1:
        return None
    header = str(frame.columns[0])
    return next((d for d in DELIMITERS if d != delimiter and d in header), None)


def read_landing_file(location: str, delimiter: str = ",", encoding: str = "utf-8") -> pd.DataFrame:
    """One landing file (CSV, CSV.gz or Parquet, local or fsspec URL), with errors that say what to do."""
    file_format = _file_format(location)
    _check_present(location)
    if file_format == "csv":
        problem = _content_problem(location, _head_bytes(location), encoding)
        if problem:
            raise ValueError(f"{location}: {problem}")
    try:
        if file_format == "parquet":
            return pd.read_parquet(location)
        frame = pd.read_csv(location, sep=delimiter, encoding=encoding, low_memory=False)
    except UnicodeDecodeError as exc:
        raise ValueError(f"{location}: not readable as {encoding} ({exc.reason} at byte {exc.start}); "
                         "set dataset.source.encoding to the file's encoding, e.g. latin-1") from None
    except Exception as exc:
        raise ValueError(f"{location}: cannot be read ({type(exc).__name__}: {exc}); check that the file is "
                         "complete and in the format its name says") from None
    better = _guess_delimiter(frame, delimiter)
    if better:
        raise ValueError(f"{location}: parsed as one column {frame.columns[0][:60]!r}; the file seems delimited "
                         f"by {better!r}: set dataset.source.delimiter: {better!r}")
    truncated = _truncated_last_line(location, frame, delimiter, encoding)
    if truncated:
        raise ValueError(f"{location}: {truncated}")
    return frame


def read_daily_files(location_for_day: Callable[[date], str], start: date, end: date,
                     delimiter: str = ",", encoding: str = "utf-8") -> pd.DataFrame:
    """Concatenate the per-day landing files of start..end (header-only files add no rows)."""
    frames = [read_landing_file(location_for_day(day), delimiter, encoding) for day in days_between(start, end)]
    return _concat(frames)


def read_file_range(location: str, date_column: str, start: date, end: date,
                    delimiter: str = ",", encoding: str = "utf-8") -> pd.DataFrame:
    """Rows of one landing file dated start..end; rows with unparseable dates are kept so the contract flags them."""
    frame = read_landing_file(location, delimiter, encoding)
    if date_column not in frame.columns:
        return frame
    dates = pd.to_datetime(frame[date_column], errors="coerce", format="mixed")
    in_range = (dates >= pd.Timestamp(start)) & (dates < pd.Timestamp(end) + timedelta(days=1))
    return frame[in_range | dates.isna()].reset_index(drop=True)


class SourceUnavailable(ConnectionError):
    """The source database cannot be reached (an outage to retry, not a bad query)."""


def read_sql(url: str, query: str, start: date, end: date, connect_timeout_s: int = 10) -> pd.DataFrame:
    """Rows returned by `query` with :start and :end bound to the range (DuckDB natively, else SQLAlchemy)."""
    params: dict[str, Any] = {"start": start.isoformat(), "end": end.isoformat()}
    _check_database_file(url)
    try:
        if url.startswith("duckdb:///"):
            return _read_duckdb(url.removeprefix("duckdb:///"), query, params)
        return _read_sqlalchemy(url, query, params, connect_timeout_s)
    except SourceUnavailable:
        raise
    except Exception as exc:
        raise ValueError(f"database {redact_url(url)}: query failed ({type(exc).__name__}: {redact_url(str(exc))}); "
                         "check dataset.source.query and that the table exists") from None


def _check_database_file(url: str) -> None:
    """A file database (sqlite, duckdb) that is not there is unreachable (connecting would create an empty one)."""
    for prefix in ("sqlite:///", "duckdb:///"):
        path = url.removeprefix(prefix).split("?")[0]
        if url.startswith(prefix) and path not in ("", ":memory:") and not Path(path).exists():
            raise SourceUnavailable(f"database {redact_url(url)}: file {path} not found; fix dataset.source.url "
                                    "or restore the file")


def _read_duckdb(path: str, query: str, params: dict[str, Any]) -> pd.DataFrame:
    """Query a DuckDB file read-only; :name parameters become DuckDB's $name."""
    import duckdb

    with duckdb.connect(path, read_only=True) as connection:
        return connection.execute(query.replace(":start", "$start").replace(":end", "$end"), params).df()


def _read_sqlalchemy(url: str, query: str, params: dict[str, Any], connect_timeout_s: int) -> pd.DataFrame:
    """Query any SQLAlchemy database with bound parameters; a failed connection is SourceUnavailable."""
    import sqlalchemy

    network = not url.startswith("sqlite")
    engine = sqlalchemy.create_engine(url, connect_args={"connect_timeout": connect_timeout_s} if network else {})
    try:
        try:
            connection = engine.connect()
        except sqlalchemy.exc.OperationalError as exc:
            raise SourceUnavailable(f"database {redact_url(url)} cannot be reached "
                                    f"({redact_url(str(exc.orig)).splitlines()[0]}); check that it runs and "
                                    "dataset.source.url") from None
        with connection:
            return pd.read_sql(sqlalchemy.text(query), connection, params=params)
    finally:
        engine.dispose()


CREDENTIALS = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<user>[^/@:\s]*)(?::[^/\s]*)?@")


def redact_url(text: str) -> str:
    """Text with the password of every URL in it replaced by ***, for error messages and logs."""
    return CREDENTIALS.sub(lambda match: f"{match['scheme']}{match['user']}:***@", text)


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate frames, keeping the columns of header-only ones."""
    non_empty = [frame for frame in frames if len(frame)]
    if non_empty:
        return pd.concat(non_empty, ignore_index=True)
    return frames[0].iloc[0:0] if frames else pd.DataFrame()
