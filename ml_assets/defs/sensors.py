"""Sensors: retrain_on_drift (drift or low realized performance -> a training run of that segment) and
alert_on_run_failure (a failed run -> the alert webhook)."""

import json
from datetime import UTC, datetime

import dagster as dg

from ml_assets.core.monitoring.segment_monitoring import (
    RetrainSignal,
    drift_signals,
    performance_signals,
    plan_retraining,
    root_error,
    run_failure_text,
)
from ml_assets.defs.partitions import RANGE_END_TAG, RANGE_START_TAG
from ml_assets.resources.alerts import AlertWebhook
from ml_assets.spec import PipelineSpec

TRIGGER_TAG = "ml_assets/retrain_trigger"
PAGE_SIZE = 1000
PARTITION_TAG = "dagster/partition"
IN_FLIGHT = [dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.STARTING,
             dg.DagsterRunStatus.STARTED]


def read_cursor(cursor: str | None) -> tuple[dict[str, int], dict[str, datetime]]:
    """Last storage id seen per asset, and the time of the last retrain request per segment."""
    state = json.loads(cursor) if cursor else {}
    requested = {segment: datetime.fromisoformat(at) for segment, at in state.get("requested", {}).items()}
    return dict(state.get("after", {})), requested


def write_cursor(after: dict[str, int], requested: dict[str, datetime]) -> str:
    """The sensor cursor as JSON."""
    return json.dumps({"after": after, "requested": {seg: at.isoformat() for seg, at in requested.items()}})


def new_materializations(instance: dg.DagsterInstance, asset: str,
                         after: int | None) -> tuple[list[dg.EventLogRecord], int | None]:
    """Materializations of `asset` stored after storage id `after`, oldest first, and the new high mark."""
    records: list[dg.EventLogRecord] = []
    page_cursor = None
    while True:
        page = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), after_storage_id=after),
                                               limit=PAGE_SIZE, cursor=page_cursor, ascending=True)
        records += page.records
        if not page.has_more:
            break
        page_cursor = page.cursor
    return records, max((record.storage_id for record in records), default=after)


def metadata_values(record: dg.EventLogRecord) -> dict[str, object]:
    """Plain values of a materialization's metadata."""
    return {key: value.value for key, value in record.asset_materialization.metadata.items()}


def last_day_of_each_run(records: list[dg.EventLogRecord]) -> list[dg.EventLogRecord]:
    """The materialization of each run's latest partition: its verdict is the run's latest day's."""
    latest: dict[str, dg.EventLogRecord] = {}
    for record in records:
        if record.run_id not in latest or (record.partition_key or "") >= (latest[record.run_id].partition_key or ""):
            latest[record.run_id] = record
    return list(latest.values())


def run_segments(tags: dict[str, str], segments: list[str]) -> set[str]:
    """Segments a training run covers, from its partition tag or its partition range tags (spec order)."""
    if tags.get(PARTITION_TAG) in segments:
        return {tags[PARTITION_TAG]}
    first, last = tags.get(RANGE_START_TAG), tags.get(RANGE_END_TAG)
    if first in segments and last in segments:
        return set(segments[segments.index(first):segments.index(last) + 1])
    return set()


def segments_in_training(instance: dg.DagsterInstance, training_job: str, segments: list[str]) -> set[str]:
    """Segments with a run of the training job queued, starting or running on this instance."""
    runs = instance.get_runs(filters=dg.RunsFilter(job_name=training_job, statuses=IN_FLIGHT))
    return set().union(*(run_segments(run.tags, segments) for run in runs))


def hold_in_training(signals: list[RetrainSignal], busy: set[str]) -> tuple[list[RetrainSignal], list[str]]:
    """Signals of segments not in training, and why the others were held back."""
    held = [f"{s.segment}: {s.reason} on {s.day} held back, a training run of {s.segment} is queued or running"
            for s in signals if s.segment in busy]
    return [s for s in signals if s.segment not in busy], held


def retrain_request(signal: RetrainSignal) -> dg.RunRequest:
    """A training run of the signal's segment partition, keyed by the signal so it runs once."""
    return dg.RunRequest(run_key=signal.run_key, partition_key=signal.segment,
                         tags={TRIGGER_TAG: signal.reason, "ml_assets/trigger_day": signal.day,
                               "ml_assets/trigger_model_version": signal.model_version})


def build_retrain_sensor(spec: PipelineSpec, training_job: str) -> dg.SensorDefinition:
    """retrain_on_drift: reads new drift_report (and model_performance) materializations, requests one
    training run per affected segment, at most one per monitoring.retrain.cooldown_hours."""
    retrain = spec.monitoring.retrain
    sources = {"drift_report": lambda metadata: drift_signals(metadata, retrain.min_severity)}
    if retrain.on_low_performance:
        sources["model_performance"] = performance_signals

    @dg.sensor(
        name="retrain_on_drift",
        job_name=training_job,
        minimum_interval_seconds=60,
        default_status=(dg.DefaultSensorStatus.RUNNING if retrain.sensor == "running"
                        else dg.DefaultSensorStatus.STOPPED),
        description=f"Requests a {training_job} run for a segment whose drift reaches {retrain.min_severity!r}"
                    + (" or whose realized AUC falls below the floor" if retrain.on_low_performance else "")
                    + f"; one run per event (run_key), cooldown {retrain.cooldown_hours} h per segment, "
                      "none while that segment's training is queued or running.",
    )
    def retrain_on_drift(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        after, requested = read_cursor(context.cursor)
        signals: list[RetrainSignal] = []
        for asset, extract in sources.items():
            records, after[asset] = new_materializations(context.instance, asset, after.get(asset))
            signals += [signal for record in last_day_of_each_run(records) for signal in extract(metadata_values(record))]
        now = datetime.now(UTC)
        chosen, held = plan_retraining(signals, requested, now, retrain.cooldown_hours)
        chosen, busy = hold_in_training(chosen, segments_in_training(context.instance, training_job,
                                                                     spec.segment_names))
        held += busy
        for signal in chosen:
            context.log.info(f"retraining {signal.segment}: {signal.reason} of v{signal.model_version} on {signal.day}")
            requested[signal.segment] = now
        for reason in held:
            context.log.info(reason)
        skip = None if chosen else dg.SkipReason("; ".join(held) or "no new drift or performance events")
        return dg.SensorResult(run_requests=[retrain_request(signal) for signal in chosen],
                               cursor=write_cursor({k: v for k, v in after.items() if v is not None}, requested),
                               skip_reason=skip)

    return retrain_on_drift


def build_failure_alert_sensor(spec: PipelineSpec) -> dg.SensorDefinition:
    """alert_on_run_failure: posts every failed run of this code location (job, run id, failed steps)."""

    @dg.run_failure_sensor(name="alert_on_run_failure", default_status=dg.DefaultSensorStatus.RUNNING,
                           description="Sends failed runs to the alert webhook (a log line without one).")
    def alert_on_run_failure(context: dg.RunFailureSensorContext, alerts: AlertWebhook) -> None:
        steps = [(event.step_key or "run", root_error(event.event_specific_data.error).message
                  if event.event_specific_data.error else "") for event in context.get_step_failure_events()]
        run = context.dagster_run
        alerts.send(run_failure_text(spec.name, run.job_name, run.run_id, context.failure_event.message or "", steps))

    return alert_on_run_failure


def build_monitoring_sensors(spec: PipelineSpec, training_job: str) -> list[dg.SensorDefinition]:
    """Every sensor of the monitoring layer."""
    return [build_retrain_sensor(spec, training_job), build_failure_alert_sensor(spec)]
