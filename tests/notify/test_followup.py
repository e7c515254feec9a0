"""Follow-up visit reminders (定期回访): due per segment interval, one per period, reset by a recorded interaction —
delivered to the relationship manager through the real WeCom simulator."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from crmhub.notify.followup import current_due, record_interaction
from crmhub.notify.service import Notifier
from crmhub.plugins import Registry
from crmhub.store import Store
from crmhub.store.tables import GoldenClient

from .helpers import MOBILE, U1, U2, Servers, assert_masked, client, settings

SHANGHAI = ZoneInfo("Asia/Shanghai")
BASE = datetime.now(SHANGHAI).date() - timedelta(days=150)


def at(day: date, hour: int = 10) -> datetime:
    """``day`` at ``hour`` o'clock in Shanghai, as an aware UTC datetime."""
    return datetime.combine(day, time(hour), SHANGHAI).astimezone(UTC)


def uscc(n: int) -> str:
    from crmhub.model import uscc as uscc_mod

    return uscc_mod.make("91110000", f"{n:08d}")


def test_current_due_counts_whole_periods() -> None:
    """The due date of the latest period that has come; none before the first; lead days remind early."""
    last = date(2026, 1, 1)
    assert current_due(last, 30, date(2026, 1, 30)) is None
    assert current_due(last, 30, date(2026, 1, 31)) == date(2026, 1, 31)
    assert current_due(last, 30, date(2026, 3, 1)) == date(2026, 1, 31)
    assert current_due(last, 30, date(2026, 3, 2)) == date(2026, 3, 2)
    assert current_due(last, 30, date(2026, 1, 28), lead_days=3) == date(2026, 1, 31)


async def test_reminders_per_segment_once_per_period_reset_by_a_visit(
    store: Store, registry: Registry, servers: Servers
) -> None:
    """High (30 d) and low (182 d) clients past their interval are reminded; medium (91 d) and recently visited
    ones are not; a rerun in the same period sends nothing; a recorded visit moves the next reminder."""
    cfg = settings(registry, servers)
    lisi = {"name": "李四", "user_id": "lisi"}
    high = client(
        store,
        uscc=U1,
        name="北京星河科技有限公司",
        segment="high",
        created=at(BASE - timedelta(days=40)),
        contacts=[{"name": "赵敏", "mobile": MOBILE, "is_primary": True}],
    )
    low = client(
        store, uscc=U2, name="上海宝钢贸易有限公司", segment="low", created=at(BASE - timedelta(days=190)), rm=lisi
    )
    client(
        store,
        uscc=uscc(3),
        name="广州南方物流有限公司",
        segment="medium",
        created=at(BASE - timedelta(days=40)),
        rm={"name": "赵六", "user_id": "zhaoliu"},
    )
    visited = client(
        store,
        uscc=uscc(4),
        name="深圳前海科技有限公司",
        segment="high",
        created=at(BASE - timedelta(days=100)),
        rm={"name": "王五", "user_id": "wangwu"},
    )
    client(store, uscc=uscc(5), name="杭州未分层有限公司", segment=None, created=at(BASE - timedelta(days=400)))
    with store.begin() as s:
        record_interaction(s, s.get(GoldenClient, visited), "visit", at=at(BASE - timedelta(days=3)), by="王五")

    async def run(day: date) -> list[str]:
        """Recipients of the reminders one `notify run` on ``day`` delivers."""
        before = len(servers.sim.inbox)
        async with Notifier(cfg, registry, store, today=day) as notifier:
            await notifier.run()
        return sorted(m.recipients[0] for m in servers.sim.inbox[before:])

    assert await run(BASE) == ["lisi", "zhangsan"]  # high after 40 days, low after 190 days
    high_text = next(m.content for m in servers.sim.inbox if m.recipients == ["zhangsan"])
    assert "北京星河科技有限公司" in high_text and (BASE - timedelta(days=10)).isoformat() in high_text
    assert "138＊＊＊＊5678" in high_text  # masked; WeCom markdown shows the stars literally (full-width)
    assert_masked(servers.wecom_texts())
    assert await run(BASE) == [] and await run(BASE + timedelta(days=5)) == []  # same period: once

    with store.begin() as s:
        record_interaction(s, s.get(GoldenClient, high), "visit", at=at(BASE + timedelta(days=6)), by="张三")
    assert await run(BASE + timedelta(days=25)) == []  # 19 days after the visit; others not due yet
    assert await run(BASE + timedelta(days=36)) == ["wangwu", "zhangsan"]  # 30 days after each one's last visit
    latest = next(m.content for m in reversed(servers.sim.inbox) if m.recipients == ["zhangsan"])
    assert (BASE + timedelta(days=36)).isoformat() in latest and "张三" in latest
    assert await run(BASE + timedelta(days=40)) == []
    # no visit since: the next period for both highs; the medium one is due 91 days after its creation
    assert await run(BASE + timedelta(days=66)) == ["wangwu", "zhangsan", "zhaoliu"]
    assert low and await run(BASE + timedelta(days=66)) == []


async def test_intervals_are_configurable_and_rm_without_wecom_is_logged(
    store: Store, registry: Registry, servers: Servers
) -> None:
    """``[notify.follow_up] intervals`` overrides a segment; a client whose RM has no WeCom id gets a skipped
    log row instead of a message; ``max_per_run`` bounds one pass."""
    cfg = settings(registry, servers, notify={"follow_up": {"intervals": {"medium": 10}, "max_per_run": 1}})
    first = client(store, uscc=U1, segment="medium", created=at(BASE - timedelta(days=12)))
    client(store, uscc=U2, segment="medium", created=at(BASE - timedelta(days=12)), rm={"name": "无账号"})
    async with Notifier(cfg, registry, store, today=BASE) as notifier:
        one = await notifier.run()
        two = await notifier.run()
    assert one.plan.planned == {"follow_up": 1} and two.plan.skipped == {"follow_up": 1}
    assert [m.recipients for m in servers.sim.inbox] == [["zhangsan"]]
    assert "客户跟进提醒" in servers.sim.inbox[0].content and first
