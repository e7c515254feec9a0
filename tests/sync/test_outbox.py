"""Delivering the outbox (`crmhub.sync.outbox`): states, snapshot patches, dead letters, crash leftovers, and a
batch's bookkeeping in a handful of statements."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event, select

from crmhub.contract import OutboundRecord, PushResult
from crmhub.core.hashing import content_hash
from crmhub.errors import RetriableError
from crmhub.model.uscc import make
from crmhub.store import Store
from crmhub.store.tables import DeadLetter, Outbox, SourceRecord
from crmhub.store.unit import UnitOfWork
from crmhub.sync.outbox import deliver, pending


def uscc(i: int) -> str:
    return make("91110000", f"{i:08d}")


class FakeCrm:
    """A connector's ``push``: answers per source id (default ``ok``), remembering every call."""

    def __init__(self, answers: dict[str, PushResult] | None = None, fail: Exception | None = None) -> None:
        self.answers = answers or {}
        self.fail = fail
        self.calls: list[tuple[str, list[OutboundRecord]]] = []

    async def push(self, stream: str, records: Sequence[OutboundRecord]) -> list[PushResult]:
        self.calls.append((stream, list(records)))
        if self.fail is not None:
            raise self.fail
        return [
            self.answers.get(r.source_id or "", PushResult(key=r.key, status="ok", source_id=r.source_id))
            for r in records
        ]


def seed(
    store: Store,
    n: int,
    *,
    state: str = "planned",
    not_before: datetime | None = None,
    snapshot: dict[str, Any] | None = None,
    start: int = 0,
) -> None:
    """``n`` write-backs of a USCC to records Z<i> of target ``crm``, each record stored without it."""
    now = datetime.now(UTC)
    with store.begin() as s:
        for i in range(start, start + n):
            data = {"name": f"公司{i}", "uscc": uscc(i)}
            s.add(
                Outbox(
                    kind="write_back",
                    target="crm",
                    stream="accounts",
                    idempotency_key=f"wb:{i}",
                    client_id=i + 1,
                    source_id=f"Z{i}",
                    payload={"source_id": f"Z{i}", "fields": ["uscc"], "data": data, "before": {"uscc": None}},
                    payload_hash="h",
                    state=state,
                    attempts=0,
                    not_before=not_before,
                    created_at=now,
                    updated_at=now,
                )
            )
            snap = snapshot if snapshot is not None else {"name": f"公司{i}"}
            s.add(
                SourceRecord(
                    connector="crm",
                    stream="accounts",
                    source_id=f"Z{i}",
                    kind="client",
                    raw={},
                    data=snap,
                    content_hash=content_hash({"data": snap, "deleted": False}),
                    first_seen_at=now,
                    last_seen_at=now,
                )
            )


def rows(store: Store) -> list[Outbox]:
    with store.begin() as s:
        return list(s.scalars(select(Outbox).order_by(Outbox.id)))


async def run(store: Store, crm: FakeCrm, batch: int = 100) -> Any:
    uow = UnitOfWork(store)
    try:
        return await deliver(uow, crm, "crm", batch=batch, run_id=7)  # type: ignore[arg-type]
    finally:
        uow.close()


def test_pending_filters_not_before_in_sql(store: Store) -> None:
    """Rows waiting for a retry never crowd out due ones (a limit×5 read filtered in Python returned none here)."""
    seed(store, 12, not_before=datetime.now(UTC) + timedelta(hours=1))
    seed(store, 2, start=12)
    seed(store, 1, start=14, state="sent", not_before=datetime.now(UTC) - timedelta(hours=1))
    with store.begin() as s:
        due = pending(s, "crm", 2)
        assert [d.idempotency_key for d in due] == ["wb:12", "wb:13"]
        assert [d.idempotency_key for d in pending(s, "crm", 5, after_id=due[-1].id)] == ["wb:14"]


async def test_confirmed_writes_patch_the_snapshot_with_the_ingest_hash(store: Store) -> None:
    seed(store, 5)
    crm = FakeCrm()
    stats = await run(store, crm, batch=2)
    assert (stats.confirmed, stats.failed, stats.retried) == (5, 0, 0)
    assert [len(records) for _, records in crm.calls] == [2, 2, 1]
    assert crm.calls[0][1][0].data.uscc == uscc(0) and crm.calls[0][1][0].fields == ("uscc",)
    assert {(r.state, r.attempts) for r in rows(store)} == {("confirmed", 1)}
    with store.begin() as s:
        rec = s.scalars(select(SourceRecord).where(SourceRecord.source_id == "Z3")).one()
    assert rec.data == {"name": "公司3", "uscc": uscc(3)}
    # the next pull of the echo hashes the same: "unchanged", not a change to merge
    assert rec.content_hash == content_hash({"data": {"name": "公司3", "uscc": uscc(3)}, "deleted": False})


