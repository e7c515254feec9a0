"""A real, independent WeCom client as witness: wechatpy's normal calls must work against the simulator with only
its base URL changed. If they fail, the simulator is wrong until shown otherwise.

wechatpy hard-codes the real token URL in ``fetch_access_token``, so the subclasses below override that method
and ``API_BASE_URL`` and nothing else.
"""

from __future__ import annotations

from typing import Any

import pytest
from wecom_helpers import StartServer, simulator

from crmhub_wechat.simulator import (
    DEFAULT_AGENT_ID,
    DEFAULT_CORP_ID,
    DEFAULT_OA_APP_ID,
    DEFAULT_OA_FOLLOWERS,
    DEFAULT_OA_SECRET,
    DEFAULT_OA_TEMPLATE,
    DEFAULT_SECRET,
)

wechatpy = pytest.importorskip("wechatpy")
from wechatpy import WeChatClient as OfficialAccountClient  # noqa: E402
from wechatpy.enterprise import WeChatClient  # noqa: E402
from wechatpy.exceptions import APILimitedException, WeChatClientException  # noqa: E402


class SandboxWeCom(WeChatClient):  # type: ignore[misc]
    """wechatpy's WeCom client pointed at the simulator."""

    def __init__(self, base_url: str, corp_id: str = DEFAULT_CORP_ID, secret: str = DEFAULT_SECRET) -> None:
        self.API_BASE_URL = f"{base_url}/cgi-bin/"
        super().__init__(corp_id, secret, timeout=5)

    def fetch_access_token(self) -> Any:
        return self._fetch_access_token(
            url=f"{self.API_BASE_URL}gettoken", params={"corpid": self.corp_id, "corpsecret": self.secret}
        )


class SandboxOfficialAccount(OfficialAccountClient):  # type: ignore[misc]
    """wechatpy's Official Account client pointed at the simulator."""

    def __init__(self, base_url: str) -> None:
        self.API_BASE_URL = f"{base_url}/cgi-bin/"
        super().__init__(DEFAULT_OA_APP_ID, DEFAULT_OA_SECRET, timeout=5)

    def fetch_access_token(self) -> Any:
        return self._fetch_access_token(
            url=f"{self.API_BASE_URL}token",
            params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
        )


def test_wechatpy_sends_text_markdown_and_textcard(wecom: StartServer) -> None:
    server = wecom()
    client = SandboxWeCom(server.url)
    text = client.message.send_text(DEFAULT_AGENT_ID, ["zhangsan", "lisi"], "您好，客户评级已调整")
    markdown = client.message.send_markdown(DEFAULT_AGENT_ID, "zhangsan", '**评级下调** <font color="warning">B</font>')
    card = client.message.send_text_card(
        DEFAULT_AGENT_ID,
        "zhangsan",
        "风险预警",
        '<div class="highlight">大额交易</div>',
        "https://crm.bank.example/a/42",
    )
    for answer in (text, markdown, card):
        assert answer["errcode"] == 0 and answer["msgid"]
    inbox = simulator(server).inbox
    assert [m.msgtype for m in inbox] == ["text", "markdown", "textcard"]
    assert inbox[0].recipients == ["zhangsan", "lisi"]
    assert inbox[2].body["textcard"]["btntxt"] == "详情"


def test_wechatpy_sees_invalid_users_and_the_app(wecom: StartServer) -> None:
    server = wecom()
    client = SandboxWeCom(server.url)
    answer = client.message.send_text(DEFAULT_AGENT_ID, "zhangsan|Nobody", "hi")
    assert answer["invaliduser"] == "nobody"
    agent = client.agent.get(DEFAULT_AGENT_ID)
    assert agent["agentid"] == DEFAULT_AGENT_ID and agent["allow_userinfos"]["user"]
    with pytest.raises(WeChatClientException) as caught:
        client.message.send_text(DEFAULT_AGENT_ID, "ghost", "hi")
    assert caught.value.errcode == 81013


def test_wechatpy_refreshes_an_expired_token_and_reports_45009(wecom: StartServer) -> None:
    server = wecom(settings={"api_calls_per_minute": 6})
    sim = simulator(server)
    client = SandboxWeCom(server.url)
    client.message.send_text(DEFAULT_AGENT_ID, "zhangsan", "one")
    sim.invalidate_tokens(42001)
    assert client.message.send_text(DEFAULT_AGENT_ID, "zhangsan", "two")["errcode"] == 0
    assert sim.count("/cgi-bin/gettoken") == 2
    with pytest.raises(APILimitedException):
        for i in range(5):
            client.message.send_text(DEFAULT_AGENT_ID, "zhangsan", f"burst {i}")


def test_wechatpy_rejects_bad_credentials(wecom: StartServer) -> None:
    server = wecom()
    with pytest.raises(WeChatClientException) as caught:
        SandboxWeCom(server.url, secret="wrong").message.send_text(DEFAULT_AGENT_ID, "zhangsan", "x")
    assert caught.value.errcode == 40001


def test_wechatpy_official_account_template_message(wecom: StartServer) -> None:
    server = wecom()
    client = SandboxOfficialAccount(server.url)
    data = {k: {"value": v} for k, v in (("keyword1", "评级下调"), ("keyword2", "北京星河科技"), ("keyword3", "今天"))}
    answer = client.message.send_template(
        DEFAULT_OA_FOLLOWERS[0], DEFAULT_OA_TEMPLATE, data, url="https://crm.bank.example/x"
    )
    assert answer["errcode"] == 0 and answer["msgid"]
    with pytest.raises(WeChatClientException) as caught:
        client.message.send_template(DEFAULT_OA_FOLLOWERS[0], "unknown-template", data)
    assert caught.value.errcode == 40037
    assert simulator(server).messages_for(DEFAULT_OA_FOLLOWERS[0])[0].body["url"] == "https://crm.bank.example/x"
