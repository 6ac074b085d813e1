"""End-to-end check of the production stack (run by scripts/stack-test, which brings the stack up and down).

`prepare DIR`: small demo landing files and the stack test's pipeline config in DIR.
`check DIR`: submits through the webserver's GraphQL API what a person clicks (a single-run backfill of the ingest
days, a training run of every segment, a single-run backfill of the daily chain over two months), waits, and
checks the lake, the MLflow server's registry, PostgreSQL, and the segment trained on Dask against one process.
Every check is an assertion that stops the script with one line naming what differs (exit 1).
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.request
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import yaml

from ml_assets import stack
from ml_assets.core.data import lake
from ml_assets.core.data.synthetic import generate_invoices, write_landing_files
from ml_assets.core.training import modeling
from ml_assets.defs.automation import DAILY_CHAIN
from ml_assets.spec import PipelineSpec, load_spec

FIRST_DAY, TRAIN_UNTIL, LAST_DAY = date(2023, 12, 20), date(2024, 2, 29), date(2024, 4, 30)
CHAIN_FROM = date(2024, 3, 1)  # the daily chain's two months: 2024-03-01 .. 2024-04-30
AS_OF = date(2024, 5, 15)  # labels of every ingested day have matured (75 days) by then
# model_performance of day D judges the predictions of D - 75 days (label_delay_days) and before, none of which is in
# the chain's range: Dagster's backfill keeps it in the selection but plans none of its days
CHAIN_PLANNED = tuple(asset for asset in DAILY_CHAIN if asset != "model_performance")
WINDOW_DAYS = 60
CUSTOMERS = 4000
AUC_TOLERANCE = 0.005
WAIT_S = 900  # per stage; a busy shared machine (load 30 here) needs it, an idle one takes a fraction
LOCATION = {"repositoryLocationName": "ml_assets", "repositoryName": "__repository__"}
# no row or column subsampling: each Dask worker would draw its own sample, so the models would differ by draws
WHOLE_SAMPLE = {"max_depth": 4, "eta": 0.08, "subsample": 1.0, "colsample_bytree": 1.0, "min_child_weight": 5}


class StackCheckFailed(AssertionError):
    """A check of the stack test that did not hold; its message is the one line printed."""


def require(condition: bool, message: str) -> None:
    """Raise StackCheckFailed(message) unless condition holds."""
    if not condition:
        raise StackCheckFailed(message)


def prepare(folder: Path) -> None:
    """Landing files of CUSTOMERS demo customers and a config whose larger segment alone trains on Dask."""
    invoices = generate_invoices(CUSTOMERS, FIRST_DAY, LAST_DAY, seed=7)
    write_landing_files(invoices, folder / "landing")
    window = invoices[pd.to_datetime(invoices["invoice_date"]).dt.date.between(
        TRAIN_UNTIL - timedelta(days=WINDOW_DAYS), TRAIN_UNTIL)]
    counts = window["tariff"].value_counts()
    threshold = int((counts.max() * counts.min()) ** 0.5)  # between the two segments' training rows
    text = (stack.PROJECT_ROOT / "pipeline.yaml").read_text()
    raw = yaml.safe_load(text.replace("${ML_ASSETS_LANDING:-data/landing}", str(folder / "landing")))
    raw["dataset"].update(start_date=FIRST_DAY, end_date=LAST_DAY)
    # max_bin above the segment's rows: every distinct value is its own histogram bin, so the quantile cuts are
    # exact and the same however Dask spreads the days over workers (with 256 bins each worker's sketch differs
    # and the Dask AUC moved by up to 0.004 between runs); the Dask fit then equals the one-process fit
    raw["model"].update(params={**WHOLE_SAMPLE, "max_bin": int(counts.max()) + 1}, calibration="none", baseline=False)
    raw["training"].update(distributed_min_rows=threshold, window_days=WINDOW_DAYS, bootstrap_samples=200, min_auc=0.55)
    raw["scoring"]["similar_customers"] = {"top_n": 0, "k": 5, "index_rows": 2000}
    raw["drift"]["evidently"] = {"days": "none", "sample_rows": 1000}
    raw["monitoring"]["alerts"]["webhook_url"] = ""
    (folder / "pipeline.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    print(f"stack-test: {len(invoices):,} invoices {FIRST_DAY}..{LAST_DAY}; segment rows in the training window "
          f"{counts.to_dict()}; training.distributed_min_rows {threshold:,}")


def graphql(query: str, variables: dict) -> dict:
    """POST one GraphQL request to the stack's webserver; its data (GraphQL errors fail the check)."""
    url = f"http://127.0.0.1:{stack.Ports.from_env().dagster}/graphql"
    request = urllib.request.Request(url, data=json.dumps({"query": query, "variables": variables}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        answer = json.loads(response.read())
    require("errors" not in answer, f"GraphQL {query.split('(')[0].strip()}: {answer.get('errors')}")
    return answer["data"]


LAUNCH_BACKFILL = """mutation LaunchBackfill($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } ... on InvalidSubsetError { message }
    ... on UnauthorizedError { message } ... on PartitionSetNotFoundError { message } } }"""
LAUNCH_RUN = """mutation LaunchRun($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } } ... on InvalidSubsetError { message } } }"""
RUNS = """query Runs($filter: RunsFilter!) { runsOrError(filter: $filter) { ... on Runs { results { runId status
  creationTime startTime endTime tags { key value } } } } }"""


def launch_backfill(assets: list[str], first: date, last: date, tags: dict[str, str]) -> str:
    """A single-run backfill of `assets` over first..last, as the UI's Materialize > Backfill launches it."""
    days = [str(first + timedelta(days=i)) for i in range((last - first).days + 1)]
    params = {"assetSelection": [{"path": [name]} for name in assets], "partitionNames": days,
              "title": f"stack-test {first}..{last}", "tags": [{"key": k, "value": v} for k, v in tags.items()]}
    answer = graphql(LAUNCH_BACKFILL, {"params": params})["launchPartitionBackfill"]
    require(answer["__typename"] == "LaunchBackfillSuccess", f"launchPartitionBackfill: {answer}")
    return answer["backfillId"]


def launch_training(segment: str) -> str:
    """A run of training_job for one segment partition, as the Launchpad launches it."""
    run_config = {"ops": {"training_set": {"config": {"as_of": AS_OF.isoformat()}}}}
    params = {"selector": {**LOCATION, "jobName": "training_job"}, "runConfigData": run_config,
              "executionMetadata": {"tags": [{"key": "dagster/partition", "value": segment}]}}
    answer = graphql(LAUNCH_RUN, {"params": params})["launchRun"]
    require(answer["__typename"] == "LaunchRunSuccess", f"launchRun training_job {segment}: {answer}")
    return answer["run"]["runId"]


def runs_where(key: str, value: str) -> list[dict]:
    """Runs carrying the tag key=value."""
    return graphql(RUNS, {"filter": {"tags": [{"key": key, "value": value}]}})["runsOrError"]["results"]


def runs_with_ids(run_ids: list[str]) -> list[dict]:
    """The runs of these ids."""
    return graphql(RUNS, {"filter": {"runIds": run_ids}})["runsOrError"]["results"]


def run_timing(run: dict, launched_at: float) -> str:
    """Where a finished run's time went: launch to run created (the backfill daemon's tick), created to started
    (queue and run process start), started to ended (the run itself)."""
    created, started, ended = run["creationTime"], run["startTime"] or run["creationTime"], run["endTime"]
    return (f"{run['runId'][:8]} created +{created - launched_at:.0f} s, started +{started - created:.0f} s, "
            f"ran {ended - started:.0f} s")


def wait_for_runs(label: str, list_runs, expected: int, launched_at: float) -> list[dict]:
    """Wait until `expected` runs of list_runs() exist and all have finished; every one must succeed. Prints the
    stage's wall time (from `launched_at`, a time.time()) and each run's timing."""
    deadline = time.monotonic() + WAIT_S
    while True:
        runs = list_runs()
        finished = [run for run in runs if run["status"] in {"SUCCESS", "FAILURE", "CANCELED"}]
        if len(runs) >= expected and len(finished) == len(runs):
            break
        require(time.monotonic() < deadline, f"{label}: runs not finished after {WAIT_S} s: "
                                             f"{[(r['runId'][:8], r['status']) for r in runs]}")
        time.sleep(3)
    failed = [run["runId"] for run in runs if run["status"] != "SUCCESS"]
    require(not failed, f"{label}: runs {failed} did not succeed; see the Dagster UI or data/stack-test/logs")
    timings = "; ".join(run_timing(run, launched_at) for run in runs)
    print(f"stack-test: {label}: {len(runs)} run(s) succeeded in {time.time() - launched_at:.0f} s ({timings})")
    return runs


def check_rows_per_day(spec: PipelineSpec, landing: Path) -> None:
    """Each day of the daily chain's range has as many raw_data rows in the lake as its landing file."""
    for offset in range((LAST_DAY - CHAIN_FROM).days + 1):
        day = str(CHAIN_FROM + timedelta(days=offset))
        file = landing / f"invoices_{day}.csv"
        expected = len(pd.read_csv(file)) if file.exists() else 0
        stored = lake.read_partition(lake.partition_dir(spec.lake_dir, "raw_data", "date", day))
        require(len(stored) == expected, f"raw_data {day}: {len(stored)} rows in the lake, {expected} in {file}")
        report = lake.partition_dir(spec.lake_dir, "risk_report", "date", day)
        require(report.exists(), f"risk_report {day}: no partition in the lake ({report})")
    print(f"stack-test: rows per day of {CHAIN_FROM}..{LAST_DAY} match the landing files; risk_report stored")


def check_chain_assets(run_id: str) -> None:
    """The chain run materialized every day of the range of each chain asset whose inputs lie in the range."""
    ports, env = stack.Ports.from_env(), {**os.environ, stack.PASSWORD_ENV: stack.password()}
    rows = stack.psql(ports, env, "SELECT asset_key, count(DISTINCT partition) FROM event_logs WHERE run_id = "
                                  f"'{run_id}' AND dagster_event_type = 'ASSET_MATERIALIZATION' GROUP BY asset_key",
                      "dagster")
    found = {json.loads(key)[0]: int(count) for key, count in (line.split("|") for line in rows.splitlines() if line)}
    days = (LAST_DAY - CHAIN_FROM).days + 1
    require(found == {asset: days for asset in CHAIN_PLANNED},
            f"daily chain run {run_id[:8]} materialized {found}; expected {days} days of each of {CHAIN_PLANNED}")
    print(f"stack-test: the daily chain run materialized {days} days of {', '.join(CHAIN_PLANNED)}")


def check_champions(spec: PipelineSpec) -> None:
    """The MLflow server's registry has a champion version of every segment's model."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=os.environ["MLFLOW_TRACKING_URI"])
    for segment in spec.segment_names:
        name = spec.registered_model_name(segment)
        version = client.get_model_version_by_alias(name, "champion")
        require(version.version is not None, f"{name}: no champion in {os.environ['MLFLOW_TRACKING_URI']}")
        print(f"stack-test: champion {name} v{version.version} in the MLflow server's registry")


def check_postgres(run_ids: list[str]) -> None:
    """The runs and their events are rows of the stack's PostgreSQL database `dagster`."""
    ports, env = stack.Ports.from_env(), {**os.environ, stack.PASSWORD_ENV: stack.password()}
    listed = ",".join(f"'{run_id}'" for run_id in run_ids)
    statuses = stack.psql(ports, env, f"SELECT run_id, status FROM runs WHERE run_id IN ({listed})", "dagster")
    rows = dict(line.split("|") for line in statuses.split())
    require(len(rows) == len(run_ids) and set(rows.values()) == {"SUCCESS"},
            f"PostgreSQL runs table: {rows} for the {len(run_ids)} runs launched")
    events = stack.psql(ports, env, "SELECT count(*), count(*) FILTER (WHERE dagster_event_type = "
                                    f"'ASSET_MATERIALIZATION') FROM event_logs WHERE run_id IN ({listed})", "dagster")
    total, materializations = (int(value) for value in events.strip().split("|"))
    require(materializations > 0, f"PostgreSQL event_logs: {total} events, no materialization for the runs")
    print(f"stack-test: PostgreSQL holds the {len(rows)} runs, {total:,} events ({materializations:,} materializations)")


def step_seconds(run_ids: list[str]) -> dict[str, float]:
    """Seconds from STEP_START to STEP_SUCCESS of each step of the runs (PostgreSQL's event log), summed by step."""
    ports, env = stack.Ports.from_env(), {**os.environ, stack.PASSWORD_ENV: stack.password()}
    listed = ",".join(f"'{run_id}'" for run_id in run_ids)
    rows = stack.psql(ports, env, "SELECT step_key, extract(epoch FROM max(timestamp) FILTER (WHERE dagster_event_type "
                                  "= 'STEP_SUCCESS') - min(timestamp) FILTER (WHERE dagster_event_type = 'STEP_START')) "
                                  f"FROM event_logs WHERE step_key IS NOT NULL AND run_id IN ({listed}) "
                                  "GROUP BY run_id, step_key", "dagster")
    seconds: dict[str, float] = {}
    for step, value in (line.split("|") for line in rows.splitlines() if line):
        seconds[step] = seconds.get(step, 0.0) + float(value or 0)
    return seconds


def print_step_seconds(label: str, run_ids: list[str]) -> None:
    """One line: the steps of a stage's runs and their seconds, slowest first."""
    seconds = sorted(step_seconds(run_ids).items(), key=lambda item: -item[1])
    print(f"stack-test: {label} steps: " + ", ".join(f"{step} {value:.0f} s" for step, value in seconds))


def check_one_training_at_a_time(run_ids: list[str]) -> None:
    """The training runs' segment_model steps never overlapped (the pool segment_model has a limit of 1)."""
    ports, env = stack.Ports.from_env(), {**os.environ, stack.PASSWORD_ENV: stack.password()}
    listed = ",".join(f"'{run_id}'" for run_id in run_ids)
    rows = stack.psql(ports, env, "SELECT run_id, min(timestamp) FILTER (WHERE dagster_event_type = 'STEP_START'), "
                                  "max(timestamp) FILTER (WHERE dagster_event_type = 'STEP_SUCCESS') FROM event_logs "
                                  f"WHERE step_key = 'segment_model' AND run_id IN ({listed}) GROUP BY run_id", "dagster")
    spans = sorted(tuple(line.split("|")[1:]) for line in rows.splitlines() if line)
    require(len(spans) == len(run_ids), f"segment_model steps in PostgreSQL: {spans} for runs {run_ids}")
    for (_, previous_end), (start, _) in zip(spans, spans[1:]):
        require(start >= previous_end, f"two segment_model steps ran at once ({spans}): the pool limit did not hold")
    print(f"stack-test: the {len(spans)} segment_model steps ran one at a time (pool segment_model)")


def check_dask_segment(spec: PipelineSpec) -> None:
    """Exactly one segment trained with xgboost.dask; its holdout AUC matches a one-process fit on its rows."""
    records = {segment: lake.read_partition(lake.partition_dir(spec.lake_dir, "segment_model", "segment", segment))
               for segment in spec.segment_names}
    on_dask = [segment for segment, record in records.items() if record["trained_with"] == "xgboost.dask"]
    require(len(on_dask) == 1, f"segments trained on Dask: {on_dask}; expected exactly one "
                               f"(training.distributed_min_rows {spec.training.distributed_min_rows})")
    segment = on_dask[0]
    frame = lake.read_partition(lake.partition_dir(spec.lake_dir, "training_set", "segment", segment))
    local = modeling.fit_segment(frame, spec.training_sections(), segment)
    dask_auc, local_auc = records[segment]["metrics"]["roc_auc"], local.metrics["roc_auc"]
    require(abs(dask_auc - local_auc) <= AUC_TOLERANCE,
            f"segment {segment}: holdout AUC on Dask {dask_auc:.4f} vs one process {local_auc:.4f}, "
            f"more than {AUC_TOLERANCE} apart")
    print(f"stack-test: {segment} ({len(frame):,} rows) trained on the Dask cluster: holdout AUC {dask_auc:.4f}, "
          f"one process {local_auc:.4f}")


def check(folder: Path) -> None:
    """Launch through GraphQL, wait, and check every output of the stack."""
    os.environ.update(stack.pipeline_env(stack.Ports.from_env(), folder / "pipeline.yaml"))
    spec = load_spec(folder / "pipeline.yaml")
    launched = time.time()
    ingest = launch_backfill(["raw_data", "features"], FIRST_DAY, TRAIN_UNTIL, {})
    runs = wait_for_runs("ingest backfill", lambda: runs_where("dagster/backfill", ingest), 1, launched)
    launched = time.time()
    training = [launch_training(segment) for segment in spec.segment_names]
    runs += wait_for_runs("training runs", lambda: runs_with_ids(training), len(training), launched)
    launched = time.time()
    chain = launch_backfill(list(DAILY_CHAIN), CHAIN_FROM, LAST_DAY, {stack.SCORING_TAG: "true"})
    chain_runs = wait_for_runs("daily chain backfill", lambda: runs_where("dagster/backfill", chain), 1, launched)
    require(len(chain_runs) == 1, f"daily chain backfill: {len(chain_runs)} runs; a single-run backfill makes one")
    for label, stage in (("ingest", runs[:1]), ("training", runs[1:]), ("daily chain", chain_runs)):
        print_step_seconds(label, [run["runId"] for run in stage])
    began = time.monotonic()
    check_rows_per_day(spec, folder / "landing")
    check_chain_assets(chain_runs[0]["runId"])
    check_champions(spec)
    check_postgres([run["runId"] for run in runs + chain_runs])
    check_one_training_at_a_time(training)
    check_dask_segment(spec)
    print(f"stack-test: checks took {time.monotonic() - began:.0f} s")


def main(argv: list[str]) -> int:
    """`python scripts/stack_test.py prepare|check DIR`."""
    command, folder = argv[0], Path(argv[1]).resolve()
    try:
        prepare(folder) if command == "prepare" else check(folder)
    except StackCheckFailed as failure:
        print(f"stack-test: FAILED: {failure}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
