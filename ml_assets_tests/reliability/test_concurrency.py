"""Concurrency: segment_model trains in a Dagster pool (one training at a time once the instance limits it), two
daily runs for different dates share the lake without touching each other's days, and retrain_on_drift never
requests a training of a segment whose training is queued or running."""

import threading
import time
from datetime import date
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from dagster._core.remote_origin import RegisteredCodeLocationOrigin, RemoteJobOrigin, RemoteRepositoryOrigin

from ml_assets.core.data import lake
from ml_assets.definitions import INGEST_JOB, TRAINING_JOB, build_definitions
from ml_assets.defs.partitions import RANGE_END_TAG, RANGE_START_TAG
from ml_assets.defs.sensors import TRIGGER_TAG
from ml_assets.defs.training import SEGMENT_MODEL_POOL
from ml_assets.resources.storage import STAGING_PREFIX
from ml_assets.spec import PipelineSpec
from ml_assets_tests.conftest import make_spec
from ml_assets_tests.reliability.support import log_file, run_cli, write_config
from ml_assets_tests.training_support import AS_OF, spec_with_lake

HOLDER_RUN = "0" * 8 + "-0000-0000-0000-" + "0" * 12  # a run id holding the pool's slot, as a first training would


def drift_event(instance: dg.DagsterInstance, segments: list[str], day: str) -> None:
    """A drift_report materialization saying `segments` drifted high on `day` (what drift_report stores)."""
    instance.report_runless_asset_event(dg.AssetMaterialization(
        "drift_report", partition=day, metadata={"verdict": {segment: "high" for segment in segments},
                                                 "model_versions": {segment: "1" for segment in segments},
                                                 "verdict_day": day}))


def sensor_tick(spec: PipelineSpec, instance: dg.DagsterInstance, cursor: str | None = None) -> dg.SensorResult:
    defs = build_definitions(spec)
    with dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs) as context:
        return defs.resolve_sensor_def("retrain_on_drift").evaluate_tick(context)


def code_location_origin(job_name: str) -> RemoteJobOrigin:
    """The origin a run launched from the ml_assets code location carries (queued runs need one)."""
    return RemoteJobOrigin(RemoteRepositoryOrigin(RegisteredCodeLocationOrigin("ml_assets"), "__repository__"), job_name)


@pytest.mark.parametrize("status", [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.STARTED])
def test_retrain_on_drift_holds_a_segment_whose_training_is_queued_or_running(tmp_path: Path, status) -> None:
    spec = make_spec(tmp_path, monitoring={"retrain": {"cooldown_hours": 0}})
    job = build_definitions(spec).resolve_job_def(TRAINING_JOB)
    with dg.instance_for_test() as instance:
        drift_event(instance, ["domestic", "industrial"], "2024-06-29")
        first = sensor_tick(spec, instance)
        assert sorted(r.partition_key for r in first.run_requests) == ["domestic", "industrial"]
        for request in first.run_requests:  # what the daemon does with the requests: a run, queued or started
            instance.create_run_for_job(job, tags={**request.tags, "dagster/partition": request.partition_key},
                                        status=status, remote_job_origin=code_location_origin(job.name))

        drift_event(instance, ["domestic"], "2024-06-30")
        held = sensor_tick(spec, instance, first.cursor)
        assert held.run_requests == [], "domestic is still queued or training"
        assert "domestic: drift on 2024-06-30 held back, a training run of domestic is queued or running" \
            in held.skip_message

        for run in instance.get_runs():
            instance.report_run_failed(run) if status == dg.DagsterRunStatus.STARTED else instance.report_run_canceled(run)
        drift_event(instance, ["domestic"], "2024-07-01")
        after = sensor_tick(spec, instance, held.cursor)
        assert [(r.partition_key, r.tags[TRIGGER_TAG]) for r in after.run_requests] == [("domestic", "drift")]


