"""Hand-built books for the risk tests: golden clients cross-referenced to ledger clients, their accounts,
transactions and loans, inserted straight into the store's tables (what the sync engine's ingest would write)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from crmhub.model import uscc as uscc_mod
from crmhub.store import Store
from crmhub.store.tables import (
    CreditFacilityRow,
    GoldenClient,
    LedgerAccount,
    LedgerTransaction,
    SourceRecord,
    Xref,
)

TODAY = date(2026, 11, 30)
NOW = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)


def uscc(n: int) -> str:
    """A valid USCC numbered ``n``."""
    return uscc_mod.make("91110000", f"{n:08d}")


def minor(amount: float | int | str) -> int:
    return int(Decimal(str(amount)) * 100)


@dataclass
class Client:
    """One golden client and its ledger client id."""

    id: int
    uscc: str
    ledger_id: str
    accounts: list[str] = field(default_factory=list)


class Book:
    """Builds rows in memory, then writes them in one transaction (`commit`)."""

    def __init__(self, store: Store, connector: str = "ledger") -> None:
        self.store = store
        self.connector = connector
        self.rows: list[Any] = []
        self.openings: dict[str, int] = {}
        self.seq = 0
        self._tx = 0

    def client(
        self,
        n: int,
        name: str | None = None,
        *,
        industry: str | None = "C",
        established: str | None = "2012-05-01",
        capital: float | None = 20_000_000,
        ledger: bool = True,
        **data: Any,
    ) -> Client:
        code = uscc(n)
        payload = {"name": name or f"测试客户{n}有限公司", "uscc": code, **data}
        if industry:
            payload["industry"] = {"code": industry}
        if established:
            payload["established_on"] = established
        if capital is not None:
            payload["registered_capital"] = {"amount": str(capital), "currency": "CNY"}
        with self.store.begin() as s:
            g = GoldenClient(
                uscc=code,
                name=payload["name"],
                data=payload,
                needs_merge=False,
                needs_risk=True,
                needs_plan=False,
                created_at=NOW,
                updated_at=NOW,
            )
            s.add(g)
            s.flush()
            ledger_id = f"L{n}"
            if ledger:
                src = SourceRecord(
                    connector=self.connector,
                    stream="clients",
                    source_id=ledger_id,
                    kind="client",
                    raw={},
                    data={"name": payload["name"]},
                    content_hash="h",
                    first_seen_at=NOW,
                    last_seen_at=NOW,
                    deleted=False,
                    dirty=False,
                )
                s.add(src)
                s.flush()
                s.add(Xref(source_record_id=src.id, client_id=g.id, method="uscc", linked_at=NOW))
            return Client(g.id, code, ledger_id)

    def account(
        self,
        c: Client,
        balance: float | None = None,
        *,
        opening: float | None = None,
        currency: str = "CNY",
        sub_status: str = "none",
        overdraft_limit: float | None = None,
        opened_on: str | None = "2015-01-05",
        sid: str | None = None,
    ) -> str:
        """An account with its current ``balance``, or with an ``opening`` balance to which every transaction
        added before `commit` is applied (so balances and transactions agree)."""
        sid = sid or f"{c.ledger_id}-A{len(c.accounts) + 1}"
        if opening is not None:
            self.openings[sid] = minor(opening)
        c.accounts.append(sid)
        data = {"opened_on": opened_on} if opened_on else {}
        self.rows.append(
            LedgerAccount(
                connector=self.connector,
                source_id=sid,
                client_source_id=c.ledger_id,
                account_no=f"6222{len(c.accounts):04d}{c.id:08d}",
                currency=currency,
                balance_minor=minor(balance or 0),
                sub_status=sub_status,
                allow_overdraft=overdraft_limit is not None,
                overdraft_limit_minor=minor(overdraft_limit) if overdraft_limit is not None else None,
                data=data,
                content_hash="h",
                updated_at=NOW,
            )
        )
        return sid

    def tx(
        self,
        c: Client,
        day: date | int,
        amount: float,
        direction: str = "credit",
        *,
        account: str | None = None,
        cash: bool = False,
        kind: str = "transfer",
        counterparty: str | None = "某某贸易有限公司",
        counterparty_account: str | None = None,
        reversed_: bool = False,
        currency: str = "CNY",
        sid: str | None = None,
        client_id: str | bool | None = True,
    ) -> str:
        """A transaction; ``day`` is a date or days before TODAY."""
        self._tx += 1
        sid = sid or f"T{self._tx}"
        when = day if isinstance(day, date) else TODAY - timedelta(days=day)
        self.rows.append(
            LedgerTransaction(
                connector=self.connector,
                source_id=sid,
                account_source_id=account or c.accounts[0],
                client_source_id=c.ledger_id if client_id is True else (client_id or None),
                booking_date=when,
                value_date=when,
                amount_minor=minor(amount),
                currency=currency,
                direction=direction,
                kind=kind,
                is_cash=cash,
                cross_border=False,
                counterparty_account=counterparty_account,
                counterparty_name=counterparty,
                reversed=reversed_,
                is_manual=False,
                content_hash="h",
            )
        )
        return sid

    def loan(
        self,
        c: Client,
        principal: float,
        *,
        outstanding: float | None = None,
        dpd: int = 0,
        classification: str = "pass",
        status: str = "active",
        sid: str | None = None,
    ) -> str:
        sid = sid or f"{c.ledger_id}-LN{sum(isinstance(r, CreditFacilityRow) for r in self.rows) + 1}"
        self.rows.append(
            CreditFacilityRow(
                connector=self.connector,
                source_id=sid,
                client_source_id=c.ledger_id,
                currency="CNY",
                principal_minor=minor(principal),
                outstanding_minor=minor(outstanding if outstanding is not None else principal),
                days_past_due=dpd,
                classification=classification,
                status=status,
                data={},
                content_hash="h",
                updated_at=NOW,
            )
        )
        return sid

    def commit(self) -> None:
        for row in self.rows:
            if isinstance(row, LedgerAccount) and row.source_id in self.openings:
                row.balance_minor = self.openings.pop(row.source_id) + sum(
                    (t.amount_minor if t.direction == "credit" else -t.amount_minor)
                    for t in self.rows
                    if isinstance(t, LedgerTransaction) and t.account_source_id == row.source_id and not t.reversed
                )
        with self.store.begin() as s:
            s.add_all(self.rows)
        self.rows = []


def steady(book: Book, c: Client, *, weekly: float = 60_000, days: int = 126, account: str | None = None) -> None:
    """A healthy business: weekly receipts and payments (a little less) with a handful of counterparties,
    nothing near any threshold, so no rule fires on it and the account is never dormant."""
    for week in range(days // 7):
        base = 2 + week * 7
        book.tx(c, base, weekly, "credit", counterparty=f"客户{week % 3}有限公司", account=account)
        book.tx(c, base + 1, weekly * 0.9, "debit", counterparty=f"供应商{week % 4}有限公司", account=account)
