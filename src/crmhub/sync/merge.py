"""Merge: rebuild each affected golden client from its linked source records, field by field.

For every field the survivorship rule picks a winner and the choice is stored as lineage (value, source,
source record, observed time, rule, and the competing values). A field changed by two sources since the last
merge is a conflict: counted and audited when the rule decides it, queued for review (keeping the previous
golden value) when it cannot.

The merge works a batch of golden clients at a time (`merge_batch`), set-based on plain rows: one SELECT each for
the goldens, their members, their contacts and their lineage, one for every USCC the batch would give out, then
executemany UPDATE / INSERT / DELETE for goldens and lineage and one INSERT for the batch's audit entries (the
chain computed in order, `audit.append_many`), all through the driver's executemany (`crmhub.store.bulk`) — no ORM
object per golden, lineage row or audit entry. Survivorship rules are compiled once per run (`compile_rules`). Nor a
second validation: members were validated at ingest (their ``data`` is a `CorporateClient` dump), so the golden
document is laid out from their values as ``CorporateClient.model_validate(…).model_dump(mode="json",
exclude_none=True)`` lays it out (`golden_document`; ``tests/e2e/test_merge_document.py`` checks, on a synced world,
that it is that very document). A `CorporateClient` is built only for the ``crmhub_client_changed`` event, and only
when a plugin listens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import orjson
from pydantic import ValidationError
from sqlalchemy import Table, bindparam, delete, insert, select, update
from sqlalchemy.orm import Session

from crmhub.contract import StreamKind
from crmhub.core.chunks import IN_LIST, chunked
from crmhub.core.hashing import content_hash, short_hash
from crmhub.masking import mask_fields
from crmhub.model import MERGEABLE_FIELDS, CorporateClient
from crmhub.store.bulk import execute_many
from crmhub.store.golden_keys import keys_of
from crmhub.store.tables import FieldLineage, GoldenClient, ReviewItem, Xref
from crmhub.store.tables import SourceRecord as SourceRow
from crmhub.sync import audit
from crmhub.sync.settings import SyncSettings
from crmhub.sync.survivorship import Candidate, Decision, compile_rules, decide, is_blank

GOLDEN_KEYS_FROM_ENGINE = ("id", "external_ids", "risk", "lineage", "normalized_name")
DOCUMENT_FIELDS = tuple(name for name in CorporateClient.model_fields if name not in ("id", "lineage"))
"""The golden document's keys, in the order a `CorporateClient` dump writes them."""
_DEFAULTS = {
    name: orjson.dumps(value)
    for name, value in CorporateClient(name="-")
    .model_dump(mode="json", exclude_none=True, exclude={"id", "lineage"})
    .items()
    if name != "name"
}
"""Fields a dump writes even when empty (``aliases: []``, ``preferences: {…}``), as JSON to copy from."""

_MERGEABLE = frozenset(MERGEABLE_FIELDS)
_NONE: list[Candidate] = []

_G = cast(Table, GoldenClient.__table__)
_L = cast(Table, FieldLineage.__table__)
_X = cast(Table, Xref.__table__)
_S = cast(Table, SourceRow.__table__)
_UPDATE_GOLDEN = update(_G).where(_G.c.id == bindparam("g_id"))
_UPDATE_LINEAGE = update(_L).where(_L.c.client_id == bindparam("l_client"), _L.c.field == bindparam("l_field"))
_INSERT_LINEAGE = insert(_L)
_DELETE_LINEAGE = delete(_L).where(_L.c.client_id == bindparam("l_client"), _L.c.field == bindparam("l_field"))


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
class Golden:
    """A golden client as the merge reads it (a row, not an ORM object)."""

    id: int
    name: str
    uscc: str | None
    data: dict[str, Any]
    version: int


@dataclass(slots=True)
class Lineage:
    """A stored lineage row of one golden field."""

    value: Any
    source: str
    source_record_id: str
    observed_at: datetime
    rule: str
    competing: list[Any]
    source_hashes: dict[str, Any]


