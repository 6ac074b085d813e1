"""Materialize the whole graph for a date range: ingest, train every segment, score and monitor."""

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import dagster as dg
from dagster._utils.error import SerializableErrorInfo

from ml_assets.definitions import INGEST_JOB, SCORING_JOB, TRAINING_JOB, build_definitions
from ml_assets.defs.partitions import RANGE_END_TAG, RANGE_START_TAG
from ml_assets.spec import PipelineSpec

CHECK_FAILED = "DagsterAssetCheckFailedError"


class PipelineRunError(RuntimeError):
    """A job of the pipeline failed; the message carries the failing steps' errors."""


@dataclass
class RunSummary:
    """What one pipeline run produced: Dagster run ids and the materialization metadata per asset."""

    run_ids: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, dict[str, object]] = field(default_factory=dict)


def instance_home(spec: PipelineSpec) -> Path:
    """$DAGSTER_HOME, the current folder when it holds dagster.yaml, else <storage home>/dagster."""
    if os.environ.get("DAGSTER_HOME"):
        return Path(os.environ["DAGSTER_HOME"])
    if Path("dagster.yaml").exists():
        return Path.cwd()
    home = spec.home_dir / "dagster"
    home.mkdir(parents=True, exist_ok=True)
    return home


def persistent_instance(spec: PipelineSpec) -> dg.DagsterInstance:
    """The embedded (SQLite) Dagster instance for this pipeline."""
    home = instance_home(spec)
    os.environ["DAGSTER_HOME"] = str(home)
    return dg.DagsterInstance.get()


def root_error(error: SerializableErrorInfo) -> SerializableErrorInfo:
    """The innermost cause of a step error: the user's exception, not Dagster's wrapper."""
    while error.cause is not None:
        error = error.cause
    return error


def step_errors(result: dg.ExecuteInProcessResult) -> list[tuple[str, str, str]]:
    """(step, error class, message) of every failed step, from the root cause."""
    return [(event.step_key, root_error(event.event_specific_data.error).cls_name,
             root_error(event.event_specific_data.error).message.strip())
            for event in result.get_step_failure_events()]


def _execute(defs: dg.Definitions, job_name: str, instance: dg.DagsterInstance, first: str, last: str,
             run_config: dict, progress: Callable[[str], None]) -> dg.ExecuteInProcessResult:
    """Run one job over the partition range first..last in a single run.

    A failed blocking check is an expected outcome (bad data or a model below the gate): it is reported and
    the pipeline goes on with what is stored; any other step failure raises with the steps' errors."""
    result = defs.resolve_job_def(job_name).execute_in_process(
        instance=instance, run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}, **run_config},
        raise_on_error=False, tags={RANGE_START_TAG: first, RANGE_END_TAG: last})
    errors = step_errors(result)
    crashes = [error for error in errors if error[1] != CHECK_FAILED]
    if crashes:
        lines = [f"{step}: {message}" for step, _, message in crashes]
        raise PipelineRunError(f"{job_name} failed (run {result.run_id}):\n" + "\n".join(lines))
    for step, _, message in errors:
        progress(f"      blocked by a failed check in {step}: {message.splitlines()[-1]}")
    return result


def _collect(result: dg.ExecuteInProcessResult, summary: RunSummary, job_name: str) -> None:
    """Record the run id and each asset's materialization metadata (last one wins)."""
    summary.run_ids[job_name] = result.run_id
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        summary.metadata[materialization.asset_key.to_user_string()] = {
            key: value.value for key, value in materialization.metadata.items()}


def run_pipeline(spec: PipelineSpec, start: date, end: date, instance: dg.DagsterInstance,
                 progress: Callable[[str], None] = print) -> RunSummary:
    """Ingest start..end, train every segment as of `end`, then score and monitor start..end."""
    if end < start:
        raise ValueError(f"--end {end} is before --start {start}")
    if start < spec.dataset.start_date:
        raise ValueError(f"--start {start} is before dataset.start_date {spec.dataset.start_date}; "
                         "move dataset.start_date earlier in the config")
    defs, summary = build_definitions(spec), RunSummary()
    first, last = start.isoformat(), end.isoformat()
    segments = spec.segment_names
    steps = [
        (INGEST_JOB, f"ingest raw_data -> features for {first}..{last}", first, last, None),
        (TRAINING_JOB, f"train {', '.join(segments)} (labels matured by {last})", segments[0], segments[-1],
         {"ops": {"training_set": {"config": {"as_of": last}}}}),
        (SCORING_JOB, f"score and monitor {first}..{last}", first, last, None),
    ]
    for number, (job_name, description, range_first, range_last, run_config) in enumerate(steps, start=1):
        progress(f"[{number}/{len(steps)}] {description} ...")
        result = _execute(defs, job_name, instance, range_first, range_last, run_config or {}, progress)
        _collect(result, summary, job_name)
        progress(f"      done (run {result.run_id[:8]})")
    return summary
