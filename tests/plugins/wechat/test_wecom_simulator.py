"""The WeCom simulator against the design checklist, over real HTTP with a plain httpx client."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from wecom_helpers import StartServer, simulator

from crmhub.sandbox.faults import FaultProfile
from crmhub.sandbox.worldtypes import Company, ContactView, CrmAccountView, OwnerView
from crmhub_wechat.simulator import (
    DEFAULT_AGENT_ID,
    DEFAULT_CORP_ID,
    DEFAULT_OA_APP_ID,
    DEFAULT_OA_FOLLOWERS,
    DEFAULT_OA_SECRET,
    DEFAULT_OA_TEMPLATE,
    DEFAULT_SECRET,
    DEFAULT_WEBHOOK_KEY,
)

SEND = "/cgi-bin/message/send"


def _client(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, timeout=5.0)


def _token(c: httpx.Client) -> str:
    answer = c.get("/cgi-bin/gettoken", params={"corpid": DEFAULT_CORP_ID, "corpsecret": DEFAULT_SECRET}).json()
    assert answer["errcode"] == 0, answer
    token: str = answer["access_token"]
    return token


def _send(c: httpx.Client, token: str | None, body: dict[str, Any]) -> dict[str, Any]:
    params = {"access_token": token} if token is not None else {}
    answer: dict[str, Any] = c.post(SEND, params=params, json=body).json()
    return answer


def _text(to: str = "zhangsan", content: str = "您好，客户评级已调整", **extra: Any) -> dict[str, Any]:
    return {
        "touser": to,
        "toparty": "",
        "totag": "",
        "msgtype": "text",
        "agentid": DEFAULT_AGENT_ID,
        "text": {"content": content},
        **extra,
    }


# --- gettoken ----------------------------------------------------------------------------------------------


def test_gettoken_returns_the_same_token_while_valid_and_rejects_bad_credentials(wecom: StartServer) -> None:
    server = wecom()
    with _client(server.url) as c:
        first = c.get("/cgi-bin/gettoken", params={"corpid": DEFAULT_CORP_ID, "corpsecret": DEFAULT_SECRET})
        answer = first.json()
        assert first.status_code == 200
        assert answer["errcode"] == 0 and answer["errmsg"] == "ok" and answer["expires_in"] == 7200
        assert len(answer["access_token"]) >= 64
        assert _token(c) == answer["access_token"]
        bad_corp = c.get("/cgi-bin/gettoken", params={"corpid": "wwnope", "corpsecret": DEFAULT_SECRET}).json()
        bad_secret = c.get("/cgi-bin/gettoken", params={"corpid": DEFAULT_CORP_ID, "corpsecret": "x"}).json()
    assert bad_corp["errcode"] == 40013 and bad_corp["errmsg"].startswith("invalid corpid")
    assert bad_secret["errcode"] == 40001
    assert [r.errcode for r in simulator(server).rejected] == [40013, 40001]


def test_token_lifetime_expiry_and_a_new_token_after_it(wecom: StartServer) -> None:
    server = wecom(settings={"token_lifetime": 600})
    sim = simulator(server)
    with _client(server.url) as c:
        token = _token(c)
        assert (
            c.get("/cgi-bin/gettoken", params={"corpid": DEFAULT_CORP_ID, "corpsecret": DEFAULT_SECRET}).json()[
                "expires_in"
            ]
            <= 600
        )
        sim.advance(601)
        assert _send(c, token, _text())["errcode"] == 42001
        fresh = _token(c)
        assert fresh != token
        assert _send(c, fresh, _text())["errcode"] == 0


def test_early_invalidation_via_admin_endpoint_and_fault_profile_ttl(wecom: StartServer) -> None:
    server = wecom(faults=FaultProfile(token_ttl=5.0))
    sim = simulator(server)
    with _client(server.url) as c:
        answer = c.get("/cgi-bin/gettoken", params={"corpid": DEFAULT_CORP_ID, "corpsecret": DEFAULT_SECRET}).json()
        assert answer["expires_in"] == 7200  # WeCom still promises 2 h …
        sim.advance(6)
        assert _send(c, answer["access_token"], _text())["errcode"] == 42001  # … but the token died early
        token = _token(c)
        assert c.post("/_sandbox/invalidate-token", json={"errcode": 40014}).json() == {"invalidated": 1}
        assert _send(c, token, _text())["errcode"] == 40014
        assert _send(c, _token(c), _text())["errcode"] == 0


def test_ip_allow_list_answers_60020_with_the_caller_ip(wecom: StartServer) -> None:
    server = wecom(settings={"ip_allowlist": ["10.1.2.3"]})
    with _client(server.url) as c:
        answer = c.get("/cgi-bin/gettoken", params={"corpid": DEFAULT_CORP_ID, "corpsecret": DEFAULT_SECRET}).json()
    assert answer["errcode"] == 60020
    assert "from ip: 127.0.0.1" in answer["errmsg"]


# --- message/send ------------------------------------------------------------------------------------------


def test_token_errors_on_send(wecom: StartServer) -> None:
    server = wecom()
    with _client(server.url) as c:
        assert _send(c, None, _text())["errcode"] == 41001
        assert _send(c, "not-a-token", _text())["errcode"] == 40014


@pytest.mark.parametrize(
    ("change", "errcode"),
    [
        ({"agentid": None}, 41011),
        ({"agentid": 1000099}, 40056),
        ({"msgtype": "voice"}, 40008),
        ({"touser": "", "toparty": "", "totag": ""}, 40035),
        ({"text": {"content": ""}}, 44004),
        ({"text": {"content": "好" * 683}}, 45002),
        ({"touser": "|".join(f"u{i}" for i in range(1001))}, 40032),
    ],
)
def test_send_validation_errcodes(wecom: StartServer, change: dict[str, Any], errcode: int) -> None:
    server = wecom()
    body = {k: v for k, v in {**_text(), **change}.items() if v is not None}
    with _client(server.url) as c:
        answer = _send(c, _token(c), body)
    assert answer["errcode"] == errcode, answer
    assert simulator(server).rejected[-1].errcode == errcode
    assert simulator(server).inbox == []


def test_content_limits_are_utf8_bytes(wecom: StartServer) -> None:
    server = wecom()
    exactly = "好" * 682 + "ab"  # 2,048 bytes
    with _client(server.url) as c:
        token = _token(c)
        assert _send(c, token, _text(content=exactly))["errcode"] == 0
        md = {**_text(), "msgtype": "markdown", "markdown": {"content": exactly + "c"}}
        del md["text"]
        assert _send(c, token, md)["errcode"] == 45002


def test_textcard_fields_are_cut_to_their_limits(wecom: StartServer) -> None:
    server = wecom()
    card = {
        "touser": "lisi",
        "msgtype": "textcard",
        "agentid": DEFAULT_AGENT_ID,
        "textcard": {
            "title": "风险预警" * 20,
            "description": '<div class="gray">2024-05-01</div>',
            "url": "https://x.example/1",
            "btntxt": "查看全部详情",
        },
    }
    with _client(server.url) as c:
        token = _token(c)
        assert _send(c, token, card)["errcode"] == 0
        no_url = {**card, "textcard": {"title": "t", "description": "d"}}
        assert _send(c, token, no_url)["errcode"] == 41010
    entry = simulator(server).inbox[0]
    assert entry.truncated == ["title", "btntxt"]
    assert len(entry.body["textcard"]["title"].encode()) <= 128
    assert entry.body["textcard"]["btntxt"] == "查看全部"


def test_partial_and_total_invalid_recipients(wecom: StartServer) -> None:
    server = wecom(settings={"unlicensed_users": ["wangwu"]})
    with _client(server.url) as c:
        token = _token(c)
        answer = _send(c, token, _text(to="ZhangSan|NoSuchUser|Ghost2|wangwu", toparty="2|99", totag="7"))
        assert answer["errcode"] == 0
        assert answer["invaliduser"] == "nosuchuser|ghost2"
        assert answer["invalidparty"] == "99" and answer["invalidtag"] == "7"
        assert answer["unlicenseduser"] == "wangwu"
        assert answer["msgid"]
        all_bad = _send(c, token, _text(to="Ghost|Nobody"))
    assert all_bad["errcode"] == 81013
    assert all_bad["invaliduser"] == "ghost|nobody"
    entry = simulator(server).inbox[0]
    assert sorted(entry.recipients) == ["lisi", "zhangsan"]  # party 2 = zhangsan, lisi, wangwu (unlicensed)
    assert entry.invalid["invaliduser"] == ["nosuchuser", "ghost2"]


def test_all_three_msgtypes_are_stored_verbatim(wecom: StartServer) -> None:
    server = wecom()
    bodies = [
        _text(),
        {
            "touser": "zhangsan",
            "msgtype": "markdown",
            "agentid": DEFAULT_AGENT_ID,
            "markdown": {"content": '**评级下调** <font color="warning">B</font>'},
        },
        {
            "touser": "zhangsan",
            "msgtype": "textcard",
            "agentid": DEFAULT_AGENT_ID,
            "textcard": {
                "title": "风险预警",
                "description": '<div class="highlight">大额交易</div>',
                "url": "https://crm.bank.example/alerts/42",
                "btntxt": "详情",
            },
        },
    ]
    with _client(server.url) as c:
        token = _token(c)
        for body in bodies:
            assert _send(c, token, body)["errcode"] == 0
        inbox = c.get("/_sandbox/inbox").json()
    assert [m["body"] for m in inbox["messages"]] == bodies
    assert [m["msgtype"] for m in inbox["messages"]] == ["text", "markdown", "textcard"]
    assert all(m["channel"] == "app" and m["token"] == token and m["time"] for m in inbox["messages"])
    assert simulator(server).messages_for("ZHANGSAN")[1].content.startswith("**评级下调**")


def test_duplicate_check_drops_an_identical_message_within_the_interval(wecom: StartServer) -> None:
    server = wecom()
    sim = simulator(server)
    body = _text(enable_duplicate_check=1, duplicate_check_interval=600)
    with _client(server.url) as c:
        token = _token(c)
        first, second = _send(c, token, body), _send(c, token, body)
        assert first["errcode"] == second["errcode"] == 0 and first["msgid"] == second["msgid"]
        assert len(sim.inbox) == 1 and sim.dropped[0].reason.startswith("duplicate")
        sim.advance(601)
        assert _send(c, token, body)["msgid"] != first["msgid"]
        plain = _text(content="no duplicate check")
        _send(c, token, plain)
        _send(c, token, plain)
    assert len(sim.inbox) == 4


def test_api_rate_answers_45009_past_the_configured_rate(wecom: StartServer) -> None:
    server = wecom(settings={"api_calls_per_minute": 4})
    sim = simulator(server)
    with _client(server.url) as c:
        token = _token(c)  # call 1
        codes = [_send(c, token, _text(content=f"m{i}"))["errcode"] for i in range(4)]
        assert codes == [0, 0, 0, 45009]
        assert (
            c.get("/cgi-bin/gettoken", params={"corpid": DEFAULT_CORP_ID, "corpsecret": DEFAULT_SECRET}).json()[
                "errcode"
            ]
            == 45009
        )
        sim.advance(60)
        assert _send(c, token, _text(content="later"))["errcode"] == 0


def test_silent_drop_past_30_a_minute_per_member(wecom: StartServer) -> None:
    server = wecom()
    sim = simulator(server)
    with _client(server.url) as c:
        token = _token(c)
        answers = [
            _send(c, token, _text(to="zhangsan|lisi" if i < 5 else "zhangsan", content=f"#{i}")) for i in range(35)
        ]
        assert all(a["errcode"] == 0 and not a["invaliduser"] for a in answers)  # WeCom says nothing …
        assert len(sim.messages_for("zhangsan")) == 30  # … but only 30 arrive
        assert len(sim.messages_for("lisi")) == 5
        dropped = c.get("/_sandbox/inbox").json()["dropped"]
        assert [d["recipient"] for d in dropped] == ["zhangsan"] * 5
        assert "30 messages/min" in dropped[0]["reason"]
        sim.advance(60)
        _send(c, token, _text(content="next minute"))
    assert len(sim.messages_for("zhangsan")) == 31


def test_silent_drop_past_1000_an_hour_per_member(wecom: StartServer) -> None:
    server = wecom(settings={"per_user_per_hour": 3})
    sim = simulator(server)
    with _client(server.url) as c:
        token = _token(c)
        for i in range(4):
            _send(c, token, _text(content=f"#{i}"))
            sim.advance(61)
    assert len(sim.messages_for("zhangsan")) == 3
    assert "messages/h" in sim.dropped[0].reason


def test_directory_includes_world_owners_and_contacts(wecom: StartServer) -> None:
    from datetime import UTC, datetime

    def view(system: str, owner: str, contact: str) -> CrmAccountView:
        now = datetime(2024, 1, 1, tzinfo=UTC)
        return CrmAccountView(
            system=system,
            source_id="1",
            company_key=1,
            name="北京星河科技有限公司",
            uscc=None,
            phone=None,  # type: ignore[arg-type]
            email=None,
            website=None,
            province=None,
            city=None,
            district=None,
            street=None,
            postcode=None,
            industry_code=None,
            legal_representative=None,
            registered_capital=None,
            annual_revenue=None,
            currency="CNY",
            employees=None,
            established_on=None,
            owner=OwnerView("张伟", owner, f"{owner}@b.example"),
            created_at=now,
            modified_at=now,
            contacts=[ContactView("c1", "李雷", wecom_user_id=contact)],
        )

    class World:
        def companies(self, *, ledger_detail: bool = True) -> list[Company]:
            return [
                Company(
                    key=1,
                    uscc="x",
                    name="n",
                    profile="healthy",
                    zoho=view("zoho", "zhangwei", "wmABC"),
                    fxiaoke=view("fxiaoke", "wangfang", "wmDEF"),
                )
            ]

    server = wecom(world=World(), settings={"users": ["extra01"]})
    with _client(server.url) as c:
        answer = _send(c, _token(c), _text(to="zhangwei|wangfang|wmABC|wmDEF|extra01|zhangsan|stranger"))
        users = {u["userid"] for u in c.get("/_sandbox/directory").json()["users"]}
    assert answer["invaliduser"] == "stranger"
    assert {"zhangwei", "wangfang", "wmABC", "wmDEF", "extra01", "zhangsan"} <= users


# --- group robot -------------------------------------------------------------------------------------------


def test_robot_key_limits_and_rate(wecom: StartServer) -> None:
    server = wecom()
    sim = simulator(server)
    hook = "/cgi-bin/webhook/send"
    with _client(server.url) as c:
        bad = c.post(hook, params={"key": "0000"}, json={"msgtype": "text", "text": {"content": "x"}}).json()
        assert bad["errcode"] == 93000
        text_ok = {"msgtype": "text", "text": {"content": "同" * 682 + "ab", "mentioned_list": ["@all"]}}
        text_long = {"msgtype": "text", "text": {"content": "同" * 683}}
        md_ok = {"msgtype": "markdown", "markdown": {"content": "同" * 1365 + "a"}}
        md_long = {"msgtype": "markdown", "markdown": {"content": "同" * 1366}}
        answers = [
            c.post(hook, params={"key": DEFAULT_WEBHOOK_KEY}, json=b).json()["errcode"]
            for b in (text_ok, text_long, md_ok, md_long)
        ]
        assert answers == [0, 45002, 0, 45002]
        codes = [
            c.post(
                hook,
                params={"key": DEFAULT_WEBHOOK_KEY},
                json={"msgtype": "markdown", "markdown": {"content": f"# {i}"}},
            ).json()["errcode"]
            for i in range(19)
        ]
        assert codes == [0] * 18 + [45009]  # 2 + 18 = 20 in the rolling minute
        sim.advance(60)
        assert (
            c.post(
                hook, params={"key": DEFAULT_WEBHOOK_KEY}, json={"msgtype": "text", "text": {"content": "ok again"}}
            ).json()["errcode"]
            == 0
        )
    robot = sim.messages_for("robot:1")
    assert len(robot) == 21 and robot[0].body == text_ok


# --- Official Account --------------------------------------------------------------------------------------


def test_official_account_token_and_template_messages(wecom: StartServer) -> None:
    server = wecom()
    sim = simulator(server)
    follower = DEFAULT_OA_FOLLOWERS[0]

    def body(**change: Any) -> dict[str, Any]:
        data = {k: {"value": "值"} for k in ("keyword1", "keyword2", "keyword3")}
        return {"touser": follower, "template_id": DEFAULT_OA_TEMPLATE, "data": data, **change}

    with _client(server.url) as c:
        answer = c.get(
            "/cgi-bin/token",
            params={"grant_type": "client_credential", "appid": DEFAULT_OA_APP_ID, "secret": DEFAULT_OA_SECRET},
        ).json()
        assert "errcode" not in answer and answer["expires_in"] == 7200
        assert (
            c.get(
                "/cgi-bin/token",
                params={"grant_type": "client_credential", "appid": "wxbad", "secret": DEFAULT_OA_SECRET},
            ).json()["errcode"]
            == 40013
        )
        token = answer["access_token"]
        send = "/cgi-bin/message/template/send"

        def post(b: dict[str, Any], t: str = token) -> dict[str, Any]:
            result: dict[str, Any] = c.post(send, params={"access_token": t}, json=b).json()
            return result

        ok = post(body(client_msg_id="k1"))
        assert ok["errcode"] == 0 and isinstance(ok["msgid"], int)
        assert post(body(client_msg_id="k1"))["msgid"] == ok["msgid"]  # de-duplicated
        assert post(body(template_id="nope"))["errcode"] == 40037
        assert post(body(touser="oCRMhubFormerFollower000001"))["errcode"] == 43004
        assert post(body(data={"keyword1": {"value": "x"}}))["errcode"] == 47003
        assert post(body(touser="oUnknown"))["errcode"] == 40003
        # a new OA token retires the old one after a grace period
        newer = c.get(
            "/cgi-bin/token",
            params={"grant_type": "client_credential", "appid": DEFAULT_OA_APP_ID, "secret": DEFAULT_OA_SECRET},
        ).json()["access_token"]
        assert newer != token and post(body(), token)["errcode"] == 0
        sim.advance(301)
        assert post(body(), token)["errcode"] == 42001
        assert post(body(), newer)["errcode"] == 0
    assert len(sim.messages_for(follower)) == 3
    assert sim.dropped[0].reason == "duplicate client_msg_id"


# --- inbox API, clock, faults ------------------------------------------------------------------------------


def test_inbox_requests_and_clock_endpoints(wecom: StartServer) -> None:
    server = wecom()
    with _client(server.url) as c:
        token = _token(c)
        _send(c, token, _text())
        _send(c, "bad", _text())
        inbox = c.get("/_sandbox/inbox", params={"recipient": "zhangsan"}).json()
        requests = c.get("/_sandbox/requests").json()["requests"]
        before = inbox["now"]
        after = c.post("/_sandbox/clock", json={"advance_seconds": 3600}).json()["now"]
        assert c.post("/_sandbox/clock", json={}).status_code == 400
    assert len(inbox["messages"]) == 1 and inbox["messages"][0]["recipients"] == ["zhangsan"]
    assert inbox["rejected"][0]["errcode"] == 40014 and inbox["rejected"][0]["body"]["touser"] == "zhangsan"
    assert requests[0]["path"] == "/cgi-bin/gettoken" and requests[0]["params"]["corpsecret"] == "***"
    assert [r["errcode"] for r in requests] == [0, 0, 40014]
    assert after > before


def test_wechatpy_style_body_without_content_type_is_parsed(wecom: StartServer) -> None:
    server = wecom()
    with _client(server.url) as c:
        raw = '{"touser": "zhangsan", "msgtype": "text", "agentid": 1000002, "text": {"content": "你好"}}'
        answer = c.post(SEND, params={"access_token": _token(c)}, content=raw.encode()).json()
        broken = c.post(SEND, params={"access_token": _token(c)}, content=b"{not json").json()
    assert answer["errcode"] == 0
    assert broken["errcode"] == 47001


@pytest.mark.parametrize(
    ("faults", "settings", "errcode"),
    [
        (FaultProfile(busy_rate=1.0), {}, -1),
        (FaultProfile(throttle_rate=1.0), {}, 45009),
        (None, {"concurrency_fault_rate": 1.0}, 45033),
    ],
)
def test_fault_profiles_answer_in_wecom_shape(
    wecom: StartServer, faults: FaultProfile | None, settings: dict[str, Any], errcode: int
) -> None:
    server = wecom(faults=faults, settings=settings)
    with _client(server.url) as c:
        response = c.get("/cgi-bin/gettoken", params={"corpid": DEFAULT_CORP_ID, "corpsecret": DEFAULT_SECRET})
        assert response.status_code == 200 and response.json()["errcode"] == errcode
        assert c.get("/_sandbox/inbox").status_code == 200  # operator endpoints are exempt
    assert simulator(server).requests[0].errcode == errcode


def test_latency_and_dropped_connections(wecom: StartServer) -> None:
    slow = wecom(faults=FaultProfile(latency_ms=80.0))
    with _client(slow.url) as c:
        started = time.perf_counter()
        _token(c)
        assert time.perf_counter() - started >= 0.08
    dropping = wecom(faults=FaultProfile(drop_rate=1.0))
    with _client(dropping.url) as c, pytest.raises(httpx.TransportError):
        c.get("/cgi-bin/gettoken", params={"corpid": DEFAULT_CORP_ID, "corpsecret": DEFAULT_SECRET})


def test_unknown_settings_are_errors_naming_the_known_ones() -> None:
    from crmhub.contract import SandboxOptions
    from crmhub_wechat.simulator import settings_for

    with pytest.raises(ValueError, match=r"per_user_per_minutes.*known: .*per_user_per_minute"):
        settings_for(SandboxOptions(base_url="http://x", settings={"per_user_per_minutes": 5}))
    nested = settings_for(SandboxOptions(base_url="http://x", settings={"wechat_work": {"users": {"Extra": "E"}}}))
    assert nested.users["Extra"] == "E" and "zhangsan" in nested.users
