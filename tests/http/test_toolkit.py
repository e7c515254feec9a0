"""The HTTP toolkit: retry policy, pacing, single-flight tokens."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from crmhub import ApiMetrics
from crmhub.errors import FatalError, RateLimitedError, RetriableError, UnreachableError
from crmhub.http import (
    LocalRateLimits,
    RateBudget,
    RetryPolicy,
    SingleFlightToken,
    SlidingWindow,
    build_client,
    parse_retry_after,
    raise_for_transient,
    retrying,
)

FAST = RetryPolicy(max_attempts=5, base_delay=0.001, max_delay=0.01, max_total_wait=1.0, retry_after_floor=0.001)


async def test_retries_429_and_5xx_then_succeeds() -> None:
    """429 and 5xx are retried; retries and throttles are counted."""
    answers = iter([429, 503, 200])
    metrics = ApiMetrics()

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(next(answers), json={})

    async with build_client(
        base_url="https://x.example", metrics=metrics, transport=httpx.MockTransport(handler)
    ) as client:

        async def call() -> int:
            r = await client.get("/a")
            raise_for_transient(r)
            return r.status_code

        assert await retrying(call, policy=FAST, metrics=metrics) == 200
    assert metrics.calls == 3 and metrics.retries == 2 and metrics.throttled == 1


async def test_other_4xx_is_not_retried() -> None:
    """A 400 is returned at once (the caller decides), never retried."""
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(400, json={})

    async with build_client(transport=httpx.MockTransport(handler)) as client:

        async def call() -> int:
            r = await client.get("https://x.example/")
            raise_for_transient(r)
            return r.status_code

        assert await retrying(call, policy=FAST) == 400
    assert calls == 1


async def test_fatal_errors_propagate_at_once() -> None:
    """A FatalError inside the call is not retried."""
    calls = 0

    async def call() -> None:
        nonlocal calls
        calls += 1
        raise FatalError("bad credentials")

    with pytest.raises(FatalError):
        await retrying(call, policy=FAST)
    assert calls == 1


async def test_dropped_connections_retried_and_exhaustion_reported() -> None:
    """Transport errors are retried; when attempts run out a RetriableError explains it."""
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        raise httpx.RemoteProtocolError("peer closed connection", request=request)

    async with build_client(transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(RetriableError, match="network failure after 5 attempts"):
            await retrying(lambda: client.get("https://x.example/"), policy=FAST)
    assert calls == 5


async def test_refused_connections_give_up_after_the_connect_budget() -> None:
    """Connection refused on every attempt: UnreachableError (fatal for the connector) after connect_attempts,
    not the whole retry budget (the original break: minutes of backoff per call against a stopped service)."""
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    policy = RetryPolicy(max_attempts=8, base_delay=0.001, max_delay=0.01, max_total_wait=1.0, connect_attempts=2)
    metrics = ApiMetrics()
    async with build_client(transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(UnreachableError, match=r"http://x.example could not be reached \(2 connection") as err:
            await retrying(lambda: client.get("http://x.example/a"), policy=policy, metrics=metrics)
    assert calls == 2 and metrics.errors == 1
    assert isinstance(err.value, RetriableError) and "connect_attempts" in (err.value.hint or "")

    outer = 0

    async def nested() -> None:  # e.g. a token fetch inside an API call: the spent budget is not retried again
        nonlocal outer
        outer += 1
        async with build_client(transport=httpx.MockTransport(handler)) as inner:
            await retrying(lambda: inner.get("http://x.example/token"), policy=policy)

    calls = 0
    with pytest.raises(UnreachableError):
        await retrying(nested, policy=policy)
    assert outer == 1 and calls == 2


async def test_a_5xx_storm_still_uses_the_full_retry_budget() -> None:
    """An answering service in trouble (503 every time) is retried max_attempts times, not connect_attempts."""
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(503 if calls < 6 else 200, json={})

    policy = RetryPolicy(max_attempts=8, base_delay=0.001, max_delay=0.01, max_total_wait=1.0, connect_attempts=1)
    async with build_client(transport=httpx.MockTransport(handler)) as client:

        async def call() -> int:
            r = await client.get("https://x.example/")
            raise_for_transient(r)
            return r.status_code

        assert await retrying(call, policy=policy) == 200
    assert calls == 6


async def test_retry_after_is_honoured_with_a_floor() -> None:
    """The wait before the next attempt is Retry-After (at least the floor)."""
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    attempts = iter([RateLimitedError("slow down", retry_after=0.0), RateLimitedError("slow", retry_after=0.05)])

    async def call() -> str:
        exc = next(attempts, None)
        if exc:
            raise exc
        return "ok"

    policy = RetryPolicy(max_attempts=5, base_delay=1.0, max_delay=10, retry_after_floor=0.02)
    assert await retrying(call, policy=policy, sleep=fake_sleep) == "ok"
    assert slept == [0.02, 0.05]


async def test_the_sleeps_of_one_call_never_exceed_max_total_wait() -> None:
    """The last sleep is cut to what is left of the budget (0.8 s + 0.2 s, not 0.8 s + 1.6 s), then the call stops."""
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    async def call() -> str:
        raise RetriableError("503")

    policy = RetryPolicy(max_attempts=8, base_delay=0.8, max_delay=30, max_total_wait=1.0, jitter=0.0)
    with pytest.raises(RetriableError):
        await retrying(call, policy=policy, sleep=fake_sleep)
    assert slept == pytest.approx([0.8, 0.2])


def test_parse_retry_after() -> None:
    """Seconds and HTTP dates are understood; junk is ignored."""
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("junk") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


async def test_sliding_window_paces_calls() -> None:
    """No more than `calls` starts in any window."""
    clock = [0.0]

    async def fake_sleep(seconds: float) -> None:
        clock[0] += seconds

    window = SlidingWindow(3, 10.0, clock=lambda: clock[0], sleep=fake_sleep)
    starts = []
    for _ in range(7):
        await window.acquire()
        starts.append(clock[0])
    for i in range(len(starts) - 3):
        assert starts[i + 3] - starts[i] >= 10.0


async def test_budget_caps_concurrency_and_credits() -> None:
    """In-flight calls never exceed the cap; spent credits raise QuotaExhaustedError."""
    budget = RateBudget(concurrency=3, daily_credits=10)

    async def one() -> None:
        async with budget.slot():
            await asyncio.sleep(0.01)

    await asyncio.gather(*(one() for _ in range(10)))
    assert budget.peak_in_flight == 3
    from crmhub.errors import QuotaExhaustedError

    with pytest.raises(QuotaExhaustedError):
        async with budget.slot():
            pass


async def test_local_rate_limits_share_by_key_and_a_budget_takes_their_cap() -> None:
    """One window / cap per key (two clients of one tenant in one process share them); a `RateBudget` given a cap
    paces by it (the core's shared cap replaces the in-process semaphore)."""
    limits = LocalRateLimits()
    assert limits.window("t|/p", 3, 1.0) is limits.window("t|/p", 3, 1.0)
    assert limits.window("t|/p", 3, 1.0) is not limits.window("t|/q", 3, 1.0)
    cap = limits.concurrency("t|all", 2)
    first, second = RateBudget(cap=cap), RateBudget(cap=limits.concurrency("t|all", 2))
    assert first.concurrency == 2
    now = peak = 0

    async def one(budget: RateBudget) -> None:
        nonlocal now, peak
        async with budget.slot():
            now += 1
            peak = max(peak, now)
            await asyncio.sleep(0.01)
            now -= 1

    await asyncio.gather(*(one(b) for b in (first, second) * 4))
    assert peak == 2


async def test_single_flight_token_refreshes_once_for_many_waiters() -> None:
    """Twenty concurrent callers with no token cause exactly one fetch; invalidating a stale token is a no-op."""
    fetches = 0

    async def fetch() -> tuple[str, float, dict[str, str] | None]:
        nonlocal fetches
        fetches += 1
        await asyncio.sleep(0.01)
        return f"tok-{fetches}", 3600.0, None

    holder = SingleFlightToken(fetch)
    tokens = await asyncio.gather(*(holder.get() for _ in range(20)))
    assert fetches == 1 and {t.value.get_secret_value() for t in tokens} == {"tok-1"}
    holder.invalidate("some-older-token")
    assert (await holder.get()).value.get_secret_value() == "tok-1"
    holder.invalidate("tok-1")
    assert (await holder.get()).value.get_secret_value() == "tok-2"
    assert "tok-2" not in repr(holder.current)
