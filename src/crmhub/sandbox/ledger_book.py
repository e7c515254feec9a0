"""The ledger generator's booking primitives: thresholds, counterparties, and `Book`, which collects one client's
transactions under per-day budgets and quiet windows.

The budgets are what make background flows provably harmless: a normal flow is booked only on a business day whose
running sums stay below the healthy caps, and never inside a quiet window a planted pattern reserved. Planted
events bypass the budgets but are counted, so background flows booked later respect them. Amounts are integer fen.
"""

from __future__ import annotations

import functools
import itertools
import math
import random
from dataclasses import dataclass
from datetime import date, timedelta

from crmhub.sandbox.geo import CITIES, CITY_WEIGHTS, City
from crmhub.sandbox.names_gen import ENTERPRISE_FORMS, TRADE_WEIGHTS, TRADES, NameParts, region_prefix, zihao

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
    ("中国工商银行", 19),
    ("中国农业银行", 19),
    ("中国银行", 12),
    ("中国建设银行", 20),
    ("交通银行", 21),
    ("招商银行", 15),
    ("上海浦东发展银行", 18),
    ("中信银行", 19),
    ("兴业银行", 18),
    ("中国民生银行", 10),
    ("平安银行", 14),
    ("中国光大银行", 16),
    ("华夏银行", 14),
    ("广发银行", 19),
    ("北京银行", 20),
    ("上海银行", 11),
    ("宁波银行", 14),
    ("江苏银行", 17),
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
class Entry:
    """One transaction before it becomes a `TransactionView` (``slot`` is the account, ``event`` = planted)."""

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


def business_day(d: date) -> date:
    """``d`` or the next Monday when ``d`` falls on a weekend."""
    while d.weekday() >= 5:
        d += timedelta(days=1)
    return d


_EMPTY: frozenset[str] = frozenset()
_ONE_DAY = timedelta(days=1)


@functools.lru_cache(maxsize=8)
def _business_days(start: date, end: date) -> dict[date, date]:
    """date → the next business day on or after it, for every date a window ``[start, end)`` can ask about
    (shared read-only by every client of a world)."""
    table: dict[date, date] = {}
    d = start - timedelta(days=7)
    while d < end + timedelta(days=7):
        table[d] = business_day(d)
        d += timedelta(days=1)
    return table


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
    return Counterparty(name, *account_at(rng, city))


def account_at(rng: random.Random, city: City) -> tuple[str, str]:
    bank, length = rng.choice(BANKS)
    district = rng.choice(city.districts).name.rstrip("区市")
    account = str(rng.randrange(10 ** (length - 1), 10**length))
    branch = f"{bank}{city.short}{district}支行" if district and district != city.short else f"{bank}{city.short}分行"
    return account, branch


