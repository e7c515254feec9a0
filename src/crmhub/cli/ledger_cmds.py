"""``crmhub ledger import``: book SWIFT MT940 / ISO 20022 camt.053 statements into the ledger tables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from sqlalchemy import or_, select

from crmhub.cli.common import ConfigOption, console, load_context, write_json_line
from crmhub.errors import InputError, PluginError
from crmhub.i18n import bilingual
from crmhub.model import Transaction
from crmhub.store.tables import LedgerAccount
from crmhub.sync.ingest import store_transactions

ledger_app = typer.Typer(help="Core-ledger tools.", no_args_is_help=True)


def _parser() -> Any:
    try:
        from crmhub_ledger.statements import parse_statements
    except ImportError as exc:
        raise PluginError("statement import needs the core_ledger plugin (crmhub_ledger), which is not installed",
                          hint="install crmhub with its bundled plugins") from exc
    return parse_statements


@ledger_app.command("import")
def ledger_import(
    file: Path = typer.Argument(..., help="An MT940 (.sta/.txt/.mt940) or camt.053 (.xml) statement."),
    account: str | None = typer.Option(None, "--account", help="Ledger account the lines belong to."),
    connector: str = typer.Option("ledger", "--connector", help="Ledger connector name the account belongs to."),
    config: Path | None = ConfigOption,
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Import a bank statement: each entry becomes a ledger transaction (re-importing adds nothing)."""
    statements = _parser()(file, account)
    ctx = load_context(config)
    store = ctx.open_store()
    results: list[dict[str, Any]] = []
    try:
        with store.begin() as s:
            for statement in statements:
                key = account or statement.account
                acct = s.scalars(select(LedgerAccount).where(
                    LedgerAccount.connector == connector,
                    or_(LedgerAccount.source_id == key, LedgerAccount.account_no == key))).first()
                txs: list[Transaction] = [
                    t.model_copy(update={"client_source_id": t.client_source_id or (acct.client_source_id
                                                                                    if acct else None),
                                         "account_source_id": acct.source_id if acct else t.account_source_id})
                    for t in statement.transactions]
                inserted, present = store_transactions(s, connector, txs) if txs else (0, 0)
                results.append({"file": str(file), "format": statement.format,
                                "statement_id": statement.statement_id, "account": key,
                                "currency": statement.currency, "entries": len(txs), "inserted": inserted,
                                "already_present": present, "matched_account": acct is not None,
                                "ties_out": statement.ties_out if statement.opening and statement.closing
                                else None})
    finally:
        store.dispose()
    if not any(r["entries"] for r in results):
        raise InputError(f"{file}: the statement has no booked entries")
    for r in results:
        if json_out:
            write_json_line(r)
            continue
        linked = r["matched_account"]
        console.print(bilingual(
            f"{file}（{r['format']}）：{r['entries']} 笔，新增 {r['inserted']} 笔，已存在 {r['already_present']} 笔；"
            f"账户 {r['account']}" + ("" if linked else "（账本中未找到此账户，交易未关联客户）"),
            f"{file} ({r['format']}): {r['entries']} entries, {r['inserted']} new, {r['already_present']} already "
            f"present; account {r['account']}" + ("" if linked else " (not a known ledger account: not linked)")))
