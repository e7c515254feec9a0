"""Fixtures for the jobs tests: a registry with the in-memory `tick` connector, settings built from dicts, a fake
clock, and (PostgreSQL only) a procrastinate schema per test that is dropped afterwards."""

from __future__ import annotations

import asyncio
import os
import warnings
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from crmhub.config import Settings, parse_settings
from crmhub.plugins import Registry, load
from crmhub_email import plugin as email_plugin
from crmhub_email.sandbox import SmtpSandbox, serve_smtp

from .plugin import TickPlugin


@pytest.fixture
def mailbox() -> Iterator[tuple[SmtpSandbox, dict[str, Any]]]:
    """A real SMTP server (the email plugin's sandbox) on loopback and the email channel's settings for it."""
    mail = SmtpSandbox()
    server = serve_smtp(mail)
    try:
        yield mail, {**email_plugin.crmhub_sandbox_apps()[0].config(f"{server.host}:{server.port}"), "timeout": 5.0}
    finally:
        server.stop()


@pytest.fixture
def registry() -> Registry:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load(extra=[("tick", TickPlugin())])


def make_settings(registry: Registry, store_url: str, jobs: dict[str, Any], **connectors: dict[str, Any]) -> Settings:
    """Settings with ``tick`` connectors (name → options) and the given ``[jobs]`` tables."""
    data: dict[str, Any] = {
        "store": {"url": store_url},
        "jobs": jobs,
        "connectors": {n: {"plugin": "tick", **o} for n, o in connectors.items()},
        "risk": {"enabled": False},
        "notify": {"enabled": False},
    }
    return parse_settings(data, registry)


class FakeClock:
    """Time that moves only when the scheduler sleeps (an hour of ticks passes in milliseconds)."""

    def __init__(self, start: datetime) -> None:
        self.t = start
        self.slept: list[float] = []

    def now(self) -> datetime:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += timedelta(seconds=seconds)
        await asyncio.sleep(0)


@pytest.fixture
def pg_only(store_url: str) -> Iterator[str]:
    """Skip unless the parametrised store is PostgreSQL; drop the test's procrastinate schema afterwards."""
    if not store_url.startswith("postgresql"):
        pytest.skip("procrastinate workers need PostgreSQL")
    yield store_url
    from sqlalchemy import create_engine, text

    from crmhub.jobs.worker import procrastinate_schema

    engine = create_engine(os.environ["CRMHUB_TEST_DATABASE_URL"])
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{procrastinate_schema(store_url)}" CASCADE'))
    engine.dispose()


@pytest.fixture(scope="session")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The state after one uninterrupted sync of the end-to-end test world (what every recovery must reach)."""
    from crmhub.config import load_settings
    from crmhub.jobs.runner import run_job
    from crmhub.store import Store

    from .sandbox import JOB, real_registry, sandboxes, summary, write_config

    registry = real_registry()
    tmp = tmp_path_factory.mktemp("baseline")
    with sandboxes(registry) as sb:
        cfg = write_config(tmp / "c.toml", sb, f"sqlite:///{tmp / 's.db'}", JOB)
        settings = load_settings(cfg, registry)
        store = Store.open(settings.store.url)
        outcome = asyncio.run(run_job(settings, registry, "nightly", store=store))
        assert outcome.status == "succeeded", outcome.error
        result = summary(store)
        store.dispose()
    return result
