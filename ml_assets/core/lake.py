"""The parquet lake: one file per partition, hive-style folders, atomic writes."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

FRAME_FILE = "part.parquet"
RECORD_FILE = "record.json"


def partition_dir(lake: Path, asset: str, dimension: str | None, key: str | None) -> Path:
    """Folder of one partition: <lake>/<asset>/<dimension>=<key> (or <lake>/<asset> unpartitioned)."""
    base = lake / asset
    return base if key is None else base / f"{dimension}={key}"


def _write_atomic(path: Path, write: Any) -> None:
    """Write to a temp file beside `path`, then rename: readers see the old file or the new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_frame(folder: Path, frame: pd.DataFrame) -> Path:
    """Store a DataFrame as <folder>/part.parquet atomically."""
    path = folder / FRAME_FILE
    _write_atomic(path, lambda tmp: frame.to_parquet(tmp, index=False))
    return path


def write_record(folder: Path, record: dict[str, Any]) -> Path:
    """Store a JSON-serializable dict as <folder>/record.json atomically."""
    path = folder / RECORD_FILE
    _write_atomic(path, lambda tmp: Path(tmp).write_text(json.dumps(record, indent=2, default=str)))
    return path


def read_partition(folder: Path) -> pd.DataFrame | dict[str, Any]:
    """Read what a partition folder holds (a frame or a record)."""
    if (folder / FRAME_FILE).exists():
        return pd.read_parquet(folder / FRAME_FILE)
    if (folder / RECORD_FILE).exists():
        return json.loads((folder / RECORD_FILE).read_text())
    raise FileNotFoundError(f"no stored partition at {folder}: materialize it first")


def read_frames(folders: list[Path]) -> pd.DataFrame:
    """Concatenate the frames of several partitions (in the order given)."""
    frames = [read_partition(folder) for folder in folders]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def stored_keys(lake: Path, asset: str, dimension: str) -> list[str]:
    """Partition keys of an asset that have a stored file, sorted."""
    base = lake / asset
    if not base.exists():
        return []
    prefix = f"{dimension}="
    return sorted(p.name[len(prefix):] for p in base.iterdir()
                  if p.name.startswith(prefix) and any((p / f).exists() for f in (FRAME_FILE, RECORD_FILE)))
