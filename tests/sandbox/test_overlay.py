"""`crmhub.sandbox.overlay`: the lazy record map the simulators share (base regenerated on read, overlay of writes)."""

from __future__ import annotations

from array import array
from typing import Any

import pytest

from crmhub.sandbox.overlay import BoundedDict, IntIds, RecordMap, sorted_order, take


def test_record_map_reads_the_base_lazily_and_writes_hide_it() -> None:
    loads: list[str] = []

    def loader(rid: str) -> dict[str, Any] | None:
        loads.append(rid)
        return {"id": rid, "v": int(rid) * 10}

    records = RecordMap(IntIds(array("q", [30, 10, 20])), loader, cache_size=2)
    assert list(records) == ["10", "20", "30"] and len(records) == 3
    assert records["20"] == {"id": "20", "v": 200} and records["20"]["v"] == 200 and loads == ["20"]
    assert "40" not in records and "x" not in records and 20 not in records
    with pytest.raises(KeyError):
        records["40"]
    records["20"] = {"id": "20", "v": -1}
    records["40"] = {"id": "40", "v": 400}
    assert records["20"]["v"] == -1 and len(records) == 4 and list(records) == ["10", "30", "20", "40"]
    assert records.pop("10")["v"] == 100 and "10" not in records and records.pop("10", None) is None
    with pytest.raises(KeyError):
        records.pop("10")
    del records["40"]
    assert sorted(records) == ["20", "30"] and records.in_base("10") and not records.in_base("40")
    assert [records["30"]["v"] for _ in range(3)] == [300] * 3 and loads.count("30") == 1  # cached
    assert records.get("99") is None


def test_eager_record_map_and_helpers() -> None:
    plain = RecordMap()
    plain["a"] = {"id": "a"}
    assert dict(plain) == {"a": {"id": "a"}} and plain.pop("b", None) is None
    order = sorted_order(array("q", [2, 1, 2, 1]), array("q", [9, 8, 7, 6]))
    assert order == [3, 1, 2, 0] and list(take(array("q", [5, 6, 7, 8]), order)) == [8, 6, 7, 5]
    cache: BoundedDict[int] = BoundedDict(2)
    cache["a"], cache["b"], cache["c"] = 1, 2, 3
    assert list(cache) == ["b", "c"]
    ids = IntIds(array("q", [3, 1]))
    assert ids[0] == "1" and ids[:] == ["1", "3"] and ids.find("3") and not ids.find("2") and not ids.find("-3")
