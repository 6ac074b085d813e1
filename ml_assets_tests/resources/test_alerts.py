"""AlertWebhook against a real HTTP server on 127.0.0.1, and its URL coming from the environment."""

import logging
import time
from pathlib import Path

import dagster as dg
import pytest

from ml_assets.definitions import build_resources
from ml_assets.resources.alerts import AlertWebhook
from ml_assets.spec import ConfigError, load_spec
from ml_assets_tests.conftest import PROJECT_ROOT
from ml_assets_tests.webhook import WebhookServer


def test_posts_a_slack_compatible_json_message() -> None:
    with WebhookServer() as server:
        assert AlertWebhook(webhook_url=server.url).send("drift in domestic") is True
    assert server.messages == [{"text": "drift in domestic"}]
    assert server.content_types == ["application/json"]


def test_retries_server_errors_then_delivers() -> None:
    with WebhookServer(fail_first=2, status=503) as server:
        assert AlertWebhook(webhook_url=server.url, retries=3, backoff_seconds=0.01).send("hello") is True
    assert server.attempts == 3 and server.messages == [{"text": "hello"}]


def test_gives_up_after_the_retries_and_logs_the_message(caplog: pytest.LogCaptureFixture) -> None:
    with WebhookServer(fail_first=100, status=500) as server, caplog.at_level(logging.ERROR, "ml_assets.alerts"):
        assert AlertWebhook(webhook_url=server.url, retries=2, backoff_seconds=0.01).send("lost") is False
    assert server.attempts == 3 and server.messages == []
    assert "after 3 attempt(s)" in caplog.text and "lost" in caplog.text


def test_client_errors_are_not_retried() -> None:
    with WebhookServer(fail_first=100, status=404) as server:
        assert AlertWebhook(webhook_url=server.url, retries=3, backoff_seconds=0.01).send("typo in the URL") is False
    assert server.attempts == 1


def test_a_stalled_webhook_is_cut_by_the_timeout() -> None:
    with WebhookServer(fail_first=100, stall_seconds=2.0) as server:
        started = time.perf_counter()
        delivered = AlertWebhook(webhook_url=server.url, timeout_seconds=0.2, retries=1, backoff_seconds=0.01).send("slow")
        elapsed = time.perf_counter() - started
    assert delivered is False and server.attempts == 2
    assert elapsed < 1.5, f"two attempts with a 0.2 s timeout took {elapsed:.2f} s"


def test_without_a_url_the_alert_is_a_log_line(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "ml_assets.alerts"):
        assert AlertWebhook().send("drift in industrial") is True
    assert "drift in industrial" in caplog.text and "monitoring.alerts.webhook_url" in caplog.text


def test_webhook_url_comes_from_the_environment_through_the_spec(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "pipeline.yaml"
    config.write_text((PROJECT_ROOT / "pipeline.yaml").read_text())
    monkeypatch.setenv("ML_ASSETS_ALERT_WEBHOOK", "https://hooks.example.com/services/T000/B000/XXX")
    alerts = build_resources(load_spec(config))["alerts"]
    assert alerts.webhook_url == dg.EnvVar("ML_ASSETS_ALERT_WEBHOOK"), "a secret reaches the resource as its name"
    assert alerts.webhook_url.get_value() == "https://hooks.example.com/services/T000/B000/XXX"
    monkeypatch.setenv("ML_ASSETS_ALERT_WEBHOOK", "")
    assert build_resources(load_spec(config))["alerts"].webhook_url is None
    monkeypatch.setenv("ML_ASSETS_ALERT_WEBHOOK", "hooks.example.com/x")
    with pytest.raises(ConfigError, match="webhook_url.*must start with http"):
        load_spec(config)


def test_undelivered_alert_names_the_webhook_without_its_secret_path(caplog: pytest.LogCaptureFixture) -> None:
    """A webhook answering 500 ends, after the retries, in one error line naming the service and its host only
    (Slack-style webhook URLs carry their token in the path)."""
    with WebhookServer(fail_first=100, status=500) as server, caplog.at_level(logging.ERROR, "ml_assets.alerts"):
        secret_url = server.url.replace("/hooks/alerts", "/services/T000/B000/s3cr3t")
        assert AlertWebhook(webhook_url=secret_url, retries=1, backoff_seconds=0.01).send("drift") is False
    host, port = server.url.split("//")[1].split("/")[0].split(":")
    assert server.attempts == 2
    assert f"alert not delivered to the webhook http://{host}:{port}/... after 2 attempt(s) (HTTP 500)" in caplog.text
    assert "s3cr3t" not in caplog.text and "T000" not in caplog.text
