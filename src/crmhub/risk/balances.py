"""Daily balances reconstructed from the current balance and the transactions, and the statistics built on them.

The ledger gives each account's *current* balance and its transactions, not a balance history. The balance at
the end of day ``d`` is the current balance minus every posting after ``d``; walking backwards from the present
gives the whole window in one pass per account, from per-day net sums the database already aggregated — so no
transaction list is ever held in memory. Days are proleptic ordinals (`date.toordinal`) for speed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import accumulate


def end_of_day_balances(current_minor: int, nets: Mapping[int, int], first: int, days: int) -> list[int]:
    """End-of-day balances for ``days`` days from ordinal ``first``.

    ``nets`` maps a day to the net of that day's postings (credits positive); the current balance already
    includes every one of them, also those after the window, which are taken back first. The end of day ``i`` is
    the current balance less every posting after it: a suffix sum, done by `itertools.accumulate` in C.
    """
    last = first + days - 1
    per_day = [0] * days
    after = 0
    for d, v in nets.items():
        if d > last:
            after += v
        elif d >= first:
            per_day[d - first] += v
    base = current_minor - after
    backwards = [base - x for x in accumulate(reversed(per_day[1:]), initial=0)]
    backwards.reverse()
    return backwards


@dataclass(frozen=True, slots=True)
class OverdraftStats:
    """How often an account (or any of a client's accounts) was below zero at the end of a day."""

    days: int
    episodes: int
    beyond_limit_days: int


def overdraft_stats(series: Iterable[tuple[Sequence[int], int | None]]) -> OverdraftStats:
    """Days with any account negative, episodes (runs of negative days, per account) and days beyond the limit.

    ``series`` yields (end-of-day balances, overdraft limit in minor units or ``None``) per account, all over the
    same days.
    """
    negative_days: set[int] = set()
    beyond_days: set[int] = set()
    episodes = 0
    for balances, limit in series:
        if not balances or min(balances) >= 0:
            continue
        previous_negative = False
        for i, b in enumerate(balances):
            negative = b < 0
            if negative:
                negative_days.add(i)
                if not previous_negative:
                    episodes += 1
                if b < -(limit or 0):
                    beyond_days.add(i)
            previous_negative = negative
    return OverdraftStats(len(negative_days), episodes, len(beyond_days))


def coefficient_of_variation(values: Sequence[float]) -> float | None:
    """Population standard deviation over mean (``None`` when the mean is zero: no turnover to be stable)."""
    if not values:
        return None
    mean = sum(values) / len(values)
    if mean <= 0:
        return None
    variance = sum((v - mean) ** 2 for v in values) / len(values)
    return math.sqrt(variance) / mean


def bucket_sums(day_amounts: Mapping[int, float], first: int, days: int, width: int) -> list[float]:
    """Sums over consecutive ``width``-day buckets ending at the window's last day (a short first bucket is
    dropped, so every bucket covers the same number of days)."""
    last = first + days - 1
    count = days // width
    out = [0.0] * count
    for d, amount in day_amounts.items():
        back = (last - d) // width
        if first <= d <= last and back < count:
            out[count - 1 - back] += amount
    return out
