"""Shared plumbing for CLI commands: console, config + registry loading, async running, error display."""

from __future__ import annotations

import asyncio
import sys
import traceback
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from crmhub import plugins
from crmhub.config import Settings, load_settings
from crmhub.core.exit_codes import ExitCode
from crmhub.errors import AccessError, ConfigError, CrmhubError, InputError, LockedError
from crmhub.i18n import LANGS, _current, bilingual, set_lang, t
from crmhub.masking import mask_plain_logs, mask_text, mask_url
from crmhub.security import guard
from crmhub.security.roles import FOUR_EYES
from crmhub.store.files import write_private

if TYPE_CHECKING:  # the store (SQLAlchemy + Alembic, ~0.3 s to import) loads only for commands that open it
    from sqlalchemy.orm import Session

    from crmhub.store import Store

# markup=False: what commands print is mostly upstream, config or user text, and rich would eat anything that looks
# like a tag ("problem in [connectors.fxiaoke]" printed as "problem in "). A call that wants colour says
# `markup=True` and escapes what it interpolates (issue #14 item 12).
console = Console(highlight=False, soft_wrap=True, markup=False)
err_console = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)

T = TypeVar("T")

ConfigOption = typer.Option(None, "--config", "-c", help="Config file (default: $CRMHUB_CONFIG or config/crmhub.toml).")

# List commands: `--limit N` (default 100, 0 = no limit) and `--all`; a cut listing says so on stderr (`note_cut`).
LimitOption = typer.Option(100, "--limit", min=0, help="At most N rows (0 = all); a cut listing says so on stderr.")
AllOption = typer.Option(False, "--all", help="Every row, however many (same as --limit 0).")
NO_LIMIT = 2**62  # passed as SQL LIMIT for "all rows" (the query helpers take an int)


def row_limit(limit: int, all_rows: bool) -> int:
    """The LIMIT a list command applies: ``--all`` or ``--limit 0`` mean every row."""
    return NO_LIMIT if all_rows or limit == 0 else limit


def note_cut(shown: int, total: int | None, *, offset: int = 0) -> None:
    """Tell stderr that a listing shows only part of the rows (``total`` None: more exist, how many is unknown).

    stderr, so ``--json`` output piped into another program stays pure JSON Lines.
    """
    if total is not None and offset + shown >= total:
        return
    if total is None:
        text = bilingual(
            f"仅显示前 {shown:,} 条，还有更多；用 --limit N 或 --all 查看更多",
            f"showing the first {shown:,}; there are more; use --limit N or --all",
        )
    else:
        text = bilingual(
            f"仅显示 {shown:,} 条，共 {total:,} 条；用 --limit N 或 --all 查看更多",
            f"showing {shown:,} of {total:,}; use --limit N or --all",
        )
    err_console.print(text, style="yellow")


@dataclass(slots=True)
class Context:
    """What most commands need: the plugin registry and the validated settings."""

    registry: plugins.Registry
    settings: Settings
    _cache: Any = None
    _limits: Any = None

    def open_store(self) -> Store:
        """Open (and migrate) the configured store."""
        from crmhub.store import Store

        return Store.open(self.settings.store.url, var_dir=self.settings.var_dir)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction on the configured store (committed on success), the store closed afterwards."""
        store = self.open_store()
        try:
            with store.begin() as session:
                yield session
        finally:
            store.dispose()

    def token_cache(self) -> Any:
        """The store's encrypted token cache (shared with syncs and workers), or None if the store is unusable."""
        from crmhub.store.secrets import StoreTokenCache

        if self._cache is not None:
            return self._cache
        try:
            self._cache = StoreTokenCache(self.open_store())
            return self._cache
        except CrmhubError as exc:
            err_console.print(f"[yellow]warning:[/yellow] tokens will not be shared: {escape(str(exc))}", markup=True)
            return None

    def rate_limits(self) -> Any:
        """The store's shared rate budgets when ``[sync] shared_budget`` says so (other crmhub processes may call the
        same tenant), else None: the connector paces in-process (`crmhub.sync.ratebudget`)."""
        from crmhub.store.ratelimits import StoreRateLimits
        from crmhub.sync.ratebudget import shares_budget

        if self._limits is None:
            cache = self.token_cache()
            if cache is not None and shares_budget(self.settings, cache.store):
                self._limits = StoreRateLimits(cache.store)
        return self._limits


