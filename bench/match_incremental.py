"""Benchmark: CPU seconds per engine phase of a full sync and of an incremental sync after 1% changed.

Issue #17 item 3: the match phase of an incremental run should touch about the changed share of the book, not
rebuild the matcher's index of every client. For each size: a full sync, an idle sync (the echo of the
write-backs settles), 1% of the records changed in every simulator, then an incremental sync. Each phase's CPU
seconds (``time.process_time`` between the engine's ``phase`` calls; the simulators run in another process) are
printed next to its wall seconds, with the peak RSS of this process.

    python bench/match_incremental.py                  # 10,000 companies
    python bench/match_incremental.py --sizes 10000 100000
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import time
from pathlib import Path
from typing import Any

from sync_common import engine_for, env_note, mutate, peak_mib, records_read, run_timed, start_sandbox


class CpuProgress:
    """A progress sink that records the process CPU time spent in each phase (until the next phase starts)."""

    def __init__(self) -> None:
        self.cpu: dict[str, float] = {}
        self._current: str | None = None
        self._since = 0.0

    def stream_started(self, connector: str, stream: str) -> None:
        return None

    def page_stored(self, connector: str, stream: str, stats: Any) -> None:
        return None

    def stream_finished(self, connector: str, stream: str, stats: Any) -> None:
        return None

    def phase(self, name: str) -> None:
        self.close()
        self._current, self._since = name, time.process_time()

    def close(self) -> None:
        """End the current phase (called at the end of a run)."""
        if self._current is not None:
            self.cpu[self._current] = round(self.cpu.get(self._current, 0.0) + time.process_time() - self._since, 3)
        self._current = None


def _run(engine: Any, label: str) -> dict[str, Any]:
    progress = CpuProgress()
    engine.progress = progress
    report, wall, cpu = run_timed(engine)
    progress.close()
    row = {
        "run": label,
        "status": report.status,
        "records_read": records_read(report),
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "peak_mib": round(peak_mib(), 1),
        "phase_cpu_s": progress.cpu,
        "phase_wall_s": report.phases,
        "linked": report.totals.records_linked,
    }
    print(
        f"{label:<10} read {row['records_read']:>7}  wall {wall:7.1f} s  CPU {cpu:7.1f} s  "
        f"peak {row['peak_mib']} MiB\n           phase CPU {progress.cpu}\n           phase wall {report.phases}"
    )
    return row


def one_size(clients: int, seed: int, speed: float, share: float, out: Any) -> None:
    """Full, settle, change ``share`` of the records, incremental — in a fresh process."""
    workdir = Path(f"var/bench/match_incr_{clients}")
    sandbox = start_sandbox(workdir, clients, seed, speed, ledger_detail=False)
    try:
        engine = engine_for(sandbox, workdir, None, ["clients"])
        rows = [_run(engine, f"full {clients}")]
        rows.append(_run(engine, "settle"))
        changed = mutate(sandbox, max(1, int(clients * share)), seed)
        row = _run(engine, "incr")
        row["changed_in_simulators"] = changed
        rows.append(row)
        full, incr = rows[0]["phase_cpu_s"], row["phase_cpu_s"]
        print(
            f"after {changed} changes: match CPU {incr.get('match', 0):.2f} s incremental vs "
            f"{full.get('match', 0):.2f} s full; run CPU {row['cpu_s'] / rows[0]['cpu_s']:.1%} of the full run"
        )
        out.put(rows)
    finally:
        sandbox.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000])
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--speed", type=float, default=50.0)
    parser.add_argument("--share", type=float, default=0.01, help="share of records changed (default 1%%)")
    args = parser.parse_args()
    print(env_note())
    print(f"simulators at --speed {args.speed} (rate windows shortened; CPU figures are this process's only)")
    ctx = mp.get_context("spawn")
    rows = []
    for size in args.sizes:
        queue: Any = ctx.Queue()
        proc = ctx.Process(target=one_size, args=(size, args.seed, args.speed, args.share, queue))
        proc.start()
        rows.extend(queue.get())
        proc.join()
    print(json.dumps(rows, ensure_ascii=False))


if __name__ == "__main__":
    main()
