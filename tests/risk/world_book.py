"""Load the sandbox world's ledger into a store the way the ledger connector's ingest would, and score the risk
engine's alerts against the world's ground truth (`Company.expected_alerts`)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select

from crmhub.model import LoanClass
from crmhub.sandbox.world import World
from crmhub.store import Store
from crmhub.store.tables import (
    Alert,
    CreditFacilityRow,
    GoldenClient,
    LedgerAccount,
    LedgerTransaction,
    SourceRecord,
    Xref,
)

NOW = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)
SUB_STATUS = {0: "none", 100: "inactive", 200: "dormant"}


def _minor(value: Decimal) -> int:
    return int(value * 100)


def load_world(store: Store, world: World, connector: str = "ledger") -> dict[int, tuple[str, str, tuple[str, ...]]]:
    """Insert every ledger client of ``world``; returns golden id → (USCC, profile, expected alert kinds)."""
    truth: dict[int, tuple[str, str, tuple[str, ...]]] = {}
    for company in world.companies():
        lc = company.ledger
        if lc is None:
            continue
        ident = world.identity(company.key)
        data: dict[str, Any] = {
            "name": company.name,
            "uscc": company.uscc,
            "industry": {"code": ident.industry_code},
            "established_on": ident.established_on.isoformat(),
        }
        if ident.registered_capital:
            data["registered_capital"] = {"amount": str(ident.registered_capital), "currency": "CNY"}
        accounts, transactions, loans = [], [], []
        for sv in lc.savings:
            net = sum((t.amount if t.entry == "CREDIT" else -t.amount) for t in sv.transactions if not t.reversed)
            accounts.append(
                {
                    "connector": connector,
                    "source_id": str(sv.id),
                    "client_source_id": lc.source_id,
                    "account_no": sv.account_no,
                    "currency": sv.currency,
                    "balance_minor": _minor(sv.opening_balance + net),
                    "sub_status": SUB_STATUS.get(sv.sub_status, "other"),
                    "allow_overdraft": sv.allow_overdraft,
                    "overdraft_limit_minor": _minor(sv.overdraft_limit) if sv.overdraft_limit else None,
                    "data": {"opened_on": sv.activated_on.isoformat()},
                    "content_hash": "h",
                    "updated_at": NOW,
                }
            )
            for t in sv.transactions:
                transactions.append(
                    {
                        "connector": connector,
                        "source_id": f"{sv.id}:{t.id}",
                        "account_source_id": str(sv.id),
                        "client_source_id": lc.source_id,
                        "booking_date": t.booking_date,
                        "value_date": t.value_date,
                        "amount_minor": _minor(t.amount),
                        "currency": t.currency,
                        "direction": "credit" if t.entry == "CREDIT" else "debit",
                        "kind": "deposit"
                        if t.is_cash and t.entry == "CREDIT"
                        else "withdrawal"
                        if t.is_cash
                        else "transfer",
                        "is_cash": t.is_cash,
                        "cross_border": False,
                        "counterparty_account": t.counterparty_account,
                        "counterparty_name": t.counterparty_name,
                        "reversed": t.reversed,
                        "is_manual": t.is_manual,
                        "content_hash": "h",
                    }
                )
        for ln in lc.loans:
            loans.append(
                {
                    "connector": connector,
                    "source_id": str(ln.id),
                    "client_source_id": lc.source_id,
                    "currency": ln.currency,
                    "principal_minor": _minor(ln.principal),
                    "outstanding_minor": _minor(ln.principal),
                    "days_past_due": ln.past_due_days,
                    "classification": LoanClass.floor_for_dpd(ln.past_due_days).value,
                    "status": "active",
                    "data": {},
                    "content_hash": "h",
                    "updated_at": NOW,
                }
            )
        with store.begin() as s:
            g = GoldenClient(
                uscc=company.uscc,
                name=company.name,
                data=data,
                needs_merge=False,
                needs_risk=True,
                needs_plan=False,
                created_at=NOW,
                updated_at=NOW,
            )
            src = SourceRecord(
                connector=connector,
                stream="clients",
                source_id=lc.source_id,
                kind="client",
                raw={},
                data={"name": lc.fullname},
                content_hash="h",
                first_seen_at=NOW,
                last_seen_at=NOW,
                deleted=False,
                dirty=False,
            )
            s.add_all([g, src])
            s.flush()
            s.add(Xref(source_record_id=src.id, client_id=g.id, method="uscc", linked_at=NOW))
            for table, rows in (
                (LedgerAccount, accounts),
                (LedgerTransaction, transactions),
                (CreditFacilityRow, loans),
            ):
                if rows:
                    s.execute(insert(table), rows)
            truth[g.id] = (company.uscc, company.profile, company.expected_alerts)
    return truth


@dataclass
class Scorecard:
    """Alerts against the ground truth."""

    planted: Counter[str] = field(default_factory=Counter)
    caught: Counter[str] = field(default_factory=Counter)
    missed: list[tuple[int, str, str]] = field(default_factory=list)
    extra: list[tuple[int, str, str]] = field(default_factory=list)
    healthy: int = 0
    healthy_alerted: int = 0

    @property
    def false_positive_rate(self) -> float:
        """Share of clients planted with nothing (healthy, overdraft, past due) that raised any alert."""
        return self.healthy_alerted / self.healthy if self.healthy else 0.0


def score_alerts(store: Store, truth: dict[int, tuple[str, str, tuple[str, ...]]]) -> Scorecard:
    """Compare raised alert kinds per client with what the world planted."""
    with store.begin() as s:
        raised: dict[int, set[str]] = {}
        for cid, kind in s.execute(select(Alert.client_id, Alert.kind)):
            raised.setdefault(cid, set()).add(kind)
    card = Scorecard()
    for cid, (_, profile, expected) in truth.items():
        got = raised.get(cid, set())
        if not expected:
            card.healthy += 1
            card.healthy_alerted += bool(got)
        for kind in expected:
            card.planted[kind] += 1
            if kind in got:
                card.caught[kind] += 1
            else:
                card.missed.append((cid, profile, kind))
        card.extra += [(cid, profile, k) for k in sorted(got - set(expected))]
    return card
