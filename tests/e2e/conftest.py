"""End-to-end fixtures: every real simulator on loopback over one synthetic world, and a config pointing at it."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crmhub import plugins
from crmhub.config import Settings, parse_settings
from crmhub.sandbox.serve import SandboxSet, free_port_base, start_sandboxes


@pytest.fixture(scope="module")
def registry() -> plugins.Registry:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return plugins.load()


@pytest.fixture
def sandbox(registry: plugins.Registry, request: pytest.FixtureRequest) -> Iterator[SandboxSet]:
    """The five simulators over a world of ``clients`` companies (override with @pytest.mark.parametrize)."""
    clients = getattr(request, "param", 150)
    with start_sandboxes(
        registry.sandbox_apps, port_base=free_port_base(registry.sandbox_apps), seed=5, clients=clients
    ) as sandboxes:
        yield sandboxes


def sandbox_settings(sandboxes: SandboxSet, registry: plugins.Registry, store_url: str, **extra: Any) -> Settings:
    """Settings for the running simulators with ``store_url`` as the store."""
    doc = sandboxes.config()
    doc["store"] = {"url": store_url}
    doc.update(extra)
    return parse_settings(doc, registry)


def write_config(path: Path, sandboxes: SandboxSet, store_url: str) -> Path:
    """Write the sandbox config with ``store_url`` (for tests that run the CLI)."""
    import tomli_w

    doc = sandboxes.config()
    doc["store"] = {"url": store_url}
    path.write_text(tomli_w.dumps(doc), encoding="utf-8")
    return path
