"""The plugin manager: loads entry points of the ``crmhub.plugins`` group and validates them.

A plugin that fails to import is a warning naming it and the cause; the rest still load.
``CRMHUB_DISABLE_PLUGINS=name,…`` skips plugins by entry-point name.

Registration hooks are called through pluggy, once per plugin (`pluggy.PluginManager.subset_hook_caller` with
every other plugin removed), so pluggy's own call machinery runs (hook wrappers, tracing, argument checks) and
each result stays attributed to the plugin that offered it: ``crmhub plugins list`` shows who offers what, and a
``plugin`` key offered twice is an error naming both plugins.
"""

from __future__ import annotations

import importlib.metadata as md
import os
import warnings
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import pluggy

from crmhub import hookspecs
from crmhub.contract import Channel, Connector, RiskFactor, SandboxApp
from crmhub.errors import PluginError
from crmhub.statements import StatementImporter

ENTRY_POINT_GROUP = "crmhub.plugins"

T = TypeVar("T")


class PluginLoadWarning(UserWarning):
    """A plugin could not be loaded; crmhub goes on without it."""


@dataclass(slots=True)
class PluginInfo:
    """What ``crmhub plugins list`` shows for one loaded plugin."""

    name: str
    module: str
    version: str
    distribution: str
    connectors: list[str] = field(default_factory=list)
    channels: list[str] = field(default_factory=list)
    sandboxes: list[str] = field(default_factory=list)
    risk_factors: list[str] = field(default_factory=list)
    statement_importers: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Registry:
    """Everything the loaded plugins offer, indexed by the ``plugin`` key used in config."""

    manager: pluggy.PluginManager
    plugins: list[PluginInfo]
    connectors: dict[str, type[Connector[Any]]]
    channels: dict[str, type[Channel[Any]]]
    sandbox_apps: list[SandboxApp]
    risk_factors: list[RiskFactor]
    failed: dict[str, str]
    statement_importers: dict[str, StatementImporter] = field(default_factory=dict)

    @property
    def hook(self) -> Any:
        """The hook relay, for firing events."""
        return self.manager.hook


def disabled_plugins() -> set[str]:
    """Names listed in ``CRMHUB_DISABLE_PLUGINS``."""
    raw = os.environ.get("CRMHUB_DISABLE_PLUGINS", "")
    return {p.strip() for p in raw.split(",") if p.strip()}


def new_manager() -> pluggy.PluginManager:
    """A plugin manager with crmhub's hookspecs and nothing registered."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    return pm


def _register(pm: pluggy.PluginManager, module: object, name: str) -> None:
    try:
        pm.register(module, name=name)
    except pluggy.PluginValidationError as exc:
        raise PluginError(
            f"plugin {name!r} breaks the hook contract: {exc}",
            hint="fix the hookimpl signature (see crmhub/hookspecs.py)",
        ) from None
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        pm.unregister(name=name)
        raise PluginError(
            f"plugin {name!r} implements unknown hook(s): {exc}", hint="check the spelling against crmhub/hookspecs.py"
        ) from None


@dataclass(slots=True)
class _Loaded:
    name: str
    module: object
    value: str
    distribution: str
    version: str


def load(extra: list[tuple[str, object]] | None = None) -> Registry:
    """Load every enabled entry-point plugin (plus ``extra`` (name, module) pairs, for tests)."""
    pm = new_manager()
    skip = disabled_plugins()
    failed: dict[str, str] = {}
    loaded: list[_Loaded] = []
    for ep in sorted(md.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        if ep.name in skip:
            continue
        try:
            module = ep.load()
            _register(pm, module, ep.name)
        except Exception as exc:
            cause = f"{type(exc).__name__}: {exc}"
            failed[ep.name] = cause
            warnings.warn(
                f"crmhub plugin {ep.name!r} ({ep.value}) was not loaded: {cause}", PluginLoadWarning, stacklevel=2
            )
            continue
        loaded.append(
            _Loaded(ep.name, module, ep.value, ep.dist.name if ep.dist else "?", ep.dist.version if ep.dist else "?")
        )
    for name, module in extra or []:
        _register(pm, module, name)
        loaded.append(_Loaded(name, module, getattr(module, "__name__", name), "-", "-"))
    return _collect(pm, loaded, failed)


def _collect(pm: pluggy.PluginManager, loaded: list[_Loaded], failed: dict[str, str]) -> Registry:
    """Call every registration hook of every plugin and index what they offer."""
    registry = Registry(pm, [], {}, {}, [], [], failed)
    owners: dict[tuple[str, str], str] = {}

    def claim(what: str, key: str, plugin: str) -> None:
        first = owners.setdefault((what, key), plugin)
        if first != plugin:
            raise PluginError(
                f"{what} plugin key {key!r} is offered by two plugins: {first!r} and {plugin!r}",
                hint=f"disable one of them with CRMHUB_DISABLE_PLUGINS={plugin}",
            )

    for item in loaded:
        info = PluginInfo(name=item.name, module=item.value, version=item.version, distribution=item.distribution)
        connectors: dict[str, Any] = _offered(pm, item, "crmhub_register_connectors", dict)
        for key, connector in connectors.items():
            claim("connector", key, item.name)
            registry.connectors[key] = cast(type[Connector[Any]], connector)
            info.connectors.append(key)
        channels: dict[str, Any] = _offered(pm, item, "crmhub_register_channels", dict)
        for key, channel in channels.items():
            claim("channel", key, item.name)
            registry.channels[key] = cast(type[Channel[Any]], channel)
            info.channels.append(key)
        for app in _offered_items(pm, item, "crmhub_sandbox_apps", SandboxApp):
            claim("sandbox app", app.name, item.name)
            registry.sandbox_apps.append(app)
            info.sandboxes.append(app.name)
        for factor in _offered_items(pm, item, "crmhub_risk_factors", RiskFactor):
            registry.risk_factors.append(factor)
            info.risk_factors.append(factor.name)
        for importer in _offered_items(pm, item, "crmhub_statement_importers", StatementImporter):
            claim("statement importer", importer.name, item.name)
            registry.statement_importers[importer.name] = importer
            info.statement_importers.append(importer.name)
        registry.plugins.append(info)
    return registry


def _offered(pm: pluggy.PluginManager, item: _Loaded, hook: str, kind: type[dict[str, Any]] | type[list[Any]]) -> Any:
    """What plugin ``item`` alone returns from registration hook ``hook`` (an empty ``kind`` when it does not
    implement it), called through pluggy with every other plugin left out so the answer is attributed to ``item``."""
    others = [p for p in pm.get_plugins() if p is not item.module]
    results = pm.subset_hook_caller(hook, remove_plugins=others)()
    if not results:
        return kind()
    result = results[0]
    if not isinstance(result, kind):
        raise PluginError(
            f"hook {hook} of plugin {item.name!r} ({item.value}) returned {type(result).__name__}, "
            f"expected {kind.__name__}",
            hint="see crmhub/hookspecs.py",
        )
    return result


def _offered_items(pm: pluggy.PluginManager, item: _Loaded, hook: str, kind: type[T]) -> list[T]:
    """`_offered` for hooks returning a list, each element checked to be a ``kind``."""
    items: list[Any] = _offered(pm, item, hook, list)
    for element in items:
        if not isinstance(element, kind):
            raise PluginError(
                f"hook {hook} of plugin {item.name!r} ({item.value}) returned a "
                f"{type(element).__name__} in its list, expected {kind.__name__}",
                hint="see crmhub/hookspecs.py",
            )
    return items
