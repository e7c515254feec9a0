"""Behaviour patterns planted on ledger clients: each function books one profile's transactions as events and
reserves quiet windows around them, so the pattern raises its own alert (domain.md §7-8) and no other.

- ``large_value``: one credit of 2-12 M, or 2-4 same-day credits of 0.5-1.5 M summing ≥ 2.05 M, or one debit
  of 2-6 M; 35 % also a cash deposit of 60,000-300,000.
- ``structuring``: 3-4 transfers on distinct days within 5 days, each 1.85-1.99 M, from or to one or two
  counterparties; 20 % make cash deposits of 45,001-49,900 instead.
- ``pass_through``: 2-3 episodes of a 0.6-1.7 M credit followed by 92-99 % of it out within 1-3 days.
- ``fan_in`` / ``fan_out``: 15-30 distinct counterparties within 2 days (10,000-60,000 each); at most 30 % moves
  on within 72 h (so it is not also a pass-through).
- ``dormant_reactivation``: activity ≥ 215 days ago, silence, then 2-4 credits of 150,000-900,000 and, a week
  later, debits of 30-70 % of them, all in the last 30 days.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date, timedelta

from crmhub.sandbox.ledger_book import (
    DORMANT_DAYS,
    REACTIVATION_DAYS,
    Book,
    Entry,
    business_day,
    counterparty_company,
    round_to,
    window_day,
)


def _plant_large_value(book: Book, rng: random.Random, facts: dict[str, object]) -> None:
    d = window_day(rng, book, 10, 100)
    variant = rng.choices(("single_credit", "same_day_credits", "single_debit"), weights=(4, 3, 3))[0]
    facts["large_value_variant"] = variant
    if variant == "single_credit":
        book.quiet_window(d, d, credit=True)
        book.event(d, round_to(rng.randrange(2_000_000_00, 12_000_000_00), 10_000_00), True, counterparty_company(rng))
    elif variant == "same_day_credits":
        book.quiet_window(d, d, credit=True)
        amounts: list[int] = []
        while sum(amounts) < 2_050_000_00:
            amounts = [round_to(rng.randrange(500_000_00, 1_500_000_00), 1_000_00) for _ in range(rng.randrange(2, 5))]
        for cents in amounts:
            book.event(d, cents, True, counterparty_company(rng))
    else:
        book.quiet_window(d - timedelta(days=3), d, credit=True)
        book.event(d, round_to(rng.randrange(2_000_000_00, 6_000_000_00), 1_000_00), False, counterparty_company(rng))
    if rng.random() < 0.35:
        c = window_day(rng, book, 5, 110)
        book.quiet_window(c, c, credit=True)
        book.event(c, rng.randrange(600, 3000) * 100_00, True, None, cash=True)
        facts["large_cash"] = True
    facts["large_value_day"] = d


def _plant_structuring(book: Book, rng: random.Random, facts: dict[str, object]) -> None:
    d = window_day(rng, book, 10, 100)
    n = rng.randrange(3, 5)
    offsets = sorted(rng.sample(range(5), n))
    days = [d + timedelta(days=o) for o in offsets]
    if rng.random() < 0.2:
        facts["structuring_variant"] = "cash"
        for day in days:
            book.quiet_window(day, day, credit=True)
            book.quiet_window(day, day, credit=False)
            book.event(day, rng.randrange(451, 500) * 100_00 - rng.randrange(0, 100) * 100, True, None, cash=True)
        return
    credit = rng.random() < 0.65
    facts["structuring_variant"] = "credit" if credit else "debit"
    cps = [counterparty_company(rng) for _ in range(rng.randrange(1, 3))]
    book.quiet_window(days[0] - timedelta(days=0 if credit else 3), days[-1], credit=credit)
    book.quiet_window(days[0] - timedelta(days=3), days[-1], credit=True)
    for day in days:
        book.event(day, rng.randrange(185, 200) * 10_000_00, credit, rng.choice(cps))


def _plant_pass_through(book: Book, rng: random.Random, facts: dict[str, object]) -> None:
    episodes = rng.randrange(2, 4)
    lo = 5
    for _ in range(episodes):
        d = window_day(rng, book, lo, lo + 20)
        if d + timedelta(days=5) >= book.end:
            break
        inflow = round_to(rng.randrange(600_000_00, 1_700_000_00), 1_000_00)
        book.quiet_window(d - timedelta(days=1), d + timedelta(days=3), credit=True)
        book.quiet_window(d, d + timedelta(days=3), credit=False)
        book.event(d, inflow, True, counterparty_company(rng))
        out = int(inflow * rng.uniform(0.92, 0.99))
        parts = rng.randrange(1, 4)
        cps = [counterparty_company(rng) for _ in range(rng.randrange(1, 3))]
        for i in range(parts):
            cents = out // parts if i < parts - 1 else out - (out // parts) * (parts - 1)
            book.event(d + timedelta(days=1 + i), cents, False, rng.choice(cps))
        lo = (d - book.start).days + 12
    facts["pass_through_episodes"] = episodes


def _fan(book: Book, rng: random.Random, d: date, credit: bool) -> int:
    """15-30 distinct counterparties on days d and d+1; returns the total (fen)."""
    n = rng.randrange(15, 31)
    total = 0
    for i in range(n):
        cents = rng.randrange(10_000_00, 60_000_00) // 100 * 100
        book.event(d + timedelta(days=i % 2), cents, credit, counterparty_company(rng))
        total += cents
    return total


def _plant_fan_in(book: Book, rng: random.Random, facts: dict[str, object]) -> None:
    d = window_day(rng, book, 10, 90)
    book.quiet_window(d - timedelta(days=3), d + timedelta(days=4), credit=True)
    book.quiet_window(d, d + timedelta(days=5), credit=False)
    total = _fan(book, rng, d, True)
    collector = counterparty_company(rng)
    first = int(total * rng.uniform(0.2, 0.3))
    book.event(d + timedelta(days=2), first, False, collector)
    book.event(
        d + timedelta(days=rng.randrange(7, 12)), int((total - first) * rng.uniform(0.7, 0.95)), False, collector
    )
    facts["fan_day"] = d


def _plant_fan_out(book: Book, rng: random.Random, facts: dict[str, object]) -> None:
    d = window_day(rng, book, 15, 90)
    funding = d - timedelta(days=rng.randrange(7, 12))
    inflow = round_to(rng.randrange(800_000_00, 1_800_000_00), 1_000_00)
    book.quiet_window(funding - timedelta(days=1), funding, credit=True)
    book.quiet_window(funding, funding + timedelta(days=3), credit=False)
    book.quiet_window(d - timedelta(days=3), d + timedelta(days=4), credit=False)
    book.event(funding, min(inflow, 1_790_000_00), True, counterparty_company(rng))
    _fan(book, rng, d, False)
    facts["fan_day"] = d


def plant_dormant(book: Book, rng: random.Random, today: date, facts: dict[str, object]) -> list[Entry]:
    """Old activity before the window, silence, then a burst in the last 30 days. Returns the old entries."""
    old: list[Entry] = []
    last_old = today - timedelta(days=rng.randrange(DORMANT_DAYS + REACTIVATION_DAYS + 5, 500))
    for i in range(rng.randrange(1, 4)):
        old.append(
            Entry(
                business_day(last_old - timedelta(days=40 * i)),
                rng.randrange(1_000_00, 50_000_00),
                rng.random() < 0.5,
                cp=counterparty_company(rng),
                event=True,
            )
        )
    first = business_day(today - timedelta(days=rng.randrange(22, 29)))
    credits = [round_to(rng.randrange(150_000_00, 900_000_00), 1_000_00) for _ in range(rng.randrange(2, 5))]
    for i, cents in enumerate(credits):
        book.event(first + timedelta(days=i % 3), cents, True, counterparty_company(rng))
    out_day = first + timedelta(days=7)
    cps = [counterparty_company(rng) for _ in range(rng.randrange(2, 6))]
    budget = int(sum(credits) * rng.uniform(0.3, 0.7))
    n = rng.randrange(2, 7)
    for i in range(n):
        d = out_day + timedelta(days=i * 2)
        if d >= today:
            break
        book.event(d, budget // n, False, rng.choice(cps))
    facts["dormant_last_activity"] = max(e.day for e in old)
    facts["reactivated_on"] = first
    return old


PLANTERS: dict[str, Callable[[Book, random.Random, dict[str, object]], None]] = {
    "large_value": _plant_large_value,
    "structuring": _plant_structuring,
    "pass_through": _plant_pass_through,
    "fan_in": _plant_fan_in,
    "fan_out": _plant_fan_out,
}
