"""Ledger facts (accounts, credit facilities, transactions) stored a page at a time.

Each page costs three statements whatever its size: one SELECT of the stored content hashes of the page's ids (to
count created / updated / unchanged, and to know whose risk to reassess), one ``INSERT … ON CONFLICT (connector,
source_id) DO UPDATE … WHERE the hash changed`` executed for the new and changed rows together, and one UPDATE
flagging the golden clients behind the touched ledger clients. The upsert (SQLite and PostgreSQL both have it) also
keeps a concurrent writer of the same fact — a statement import booking a line the API reads too — from failing
the page on the unique key.

The canonical records come validated from the connector: each is dumped to JSON once and hashed once here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, select, true, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Insert

from crmhub.contract import SourceRecord, StreamKind
from crmhub.core.hashing import content_hash
from crmhub.model import BankAccount, CreditFacility, Transaction
from crmhub.model.types import Money
from crmhub.store.tables import CreditFacilityRow, GoldenClient, LedgerAccount, LedgerTransaction, Xref
from crmhub.store.tables import SourceRecord as SourceRow

GOLDEN: Table = GoldenClient.__table__  # type: ignore[assignment]
ACCOUNTS: Table = LedgerAccount.__table__  # type: ignore[assignment]
FACILITIES: Table = CreditFacilityRow.__table__  # type: ignore[assignment]
TRANSACTIONS: Table = LedgerTransaction.__table__  # type: ignore[assignment]


def minor(money: Money | None) -> int | None:
    """Decimal amount → integer minor units (fen/cents), exact."""
    if money is None:
        return None
    return int((money.amount * 100).to_integral_value())


def dialect_insert(session: Session, table: Table) -> Insert:
    """The dialect's INSERT (with ``on_conflict_do_update``/``do_nothing``) for the session's database."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


@dataclass(slots=True)
class FactCounts:
    """What a page of facts did (added to the stream's stats by the caller)."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    touched: set[str] = field(default_factory=set)
    """Ledger client ids whose facts changed: their golden clients need a new risk assessment."""


def flag_risk(session: Session, connector: str, client_source_ids: Iterable[str]) -> None:
    """Mark the golden clients behind these ledger client ids for reassessment (one UPDATE; clients already
    flagged are not written again)."""
    ids = sorted(set(client_source_ids))
    if not ids:
        return
    linked = (
        select(Xref.client_id)
        .join(SourceRow, SourceRow.id == Xref.source_record_id)
        .where(
            SourceRow.connector == connector, SourceRow.kind == StreamKind.CLIENT.value, SourceRow.source_id.in_(ids)
        )
    )
    session.execute(
        update(GOLDEN).where(GOLDEN.c.id.in_(linked), GOLDEN.c.needs_risk.is_not(true())).values(needs_risk=True)
    )


def upsert(
    session: Session,
    table: Table,
    connector: str,
    rows: Sequence[tuple[str, str | None, dict[str, Any]]],
) -> FactCounts:
    """Insert or update facts by (connector, source id) when their hash changed; ``rows`` are (source id, client
    source id, column values incl. ``content_hash``), every values dict with the same keys."""
    counts = FactCounts()
    if not rows:
        return counts
    c = table.c
    stored: dict[str, str] = {
        row.source_id: row.content_hash
        for row in session.execute(
            select(c.source_id, c.content_hash).where(c.connector == connector, c.source_id.in_([r[0] for r in rows]))
        )
    }
    writes: list[dict[str, Any]] = []
    for source_id, client_source_id, values in rows:
        old = stored.get(source_id)
        if old is None:
            counts.created += 1
        elif old != values["content_hash"]:
            counts.updated += 1
        else:
            counts.unchanged += 1
            continue
        writes.append({"connector": connector, "source_id": source_id, **values})
        if client_source_id:
            counts.touched.add(client_source_id)
    if writes:
        stmt = dialect_insert(session, table)
        columns = [k for k in writes[0] if k not in ("connector", "source_id")]
        session.execute(
            stmt.on_conflict_do_update(  # type: ignore[attr-defined]
                index_elements=[c.connector, c.source_id],
                set_={k: stmt.excluded[k] for k in columns},  # type: ignore[attr-defined]
                where=c.content_hash != stmt.excluded.content_hash,  # type: ignore[attr-defined]
            ),
            writes,
        )
    return counts


def account_rows(records: Iterable[SourceRecord]) -> list[tuple[str, str | None, dict[str, Any]]]:
    """(source id, client source id, columns) of the page's bank accounts."""
    now = datetime.now(UTC)
    rows: list[tuple[str, str | None, dict[str, Any]]] = []
    for rec in records:
        acct = rec.data
        if not isinstance(acct, BankAccount):
            continue
        data = acct.model_dump(mode="json", exclude_none=True)
        rows.append(
            (
                rec.source_id,
                acct.client_source_id,
                {
                    "client_source_id": acct.client_source_id,
                    "account_no": acct.account_no,
                    "currency": acct.balance.currency,
                    "balance_minor": minor(acct.balance) or 0,
                    "sub_status": acct.sub_status.value,
                    "allow_overdraft": acct.allow_overdraft,
                    "overdraft_limit_minor": minor(acct.overdraft_limit),
                    "data": data,
                    "content_hash": content_hash(data),
                    "updated_at": now,
                },
            )
        )
    return rows


