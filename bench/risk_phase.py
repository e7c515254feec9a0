"""Benchmark: the sync's risk phase alone (`make_risk_phase`) over a book made by ``bench/risk.py``.

Prints the phase's CPU seconds (``time.process_time``) and µs of CPU per client next to wall time, the average
stored bytes per assessment row (its JSON ``data`` as the store holds it), and — with ``--rerun`` — the same
figures for a second run over unchanged inputs (which must store nothing new). ``--profile N`` prints the N most
expensive functions (cProfile, cumulative) of the first run.

    python bench/risk.py --clients 10000 --transactions 1000000 --db /tmp/risk-10k.db   # make the book once
    python bench/risk_phase.py --db /tmp/risk-10k.db --rerun
    python bench/risk_phase.py --db /tmp/risk-10k.db --profile 40
"""

from __future__ import annotations

import argparse
import cProfile
import inspect
import pstats
import sqlite3
import sys
import time
import warnings
from typing import Any

from risk import TODAY, reset


def run_phase(db: str, batch: int, profile: int) -> dict[str, Any]:
    """One risk phase over every client flagged ``needs_risk``; CPU, wall and how much it stored."""
    from crmhub.config import Settings
    from crmhub.plugins import load
    from crmhub.risk.runner import make_risk_phase
    from crmhub.store import Store
    from crmhub.store.unit import UnitOfWork

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        registry = load()
    settings = Settings.model_validate({"risk": {"today": TODAY.isoformat(), "batch_size": batch}})
    store = Store.open(f"sqlite:///{db}")
    con = sqlite3.connect(db)
    clients = con.execute("SELECT count(*) FROM golden_client WHERE needs_risk").fetchone()[0]
    last_id = con.execute("SELECT coalesce(max(id), 0) FROM risk_assessment").fetchone()[0]
    con.close()
    phase = make_risk_phase(settings, registry)
    report = _report()
    uow = UnitOfWork(store)
    prof = cProfile.Profile() if profile else None
    cpu, wall = time.process_time(), time.monotonic()
    if prof is not None:
        prof.enable()
    if len(inspect.signature(phase).parameters) == 4:  # before the typed phases: (uow, run_id, report, emit)
        phase(uow, None, report, lambda events: None)
    else:
        phase(uow, None, lambda events: None)
    if prof is not None:
        prof.disable()
    cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    uow.close()
    store.dispose()
    if prof is not None:
        pstats.Stats(prof, stream=sys.stderr).sort_stats("cumulative").print_stats(profile)
        pstats.Stats(prof, stream=sys.stderr).sort_stats("tottime").print_stats(profile)
    con = sqlite3.connect(db)
    new, size = con.execute(
        "SELECT count(*), coalesce(avg(length(CAST(data AS BLOB))), 0) FROM risk_assessment WHERE id > ?", (last_id,)
    ).fetchone()
    con.close()
    return {
        "clients": clients,
        "cpu_s": round(cpu, 2),
        "wall_s": round(wall, 2),
        "us_per_client": round(cpu / max(clients, 1) * 1e6),
        "stored": new,
        "bytes_per_row": round(size),
    }


def _report() -> Any:
    from datetime import UTC, datetime

    from crmhub.core.report import RunReport

    return RunReport(run_id=None, started_at=datetime.now(UTC), dry_run=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", default="/tmp/crmhub-risk-bench.db")
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--rerun", action="store_true", help="run the phase again over unchanged inputs")
    ap.add_argument("--profile", type=int, default=0, metavar="N")
    args = ap.parse_args()
    reset(args.db)
    first = run_phase(args.db, args.batch, args.profile)
    print(
        f"risk phase: {first['clients']:,} clients in {first['cpu_s']} s CPU ({first['us_per_client']} µs/client), "
        f"{first['wall_s']} s wall; {first['stored']:,} assessments stored, {first['bytes_per_row']:,} bytes each"
    )
    if args.rerun:
        con = sqlite3.connect(args.db, isolation_level=None)
        con.execute("UPDATE golden_client SET needs_risk = 1")
        con.close()
        again = run_phase(args.db, args.batch, 0)
        print(
            f"rerun:      {again['clients']:,} clients in {again['cpu_s']} s CPU ({again['us_per_client']} "
            f"µs/client), {again['wall_s']} s wall; {again['stored']:,} assessments stored"
        )


if __name__ == "__main__":
    main()
