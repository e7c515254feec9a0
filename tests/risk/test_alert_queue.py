"""The AML work queue's SQL (crmhub.risk.alerts.queue) on SQLite and PostgreSQL: filters, age buckets, order,
keyset chunks, waiting close proposals and the history of an alert."""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from crmhub.errors import InputError
from crmhub.notify.settings import NotifySettings
from crmhub.risk.alerts import queue
from crmhub.risk.alerts.deadlines import report_deadline
from crmhub.store import Store
from crmhub.store.tables import Alert, Approval, GoldenClient
from crmhub.sync import audit
from crmhub.sync.run_query import alert_ages

TODAY = date(2026, 12, 7)  # a Monday
NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


def _seed(s: Session) -> dict[str, int]:
    """Two clients and nine alerts of assorted kinds, ages and statuses; one with a waiting close proposal."""
    names = {}
    for i, (name, uscc) in enumerate(
        (("深圳市前海微众科技有限公司", "91440300MA5DXXXXX1"), ("北京100%_通配符有限公司", "91110000MA00YYYYY2")),
        start=1,
    ):
        s.add(GoldenClient(id=i, uscc=uscc, name=name, status="active", data={}, created_at=NOW, updated_at=NOW))
        names[name] = i
    s.flush()
    spec = [  # kind, client, days before TODAY of its transactions (None: no day), status; raised as long ago
        ("large_value", 1, 0, "new"),
        ("large_value", 1, 5, "acknowledged"),
        ("large_value", 2, 40, "new"),
        ("structuring", 2, 3, "new"),
        ("fan_in", 1, 100, "new"),
        ("fan_out", 2, 8, "closed"),
        ("pass_through", 1, None, "new"),
        ("dormant_reactivation", 2, 11, "acknowledged"),
        ("large_value", 2, -2, "new"),
    ]
    ids = {}
    for n, (kind, client, age, status) in enumerate(spec, start=1):
        evidence: dict[str, Any] = {"history": [], "rule": {"id": kind}}
        if status == "closed":
            evidence["disposition"] = {"value": "duplicate", "note": "seen", "by": "a+b"}
        row = Alert(
            client_id=client,
            uscc=None if client == 1 else "91110000MA00YYYYY2",
            kind=kind,
            rule_version="1.x",
            status=status,
            dedup_key=f"k{n}",
            day=None if age is None else TODAY - timedelta(days=age),
            amount_minor=n * 100_00,
            currency="CNY",
            evidence=evidence,
            updated_at=NOW,
            created_at=NOW - timedelta(days=age or 0, hours=1 if age else 0),
        )
        s.add(row)
        s.flush()
        ids[f"{kind}:{age}"] = row.id
    waiting = Approval(
        action="alert.close",
        payload={"alert_id": ids["large_value:40"], "disposition": "reported", "note": "filed"},
        proposer="carol",
        created=NOW,
    )
    other = Approval(
        action="alert.close",
        payload={"alert_id": ids["fan_in:100"], "disposition": "reported", "note": "x"},
        proposer="carol",
        created=NOW,
        status="rejected",
    )
    s.add_all(
        [
            waiting,
            other,
            Approval(action="review.decide", payload={"alert_id": ids["fan_in:100"]}, proposer="olga", created=NOW),
        ]
    )
    s.flush()
    audit.append(
        s,
        actor="carol",
        action="approval.propose",
        entity="approval",
        entity_id=waiting.id,
        details={"action": "alert.close", "payload": waiting.payload},
    )
    audit.append(
        s,
        actor="carol",
        action="alert.acknowledged",
        entity="alert",
        entity_id=ids["large_value:40"],
        details={"note": "call 13812345678"},
    )
    audit.append(s, actor="carol", action="alert.acknowledged", entity="alert", entity_id=ids["fan_in:100"], details={})
    ids["waiting"] = waiting.id
    ids["rejected"] = other.id
    return ids


def _ids(s: Session, **filters: str) -> list[int]:
    return list(s.scalars(queue.queue_query(queue.QueueFilters(**filters).check(), NOW)))


