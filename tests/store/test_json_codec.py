"""JSON columns are written and read by orjson (`crmhub.store.types`) and hold the same values as before.

"Before" is the standard library's codec: every value below reads back as ``json.loads(json.dumps(value))`` —
on SQLite (text; a top-level number comes back as a number) and on PostgreSQL (JSONB, through psycopg; its
numeric type writes a float without an exponent — 1e300 as 1 and 300 zeros, read back as an integer by either
codec (so before as now) — so the floats here are ones it writes back as floats).
"""

from __future__ import annotations

import enum
import json
import math
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import StatementError

from crmhub.store import Store
from crmhub.store.tables import FieldLineage, GoldenClient
from crmhub.store.types import dumps_json, loads_json


class Grade(enum.StrEnum):
    A = "A"


VALUES: list[Any] = [
    {"name": "杭州西湖数字科技有限公司", "aliases": ["西湖数字"], "note": '引号 " 反斜杠 \\ 换行 \n 制表 \t \x01 😀'},
    {"nested": {"deep": [1, 2.5, {"x": None, "y": True, "z": False}]}, "": "empty key"},
    {"floats": [0.1, 1e-7, 1.5e-5, 12345.678, 3.0, 61.5], "ints": [0, -1, 2**63 - 1, -(2**63), 2**64 - 1]},
    {"big": 2**70, "negative_big": -(2**70), "digits": "6222021200001234567890"},
    {1: "int key", "grade": Grade.A, "tuple": (1, 2)},
    [1, "two", None],
    "plain text",
    404,
    61.5,
    True,
]


@pytest.mark.parametrize("value", VALUES, ids=range(len(VALUES)))
def test_json_columns_read_back_what_the_standard_library_would(store: Store, value: Any) -> None:
    now = datetime.now(UTC)
    expected = json.loads(json.dumps(value))
    with store.begin() as s:
        golden = GoldenClient(name="甲", data={"v": value}, created_at=now, updated_at=now)
        s.add(golden)
        s.flush()
        s.add(
            FieldLineage(
                client_id=golden.id,
                field="f",
                value=value,
                source="zoho",
                source_record_id="1",
                observed_at=now,
                rule="most_recent",
                competing=[value],
                source_hashes={},
                updated_at=now,
            )
        )
        gid = golden.id
    with store.begin() as s:
        assert s.scalar(select(GoldenClient.data).where(GoldenClient.id == gid)) == {"v": expected}
        row = s.execute(select(FieldLineage.value, FieldLineage.competing).where(FieldLineage.client_id == gid)).one()
        assert row.value == expected and row.competing == [expected]
        assert type(row.value) is type(expected)


def test_json_the_standard_library_refuses_is_still_refused(store: Store) -> None:
    now = datetime.now(UTC)
    with pytest.raises((StatementError, TypeError)), store.begin() as s:  # psycopg raises the TypeError itself
        s.add(GoldenClient(name="甲", data={"amount": Decimal("1.5")}, created_at=now, updated_at=now))
        s.flush()


def test_text_is_stored_as_utf8_and_found_by_sql(store: Store) -> None:
    now = datetime.now(UTC)
    with store.begin() as s:
        s.add(
            GoldenClient(name="甲", data={"registered_address": {"province": "浙江省"}}, created_at=now, updated_at=now)
        )
    with store.begin() as s:
        found = s.scalar(
            select(GoldenClient.name).where(GoldenClient.data["registered_address"]["province"].as_string() == "浙江省")
        )
        assert found == "甲"
        if store.dialect == "sqlite":
            assert "浙江省" in s.scalar(text("SELECT data FROM golden_client"))


def test_rows_written_before_read_back_alike() -> None:
    """Text the standard library wrote (escaped non-ASCII, NaN, numbers beyond 64 bits) reads back as it did."""
    for value in [{"name": "浙江", "big": 2**70}, [float("inf")], {"deep": [{"x": -(2**64)}]}]:
        written = json.dumps(value)
        assert loads_json(written) == json.loads(written)
        assert loads_json(written.encode()) == json.loads(written)
    nan = loads_json('{"x": NaN}')["x"]
    assert math.isnan(nan)
    assert loads_json(dumps_json({"中": [1, 2.5]})) == {"中": [1, 2.5]}
    with pytest.raises(TypeError):
        loads_json(404)  # type: ignore[arg-type]  # SQLAlchemy's SQLite JSON type relies on this for numbers
