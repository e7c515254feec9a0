"""Benchmark: the write-back plan phase and the delivery bookkeeping, at growing book sizes.

Builds a store of N golden clients, each with a record in a target CRM (``zoho``; half of them lack the USCC and
half of those hold an old phone, so N/2 writes are planned) and one in a ledger that receives nothing, linked by
xrefs; then runs the engine's own plan phase (`SyncEngine._plan`) and `crmhub.sync.outbox.deliver` against a
connector whose ``push`` answers ``ok`` at once — so the delivery figure is the engine's bookkeeping alone (mark
sent, build the records, record the answers, patch the snapshots), no HTTP. Prints CPU seconds (time.process_time)
and µs per golden client or per write, the growth from the smallest to the largest size, and the query plan of the
plan phase's xref read and of its outbox UPDATE (superseding older plans of the batch's clients).

    python bench/plan_deliver.py                          # 10,000 and 50,000 clients on SQLite
    python bench/plan_deliver.py --sizes 10000 100000
    python bench/plan_deliver.py --pg postgresql+psycopg://postgres@127.0.0.1:5432/test   # PostgreSQL as well
    python bench/plan_deliver.py --no-sqlite --pg postgresql+psycopg://postgres@127.0.0.1:5432/test

Run it against another checkout (e.g. main, for the "before" figures) with ``PYTHONPATH=<checkout>/src``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, insert, text


def _uscc(i: int) -> str:
    from crmhub.model.uscc import make

    return make("91110000", f"{i:08d}")


def build(url: str, n: int) -> Any:
    """A migrated store with ``n`` golden clients flagged for planning, their zoho and ledger records and xrefs."""
    from crmhub.store import Store
    from crmhub.store.tables import GoldenClient, SourceRecord, Xref

    store = Store.open(url)
    now = datetime.now(UTC)
    chunk = 5000
    with store.begin() as s:
        for lo in range(0, n, chunk):
            ids = range(lo + 1, min(n, lo + chunk) + 1)
            goldens, records, xrefs = [], [], []
            for i in ids:
                name = f"北京星河第{i}科技有限公司"
                data = {
                    "name": name,
                    "uscc": _uscc(i),
                    "phone": f"010-6{i % 10_000_000:07d}",
                    "industry": {
                        "code": "I65",
                        "name_zh": "软件和信息技术服务业",
                        "name_en": "Software and information technology services",
                    },
                    "registered_address": {
                        "country": "CN",
                        "province": "北京市",
                        "city": "北京市",
                        "district": "海淀区",
                        "street": f"中关村大街{i}号",
                    },
                    "company_type": "有限责任公司",
                    "employees": i % 900,
                }
                goldens.append(
                    {
                        "id": i,
                        "name": name,
                        "data": data,
                        "needs_plan": True,
                        "needs_merge": False,
                        "needs_risk": False,
                        "status": "active",
                        "version": 1,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
                crm = {k: v for k, v in data.items() if k != "uscc" or i % 2 == 0}  # odd ones lack the USCC
                if i % 4 == 1:
                    crm["phone"] = "010-00000000"  # and half of those an old phone
                for rid, connector, stream, snap in (
                    (2 * i - 1, "zoho", "accounts", crm),
                    (2 * i, "ledger", "clients", data),
                ):
                    records.append(
                        {
                            "id": rid,
                            "connector": connector,
                            "stream": stream,
                            "source_id": f"S{rid}",
                            "kind": "client",
                            "raw": {},
                            "data": snap,
                            "content_hash": f"h{rid}",
                            "first_seen_at": now,
                            "last_seen_at": now,
                            "deleted": False,
                            "dirty": False,
                        }
                    )
                    xrefs.append({"source_record_id": rid, "client_id": i, "method": "uscc", "linked_at": now})
            s.execute(insert(GoldenClient), goldens)
            s.execute(insert(SourceRecord), records)
            s.execute(insert(Xref), xrefs)
    if store.dialect == "postgresql":
        with store.engine.begin() as conn:  # autovacuum would, a while after a bulk load; SQLite is left as is
            conn.execute(text("ANALYZE"))
    return store


class Crm:
    """The write-back target: the fields the engine writes, and a ``push`` answering ``ok`` for every record."""

    def __init__(self) -> None:
        from crmhub.contract import ConnectorConfig, StreamKind, StreamSpec, WriteBack

        self.config = ConnectorConfig(plugin="bench", write_back=WriteBack(fields=["uscc", "phone", "industry"]))
        self.streams = (StreamSpec("accounts", StreamKind.CLIENT, writable=True),)
        self.calls = 0

    def writable_fields(self, stream: str) -> frozenset[str] | None:
        return None

    async def push(self, stream: str, records: Sequence[Any]) -> list[Any]:
        from crmhub.contract import PushResult

        self.calls += 1
        return [PushResult(key=r.key, status="ok", source_id=r.source_id, action="update") for r in records]


def explain(store: Any, statement: str, params: Any) -> str:
    """The database's plan of one captured statement, on one line."""
    with store.engine.connect() as conn:
        if store.dialect == "sqlite":
            return " | ".join(r[3] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params))
        return " | ".join(r[0].strip() for r in conn.exec_driver_sql("EXPLAIN " + statement, params))


