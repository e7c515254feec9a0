"""crmhub hook implementations for Fenxiang Xiaoke: the connector and the open-API simulator."""

from __future__ import annotations

from typing import Any

from crmhub.contract import Connector, SandboxApp, SandboxOptions
from crmhub.hookspecs import hookimpl


@hookimpl
def crmhub_register_connectors() -> dict[str, type[Connector[Any]]]:
    """``plugin = "fxiaoke"``."""
    from crmhub_fxiaoke.connector import FxiaokeConnector

    return {"fxiaoke": FxiaokeConnector}


def _build(options: SandboxOptions) -> Any:
    from crmhub_fxiaoke.simulator import build

    return build(options)


def _config(base_url: str) -> dict[str, Any]:
    from crmhub_fxiaoke.simulator import default_settings

    return {"plugin": "fxiaoke", "base_url": base_url, **default_settings()}


def _pacing(speed: float) -> dict[str, Any]:
    """At ``crmhub sandbox serve --speed N`` the per-path (20 s) and token (60 s) windows shrink N times, in the
    simulator and in the connector's pacing alike (the slowest real limits, so the demo finishes quickly)."""
    return {"window_seconds": 20.0 / speed, "token_window_seconds": 60.0 / speed}


@hookimpl
def crmhub_sandbox_apps() -> list[SandboxApp]:
    """The Fenxiang open-API simulator."""
    return [
        SandboxApp(
            name="fxiaoke",
            title="Fenxiang Xiaoke open API",
            preferred_offset=1,
            build=_build,
            config_section="connectors",
            config_name="fxiaoke",
            config=_config,
            pacing=_pacing,
            world_view="fxiaoke",
        )
    ]
