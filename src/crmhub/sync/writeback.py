"""Write-back planning: the diff between each golden client's allowed fields and each CRM's last known state.

Only fields listed in ``[connectors.<name>.write_back].fields`` are compared and written. The plan becomes
outbox rows whose idempotency key covers the target, the record, the values and the target's state they were
computed from — re-planning after a crash finds the same key and adds nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, insert, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from crmhub.contract import Connector, ConnectorConfig, StreamKind, StreamSpec
from crmhub.core.chunks import IN_LIST, chunked
from crmhub.core.hashing import content_hash, short_hash
from crmhub.core.outbox import OutboxState
from crmhub.core.report import PlannedChange
from crmhub.store.tables import GoldenClient, Outbox, Xref
from crmhub.store.tables import SourceRecord as SourceRow
from crmhub.sync.survivorship import is_blank


@dataclass(frozen=True, slots=True)
class Target:
    """A connector stream that receives write-backs, and the canonical fields it will write there."""

    connector: str
    stream: StreamSpec
    config: ConnectorConfig
    writable: frozenset[str] | None = None

    @property
    def fields(self) -> list[str]:
        """Configured write-back fields the connector can actually write."""
        wanted = self.config.write_back.fields
        return [f for f in wanted if self.writable is None or f in self.writable]


@dataclass(slots=True)
class PlannedWrite:
    """One record to write: field-by-field before/after, for the dry-run plan and the outbox."""

    target: str
    stream: str
    client_id: int
    client_name: str
    source_id: str | None
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)

    @property
    def action(self) -> Literal["create", "update"]:
        """``create`` or ``update``."""
        return "create" if self.source_id is None else "update"

    def as_change(self) -> PlannedChange:
        """This write as a line of a dry run's plan."""
        return PlannedChange(
            connector=self.target,
            stream=self.stream,
            action=self.action,
            client_id=self.client_id,
            client_name=self.client_name,
            source_id=self.source_id,
            fields={k: {"before": b, "after": a} for k, (b, a) in self.changes.items()},
        )


def writable_targets(connectors: Mapping[str, Connector[Any]]) -> list[Target]:
    """Connectors with write-back enabled, a writable client stream and at least one writable field."""
    targets = []
    for name, conn in connectors.items():
        cfg = conn.config
        if not cfg.enabled or not cfg.write_back.enabled or not cfg.write_back.fields:
            continue
        for spec in conn.streams:
            if spec.kind is StreamKind.CLIENT and spec.writable:
                target = Target(name, spec, cfg, conn.writable_fields(spec.name))
                if target.fields:
                    targets.append(target)
                break
    return targets


def _desired(golden: dict[str, Any], name: str) -> Any:
    value = golden.get(name)
    if name == "risk" and isinstance(value, dict):
        return {"rating": value.get("rating"), "segment": value.get("segment")}
    if name == "industry" and isinstance(value, dict):
        return {"code": value.get("code")}
    return value


def _current(snapshot: dict[str, Any], name: str) -> Any:
    return _desired(snapshot, name)


def diff(golden: dict[str, Any], snapshot: dict[str, Any] | None, fields: Sequence[str]) -> dict[str, tuple[Any, Any]]:
    """Fields whose golden value is set and differs from the target's (None snapshot = record to create)."""
    out: dict[str, tuple[Any, Any]] = {}
    for name in fields:
        want = _desired(golden, name)
        if is_blank(want):
            continue
        have = _current(snapshot or {}, name)
        if want != have:
            out[name] = (have, want)
    return out


@dataclass(frozen=True, slots=True)
class TargetState:
    """What a target holds for one golden client's record: its id, last known canonical data and hash."""

    source_id: str
    data: dict[str, Any] | None
    content_hash: str


@dataclass(frozen=True, slots=True)
class GoldenRow:
    """The three columns of a golden client the planner reads (a plain row: no ORM object per client)."""

    id: int
    name: str
    data: dict[str, Any]


Golden = GoldenClient | GoldenRow


def _unindexed(session: Session, column: InstrumentedAttribute[str]) -> ColumnElement[str] | InstrumentedAttribute[str]:
    """``column || ''`` on SQLite: the same values, but no index on the column can serve the term.

    SQLite plans without statistics unless someone ran ANALYZE, and guesses ~10 rows per equality on an indexed
    column — so for "these 500 clients' rows of this target" it walks the target's index (every row of the
    target, per batch) instead of the client id index. PostgreSQL plans from statistics (autovacuum analyses),
    which an expression would blind, so it keeps the plain column.
    """
    return column + "" if session.get_bind().dialect.name == "sqlite" else column


