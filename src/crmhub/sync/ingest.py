"""Ingest: store each pulled page and the cursor after it in one transaction.

A crash loses at most the page in flight, which the next run re-reads from the stored cursor. Records whose
canonical content hash is unchanged are no-ops; changed ones are flagged ``dirty`` for matching and merging;
ledger facts (accounts, transactions, loans) go to their own tables and flag the client for risk assessment;
rejected records go to the dead-letter table with their reason.

Nothing an outside system sends may stop a stream: ids and raw payloads are screened first (`crmhub.sync.hygiene`),
and a page the database still refuses (a value no check foresaw) is stored again one record at a time, each in its
own savepoint, so only the refused records become dead letters — naming the database's reason — and the cursor
moves on.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import DBAPIError, InterfaceError, InternalError, OperationalError, StatementError
from sqlalchemy.orm import Session

from crmhub.contract import Cursor, Page, RejectedRecord, SourceRecord, StreamKind, StreamSpec
from crmhub.model import BankAccount, CreditFacility, Transaction
from crmhub.model.text import clean_json, clean_text
from crmhub.model.types import Money
from crmhub.store.tables import (
    CreditFacilityRow,
    DeadLetter,
    GoldenClient,
    LedgerAccount,
    LedgerTransaction,
    SyncCursor,
    Xref,
)
from crmhub.store.tables import SourceRecord as SourceRow
from crmhub.sync import deadletter_history as dl_history
from crmhub.sync.hashing import content_hash
from crmhub.sync.hygiene import screen, storable_dead_letter

CHUNK = 500
log = logging.getLogger("crmhub.sync")


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
        out: dict[str, Any] = {"read": self.read, "created": self.created, "updated": self.updated,
                               "unchanged": self.unchanged, "deleted": self.deleted, "rejected": self.rejected,
                               "pages": self.pages}
        out.update(self.extra)
        if self.error:
            out["error"] = clean_text(self.error, multiline=True)  # often quotes the outside system
        return out


def minor(money: Money | None) -> int | None:
    """Decimal amount → integer minor units (fen/cents), exact."""
    if money is None:
        return None
    return int((money.amount * 100).to_integral_value())


def load_cursor(session: Session, connector: str, stream: str) -> Cursor | None:
    """The stored cursor of a stream (None = never read)."""
    row = session.get(SyncCursor, (connector, stream))
    return row.cursor if row is not None else None


def save_cursor(session: Session, connector: str, stream: str, cursor: Cursor | None, run_id: int | None) -> None:
    """Upsert a stream's cursor inside the page's transaction."""
    now = datetime.now(UTC)
    row = session.get(SyncCursor, (connector, stream))
    if row is None:
        session.add(SyncCursor(connector=connector, stream=stream, cursor=cursor, run_id=run_id, updated_at=now))
    else:
        row.cursor = cursor
        row.run_id = run_id
        row.updated_at = now


def dead_letter(session: Session, *, connector: str, stream: str, rejected: RejectedRecord | None = None,
                source_id: str | None = None, reason: str = "", field_name: str | None = None,
                payload: dict[str, Any] | None = None, run_id: int | None = None, direction: str = "in") -> None:
    """Record a rejected record; an open dead letter for the same record is updated, not duplicated."""
    if rejected is not None:
        source_id, reason, field_name, payload = rejected.source_id, rejected.reason, rejected.field, rejected.payload
    source_id, reason, field_name, payload = storable_dead_letter(source_id, reason, field_name, payload)
    now = datetime.now(UTC)
    existing = None
    if source_id is not None:
        existing = session.scalars(select(DeadLetter).where(
            DeadLetter.connector == connector, DeadLetter.stream == stream, DeadLetter.source_id == source_id,
            DeadLetter.direction == direction, DeadLetter.status == "open")).first()
    if existing is not None:
        dl_history.append(existing, dl_history.REJECTED, reason, at=now, run_id=run_id)
        existing.reason = reason
        existing.field = field_name
        existing.payload = payload
        existing.attempts += 1
        existing.run_id = run_id
        existing.updated_at = now
        return
    session.add(DeadLetter(run_id=run_id, direction=direction, connector=connector, stream=stream,
                           source_id=source_id, reason=reason, field=field_name, payload=payload,
                           status="open", attempts=1, created_at=now, updated_at=now,
                           history=[dl_history.entry(dl_history.REJECTED, reason, at=now, run_id=run_id)]))


def _resolve_dead_letters(session: Session, connector: str, stream: str, source_ids: Sequence[str],
                          run_id: int | None) -> None:
    """Records stored now that had an open dead letter: resolved, with that noted in their history (one SELECT
    per page, almost always answering nothing)."""
    if not source_ids:
        return
    now = datetime.now(UTC)
    for row in session.scalars(select(DeadLetter).where(
            DeadLetter.connector == connector, DeadLetter.stream == stream, DeadLetter.direction == "in",
            DeadLetter.status == "open", DeadLetter.source_id.in_(list(source_ids)))):
        dl_history.append(row, dl_history.RESOLVED, "a later sync read the record again and stored it", at=now,
                          run_id=run_id)
        row.status = "resolved"
        row.updated_at = now


def _record_payload(rec: SourceRecord) -> dict[str, Any] | None:
    """The canonical snapshot as JSON; cleaned again in case a plugin built its record without validation."""
    if rec.data is None:
        return None
    data: dict[str, Any] = clean_json(rec.data.model_dump(mode="json", exclude_none=True))
    return data


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


class Ingestor:
    """Writes pages of one connector into the store."""

    def __init__(self, connector: str, run_id: int | None) -> None:
        self.connector = connector
        self.run_id = run_id

    def store_page(self, session: Session, spec: StreamSpec, page: Page, stats: StreamStats) -> None:
        """Store one page's records, rejects and next cursor (the caller owns the transaction).

        The records go in one savepoint; if the database refuses it, each record is stored in its own savepoint
        and the refused ones are dead-lettered, so one unstorable value never blocks the stream.
        """
        stats.pages += 1
        stats.read += len(page.records)
        screened, rejects = screen(spec.name, page)
        for rej in rejects:
            stats.rejected += 1
            dead_letter(session, connector=self.connector, stream=spec.name, rejected=rej, run_id=self.run_id)
        records = list({r.source_id: r for r in screened}.values())  # last wins within a page
        before = replace(stats, extra=dict(stats.extra))
        try:
            with session.begin_nested():
                self._store_records(session, spec, records, stats)
        except _REFUSED as exc:
            log.warning("%s/%s: the store refused a page (%s); storing its %d records one by one", self.connector,
                        spec.name, _refusal(_refused(exc)), len(records))
            for f in fields(stats):
                setattr(stats, f.name, getattr(before, f.name))
            self._store_one_by_one(session, spec, records, stats)
        save_cursor(session, self.connector, spec.name, page.next_cursor, self.run_id)

    def _store_one_by_one(self, session: Session, spec: StreamSpec, records: list[SourceRecord],
                          stats: StreamStats) -> None:
        for rec in records:
            before = replace(stats, extra=dict(stats.extra))
            try:
                with session.begin_nested():
                    self._store_records(session, spec, [rec], stats)
            except _REFUSED as exc:
                reason = _refusal(_refused(exc))
                for f in fields(stats):
                    setattr(stats, f.name, getattr(before, f.name))
                stats.rejected += 1
                dead_letter(session, connector=self.connector, stream=spec.name, source_id=rec.source_id,
                            reason=reason, payload=rec.raw, run_id=self.run_id)

    def store_records(self, session: Session, spec: StreamSpec, records: Sequence[SourceRecord]) -> str | None:
        """Store re-mapped records without touching the stream's cursor (`crmhub deadletter retry`), screened and
        stored like a page's; returns why when the screen or the database refuses them (nothing is stored then)."""
        screened, rejects = screen(spec.name, Page(records=list(records), next_cursor=None))
        if rejects:
            return rejects[0].reason
        try:
            with session.begin_nested():
                self._store_records(session, spec, list({r.source_id: r for r in screened}.values()), StreamStats())
        except _REFUSED as exc:
            return _refusal(_refused(exc))
        return None

    def _store_records(self, session: Session, spec: StreamSpec, records: list[SourceRecord],
                       stats: StreamStats) -> None:
        if spec.kind in (StreamKind.CLIENT, StreamKind.CONTACT, StreamKind.INTERACTION):
            self._source_records(session, spec, records, stats)
        elif spec.kind is StreamKind.DELETION:
            self._deletions(session, records, stats)
        elif spec.kind is StreamKind.ACCOUNT:
            self._accounts(session, records, stats)
        elif spec.kind is StreamKind.TRANSACTION:
            self._transactions(session, records, stats)
        elif spec.kind is StreamKind.FACILITY:
            self._facilities(session, records, stats)

    # --- CRM-style records -------------------------------------------------------------------------------

    def _source_records(self, session: Session, spec: StreamSpec, records: list[SourceRecord],
                        stats: StreamStats) -> None:
        """Insert new records, update changed ones, touch unchanged ones. A source that gives no modification time
        (the ledger's clients) gets the time crmhub saw the content change — never the time of every re-read, or
        "most recent" survivorship would always pick it over a CRM's later edit."""
        if not records:
            return
        now = datetime.now(UTC)
        ids = [r.source_id for r in records]
        existing = {
            row.source_id: row for row in session.execute(
                select(SourceRow.id, SourceRow.source_id, SourceRow.content_hash, SourceRow.deleted).where(
                    SourceRow.connector == self.connector, SourceRow.stream == spec.name,
                    SourceRow.source_id.in_(ids)))
        }
        inserts: list[dict[str, Any]] = []
        unchanged_ids: list[int] = []
        for rec in records:
            data = _record_payload(rec)
            if data and data.get("data_quality"):  # kept despite a defect (e.g. a USCC failing its check)
                stats.extra["data_quality"] = stats.extra.get("data_quality", 0) + 1
            digest = content_hash({"data": data, "deleted": rec.deleted})
            parent = getattr(rec.data, "client_source_id", None)
            old = existing.get(rec.source_id)
            if old is None:
                inserts.append({
                    "connector": self.connector, "stream": spec.name, "source_id": rec.source_id,
                    "kind": spec.kind.value, "raw": rec.raw, "data": data, "content_hash": digest,
                    "parent_source_id": parent, "modified_at": rec.modified_at or now, "first_seen_at": now,
                    "last_seen_at": now, "deleted": rec.deleted, "dirty": True, "last_run_id": self.run_id,
                })
                stats.created += 1
                if rec.deleted:
                    stats.deleted += 1
            elif old.content_hash == digest:
                unchanged_ids.append(old.id)
                stats.unchanged += 1
            else:
                session.execute(update(SourceRow).where(SourceRow.id == old.id).values(
                    raw=rec.raw, data=data, content_hash=digest, parent_source_id=parent,
                    modified_at=rec.modified_at or now, last_seen_at=now, deleted=rec.deleted, dirty=True,
                    last_run_id=self.run_id))
                if rec.deleted and not old.deleted:
                    stats.deleted += 1
                else:
                    stats.updated += 1
        if inserts:
            session.execute(insert(SourceRow), inserts)
        for i in range(0, len(unchanged_ids), CHUNK):
            session.execute(update(SourceRow).where(SourceRow.id.in_(unchanged_ids[i:i + CHUNK]))
                            .values(last_seen_at=now))
        _resolve_dead_letters(session, self.connector, spec.name, ids, self.run_id)
        if spec.kind is StreamKind.CONTACT:
            parents = {p for r in records if (p := getattr(r.data, "client_source_id", None))}
            self._flag_parents(session, parents)

    def _flag_parents(self, session: Session, parent_ids: set[str]) -> None:
        """A changed contact changes its company's golden record: mark the parent record dirty."""
        if parent_ids:
            session.execute(update(SourceRow).where(
                SourceRow.connector == self.connector, SourceRow.kind == StreamKind.CLIENT.value,
                SourceRow.source_id.in_(sorted(parent_ids))).values(dirty=True))

    def _deletions(self, session: Session, records: list[SourceRecord], stats: StreamStats) -> None:
        now = datetime.now(UTC)
        by_stream: dict[str, list[str]] = {}
        for rec in records:
            by_stream.setdefault(rec.deletes_stream or "", []).append(rec.source_id)
        for stream, ids in by_stream.items():
            conditions = [SourceRow.connector == self.connector, SourceRow.source_id.in_(ids),
                          SourceRow.deleted.is_(False)]
            if stream:
                conditions.append(SourceRow.stream == stream)
            rows = session.execute(select(SourceRow.id, SourceRow.kind, SourceRow.parent_source_id)
                                   .where(*conditions)).all()
            if rows:
                session.execute(update(SourceRow).where(SourceRow.id.in_([r.id for r in rows])).values(
                    deleted=True, dirty=True, last_seen_at=now, last_run_id=self.run_id,
                    content_hash="deleted"))
                self._flag_parents(session, {r.parent_source_id for r in rows if r.parent_source_id})
            stats.deleted += len(rows)
            stats.unchanged += len(ids) - len(rows)

    # --- ledger facts ------------------------------------------------------------------------------------

    def _flag_risk(self, session: Session, client_source_ids: set[str]) -> None:
        """Mark the golden clients behind these ledger client ids for reassessment."""
        if not client_source_ids:
            return
        linked = (select(Xref.client_id).join(SourceRow, SourceRow.id == Xref.source_record_id).where(
            SourceRow.connector == self.connector, SourceRow.kind == StreamKind.CLIENT.value,
            SourceRow.source_id.in_(sorted(client_source_ids))))
        session.execute(update(GoldenClient).where(GoldenClient.id.in_(linked)).values(needs_risk=True))

    def _upsert_facts(self, session: Session, table: type[LedgerAccount] | type[CreditFacilityRow],
                      items: list[tuple[str, str, dict[str, Any]]], stats: StreamStats) -> None:
        """Insert or update ledger facts (accounts, facilities) by (connector, source id) when their hash changed;
        ``items`` are (source id, client source id, column values incl. ``content_hash``)."""
        existing = {row.source_id: row for row in session.execute(
            select(table.id, table.source_id, table.content_hash).where(
                table.connector == self.connector, table.source_id.in_([i[0] for i in items])))}
        touched: set[str] = set()
        inserts: list[dict[str, Any]] = []
        now = datetime.now(UTC)
        for source_id, client_source_id, columns in items:
            values = {**columns, "client_source_id": client_source_id, "updated_at": now}
            old = existing.get(source_id)
            if old is None:
                inserts.append({"connector": self.connector, "source_id": source_id, **values})
                stats.created += 1
            elif old.content_hash != values["content_hash"]:
                session.execute(update(table).where(table.id == old.id).values(**values))
                stats.updated += 1
            else:
                stats.unchanged += 1
                continue
            touched.add(client_source_id)
        if inserts:
            session.execute(insert(table), inserts)
        self._flag_risk(session, touched)

    def _accounts(self, session: Session, records: list[SourceRecord], stats: StreamStats) -> None:
        items = []
        for rec in records:
            acct = rec.data
            if not isinstance(acct, BankAccount):
                continue
            data = acct.model_dump(mode="json", exclude_none=True)
            items.append((rec.source_id, acct.client_source_id, {
                "account_no": acct.account_no, "currency": acct.balance.currency,
                "balance_minor": minor(acct.balance) or 0, "sub_status": acct.sub_status.value,
                "allow_overdraft": acct.allow_overdraft, "overdraft_limit_minor": minor(acct.overdraft_limit),
                "data": data, "content_hash": content_hash(data)}))
        self._upsert_facts(session, LedgerAccount, items, stats)

    def _facilities(self, session: Session, records: list[SourceRecord], stats: StreamStats) -> None:
        items = []
        for rec in records:
            loan = rec.data
            if not isinstance(loan, CreditFacility):
                continue
            data = loan.model_dump(mode="json", exclude_none=True)
            items.append((rec.source_id, loan.client_source_id, {
                "currency": loan.principal.currency, "principal_minor": minor(loan.principal) or 0,
                "outstanding_minor": minor(loan.outstanding), "days_past_due": loan.days_past_due,
                "classification": loan.classification.value, "status": loan.status, "data": data,
                "content_hash": content_hash(data)}))
        self._upsert_facts(session, CreditFacilityRow, items, stats)

    def _transactions(self, session: Session, records: list[SourceRecord], stats: StreamStats) -> None:
        items = [r for r in records if isinstance(r.data, Transaction)]
        existing = {row.source_id: row for row in session.execute(
            select(LedgerTransaction.id, LedgerTransaction.source_id, LedgerTransaction.content_hash).where(
                LedgerTransaction.connector == self.connector,
                LedgerTransaction.source_id.in_([r.source_id for r in items])))}
        inserts: list[dict[str, Any]] = []
        touched: set[str] = set()
        for rec in items:
            tx = rec.data
            assert isinstance(tx, Transaction)
            values = _transaction_values(tx)
            old = existing.get(rec.source_id)
            if old is None:
                inserts.append({"connector": self.connector, "source_id": rec.source_id, **values})
                stats.created += 1
            elif old.content_hash != values["content_hash"]:
                session.execute(update(LedgerTransaction).where(LedgerTransaction.id == old.id).values(**values))
                stats.updated += 1
            else:
                stats.unchanged += 1
                continue
            if tx.client_source_id:
                touched.add(tx.client_source_id)
        if inserts:
            session.execute(insert(LedgerTransaction), inserts)
        self._flag_risk(session, touched)


def _transaction_values(tx: Transaction) -> dict[str, Any]:
    data = tx.model_dump(mode="json", exclude_none=True)
    return {
        "account_source_id": tx.account_source_id, "client_source_id": tx.client_source_id,
        "booking_date": tx.booking_date, "value_date": tx.value_date,
        "amount_minor": minor(tx.amount) or 0, "currency": tx.amount.currency, "direction": tx.direction.value,
        "kind": tx.kind, "is_cash": tx.is_cash, "cross_border": tx.cross_border,
        "counterparty_account": tx.counterparty_account, "counterparty_name": tx.counterparty_name,
        "reversed": tx.reversed, "is_manual": tx.is_manual, "content_hash": content_hash(data),
    }


__all__ = ["Ingestor", "StreamStats", "dead_letter", "load_cursor", "minor", "save_cursor"]
