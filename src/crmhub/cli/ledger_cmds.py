"""``crmhub ledger import``: book SWIFT MT940 / ISO 20022 camt.053 statements into the ledger tables.

The rules (line identity, re-import, tie-out, limits) are in plugins/crmhub_ledger/README.md; the work is done by
`crmhub_ledger.statements.booking`, this module only prints and picks the exit code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from crmhub.cli.common import ConfigOption, console, err_console, load_context, write_json_line
from crmhub.errors import InputError, PluginError
from crmhub.i18n import t

ledger_app = typer.Typer(help="Core-ledger tools.", no_args_is_help=True)


EXIT_REJECTED = 1
"""Every statement of the file was rejected (nothing stored)."""
EXIT_PARTIAL = 4
"""Some statements were imported, others rejected (the rejected ones are named on stderr)."""


def _importer() -> Any:
    try:
        from crmhub_ledger.statements.booking import import_file
    except ImportError as exc:
        raise PluginError("statement import needs the core_ledger plugin (crmhub_ledger), which is not installed",
                          hint="install crmhub with its bundled plugins") from exc
    return import_file


@ledger_app.command("import")
def ledger_import(
    file: Path = typer.Argument(..., help="An MT940 (.sta/.txt/.mt940) or camt.053 (.xml) statement."),
    account: str | None = typer.Option(None, "--account", help="Ledger account the lines belong to."),
    connector: str = typer.Option("ledger", "--connector", help="Ledger connector name the account belongs to."),
    config: Path | None = ConfigOption,
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Import a bank statement file, one statement at a time, each all or nothing (re-importing adds nothing).

    Exit 0 when every statement was imported (or had been already), 1 when all were rejected, 4 when some were
    rejected and others imported, 2 when the file cannot be read as a statement file.
    """
    import_file = _importer()
    ctx = load_context(config)
    store = ctx.open_store()
    try:
        results = import_file(store, file, account, connector)
    finally:
        store.dispose()
    rejected = [r for r in results if r.status == "rejected"]
    if not rejected and not any(r.entries for r in results):
        raise InputError(t("ledger_import_no_entries", file=file))
    for r in results:
        if json_out:
            write_json_line(r.as_dict())
        else:
            _print(r)
    if rejected:
        every = len(rejected) == len(results)
        err_console.print(escape(t("ledger_import_all_failed" if every else "ledger_import_some_failed",
                                   failed=len(rejected), total=len(results), file=file)), markup=True)
        raise typer.Exit(EXIT_REJECTED if every else EXIT_PARTIAL)


def _print(r: Any) -> None:
    if r.status == "rejected":
        # the error names the file and, for balance problems, the statement already: not twice
        text = r.error if r.statement in (r.error or "") else t("ledger_import_rejected", statement=r.statement,
                                                                 error=r.error)
        err_console.print(f"[red]{t('error')}:[/red] " + escape(text), markup=True)
        if r.hint:
            err_console.print(f"[dim]{t('hint')}: {escape(r.hint)}[/dim]", markup=True)
        return
    params = {"file": r.file, "format": r.format, "statement": r.statement, "entries": r.entries,
              "inserted": r.inserted, "present": r.already_present, "account": r.account}
    text = t("ledger_import_already" if r.status == "already_imported" else "ledger_import_line", **params)
    console.print(escape(text + ("" if r.matched_account else t("ledger_import_unlinked"))), markup=True)
    if r.from_other_statement:
        console.print(escape(t("ledger_import_other_statement", count=r.from_other_statement,
                               hint=t("ledger_import_other_statement_hint"))), markup=True)
    if r.notes:
        console.print(escape(t("ledger_import_notes", count=len(r.notes) + r.more_notes)), markup=True)
        for note in r.notes:
            console.print("    " + escape(note), markup=True)
