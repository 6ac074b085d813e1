"""The retry policy of every step that calls a service (MLflow, the source database), from the spec."""

import dagster as dg

from ml_assets.spec import RetriesSpec

BACKOFF = {"exponential": dg.Backoff.EXPONENTIAL, "linear": dg.Backoff.LINEAR, "constant": None}


def service_retry_policy(retries: RetriesSpec) -> dg.RetryPolicy:
    """Dagster retries with the spec's limits and backoff; a contract failure (dg.Failure without retries) is
    not retried, an outage is, and retries.max_total_s bounds the whole."""
    return dg.RetryPolicy(max_retries=retries.max_retries, delay=retries.delay_s, backoff=BACKOFF[retries.backoff])
