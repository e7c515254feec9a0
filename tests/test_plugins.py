"""The plugin manager: entry points, broken plugins, disabling, hookimpl validation."""

from __future__ import annotations

import importlib.metadata as md
import types
import warnings
from typing import Any

import pytest

from crmhub import hookimpl
from crmhub.errors import PluginError
from crmhub.plugins import ENTRY_POINT_GROUP, PluginLoadWarning, load

BUILTIN = {"zoho_crm", "fxiaoke", "core_ledger", "email", "wechat_work"}


def test_builtin_plugins_are_entry_points() -> None:
    """Our five adapters register through the same entry-point group a third party would use."""
    names = {ep.name for ep in md.entry_points(group=ENTRY_POINT_GROUP)}
    assert names >= BUILTIN


def test_broken_plugin_warns_and_others_load(monkeypatch: pytest.MonkeyPatch) -> None:
    """A plugin whose import fails is a warning naming it and the cause; the rest still load."""
    good = md.EntryPoint(name="good", value="tests.fixtures_plugins:good", group=ENTRY_POINT_GROUP)
    bad = md.EntryPoint(name="broken", value="crmhub_no_such_module.plugin", group=ENTRY_POINT_GROUP)
    monkeypatch.setattr(md, "entry_points", lambda group: [good, bad] if group == ENTRY_POINT_GROUP else [])
    monkeypatch.setitem(__import__("sys").modules, "tests.fixtures_plugins", _module_with_connector())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        registry = load()
    messages = [str(w.message) for w in caught if issubclass(w.category, PluginLoadWarning)]
    assert any("'broken'" in m and "ModuleNotFoundError" in m for m in messages)
    assert "broken" in registry.failed
    assert "fake" in registry.connectors


def _module_with_connector() -> Any:
    mod = types.ModuleType("tests.fixtures_plugins")

    class Good:
        @hookimpl
        def crmhub_register_connectors(self) -> dict[str, Any]:
            return {"fake": object}

    mod.good = Good()  # type: ignore[attr-defined]
    return mod


def test_disable_plugins_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """CRMHUB_DISABLE_PLUGINS skips plugins by name."""
    monkeypatch.setenv("CRMHUB_DISABLE_PLUGINS", "email, wechat_work")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        registry = load()
    names = {p.name for p in registry.plugins} | set(registry.failed)
    assert "email" not in names and "wechat_work" not in names


def test_hookimpl_with_unknown_argument_is_rejected() -> None:
    """An implementation asking for an argument the spec lacks fails at registration, naming the plugin."""

    class Bad:
        @hookimpl
        def crmhub_run_finished(self, report: dict[str, Any], colour: str) -> None:
            return None

    with pytest.raises(PluginError, match=r"'bad'.*crmhub_run_finished"):
        load(extra=[("bad", Bad())])


def test_misspelt_hook_is_rejected() -> None:
    """A function named like a hook but unknown to the spec is an error, not silently ignored."""

    class Typo:
        @hookimpl
        def crmhub_regster_connectors(self) -> dict[str, Any]:
            return {}

    with pytest.raises(PluginError, match="unknown hook"):
        load(extra=[("typo", Typo())])
