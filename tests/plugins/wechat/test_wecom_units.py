"""Unit tests of the WeCom plugin's pure parts: UTF-8 fitting, recipients, templates, pacing, config."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from crmhub_wechat import WecomConfig, render_wecom, render_wecom_parts
from crmhub_wechat.compose import parse_recipients
from crmhub_wechat.pacing import Limit, RecipientPacer
from crmhub_wechat.rendering import KINDS
from crmhub_wechat.textutil import card_description, split_utf8, truncate_utf8, utf8_len

TEXT = st.text(alphabet=st.sampled_from(list("ab \n&<>中文字😀é")), max_size=400)


@given(TEXT, st.integers(min_value=4, max_value=300))
def test_truncate_never_exceeds_the_byte_limit_nor_cuts_a_character(text: str, limit: int) -> None:
    out = truncate_utf8(text, limit)
    assert utf8_len(out) <= limit
    assert out == text or out.endswith("…")
    assert text.startswith(out.removesuffix("…").rstrip()) or out == "…"


@given(TEXT, st.integers(min_value=16, max_value=200), st.integers(min_value=1, max_value=4))
def test_split_parts_fit_and_keep_the_text_when_it_fits(text: str, limit: int, parts: int) -> None:
    pieces = split_utf8(text, limit, max_parts=parts)
    assert 1 <= len(pieces) <= parts
    assert all(utf8_len(p) <= limit for p in pieces)
    if len(pieces) > 1:
        assert [p.split(" ", 1)[0] for p in pieces] == [f"({i}/{len(pieces)})" for i in range(1, len(pieces) + 1)]


def test_split_prefers_line_breaks() -> None:
    text = "\n".join(["第一行内容"] * 10)
    pieces = split_utf8(text, 64, max_parts=10)
    assert all(p.split(" ", 1)[1].startswith("第一行内容") for p in pieces)


@given(TEXT)
def test_card_description_is_escaped_and_within_512_bytes(text: str) -> None:
    out = card_description(text, 512)
    assert utf8_len(out) <= 512
    assert "<" not in out.replace("<br>", "")
    for cut in out.split("&")[1:]:  # every entity is whole
        assert cut.startswith(("amp;", "lt;", "gt;"))


def test_recipient_syntax() -> None:
    t = parse_recipients(
        [
            "zhangsan",
            "user:LiSi",
            "party:2",
            "dept:3",
            "tag:1",
            "@robot",
            "oa:oCRMhub0000001",
            "@all",
            "bad id",
            "party:x",
            "zhangsan",
        ],
        allow_at_all=False,
    )
    assert t.users == {"zhangsan": "zhangsan", "user:LiSi": "LiSi"}
    assert t.parties == {"party:2": "2", "dept:3": "3"} and t.tags == {"tag:1": "1"}
    assert t.robot == ["@robot"] and t.oa == {"oa:oCRMhub0000001": "oCRMhub0000001"}
    assert set(t.invalid) == {"@all", "bad id", "party:x"}


CONTEXT = {
    "client": {"name": "北京星河科技有限公司", "uscc": "91110108MA01ABCD1X"},
    "before": {"rating": "A", "score": 712},
    "after": {"rating": "BB", "score": 640, "segment": "high"},
    "reasons": ["联系人手机 13912345678 停机"],
    "url": "https://crm.bank.example/c/1",
    "alert": {
        "id": 7,
        "kind": "structuring",
        "severity": "high",
        "amount": Decimal("1950000"),
        "occurred_at": datetime(2024, 5, 1, 9, 30),
        "summary": "账户 6222021234567890123 5 天内 3 笔",
    },
    "connector": "zoho",
    "run_id": 12,
    "error": "401",
    "hint": "重新授权",
    "started_at": datetime(2024, 5, 1),
    "stream": "accounts",
    "count": 3,
    "examples": [{"source_id": "1", "reason": "USCC invalid"}],
    "period": "2024-05-01",
    "counts": {"new_clients": 2, "downgrades": 1, "alerts": 3},
    "items": [{"title": "t", "detail": "d"}],
    "due_on": "2024-05-03",
    "owner": "张三",
    "note": "回访",
    "channel": "wecom",
    "sent_at": datetime(2024, 5, 1, 8),
}


@pytest.mark.parametrize("lang", ["zh", "en", "zh-CN", "en_US"])
@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_renders_in_both_languages_masked(kind: str, lang: str) -> None:
    rendered = render_wecom_parts(kind, lang, CONTEXT)
    assert rendered.title and rendered.markdown and rendered.text
    for part in (rendered.title, rendered.markdown, rendered.text):
        assert "13912345678" not in part and "6222021234567890123" not in part
        assert "None" not in part and "Undefined" not in part
    assert utf8_len(rendered.markdown) <= 2048
    assert "<font" not in rendered.text and not rendered.text.startswith("**")


def test_rendering_labels_masks_and_neutralises() -> None:
    zh = render_wecom(
        "rating_downgrade",
        "zh",
        {**CONTEXT, "client": {"name": "星河<@all>`x`"}, "reasons": ["账户 6222021234567890123 多次退票"]},
    )
    assert "<@all>" not in zh and "＜@all＞" in zh and "`" not in zh.split("\n")[1]
    assert "622202*********0123" in zh
    assert render_wecom("test", "zh", {}).count("—") == 2  # missing values show a dash, never "None"
    with pytest.raises(ValueError, match="unknown notification kind"):
        render_wecom("nope", "zh", {})
    with pytest.raises(ValueError, match="unsupported language"):
        render_wecom("test", "fr", {})


def test_aml_alert_message_is_a_pointer_without_client_amount_or_evidence() -> None:
    """An AML alert on WeCom names the kind, id, day, deadline and the command — never the client, amounts,
    accounts or the rule's summary, even when a context carries them (no tipping-off)."""
    ctx = {
        **CONTEXT,
        "alert": {**CONTEXT["alert"], "day": "2024-05-01", "deadline": "2024-05-09", "command": "crmhub alerts show 7"},
    }
    for lang, label in (("zh", "拆分交易"), ("en", "Structuring")):
        parts = render_wecom_parts("alert", lang, ctx)
        body = parts.title + parts.markdown + parts.text
        assert label in body and "7" in parts.title and "crmhub alerts show 7" in body and "2024-05-09" in body
        for secret in ("北京星河科技有限公司", "91110108MA01ABCD1X", "1,950,000", "1950000", "622202", "5 天内"):
            assert secret not in body, (lang, secret)


