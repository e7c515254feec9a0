"""Hostile upstream text on its way to an e-mail or a WeCom message, against the real SMTP server (aiosmtpd) and the
real WeCom simulator.

Original break (issue #14, item 12): control characters and ANSI escapes in a CRM's company name reached mail
subjects and WeCom messages, and WeCom markdown in a name (``**``, ``[x](http://…)``, ``<font>``, backticks, a ``>``
or ``#`` opening a line) was rendered as markup. A CR/LF in a name must never create a mail header.
"""

from __future__ import annotations

import re

from sqlalchemy import select

from crmhub.model.text import clean_text
from crmhub.notify.planner import Planner
from crmhub.notify.service import Notifier
from crmhub.plugins import Registry
from crmhub.store import Store
from crmhub.store.tables import Outbox

from .helpers import Servers, assess, client, settings

NAME = (
    '恶意公司**粗体**[点我](http://evil.example/x)<font color="info">绿</font>`code`\r\n'
    "Bcc: victim@evil.example\n> 引用注入\n# 标题注入\x1b[31m红色\x1b[0m\x07\u202e反转"
)
ROUTE = {
    "rating_downgrade": {
        "send": [{"channel": "wecom", "to": ["rm", "@robot"]}, {"channel": "email", "to": ["risk_team"]}]
    }
}
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u202e]")


def _assert_literal_markdown(content: str) -> None:
    """The name's markup is inert: no bold, link, font tag, code span, quote or heading made from it."""
    assert "**粗体**" not in content and "＊＊粗体＊＊" in content
    assert "](http://evil.example" not in content and "［点我］" in content
    assert '<font color="info">' not in content and "`" not in content
    for line in content.splitlines():
        assert not line.lstrip().startswith(("> 引用注入", "# 标题注入", "Bcc:")), line
    assert not CONTROL.search(content) and "[31m" not in content


async def test_hostile_company_name_reaches_mail_and_wecom_inert(
    store: Store, registry: Registry, servers: Servers
) -> None:
    cfg = settings(registry, servers, notify=ROUTE)
    cid = client(store, name=NAME + ("\x00" if store.dialect == "sqlite" else ""))  # PostgreSQL cannot hold a NUL
    assess(store, cid, "AA", 85.0)
    assess(store, cid, "CCC", 47.0)
    assert Planner(cfg).plan(store).planned == {"rating_downgrade": 3}
    async with Notifier(cfg, registry, store) as notifier:
        outcome = await notifier.run(follow_ups=False)
    assert outcome.delivery.delivered == 3, outcome.as_dict()
    with store.begin() as s:
        assert {r.state for r in s.scalars(select(Outbox))} == {"confirmed"}

    mails = servers.mail.mails_to("risk@bank.example")
    assert len(mails) == 1
    mail = mails[0]
    head = mail.raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    names = [line.split(":", 1)[0].lower() for line in head.split("\r\n") if line and not line[0].isspace()]
    assert "bcc" not in names and names.count("subject") == 1, names
    assert set(mail.rcpt_tos) == {"risk@bank.example"}
    assert "恶意公司" in mail.subject and "Bcc: " in mail.subject and "@evil.example" in mail.subject  # text, 1 line
    assert not CONTROL.search(mail.subject) and "\n" not in mail.subject and "[31m" not in mail.subject
    body = mail.message.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert not CONTROL.search(text.replace("\r\n", "").replace("\n", "")) and "[31m" not in text and "红色" in text
    html_part = mail.message.get_body(("html",))
    assert html_part is not None and '<font color="info">' not in html_part.get_content()

    app = [m for m in servers.sim.inbox if m.channel != "robot"]
    robot = [m for m in servers.sim.inbox if m.channel == "robot"]
    assert len(app) == 1 and len(robot) == 1
    for message in (*app, *robot):
        assert message.msgtype == "markdown"
        _assert_literal_markdown(message.content)
        assert "红色" in message.content and "反转" in message.content


def test_clean_text_removes_escapes_and_controls_keeps_text() -> None:
    """The cleaner the channels share with ingest: CSI/OSC/two-character escapes, C0/C1 controls and bidi overrides
    go; text stays."""
    raw = "A\x1b[1;31mB\x1b[0m\x1b]0;title\x07C\x1b]8;;http://x\x1b\\D\x9b2JE\x00F\x7fG\u202eH\r\nI\tJ\x1bcK"
    assert clean_text(raw) == "ABCDEFGH I JK"
    assert clean_text("line 1\r\nline 2\rline 3\u2028x\ty", multiline=True) == "line 1\nline 2\nline 3\nx\ty"
    assert clean_text("北京星河科技有限公司 (Beijing) #3 *A*") == "北京星河科技有限公司 (Beijing) #3 *A*"
