"""The one guard every command passes: who is acting (``--as``, ``CRMHUB_USER`` or the OS login) and may they.

`install` wraps typer's leaf-command ``invoke`` (the same class-level hook `crmhub.cli.help_i18n` uses, so it
covers eagerly and lazily loaded commands alike): before a command body runs, its path is looked up in
`crmhub.security.roles.COMMANDS`, and every command that is not ``open`` loads its configuration and is
authorised against the store's operators. A command cannot forget the check — it never gets to run without it —
and a command missing from the table is refused outright.

Bootstrapping: on a store with no operators, ``users add`` is allowed for anyone who can use the configuration
(and makes an admin). Test switch: with ``CRMHUB_TEST_BOOTSTRAP_ROLES=1`` in the environment, a store with NO
operators lets the caller act with every role — the test suite sets it so tests that don't care about identities
keep running; it has no effect once a single operator is registered.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from crmhub.errors import AccessError
from crmhub.i18n import bilingual
from crmhub.security.roles import REVEAL_ROLES, ROLES, rule_for

TEST_SWITCH = "CRMHUB_TEST_BOOTSTRAP_ROLES"
ENV_USER = "CRMHUB_USER"


@dataclass(frozen=True, slots=True)
class Actor:
    """The operator a command runs as. ``registered`` is False only while bootstrapping an empty store."""

    name: str
    roles: frozenset[str]
    registered: bool = True


@dataclass(slots=True)
class Invocation:
    """The running command: its path, its parameters, the authorised actor and the loaded context (reused)."""

    command: str
    params: dict[str, Any]
    actor: Actor | None = None
    contexts: dict[Any, Any] = field(default_factory=dict)


_requested: ContextVar[str | None] = ContextVar("crmhub_as", default=None)
_invocation: ContextVar[Invocation | None] = ContextVar("crmhub_invocation", default=None)


def set_requested(name: str | None) -> None:
    """Remember ``--as NAME`` for this command line."""
    _requested.set(name)


def requested() -> tuple[str, str]:
    """(name, where it came from): ``--as``, then ``CRMHUB_USER``, then the OS login (``os``)."""
    name = _requested.get()
    if name:
        return name, "--as"
    env = os.environ.get(ENV_USER, "").strip()
    if env:
        return env, ENV_USER
    import getpass

    try:
        return getpass.getuser(), "os"
    except (KeyError, OSError):
        return f"uid-{os.getuid()}" if hasattr(os, "getuid") else "unknown", "os"


def current() -> Invocation | None:
    """The running command's invocation (None outside a CLI command)."""
    return _invocation.get()


def current_actor() -> Actor:
    """The authorised actor of the running command; for an unauthenticated open read, the requested name."""
    inv = _invocation.get()
    if inv is not None and inv.actor is not None:
        return inv.actor
    name, source = requested()
    return Actor(f"os:{name}" if source == "os" else name, frozenset(), registered=False)


def authorize(ctx: Any) -> Actor | None:
    """Check the running command against the role table with ``ctx`` (a `crmhub.cli.common.Context`).

    Returns the actor (None for a masked read left open by ``[security] open_reads``); raises `AccessError`
    (exit 2) for an unknown or disabled operator or a missing role.
    """
    inv = _invocation.get()
    if inv is None:
        return None
    rule = rule_for(inv.command)
    reveal = bool(inv.params.get("reveal"))
    if rule.kind == "open" or (rule.kind == "read" and not reveal and ctx.settings.security.open_reads):
        return None
    actor = _resolve(ctx, inv.command)
    if not actor.roles & set(rule.roles):
        raise AccessError(
            bilingual(
                f"操作员 {actor.name}（角色：{_roles(actor)}）无权执行 `{inv.command}`，需要以下角色之一："
                f"{', '.join(rule.roles)}",
                f"operator {actor.name} (roles: {_roles(actor)}) may not run `{inv.command}`; "
                f"it needs one of: {', '.join(rule.roles)}",
            ),
            hint=bilingual(
                "请让管理员授予角色，或用 --as 以其他操作员身份执行",
                "ask an admin for the role, or act as another operator with --as",
            ),
        )
    if reveal and not actor.roles & set(REVEAL_ROLES):
        raise AccessError(
            bilingual(
                f"操作员 {actor.name} 无权使用 --reveal，需要以下角色之一：{', '.join(REVEAL_ROLES)}",
                f"operator {actor.name} may not use --reveal; it needs one of: {', '.join(REVEAL_ROLES)}",
            )
        )
    inv.actor = actor
    return actor


def identify(ctx: Any) -> Actor | None:
    """The registered, enabled operator behind the requested name, without checking the command's roles.

    For an open read that shows more to some roles (AML proposals only to AML officers): None when the name is
    not a registered, enabled operator, who then sees only what anyone may see.
    """
    inv = _invocation.get()
    if inv is not None and inv.actor is not None:
        return inv.actor
    try:
        return _resolve(ctx, inv.command if inv is not None else "")
    except AccessError:
        return None


def _roles(actor: Actor) -> str:
    return ", ".join(sorted(actor.roles)) or "-"


def _resolve(ctx: Any, command: str) -> Actor:
    """The registered, enabled operator behind the requested name (or the bootstrap/test actor on an empty store)."""
    from crmhub.security import operators

    name, source = requested()
    with ctx.session() as s:
        if operators.count(s) == 0:
            if command == "users add":
                return Actor(name, frozenset({"admin"}), registered=False)
            if os.environ.get(TEST_SWITCH) == "1":
                return Actor(f"os:{name}" if source == "os" else name, frozenset(ROLES), registered=False)
        row = operators.get(s, name)
        if row is None:
            raise AccessError(
                bilingual(
                    f"操作员 {name!r}（来自 {source}）未注册", f"operator {name!r} (from {source}) is not registered"
                ),
                hint=bilingual(
                    "用 --as 名称 或 CRMHUB_USER 指定已注册的操作员；管理员可用 `crmhub users add` 注册",
                    "act as a registered operator with --as NAME or CRMHUB_USER; an admin registers "
                    "operators with `crmhub users add`",
                ),
            )
        if not row.enabled:
            raise AccessError(
                bilingual(f"操作员 {name!r} 已停用", f"operator {name!r} is disabled"),
                hint=bilingual("请联系管理员", "ask an admin"),
            )
        return Actor(row.name, frozenset(row.roles), registered=True)


def install(preload: Callable[[Any], object]) -> None:
    """Make every typer leaf command pass the guard before its body runs (idempotent).

    ``preload(config)`` loads (and so authorises) the command's configuration before its body runs; the CLI
    passes it, because loading a configuration is the CLI's business (`crmhub.cli.preload_config`) and the
    security layer sits below the CLI.
    """
    import typer.core

    cls = typer.core.TyperCommand
    if getattr(cls.invoke, "_crmhub_guarded", False):
        return
    original = cls.invoke

    def invoke(self: Any, click_ctx: Any, _original: Any = original) -> Any:
        command = " ".join(click_ctx.command_path.split()[1:])
        token = _invocation.set(Invocation(command, dict(click_ctx.params)))
        try:
            if rule_for(command).kind != "open":
                preload(click_ctx.params.get("config"))
            return _original(self, click_ctx)
        finally:
            _invocation.reset(token)

    invoke._crmhub_guarded = True  # type: ignore[attr-defined]
    cls.invoke = invoke  # type: ignore[method-assign,assignment]
