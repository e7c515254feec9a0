"""What each job ``command`` does — the same code the matching CLI command runs, wired for unattended use.

``sync`` is `SyncEngine.run` with the risk phase and the notify after-run hook (as ``crmhub sync`` wires them),
``trigger`` and ``job`` set so the stored report says who started it, and `SafePoints` as its progress listener
so a stop lands between pages. ``risk assess`` is `crmhub.risk.runner.assess` under the merge lock (as
``crmhub risk assess``), stopping between batches. ``notify run`` is `Notifier.run`; ``report digest`` plans just
the digest of the scheduled runs and delivers it. Each returns a `CommandResult`; none raises for an ordinary
failure, so the runner records every outcome the same way.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from crmhub.errors import CrmhubError, LockedError, RetriableError
from crmhub.jobs.guard import JobStopped, SafePoints, StopReason, StopToken, post
from crmhub.jobs.settings import JobSettings
from crmhub.notify.delivery import Deliverer
from crmhub.notify.planner import Planner
from crmhub.notify.service import Notifier
from crmhub.risk.runner import AssessOutcome, assess, make_risk_phase
from crmhub.security.guard import current_actor
from crmhub.store.locks import LockSet
from crmhub.store.tables import RunLock, SyncRun
from crmhub.sync.deliverer import run_deliverer
from crmhub.sync.engine import MERGE_LOCK, SyncEngine

if TYPE_CHECKING:
    from crmhub.config import Settings
    from crmhub.core.report import RunReport
    from crmhub.plugins import Registry
    from crmhub.store import Store


@dataclass(slots=True)
class JobContext:
    """Everything one run of one job needs."""

    name: str
    job: JobSettings
    settings: Settings
    registry: Registry
    store: Store
    token: StopToken
    trigger: str
    lock_wait: float
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(slots=True)
class CommandResult:
    """How one command ended: ``status`` is succeeded, partial, skipped (nothing to do: said in ``error``),
    failed, interrupted or locked."""

    status: str
    run_id: int | None = None
    error: str | None = None
    retriable: bool = False
    details: dict[str, Any] = field(default_factory=dict)


def _stopped(reason: StopReason, run_id: int | None, where: str | None = None) -> CommandResult:
    """A timeout is a failure operators hear about; a shutdown is an interruption that the next run resumes."""
    text = reason.text + (f" (during {where})" if where else "")
    if reason.kind == "timeout":
        return CommandResult("failed", run_id, text)
    return CommandResult("interrupted", run_id, text, retriable=True)


def _failure(exc: BaseException) -> CommandResult:
    if isinstance(exc, LockedError):
        return CommandResult("locked", error=exc.message, retriable=True)
    text = exc.message if isinstance(exc, CrmhubError) else f"{type(exc).__name__}: {exc}"
    return CommandResult("failed", error=text, retriable=isinstance(exc, RetriableError))


def _held(store: Store, names: list[str]) -> str:
    with store.begin() as s:
        rows = list(s.scalars(select(RunLock).where(RunLock.name.in_(names))))
    return "; ".join(f"{r.name} held by {r.holder}" for r in rows) or "none held now"


def _find_run(store: Store, job: str, since: datetime) -> SyncRun | None:
    with store.begin() as s:
        return s.scalars(
            select(SyncRun).where(SyncRun.job == job, SyncRun.started_at >= since).order_by(SyncRun.id.desc()).limit(1)
        ).first()


def _mark_failed(store: Store, run_id: int, reason: str) -> None:
    """Record a run stopped by its timeout as failed (the engine stored it as interrupted), so it is notified."""
    with store.begin() as s:
        row = s.get(SyncRun, run_id, with_for_update=True)
        if row is None:
            return
        row.status, row.error = "failed", reason
        row.report = {**(row.report or {}), "status": "failed", "error": reason}


def _report_details(report: RunReport) -> dict[str, Any]:
    t = report.totals
    return {
        "connectors": {n: c.status for n, c in report.connectors.items()},
        "clients_created": t.clients_created,
        "clients_updated": t.clients_updated,
        "written_back": t.written_back,
        "dead_letters": t.dead_letters,
        "alerts_raised": t.alerts_raised,
    }


async def run_sync(ctx: JobContext) -> CommandResult:
    """One sync run of the job's connectors, stoppable between pages."""
    settings, store = ctx.settings, ctx.store
    notifier = Notifier(settings, ctx.registry, store) if settings.notify.enabled and settings.channels else None
    guard = SafePoints(asyncio.get_running_loop(), ctx.token)

    async def after_run(report: RunReport) -> None:  # the engine tells the guard it is in "notify" first
        if notifier is not None:
            await notifier.after_run(report)

    engine = SyncEngine(
        settings,
        ctx.registry,
        store,
        progress=guard,
        risk_phase=make_risk_phase(settings, ctx.registry),
        after_run=after_run if notifier is not None else None,
    )
    task = asyncio.create_task(
        engine.run(ctx.job.connectors, trigger=ctx.trigger, job=ctx.name, lock_wait=ctx.lock_wait)
    )
    guard.bind(task)
    try:
        report = await task
    except asyncio.CancelledError:
        reason = ctx.token.reason
        current = asyncio.current_task()
        if reason is None or (current is not None and current.cancelling()):
            raise
        run = await asyncio.to_thread(_find_run, store, ctx.name, ctx.started_at)
        if run is None:
            names = [f"connector:{n}" for n in (ctx.job.connectors or settings.connectors)]
            held = await asyncio.to_thread(_held, store, names)
            return _stopped(reason, None, f"the wait for the connector locks: {held}")
        if run.status not in ("running", "interrupted"):  # it had ended; only its notifications were cut short
            return CommandResult(run.status, run.id, run.error, details={"notifications": "left to the next pass"})
        result = _stopped(reason, run.id, guard.stopped_in)
        if reason.kind == "timeout":
            await asyncio.to_thread(_mark_failed, store, run.id, str(result.error))
            if notifier is not None:  # the engine notifies only runs that ended by themselves
                await notifier.run(follow_ups=False)
        result.details = {"pages": guard.pages}
        return result
    except Exception as exc:
        return _failure(exc)
    finally:
        guard.unsubscribe()  # this loop ends with the job; a later stop request has nothing to cancel here
    return CommandResult(report.status, report.run_id, report.error, details=_report_details(report))


