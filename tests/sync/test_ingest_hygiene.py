"""The ingest boundary on SQLite and PostgreSQL: unusable ids, unstorable raw payloads and values the database
still refuses become dead letters naming the record; the rest of the page is stored and the cursor moves on."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from crmhub.contract import Page, RejectedRecord, SourceRecord, StreamKind, StreamSpec
from crmhub.model import Contact, CorporateClient
from crmhub.store import Store
from crmhub.store.tables import DeadLetter, SyncCursor
from crmhub.store.tables import SourceRecord as SourceRow
from crmhub.sync.ingest import Ingestor, StreamStats

ACCOUNTS = StreamSpec("accounts", StreamKind.CLIENT)
CONTACTS = StreamSpec("contacts", StreamKind.CONTACT)


def _client(sid: str, name: str, **raw: object) -> SourceRecord:
    return SourceRecord(
        stream="accounts", source_id=sid, data=CorporateClient(name=name), raw={"id": sid, "Account_Name": name, **raw}
    )


def _store(store: Store, spec: StreamSpec, page: Page) -> StreamStats:
    stats = StreamStats()
    with store.begin() as s:
        Ingestor("crm", 7).store_page(s, spec, page, stats)
    return stats


def test_nul_and_escapes_in_raw_payloads_are_cleaned_before_they_reach_jsonb(store: Store) -> None:
    """The original break: PostgreSQL's jsonb refuses \\u0000, so one NUL in a raw payload stopped the stream."""
    page = Page(
        [
            _client("1", "甲公司", Description="备注\x00\x1b[31m红\x1b[0m", **{"Custom\x00": ["a\x00"]}),
            _client("2", "乙公司"),
        ],
        {"after": 2},
    )
    stats = _store(store, ACCOUNTS, page)
    assert (stats.created, stats.rejected) == (2, 0)
    with store.begin() as s:
        raw = s.scalars(select(SourceRow.raw).where(SourceRow.source_id == "1")).one()
        assert raw["Description"] == "备注红" and raw["Custom"] == ["a"]
        assert s.get(SyncCursor, ("crm", "accounts")).cursor == {"after": 2}  # type: ignore[union-attr]


def test_unusable_ids_are_dead_letters_and_the_rest_is_stored(store: Store) -> None:
    long_id = "9" * 250
    page = Page(
        [_client(long_id, "长编号公司"), _client("ab\x00c", "控制符公司"), _client("3", "丙公司")], {"after": 3}
    )
    stats = _store(store, ACCOUNTS, page)
    assert (stats.created, stats.rejected) == (1, 2)
    with store.begin() as s:
        letters = {d.reason: d for d in s.scalars(select(DeadLetter))}
        assert set(s.scalars(select(SourceRow.source_id))) == {"3"}
    too_long = letters["id: 250 characters, at most 200 allowed"]
    assert too_long.field == "id" and too_long.source_id is not None and len(too_long.source_id) == 200
    assert too_long.source_id.endswith("…") and too_long.payload["Account_Name"] == "长编号公司"
    control = next(d for r, d in letters.items() if "control characters" in r)
    assert control.source_id == "abc" and control.field == "id"


def test_hostile_rejects_are_storable(store: Store) -> None:
    """A connector's reject may quote upstream text: reason, field, id and payload are cleaned and cut to fit."""
    rejected = RejectedRecord(
        stream="accounts",
        source_id="x" * 300,
        reason="Account_Name: bad \x00\x1b[2J value",
        field="F" * 200 + "\x00",
        payload={"Account_Name": "a\x00b", "k\x00": {"n": "\ud800"}},
    )
    stats = _store(store, ACCOUNTS, Page([_client("4", "丁公司")], None, [rejected]))
    assert (stats.created, stats.rejected) == (1, 1)
    with store.begin() as s:
        letter = s.scalars(select(DeadLetter)).one()
    assert letter.reason == "Account_Name: bad  value" and letter.field is not None and len(letter.field) == 128
    assert letter.payload == {"Account_Name": "ab", "k": {"n": "\ufffd"}}
    assert letter.source_id is not None and len(letter.source_id) == 200


