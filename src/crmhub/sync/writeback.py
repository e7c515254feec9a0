"""Write-back planning: the diff between each golden client's allowed fields and each CRM's last known state.

Only fields listed in ``[connectors.<name>.write_back].fields`` are compared and written. The plan becomes
outbox rows whose idempotency key covers the target, the record, the values and the target's state they were
computed from — re-planning after a crash finds the same key and adds nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from crmhub.contract import Connector, ConnectorConfig, StreamKind, StreamSpec
from crmhub.store.tables import GoldenClient, Outbox, Xref
from crmhub.store.tables import SourceRecord as SourceRow
from crmhub.sync.hashing import content_hash, short_hash
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
    def action(self) -> str:
        """``create`` or ``update``."""
        return "create" if self.source_id is None else "update"


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


def target_states(session: Session, client_ids: Sequence[int], targets: Sequence[Target]
                  ) -> dict[tuple[int, str], list[TargetState]]:
    """(client id, target connector) → the target's records of that client, for a whole batch in one query."""
    out: dict[tuple[int, str], list[TargetState]] = {}
    if not client_ids or not targets:
        return out
    streams = {t.connector: t.stream.name for t in targets}
    rows = session.execute(
        select(Xref.client_id, SourceRow.connector, SourceRow.stream, SourceRow.source_id, SourceRow.data,
               SourceRow.content_hash)
        .join(Xref, Xref.source_record_id == SourceRow.id)
        .where(Xref.client_id.in_(list(client_ids)), SourceRow.connector.in_(list(streams)),
               SourceRow.deleted.is_(False))
        .order_by(SourceRow.id))
    for r in rows:
        if streams.get(r.connector) == r.stream:
            out.setdefault((r.client_id, r.connector), []).append(TargetState(r.source_id, r.data, r.content_hash))
    return out


def plan_client(session: Session, golden: GoldenClient, target: Target, run_id: int | None,
                write_outbox: bool = True, members: Sequence[TargetState] | None = None) -> list[PlannedWrite]:
    """Plan writes of one golden client to one target (and queue them in the outbox)."""
    if members is None:
        members = target_states(session, [golden.id], [target]).get((golden.id, target.connector), [])
    fields = target.fields
    plans: list[PlannedWrite] = []
    if members:
        for m in members[:1]:  # duplicates inside one CRM are a review matter, never written twice
            changes = diff(golden.data, m.data, fields)
            if changes:
                plans.append(PlannedWrite(target.connector, target.stream.name, golden.id, golden.name,
                                          m.source_id, changes))
                if write_outbox:
                    _enqueue(session, plans[-1], golden, m.content_hash, run_id)
    elif target.config.write_back.create:
        changes = diff(golden.data, None, ["name", *[f for f in fields if f != "name"]])
        plans.append(PlannedWrite(target.connector, target.stream.name, golden.id, golden.name, None, changes))
        if write_outbox:
            _enqueue(session, plans[-1], golden, "new", run_id)
    return plans


def _enqueue(session: Session, plan: PlannedWrite, golden: GoldenClient, state_hash: str,
             run_id: int | None) -> None:
    values = {k: after for k, (_, after) in plan.changes.items()}
    key = "wb:" + short_hash([plan.target, plan.stream, golden.id, plan.source_id, values, state_hash], 40)
    if session.scalar(select(Outbox.id).where(Outbox.idempotency_key == key)) is not None:
        return
    now = datetime.now(UTC)
    session.execute(update(Outbox).where(
        Outbox.kind == "write_back", Outbox.target == plan.target, Outbox.client_id == golden.id,
        Outbox.state == "planned").values(state="superseded", updated_at=now))
    data = {k: v for k, v in golden.data.items() if k in (*plan.changes, "name", "uscc")}
    payload = {"source_id": plan.source_id, "fields": sorted(plan.changes), "data": data,
               "before": {k: before for k, (before, _) in plan.changes.items()}}
    session.add(Outbox(kind="write_back", target=plan.target, stream=plan.stream, idempotency_key=key,
                       client_id=golden.id, source_id=plan.source_id, payload=payload,
                       payload_hash=content_hash(payload), state="planned", attempts=0, run_id=run_id,
                       created_at=now, updated_at=now))
