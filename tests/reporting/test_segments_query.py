"""The SQL behind the console's segments and audit pages, on SQLite and PostgreSQL alike: breakdown counts and
exposure (joined as the risk engine joins, converted to CNY, closed facilities left out), the filters, the
province read in either spelling, and the audit query's new filters (action prefix, run, until, text)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.orm import Session

from crmhub.errors import InputError
from crmhub.reporting import segments
from crmhub.reporting.segments import Filters
from crmhub.risk.settings import RiskSettings
from crmhub.store import Store
from crmhub.store.tables import CreditFacilityRow, GoldenClient, SourceRecord, Xref
from crmhub.sync import audit, audit_query

NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(audit.AUDIT_KEY_ENV, "k" * 40)


def _client(
    s: Session,
    cid: int,
    *,
    segment: str | None,
    rating: str | None,
    industry: str | None = None,
    province: str | None = None,
    division: str | None = None,
    uscc: str | None = None,
    city: str | None = None,
    manager: str | None = None,
    status: str = "active",
) -> None:
    data: dict[str, Any] = {"name": f"公司{cid}"}
    if industry:
        data["industry"] = {"code": industry}
    if province or division or city:
        data["registered_address"] = {"province": province, "city": city, "division_code": division}
    if manager:
        data["relationship_manager"] = {"name": manager}
    s.add(
        GoldenClient(
            id=cid,
            uscc=uscc,
            name=data["name"],
            status=status,
            data=data,
            segment=segment,
            rating=rating,
            created_at=NOW,
            updated_at=NOW,
        )
    )


def _loan(
    s: Session, cid: int, sid: str, amounts: list[tuple[str, int | None, int, str]], *, deleted: bool = False
) -> None:
    """A ledger client record linked to golden ``cid`` with its facilities (currency, outstanding, principal,
    status)."""
    rec = SourceRecord(
        connector="ledger",
        stream="clients",
        source_id=sid,
        kind="client",
        raw={},
        content_hash="x",
        first_seen_at=NOW,
        last_seen_at=NOW,
        deleted=deleted,
    )
    s.add(rec)
    s.flush()
    s.add(Xref(source_record_id=rec.id, client_id=cid, method="uscc", linked_at=NOW))
    for i, (currency, outstanding, principal, status) in enumerate(amounts):
        s.add(
            CreditFacilityRow(
                connector="ledger",
                source_id=f"{sid}-L{i}",
                client_source_id=sid,
                currency=currency,
                principal_minor=principal,
                outstanding_minor=outstanding,
                classification="normal",
                status=status,
                content_hash="x",
                updated_at=NOW,
            )
        )


def _book(store: Store) -> None:
    with store.begin() as s:
        _client(s, 1, segment="low", rating="AA", industry="C39", province="浙江省", manager="张伟")
        _client(s, 2, segment="low", rating="A", industry="C", province="浙江", manager="张伟")
        _client(s, 3, segment="high", rating="CCC", industry="F51", division="330106", manager="李娜")
        _client(s, 4, segment="medium", rating="BBB", industry="I65", uscc="91330100MA27XL0E2K")
        _client(s, 5, segment=None, rating=None, province="北京市")
        _client(s, 6, segment="low", rating="AA", industry="C", province="浙江省", status="merged")
        _client(s, 7, segment=None, rating=None, city="北京市")  # a municipality written as the city only
        _client(s, 8, segment=None, rating=None, city="苏州市")  # a city without its province
        s.flush()
        _loan(
            s,
            1,
            "L1",
            [("CNY", 100_00, 500_00, "active"), ("USD", 10_00, 10_00, "active"), ("CNY", 999_00, 999_00, "closed")],
        )
        _loan(s, 3, "L3", [("CNY", None, 300_00, "overdue")])
        _loan(s, 4, "L4", [("XYZ", 50_00, 50_00, "active")])
        _loan(s, 5, "L5", [("CNY", 70_00, 70_00, "active")], deleted=True)
        _loan(s, 6, "L6", [("CNY", 80_00, 80_00, "active")])


def _by(found: segments.Breakdown, dim: str) -> dict[str, tuple[int, Decimal]]:
    return {b.key: (b.clients, b.exposure) for b in found.dims[dim]}


def test_breakdown_counts_and_exposure(store: Store) -> None:
    _book(store)
    with store.begin() as s:
        found = segments.breakdown(s, Filters(), RiskSettings())
    # client 1: 100 CNY + 10 USD × 7.10 (the closed one left out); client 3: no outstanding → its principal
    assert _by(found, "segment") == {
        "low": (2, Decimal("171.00")),
        "high": (1, Decimal("300.00")),
        "medium": (1, Decimal("0.00")),
        "-": (3, Decimal("0.00")),
    }
    assert found.clients == 7 and found.exposure == Decimal("471.00") and found.clients_with_exposure == 2
    assert found.unconverted == {"XYZ"}
    assert [b.key for b in found.dims["rating"]] == ["AA", "A", "BBB", "CCC", "-"]
    assert _by(found, "industry") == {
        "C": (2, Decimal("171.00")),
        "F": (1, Decimal("300.00")),
        "I": (1, Decimal("0.00")),
        "-": (3, Decimal("0.00")),
    }
    # 浙江省 and 浙江 are one province; the registered address's province is what counts (as on the clients page)
    assert _by(found, "region") == {
        "浙江省": (2, Decimal("171.00")),
        "北京市": (2, Decimal("0.00")),
        "苏州市": (1, Decimal("0.00")),
        "-": (2, Decimal("300.00")),
    }
    assert _by(found, "manager") == {
        "张伟": (2, Decimal("171.00")),
        "李娜": (1, Decimal("300.00")),
        "-": (4, Decimal("0.00")),
    }
    labels = {b.key: b.label_en for b in found.dims["region"]}
    assert labels == {"浙江省": "Zhejiang", "北京市": "Beijing", "苏州市": "苏州市", "-": "Unknown"}
    assert found.dims["industry"][0].label_zh == "C 制造业"


@pytest.mark.parametrize(
    "args, clients",
    [
        ({"segment": "low"}, {1, 2}),
        ({"rating": "ccc"}, {3}),
        ({"industry": "C"}, {1, 2}),
        ({"industry": "C39"}, {1}),
        ({"region": "浙江"}, {1, 2}),
        ({"region": "330000"}, {1, 2}),
        ({"region": "-"}, {3, 4}),
        ({"region": "北京市"}, {5, 7}),
        ({"region": "苏州市"}, {8}),
        ({"manager": "张伟"}, {1, 2}),
        ({"manager": "-"}, {4, 5, 7, 8}),
        ({"segment": "-"}, {5, 7, 8}),
        ({"segment": "low", "industry": "C39"}, {1}),
    ],
)
def test_filters(store: Store, args: dict[str, str], clients: set[int]) -> None:
    _book(store)
    filters = Filters.parse(args)
    with store.begin() as s:
        found = segments.breakdown(s, filters, RiskSettings())
        ids = set(
            s.scalars(
                GoldenClient.__table__.select()
                .with_only_columns(GoldenClient.id)
                .where(GoldenClient.status == "active", *filters.conditions())
            )
        )
    assert ids == clients and found.clients == len(clients)


@pytest.mark.parametrize(
    "args", [{"segment": "huge"}, {"rating": "Z"}, {"industry": "Z9"}, {"industry": "C3x"}, {"manager": "x" * 200}]
)
def test_bad_filters_are_input_errors(args: dict[str, str]) -> None:
    with pytest.raises(InputError):
        Filters.parse(args)


def test_stamp_moves_when_the_book_changes(store: Store) -> None:
    _book(store)
    with store.begin() as s:
        before = segments.stamp(s)
    with store.begin() as s:
        row = s.get(GoldenClient, 2)
        assert row is not None
        row.segment, row.updated_at = "high", NOW + timedelta(minutes=1)
    with store.begin() as s:
        assert segments.stamp(s) != before


def test_audit_query_filters(store: Store) -> None:
    with store.begin() as s:
        for i in range(6):
            audit.append(
                s,
                actor="os:alice" if i % 2 else "sync",
                action="client.update" if i < 4 else "review.accept",
                entity="client",
                entity_id=str(i),
                details={"branch": "杭州分行" if i == 3 else "上海分行", "note": f"50%_off {i}"},
                run_id=7 if i < 2 else None,
                at=NOW + timedelta(days=i),
            )

    def seqs(**kw: Any) -> list[int]:
        with store.begin() as s:
            return [e["seq"] for e in audit_query.entries(s, audit_query.Filters.parse(None, None, None, **kw))]

    assert seqs(action="client.*") == [1, 2, 3, 4]
    assert seqs(action="review.accept") == [5, 6]
    assert seqs(run="7") == [1, 2]
    assert seqs(text="杭州") == [4]
    assert seqs(text="50%_OFF 5") == [6]  # wildcards typed are literal, case does not matter
    assert seqs(until=(NOW + timedelta(days=1)).date().isoformat()) == [1, 2]  # a date: the whole day
    with pytest.raises(InputError):
        seqs(run="seven")
    with store.begin() as s:
        assert audit_query.count(s, audit_query.Filters(actor="sync")) == 3 and audit_query.head_seq(s) == 6
