"""Fixtures for the Fenxiang Xiaoke plugin: a simulator on loopback and a connector pointed at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from crmhub.contract import PluginContext
from crmhub.sandbox.faults import FaultProfile
from crmhub.sandbox.runner import ThreadedServer
from crmhub.testing import Simulators
from crmhub_fxiaoke import FxiaokeConfig, FxiaokeConnector
from crmhub_fxiaoke.simulator import build, default_settings

FAST_WINDOW = 0.2
"""Tests scale Fenxiang's 20 s window down 100x on both sides, so 100 calls / 0.2 s per path."""


@pytest.fixture
def serve() -> Iterator[Callable[..., ThreadedServer]]:
    """Start simulators on loopback; all are stopped at the end of the test."""
    with Simulators(build) as pool:

        def start(
            *, faults: FaultProfile | None = None, world: Any = None, seed: int = 7, **settings: Any
        ) -> ThreadedServer:
            settings.setdefault("window_seconds", FAST_WINDOW)
            return pool.start(world=world, faults=faults, seed=seed, settings=settings)

        yield start


def make_connector(url: str, **overrides: Any) -> FxiaokeConnector:
    """A connector for the sandbox tenant with the test window and quick retries."""
    raw: dict[str, Any] = {
        "plugin": "fxiaoke",
        "base_url": url,
        "window_seconds": FAST_WINDOW,
        "retry_base_delay": 0.01,
        "retry_max_delay": 0.2,
        **default_settings(),
    }
    raw.update(overrides)
    return FxiaokeConnector(FxiaokeConfig.model_validate(raw), PluginContext(name="fxiaoke"))


@pytest.fixture
def connect() -> Callable[..., FxiaokeConnector]:
    """``connect(url, **config overrides)`` → a connector for the sandbox tenant."""
    return make_connector


@pytest.fixture
def creds() -> dict[str, Any]:
    """The sandbox tenant's credentials."""
    return default_settings()
