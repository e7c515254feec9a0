"""The world-backed Zoho store regenerates records on demand: same records, indexes and writes as a loaded one."""

from __future__ import annotations

from typing import Any

from crmhub.contract import SandboxOptions
from crmhub.sandbox.faults import FaultProfile
from crmhub.sandbox.world import World
from crmhub_zoho.simulator.state import ZohoSimulator


def _sims(faults: FaultProfile | None = None) -> tuple[ZohoSimulator, ZohoSimulator]:
    world = World(seed=2, clients=400)
    lazy = ZohoSimulator(
        SandboxOptions(base_url="http://127.0.0.1:1", world=world, faults=faults, settings={"lazy_world_min": 0})
    )
    eager = ZohoSimulator(SandboxOptions(base_url="http://127.0.0.1:1", world=world, faults=faults))
    return lazy, eager


def _all(store: Any) -> dict[str, dict[str, Any]]:
    return {rid: store.records[rid] for rid in store.records}


def test_lazy_store_serves_the_same_records_and_orders() -> None:
    lazy, eager = _sims(FaultProfile(malformed_rate=0.05, seed=1))
    assert lazy.modules["Accounts"].records.overlay == {}  # nothing held
    assert len(eager.modules["Accounts"].records.overlay) == len(eager.modules["Accounts"])  # all held
    for module in ("Accounts", "Contacts"):
        a, b = lazy.modules[module], eager.modules[module]
        assert len(a) == len(b) > 0
        assert _all(a) == _all(b)
        assert list(a.by_id) == list(b.by_id)
        assert list(a.by_modified) == list(b.by_modified)
        assert list(a.by_created) == list(b.by_created)
        since = a.by_modified[len(a) // 2][0]
        for sort_by in ("id", "Modified_Time", "Created_Time"):
            assert list(a.ordered(sort_by, since)) == list(b.ordered(sort_by, since))
    assert lazy.malformed == eager.malformed and lazy.malformed


def test_writes_and_deletes_go_to_the_overlay() -> None:
    lazy, eager = _sims()
    for sim in (lazy, eager):
        store = sim.modules["Accounts"]
        first, second = store.by_id[0][2], store.by_id[1][2]
        rec = dict(store.records[first])
        rec["Phone"] = "010-12345678"
        sim.touch(rec, sim.admin.user_id)
        store.put(rec)
        name = store.records[second]["Account_Name"]
        store.remove(second, {"id": second, "type": "recycle"}, 1)
        assert store.records[first]["Phone"] == "010-12345678"
        assert second not in store.records
        assert store.by_modified[-1][2] == first
        assert not store.find_duplicates("Account_Name", name)
    a, b = lazy.modules["Accounts"], eager.modules["Accounts"]
    assert len(a) == len(b) and _all(a) == _all(b) and list(a.by_modified) == list(b.by_modified)


def test_find_duplicates_matches_the_loaded_store() -> None:
    lazy, eager = _sims()
    a, b = lazy.modules["Accounts"], eager.modules["Accounts"]
    for rid in list(b.records)[:40]:
        name = b.records[rid]["Account_Name"]
        assert a.find_duplicates("Account_Name", f"  {str(name).upper()} ") == b.find_duplicates("Account_Name", name)
    assert a.find_duplicates("Account_Name", "没有这家公司") == set()
