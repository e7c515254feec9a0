"""`WecomChannel` against the real WeCom simulator over loopback HTTP."""

from __future__ import annotations

import asyncio
import time

import pytest
from wecom_helpers import StartServer, channel_config, make_channel, simulator

from crmhub.contract import OutboundMessage
from crmhub.errors import AuthError, FatalError
from crmhub.sandbox.faults import FaultProfile
from crmhub_wechat.simulator import DEFAULT_OA_FOLLOWERS

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def resident_id(body17: str = "11010519491231002") -> str:
    """A resident ID number with a correct GB 11643 check character."""
    return body17 + "10X98765432"[sum(int(c) * w for c, w in zip(body17, _WEIGHTS, strict=True)) % 11]


ID_NUMBER = resident_id()
MOBILE = "13812345678"
ACCOUNT = "6222021234567890123"
PERSONAL = f"法定代表人身份证 {ID_NUMBER}，手机 {MOBILE}，账号 {ACCOUNT}。详情 https://crm.bank.example/clients/42"


def message(
    key: str = "n-1", *recipients: str, text: str = PERSONAL, markdown: str | None = None, subject: str = "客户评级下调"
) -> OutboundMessage:
    return OutboundMessage(
        key=key,
        recipients=list(recipients) or ["zhangsan"],
        subject=subject,
        text=text,
        markdown=markdown,
        kind="rating_downgrade",
    )


def assert_masked(content: str) -> None:
    assert ID_NUMBER not in content and MOBILE not in content and ACCOUNT not in content
    assert "138****5678" in content and "622202*********0123" in content and ID_NUMBER[0] + "*" * 16 in content


@pytest.mark.parametrize("msgtype", ["markdown", "text", "textcard"])
async def test_each_msgtype_arrives_once_with_personal_data_masked(wecom: StartServer, msgtype: str) -> None:
    server = wecom()
    async with make_channel(server, msgtype=msgtype) as channel:
        result = await channel.send(message())
    assert result.status == "delivered" and result.recipients == {"zhangsan": "ok"}
    assert result.answer.startswith("msgid=")
    inbox = simulator(server).inbox
    assert len(inbox) == 1 and inbox[0].msgtype == msgtype and inbox[0].recipients == ["zhangsan"]
    assert_masked(inbox[0].content)
    assert inbox[0].body["enable_duplicate_check"] == 1
    if msgtype == "textcard":
        card = inbox[0].body["textcard"]
        assert card["url"] == "https://crm.bank.example/clients/42" and card["title"] == "客户评级下调"
        assert inbox[0].truncated == []
    if msgtype == "markdown":
        assert inbox[0].content.startswith("**客户评级下调**")


async def test_invalid_users_are_reported_per_recipient_case_insensitively(wecom: StartServer) -> None:
    server = wecom(settings={"unlicensed_users": ["wangwu"]})
    async with make_channel(server) as channel:
        result = await channel.send(message("n-2", "ZhangSan", "Ghost", "wangwu", "party:2", "tag:77", "bad id!"))
    assert result.status == "partial"
    assert result.recipients["ZhangSan"] == "ok" and result.recipients["party:2"] == "ok"
    assert "invaliduser" in result.recipients["Ghost"]
    assert "unlicenseduser" in result.recipients["wangwu"]
    assert "invalidtag" in result.recipients["tag:77"]
    assert "not a WeCom recipient" in result.recipients["bad id!"]
    assert not result.retriable
    assert list(result.recipients) == ["ZhangSan", "Ghost", "wangwu", "party:2", "tag:77", "bad id!"]


async def test_all_recipients_invalid_is_a_failed_record_not_an_exception(wecom: StartServer) -> None:
    server = wecom()
    async with make_channel(server) as channel:
        result = await channel.send(message("n-3", "ghost1", "ghost2"))
    assert result.status == "failed" and not result.retriable
    assert all("81013" in reason for reason in result.recipients.values())


async def test_token_expiring_mid_run_is_refreshed_once(wecom: StartServer) -> None:
    server = wecom()
    sim = simulator(server)
    async with make_channel(server) as channel:
        assert (await channel.send(message("a", text="第一条"))).status == "delivered"
        sim.invalidate_tokens(42001)
        assert (await channel.send(message("b", text="第二条"))).status == "delivered"
    assert sim.count("/cgi-bin/gettoken") == 2
    assert [r.errcode for r in sim.rejected] == [42001]
    assert len(sim.inbox) == 2


async def test_a_server_rejecting_every_token_fails_after_bounded_attempts(wecom: StartServer) -> None:
    server = wecom()
    sim = simulator(server)
    sim.invalidate_tokens(40014, persistent=True)
    async with make_channel(server, token_refresh_attempts=2) as channel:
        with pytest.raises(FatalError) as caught:
            await channel.send(message())
    assert "rejected 3 access token(s) in a row" in str(caught.value) and "40014" in str(caught.value)
    assert sim.count("/cgi-bin/gettoken") == 3 and sim.count("/cgi-bin/message/send") == 3
    assert sim.inbox == []


