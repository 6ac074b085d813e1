"""Secrets: a webhook URL holding a token, an MLflow tracking URI holding user:password@ (and
MLFLOW_TRACKING_PASSWORD), and a database URL holding a password, given as ${VAR} in the config, reach resources
as dg.EnvVar and never appear in the CLI's output, the Dagster event log (asset metadata included), the
webserver's GraphQL answers, MLflow params and tags, or any file the pipeline stores; every server the project
starts binds to 127.0.0.1 by default."""

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from dagster._serdes import serialize_value
from mlflow.tracking import MlflowClient

from ml_assets import stack
from ml_assets.definitions import build_definitions
from ml_assets.runner import LOCATION_NAME
from ml_assets.spec import PipelineSpec, load_spec
from ml_assets_tests.conftest import PROJECT_ROOT
from ml_assets_tests.defs.test_mlflow_server import start_tracking_server, wait_until_ready
from ml_assets_tests.ports import free_port
from ml_assets_tests.reliability.support import ml_assets, process_env, write_config
from ml_assets_tests.test_cli_runs import graphql
from ml_assets_tests.webhook import WebhookServer

TOKEN = "xoxb-SECRET-TOKEN-4815162342"
PASSWORD = "PW-SECRET-0xDEADBEEF"
MLFLOW_URL_PASSWORD = "MLFLOW-URL-SECRET-271828"
MLFLOW_ENV_PASSWORD = "MLFLOW-ENV-SECRET-314159"
RESOURCES_QUERY = """query ($location: String!) {
  allTopLevelResourceDetailsOrError(repositorySelector: {repositoryLocationName: $location,
                                                         repositoryName: "__repository__"}) {
    __typename
    ... on ResourceDetailsList { results { name description configFields { name description }
                                           configuredValues { key value type } } }
  }
}"""
ENTRY = ("metadataEntries { label description ... on TextMetadataEntry { text } ... on UrlMetadataEntry { url } "
         "... on PathMetadataEntry { path } ... on JsonMetadataEntry { jsonString } "
         "... on MarkdownMetadataEntry { mdStr } }")
EVENTS_QUERY = """query ($runId: ID!) {
  runOrError(runId: $runId) { __typename ... on Run { runConfigYaml tags { key value } } }
  logsForRun(runId: $runId, limit: 100000) {
    __typename
    ... on EventConnection { events { __typename
      ... on MessageEvent { message }
      ... on MaterializationEvent { %(entry)s }
      ... on ObservationEvent { %(entry)s }
      ... on HandledOutputEvent { %(entry)s }
      ... on LoadedInputEvent { %(entry)s }
      ... on ExecutionStepFailureEvent { error { message stack } }
      ... on EngineEvent { %(entry)s error { message stack } }
      ... on AssetCheckEvaluationEvent { evaluation { %(entry)s } } } }
  }
}""" % {"entry": ENTRY}
TRAINING = {"window_days": 45, "holdout_days": 14, "min_auc": 0.5}  # these tests need a champion, not a good one


def instance_texts(spec: PipelineSpec) -> list[str]:
    """Every run and every event of the pipeline's Dagster instance, serialized (metadata and errors included)."""
    with dg.DagsterInstance.from_config(str(spec.home_dir / "dagster")) as instance:
        runs = instance.get_runs()
        assert runs, "the pipeline recorded its runs"
        return [serialize_value(run) for run in runs] + [
            serialize_value(record.event_log_entry)
            for run in runs for record in instance.get_records_for_run(run.run_id, limit=100_000).records]