@dataclass(slots=True)
class MergeOutcome:
    """What merging one golden client changed."""

    client_id: int
    created: bool
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    conflicts: int = 0
    conflicts_queued: int = 0
    client: CorporateClient | None = None


@dataclass(slots=True)
class MergeBatchOutcome:
    """One batch: the last golden id it read (None: nothing was left), its counters and its change events."""

    last_id: int | None
    created: int = 0
    updated: int = 0
    conflicts: int = 0
    conflicts_queued: int = 0
    events: list[tuple[CorporateClient, dict[str, tuple[Any, Any]]]] = field(default_factory=list)


@dataclass(slots=True)
class _Composed:
    """A golden client recomputed, before anything is written."""

    golden: Golden
    created: bool
    doc: dict[str, Any]
    decisions: dict[str, Decision]
    changes: dict[str, tuple[Any, Any]]
    resolved: list[tuple[str, Decision, list[Candidate]]]
    queued: list[tuple[str, list[Candidate]]]


@dataclass(slots=True)
class _Writes:
    """The statements of one batch, collected for executemany."""

    goldens: list[dict[str, Any]] = field(default_factory=list)
    merged_ids: list[int] = field(default_factory=list)
    lineage_inserts: list[dict[str, Any]] = field(default_factory=list)
    lineage_updates: list[dict[str, Any]] = field(default_factory=list)
    lineage_deletes: list[dict[str, Any]] = field(default_factory=list)
    audit: list[audit.Entry] = field(default_factory=list)
    """The batch's audit entries, in the order the merge made them (one chain, one INSERT)."""

    def execute(self, session: Session) -> None:
        audit.append_many(session, self.audit)
        execute_many(session, _UPDATE_GOLDEN, self.goldens)
        if self.merged_ids:
            session.execute(update(_G).where(_G.c.id.in_(self.merged_ids)).values(needs_merge=False))
        execute_many(session, _DELETE_LINEAGE, self.lineage_deletes)
        execute_many(session, _UPDATE_LINEAGE, self.lineage_updates)
        execute_many(session, _INSERT_LINEAGE, self.lineage_inserts)


def load_goldens(session: Session, after_id: int, limit: int, upto: int | None = None) -> list[Golden]:
    """The next ``limit`` active golden clients flagged ``needs_merge`` with an id above ``after_id`` (and at most
    ``upto``: one partition of a run split over workers)."""
    bounds = [_G.c.id > after_id] if upto is None else [_G.c.id > after_id, _G.c.id <= upto]
    rows = session.execute(
        select(_G.c.id, _G.c.name, _G.c.uscc, _G.c.data, _G.c.version)
        .where(_G.c.needs_merge.is_(True), _G.c.status == "active", *bounds)
        .order_by(_G.c.id)
        .limit(limit)
    )
    return [Golden(r.id, r.name, r.uscc, r.data or {}, r.version or 0) for r in rows]


def load_members(
    session: Session, client_ids: Sequence[int]
) -> tuple[dict[int, list[Member]], dict[int, list[dict[str, Any]]]]:
    """Active client-kind members and their contacts for each golden client id."""
    members: dict[int, list[Member]] = {cid: [] for cid in client_ids}
    rows = session.execute(  # table columns, not ORM attributes: plain rows without the ORM's loading
        select(
            _X.c.client_id, _S.c.connector, _S.c.stream, _S.c.source_id, _S.c.data, _S.c.modified_at, _S.c.last_seen_at
        )
        .join(_S, _S.c.id == _X.c.source_record_id)
        .where(_X.c.client_id.in_(list(client_ids)), _S.c.deleted.is_(False), _S.c.kind == StreamKind.CLIENT.value)
        .order_by(_S.c.id)
    ).all()
    parents: dict[tuple[str, str], int] = {}
    for r in rows:
        if r.data is None:
            continue
        members[r.client_id].append(Member(r.connector, r.stream, r.source_id, r.data, r.modified_at or r.last_seen_at))
        parents[(r.connector, r.source_id)] = r.client_id
    contacts: dict[int, list[dict[str, Any]]] = {cid: [] for cid in client_ids}
    if parents:
        parent_ids = sorted({sid for _, sid in parents})
        for chunk in chunked(parent_ids, IN_LIST):
            for c in session.execute(
                select(_S.c.connector, _S.c.parent_source_id, _S.c.source_id, _S.c.data)
                .where(_S.c.kind == StreamKind.CONTACT.value, _S.c.deleted.is_(False), _S.c.parent_source_id.in_(chunk))
                .order_by(_S.c.id)
            ):
                owner = parents.get((c.connector, c.parent_source_id or ""))
                if owner is not None and c.data:
                    contacts[owner].append({**c.data, "source_id": f"{c.connector}:{c.source_id}"})
    return members, contacts


