"""The ``crmhub`` command: a typer app assembled from one module per command group."""

from __future__ import annotations

import typer

from crmhub._version import __version__
from crmhub.cli import (
    connector_cmds,
    jobs_cmds,
    ledger_cmds,
    notify_cmds,
    risk_cmds,
    sandbox_cmds,
    setup_cmds,
    sync_cmds,
)

app = typer.Typer(
    name="crmhub",
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
) -> None:
    """crmhub command line."""


app.command("init")(setup_cmds.init)
app.add_typer(setup_cmds.config_app, name="config")
app.add_typer(setup_cmds.plugins_app, name="plugins")
app.add_typer(setup_cmds.db_app, name="db")
app.add_typer(connector_cmds.connectors_app, name="connectors")
app.command("pull")(connector_cmds.pull)
app.command("push")(connector_cmds.push)
app.command("sync")(sync_cmds.sync)
app.command("report")(sync_cmds.report)
app.add_typer(sync_cmds.clients_app, name="clients")
app.add_typer(sync_cmds.review_app, name="review")
app.add_typer(sync_cmds.deadletter_app, name="deadletter")
app.add_typer(ledger_cmds.ledger_app, name="ledger")
app.add_typer(notify_cmds.notify_app, name="notify")
app.add_typer(notify_cmds.interactions_app, name="interactions")
app.add_typer(risk_cmds.risk_app, name="risk")
app.add_typer(risk_cmds.alerts_app, name="alerts")
app.add_typer(sandbox_cmds.sandbox_app, name="sandbox")
app.command("demo")(sandbox_cmds.demo)
app.add_typer(jobs_cmds.scheduler_app, name="scheduler")
app.add_typer(jobs_cmds.jobs_app, name="jobs")
app.command("worker")(jobs_cmds.worker)
