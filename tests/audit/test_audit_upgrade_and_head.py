"""Entries from before the keyed chain still verify after migration 0007; the cheap head check jobs run; two
writers never fork the chain; list and export stream the entries with filters (CSV formula injection neutralised)."""

from __future__ import annotations

import csv
import io
import json
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import delete, insert, select, update

from crmhub.core.hashing import content_hash
from crmhub.store import Store
from crmhub.store.tables import AuditLog
from crmhub.sync import audit
from crmhub.sync.audit_query import Filters, entries, safe_cell, write
from crmhub.sync.audit_verify import check_head, verify

from .test_audit_chain import KEY, _config, _fill, crmhub

pytestmark = pytest.mark.slow  # whole syncs / CLI subprocesses: .ci/run runs it, the README's fast set does not


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(audit.AUDIT_KEY_ENV, KEY)


def _old_rows(n: int) -> list[dict[str, object]]:
    """Rows as the plain-hash chain wrote them before revision 0007."""
    rows, prev = [], audit.GENESIS
    for i in range(n):
        at = datetime(2026, 11, 1, 9, i, tzinfo=UTC)
        body = {
            "at": at.isoformat(),
            "actor": "cli",
            "action": "client.merge",
            "entity": "client",
            "entity_id": str(i),
            "details": {"i": i},
            "prev": prev,
        }
        digest = content_hash(body)
        rows.append(
            {
                "at": at,
                "actor": "cli",
                "action": "client.merge",
                "entity": "client",
                "entity_id": str(i),
                "run_id": None,
                "details": {"i": i},
                "prev_hash": prev,
                "hash": digest,
            }
        )
        prev = digest
    return rows


def test_plain_entries_from_before_the_upgrade_still_verify(store_url: str, tmp_path: Path) -> None:
    store = Store.open(store_url, migrate=False)
    store.upgrade("0003")
    with store.engine.begin() as conn:
        conn.execute(insert(_old_table()), _old_rows(4))
    store.upgrade()
    try:
        with store.begin() as s:
            rows = list(s.scalars(select(AuditLog).order_by(AuditLog.id)))
            assert [(r.seq, r.chain) for r in rows] == [(i, "sha256") for i in range(1, 5)]
            assert verify(s).problem is not None and verify(s).problem.kind == "unsealed"  # type: ignore[union-attr]
        cfg = _config(tmp_path, store_url)
        out = crmhub("audit", "verify", "-c", str(cfg), cwd=tmp_path)
        assert out.returncode == 1 and "audit checkpoint" in out.stderr
        out = crmhub("audit", "checkpoint", "-c", str(cfg), "-o", str(tmp_path / "cp.json"), cwd=tmp_path)
        assert out.returncode == 0 and "sealed the 4 plain-hash entries" in out.stdout, out.stderr
        _fill(store, 4)
        out = crmhub("audit", "verify", "-c", str(cfg), cwd=tmp_path)
        assert out.returncode == 0 and "9 entries" in out.stdout, out.stderr
        with store.begin() as s:  # an edited plain entry is still found
            s.execute(update(AuditLog).where(AuditLog.seq == 2).values(details={"i": 99}))
        out = crmhub("audit", "verify", "-c", str(cfg), cwd=tmp_path)
        assert out.returncode == 1 and "entry #2" in out.stderr and "edited" in out.stderr
    finally:
        store.dispose()


def _old_table():  # type: ignore[no-untyped-def]
    """audit_log as revision 0003 had it (no seq/chain/key_id)."""
    from sqlalchemy import JSON, Column, DateTime, Integer, MetaData, String, Table

    return Table(
        "audit_log",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("at", DateTime),
        Column("actor", String),
        Column("action", String),
        Column("entity", String),
        Column("entity_id", String),
        Column("run_id", Integer),
        Column("details", JSON),
        Column("prev_hash", String),
        Column("hash", String),
    )


