"""`run_job`: one run of one configured job — the single code path behind the scheduler, workers and
``crmhub jobs run``.

Around the command (`crmhub.jobs.commands`) it adds what unattended runs need, the same way for every executor:

* a ``job:<name>`` lock, so one job never runs twice at once anywhere, and a `Keeper` thread that keeps this
  process's locks fresh (see `crmhub.jobs.liveness`); a runner found dead is reaped before the job starts;
* the command runs in a thread with its own event loop: the sync engine's risk and plan steps are synchronous,
  and the caller's loop must stay free to answer signals, heartbeat procrastinate and time the job out. When the
  command's loop ends, every thread it started has finished (``asyncio.run`` waits for them), so any lock a
  cancelled run left behind can be released without racing it;
* the ``timeout``: a stop request at the deadline, honoured at the next safe point (`crmhub.jobs.guard`);
* ``job_state`` bookkeeping (start, outcome, history) and one structured log line at start and at end.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import select

from crmhub.errors import InputError
from crmhub.i18n import bilingual
from crmhub.jobs import audit_head, joblog, liveness, state
from crmhub.jobs.commands import COMMANDS, CommandResult, JobContext
from crmhub.jobs.guard import StopToken
from crmhub.jobs.settings import format_duration
from crmhub.notify.service import Notifier
from crmhub.store import Store
from crmhub.store.locks import LockSet, holder_id
from crmhub.store.tables import RunLock

if TYPE_CHECKING:
    from crmhub.config import Settings
    from crmhub.plugins import Registry

T = TypeVar("T")
OK_STATUSES = ("succeeded", "partial", "skipped")


@dataclass(slots=True)
class JobOutcome:
    """How one run of a job ended (what ``jobs run --json`` prints and ``job_state`` keeps)."""

    job: str
    command: str
    trigger: str
    status: str
    started_at: datetime
    finished_at: datetime
    run_id: int | None = None
    error: str | None = None
    retriable: bool = False
    tick: datetime | None = None
    executor: str = "cli"
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        """Wall-clock seconds."""
        return round((self.finished_at - self.started_at).total_seconds(), 3)

    @property
    def ok(self) -> bool:
        """Succeeded, partial (a partial sync kept what it could and reports the rest) or skipped."""
        return self.status in OK_STATUSES

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, as stored in the job's history."""
        return {
            "job": self.job,
            "command": self.command,
            "trigger": self.trigger,
            "status": self.status,
            "run_id": self.run_id,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat(),
            "duration_s": self.duration_s,
            "error": self.error,
            "retriable": self.retriable,
            "tick": self.tick.isoformat() if self.tick else None,
            "executor": self.executor,
            "details": self.details,
        }


def job_settings(settings: Settings, name: str) -> Any:
    """The ``[jobs.<name>]`` table, or an `InputError` listing the configured jobs."""
    job = settings.jobs.get(name)
    if job is None:
        raise InputError(
            bilingual(
                f"没有名为 {name!r} 的作业；已配置：{', '.join(settings.jobs) or '无'}",
                f"no job named {name!r}; configured: {', '.join(settings.jobs) or 'none'}",
            ),
            hint=bilingual("在配置文件中添加 [jobs.<名称>]", "add a [jobs.<name>] table to the config"),
        )
    return job


