"""The ledger connector against `crmhub.testing.ConnectorContract`, over real loopback HTTP to its Fineract-shaped
simulator (read-only: no stream is writable, so the push check only confirms that)."""

from __future__ import annotations

import functools
from typing import Any

from crmhub.sandbox.world import World
from crmhub.testing import ConnectorContract

PASSWORD = "ledger-contract-password"
"""A password no log line could contain by chance (the sandbox's default is the word "password")."""


@functools.cache
def _world() -> World:
    """One small world for every check (the simulator only reads it; it generates its clients on first use)."""
    return World(seed=11, clients=24)


class TestLedgerContract(ConnectorContract):
    plugin = "core_ledger"
    sandbox_app = "core_ledger"
    reread_streams = ("loans",)  # days past due age daily: every run reads every loan

    def world(self) -> Any:
        return _world()

    def sandbox_settings(self) -> dict[str, Any]:
        return {"users": {"mifos": PASSWORD}}

    def config_overrides(self) -> dict[str, Any]:
        return {
            "password": PASSWORD,
            "page_size": 8,
            "history_days": 8,
            "retry_attempts": 2,
            "retry_base_delay": 0.01,
            "retry_max_wait": 0.5,
        }