def facility_rows(records: Iterable[SourceRecord]) -> list[tuple[str, str | None, dict[str, Any]]]:
    """(source id, client source id, columns) of the page's credit facilities."""
    now = datetime.now(UTC)
    rows: list[tuple[str, str | None, dict[str, Any]]] = []
    for rec in records:
        loan = rec.data
        if not isinstance(loan, CreditFacility):
            continue
        data = loan.model_dump(mode="json", exclude_none=True)
        rows.append(
            (
                rec.source_id,
                loan.client_source_id,
                {
                    "client_source_id": loan.client_source_id,
                    "currency": loan.principal.currency,
                    "principal_minor": minor(loan.principal) or 0,
                    "outstanding_minor": minor(loan.outstanding),
                    "days_past_due": loan.days_past_due,
                    "classification": loan.classification.value,
                    "status": loan.status,
                    "data": data,
                    "content_hash": content_hash(data),
                    "updated_at": now,
                },
            )
        )
    return rows


def transaction_rows(records: Iterable[SourceRecord]) -> list[tuple[str, str | None, dict[str, Any]]]:
    """(source id, client source id, columns) of the page's transactions."""
    return [
        (rec.source_id, rec.data.client_source_id, transaction_values(rec.data))
        for rec in records
        if isinstance(rec.data, Transaction)
    ]


def transaction_values(tx: Transaction) -> dict[str, Any]:
    """A transaction's columns (the statement importer books lines with these too)."""
    data = tx.model_dump(mode="json", exclude_none=True)
    return {
        "account_source_id": tx.account_source_id,
        "client_source_id": tx.client_source_id,
        "booking_date": tx.booking_date,
        "value_date": tx.value_date,
        "amount_minor": minor(tx.amount) or 0,
        "currency": tx.amount.currency,
        "direction": tx.direction.value,
        "kind": tx.kind,
        "is_cash": tx.is_cash,
        "cross_border": tx.cross_border,
        "counterparty_account": tx.counterparty_account,
        "counterparty_name": tx.counterparty_name,
        "reversed": tx.reversed,
        "is_manual": tx.is_manual,
        "content_hash": content_hash(data),
    }


__all__ = [
    "ACCOUNTS",
    "FACILITIES",
    "TRANSACTIONS",
    "FactCounts",
    "account_rows",
    "dialect_insert",
    "facility_rows",
    "flag_risk",
    "minor",
    "transaction_rows",
    "transaction_values",
    "upsert",
]