async def test_45009_backs_off_then_delivers(wecom: StartServer) -> None:
    server = wecom(settings={"api_calls_per_minute": 3, "rate_window_seconds": 0.5})
    sim = simulator(server)
    async with make_channel(server, retry_base_delay=0.2) as channel:
        results = [await channel.send(message(f"k{i}", text=f"第 {i} 条")) for i in range(4)]
        throttled = channel.context.metrics.throttled
    assert [r.status for r in results] == ["delivered"] * 4
    assert 45009 in [r.errcode for r in sim.rejected] and throttled >= 1
    assert len(sim.inbox) == 4


async def test_pacing_keeps_the_silent_drop_counter_at_zero(wecom: StartServer) -> None:
    window = 0.5  # a scaled "minute": the simulator drops past 30 per 0.5 s, the channel sends ≤ 25 per 0.5 s
    server = wecom(settings={"rate_window_seconds": window})
    sim = simulator(server)
    async with make_channel(server, rate_window_seconds=window, duplicate_check=False) as channel:
        started = time.perf_counter()
        results = await asyncio.gather(*(channel.send(message(f"p{i}", text=f"提醒 {i}")) for i in range(40)))
        elapsed = time.perf_counter() - started
    assert all(r.status == "delivered" for r in results)
    assert sim.dropped == []
    assert len(sim.messages_for("zhangsan")) == 40
    assert elapsed >= window  # 40 > 25 per window, so the channel had to wait


async def test_without_pacing_the_simulator_drops_silently(wecom: StartServer) -> None:
    """The control for the test above: a channel that paces for a much shorter window loses messages."""
    server = wecom(settings={"rate_window_seconds": 5.0})
    sim = simulator(server)
    async with make_channel(server, rate_window_seconds=0.001, duplicate_check=False) as channel:
        results = await asyncio.gather(*(channel.send(message(f"q{i}", text=f"提醒 {i}")) for i in range(40)))
    assert all(r.status == "delivered" for r in results)  # accepted by WeCom …
    assert len(sim.dropped) == 10  # … yet 10 never arrived


async def test_concurrent_sends_share_one_token(wecom: StartServer) -> None:
    server = wecom()
    async with make_channel(server) as channel:
        await asyncio.gather(*(channel.send(message(f"c{i}", "lisi", text=f"#{i}")) for i in range(10)))
    assert simulator(server).count("/cgi-bin/gettoken") == 1


async def test_long_markdown_is_split_on_character_boundaries(wecom: StartServer) -> None:
    server = wecom()
    long_text = "\n".join(f"第{i}行：北京星河科技有限公司授信额度调整说明" for i in range(150))
    async with make_channel(server, max_parts=3) as channel:
        result = await channel.send(message("long", text=long_text))
    assert result.status == "delivered" and result.answer.count("msgid=") == 3
    parts = [m.content for m in simulator(server).inbox]
    assert [p[:6] for p in parts] == ["(1/3) ", "(2/3) ", "(3/3) "]
    assert all(len(p.encode()) <= 2048 for p in parts)
    assert parts[-1].endswith("…")


async def test_robot_delivery_and_93000_is_fatal_without_leaking_the_key(wecom: StartServer) -> None:
    server = wecom()
    sim = simulator(server)
    async with make_channel(server, robot_mentions=["zhangsan"]) as channel:
        result = await channel.send(message("r1", "@robot", "lisi"))
    assert result.status == "delivered" and result.recipients == {"@robot": "ok", "lisi": "ok"}
    robot = sim.messages_for("robot:1")[0]
    assert robot.msgtype == "markdown" and robot.content.endswith("<@zhangsan>")
    assert_masked(robot.content)
    wrong_key = "deadbeef-0000-0000-0000-000000000000"
    async with make_channel(server, webhook_key=f"{server.url}/cgi-bin/webhook/send?key={wrong_key}") as channel:
        with pytest.raises(FatalError) as caught:
            await channel.send(message("r2", "@robot"))
        partial = await channel.send(message("r3", "@robot", "lisi"))
    assert "93000" in str(caught.value) and "webhook_key" in str(caught.value)
    assert wrong_key not in str(caught.value) and wrong_key not in repr(channel.config)
    assert partial.status == "partial" and partial.recipients["lisi"] == "ok"
    assert partial.recipients["@robot"].startswith("fatal: ")


async def test_retry_of_a_partial_delivery_only_goes_to_the_missing_recipients(wecom: StartServer) -> None:
    server = wecom()
    sim = simulator(server)
    async with make_channel(server) as channel:
        first = await channel.send(message("same-key", "zhangsan", "ghost"))
        again = await channel.send(message("same-key", "zhangsan", "ghost"))
    assert first.status == again.status == "partial"
    assert again.recipients["zhangsan"] == "ok"
    assert len(sim.messages_for("zhangsan")) == 1
    assert sim.rejected[-1].errcode == 81013  # the retry went to "ghost" alone


