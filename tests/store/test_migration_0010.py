"""Migration 0010 backfills golden_client's breakdown columns (industry section, province, manager name) from the
documents written before it, on SQLite and PostgreSQL, in batches; the columns are indexed afterwards."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import insert, inspect, select

from crmhub.store import Store, golden_keys
from crmhub.store.tables import GoldenClient

NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
OLD_COLUMNS = (
    "id",
    "uscc",
    "name",
    "name_key",
    "status",
    "data",
    "version",
    "rm_user_id",
    "segment",
    "rating",
    "needs_merge",
    "needs_risk",
    "needs_plan",
    "created_at",
    "updated_at",
)


def _row(cid: int, data: dict[str, Any], rm_user_id: str | None = None) -> dict[str, Any]:
    return {
        "id": cid,
        "name": f"公司{cid}",
        "status": "active",
        "data": data,
        "version": 1,
        "rm_user_id": rm_user_id,
        "needs_merge": False,
        "needs_risk": False,
        "needs_plan": False,
        "created_at": NOW,
        "updated_at": NOW,
    }


def test_backfill_reads_every_document(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(golden_keys, "BACKFILL_BATCH", 2)  # several batches from five rows
    store = Store.open(store_url, migrate=False)
    store.upgrade("0009")
    rows = [
        _row(
            1,
            {
                "industry": {"code": "C3911"},
                "registered_address": {"province": "浙江", "city": "杭州市"},
                "relationship_manager": {"name": " 张伟 ", "user_id": "zhangwei"},
            },
            "zhangwei",
        ),
        _row(2, {"industry": {"code": "F"}, "registered_address": {"city": "北京市"}}),  # a municipality as city
        _row(3, {"registered_address": {"province": "", "city": "苏州市"}}),  # no province: the text as written
        _row(4, {}, "lina"),  # nothing known (the manager bucket is then its user id)
        _row(5, {"registered_address": {"province": "33"}, "relationship_manager": {"name": "李娜"}}),
    ]
    with store.engine.begin() as conn:
        conn.execute(insert(GoldenClient.__table__), [{k: r[k] for k in OLD_COLUMNS if k in r} for r in rows])
    store.upgrade()
    assert store.current_revision() == store.head_revision()
    with store.begin() as s:
        found = [
            tuple(r)
            for r in s.execute(
                select(
                    GoldenClient.id, GoldenClient.industry_section, GoldenClient.province, GoldenClient.rm_name
                ).order_by(GoldenClient.id)
            )
        ]
    indexed = {tuple(ix["column_names"]) for ix in inspect(store.engine).get_indexes("golden_client")}
    store.dispose()
    assert found == [
        (1, "C", "浙江省", "张伟"),
        (2, "F", "北京市", None),
        (3, None, "苏州市", None),
        (4, None, None, None),
        (5, None, "浙江省", "李娜"),
    ]
    assert {
        ("industry_section",),
        ("province",),
        ("rm_name",),
        ("rm_user_id",),
        ("status", "segment", "rating", "industry_section", "province", "rm_name", "rm_user_id"),
    } <= indexed


def test_keys_of_mirrors_what_the_pages_filter_on() -> None:
    keys = golden_keys.keys_of
    assert keys(None) == {"industry_section": None, "province": None, "rm_name": None}
    assert keys({"industry": {"code": "c39"}, "registered_address": {"province": "广西"}})["industry_section"] == "C"
    assert keys({"registered_address": {"province": "广西"}})["province"] == "广西壮族自治区"
    assert keys({"registered_address": {"province": "x" * 100}})["province"] == "x" * golden_keys.PROVINCE_MAX
    assert keys({"relationship_manager": {"name": "   "}})["rm_name"] is None
