"""Fixtures for the ledger tests: the hand-built world, a simulator on loopback, connector configs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pytest
from ledger_world import NOW, TODAY, views

from crmhub.sandbox.faults import FaultProfile
from crmhub.sandbox.runner import ThreadedServer
from crmhub.sandbox.worldtypes import Company, LedgerClientView
from crmhub.testing import start_simulator
from crmhub_ledger.config import LedgerConfig
from crmhub_ledger.sandbox import build


@dataclass
class TinyWorld:
    """The `World` interface the simulator uses (today, now, companies()), over the hand-built views."""

    today: date = TODAY
    now: datetime = NOW
    views: Callable[[], list[LedgerClientView]] = views

    def companies(self) -> Iterator[Company]:
        for view in self.views():
            yield Company(key=view.company_key, uscc=view.uscc or "", name=view.fullname, profile="test", ledger=view)


def serve(faults: FaultProfile | None = None, settings: dict[str, Any] | None = None) -> ThreadedServer:
    """The simulator over the tiny world, on a free loopback port."""
    return start_simulator(build, world=TinyWorld(), faults=faults, settings=settings)


def config_for(url: str, **overrides: Any) -> LedgerConfig:
    """A connector config pointing at a running simulator."""
    return LedgerConfig(base_url=url + "/fineract-provider/api/v1", username="mifos", password="password", **overrides)  # type: ignore[arg-type]


@pytest.fixture
def server() -> Iterator[ThreadedServer]:
    with serve() as srv:
        yield srv