def test_a_record_the_database_refuses_is_a_dead_letter_not_a_stuck_stream(store: Store) -> None:
    """A value no check foresaw (here a lone surrogate in a plugin's unvalidated record, which no UTF-8 database
    can encode) makes the page fail; the page is stored again record by record and only that one is refused."""
    bad = Contact.model_construct(name="坏", client_source_id="p\ud800", source_id="c2")
    page = Page(
        [
            SourceRecord(stream="contacts", source_id="c1", data=Contact(name="好", client_source_id="p1")),
            SourceRecord.model_construct(
                stream="contacts",
                source_id="c2",
                data=bad,
                deleted=False,
                deletes_stream=None,
                modified_at=None,
                raw={"id": "c2"},
            ),
            SourceRecord(stream="contacts", source_id="c3", data=Contact(name="也好", client_source_id="p1")),
        ],
        {"after": "c3"},
    )
    stats = _store(store, CONTACTS, page)
    assert (stats.read, stats.created, stats.rejected) == (3, 2, 1)
    with store.begin() as s:
        assert set(s.scalars(select(SourceRow.source_id))) == {"c1", "c3"}
        letter = s.scalars(select(DeadLetter)).one()
        assert letter.source_id == "c2" and letter.reason.startswith("the store refused the record")
        assert s.get(SyncCursor, ("crm", "contacts")).cursor == {"after": "c3"}  # type: ignore[union-attr]
    again = _store(store, CONTACTS, page)  # re-read: nothing duplicated, the open dead letter counted again
    assert (again.created, again.unchanged, again.rejected) == (0, 2, 1)
    with store.begin() as s:
        letter = s.scalars(select(DeadLetter)).one()
        assert letter.attempts == 2


def test_answers_and_errors_quoting_outside_systems_are_cleaned(store: Store) -> None:
    """A refused write-back's reason and a stream's error quote the target: stored and shown without NUL/escapes."""
    from datetime import UTC, datetime

    from crmhub.contract import PushResult
    from crmhub.core.report import ConnectorReport
    from crmhub.store.tables import Outbox
    from crmhub.sync.outbox import DeliveryStats, _record

    now = datetime.now(UTC)
    with store.begin() as s:
        row = Outbox(
            kind="writeback",
            target="crm",
            stream="accounts",
            idempotency_key="k1",
            payload={"a": 1},
            payload_hash="h",
            state="sent",
            created_at=now,
            updated_at=now,
        )
        s.add(row)
        s.flush()
        stats = DeliveryStats()
        _record(
            s,
            "crm",
            [(row.id, "accounts", {"a": 1}, "Z1", 9)],
            [PushResult(key="k1", status="error", reason="locked\x00 by \x1b[31mX\x1b[0m", field="uscc")],
            stats,
            1,
        )
    with store.begin() as s:
        stored = s.scalars(select(Outbox)).one()
        letter = s.scalars(select(DeadLetter)).one()
    assert stored.last_error == "locked by X" and stored.answer is not None and stored.answer["reason"] == "locked by X"
    assert letter.reason == "write-back rejected: locked by X" and letter.direction == "out"
    rep = ConnectorReport()
    rep.status, rep.error = "failed", "zoho: \x1b]0;owned\x07INVALID_TOKEN\x00"
    assert rep.error == "zoho: INVALID_TOKEN"
    assert StreamStats(error="OSError: bad \x00\x1b[2J").as_dict()["error"] == "OSError: bad "


def test_a_failing_database_is_not_a_refused_record(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A database that fails (locked, connection lost, serialization failure) says nothing about the values: the
    error propagates, nothing becomes a dead letter and the cursor stays where it was, so the page is re-read."""

    def locked(*args: object, **kwargs: object) -> None:
        raise OperationalError("INSERT …", {}, Exception("database is locked"))

    monkeypatch.setattr(Ingestor, "_store_records", locked)
    page = Page([_client("a1", "甲公司"), _client("a2", "乙公司")], {"after": "a2"})
    with pytest.raises(OperationalError):
        _store(store, ACCOUNTS, page)
    with store.begin() as s:
        assert s.scalars(select(DeadLetter)).all() == []
        assert s.get(SyncCursor, ("crm", "accounts")) is None
