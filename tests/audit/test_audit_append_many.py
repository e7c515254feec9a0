"""`audit.append_many` writes the rows `audit.append` writes, one INSERT for a batch, and the chain stays whole.

The merge appends a batch's entries with one ``executemany`` (`crmhub.store.bulk.execute_many`), the chain computed
in Python. The same entries written one by one through `append`, and interleaved with it in one transaction, must
give identical rows — ids, sequence numbers, details, MACs — and `verify_chain` must find nothing (SQLite, and
PostgreSQL when configured).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from crmhub.store import Store
from crmhub.store.tables import AuditLog
from crmhub.sync import audit

KEY = "test-audit-key-0123456789-abcdefghijklmnopqrstuvwxyz"
AT = datetime(2026, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(audit.AUDIT_KEY_ENV, KEY)


def _entries(start: int, n: int) -> list[audit.Entry]:
    return [
        audit.Entry(
            "sync",
            "client.update" if i % 3 else "conflict.resolved",
            "client",
            i if i % 5 else None,
            {"changes": {"name": {"before": f"甲{i}", "after": f"乙{i}"}}, "n": i, "f": 0.5},
            AT,
            None if i % 4 == 0 else 9,
        )
        for i in range(start, start + n)
    ]


def _rows(store: Store) -> list[tuple[Any, ...]]:
    with store.begin() as s:
        return [
            (
                r.id,
                r.seq,
                r.chain,
                r.key_id,
                r.at,
                r.actor,
                r.action,
                r.entity,
                r.entity_id,
                r.run_id,
                r.details,
                r.prev_hash,
                r.hash,
            )
            for r in s.scalars(select(AuditLog).order_by(AuditLog.seq))
        ]


def _write(store: Store, batched: bool) -> None:
    with store.begin() as s:  # an entry through the ORM first, then a batch, then the ORM again
        audit.append(s, actor="os:alice", action="review.decide", entity="review", entity_id=1, details={}, at=AT)
        _add(s, _entries(0, 7), batched)
        audit.append(s, actor="os:bob", action="review.decide", entity="review", entity_id=2, details={}, at=AT)
    with store.begin() as s:  # a new transaction reads the head again
        _add(s, _entries(7, 3), batched)
        audit.append_many(s, [])


def _add(s: Session, entries: list[audit.Entry], batched: bool) -> None:
    if batched:
        audit.append_many(s, entries)
        return
    for e in entries:
        audit.append(
            s,
            actor=e.actor,
            action=e.action,
            entity=e.entity,
            entity_id=e.entity_id,
            details=e.details,
            run_id=e.run_id,
            at=e.at,
        )


def test_append_many_writes_what_append_writes(store: Store, store_url: str) -> None:
    _write(store, batched=True)
    batched = _rows(store)
    with store.begin() as s:
        s.query(AuditLog).delete()
    _write(store, batched=False)
    one_by_one = _rows(store)
    assert [r[1:] for r in batched] == [r[1:] for r in one_by_one]
    assert [r[1] for r in batched] == list(range(1, 13))
    assert [r[0] for r in batched] == sorted(r[0] for r in batched)  # ids in the order of seq
    with store.begin() as s:
        assert audit.verify_chain(s) == []
