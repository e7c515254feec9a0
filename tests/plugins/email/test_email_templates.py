"""Email templates: every kind in zh and en, autoescaped HTML, masked text, safe links."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from crmhub_email import render_email
from crmhub_email.compose import address_problem, text_to_html
from crmhub_email.rendering import KINDS

CONTEXT = {
    "client": {"name": "北京星河科技有限公司", "uscc": "91110108MA01ABCD1X"},
    "before": {"rating": "A", "score": 712},
    "after": {"rating": "BB", "score": 640, "segment": "high"},
    "reasons": ["联系人手机 13912345678 停机"],
    "url": "https://crm.bank.example/c/1",
    "alert": {
        "id": 7,
        "kind": "fan_out",
        "severity": "high",
        "amount": Decimal("1950000"),
        "occurred_at": datetime(2024, 5, 1, 9, 30),
        "summary": "账户 6222021234567890123 分散转出",
    },
    "connector": "zoho",
    "run_id": 12,
    "error": "401 invalid_token",
    "hint": "重新授权",
    "started_at": datetime(2024, 5, 1),
    "stream": "accounts",
    "count": 3,
    "examples": [{"source_id": "1", "reason": "USCC invalid"}],
    "period": "2024-05-01",
    "counts": {"new_clients": 2, "downgrades": 1, "alerts": 3},
    "items": [{"title": "t", "detail": "d"}] * 35,
    "due_on": "2024-05-03",
    "owner": "张三",
    "note": "回访",
    "channel": "mail",
    "sent_at": datetime(2024, 5, 1, 8),
}


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_renders_subject_text_and_html(kind: str, lang: str) -> None:
    subject, text, html = render_email(kind, lang, CONTEXT)
    assert subject and "\n" not in subject and text and html.startswith("<!DOCTYPE html>")
    for part in (subject, text, html):
        assert "13912345678" not in part and "6222021234567890123" not in part
        assert "None" not in part and "Undefined" not in part
    assert ("此邮件由 crmhub 自动发送" in html) == (lang == "zh")


def test_html_is_autoescaped_but_text_is_not_and_links_are_http_only() -> None:
    ctx = {**CONTEXT, "client": {"name": "A&B <img src=x onerror=alert(1)>"}, "url": "javascript:alert(1)"}
    subject, text, html = render_email("follow_up_reminder", "en", ctx)
    assert "A&B <img src=x onerror=alert(1)>" in text and "A&B <img" in subject
    assert "A&amp;B &lt;img src=x onerror=alert(1)&gt;" in html and "<img" not in html
    assert "javascript:" not in html
    assert "… and 5 more" in render_email("digest", "en", CONTEXT)[1]
    assert "分散转出" in render_email("alert", "zh", CONTEXT)[0]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_aml_alert_email_says_kind_id_date_deadline_and_no_evidence(lang: str) -> None:
    """The AML team's email: kind, id, date, deadline and where to look — no client, amount or summary."""
    ctx = {
        **CONTEXT,
        "alert": {
            **CONTEXT["alert"],
            "day": "2024-05-01",
            "deadline": "2024-05-09",
            "working_days": 5,
            "command": "crmhub alerts show 7",
        },
    }
    subject, text, html = render_email("alert", lang, ctx)
    for part in (subject, text, html):
        for secret in ("北京星河科技有限公司", "91110108MA01ABCD1X", "1,950,000", "账户", "622202"):
            assert secret not in part, (lang, secret)
    assert "#7" in subject and "crmhub alerts show 7" in text and "2024-05-09" in text and "2024-05-01" in text
    assert ("反洗钱" in subject) == (lang == "zh") and ("AML" in subject) == (lang == "en")


def test_unknown_kind_or_language() -> None:
    with pytest.raises(ValueError, match="unknown notification kind"):
        render_email("nope", "zh", {})
    with pytest.raises(ValueError, match="unsupported language"):
        render_email("test", "de", {})
    assert render_email("test", "zh-CN", {})[0] == "【crmhub】测试邮件"


def test_text_to_html_and_addresses() -> None:
    html = text_to_html("第一段 <b>\n第二行 https://x.example/a?b=1&c=2\n\n第二段")
    assert html == (
        '<p>第一段 &lt;b&gt;<br>\n第二行 <a href="https://x.example/a?b=1&amp;c=2">'
        "https://x.example/a?b=1&amp;c=2</a></p>\n<p>第二段</p>"
    )
    assert address_problem("rm@bank.example") is None
    assert address_problem("张三 <rm@bank.example>") is None
    assert address_problem("rm@") and address_problem("zhangsan") and address_problem("a b@c.d")
