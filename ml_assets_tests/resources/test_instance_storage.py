"""BatchedSqliteStorage against Dagster's own SQLite storage: one run over a range stores the same events, each
partition's own metadata and the same check plans, with far fewer database transactions."""

from pathlib import Path

import dagster as dg
import pytest

from ml_assets.defs.partitions import RANGE_END_TAG, RANGE_START_TAG
from ml_assets.instance import EVENT_BATCH_ENV, instance_yaml
from ml_assets.resources.instance_storage import BatchedSqliteEventLogStorage

FIRST, LAST, DAYS = "2024-01-01", "2024-02-09", 40
DAILY = dg.DailyPartitionsDefinition(start_date=FIRST, end_date="2024-03-01")


@dg.asset(partitions_def=DAILY, backfill_policy=dg.BackfillPolicy.single_run(),
          check_specs=[dg.AssetCheckSpec("rows_positive", asset="daily")])
def daily(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    """Each day of the run with its own row count (its day of the year), and a check."""
    for key in context.partition_keys:
        context.add_asset_metadata({"dagster/row_count": int(key[-2:]) + 100 * int(key[5:7])}, partition_key=key)
    return dg.MaterializeResult(check_results=[dg.AssetCheckResult(check_name="rows_positive", passed=True)])


def run_range(home: Path, settings: str) -> tuple[dg.DagsterInstance, str]:
    """The instance in `home` (dagster.yaml `settings`) after one run of `daily` over FIRST..LAST."""
    home.mkdir()
    (home / "dagster.yaml").write_text(settings)
    instance = dg.DagsterInstance.from_config(str(home))
    result = dg.materialize([daily], instance=instance, tags={RANGE_START_TAG: FIRST, RANGE_END_TAG: LAST})
    assert result.success
    return instance, result.run_id


def latest(instance: dg.DagsterInstance, run_id: str) -> tuple[int, str | None, bool]:
    """The asset's own record (what the asset list and the asset page read first): its last materialization's
    storage id and partition, and whether its last run is `run_id`."""
    entry = instance.get_asset_records([dg.AssetKey("daily")])[0].asset_entry
    record = entry.last_materialization_record
    return record.storage_id, record.partition_key, entry.last_run_id == run_id


def stored(instance: dg.DagsterInstance, run_id: str) -> tuple[list, dict[str, int], list, list, tuple]:
    """What readers see: the run's event types in order, each partition's row count, the materialized
    partitions, the check's planned and finished executions, and the asset's own record."""
    events = [entry.dagster_event_type for entry in instance.all_logs(run_id)]
    rows = {record.partition_key: record.asset_materialization.metadata["dagster/row_count"].value
            for record in instance.fetch_materializations(dg.AssetKey("daily"), limit=1000).records}
    checks = instance.event_log_storage.get_asset_check_execution_history(
        dg.AssetCheckKey(dg.AssetKey("daily"), "rows_positive"), limit=10)
    planned = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED)
    return (events, rows, sorted(instance.get_materialized_partitions(dg.AssetKey("daily"))),
            [(check.status, len(planned.records)) for check in checks], latest(instance, run_id))


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every SQLite shard connection the event log opens (one per transaction), in order."""
    opened: list[str] = []
    original = BatchedSqliteEventLogStorage._connect

    def counting(self: BatchedSqliteEventLogStorage, shard: str):
        opened.append(shard)
        return original(self, shard)

    monkeypatch.setattr(dg._core.storage.event_log.SqliteEventLogStorage, "_connect", counting)
    return opened


def test_batched_storage_stores_what_dagster_stores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    connections: list[str]) -> None:
    monkeypatch.setenv(*next(iter(EVENT_BATCH_ENV.items())))
    stock, stock_run = run_range(tmp_path / "stock", f"storage:\n  sqlite:\n    base_dir: {tmp_path / 'stock'}\n")
    stock_connections, connections[:] = len(connections), []
    batched, batched_run = run_range(tmp_path / "batched", instance_yaml(tmp_path / "batched"))
    batched_connections = len(connections)
    assert isinstance(batched.event_log_storage, BatchedSqliteEventLogStorage)
    assert stored(batched, batched_run) == stored(stock, stock_run)
    events, rows, partitions, checks, (_, last_partition, last_run) = stored(batched, batched_run)
    assert last_partition == LAST and last_run
    assert events.count(dg.DagsterEventType.ASSET_MATERIALIZATION) == len(rows) == len(partitions) == DAYS
    assert rows["2024-02-09"] == 209 and checks[0][1] == DAYS
    # 40 planned and 40 materialization events: each stored with 2 transactions by the stock storage, 2 per batch here
    assert batched_connections <= stock_connections - 3 * DAYS, (batched_connections, stock_connections)