def mlflow_texts(spec: PipelineSpec) -> list[str]:
    """Params and tags of every MLflow run, registered model and model version of the pipeline's store."""
    client = MlflowClient(tracking_uri=spec.tracking_uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(experiments, max_results=10_000)
    assert runs, "training logged its runs"
    texts = [str(run.data.params) + str(run.data.tags) for run in runs]
    for model in client.search_registered_models():
        texts.append(str(model.tags))
        texts += [str(v.tags) + str(v.source) for v in client.search_model_versions(f"name='{model.name}'")]
    return texts


def stored_files_holding(home: Path, secret: str) -> list[str]:
    """Files under the pipeline's data home (lake, reports, MLflow store, Dagster instance) holding `secret`."""
    return [str(path) for path in home.rglob("*") if path.is_file() and secret.encode() in path.read_bytes()]


def assert_nowhere(secret: str, spec: PipelineSpec, *outputs: str) -> None:
    for where, texts in {"CLI output": outputs, "Dagster instance": instance_texts(spec)}.items():
        assert not [text for text in texts if secret in text], f"{secret} appears in the {where}"
    assert stored_files_holding(spec.home_dir, secret) == []


@pytest.fixture
def tracking_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """`mlflow server` on 127.0.0.1 (it ignores credentials, as a proxy in front of it would check them): URL, folder."""
    url, process, log = start_tracking_server(tmp_path / "mlflow_server")
    try:
        wait_until_ready(url, process, log, timeout_s=300)  # six test sessions share two cores here
        yield url, tmp_path / "mlflow_server"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


@contextlib.contextmanager
def dagster_webserver(spec: PipelineSpec) -> Iterator[str]:
    """`dagster-webserver` on 127.0.0.1 over the project's workspace for `spec`'s config and instance: its GraphQL URL."""
    port = free_port()
    env = process_env(spec, ML_ASSETS_CONFIG=str(spec.base_dir / "pipeline.yaml"))
    server = subprocess.Popen([str(Path(sys.executable).with_name("dagster-webserver")), "-h", "127.0.0.1",
                               "-p", str(port), "-w", str(PROJECT_ROOT / "workspace.yaml")],
                              cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield f"http://127.0.0.1:{port}/graphql"
    finally:
        server.terminate()
        server.wait(timeout=60)


def query(url: str, text: str, **variables: str) -> dict:
    """The data of one GraphQL query (fails on GraphQL errors, so a wrong field cannot pass silently)."""
    answer = graphql(url, json.dumps({"query": text, "variables": variables}).encode())
    assert "errors" not in answer, answer.get("errors")
    return answer["data"]


def webserver_texts(spec: PipelineSpec) -> tuple[dict[str, dict[str, tuple[str, str]]], list[str]]:
    """Through the webserver's GraphQL API: each resource's configured values (key -> (type, value)), and the text
    of every run's config, tags and event log (messages, metadata, errors)."""
    with dg.DagsterInstance.from_config(str(spec.home_dir / "dagster")) as instance:
        run_ids = [run.run_id for run in instance.get_runs()]
    with dagster_webserver(spec) as url:
        resources = query(url, RESOURCES_QUERY, location=LOCATION_NAME)["allTopLevelResourceDetailsOrError"]
        runs = [query(url, EVENTS_QUERY, runId=run_id) for run_id in run_ids]
    assert resources["__typename"] == "ResourceDetailsList", resources
    configured = {resource["name"]: {value["key"]: (value["type"], value["value"])
                                     for value in resource["configuredValues"]} for resource in resources["results"]}
    assert all(run["logsForRun"]["events"] for run in runs), "the event log of every run came through GraphQL"
    return configured, [json.dumps(resources)] + [json.dumps(run) for run in runs]


def test_a_run_with_secret_webhook_and_mlflow_urls_leaks_them_nowhere(
        tmp_path: Path, landing_dir: Path, tracking_server: tuple[str, Path],
        monkeypatch: pytest.MonkeyPatch) -> None:
    server_url, server_folder = tracking_server
    monkeypatch.setenv("TEST_TRACKING_URI", server_url.replace("http://", f"http://ml_user:{MLFLOW_URL_PASSWORD}@"))
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "ml_user")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", MLFLOW_ENV_PASSWORD)
    with WebhookServer() as server:
        monkeypatch.setenv("TEST_ALERT_WEBHOOK", f"{server.url}?token={TOKEN}")
        spec = write_config(tmp_path, landing_dir, training=TRAINING, mlflow={"tracking_uri": "${TEST_TRACKING_URI}"},
                            monitoring={"alerts": {"webhook_url": "${TEST_ALERT_WEBHOOK}"}},
                            drift={"evidently": {"days": "none"}})
        done = ml_assets(spec, "run", "--start", "2024-03-01", "--end", "2024-06-30", timeout_s=2400)
    assert done.returncode == 0, done.stderr[-3000:]
    assert any("drift in segment" in message["text"] for message in server.messages), "alerts went to the webhook"
    assert "ml_user:***@127.0.0.1" in done.stdout, "the CLI names the tracking server, password masked"
    configured, graphql_texts = webserver_texts(spec)
    tracked = mlflow_texts(spec)
    for secret in (TOKEN, MLFLOW_URL_PASSWORD, MLFLOW_ENV_PASSWORD):
        assert_nowhere(secret, spec, done.stdout, done.stderr)
        assert not [text for text in tracked if secret in text], f"{secret} appears in MLflow"
        assert not [text for text in graphql_texts if secret in text], f"{secret} appears in the webserver's answers"
        assert stored_files_holding(server_folder, secret) == [], f"{secret} is in the MLflow server's store"
    assert configured["alerts"]["webhook_url"] == ("ENV_VAR", "TEST_ALERT_WEBHOOK")
    assert configured["model_registry"]["tracking_uri"] == ("ENV_VAR", "TEST_TRACKING_URI")
    resources = build_definitions(load_spec(tmp_path / "pipeline.yaml")).resources
    for resource, field, name in (("alerts", "webhook_url", "TEST_ALERT_WEBHOOK"),
                                  ("model_registry", "tracking_uri", "TEST_TRACKING_URI")):
        value = getattr(resources[resource], field)
        assert isinstance(value, dg.EnvVar) and value.env_var_name == name


def test_a_database_password_is_not_in_the_error_or_anything_stored(tmp_path: Path, landing_dir: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"postgresql://ml_reader:{PASSWORD}@127.0.0.1:9/warehouse"
    monkeypatch.setenv("TEST_WAREHOUSE_URL", url)
    spec = write_config(tmp_path, landing_dir, dataset={"source": {
        "kind": "sql", "url": "${TEST_WAREHOUSE_URL}",
        "query": "SELECT * FROM invoices WHERE invoice_date BETWEEN :start AND :end"}})
    done = ml_assets(spec, "run", "--start", "2024-03-01", "--end", "2024-03-02")
    assert done.returncode != 0 and "127.0.0.1:9" in done.stderr, "the failure names the database, not its password"
    assert_nowhere(PASSWORD, spec, done.stdout, done.stderr)
    resource = build_definitions(load_spec(tmp_path / "pipeline.yaml")).resources["source"]
    assert isinstance(resource.location, dg.EnvVar) and resource.location.env_var_name == "TEST_WAREHOUSE_URL"


# Commands that listen on a port (the Dagster daemon listens on none: it only connects to the instance and code servers).
SERVER_COMMANDS = re.compile(r"(?<![\w.])(dagster(-webserver)? dev|dagster-webserver|ml_assets\.webserver|"
                             r"mlflow (server|ui)|dask[- ]scheduler|postgres)(?![\w(])")


@pytest.mark.parametrize("script", sorted(p.name for p in (PROJECT_ROOT / "scripts").iterdir()))
def test_every_server_a_script_starts_binds_to_localhost(script: str) -> None:
    lines = [line for line in (PROJECT_ROOT / "scripts" / script).read_text().splitlines()
             if SERVER_COMMANDS.search(line) and not line.lstrip().startswith("#")]
    for line in lines:
        assert "127.0.0.1" in line or "localhost" in line, f"scripts/{script}: {line.strip()}"


def test_every_server_the_stack_starts_binds_to_localhost() -> None:
    listening = [service for service in stack.services(stack.Ports.from_env()) if service.port]
    assert {service.name for service in listening} == {"mlflow", "dask-scheduler", "dagster-webserver"}
    for service in stack.services(stack.Ports.from_env()):
        hosts = [value for flag, value in zip(service.command, service.command[1:]) if flag in ("--host", "-h")]
        assert service.name == "dagster-daemon" or hosts == ["127.0.0.1"], f"{service.name}: {service.command}"
    assert "listen_addresses=127.0.0.1" in stack.postgres_options(stack.Ports.from_env(), stack.stack_dir())

