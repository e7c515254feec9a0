"""Benchmark: what one acquire of a rate budget costs — in-process, in PostgreSQL, in SQLite.

Each call a connector makes to Fenxiang takes one window start; each Zoho call holds one concurrency slot. With
``[sync] shared_budget`` on, both are a database round trip (`crmhub.store.ratelimits`). This prints µs per window
acquire and per cap slot (take + give back), wall time and this process's CPU time, for:

* ``local``: `crmhub.http.LocalRateLimits` (today's in-process pacing),
* ``postgresql``: `StoreRateLimits` on the PostgreSQL named by ``--pg`` (a fresh schema, dropped after),
* ``sqlite``: `StoreRateLimits` on a fresh SQLite file.

The window is made never to wait (``period`` 1 µs), so the figure is the budget's own cost, not pacing.

    python bench/rate_budget.py --pg postgresql+psycopg://postgres@127.0.0.1:5432/test --n 2000
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text

from crmhub.contract import RateLimits
from crmhub.http import LocalRateLimits
from crmhub.store import Store
from crmhub.store.ratelimits import StoreRateLimits


async def _measure(limits: RateLimits, n: int) -> tuple[float, float, float, float]:
    """(wall µs, CPU µs) per window acquire, then per cap slot."""
    window = limits.window("bench|/cgi/crm/v2/data/query", 100, 1e-6)
    cap = limits.concurrency("bench|all", 10)
    for _ in range(20):  # warm up: rows created, connection open
        await window.acquire()
        async with cap.slot():
            pass
    w0, c0 = time.perf_counter(), time.process_time()
    for _ in range(n):
        await window.acquire()
    w1, c1 = time.perf_counter(), time.process_time()
    for _ in range(n):
        async with cap.slot():
            pass
    w2, c2 = time.perf_counter(), time.process_time()
    per = 1e6 / n
    return (w1 - w0) * per, (c1 - c0) * per, (w2 - w1) * per, (c2 - c1) * per


@contextmanager
def _pg_store(url: str) -> Iterator[Store]:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in url else "?"
    store = Store.open(f"{url}{sep}options=-csearch_path%3D{schema}")
    try:
        yield store
    finally:
        store.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="acquires per measurement")
    parser.add_argument("--pg", default=None, help="PostgreSQL URL (omit to skip PostgreSQL)")
    args = parser.parse_args()
    rows: list[tuple[str, tuple[float, float, float, float]]] = []
    rows.append(("local", asyncio.run(_measure(LocalRateLimits(), args.n))))
    if args.pg:
        with _pg_store(args.pg) as store:
            shared = StoreRateLimits(store)
            rows.append(("postgresql", asyncio.run(_measure(shared, args.n))))
            shared.close()
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(f"sqlite:///{Path(tmp) / 'crmhub.db'}")
        shared = StoreRateLimits(store)
        rows.append(("sqlite", asyncio.run(_measure(shared, args.n))))
        shared.close()
        store.dispose()
    print(f"{'budget':<12}{'window µs':>12}{'window CPU µs':>16}{'cap slot µs':>14}{'cap slot CPU µs':>18}")
    for name, (ww, wc, cw, cc) in rows:
        print(f"{name:<12}{ww:>12.1f}{wc:>16.1f}{cw:>14.1f}{cc:>18.1f}")


if __name__ == "__main__":
    main()
