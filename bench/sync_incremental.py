"""Benchmark: the incremental `crmhub sync` after 1% of the world changed, as a share of the full sync's cost.

For each size: a full sync (measured), an idle sync (the echo of the write-backs settles), then 1% of the records
changed in every simulator through its admin endpoint and an incremental sync (measured). Prints both runs with
the engine's CPU per phase and µs per record read (the simulators' CPU apart), and the ratio of their wall and CPU
times. The simulators run at the real limits unless ``--speed N`` (labelled "sped up N×"); streams as
bench/sync_full.py (every CRM stream, ledger clients and loans).

    python bench/sync_incremental.py                   # 10,000 and 100,000 companies
    python bench/sync_incremental.py --sizes 2000 --with-transactions --speed 50
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
from pathlib import Path
from typing import Any

from sync_common import (
    describe,
    engine_for,
    env_note,
    ledger_streams_for,
    mutate,
    run_timed,
    speed_label,
    start_sandbox,
)


def one_size(clients: int, seed: int, speed: float, share: float, with_transactions: bool, out: Any) -> None:
    """Full, settle, change ``share`` of the records, incremental — in a fresh process."""
    workdir = Path(f"var/bench/sync_incr_{clients}")
    streams, detail = ledger_streams_for(with_transactions)
    sandbox = start_sandbox(workdir, clients, seed, speed, ledger_detail=detail)
    try:
        engine = engine_for(sandbox, workdir, None, streams)
        full = run_timed(engine, sandbox)
        first = describe(f"full {clients}", full, speed)
        run_timed(engine, sandbox)  # the echo of the first run's write-backs
        changed = mutate(sandbox, max(1, int(clients * share)), seed)
        incr = run_timed(engine, sandbox)
        second = describe(f"incr {clients}", incr, speed)
        second["changed_in_simulators"] = changed
        second["wall_share_of_full"] = round(incr.wall / full.wall, 4)
        second["cpu_share_of_full"] = round(incr.cpu / full.cpu, 4)
        print(
            f"incremental after {changed} changes: {second['wall_share_of_full']:.1%} of the full run's wall "
            f"time, {second['cpu_share_of_full']:.1%} of its CPU"
        )
        out.put([first, second])
    finally:
        sandbox.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument(
        "--speed", type=float, default=1.0, help="shorten the simulators' rate windows N× (default 1: the real limits)"
    )
    parser.add_argument("--share", type=float, default=0.01, help="share of records changed (default 1%%)")
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
            target=one_size, args=(size, args.seed, args.speed, args.share, args.with_transactions, queue)
        )
        proc.start()
        rows.extend(queue.get())
        proc.join()
    print(json.dumps(rows, ensure_ascii=False))


if __name__ == "__main__":
    main()