async def test_official_account_template_messages(wecom: StartServer) -> None:
    server = wecom()
    sim = simulator(server)
    follower = DEFAULT_OA_FOLLOWERS[0]
    async with make_channel(server) as channel:
        result = await channel.send(message("oa-1", f"oa:{follower}", "oa:oCRMhubFormerFollower000001"))
    assert result.recipients[f"oa:{follower}"] == "ok"
    assert "43004" in result.recipients["oa:oCRMhubFormerFollower000001"]
    delivered = sim.messages_for(follower)[0]
    assert delivered.body["client_msg_id"] == "oa-1"
    assert_masked(delivered.content)


async def test_at_all_is_refused_unless_allowed(wecom: StartServer) -> None:
    server = wecom()
    async with make_channel(server) as channel:
        refused = await channel.send(message("all-1", "@all"))
    async with make_channel(server, allow_at_all=True) as channel:
        allowed = await channel.send(message("all-2", "@all"))
    assert refused.status == "failed" and "allow_at_all" in refused.recipients["@all"]
    assert allowed.status == "delivered"
    assert len(simulator(server).inbox[0].recipients) == 5


async def test_check_gives_a_clear_verdict_without_sending(wecom: StartServer) -> None:
    server = wecom()
    async with make_channel(server) as channel:
        ok = await channel.check()
    async with make_channel(server, corp_secret="wrong") as channel:
        bad_secret = await channel.check()
    async with make_channel(server, agent_id=1000099) as channel:
        bad_agent = await channel.check()
    assert ok.ok and "1000002" in ok.message and ok.details["visible_users"] == 5
    assert not bad_secret.ok and "40001" in bad_secret.message and "corp_secret" in bad_secret.message
    assert "wrong" not in bad_secret.message
    assert not bad_agent.ok and "40056" in bad_agent.message and "agent_id" in bad_agent.message
    assert simulator(server).inbox == []


async def test_ip_not_allowed_is_an_auth_error_naming_the_ip(wecom: StartServer) -> None:
    server = wecom(settings={"ip_allowlist": ["10.9.8.7"]})
    async with make_channel(server) as channel:
        verdict = await channel.check()
        with pytest.raises(AuthError) as caught:
            await channel.send(message())
    assert not verdict.ok and "127.0.0.1" in verdict.message and "企业可信IP" in verdict.message
    assert "127.0.0.1" in str(caught.value)


def test_config_hides_secrets_and_reduces_a_webhook_url_to_its_key(wecom: StartServer) -> None:
    server = wecom()
    config = channel_config(server, webhook_key="https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc-123")
    assert config.webhook_key is not None and config.webhook_key.get_secret_value() == "abc-123"
    shown = repr(config) + str(config.model_dump())
    assert "abc-123" not in shown and config.corp_secret.get_secret_value() not in shown


async def test_hostile_network_delivers_every_message_exactly_once(wecom: StartServer) -> None:
    """Busy, throttled, 502 and dropped-mid-answer responses: retried until delivered, and a retry of a message
    WeCom had already accepted is absorbed by the duplicate check — every message arrives exactly once."""
    server = wecom(faults=FaultProfile(busy_rate=0.1, throttle_rate=0.1, error_rate=0.05, drop_rate=0.1, seed=7))
    sim = simulator(server)
    async with make_channel(server, retry_attempts=10, retry_base_delay=0.01) as channel:
        results = [await channel.send(message(f"h{i}", "lisi", text=f"通知 {i}")) for i in range(25)]
    assert all(r.status == "delivered" for r in results)
    contents = [m.content for m in sim.messages_for("lisi")]
    assert sorted(contents) == sorted(f"**客户评级下调**\n通知 {i}" for i in range(25))
    faults = server.app.faults.stats
    assert faults.busy and faults.throttled and faults.dropped
    assert any(d.reason.startswith("duplicate") for d in sim.dropped)  # a dropped answer was retried safely


async def test_secrets_in_query_strings_never_reach_the_logs(
    wecom: StartServer, caplog: pytest.LogCaptureFixture
) -> None:
    server = wecom()
    caplog.set_level("DEBUG")
    async with make_channel(server) as channel:
        await channel.send(message("log-1", "lisi", "@robot", text="日志"))
    config = channel.config
    assert "webhook/send" in caplog.text and "gettoken" in caplog.text  # httpx did log the calls …
    secrets = [config.corp_secret.get_secret_value(), simulator(server).inbox[0].token or "?"]
    assert config.webhook_key is not None
    secrets.append(config.webhook_key.get_secret_value())
    assert not [s for s in secrets if s in caplog.text]  # … with every credential masked