async def _acquire(ctx: JobContext, names: list[str]) -> Any:
    """Take crmhub locks, waiting up to ``lock_wait`` (a stop request ends the wait)."""
    lock = LockSet(ctx.store, names)
    deadline = time.monotonic() + ctx.lock_wait
    while True:
        blocked = await asyncio.to_thread(lock.try_acquire)
        if blocked is None:
            return lock
        reason = ctx.token.reason
        if reason is not None:
            raise JobStopped(reason)
        if time.monotonic() >= deadline:
            await asyncio.to_thread(lock.acquire, wait=0)  # raises LockedError naming the holder
        await asyncio.sleep(min(1.0, max(0.05, deadline - time.monotonic())))


async def run_risk(ctx: JobContext) -> CommandResult:
    """Assess the clients whose inputs changed, under the merge lock, stopping between batches."""

    def between_batches(_outcome: AssessOutcome) -> None:
        reason = ctx.token.reason
        if reason is not None:
            raise JobStopped(reason)

    try:
        lock = await _acquire(ctx, [MERGE_LOCK])
    except JobStopped as stop:
        return _stopped(stop.reason, None, "the wait for the merge lock")
    except Exception as exc:
        return _failure(exc)
    try:
        outcome = await asyncio.to_thread(
            assess, ctx.store, ctx.settings, ctx.registry, None, False, progress=between_batches
        )
    except JobStopped as stop:
        return _stopped(stop.reason, None, "risk assessment (every finished batch is kept)")
    except Exception as exc:
        return _failure(exc)
    finally:
        await asyncio.to_thread(lock.release)
    return CommandResult(
        "succeeded",
        details={
            "today": outcome.today.isoformat(),
            "clients": outcome.clients,
            "assessed": outcome.assessed,
            "rating_changes": outcome.rating_changes,
            "alerts_raised": outcome.alerts_raised,
        },
    )


async def _cancellable(ctx: JobContext, work: Callable[[], Awaitable[CommandResult]]) -> CommandResult:
    """Run ``work`` and cancel it outright on a stop request (notifications are exactly-once anywhere)."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(work())
    unsubscribe = ctx.token.subscribe(lambda reason: post(loop, task.cancel, reason.text))
    try:
        return await task
    except asyncio.CancelledError:
        reason = ctx.token.reason
        current = asyncio.current_task()
        if reason is None or (current is not None and current.cancelling()):
            raise
        return _stopped(reason, None)
    except Exception as exc:
        return _failure(exc)
    finally:
        unsubscribe()


async def run_notify(ctx: JobContext) -> CommandResult:
    """Plan and send every notification that is due (follow-up reminders included)."""

    async def work() -> CommandResult:
        async with Notifier(ctx.settings, ctx.registry, ctx.store) as notifier:
            outcome = await notifier.run(follow_ups=True)
        stopped = outcome.delivery.stopped
        return CommandResult(
            "failed" if stopped else "succeeded",
            details=outcome.as_dict(),
            error="; ".join(f"{k}: {v}" for k, v in stopped.items()) or None,
        )

    return await _cancellable(ctx, work)


async def run_digest(ctx: JobContext) -> CommandResult:
    """Plan the digest of the scheduled runs not yet summarised, and deliver it."""

    async def work() -> CommandResult:
        if not ctx.settings.notify.enabled:
            return CommandResult("skipped", error="notifications are off ([notify] enabled = false)")
        plan = await asyncio.to_thread(Planner(ctx.settings).plan, ctx.store, events=["digest"])
        async with Notifier(ctx.settings, ctx.registry, ctx.store) as notifier:
            stats = await Deliverer(ctx.store, ctx.settings.notify, notifier.pool).run()
        details = {"planned": sum(plan.planned.values()), "warnings": plan.warnings, **stats.as_dict()}
        problems = [*plan.warnings, *stats.stopped.values()]
        failed = bool(stats.stopped) or bool(plan.warnings and not plan.planned)
        return CommandResult(
            "failed" if failed else "succeeded", details=details, error="; ".join(problems) if failed else None
        )

    return await _cancellable(ctx, work)


async def run_deliver(ctx: JobContext) -> CommandResult:
    """Send the write-backs syncs left queued (`crmhub.sync.deliverer`); safe to stop anywhere — rows are marked
    ``sent`` before each call and re-sent idempotently by the next deliverer."""

    async def work() -> CommandResult:
        results = await run_deliverer(
            ctx.settings, ctx.registry, ctx.store, ctx.job.connectors, actor=current_actor().name
        )
        errors = [f"{r.connector}: {r.error}" for r in results if r.error]
        return CommandResult(
            "failed" if errors else "succeeded",
            details={"targets": [r.as_dict() for r in results]},
            error="; ".join(errors) or None,
        )

    return await _cancellable(ctx, work)


COMMANDS: dict[str, Callable[[JobContext], Awaitable[CommandResult]]] = {
    "sync": run_sync,
    "deliver": run_deliver,
    "risk assess": run_risk,
    "notify run": run_notify,
    "report digest": run_digest,
}
