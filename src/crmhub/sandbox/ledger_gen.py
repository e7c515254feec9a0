"""Ledger behaviour for the synthetic world: each client's accounts, ~120 days of transactions, and loans.

Every client gets *background* flows shaped like a normal business — customer receipts, supplier payments,
payroll (代发工资), social insurance, housing fund, tax, rent, utilities, bank fees, petty cash — bounded so that a
sane rule set raises nothing on them:

- one client's CNY credits (and debits) per day stay below `HEALTHY_DAILY_CAP` (450,000, below the 500,000 a
  pass-through needs as inflow and far below the 2,000,000 large-value threshold), single transfers below
  400,000 (far from the 1,800,000 structuring band), cash per day below 30,000 (below the 45,000 cash band);
- at most 8 distinct payers over the whole period and at most 9 distinct payees in any 3 days (fan rules need
  `FAN_MIN_COUNTERPARTIES` = 10 in `FAN_WINDOW_DAYS` = 3);
- every account moves at least monthly (no dormancy).

A behaviour *profile* then plants one pattern per client, and blocks background flows around it (a "quiet
window") so the pattern raises its own alert and no other. The thresholds are domain.md §7-8's defaults
(illustrative, PBOC 〔2016〕3号 for the large-value ones); the constants below are what the tests check against.

Amounts are kept as integer fen (cents) until the views are built; the opening balance is solved last, so the
running balance never drops below the profile's floor (zero, or into an overdraft for ``overdraft`` clients).
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from crmhub.sandbox.geo import CITIES, CITY_WEIGHTS, City
from crmhub.sandbox.ids import TRANSACTIONS_PER_CLIENT, IdCodec
from crmhub.sandbox.names_gen import ENTERPRISE_FORMS, TRADE_WEIGHTS, TRADES, NameParts, region_prefix, zihao
from crmhub.sandbox.worldtypes import LoanView, SavingsView, TransactionView

WINDOW_DAYS = 120
LARGE_TRANSFER = 2_000_000_00
"""0502: corporate transfers per customer per day, each direction summed separately (fen)."""
LARGE_CASH = 50_000_00
"""0501: cash per customer per day (fen)."""
STRUCTURING_LOW = 0.9
"""Structuring: each amount in [90 %, 100 %) of a threshold, ≥ 3 within 5 days."""
PASS_THROUGH_MIN_INFLOW = 500_000_00
PASS_THROUGH_SHARE = 0.9
FAN_MIN_COUNTERPARTIES = 10
FAN_WINDOW_DAYS = 3
DORMANT_DAYS = 180
REACTIVATION_DAYS = 30
HEALTHY_DAILY_CAP = 450_000_00
HEALTHY_SINGLE_CAP = 400_000_00
HEALTHY_CASH_CAP = 30_000_00
USD_DAILY_CAP = 100_000_00

BANKS: tuple[tuple[str, int], ...] = (
    ("中国工商银行", 19), ("中国农业银行", 19), ("中国银行", 12), ("中国建设银行", 20), ("交通银行", 21),
    ("招商银行", 15), ("上海浦东发展银行", 18), ("中信银行", 19), ("兴业银行", 18), ("中国民生银行", 10),
    ("平安银行", 14), ("中国光大银行", 16), ("华夏银行", 14), ("广发银行", 19), ("北京银行", 20),
    ("上海银行", 11), ("宁波银行", 14), ("江苏银行", 17),
)
"""Counterparty banks and a plausible corporate account-number length for each (lengths illustrative)."""

OUR_BANK = "本行"


@dataclass(frozen=True, slots=True)
class Counterparty:
    """The other side of a transfer."""

    name: str
    account: str
    bank: str


@dataclass(slots=True)
class _Entry:
    day: date
    cents: int
    credit: bool
    slot: int = 0
    cash: bool = False
    cp: Counterparty | None = None
    manual: bool = False
    reversed: bool = False
    booked_late: bool = False
    event: bool = False


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


def _weekday(d: date) -> date:
    while d.weekday() >= 5:
        d += timedelta(days=1)
    return d


def _dec(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2)


_CITY_CUM = tuple(itertools.accumulate(CITY_WEIGHTS))
_TRADE_CUM = tuple(itertools.accumulate(TRADE_WEIGHTS))
_FORMS = tuple(f for f, _ in ENTERPRISE_FORMS)
_FORM_CUM = tuple(itertools.accumulate(w for _, w in ENTERPRISE_FORMS))


def counterparty_company(rng: random.Random, city: City | None = None) -> Counterparty:
    """A company somewhere in China with an account at some bank (never a world client)."""
    city = city or rng.choices(CITIES, cum_weights=_CITY_CUM)[0]
    trade = rng.choices(TRADES, cum_weights=_TRADE_CUM)[0]
    form = rng.choices(_FORMS, cum_weights=_FORM_CUM)[0]
    name = NameParts(region_prefix(rng, city), zihao(rng)[0], rng.choice(trade.words), form).render()
    return Counterparty(name, *_account_at(rng, city))


def _account_at(rng: random.Random, city: City) -> tuple[str, str]:
    bank, length = rng.choice(BANKS)
    district = rng.choice(city.districts).name.rstrip("区市")
    account = str(rng.randrange(10 ** (length - 1), 10**length))
    branch = f"{bank}{city.short}{district}支行" if district and district != city.short else f"{bank}{city.short}分行"
    return account, branch


class _Book:
    """Collects one client's entries with per-day budgets and quiet windows."""

    def __init__(self, rng: random.Random, start: date, end: date) -> None:
        self.rng = rng
        self.start = start
        self.end = end  # exclusive (today)
        self.entries: list[_Entry] = []
        self.sums: dict[tuple[date, bool, bool, str], int] = {}
        self.quiet: set[tuple[date, bool]] = set()
        # date → the next business day on or after it, for every date the window can ask about
        self.business: dict[date, date] = {}
        d = start - timedelta(days=7)
        while d < end + timedelta(days=7):
            self.business[d] = _weekday(d)
            d += timedelta(days=1)

    def quiet_window(self, first: date, last: date, *, credit: bool) -> None:
        d = first
        while d <= last:
            self.quiet.add((d, credit))
            d += timedelta(days=1)

    def event(self, day: date, cents: int, credit: bool, cp: Counterparty | None, *, cash: bool = False,
              slot: int = 0) -> None:
        """A planted pattern's transaction: always booked, never reversed, never manual."""
        self.entries.append(_Entry(day, cents, credit, slot, cash, cp, event=True))
        self._count(day, cents, credit, cash, "CNY")

    def _count(self, day: date, cents: int, credit: bool, cash: bool, ccy: str) -> None:
        k = (day, credit, cash, ccy)
        self.sums[k] = self.sums.get(k, 0) + cents

    def background(self, day: date, cents: int, credit: bool, cp: Counterparty | None, *, cash: bool = False,
                   slot: int = 0, ccy: str = "CNY", tries: int = 4) -> bool:
        """Book a normal flow on ``day`` or one of the next business days that has budget left."""
        if cents <= 0:
            return False
        cap = USD_DAILY_CAP if ccy != "CNY" else (HEALTHY_CASH_CAP if cash else HEALTHY_DAILY_CAP)
        d = day
        business = self.business
        for _ in range(tries):
            d = business.get(d) or _weekday(d)
            if d >= self.end:
                return False
            used = self.sums.get((d, credit, cash, ccy), 0)
            if cash:  # cash is capped over both directions, so even a two-sided sum stays below 50,000
                used += self.sums.get((d, not credit, True, ccy), 0)
            if (d, credit) not in self.quiet and used + cents < cap:
                if cash and self.sums.get((d, credit, False, ccy), 0) + cents >= HEALTHY_DAILY_CAP:
                    d += timedelta(days=1)
                    continue
                r = self.rng.random()
                e = _Entry(d, cents, credit, slot, cash, cp, manual=r < 0.02, booked_late=0.02 <= r < 0.05)
                if 0.05 <= r < 0.055 and used + 2 * cents < cap:
                    self.entries.append(_Entry(d, cents, credit, slot, cash, cp, reversed=True))
                    self._count(d, cents, credit, cash, ccy)
                self.entries.append(e)
                self._count(d, cents, credit, cash, ccy)
                return True
            d += timedelta(days=1)
        return False


