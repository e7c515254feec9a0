"""Which rate limits a run's connectors get: the store's when ``[sync] shared_budget`` says so, else in-process."""

from __future__ import annotations

import warnings
from typing import Any

import pytest

from crmhub.config import parse_settings
from crmhub.contract import PluginContext
from crmhub.errors import ConfigError
from crmhub.http import LocalRateLimits
from crmhub.plugins import load
from crmhub.store import Store
from crmhub.store.ratelimits import StoreRateLimits
from crmhub.sync.deliverer import run_deliverer
from crmhub.sync.engine import SyncEngine
from crmhub.sync.ratebudget import rate_limits, shares_budget

from .memory_connector import SYSTEMS, MemoryConnector, MemoryCrm, MemoryPlugin


@pytest.fixture
def registry() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load(extra=[("memory", MemoryPlugin())])


def _settings(registry: Any, mode: Any = None) -> Any:
    data: dict[str, Any] = {"connectors": {"crm": {"plugin": "memory", "system": "b"}}}
    if mode is not None:
        data["sync"] = {"shared_budget": mode}
    return parse_settings(data, registry)


@pytest.mark.parametrize("mode", [None, True, False])
def test_the_mode_and_the_store_decide(store: Store, registry: Any, mode: Any) -> None:
    """auto (the default) shares on PostgreSQL only; true and false are as written; the store's budget is used
    inside the ``with`` and its connection returned after."""
    settings = _settings(registry, mode)
    expected = mode if mode is not None else store.dialect == "postgresql"
    assert shares_budget(settings, store) is expected
    with rate_limits(settings, store) as limits:
        assert isinstance(limits, StoreRateLimits if expected else LocalRateLimits)
    if isinstance(limits, StoreRateLimits):
        assert limits._backend._conn is None


def test_a_wrong_mode_names_the_key(registry: Any) -> None:
    """Anything but true, false or "auto" is a configuration problem at sync.shared_budget."""
    with pytest.raises(ConfigError) as err:
        _settings(registry, "yes")
    assert err.value.problems and err.value.problems[0][0] == "sync.shared_budget"
    assert '"auto"' in err.value.problems[0][1]


async def test_sync_and_deliver_hand_their_connectors_the_shared_budget(
    store: Store, registry: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine's and the deliverer's connectors get the store's budget when it is on (here explicitly)."""
    SYSTEMS.clear()
    SYSTEMS["b"] = MemoryCrm()
    seen: list[PluginContext] = []
    original = MemoryConnector.__init__

    def spy(self: MemoryConnector, config: Any, context: PluginContext) -> None:
        seen.append(context)
        original(self, config, context)

    monkeypatch.setattr(MemoryConnector, "__init__", spy)
    settings = _settings(registry, True)
    await SyncEngine(settings, registry, store).run()
    await run_deliverer(settings, registry, store, actor="test")
    assert len(seen) == 2
    assert all(isinstance(c.rate_limits, StoreRateLimits) for c in seen)
