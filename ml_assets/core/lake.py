"""The parquet lake: one file per partition, hive-style folders, atomic writes.

Locations are UPath objects, so the lake is a local folder by default and any fsspec URL
(s3://, gs://, memory://) by configuration.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from upath import UPath

FRAME_FILE = "part.parquet"
RECORD_FILE = "record.json"


def lake_path(location: str | os.PathLike[str]) -> UPath:
    """A lake location (local path or fsspec URL) as a UPath."""
    return location if isinstance(location, UPath) else UPath(location)


def partition_dir(lake: UPath | Path, asset: str, dimension: str | None, key: str | None) -> UPath:
    """Folder of one partition: <lake>/<asset>/<dimension>=<key> (or <lake>/<asset> unpartitioned)."""
    base = lake_path(lake) / asset
    return base if key is None else base / f"{dimension}={key}"


def _is_local(path: UPath) -> bool:
    return path.protocol in ("", "file", "local")


def _write_atomic(path: UPath, payload: bytes) -> None:
    """Write beside `path`, then rename: readers see the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if _is_local(path):
        write_local_atomic(Path(path.path), lambda tmp: Path(tmp).write_bytes(payload))
        return
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        temporary.write_bytes(payload)
        temporary.rename(path)
    finally:
        if temporary.exists():
            temporary.unlink()


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
    """Store a DataFrame as <folder>/part.parquet atomically."""
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    path = lake_path(folder) / FRAME_FILE
    _write_atomic(path, buffer.getvalue())
    return path


def write_table(folder: UPath | Path, table: pa.Table) -> UPath:
    """Store an Arrow table as <folder>/part.parquet atomically (read back like a `write_frame` file)."""
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    path = lake_path(folder) / FRAME_FILE
    _write_atomic(path, buffer.getvalue())
    return path


def write_record(folder: UPath | Path, record: dict[str, Any]) -> UPath:
    """Store a JSON-serializable dict as <folder>/record.json atomically."""
    path = lake_path(folder) / RECORD_FILE
    _write_atomic(path, json.dumps(record, indent=2, default=str).encode())
    return path


def read_partition(folder: UPath | Path) -> pd.DataFrame | dict[str, Any]:
    """Read what a partition folder holds (a frame or a record)."""
    folder = lake_path(folder)
    if (folder / FRAME_FILE).exists():
        with (folder / FRAME_FILE).open("rb") as handle:
            return pd.read_parquet(handle)
    if (folder / RECORD_FILE).exists():
        return json.loads((folder / RECORD_FILE).read_text())
    raise FileNotFoundError(f"no stored partition at {folder}: materialize it first")


def read_table(folder: UPath | Path, columns: list[str] | None = None) -> pa.Table:
    """The Arrow table of a frame partition; with `columns`, only those of them the file has."""
    path = lake_path(folder) / FRAME_FILE
    if not path.exists():
        raise FileNotFoundError(f"no stored partition at {lake_path(folder)}: materialize it first")
    with path.open("rb") as handle:
        if columns is None:
            return pq.read_table(handle)
        parquet = pq.ParquetFile(handle)
        return parquet.read(columns=[column for column in columns if column in parquet.schema_arrow.names])


def read_frames(folders: list[UPath] | list[Path], columns: list[str] | None = None) -> pd.DataFrame:
    """Concatenate the frames of several partitions (in the order given); with `columns`, only those.

    Partitions of one schema (the usual case) are joined as Arrow tables and converted to pandas once, rather
    than converting each day and concatenating the frames (same frame, less work)."""
    tables = [read_table(folder, columns) for folder in folders]
    tables = [table for table in tables if table.num_rows] or tables[:1]
    if not tables:
        return pd.DataFrame()
    if all(table.schema.equals(tables[0].schema, check_metadata=False) for table in tables[1:]):
        return pa.concat_tables(tables).to_pandas()
    return pd.concat([table.to_pandas() for table in tables], ignore_index=True)


def stored_keys(lake: UPath | Path, asset: str, dimension: str) -> list[str]:
    """Partition keys of an asset that have a stored file, sorted."""
    base = lake_path(lake) / asset
    if not base.exists():
        return []
    prefix = f"{dimension}="
    return sorted(p.name[len(prefix):] for p in base.iterdir()
                  if p.name.startswith(prefix) and any((p / f).exists() for f in (FRAME_FILE, RECORD_FILE)))
