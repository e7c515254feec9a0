"""The sync cycle, defined in one place: `CYCLE` is the list of phases a run goes through, in order.

    ingest → match → merge → link → risk → plan → deliver          (CYCLE)
    report → notify                                                (FINISH: after every run, even a failed one)

Every phase keeps its progress in the store (cursors per page, ``dirty``/``needs_*`` flags per committed batch,
outbox states per write), so a run killed at any moment and run again loses nothing and repeats nothing. See
`crmhub.sync.phase` for what the attributes mean and docs/architecture.md for the picture.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import ClassVar

from sqlalchemy import func, select, update

from crmhub.contract import StreamKind
from crmhub.core.report import PlannedChange, RunReport
from crmhub.errors import FatalError
from crmhub.events import ClientChanged
from crmhub.store.tables import DeadLetter, SyncRun, SyncRunStream
from crmhub.store.tables import SourceRecord as SourceRow
from crmhub.sync.deliverer import TargetDrain, drain_target
from crmhub.sync.ingest_phase import IngestPhase
from crmhub.sync.interactions import LinkOutcome, link_batch
from crmhub.sync.merge import Merger, merge_batch
from crmhub.sync.phase import Counters, NoCounters, Phase, RunContext, RunsIn
from crmhub.sync.resolve import Resolver
from crmhub.sync.writeback import plan_batch, writable_targets

MERGE_BATCH = 500
log = logging.getLogger("crmhub.sync")


def default_priority(ctx: RunContext) -> list[str]:
    """Trust order when none is configured: ledger-like connectors (with account/loan streams) first."""
    names = list(ctx.settings.connectors)

    def ledger_like(name: str) -> bool:
        cls = ctx.registry.connectors.get(ctx.settings.connectors[name].plugin)
        kinds = {s.kind for s in (cls.streams if cls else ())}
        return bool(kinds & {StreamKind.ACCOUNT, StreamKind.FACILITY, StreamKind.TRANSACTION})

    return sorted(names, key=lambda n: (0 if ledger_like(n) else 1, names.index(n)))


def first_and_last(ctx: RunContext) -> tuple[int, int | None]:
    """Page start (ids above it) and last id of the golden clients this run context works on."""
    if ctx.id_range is None:
        return 0, None
    return ctx.id_range[0] - 1, ctx.id_range[1]


@dataclass(slots=True)
class MatchCounters(Counters):
    """Client records linked to golden clients, per (connector, stream), and pairs queued for review."""

    linked: dict[tuple[str, str], int]
    review_items: int = 0

    def apply(self, report: RunReport) -> None:
        report.totals.records_linked += sum(self.linked.values())
        report.totals.review_items += self.review_items
        for (connector, stream), n in self.linked.items():
            if connector in report.connectors and stream in report.connectors[connector].streams:
                report.connectors[connector].streams[stream]["merged"] = n


class MatchPhase(Phase):
    """Link each dirty client record to a golden client (USCC, then the probabilistic matcher)."""

    name: ClassVar[str] = "match"
    runs_in: ClassVar[RunsIn] = "thread"
    cancel_safe: ClassVar[bool] = False
    under_merge_lock: ClassVar[bool] = True
    reads: ClassVar[frozenset[str]] = frozenset({"source_record.dirty"})
    clears: ClassVar[frozenset[str]] = frozenset({"source_record.dirty"})  # interactions keep it for `link`

    def work(self, ctx: RunContext) -> MatchCounters:
        resolver = Resolver(ctx.settings.sync.matching, ctx.run_id)
        with ctx.uow.transaction() as s:
            resolver.load_index(s)
            s.execute(
                update(SourceRow)
                .where(  # interactions stay dirty for the link phase
                    SourceRow.dirty.is_(True),
                    SourceRow.kind.not_in([StreamKind.CLIENT.value, StreamKind.INTERACTION.value]),
                )
                .values(dirty=False)
            )
        while True:
            with ctx.uow.transaction() as s:
                batch = resolver.dirty_batch(s)
                if not batch:
                    break
                resolver.link_batch(s, batch)
        return MatchCounters(dict(resolver.linked), resolver.review_items)


@dataclass(slots=True)
class MergeCounters(Counters):
    """Golden clients created and updated, field conflicts found and queued for a person."""

    created: int = 0
    updated: int = 0
    conflicts: int = 0
    conflicts_queued: int = 0

    def apply(self, report: RunReport) -> None:
        t = report.totals
        t.clients_created += self.created
        t.clients_updated += self.updated
        t.conflicts += self.conflicts
        t.conflicts_queued += self.conflicts_queued


class MergePhase(Phase):
    """Rebuild each golden client flagged ``needs_merge`` from its members, field by field, with lineage."""

    name: ClassVar[str] = "merge"
    runs_in: ClassVar[RunsIn] = "thread"
    cancel_safe: ClassVar[bool] = False
    under_merge_lock: ClassVar[bool] = True
    reads: ClassVar[frozenset[str]] = frozenset({"golden_client.needs_merge"})
    clears: ClassVar[frozenset[str]] = frozenset({"golden_client.needs_merge"})

    def work(self, ctx: RunContext) -> MergeCounters:
        merger = Merger(ctx.settings.sync, default_priority(ctx), ctx.run_id)
        counters = MergeCounters()
        last_id, upto = first_and_last(ctx)
        listening = bool(ctx.registry.hook.crmhub_client_changed.get_hookimpls())  # else no client is built
        while True:
            with ctx.uow.transaction() as s:
                batch = merge_batch(s, last_id, merger, MERGE_BATCH, want_clients=listening, upto=upto)
            if batch.last_id is None:
                break
            last_id = batch.last_id
            counters.created += batch.created
            counters.updated += batch.updated
            counters.conflicts += batch.conflicts
            counters.conflicts_queued += batch.conflicts_queued
            # per committed batch: memory stays bounded by the batch on a book of any size
            ctx.emit([ClientChanged(client, changes) for client, changes in batch.events])
        return counters


@dataclass(slots=True)
class LinkCounters(Counters):
    """Interactions attached to golden clients, removed with their record, and still waiting for their client."""

    outcome: LinkOutcome

    def apply(self, report: RunReport) -> None:
        t = report.totals
        t.interactions_linked += self.outcome.linked
        t.interactions_removed += self.outcome.removed
        t.interactions_pending += self.outcome.pending


class LinkPhase(Phase):
    """Interaction records → the golden clients merged above (see `crmhub.sync.interactions`)."""

    name: ClassVar[str] = "link"
    runs_in: ClassVar[RunsIn] = "thread"
    cancel_safe: ClassVar[bool] = False
    under_merge_lock: ClassVar[bool] = True
    reads: ClassVar[frozenset[str]] = frozenset({"source_record.dirty"})
    clears: ClassVar[frozenset[str]] = frozenset({"source_record.dirty"})

    def work(self, ctx: RunContext) -> LinkCounters:
        total, after = LinkOutcome(), 0
        while True:
            with ctx.uow.transaction() as s:
                outcome, last = link_batch(s, after)
            if last is None:
                break
            total.add(outcome)
            after = last
        return LinkCounters(total)


@dataclass(slots=True)
class RiskCounters(Counters):
    """Clients assessed, rating changes and alerts raised."""

    assessed: int = 0
    rating_changes: int = 0
    alerts_raised: int = 0

    def apply(self, report: RunReport) -> None:
        t = report.totals
        t.risk_assessed += self.assessed
        t.rating_changes += self.rating_changes
        t.alerts_raised += self.alerts_raised


class RiskPhase(Phase):
    """Assess every active client flagged ``needs_risk`` (`crmhub.risk.runner.make_risk_phase`), batch by batch."""

    name: ClassVar[str] = "risk"
    runs_in: ClassVar[RunsIn] = "thread"
    cancel_safe: ClassVar[bool] = False
    under_merge_lock: ClassVar[bool] = True
    reads: ClassVar[frozenset[str]] = frozenset({"golden_client.needs_risk"})
    clears: ClassVar[frozenset[str]] = frozenset({"golden_client.needs_risk"})

    def enabled(self, ctx: RunContext) -> bool:
        return ctx.risk_step is not None

    def work(self, ctx: RunContext) -> RiskCounters:
        assert ctx.risk_step is not None
        outcome = ctx.risk_step(ctx.uow, ctx.run_id, ctx.emit, ctx.id_range)
        return RiskCounters(outcome.clients, outcome.rating_changes, outcome.alerts_raised)


@dataclass(slots=True)
class PlanCounters(Counters):
    """Writes planned into the outbox (in a dry run: into the report's plan)."""

    planned: int = 0
    changes: list[PlannedChange] | None = None

    def apply(self, report: RunReport) -> None:
        report.totals.planned_writes += self.planned
        if self.changes:
            report.plan.extend(self.changes)


class PlanPhase(Phase):
    """Diff each golden client flagged ``needs_plan`` against each CRM's last known state; queue the outbox."""

    name: ClassVar[str] = "plan"
    runs_in: ClassVar[RunsIn] = "thread"
    cancel_safe: ClassVar[bool] = False
    under_merge_lock: ClassVar[bool] = True
    reads: ClassVar[frozenset[str]] = frozenset({"golden_client.needs_plan"})
    clears: ClassVar[frozenset[str]] = frozenset({"golden_client.needs_plan"})

    def work(self, ctx: RunContext) -> PlanCounters:
        targets = writable_targets(ctx.connectors)
        counters = PlanCounters(changes=[] if ctx.dry_run else None)
        after, upto = first_and_last(ctx)
        last_id: int | None = after
        while last_id is not None:
            with ctx.uow.transaction() as s:
                outcome = plan_batch(s, last_id, targets, ctx.run_id, dry_run=ctx.dry_run, limit=MERGE_BATCH, upto=upto)
            last_id = outcome.last_id
            counters.planned += outcome.planned
            if counters.changes is not None:
                counters.changes.extend(plan.as_change() for plan in outcome.plans)
        return counters


@dataclass(slots=True)
class DeliverCounters(Counters):
    """Per target: what was sent, failed (dead-lettered), put back for a retry, and what is left queued."""

    drains: list[TargetDrain]

    def apply(self, report: RunReport) -> None:
        for drain in self.drains:
            rep = report.connectors[drain.connector]
            rep.written_back += drain.stats.confirmed
            rep.write_failed += drain.stats.failed
            rep.write_retried += drain.stats.retried
            rep.write_queued, rep.write_eta_s, rep.write_note = drain.left, drain.eta_s, drain.skipped
            report.totals.written_back += drain.stats.confirmed
            report.totals.write_failed += drain.stats.failed
            report.totals.write_queued += drain.left


class DeliverPhase(Phase):
    """Send each target's outbox for at most its ``write_back.inline_seconds`` (targets that came through ingest
    ``ok`` only); the rest stays queued for `crmhub deliver` (`crmhub.sync.deliverer`). Never in a dry run."""

    name: ClassVar[str] = "deliver"
    runs_in: ClassVar[RunsIn] = "loop"
    cancel_safe: ClassVar[bool] = True
    in_dry_run: ClassVar[bool] = False
    reads: ClassVar[frozenset[str]] = frozenset({"outbox.state"})

    async def run(self, ctx: RunContext) -> DeliverCounters:
        counters = DeliverCounters([])
        for target in writable_targets(ctx.connectors):
            rep = ctx.report.connectors[target.connector]
            if rep.status != "ok":
                continue
            conn = ctx.connectors[target.connector]
            try:
                counters.drains.append(
                    await drain_target(
                        ctx.uow,
                        ctx.store,
                        conn,
                        target.connector,
                        batch=ctx.settings.sync.write_batch,
                        run_id=ctx.run_id,
                        budget_s=target.config.write_back.inline_seconds,
                    )
                )
            except FatalError as exc:
                rep.status, rep.error = "failed", f"write-back: {exc}"
            finally:
                rep.api = conn.context.metrics.as_dict()
        return counters


class ReportPhase(Phase):
    """Store the run's report: status, counts, dead letters of the run, one row per connector stream."""

    name: ClassVar[str] = "report"
    runs_in: ClassVar[RunsIn] = "loop"
    cancel_safe: ClassVar[bool] = False
    in_dry_run: ClassVar[bool] = False

    async def run(self, ctx: RunContext) -> NoCounters:
        """Synchronous on purpose: it also runs while a cancelled run unwinds, where another ``await`` could be
        interrupted before the report is stored."""
        report = ctx.report
        if report.run_id is None:
            return NoCounters()
        with ctx.store.begin() as s:
            report.totals.dead_letters = (
                s.scalar(select(func.count()).select_from(DeadLetter).where(DeadLetter.run_id == report.run_id)) or 0
            )
            row = s.get(SyncRun, report.run_id)
            if row is not None:
                row.status = report.status
                row.finished_at = report.finished_at
                row.error = report.error
                row.report = report.model_dump(mode="json")
                for cname, crep in report.connectors.items():
                    for sname, counts in crep.streams.items():
                        s.merge(
                            SyncRunStream(
                                run_id=report.run_id,
                                connector=cname,
                                stream=sname,
                                stats={**counts, **crep.api},
                                error=counts.get("error"),
                            )
                        )
        return NoCounters()


class NotifyPhase(Phase):
    """Tell plugins the run finished (``crmhub_run_finished``), then the engine's ``after_run`` (notifications
    about the stored run). Never cancelled half-way; skipped when an interrupted run unwinds. Its failures are
    logged, never the run's: the run is stored and `crmhub notify run` plans its notifications again."""

    name: ClassVar[str] = "notify"
    runs_in: ClassVar[RunsIn] = "loop"
    cancel_safe: ClassVar[bool] = False
    in_dry_run: ClassVar[bool] = False
    after_interrupt: ClassVar[bool] = False

    async def run(self, ctx: RunContext) -> NoCounters:
        try:
            ctx.registry.hook.crmhub_run_finished(report=ctx.report.model_copy(deep=True))
        except Exception:
            log.exception("a plugin's run_finished handler failed")
        if ctx.after_run is None or ctx.report.run_id is None:
            return NoCounters()
        try:
            await ctx.after_run(ctx.report)
        except Exception:
            log.exception(
                "the after-run hook failed (run %s is stored; notifications are planned again by `crmhub notify run`)",
                ctx.report.run_id,
            )
        return NoCounters()


CYCLE: tuple[Phase, ...] = (
    IngestPhase(),
    MatchPhase(),
    MergePhase(),
    LinkPhase(),
    RiskPhase(),
    PlanPhase(),
    DeliverPhase(),
)
"""The phases of a sync run, in order — the one place where the cycle is defined."""

FINISH: tuple[Phase, ...] = (ReportPhase(), NotifyPhase())
"""What follows every run, whatever its outcome."""

ALL_PHASES: tuple[Phase, ...] = CYCLE + FINISH


def not_cancel_safe() -> frozenset[str]:
    """Names of the phases a requested stop must wait for (read by the jobs guard)."""
    return frozenset(p.name for p in ALL_PHASES if not p.cancel_safe)
