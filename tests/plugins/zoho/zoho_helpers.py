"""Helpers for the Zoho plugin tests: start a simulator on loopback, talk to it, point a connector at it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from crmhub.contract import PluginContext
from crmhub.sandbox.faults import FaultProfile
from crmhub.sandbox.runner import ThreadedServer
from crmhub.testing import pull_all as pull_stream
from crmhub.testing import start_simulator
from crmhub_zoho.config import ZohoConfig
from crmhub_zoho.connector import ZohoConnector
from crmhub_zoho.plugin import _config
from crmhub_zoho.simulator import build
from crmhub_zoho.simulator.seed import synthetic_companies

ZohoServer = Callable[..., ThreadedServer]


def start_server(
    accounts: int = 0,
    *,
    faults: FaultProfile | None = None,
    settings: dict[str, Any] | None = None,
    seed: int = 7,
    contacts: int = 2,
) -> ThreadedServer:
    """A simulator with ``accounts`` synthetic companies, running on a free loopback port."""
    world = list(synthetic_companies(accounts, seed, contacts_per_company=contacts)) if accounts else None
    return start_simulator(build, world=world, faults=faults, settings=settings)


def sim_of(server: ThreadedServer) -> Any:
    """The simulator state behind a running server."""
    return server.app.simulator


def log_settled(server: ThreadedServer, predicate: Any, timeout: float = 5.0) -> list[dict[str, Any]]:
    """The request log once ``predicate(log)`` holds: the simulator appends an entry just after it has sent the
    answer, so a client can see the answer a moment before the log does (a loaded machine widens the gap)."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        log = list(sim_of(server).log)
        if predicate(log) or time.monotonic() > deadline:
            return log
        time.sleep(0.01)


def token_for(server: ThreadedServer) -> str:
    """A fresh access token from the simulator (plain HTTP)."""
    s = sim_of(server).settings
    body = httpx.post(
        server.url + "/oauth/v2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": s["refresh_token"],
            "client_id": s["client_id"],
            "client_secret": s["client_secret"],
        },
    ).json()
    return str(body["access_token"])


def api(server: ThreadedServer) -> httpx.Client:
    """A plain httpx client with a valid ``Zoho-oauthtoken`` header."""
    return httpx.Client(
        base_url=server.url, headers={"Authorization": f"Zoho-oauthtoken {token_for(server)}"}, timeout=30
    )


def connector_for(server: ThreadedServer, **overrides: Any) -> ZohoConnector:
    """A connector pointed at the simulator, with quick backoff for tests."""
    cfg = ZohoConfig.model_validate(
        {
            **_config(server.url),
            "base_delay": 0.02,
            "max_delay": 0.5,
            "bulk_poll_interval": 0.01,
            "bulk_poll_max": 0.05,
            **overrides,
        }
    )
    return ZohoConnector(cfg, PluginContext(name="zoho"))


async def pull_all(
    connector: ZohoConnector, stream: str, cursor: dict[str, Any] | None = None, **kwargs: Any
) -> tuple[list[Any], list[Any], dict[str, Any] | None, int]:
    """(records, rejected, last cursor, pages) of one pull (`crmhub.testing.pull_all`, as a tuple)."""
    got = await pull_stream(connector, stream, cursor, **kwargs)
    return got.records, got.rejected, got.last_cursor if got.pages else cursor, got.pages
