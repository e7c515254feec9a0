"""Merge: rebuild each affected golden client from its linked source records, field by field.

For every field the survivorship rule picks a winner and the choice is stored as lineage (value, source,
source record, observed time, rule, and the competing values). A field changed by two sources since the last
merge is a conflict: counted and audited when the rule decides it, queued for review (keeping the previous
golden value) when it cannot.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from crmhub.config import SyncSettings
from crmhub.contract import StreamKind
from crmhub.model import MERGEABLE_FIELDS, CorporateClient
from crmhub.store.tables import FieldLineage, GoldenClient, ReviewItem, Xref
from crmhub.store.tables import SourceRecord as SourceRow
from crmhub.sync import audit
from crmhub.sync.hashing import content_hash, short_hash
from crmhub.sync.survivorship import Candidate, decide, is_blank

GOLDEN_KEYS_FROM_ENGINE = ("id", "external_ids", "risk", "lineage", "normalized_name")


@dataclass(slots=True)
class Member:
    """A source record linked to a golden client."""

    connector: str
    stream: str
    source_id: str
    data: dict[str, Any]
    observed_at: datetime

    @property
    def ref(self) -> str:
        """``connector:stream/source_id`` — how lineage names a source record."""
        return f"{self.stream}/{self.source_id}"


@dataclass(slots=True)
class MergeOutcome:
    """What merging one golden client changed."""

    client_id: int
    created: bool
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    conflicts: int = 0
    conflicts_queued: int = 0
    client: CorporateClient | None = None


def load_members(session: Session, client_ids: Sequence[int]) -> tuple[dict[int, list[Member]],
                                                                         dict[int, list[dict[str, Any]]]]:
    """Active client-kind members and their contacts for each golden client id."""
    members: dict[int, list[Member]] = {cid: [] for cid in client_ids}
    rows = session.execute(
        select(Xref.client_id, SourceRow.connector, SourceRow.stream, SourceRow.source_id, SourceRow.data,
               SourceRow.modified_at, SourceRow.last_seen_at)
        .join(SourceRow, SourceRow.id == Xref.source_record_id)
        .where(Xref.client_id.in_(list(client_ids)), SourceRow.deleted.is_(False),
               SourceRow.kind == StreamKind.CLIENT.value)
        .order_by(SourceRow.id)).all()
    parents: dict[tuple[str, str], int] = {}
    for r in rows:
        if r.data is None:
            continue
        members[r.client_id].append(Member(r.connector, r.stream, r.source_id, r.data,
                                           r.modified_at or r.last_seen_at))
        parents[(r.connector, r.source_id)] = r.client_id
    contacts: dict[int, list[dict[str, Any]]] = {cid: [] for cid in client_ids}
    if parents:
        parent_ids = sorted({sid for _, sid in parents})
        for i in range(0, len(parent_ids), 500):
            for c in session.execute(
                select(SourceRow.connector, SourceRow.parent_source_id, SourceRow.source_id, SourceRow.data)
                .where(SourceRow.kind == StreamKind.CONTACT.value, SourceRow.deleted.is_(False),
                       SourceRow.parent_source_id.in_(parent_ids[i:i + 500]))
                .order_by(SourceRow.id)):
                owner = parents.get((c.connector, c.parent_source_id or ""))
                if owner is not None and c.data:
                    contacts[owner].append({**c.data, "source_id": f"{c.connector}:{c.source_id}"})
    return members, contacts


def load_lineage(session: Session, client_ids: Sequence[int]) -> dict[int, dict[str, FieldLineage]]:
    """The lineage rows of a batch of golden clients, by client id and field."""
    out: dict[int, dict[str, FieldLineage]] = {cid: {} for cid in client_ids}
    for row in session.scalars(select(FieldLineage).where(FieldLineage.client_id.in_(list(client_ids)))):
        out[row.client_id][row.field] = row
    return out


def _dedupe_contacts(contacts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for c in contacts:
        key = (str(c.get("name", "")).strip(), str(c.get("mobile") or c.get("email") or c.get("phone") or ""))
        if key not in seen:
            seen[key] = {k: v for k, v in c.items() if k not in ("client_source_id", "client_uscc")}
    return list(seen.values())


def _golden_view(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in GOLDEN_KEYS_FROM_ENGINE and not is_blank(v)}


class Merger:
    """Merges golden clients under the configured survivorship rules."""

    def __init__(self, sync: SyncSettings, default_priority: Sequence[str], run_id: int | None,
                 actor: str = "sync") -> None:
        self.sync = sync
        self.priority = list(sync.source_priority) or list(default_priority)
        self.run_id = run_id
        self.actor = actor

    def merge(self, session: Session, golden: GoldenClient, members: list[Member],
              contacts: list[dict[str, Any]], *, created: bool, lineage: dict[str, FieldLineage] | None = None,
              inserts: list[dict[str, Any]] | None = None) -> MergeOutcome:
        """Recompute ``golden`` from ``members``; write lineage, audit and review items in ``session``.

        ``lineage`` (prefetched for a batch) and ``inserts`` (new lineage rows collected for one bulk insert) let
        the engine merge thousands of clients with a few statements per batch.
        """
        now = datetime.now(UTC)
        outcome = MergeOutcome(golden.id, created)
        if lineage is None:
            lineage = load_lineage(session, [golden.id]).get(golden.id, {})
        old = dict(golden.data or {})
        new: dict[str, Any] = {}
        decisions = {}
        for name in MERGEABLE_FIELDS:
            candidates = [Candidate(m.data.get(name), m.connector, m.ref, m.observed_at) for m in members
                          if not is_blank(m.data.get(name))]
            decision = decide(name, candidates, self.sync.fields.get(name), self.priority)
            prev = lineage.get(name)
            keep_old = False
            if prev is not None and candidates:
                changed = [c for c in candidates
                           if prev.source_hashes.get(f"{c.source}:{c.source_record_id}") != c.value_hash]
                if len(changed) >= 2 and len({c.value_hash for c in changed}) >= 2:
                    outcome.conflicts += 1
                    if not decision.decided:
                        keep_old = True
                        outcome.conflicts_queued += 1
                        self._queue_conflict(session, golden.id, name, changed, now)
                    else:
                        audit.append(session, actor=self.actor, action="conflict.resolved", entity="client",
                                     entity_id=golden.id, run_id=self.run_id, at=now, details={
                                         "field": name, "rule": decision.rule,
                                         "winner": decision.winner.source if decision.winner else None,
                                         "sources": [c.source for c in changed]})
            if keep_old:
                if name in old:
                    new[name] = old[name]
                continue
            decisions[name] = decision
            if decision.winner is not None:
                new[name] = decision.value
        if "name" not in new:
            new["name"] = old.get("name") or golden.name
        flags = sorted({f for m in members for f in m.data.get("review_flags", []) or []})
        if flags:
            new["review_flags"] = flags
        new.update(_quality(members, new.get("uscc")))
        merged_contacts = _dedupe_contacts(contacts)
        if merged_contacts:
            new["contacts"] = merged_contacts
        names = {str(m.data["name"]) for m in members if m.data.get("name")}
        aliases = sorted((names | {str(a) for a in old.get("aliases", [])}) - {str(new["name"])})
        if aliases:
            new["aliases"] = aliases
        external: dict[str, list[str]] = {}
        for m in members:
            external.setdefault(m.connector, [])
            if m.source_id not in external[m.connector]:
                external[m.connector].append(m.source_id)
        new["external_ids"] = external
        if old.get("risk"):
            new["risk"] = old["risk"]
        try:
            client = CorporateClient.model_validate({**new, "id": golden.id})
        except ValidationError as exc:  # values come from validated records; a failure here is a bug to surface
            raise ValueError(f"golden client {golden.id}: merged record is invalid: {exc}") from exc
        data = client.model_dump(mode="json", exclude_none=True, exclude={"id", "lineage"})
        before, after = _golden_view(old), _golden_view(data)
        for key in sorted(set(before) | set(after)):
            if before.get(key) != after.get(key):
                outcome.changes[key] = (before.get(key), after.get(key))
        self._guard_uscc(session, golden, client, outcome)
        if outcome.changes or created:
            golden.data = data  # also sets its breakdown keys (GoldenClient._keys_follow_data)
            golden.name = client.name
            golden.uscc = client.uscc
            golden.rm_user_id = client.relationship_manager.user_id if client.relationship_manager else None
            golden.version = (golden.version or 0) + (0 if created else 1)
            golden.updated_at = now
            golden.needs_plan = True
            golden.needs_risk = True
            audit.append(session, actor=self.actor, action="client.create" if created else "client.update",
                         entity="client", entity_id=golden.id, run_id=self.run_id, at=now,
                         details={"changes": _masked_changes(outcome.changes)})
        golden.needs_merge = False
        self._write_lineage(session, golden.id, decisions, lineage, now, inserts)
        outcome.client = client
        return outcome

    def _guard_uscc(self, session: Session, golden: GoldenClient, client: CorporateClient,
                    outcome: MergeOutcome) -> None:
        """Never give a golden record a USCC another active golden record already holds."""
        if client.uscc is None or client.uscc == golden.uscc:
            return
        holder = session.scalar(select(GoldenClient.id).where(GoldenClient.uscc == client.uscc,
                                                              GoldenClient.id != golden.id))
        if holder is None:
            return
        wanted = client.uscc
        client.uscc = golden.uscc
        outcome.changes.pop("uscc", None)
        self._queue(session, "uscc_conflict", f"uscc:{golden.id}:{holder}", golden.id, holder, "uscc", None,
                    {"uscc": wanted, "reason": "a record of this client carries a USCC another client holds"})

    def _queue_conflict(self, session: Session, client_id: int, name: str, changed: list[Candidate],
                        now: datetime) -> None:
        values = [{"source": c.source, "record": c.source_record_id, "value": c.value,
                   "observed_at": c.observed_at.isoformat()} for c in changed]
        key = f"conflict:{client_id}:{name}:{short_hash([c.value_hash for c in changed])}"
        self._queue(session, "conflict", key, client_id, None, name, None, {"values": values})

    def _queue(self, session: Session, kind: str, key: str, client_id: int, other: int | None,
               field_name: str | None, score: float | None, details: dict[str, Any]) -> None:
        if session.scalar(select(ReviewItem.id).where(ReviewItem.dedup_key == key)) is not None:
            return
        session.add(ReviewItem(kind=kind, status="open", dedup_key=key, client_id=client_id,
                               other_client_id=other, field=field_name, score=score, details=details,
                               created_at=datetime.now(UTC)))

    def _write_lineage(self, session: Session, client_id: int, decisions: dict[str, Any],
                       existing: dict[str, FieldLineage], now: datetime,
                       inserts: list[dict[str, Any]] | None = None) -> None:
        for name, decision in decisions.items():
            row = existing.get(name)
            if decision.winner is None:
                if row is not None:
                    session.delete(row)
                continue
            winner: Candidate = decision.winner
            hashes = {f"{c.source}:{c.source_record_id}": c.value_hash for c in [winner, *decision.competing]}
            competing = [{"source": c.source, "record": c.source_record_id, "value": c.value,
                          "observed_at": c.observed_at.isoformat()} for c in decision.competing]
            if row is None:
                values = {"client_id": client_id, "field": name, "value": winner.value, "source": winner.source,
                          "source_record_id": winner.source_record_id, "observed_at": winner.observed_at,
                          "rule": decision.rule, "competing": competing, "source_hashes": hashes,
                          "updated_at": now}
                if inserts is not None:
                    inserts.append(values)
                else:
                    session.add(FieldLineage(**values))
            elif (row.value != winner.value or row.source != winner.source or row.source_hashes != hashes
                  or row.competing != competing):
                row.value, row.source, row.source_record_id = winner.value, winner.source, winner.source_record_id
                row.observed_at, row.rule, row.competing = winner.observed_at, decision.rule, competing
                row.source_hashes, row.updated_at = hashes, now


def _quality(members: list[Member], uscc: Any) -> dict[str, Any]:
    """The members' data-quality findings, each naming its source record, and the unverified USCC to show.

    A golden client keeps a source's unverified (invalid) USCC only while no source gives a valid one: the valid
    code always wins, and an invalid one is never the golden key (``uscc`` and the ``golden_client.uscc`` column
    hold valid codes only).
    """
    out: dict[str, Any] = {}
    findings = [{**f, "source": f"{m.connector}:{m.ref}"} for m in members
                for f in m.data.get("data_quality") or [] if isinstance(f, dict)]
    if findings:
        out["data_quality"] = sorted(findings, key=lambda f: (str(f["source"]), str(f.get("kind"))))
    if not uscc:
        unverified = [m for m in members if m.data.get("uscc_unverified")]
        if unverified:
            newest = max(unverified, key=lambda m: m.observed_at)
            out["uscc_unverified"] = newest.data["uscc_unverified"]
    return out


def _masked_changes(changes: dict[str, tuple[Any, Any]]) -> dict[str, Any]:
    """Audit details without personal data in clear (legal representative, contacts)."""
    from crmhub.masking import mask_fields

    out: dict[str, Any] = {}
    for key, (before, after) in changes.items():
        if key in ("contacts", "legal_representative", "shareholders"):
            out[key] = {"before": content_hash(before)[:12] if before else None,
                        "after": content_hash(after)[:12] if after else None}
        else:
            out[key] = {"before": mask_fields(before, key), "after": mask_fields(after, key)}
    return out