def load_registry() -> plugins.Registry:
    """Load plugins, turning load warnings into quiet stderr notes."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", plugins.PluginLoadWarning)
        registry = plugins.load()
    for w in caught:
        if issubclass(w.category, plugins.PluginLoadWarning):
            err_console.print(f"[yellow]warning:[/yellow] {escape(str(w.message))}", markup=True)
    return registry


def load_context(config: Path | None, *, required: bool = True) -> Context:
    """Registry + settings from ``config`` (or the default path), authorised by `crmhub.security.guard`.

    Within one command the context is loaded once: the guard loads it before the command body runs, and the
    body's own call gets the same object back.
    """
    inv = guard.current()
    key = (str(config), required)
    if inv is not None and key in inv.contexts:
        return inv.contexts[key]  # type: ignore[no-any-return]

    mask_plain_logs()
    registry = load_registry()
    settings = load_settings(config, registry, required=required)
    from crmhub.display import set_timezone

    set_timezone(settings.timezone)
    if settings.lang and not _lang_explicit():
        set_lang(settings.lang)
    ctx = Context(registry, settings)
    guard.authorize(ctx)
    if inv is not None:
        inv.contexts[key] = ctx
    return ctx


def _lang_explicit() -> bool:
    """--lang or CRMHUB_LANG was given (both beat the config file's ``lang``)."""
    import os

    return _current.get() is not None or os.environ.get("CRMHUB_LANG", "").lower() in LANGS


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion on a fresh event loop."""
    return asyncio.run(coro)


def fail(message: str, code: int = ExitCode.FAILED) -> NoReturn:
    """Print a one-line error and exit with ``code``."""
    err_console.print(f"[red]{t('error')}:[/red] {escape(message)}", markup=True)
    raise typer.Exit(code)


def exit_code_for(exc: CrmhubError) -> int:
    """USAGE for mistakes the user must fix in input/config/identity, LOCKED for a held lock, FAILED otherwise."""
    if isinstance(exc, ConfigError | InputError | AccessError):
        return ExitCode.USAGE
    if isinstance(exc, LockedError):
        return ExitCode.LOCKED
    return ExitCode.FAILED


def report_error(exc: CrmhubError) -> int:
    """Print a crmhub error the way users should see it (no traceback) and return the exit code."""
    if isinstance(exc, ConfigError) and exc.problems:
        err_console.print(f"[red]{t('config_problems')}[/red] — {escape(str(exc.file))}", markup=True)
        for key, msg in exc.problems:
            err_console.print(f"  [bold]{escape(key)}[/bold]: {escape(mask_url(msg))}", markup=True)
        if exc.hint:
            err_console.print(f"[dim]{t('hint')}: {escape(exc.hint)}[/dim]", markup=True)
    else:
        err_console.print(
            f"[red]{t('error')} \\[{escape(str(exc.code))}]:[/red] {escape(mask_text(exc.message))}", markup=True
        )
        if exc.hint:
            err_console.print(f"[dim]{t('hint')}: {escape(mask_url(exc.hint))}[/dim]", markup=True)
    return exit_code_for(exc)


def report_internal(exc: BaseException) -> int:
    """Save an unexpected exception's traceback to var/log and print one line pointing at it."""
    log_dir = _var_dir_of(exc) / "log"
    try:
        path = log_dir / f"crmhub-error-{datetime.now(UTC):%Y%m%dT%H%M%S}.log"
        write_private(path, mask_text("".join(traceback.format_exception(exc))))  # 0600: it may quote records
        where = str(path)
    except OSError:
        where = bilingual("（无法写入日志）", "(could not write the log)")
    err_console.print(f"[red]{escape(t('internal_error', kind=type(exc).__name__, path=where))}[/red]", markup=True)
    return ExitCode.INTERNAL


def _var_dir_of(exc: BaseException) -> Path:
    """The ``var`` folder of the configuration the failing command had loaded (found in its traceback: every
    command holds its `Context`), so the log lands beside that configuration's store; ``./var`` when none was."""
    tb = exc.__traceback__
    while tb is not None:
        for value in tb.tb_frame.f_locals.values():
            if isinstance(value, Context):
                return value.settings.var_dir
            if isinstance(value, Settings):
                return value.var_dir
        tb = tb.tb_next
    return Path("var")


def write_json_line(obj: Any) -> None:
    """One JSON object per line on stdout, UTF-8, no ASCII escaping (Chinese stays readable)."""
    import json

    sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")


def print_proposed(row: Any) -> None:
    """Tell the proposer of a four-eyes action that nothing changed yet and who must approve it."""
    roles = ", ".join(FOUR_EYES[row.action].approver_roles)
    console.print(
        bilingual(
            f"已提交审批单 #{row.id}（{row.action}），尚未执行；需另一位具有 {roles} 角色的操作员用 "
            f"`crmhub approvals approve {row.id}` 批准",
            f"proposal #{row.id} ({row.action}) filed, nothing changed yet; another operator with "
            f"role {roles} must run `crmhub approvals approve {row.id}`",
        )
    )
