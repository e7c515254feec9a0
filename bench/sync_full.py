"""Benchmark: a full `crmhub sync` of a synthetic world, at 10,000 and 100,000 companies.

Prints, per size: records read, wall time, the engine's CPU seconds and µs of CPU per record read — in total and
per phase (ingest, match, merge, link, risk, plan, deliver) — peak MiB, and the simulators' CPU apart (they run in
their own process, `crmhub sandbox serve`), then the matching phase's growth from the smaller to the larger world.

The simulators run at the services' real limits unless ``--speed N`` shortens their rate windows; such a run is
labelled "sped up N×" in every printed line and JSON row, and is not a headline figure. Streams pulled: every CRM
stream plus the ledger's clients and loans (``--with-transactions`` adds savings accounts and transactions).

``--connectors zoho`` runs a Zoho-only sync and, in the same run and against the same simulator, a bare
httpx → SQLite loop over the same pages (bench/sync_common.py `bare_zoho_loop`), and prints the ratio of their
records/s (issue #17's target: ≥ 0.2×).

    python bench/sync_full.py                              # 10,000 and 100,000 companies, real limits
    python bench/sync_full.py --sizes 100000 --connectors zoho
    python bench/sync_full.py --sizes 2000 --with-transactions --speed 50
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
from pathlib import Path
from typing import Any

from sync_common import (
    bare_zoho_loop,
    describe,
    engine_for,
    env_note,
    ledger_streams_for,
    records_read,
    run_timed,
    speed_label,
    start_sandbox,
)


def one_size(
    clients: int, seed: int, speed: float, with_transactions: bool, connectors: list[str] | None, out: Any
) -> None:
    """Run in a fresh process so each size's peak memory is its own."""
    workdir = Path(f"var/bench/sync_full_{clients}")
    streams, detail = ledger_streams_for(with_transactions)
    sandbox = start_sandbox(workdir, clients, seed, speed, ledger_detail=detail)
    try:
        engine = engine_for(sandbox, workdir, connectors, streams)
        run = run_timed(engine, sandbox)
        row = describe(f"full {clients}" + (f" ({'+'.join(connectors)})" if connectors else ""), run, speed)
        if connectors == ["zoho"]:
            bare = bare_zoho_loop(sandbox, workdir / "bare.db")
            read = records_read(run.report)
            sync_rate = read / run.wall if run.wall else 0.0
            bare_rate = bare["records"] / bare["seconds"] if bare["seconds"] else 0.0
            row["bare_loop"] = {
                "records": bare["records"],
                "wall_s": round(bare["seconds"], 2),
                "cpu_s": round(bare["cpu_s"], 2),
                "records_per_s": round(bare_rate, 1),
            }
            row["ratio_to_bare_loop"] = round(sync_rate / bare_rate, 4) if bare_rate else None
            sped = speed_label(speed)
            print(
                f"bare httpx → SQLite loop over the same pages: {bare['records']:,} records in "
                f"{bare['seconds']:.1f} s ({bare_rate:,.0f} rec/s, {bare['cpu_s']:.1f} s CPU); "
                f"the Zoho-only sync reached {sync_rate:,.0f} rec/s = {row['ratio_to_bare_loop']}× the bare loop"
                + (f" [{sped}]" if sped else "")
                + " (the bare loop runs second: records the sync read are still in the simulator's render cache, "
                "up to 20,000 of them, so the ratio is a lower bound)"
            )
        out.put(row)
    finally:
        sandbox.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument(
        "--speed", type=float, default=1.0, help="shorten the simulators' rate windows N× (default 1: the real limits)"
    )
    parser.add_argument(
        "--connectors",
        nargs="+",
        default=None,
        help="only these connectors (zoho, fxiaoke, ledger); 'zoho' alone adds the bare-loop ratio",
    )
    parser.add_argument(
        "--with-transactions",
        action="store_true",
        help="also serve and pull the ledger's savings accounts and transactions",
    )
    args = parser.parse_args()
    print(env_note() + (f"; simulators {speed_label(args.speed)}" if args.speed != 1 else "; real API limits"))
    ctx = mp.get_context("spawn")
    rows = []
    for size in args.sizes:
        queue: Any = ctx.Queue()
        proc = ctx.Process(
            target=one_size, args=(size, args.seed, args.speed, args.with_transactions, args.connectors, queue)
        )
        proc.start()
        rows.append(queue.get())
        proc.join()
    if len(rows) >= 2:
        small, large = rows[0], rows[-1]
        size_ratio = large["records_read"] / max(small["records_read"], 1)
        for phase, cpu in large["phase_cpu_s"].items():
            base = small["phase_cpu_s"].get(phase)
            if base:
                print(f"{phase:<9} CPU {base:8.2f} s → {cpu:8.2f} s ({cpu / base:5.1f}× for {size_ratio:.1f}× records)")
    print(json.dumps(rows, ensure_ascii=False))


if __name__ == "__main__":
    main()
