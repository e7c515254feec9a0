"""What `ConnectorContract` and `ChannelContract` share: the service a subclass provides, the config the core
validates, secret values and the log capture that proves they never leak.

A contract class is a plain test class (no ``__init__``, so pytest collects its subclasses); every check is a
synchronous ``test_*`` method that runs its coroutines with `asyncio.run`, so a plugin's test suite needs pytest and
nothing else (no pytest-asyncio, no fixtures to wire): the subclass says *what* to test against through a few class
attributes and one method, `service`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
from collections.abc import Coroutine, Iterable, Iterator
from contextlib import AbstractContextManager
from enum import StrEnum
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, SecretStr

from crmhub.contract import PluginConfig, PluginContext, SandboxApp
from crmhub.errors import ConfigError
from crmhub.plugins import Registry

T = TypeVar("T")


class Fault(StrEnum):
    """A way the outside service misbehaves; `PluginContract.service` serves it on request.

    The contract expects the plugin to type each one by what the engine must do: ``UNAVAILABLE`` and
    ``THROTTLED`` are `crmhub.errors.RetriableError` (back off and try later), ``AUTH_REJECTED`` is
    `crmhub.errors.FatalError` (stop; the operator fixes the credentials).
    """

    UNAVAILABLE = "unavailable"
    """Every call answers a server error (5xx), or nothing answers at all."""
    THROTTLED = "throttled"
    """Every call answers the service's own "too many requests" (HTTP 429, or its error code for it)."""
    AUTH_REJECTED = "auth_rejected"
    """The service refuses the configured credentials."""


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion on a fresh event loop (the contracts' test methods are synchronous)."""
    return asyncio.run(coro)


@functools.cache
def _loaded() -> Registry:
    from crmhub import plugins

    return plugins.load()


def secret_values(model: BaseModel, where: str = "") -> dict[str, str]:
    """Key path → plain value of every non-empty `SecretStr` in ``model`` (nested models, dicts and lists too)."""
    found: dict[str, str] = {}

    def walk(value: Any, path: str) -> None:
        if isinstance(value, SecretStr):
            if value.get_secret_value():
                found[path] = value.get_secret_value()
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                walk(getattr(value, name, None), f"{path}.{name}" if path else name)
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{path}.{key}" if path else str(key))
        elif isinstance(value, list | tuple):
            for i, item in enumerate(value):
                walk(item, f"{path}[{i}]")

    walk(model, where)
    return found


def assert_no_secrets(texts: Iterable[tuple[str, str]], secrets: dict[str, str]) -> None:
    """Fail naming the place and the secret's key path (never its value) when any text contains a secret."""
    leaks = [
        f"{key} appears in {place}"
        for place, text in texts
        for key, value in secrets.items()
        if value and value in text
    ]
    assert not leaks, "secret leaked: " + "; ".join(dict.fromkeys(leaks))


class LogCapture(logging.Handler):
    """Every log record emitted while installed, as text (message, arguments and traceback), from every logger
    except those under ``exempt`` (the service side: a simulator's own server logs what it receives)."""

    def __init__(self, exempt: Iterable[str] = ()) -> None:
        super().__init__(logging.DEBUG)
        self.exempt = tuple(exempt)
        self.lines: list[tuple[str, str]] = []
        self._format = logging.Formatter()

    def emit(self, record: logging.LogRecord) -> None:
        if any(record.name == e or record.name.startswith(e + ".") for e in self.exempt):
            return
        try:
            text = record.getMessage()
        except Exception:  # a malformed record is still text to search
            text = f"{record.msg} {record.args}"
        if record.exc_info:
            text += "\n" + self._format.formatException(record.exc_info)
        self.lines.append((f"log record of {record.name!r}", text))


@contextlib.contextmanager
def capture_logs(exempt: Iterable[str] = ()) -> Iterator[LogCapture]:
    """Capture every record at DEBUG and above while the block runs (the root level is restored after)."""
    handler = LogCapture(exempt)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


class MemoryTokenCache:
    """The `crmhub.contract.TokenCache` the core gives plugins, kept in memory: each check builds fresh plugin
    instances as new runs would, and like new runs they reuse a cached token instead of minting one each (services
    throttle token endpoints)."""

    def __init__(self) -> None:
        self._tokens: dict[str, tuple[str, float, dict[str, str] | None]] = {}

    def load(self, key: str) -> tuple[str, float, dict[str, str] | None] | None:
        """The cached (token, expiry, extra) or None."""
        return self._tokens.get(key)

    def save(self, key: str, token: str, expires_epoch: float, extra: dict[str, str] | None) -> None:
        """Remember a newly minted token."""
        self._tokens[key] = (token, expires_epoch, extra)

    def forget(self, key: str, token: str) -> None:
        """Drop ``token`` if it is still the cached one."""
        if key in self._tokens and self._tokens[key][0] == token:
            del self._tokens[key]


class PluginContract:
    """Checks every plugin passes, connector or channel; subclass `ConnectorContract` or `ChannelContract`.

    A subclass sets ``plugin`` and implements `service` (or names a ``sandbox_app`` whose default `service` is
    enough). Everything else has a default.
    """

    section: ClassVar[Literal["connectors", "channels"]]
    """``connectors`` or ``channels``: the config section the plugin's tables live in (set by the two contracts)."""

    plugin: ClassVar[str]
    """The ``plugin = "…"`` key the plugin registers its class under (e.g. ``"zoho_crm"``)."""

    name: ClassVar[str] = "contract"
    """The configured name the checks give the instance (``[connectors.contract]``): error key paths use it."""

    log_exempt: ClassVar[tuple[str, ...]] = ("uvicorn", "mail.log")
    """Loggers of the *service side* (an in-process simulator's server) whose records the secret check ignores."""

    _token_cache: MemoryTokenCache | None = None

    sandbox_app: ClassVar[str | None] = None
    """Name of a `SandboxApp` the plugin offers (``crmhub_sandbox_apps``); the default `service` serves it."""

    def config_overrides(self) -> dict[str, Any]:
        """Keys the default `service` merges into the config table — small pages, quick retries (default none)."""
        return {}

    def sandbox_settings(self) -> dict[str, Any]:
        """``SandboxOptions.settings`` the default `service` builds the simulator with (default none)."""
        return {}

    def world(self) -> Any:
        """``SandboxOptions.world`` the default `service` builds the simulator with (default: ``None``)."""
        return None

    def service(self, fault: Fault | None = None) -> AbstractContextManager[dict[str, Any]]:
        """Start the outside service and yield the plugin's config table (a ``[connectors.<name>]`` /
        ``[channels.<name>]`` table as a dict, ``plugin`` key included) pointing at it; stop it on exit.

        ``fault`` asks for a misbehaving service (see `Fault`). The default serves ``sandbox_app`` (an HTTP
        simulator) on a free loopback port, with `crmhub.sandbox.faults.FaultProfile` for ``UNAVAILABLE``
        (every call a 502) and ``THROTTLED`` (every call the simulator's own throttle answer), and with every
        secret of the config table changed for ``AUTH_REJECTED``. Override it to use respx routes or your own
        server; `crmhub.testing.servers` has the helpers.
        """
        from crmhub.testing.servers import sandbox_service

        if self.sandbox_app is None:
            raise NotImplementedError(f"{type(self).__name__}: set `sandbox_app` or implement `service(fault)`")
        return sandbox_service(
            self.find_sandbox_app(self.sandbox_app),
            fault,
            world=self.world(),
            settings=self.sandbox_settings(),
            overrides=self.config_overrides(),
            config_model=self.plugin_class().config_model,
        )

    # --- helpers subclasses may use -------------------------------------------------------------------------

    def context(self) -> PluginContext:
        """A fresh `PluginContext` as the core gives an instance, sharing one token cache within a check, with
        in-process rate limits of its own (the core's, or the store's shared ones, behave alike to the plugin)."""
        from crmhub.http import LocalRateLimits

        if self._token_cache is None:
            self._token_cache = MemoryTokenCache()
        return PluginContext(name=self.name, token_cache=self._token_cache, rate_limits=LocalRateLimits())

    def registry(self) -> Registry:
        """The loaded plugins (`crmhub.plugins.load`), with the class under test added when it is given directly."""
        loaded = _loaded()
        given = self._given_class()
        if given is None:
            return loaded
        if self.section == "connectors":
            return dataclasses.replace(loaded, connectors={**loaded.connectors, self.plugin: given})
        return dataclasses.replace(loaded, channels={**loaded.channels, self.plugin: given})

    def _given_class(self) -> Any:
        return None

    def plugin_class(self) -> Any:
        """The class registered under ``plugin``; fails saying which plugins are installed when it is not."""
        offered = self.registry().connectors if self.section == "connectors" else self.registry().channels
        assert self.plugin in offered, (
            f"no {self.section[:-1]} plugin {self.plugin!r} is registered (installed: {', '.join(sorted(offered))}); "
            f"register it through the crmhub.plugins entry point, or set the contract's class attribute"
        )
        return offered[self.plugin]

    def instance(self, table: dict[str, Any], base: type[PluginConfig]) -> Any:
        """The plugin built from ``table`` as the core builds it: a config the core validated (an instance of
        ``base``), a fresh `PluginContext`."""
        config = self.validate(table)
        assert isinstance(config, base), f"{type(config).__name__} is not a {base.__name__}"
        return self.plugin_class()(config, self.context())

    def find_sandbox_app(self, name: str) -> SandboxApp:
        """The `SandboxApp` called ``name`` among those the loaded plugins offer."""
        apps = {app.name: app for app in self.registry().sandbox_apps}
        assert name in apps, f"no sandbox app {name!r}; offered: {', '.join(sorted(apps))}"
        return apps[name]

    def validate(self, table: dict[str, Any]) -> Any:
        """``table`` validated by the core as the ``[<section>.<name>]`` table of a configuration file."""
        from crmhub.config import parse_settings

        settings = parse_settings({self.section: {self.name: table}}, self.registry(), source="<contract>")
        return getattr(settings, self.section)[self.name]

    def config_problems(self, table: dict[str, Any]) -> tuple[str, list[tuple[str, str]]]:
        """(message, problems) of the `ConfigError` the core raises for ``table``; fails when it accepts it."""
        from crmhub.config import parse_settings

        try:
            parse_settings({self.section: {self.name: table}}, self.registry(), source="<contract>")
        except ConfigError as exc:
            return str(exc), exc.problems
        raise AssertionError(f"the core accepted an invalid config table: {sorted(table)}")

    # --- checks shared by connectors and channels ------------------------------------------------------------

    def test_config_errors_name_the_key_path(self) -> None:
        """A missing required key, an unknown key, an empty secret and a wrong type are each reported at their key
        path (``<section>.<name>.<key>``), and no message repeats a secret."""
        with self.service() as table:
            config = self.validate(table)
        model: type[PluginConfig] = type(config)
        secrets = secret_values(config)
        where = f"{self.section}.{self.name}"
        cases: list[tuple[str, dict[str, Any]]] = []
        for key, info in model.model_fields.items():
            alias = info.alias or key
            if info.is_required() and alias != "plugin" and alias in table:
                cases.append((alias, {k: v for k, v in table.items() if k != alias}))
        typo = next(iter(k for k in table if k != "plugin"), "timeout") + "_typo"
        cases.append((typo, {**table, typo: 1}))
        for key in secrets:
            if "." not in key and "[" not in key:
                cases.append((key, {**table, key: ""}))
        cases.append(("timeout", {**table, "timeout": "soon"}))
        assert len(cases) >= 3, "the config table has no keys to check"
        for key, broken in cases:
            message, problems = self.config_problems(broken)
            paths = [path for path, _ in problems]
            assert f"{where}.{key}" in paths, f"config error for {where}.{key} names {paths} instead"
            assert_no_secrets([(f"the config error for {key}", message)], secrets)

    def test_secrets_never_in_reprs(self) -> None:
        """``repr``/``str`` of the validated config, its JSON dump and the plugin instance show no secret value."""
        with self.service() as table:
            config = self.validate(table)
            secrets = secret_values(config)
            assert secrets, "the config holds no SecretStr: credentials must be SecretStr fields"
            texts = [
                ("repr(config)", repr(config)),
                ("str(config)", str(config)),
                ("config.model_dump_json()", config.model_dump_json()),
            ]
            texts += run(self._instance_reprs(config))
        assert_no_secrets(texts, secrets)

    async def _instance_reprs(self, config: Any) -> list[tuple[str, str]]:
        instance = self.plugin_class()(config, self.context())
        try:
            texts = [("repr(instance)", repr(instance)), ("str(instance)", str(instance))]
            texts += (
                [(f"repr(instance.{k})", repr(v)) for k, v in vars(instance).items()]
                if hasattr(instance, "__dict__")
                else []
            )
            return texts
        finally:
            await instance.aclose()
