"""The sync cycle for one run: ingest → match → merge → (risk) → plan write-back → deliver → report.

Each phase persists its progress in the store (cursors per page, dirty flags per batch, outbox states per
write), so a run killed at any instant and run again loses nothing and repeats nothing. ``dry_run`` runs the
same code inside one transaction that is rolled back, and never calls a connector's ``push``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import func, insert, select, update

from crmhub.config import Settings
from crmhub.contract import Connector, PluginContext, StreamKind, StreamSpec
from crmhub.errors import FatalError, InputError, QuotaExhaustedError, RetriableError, UnreachableError
from crmhub.masking import mask_url
from crmhub.plugins import Registry
from crmhub.store import Store
from crmhub.store.tables import DeadLetter, GoldenClient, SyncRun, SyncRunStream
from crmhub.store.tables import FieldLineage as FieldLineageRow
from crmhub.store.tables import SourceRecord as SourceRow
from crmhub.sync.ingest import Ingestor, StreamStats, load_cursor
from crmhub.sync.interactions import LinkOutcome, link_batch
from crmhub.sync.locks import LockSet, holder_id
from crmhub.sync.merge import Merger, load_lineage, load_members
from crmhub.sync.outbox import deliver
from crmhub.sync.recovery import recover_dead_runs
from crmhub.sync.report import ConnectorReport, RunReport
from crmhub.sync.resolve import Resolver
from crmhub.sync.unit import UnitOfWork
from crmhub.sync.writeback import Target, plan_batch, writable_targets

log = logging.getLogger("crmhub.sync")

STREAM_ORDER = {StreamKind.CLIENT: 0, StreamKind.CONTACT: 1, StreamKind.INTERACTION: 2, StreamKind.DELETION: 3,
                StreamKind.ACCOUNT: 4, StreamKind.FACILITY: 5, StreamKind.TRANSACTION: 6}
MERGE_BATCH = 500
MERGE_LOCK = "engine:merge"


class Progress(Protocol):
    """What the engine tells a progress display (the CLI's rich bars, or nothing)."""

    def stream_started(self, connector: str, stream: str) -> None: ...
    def page_stored(self, connector: str, stream: str, stats: StreamStats) -> None: ...
    def stream_finished(self, connector: str, stream: str, stats: StreamStats) -> None: ...
    def phase(self, name: str) -> None: ...


class _NoProgress:
    def stream_started(self, connector: str, stream: str) -> None:
        return None

    def page_stored(self, connector: str, stream: str, stats: StreamStats) -> None:
        return None

    def stream_finished(self, connector: str, stream: str, stats: StreamStats) -> None:
        return None

    def phase(self, name: str) -> None:
        return None


@dataclass(slots=True)
class RunContext:
    """Mutable state of one run shared by the phases."""

    report: RunReport
    uow: UnitOfWork
    connectors: dict[str, Connector[Any]]
    events: list[tuple[Any, dict[str, tuple[Any, Any]]]] = field(default_factory=list)


def default_priority(settings: Settings, registry: Registry) -> list[str]:
    """Trust order when none is configured: ledger-like connectors (with account/loan streams) first."""
    names = list(settings.connectors)

    def ledger_like(name: str) -> bool:
        cls = registry.connectors.get(settings.connectors[name].plugin)
        kinds = {s.kind for s in (cls.streams if cls else ())}
        return bool(kinds & {StreamKind.ACCOUNT, StreamKind.FACILITY, StreamKind.TRANSACTION})

    return sorted(names, key=lambda n: (0 if ledger_like(n) else 1, names.index(n)))


class SyncEngine:
    """Runs sync cycles for one configuration against one store."""

    def __init__(self, settings: Settings, registry: Registry, store: Store, *,
                 progress: Progress | None = None,
                 risk_phase: Callable[..., list[Any]] | None = None,
                 after_run: Callable[[RunReport], Awaitable[None]] | None = None) -> None:
        """``after_run`` is awaited at the end of every non-dry run, once its report is stored (notifications)."""
        self.settings = settings
        self.registry = registry
        self.store = store
        self.progress: Progress = progress or _NoProgress()
        from crmhub.store.secrets import StoreTokenCache

        self.token_cache = StoreTokenCache(store)
        self.risk_phase = risk_phase
        self.after_run = after_run

    def selected(self, only: list[str] | None) -> list[str]:
        """Enabled connectors, restricted to ``only``; unknown names are an `InputError`."""
        enabled = [n for n, c in self.settings.connectors.items() if c.enabled]
        if not only:
            return enabled
        unknown = [n for n in only if n not in self.settings.connectors]
        if unknown:
            raise InputError(f"unknown connector(s) {', '.join(unknown)}; configured: "
                             f"{', '.join(self.settings.connectors) or '-'}")
        return [n for n in only if n in enabled]

    async def run(self, only: list[str] | None = None, *, dry_run: bool = False, trigger: str = "manual",
                  job: str | None = None, lock_wait: float = 0.0) -> RunReport:
        """One full sync cycle; returns (and, unless a dry run, stores) its report."""
        names = self.selected(only)
        for name in names:
            cfg = self.settings.connectors[name]
            offered = [s.name for s in self.registry.connectors[cfg.plugin].streams]
            unknown = sorted(set(cfg.streams or ()) - set(offered))
            if unknown:
                raise InputError(f"connectors.{name}.streams: unknown stream(s) {', '.join(unknown)}; "
                                 f"{name} offers {', '.join(offered)}")
        started = datetime.now(UTC)
        report = RunReport(run_id=None, dry_run=dry_run, trigger=trigger, job=job, started_at=started)
        locks = LockSet(self.store, [f"connector:{n}" for n in names])
        if not dry_run:
            await asyncio.to_thread(recover_dead_runs, self.store)
            await locks.acquire_async(wait=lock_wait)
        uow = UnitOfWork(self.store, dry_run=dry_run)
        try:
            with uow.transaction() as s:
                row = SyncRun(kind="sync", trigger=trigger, job=job, status="running", dry_run=dry_run,
                              connectors=names, report={}, started_at=started, heartbeat_at=started,
                              holder=holder_id())
                s.add(row)
                s.flush()
                report.run_id = row.id
            locks.run_id = report.run_id
            async with AsyncExitStack() as stack:
                connectors: dict[str, Connector[Any]] = {}
                for name in names:
                    cfg = self.settings.connectors[name]
                    cls = self.registry.connectors[cfg.plugin]
                    context = PluginContext(name=name, token_cache=self.token_cache)
                    connectors[name] = await stack.enter_async_context(cls(cfg, context))
                    report.connectors[name] = ConnectorReport()
                ctx = RunContext(report, uow, connectors)
                await self._phases(ctx, locks)
        except BaseException as exc:
            report.status = "interrupted" if isinstance(exc, KeyboardInterrupt | asyncio.CancelledError) \
                else "failed"
            report.error = mask_url(f"{type(exc).__name__}: {exc}")
            self._finish(report, uow)
            if isinstance(exc, Exception):
                await self._after_run(report)
            raise
        finally:
            uow.close()
            if not dry_run:
                locks.release()
        self._finish(report, uow)
        self._fire_run_finished(report)
        await self._after_run(report)
        return report

    async def _phases(self, ctx: RunContext, locks: LockSet) -> None:
        t0 = time.monotonic()
        self.progress.phase("ingest")
        await asyncio.gather(*(self._ingest(ctx, name, conn, locks) for name, conn in ctx.connectors.items()))
        ctx.report.phases["ingest"] = round(time.monotonic() - t0, 3)
        merge_lock = LockSet(self.store, [MERGE_LOCK])
        if not ctx.uow.dry_run:
            await merge_lock.acquire_async(wait=3600)
        try:
            for phase, fn in (("match", self._match), ("merge", self._merge), ("link", self._link)):
                self.progress.phase(phase)
                t = time.monotonic()
                await asyncio.to_thread(fn, ctx)
                ctx.report.phases[phase] = round(time.monotonic() - t, 3)
            if self.risk_phase is not None:
                self.progress.phase("risk")
                t = time.monotonic()
                def emit(events: list[Any]) -> None:
                    self._fire_events(ctx, events)

                ctx.events.extend(self.risk_phase(ctx.uow, ctx.report.run_id, ctx.report, emit))
                ctx.report.phases["risk"] = round(time.monotonic() - t, 3)
            self.progress.phase("plan")
            t = time.monotonic()
            self._plan(ctx)
            ctx.report.phases["plan"] = round(time.monotonic() - t, 3)
        finally:
            merge_lock.release()
        if not ctx.uow.dry_run:
            self.progress.phase("deliver")
            t = time.monotonic()
            await self._deliver(ctx)
            ctx.report.phases["deliver"] = round(time.monotonic() - t, 3)
        self._fire_client_events(ctx)

    # --- ingest ------------------------------------------------------------------------------------------

    async def _ingest(self, ctx: RunContext, name: str, conn: Connector[Any], locks: LockSet) -> None:
        rep = ctx.report.connectors[name]
        started = time.monotonic()
        ingestor = Ingestor(name, ctx.report.run_id)
        wanted = conn.config.streams
        streams = sorted((s for s in conn.streams if wanted is None or s.name in wanted),
                         key=lambda s: STREAM_ORDER.get(s.kind, 9))
        try:
            for spec in streams:
                stats = StreamStats()
                try:
                    await self._ingest_stream(ctx, name, conn, spec, ingestor, stats, locks)
                except UnreachableError:
                    raise  # the source is down: the whole connector fails, its other streams are not tried
                except (RetriableError, RecoverableStreamError) as exc:
                    stats.error = f"{type(exc).__name__}: {exc}"
                    log.warning("%s/%s stopped: %s", name, spec.name, stats.error)
                finally:
                    rep.streams[spec.name] = stats.as_dict()
                    ctx.report.totals.data_quality += stats.extra.get("data_quality", 0)
                    self.progress.stream_finished(name, spec.name, stats)
            _fail_if_nothing_came(rep)
        except QuotaExhaustedError as exc:
            rep.status, rep.error = "stopped", str(exc)
        except (FatalError, UnreachableError) as exc:
            rep.status, rep.error = "failed", str(exc)
            log.warning("%s failed: %s", name, rep.error)
        finally:
            rep.api = conn.context.metrics.as_dict()
            rep.duration_s = round(time.monotonic() - started, 3)

    async def _ingest_stream(self, ctx: RunContext, name: str, conn: Connector[Any], spec: StreamSpec,
                             ingestor: Ingestor, stats: StreamStats, locks: LockSet) -> None:
        with ctx.uow.transaction() as s:
            cursor = load_cursor(s, name, spec.name)
        self.progress.stream_started(name, spec.name)
        try:
            async for page in conn.pull(spec.name, cursor):
                with ctx.uow.transaction() as s:
                    ingestor.store_page(s, spec, page, stats)
                self.progress.page_stored(name, spec.name, stats)
                if not ctx.uow.dry_run:
                    await asyncio.to_thread(locks.heartbeat)
        except (FatalError, QuotaExhaustedError, RetriableError):
            raise
        except Exception as exc:
            raise RecoverableStreamError(f"{type(exc).__name__}: {exc}") from exc

    # --- match and merge ---------------------------------------------------------------------------------

    def _match(self, ctx: RunContext) -> None:
        resolver = Resolver(self.settings.sync.matching, ctx.report.run_id)
        with ctx.uow.transaction() as s:
            resolver.load_index(s)
            s.execute(update(SourceRow).where(  # interactions stay dirty for the link phase
                SourceRow.dirty.is_(True),
                SourceRow.kind.not_in([StreamKind.CLIENT.value, StreamKind.INTERACTION.value])).values(dirty=False))
        while True:
            with ctx.uow.transaction() as s:
                batch = resolver.dirty_batch(s)
                if not batch:
                    break
                resolver.link_batch(s, batch)
        ctx.report.totals.records_linked += sum(resolver.linked.values())
        ctx.report.totals.review_items += resolver.review_items
        for (connector, stream), n in resolver.linked.items():
            if connector in ctx.report.connectors and stream in ctx.report.connectors[connector].streams:
                ctx.report.connectors[connector].streams[stream]["merged"] = n

    def _link(self, ctx: RunContext) -> None:
        """Interaction records → the golden clients merged above (see `crmhub.sync.interactions`)."""
        total, after = LinkOutcome(), 0
        while True:
            with ctx.uow.transaction() as s:
                outcome, last = link_batch(s, after)
            if last is None:
                break
            total.add(outcome)
            after = last
        t = ctx.report.totals
        t.interactions_linked, t.interactions_removed, t.interactions_pending = (total.linked, total.removed,
                                                                                 total.pending)

    def _merge(self, ctx: RunContext) -> None:
        merger = Merger(self.settings.sync, default_priority(self.settings, self.registry), ctx.report.run_id)
        last_id = 0
        while True:
            with ctx.uow.transaction() as s:
                goldens = list(s.scalars(select(GoldenClient).where(
                    GoldenClient.needs_merge.is_(True), GoldenClient.status == "active",
                    GoldenClient.id > last_id).order_by(GoldenClient.id).limit(MERGE_BATCH)))
                if not goldens:
                    break
                last_id = goldens[-1].id
                members, contacts = load_members(s, [g.id for g in goldens])
                lineage = load_lineage(s, [g.id for g in goldens])
                inserts: list[dict[str, Any]] = []
                batch_events: list[tuple[Any, ...]] = []
                for golden in goldens:
                    created = not golden.data
                    outcome = merger.merge(s, golden, members[golden.id], contacts[golden.id], created=created,
                                           lineage=lineage[golden.id], inserts=inserts)
                    t = ctx.report.totals
                    t.conflicts += outcome.conflicts
                    t.conflicts_queued += outcome.conflicts_queued
                    if created:
                        t.clients_created += 1
                    elif outcome.changes:
                        t.clients_updated += 1
                    if outcome.changes and outcome.client is not None:
                        batch_events.append((outcome.client, outcome.changes))
                s.flush()
                if inserts:
                    s.execute(insert(FieldLineageRow), inserts)
            # fired per committed batch, so memory stays bounded by the batch on a book of any size
            self._fire_events(ctx, batch_events)

    # --- write-back --------------------------------------------------------------------------------------

    def _targets(self, ctx: RunContext) -> list[Target]:
        return writable_targets(ctx.connectors)

    def _plan(self, ctx: RunContext) -> None:
        targets = self._targets(ctx)
        last_id: int | None = 0
        while last_id is not None:
            with ctx.uow.transaction() as s:
                outcome = plan_batch(s, last_id, targets, ctx.report.run_id, dry_run=ctx.uow.dry_run,
                                     limit=MERGE_BATCH)
            last_id = outcome.last_id
            ctx.report.totals.planned_writes += outcome.planned
            ctx.report.plan.extend(plan.as_change() for plan in outcome.plans)

    async def _deliver(self, ctx: RunContext) -> None:
        for target in self._targets(ctx):
            rep = ctx.report.connectors[target.connector]
            if rep.status != "ok":
                continue
            try:
                stats = await deliver(ctx.uow, ctx.connectors[target.connector], target.connector,
                                      batch=self.settings.sync.write_batch, run_id=ctx.report.run_id)
            except FatalError as exc:
                rep.status, rep.error = "failed", f"write-back: {exc}"
                continue
            rep.written_back += stats.confirmed
            rep.write_failed += stats.failed
            rep.write_retried += stats.retried
            ctx.report.totals.written_back += stats.confirmed
            ctx.report.totals.write_failed += stats.failed
            rep.api = ctx.connectors[target.connector].context.metrics.as_dict()

    # --- finishing ---------------------------------------------------------------------------------------

    def _finish(self, report: RunReport, uow: UnitOfWork) -> None:
        report.finished_at = datetime.now(UTC)
        report.duration_s = round((report.finished_at - report.started_at).total_seconds(), 3)
        if report.status == "running":
            failed = [n for n, c in report.connectors.items() if c.status == "failed"]
            stream_errors = any("error" in s for c in report.connectors.values() for s in c.streams.values())
            if failed and len(failed) == len(report.connectors):
                report.status = "failed"
                report.error = report.error or "; ".join(f"{n}: {report.connectors[n].error}" for n in failed)
            elif failed or stream_errors or any(c.status == "stopped" for c in report.connectors.values()):
                report.status = "partial"
            else:
                report.status = "succeeded"
        if report.run_id is None or uow.dry_run:
            return
        with self.store.begin() as s:
            report.totals.dead_letters = s.scalar(select(func.count()).select_from(DeadLetter).where(
                DeadLetter.run_id == report.run_id)) or 0
            row = s.get(SyncRun, report.run_id)
            if row is not None:
                row.status = report.status
                row.finished_at = report.finished_at
                row.error = report.error
                row.report = report.model_dump(mode="json")
                for cname, crep in report.connectors.items():
                    for sname, counts in crep.streams.items():
                        s.merge(SyncRunStream(run_id=report.run_id, connector=cname, stream=sname,
                                              stats={**counts, **{k: v for k, v in crep.api.items()}},
                                              error=counts.get("error")))

    def _fire_client_events(self, ctx: RunContext) -> None:
        self._fire_events(ctx, ctx.events)
        ctx.events = []

    def _fire_events(self, ctx: RunContext, events: list[tuple[Any, ...]]) -> None:
        """Fire ``(client, changes)`` merge events and ``(hook, kwargs, …)`` events (never in a dry run)."""
        if ctx.uow.dry_run:
            return
        for item in events:
            try:
                if not isinstance(item[0], str):  # (client, changes) from the merge; otherwise (hook, kwargs, …)
                    client, changes = item
                    self.registry.hook.crmhub_client_changed(client=client, changes=changes,
                                                             run_id=ctx.report.run_id)
                else:
                    kind, kwargs = item[0], item[1]
                    getattr(self.registry.hook, kind)(**kwargs)
            except Exception:
                log.exception("a plugin's event handler failed")

    async def _after_run(self, report: RunReport) -> None:
        """Call the ``after_run`` hook for a stored (non-dry) run; its failures are logged, never the run's."""
        if self.after_run is None or report.dry_run or report.run_id is None:
            return
        try:
            await self.after_run(report)
        except Exception:
            log.exception("the after-run hook failed (run %s is stored; notifications are planned again by "
                          "`crmhub notify run`)", report.run_id)

    def _fire_run_finished(self, report: RunReport) -> None:
        if report.dry_run:
            return
        try:
            self.registry.hook.crmhub_run_finished(report=report.model_dump(mode="json"))
        except Exception:
            log.exception("a plugin's run_finished handler failed")


def _fail_if_nothing_came(rep: ConnectorReport) -> None:
    """A connector every stream of which stopped on an error before reading a record was down for the whole run:
    it is ``failed`` (with the first error as the reason), never ``ok`` with a run that looks partly done."""
    streams = list(rep.streams.values())
    if rep.status != "ok" or not streams or not all(s.get("error") for s in streams):
        return
    if any(s.get("read") for s in streams):
        return
    rep.status = "failed"
    rep.error = f"every stream failed, nothing was read; first error: {streams[0]['error']}"


class RecoverableStreamError(Exception):
    """An unexpected error inside one stream: reported on that stream; the other streams go on."""
