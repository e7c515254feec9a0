"""The sync engine's logic, with an in-memory connector (the end-to-end suite uses the real simulators)."""

from __future__ import annotations

import json
import warnings
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from crmhub import Connector, Cursor, Page, SourceRecord, hookimpl
from crmhub.cli import main
from crmhub.config import parse_settings
from crmhub.contract import PluginContext
from crmhub.plugins import load
from crmhub.store import Store
from crmhub.store.tables import DeadLetter, GoldenClient, Outbox, ReviewItem, SyncCursor
from crmhub.sync import queries
from crmhub.sync.audit import verify_chain
from crmhub.sync.engine import SyncEngine

from .memory_connector import SYSTEMS, MemoryConnector, MemoryCrm, MemoryPlugin, SimulatedCrash

U1 = "91110000600037341L"
U2 = "91310000631696382C"


@pytest.fixture
def registry() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load(extra=[("memory", MemoryPlugin())])


@pytest.fixture
def crms() -> dict[str, MemoryCrm]:
    SYSTEMS.clear()
    SYSTEMS["a"], SYSTEMS["b"] = MemoryCrm(), MemoryCrm()
    return SYSTEMS


def engine(store: Store, registry: Any, **extra: Any) -> SyncEngine:
    data = {
        "connectors": {
            "ledgerish": {"plugin": "memory", "system": "a", "write_back": {"enabled": False}},
            "crm": {"plugin": "memory", "system": "b", "write_back": {"fields": ["uscc"]}},
        },
        "sync": {"source_priority": ["ledgerish", "crm"]},
    }
    data.update(extra)
    return SyncEngine(parse_settings(data, registry), registry, store)


def count(store: Store, table: Any) -> int:
    with store.begin() as s:
        return s.scalar(select(func.count()).select_from(table)) or 0


async def test_one_golden_per_company_with_lineage(store: Store, registry: Any, crms: dict[str, MemoryCrm]) -> None:
    """A company in two systems (USCC in one only) becomes one golden record; each field says its source."""
    crms["a"].put(
        "L1",
        name="北京星河科技有限公司",
        uscc=U1,
        phone="010-62345678",
        registered_address={"province": "北京市", "city": "北京市", "district": "海淀区"},
    )
    crms["a"].put("L2", name="上海宝钢贸易有限公司", uscc=U2)
    crms["b"].put(
        "Z1",
        name="星河科技（北京）有限公司",
        phone="010-62345678",
        website="https://xinghe.example",
        registered_address={"province": "北京市", "city": "北京市"},
    )
    report = await engine(store, registry).run()
    assert report.status == "succeeded"
    assert count(store, GoldenClient) == 2
    with store.begin() as s:
        row = queries.find_client(s, U1)
        data = queries.client_json(row)
        lineage = {f.field: f for f in queries.explain(s, row.id)}
    assert data["external_ids"] == {"ledgerish": ["L1"], "crm": ["Z1"]}
    assert data["name"] == "北京星河科技有限公司" and lineage["name"].source == "ledgerish"
    assert lineage["website"].source == "crm" and lineage["name"].competing[0]["source"] == "crm"


async def test_rerun_with_no_changes_reports_zero(store: Store, registry: Any, crms: dict[str, MemoryCrm]) -> None:
    """A second run with nothing new changes nothing and writes nothing."""
    crms["a"].put("L1", name="北京星河科技有限公司", uscc=U1)
    crms["b"].put("Z1", name="北京星河科技有限公司", phone="010-62345678")
    await engine(store, registry).run()
    pushes = len(crms["b"].pushes)
    second = await engine(store, registry).run()
    assert second.changes == 0 and second.totals.written_back == 0
    assert len(crms["b"].pushes) == pushes


async def test_write_back_fills_missing_uscc_once(store: Store, registry: Any, crms: dict[str, MemoryCrm]) -> None:
    """The CRM lacking the USCC receives it once; the echo of our write is not a new change."""
    crms["a"].put("L1", name="北京星河科技有限公司", uscc=U1, phone="13812345678")
    crms["b"].put("Z1", name="北京星河科技有限公司", phone="13812345678")
    first = await engine(store, registry).run()
    assert first.totals.written_back == 1 and crms["b"].records["Z1"]["uscc"] == U1
    echo = await engine(store, registry).run()
    assert echo.connectors["crm"].streams["accounts"]["updated"] == 0
    assert echo.connectors["crm"].streams["accounts"]["unchanged"] == 1
    assert echo.totals.written_back == 0 and len(crms["b"].pushes) == 1