def load_lineage(session: Session, client_ids: Sequence[int]) -> dict[int, dict[str, Lineage]]:
    """The lineage rows of a batch of golden clients, by client id and field."""
    out: dict[int, dict[str, Lineage]] = {cid: {} for cid in client_ids}
    for r in session.execute(
        select(
            _L.c.client_id,
            _L.c.field,
            _L.c.value,
            _L.c.source,
            _L.c.source_record_id,
            _L.c.observed_at,
            _L.c.rule,
            _L.c.competing,
            _L.c.source_hashes,
        ).where(_L.c.client_id.in_(list(client_ids)))
    ):
        out[r.client_id][r.field] = Lineage(
            r.value, r.source, r.source_record_id, r.observed_at, r.rule, r.competing or [], r.source_hashes or {}
        )
    return out


def merge_batch(
    session: Session,
    after_id: int,
    merger: Merger,
    limit: int = 500,
    *,
    want_clients: bool = True,
    upto: int | None = None,
) -> MergeBatchOutcome:
    """Merge the next ``limit`` golden clients flagged ``needs_merge`` after ``after_id``, in ``session``.

    ``want_clients``: build the `CorporateClient` of each change event (the one pydantic validation left in the
    merge); False when no plugin listens to ``crmhub_client_changed`` — the events list is then empty.
    """
    goldens = load_goldens(session, after_id, limit, upto)
    if not goldens:
        return MergeBatchOutcome(None)
    ids = [g.id for g in goldens]
    members, contacts = load_members(session, ids)
    lineage = load_lineage(session, ids)
    composed = [merger.compose(g, members[g.id], contacts[g.id], lineage[g.id]) for g in goldens]
    holders = _uscc_holders(session, [c for c in composed if _wants_uscc(c)])
    writes = _Writes()
    batch = MergeBatchOutcome(goldens[-1].id)
    for c in composed:
        outcome = merger.apply(session, c, lineage[c.golden.id], holders, writes, want_client=want_clients)
        batch.conflicts += outcome.conflicts
        batch.conflicts_queued += outcome.conflicts_queued
        if c.created:
            batch.created += 1
        elif outcome.changes:
            batch.updated += 1
        if outcome.changes and outcome.client is not None:
            batch.events.append((outcome.client, outcome.changes))
    writes.execute(session)
    return batch


def _wants_uscc(c: _Composed) -> bool:
    uscc = c.doc.get("uscc")
    return uscc is not None and uscc != c.golden.uscc


def _uscc_holders(session: Session, wanting: list[_Composed]) -> dict[str, list[int]]:
    """Which golden clients hold the USCCs these would take: one query for the batch (`Merger._guard_uscc`)."""
    wanted = sorted({str(c.doc["uscc"]) for c in wanting})
    holders: dict[str, list[int]] = {}
    for chunk in chunked(wanted, IN_LIST):
        for gid, uscc in session.execute(select(_G.c.id, _G.c.uscc).where(_G.c.uscc.in_(chunk))):
            holders.setdefault(uscc, []).append(gid)
    return holders


