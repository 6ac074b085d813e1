"""`ml-assets run` end to end: runs of the ml_assets code location, one world per config, real outcomes, modes.

Two configs run side by side from a folder holding its own dagster.yaml (and a decoy DAGSTER_HOME): config
`a` scores rows with an unknown segment value, config `b` has a quality gate no model passes."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import mlflow
import pandas as pd
import pytest
import yaml

from ml_assets.cli import main
from ml_assets.runner import LOCATION_NAME, code_location_origin, run_url
from ml_assets_tests.conftest import PROJECT_ROOT, demo_config
from ml_assets_tests.ports import free_port

START, END = "2024-05-01", "2024-06-30"  # 61 days: two chunks of storage.chunk_days = 31
UNKNOWN_DAYS = ("2024-06-10", "2024-06-11")
UNKNOWN_ROWS_PER_DAY = 5
JOBS = ("ingest_job", "training_job", "scoring_job")


@dataclass
class CliRun:
    """One `ml-assets run` of a config: its folder, exit code and what it printed."""

    home: Path
    config: Path
    code: int
    out: str
    err: str

    def instance(self) -> dg.DagsterInstance:
        return dg.DagsterInstance.from_config(str(self.home / "out" / "dagster"))

    def runs(self) -> list[dg.DagsterRun]:
        return list(reversed(self.instance().get_runs()))


def write_config(home: Path, landing: Path, min_auc: float = 0.5) -> Path:
    # labels said to mature in 20 days, so a 30-day training window fits inside the run's two months; min_auc 0.5:
    # config a needs a champion per segment to score with, not a good one
    config = demo_config(home, training={"window_days": 30, "holdout_days": 10, "min_auc": min_auc},
                         dataset={"label_delay_days": 20})
    config["dataset"]["source"]["path"] = str(landing / "invoices_{date}.csv")
    path = home / "pipeline.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def landing_with_unknown_segments(landing_dir: Path, target: Path) -> Path:
    """A copy of the demo landing files where a few rows on UNKNOWN_DAYS have tariff 'commercial'."""
    shutil.copytree(landing_dir, target)
    for day in UNKNOWN_DAYS:
        path = target / f"invoices_{day}.csv"
        frame = pd.read_csv(path)
        frame.loc[frame.index[:UNKNOWN_ROWS_PER_DAY], "tariff"] = "commercial"
        frame.to_csv(path, index=False)
    return target


def cli(config: Path, home: Path) -> CliRun:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["run", "--config", str(config), "--start", START, "--end", END])
    return CliRun(home, config, code, out.getvalue(), err.getvalue())


@pytest.fixture(scope="module")
def side_by_side(tmp_path_factory: pytest.TempPathFactory, landing_dir: Path) -> tuple[CliRun, CliRun, Path]:
    """Configs a and b run one after the other from a project-like folder with a dagster.yaml, under umask 022."""
    root = tmp_path_factory.mktemp("side_by_side")
    cwd, decoy = root / "cwd", root / "decoy_home"
    cwd.mkdir(), decoy.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster.yaml", cwd / "dagster.yaml")
    (root / "a").mkdir(), (root / "b").mkdir()
    config_a = write_config(root / "a", landing_with_unknown_segments(landing_dir, root / "a" / "landing"))
    config_b = write_config(root / "b", landing_dir, min_auc=0.99)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(cwd)
        patch.setenv("DAGSTER_HOME", str(decoy))
        previous = os.umask(0o022)
        try:
            runs = cli(config_a, root / "a"), cli(config_b, root / "b")
        finally:
            os.umask(previous)
    return *runs, root


def test_cli_runs_are_runs_of_the_code_location_with_their_job_name(side_by_side) -> None:
    a, _, _ = side_by_side
    runs, instance = a.runs(), a.instance()
    assert [run.job_name for run in runs] == list(JOBS)
    for run in runs:
        assert run.remote_job_origin.location_name == LOCATION_NAME
        assert run.remote_job_origin.job_name == run.job_name
        assert run.status == dg.DagsterRunStatus.SUCCESS
        listed = instance.get_runs(dg.RunsFilter(job_name=run.job_name, tags={
            ".dagster/repository": "__repository__@ml_assets"}))  # the filter of the UI's job page
        assert [r.run_id for r in listed] == [run.run_id]
        assert run_url(run.run_id) in a.out, "the CLI prints every run's full id and URL"


def test_the_origin_is_the_one_workspace_yaml_gives() -> None:
    from dagster._core.workspace.load_target import WorkspaceFileTarget

    assert WorkspaceFileTarget([str(PROJECT_ROOT / "workspace.yaml")]).create_origins() == [code_location_origin()]


def test_each_config_has_its_own_runs_assets_and_mlflow_store(side_by_side) -> None:
    a, b, root = side_by_side
    runs_a, runs_b = {r.run_id for r in a.runs()}, {r.run_id for r in b.runs()}
    assert len(runs_a) == 3 and len(runs_b) == 2 and not runs_a & runs_b
    assert not list((root / "decoy_home").iterdir()), "DAGSTER_HOME from the environment is not used"
    assert not (root / "cwd" / "data").exists(), "the dagster.yaml in the current folder is not used"
    for run in (a, b):
        instance = run.instance()
        own = {r.run_id for r in run.runs()}
        events = instance.fetch_materializations(dg.AssetKey("features"), limit=1000).records
        assert events and {e.event_log_entry.run_id for e in events} <= own
    assert b.instance().fetch_materializations(dg.AssetKey("predictions"), limit=10).records == []
    for run in (a, b):
        client = mlflow.MlflowClient(f"sqlite:///{run.home / 'out' / 'mlflow' / 'mlflow.db'}")
        experiments = client.search_experiments()
        dagster_runs = {r.data.tags.get("dagster_run_id") for e in experiments
                        for r in client.search_runs([e.experiment_id])}
        assert dagster_runs - {None} <= {r.run_id for r in run.runs()} and dagster_runs - {None}


def test_a_run_shows_progress_per_step_and_a_summary_line_with_unscored_rows(side_by_side) -> None:
    a, _, _ = side_by_side
    assert a.code == 0, a.err
    for step in ("raw_data", "features", "predictions", "drift_report"):
        assert f"{step} [{START}..{END}] started" in a.out and f"{step} [{START}..{END}] done in" in a.out
    assert "segment_model [domestic..industrial] done in" in a.out
    for asset in ("raw_data", "predictions", "risk_report"):
        assert f"{asset} chunk 1/2: {START}..2024-05-31" in a.out and f"{asset} chunk 2/2: 2024-06-01..{END}" in a.out
    unknown = UNKNOWN_ROWS_PER_DAY * len(UNKNOWN_DAYS)
    assert ("done in" in a.out and "ingest_job succeeded, training_job succeeded, scoring_job succeeded; "
            f"unscored rows: {unknown}") in a.out
    assert "check predictions segments_known failed (WARN)" in a.out


def test_a_blocked_job_stops_the_chain_and_exits_non_zero(side_by_side) -> None:
    _, b, _ = side_by_side
    assert b.code == 1
    training = b.runs()[-1]
    assert training.job_name == "training_job" and training.status == dg.DagsterRunStatus.FAILURE
    assert f"training_job blocked by a failed check (run {training.run_id}, {run_url(training.run_id)})" in b.err
    assert "not started: scoring_job" in b.err
    assert "stopped: ingest_job succeeded, training_job blocked" in b.err
    assert "Traceback" not in b.err and "training_job succeeded" not in b.out


def test_library_noise_stays_out_of_the_terminal(side_by_side) -> None:
    a, _, _ = side_by_side
    assert "mlflow" not in a.err.lower() and "Successfully registered" not in a.out + a.err
    assert " - dagster - " not in a.out + a.err


def test_lake_and_report_files_are_written_with_the_umask_mode(side_by_side) -> None:
    a, _, _ = side_by_side
    files = [p for folder in ("lake", "reports") for p in (a.home / "out" / folder).rglob("*") if p.is_file()]
    assert any(p.suffix == ".parquet" for p in files) and any(p.suffix == ".html" for p in files)
    modes = {oct(stat.S_IMODE(p.stat().st_mode)) for p in files}
    assert modes == {"0o644"}



JOB_RUNS_QUERY = """query ($job: String!) {
  pipelineRunsOrError(filter: {pipelineName: $job, tags: [{key: ".dagster/repository", value: "__repository__@ml_assets"}]}) {
    ... on Runs { results { runId pipelineName repositoryOrigin { repositoryLocationName } } }
  }
}"""


def test_the_webserver_lists_the_cli_runs_on_each_job(side_by_side) -> None:
    a, _, _ = side_by_side
    port = free_port()
    env = {**os.environ, "DAGSTER_HOME": str(a.home / "out" / "dagster"), "ML_ASSETS_CONFIG": str(a.config)}
    server = subprocess.Popen([str(Path(sys.executable).with_name("dagster-webserver")), "-h", "127.0.0.1",
                               "-p", str(port), "-w", str(PROJECT_ROOT / "workspace.yaml")],
                              cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/graphql"
        listed = {}
        for job in JOBS:
            body = json.dumps({"query": JOB_RUNS_QUERY, "variables": {"job": job}}).encode()
            listed[job] = graphql(url, body)["data"]["pipelineRunsOrError"]["results"]
    finally:
        server.terminate()
        server.wait(timeout=60)
    for run in a.runs():
        results = listed[run.job_name]
        assert [r["runId"] for r in results] == [run.run_id]
        assert results[0]["repositoryOrigin"]["repositoryLocationName"] == LOCATION_NAME


def graphql(url: str, body: bytes, attempts: int = 600) -> dict:
    """POST a query, waiting for the webserver to come up (it loads the code location first)."""
    for _ in range(attempts):
        try:
            request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read())
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"no answer from {url}")
