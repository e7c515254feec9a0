"""A small, independent reference implementation of domain.md §7-8's alert rules, used to check the world's
planted behaviour. Deliberately written from the rule text, not from the generator, so a generator bug that plants
the wrong shape fails the tests. It is stricter than the spec where the spec is ambiguous (two-sided cash sums,
same-day outflows counted for pass-through) so "healthy raises nothing" holds under any sane reading.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

from crmhub.sandbox.worldtypes import LedgerClientView, TransactionView

TRANSFER = Decimal(2_000_000)
CASH = Decimal(50_000)
PASS_MIN_INFLOW = Decimal(500_000)
FAN_K = 10
FAN_DAYS = 3


def _live(client: LedgerClientView, currency: str = "CNY") -> list[TransactionView]:
    return [t for s in client.savings if s.currency == currency for t in s.transactions if not t.reversed]


def large_value(client: LedgerClientView, *, two_sided_cash: bool = False) -> bool:
    """0502 (Σ non-cash credits or debits per day ≥ 2,000,000) or 0501 (Σ cash per day ≥ 50,000)."""
    sums: dict[tuple[date, str, bool], Decimal] = defaultdict(Decimal)
    for t in _live(client):
        entry = "ANY" if t.is_cash and two_sided_cash else t.entry
        sums[(t.value_date, entry, t.is_cash)] += t.amount
    return any(v >= (CASH if cash else TRANSFER) for (_, _, cash), v in sums.items())


def structuring(client: LedgerClientView) -> bool:
    """≥ 3 transactions within 5 days, each in [90 %, 100 %) of a threshold (transfer or cash)."""
    for cash, threshold in ((False, TRANSFER), (True, CASH)):
        days = sorted(
            t.value_date
            for t in _live(client)
            if t.is_cash == cash and threshold * Decimal("0.9") <= t.amount < threshold
        )
        for i in range(len(days) - 2):
            if days[i + 2] - days[i] <= timedelta(days=4):
                return True
    return False


def pass_through(client: LedgerClientView, *, share: Decimal = Decimal("0.9")) -> bool:
    """A day with ≥ 500,000 inflow followed (same day to +3 days) by outflows ≥ ``share`` of it."""
    credits: dict[date, Decimal] = defaultdict(Decimal)
    debits: dict[date, Decimal] = defaultdict(Decimal)
    for t in _live(client):
        (credits if t.entry == "CREDIT" else debits)[t.value_date] += t.amount
    for d, inflow in credits.items():
        if inflow < PASS_MIN_INFLOW:
            continue
        out = sum((debits.get(d + timedelta(days=i), Decimal(0)) for i in range(4)), Decimal(0))
        if out >= share * inflow:
            return True
    return False


def _fan(client: LedgerClientView, entry: str) -> bool:
    by_day: dict[date, set[str]] = defaultdict(set)
    for t in _live(client):
        if t.entry == entry and t.counterparty_name:
            by_day[t.value_date].add(t.counterparty_name)
    for d in by_day:
        seen: set[str] = set()
        for i in range(FAN_DAYS):
            seen |= by_day.get(d + timedelta(days=i), set())
        if len(seen) >= FAN_K:
            return True
    return False


def fan_in(client: LedgerClientView) -> bool:
    """≥ 10 distinct paying counterparties within 3 days."""
    return _fan(client, "CREDIT")


def fan_out(client: LedgerClientView) -> bool:
    """≥ 10 distinct receiving counterparties within 3 days."""
    return _fan(client, "DEBIT")


def dormant_reactivation(client: LedgerClientView, today: date) -> bool:
    """An account DORMANT (200) or silent ≥ 180 days, then ≥ 300,000 moved in the last 30 days."""
    for s in client.savings:
        txs = sorted((t for t in s.transactions if not t.reversed), key=lambda t: t.value_date)
        recent = [t for t in txs if t.value_date >= today - timedelta(days=30)]
        if sum((t.amount for t in recent), Decimal(0)) < 300_000:
            continue
        before = [t.value_date for t in txs if t.value_date < today - timedelta(days=30)]
        last = before[-1] if before else s.activated_on
        if s.sub_status == 200 or (recent[0].value_date - last).days >= 180:
            return True
    return False


def alerts(client: LedgerClientView, today: date) -> set[str]:
    """Every rule that fires on ``client``."""
    found = set()
    if large_value(client):
        found.add("large_value")
    if structuring(client):
        found.add("structuring")
    if pass_through(client):
        found.add("pass_through")
    if fan_in(client):
        found.add("fan_in")
    if fan_out(client):
        found.add("fan_out")
    if dormant_reactivation(client, today):
        found.add("dormant_reactivation")
    return found
