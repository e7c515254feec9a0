"""Benchmark: CPU of the merge phase alone, in µs per golden client, at one or more world sizes.

Step 1 (``--build``) runs a full sync of a synthetic world (simulators in their own process) and copies the SQLite
store the moment the merge phase starts (match done, every golden client flagged ``needs_merge``); it also prints
the merge CPU seen inside that sync (``time.process_time`` at the phase switches). Step 2 (default) runs only the
engine's merge phase over a fresh copy of that snapshot, ``--repeat`` times, and prints CPU seconds and µs per
golden client — so the code of the merge can be compared before and after a change on exactly the same data.

    python bench/merge_cpu.py --build --sizes 10000 100000
    python bench/merge_cpu.py --sizes 10000 100000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import sqlite3
import sys
import time
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sync_common import engine_for, env_note, start_sandbox

ROOT = Path("var/bench/merge_cpu")


class _StopAfterMerge(Exception):
    """Raised at the phase after merge: the snapshot and the merge CPU are all this benchmark needs."""


class SnapshotProgress:
    """Progress display that snapshots the store when merge starts and records CPU at each phase switch."""

    def __init__(self, db: Path, snapshot: Path) -> None:
        self.db, self.snapshot = db, snapshot
        self.marks: list[tuple[str, float]] = []

    def stream_started(self, connector: str, stream: str) -> None:
        return None

    def page_stored(self, connector: str, stream: str, stats: Any) -> None:
        return None

    def stream_finished(self, connector: str, stream: str, stats: Any) -> None:
        return None

    def phase(self, name: str) -> None:
        self.marks.append((name, time.process_time()))
        if name == "merge":
            src, dst = sqlite3.connect(self.db), sqlite3.connect(self.snapshot)
            src.backup(dst)
            src.close()
            dst.close()
            self.marks.append(("merge", time.process_time()))  # the copy is not merge work
        if name == "link":
            raise _StopAfterMerge


def build(size: int, seed: int, speed: float) -> None:
    """Sync a world of ``size`` companies up to the merge phase and keep the store as it was before merge."""
    workdir = ROOT / f"build_{size}"
    sandbox = start_sandbox(workdir, size, seed, speed, ledger_detail=False)
    try:
        engine = engine_for(sandbox, workdir, None, ["clients"])
        snapshot = ROOT / f"snapshot_{size}.db"
        snapshot.unlink(missing_ok=True)
        shutil.copyfile(sandbox.config, ROOT / f"sandbox_{size}.toml")  # the merge's settings (source priority)
        progress = SnapshotProgress(workdir / "bench.db", snapshot)
        engine.progress = progress
        with contextlib.suppress(_StopAfterMerge):
            asyncio.run(engine.run())
        marks = dict(progress.marks)  # the last mark of each name wins (merge: after the copy)
        cpu = marks["link"] - marks["merge"]
        print(f"built {snapshot} ({size} companies); merge CPU inside the sync: {cpu:.2f} s")
    finally:
        sandbox.stop()


def merge_only(size: int, repeat: int) -> dict[str, Any]:
    """Run the engine's merge phase over a copy of the snapshot; CPU seconds and µs per golden client."""
    from sqlalchemy import func, select

    from crmhub import plugins
    from crmhub.config import parse_settings
    from crmhub.store import Store
    from crmhub.store.tables import GoldenClient
    from crmhub.sync.locks import LockSet
    from crmhub.sync.phase import NoProgress, RunContext
    from crmhub.sync.phases import MergePhase
    from crmhub.sync.report import RunReport
    from crmhub.sync.unit import UnitOfWork

    snapshot = ROOT / f"snapshot_{size}.db"
    registry = plugins.load()
    best: float | None = None
    goldens = 0
    for _ in range(repeat):
        db = ROOT / f"run_{size}.db"
        shutil.copyfile(snapshot, db)
        store = Store.open(f"sqlite:///{db}", migrate=False)
        with store.begin() as s:
            goldens = int(s.scalar(select(func.count()).select_from(GoldenClient)
                                   .where(GoldenClient.needs_merge.is_(True))) or 0)
        doc = tomllib.loads((ROOT / f"sandbox_{size}.toml").read_text(encoding="utf-8"))
        doc["store"] = {"url": f"sqlite:///{db}"}
        doc.pop("channels", None)
        doc["connectors"]["ledger"]["streams"] = ["clients"]
        settings = parse_settings(doc, registry)
        uow = UnitOfWork(store)
        report = RunReport(run_id=None, dry_run=False, trigger="bench", job=None, started_at=datetime.now(UTC))
        events: list[Any] = []
        ctx = RunContext(settings, registry, store, report, uow, {}, LockSet(store, []), NoProgress(), events.extend)
        cpu = time.process_time()
        counters = MergePhase().work(ctx)
        spent = time.process_time() - cpu
        print(f"  {counters}, {len(events)} events")
        uow.close()
        store.dispose()
        best = spent if best is None else min(best, spent)
    assert best is not None
    row = {"size": size, "goldens": goldens, "merge_cpu_s": round(best, 3),
           "us_per_golden": round(best / max(goldens, 1) * 1e6, 1)}
    print(f"merge {size:>7} companies: {goldens} golden clients, {best:.2f} s CPU (best of {repeat}), "
          f"{row['us_per_golden']} µs per golden client")
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000])
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--speed", type=float, default=50.0, help="simulator rate windows shortened (build only)")
    parser.add_argument("--build", action="store_true", help="sync the world up to merge and keep a snapshot")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    print(env_note())
    ROOT.mkdir(parents=True, exist_ok=True)
    if args.build:
        for size in args.sizes:
            build(size, args.seed, args.speed)
        return
    rows = [merge_only(size, args.repeat) for size in args.sizes]
    if len(rows) >= 2:
        small, large = rows[0], rows[-1]
        print(f"merge growth: {large['merge_cpu_s'] / max(small['merge_cpu_s'], 1e-9):.1f}× CPU for "
              f"{large['goldens'] / max(small['goldens'], 1):.1f}× golden clients")
    print(json.dumps(rows), file=sys.stderr)


if __name__ == "__main__":
    main()
