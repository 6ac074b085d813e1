"""Instance storage of the production stack: dagster-postgres's storage with each connection kept open.

dagster-postgres's run and event-log storages open a new connection for every statement outside the webserver
(SQLAlchemy NullPool): a PostgreSQL backend and a SCRAM handshake, about 9 ms each on 127.0.0.1 here, two or three
per event, so a year's single-run backfill (4,380 events) spent most of its orchestration time connecting.
This storage holds one connection per storage and process, as Dagster's webserver does
(`optimize_for_webserver`), for the daemon and every run worker too. dagster.yaml names it as `storage: custom`."""

from collections.abc import Mapping
from typing import Any

from dagster_postgres import DagsterPostgresStorage
from dagster_postgres.utils import get_token_provider_from_config, pg_url_from_config

POOL_RECYCLE_S = 3600  # Dagster webserver's default: a held connection is renewed hourly
MAX_OVERFLOW = 20  # Dagster webserver's default: extra connections for concurrent threads, closed after use
NO_STATEMENT_TIMEOUT = 0  # PostgreSQL's 0 disables it: run workers keep the stock storage's unbounded statements


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
