"""Alerts: a Slack-compatible JSON message ({"text": ...}) POSTed to a webhook, or a log line without one."""

import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request

import dagster as dg

logger = logging.getLogger("ml_assets.alerts")


def webhook_origin(url: str) -> str:
    """A webhook URL shown without its secret parts: scheme and host only (Slack-style URLs carry the token in
    the path, others in the user info)."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}/..."


def describe_error(error: Exception) -> str:
    """A delivery error without the URL it may quote: the HTTP status, or the kind of failure."""
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code}"
    reason = getattr(error, "reason", error)
    return f"{type(reason).__name__}: {reason}" if not isinstance(reason, str) else reason


class AlertWebhook(dg.ConfigurableResource):
    """Sends alert messages to `webhook_url` with a timeout and retries; without a URL, logs them.

    Delivery problems are logged, never raised: an unreachable chat must not fail a pipeline run."""

    webhook_url: str | None = None
    timeout_seconds: float = 5.0
    retries: int = 3
    backoff_seconds: float = 0.5

    def send(self, text: str) -> bool:
        """Deliver one message; True when the webhook accepted it (or when it was only logged)."""
        if not self.webhook_url:
            logger.warning("alert (no webhook configured; set monitoring.alerts.webhook_url): %s", text)
            return True
        for attempt in range(self.retries + 1):
            error = self._post(text)
            if error is None:
                return True
            retryable = not (isinstance(error, urllib.error.HTTPError) and error.code < 500 and error.code != 429)
            if not retryable or attempt == self.retries:
                break
            time.sleep(self.backoff_seconds * 2**attempt)
        logger.error("alert not delivered to the webhook %s after %d attempt(s) (%s); check "
                     "monitoring.alerts.webhook_url. Message: %s", webhook_origin(self.webhook_url), attempt + 1,
                     describe_error(error), text)
        return False

    def _post(self, text: str) -> Exception | None:
        """One POST of {"text": text}; the error, or None on a 2xx answer."""
        request = urllib.request.Request(self.webhook_url, data=json.dumps({"text": text}).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:
                response.read()
            return None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
            return error