async def test_refused_and_retriable_answers(store: Store) -> None:
    seed(store, 3)
    crm = FakeCrm(
        {
            "Z0": PushResult(key="wb:0", status="error", reason="duplicate USCC", field="uscc"),
            "Z1": PushResult(key="wb:1", status="error", reason="busy", retriable=True),
        }
    )
    stats = await run(store, crm)
    assert (stats.confirmed, stats.failed, stats.retried) == (1, 1, 1)
    failed, retried, ok = rows(store)
    assert (failed.state, failed.last_error, failed.answer and failed.answer["field"]) == (
        "failed",
        "duplicate USCC",
        "uscc",
    )
    assert retried.state == "planned" and retried.not_before is not None and retried.last_error == "busy"
    assert ok.state == "confirmed" and ok.source_id == "Z2"
    with store.begin() as s:
        letter = s.scalars(select(DeadLetter)).one()
    assert (letter.reason, letter.direction, letter.source_id, letter.run_id) == (
        "write-back rejected: duplicate USCC",
        "out",
        "Z0",
        7,
    )
    assert letter.payload is not None and letter.payload["outbox_id"] == failed.id
    with store.begin() as s:
        s.get_one(Outbox, failed.id).state = "planned"  # what `deadletter retry` does … but the record is fixed:
    crm.answers.clear()
    stats = await run(store, crm)  # the retried row waits for its not_before; the re-queued one goes
    assert (stats.confirmed, stats.retried) == (1, 0)


async def test_a_call_that_fails_leaves_rows_planned_for_later(store: Store) -> None:
    seed(store, 2)
    stats = await run(store, FakeCrm(fail=RetriableError("429")))
    assert stats.retried == 2
    assert {(r.state, r.last_error) for r in rows(store)} == {("planned", "429")}


async def test_ambiguous_sent_rows_are_confirmed_by_re_read_or_sent_again(store: Store) -> None:
    """A crash between the call and its answer left rows ``sent``: one the target's pulled state already holds is
    confirmed without a call; the other is sent again with the same key."""
    seed(store, 1, state="sent", snapshot={"name": "公司0", "uscc": uscc(0)})
    seed(store, 1, state="sent", start=1)
    crm = FakeCrm()
    stats = await run(store, crm)
    assert (stats.confirmed, stats.resent) == (2, 1)
    assert [[r.key for r in records] for _, records in crm.calls] == [["wb:1"]]
    first, second = rows(store)
    assert first.answer == {"status": "ok", "confirmed_by": "re-read"} and second.state == "confirmed"


async def test_a_batch_is_a_handful_of_statements(store: Store) -> None:
    """Bookkeeping per batch does not grow with the batch (it was one UPDATE and one SELECT per row)."""
    seed(store, 60)
    statements: list[str] = []

    def listen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not statement.startswith(("SAVEPOINT", "RELEASE", "BEGIN", "COMMIT", "PRAGMA")):
            statements.append(statement.split(maxsplit=1)[0])

    event.listen(store.engine, "before_cursor_execute", listen)
    try:
        stats = await run(store, FakeCrm(), batch=60)
    finally:
        event.remove(store.engine, "before_cursor_execute", listen)
    assert stats.confirmed == 60
    assert len(statements) <= 10, statements  # pending ×2, mark sent, answers, snapshots read + patch, last pending


def test_pending_reads_an_ordered_index_range_on_sqlite(store: Store) -> None:
    """Each batch starts where the last ended, on the (state, target) index in id order: no sort of every row
    still waiting (which made a pass over N writes cost N²/batch)."""
    seed(store, 3)
    seen: list[tuple[str, Any]] = []

    def listen(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        seen.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", listen)
    try:
        with store.begin() as s:
            assert len(pending(s, "crm", 2, after_id=1)) == 2
    finally:
        event.remove(store.engine, "before_cursor_execute", listen)
    queries = [(q, p) for q, p in seen if "FROM outbox" in q]
    assert len(queries) == 2  # planned, sent
    if store.dialect != "sqlite":
        return
    with store.engine.connect() as conn:
        for statement, params in queries:
            plan = " | ".join(r[3] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params))
            assert plan == "SEARCH outbox USING INDEX ix_outbox_state_target (state=? AND target=? AND rowid>?)", plan