def _amount(rng: random.Random, mean: float, *, cap: int, floor: int = 100_00) -> int:
    """A log-normal amount around ``mean`` fen, rounded like real invoices (to yuan, sometimes to 100)."""
    v = mean * math.exp(rng.gauss(0.0, 0.45))
    cents = max(floor, min(cap - 100, int(v)))
    return cents - cents % (10000 if rng.random() < 0.3 else 100)


def _background(book: _Book, rng: random.Random, inp: LedgerInputs, monthly: int, *, slot: int = 0) -> None:
    """A normal business's flows into and out of its basic account."""
    city = inp.city
    customers = [counterparty_company(rng) for _ in range(min(8, 2 + monthly // 1_000_000_00 + rng.randrange(3)))]
    suppliers = [counterparty_company(rng) for _ in range(min(5, 1 + monthly // 1_500_000_00 + rng.randrange(2)))]
    tax = Counterparty(f"国家税务总局{city.name}{inp.district}税务局", *_account_at(rng, city))
    social = Counterparty(f"{city.name}社会保险基金管理中心", *_account_at(rng, city))
    housing = Counterparty(f"{city.name}住房公积金管理中心", *_account_at(rng, city))
    payroll_cp = Counterparty("代发工资", f"{rng.randrange(10**11, 10**12)}", OUR_BANK)
    landlord = counterparty_company(rng, city) if rng.random() < 0.5 else None
    utility = Counterparty(f"国网{city.short}供电公司", *_account_at(rng, city))
    retail = inp.trade_code[:1] in ("F", "H", "O") or inp.trade_code == "C14"
    salary = rng.uniform(5_000_00, 16_000_00)
    first = book.start
    month = date(first.year, first.month, 1)
    while month < book.end:
        nxt = date(month.year + (month.month == 12), month.month % 12 + 1, 1)
        days = [month + timedelta(days=i) for i in range(31)]

        def day_in(lo: int, hi: int, days: list[date] = days) -> date:
            return days[lo - 1 + int(rng.random() * (hi - lo + 1))]
        n_in = max(len(customers) * rng.randrange(1, 4) // 2 + 1, min(3 * len(customers), monthly // 250_000_00))
        for _ in range(n_in):
            book.background(day_in(1, 28), _amount(rng, monthly / n_in, cap=HEALTHY_SINGLE_CAP), True,
                            rng.choice(customers), slot=slot)
        payroll = int(min(inp.employees * salary, 0.3 * monthly, 380_000_00))
        book.background(day_in(10, 10) if rng.random() < 0.5 else day_in(15, 15), payroll, False, payroll_cp,
                        slot=slot)
        book.background(day_in(16, 20), int(payroll * 0.3), False, social, slot=slot)
        book.background(day_in(16, 20), int(payroll * 0.2), False, housing, slot=slot)
        book.background(day_in(11, 15), _amount(rng, 0.04 * monthly, cap=HEALTHY_SINGLE_CAP), False, tax, slot=slot)
        if landlord is not None:
            book.background(day_in(1, 5), int(0.05 * monthly) // 100_00 * 100_00, False, landlord, slot=slot)
        book.background(day_in(21, 25), _amount(rng, 0.01 * monthly, cap=HEALTHY_SINGLE_CAP), False, utility,
                        slot=slot)
        spent = payroll * 1.5 + 0.1 * monthly
        rest = max(0.0, monthly * rng.uniform(0.9, 1.0) - spent)
        n_out = max(1, min(3 * len(suppliers), int(rest // 250_000_00) + rng.randrange(1, 3)))
        for _ in range(n_out):
            book.background(day_in(1, 28), _amount(rng, rest / n_out, cap=HEALTHY_SINGLE_CAP), False,
                            rng.choice(suppliers), slot=slot)
        for _ in range(rng.randrange(0, 3)):
            book.background(day_in(1, 28), rng.randrange(20, 300) * 100_00, False, None, cash=True, slot=slot)
        if retail:
            for _ in range(rng.randrange(1, 5)):
                book.background(day_in(1, 28), rng.randrange(50, 280) * 100_00 + rng.randrange(100) * 100, True,
                                None, cash=True, slot=slot)
        fee_day = nxt - timedelta(days=1)
        while fee_day.weekday() >= 5:
            fee_day -= timedelta(days=1)
        if fee_day >= book.start:
            book.background(fee_day, rng.randrange(10_00, 200_00), False, None, slot=slot, tries=1)
        month = nxt


def _day(rng: random.Random, book: _Book, lo: int, hi: int) -> date:
    """A business day between ``start + lo`` and ``start + hi`` days."""
    return _weekday(book.start + timedelta(days=rng.randrange(lo, hi)))


def _round_to(cents: int, unit: int) -> int:
    return max(unit, cents - cents % unit)


def _plant_large_value(book: _Book, rng: random.Random, facts: dict[str, object]) -> None:
    d = _day(rng, book, 10, 100)
    variant = rng.choices(("single_credit", "same_day_credits", "single_debit"), weights=(4, 3, 3))[0]
    facts["large_value_variant"] = variant
    if variant == "single_credit":
        book.quiet_window(d, d, credit=True)
        book.event(d, _round_to(rng.randrange(2_000_000_00, 12_000_000_00), 10_000_00), True,
                   counterparty_company(rng))
    elif variant == "same_day_credits":
        book.quiet_window(d, d, credit=True)
        amounts: list[int] = []
        while sum(amounts) < 2_050_000_00:
            amounts = [_round_to(rng.randrange(500_000_00, 1_500_000_00), 1_000_00) for _ in range(rng.randrange(2, 5))]
        for cents in amounts:
            book.event(d, cents, True, counterparty_company(rng))
    else:
        book.quiet_window(d - timedelta(days=3), d, credit=True)
        book.event(d, _round_to(rng.randrange(2_000_000_00, 6_000_000_00), 1_000_00), False,
                   counterparty_company(rng))
    if rng.random() < 0.35:
        c = _day(rng, book, 5, 110)
        book.quiet_window(c, c, credit=True)
        book.event(c, rng.randrange(600, 3000) * 100_00, True, None, cash=True)
        facts["large_cash"] = True
    facts["large_value_day"] = d


def _plant_structuring(book: _Book, rng: random.Random, facts: dict[str, object]) -> None:
    d = _day(rng, book, 10, 100)
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


def _plant_pass_through(book: _Book, rng: random.Random, facts: dict[str, object]) -> None:
    episodes = rng.randrange(2, 4)
    lo = 5
    for _ in range(episodes):
        d = _day(rng, book, lo, lo + 20)
        if d + timedelta(days=5) >= book.end:
            break
        inflow = _round_to(rng.randrange(600_000_00, 1_700_000_00), 1_000_00)
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


def _fan(book: _Book, rng: random.Random, d: date, credit: bool) -> int:
    """15-30 distinct counterparties on days d and d+1; returns the total (fen)."""
    n = rng.randrange(15, 31)
    total = 0
    for i in range(n):
        cents = rng.randrange(10_000_00, 60_000_00) // 100 * 100
        book.event(d + timedelta(days=i % 2), cents, credit, counterparty_company(rng))
        total += cents
    return total


def _plant_fan_in(book: _Book, rng: random.Random, facts: dict[str, object]) -> None:
    d = _day(rng, book, 10, 90)
    book.quiet_window(d - timedelta(days=3), d + timedelta(days=4), credit=True)
    book.quiet_window(d, d + timedelta(days=5), credit=False)
    total = _fan(book, rng, d, True)
    collector = counterparty_company(rng)
    first = int(total * rng.uniform(0.2, 0.3))
    book.event(d + timedelta(days=2), first, False, collector)
    book.event(d + timedelta(days=rng.randrange(7, 12)), int((total - first) * rng.uniform(0.7, 0.95)), False,
               collector)
    facts["fan_day"] = d


def _plant_fan_out(book: _Book, rng: random.Random, facts: dict[str, object]) -> None:
    d = _day(rng, book, 15, 90)
    funding = d - timedelta(days=rng.randrange(7, 12))
    inflow = _round_to(rng.randrange(800_000_00, 1_800_000_00), 1_000_00)
    book.quiet_window(funding - timedelta(days=1), funding, credit=True)
    book.quiet_window(funding, funding + timedelta(days=3), credit=False)
    book.quiet_window(d - timedelta(days=3), d + timedelta(days=4), credit=False)
    book.event(funding, min(inflow, 1_790_000_00), True, counterparty_company(rng))
    _fan(book, rng, d, False)
    facts["fan_day"] = d


def _plant_dormant(book: _Book, rng: random.Random, today: date, facts: dict[str, object]) -> list[_Entry]:
    """Old activity before the window, silence, then a burst in the last 30 days. Returns the old entries."""
    old: list[_Entry] = []
    last_old = today - timedelta(days=rng.randrange(DORMANT_DAYS + REACTIVATION_DAYS + 5, 500))
    for i in range(rng.randrange(1, 4)):
        old.append(_Entry(_weekday(last_old - timedelta(days=40 * i)), rng.randrange(1_000_00, 50_000_00),
                          rng.random() < 0.5, cp=counterparty_company(rng), event=True))
    first = _weekday(today - timedelta(days=rng.randrange(22, 29)))
    credits = [_round_to(rng.randrange(150_000_00, 900_000_00), 1_000_00) for _ in range(rng.randrange(2, 5))]
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


_PLANTERS = {
    "large_value": _plant_large_value,
    "structuring": _plant_structuring,
    "pass_through": _plant_pass_through,
    "fan_in": _plant_fan_in,
    "fan_out": _plant_fan_out,
}

PAST_DUE_DAYS = (30, 120, 400)
"""DPD planted on ``past_due`` clients: 关注, capped at B (> 90), D (> 360) under the default overrides."""


def _loan(rng: random.Random, codec: IdCodec, inp: LedgerInputs, slot: int, today: date, dpd: int,
          monthly: int) -> tuple[LoanView, list[tuple[date, int]]]:
    """A monthly-amortising loan and its repayment dates/amounts that fall in the window."""
    n = rng.choice((12, 24, 36, 60))
    cap = min(inp.annual_revenue // 2 * 100, n * 250_000_00, max(monthly, 50_000_00) * n // 3)
    principal = _round_to(max(200_000_00, int(cap * rng.uniform(0.3, 1.0))), 10_000_00)
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


def build_ledger(rng: random.Random, codec: IdCodec, inp: LedgerInputs, today: date) -> LedgerDetail:
    """Accounts, transactions and loans for one ledger client under its profile."""
    start = today - timedelta(days=WINDOW_DAYS)
    book = _Book(rng, start, today)
    facts: dict[str, object] = {}
    profile = inp.profile
    monthly = _monthly_turnover(rng, inp)
    old: list[_Entry] = []
    if profile == "pass_through":
        monthly = rng.randrange(50_000, 300_000) * 100
    if profile in _PLANTERS:
        _PLANTERS[profile](book, rng, facts)
    if profile == "dormant_reactivation":
        old = _plant_dormant(book, rng, today, facts)

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
    if profile != "dormant_reactivation":
        _background(book, rng, inp, monthly)

    slots = [0]
    if profile not in ("dormant_reactivation",) and rng.random() < 0.3:
        slots.append(1)
        general_cps = [counterparty_company(rng) for _ in range(2)]
        for m in range(WINDOW_DAYS // 30):
            base = start + timedelta(days=30 * m)
            book.background(base + timedelta(days=rng.randrange(0, 28)), rng.randrange(5_000, 80_000) * 100, True,
                            general_cps[0], slot=1)
            book.background(base + timedelta(days=rng.randrange(0, 28)), rng.randrange(5_000, 60_000) * 100, False,
                            general_cps[1], slot=1)
    usd = profile == "healthy" and inp.trade_code[:1] in ("C", "F") and rng.random() < 0.1
    if usd:
        slots.append(2)
        buyers = [counterparty_company(rng) for _ in range(2)]
        for m in range(WINDOW_DAYS // 30):
            base = start + timedelta(days=30 * m)
            for _ in range(rng.randrange(1, 3)):
                book.background(base + timedelta(days=rng.randrange(0, 28)), rng.randrange(2_000, 60_000) * 100,
                                True, rng.choice(buyers), slot=2, ccy="USD")
            book.background(base + timedelta(days=rng.randrange(0, 28)), rng.randrange(1_000, 40_000) * 100,
                            False, None, slot=2, ccy="USD")

    overdraft_limit = _round_to(max(100_000_00, monthly // 2), 10_000_00) if profile == "overdraft" else 0
    savings = _views(rng, codec, inp, book.entries + old, slots, today, overdraft_limit, profile, facts)
    return LedgerDetail(savings, loans, facts)


_PRODUCTS = {0: ("单位活期存款（基本存款账户）", "CNY"), 1: ("单位活期存款（一般存款账户）", "CNY"),
             2: ("单位外币活期存款（美元）", "USD")}


def _views(rng: random.Random, codec: IdCodec, inp: LedgerInputs, entries: list[_Entry], slots: list[int],
           today: date, overdraft_limit: int, profile: str, facts: dict[str, object]) -> list[SavingsView]:
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
        per_slot[slot].append(TransactionView(
            first_id + seq, booked, e.day, Decimal(e.cents).scaleb(-2), _PRODUCTS[slot][1],
            "CREDIT" if e.credit else "DEBIT", 1 if e.credit else 2, e.cash,
            (cp.account or None) if cp else None, cp.name if cp else None, cp.bank if cp else None,
            e.manual, e.reversed,
        ))
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
            base = {"pass_through": rng.randrange(10_000_00, 60_000_00),
                    "dormant_reactivation": rng.randrange(3_000_00, 80_000_00)}.get(profile, 0)
            opening = max(base, -lowest[slot] + floor)
        account_id = codec.savings_id(inp.key, slot)
        activated = min(inp.activation_date + timedelta(days=slot * rng.randrange(0, 400)),
                        first_day.get(slot, today) - timedelta(days=1))
        views.append(SavingsView(
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
        ))
    return views