def target_states(
    session: Session, client_ids: Sequence[int], targets: Sequence[Target]
) -> dict[tuple[int, str], list[TargetState]]:
    """(client id, target connector) → the target's records of that client, for a whole batch in one query.

    The query is driven by the ``xref.client_id`` index: a batch costs its own members, whatever the size of the
    book (SQLite without statistics preferred the ``(connector, stream, source_id)`` index and walked every record
    of the target per batch — O(N²) over a run; `_unindexed` takes it away). Members are ordered by record id
    here, so the first one of each client is always the same record.
    """
    out: dict[tuple[int, str], list[TargetState]] = {}
    if not client_ids or not targets:
        return out
    streams = {t.connector: t.stream.name for t in targets}
    connector = _unindexed(session, SourceRow.connector)
    rows = session.execute(
        select(
            Xref.client_id,
            SourceRow.id,
            SourceRow.connector,
            SourceRow.stream,
            SourceRow.source_id,
            SourceRow.data,
            SourceRow.content_hash,
        )
        .select_from(Xref)
        .join(SourceRow, SourceRow.id == Xref.source_record_id)
        .where(Xref.client_id.in_(list(client_ids)), connector.in_(list(streams)), SourceRow.deleted.is_(False))
    ).all()
    for r in sorted(rows, key=lambda r: r.id):
        if streams.get(r.connector) == r.stream:
            out.setdefault((r.client_id, r.connector), []).append(TargetState(r.source_id, r.data, r.content_hash))
    return out


def plan_client(
    session: Session,
    golden: Golden,
    target: Target,
    run_id: int | None,
    write_outbox: bool = True,
    members: Sequence[TargetState] | None = None,
    batch: OutboxBatch | None = None,
) -> list[PlannedWrite]:
    """Plan writes of one golden client to one target (and queue them in the outbox)."""
    if members is None:
        members = target_states(session, [golden.id], [target]).get((golden.id, target.connector), [])
    fields = target.fields
    plans: list[PlannedWrite] = []
    if members:
        for m in members[:1]:  # duplicates inside one CRM are a review matter, never written twice
            changes = diff(golden.data, m.data, fields)
            if changes:
                plans.append(
                    PlannedWrite(target.connector, target.stream.name, golden.id, golden.name, m.source_id, changes)
                )
                if write_outbox:
                    _enqueue(session, plans[-1], golden, m.content_hash, run_id, batch)
    elif target.config.write_back.create:
        changes = diff(golden.data, None, ["name", *[f for f in fields if f != "name"]])
        plans.append(PlannedWrite(target.connector, target.stream.name, golden.id, golden.name, None, changes))
        if write_outbox:
            _enqueue(session, plans[-1], golden, "new", run_id, batch)
    return plans


@dataclass(slots=True)
class PlanBatchOutcome:
    """What `plan_batch` did for one batch of golden clients; ``last_id`` is ``None`` when none was left."""

    last_id: int | None
    clients: int = 0
    planned: int = 0
    """Writes planned (in a dry run: the writes a real run would queue)."""
    queued: int = 0
    """Outbox rows added (0 when re-planning after a crash finds every key already there)."""
    plans: list[PlannedWrite] = field(default_factory=list)
    """The planned writes themselves, kept only in a dry run (its report shows the plan)."""