async def test_dry_run_writes_nothing_anywhere(store: Store, registry: Any, crms: dict[str, MemoryCrm]) -> None:
    """--dry-run prints the plan but leaves the store and the CRMs untouched."""
    crms["a"].put("L1", name="北京星河科技有限公司", uscc=U1, phone="13812345678")
    crms["b"].put("Z1", name="北京星河科技有限公司", phone="13812345678")
    report = await engine(store, registry).run(dry_run=True)
    assert [(p.connector, p.action, list(p.fields)) for p in report.plan] == [("crm", "update", ["uscc"])]
    assert count(store, GoldenClient) == 0 and count(store, SyncCursor) == 0 and count(store, Outbox) == 0
    assert crms["b"].pushes == [] and "uscc" not in crms["b"].records["Z1"]


async def test_bad_record_is_dead_lettered_and_run_goes_on(
    store: Store, registry: Any, crms: dict[str, MemoryCrm]
) -> None:
    """A record that cannot be a client (no name) goes to the dead-letter table with its reason; the others are
    stored — a USCC failing its check no longer dead-letters the client (issue 13 item 9)."""
    crms["b"].put("Z1", name="好公司", uscc=U2)
    crms["b"].put("Z2", name="坏公司", uscc="91110000600037342L")
    crms["b"].put("Z3", name="另一家公司")
    crms["b"].put("Z4", name="  ")
    report = await engine(store, registry).run(["crm"])
    assert report.connectors["crm"].streams["accounts"]["rejected"] == 1
    assert report.totals.dead_letters == 1 and count(store, GoldenClient) == 3
    assert report.totals.data_quality == 1 and report.connectors["crm"].streams["accounts"]["data_quality"] == 1
    with store.begin() as s:
        dl = s.scalars(select(DeadLetter)).one()
    assert (dl.connector, dl.stream, dl.source_id, dl.field) == ("crm", "accounts", "Z4", "name")


