"""Benchmark: generate a synthetic world with ground truth and report throughput and memory.

    python bench/world_gen.py [--clients 100000] [--seed 0]

Phases, each over the whole world:

1. ``truth``  — `World.truth()` into a dict (system, source_id) → key, plus `same_company_pairs()`; plans only.
2. ``crm``    — `World.companies(ledger_detail=False)`: every company with its Zoho, Fenxiang and ledger-client
   views and contacts (what the CRM simulators load).
3. ``full``   — `World.companies()`: the above plus savings accounts, ~120 days of transactions and loans.

Baseline (same run): constructing the same number of `TransactionView` objects with constant fields — the floor
for any pure-Python generator producing these records — so ``full`` can be read as a multiple of it.
Peak memory is the process's maximum RSS (``ru_maxrss``) after each phase; it must stay flat, because the
generator streams (only the ground-truth dict of phase 1 is held, and it is dropped before phase 2).
"""

from __future__ import annotations

import argparse
import gc
import resource
import sys
import time
from collections import Counter
from datetime import date
from decimal import Decimal

from crmhub.sandbox.world import World
from crmhub.sandbox.worldtypes import TransactionView


def _rss_mib() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 1024 / (1024 if sys.platform == "darwin" else 1)


class _Clock:
    """Wall and CPU time of one phase (CPU time is what to compare on a shared machine)."""

    def __init__(self) -> None:
        self.wall = time.perf_counter()
        self.cpu = time.process_time()

    def stop(self) -> tuple[float, float]:
        return time.perf_counter() - self.wall, time.process_time() - self.cpu


def _line(phase: str, clock: tuple[float, float], companies: int, records: int) -> str:
    wall, cpu = clock
    return (
        f"{phase:<9} {wall:8.2f} s wall {cpu:8.2f} s CPU  {companies / cpu:9,.0f} companies/s  "
        f"{records / cpu:10,.0f} records/s  {records:>11,} records  peak RSS {_rss_mib():6.1f} MiB"
    )


def _baseline(n: int) -> float:
    """CPU seconds to construct ``n`` TransactionView objects with constant fields (and a Decimal each)."""
    day = date(2026, 11, 1)
    t = time.process_time()
    for i in range(n):
        TransactionView(
            i,
            day,
            day,
            Decimal(12345).scaleb(-2),
            "CNY",
            "CREDIT",
            1,
            False,
            "6222",
            "某某有限公司",
            "中国工商银行北京朝阳支行",
            False,
            False,
        )
    return time.process_time() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    world = World(seed=args.seed, clients=args.clients)
    print(f"{world!r}  python {sys.version.split()[0]}")

    clock = _Clock()
    truth = {(system, source_id): key for system, source_id, key in world.truth()}
    pairs = sum(1 for _ in world.same_company_pairs())
    print(_line("truth", clock.stop(), args.clients, len(truth)), f" ({pairs:,} same-company pairs)")
    systems = Counter(system for system, _ in truth)
    del truth
    gc.collect()

    clock = _Clock()
    records = 0
    for company in world.companies(ledger_detail=False):
        for view in (company.zoho, company.fxiaoke):
            if view is not None:
                records += 1 + len(view.contacts)
        records += company.ledger is not None
    print(_line("crm", clock.stop(), args.clients, records))

    clock = _Clock()
    counts: Counter[str] = Counter()
    profiles: Counter[str] = Counter()
    for company in world.companies():
        profiles[company.profile] += 1
        for view in (company.zoho, company.fxiaoke):
            if view is not None:
                counts["accounts"] += 1
                counts["contacts"] += len(view.contacts)
        if company.ledger is not None:
            counts["clients"] += 1
            counts["savings"] += len(company.ledger.savings)
            counts["loans"] += len(company.ledger.loans)
            counts["transactions"] += sum(len(s.transactions) for s in company.ledger.savings)
    full = clock.stop()
    print(_line("full", full, args.clients, sum(counts.values())))
    base = _baseline(counts["transactions"])
    print(
        f"baseline  {base:8.2f} s CPU to construct {counts['transactions']:,} TransactionView objects; "
        f"full = {full[1] / base:.1f}× baseline"
    )
    print("records:", ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    print("systems:", ", ".join(f"{k} {v:,}" for k, v in systems.items()))
    print("profiles:", ", ".join(f"{k} {v:,}" for k, v in profiles.most_common()))


if __name__ == "__main__":
    main()
