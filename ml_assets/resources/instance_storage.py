"""Instance storage of this project: Dagster's SQLite and PostgreSQL storages, each writing less per event.

Dagster writes the events of a batch (a run's planned materializations, and the per-partition materializations of
one step's output: 4,380 events in a year's single-run backfill of the daily chain) together through
`store_event_batch` when DAGSTER_EVENT_BATCH_SIZE is above 0 (`EVENT_BATCH_ENV`, set by the CLI, scripts/ui and
scripts/stack).

- SQLite (`BatchedSqliteStorage`, the embedded instance's dagster.yaml: `storage: custom`): the stock event log
  stores a batch event by event, each opening, committing and closing its run's database and the index database
  (about 20-100 ms an event on this shared disk); this one writes a batch in one transaction on each, and updates
  each asset's own row from the batch's last event of each kind only.
- PostgreSQL (`PooledPostgresStorage`, the stack's dagster.yaml): dagster-postgres's run and event-log storages
  open a new connection for every statement outside the webserver (SQLAlchemy NullPool): a PostgreSQL backend and
  a SCRAM handshake, about 9 ms each on 127.0.0.1 here, two or three per event. This storage holds one connection
  per storage and process, as Dagster's webserver does (`optimize_for_webserver`), for the daemon and every run
  worker too. Its event log already inserts a batch of materializations in one statement."""

from collections.abc import Mapping, Sequence
from typing import Any

from dagster._core.events import ASSET_CHECK_EVENTS, ASSET_EVENTS
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log import SqliteEventLogStorage
from dagster._core.storage.sqlalchemy_compat import db_result
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage, _event_logs_directory
from dagster_postgres import DagsterPostgresStorage
from dagster_postgres.utils import get_token_provider_from_config, pg_url_from_config

POOL_RECYCLE_S = 3600  # Dagster webserver's default: a held connection is renewed hourly
MAX_OVERFLOW = 20  # Dagster webserver's default: extra connections for concurrent threads, closed after use
NO_STATEMENT_TIMEOUT = 0  # PostgreSQL's 0 disables it: run workers keep the stock storage's unbounded statements


def latest_of_each_kind(stored: list[tuple[EventLogEntry, int]]) -> list[tuple[EventLogEntry, int]]:
    """The last event of each asset key and event type, in batch order. The asset-key table row an event updates
    holds only that event's values (last materialization, run id, timestamp), so updating it from these alone
    leaves the row as updating it from every event in turn would, without serializing each event twice
    (dagster-postgres's batch write likewise updates it from the batch's last event only)."""
    last = {(event.dagster_event.asset_key, event.dagster_event_type): index
            for index, (event, _) in enumerate(stored) if event.dagster_event}
    return [stored[index] for index in sorted(last.values())]


class BatchedSqliteEventLogStorage(SqliteEventLogStorage):
    """Dagster's SQLite event log, writing a batch of one run's events in one transaction on the run's database and
    one on the index database (the same rows, in the same order, as storing them one by one)."""

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        """Store `events` (Dagster batches only asset and asset-check events) with two transactions in all."""
        if len({event.run_id for event in events}) != 1:
            super().store_event_batch(events)
            return
        statements = [self.prepare_insert_event(event) for event in events]
        with self.run_connection(events[0].run_id) as conn:
            for statement in statements:
                conn.execute(statement)
        with self.index_transaction() as conn:
            stored: list[tuple[EventLogEntry, int]] = []
            for event, statement in zip(events, statements):
                if event.is_dagster_event and event.dagster_event_type in ASSET_EVENTS:
                    with db_result(conn, statement) as result:
                        stored.append((event, result.inserted_primary_key[0]))
                    self._store_asset_event_tags(conn, [event], [stored[-1][1]])
            for event, event_id in latest_of_each_kind(stored):
                self._store_asset_event(conn, event, event_id)
        for event, statement in zip(events, statements):
            if event.is_dagster_event and event.dagster_event_type in ASSET_CHECK_EVENTS:
                with self.index_connection() as conn, db_result(conn, statement) as result:
                    event_id = result.inserted_primary_key[0]
                self.store_asset_check_event(event, event_id)


class BatchedSqliteStorage(DagsterSqliteStorage):
    """Dagster's SQLite instance storage (the same files under `base_dir`) with `BatchedSqliteEventLogStorage`."""

    def __init__(self, base_dir: str, inst_data: object | None = None) -> None:
        super().__init__(base_dir, inst_data)
        self._event_log_storage = BatchedSqliteEventLogStorage(_event_logs_directory(base_dir))

    @classmethod
    def from_config_value(cls, inst_data: object | None,
                          config_value: Mapping[str, Any]) -> "BatchedSqliteStorage":
        """The storage from dagster.yaml's `storage: custom: config: base_dir:` (what `storage: sqlite` takes)."""
        return cls.from_local(inst_data=inst_data, base_dir=config_value["base_dir"])


class PooledPostgresStorage(DagsterPostgresStorage):
    """DagsterPostgresStorage whose run and event-log storages keep their connection between statements.

    `inst_data` is Dagster's record of the dagster.yaml entry that built the storage, passed on untouched (its
    class is private to Dagster, so it is typed `object` here)."""

    def __init__(self, postgres_url: str, should_autocreate_tables: bool = True,
                 inst_data: object | None = None, token_provider: Any = None) -> None:
        super().__init__(postgres_url, should_autocreate_tables, inst_data, token_provider)
        for storage in (self.run_storage, self.event_log_storage):
            storage.optimize_for_webserver(NO_STATEMENT_TIMEOUT, POOL_RECYCLE_S, MAX_OVERFLOW)

    @classmethod
    def from_config_value(cls, inst_data: object | None,
                          config_value: Mapping[str, Any]) -> "PooledPostgresStorage":
        """The storage from dagster.yaml's `storage: custom: config:` (the same fields as `storage: postgres`)."""
        return cls(inst_data=inst_data, postgres_url=pg_url_from_config(config_value),
                   should_autocreate_tables=config_value.get("should_autocreate_tables", True),
                   token_provider=get_token_provider_from_config(config_value))
