"""Benchmark: the sync's match phase alone, full and incremental, with an in-memory index or the stored one.

Issue #17 item 3. A store is filled with ``--records`` client records (the drifted population of
``tests/sync/drift_world.py`` as stored snapshots, all dirty), then for each implementation — ``--old-src`` (a
checkout's ``src`` whose `Resolver` rebuilds the in-memory index, e.g. main) and this checkout — in a fresh process
on its own copy: the match phase over the whole book (full), then ``--share`` of the records changed plus a
fifth as many new records (drifted duplicates, dirty, unlinked: they need candidate lookups) and the match phase
again (incremental). Printed per step: CPU seconds (``time.process_time``), wall seconds, peak RSS of the step's
process and how much of it the step added; then whether both implementations linked every record to the same
golden client and queued the same review pairs (the stored index must not change a single decision).

    python bench/match_phase.py --records 100000 --old-src /path/to/main/src
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _rss_mib() -> float:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _current_rss_mib() -> float:
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def step(db: str) -> None:
    """One match phase on ``db`` in this process (whatever `crmhub` is importable); prints a JSON line."""
    from crmhub.store import Store
    from crmhub.sync.resolve import Resolver
    from crmhub.sync.settings import MatchingSettings

    store = Store.open(f"sqlite:///{db}", migrate=False)
    before = _current_rss_mib()
    cpu, wall = time.process_time(), time.monotonic()
    resolver = Resolver(MatchingSettings(), run_id=None)
    with store.begin() as s:
        resolver.load_index(s)
    while True:
        with store.begin() as s:
            batch = resolver.dirty_batch(s)
            if not batch:
                break
            resolver.link_batch(s, batch)
    print(
        json.dumps(
            {
                "cpu_s": round(time.process_time() - cpu, 2),
                "wall_s": round(time.monotonic() - wall, 2),
                "peak_mib": round(_rss_mib(), 1),
                "added_mib": round(_rss_mib() - before, 1),
                "linked": sum(resolver.linked.values()),
                "created": sum(resolver.created.values()),
            }
        )
    )


def _data(record: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": record.name.original,
        "phone": record.phone,
        "uscc": record.uscc or record.uscc_invalid,
    }
    if record.region_code:
        data["registered_address"] = {"division_code": record.region_code}
    if record.legal_rep:
        data["legal_representative"] = {
            "name": record.legal_rep,
            "phone": record.other_phones[0] if record.other_phones else None,
        }
    return data


def _rows(records: list[Any], start: int) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    return [
        {
            "connector": r.system,
            "stream": "accounts",
            "source_id": f"{r.ref}#{start + i}",
            "kind": "client",
            "raw": {},
            "data": _data(r),
            "content_hash": str(start + i),
            "first_seen_at": now,
            "last_seen_at": now,
            "deleted": False,
            "dirty": True,
        }
        for i, r in enumerate(records)
    ]


def prepare(db: Path, size: int, seed: int) -> tuple[list[Any], dict[str, int]]:
    """A migrated store holding ``size`` dirty client records; returns the population (for the changes) and its
    ground truth (ref → company)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from sqlalchemy import insert

    from crmhub.store import Store
    from crmhub.store.tables import SourceRecord
    from sync.drift_world import drifted_population

    population, truth = drifted_population(int(size / 1.6) + 10, seed=seed)
    records = population[:size]
    store = Store.open(f"sqlite:///{db}")
    with store.begin() as s:
        for i in range(0, len(records), 5000):
            s.execute(insert(SourceRecord), _rows(records[i : i + 5000], i))
    store.dispose()
    return records, truth


def change(db: Path, records: list[Any], share: float, seed: int) -> int:
    """Change ``share`` of the records (new phone, dirty) and add a fifth as many new drifted duplicates."""
    from sqlalchemy import bindparam, insert, update

    from crmhub.store import Store
    from crmhub.store.tables import SourceRecord

    rng = random.Random(seed)
    n = max(1, int(len(records) * share))
    store = Store.open(f"sqlite:///{db}", migrate=False)
    picked = rng.sample(range(len(records)), n)
    with store.begin() as s:
        table = SourceRecord.__table__
        s.execute(
            update(table).where(table.c.id == bindparam("b_id")).values(data=bindparam("b_data"), dirty=True),
            [{"b_id": i + 1, "b_data": {**_data(records[i]), "phone": f"0755-{8000000 + i}"}} for i in picked],
        )
        extra = [records[i] for i in rng.sample(range(len(records)), max(1, n // 5))]
        s.execute(insert(SourceRecord), _rows(extra, 10_000_000))
    store.dispose()
    return n + len(extra)


def _run_step(db: Path, src: str | None) -> dict[str, Any]:
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = f"{src}{os.pathsep}{env.get('PYTHONPATH', '')}"
    out = subprocess.run(
        [sys.executable, __file__, "--step", str(db)], env=env, check=True, capture_output=True, text=True
    ).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def _decisions(db: Path) -> tuple[list[Any], list[Any]]:
    import sqlite3

    with sqlite3.connect(db) as conn:
        links = conn.execute("SELECT source_record_id, client_id, method FROM xref ORDER BY 1").fetchall()
        reviews = conn.execute("SELECT dedup_key, round(score, 9) FROM review_item ORDER BY 1").fetchall()
    return links, reviews


def _quality(db: Path, truth: dict[str, int]) -> str:
    """Pairwise precision/recall of the golden clients against the population's truth."""
    import sqlite3

    from sync.drift_world import pairwise_quality

    clusters: dict[int, list[str]] = {}
    refs: dict[str, int] = {}
    with sqlite3.connect(db) as conn:
        for source_id, client_id in conn.execute(
            "SELECT s.source_id, x.client_id FROM xref x JOIN source_record s ON s.id = x.source_record_id"
        ):
            clusters.setdefault(client_id, []).append(source_id)
            refs[source_id] = truth[source_id.split("#")[0]]
    q = pairwise_quality(clusters.values(), refs)
    return f"precision {q.precision:.4f}, recall {q.recall:.4f} ({q.true_pairs} true pairs)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--share", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--old-src", help="src directory of the implementation to compare with (e.g. main's)")
    parser.add_argument("--workdir", default="var/bench/match_phase")
    parser.add_argument("--step", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        step(args.step)
        return
    work = Path(args.workdir)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    template = work / "template.db"
    records, truth = prepare(template, args.records, args.seed)
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}; "
        f"{len(records)} client records"
    )
    variants = {"stored index (this checkout)": None}
    if args.old_src:
        variants = {"old (--old-src)": args.old_src, **variants}
    results: dict[str, dict[str, Any]] = {}
    for label, src in variants.items():
        db = work / f"{len(results)}.db"
        shutil.copy(template, db)
        full = _run_step(db, src)
        changed = change(db, records, args.share, args.seed)
        incr = _run_step(db, src)
        quality = _quality(db, truth)
        results[label] = {"full": full, "incremental": incr, "changed": changed, "quality": quality, "db": db}
        print(f"{label:<30} full: {full}\n{'':<30} incremental ({changed} changed or new): {incr}\n{'':<30} {quality}")
    if len(results) == 2:
        a, b = (_decisions(r["db"]) for r in results.values())
        print(f"same links: {a[0] == b[0]} ({len(a[0])} records), same review pairs: {a[1] == b[1]} ({len(a[1])})")
    print(json.dumps({k: {kk: vv for kk, vv in v.items() if kk != "db"} for k, v in results.items()}))


if __name__ == "__main__":
    main()
