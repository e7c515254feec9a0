"""The sync engine: runs the phases of `crmhub.sync.phases.CYCLE` for one configuration against one store.

The engine knows the phases only by their declared attributes (`crmhub.sync.phase.Phase`): it opens the
connectors, takes the connector locks, holds the merge lock across the phases that need it, times each phase (wall
and CPU seconds), applies each phase's counters to the run report, fires the phases' events after they commit, and
stores the report. ``dry_run`` runs the same phases inside one transaction that is rolled back, and skips the
phases that would reach outside (``deliver``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from typing import Any

from crmhub.config import Settings
from crmhub.contract import Connector, PluginContext, TokenCache
from crmhub.core.report import ConnectorReport, RunReport
from crmhub.errors import InputError
from crmhub.events import Event, emit
from crmhub.masking import mask_url
from crmhub.plugins import Registry
from crmhub.store import Store
from crmhub.store.locks import LockSet, holder_id
from crmhub.store.secrets import StoreTokenCache
from crmhub.store.tables import SyncRun
from crmhub.store.unit import UnitOfWork
from crmhub.sync.phase import NoProgress, Phase, Progress, RiskStep, RunContext
from crmhub.sync.phases import CYCLE, FINISH
from crmhub.sync.ratebudget import rate_limits
from crmhub.sync.recovery import recover_dead_runs

log = logging.getLogger("crmhub.sync")

MERGE_LOCK = "engine:merge"
"""Store-wide: one process at a time runs the phases that write golden records (``Phase.under_merge_lock``)."""


class SyncEngine:
    """Runs sync cycles for one configuration against one store."""

    def __init__(
        self,
        settings: Settings,
        registry: Registry,
        store: Store,
        *,
        progress: Progress | None = None,
        risk_phase: RiskStep | None = None,
        after_run: Callable[[RunReport], Awaitable[None]] | None = None,
        phases: tuple[Phase, ...] = CYCLE,
    ) -> None:
        """``after_run`` is awaited at the end of every non-dry run, once its report is stored (notifications)."""
        self.settings = settings
        self.registry = registry
        self.store = store
        self.progress: Progress = progress or NoProgress()

        self.token_cache = StoreTokenCache(store)
        self.risk_phase = risk_phase
        self.after_run = after_run
        self.phases = phases

    def selected(self, only: list[str] | None) -> list[str]:
        """Enabled connectors, restricted to ``only``; unknown names are an `InputError`."""
        enabled = [n for n, c in self.settings.connectors.items() if c.enabled]
        if not only:
            return enabled
        unknown = [n for n in only if n not in self.settings.connectors]
        if unknown:
            raise InputError(
                f"unknown connector(s) {', '.join(unknown)}; configured: {', '.join(self.settings.connectors) or '-'}"
            )
        return [n for n in only if n in enabled]

    def check_streams(self, names: list[str]) -> None:
        """Every stream a connector's config names is one its plugin offers; else an `InputError`."""
        for name in names:
            cfg = self.settings.connectors[name]
            offered = [s.name for s in self.registry.connectors[cfg.plugin].streams]
            unknown = sorted(set(cfg.streams or ()) - set(offered))
            if unknown:
                raise InputError(
                    f"connectors.{name}.streams: unknown stream(s) {', '.join(unknown)}; "
                    f"{name} offers {', '.join(offered)}"
                )

    async def run(
        self,
        only: list[str] | None = None,
        *,
        dry_run: bool = False,
        trigger: str = "manual",
        job: str | None = None,
        lock_wait: float = 0.0,
    ) -> RunReport:
        """One full sync cycle; returns (and, unless a dry run, stores) its report."""
        names = self.selected(only)
        self.check_streams(names)
        started = datetime.now(UTC)
        report = RunReport(run_id=None, dry_run=dry_run, trigger=trigger, job=job, started_at=started)
        locks = LockSet(self.store, [f"connector:{n}" for n in names])
        if not dry_run:
            await asyncio.to_thread(recover_dead_runs, self.store)
            await locks.acquire_async(wait=lock_wait)
        uow = UnitOfWork(self.store, dry_run=dry_run)
        ctx = RunContext(
            self.settings,
            self.registry,
            self.store,
            report,
            uow,
            {},
            locks,
            self.progress,
            emit=self._emitter(report, dry_run),
            risk_step=self.risk_phase,
            after_run=self.after_run,
        )
        try:
            with uow.transaction() as s:
                row = new_run(names, trigger=trigger, job=job, started=started, dry_run=dry_run, holder=holder_id())
                s.add(row)
                s.flush()
                report.run_id = row.id
            locks.run_id = report.run_id
            async with AsyncExitStack() as stack:
                ctx.connectors.update(
                    await open_connectors(stack, self.settings, self.registry, self.store, names, self.token_cache)
                )
                for name in names:
                    report.connectors[name] = ConnectorReport()
                await self._cycle(ctx)
        except BaseException as exc:
            report.status = "interrupted" if isinstance(exc, KeyboardInterrupt | asyncio.CancelledError) else "failed"
            report.error = mask_url(f"{type(exc).__name__}: {exc}")
            conclude(report)
            await self._finishing(ctx, interrupted=not isinstance(exc, Exception))
            raise
        finally:
            uow.close()
            if not dry_run:
                locks.release()
        conclude(report)
        await self._finishing(ctx, interrupted=False)
        return report

    async def _cycle(self, ctx: RunContext) -> None:
        """Run the phases in order; the merge lock is held from the first phase that needs it to the last."""
        merge_lock: LockSet | None = None
        try:
            for phase in self.phases:
                if phase.under_merge_lock and merge_lock is None:
                    merge_lock = LockSet(self.store, [MERGE_LOCK])
                    if not ctx.dry_run:
                        await merge_lock.acquire_async(wait=3600)
                elif not phase.under_merge_lock and merge_lock is not None:
                    merge_lock.release()
                    merge_lock = None
                await self._run_phase(ctx, phase)
        finally:
            if merge_lock is not None:
                merge_lock.release()

    async def _run_phase(self, ctx: RunContext, phase: Phase) -> None:
        if (ctx.dry_run and not phase.in_dry_run) or not phase.enabled(ctx):
            return
        self.progress.phase(phase.name)
        wall, cpu = time.monotonic(), time.process_time()
        counters = await phase.run(ctx)
        counters.apply(ctx.report)
        ctx.report.phases[phase.name] = round(time.monotonic() - wall, 3)
        ctx.report.phase_cpu[phase.name] = round(time.process_time() - cpu, 3)

    async def _finishing(self, ctx: RunContext, *, interrupted: bool) -> None:
        """Run the FINISH phases (store the report, then notify); an interrupted run skips those that say so."""
        if ctx.dry_run:
            return
        for phase in FINISH:
            if (interrupted and not phase.after_interrupt) or not phase.enabled(ctx):
                continue
            self.progress.phase(phase.name)
            await phase.run(ctx)

    def _emitter(self, report: RunReport, dry_run: bool) -> Callable[[Iterable[Event]], None]:
        """The phases' one way to tell plugins about what they committed (nothing in a dry run)."""

        def fire(events: Iterable[Event]) -> None:
            if not dry_run:
                emit(self.registry.hook, events, report.run_id)

        return fire