def test_head_check_reads_the_newest_entries(store: Store) -> None:
    _fill(store, 30)
    with store.begin() as s:
        assert check_head(s, 10) is None
        s.execute(update(AuditLog).where(AuditLog.seq == 28).values(action="client.split"))
    with store.begin() as s:
        problem = check_head(s, 10)
        assert problem is not None and problem.kind == "edited" and problem.seq == 28
        s.execute(update(AuditLog).where(AuditLog.seq == 28).values(action="client.update"))
        s.execute(delete(AuditLog).where(AuditLog.seq == 3))  # far outside the window: the count shows it
    with store.begin() as s:
        problem = check_head(s, 10)
        assert problem is not None and problem.kind == "deleted" and problem.seq == 30


def test_two_writers_never_fork_the_chain(store: Store) -> None:
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        try:
            for _ in range(4):
                with store.begin() as s:
                    for i in range(15):
                        audit.append(s, actor=name, action="client.update", entity="client", entity_id=i, details={})
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(f"w{n}",)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with store.begin() as s:
        report = verify(s)
        assert report.problem is None and report.count == 120
        assert sorted(s.scalars(select(AuditLog.seq))) == list(range(1, 121))


def test_list_and_export_filter_and_stream(store: Store, store_url: str, tmp_path: Path) -> None:
    _fill(store, 6)
    with store.begin() as s:
        audit.append(
            s,
            actor="=cmd|'/c calc'!A1",
            action="review.accept",
            entity="review_item",
            entity_id=3,
            details={"note": "@SUM(1)"},
        )
    with store.begin() as s:
        assert [e["seq"] for e in entries(s, Filters(actor="os:alice"), limit=4, newest_first=True)] == [6, 5, 4, 3]
        assert [e["seq"] for e in entries(s, Filters.parse(None, None, "client:2"))] == [3]
        assert [e["seq"] for e in entries(s, Filters.parse(None, None, "review_item"))] == [7]
        buf = io.StringIO()
        assert write(entries(s, Filters()), "csv", buf) == 7
    table = list(csv.reader(io.StringIO(buf.getvalue())))
    assert table[-1][3] == "'=cmd|'/c calc'!A1" and safe_cell("-1") == "'-1" and safe_cell("ok") == "ok"
    cfg = _config(tmp_path, store_url)
    out = crmhub("audit", "list", "-c", str(cfg), "--object", "client", "--limit", "2", "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    listed = [json.loads(line) for line in out.stdout.splitlines()]
    assert [e["seq"] for e in listed] == [6, 5] and listed[0]["details"]["before"] == {"phone": "138****5678"}
    assert "showing the first 2" in out.stderr  # the cut is told on stderr, stdout stays JSON Lines
    out = crmhub("audit", "list", "-c", str(cfg), "--actor", "os:alice", cwd=tmp_path)
    assert out.returncode == 0 and "os:alice" in out.stdout and "[" not in out.stderr
    out = crmhub(
        "audit",
        "export",
        "-c",
        str(cfg),
        "--format",
        "csv",
        "--since",
        "2000-01-01",
        "-o",
        str(tmp_path / "a.csv"),
        cwd=tmp_path,
    )
    assert out.returncode == 0 and "exported 7 entries" in out.stdout, out.stderr
    exported = list(csv.reader((tmp_path / "a.csv").open(encoding="utf-8")))
    assert len(exported) == 8 and exported[7][3].startswith("'=")
    with store.begin() as s:  # the export itself is audited, and the chain still verifies
        last = s.scalars(select(AuditLog).order_by(AuditLog.seq.desc()).limit(1)).one()
        assert last.action == "audit.export" and last.details["entries"] == 7 and verify(s).problem is None
    out = crmhub("audit", "export", "-c", str(cfg), "--format", "xml", "-o", str(tmp_path / "a.x"), cwd=tmp_path)
    assert out.returncode == 2 and "--format" in out.stderr
