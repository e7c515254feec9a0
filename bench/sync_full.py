"""Benchmark: a full `crmhub sync` of a synthetic world, at 10,000 and 100,000 companies.

Prints records/s, CPU, peak MiB and the time of each phase per size, and the matching phase's growth from the
smaller to the larger world (near-linear ≈ 10× for 10× the records). The simulators serve from a separate process
with rate windows shortened by ``--speed`` (the real limits are the CRMs'; see bench/zoho_pull.py and
bench/fxiaoke_pull.py for the pull against them).

    python bench/sync_full.py                       # 10,000 and 100,000 companies, CRMs + ledger clients
    python bench/sync_full.py --sizes 2000 --with-transactions
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
from pathlib import Path
from typing import Any

from sync_common import describe, engine_for, env_note, run_timed, start_sandbox


def one_size(clients: int, seed: int, speed: float, ledger_streams: list[str] | None, out: Any) -> None:
    """Run in a fresh process so each size's peak memory is its own."""
    workdir = Path(f"var/bench/sync_full_{clients}")
    sandbox = start_sandbox(workdir, clients, seed, speed, ledger_detail=ledger_streams is None)
    try:
        engine = engine_for(sandbox, workdir, None, ledger_streams)
        report, wall, cpu = run_timed(engine)
        out.put(describe(f"full {clients}", report, wall, cpu))
    finally:
        sandbox.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--speed", type=float, default=50.0)
    parser.add_argument("--with-transactions", action="store_true",
                        help="also serve and pull the ledger's accounts, transactions, loans (else: clients)")
    args = parser.parse_args()
    print(env_note())
    ledger_streams = None if args.with_transactions else ["clients"]
    ctx = mp.get_context("spawn")
    rows = []
    for size in args.sizes:
        queue: Any = ctx.Queue()
        proc = ctx.Process(target=one_size, args=(size, args.seed, args.speed, ledger_streams, queue))
        proc.start()
        rows.append(queue.get())
        proc.join()
    if len(rows) >= 2:
        small, large = rows[0], rows[-1]
        growth = large["phases"].get("match", 0) / max(small["phases"].get("match", 1e-9), 1e-9)
        size_ratio = large["records_read"] / max(small["records_read"], 1)
        print(f"matching: {small['phases'].get('match')} s → {large['phases'].get('match')} s "
              f"({growth:.1f}× time for {size_ratio:.1f}× records)")
    print(json.dumps(rows, ensure_ascii=False))


if __name__ == "__main__":
    main()
