"""The plugin manager: loads entry points of the ``crmhub.plugins`` group and validates them.

A plugin that fails to import is a warning naming it and the cause; the rest still load.
``CRMHUB_DISABLE_PLUGINS=name,…`` skips plugins by entry-point name.
"""

from __future__ import annotations

import importlib.metadata as md
import os
import warnings
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, cast

import pluggy

from crmhub import hookspecs
from crmhub.contract import Channel, Connector, RiskFactor, SandboxApp
from crmhub.errors import PluginError

ENTRY_POINT_GROUP = "crmhub.plugins"


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


def _register(pm: pluggy.PluginManager, module: ModuleType | object, name: str) -> None:
    try:
        pm.register(module, name=name)
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"plugin {name!r} breaks the hook contract: {exc}",
                          hint="fix the hookimpl signature (see crmhub/hookspecs.py)") from None
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        pm.unregister(name=name)
        raise PluginError(f"plugin {name!r} implements unknown hook(s): {exc}",
                          hint="check the spelling against crmhub/hookspecs.py") from None


def load(extra: list[tuple[str, object]] | None = None) -> Registry:
    """Load every enabled entry-point plugin (plus ``extra`` (name, module) pairs, for tests)."""
    pm = new_manager()
    skip = disabled_plugins()
    infos: list[PluginInfo] = []
    failed: dict[str, str] = {}
    entries = sorted(md.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name)
    loaded: list[tuple[str, object, str, str, str]] = []
    for ep in entries:
        if ep.name in skip:
            continue
        dist = ep.dist.name if ep.dist else "?"
        version = ep.dist.version if ep.dist else "?"
        try:
            module = ep.load()
            _register(pm, module, ep.name)
        except Exception as exc:
            cause = f"{type(exc).__name__}: {exc}"
            failed[ep.name] = cause
            warnings.warn(f"crmhub plugin {ep.name!r} ({ep.value}) was not loaded: {cause}",
                          PluginLoadWarning, stacklevel=2)
            continue
        loaded.append((ep.name, module, ep.value, dist, version))
    for name, module in extra or []:
        _register(pm, module, name)
        loaded.append((name, module, getattr(module, "__name__", name), "-", "-"))

    connectors: dict[str, type[Connector[Any]]] = {}
    channels: dict[str, type[Channel[Any]]] = {}
    sandbox_apps: list[SandboxApp] = []
    risk_factors: list[RiskFactor] = []
    for name, module, modname, dist, version in loaded:
        info = PluginInfo(name=name, module=modname, version=version, distribution=dist)
        for key, cls in _call_one(module, "crmhub_register_connectors", dict).items():
            if key in connectors:
                raise PluginError(f"connector plugin key {key!r} is offered by two plugins (second: {name!r})")
            connectors[key] = cast(type[Connector[Any]], cls)
            info.connectors.append(key)
        for key, cls in _call_one(module, "crmhub_register_channels", dict).items():
            if key in channels:
                raise PluginError(f"channel plugin key {key!r} is offered by two plugins (second: {name!r})")
            channels[key] = cast(type[Channel[Any]], cls)
            info.channels.append(key)
        for app in _call_one(module, "crmhub_sandbox_apps", list):
            sandbox_apps.append(app)
            info.sandboxes.append(app.name)
        for factor in _call_one(module, "crmhub_risk_factors", list):
            risk_factors.append(factor)
            info.risk_factors.append(factor.name)
        infos.append(info)
    sandbox_apps.sort(key=lambda a: a.port_offset)
    return Registry(pm, infos, connectors, channels, sandbox_apps, risk_factors, failed)


def _call_one(module: object, hook: str, kind: type) -> Any:
    """Call one plugin's registration hook directly, so results stay attributed to that plugin."""
    fn = getattr(module, hook, None)
    if fn is None:
        return kind()
    result = fn()
    if not isinstance(result, kind):
        raise PluginError(f"hook {hook} of {getattr(module, '__name__', module)!r} returned "
                          f"{type(result).__name__}, expected {kind.__name__}")
    return result
