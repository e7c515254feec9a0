"""Benchmark: one simulator alone over a shared world of N companies — start CPU, memory, and a few pages' cost.

    python bench/sim_memory.py fxiaoke --clients 1000000 [--lazy-min 200000] [--pages 20]
    python bench/sim_memory.py ledger --clients 100000 [--ledger-detail loans|clients|full]

Builds the simulator in this process (no HTTP), so the figures are the simulator's own: CPU seconds to load
(``time.process_time``), resident memory after the load (``VmRSS``) and the process peak (``VmHWM``), then
``--pages`` pages of 100 accounts from the first, middle and last offsets of the ``last_modified_time`` order
(a lazy table regenerates those records). ``--lazy-min`` is the simulator's ``lazy_world_min`` setting: 0 serves
any world lazily, a number above N keeps every record (the "before" figure). ``ledger`` loads the core-ledger
simulator (``--ledger-detail``: clients and loans as the sync benches serve them, clients only, or everything) and
pages ``GET /loans`` (``GET /clients`` with clients only) through its renderers; ``--lazy-min`` as above.
"""

from __future__ import annotations

import argparse
import gc
import json
import time
from pathlib import Path
from typing import Any

from crmhub.contract import SandboxOptions
from crmhub.sandbox.world import World


def _status_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def _fxiaoke(world: World, lazy_min: int) -> tuple[Any, Any]:
    from crmhub_fxiaoke.simulator.service import FxiaokeSimulator

    sim = FxiaokeSimulator(
        SandboxOptions(base_url="http://127.0.0.1:1", world=world, seed=3, settings={"lazy_world_min": lazy_min})
    )

    def page(offset: int) -> int:
        table = sim.tables["AccountObj"]
        start = min(offset, max(0, len(table.by_lmt) - 1))
        lmt = table.by_lmt[start][0]
        sqi = {
            "limit": 100,
            "offset": 0,
            "orders": [{"fieldName": "last_modified_time", "isAsc": True}],
            "filters": [{"field_name": "last_modified_time", "operator": "GTE", "field_values": [lmt]}],
        }
        body = sim.query(
            {"dataObjectApiName": "AccountObj", "search_query_info": sqi, "find_explicit_total_num": False}, {}
        )
        return len(json.loads(body)["dataList"])

    return sim, page


def _ledger(world: World, detail: str, lazy_min: int) -> tuple[Any, Any]:
    from crmhub_ledger.sandbox import build, render

    setting: bool | str = {"loans": "loans", "clients": False, "full": True}[detail]
    sim = build(
        SandboxOptions(
            base_url="http://127.0.0.1:1", world=world, seed=3, settings={"detail": setting, "lazy_world_min": lazy_min}
        )
    ).simulator
    order = sim.loan_order if detail != "clients" else sim.client_order

    def page(offset: int) -> int:
        ids = order[offset : offset + 100]
        if detail == "clients":
            return len(json.dumps([render.client(sim, sim.clients[i], details=True) for i in ids]))
        return len(json.dumps([render.loan(sim, sim.loans[i], set(), full=False) for i in ids]))

    sim.tables = {"clients": sim.clients, "loans": sim.loans, "savings": sim.savings, "audits": sim.audits}
    sim.page_rows = len(order)
    return sim, page


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("system", choices=["fxiaoke", "ledger"])
    parser.add_argument("--ledger-detail", choices=["loans", "clients", "full"], default="loans")
    parser.add_argument("--clients", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--lazy-min", type=int, default=200_000)
    parser.add_argument("--pages", type=int, default=20)
    args = parser.parse_args()
    world = World(seed=args.seed, clients=args.clients)
    rss0 = _status_mib("VmRSS")
    cpu0, wall0 = time.process_time(), time.monotonic()
    if args.system == "fxiaoke":
        sim, page = _fxiaoke(world, args.lazy_min)
    else:
        sim, page = _ledger(world, args.ledger_detail, args.lazy_min)
    cpu_load, wall_load = time.process_time() - cpu0, time.monotonic() - wall0
    gc.collect()
    row: dict[str, Any] = {
        "system": args.system,
        "clients": args.clients,
        "lazy_min": args.lazy_min,
        "records": {k: len(t) for k, t in sim.tables.items()},
        "start_cpu_s": round(cpu_load, 1),
        "start_wall_s": round(wall_load, 1),
        "held_mib": round(_status_mib("VmRSS") - rss0, 1),
        "peak_mib": round(_status_mib("VmHWM"), 1),
    }
    n = sim.page_rows if args.system == "ledger" else len(sim.tables["AccountObj"])
    cpu1, rows = time.process_time(), 0
    for i in range(args.pages):
        rows += page(n * i // max(1, args.pages))
    row["pages"] = args.pages
    row["page_cpu_ms"] = round((time.process_time() - cpu1) * 1000 / max(1, args.pages), 1)
    row["peak_mib_after_pages"] = round(_status_mib("VmHWM"), 1)
    label = (f"detail={args.ledger_detail} " if args.system == "ledger" else "") + f"lazy_min={args.lazy_min:,}"
    print(
        f"{args.system} {args.clients:,} companies {label}: start {cpu_load:.1f} s CPU, "
        f"held {row['held_mib']} MiB, peak {row['peak_mib']} MiB; {args.pages} pages of 100: "
        f"{row['page_cpu_ms']} ms CPU/page",
        flush=True,
    )
    print(json.dumps(row))


if __name__ == "__main__":
    main()