def test_filters_order_and_buckets(store: Store) -> None:
    with store.begin() as s:
        ids = _seed(s)
        everything = _ids(s, status="all")
        assert len(everything) == 9 and everything[0] == ids["pass_through:None"]  # no day sorts first
        assert everything[-1] == ids["large_value:-2"] and _ids(s, status="all", order="newest") == everything[::-1]
        assert set(_ids(s)) == set(everything) - {ids["fan_out:8"]}  # open = new + acknowledged
        assert _ids(s, status="closed") == [ids["fan_out:8"]]
        assert set(_ids(s, status="acknowledged")) == {ids["large_value:5"], ids["dormant_reactivation:11"]}
        assert _ids(s, status="pending") == [ids["large_value:40"]]
        assert set(_ids(s, kind="large_value")) == {
            ids[k] for k in ("large_value:0", "large_value:5", "large_value:40", "large_value:-2")
        }
        # days waiting = whole days since raised, in the dashboard's buckets (0-1, 2-5, 6-10, >10)
        assert set(_ids(s, age="0-1")) == {ids["large_value:0"], ids["pass_through:None"], ids["large_value:-2"]}
        assert set(_ids(s, age="2-5")) == {ids["large_value:5"], ids["structuring:3"]}
        assert set(_ids(s, age="6-10", status="all")) == {ids["fan_out:8"]}
        assert set(_ids(s, age=">10")) == {ids["fan_in:100"], ids["dormant_reactivation:11"], ids["large_value:40"]}
        assert set(_ids(s, client="微众")) == {
            ids[k] for k in ("large_value:0", "large_value:5", "fan_in:100", "pass_through:None")
        }
        assert len(_ids(s, client="100%_")) == 4  # LIKE wildcards are literal
        assert _ids(s, client="100%x") == []
        assert set(_ids(s, client="91110000ma00yyyyy2", status="all")) == set(_ids(s, client="通配符", status="all"))
        counts = queue.open_by_kind_and_age(s, NOW)
        assert counts == {
            ("large_value", "0-1"): 2,
            ("large_value", "2-5"): 1,
            ("large_value", ">10"): 1,
            ("structuring", "2-5"): 1,
            ("fan_in", ">10"): 1,
            ("dormant_reactivation", ">10"): 1,
            ("pass_through", "0-1"): 1,
        }
        assert sum(counts.values()) == sum(alert_ages(s, NOW).values())  # the dashboard's cards, the same rule
        assert queue.age_days(NOW - timedelta(days=5, hours=23), NOW) == 5 and queue.age_days(NOW, NOW) == 0
    for bad in ({"status": "gone"}, {"kind": "x"}, {"age": "1-2"}, {"order": "up"}, {"client": "x" * 201}):
        with pytest.raises(InputError):
            queue.QueueFilters(**bad).check()


def test_load_chunks_proposals_and_history(store: Store) -> None:
    with store.begin() as s:
        ids = _seed(s)
    with store.begin() as s:
        rows = queue.load(s, [ids["fan_out:8"], ids["large_value:0"], 999])
        assert [r.id for r in rows] == [ids["fan_out:8"], ids["large_value:0"]]
        assert rows[0].disposition == "duplicate" and rows[1].disposition is None
        assert rows[1].name == "深圳市前海微众科技有限公司" and rows[1].amount_minor is not None
        assert queue.QueueRow.of(s.get(Alert, ids["fan_out:8"]), rows[0].name) == rows[0]  # type: ignore[arg-type]
        deadline = report_deadline(rows[1], NotifySettings())
        assert deadline == date(2026, 12, 14)  # Monday + 5 working days
        pending = queue.pending_closes(s, list(ids.values()))
        assert list(pending) == [ids["large_value:40"]] and pending[ids["large_value:40"]].id == ids["waiting"]
        assert [p.id for p in queue.close_proposals(s, ids["fan_in:100"])] == [ids["rejected"]]
        hist = queue.history(s, ids["large_value:40"], [ids["waiting"]])
        assert [h["action"] for h in hist] == ["approval.propose", "alert.acknowledged"]
        assert "13812345678" not in str(hist)  # details masked on the way out

    def begin() -> AbstractContextManager[Session]:
        return store.begin()

    for filters in (
        queue.QueueFilters(status="all"),
        queue.QueueFilters(status="all", order="newest"),
        queue.QueueFilters(kind="large_value"),
    ):
        got = [r.id for chunk in queue.chunks(begin, filters, NOW, lambda _s, rows: rows, size=2) for r in chunk]
        with store.begin() as s:
            expected = sorted(_ids(s, **{k: v for k, v in filters.as_dict().items() if k != "order"}))
        assert got == expected
    with store.begin() as s:
        assert s.scalars(select(Approval.status).where(Approval.id == ids["waiting"])).one() == "pending"
