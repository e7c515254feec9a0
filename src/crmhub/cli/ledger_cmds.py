"""``crmhub ledger import``: book SWIFT MT940 / ISO 20022 camt.053 statements into the ledger tables.

The core knows no statement format: plugins offer parsers through the ``crmhub_statement_importers`` hook
(`crmhub.statements`; the bundled ``core_ledger`` plugin reads MT940 and camt.053 — the rules are in
plugins/crmhub_ledger/README.md); the core books what they read (`crmhub.sync.statement_booking`). This module
picks the importer, prints the results and picks the exit code.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from crmhub.cli.common import ConfigOption, console, err_console, load_context, write_json_line
from crmhub.errors import InputError, PluginError
from crmhub.i18n import bilingual, t
from crmhub.plugins import Registry
from crmhub.statements import SNIFF_BYTES, StatementImporter, StatementResult
from crmhub.sync.statement_booking import import_file

ledger_app = typer.Typer(help="Core-ledger tools.", no_args_is_help=True)


EXIT_REJECTED = 1
"""Every statement of the file was rejected (nothing stored)."""
EXIT_PARTIAL = 4
"""Some statements were imported, others rejected (the rejected ones are named on stderr)."""


def _importer(registry: Registry, file: Path) -> StatementImporter:
    """The importer for ``file``: the only one offered (its own errors name what is wrong with the file), else the
    first whose ``accepts`` recognises the file's first bytes."""
    importers = list(registry.statement_importers.values())
    if not importers:
        raise PluginError(
            bilingual(
                "没有已安装的插件提供对账单导入（crmhub_statement_importers 钩子）",
                "no installed plugin offers statement import (the crmhub_statement_importers hook)",
            ),
            hint=bilingual(
                "安装提供该功能的插件（随附的 core_ledger 插件可读 MT940 和 camt.053），"
                "或检查 CRMHUB_DISABLE_PLUGINS；`crmhub plugins list` 列出已加载的插件",
                "install a plugin that offers one (the bundled core_ledger plugin reads "
                "MT940 and camt.053) or check CRMHUB_DISABLE_PLUGINS; `crmhub plugins list` "
                "shows what is loaded",
            ),
        )
    if len(importers) == 1:
        return importers[0]
    try:
        with file.open("rb") as fh:
            head = fh.read(SNIFF_BYTES)
    except OSError as exc:
        raise InputError(
            bilingual(f"{file}：无法读取（{exc.strerror}）", f"{file}: cannot be read ({exc.strerror})"),
            hint=bilingual("检查路径和权限", "check the path and its permissions"),
        ) from None
    for importer in importers:
        if importer.accepts(head):
            return importer
    formats = ", ".join(f for importer in importers for f in importer.formats)
    raise InputError(
        bilingual(
            f"{file}：不是已安装插件能读取的对账单格式（{formats}）",
            f"{file}: not a statement format an installed plugin reads ({formats})",
        ),
        hint=bilingual("请以上述格式之一导出对账单", "export the statement in one of these formats"),
    )


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
    ctx = load_context(config)
    importer = _importer(ctx.registry, file)
    store = ctx.open_store()
    try:
        results = import_file(store, file, importer.read, account, connector)
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
        err_console.print(
            escape(
                t(
                    "ledger_import_all_failed" if every else "ledger_import_some_failed",
                    failed=len(rejected),
                    total=len(results),
                    file=file,
                )
            ),
            markup=True,
        )
        raise typer.Exit(EXIT_REJECTED if every else EXIT_PARTIAL)


def _print(r: StatementResult) -> None:
    if r.status == "rejected":
        # the error names the file and, for balance problems, the statement already: not twice
        text = (
            r.error
            if r.error and r.statement in r.error
            else t("ledger_import_rejected", statement=r.statement, error=r.error)
        )
        err_console.print(f"[red]{t('error')}:[/red] " + escape(text), markup=True)
        if r.hint:
            err_console.print(f"[dim]{t('hint')}: {escape(r.hint)}[/dim]", markup=True)
        return
    params = {
        "file": r.file,
        "format": r.format,
        "statement": r.statement,
        "entries": r.entries,
        "inserted": r.inserted,
        "present": r.already_present,
        "account": r.account,
    }
    text = t("ledger_import_already" if r.status == "already_imported" else "ledger_import_line", **params)
    console.print(escape(text + ("" if r.matched_account else t("ledger_import_unlinked"))), markup=True)
    if r.from_other_statement:
        console.print(
            escape(
                t(
                    "ledger_import_other_statement",
                    count=r.from_other_statement,
                    hint=t("ledger_import_other_statement_hint"),
                )
            ),
            markup=True,
        )
    if r.notes:
        console.print(escape(t("ledger_import_notes", count=len(r.notes) + r.more_notes)), markup=True)
        for note in r.notes:
            console.print("    " + escape(note), markup=True)
