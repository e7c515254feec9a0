"""Retry policy: exponential backoff with jitter via tenacity, honouring Retry-After, capped total wait.

What is retried: `RetriableError` (incl. `RateLimitedError`) raised by the wrapped call, and httpx transport
failures (connect/read/write/pool timeouts, dropped connections, protocol errors). Everything else — other 4xx,
`FatalError`, `RecordError` — propagates at once.

A connection that cannot even be opened (refused, DNS failure, connect timeout) has its own, small budget
(``connect_attempts``): a service that is down stays down for the seconds a backoff lasts, so after that many
failed connects `UnreachableError` (a `RetriableError` no outer `retrying` retries again) ends the call, and the
sync engine fails that connector for the run, instead of spending minutes of backoff on every call. A 429/5xx
storm is an answering service and keeps the full budget.
"""

from __future__ import annotations

import email.utils
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

import httpx
import tenacity

from crmhub.contract import ApiMetrics
from crmhub.errors import RateLimitedError, RetriableError, UnreachableError

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to try. ``max_total_wait`` caps the sum of sleeps for one logical call."""

    max_attempts: int = 8
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_total_wait: float = 300.0
    retry_after_floor: float = 0.2
    jitter: float = 0.5
    connect_attempts: int = 3


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date); ``None`` when absent or bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def raise_for_transient(response: httpx.Response, *, connector: str | None = None, stream: str | None = None) -> None:
    """Turn 429 into `RateLimitedError` and 5xx into `RetriableError`; leave other statuses to the caller."""
    if response.status_code == 429:
        raise RateLimitedError(
            f"{response.request.method} {response.request.url.path} answered 429 Too Many Requests",
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
            connector=connector,
            stream=stream,
        )
    if response.status_code >= 500:
        raise RetriableError(
            f"{response.request.method} {response.request.url.path} answered {response.status_code}",
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
            connector=connector,
            stream=stream,
        )


_TRANSIENT = (httpx.TransportError,)
_CONNECT = (httpx.ConnectError, httpx.ConnectTimeout)


def _where(exc: httpx.TransportError) -> str:
    try:
        url = exc.request.url
    except RuntimeError:  # raised without a request (tests, custom transports)
        return "the service"
    return f"{url.scheme}://{url.netloc.decode('ascii', 'replace')}"


def _wait(policy: RetryPolicy, spent: Callable[[], float]) -> Callable[[tenacity.RetryCallState], float]:
    """The next sleep: backoff with jitter (or the service's Retry-After), never past what is left of
    ``max_total_wait`` after the ``spent()`` seconds this logical call has already slept."""

    def compute(state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        expo = min(policy.max_delay, policy.base_delay * 2 ** (state.attempt_number - 1))
        delay = expo * (1 - policy.jitter + random.random() * policy.jitter)
        if isinstance(exc, RetriableError) and exc.retry_after is not None:
            delay = max(exc.retry_after, policy.retry_after_floor)
        bounded: float = max(0.0, min(delay, policy.max_delay, policy.max_total_wait - spent()))
        return bounded

    return compute


async def retrying(
    call: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy | None = None,
    metrics: ApiMetrics | None = None,
    sleep: Callable[[float], Awaitable[None]] | None = None,
) -> T:
    """Run ``call`` until it succeeds, retrying transient failures under ``policy``.

    When the attempts or the total wait run out, the last `RetriableError` (or a `RetriableError` wrapping the
    transport failure) is raised, so the engine can report it with its cause.
    """
    policy = policy or RetryPolicy()
    waited = 0.0
    connect_failures = 0

    async def before_sleep(state: tenacity.RetryCallState) -> None:
        nonlocal waited
        delay = state.next_action.sleep if state.next_action else 0.0
        waited += delay
        exc = state.outcome.exception() if state.outcome else None
        if metrics is not None:
            metrics.retries += 1
            metrics.waited_seconds += delay
            if isinstance(exc, RateLimitedError):
                metrics.throttled += 1

    def stop(state: tenacity.RetryCallState) -> bool:
        nonlocal connect_failures
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _CONNECT):
            connect_failures += 1
            if connect_failures >= policy.connect_attempts:
                return True
        if state.attempt_number >= policy.max_attempts:
            return True
        return waited >= policy.max_total_wait

    kwargs = {"sleep": sleep} if sleep is not None else {}
    retryer = tenacity.AsyncRetrying(
        retry=tenacity.retry_if_exception(  # an inner call's spent connect budget is not retried again out here
            lambda e: isinstance(e, RetriableError | httpx.TransportError) and not isinstance(e, UnreachableError)
        ),
        wait=_wait(policy, lambda: waited),
        stop=stop,
        before_sleep=before_sleep,
        reraise=True,
        **kwargs,  # type: ignore[arg-type]
    )

    async def attempt() -> T:
        return await call()

    try:
        return await retryer(attempt)
    except _CONNECT as exc:
        if metrics is not None:
            metrics.errors += 1
        raise UnreachableError(
            f"{_where(exc)} could not be reached ({connect_failures} connection attempt(s) failed: "
            f"{type(exc).__name__}: {exc})",
            hint="start the service or fix its URL; raise connect_attempts in the connector's table to wait longer",
        ) from exc
    except httpx.TransportError as exc:
        if metrics is not None:
            metrics.errors += 1
        raise RetriableError(
            f"network failure after {policy.max_attempts} attempts: {type(exc).__name__}: {exc}",
            hint="check that the service is reachable; the run can be repeated safely",
        ) from exc
    except RateLimitedError:
        if metrics is not None:
            metrics.throttled += 1
            metrics.errors += 1
        raise
    except UnreachableError:
        raise  # counted where it was raised
    except RetriableError:
        if metrics is not None:
            metrics.errors += 1
        raise
