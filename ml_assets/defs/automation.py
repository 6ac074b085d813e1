"""Schedules: the daily chain runs each day for the day that has ended; training runs on its own cadence.

Both come from the spec's `automation` section (cron in UTC, default status). Retraining on drift or low
realized performance is the retrain_on_drift sensor (defs/sensors.py). The daily chain is one job, so a
failed blocking check (`schema` of raw_data or features, `no_high_drift` with drift.fail_on_drift) skips every
asset downstream of it in that day's run.
"""

from datetime import UTC, date, datetime, timedelta

import dagster as dg
from upath import UPath

from ml_assets.defs.partitions import RANGE_END_TAG, RANGE_START_TAG
from ml_assets.spec import FileSourceSpec, PipelineSpec, ScheduleSpec

DAILY_CHAIN = ("raw_data", "features", "predictions", "risk_clusters", "risk_report", "drift_report",
               "estimated_performance", "model_performance")
TRIGGER_TAG = "ml_assets/trigger"


def default_status(schedule: ScheduleSpec) -> dg.DefaultScheduleStatus:
    """The Dagster default status of a schedule from its `status` in the spec."""
    return dg.DefaultScheduleStatus.RUNNING if schedule.status == "running" else dg.DefaultScheduleStatus.STOPPED


def completed_day(now: datetime) -> date:
    """The last UTC day that has fully ended at `now`: the daily partition a tick at `now` runs."""
    return (now.astimezone(UTC) - timedelta(days=1)).date()


def missing_landing_file(spec: PipelineSpec, day: date) -> str | None:
    """The day's landing file when the source is one file per day and that file is not there yet, else None."""
    source = spec.dataset.source
    if not (isinstance(source, FileSourceSpec) and source.per_day):
        return None
    location = spec.source_location(day)
    return None if UPath(location).exists() else location


def build_daily_schedule(spec: PipelineSpec, job_name: str) -> dg.ScheduleDefinition:
    """daily_chain_schedule: `job_name` (the daily chain) for the day that ended, once per day (run key)."""
    daily = spec.automation.daily

    @dg.schedule(name="daily_chain_schedule", cron_schedule=daily.cron, job_name=job_name, execution_timezone="UTC",
                 default_status=default_status(daily),
                 description="Runs the daily chain (ingest, scoring, reports, drift, performance) for the day that "
                             "ended; skips while that day's landing file is missing.")
    def daily_chain_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        day = completed_day(context.scheduled_execution_time or datetime.now(UTC))
        if day < spec.dataset.start_date:
            return dg.SkipReason(f"{day} is before dataset.start_date {spec.dataset.start_date}")
        missing = missing_landing_file(spec, day)
        if missing:
            return dg.SkipReason(f"{missing} has not landed yet: a later tick runs {day} if it has landed by then "
                                 "(a cron of several ticks a day waits for it), or backfill it once it lands")
        return dg.RunRequest(run_key=day.isoformat(), partition_key=day.isoformat(), tags={TRIGGER_TAG: "schedule"})

    return daily_chain_schedule


def build_training_schedule(spec: PipelineSpec, job_name: str) -> dg.ScheduleDefinition:
    """training_schedule: every segment in one run of `job_name`, labels matured by the latest features day."""
    training, segments = spec.automation.training, spec.segment_names

    @dg.schedule(name="training_schedule", cron_schedule=training.cron, job_name=job_name, execution_timezone="UTC",
                 default_status=default_status(training),
                 description=f"Trains {', '.join(segments)} in one run on the latest matured window; each new "
                             "version becomes champion only through the gate.")
    def training_schedule() -> dg.RunRequest:
        return dg.RunRequest(tags={RANGE_START_TAG: segments[0], RANGE_END_TAG: segments[-1],
                                   TRIGGER_TAG: "schedule"})

    return training_schedule


def build_schedules(spec: PipelineSpec, daily_job: str, training_job: str) -> list[dg.ScheduleDefinition]:
    """Every schedule of the pipeline."""
    return [build_daily_schedule(spec, daily_job), build_training_schedule(spec, training_job)]