def plan_phase(store: Any, report: Any, uow: Any, crm: Crm) -> Any:
    """The engine's plan phase over this store: `PlanPhase` (typed phases) or, on an older checkout, the engine's
    ``_plan`` method. Either reads only the run context's unit of work, connectors and report."""
    try:
        from crmhub.sync.phase import RunContext
        from crmhub.sync.phases import PlanPhase
    except ImportError:
        from crmhub.sync.engine import RunContext, SyncEngine  # type: ignore[attr-defined,no-redef]

        ctx = RunContext(report, uow, {"zoho": crm})
        engine = object.__new__(SyncEngine)
        return lambda: engine._plan(ctx)
    ctx = RunContext(
        None,
        None,
        store,
        report,
        uow,
        {"zoho": crm},
        None,
        None,  # type: ignore[arg-type]
        lambda events: None,
    )
    return lambda: PlanPhase().work(ctx).apply(report)


def one_size(url: str, n: int) -> dict[str, Any]:
    """Plan and deliver over a fresh store of ``n`` clients; returns the figures."""
    from crmhub.core.report import RunReport
    from crmhub.store.unit import UnitOfWork
    from crmhub.sync.outbox import deliver

    t = time.monotonic()
    store = build(url, n)
    built = time.monotonic() - t
    crm = Crm()
    report = RunReport(run_id=1, dry_run=False, trigger="bench", job=None, started_at=datetime.now(UTC))
    uow = UnitOfWork(store)
    plan = plan_phase(store, report, uow, crm)
    seen: dict[str, tuple[str, Any]] = {}

    def listen(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        kind = "xref read" if "xref" in statement else "supersede" if statement.startswith("UPDATE outbox") else ""
        if kind and kind not in seen:
            seen[kind] = (statement, parameters)

    event.listen(store.engine, "before_cursor_execute", listen)
    cpu, wall = time.process_time(), time.monotonic()
    plan()
    plan_cpu, plan_wall = time.process_time() - cpu, time.monotonic() - wall
    event.remove(store.engine, "before_cursor_execute", listen)
    cpu, wall = time.process_time(), time.monotonic()
    stats = asyncio.run(deliver(uow, crm, "zoho", batch=100, run_id=1))  # type: ignore[arg-type]
    deliver_cpu, deliver_wall = time.process_time() - cpu, time.monotonic() - wall
    uow.close()
    query_plans = {kind: explain(store, *captured) for kind, captured in seen.items()}
    store.dispose()
    planned = report.totals.planned_writes
    row = {
        "clients": n,
        "planned": planned,
        "confirmed": stats.confirmed,
        "plan_cpu_s": round(plan_cpu, 2),
        "plan_wall_s": round(plan_wall, 2),
        "deliver_cpu_s": round(deliver_cpu, 2),
        "deliver_wall_s": round(deliver_wall, 2),
    }
    print(
        f"{store.dialect:<10} {n:>7} clients (built in {built:5.1f} s)  plan {plan_cpu:7.2f} s CPU "
        f"({plan_wall:7.2f} s wall, {plan_cpu / n * 1e6:6.0f} µs/client, {planned} writes)  "
        f"deliver {deliver_cpu:7.2f} s CPU ({deliver_wall:7.2f} s wall, "
        f"{deliver_cpu / max(stats.confirmed, 1) * 1e6:6.0f} µs/write, {stats.confirmed} confirmed)",
        flush=True,
    )
    for kind, query_plan in query_plans.items():
        print(f"{'':<10} {kind}: {query_plan[:400]}", flush=True)
    return row


def growth(rows: list[dict[str, Any]]) -> None:
    """Print how each phase grew from the smallest size to the largest."""
    if len(rows) < 2:
        return
    small, large = rows[0], rows[-1]
    ratio = large["clients"] / small["clients"]
    for key in ("plan_cpu_s", "deliver_cpu_s"):
        grown = large[key] / max(small[key], 1e-9)
        print(f"{key[:-6]:<8} CPU {small[key]} s → {large[key]} s: {grown:.1f}× for {ratio:.0f}× the book")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000])
    parser.add_argument(
        "--pg",
        help="also run on this PostgreSQL database (in a scratch schema, dropped after; "
        "the server's CPU is not in the figures)",
    )
    parser.add_argument("--no-sqlite", action="store_true", help="run on PostgreSQL only")
    args = parser.parse_args()
    import crmhub

    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}; "
        f"crmhub from {Path(crmhub.__file__).parent}"
    )
    rows = []
    for n in [] if args.no_sqlite else args.sizes:
        workdir = Path(tempfile.mkdtemp(prefix="crmhub-bench-plan-"))
        try:
            rows.append(one_size(f"sqlite:///{workdir / 'bench.db'}", n))
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    growth(rows)
    if args.pg:
        pg_rows = []
        for n in args.sizes:
            schema = f"bench_{uuid.uuid4().hex[:10]}"
            admin = create_engine(args.pg)
            with admin.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            try:
                sep = "&" if "?" in args.pg else "?"
                pg_rows.append(one_size(f"{args.pg}{sep}options=-csearch_path%3D{schema}", n))
            finally:
                with admin.begin() as conn:
                    conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
                admin.dispose()
        growth(pg_rows)


if __name__ == "__main__":
    main()
