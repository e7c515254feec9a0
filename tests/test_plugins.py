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
        def crmhub_run_finished(self, report: object, colour: str) -> None:
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


class _Offers:
    """A plugin offering one connector key and one channel key."""

    def __init__(self, connector: str, channel: str = "") -> None:
        self.connector, self.channel = connector, channel

    @hookimpl
    def crmhub_register_connectors(self) -> dict[str, Any]:
        return {self.connector: object}

    @hookimpl
    def crmhub_register_channels(self) -> dict[str, Any]:
        return {self.channel: object} if self.channel else {}


def test_offers_are_attributed_to_the_plugin_that_made_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each plugin's registration hooks are called on their own, so `plugins list` shows who offers what."""
    monkeypatch.setenv("CRMHUB_DISABLE_PLUGINS", ",".join(BUILTIN))
    registry = load(extra=[("first", _Offers("csv", "dingtalk")), ("second", _Offers("sftp"))])
    offers = {p.name: (p.connectors, p.channels) for p in registry.plugins}
    assert offers == {"first": (["csv"], ["dingtalk"]), "second": (["sftp"], [])}
    assert set(registry.connectors) == {"csv", "sftp"} and set(registry.channels) == {"dingtalk"}


def test_a_key_offered_twice_names_both_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two plugins offering the same ``plugin`` key is a load error naming both, not a silent override."""
    monkeypatch.setenv("CRMHUB_DISABLE_PLUGINS", ",".join(BUILTIN))
    with pytest.raises(PluginError, match=r"connector plugin key 'csv' is offered by two plugins: 'one' and 'two'"):
        load(extra=[("one", _Offers("csv")), ("two", _Offers("csv"))])


def test_a_wrong_return_type_names_plugin_and_hook(monkeypatch: pytest.MonkeyPatch) -> None:
    """A registration hook returning the wrong shape is a `PluginError` naming the plugin, the hook and the types."""

    class ListNotDict:
        @hookimpl
        def crmhub_register_connectors(self) -> Any:
            return ["csv"]

    class NotAnApp:
        @hookimpl
        def crmhub_sandbox_apps(self) -> Any:
            return ["not an app"]

    monkeypatch.setenv("CRMHUB_DISABLE_PLUGINS", ",".join(BUILTIN))
    with pytest.raises(PluginError, match=r"crmhub_register_connectors of plugin 'odd'.*returned list, expected dict"):
        load(extra=[("odd", ListNotDict())])
    with pytest.raises(PluginError, match=r"crmhub_sandbox_apps of plugin 'odd'.*str in its list, expected SandboxApp"):
        load(extra=[("odd", NotAnApp())])


def test_registration_goes_through_pluggy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Registration hooks are called by pluggy's own machinery (monitoring sees them), one plugin per call."""
    import crmhub.plugins as plugins_mod

    monkeypatch.setenv("CRMHUB_DISABLE_PLUGINS", ",".join(BUILTIN))
    calls: list[tuple[str, list[str]]] = []
    original = plugins_mod.new_manager

    def monitored() -> Any:
        pm = original()
        pm.add_hookcall_monitoring(
            lambda hook, impls, kwargs: calls.append((hook, [i.plugin_name for i in impls])),
            lambda outcome, hook, impls, kwargs: None,
        )
        return pm

    monkeypatch.setattr(plugins_mod, "new_manager", monitored)
    load(extra=[("a", _Offers("csv")), ("b", _Offers("sftp", "dingtalk"))])
    assert [c for c in calls if c[0] == "crmhub_register_connectors"] == [
        ("crmhub_register_connectors", ["a"]),
        ("crmhub_register_connectors", ["b"]),
    ]
    assert ("crmhub_register_channels", ["b"]) in calls


def test_the_ledger_plugin_offers_a_statement_importer() -> None:
    """``crmhub ledger import`` finds its importer through the registry, attributed to the ledger plugin."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        registry = load()
    importer = registry.statement_importers["core_ledger"]
    assert importer.formats == ("mt940", "camt.053")
    assert importer.accepts(b":20:STMT\n:25:DE89370400440532013000\n:60F:C240101EUR1,00")
    assert not importer.accepts(b"name,amount\n")
    info = next(p for p in registry.plugins if p.name == "core_ledger")
    assert info.statement_importers == ["core_ledger"]


def test_a_channel_says_how_it_reaches_a_relationship_manager() -> None:
    """The notification routing asks the channel's config model, never the plugin's name, how ``rm`` is addressed."""
    from crmhub.contract import ChannelConfig
    from crmhub.notify.recipients import Manager, resolve
    from crmhub.notify.settings import NotifySettings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        registry = load()
    by_plugin = {key: cls.config_model.rm_address for key, cls in registry.channels.items()}
    assert by_plugin == {"email": "email", "wechat_work": "user_id"}
    assert ChannelConfig.rm_address == "user_id"  # a third-party chat channel's default
    manager = Manager(name="张三", user_id=None, email="zhang.san@bank.example")
    ns = NotifySettings()
    assert resolve("rm", "email", ns, manager).addresses == ("zhang.san@bank.example",)
    assert resolve("rm", "user_id", ns, manager).addresses == ("zhang.san",)


def test_a_connector_gets_the_config_the_core_validated() -> None:
    """The core validates each plugin's config once (`crmhub.config`); a connector or channel handed anything else
    (a plain dict, the base model) is a programming error saying how to build the right one."""
    from crmhub.config import parse_settings
    from crmhub.contract import ConnectorConfig, PluginContext

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        registry = load()
    zoho = registry.connectors["zoho_crm"]
    settings = parse_settings(
        {
            "connectors": {
                "z": {
                    "plugin": "zoho_crm",
                    "accounts_url": "https://accounts.zoho.com.cn",
                    "client_id": "id",
                    "client_secret": "secret",
                    "refresh_token": "token",
                }
            }
        },
        registry,
    )
    connector = zoho(settings.connectors["z"], PluginContext(name="z"))
    assert connector.config is settings.connectors["z"]  # used as validated, not validated again
    with pytest.raises(
        TypeError,
        match=r"ZohoConnector needs its config as a validated ZohoConfig, not "
        r"ConnectorConfig: build it with ZohoConfig.model_validate",
    ):
        zoho(ConnectorConfig(plugin="zoho_crm"), PluginContext(name="z"))
    email = registry.channels["email"]
    with pytest.raises(TypeError, match=r"EmailChannel needs its config as a validated EmailConfig, not dict"):
        email({"plugin": "email"}, PluginContext(name="mail"))