class Book:
    """Collects one client's entries with per-day budgets and quiet windows."""

    def __init__(self, rng: random.Random, start: date, end: date) -> None:
        self.rng = rng
        self.start = start
        self.end = end  # exclusive (today)
        self.entries: list[Entry] = []
        self.sums: dict[tuple[bool, bool, str], dict[date, int]] = {}
        """(credit, cash, currency) → day → booked fen."""
        self.quiet: set[tuple[date, bool]] = set()
        self.names: dict[tuple[int, bool], set[str]] = {}
        """(day ordinal, credit) → counterparty names booked: the fan guard's memory."""
        self.business = _business_days(start, end)

    def quiet_window(self, first: date, last: date, *, credit: bool) -> None:
        d = first
        while d <= last:
            self.quiet.add((d, credit))
            d += timedelta(days=1)

    def event(
        self, day: date, cents: int, credit: bool, cp: Counterparty | None, *, cash: bool = False, slot: int = 0
    ) -> None:
        """A planted pattern's transaction: always booked, never reversed, never manual."""
        self.entries.append(Entry(day, cents, credit, slot, cash, cp, event=True))
        self._count(day, cents, credit, cash, "CNY")
        if cp is not None:
            self.names.setdefault((day.toordinal(), credit), set()).add(cp.name)

    def _few_counterparties(self, day: date, credit: bool, name: str) -> bool:
        """True if adding ``name`` on ``day`` keeps every 3-day window below the fan threshold."""
        o = day.toordinal()
        near = [self.names.get((o + k, credit)) or _EMPTY for k in range(1 - FAN_WINDOW_DAYS, FAN_WINDOW_DAYS)]
        if sum(map(len, near)) + 1 < FAN_MIN_COUNTERPARTIES:
            return True  # the common case: few names around at all
        for start in range(FAN_WINDOW_DAYS):
            if len({name}.union(*near[start : start + FAN_WINDOW_DAYS])) >= FAN_MIN_COUNTERPARTIES:
                return False
        return True

    def _count(self, day: date, cents: int, credit: bool, cash: bool, ccy: str) -> None:
        bucket = self._bucket(credit, cash, ccy)
        bucket[day] = bucket.get(day, 0) + cents

    def _bucket(self, credit: bool, cash: bool, ccy: str) -> dict[date, int]:
        got = self.sums.get((credit, cash, ccy))
        if got is None:
            got = self.sums[(credit, cash, ccy)] = {}
        return got

    def background(
        self,
        day: date,
        cents: int,
        credit: bool,
        cp: Counterparty | None,
        *,
        cash: bool = False,
        slot: int = 0,
        ccy: str = "CNY",
        tries: int = 4,
    ) -> bool:
        """Book a normal flow on ``day`` or one of the next business days that has budget left."""
        if cents <= 0:
            return False
        cap = USD_DAILY_CAP if ccy != "CNY" else (HEALTHY_CASH_CAP if cash else HEALTHY_DAILY_CAP)
        same = self._bucket(credit, cash, ccy)
        # cash is capped over both directions, so even a two-sided sum stays below 50,000
        other_cash = self._bucket(not credit, True, ccy) if cash else None
        transfers = self._bucket(credit, False, ccy) if cash else None
        quiet = self.quiet
        business = self.business
        d = day
        for _ in range(tries):
            d = business.get(d) or business_day(d)
            if d >= self.end:
                return False
            used = same.get(d, 0)
            if other_cash is not None:
                used += other_cash.get(d, 0)
            if (d, credit) not in quiet and used + cents < cap:
                if (transfers is not None and transfers.get(d, 0) + cents >= HEALTHY_DAILY_CAP) or (
                    cp is not None and not self._few_counterparties(d, credit, cp.name)
                ):
                    d += _ONE_DAY
                    continue
                r = self.rng.random()
                if 0.05 <= r < 0.055 and used + 2 * cents < cap:  # booked twice, the first one reversed
                    self.entries.append(Entry(d, cents, credit, slot, cash, cp, False, True))
                    same[d] = same.get(d, 0) + cents
                self.entries.append(Entry(d, cents, credit, slot, cash, cp, r < 0.02, False, 0.02 <= r < 0.05))
                same[d] = same.get(d, 0) + cents
                if cp is not None:
                    self.names.setdefault((d.toordinal(), credit), set()).add(cp.name)
                return True
            d += _ONE_DAY
        return False


def amount(rng: random.Random, mean: float, *, cap: int, floor: int = 100_00) -> int:
    """A log-normal amount around ``mean`` fen, rounded like real invoices (to yuan, sometimes to 100)."""
    v = mean * math.exp(rng.gauss(0.0, 0.45))
    cents = max(floor, min(cap - 100, int(v)))
    return cents - cents % (10000 if rng.random() < 0.3 else 100)


def window_day(rng: random.Random, book: Book, lo: int, hi: int) -> date:
    """A business day between ``start + lo`` and ``start + hi`` days."""
    return business_day(book.start + timedelta(days=rng.randrange(lo, hi)))


def round_to(cents: int, unit: int) -> int:
    return max(unit, cents - cents % unit)
