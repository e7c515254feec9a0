"""Match: link each new or changed source record to a golden client.

Deterministic keys first — a record already linked stays linked; a USCC held by a golden client decides — then
scored fuzzy matching (`crmhub.sync.scoring`) against every record already linked. At or above ``auto_merge``
the record joins that golden client; in the grey zone it gets a golden client of its own and the pair goes to
the review queue (never merged silently); below, it is a new company. Dirty flags are cleared in the same
transaction as the links, so a crash re-does at most one batch.

The records already linked are not loaded: their match keys are kept in the store (`crmhub.sync.match_index`),
so a batch reads only its candidates and the counts of its own values, and writes its records' keys back in its
own transaction — an incremental run touches about the changed share of the book.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, func, insert, select, update
from sqlalchemy.orm import Session

from crmhub.contract import StreamKind
from crmhub.core.chunks import IN_LIST, chunked
from crmhub.store.tables import GoldenClient, ReviewItem, Xref
from crmhub.store.tables import SourceRecord as SourceRow
from crmhub.sync import audit
from crmhub.sync.match_index import BatchIndex, MatchIndex
from crmhub.sync.matching import MatchRecord, MatchThresholds
from crmhub.sync.settings import MatchingSettings

BATCH = 1000

_SOURCE_T = cast(Table, SourceRow.__table__)
_GOLDEN_T = cast(Table, GoldenClient.__table__)


def match_record(ref: str, system: str, data: dict[str, Any]) -> MatchRecord:
    """A `MatchRecord` straight from a stored canonical snapshot (validated when it was ingested), without
    rebuilding the pydantic model — the index of a large book is built from these."""
    address = data.get("registered_address") or data.get("business_address") or {}
    rep = data.get("legal_representative") or {}
    return MatchRecord.build(
        ref,
        system,
        str(data.get("name") or ""),
        uscc=data.get("uscc") or data.get("uscc_unverified"),
        province=address.get("province"),
        city=address.get("city"),
        district=address.get("district"),
        division_code=address.get("division_code"),
        phone=data.get("phone"),
        legal_rep=rep.get("name"),
        other_phones=(rep.get("phone"),),
    )


def _insert_goldens(session: Session, rows: list[dict[str, Any]]) -> list[int]:
    """Insert new golden clients; their ids in ``rows``' order.

    SQLAlchemy cannot batch ``RETURNING ... sort_by_parameter_order`` on SQLite and falls back to one INSERT per
    row (a quarter of a fresh book's match phase at 10k). SQLite has one writer: inside this write transaction
    nobody else inserts, and one executemany numbers its rows consecutively in parameter order, so the new ids are
    the last ``len(rows)`` up to ``max(id)``. PostgreSQL batches the RETURNING form itself.
    """
    if session.connection().dialect.name != "sqlite":
        return list(
            session.execute(
                insert(GoldenClient).returning(GoldenClient.id, sort_by_parameter_order=True), rows
            ).scalars()
        )
    # Core, not the ORM: one executemany in parameter order (the ORM's bulk insert may regroup rows by their keys).
    session.execute(insert(cast(Table, GoldenClient.__table__)), rows)
    last = int(session.scalar(select(func.max(GoldenClient.id))) or 0)
    return list(range(last - len(rows) + 1, last + 1))


class Resolver:
    """Links dirty client records to golden clients, against the match index kept in the store."""

    def __init__(self, matching: MatchingSettings, run_id: int | None) -> None:
        self.thresholds = MatchThresholds(
            auto_merge=matching.auto_merge, review=min(matching.review, matching.auto_merge)
        )
        self.index = MatchIndex(self.thresholds.review)
        self.run_id = run_id
        self.linked: Counter[tuple[str, str]] = Counter()
        self.created: Counter[tuple[str, str]] = Counter()
        self.review_items = 0

    def load_index(self, session: Session) -> None:
        """Make the stored index current for this run: built once for a book that has none (a store upgraded
        from migration 0010, or new normalisation), then the dirty records leave it — the index holds every
        linked, clean, active client record, the records new ones are compared with."""
        self.index.ensure_built(session, match_record)
        self.index.retire_dirty(session)

    def dirty_batch(self, session: Session) -> list[Any]:
        """The next batch of dirty client records (id, connector, stream, data, deleted), those with a USCC first
        (they anchor golden records)."""
        rows = list(
            session.execute(
                select(SourceRow.id, SourceRow.connector, SourceRow.stream, SourceRow.data, SourceRow.deleted)
                .where(SourceRow.dirty.is_(True), SourceRow.kind == StreamKind.CLIENT.value)
                .order_by(SourceRow.id)
                .limit(BATCH)
            )
        )
        rows.sort(key=lambda r: (0 if r.data and r.data.get("uscc") else 1, r.id))
        return rows

    def link_batch(self, session: Session, rows: list[Any]) -> None:
        """Link each record of the batch and clear the dirty flags — a handful of statements per batch, not per
        record: links, USCC holders and touched golden clients are read and written in bulk."""
        ids = [r.id for r in rows]
        self.index.retire(session, ids)  # changed by a concurrent ingest since `load_index`: re-indexed below
        records = {
            r.id: match_record(str(r.id), r.connector, r.data)
            for r in rows
            if not r.deleted and r.data and r.data.get("name")
        }
        self._index: BatchIndex = self.index.batch(session, list(records.values()))
        links = {x.source_record_id: x for x in session.scalars(select(Xref).where(Xref.source_record_id.in_(ids)))}
        codes = sorted({str(r.data["uscc"]) for r in rows if r.data and r.data.get("uscc")})
        self._holders = (
            dict(
                session.execute(
                    select(GoldenClient.uscc, GoldenClient.id).where(
                        GoldenClient.uscc.in_(codes), GoldenClient.status == "active"
                    )
                ).all()
            )
            if codes
            else {}
        )
        self._touched: set[int] = set()
        self._new_links: list[dict[str, Any]] = []
        self._pending_goldens: list[dict[str, Any]] = []
        self._pending_reviews: list[tuple[int, int, float, str]] = []
        for row in rows:
            self._link(session, row, links.get(row.id), records.get(row.id))
        self._create_goldens(session)
        if self._new_links:  # Core, not the ORM: the ORM's bulk insert splits rows into runs of equal None-ness
            session.execute(insert(cast(Table, Xref.__table__)), self._new_links)  # (score) — ~60k INSERTs per 100k
        self._index.write(session)
        # Core statements on the tables: the same SQL without the ORM's session synchronisation per statement.
        for chunk in chunked(ids, IN_LIST):
            session.execute(update(_SOURCE_T).where(_SOURCE_T.c.id.in_(chunk)).values(dirty=False))
        touched = sorted(self._touched)
        for chunk in chunked(touched, IN_LIST):
            session.execute(update(_GOLDEN_T).where(_GOLDEN_T.c.id.in_(chunk)).values(needs_merge=True))

    def _link(self, session: Session, row: Any, existing: Xref | None, record: MatchRecord | None) -> None:
        data = row.data
        if record is None:  # deleted or nameless: out of the index (retired above), its client re-merged
            if existing is not None:
                self._touched.add(existing.client_id)
            return
        uscc: str | None = data.get("uscc")
        if existing is not None:
            target = existing.client_id
            holder = self._holders.get(uscc) if uscc else None
            if holder is not None and holder != target:
                self._relink(session, existing, holder, "uscc")
                target = holder
            self._touched.add(target)
            self._index.add(record, target)
            return
        golden_id: int | None = None
        method, score = "new", None
        if uscc:
            golden_id = self._holders.get(uscc)
            if golden_id is not None:
                method, score = "uscc", 1.0
        candidate: tuple[int, float, str] | None = None
        if golden_id is None:
            for other_ref, match in self._index.best_matches(record, limit=5):
                other_golden = self._index.golden_of(other_ref)
                if other_golden is None:
                    continue
                if match.match_probability >= self.thresholds.auto_merge and match.review_only is None:
                    golden_id, method, score = other_golden, "fuzzy", match.match_probability
                    break
                if candidate is None:
                    candidate = (other_golden, match.match_probability, match.explain())
        if golden_id is None:
            golden_id = self._new_golden(str(data["name"]), record.name.key, uscc)
            if uscc:
                self._holders[uscc] = golden_id
            if candidate is not None:
                self._queue_review(session, golden_id, candidate)
            self.created[(row.connector, row.stream)] += 1
        else:
            self.linked[(row.connector, row.stream)] += 1
        self._new_links.append(
            {
                "source_record_id": row.id,
                "client_id": golden_id,
                "method": method,
                "score": score,
                "linked_at": datetime.now(UTC),
            }
        )
        self._touched.add(golden_id)
        self._index.add(record, golden_id)

    def _new_golden(self, name: str, name_key: str, uscc: str | None) -> int:
        """A provisional (negative) id for a new golden client; `_create_goldens` inserts the batch's new clients
        in one statement and swaps in the real ids. ``name_key`` is the record's, already normalised from the same
        name (normalising it again cost a tenth of a fresh book's match phase)."""
        now = datetime.now(UTC)
        self._pending_goldens.append(
            {
                "uscc": uscc,
                "name": name,
                "name_key": name_key,
                "status": "active",
                "data": {},
                "version": 1,
                "needs_merge": True,
                "needs_risk": True,
                "needs_plan": False,
                "created_at": now,
                "updated_at": now,
            }
        )
        return -len(self._pending_goldens)

    def _create_goldens(self, session: Session) -> None:
        if not self._pending_goldens:
            for golden_id, other, probability, explanation in self._pending_reviews:
                self._add_review(session, golden_id, other, probability, explanation)
            return
        real = _insert_goldens(session, self._pending_goldens)
        provisional = {-(i + 1): int(new_id) for i, new_id in enumerate(real)}

        def fix(value: int) -> int:
            return provisional.get(value, value)

        for link in self._new_links:
            link["client_id"] = fix(link["client_id"])
        self._touched = {fix(v) for v in self._touched}
        for code, golden_id in list(self._holders.items()):
            self._holders[code] = fix(golden_id)
        for golden_id, other, probability, explanation in self._pending_reviews:
            self._add_review(session, fix(golden_id), fix(other), probability, explanation)
        self._pending_goldens = []
        self._pending_reviews = []

    def _relink(self, session: Session, xref: Xref, new_client: int, method: str) -> None:
        old = xref.client_id
        xref.client_id = new_client
        xref.method = method
        xref.linked_at = datetime.now(UTC)
        self._touched.add(old)
        audit.append(
            session,
            actor="sync",
            action="xref.relink",
            entity="source_record",
            entity_id=xref.source_record_id,
            run_id=self.run_id,
            details={"from_client": old, "to_client": new_client, "method": method},
        )

    def _queue_review(self, session: Session, golden_id: int, candidate: tuple[int, float, str]) -> None:
        other, probability, explanation = candidate
        self._pending_reviews.append((golden_id, other, probability, explanation))

    def _add_review(self, session: Session, golden_id: int, other: int, probability: float, explanation: str) -> None:
        key = f"match:{min(golden_id, other)}:{max(golden_id, other)}"
        if session.scalar(select(ReviewItem.id).where(ReviewItem.dedup_key == key)) is not None:
            return
        session.add(
            ReviewItem(
                kind="match",
                status="open",
                dedup_key=key,
                client_id=golden_id,
                other_client_id=other,
                score=probability,
                details={"explanation": explanation},
                created_at=datetime.now(UTC),
            )
        )
        self.review_items += 1