async def test_pacer_holds_the_window_until_one_period_after_the_answer() -> None:
    pacer = RecipientPacer([Limit(2, 0.2)])
    started = time.perf_counter()
    async with pacer.slot(["a"]):
        await asyncio.sleep(0.1)  # a slow request: its window starts counting only at its answer
    async with pacer.slot(["A"]):
        pass
    async with pacer.slot(["b"]):
        pass
    assert time.perf_counter() - started < 0.15  # other keys and the second slot did not wait
    async with pacer.slot(["a"]) as waited:
        pass
    assert waited >= 0.15 and pacer.sent_within("a", 0.2) == 1


async def test_pacer_waits_for_in_flight_messages() -> None:
    pacer = RecipientPacer([Limit(1, 0.05)])
    order: list[str] = []

    async def hold(name: str, seconds: float) -> None:
        async with pacer.slot(["x"]):
            order.append(f"start {name}")
            await asyncio.sleep(seconds)
            order.append(f"end {name}")

    await asyncio.gather(hold("one", 0.1), hold("two", 0.0))
    assert order == ["start one", "end one", "start two", "end two"]


def test_config_validation() -> None:
    base = {"plugin": "wechat_work", "corp_id": "ww1", "corp_secret": "s", "agent_id": 1}
    assert WecomConfig.model_validate(base).base_url == "https://qyapi.weixin.qq.com"
    assert WecomConfig.model_validate({**base, "base_url": "http://h:1/cgi-bin/"}).base_url == "http://h:1"
    for bad in (
        {"textcard_button": "查看全部详情"},
        {"oa_app_id": "wx1"},
        {"per_user_per_minute": 31},
        {"token_refresh_attempts": 3},
        {"webhook_key": "https://x/send?nokey=1"},
        {"unknown": 1},
    ):
        with pytest.raises(ValidationError):
            WecomConfig.model_validate({**base, **bad})
