"""Fixtures for the Zoho plugin tests: ``zoho_server`` starts simulators on loopback and stops them after."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from zoho_helpers import ZohoServer, start_server

from crmhub.sandbox.faults import FaultProfile
from crmhub.sandbox.runner import ThreadedServer


@pytest.fixture
def zoho_server() -> Iterator[ZohoServer]:
    """``zoho_server(accounts=N, faults=FaultProfile(...), settings={...})`` → a running simulator."""
    started: list[ThreadedServer] = []

    def start(
        accounts: int = 0,
        *,
        faults: FaultProfile | None = None,
        settings: dict[str, Any] | None = None,
        seed: int = 7,
        contacts: int = 2,
    ) -> ThreadedServer:
        server = start_server(accounts, faults=faults, settings=settings, seed=seed, contacts=contacts)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
