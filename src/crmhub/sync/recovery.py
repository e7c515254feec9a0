"""Closing runs whose process died: no run stays ``running`` for ever.

A sync run row is written ``running`` with its ``holder`` (``host:pid``) when it starts and is finished by the
same process. A process killed by SIGKILL, the OOM killer or a power cut never finishes it. Every start that may
run a sync (``crmhub sync``, ``jobs run``, the scheduler, a worker) therefore first calls `recover_dead_runs`,
which finds running rows whose holder is gone — the same rule as the run locks (`crmhub.store.locks`): a holder
on this host whose pid no longer exists, or, for another host, no heartbeat (of the run or of any lock the
holder keeps) for `STALE_AFTER` — and marks them ``interrupted`` with a report built from what the store holds
for that run: the records its committed pages stored, its dead letters, write-backs, assessments and alerts.
Everything it committed stays; the next run resumes from the committed cursors.

Operators hear of it once: `crmhub.notify.facts.run_facts` turns a recovered run into one ``sync_failed``
notification (ref ``run:<id>:interrupted``), de-duplicated by the outbox key like every other notification.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from crmhub.core.outbox import OutboxState
from crmhub.core.report import ConnectorReport, RunReport
from crmhub.store import Store
from crmhub.store.locks import STALE_AFTER, holder_id, holder_is_dead
from crmhub.store.tables import Alert, DeadLetter, Outbox, RiskAssessmentRow, RunLock, SyncCursor, SyncRun
from crmhub.store.tables import SourceRecord as SourceRow

log = logging.getLogger("crmhub.sync")


def _utc(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:  # SQLite hands back naive datetimes
        return value.replace(tzinfo=UTC)
    return value


def run_is_orphaned(session: Session, run: SyncRun, *, now: datetime, stale_after: timedelta = STALE_AFTER) -> bool:
    """True when nobody is running ``run`` any more (see the module docstring for the rule)."""
    holder = run.holder
    if holder == holder_id():
        return False
    if holder and holder_is_dead(holder):
        return True
    cutoff = now - stale_after
    last = _utc(run.heartbeat_at) or _utc(run.started_at)
    if last is not None and last >= cutoff:
        return False
    locks = select(func.count()).select_from(RunLock).where(RunLock.heartbeat_at >= cutoff)
    if holder:
        locks = locks.where(RunLock.holder == holder)
    else:  # a run from before holders were recorded: alive while any lock on its connectors is fresh
        locks = locks.where(RunLock.name.in_([f"connector:{n}" for n in run.connectors or []]))
    return not (session.scalar(locks) or 0)


def committed_report(session: Session, run: SyncRun, reason: str, now: datetime) -> dict[str, Any]:
    """The report of an interrupted run, counted from what its committed transactions left in the store."""
    started = _utc(run.started_at) or now
    report = RunReport(
        run_id=run.id,
        status="interrupted",
        trigger=run.trigger,
        job=run.job,
        started_at=started,
        finished_at=now,
        error=reason,
    )
    report.duration_s = round((now - started).total_seconds(), 3)
    for name in run.connectors or []:
        report.connectors[name] = ConnectorReport(status="stopped", error=reason)
    created = func.sum(case((SourceRow.first_seen_at >= run.started_at, 1), else_=0))
    for connector, stream, n, new in session.execute(
        select(SourceRow.connector, SourceRow.stream, func.count(), created)
        .where(SourceRow.last_run_id == run.id)
        .group_by(SourceRow.connector, SourceRow.stream)
    ).all():
        rep = report.connectors.setdefault(connector, ConnectorReport(status="stopped", error=reason))
        rep.streams[stream] = {
            "read": int(n),
            "created": int(new or 0),
            "updated": int(n) - int(new or 0),
            "committed": True,
        }
    for connector, stream in session.execute(
        select(SyncCursor.connector, SyncCursor.stream).where(SyncCursor.run_id == run.id)
    ).all():
        rep = report.connectors.setdefault(connector, ConnectorReport(status="stopped", error=reason))
        rep.streams.setdefault(stream, {"read": 0, "committed": True})
    t = report.totals
    t.dead_letters = (
        session.scalar(select(func.count()).select_from(DeadLetter).where(DeadLetter.run_id == run.id)) or 0
    )
    for state, n in session.execute(
        select(Outbox.state, func.count())
        .where(Outbox.run_id == run.id, Outbox.kind == "write_back")
        .group_by(Outbox.state)
    ).all():
        t.planned_writes += int(n)
        if state == OutboxState.CONFIRMED:
            t.written_back += int(n)
    t.risk_assessed = (
        session.scalar(select(func.count()).select_from(RiskAssessmentRow).where(RiskAssessmentRow.run_id == run.id))
        or 0
    )
    t.alerts_raised = session.scalar(select(func.count()).select_from(Alert).where(Alert.run_id == run.id)) or 0
    data = report.model_dump(mode="json")
    data["recovered"] = {"at": now.isoformat(), "holder": run.holder, "by": holder_id()}
    return data


def mark_interrupted(session: Session, run: SyncRun, reason: str, *, now: datetime | None = None) -> None:
    """Close ``run`` as ``interrupted`` with ``reason`` and a report of what it had committed."""
    now = now or datetime.now(UTC)
    run.status = "interrupted"
    run.error = reason
    run.finished_at = now
    run.report = committed_report(session, run, reason, now)


def recover_dead_runs(store: Store, *, stale_after: timedelta = STALE_AFTER) -> list[int]:
    """Mark every ``running`` run whose process is gone as ``interrupted`` (with its report); returns their ids."""
    now = datetime.now(UTC)
    recovered: list[int] = []
    with store.begin() as s:
        candidates = list(
            s.scalars(
                select(SyncRun)
                .where(SyncRun.status == "running", SyncRun.dry_run.is_(False))
                .order_by(SyncRun.id)
                .with_for_update(skip_locked=True)
            )
        )
        for run in candidates:
            if not run_is_orphaned(s, run, now=now, stale_after=stale_after):
                continue
            who = run.holder or "an unknown process"
            reason = (
                f"interrupted: the process running it ({who}) died (killed, out of memory or power loss) "
                "before it finished; what it had committed is kept and the next run resumes from there"
            )
            mark_interrupted(s, run, reason, now=now)
            recovered.append(run.id)
    for run_id in recovered:
        log.warning(
            "run %s was left running by a dead process: marked interrupted",
            run_id,
            extra={"fields": {"event": "run_recovered", "run_id": run_id}},
        )
    return recovered
