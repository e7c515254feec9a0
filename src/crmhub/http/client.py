"""`build_client`: the one way plugins create an ``httpx.AsyncClient``, so every call is counted."""

from __future__ import annotations

import httpx

from crmhub._version import __version__
from crmhub.contract import ApiMetrics


def build_client(
    *,
    base_url: str = "",
    timeout: float = 30.0,
    metrics: ApiMetrics | None = None,
    auth: httpx.Auth | None = None,
    max_connections: int = 20,
    headers: dict[str, str] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """An async client with keep-alive, separate connect/read timeouts and a call counter.

    ``transport`` is for tests (``httpx.MockTransport``); production uses the default pooled transport.
    """

    async def count(request: httpx.Request) -> None:
        if metrics is not None:
            metrics.calls += 1

    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
    return httpx.AsyncClient(
        base_url=base_url,
        timeout=httpx.Timeout(timeout, connect=min(10.0, timeout)),
        limits=limits,
        auth=auth,
        headers={"User-Agent": f"crmhub/{__version__}", **(headers or {})},
        event_hooks={"request": [count]},
        transport=transport,
        follow_redirects=False,
    )
