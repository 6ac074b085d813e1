"""The retry policy of every step that calls a service (MLflow, the source database), from the spec, and the one
clear error such a step ends with once its retries are spent."""

import functools
import inspect
from collections.abc import Callable, Iterator
from typing import Any

import dagster as dg

from ml_assets.core.sources import SourceUnavailable
from ml_assets.resources.mlflow import RegistryUnavailable
from ml_assets.spec import RetriesSpec

BACKOFF = {"exponential": dg.Backoff.EXPONENTIAL, "linear": dg.Backoff.LINEAR, "constant": None}
OUTAGES = (RegistryUnavailable, SourceUnavailable)


def service_retry_policy(retries: RetriesSpec) -> dg.RetryPolicy:
    """Dagster retries with the spec's limits and backoff (retries.max_total_s bounds the whole); a contract
    failure (dg.Failure without retries) is not retried."""
    return dg.RetryPolicy(max_retries=retries.max_retries, delay=retries.delay_s, backoff=BACKOFF[retries.backoff])


def names_outage_when_spent(retries: RetriesSpec) -> Callable[[Callable[..., Any]], Callable[..., Iterator[Any]]]:
    """Decorate an asset's compute function: an outage on its last attempt fails the step with the outage's own
    message (the service and its URL), not Dagster's bare "Exceeded max_retries"."""

    def decorate(compute: Callable[..., Any]) -> Callable[..., Iterator[Any]]:
        @functools.wraps(compute)
        def run(context: dg.AssetExecutionContext, *args: Any, **kwargs: Any) -> Iterator[Any]:
            try:
                result = compute(context, *args, **kwargs)
                if inspect.isgenerator(result):
                    yield from result
                else:
                    yield result
            except OUTAGES as outage:
                if context.retry_number < retries.max_retries:
                    raise
                raise dg.Failure(f"{outage} (gave up after {context.retry_number + 1} attempt(s), retries section "
                                 "of the config)", allow_retries=False) from None

        return run

    return decorate