def _dedupe_contacts(contacts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for c in contacts:
        key = (str(c.get("name", "")).strip(), str(c.get("mobile") or c.get("email") or c.get("phone") or ""))
        if key not in seen:
            seen[key] = {k: v for k, v in c.items() if k not in ("client_source_id", "client_uscc")}
    return list(seen.values())


def _golden_view(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in GOLDEN_KEYS_FROM_ENGINE and not is_blank(v)}


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value


def golden_document(values: dict[str, Any]) -> dict[str, Any]:
    """The stored golden document for merged ``values``: what ``CorporateClient.model_validate(values)
    .model_dump(mode="json", exclude_none=True, exclude={"id", "lineage"})`` gives, without validating again.

    The values are dumps of validated records already (members' snapshots, the previous document), so they are
    kept as they are; the dump's layout is what is added: its key order, the fields it writes even when empty
    (their defaults), no ``None``. The risk summary is the one value whose dump kept its ``None`` keys (the risk
    phase writes it with ``model_dump(mode="json")``): a validating dump drops them, so they are dropped here too.
    """
    doc: dict[str, Any] = {}
    for name in DOCUMENT_FIELDS:
        value = values.get(name)
        if value is None:
            default = _DEFAULTS.get(name)
            if default is not None:
                doc[name] = orjson.loads(default)
            continue
        doc[name] = _drop_none(value) if name == "risk" else value
    return doc


def validated_document(values: dict[str, Any], client_id: int) -> tuple[dict[str, Any], CorporateClient]:
    """The golden document as the merge computed it before `golden_document`: validated, then dumped."""
    try:
        client = CorporateClient.model_validate({**values, "id": client_id})
    except ValidationError as exc:  # values come from validated records; a failure here is a bug to surface
        raise ValueError(f"golden client {client_id}: merged record is invalid: {exc}") from exc
    return client.model_dump(mode="json", exclude_none=True, exclude={"id", "lineage"}), client


class Merger:
    """Merges golden clients under the configured survivorship rules."""

    def __init__(
        self, sync: SyncSettings, default_priority: Sequence[str], run_id: int | None, actor: str = "sync"
    ) -> None:
        self.sync = sync
        self.priority = list(sync.source_priority) or list(default_priority)
        self.rules = compile_rules(MERGEABLE_FIELDS, sync.fields, self.priority)
        self.run_id = run_id
        self.actor = actor

    def compose(
        self, golden: Golden, members: list[Member], contacts: list[dict[str, Any]], lineage: dict[str, Lineage]
    ) -> _Composed:
        """Recompute ``golden`` from ``members`` (reads and writes nothing)."""
        old = golden.data
        new: dict[str, Any] = {}
        decisions: dict[str, Decision] = {}
        resolved: list[tuple[str, Decision, list[Candidate]]] = []
        queued: list[tuple[str, list[Candidate]]] = []
        present: dict[str, list[Candidate]] = {}  # each field's non-blank values, in member order
        for m in members:
            source, ref, observed = m.connector, m.ref, m.observed_at
            for name, value in m.data.items():
                if name in _MERGEABLE and not is_blank(value):
                    if name in present:
                        present[name].append(Candidate(value, source, ref, observed))
                    else:
                        present[name] = [Candidate(value, source, ref, observed)]
        rules = self.rules
        for name in MERGEABLE_FIELDS:
            candidates = present.get(name, _NONE)
            decision = decide(rules[name], candidates)
            prev = lineage.get(name)
            if prev is not None and candidates:
                changed = [
                    c for c in candidates if prev.source_hashes.get(f"{c.source}:{c.source_record_id}") != c.value_hash
                ]
                if len(changed) >= 2 and len({c.value_hash for c in changed}) >= 2:
                    if not decision.decided:  # keep the previous golden value; a human decides
                        queued.append((name, changed))
                        if name in old:
                            new[name] = old[name]
                        continue
                    resolved.append((name, decision, changed))
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
        doc = golden_document(new)
        before, after = _golden_view(old), _golden_view(doc)
        changes = {
            key: (before.get(key), after.get(key))
            for key in sorted(set(before) | set(after))
            if before.get(key) != after.get(key)
        }
        return _Composed(golden, not old, doc, decisions, changes, resolved, queued)

    def apply(
        self,
        session: Session,
        c: _Composed,
        lineage: dict[str, Lineage],
        holders: dict[str, list[int]],
        writes: _Writes,
        *,
        want_client: bool,
    ) -> MergeOutcome:
        """Write what `compose` found: conflicts (audit, review), the USCC guard, the golden row, its lineage."""
        now = datetime.now(UTC)
        golden = c.golden
        outcome = MergeOutcome(golden.id, c.created, c.changes)
        for name, decision, changed in c.resolved:
            outcome.conflicts += 1
            writes.audit.append(
                audit.Entry(
                    self.actor,
                    "conflict.resolved",
                    "client",
                    golden.id,
                    {
                        "field": name,
                        "rule": decision.rule,
                        "winner": decision.winner.source if decision.winner else None,
                        "sources": [x.source for x in changed],
                    },
                    now,
                    self.run_id,
                )
            )
        for name, changed in c.queued:
            outcome.conflicts += 1
            outcome.conflicts_queued += 1
            self._queue_conflict(session, golden.id, name, changed, now)
        uscc = self._guard_uscc(session, golden, c.doc.get("uscc"), holders, outcome)
        if outcome.changes or c.created:
            doc = c.doc
            manager = doc.get("relationship_manager")
            writes.goldens.append(
                {
                    "g_id": golden.id,
                    "data": doc,
                    "name": doc["name"],
                    "uscc": uscc,
                    "rm_user_id": manager.get("user_id") if manager else None,
                    "version": golden.version + (0 if c.created else 1),
                    "updated_at": now,
                    "needs_plan": True,
                    "needs_risk": True,
                    "needs_merge": False,
                    **keys_of(doc),
                }
            )
            writes.audit.append(
                audit.Entry(
                    self.actor,
                    "client.create" if c.created else "client.update",
                    "client",
                    golden.id,
                    {"changes": _masked_changes(outcome.changes)},
                    now,
                    self.run_id,
                )
            )
            if want_client and outcome.changes:
                _, outcome.client = validated_document(doc, golden.id)
                outcome.client.uscc = uscc
        else:
            writes.merged_ids.append(golden.id)
        self._write_lineage(golden.id, c.decisions, lineage, now, writes)
        return outcome

    def _guard_uscc(
        self, session: Session, golden: Golden, wanted: str | None, holders: dict[str, list[int]], outcome: MergeOutcome
    ) -> str | None:
        """Never give a golden record a USCC another active golden record already holds; returns the USCC the
        golden row keeps. (Its document still shows the USCC its sources give, as it always did.)"""
        if wanted is None or wanted == golden.uscc:
            return wanted
        holder = next((gid for gid in holders.get(wanted, ()) if gid != golden.id), None)
        if holder is None:
            return wanted
        outcome.changes.pop("uscc", None)
        self._queue(
            session,
            "uscc_conflict",
            f"uscc:{golden.id}:{holder}",
            golden.id,
            holder,
            "uscc",
            None,
            {"uscc": wanted, "reason": "a record of this client carries a USCC another client holds"},
        )
        return golden.uscc

    def _queue_conflict(
        self, session: Session, client_id: int, name: str, changed: list[Candidate], now: datetime
    ) -> None:
        values = [
            {
                "source": c.source,
                "record": c.source_record_id,
                "value": c.value,
                "observed_at": c.observed_at.isoformat(),
            }
            for c in changed
        ]
        key = f"conflict:{client_id}:{name}:{short_hash([c.value_hash for c in changed])}"
        self._queue(session, "conflict", key, client_id, None, name, None, {"values": values})

    def _queue(
        self,
        session: Session,
        kind: str,
        key: str,
        client_id: int,
        other: int | None,
        field_name: str | None,
        score: float | None,
        details: dict[str, Any],
    ) -> None:
        if session.scalar(select(ReviewItem.id).where(ReviewItem.dedup_key == key)) is not None:
            return
        session.add(
            ReviewItem(
                kind=kind,
                status="open",
                dedup_key=key,
                client_id=client_id,
                other_client_id=other,
                field=field_name,
                score=score,
                details=details,
                created_at=datetime.now(UTC),
            )
        )

    @staticmethod
    def _write_lineage(
        client_id: int, decisions: dict[str, Decision], existing: dict[str, Lineage], now: datetime, writes: _Writes
    ) -> None:
        for name, decision in decisions.items():
            row = existing.get(name)
            if decision.winner is None:
                if row is not None:
                    writes.lineage_deletes.append({"l_client": client_id, "l_field": name})
                continue
            winner = decision.winner
            hashes = {f"{c.source}:{c.source_record_id}": c.value_hash for c in [winner, *decision.competing]}
            competing = [
                {
                    "source": c.source,
                    "record": c.source_record_id,
                    "value": c.value,
                    "observed_at": c.observed_at.isoformat(),
                }
                for c in decision.competing
            ]
            if row is None:
                writes.lineage_inserts.append(
                    {
                        "client_id": client_id,
                        "field": name,
                        "value": winner.value,
                        "source": winner.source,
                        "source_record_id": winner.source_record_id,
                        "observed_at": winner.observed_at,
                        "rule": decision.rule,
                        "competing": competing,
                        "source_hashes": hashes,
                        "updated_at": now,
                    }
                )
            elif (
                row.value != winner.value
                or row.source != winner.source
                or row.source_hashes != hashes
                or row.competing != competing
            ):
                writes.lineage_updates.append(
                    {
                        "l_client": client_id,
                        "l_field": name,
                        "value": winner.value,
                        "source": winner.source,
                        "source_record_id": winner.source_record_id,
                        "observed_at": winner.observed_at,
                        "rule": decision.rule,
                        "competing": competing,
                        "source_hashes": hashes,
                        "updated_at": now,
                    }
                )


def _quality(members: list[Member], uscc: Any) -> dict[str, Any]:
    """The members' data-quality findings, each naming its source record, and the unverified USCC to show.

    A golden client keeps a source's unverified (invalid) USCC only while no source gives a valid one: the valid
    code always wins, and an invalid one is never the golden key (``uscc`` and the ``golden_client.uscc`` column
    hold valid codes only).
    """
    out: dict[str, Any] = {}
    findings = [
        {**f, "source": f"{m.connector}:{m.ref}"}
        for m in members
        for f in m.data.get("data_quality") or []
        if isinstance(f, dict)
    ]
    if findings:
        out["data_quality"] = sorted(findings, key=lambda f: (str(f["source"]), str(f.get("kind"))))
    if not uscc:
        unverified = [m for m in members if m.data.get("uscc_unverified")]
        if unverified:
            newest = max(unverified, key=lambda m: m.observed_at)
            out["uscc_unverified"] = newest.data["uscc_unverified"]
    return out


_HASHED = frozenset({"contacts", "legal_representative", "shareholders"})
"""Fields whose audit entry shows a short hash of the value, not the value (people's data, even masked)."""


def _masked_changes(changes: dict[str, tuple[Any, Any]]) -> dict[str, Any]:
    """Audit details without personal data in clear (legal representative, contacts)."""
    out: dict[str, Any] = {}
    for key, (before, after) in changes.items():
        if key in _HASHED:
            out[key] = {
                "before": content_hash(before)[:12] if before else None,
                "after": content_hash(after)[:12] if after else None,
            }
        else:  # mask_fields(None, key) is None
            out[key] = {
                "before": None if before is None else mask_fields(before, key),
                "after": None if after is None else mask_fields(after, key),
            }
    return out
