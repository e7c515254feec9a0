"""Interaction streams: a connector's visit log lands in the ``interaction`` table, linked to the golden client,
once per record; edits update it, deletions remove it, records whose client is not known yet wait for it, and a
merge of two clients carries their interactions (and its undo carries them back)."""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pytest
from sqlalchemy import select

from crmhub import Connector, Cursor, Page, SourceRecord, StreamKind, StreamSpec, hookimpl
from crmhub.config import parse_settings
from crmhub.model import Interaction
from crmhub.notify.followup import last_interaction
from crmhub.plugins import load
from crmhub.store import Store
from crmhub.store.tables import InteractionRow
from crmhub.sync import queries
from crmhub.sync.engine import SyncEngine
from crmhub.sync.review import merge_clients, unmerge

from .memory_connector import SYSTEMS, MemoryConnector, MemoryCrm

U1 = "91110000600037341L"
U2 = "91310000631696382C"
VISITS: dict[str, MemoryCrm] = {}


class CrmWithVisits(MemoryConnector):
    """The memory CRM plus a ``visits`` stream (kind interaction), like a CRM's visit log."""

    streams: ClassVar[tuple[StreamSpec, ...]] = (
        StreamSpec("accounts", StreamKind.CLIENT, writable=True),
        StreamSpec("visits", StreamKind.INTERACTION),
    )

    async def pull(self, stream: str, cursor: Cursor | None, *, since: datetime | None = None) -> AsyncIterator[Page]:
        if stream == "accounts":
            async for page in super().pull(stream, cursor, since=since):
                yield page
            return
        after = int((cursor or {}).get("mod", 0))
        items = sorted(
            (v for v in VISITS[self.config.system].records.values() if v["_mod"] > after), key=lambda v: v["_mod"]
        )
        if items:
            yield Page(records=[_visit(v) for v in items], next_cursor={"mod": items[-1]["_mod"]})


def _visit(v: dict[str, Any]) -> SourceRecord:
    modified = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=v["_mod"])
    if v.get("deleted"):
        return SourceRecord(stream="visits", source_id=v["id"], deleted=True, modified_at=modified)
    data = Interaction(
        client_source_id=v.get("client"),
        client_uscc=v.get("uscc"),
        kind=v["kind"],
        occurred_at=v["at"],
        by=v.get("by"),
        summary=v.get("summary"),
    )
    return SourceRecord(stream="visits", source_id=v["id"], data=data, modified_at=modified, raw=v)


class VisitsPlugin:
    @hookimpl
    def crmhub_register_connectors(self) -> dict[str, type[Connector[Any]]]:
        return {"memory_visits": CrmWithVisits}


@pytest.fixture
def registry() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load(extra=[("memory_visits", VisitsPlugin())])


@pytest.fixture
def crm() -> tuple[MemoryCrm, MemoryCrm]:
    SYSTEMS.clear()
    VISITS.clear()
    SYSTEMS["c"], VISITS["c"] = MemoryCrm(), MemoryCrm()
    return SYSTEMS["c"], VISITS["c"]


def engine(store: Store, registry: Any) -> SyncEngine:
    settings = parse_settings(
        {
            "risk": {"enabled": False},
            "notify": {"enabled": False},
            "connectors": {"crm": {"plugin": "memory_visits", "system": "c", "write_back": {"enabled": False}}},
        },
        registry,
    )
    return SyncEngine(settings, registry, store)


def rows(store: Store) -> dict[str, tuple[int, str, str | None]]:
    with store.begin() as s:
        return {
            str(r.source_ref): (r.client_id, r.kind, r.summary)
            for r in s.scalars(select(InteractionRow).where(InteractionRow.source == "crm"))
        }


def client_id(store: Store, ref: str) -> int:
    with store.begin() as s:
        return queries.find_client(s, ref).id


async def test_visits_are_linked_once_updated_and_removed(
    store: Store, registry: Any, crm: tuple[MemoryCrm, MemoryCrm]
) -> None:
    accounts, visits = crm
    accounts.put("Z1", name="北京星河科技有限公司", uscc=U1)
    visits.put("V1", client="Z1", kind="visit", at="2026-05-01T10:00:00+08:00", by="张三", summary="季度回访")
    visits.put("V2", uscc=U2, kind="call", at="2026-05-02T15:00:00+08:00")  # its client is not in crmhub yet
    first = await engine(store, registry).run()
    assert first.status == "succeeded"
    assert (first.totals.interactions_linked, first.totals.interactions_pending) == (1, 1)
    g1 = client_id(store, U1)
    assert rows(store) == {"visits:V1": (g1, "visit", "季度回访")}

    accounts.put("Z2", name="上海宝钢贸易有限公司", uscc=U2)  # the client arrives: the waiting call is linked
    second = await engine(store, registry).run()
    assert (second.totals.interactions_linked, second.totals.interactions_pending) == (1, 0)
    g2 = client_id(store, U2)
    assert rows(store)["visits:V2"] == (g2, "call", None)
    with store.begin() as s:
        touch = last_interaction(s, g2)
        assert touch is not None and touch.occurred_at == datetime(2026, 5, 2, 7, 0, tzinfo=UTC)

    quiet = await engine(store, registry).run()
    assert quiet.totals.interactions_linked == 0 and len(rows(store)) == 2

    visits.put("V1", summary="季度回访，了解授信需求")
    edited = await engine(store, registry).run()
    assert edited.totals.interactions_linked == 1
    assert rows(store)["visits:V1"] == (g1, "visit", "季度回访，了解授信需求") and len(rows(store)) == 2

    visits.put("V1", deleted=True)
    removed = await engine(store, registry).run()
    assert removed.totals.interactions_removed == 1 and set(rows(store)) == {"visits:V2"}


async def test_a_merge_carries_interactions_and_its_undo_carries_them_back(
    store: Store, registry: Any, crm: tuple[MemoryCrm, MemoryCrm]
) -> None:
    accounts, visits = crm
    accounts.put("Z1", name="北京星河科技有限公司", uscc=U1)
    accounts.put("Z3", name="星河数码（北京）", phone="010-1")  # no USCC: a separate golden client for now
    visits.put("V3", client="Z3", kind="meeting", at="2026-06-01T09:00:00+08:00")
    await engine(store, registry).run()
    g1 = client_id(store, U1)
    g3 = rows(store)["visits:V3"][0]
    assert g3 != g1
    with store.begin() as s:
        merge_clients(s, g1, g3, actor="test", reason="same company")
    assert rows(store)["visits:V3"][0] == g1
    with store.begin() as s:
        assert last_interaction(s, g1) is not None
        unmerge(s, g3, actor="test")
    assert rows(store)["visits:V3"][0] == g3


def test_reports_show_interaction_totals_only_when_a_run_had_some() -> None:
    from crmhub.core.report import RunTotals

    assert not [k for k in RunTotals().shown() if k.startswith("interactions_")]
    assert RunTotals(interactions_pending=2).shown()["interactions_pending"] == 2
    assert "clients_created" in RunTotals().shown()
