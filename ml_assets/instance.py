"""The Dagster instance folder of one pipeline config: <storage.home>/dagster, never the current folder.

Two configs with different `storage.home` never share runs or asset history; the CLI and `scripts/ui --config`
point DAGSTER_HOME here. Light on imports (standard library only) so shell scripts can ask for the folder quickly."""

from __future__ import annotations

import fcntl
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ml_assets.spec import PipelineSpec

INSTANCE_FOLDER = "dagster"
INSTANCE_YAML = """\
# Embedded Dagster instance of this pipeline (written by ml-assets when missing; edit it or replace it with the
# production stack's settings). Runs, events, schedules and compute logs live in SQLite files in this folder;
# the storage is Dagster's SQLite storage writing each batch of events in one transaction
# (ml_assets/resources/instance_storage.py), with DAGSTER_EVENT_BATCH_SIZE set by ml-assets and scripts/ui.
storage:
  custom:
    module: ml_assets.resources.instance_storage
    class: BatchedSqliteStorage
    config:
      base_dir: {home}
telemetry:
  enabled: false
"""
# Dagster writes a run's planned events, and one step's per-partition materializations, as batches of this size
# (store_event_batch) instead of one write each; 0, Dagster's default, writes every event on its own.
EVENT_BATCH_ENV = {"DAGSTER_EVENT_BATCH_SIZE": "100"}


def instance_yaml(home: Path) -> str:
    """The dagster.yaml of an embedded instance in folder `home`."""
    return INSTANCE_YAML.format(home=home.resolve())


def instance_home(spec: PipelineSpec) -> Path:
    """<storage.home>/dagster with a dagster.yaml in it (written when missing, kept when present)."""
    home = spec.home_dir / INSTANCE_FOLDER
    home.mkdir(parents=True, exist_ok=True)
    settings = home / "dagster.yaml"
    if not settings.exists():
        settings.write_text(instance_yaml(home))
    return home


def point_dagster_home(spec: PipelineSpec) -> Path:
    """Set DAGSTER_HOME to the config's instance folder (a dagster.yaml in the current folder must not win), and
    Dagster's event batch size (`EVENT_BATCH_ENV`) unless the environment sets one."""
    home = instance_home(spec)
    os.environ["DAGSTER_HOME"] = str(home)
    for name, value in EVENT_BATCH_ENV.items():
        os.environ.setdefault(name, value)
    return home


@contextmanager
def storage_lock(home: Path) -> Iterator[None]:
    """Hold the instance folder's lock file: two processes opening a new instance at once would both create its
    SQLite tables, and the second fails with `table jobs already exists`."""
    with (home / ".storage.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def create_storage(home: Path) -> None:
    """Open the instance once so its storage exists before the daemon, the webserver and its code server open it
    together (on a new instance they would each create the SQLite schema and leave it with two migration heads)."""
    import dagster as dg

    with storage_lock(home):
        dg.DagsterInstance.from_config(str(home)).dispose()


def main(argv: list[str]) -> int:
    """`python -m ml_assets.instance CONFIG`: print the config's instance folder, its storage created, for scripts/ui."""
    from ml_assets.spec import ConfigError, load_spec

    try:
        home = instance_home(load_spec(argv[0]))
        create_storage(home)
        print(home)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
