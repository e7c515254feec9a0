"""The ``crmhub`` command: a typer app whose commands load lazily, one module per command group.

Importing every ``*_cmds`` module (and through them SQLAlchemy, Alembic, httpx, the sync engine, the simulators …)
cost ~1.8 s on every start, even for ``--help`` or a typo. The root group below knows each command's name, module
and one-line help from a small static table (``COMMANDS``), lists them in ``--help`` from that table, and imports
a command's module only when that command runs (or its own ``--help`` is asked for). ``tests/cli/test_lazy_app.py``
keeps the table in step with the modules.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
from typing import Any, NamedTuple

import typer
from typer.core import TyperCommand, TyperGroup

from crmhub._version import __version__


class LazyCommand(NamedTuple):
    """Where a top-level command lives: ``module:attr`` is a typer command function or a ``typer.Typer`` group."""

    module: str
    attr: str
    help: str


# Order = the order of `crmhub --help` (commands first, then groups, as typer lists them).
COMMANDS: dict[str, LazyCommand] = {
    "init": LazyCommand(
        "setup_cmds", "init", "Write a starter configuration (points at the built-in sandboxes until you change it)."
    ),
    "pull": LazyCommand(
        "connector_cmds",
        "pull",
        "Print a stream's canonical records as JSON Lines (one per line), straight from the connector.",
    ),
    "push": LazyCommand(
        "connector_cmds", "push", "Upsert canonical records into a connector and print one JSON result per record."
    ),
    "sync": LazyCommand(
        "sync_cmds",
        "sync",
        "Pull every configured connector, merge into golden records, write back, and report the run.",
    ),
    "deliver": LazyCommand(
        "deliver_cmds",
        "deliver",
        "Send the write-backs syncs left queued, at each CRM's rate limit, with progress and an ETA.",
    ),
    "report": LazyCommand(
        "sync_cmds", "report", "Show a past run's report as a table, JSON or a self-contained HTML page."
    ),
    "demo": LazyCommand(
        "sandbox_cmds",
        "demo",
        "Start the simulators, run a full sync, change records, run an incremental sync, print both reports.",
    ),
    "worker": LazyCommand(
        "jobs_cmds",
        "worker",
        "Run jobs from the PostgreSQL queue (and queue the scheduled ticks); start as many as you like, anywhere.",
    ),
    "config": LazyCommand("setup_cmds", "config_app", "Check the configuration."),
    "plugins": LazyCommand("setup_cmds", "plugins_app", "Inspect installed plugins."),
    "db": LazyCommand("setup_cmds", "db_app", "Manage the store."),
    "connectors": LazyCommand("connector_cmds", "connectors_app", "Check the configured connectors and channels."),
    "clients": LazyCommand("sync_cmds", "clients_app", "Golden client records."),
    "review": LazyCommand("sync_cmds", "review_app", "The review queue: matches and conflicts a human must decide."),
    "deadletter": LazyCommand("sync_cmds", "deadletter_app", "Records that could not be processed, with the reason."),
    "ledger": LazyCommand("ledger_cmds", "ledger_app", "Core-ledger tools."),
    "notify": LazyCommand(
        "notify_cmds", "notify_app", "Notifications: test a channel, send what is due, read the delivery log."
    ),
    "interactions": LazyCommand(
        "notify_cmds", "interactions_app", "Visits, calls and messages with clients (they reset follow-up reminders)."
    ),
    "risk": LazyCommand("risk_cmds", "risk_app", "Credit risk: scorecard, rating, segment, policy."),
    "alerts": LazyCommand(
        "risk_cmds", "alerts_app", "AML and risk alerts: large-value reports and suspicious patterns."
    ),
    "sandbox": LazyCommand(
        "sandbox_cmds", "sandbox_app", "Simulators of every outside system, for trying crmhub offline."
    ),
    "scheduler": LazyCommand(
        "jobs_cmds", "scheduler_app", "The embedded scheduler: run the configured jobs on one machine."
    ),
    "jobs": LazyCommand("jobs_cmds", "jobs_app", "Scheduled jobs: their schedule and last results; run one now."),
    "users": LazyCommand("users_cmds", "users_app", "Operators: who may use crmhub, with which roles."),
    "approvals": LazyCommand(
        "users_cmds", "approvals_app", "Four-eyes approvals: actions proposed by one operator, decided by another."
    ),
    "console": LazyCommand(
        "console_cmds",
        "serve_console",
        "Serve the operator console in the browser: runs, review, dead letters, clients, alerts, audit.",
    ),
    "audit": LazyCommand(
        "audit_cmds", "audit_app", "The audit trail: verify the keyed chain, keep checkpoints, list and export entries."
    ),
}


class HelpOnStderrGroup(TyperGroup):
    """A group that, called without a command, prints its help on stderr (it is a usage mistake: exit 2).

    click ≥ 8.2 raises ``NoArgsIsHelpError`` there; typer's rich help prints the page to stdout while that exception
    is built, which would put a help page into a pipe meant for data. ``crmhub.cli.main`` turns the exception into
    exit code 2.
    """

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if not args and self.no_args_is_help and not ctx.resilient_parsing:
            with contextlib.redirect_stdout(sys.stderr):
                return super().parse_args(ctx, args)
        return super().parse_args(ctx, args)


class LazyGroup(HelpOnStderrGroup):
    """The root group: commands from ``COMMANDS``, each module imported only when its command is resolved."""

    _rendering_help = False

    def list_commands(self, ctx: Any) -> list[str]:
        return [*super().list_commands(ctx), *(name for name in COMMANDS if name not in self.commands)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name in self.commands or cmd_name not in COMMANDS:
            return super().get_command(ctx, cmd_name)
        if self._rendering_help:
            # listing in `crmhub --help`: a stand-in with the table's help, nothing imported; kept, so a help
            # translation set on it (crmhub.cli.help_i18n) is what the page then shows
            stubs: dict[str, TyperCommand] = self.__dict__.setdefault("_stubs", {})
            if cmd_name not in stubs:
                stubs[cmd_name] = TyperCommand(name=cmd_name, help=_full_help(cmd_name), callback=None)
            return stubs[cmd_name]
        command = load_command(cmd_name)
        self.commands[cmd_name] = command
        return command

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._rendering_help = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._rendering_help = False


def _first_paragraph(text: str) -> str:
    return " ".join(text.split("\n\n", maxsplit=1)[0].split())


def _full_help(name: str) -> str:
    """The command's whole English help as written in its module (the key of its Chinese translation).

    The table keeps only the first paragraph (all that ``crmhub --help`` shows); a multi-paragraph docstring is
    found among the translation keys, so the zh page translates it like any other.
    """
    from crmhub.cli.help_zh import HELP_ZH

    short = COMMANDS[name].help
    return next((key for key in HELP_ZH if _first_paragraph(key) == short), short)


def load_command(name: str) -> Any:
    """Import the module of top-level command ``name`` and build its click command (a group for a ``Typer``)."""
    entry = COMMANDS[name]
    target = getattr(importlib.import_module(f"crmhub.cli.{entry.module}"), entry.attr)
    if isinstance(target, typer.Typer):
        if not isinstance(target.info.cls, type):  # not chosen by the module: print its no-command help on stderr
            target.info.cls = HelpOnStderrGroup
        group = typer.main.get_group(target)
        group.name = name
        return group
    single = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    single.command(name)(target)
    command = typer.main.get_command(single)
    command.name = name
    return command


app = typer.Typer(
    name="crmhub",
    cls=LazyGroup,
    help="crmhub — one golden record per corporate client across CRMs, the ledger and channels.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"crmhub {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
    lang: str | None = typer.Option(None, "--lang", help="Language of messages: zh or en (any position)."),
    as_: str | None = typer.Option(
        None, "--as", help="Act as this registered operator (any position; default: $CRMHUB_USER, else the OS login)."
    ),
) -> None:
    """crmhub command line."""
