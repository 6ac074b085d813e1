"""The parquet lake: one file per partition, hive-style folders, atomic writes.

Locations are UPath objects, so the lake is a local folder by default and any fsspec URL
(s3://, gs://, memory://) by configuration. A local partition is its file, written by an atomic rename.
On an object store a rename is a copy and a delete, so a partition's file is written under a key of its
own (part-<uuid>.parquet) and committed by the partition's manifest (_manifest.json, one PUT naming that
file): readers take only what a manifest names, so a write killed before its manifest leaves no partition.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from upath import UPath

FRAME_FILE = "part.parquet"
RECORD_FILE = "record.json"
MANIFEST_FILE = "_manifest.json"  # object stores: names the committed file of a partition; readers require it
READ_THREADS = 4  # partitions read at once: parquet decoding releases the GIL, and object stores answer in parallel
DATE_DIMENSION = "date"  # daily partitions: <asset>/date=YYYY-MM-DD
SEGMENT_DIMENSION = "segment"  # segment partitions: <asset>/segment=<name>


def lake_path(location: str | os.PathLike[str]) -> UPath:
    """A lake location (local path or fsspec URL) as a UPath."""
    return location if isinstance(location, UPath) else UPath(location)


def partition_dir(lake: UPath | Path, asset: str, dimension: str | None, key: str | None) -> UPath:
    """Folder of one partition: <lake>/<asset>/<dimension>=<key> (or <lake>/<asset> unpartitioned)."""
    base = lake_path(lake) / asset
    return base if key is None else base / f"{dimension}={key}"


def _is_local(path: UPath) -> bool:
    return path.protocol in ("", "file", "local")


def _write_atomic(path: UPath, payload: bytes) -> UPath:
    """Local: write beside `path`, then rename. Object store: write under a key of its own, then commit it by
    the manifest. Either way readers see the old file or the new one, never half of one. Returns the file."""
    if _is_local(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        write_local_atomic(Path(path.path), lambda tmp: Path(tmp).write_bytes(payload))
        return path
    data = _versioned(path)
    data.write_bytes(payload)
    commit_object(data)
    return data


def _versioned(path: UPath) -> UPath:
    """A key of its own for a new object-store version of `path` (part.parquet -> part-<uuid>.parquet)."""
    stem, dot, suffix = path.name.partition(".")
    return path.with_name(f"{stem}-{uuid.uuid4().hex}{dot}{suffix}")


def commit_object(data: UPath) -> None:
    """Make `data` (an object already written in its partition folder) the partition's file: one PUT of the
    manifest naming it, then the previous version is deleted."""
    folder = data.parent
    previous = stored_file(folder)
    (folder / MANIFEST_FILE).write_text(json.dumps({"file": data.name}))
    if previous is not None and previous.name != data.name:
        previous.unlink(missing_ok=True)


def commit_file(staged: UPath, folder: UPath) -> None:
    """Move a staged frame file into partition `folder`: an atomic rename locally, a copy committed by the
    manifest on an object store (the staged file is left to its staging folder's cleanup)."""
    if _is_local(folder):
        folder.mkdir(parents=True, exist_ok=True)
        staged.rename(folder / FRAME_FILE)
        return
    data = _versioned(folder / FRAME_FILE)
    staged.fs.copy(staged.path, data.path)
    commit_object(data)


def stored_file(folder: UPath | Path) -> UPath | None:
    """The committed file of a partition (part.parquet or record.json locally; what the manifest names on an
    object store), or None when the partition holds none."""
    folder = lake_path(folder)
    if _is_local(folder):
        return next((folder / name for name in (FRAME_FILE, RECORD_FILE) if (folder / name).exists()), None)
    try:
        return folder / json.loads((folder / MANIFEST_FILE).read_text())["file"]
    except FileNotFoundError:
        return None


def umask_mode() -> int:
    """The mode `open()` gives a new file under the process umask (0644 under umask 022)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def write_local_atomic(path: Path, write: Callable[[str], Any]) -> None:
    """Local files: `write(temp_path)` in the same folder, then os.replace (atomic on POSIX).

    mkstemp creates the temporary file 0600; it gets the umask's mode before the rename, so readers on a
    shared volume can open it."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, umask_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_frame(folder: UPath | Path, frame: pd.DataFrame) -> UPath:
    """Store a DataFrame as <folder>/part.parquet atomically; returns the file written."""
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return _write_atomic(lake_path(folder) / FRAME_FILE, buffer.getvalue())


def write_table(folder: UPath | Path, table: pa.Table) -> UPath:
    """Store an Arrow table as <folder>/part.parquet atomically (read back like a `write_frame` file)."""
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return _write_atomic(lake_path(folder) / FRAME_FILE, buffer.getvalue())


def write_record(folder: UPath | Path, record: dict[str, Any]) -> UPath:
    """Store a JSON-serializable dict as <folder>/record.json atomically."""
    return _write_atomic(lake_path(folder) / RECORD_FILE, json.dumps(record, indent=2, default=str).encode())


def read_partition(folder: UPath | Path) -> pd.DataFrame | dict[str, Any]:
    """Read what a partition folder holds (a frame or a record)."""
    path = stored_file(folder)
    if path is None:
        raise FileNotFoundError(f"no stored partition at {lake_path(folder)}: materialize it first")
    if path.suffix == ".parquet":
        return to_frame(read_table(folder))
    return json.loads(path.read_text())


def read_table(folder: UPath | Path, columns: list[str] | None = None) -> pa.Table:
    """The Arrow table of a frame partition; with `columns`, only those of them the file has. A local file is read
    by Arrow's own file reader (no Python file object in between, so threads read at once)."""
    path = frame_file(folder)
    source = nullcontext(path.path) if _is_local(path) else path.open("rb")
    with source as opened, pq.ParquetFile(opened) as parquet:
        kept = None if columns is None else [column for column in columns if column in parquet.schema_arrow.names]
        return parquet.read(columns=kept)


def frame_file(folder: UPath | Path) -> UPath:
    """The committed parquet file of a frame partition; FileNotFoundError when the partition holds none."""
    path = stored_file(folder)
    if path is None or path.suffix != ".parquet":
        raise FileNotFoundError(f"no stored partition at {lake_path(folder)}: materialize it first")
    return path


def read_tables(folders: list[UPath] | list[Path], columns: list[str] | None = None) -> list[pa.Table]:
    """The Arrow tables of several frame partitions, in the order given, read `READ_THREADS` at a time."""
    if len(folders) < 2:
        return [read_table(folder, columns) for folder in folders]
    with ThreadPoolExecutor(min(READ_THREADS, len(folders))) as pool:
        return list(pool.map(lambda folder: read_table(folder, columns), folders))


def read_frames(folders: list[UPath] | list[Path], columns: list[str] | None = None) -> pd.DataFrame:
    """Concatenate the frames of several partitions (in the order given); with `columns`, only those.

    The partitions are read a few at a time in threads; those of one schema (the usual case) are joined as Arrow
    tables and converted to pandas once, rather than converting each day and concatenating the frames (same frame,
    less work)."""
    tables = read_tables(folders, columns)
    tables = [table for table in tables if table.num_rows] or tables[:1]
    if not tables:
        return pd.DataFrame()
    if all(table.schema.equals(tables[0].schema, check_metadata=False) for table in tables[1:]):
        return to_frame(pa.concat_tables(tables))
    return pd.concat([to_frame(table) for table in tables], ignore_index=True)


def to_frame(table: pa.Table) -> pd.DataFrame:
    """A stored table as the frame that was written, text columns of pandas' string dtype kept in Arrow memory.

    pandas records such a column as "string" without its storage and, by default, rebuilds it as one Python
    object per value: a column read back and written again (predictions -> risk_clusters -> risk_report) would
    come back that way: on 5 days of risk_clusters 3x slower to read, 5x to factorize and 13x to write again than
    the Arrow strings scoring made."""
    with pd.option_context("mode.string_storage", "pyarrow"):
        return table.to_pandas()


def stored_keys(lake: UPath | Path, asset: str, dimension: str) -> list[str]:
    """Partition keys of an asset that have a committed file, sorted."""
    base = lake_path(lake) / asset
    prefix = f"{dimension}="
    if not _is_local(base):  # one listing of the manifests instead of a request per folder
        return sorted(path.parent.name[len(prefix):] for path in base.glob(f"{prefix}*/{MANIFEST_FILE}"))
    if not base.exists():
        return []
    return sorted(p.name[len(prefix):] for p in base.iterdir()
                  if p.name.startswith(prefix) and any((p / f).exists() for f in (FRAME_FILE, RECORD_FILE)))


def stored_days(lake: UPath | Path, asset: str) -> list[str]:
    """The days (YYYY-MM-DD) of an asset's daily partitions that have a committed file, sorted."""
    return stored_keys(lake, asset, DATE_DIMENSION)


def day_dirs(lake: UPath | Path, asset: str, days: list[str]) -> list[UPath]:
    """The folders of an asset's daily partitions `days`, in the order given."""
    return [partition_dir(lake, asset, DATE_DIMENSION, day) for day in days]


def read_days(lake: UPath | Path, asset: str, days: list[str], columns: list[str] | None = None) -> pd.DataFrame:
    """The rows of an asset's stored daily partitions `days`, in the order given (only `columns` when given)."""
    return read_frames(day_dirs(lake, asset, days), columns)