def new_run(
    connectors: list[str],
    *,
    trigger: str,
    job: str | None,
    started: datetime,
    dry_run: bool = False,
    holder: str | None = None,
    executor: str = "process",
) -> SyncRun:
    """The ``sync_run`` row a sync starts with (in one process, or split over workers)."""
    return SyncRun(
        kind="sync",
        trigger=trigger,
        job=job,
        status="running",
        dry_run=dry_run,
        connectors=connectors,
        report={},
        started_at=started,
        heartbeat_at=started,
        holder=holder,
        executor=executor,
    )


async def open_connectors(
    stack: AsyncExitStack,
    settings: Settings,
    registry: Registry,
    store: Store,
    names: Iterable[str],
    token_cache: TokenCache,
) -> dict[str, Connector[Any]]:
    """Open the named connectors inside ``stack`` (closed with it), pacing through the store's rate limits
    (shared by every process on the store when `crmhub.sync.ratebudget` says so)."""
    limits = stack.enter_context(rate_limits(settings, store))
    opened: dict[str, Connector[Any]] = {}
    for name in names:
        cfg = settings.connectors[name]
        cls = registry.connectors[cfg.plugin]
        context = PluginContext(name=name, token_cache=token_cache, rate_limits=limits)
        opened[name] = await stack.enter_async_context(cls(cfg, context))
    return opened


def conclude(report: RunReport) -> None:
    """Set the finish time and, for a run still ``running``, its status from the connectors' outcomes."""
    report.finished_at = datetime.now(UTC)
    report.duration_s = round((report.finished_at - report.started_at).total_seconds(), 3)
    if report.status != "running":
        return
    failed = [n for n, c in report.connectors.items() if c.status == "failed"]
    stream_errors = any("error" in s for c in report.connectors.values() for s in c.streams.values())
    if failed and len(failed) == len(report.connectors):
        report.status = "failed"
        report.error = report.error or "; ".join(f"{n}: {report.connectors[n].error}" for n in failed)
    elif failed or stream_errors or any(c.status == "stopped" for c in report.connectors.values()):
        report.status = "partial"
    else:
        report.status = "succeeded"
