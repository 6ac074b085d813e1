"""Materialize the whole graph for a date range: ingest, train every segment, score and monitor.

Each job runs as a run of the workspace's code location (`ml_assets` in workspace.yaml): the run carries the
location's origin, so the Dagster UI's Overview, Jobs and job pages list it beside runs launched from the UI.
The job executes in this process (in_process_executor): no gRPC server or child process to pay for."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date

import dagster as dg
from dagster._core.code_pointer import ModuleCodePointer
from dagster._core.definitions.job_base import InMemoryJob
from dagster._core.definitions.repository_definition.valid_definitions import SINGLETON_REPOSITORY_NAME
from dagster._core.execution.api import execute_run_iterator
from dagster._core.origin import JobPythonOrigin, RepositoryPythonOrigin
from dagster._core.remote_origin import (
    ManagedGrpcPythonEnvCodeLocationOrigin,
    RemoteJobOrigin,
    RemoteRepositoryOrigin,
)
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

from ml_assets.core.monitoring.segment_monitoring import root_error
from ml_assets.definitions import INGEST_JOB, SCORING_JOB, TRAINING_JOB, build_definitions
from ml_assets.defs.partitions import CHUNK_PROGRESS, RANGE_END_TAG, RANGE_START_TAG
from ml_assets.instance import point_dagster_home, storage_lock
from ml_assets.spec import PipelineSpec

CHECK_FAILED = "DagsterAssetCheckFailedError"
LOCATION_NAME = "ml_assets"
DEFINITIONS_MODULE = "ml_assets.definitions"
UI_URL = "http://127.0.0.1:3000"  # where scripts/ui serves the Dagster UI
UNSCORED_KEYS = {"champion_available": ("unscored_rows_by_segment",),
                 "segments_known": ("count", "rows_outside_segments")}
SILENT_LOGGERS = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
VERBOSE_LOGGERS = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


@dataclass(frozen=True)
class StepError:
    """A failed step: its key, the root exception's class and message."""

    step: str
    error_class: str
    message: str

    @property
    def is_check(self) -> bool:
        """A blocking asset check failed (bad data or a model below the floor), not a crash."""
        return self.error_class == CHECK_FAILED


@dataclass(frozen=True)
class CheckNote:
    """A failed non-blocking check of a run: asset, check name, severity and what its metadata says."""

    asset: str
    check: str
    severity: str
    unscored_rows: int
    detail: str


@dataclass(frozen=True)
class JobOutcome:
    """What one job's run ended as: succeeded, blocked (a blocking check failed) or failed (a step crashed)."""

    job_name: str
    run_id: str
    status: str
    errors: tuple[StepError, ...] = ()
    notes: tuple[CheckNote, ...] = ()

    @property
    def url(self) -> str:
        return run_url(self.run_id)

    @property
    def unscored_rows(self) -> int:
        return sum(note.unscored_rows for note in self.notes)


@dataclass
class RunSummary:
    """What one pipeline run produced: Dagster run ids, each job's outcome and the materialization metadata of
    each asset's partitions ("" for an unpartitioned asset)."""

    run_ids: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, dict[str, dict[str, object]]] = field(default_factory=dict)  # asset -> partition -> key
    outcomes: list[JobOutcome] = field(default_factory=list)

    @property
    def unscored_rows(self) -> int:
        """Rows that got no score (unknown segment values, segments without a champion)."""
        return sum(outcome.unscored_rows for outcome in self.outcomes)


class PipelineRunError(RuntimeError):
    """A job of the pipeline did not succeed; the chain stopped there. Carries the summary so far."""

    def __init__(self, message: str, summary: RunSummary) -> None:
        super().__init__(message)
        self.summary = summary


def run_url(run_id: str) -> str:
    """The run's page in the UI that scripts/ui serves."""
    return f"{UI_URL}/runs/{run_id}"


def code_location_origin() -> ManagedGrpcPythonEnvCodeLocationOrigin:
    """The origin Dagster gives workspace.yaml's `python_module` location (the same value, so the UI matches it)."""
    return ManagedGrpcPythonEnvCodeLocationOrigin(LoadableTargetOrigin(module_name=DEFINITIONS_MODULE),
                                                  LOCATION_NAME)


