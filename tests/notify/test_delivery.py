"""Delivery end to end against real servers: a downgrade from a real sync reaches the RM on WeCom and the risk team by
email exactly once, masked; crashes between sending and recording never produce a second message."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from crmhub.contract import DeliveryResult, OutboundMessage
from crmhub.notify import delivery
from crmhub.notify.delivery import Deliverer
from crmhub.notify.log import list_notifications, notification_json
from crmhub.notify.planner import Planner
from crmhub.notify.service import Notifier
from crmhub.plugins import Registry
from crmhub.risk.runner import make_risk_phase
from crmhub.store import Store
from crmhub.store.tables import Outbox, RiskAssessmentRow
from crmhub.sync.engine import SyncEngine
from crmhub_wechat import WecomChannel
from sync.memory_connector import SYSTEMS, MemoryCrm

from .helpers import ID_NUMBER, MOBILE, RM, U1, Servers, assert_masked, assess, client, mail_texts, settings


class SimulatedCrash(BaseException):
    """The process dies (BaseException: nothing in the deliverer may swallow it)."""


def log(store: Store) -> dict[str, dict[str, Any]]:
    with store.begin() as s:
        return {f"{r.stream}/{r.target}": notification_json(r) for r in list_notifications(s)}


async def test_downgrade_in_a_sync_reaches_rm_and_risk_team_once_masked(
    store: Store, registry: Registry, servers: Servers
) -> None:
    """Sync → risk phase downgrades the client → after_run: one WeCom message to the RM, one mail to the risk
    team, no unmasked mobile or ID number in either; a rerun sends nothing more."""
    SYSTEMS.clear()
    SYSTEMS["a"] = crm = MemoryCrm()
    cfg = settings(
        registry, servers, connectors={"crm": {"plugin": "memory", "system": "a", "write_back": {"enabled": False}}}
    )
    name = f"北京星河科技有限公司（法人身份证{ID_NUMBER}，电话{MOBILE}）"
    crm.put(
        "Z1",
        name=name,
        uscc=U1,
        industry={"code": "I"},
        established_on="2001-03-01",
        registered_capital={"amount": "500000000", "currency": "CNY"},
        relationship_manager=RM,
        legal_representative={"name": "王强", "id_number": ID_NUMBER, "phone": MOBILE},
    )
    notifier = Notifier(cfg, registry, store)
    engine = SyncEngine(cfg, registry, store, risk_phase=make_risk_phase(cfg, registry), after_run=notifier.after_run)
    first = await engine.run()
    assert first.status == "succeeded" and first.totals.risk_assessed == 1
    assert servers.sim.inbox == [] and servers.mail.mails == []  # a first rating is no downgrade
    crm.put(
        "Z1",
        established_on="2025-06-01",
        registered_capital={"amount": "100000", "currency": "CNY"},
        industry={"code": "L"},
    )
    second = await engine.run()
    assert second.totals.rating_changes == 1
    with store.begin() as s:
        before, after = [r.rating for r in s.scalars(select(RiskAssessmentRow).order_by(RiskAssessmentRow.id))]
    assert delivery_worse(after, before)
    assert [m.recipients for m in servers.sim.inbox] == [["zhangsan"]]
    assert [m.rcpt_tos for m in servers.mail.mails] == [("risk@bank.example",)]
    texts = servers.wecom_texts() + mail_texts(servers.mail.mails)
    assert_masked(texts)
    # masked everywhere; WeCom markdown shows the mask's stars literally, as full-width ＊
    assert all("138****5678" in t.replace("＊", "*") and f"{before} → " in t and after in t for t in texts)
    entries = log(store)
    assert {e["status"] for e in entries.values()} == {"delivered"}
    assert entries["rating_downgrade/wecom"]["results"] == {"zhangsan": "ok"}
    await engine.run()
    assert len(servers.sim.inbox) == 1 and len(servers.mail.mails) == 1


def delivery_worse(after: str, before: str) -> bool:
    from crmhub.model.client import Rating

    return Rating(after).numeric > Rating(before).numeric


def plan_downgrade(store: Store, cfg: Any) -> dict[str, int]:
    cid = client(store, name=f"上海宝钢贸易有限公司 联系电话 {MOBILE}")
    assess(store, cid, "A", 80.0)
    assess(store, cid, "B", 55.0)
    assert Planner(cfg).plan(store).planned == {"rating_downgrade": 2}
    with store.begin() as s:
        return {r.target: r.id for r in s.scalars(select(Outbox))}


async def test_crash_between_send_and_record_sends_nothing_twice(
    store: Store, registry: Registry, servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each channel sent, then its process died before recording the answer. The next run finds the rows still
    ``sent``: the email (no server-side de-duplication) becomes unconfirmed — reported to operators, never sent
    twice — and the WeCom message is re-sent under WeCom's duplicate check, which absorbs it: still one message."""
    cfg = settings(registry, servers)
    ids = plan_downgrade(store, cfg)

    def crash(*args: Any, **kwargs: Any) -> str:
        raise SimulatedCrash("killed after send returned")

    monkeypatch.setattr(delivery, "record_result", crash)
    async with Notifier(cfg, registry, store) as notifier:
        with pytest.raises(SimulatedCrash):
            await Deliverer(store, cfg.notify, notifier.pool).run(only=[ids["email"]])
    assert len(servers.mail.mails_to("risk@bank.example")) == 1
    assert log(store)["rating_downgrade/email"]["status"] == "sending"
    async with Notifier(cfg, registry, store) as notifier:  # a new process: recovers the email, sends WeCom, dies
        with pytest.raises(SimulatedCrash):
            await Deliverer(store, cfg.notify, notifier.pool).run(only=[ids["wecom"]])
    assert len(servers.sim.inbox) == 1 and len(servers.mail.mails_to("risk@bank.example")) == 1
    entries = log(store)
    assert entries["rating_downgrade/email"]["status"] == "unconfirmed"
    assert entries["rating_downgrade/wecom"]["status"] == "sending"
    monkeypatch.undo()

    async with Notifier(cfg, registry, store) as notifier:
        outcome = await notifier.run(follow_ups=False)
    assert outcome.delivery.resent == 1
    assert len(servers.sim.messages_for("zhangsan")) == 1
    assert any("duplicate" in d.reason for d in servers.sim.dropped)  # re-sent, and WeCom absorbed it
    assert len(servers.mail.mails_to("risk@bank.example")) == 1
    entries = log(store)
    assert entries["rating_downgrade/wecom"]["status"] == "delivered"
    email = entries["rating_downgrade/email"]
    assert email["status"] == "unconfirmed" and email["results"]["risk@bank.example"].startswith("unconfirmed")
    report = servers.mail.mails_to("ops@bank.example")
    assert len(report) == 1 and f"#{ids['email']}" in (report[0].text or "")
    assert_masked(mail_texts(servers.mail.mails) + servers.wecom_texts())
    async with Notifier(cfg, registry, store) as notifier:
        await notifier.run(follow_ups=False)
    assert len(servers.mail.mails) == 2 and len(servers.sim.inbox) == 1


