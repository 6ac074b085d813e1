"""Training against a real `mlflow server` process (SQLite backend, proxied artifacts), as a remote store would be."""

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from ml_assets.resources.registry import ModelRegistry
from ml_assets_tests.ports import free_port
from ml_assets_tests.training_support import spec_with_lake, train

READY_TIMEOUT_S = 60



def wait_until_ready(url: str, process: subprocess.Popen, log: Path, timeout_s: float = READY_TIMEOUT_S) -> None:
    """Poll /health until the server answers; fail with its log if it exits or takes more than `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"mlflow server exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"mlflow server not ready after {timeout_s} s:\n{log.read_text()[-3000:]}")


def start_tracking_server(folder: Path) -> tuple[str, subprocess.Popen, Path]:
    """`mlflow server` on 127.0.0.1 with its store and artifacts in `folder` (created); its URL, process and log.

    The SQLite store is created here first (the server then skips the migrations) and the server's job runner
    is off: both only slow the start."""
    port = free_port()
    folder.mkdir()
    log, store = folder / "server.log", f"sqlite:///{folder / 'mlflow.db'}"
    MlflowClient(tracking_uri=store).search_experiments()
    command = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
               "--backend-store-uri", store, "--serve-artifacts", "--artifacts-destination", str(folder / "artifacts")]
    environment = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    with log.open("w") as output:
        process = subprocess.Popen(command, cwd=folder, env=environment, stdout=output, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    return f"http://127.0.0.1:{port}", process, log


@pytest.fixture
def mlflow_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """`mlflow server` on 127.0.0.1 with its store and artifacts in tmp_path; stopped (its process group) after."""
    url, process, log = start_tracking_server(tmp_path / "server")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    previous_uri = mlflow.get_tracking_uri()
    try:
        wait_until_ready(url, process, log)
        yield url
    finally:
        mlflow.set_tracking_uri(previous_uri)  # dagster-mlflow set the process-wide URI to this server
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_training_job_registers_both_segments_on_a_tracking_server(
        mlflow_server: str, tmp_path: Path, landing_dir: Path, ingested_lake: Path) -> None:
    spec = spec_with_lake(tmp_path, landing_dir, ingested_lake, mlflow={"tracking_uri": mlflow_server})
    assert spec.tracking_uri == mlflow_server
    result = train(spec)
    assert result.success
    client = MlflowClient(tracking_uri=mlflow_server)
    experiment = client.get_experiment_by_name(spec.experiment_name)
    assert experiment.artifact_location.startswith("mlflow-artifacts:"), "artifacts go through the server's proxy"
    for segment in spec.segment_names:
        name = spec.registered_model_name(segment)
        versions = client.search_model_versions(f"name='{name}'")
        assert [str(v.version) for v in versions] == ["1"]
        assert client.get_registered_model(name).aliases == {"champion": "1", "challenger": "1"}
        assert client.get_model_version(name, "1").tags["dagster_run_id"] == result.run_id
        loaded = ModelRegistry(tracking_uri=mlflow_server).load(name, "1")
        assert loaded.meta.segment == segment and loaded.booster.num_boosted_rounds() >= 1
    stored = list((tmp_path / "server" / "artifacts").rglob("scoring_meta.json"))
    assert len(stored) == 2, "artifacts are stored by the server, under its artifacts destination"
