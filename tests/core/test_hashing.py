"""The canonical JSON written by orjson is byte for byte what the standard library wrote before.

Stored hashes (source records, outbox payloads, idempotency keys, the audit chain) depend on it: a single differing
byte would make every record look changed after an upgrade, re-plan writes under new keys, and break the audit
chain's verification.
"""

from __future__ import annotations

import enum
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmhub.core.hashing import canonical_bytes, canonical_json, content_hash, short_hash


def reference(value: Any) -> str:
    """The canonical text as crmhub wrote it before orjson."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


class Grade(enum.StrEnum):
    A = "A"


class Level(enum.IntEnum):
    ONE = 1


class Text(str):
    def __str__(self) -> str:
        return "not the content"


class Mapping(dict[str, Any]):
    pass


@dataclass
class Point:
    x: int


GOLDEN = {
    "name": "杭州西湖数字科技有限公司",
    "uscc": "91330106MA2B3C4D5E",
    "aliases": ["西湖数字", "Xihu Digital Co., Ltd."],
    "registered_address": {"province": "浙江省", "city": "杭州市", "district": "西湖区", "street": "文三路 478 号"},
    "industry": {"code": "I6510", "name": "软件开发", "scheme": "GB/T 4754-2017"},
    "registered_capital": {"amount": "10000000.00", "currency": "CNY"},
    "employees": 120,
    "established_on": "2015-03-02",
    "contacts": [{"name": "张三", "mobile": "+86 138 0000 0000", "is_primary": True, "source_id": "zoho:4211"}],
    "preferences": {"products_of_interest": ["供应链金融"], "preferred_channels": [], "tags": []},
    "external_ids": {"ledger": ["C-000001"], "zoho": ["4211", "4212"]},
    "review_flags": [],
    "data_quality": [],
    "risk": {"rating": "BBB", "segment": "medium", "score": "61.5", "assessed_at": "2026-12-01T08:00:00Z"},
    "notes": '第一行\n第二行\t制表符 "引号" \\ 反斜杠 \x00\x1f\x7f \u2028\u2029 \ufeff 😀',
}

SAMPLES: list[Any] = [
    GOLDEN,
    {"data": GOLDEN, "deleted": False},
    [GOLDEN, None, True, False, 0, -1, 2**63 - 1, -(2**63)],
    {"z": 1, "a": {"y": [3, 2, 1], "b": {}}, "": "empty key", "中": "CJK key", "A": "upper before lower"},
    {"amount": Decimal("1234.50"), "rate": Decimal("-0.000001"), "big": Decimal("1E+30")},
    {
        "day": date(2026, 12, 7),
        "at": datetime(2026, 12, 7, 8, 30, tzinfo=UTC),
        "local": datetime(2026, 12, 7, 8, 30, 0, 123456, tzinfo=timezone(timedelta(hours=8))),
        "naive": datetime(2026, 12, 7, 8, 30),
        "time": time(8, 30),
    },
    {
        "floats": [
            0.0,
            -0.0,
            1.0,
            0.1,
            0.85,
            61.5,
            1234567.891,
            1e-4,
            1.5e-5,
            1e-7,
            3.2e-9,
            1e-10,
            1e16,
            1.5e20,
            1e22,
            9999999999999998.0,
            5e-324,
            1.7976931348623157e308,
            0.00012,
        ]
    },
    {"int_keys": {"1": "a"}, "big": 2**70, "negative_big": -(2**64)},
    {1: "int key", 2: "sorted as ints"},
    {True: "bool key"},
    {"grade": Grade.A, "level": Level.ONE, "text": Text("content"), "mapping": Mapping(b=1, a=2)},
    {"uuid": uuid.UUID(int=12345), "set": {3}, "tuple": (1, "two"), "point": Point(1)},
    ["rates: 1,0.00001", "Lane e-5", "5e-3", "0.0000 exactly"],
    "just a string",
    42,
    1.25,
    None,
    True,
    [],
]


@pytest.mark.parametrize("value", SAMPLES, ids=range(len(SAMPLES)))
def test_canonical_json_is_the_standard_librarys(value: Any) -> None:
    assert canonical_json(value) == reference(value)
    assert canonical_bytes(value) == reference(value).encode("utf-8")


def test_hashes_are_the_ones_already_stored() -> None:
    import hashlib

    expected = hashlib.sha256(reference({"data": GOLDEN, "deleted": False}).encode("utf-8")).hexdigest()
    assert content_hash({"data": GOLDEN, "deleted": False}) == expected
    assert (
        short_hash(["zoho", "accounts", 7, {"Phone": "0571-1"}], 40)
        == hashlib.sha256(reference(["zoho", "accounts", 7, {"Phone": "0571-1"}]).encode("utf-8")).hexdigest()[:40]
    )


def test_text_that_is_not_utf8_fails_as_before() -> None:
    with pytest.raises(UnicodeEncodeError):
        content_hash({"name": "lone \ud800 surrogate"})


json_leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
    | st.decimals(allow_nan=False, allow_infinity=False)
    | st.dates()
)
json_values = st.recursive(
    json_leaves,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_canonical_json_matches_on_generated_data(value: Any) -> None:
    assert canonical_json(value) == reference(value)
