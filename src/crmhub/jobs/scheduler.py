"""The embedded scheduler: ``crmhub scheduler run`` — every ``[jobs.*]`` tick on one machine, nothing else to run.

* **One scheduler per store**: it holds the ``scheduler:embedded`` lock (kept fresh by the `Keeper`), and on
  PostgreSQL it refuses to start while procrastinate workers are alive (they already run the schedules).
* **One job at a time**: crmhub's run locks belong to a process (``host:pid``), so two runs inside one process
  would not exclude each other — and SQLite has one writer anyway. A tick that comes while another job runs
  waits; several ticks of one job missed while busy coalesce into one run (a sync catches up by itself).
* **Ticks are claimed** in ``job_state.last_tick`` before they run, which is also how downtime is measured: on
  start, the ticks between ``last_tick`` and now were missed; ``catch_up = "once"`` runs the latest of them,
  ``"skip"`` records them as skipped. A job seen for the first time starts from the next tick.
* **Stopping** (SIGTERM/SIGINT): no new tick starts; the running job is asked to stop at its next safe point
  (`crmhub.jobs.guard`) and recorded as interrupted; it resumes on the next run. If it cannot stop within
  ``grace`` seconds (a long merge), or on a second signal, the process exits at once — a crash, which the
  engine is built for: nothing committed is lost, the locks expire, the next runner reaps the run.

The clock is injected (`Clock`), so tests run an hour of ticks in milliseconds.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from crmhub.errors import LockedError
from crmhub.i18n import bilingual
from crmhub.jobs import joblog, liveness, state
from crmhub.jobs.guard import StopToken
from crmhub.jobs.runner import JobOutcome, run_job
from crmhub.jobs.schedule import LATE_OK, Schedule
from crmhub.store import Store
from crmhub.store.locks import LockSet
from crmhub.sync.recovery import recover_dead_runs

if TYPE_CHECKING:
    from crmhub.config import Settings
    from crmhub.plugins import Registry

MAX_SLEEP = 60.0
DEFAULT_GRACE = 120.0


class Clock(Protocol):
    """Where the scheduler reads the time and waits for it."""

    def now(self) -> datetime: ...
    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


Runner = Callable[..., Awaitable[JobOutcome]]


@dataclass(slots=True)
class _Running:
    name: str
    started: datetime
    token: StopToken = field(default_factory=StopToken)


class EmbeddedScheduler:
    """Runs the configured jobs on their schedules, one at a time, until stopped."""

    def __init__(
        self,
        settings: Settings,
        registry: Registry,
        store: Store,
        *,
        clock: Clock | None = None,
        grace: float = DEFAULT_GRACE,
        runner: Runner = run_job,
        on_force: Callable[[int], None] | None = None,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.store = store
        self.clock: Clock = clock or SystemClock()
        self.grace = grace
        self.runner = runner
        self.on_force = on_force or os._exit
        self.schedules = {n: Schedule.of(j) for n, j in settings.jobs.items() if j.enabled}
        self.cursor: dict[str, datetime] = {}
        self.outcomes: list[JobOutcome] = []
        self.running: _Running | None = None
        self.stop_reason: str | None = None
        self._wake = asyncio.Event()
        self._grace_timer: asyncio.TimerHandle | None = None

    # --- stopping ------------------------------------------------------------------------------------------

    def stop(self, reason: str) -> None:
        """Stop after the running job reaches a safe point; a second call, or ``grace`` later, forces the exit."""
        if self.stop_reason is not None:
            self._force(f"{reason} received again")
            return
        self.stop_reason = reason
        self._wake.set()
        joblog.event(
            "scheduler_stopping",
            bilingual(f"调度器正在停止（{reason}）", f"scheduler stopping ({reason})"),
            reason=reason,
            running=self.running.name if self.running else None,
            grace_s=self.grace,
        )
        if self.running is not None:
            self.running.token.request(
                "shutdown",
                f"interrupted: the scheduler is stopping ({reason}); committed pages are kept and the next run resumes",
            )
            loop = asyncio.get_running_loop()
            self._grace_timer = loop.call_later(self.grace, self._force, f"grace of {self.grace:g}s expired")

    def _force(self, why: str) -> None:
        running = self.running
        reason = (
            f"interrupted: the scheduler exited without waiting ({why}) while the job was in a step that "
            "cannot stop safely; committed work is kept, the locks expire and the next run resumes"
        )
        if running is not None:
            liveness.interrupt_runs(self.store, running.name, running.started, reason)
        joblog.event(
            "scheduler_forced_exit",
            bilingual(f"调度器强制退出：{why}", f"scheduler exits now: {why}"),
            reason=why,
            job=running.name if running else None,
        )
        self.on_force(1)

    def install_signal_handlers(self) -> None:
        """SIGTERM and SIGINT stop the scheduler (a second one forces it)."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop, signal.Signals(sig).name)

    # --- ticks ---------------------------------------------------------------------------------------------

    def _startup(self, boot: datetime) -> list[tuple[str, datetime]]:
        """Set each job's cursor; return the catch-up runs (one per ``catch_up = "once"`` job that missed ticks)."""
        views = state.load(self.store, list(self.schedules))
        catch_up = []
        for name, schedule in self.schedules.items():
            job = self.settings.jobs[name]
            latest = schedule.latest_at_or_before(boot)
            last = views[name].last_tick if name in views else None
            self.cursor[name] = latest
            if last is None or latest <= last:
                if last is None:
                    state.claim_tick(self.store, name, latest)  # first sight: start from the next tick
                continue
            missed = sum(1 for _ in schedule.ticks_between(last, latest, limit=10_000))
            late = boot - latest <= LATE_OK  # a restart just after the tick: run it whatever catch_up says
            if late or job.catch_up == "once":
                catch_up.append((name, latest))
                joblog.event(
                    "job_catch_up",
                    bilingual(
                        f"作业 {name} 停机期间错过 {missed} 次，补跑一次",
                        f"job {name} missed {missed} tick(s) while stopped; running one now",
                    ),
                    job=name,
                    missed=missed,
                    tick=latest.isoformat(),
                    reason="late" if late else "catch_up=once",
                )
            elif state.claim_tick(self.store, name, latest):
                joblog.event(
                    "job_skipped",
                    bilingual(
                        f"作业 {name} 停机期间错过 {missed} 次，按 catch_up = skip 跳过",
                        f"job {name} missed {missed} tick(s) while stopped; skipped (catch_up = skip)",
                    ),
                    job=name,
                    missed=missed,
                    tick=latest.isoformat(),
                    reason="catch_up=skip",
                )
        return catch_up

    def _due(self, now: datetime) -> list[tuple[str, datetime]]:
        """The latest due tick of each job since its cursor (older ones it missed while busy are coalesced)."""
        due = []
        for name, schedule in self.schedules.items():
            ticks = list(schedule.ticks_between(self.cursor[name], now))
            if not ticks:
                continue
            self.cursor[name] = ticks[-1]
            if len(ticks) > 1:
                joblog.event(
                    "job_skipped",
                    bilingual(
                        f"作业 {name} 因前一个作业仍在运行，合并 {len(ticks) - 1} 次触发",
                        f"job {name}: {len(ticks) - 1} tick(s) coalesced while another job ran",
                    ),
                    job=name,
                    missed=len(ticks) - 1,
                    tick=ticks[-1].isoformat(),
                    reason="busy",
                )
            due.append((name, ticks[-1]))
        return sorted(due, key=lambda item: item[1])

    def next_wake(self, now: datetime) -> float:
        """Seconds until the next tick of any job (at most `MAX_SLEEP`, so the loop looks up regularly)."""
        nxt = min((s.next_after(max(self.cursor[n], now)) for n, s in self.schedules.items()), default=None)
        if nxt is None:
            return MAX_SLEEP
        return max(0.0, min(MAX_SLEEP, (nxt - now).total_seconds()))

    # --- running -------------------------------------------------------------------------------------------

    async def _run_tick(self, name: str, tick: datetime) -> None:
        if not await asyncio.to_thread(state.claim_tick, self.store, name, tick):
            joblog.event(
                "job_skipped",
                bilingual(f"作业 {name} 的这次触发已被其他进程领取", f"job {name}: this tick was already claimed"),
                job=name,
                tick=tick.isoformat(),
                reason="claimed",
            )
            return
        self.running = _Running(name, datetime.now(UTC))
        try:
            outcome = await self.runner(
                self.settings,
                self.registry,
                name,
                "scheduler",
                store=self.store,
                token=self.running.token,
                tick=tick,
                executor="scheduler",
            )
        finally:
            self.running = None
            if self._grace_timer is not None:
                self._grace_timer.cancel()
        self.outcomes.append(outcome)

    async def _sleep(self, seconds: float) -> None:
        sleeper = asyncio.ensure_future(self.clock.sleep(seconds))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for f in (sleeper, waker):
                f.cancel()

    def _refuse_if_workers(self) -> None:
        if self.store.dialect != "postgresql":
            return
        workers = liveness.live_workers(self.store)
        if workers:
            names = ", ".join(w.holder for w in workers)
            raise LockedError(
                bilingual(
                    f"此存储上有 procrastinate 工作进程在运行（{names}），它们已经执行 [jobs] 计划",
                    f"procrastinate workers are running on this store ({names}); they already run the [jobs] schedules",
                ),
                hint=bilingual(
                    "用 `crmhub worker` 或 `crmhub scheduler run` 之一，不要同时使用",
                    "use either `crmhub worker` or `crmhub scheduler run`, not both",
                ),
            )

    async def run(self, *, until: datetime | None = None, signals: bool = False) -> int:
        """Run until stopped (or, for tests, until the clock passes ``until``); returns the exit code."""
        lock = LockSet(self.store, [liveness.SCHEDULER_LOCK], stale_after=liveness.STALE)
        await asyncio.to_thread(lock.acquire, wait=0)
        keeper = liveness.Keeper.enter(self.store)
        try:
            await asyncio.to_thread(self._refuse_if_workers)
            if signals:
                self.install_signal_handlers()
            await asyncio.to_thread(liveness.reap_dead_runners, self.store)
            await asyncio.to_thread(recover_dead_runs, self.store)
            boot = self.clock.now()
            pending = await asyncio.to_thread(self._startup, boot)
            joblog.event(
                "scheduler_started",
                bilingual(
                    f"调度器已启动：{len(self.schedules)} 个作业", f"scheduler started: {len(self.schedules)} job(s)"
                ),
                jobs=self._summary(boot),
                store=self.store.dialect,
            )
            while self.stop_reason is None:
                now = self.clock.now()
                if until is not None and now > until:
                    break
                for name, tick in [*pending, *self._due(now)]:
                    if self.stop_reason is not None:
                        break
                    try:
                        await self._run_tick(name, tick)
                    except Exception as exc:  # the store is unreachable, say: log it, keep scheduling
                        joblog.event(
                            "job_error",
                            bilingual(f"作业 {name} 无法运行：{exc}", f"job {name} could not run: {exc}"),
                            level=logging.ERROR,
                            job=name,
                            tick=tick.isoformat(),
                            error=f"{type(exc).__name__}: {exc}",
                        )
                pending = []
                if self.stop_reason is None:
                    await self._sleep(self.next_wake(self.clock.now()))
        finally:
            keeper.exit()
            await asyncio.to_thread(lock.release)
        joblog.event(
            "scheduler_stopped",
            bilingual("调度器已停止", "scheduler stopped"),
            runs=len(self.outcomes),
            reason=self.stop_reason,
        )
        return 0

    def _summary(self, now: datetime) -> list[dict[str, Any]]:
        return [
            {
                "job": n,
                "cron": s.cron,
                "timezone": str(s.zone),
                "command": self.settings.jobs[n].command,
                "next": s.local(s.next_after(max(self.cursor.get(n, now), now))).isoformat(),
            }
            for n, s in self.schedules.items()
        ]
