"""Ingest: store each pulled page and the cursor after it in one transaction, in a handful of statements.

A crash loses at most the page in flight, which the next run re-reads from the stored cursor. Records whose
canonical content hash is unchanged are no-ops; changed ones are flagged ``dirty`` for matching and merging;
ledger facts (accounts, transactions, loans) go to their own tables (`crmhub.sync.ingest_facts`) and flag the
client for risk assessment; rejected records go to the dead-letter table with their reason
(`crmhub.sync.ingest_deadletters`).

Set-based, because ingest runs over the whole book: a page of N records costs one SELECT of the stored rows by
(connector, stream, source id), one ``executemany`` INSERT of the new ones, one ``executemany`` UPDATE of the
changed ones, one UPDATE touching the unchanged ones, and the page's dead letters in one batch — never a statement
per record. The canonical records arrive validated from the connector (pydantic models); each is dumped to JSON
once and hashed once, and nothing re-validates it.

Nothing an outside system sends may stop a stream: ids are screened first and raw payloads cleaned before they are
written (`crmhub.sync.hygiene`; only the payloads of new and changed records — an unchanged record's payload is not
written, and ledger facts keep none, so cleaning theirs would be wasted work), and a page the database still
refuses (a value no check foresaw) is stored again one record at a time, each in its own savepoint, so only the
refused records become dead letters — naming the database's reason — and the cursor moves on.

After a bulk load (a connector that wrote more than `BULK_ROWS` rows to a table in one run) the engine calls
`Ingestor.analyze_after_bulk`, so the planner of the phases that follow sees the tables' real sizes.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, bindparam, false, insert, select, text, update
from sqlalchemy.exc import DBAPIError, InterfaceError, InternalError, OperationalError, StatementError
from sqlalchemy.orm import Session

from crmhub.contract import Cursor, Page, RejectedRecord, SourceRecord, StreamKind, StreamSpec
from crmhub.core.chunks import chunked
from crmhub.core.hashing import content_hash
from crmhub.model.text import clean_json, clean_text
from crmhub.store.tables import SourceRecord as SourceRow
from crmhub.store.tables import SyncCursor
from crmhub.sync import ingest_deadletters as letters
from crmhub.sync import ingest_facts as facts
from crmhub.sync.hygiene import id_problem
from crmhub.sync.ingest_facts import minor, transaction_values

CHUNK = 500
BULK_ROWS = 10_000
"""A connector that wrote more rows than this to a table in one run has the table re-analysed (`ANALYZE`)."""
log = logging.getLogger("crmhub.sync")

SOURCE: Table = SourceRow.__table__  # type: ignore[assignment]
CURSORS: Table = SyncCursor.__table__  # type: ignore[assignment]
_transaction_values = transaction_values  # the statement booking's name for it (crmhub.sync.statement_booking)


@dataclass(slots=True)
class StreamStats:
    """Counts for one connector stream in one run."""

    read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    rejected: int = 0
    pages: int = 0
    error: str | None = None
    extra: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """For the JSON report."""
        out: dict[str, Any] = {
            "read": self.read,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "deleted": self.deleted,
            "rejected": self.rejected,
            "pages": self.pages,
        }
        out.update(self.extra)
        if self.error:
            out["error"] = clean_text(self.error, multiline=True)  # often quotes the outside system
        return out


def load_cursor(session: Session, connector: str, stream: str) -> Cursor | None:
    """The stored cursor of a stream (None = never read)."""
    row = session.get(SyncCursor, (connector, stream))
    return row.cursor if row is not None else None


def save_cursor(session: Session, connector: str, stream: str, cursor: Cursor | None, run_id: int | None) -> None:
    """Upsert a stream's cursor inside the page's transaction (one statement)."""
    now = datetime.now(UTC)
    stmt = facts.dialect_insert(session, CURSORS)
    session.execute(
        stmt.on_conflict_do_update(  # type: ignore[attr-defined]
            index_elements=[CURSORS.c.connector, CURSORS.c.stream],
            set_={
                "cursor": stmt.excluded.cursor,  # type: ignore[attr-defined]
                "run_id": stmt.excluded.run_id,  # type: ignore[attr-defined]
                "updated_at": stmt.excluded.updated_at,  # type: ignore[attr-defined]
            },
        ),
        {"connector": connector, "stream": stream, "cursor": cursor, "run_id": run_id, "updated_at": now},
    )


def dead_letter(
    session: Session,
    *,
    connector: str,
    stream: str,
    rejected: RejectedRecord | None = None,
    source_id: str | None = None,
    reason: str = "",
    field_name: str | None = None,
    payload: dict[str, Any] | None = None,
    run_id: int | None = None,
    direction: str = "in",
) -> None:
    """Record one rejected record; an open dead letter for the same record is updated, not duplicated (batches:
    `crmhub.sync.ingest_deadletters.record`)."""
    if rejected is not None:
        source_id, reason, field_name, payload = rejected.source_id, rejected.reason, rejected.field, rejected.payload
    letters.record(
        session,
        connector=connector,
        stream=stream,
        run_id=run_id,
        direction=direction,
        letters=[letters.letter(source_id, reason, field_name, payload)],
    )


def analyze_after_bulk(session: Session, tables: Sequence[str]) -> None:
    """Refresh the planner's statistics of ``tables`` (after a bulk load: an index the planner thought useless on
    an empty table is used once it knows the rows are there). SQLite: ``ANALYZE t``; PostgreSQL: ``ANALYZE t``
    (both allowed inside a transaction)."""
    known = {t.name for t in SourceRow.metadata.sorted_tables}
    for name in sorted(set(tables)):
        if name not in known:  # never a name from outside: only our own tables
            raise ValueError(f"not a crmhub table: {name!r}")
        session.execute(text(f"ANALYZE {name}"))


_REFUSED = (DBAPIError, StatementError, UnicodeError)
"""What a database (or its driver, encoding a value) raises for a value it cannot store."""

_TRANSIENT = (OperationalError, InterfaceError, InternalError)
"""Database errors that say nothing about the values (locked, connection lost, serialization failure): never a
reason to dead-letter a record — they propagate, the page's transaction rolls back and its cursor stays put, so
the stream re-reads the page."""


def _refused(exc: Exception) -> Exception:
    """``exc`` when it is about the values (a dead letter is right); re-raised when the database merely failed."""
    if isinstance(exc, _TRANSIENT):
        raise exc
    return exc


def _refusal(exc: BaseException) -> str:
    """The database's reason, one line, without the statement and parameters SQLAlchemy appends."""
    orig = getattr(exc, "orig", None) or exc
    first = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    return f"the store refused the record ({type(orig).__name__}: {first[:300]})"


