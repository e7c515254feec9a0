"""Ledger behaviour for the synthetic world: each client's accounts, ~120 days of transactions, and loans.

Every client gets *background* flows shaped like a normal business — customer receipts, supplier payments,
payroll (代发工资), social insurance, housing fund, tax, rent, utilities, bank fees, petty cash — bounded so that a
sane rule set raises nothing on them:

- one client's CNY credits (and debits) per day stay below `HEALTHY_DAILY_CAP` (450,000, below the 500,000 a
  pass-through needs as inflow and far below the 2,000,000 large-value threshold), single transfers below
  400,000 (far from the 1,800,000 structuring band), cash per day below 30,000 (below the 45,000 cash band);
- at most 9 distinct payers and 9 distinct payees in any 3 days, whatever the account or currency (fan rules
  need `FAN_MIN_COUNTERPARTIES` = 10 in `FAN_WINDOW_DAYS` = 3), enforced when each flow is booked;
- every account moves at least monthly (no dormancy).

A behaviour *profile* then plants one pattern per client, and blocks background flows around it (a "quiet
window") so the pattern raises its own alert and no other; see `crmhub.sandbox.ledger_patterns`. The booking
primitives (budgets, quiet windows, counterparties) are in `crmhub.sandbox.ledger_book`. The thresholds are
domain.md §7-8's defaults (illustrative, PBOC 〔2016〕3号 for the large-value ones); the constants re-exported here
are what the tests check against.

Amounts are kept as integer fen (cents) until the views are built; the opening balance is solved last, so the
running balance never drops below the profile's floor (zero, or into an overdraft for ``overdraft`` clients).
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from crmhub.sandbox.geo import City
from crmhub.sandbox.ids import TRANSACTIONS_PER_CLIENT, IdCodec
from crmhub.sandbox.ledger_book import (
    DORMANT_DAYS,
    FAN_MIN_COUNTERPARTIES,
    FAN_WINDOW_DAYS,
    HEALTHY_CASH_CAP,
    HEALTHY_DAILY_CAP,
    HEALTHY_SINGLE_CAP,
    LARGE_CASH,
    LARGE_TRANSFER,
    OUR_BANK,
    PASS_THROUGH_MIN_INFLOW,
    PASS_THROUGH_SHARE,
    REACTIVATION_DAYS,
    STRUCTURING_LOW,
    WINDOW_DAYS,
    Book,
    Counterparty,
    Entry,
    account_at,
    amount,
    counterparty_company,
    round_to,
)
from crmhub.sandbox.ledger_patterns import PLANTERS, plant_dormant
from crmhub.sandbox.worldtypes import LoanView, SavingsView, TransactionView

__all__ = [
    "DORMANT_DAYS",
    "FAN_MIN_COUNTERPARTIES",
    "FAN_WINDOW_DAYS",
    "HEALTHY_CASH_CAP",
    "HEALTHY_DAILY_CAP",
    "HEALTHY_SINGLE_CAP",
    "LARGE_CASH",
    "LARGE_TRANSFER",
    "PASS_THROUGH_MIN_INFLOW",
    "PASS_THROUGH_SHARE",
    "PAST_DUE_DAYS",
    "REACTIVATION_DAYS",
    "STRUCTURING_LOW",
    "WINDOW_DAYS",
    "LedgerDetail",
    "LedgerInputs",
    "build_ledger",
]


@dataclass(slots=True)
class LedgerInputs:
    """What the ledger generator needs to know about the company."""

    key: int
    profile: str
    city: City
    district: str
    trade_code: str
    annual_revenue: int
    employees: int
    established_on: date
    activation_date: date
    name: str


@dataclass(slots=True)
class LedgerDetail:
    """The generated accounts and loans."""

    savings: list[SavingsView]
    loans: list[LoanView]
    facts: dict[str, object] = field(default_factory=dict)


@functools.lru_cache(maxsize=64)
def _month_days(month: date) -> list[date]:
    """The 1st … 31st day counted from ``month`` (days past the month's end spill into the next, as booking does)."""
    return [month + timedelta(days=i) for i in range(31)]


def _dec(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2)


def _background(book: Book, rng: random.Random, inp: LedgerInputs, monthly: int, *, slot: int = 0) -> None:
    """A normal business's flows into and out of its basic account."""
    city = inp.city
    customers = [counterparty_company(rng) for _ in range(min(8, 2 + monthly // 1_000_000_00 + rng.randrange(3)))]
    suppliers = [counterparty_company(rng) for _ in range(min(5, 1 + monthly // 1_500_000_00 + rng.randrange(2)))]
    tax = Counterparty(f"国家税务总局{city.name}{inp.district}税务局", *account_at(rng, city))
    social = Counterparty(f"{city.name}社会保险基金管理中心", *account_at(rng, city))
    housing = Counterparty(f"{city.name}住房公积金管理中心", *account_at(rng, city))
    payroll_cp = Counterparty("代发工资", f"{rng.randrange(10**11, 10**12)}", OUR_BANK)
    landlord = counterparty_company(rng, city) if rng.random() < 0.5 else None
    utility = Counterparty(f"国网{city.short}供电公司", *account_at(rng, city))
    retail = inp.trade_code[:1] in ("F", "H", "O") or inp.trade_code == "C14"
    salary = rng.uniform(5_000_00, 16_000_00)
    first = book.start
    month = date(first.year, first.month, 1)
    while month < book.end:
        nxt = date(month.year + (month.month == 12), month.month % 12 + 1, 1)
        days = _month_days(month)

        def day_in(lo: int, hi: int, days: list[date] = days) -> date:
            return days[lo - 1 + int(rng.random() * (hi - lo + 1))]

        n_in = max(len(customers) * rng.randrange(1, 4) // 2 + 1, min(3 * len(customers), monthly // 250_000_00))
        for _ in range(n_in):
            book.background(
                day_in(1, 28),
                amount(rng, monthly / n_in, cap=HEALTHY_SINGLE_CAP),
                True,
                rng.choice(customers),
                slot=slot,
            )
        payroll = int(min(inp.employees * salary, 0.3 * monthly, 380_000_00))
        book.background(day_in(10, 10) if rng.random() < 0.5 else day_in(15, 15), payroll, False, payroll_cp, slot=slot)
        book.background(day_in(16, 20), int(payroll * 0.3), False, social, slot=slot)
        book.background(day_in(16, 20), int(payroll * 0.2), False, housing, slot=slot)
        book.background(day_in(11, 15), amount(rng, 0.04 * monthly, cap=HEALTHY_SINGLE_CAP), False, tax, slot=slot)
        if landlord is not None:
            book.background(day_in(1, 5), int(0.05 * monthly) // 100_00 * 100_00, False, landlord, slot=slot)
        book.background(day_in(21, 25), amount(rng, 0.01 * monthly, cap=HEALTHY_SINGLE_CAP), False, utility, slot=slot)
        spent = payroll * 1.5 + 0.1 * monthly
        rest = max(0.0, monthly * rng.uniform(0.9, 1.0) - spent)
        n_out = max(1, min(3 * len(suppliers), int(rest // 250_000_00) + rng.randrange(1, 3)))
        for _ in range(n_out):
            book.background(
                day_in(1, 28),
                amount(rng, rest / n_out, cap=HEALTHY_SINGLE_CAP),
                False,
                rng.choice(suppliers),
                slot=slot,
            )
        for _ in range(rng.randrange(0, 3)):
            book.background(day_in(1, 28), rng.randrange(20, 300) * 100_00, False, None, cash=True, slot=slot)
        if retail:
            for _ in range(rng.randrange(1, 5)):
                book.background(
                    day_in(1, 28),
                    rng.randrange(50, 280) * 100_00 + rng.randrange(100) * 100,
                    True,
                    None,
                    cash=True,
                    slot=slot,
                )
        fee_day = nxt - timedelta(days=1)
        while fee_day.weekday() >= 5:
            fee_day -= timedelta(days=1)
        if fee_day >= book.start:
            book.background(fee_day, rng.randrange(10_00, 200_00), False, None, slot=slot, tries=1)
        month = nxt


PAST_DUE_DAYS = (30, 120, 400)
"""DPD planted on ``past_due`` clients: 关注 (≤ 90) and D under the default definition (> 90, or 次级 and worse)."""


def _loan(
    rng: random.Random, codec: IdCodec, inp: LedgerInputs, slot: int, today: date, dpd: int, monthly: int
) -> tuple[LoanView, list[tuple[date, int]]]:
    """A monthly-amortising loan and its repayment dates/amounts that fall in the window."""
    n = rng.choice((12, 24, 36, 60))
    cap = min(inp.annual_revenue // 2 * 100, n * 250_000_00, max(monthly, 50_000_00) * n // 3)
    principal = round_to(max(200_000_00, int(cap * rng.uniform(0.3, 1.0))), 10_000_00)
    # disbursed so that the loan is running today (or went overdue while running)
    elapsed = rng.randrange(max(2, dpd // 30 + 2), max(dpd // 30 + 3, n))
    disbursed = today - timedelta(days=elapsed * 30 + rng.randrange(0, 28))
    rate = Decimal(rng.choice(("3.10", "3.45", "3.65", "3.85", "4.20", "4.35", "4.75", "5.20", "5.60", "6.15")))
    inst = principal // n
    repayments: list[tuple[date, int]] = []
    overdue_since = today - timedelta(days=dpd) if dpd else None
    missed = 0
    for m in range(1, n + 1):
        due = disbursed + timedelta(days=30 * m)
        if due >= today:
            break
        if overdue_since is not None and due >= overdue_since:
            missed += 1
            continue
        interest = int(principal * (1 - (m - 1) / n) * float(rate) / 100 / 12)
        repayments.append((due, inst + interest))
    loan_id = codec.loan_id(inp.key, slot)
    view = LoanView(
        id=loan_id,
        account_no=f"{loan_id:09d}",
        product_name=rng.choice(("流动资金贷款", "固定资产贷款", "科技型企业信用贷款", "小微企业经营贷款")),
        principal=_dec(principal),
        currency="CNY",
        annual_interest_rate=rate,
        disbursed_on=disbursed,
        number_of_repayments=n,
        past_due_days=dpd,
        overdue_since=overdue_since,
        principal_overdue=_dec(min(principal, max(missed, 1 if dpd else 0) * inst)),
        external_id=f"JK{disbursed:%Y%m%d}{loan_id:08d}" if rng.random() < 0.5 else None,
    )
    return view, repayments


def _monthly_turnover(rng: random.Random, inp: LedgerInputs) -> int:
    """Monthly credits through this bank (fen): the revenue's share banked here, bounded for the caps above."""
    share = rng.uniform(0.15, 0.7)
    return int(min(max(inp.annual_revenue / 12 * share, 30_000), 6_000_000)) * 100


def build_ledger(
    rng: random.Random, codec: IdCodec, inp: LedgerInputs, today: date, *, loans_only: bool = False
) -> LedgerDetail:
    """Accounts, transactions and loans for one ledger client under its profile.

    ``loans_only`` stops once the loans are drawn (they come before any account or transaction is), so the loans
    are the same as in the full build at a fraction of its cost and memory."""
    start = today - timedelta(days=WINDOW_DAYS)
    book = Book(rng, start, today)
    facts: dict[str, object] = {}
    profile = inp.profile
    monthly = _monthly_turnover(rng, inp)
    old: list[Entry] = []
    if profile == "pass_through":
        monthly = rng.randrange(50_000, 300_000) * 100
    if profile in PLANTERS:
        PLANTERS[profile](book, rng, facts)
    if profile == "dormant_reactivation":
        old = plant_dormant(book, rng, today, facts)

    # loans only where no pattern is planted: repayments are fixed-date debits that ignore quiet windows
    loans: list[LoanView] = []
    if profile in ("healthy", "overdraft", "past_due"):
        dpds = [rng.choice(PAST_DUE_DAYS)] if profile == "past_due" else []
        if not dpds and rng.random() < 0.25:
            dpds = [0]
        if dpds and rng.random() < 0.2:
            dpds.append(0)
        for slot, dpd in enumerate(dpds):
            loan, repayments = _loan(rng, codec, inp, slot, today, dpd, monthly)
            loans.append(loan)
            cp = Counterparty("贷款还款", loan.account_no, OUR_BANK)
            for due, cents in repayments:
                if start <= due < today:
                    book.event(due, cents, False, cp)
            if dpd:
                facts["past_due_days"] = dpd
    if loans_only:
        return LedgerDetail([], loans, facts)
    if profile != "dormant_reactivation":
        _background(book, rng, inp, monthly)

    slots = [0]
    if profile not in ("dormant_reactivation",) and rng.random() < 0.3:
        slots.append(1)
        general_cps = [counterparty_company(rng) for _ in range(2)]
        for m in range(WINDOW_DAYS // 30):
            base = start + timedelta(days=30 * m)
            book.background(
                base + timedelta(days=rng.randrange(0, 28)),
                rng.randrange(5_000, 80_000) * 100,
                True,
                general_cps[0],
                slot=1,
            )
            book.background(
                base + timedelta(days=rng.randrange(0, 28)),
                rng.randrange(5_000, 60_000) * 100,
                False,
                general_cps[1],
                slot=1,
            )
    usd = profile == "healthy" and inp.trade_code[:1] in ("C", "F") and rng.random() < 0.1
    if usd:
        slots.append(2)
        buyers = [counterparty_company(rng) for _ in range(2)]
        for m in range(WINDOW_DAYS // 30):
            base = start + timedelta(days=30 * m)
            for _ in range(rng.randrange(1, 3)):
                book.background(
                    base + timedelta(days=rng.randrange(0, 28)),
                    rng.randrange(2_000, 60_000) * 100,
                    True,
                    rng.choice(buyers),
                    slot=2,
                    ccy="USD",
                )
            book.background(
                base + timedelta(days=rng.randrange(0, 28)),
                rng.randrange(1_000, 40_000) * 100,
                False,
                None,
                slot=2,
                ccy="USD",
            )

    overdraft_limit = round_to(max(100_000_00, monthly // 2), 10_000_00) if profile == "overdraft" else 0
    savings = _views(rng, codec, inp, book.entries + old, slots, today, overdraft_limit, profile, facts)
    return LedgerDetail(savings, loans, facts)


_PRODUCTS = {
    0: ("单位活期存款（基本存款账户）", "CNY"),
    1: ("单位活期存款（一般存款账户）", "CNY"),
    2: ("单位外币活期存款（美元）", "USD"),
}


def _views(
    rng: random.Random,
    codec: IdCodec,
    inp: LedgerInputs,
    entries: list[Entry],
    slots: list[int],
    today: date,
    overdraft_limit: int,
    profile: str,
    facts: dict[str, object],
) -> list[SavingsView]:
    """Order the entries, give them ids, solve each account's opening balance and build the views."""
    entries.sort(key=lambda e: (e.day, e.slot, not e.credit))
    per_slot: dict[int, list[TransactionView]] = {s: [] for s in slots}
    running: dict[int, int] = dict.fromkeys(slots, 0)
    lowest: dict[int, int] = dict.fromkeys(slots, 0)
    first_day: dict[int, date] = {}
    if len(entries) > TRANSACTIONS_PER_CLIENT:
        raise ValueError(f"client {inp.key}: {len(entries)} transactions exceed the id space")
    first_id = codec.transaction_id(inp.key, 0)
    next_day: dict[date, date] = {}
    for seq, e in enumerate(entries):
        slot = e.slot
        cp = e.cp
        booked = e.day
        if e.booked_late:
            booked = next_day.get(e.day) or next_day.setdefault(e.day, e.day + timedelta(days=1))
        per_slot[slot].append(
            TransactionView(
                first_id + seq,
                booked,
                e.day,
                Decimal(e.cents).scaleb(-2),
                _PRODUCTS[slot][1],
                "CREDIT" if e.credit else "DEBIT",
                1 if e.credit else 2,
                e.cash,
                (cp.account or None) if cp else None,
                cp.name if cp else None,
                cp.bank if cp else None,
                e.manual,
                e.reversed,
            )
        )
        first_day.setdefault(slot, e.day)
        if not e.reversed:
            running[slot] += e.cents if e.credit else -e.cents
            lowest[slot] = min(lowest[slot], running[slot])
    views: list[SavingsView] = []
    for slot in slots:
        floor = rng.randrange(2_000_00, 20_000_00)
        if slot == 0 and profile == "overdraft":
            frac = rng.uniform(1.05, 1.3) if rng.random() < 0.15 else rng.uniform(0.2, 0.9)
            facts["overdraft_beyond_limit"] = frac > 1
            opening = -lowest[slot] - int(frac * overdraft_limit)
        else:
            base = {
                "pass_through": rng.randrange(10_000_00, 60_000_00),
                "dormant_reactivation": rng.randrange(3_000_00, 80_000_00),
            }.get(profile, 0)
            opening = max(base, -lowest[slot] + floor)
        account_id = codec.savings_id(inp.key, slot)
        activated = min(
            inp.activation_date + timedelta(days=slot * rng.randrange(0, 400)),
            first_day.get(slot, today) - timedelta(days=1),
        )
        views.append(
            SavingsView(
                id=account_id,
                account_no=f"{account_id:09d}",
                currency=_PRODUCTS[slot][1],
                opening_balance=_dec(opening),
                sub_status=(200 if profile == "dormant_reactivation" and rng.random() < 0.5 else 0) if slot == 0 else 0,
                allow_overdraft=slot == 0 and profile == "overdraft",
                overdraft_limit=_dec(overdraft_limit) if slot == 0 and profile == "overdraft" else None,
                activated_on=max(activated, inp.activation_date),
                product_name=_PRODUCTS[slot][0],
                transactions=per_slot[slot],
            )
        )
    return views