def plan_batch(
    session: Session,
    after_id: int,
    targets: Sequence[Target],
    run_id: int | None,
    *,
    dry_run: bool = False,
    limit: int = 500,
    upto: int | None = None,
) -> PlanBatchOutcome:
    """Plan the next ``limit`` golden clients flagged ``needs_plan`` after ``after_id``, in a handful of statements.

    One SELECT of plain (id, name, data) rows, one of their targets' records (`target_states`), the outbox's
    three (`OutboxBatch.flush`) and one UPDATE clearing the flag of exactly the clients read (by id, as the ORM
    did per object; merges that set it are held off by the merge lock). The flag stays set in a dry run without
    targets, as it always did (a dry run's store is thrown away anyway).
    """
    bounds = [GoldenClient.id > after_id] if upto is None else [GoldenClient.id > after_id, GoldenClient.id <= upto]
    rows = session.execute(
        select(GoldenClient.id, GoldenClient.name, GoldenClient.data)
        .where(GoldenClient.needs_plan.is_(True), *bounds)
        .order_by(GoldenClient.id)
        .limit(limit)
    ).all()
    if not rows:
        return PlanBatchOutcome(None)
    goldens = [GoldenRow(r.id, r.name, r.data) for r in rows]
    out = PlanBatchOutcome(goldens[-1].id, clients=len(goldens))
    states = target_states(session, [g.id for g in goldens], targets)
    batch = OutboxBatch(run_id)
    for golden in goldens:
        for target in targets:
            plans = plan_client(
                session, golden, target, run_id, members=states.get((golden.id, target.connector), []), batch=batch
            )
            out.planned += len(plans)
            if dry_run:
                out.plans.extend(plans)
    out.queued = batch.flush(session)
    if targets or not dry_run:
        session.execute(
            update(GoldenClient)
            .where(GoldenClient.id.in_([g.id for g in goldens]))
            .values(needs_plan=False)
            .execution_options(synchronize_session=False)
        )
    return out


class OutboxBatch:
    """Planned writes of one batch of clients, queued with three statements instead of three per write."""

    def __init__(self, run_id: int | None) -> None:
        self.run_id = run_id
        self.rows: dict[str, dict[str, Any]] = {}

    def add(self, plan: PlannedWrite, golden: Golden, state_hash: str) -> None:
        """Queue one planned write (its idempotency key covers target, record, values and the target's state)."""
        values = {k: after for k, (_, after) in plan.changes.items()}
        key = "wb:" + short_hash([plan.target, plan.stream, golden.id, plan.source_id, values, state_hash], 40)
        data = {k: v for k, v in golden.data.items() if k in (*plan.changes, "name", "uscc")}
        payload = {
            "source_id": plan.source_id,
            "fields": sorted(plan.changes),
            "data": data,
            "before": {k: before for k, (before, _) in plan.changes.items()},
        }
        now = datetime.now(UTC)
        self.rows[key] = {
            "kind": "write_back",
            "target": plan.target,
            "stream": plan.stream,
            "idempotency_key": key,
            "client_id": golden.id,
            "source_id": plan.source_id,
            "payload": payload,
            "payload_hash": content_hash(payload),
            "state": OutboxState.PLANNED,
            "attempts": 0,
            "run_id": self.run_id,
            "created_at": now,
            "updated_at": now,
        }

    def flush(self, session: Session) -> int:
        """Insert the writes not already in the outbox; older unsent plans of the same clients are superseded.

        Returns how many rows were added (re-planning after a crash finds every key and adds nothing).
        """
        if not self.rows:
            return 0
        keys = list(self.rows)
        known: set[str] = set()
        for chunk in chunked(keys, IN_LIST):
            known.update(session.scalars(select(Outbox.idempotency_key).where(Outbox.idempotency_key.in_(chunk))))
        fresh = [row for key, row in self.rows.items() if key not in known]
        by_target: dict[str, list[int]] = {}
        for row in fresh:
            by_target.setdefault(row["target"], []).append(row["client_id"])
        now = datetime.now(UTC)
        for target, client_ids in by_target.items():
            for client_chunk in chunked(client_ids, IN_LIST):
                session.execute(
                    update(Outbox)
                    .where(  # by the client id index, not every planned row
                        Outbox.kind == "write_back",
                        _unindexed(session, Outbox.target) == target,
                        Outbox.client_id.in_(client_chunk),
                        _unindexed(session, Outbox.state) == OutboxState.PLANNED,
                    )
                    .values(state=OutboxState.SUPERSEDED, updated_at=now)
                )
        if fresh:
            session.execute(insert(Outbox), fresh)
        self.rows = {}
        return len(fresh)


def _enqueue(
    session: Session,
    plan: PlannedWrite,
    golden: Golden,
    state_hash: str,
    run_id: int | None,
    batch: OutboxBatch | None = None,
) -> None:
    if batch is not None:
        batch.add(plan, golden, state_hash)
        return
    single = OutboxBatch(run_id)
    single.add(plan, golden, state_hash)
    single.flush(session)
