"""Benchmark: CPU of the merge phase alone, in µs per golden client, at one or more world sizes.

Step 1 (``--build``) runs a full sync of a synthetic world (simulators in their own process) and copies the SQLite
store the moment the merge phase starts (match done, every golden client flagged ``needs_merge``); it also prints
the merge CPU seen inside that sync (``time.process_time`` at the phase switches). Step 2 (default) runs only the
engine's merge phase over a fresh copy of that snapshot, ``--repeat`` times, and prints CPU seconds and µs per
golden client — so the code of the merge can be compared before and after a change on exactly the same data.

    python bench/merge_cpu.py --build --sizes 10000 100000
    python bench/merge_cpu.py --sizes 10000 --replicate 10   # or: a 100,000 snapshot made of 10 copies
    python bench/merge_cpu.py --sizes 10000 100000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
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


_PREFIXES = ("A1", "A9", "N1", "N2", "N3", "N9", "Y1", "81", "89", "71", "79", "61", "69", "41", "49", "21", "29")
_TOKEN = re.compile(r"[0-9A-HJ-NP-RTUWXY]{18}")


def replicate(base: int, factor: int) -> None:
    """A snapshot of ``factor`` × the ``base`` world: each company copied with its own ids, source ids and USCC.

    Every copy merges exactly as its original does (same members, same values but the USCC), so the larger
    snapshot measures how the merge scales, without a sync of the larger world (an hour on a busy 2-core box).
    """
    from crmhub.model import uscc as uscc_mod

    size = base * factor
    src, dst = ROOT / f"snapshot_{base}.db", ROOT / f"snapshot_{size}.db"
    shutil.copyfile(src, dst)
    shutil.copyfile(ROOT / f"sandbox_{base}.toml", ROOT / f"sandbox_{size}.toml")
    con = sqlite3.connect(dst)
    g_off = 10 ** len(str(con.execute("SELECT max(id) FROM golden_client").fetchone()[0]))
    s_off = 10 ** len(str(con.execute("SELECT max(id) FROM source_record").fetchone()[0]))
    tables = {
        t: ([c[1] for c in con.execute(f"PRAGMA table_info({t})")], con.execute(f"SELECT * FROM {t}").fetchall())
        for t in ("golden_client", "source_record", "xref")
    }
    for k in range(1, factor):
        mapping: dict[str, str] = {}

        def remap(text: Any, k: int = k, mapping: dict[str, str] = mapping) -> Any:
            def one(m: re.Match[str]) -> str:
                code = m.group(0)
                if code not in mapping:
                    body = _PREFIXES[k - 1] + code[2:17]
                    mapping[code] = body + uscc_mod.check_character(body) if uscc_mod.is_valid(code) else code
                return mapping[code]

            return _TOKEN.sub(one, text) if isinstance(text, str) else text

        for table, (cols, rows) in tables.items():
            out = []
            for row in rows:
                r = dict(zip(cols, row, strict=True))
                if table == "golden_client":
                    r["id"] += k * g_off
                    r["uscc"], r["data"] = remap(r["uscc"]), remap(r["data"])
                elif table == "source_record":
                    r["id"] += k * s_off
                    r["source_id"] = f"{r['source_id']}~{k}"
                    if r["parent_source_id"] is not None:
                        r["parent_source_id"] = f"{r['parent_source_id']}~{k}"
                    r["data"], r["raw"] = remap(r["data"]), remap(r["raw"])
                else:
                    r["source_record_id"] += k * s_off
                    r["client_id"] += k * g_off
                out.append(tuple(r[c] for c in cols))
            con.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", out)
        con.commit()
    con.execute("ANALYZE")
    con.close()
    print(f"built {dst}: {factor} × the {base}-company snapshot")


def merge_only(size: int, repeat: int) -> dict[str, Any]:
    """Run the engine's merge phase over a copy of the snapshot; CPU seconds and µs per golden client."""
    from sqlalchemy import func, select

    from crmhub import plugins
    from crmhub.config import parse_settings
    from crmhub.core.report import RunReport
    from crmhub.store import Store
    from crmhub.store.locks import LockSet
    from crmhub.store.tables import GoldenClient
    from crmhub.store.unit import UnitOfWork
    from crmhub.sync.phase import NoProgress, RunContext
    from crmhub.sync.phases import MergePhase

    snapshot = ROOT / f"snapshot_{size}.db"
    registry = plugins.load()
    best: float | None = None
    goldens = 0
    for _ in range(repeat):
        db = ROOT / f"run_{size}.db"
        shutil.copyfile(snapshot, db)
        store = Store.open(f"sqlite:///{db}", migrate=False)
        with store.begin() as s:
            goldens = int(
                s.scalar(select(func.count()).select_from(GoldenClient).where(GoldenClient.needs_merge.is_(True))) or 0
            )
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
    row = {
        "size": size,
        "goldens": goldens,
        "merge_cpu_s": round(best, 3),
        "us_per_golden": round(best / max(goldens, 1) * 1e6, 1),
    }
    print(
        f"merge {size:>7} companies: {goldens} golden clients, {best:.2f} s CPU (best of {repeat}), "
        f"{row['us_per_golden']} µs per golden client"
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000])
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--speed", type=float, default=50.0, help="simulator rate windows shortened (build only)")
    parser.add_argument("--build", action="store_true", help="sync the world up to merge and keep a snapshot")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument(
        "--replicate",
        type=int,
        metavar="FACTOR",
        help="make snapshot_<size×FACTOR> from snapshot_<size> (first --sizes) by copying companies",
    )
    args = parser.parse_args()
    print(env_note())
    ROOT.mkdir(parents=True, exist_ok=True)
    if args.replicate:
        replicate(args.sizes[0], args.replicate)
        return
    if args.build:
        for size in args.sizes:
            build(size, args.seed, args.speed)
        return
    rows = [merge_only(size, args.repeat) for size in args.sizes]
    if len(rows) >= 2:
        small, large = rows[0], rows[-1]
        print(
            f"merge growth: {large['merge_cpu_s'] / max(small['merge_cpu_s'], 1e-9):.1f}× CPU for "
            f"{large['goldens'] / max(small['goldens'], 1):.1f}× golden clients"
        )
    print(json.dumps(rows), file=sys.stderr)


if __name__ == "__main__":
    main()
