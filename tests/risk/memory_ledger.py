"""An in-memory ledger connector (clients, accounts, transactions, loans) for driving the real sync engine into
the risk phase, and a plugin that records the risk events the engine fires."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar

from pydantic import Field

from crmhub import (
    BankAccount,
    CheckResult,
    Connector,
    ConnectorConfig,
    CorporateClient,
    CreditFacility,
    Cursor,
    Page,
    SourceRecord,
    StreamKind,
    StreamSpec,
    Transaction,
    WriteBack,
    hookimpl,
)
from crmhub.events import RaisedAlert
from crmhub.model import Direction, LoanClass, Money


@dataclass
class MemoryLedger:
    """The "core banking system": its records by source id."""

    clients: dict[str, CorporateClient] = field(default_factory=dict)
    accounts: dict[str, BankAccount] = field(default_factory=dict)
    transactions: dict[str, Transaction] = field(default_factory=dict)
    loans: dict[str, CreditFacility] = field(default_factory=dict)

    def client(self, sid: str, name: str, uscc: str, **data: Any) -> None:
        self.clients[sid] = CorporateClient(name=name, uscc=uscc, **data)

    def account(self, sid: str, client: str, balance: str) -> None:
        self.accounts[sid] = BankAccount(
            source_id=sid, account_no=f"62220000{sid}", client_source_id=client, balance=Money(amount=Decimal(balance))
        )

    def tx(self, sid: str, account: str, day: date, amount: str, direction: str, **extra: Any) -> None:
        client = self.accounts[account].client_source_id
        self.transactions[sid] = Transaction(
            source_id=sid,
            account_source_id=account,
            client_source_id=client,
            booking_date=day,
            value_date=day,
            amount=Money(amount=Decimal(amount)),
            direction=Direction(direction),
            **extra,
        )

    def loan(self, sid: str, client: str, principal: str, dpd: int) -> None:
        self.loans[sid] = CreditFacility(
            source_id=sid,
            client_source_id=client,
            principal=Money(amount=Decimal(principal)),
            days_past_due=dpd,
            classification=LoanClass.floor_for_dpd(dpd),
        )


LEDGERS: dict[str, MemoryLedger] = {}
EVENTS: list[tuple[str, dict[str, Any]]] = []


class MemoryLedgerConfig(ConnectorConfig):
    system: str
    write_back: WriteBack = Field(default_factory=lambda: WriteBack(enabled=False, fields=[]))


class MemoryLedgerConnector(Connector[MemoryLedgerConfig]):
    """Every stream is read in full each run (the ingest's content hashes make unchanged records no-ops)."""

    config_model: ClassVar[type[ConnectorConfig]] = MemoryLedgerConfig
    streams = (
        StreamSpec("clients", StreamKind.CLIENT),
        StreamSpec("accounts", StreamKind.ACCOUNT),
        StreamSpec("transactions", StreamKind.TRANSACTION),
        StreamSpec("loans", StreamKind.FACILITY),
    )

    async def check(self) -> CheckResult:
        return CheckResult(ok=True, message="memory ledger")

    async def pull(self, stream: str, cursor: Cursor | None, *, since: datetime | None = None) -> AsyncIterator[Page]:
        ledger = LEDGERS[self.config.system]
        items: dict[str, Any] = {
            "clients": ledger.clients,
            "accounts": ledger.accounts,
            "transactions": ledger.transactions,
            "loans": ledger.loans,
        }[stream]
        yield Page(
            records=[SourceRecord(stream=stream, source_id=sid, data=rec) for sid, rec in items.items()],
            next_cursor=None,
        )


class MemoryLedgerPlugin:
    @hookimpl
    def crmhub_register_connectors(self) -> dict[str, type[Connector[Any]]]:
        return {"memory_ledger": MemoryLedgerConnector}


class EventRecorder:
    @hookimpl
    def crmhub_risk_changed(self, client: CorporateClient, before: Any, after: Any, run_id: int | None) -> None:
        EVENTS.append(("risk_changed", {"client": client, "before": before, "after": after, "run_id": run_id}))

    @hookimpl
    def crmhub_alert_raised(self, alert: RaisedAlert, client: CorporateClient | None, run_id: int | None) -> None:
        EVENTS.append(("alert_raised", {"alert": alert, "client": client, "run_id": run_id}))