def test_a_range_training_run_holds_every_segment_it_covers(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, monitoring={"retrain": {"cooldown_hours": 0}})
    job = build_definitions(spec).resolve_job_def(TRAINING_JOB)
    with dg.instance_for_test() as instance:
        instance.create_run_for_job(job, tags={RANGE_START_TAG: "domestic", RANGE_END_TAG: "industrial"},
                                    status=dg.DagsterRunStatus.STARTED, remote_job_origin=code_location_origin(job.name))
        drift_event(instance, ["industrial"], "2024-06-30")
        tick = sensor_tick(spec, instance)
    assert tick.run_requests == [] and "training run of industrial is queued or running" in tick.skip_message


def step_events(instance: dg.DagsterInstance, run_id: str, step: str) -> list[str]:
    """Event types of one step of a run, in order."""
    return [record.event_log_entry.dagster_event.event_type_value
            for record in instance.get_records_for_run(run_id).records
            if record.event_log_entry.dagster_event and record.event_log_entry.dagster_event.step_key == step]


def test_segment_model_waits_for_the_pool_slot_another_training_holds(tmp_path: Path, landing_dir: Path,
                                                                       ingested_lake: Path) -> None:
    spec = spec_with_lake(tmp_path, landing_dir, ingested_lake)
    job = build_definitions(spec).resolve_job_def(TRAINING_JOB)
    with dg.instance_for_test() as instance:
        storage = instance.event_log_storage
        storage.set_concurrency_slots(SEGMENT_MODEL_POOL, 1)
        assert storage.claim_concurrency_slot(SEGMENT_MODEL_POOL, HOLDER_RUN, "segment_model").is_claimed
        results: list[dg.ExecuteInProcessResult] = []
        second = threading.Thread(target=lambda: results.append(job.execute_in_process(
            instance=instance, partition_key="domestic", raise_on_error=False,
            run_config={"ops": {"training_set": {"config": {"as_of": AS_OF.isoformat()}}}})))
        second.start()
        while storage.get_concurrency_info(SEGMENT_MODEL_POOL).pending_step_count == 0:
            assert second.is_alive(), "the second run ended without waiting for the slot"
            time.sleep(0.2)
        [run] = instance.get_runs()
        assert "STEP_START" not in step_events(instance, run.run_id, "segment_model"), "it waits, it does not train"
        storage.free_concurrency_slots_for_run(HOLDER_RUN)
        second.join()
        assert results[0].success and "STEP_SUCCESS" in step_events(instance, run.run_id, "segment_model")


def test_two_daily_runs_for_different_dates_run_side_by_side(tmp_path: Path, landing_dir: Path) -> None:
    """Two `ml-assets` processes ingest different days into one lake at once; each day equals a run alone."""
    spec = write_config(tmp_path / "shared", landing_dir)
    ranges = [("2024-03-01", "2024-03-10"), ("2024-03-11", "2024-03-20")]
    runs = [run_cli(spec, "ingest", first, last, wait=False) for first, last in ranges]
    for process in runs:
        assert process.wait(timeout=900) == 0, log_file(spec).read_text()[-3000:]
    alone = write_config(tmp_path / "alone", landing_dir)
    with dg.instance_for_test() as instance:
        for first, last in ranges:
            assert build_definitions(alone).resolve_job_def(INGEST_JOB).execute_in_process(
                instance=instance, tags={RANGE_START_TAG: first, RANGE_END_TAG: last}).success
    for asset in ("raw_data", "features"):
        keys = lake.stored_keys(spec.lake_dir, asset, "date")
        assert keys == [d.date().isoformat() for d in pd.date_range(date(2024, 3, 1), date(2024, 3, 20))]
        for key in keys:
            pd.testing.assert_frame_equal(
                lake.read_partition(lake.partition_dir(spec.lake_dir, asset, "date", key)),
                lake.read_partition(lake.partition_dir(alone.lake_dir, asset, "date", key)))
        assert not [p for p in (Path(str(spec.lake_dir)) / asset).iterdir() if p.name.startswith(STAGING_PREFIX)]
