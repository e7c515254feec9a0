"""Set-based ingest on SQLite and PostgreSQL: a page costs a fixed number of statements whatever its size, repeats
of the same rejection fold into one history entry, contacts flag only the companies they changed, ledger facts are
upserted by (connector, source id), and bulk loads are followed by ANALYZE."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event, select, update

from crmhub.contract import Page, RejectedRecord, SourceRecord, StreamKind, StreamSpec
from crmhub.model import BankAccount, Contact, CorporateClient, CreditFacility, Transaction
from crmhub.model.banking import Direction
from crmhub.model.types import Money
from crmhub.store import Store
from crmhub.store.deadletter_history import fold_rejected, times
from crmhub.store.tables import CreditFacilityRow, DeadLetter, GoldenClient, LedgerAccount, LedgerTransaction, Xref
from crmhub.store.tables import SourceRecord as SourceRow
from crmhub.sync.ingest import Ingestor, StreamStats, analyze_after_bulk, dead_letter

ACCOUNTS = StreamSpec("accounts", StreamKind.CLIENT)
CONTACTS = StreamSpec("contacts", StreamKind.CONTACT)
LEDGER_ACCOUNTS = StreamSpec("accounts", StreamKind.ACCOUNT)
LOANS = StreamSpec("loans", StreamKind.FACILITY)
TRANSACTIONS = StreamSpec("transactions", StreamKind.TRANSACTION)
NOW = datetime(2026, 1, 5, tzinfo=UTC)


def _client(sid: str, name: str) -> SourceRecord:
    return SourceRecord(stream="accounts", source_id=sid, data=CorporateClient(name=name), raw={"id": sid})


def _page(n: int, *, suffix: str = "", rejects: int = 0) -> Page:
    return Page(
        [_client(f"c{i}", f"测试{i}号{suffix}科技有限公司") for i in range(n)],
        {"after": n},
        [RejectedRecord(stream="accounts", source_id=f"r{i}", reason="Account_Name: missing") for i in range(rejects)],
    )


def _store(store: Store, spec: StreamSpec, page: Page, ingestor: Ingestor | None = None) -> StreamStats:
    stats = StreamStats()
    with store.begin() as s:
        (ingestor or Ingestor("crm", 7)).store_page(s, spec, page, stats)
    return stats


@contextmanager
def _statements(store: Store) -> Iterator[list[str]]:
    """The SQL statements executed meanwhile (an executemany counts once)."""
    seen: list[str] = []

    def note(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement.split(None, 1)[0].upper())

    event.listen(store.engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(store.engine, "before_cursor_execute", note)


@pytest.mark.parametrize("size", [10, 120])
def test_a_page_costs_the_same_statements_whatever_its_size(store: Store, size: int) -> None:
    """New, unchanged and changed pages with rejects: the statement count does not grow with the page."""
    counts = []
    for page in (
        _page(size, rejects=size // 10),
        _page(size, rejects=size // 10),
        _page(size, suffix="新", rejects=size // 10),
    ):
        with _statements(store) as seen:
            stats = _store(store, ACCOUNTS, page)
        counts.append(len([s for s in seen if s not in ("SAVEPOINT", "RELEASE", "BEGIN", "COMMIT")]))
        assert stats.read == size and stats.rejected == size // 10
    assert counts == [6, 6, 6], counts  # letters (select+insert/update), select, write, resolve-select, cursor
    with store.begin() as s:
        data = s.scalar(select(SourceRow.data).where(SourceRow.source_id == "c3"))
        assert data is not None and data["name"] == "测试3号新科技有限公司"
        letters = s.scalars(select(DeadLetter)).all()
    assert len(letters) == size // 10 and {d.attempts for d in letters} == {3}


def test_pages_without_rejects_do_not_look_for_dead_letters(store: Store) -> None:
    """While a stream has no open dead letter, a page is three statements: SELECT, write, cursor."""
    ingestor = Ingestor("crm", 7)
    _store(store, ACCOUNTS, _page(20), ingestor)
    for page in (_page(20), _page(20, suffix="改")):
        with _statements(store) as seen:
            _store(store, ACCOUNTS, page, ingestor)
        assert [s for s in seen if s in ("SELECT", "INSERT", "UPDATE")] == ["SELECT", "UPDATE", "INSERT"]


def test_page_counts_new_changed_and_unchanged(store: Store) -> None:
    first = _store(store, ACCOUNTS, _page(5))
    records = [*_page(3).records, _client("c3", "改名科技有限公司"), _client("c9", "新公司")]
    again = _store(store, ACCOUNTS, Page(records, {"after": 9}), Ingestor("crm", 8))
    assert (first.created, first.updated, first.unchanged) == (5, 0, 0)
    assert (again.created, again.updated, again.unchanged) == (1, 1, 3)
    with store.begin() as s:
        rows = {r.source_id: r for r in s.scalars(select(SourceRow))}
    assert rows["c3"].data is not None and rows["c3"].data["name"] == "改名科技有限公司"
    assert rows["c3"].dirty and rows["c9"].dirty and len(rows) == 6
    assert [rows[k].last_run_id for k in ("c3", "c9", "c0", "c4")] == [8, 8, 7, 7]
    assert rows["c0"].last_seen_at > rows["c0"].first_seen_at == rows["c4"].last_seen_at  # re-read: seen again


def test_a_repeated_rejection_folds_into_one_history_entry(store: Store) -> None:
    """Refused at every run for the same reason: one entry with a count; a new reason gets its own entry."""
    bad = RejectedRecord(stream="accounts", source_id="Z1", reason="Account_Name: missing", payload={"id": "Z1"})
    for run in (1, 2, 3):
        _store(store, ACCOUNTS, Page([], {"after": run}, [bad]), Ingestor("crm", run))
    other = bad.model_copy(update={"reason": "Phone: not a number"})
    _store(store, ACCOUNTS, Page([], {"after": 4}, [other]), Ingestor("crm", 4))
    with store.begin() as s:
        row = s.scalars(select(DeadLetter)).one()
    history = row.history or []
    assert row.attempts == 4 and row.run_id == 4 and row.reason == "Phone: not a number"
    assert [(h["event"], h["reason"], h["run_id"], times(h)) for h in history] == [
        ("rejected", "Account_Name: missing", 1, 3),
        ("rejected", "Phone: not a number", 4, 1),
    ]
    assert history[0]["last_run_id"] == 3 and history[0]["last_at"] >= history[0]["at"]
    from crmhub.console.pages.deadletters import _event  # the console and the CLI say how often it repeated

    assert "×3, last " in _event(history[0], "en")["label"]
    assert "×3，最近一次" in _event(history[0], "zh")["label"] and "×" not in _event(history[1], "en")["label"]


def test_fold_keeps_order_after_a_retry() -> None:
    first = fold_rejected([], "bad", at=NOW, run_id=1)
    retried = [*first, {"at": NOW.isoformat(), "event": "retry_failed", "reason": "bad"}]
    again = fold_rejected(retried, "bad", at=NOW, run_id=2)
    assert [(h["event"], times(h)) for h in again] == [("rejected", 1), ("retry_failed", 1), ("rejected", 1)]
    assert fold_rejected(again, "bad", at=NOW, run_id=3)[-1]["count"] == 2 and len(again) == 3


def test_duplicate_rejects_in_one_batch_make_one_dead_letter(store: Store) -> None:
    bad = RejectedRecord(stream="accounts", source_id="Z1", reason="Account_Name: missing")
    nameless = RejectedRecord(stream="accounts", source_id=None, reason="row without id")
    stats = _store(store, ACCOUNTS, Page([], None, [bad, bad, nameless, nameless]))
    assert stats.rejected == 4
    with store.begin() as s:
        rows = s.scalars(select(DeadLetter).order_by(DeadLetter.id)).all()
    assert [(r.source_id, r.attempts) for r in rows] == [("Z1", 2), (None, 1), (None, 1)]
    assert times((rows[0].history or [])[0]) == 2


def test_outbound_dead_letter_is_kept_apart_from_inbound(store: Store) -> None:
    with store.begin() as s:
        dead_letter(
            s,
            connector="crm",
            stream="accounts",
            source_id="Z1",
            reason="write-back rejected: locked",
            payload={"outbox_id": 1},
            run_id=1,
            direction="out",
        )
        dead_letter(s, connector="crm", stream="accounts", source_id="Z1", reason="Account_Name: missing", run_id=1)
        dead_letter(
            s,
            connector="crm",
            stream="accounts",
            source_id="Z1",
            reason="write-back rejected: locked",
            payload={"outbox_id": 1},
            run_id=2,
            direction="out",
        )
    with store.begin() as s:
        rows = {r.direction: r for r in s.scalars(select(DeadLetter))}
    assert rows["out"].attempts == 2 and rows["in"].attempts == 1 and rows["out"].payload == {"outbox_id": 1}


def test_contacts_flag_only_the_companies_they_changed(store: Store) -> None:
    """An unchanged contact leaves its company alone; a contact moved to another company flags both."""
    _store(store, ACCOUNTS, _page(3))

    def contact(sid: str, parent: str, name: str = "张三") -> SourceRecord:
        return SourceRecord(stream="contacts", source_id=sid, data=Contact(name=name, client_source_id=parent))

    def dirty() -> set[str]:
        with store.begin() as s:
            return set(
                s.scalars(select(SourceRow.source_id).where(SourceRow.dirty.is_(True), SourceRow.kind == "client"))
            )

    def clean() -> None:
        with store.begin() as s:
            s.execute(update(SourceRow).values(dirty=False))

    _store(store, CONTACTS, Page([contact("p1", "c0"), contact("p2", "c1")], None))
    clean()
    _store(store, CONTACTS, Page([contact("p1", "c0"), contact("p2", "c1")], None))
    assert dirty() == set()
    _store(store, CONTACTS, Page([contact("p1", "c0"), contact("p2", "c2")], None))
    assert dirty() == {"c1", "c2"}


def _ledger(store: Store) -> int:
    """A golden client linked to the ledger's client L1 (risk already assessed); returns its id."""
    with store.begin() as s:
        g = GoldenClient(
            name="甲公司",
            data={"name": "甲公司"},
            needs_merge=False,
            needs_risk=False,
            needs_plan=False,
            created_at=NOW,
            updated_at=NOW,
        )
        src = SourceRow(
            connector="ledger",
            stream="clients",
            source_id="L1",
            kind="client",
            raw={},
            data={"name": "甲公司"},
            content_hash="h",
            first_seen_at=NOW,
            last_seen_at=NOW,
            deleted=False,
            dirty=False,
        )
        s.add_all([g, src])
        s.flush()
        s.add(Xref(source_record_id=src.id, client_id=g.id, method="uscc", linked_at=NOW))
        return g.id