async def test_bad_check_uscc_is_kept_flagged_and_matched_as_a_typo(
    store: Store,
    store_url: str,
    registry: Any,
    crms: dict[str, MemoryCrm],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Issue 13 item 9: a client whose USCC fails its check is kept with a data-quality finding, is not the
    golden key, and still matches the record with the right code one character away — which wins later."""
    crms["b"].put("Z1", name="北京星河科技有限公司", uscc="91110000600037342L")  # one character off U1
    first = await engine(store, registry).run(["crm"])
    assert first.totals.dead_letters == 0 and first.totals.data_quality == 1
    with store.begin() as s:
        golden = s.scalars(select(GoldenClient)).one()
        assert golden.uscc is None  # never the key: the valid code must be able to take it later
        assert golden.data["uscc_unverified"] == "91110000600037342L"
        [finding] = queries.data_quality(golden)
        assert finding["kind"] == "uscc_check" and finding["source"] == "crm:accounts/Z1"
        assert "expected 'P'" in finding["message"]
        assert queries.find_client(s, "91110000600037342l").id == golden.id  # found by its unverified code
        first_id = golden.id
    cfg = tmp_path / "c.toml"  # the operator's view: `clients show/explain` name the finding
    cfg.write_text(f'[store]\nurl = "{store_url}"\n', encoding="utf-8")
    capsys.readouterr()
    assert main(["clients", "explain", "９１１１００００６００ ０３７３４２ｌ", "-c", str(cfg), "--json"]) == 0
    explained = json.loads(capsys.readouterr().out)
    assert explained["id"] == first_id and explained["data_quality"][0]["kind"] == "uscc_check"
    assert main(["--lang", "en", "clients", "explain", str(first_id), "-c", str(cfg)]) == 0
    text = capsys.readouterr().out
    assert "Data-quality findings" in text and "USCC check character wrong" in text and "expected 'P'" in text
    assert main(["--lang", "zh", "clients", "show", str(first_id), "-c", str(cfg)]) == 0
    text = capsys.readouterr().out
    assert "数据质量问题" in text and "统一社会信用代码校验位错误" in text and "uscc_check" not in text
    assert main(["clients", "show", str(first_id), "-c", str(cfg), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["uscc"] is None and shown["uscc_unverified"] == "91110000600037342L"
    assert shown["data_quality"][0]["source"] == "crm:accounts/Z1"
    crms["a"].put("L1", name="北京星河科技有限公司", uscc=U1)
    await engine(store, registry).run()
    with store.begin() as s:
        golden = s.scalars(select(GoldenClient)).one()
        assert golden.id == first_id and golden.uscc == U1 and "uscc_unverified" not in golden.data
        assert queries.find_client(s, "９１１１００００６００ ０３７３４１ｌ").id == first_id  # full-width, lower case
        assert [f["kind"] for f in queries.data_quality(golden)] == ["uscc_check"]
        total, rows = queries.list_clients(s, search="６０００ ３７３４１ｌ")  # a fragment, full-width, spaced
        assert total == 1 and rows[0].id == first_id


async def test_group_parent_and_subsidiary_stay_apart_and_go_to_review(
    store: Store, registry: Any, crms: dict[str, MemoryCrm]
) -> None:
    """Issue 13 item 8: 北京星河科技集团有限公司 and 北京星河科技有限公司 without USCCs are two clients and one review
    item, even with the same phone — never an automatic merge."""
    crms["a"].put("L1", name="北京星河科技集团有限公司", phone="010-62345678")
    crms["b"].put("Z1", name="北京星河科技有限公司", phone="010-62345678")
    report = await engine(store, registry).run()
    assert count(store, GoldenClient) == 2 and report.totals.records_linked == 0
    with store.begin() as s:
        item = s.scalars(select(ReviewItem).where(ReviewItem.kind == "match")).one()
    assert "group_mismatch" in item.details["explanation"]


async def test_dead_letter_retry_remaps_and_keeps_the_original_reason(
    store: Store, registry: Any, crms: dict[str, MemoryCrm], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Retry re-maps the stored payload: still bad → the attempt is recorded, the first reason kept; after a
    mapping fix → stored, resolved, and the next run merges it (on SQLite and PostgreSQL)."""
    from crmhub.store.deadletter_query import dead_letter_json
    from crmhub.sync import deadletter_retry as deadletters

    crms["b"].put("Z2", name="  ", legal_name="坏公司")
    cfg = engine(store, registry)
    await cfg.run(["crm"])
    with store.begin() as s:
        dl = s.scalars(select(DeadLetter)).one()
    first = dl.reason
    assert dl.field == "name" and "blank" in first

    def connector(name: str) -> Any:
        return MemoryConnector(cfg.settings.connectors[name], PluginContext(name=name))  # type: ignore[arg-type]

    failed = await deadletters.retry(store, None, connector)
    assert [(o.id, o.ok) for o in failed] == [(dl.id, False)] and failed[0].message == first
    original = MemoryConnector._map

    def fixed(self: MemoryConnector, raw: dict[str, Any]) -> Any:  # a mapping fix: a blank name falls back
        data = {k: v for k, v in raw.items() if k != "legal_name"}
        return original(self, {**data, "name": raw["name"].strip() or raw["legal_name"]})

    monkeypatch.setattr(MemoryConnector, "_map", fixed)
    done = await deadletters.retry(store, None, connector)
    assert [(o.id, o.ok) for o in done] == [(dl.id, True)]
    with store.begin() as s:
        row = s.get(DeadLetter, dl.id)
        assert row is not None and row.status == "resolved" and row.attempts == 3
        js = dead_letter_json(row)
    assert js["first_reason"] == first and [h["event"] for h in js["history"]] == [
        "rejected",
        "retry_failed",
        "retry_ok",
    ]
    assert isinstance(await connector("crm").remap("accounts", dict(crms["b"].records["Z2"])), SourceRecord)
    await cfg.run(["crm"])
    with store.begin() as s:
        assert s.scalar(select(GoldenClient.name)) == "坏公司"


async def test_record_fixed_at_the_source_resolves_its_dead_letter_with_history(
    store: Store, registry: Any, crms: dict[str, MemoryCrm]
) -> None:
    """A record corrected in the CRM is read again by the next sync: its dead letter is resolved, and the history
    shows the original reason and that resolution."""
    crms["b"].put("Z2", name="  ")
    await engine(store, registry).run(["crm"])
    with store.begin() as s:
        first = s.scalars(select(DeadLetter)).one().reason
    crms["b"].put("Z2", name="坏公司")
    await engine(store, registry).run(["crm"])
    with store.begin() as s:
        dl = s.scalars(select(DeadLetter)).one()
        assert dl.status == "resolved"
        assert [h["event"] for h in dl.history or []] == ["rejected", "resolved"]
        assert (dl.history or [])[0]["reason"] == first


async def test_crash_mid_pull_resumes_without_loss_or_duplicates(
    store: Store, registry: Any, crms: dict[str, MemoryCrm]
) -> None:
    """A run killed after two pages resumes from the stored cursor; the end state equals a clean run's."""
    for i in range(9):
        crms["b"].put(f"Z{i}", name=f"测试{i}号科技有限公司", phone=f"0108765432{i}")
    crms["b"].fail_after_pages = 2
    with pytest.raises(SimulatedCrash):
        await engine(store, registry).run(["crm"])
    with store.begin() as s:
        assert s.get(SyncCursor, ("crm", "accounts")).cursor == {"mod": 4}  # type: ignore[union-attr]
    crms["b"].fail_after_pages = None
    report = await engine(store, registry).run(["crm"])
    assert report.connectors["crm"].streams["accounts"]["read"] == 5
    assert count(store, GoldenClient) == 9


async def test_conflict_decided_by_rule_is_counted(store: Store, registry: Any, crms: dict[str, MemoryCrm]) -> None:
    """Both sources change the phone since the last sync: most-recent decides, the conflict is counted."""
    crms["a"].put("L1", name="北京星河科技有限公司", uscc=U1, phone="010-11111111")
    crms["b"].put("Z1", name="北京星河科技有限公司", uscc=U1, phone="010-11111111")
    await engine(store, registry).run()
    crms["a"].put("L1", phone="010-22222222")
    crms["b"].clock += 5  # the CRM's change is the newer one
    crms["b"].put("Z1", phone="010-33333333")
    report = await engine(store, registry).run()
    assert report.totals.conflicts == 1 and report.totals.conflicts_queued == 0
    with store.begin() as s:
        assert queries.client_json(queries.find_client(s, U1))["phone"] == "010-33333333"
        assert not verify_chain(s)


async def test_undecidable_conflict_keeps_value_and_queues_review(
    store: Store, registry: Any, crms: dict[str, MemoryCrm]
) -> None:
    """Two sources change a field at the same instant to different values: keep the old value, ask a human."""
    crms["a"].put("L1", name="北京星河科技有限公司", uscc=U1, phone="010-11111111")
    crms["b"].put("Z1", name="北京星河科技有限公司", uscc=U1, phone="010-11111111")
    await engine(store, registry).run()
    crms["a"].put("L1", phone="010-22222222")
    crms["b"].put("Z1", phone="010-33333333")
    report = await engine(store, registry).run()
    assert report.totals.conflicts_queued == 1
    with store.begin() as s:
        assert queries.client_json(queries.find_client(s, U1))["phone"] == "010-11111111"
        item = s.scalars(select(ReviewItem).where(ReviewItem.kind == "conflict")).one()
        assert item.field == "phone" and {v["value"] for v in item.details["values"]} == {
            "010-22222222",
            "010-33333333",
        }


async def test_grey_zone_goes_to_review_and_accept_merges(
    store: Store, registry: Any, crms: dict[str, MemoryCrm]
) -> None:
    """Similar names without corroboration are not merged; accepting the review item merges them."""
    from crmhub.sync import review

    crms["a"].put(
        "L1", name="北京星河科技有限公司", uscc=U1, registered_address={"province": "北京市", "city": "北京市"}
    )
    crms["b"].put("Z1", name="北京星和科技有限公司", registered_address={"province": "北京市", "city": "北京市"})
    await engine(store, registry).run()
    assert count(store, GoldenClient) == 2
    with store.begin() as s:
        items = review.list_items(s)
        assert [i.kind for i in items] == ["match"]
        review.accept(s, items[0].id, actor="test")
    await engine(store, registry).run()
    with store.begin() as s:
        assert s.scalar(select(func.count()).select_from(GoldenClient).where(GoldenClient.status == "active")) == 1
        merged = queries.client_json(queries.find_client(s, U1))
        assert merged["external_ids"] == {"ledgerish": ["L1"], "crm": ["Z1"]}
        absorbed = s.scalars(select(GoldenClient).where(GoldenClient.status == "merged")).one()
        review.unmerge(s, absorbed.id, actor="test")
    await engine(store, registry).run()
    with store.begin() as s:
        assert s.scalar(select(func.count()).select_from(GoldenClient).where(GoldenClient.status == "active")) == 2
        # the CRM record received the USCC by write-back while merged: after the undo a human must look again
        open_items = s.scalars(select(ReviewItem).where(ReviewItem.status == "open")).all()
        assert [(i.kind, i.details["uscc"]) for i in open_items] == [("uscc_conflict", U1)]


async def test_dead_letter_retry_survives_a_connector_that_cannot_open_or_a_remap_that_chokes(
    store: Store, registry: Any, crms: dict[str, MemoryCrm], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connector that fails to open (say authentication) or a plugin whose remap raises on the payload's shape
    used to end `deadletter retry` with a traceback; now each item records why, stays open, and the run goes on."""
    from crmhub.errors import AuthError
    from crmhub.sync import deadletter_retry as deadletters

    crms["b"].put("Z2", name="  ", legal_name="坏公司")
    cfg = engine(store, registry)
    await cfg.run(["crm"])

    def connector(name: str) -> Any:
        return MemoryConnector(cfg.settings.connectors[name], PluginContext(name=name))  # type: ignore[arg-type]

    async def cannot_open(self: MemoryConnector) -> None:
        raise AuthError("token revoked")

    with monkeypatch.context() as patched:
        patched.setattr(MemoryConnector, "__aenter__", cannot_open)
        outcomes = await deadletters.retry(store, None, connector)
    assert [o.ok for o in outcomes] == [False] and "could not be used now" in outcomes[0].message

    async def choke(self: MemoryConnector, stream: str, payload: dict[str, Any]) -> Any:
        return payload["no such key"]

    monkeypatch.setattr(MemoryConnector, "remap", choke)
    outcomes = await deadletters.retry(store, None, connector)
    assert [o.ok for o in outcomes] == [False] and "cannot be re-mapped" in outcomes[0].message
    with store.begin() as s:
        row = s.scalars(select(DeadLetter)).one()
        assert row.status == "open" and [h["event"] for h in row.history or []] == [
            "rejected",
            "retry_failed",
            "retry_failed",
        ]


async def test_refused_write_back_is_dead_lettered_and_retryable(
    store: Store, registry: Any, crms: dict[str, MemoryCrm]
) -> None:
    """A write the CRM refuses lands in dead letters (direction out); retry re-queues it."""
    from crmhub.sync import deadletter_retry as deadletters

    crms["a"].put("L1", name="北京星河科技有限公司", uscc=U1, phone="13812345678")
    crms["b"].put("Z1", name="北京星河科技有限公司", phone="13812345678")
    crms["b"].reject_ids.add("Z1")
    report = await engine(store, registry).run()
    assert report.totals.write_failed == 1
    with store.begin() as s:
        dl = s.scalars(select(DeadLetter).where(DeadLetter.direction == "out")).one()
        assert "locked" in dl.reason
    outcomes = await deadletters.retry(store, [dl.id], lambda name: None)
    assert [(o.id, o.ok) for o in outcomes] == [(dl.id, True)]
    with store.begin() as s:
        row = s.get(DeadLetter, dl.id)
        assert row is not None and row.status == "retried"
        assert [h["event"] for h in row.history or []] == ["rejected", "retry_ok"]
    crms["b"].reject_ids.clear()
    again = await engine(store, registry).run()
    assert again.totals.written_back == 1 and crms["b"].records["Z1"]["uscc"] == U1


async def test_crash_between_write_and_record_never_writes_twice(
    store: Store, registry: Any, crms: dict[str, MemoryCrm]
) -> None:
    """Killed after the CRM applied a write but before crmhub recorded it: the rerun re-reads the CRM, sees the
    write applied and confirms it without sending it again."""
    crms["a"].put("L1", name="北京星河科技有限公司", uscc=U1, phone="13812345678")
    crms["b"].put("Z1", name="北京星河科技有限公司", phone="13812345678")
    crms["b"].crash_after_push = True
    with pytest.raises(SimulatedCrash):
        await engine(store, registry).run()
    assert len(crms["b"].pushes) == 1 and crms["b"].records["Z1"]["uscc"] == U1
    with store.begin() as s:
        assert s.scalars(select(Outbox.state)).all() == ["sent"]
    crms["b"].crash_after_push = False
    again = await engine(store, registry).run()
    assert len(crms["b"].pushes) == 1
    assert again.totals.written_back == 1
    with store.begin() as s:
        row = s.scalars(select(Outbox)).one()
        assert row.state == "confirmed" and row.answer == {"status": "ok", "confirmed_by": "re-read"}


class _Untimed(MemoryConnector):
    """A source that gives no modification time and is re-read whole every run (a full scan)."""

    async def pull(self, stream: str, cursor: Cursor | None, *, since: datetime | None = None) -> AsyncIterator[Page]:
        async for page in super().pull(stream, None, since=since):
            yield page

    def _map(self, raw: dict[str, Any]) -> Any:
        out = super()._map(raw)
        return out.model_copy(update={"modified_at": None}) if isinstance(out, SourceRecord) else out


class _Clocked(MemoryConnector):
    """A CRM whose records carry the wall-clock time of their last edit (``_at``), as a real CRM's do."""

    def _map(self, raw: dict[str, Any]) -> Any:
        out = super()._map(raw)
        at = datetime.fromisoformat(raw["_at"])
        return out.model_copy(update={"modified_at": at}) if isinstance(out, SourceRecord) else out


def _now() -> str:
    return datetime.now(UTC).isoformat()


class _UntimedPlugin:
    @hookimpl
    def crmhub_register_connectors(self) -> dict[str, type[Connector[Any]]]:
        return {"memory_untimed": _Untimed, "memory_clocked": _Clocked}


async def test_most_recent_takes_a_later_crm_edit_over_an_untimed_source(
    store: Store, crms: dict[str, MemoryCrm]
) -> None:
    """A source without modification times counts as observed when its content changed, not at every re-read:
    otherwise "most recent" would hand it every field forever, and an RM's later edit in the CRM would never win."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        registry = load(extra=[("memory_untimed", _UntimedPlugin())])
    data = {
        "connectors": {
            "ledgerish": {"plugin": "memory_untimed", "system": "a", "write_back": {"enabled": False}},
            "crm": {"plugin": "memory_clocked", "system": "b", "write_back": {"enabled": False}},
        },
        "sync": {"source_priority": ["ledgerish", "crm"]},
        "risk": {"enabled": False},
    }
    crms["a"].put("L1", name="北京星河科技有限公司", uscc=U1, phone="13800000000")
    crms["b"].put("Z1", name="北京星河科技有限公司", uscc=U1, phone="010-62345678", _at=_now())
    await SyncEngine(parse_settings(data, registry), registry, store).run()
    crms["b"].put("Z1", phone="010-88888888", _at=_now())  # the RM corrects it after the first sync
    await SyncEngine(parse_settings(data, registry), registry, store).run()
    with store.begin() as s:
        row = queries.find_client(s, U1)
        lineage = {f.field: f for f in queries.explain(s, row.id)}
        assert queries.client_json(row)["phone"] == "010-88888888"
    assert lineage["phone"].source == "crm" and lineage["phone"].rule == "most_recent"


async def test_merge_keeps_breakdown_columns_with_the_document(
    store: Store, registry: Any, crms: dict[str, MemoryCrm]
) -> None:
    """The merge writes industry section, province (full name, whatever the spelling) and manager name as columns
    with the golden document, and moves them when the document changes (the segments page reads only these)."""
    crms["a"].put(
        "L1",
        name="北京星河科技有限公司",
        uscc=U1,
        industry="C3911",
        registered_address={"province": "浙江", "city": "杭州市"},
        relationship_manager={"name": "张伟", "user_id": "zhangwei"},
    )
    crms["a"].put("L2", name="上海宝钢贸易有限公司", uscc=U2, registered_address={"city": "上海市"})
    await engine(store, registry).run()

    def columns() -> dict[str | None, tuple[str | None, ...]]:
        with store.begin() as s:
            return {
                r.uscc: (r.industry_section, r.province, r.rm_name, r.rm_user_id)
                for r in s.scalars(select(GoldenClient))
            }

    assert columns() == {U1: ("C", "浙江省", "张伟", "zhangwei"), U2: (None, "上海市", None, None)}
    crms["a"].put(
        "L1",
        industry="F51",
        registered_address={"province": "广东省"},
        relationship_manager={"name": "李娜", "user_id": "lina"},
    )
    await engine(store, registry).run()
    assert columns()[U1] == ("F", "广东省", "李娜", "lina")
