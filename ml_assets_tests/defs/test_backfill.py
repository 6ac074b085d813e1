"""A year of the daily chain as one run: an asset backfill submitted through the instance, as the UI's backfill
dialog does, and launched by the backfill daemon's iteration, on a real (SQLite) instance."""

import gc
import logging
import tempfile
import time
from datetime import date
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.storage.tags import BACKFILL_ID_TAG
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._core.utils import make_new_backfill_id
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget
from dagster._daemon.backfill import execute_backfill_iteration

from ml_assets.core.data import lake
from ml_assets.core.data.sources import days_between
from ml_assets.core.data.synthetic import generate_invoices, write_landing_files
from ml_assets.definitions import CONFIG_ENV, INGEST_JOB, TRAINING_JOB, build_definitions
from ml_assets.defs.automation import DAILY_CHAIN
from ml_assets.defs.partitions import RANGE_END_TAG, RANGE_START_TAG
from ml_assets.spec import PipelineSpec
from ml_assets_tests.conftest import demo_config, make_spec

YEAR = days_between(date(2024, 1, 1), date(2024, 12, 30))  # 365 daily partitions
TRAIN_FIRST, TRAIN_LAST, AS_OF = "2024-01-01", "2024-03-31", "2024-06-14"  # labels of Jan-Mar matured by AS_OF
CUSTOMERS = 1000  # ~32 invoices a day: the cost under test is per partition, not per row
OVERRIDES = {"dataset": {"end_date": "2024-12-31"},  # the year runs past the demo's last day
             "training": {"window_days": 91, "holdout_days": 14, "min_auc": 0.5},
             "drift": {"evidently": {"days": "none"}}}
# model_performance is left out: a backfill maps predictions' days D to the days D+75..D+88 whose labels mature
# then, so the UI's dialog gives it a run of its own over that later range (README: Backfills and automation)
CHAIN = [asset for asset in DAILY_CHAIN if asset != "model_performance"]
LAUNCH_IN_PROCESS = {  # submitted runs start at once (no queue daemon) and execute in this process
    "run_coordinator": {"module": "dagster._core.run_coordinator", "class": "DefaultRunCoordinator"},
    "run_launcher": {"module": "dagster._core.launcher.sync_in_memory_run_launcher", "class": "SyncInMemoryRunLauncher"}}


@pytest.fixture
def year_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> PipelineSpec:
    """A year of landing files of a small customer base, and a config file the code location loads."""
    write_landing_files(generate_invoices(CUSTOMERS, YEAR[0], YEAR[-1], seed=5), tmp_path / "landing")
    config = tmp_path / "pipeline.yaml"
    config.write_text(yaml.safe_dump(demo_config(tmp_path, **OVERRIDES), sort_keys=False))
    monkeypatch.setenv(CONFIG_ENV, str(config))
    return make_spec(tmp_path, **OVERRIDES)


def instance_storage() -> tempfile.TemporaryDirectory:
    """Where the test instance's SQLite files go: memory-backed /dev/shm when there is one (the same storage
    classes and code path; only the disk's commit latency, ~2 ms per event under load, is taken out)."""
    return tempfile.TemporaryDirectory(dir="/dev/shm" if Path("/dev/shm").is_dir() else None)


def train_champions(spec: PipelineSpec, instance: dg.DagsterInstance) -> None:
    """Ingest Jan-Mar and train every segment on it (no evaluation plots), so the daily chain has champions."""
    defs = build_definitions(spec)
    ingest = defs.resolve_job_def(INGEST_JOB).execute_in_process(
        instance=instance, tags={RANGE_START_TAG: TRAIN_FIRST, RANGE_END_TAG: TRAIN_LAST})
    training = defs.resolve_job_def(TRAINING_JOB).execute_in_process(
        instance=instance, asset_selection=[dg.AssetKey("training_set"), dg.AssetKey("segment_model")],
        run_config={"ops": {"training_set": {"config": {"as_of": AS_OF}}}},
        tags={RANGE_START_TAG: spec.segment_names[0], RANGE_END_TAG: spec.segment_names[-1]})
    assert ingest.success and training.success


def code_location(instance: dg.DagsterInstance) -> WorkspaceProcessContext:
    """The project's code location (ml_assets.definitions, as workspace.yaml loads it), loaded in this process."""
    origin = InProcessCodeLocationOrigin(LoadableTargetOrigin(module_name="ml_assets.definitions", attribute="defs"),
                                         location_name="ml_assets")
    return WorkspaceProcessContext(instance, InProcessWorkspaceLoadTarget(origin))


def submit_backfill(context: WorkspaceProcessContext, instance: dg.DagsterInstance, partitions: list[str]) -> str:
    """What the UI's backfill dialog does for the daily chain over `partitions`: add an asset backfill."""
    backfill = PartitionBackfill.from_asset_partitions(
        backfill_id=make_new_backfill_id(), asset_graph=context.create_request_context().asset_graph,
        partition_names=partitions, asset_selection=[dg.AssetKey(asset) for asset in CHAIN],
        backfill_timestamp=time.time(), tags={}, dynamic_partitions_store=instance,
        all_partitions=False, title=None, description=None, run_config=None)
    instance.add_backfill(backfill)
    return backfill.backfill_id


# the in-process launcher executes the run inside the backfill iteration's asyncio loop, which Dagster warns about
@pytest.mark.filterwarnings("ignore:coroutine 'BaseEventLoop.shutdown_asyncgens':RuntimeWarning")
def test_a_year_backfill_from_the_ui_is_one_run(year_spec: PipelineSpec) -> None:
    keys = [day.isoformat() for day in YEAR]
    # Entering an instance sets Dagster's current defs-state storage, and garbage-collecting an earlier test's
    # instance later resets it to a dead one, which loading the code location fails on: collect them first.
    gc.collect()
    with instance_storage() as storage, dg.instance_for_test(overrides=LAUNCH_IN_PROCESS, temp_dir=storage) as instance:
        train_champions(year_spec, instance)
        with code_location(instance) as context:
            backfill_id = submit_backfill(context, instance, keys)
            for _ in range(3):  # request the runs (launched synchronously here), then see them finish
                list(execute_backfill_iteration(context, logging.getLogger("backfill")))
        runs = instance.get_runs(filters=dg.RunsFilter(tags={BACKFILL_ID_TAG: backfill_id}))
        assert instance.get_backfill(backfill_id).status == BulkActionStatus.COMPLETED_SUCCESS
        assert len(runs) == 1, [run.tags for run in runs]
        assert runs[0].status == dg.DagsterRunStatus.SUCCESS
        assert (runs[0].tags[RANGE_START_TAG], runs[0].tags[RANGE_END_TAG]) == (keys[0], keys[-1])
        for asset in CHAIN:
            assert instance.get_materialized_partitions(dg.AssetKey(asset)) == set(keys), asset
            assert lake.stored_keys(year_spec.lake_dir, asset, "date") == keys, asset
