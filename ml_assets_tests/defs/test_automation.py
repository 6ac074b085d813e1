"""Schedules: the daily chain for the day that ended, training on its cadence, default status from the spec."""

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.definitions.schedule_definition import ScheduleExecutionData  # what evaluate_tick returns

from ml_assets.definitions import DAILY_JOB, TRAINING_JOB, build_definitions
from ml_assets.defs.partitions import RANGE_END_TAG, RANGE_START_TAG
from ml_assets.spec import ConfigError, PipelineSpec
from ml_assets_tests.conftest import make_spec


def tick(spec: PipelineSpec, name: str, at: datetime) -> ScheduleExecutionData:
    """Evaluate one tick of the pipeline's schedule `name` as the daemon would at `at`."""
    defs = build_definitions(spec)
    with dg.instance_for_test() as instance, dg.build_schedule_context(
            instance=instance, scheduled_execution_time=at, repository_def=defs.get_repository_def()) as context:
        # closing the context closes the instance it opens from the ref: left open, Dagster's current
        # definitions-state storage would outlive that instance and break later Definitions loads
        return defs.resolve_schedule_def(name).evaluate_tick(context)


def schedules(spec: PipelineSpec) -> dict[str, dg.ScheduleDefinition]:
    """The pipeline's schedules by name, as defined (no repository resolved)."""
    return {schedule.name: schedule for schedule in build_definitions(spec).schedules}


def test_daily_schedule_runs_the_day_that_ended(small_spec: PipelineSpec) -> None:
    [request] = tick(small_spec, "daily_chain_schedule", datetime(2024, 3, 2, 6, tzinfo=UTC)).run_requests
    assert (request.partition_key, request.run_key, request.tags["dagster/partition"]) == ("2024-03-01",) * 3


def test_daily_schedule_waits_for_the_landing_file(small_spec: PipelineSpec) -> None:
    result = tick(small_spec, "daily_chain_schedule", datetime(2024, 7, 2, 6, tzinfo=UTC))
    assert not result.run_requests
    assert "invoices_2024-07-01.csv has not landed yet" in result.skip_message


def test_daily_schedule_skips_days_before_the_dataset_starts(small_spec: PipelineSpec) -> None:
    result = tick(small_spec, "daily_chain_schedule", datetime(2024, 1, 1, 6, tzinfo=UTC))
    assert not result.run_requests and "before dataset.start_date" in result.skip_message


def test_training_schedule_trains_every_segment_in_one_run(small_spec: PipelineSpec) -> None:
    [request] = tick(small_spec, "training_schedule", datetime(2024, 3, 3, 3, tzinfo=UTC)).run_requests
    assert (request.tags[RANGE_START_TAG], request.tags[RANGE_END_TAG]) == ("domestic", "industrial")
    assert request.partition_key is None


def test_default_status_comes_from_the_spec(tmp_path: Path) -> None:
    defaults = schedules(make_spec(tmp_path))
    daily, training = defaults["daily_chain_schedule"], defaults["training_schedule"]
    assert (daily.default_status, daily.job_name, daily.execution_timezone) == (
        dg.DefaultScheduleStatus.RUNNING, DAILY_JOB, "UTC")
    assert (training.default_status, training.job_name) == (dg.DefaultScheduleStatus.STOPPED, TRAINING_JOB)
    flipped = schedules(make_spec(tmp_path, automation={
        "daily": {"cron": "15 * * * *", "status": "stopped"}, "training": {"cron": "0 4 1 * *", "status": "running"}}))
    daily = flipped["daily_chain_schedule"]
    assert (daily.default_status, daily.cron_schedule) == (dg.DefaultScheduleStatus.STOPPED, "15 * * * *")
    assert flipped["training_schedule"].default_status == dg.DefaultScheduleStatus.RUNNING


def test_a_bad_cron_names_the_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"automation.daily.cron.*'6am' is not a cron expression"):
        make_spec(tmp_path, automation={"daily": {"cron": "6am", "status": "running"}})