def in_own_loop(work: Callable[[], Awaitable[T]], name: str) -> asyncio.Future[T]:
    """Start ``work()`` on a new event loop in a new thread; the future settles once that loop and every thread
    it started are done (``asyncio.run`` waits for its executor)."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, exc: BaseException | None) -> None:
        if done.done():
            return
        if exc is not None:
            done.set_exception(exc)
        else:
            done.set_result(result)  # type: ignore[arg-type]

    def main() -> None:
        async def call() -> T:
            return await work()

        try:
            result = asyncio.run(call())
        except BaseException as exc:
            loop.call_soon_threadsafe(settle, None, exc)
        else:
            loop.call_soon_threadsafe(settle, result, None)

    threading.Thread(target=main, name=f"crmhub-job-{name}", daemon=True).start()
    return done


async def _finish_first(done: asyncio.Future[T], token: StopToken) -> T:
    """Await the job; if the caller is cancelled, ask the job to stop, wait for it, then let the cancel through
    (releasing the job's locks while its thread still writes would let a second writer in)."""
    try:
        return await asyncio.shield(done)
    except asyncio.CancelledError:
        token.request("shutdown", "interrupted: the executor was cancelled; the next run resumes")
        await asyncio.wait({done})
        raise


def _own_locks(store: Store) -> set[str]:
    with store.begin() as s:
        return set(s.scalars(select(RunLock.name).where(RunLock.holder == holder_id())))


async def run_job(
    settings: Settings,
    registry: Registry,
    job_name: str,
    trigger: str = "scheduler",
    *,
    store: Store | None = None,
    token: StopToken | None = None,
    tick: datetime | None = None,
    lock_wait: float | None = None,
    executor: str = "cli",
    meta: dict[str, Any] | None = None,
    take_tick: bool = False,
) -> JobOutcome:
    """Run job ``job_name`` once now and record the outcome; never raises for a failed run (only for an unknown
    job or an unreachable store). One job at a time per process: crmhub's run locks belong to a process.

    ``lock_wait``: seconds to wait for busy connector (or merge) locks — default: the job's timeout.
    ``take_tick``: move ``job_state.last_tick`` to ``tick`` (workers: the tick they were handed).
    """
    job = job_settings(settings, job_name)
    own_store = store is None
    db = store if store is not None else Store.open(settings.store.url, var_dir=settings.var_dir)
    token = token or StopToken()
    keeper = liveness.Keeper.enter(db)
    started = datetime.now(UTC)
    timeout = job.timeout_seconds
    ctx = JobContext(
        job_name, job, settings, registry, db, token, trigger, timeout if lock_wait is None else lock_wait, started
    )
    lock = LockSet(db, [liveness.job_lock(job_name)], stale_after=liveness.STALE)
    result: CommandResult
    try:
        await asyncio.to_thread(liveness.reap_dead_runners, db, only=job_name)
        before = await asyncio.to_thread(_own_locks, db)
        blocked = await asyncio.to_thread(lock.try_acquire)
        if blocked is not None:
            result = CommandResult(
                "locked",
                error=bilingual(
                    f"作业 {job_name} 已在运行：{blocked}", f"job {job_name} is already running: {blocked}"
                ),
                retriable=True,
            )
        else:
            running = {
                "holder": holder_id(),
                "started_at": started.isoformat(),
                "trigger": trigger,
                "tick": tick.isoformat() if tick else None,
                "executor": executor,
                **(meta or {}),
            }
            await asyncio.to_thread(state.record_start, db, job_name, running, tick=tick if take_tick else None)
            joblog.event(
                "job_started",
                bilingual(f"作业 {job_name} 开始（{job.command}）", f"job {job_name} started ({job.command})"),
                job=job_name,
                command=job.command,
                trigger=trigger,
                executor=executor,
                tick=tick.isoformat() if tick else None,
                timeout_s=timeout,
            )
            deadline = asyncio.get_running_loop().call_later(
                timeout,
                token.request,
                "timeout",
                f"timeout: job {job_name} exceeded {format_duration(timeout)}; every committed page is kept and the "
                "next run resumes",
            )
            try:
                result = await _finish_first(in_own_loop(lambda: COMMANDS[job.command](ctx), job_name), token)
            except Exception as exc:  # a bug in the command wiring: record it like any failure
                result = CommandResult("failed", error=f"{type(exc).__name__}: {exc}")
            finally:
                deadline.cancel()
            leftover = await asyncio.to_thread(liveness.release_own, db, before | set(lock.names))
            if leftover:
                result.details["released_locks"] = leftover
            chain = await asyncio.to_thread(audit_head.check, db, job_name, result.run_id)
            if chain is not None:
                result.details["audit_chain"] = chain
        outcome = JobOutcome(
            job_name,
            job.command,
            trigger,
            result.status,
            started,
            datetime.now(UTC),
            result.run_id,
            result.error,
            result.retriable,
            tick,
            executor,
            result.details,
        )
        if blocked is None:
            await asyncio.to_thread(state.record_finish, db, job_name, outcome.as_dict(), holder=holder_id())
        _log_end(outcome)
        broken_chain = audit_head.is_broken(result.details.get("audit_chain"))
        if blocked is None and (_operators_not_told(outcome) or broken_chain):
            await _tell_operators(settings, registry, db, outcome)
        return outcome
    finally:
        await asyncio.to_thread(lock.release)
        keeper.exit()
        if own_store:
            db.dispose()


def _operators_not_told(outcome: JobOutcome) -> bool:
    """A failed scheduled run that no failed sync run reports (the sync engine notifies those itself)."""
    return (
        outcome.status == "failed"
        and outcome.trigger == "scheduler"
        and (outcome.command != "sync" or outcome.run_id is None)
    )


async def _tell_operators(settings: Settings, registry: Registry, store: Store, outcome: JobOutcome) -> None:
    """Plan and send the failure notice now (``sync_failed`` route). Planning reads the job's stored history, so
    if this process dies first, the next notification pass still sends it — exactly once."""
    if not settings.notify.enabled:
        return

    try:
        async with Notifier(settings, registry, store) as notifier:
            await notifier.run(follow_ups=False)
    except Exception as exc:  # the failure is recorded and logged already; a notify problem must not hide it
        joblog.event(
            "job_failure_not_notified",
            bilingual(
                f"作业 {outcome.job} 的失败通知未能发送：{exc}",
                f"could not notify operators of job {outcome.job}'s failure: {exc}",
            ),
            level=logging.WARNING,
            job=outcome.job,
        )


def _log_end(outcome: JobOutcome) -> None:
    level = logging.INFO if outcome.ok else logging.WARNING
    msg = bilingual(
        f"作业 {outcome.job} 结束：{outcome.status}（{outcome.duration_s} 秒）",
        f"job {outcome.job} finished: {outcome.status} ({outcome.duration_s}s)",
    )
    joblog.event(
        "job_finished",
        msg,
        level=level,
        job=outcome.job,
        command=outcome.command,
        trigger=outcome.trigger,
        run_id=outcome.run_id,
        status=outcome.status,
        duration_s=outcome.duration_s,
        tick=outcome.tick.isoformat() if outcome.tick else None,
        executor=outcome.executor,
        error=outcome.error,
        retriable=outcome.retriable,
    )