def _screen(stream: str, page: Page) -> tuple[list[SourceRecord], list[RejectedRecord]]:
    """The page's records with usable ids, last one per id (a page may repeat a record), and its rejects plus the
    records whose id cannot be a key (`crmhub.sync.hygiene.id_problem`)."""
    records: dict[str, SourceRecord] = {}
    rejected = list(page.rejected)
    for rec in page.records:
        problem = id_problem(rec.source_id)
        if problem is None:
            records[rec.source_id] = rec
        else:
            rejected.append(
                RejectedRecord(stream=stream, source_id=rec.source_id, reason=problem, field="id", payload=rec.raw)
            )
    return list(records.values()), rejected


def _restore(stats: StreamStats, before: StreamStats) -> None:
    for f in fields(stats):
        setattr(stats, f.name, getattr(before, f.name))


class Ingestor:
    """Writes pages of one connector into the store."""

    def __init__(self, connector: str, run_id: int | None) -> None:
        self.connector = connector
        self.run_id = run_id
        self.written: Counter[str] = Counter()
        """Rows inserted or updated per table by this ingestor since the last `analyze_after_bulk`."""
        self._open_letters: dict[str, bool] = {}
        """Per stream: may it have open inbound dead letters to resolve (looked up once, set when one is written)."""

    def _letters(self, session: Session, stream: str, items: list[letters.Letter]) -> None:
        if items:
            self._open_letters[stream] = True
            letters.record(session, connector=self.connector, stream=stream, letters=items, run_id=self.run_id)

    def _resolve(self, session: Session, stream: str, source_ids: list[str]) -> None:
        """Resolve the open dead letters of records stored now — skipped (no SELECT per page) while the stream has
        none."""
        may = self._open_letters.get(stream)
        if may is None:
            may = self._open_letters[stream] = letters.any_open(session, self.connector, stream)
        if may:
            letters.resolve(session, connector=self.connector, stream=stream, source_ids=source_ids, run_id=self.run_id)

    def store_page(self, session: Session, spec: StreamSpec, page: Page, stats: StreamStats) -> None:
        """Store one page's records, rejects and next cursor (the caller owns the transaction).

        The records go in one savepoint; if the database refuses it, each record is stored in its own savepoint
        and the refused ones are dead-lettered, so one unstorable value never blocks the stream.
        """
        stats.pages += 1
        stats.read += len(page.records)
        records, rejects = _screen(spec.name, page)
        stats.rejected += len(rejects)
        self._letters(session, spec.name, [letters.letter(r.source_id, r.reason, r.field, r.payload) for r in rejects])
        before = replace(stats, extra=dict(stats.extra))
        written = self.written.copy()
        try:
            with session.begin_nested():
                self._store_records(session, spec, records, stats)
        except _REFUSED as exc:
            log.warning(
                "%s/%s: the store refused a page (%s); storing its %d records one by one",
                self.connector,
                spec.name,
                _refusal(_refused(exc)),
                len(records),
            )
            _restore(stats, before)
            self.written = written
            self._store_one_by_one(session, spec, records, stats)
        save_cursor(session, self.connector, spec.name, page.next_cursor, self.run_id)

    def _store_one_by_one(
        self, session: Session, spec: StreamSpec, records: list[SourceRecord], stats: StreamStats
    ) -> None:
        refused: list[letters.Letter] = []
        for rec in records:
            before = replace(stats, extra=dict(stats.extra))
            written = self.written.copy()
            try:
                with session.begin_nested():
                    self._store_records(session, spec, [rec], stats)
            except _REFUSED as exc:
                reason = _refusal(_refused(exc))
                _restore(stats, before)
                self.written = written
                stats.rejected += 1
                refused.append(letters.letter(rec.source_id, reason, None, rec.raw))
        self._letters(session, spec.name, refused)

    def store_records(self, session: Session, spec: StreamSpec, records: Sequence[SourceRecord]) -> str | None:
        """Store re-mapped records without touching the stream's cursor (`crmhub deadletter retry`), screened and
        stored like a page's; returns why when the screen or the database refuses them (nothing is stored then)."""
        screened, rejects = _screen(spec.name, Page(records=list(records), next_cursor=None))
        if rejects:
            return rejects[0].reason
        try:
            with session.begin_nested():
                self._store_records(session, spec, screened, StreamStats())
        except _REFUSED as exc:
            return _refusal(_refused(exc))
        return None

    def _store_records(
        self, session: Session, spec: StreamSpec, records: list[SourceRecord], stats: StreamStats
    ) -> None:
        if spec.kind in (StreamKind.CLIENT, StreamKind.CONTACT, StreamKind.INTERACTION):
            self._source_records(session, spec, records, stats)
        elif spec.kind is StreamKind.DELETION:
            self._deletions(session, records, stats)
        elif spec.kind is StreamKind.ACCOUNT:
            self._facts(session, facts.ACCOUNTS, facts.account_rows(records), stats)
        elif spec.kind is StreamKind.TRANSACTION:
            self._facts(session, facts.TRANSACTIONS, facts.transaction_rows(records), stats)
        elif spec.kind is StreamKind.FACILITY:
            self._facts(session, facts.FACILITIES, facts.facility_rows(records), stats)

    def analyze_after_bulk(self, session: Session, threshold: int = BULK_ROWS) -> list[str]:
        """``ANALYZE`` the tables this ingestor wrote more than ``threshold`` rows to since the last call (the end of
        a connector's streams); returns their names (none after a small incremental run)."""
        tables = sorted(t for t, n in self.written.items() if n > threshold)
        if tables:
            analyze_after_bulk(session, tables)
            for t in tables:
                del self.written[t]
        return tables

    # --- CRM-style records -------------------------------------------------------------------------------

    def _source_records(
        self, session: Session, spec: StreamSpec, records: list[SourceRecord], stats: StreamStats
    ) -> None:
        """Insert new records, update changed ones, touch unchanged ones. A source that gives no modification time
        (the ledger's clients) gets the time crmhub saw the content change — never the time of every re-read, or
        "most recent" survivorship would always pick it over a CRM's later edit."""
        if not records:
            return
        now = datetime.now(UTC)
        c = SOURCE.c
        ids = [r.source_id for r in records]
        existing = {
            row.source_id: row
            for row in session.execute(
                select(c.id, c.source_id, c.content_hash, c.deleted, c.parent_source_id).where(
                    c.connector == self.connector, c.stream == spec.name, c.source_id.in_(ids)
                )
            )
        }
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        unchanged_ids: list[int] = []
        parents: set[str] = set()
        quality = 0
        for rec in records:
            data = None if rec.data is None else rec.data.model_dump(mode="json", exclude_none=True)
            if data and data.get("data_quality"):  # kept despite a defect (e.g. a USCC failing its check)
                quality += 1
            digest = content_hash({"data": data, "deleted": rec.deleted})
            old = existing.get(rec.source_id)
            if old is not None and old.content_hash == digest:
                unchanged_ids.append(old.id)
                continue
            parent = getattr(rec.data, "client_source_id", None)
            values = {
                "raw": clean_json(rec.raw),
                "data": data,
                "content_hash": digest,
                "parent_source_id": parent,
                "modified_at": rec.modified_at or now,
                "last_seen_at": now,
                "deleted": rec.deleted,
                "dirty": True,
                "last_run_id": self.run_id,
            }
            parents.update(p for p in (parent, old.parent_source_id if old is not None else None) if p)
            if old is None:
                inserts.append(
                    {
                        "connector": self.connector,
                        "stream": spec.name,
                        "source_id": rec.source_id,
                        "kind": spec.kind.value,
                        "first_seen_at": now,
                        **values,
                    }
                )
                stats.created += 1
                stats.deleted += rec.deleted
            else:
                updates.append({"_id": old.id, **values})
                if rec.deleted and not old.deleted:
                    stats.deleted += 1
                else:
                    stats.updated += 1
        stats.unchanged += len(unchanged_ids)
        if quality:
            stats.extra["data_quality"] = stats.extra.get("data_quality", 0) + quality
        if inserts:
            session.execute(insert(SOURCE), inserts)
        if updates:
            session.execute(update(SOURCE).where(c.id == bindparam("_id")), updates)
        self.written[SOURCE.name] += len(inserts) + len(updates)
        for chunk in chunked(unchanged_ids, CHUNK):
            session.execute(update(SOURCE).where(c.id.in_(chunk)).values(last_seen_at=now))
        self._resolve(session, spec.name, ids)
        if spec.kind is StreamKind.CONTACT:
            self._flag_parents(session, parents)

    def _flag_parents(self, session: Session, parent_ids: set[str]) -> None:
        """A new, changed or deleted contact changes its company's golden record (the one it left, too): mark the
        parent record dirty. Unchanged contacts do not, or every re-read would re-merge every company."""
        if parent_ids:
            c = SOURCE.c
            session.execute(
                update(SOURCE)
                .where(
                    c.connector == self.connector,
                    c.kind == StreamKind.CLIENT.value,
                    c.source_id.in_(sorted(parent_ids)),
                    c.dirty == false(),
                )
                .values(dirty=True)
            )

    def _deletions(self, session: Session, records: list[SourceRecord], stats: StreamStats) -> None:
        now = datetime.now(UTC)
        c = SOURCE.c
        by_stream: dict[str, list[str]] = {}
        for rec in records:
            by_stream.setdefault(rec.deletes_stream or "", []).append(rec.source_id)
        for stream, ids in by_stream.items():
            conditions = [c.connector == self.connector, c.source_id.in_(ids), c.deleted == false()]
            if stream:
                conditions.append(c.stream == stream)
            rows = session.execute(select(c.id, c.kind, c.parent_source_id).where(*conditions)).all()
            if rows:
                session.execute(
                    update(SOURCE)
                    .where(c.id.in_([r.id for r in rows]))
                    .values(deleted=True, dirty=True, last_seen_at=now, last_run_id=self.run_id, content_hash="deleted")
                )
                self._flag_parents(session, {r.parent_source_id for r in rows if r.parent_source_id})
                self.written[SOURCE.name] += len(rows)
            stats.deleted += len(rows)
            stats.unchanged += len(ids) - len(rows)

    # --- ledger facts ------------------------------------------------------------------------------------

    def _facts(
        self, session: Session, table: Table, rows: list[tuple[str, str | None, dict[str, Any]]], stats: StreamStats
    ) -> None:
        counts = facts.upsert(session, table, self.connector, rows)
        stats.created += counts.created
        stats.updated += counts.updated
        stats.unchanged += counts.unchanged
        self.written[table.name] += counts.created + counts.updated
        facts.flag_risk(session, self.connector, counts.touched)

    def _flag_risk(self, session: Session, client_source_ids: set[str]) -> None:
        """Mark the golden clients behind these ledger client ids for reassessment (the statement importer)."""
        facts.flag_risk(session, self.connector, client_source_ids)


__all__ = [
    "BULK_ROWS",
    "Ingestor",
    "StreamStats",
    "analyze_after_bulk",
    "dead_letter",
    "load_cursor",
    "minor",
    "save_cursor",
]
