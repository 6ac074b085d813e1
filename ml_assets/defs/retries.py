"""The retry policy of every step that calls a service (MLflow, the source database), from the spec, and the one
clear error such a step ends with once its retries are spent."""

import functools
import inspect
from collections.abc import Callable, Iterator
from typing import Any

import dagster as dg
from mlflow.exceptions import MlflowException

from ml_assets.core.data.sources import SourceUnavailable
from ml_assets.resources.registry import NOT_FOUND_CODES, RegistryUnavailable, unreachable
from ml_assets.spec import RetriesSpec

BACKOFF = {"exponential": dg.Backoff.EXPONENTIAL, "linear": dg.Backoff.LINEAR, "constant": None}
OUTAGES = (RegistryUnavailable, SourceUnavailable)


def service_retry_policy(retries: RetriesSpec) -> dg.RetryPolicy:
    """Dagster retries with the spec's limits and backoff (retries.max_total_s bounds the whole); a contract
    failure (dg.Failure without retries) is not retried."""
    return dg.RetryPolicy(max_retries=retries.max_retries, delay=retries.delay_s, backoff=BACKOFF[retries.backoff])


def outage(error: Exception, tracking_uri: str) -> Exception | None:
    """The outage an error means (a failed MLflow call other than "not found" is the tracking server's), or None."""
    if isinstance(error, OUTAGES):
        return error
    if isinstance(error, MlflowException) and error.error_code not in NOT_FOUND_CODES:
        return unreachable(tracking_uri, error)
    return None


def names_outage_when_spent(retries: RetriesSpec,
                            tracking_uri: str) -> Callable[[Callable[..., Any]], Callable[..., Iterator[Any]]]:
    """Decorate an asset's compute function: an outage on its last attempt fails the step with one message naming
    the service and its URL (not Dagster's bare "Exceeded max_retries"); other errors are left as they are."""

    def decorate(compute: Callable[..., Any]) -> Callable[..., Iterator[Any]]:
        @functools.wraps(compute)
        def run(context: dg.AssetExecutionContext, *args: Any, **kwargs: Any) -> Iterator[Any]:
            try:
                result = compute(context, *args, **kwargs)
                if inspect.isgenerator(result):
                    yield from result
                else:
                    yield result
            except Exception as error:
                named = outage(error, tracking_uri)
                if named is None or context.retry_number < retries.max_retries:
                    raise
                raise dg.Failure(f"{named} (gave up after {context.retry_number + 1} attempt(s), retries section "
                                 "of the config)", allow_retries=False) from None

        return run

    return decorate