async def test_killed_after_marking_sent_wecom_still_arrives_once(
    store: Store, registry: Registry, servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed after the row was marked sent but before the call went out: the rerun sends it (WeCom would have
    dropped a duplicate), so the RM gets exactly one message."""
    cfg = settings(registry, servers, notify={"rating_downgrade": {"send": [{"channel": "wecom", "to": ["rm"]}]}})
    cid = client(store)
    assess(store, cid, "AA", 85.0)
    assess(store, cid, "CCC", 47.0)
    Planner(cfg).plan(store)

    async def die(self: WecomChannel, message: OutboundMessage) -> DeliveryResult:
        raise SimulatedCrash("killed before the request")

    monkeypatch.setattr(WecomChannel, "send", die)
    with pytest.raises(SimulatedCrash):
        async with Notifier(cfg, registry, store) as notifier:
            await notifier.run(follow_ups=False)
    assert servers.sim.inbox == []
    monkeypatch.undo()
    async with Notifier(cfg, registry, store) as notifier:
        await notifier.run(follow_ups=False)
        await notifier.run(follow_ups=False)
    assert [m.recipients for m in servers.sim.inbox] == [["zhangsan"]]
    assert next(iter(log(store).values()))["attempts"] == 2


async def test_invalid_user_is_recorded_per_recipient_and_reported(
    store: Store, registry: Registry, servers: Servers
) -> None:
    """WeCom's ``invaliduser`` fails that recipient alone (partial); operators get one report of it."""
    cfg = settings(
        registry,
        servers,
        notify={
            "groups": {"rms": ["zhangsan", "ghost.user"], "operators": ["ops@bank.example"]},
            "rating_downgrade": {"send": [{"channel": "wecom", "to": ["rms"]}]},
        },
    )
    cid = client(store)
    assess(store, cid, "AA", 85.0)
    assess(store, cid, "BB", 63.0)
    async with Notifier(cfg, registry, store) as notifier:
        outcome = await notifier.run(follow_ups=False)
    assert outcome.delivery.partial == 1
    entry = log(store)["rating_downgrade/wecom"]
    assert entry["status"] == "partial" and entry["results"]["zhangsan"] == "ok"
    assert "invaliduser" in entry["results"]["ghost.user"]
    assert [m.recipients for m in servers.sim.inbox] == [["zhangsan"]]
    assert len(servers.mail.mails_to("ops@bank.example")) == 1


async def test_configuration_failure_stops_the_channel_without_spending_attempts(
    store: Store, registry: Registry, servers: Servers
) -> None:
    """A wrong WeCom secret stops WeCom for the pass; its row waits (attempts 0) while email still goes out."""
    cfg = settings(registry, servers, wecom={"corp_secret": "wrong-secret"})
    plan_downgrade(store, cfg)
    async with Notifier(cfg, registry, store) as notifier:
        outcome = await notifier.run(follow_ups=False)
    assert "wecom" in outcome.delivery.stopped and outcome.delivery.delivered == 1
    entry = log(store)["rating_downgrade/wecom"]
    assert entry["status"] == "planned" and entry["attempts"] == 0 and entry["error"]
    assert servers.sim.inbox == [] and len(servers.mail.mails) == 1


async def test_unreachable_channel_is_paused_after_one_attempt(
    store: Store, registry: Registry, servers: Servers
) -> None:
    """WeCom down: the message in flight spends one attempt and is retried later; the rest wait untouched, so a
    pass spends at most ``concurrency`` retry cycles against a dead service, not one per message."""
    from crmhub.sandbox.runner import free_port

    cfg = settings(
        registry,
        servers,
        wecom={"base_url": f"http://127.0.0.1:{free_port()}"},
        notify={"concurrency": 1, "rating_downgrade": {"send": [{"channel": "wecom", "to": ["rm"]}]}},
    )
    for n, code in enumerate((U1, "91310000631696382C")):
        cid = client(store, uscc=code, name=f"客户{n}有限公司")
        assess(store, cid, "AA", 85.0)
        assess(store, cid, "B", 55.0)
    async with Notifier(cfg, registry, store) as notifier:
        outcome = await notifier.run(follow_ups=False)
    assert "wecom" in outcome.delivery.paused and outcome.delivery.retrying == 1
    with store.begin() as s:
        states = sorted((r.state, r.attempts) for r in s.scalars(select(Outbox)))
    assert states == [("planned", 0), ("planned", 1)]