def remote_job_origin(job_name: str) -> RemoteJobOrigin:
    """The job as the webserver knows it: repository `__repository__` of location `ml_assets`."""
    return RemoteJobOrigin(RemoteRepositoryOrigin(code_location_origin(), SINGLETON_REPOSITORY_NAME), job_name)


def job_code_origin(job_name: str) -> JobPythonOrigin:
    """Where the job's code lives for a process that reloads it (the definitions module's `defs`)."""
    pointer = ModuleCodePointer(DEFINITIONS_MODULE, "defs")
    return JobPythonOrigin(job_name, RepositoryPythonOrigin(sys.executable, pointer))


def persistent_instance(spec: PipelineSpec) -> dg.DagsterInstance:
    """The embedded (SQLite) Dagster instance of this pipeline, under its storage home, opened under the folder's
    lock so that two commands starting at once on a new home do not both create its tables."""
    with storage_lock(point_dagster_home(spec)):
        return dg.DagsterInstance.get()


def failures(events: Iterable[dg.DagsterEvent]) -> list[StepError]:
    """Every failed step of the events, from its root cause."""
    return [StepError(event.step_key, root_error(event.event_specific_data.error).cls_name,
                      root_error(event.event_specific_data.error).message.strip())
            for event in events if event.event_type == dg.DagsterEventType.STEP_FAILURE]


def check_notes(events: Iterable[dg.DagsterEvent]) -> list[CheckNote]:
    """Failed checks of the run's events, with the rows they left unscored."""
    notes = []
    for event in events:
        if event.event_type != dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            continue
        evaluation = event.event_specific_data
        if evaluation.passed:
            continue
        metadata = {key: value.value for key, value in evaluation.metadata.items()}
        notes.append(CheckNote(evaluation.asset_key.to_user_string(), evaluation.check_name,
                               evaluation.severity.value, _unscored(evaluation.check_name, metadata),
                               _detail(metadata)))
    return notes


def _unscored(check: str, metadata: dict[str, object]) -> int:
    """Rows a scoring check says were not scored (0 for other checks)."""
    for key in UNSCORED_KEYS.get(check, ()):
        value = metadata.get(key)
        if isinstance(value, dict):
            return int(sum(value.values()))
        if isinstance(value, int | float):
            return int(value)
    return 0


def _detail(metadata: dict[str, object]) -> str:
    """A check's metadata in one line: counts, a short sample, what to do."""
    parts = []
    for key, value in metadata.items():
        text = " ".join(str(value).split())
        parts.append(f"{key}: {text[:160] + '...' if len(text) > 160 else text}")
    return "; ".join(parts)


def _partitions(first: str, last: str) -> str:
    """How a step line names its partitions."""
    return first if first == last else f"{first}..{last}"


def _progress_line(event: dg.DagsterEvent, started: dict[str, float], partitions: str) -> str | None:
    """A line for a step starting or ending (with its duration), or None for other events."""
    kind, step = event.event_type, event.step_key
    if kind == dg.DagsterEventType.STEP_START:
        started[step] = time.monotonic()
        return f"      {step} [{partitions}] started"
    elapsed = f"{time.monotonic() - started.get(step, time.monotonic()):.1f} s"
    if kind == dg.DagsterEventType.STEP_SUCCESS:
        return f"      {step} [{partitions}] done in {elapsed}"
    if kind == dg.DagsterEventType.STEP_FAILURE:
        return f"      {step} [{partitions}] FAILED after {elapsed}"
    if kind == dg.DagsterEventType.STEP_SKIPPED:
        return f"      {step} [{partitions}] skipped (an upstream step failed)"
    return None


class ChunkLines(logging.Handler):
    """Passes the daily assets' chunk announcements (CHUNK_PROGRESS) to the CLI's progress output."""

    def __init__(self, progress: Callable[[str], None]) -> None:
        super().__init__(logging.INFO)
        self.progress = progress

    def emit(self, record: logging.LogRecord) -> None:
        self.progress(f"        {record.getMessage()}")


@contextmanager
def chunk_lines(progress: Callable[[str], None]) -> Iterator[None]:
    """While a job runs in this process, show each partition chunk of its daily assets as a progress line."""
    handler, level = ChunkLines(progress), CHUNK_PROGRESS.level
    CHUNK_PROGRESS.addHandler(handler)
    CHUNK_PROGRESS.setLevel(logging.INFO)
    try:
        yield
    finally:
        CHUNK_PROGRESS.removeHandler(handler)
        CHUNK_PROGRESS.setLevel(level)


