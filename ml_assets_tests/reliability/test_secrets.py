"""Secrets: a webhook URL holding a token and a database URL holding a password, given as ${VAR} in the config,
reach resources as dg.EnvVar and never appear in the CLI's output, the Dagster event log (asset metadata
included), MLflow params and tags, or any file the pipeline stores; every server the project starts binds to
127.0.0.1 by default."""

import re
from pathlib import Path

import dagster as dg
import pytest
from dagster._serdes import serialize_value
from mlflow.tracking import MlflowClient

from ml_assets.definitions import build_definitions
from ml_assets.spec import PipelineSpec, load_spec
from ml_assets_tests.conftest import PROJECT_ROOT
from ml_assets_tests.reliability.support import ml_assets, write_config
from ml_assets_tests.webhook import WebhookServer

TOKEN = "xoxb-SECRET-TOKEN-4815162342"
PASSWORD = "PW-SECRET-0xDEADBEEF"
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


def test_a_run_with_a_secret_webhook_url_leaks_it_nowhere(tmp_path: Path, landing_dir: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    with WebhookServer() as server:
        secret_url = f"{server.url}?token={TOKEN}"
        monkeypatch.setenv("TEST_ALERT_WEBHOOK", secret_url)
        spec = write_config(tmp_path, landing_dir, training=TRAINING,
                            monitoring={"alerts": {"webhook_url": "${TEST_ALERT_WEBHOOK}"}})
        done = ml_assets(spec, "run", "--start", "2024-03-01", "--end", "2024-06-30")
    assert done.returncode == 0, done.stderr[-3000:]
    assert any("drift in segment" in message["text"] for message in server.messages), "alerts went to the webhook"
    assert_nowhere(TOKEN, spec, done.stdout, done.stderr)
    assert not [text for text in mlflow_texts(spec) if TOKEN in text]
    resource = build_definitions(load_spec(tmp_path / "pipeline.yaml")).resources["alerts"]
    assert isinstance(resource.webhook_url, dg.EnvVar) and resource.webhook_url.env_var_name == "TEST_ALERT_WEBHOOK"


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


SERVER_COMMANDS = re.compile(r"(dagster(-webserver)? dev|dagster-webserver|dagster-daemon|mlflow (server|ui)|"
                             r"dask[- ]scheduler|postgres)\b")


@pytest.mark.parametrize("script", sorted(p.name for p in (PROJECT_ROOT / "scripts").iterdir()))
def test_every_server_a_script_starts_binds_to_localhost(script: str) -> None:
    lines = [line for line in (PROJECT_ROOT / "scripts" / script).read_text().splitlines()
             if SERVER_COMMANDS.search(line) and not line.lstrip().startswith("#")]
    for line in lines:
        assert "127.0.0.1" in line or "localhost" in line, f"scripts/{script}: {line.strip()}"
