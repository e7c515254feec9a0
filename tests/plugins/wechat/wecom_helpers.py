"""Helpers for the WeCom plugin tests: a real simulator on loopback, and channels pointed at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from crmhub.contract import PluginContext
from crmhub.sandbox.faults import FaultProfile
from crmhub.sandbox.runner import ThreadedServer
from crmhub.testing import Simulators
from crmhub_wechat import WecomChannel, WecomConfig
from crmhub_wechat import plugin as wecom_plugin
from crmhub_wechat.simulator import WecomSimulator, build_app

StartServer = Callable[..., ThreadedServer]


@pytest.fixture
def wecom() -> Iterator[StartServer]:
    """Start WeCom simulators (``settings``, ``faults``, ``world``) on free ports; all stopped after the test."""
    with Simulators(build_app) as pool:

        def start(
            settings: dict[str, Any] | None = None, faults: FaultProfile | None = None, world: Any = None
        ) -> ThreadedServer:
            return pool.start(settings=settings, faults=faults, world=world)

        yield start


def simulator(server: ThreadedServer) -> WecomSimulator:
    """The live simulator state behind ``server``."""
    sim: WecomSimulator = server.app.simulator
    return sim


def channel_config(server: ThreadedServer, **overrides: Any) -> WecomConfig:
    """The sandbox's own ``[channels.wecom]`` table (from the plugin hook) plus fast-retry test settings."""
    app = wecom_plugin.crmhub_sandbox_apps()[0]
    table = {**app.config(server.url), "retry_base_delay": 0.01, "retry_max_wait": 5.0, **overrides}
    return WecomConfig.model_validate(table)


def make_channel(server: ThreadedServer, **overrides: Any) -> WecomChannel:
    """A `WecomChannel` talking real HTTP to ``server``."""
    return WecomChannel(channel_config(server, **overrides), PluginContext(name="wecom"))