def launch(defs: dg.Definitions, job_name: str, instance: dg.DagsterInstance, first: str, last: str,
           run_config: dict, progress: Callable[[str], None], verbose: bool = False) -> JobOutcome:
    """Run one job over the partition range first..last as a single run of the code location."""
    job = defs.resolve_job_def(job_name)
    run = instance.create_run_for_job(
        job, run_config={**(VERBOSE_LOGGERS if verbose else SILENT_LOGGERS), **run_config},
        tags={RANGE_START_TAG: first, RANGE_END_TAG: last},
        remote_job_origin=remote_job_origin(job_name), job_code_origin=job_code_origin(job_name))
    progress(f"      run {run.run_id}  {run_url(run.run_id)}")
    events, started, partitions = [], {}, _partitions(first, last)
    with chunk_lines(progress):
        for event in execute_run_iterator(InMemoryJob(job), run, instance):
            events.append(event)
            line = _progress_line(event, started, partitions)
            if line:
                progress(line)
    errors = tuple(failures(events))
    status = "failed" if any(not e.is_check for e in errors) else "blocked" if errors else "succeeded"
    if instance.get_run_by_id(run.run_id).status != dg.DagsterRunStatus.SUCCESS and status == "succeeded":
        status = "failed"
    return JobOutcome(job_name, run.run_id, status, errors, tuple(check_notes(events)))


def _collect(instance: dg.DagsterInstance, outcome: JobOutcome, summary: RunSummary) -> None:
    """Record the outcome, the run id and the metadata of each asset's materialization per partition."""
    summary.outcomes.append(outcome)
    summary.run_ids[outcome.job_name] = outcome.run_id
    records = instance.get_records_for_run(outcome.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
    for record in records.records:
        materialization = record.event_log_entry.dagster_event.event_specific_data.materialization
        summary.metadata.setdefault(materialization.asset_key.to_user_string(), {})[materialization.partition or ""] = {
            key: value.value for key, value in materialization.metadata.items()}


def failure_message(outcome: JobOutcome, next_jobs: list[str]) -> str:
    """One readable line per failed step and what to do, naming the run and the jobs not started."""
    verb = "blocked by a failed check" if outcome.status == "blocked" else "failed"
    lines = [f"{outcome.job_name} {verb} (run {outcome.run_id}, {outcome.url})"]
    lines += [f"  {e.step}: {e.message.splitlines()[-1] if e.is_check else e.message}" for e in outcome.errors]
    if next_jobs:
        lines.append(f"  not started: {', '.join(next_jobs)}")
    lines.append("  fix the cause above and run again; the run's page (scripts/ui) has every step's logs, "
                 "--verbose prints them here")
    return "\n".join(lines)


def run_pipeline(spec: PipelineSpec, start: date, end: date, instance: dg.DagsterInstance,
                 progress: Callable[[str], None] = print, verbose: bool = False) -> RunSummary:
    """Ingest start..end, train every segment as of `end`, then score and monitor start..end.

    Stops at the first job that does not succeed (raising PipelineRunError with the summary so far): a later
    job would otherwise run on missing or stale inputs."""
    if end < start:
        raise ValueError(f"--end {end} is before --start {start}")
    if start < spec.dataset.start_date:
        raise ValueError(f"--start {start} is before dataset.start_date {spec.dataset.start_date}; "
                         "move dataset.start_date earlier in the config")
    if spec.dataset.end_date is not None and end > spec.dataset.end_date:
        raise ValueError(f"--end {end} is after dataset.end_date {spec.dataset.end_date}; "
                         "move dataset.end_date later in the config (or leave it out to run up to today)")
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
        outcome = launch(defs, job_name, instance, range_first, range_last, run_config or {}, progress, verbose)
        _collect(instance, outcome, summary)
        for note in outcome.notes:
            progress(f"      check {note.asset} {note.check} failed ({note.severity}): {note.detail}")
        if outcome.status != "succeeded":
            raise PipelineRunError(failure_message(outcome, [step[0] for step in steps[number:]]), summary)
        progress(f"      {job_name} succeeded")
    return summary
