"""A distributed sync run made of ``sync_task`` rows, as the executor leaves them, for the read-side tests.

The run (`add_distributed_run`): five phases, 14 tasks, two workers. Ingest (3 tasks, fxiaoke's retried once),
match (4 partitions), link (1), merge (4 golden-client ranges: one done, one running, one failed after three
tries with an error quoting a phone number and an e-mail address, one queued) and deliver (2 queued). So: 9 of 14
done, the run is in phase merge at 1/4, 1 running, 1 failed, 3 retries (1 in ingest, 2 in merge).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from crmhub.store.tables import SyncRun, SyncTask

W1, W2 = "node-a:4101", "node-b:5202"
PHONE_ERROR = "fxiaoke refused contact 13812345678 (li.wei@163.com): 500"
"""The failed task's error as the executor stored it (masked on every screen)."""

TASKS: list[tuple[int, str, str, str, int, str | None]] = [
    # seq, phase, part, status, tries, worker
    (1, "ingest", "zoho", "done", 1, W1),
    (1, "ingest", "fxiaoke", "done", 2, W2),
    (1, "ingest", "ledger", "done", 1, W1),
    (2, "match", "p0", "done", 1, W1),
    (2, "match", "p1", "done", 1, W2),
    (2, "match", "p2", "done", 1, W1),
    (2, "match", "p3", "done", 1, W2),
    (3, "link", "all", "done", 1, W2),
    (4, "merge", "gc:1-5000", "done", 1, W1),
    (4, "merge", "gc:5001-10000", "running", 1, W2),
    (4, "merge", "gc:10001-15000", "failed", 3, W1),
    (4, "merge", "gc:15001-20000", "queued", 0, None),
    (5, "deliver", "zoho", "queued", 0, None),
    (5, "deliver", "fxiaoke", "queued", 0, None),
]


def add_distributed_run(
    session: Session, *, status: str = "running", job: str | None = "nightly", now: datetime | None = None
) -> int:
    """Store the run above (``executor = "workers"``, no report yet while ``running``); return its id.

    Each task that started took 10 s, starting one minute after the previous; the running one started at ``now``
    minus 30 s, so its duration reads 30 s."""
    now = now or datetime.now(UTC)
    start = now - timedelta(hours=1)
    run = SyncRun(
        kind="sync",
        trigger="scheduler" if job else "manual",
        job=job,
        status=status,
        dry_run=False,
        connectors=["zoho", "fxiaoke", "ledger"],
        report={},
        started_at=start,
        executor="workers",
        holder=W1,
    )
    session.add(run)
    session.flush()
    for i, (seq, phase, part, state, tries, worker) in enumerate(TASKS):
        began = start + timedelta(minutes=i) if state != "queued" else None
        if state == "running":
            began = now - timedelta(seconds=30)
        extra: dict[str, Any] = {}
        if state in ("done", "failed"):
            extra["finished_at"] = began + timedelta(seconds=10) if began else None
        session.add(
            SyncTask(
                run_id=run.id,
                seq=seq,
                phase=phase,
                part=part,
                spec={"part": part},
                status=state,
                tries=tries,
                worker=worker,
                job_id=100 + i if worker else None,
                counters={"read": 50 * (i + 1)} if state == "done" else None,
                error=PHONE_ERROR if state == "failed" else None,
                created_at=start,
                started_at=began,
                heartbeat_at=began,
                **extra,
            )
        )
    session.flush()
    return run.id