def _needs_risk(store: Store, gid: int, reset: bool = True) -> bool:
    with store.begin() as s:
        g = s.get(GoldenClient, gid)
        assert g is not None
        flagged = g.needs_risk
        if reset:
            g.needs_risk = False
    return flagged


def test_ledger_facts_upsert_and_flag_risk_only_on_change(store: Store) -> None:
    gid = _ledger(store)
    ingestor = Ingestor("ledger", 3)

    def account(balance: str) -> SourceRecord:
        return SourceRecord(
            stream="accounts",
            source_id="A1",
            data=BankAccount(
                source_id="A1", account_no="6222000011", client_source_id="L1", balance=Money(amount=Decimal(balance))
            ),
        )

    def loan(dpd: int) -> SourceRecord:
        return SourceRecord(
            stream="loans",
            source_id="F1",
            data=CreditFacility(
                source_id="F1", client_source_id="L1", principal=Money(amount=Decimal("100.00")), days_past_due=dpd
            ),
        )

    def tx(amount: str) -> SourceRecord:
        return SourceRecord(
            stream="transactions",
            source_id="T1",
            data=Transaction(
                source_id="T1",
                account_source_id="A1",
                client_source_id="L1",
                booking_date=date(2026, 1, 2),
                amount=Money(amount=Decimal(amount)),
                direction=Direction.CREDIT,
            ),
        )

    for spec, make, first, second in (
        (LEDGER_ACCOUNTS, account, "10.50", "11.00"),
        (LOANS, loan, 0, 31),
        (TRANSACTIONS, tx, "5.00", "6.00"),
    ):
        made = _store(store, spec, Page([make(first)], None), ingestor)  # type: ignore[operator]
        assert (made.created, _needs_risk(store, gid)) == (1, True)
        same = _store(store, spec, Page([make(first)], None), ingestor)  # type: ignore[operator]
        assert (same.unchanged, _needs_risk(store, gid)) == (1, False)
        changed = _store(store, spec, Page([make(second)], None), ingestor)  # type: ignore[operator]
        assert (changed.updated, _needs_risk(store, gid)) == (1, True)
    with store.begin() as s:
        acct = s.scalars(select(LedgerAccount)).one()
        fac = s.scalars(select(CreditFacilityRow)).one()
        trx = s.scalars(select(LedgerTransaction)).one()
    assert acct.balance_minor == 1100 and acct.data["balance"]["amount"] == "11.00"
    assert fac.days_past_due == 31 and trx.amount_minor == 600
    assert dict(ingestor.written) == {"ledger_account": 2, "credit_facility": 2, "ledger_transaction": 2}


def test_analyze_after_a_bulk_load(store: Store) -> None:
    ingestor = Ingestor("crm", 1)
    _store(store, ACCOUNTS, _page(30), ingestor)
    with store.begin() as s:
        assert ingestor.analyze_after_bulk(s, threshold=100) == []
        assert ingestor.analyze_after_bulk(s, threshold=20) == ["source_record"]
        assert ingestor.analyze_after_bulk(s, threshold=20) == []  # counted again from zero
        with pytest.raises(ValueError, match="not a crmhub table"):
            analyze_after_bulk(s, ["source_record; DROP TABLE x"])
