"""`EmailChannel` against the real SMTP sandbox over loopback: TLS, login, multipart, per-recipient results."""

from __future__ import annotations

import pytest
from email_helpers import StartSmtp, email_config, make_channel

from crmhub.contract import OutboundMessage, PluginContext
from crmhub.errors import AuthError, RetriableError
from crmhub.sandbox.runner import free_port
from crmhub_email import EmailChannel, EmailConfig, message_id, render_email
from crmhub_email.sandbox import SANDBOX_PASSWORD, SandboxCertificate

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
BODY17 = "11010519491231002"
ID_NUMBER = BODY17 + "10X98765432"[sum(int(c) * w for c, w in zip(BODY17, _WEIGHTS, strict=True)) % 11]
MOBILE = "13812345678"
ACCOUNT = "6222021234567890123"
PERSONAL = f"法定代表人身份证 {ID_NUMBER}\n手机 {MOBILE}\n账号 {ACCOUNT}\n详情 https://crm.bank.example/clients/42"


def message(key: str = "mail-1", *to: str, text: str = PERSONAL, html: str | None = None) -> OutboundMessage:
    return OutboundMessage(
        key=key,
        recipients=list(to) or ["rm@bank.example"],
        subject=f"评级下调 {MOBILE}",
        text=text,
        html=html,
        kind="rating_downgrade",
    )


def assert_masked(content: str) -> None:
    assert ID_NUMBER not in content and MOBILE not in content and ACCOUNT not in content
    assert "138****5678" in content and "622202*********0123" in content


async def test_starttls_login_multipart_arrives_with_both_parts_masked(
    smtp: StartSmtp, certificate: SandboxCertificate
) -> None:
    server = smtp(tls="starttls")
    async with make_channel(
        server, starttls=True, ca_file=str(certificate.cert_file), from_name="crmhub 通知"
    ) as channel:
        result = await channel.send(message())
    assert result.status == "delivered" and result.recipients == {"rm@bank.example": "ok"}
    mail = server.handler.wait_for(1)[0]
    assert mail.tls and mail.authenticated_as == "crmhub" and mail.rcpt_tos == ("rm@bank.example",)
    assert mail.message.get_content_type() == "multipart/alternative"
    assert mail.text is not None and mail.html is not None
    for part in (mail.text, mail.html, mail.subject):
        assert MOBILE not in part and "138****5678" in part
    assert_masked(mail.text)
    assert_masked(mail.html)
    assert '<a href="https://crm.bank.example/clients/42">' in mail.html
    assert str(mail.message["From"]) == "crmhub 通知 <crm@bank.example>"
    assert mail.message["Auto-Submitted"] == "auto-generated"
    assert mail.message_id == message_id("mail-1", "bank.example") and result.answer.endswith(mail.message_id)


async def test_same_key_gives_the_same_message_id(smtp: StartSmtp) -> None:
    server = smtp()
    async with make_channel(server) as first, make_channel(server) as second:
        await first.send(message("k-1", text="一"))
        await second.send(message("k-1", text="一"))
        await second.send(message("k-2", text="二"))
    ids = [m.message_id for m in server.handler.wait_for(3)]
    assert ids[0] == ids[1] != ids[2]
    assert ids[0].startswith("<") and ids[0].endswith(".crmhub@bank.example>") and "k-1" not in ids[0]


async def test_refused_and_deferred_recipients_are_reported_individually(smtp: StartSmtp) -> None:
    server = smtp(refuse=frozenset({"gone@bank.example"}), defer=frozenset({"busy@bank.example"}))
    async with make_channel(server) as channel:
        result = await channel.send(
            message("r-1", "rm@bank.example", "gone@bank.example", "busy@bank.example", "not an address")
        )
        again = await channel.send(message("r-1", "rm@bank.example", "gone@bank.example", "busy@bank.example"))
        nobody = await channel.send(message("r-2", "gone@bank.example"))
    assert result.status == "partial" and result.retriable
    assert result.recipients["rm@bank.example"] == "ok"
    assert result.recipients["gone@bank.example"].startswith("refused: 550 5.1.1")
    assert result.recipients["busy@bank.example"].startswith("retriable: deferred: 450")
    assert "not an email address" in result.recipients["not an address"]
    assert again.recipients["rm@bank.example"] == "ok"
    assert nobody.status == "failed" and not nobody.retriable
    mails = server.handler.mails
    assert len(mails) == 1 and mails[0].rcpt_tos == ("rm@bank.example",)  # the retry re-sent to nobody new


async def test_implicit_tls_with_a_private_ca_and_verification_failure(
    smtp: StartSmtp, certificate: SandboxCertificate
) -> None:
    server = smtp(tls="implicit")
    async with make_channel(
        server, use_tls=True, starttls=False, port=server.port, ca_file=str(certificate.cert_file)
    ) as channel:
        assert (await channel.send(message())).status == "delivered"
    async with make_channel(server, use_tls=True, starttls=False, port=server.port) as channel:
        verdict = await channel.check()
    assert server.handler.wait_for(1)[0].tls
    assert not verdict.ok and "certificate" in verdict.message and "ca_file" in verdict.message


async def test_wrong_password_is_an_auth_error_and_check_says_so(smtp: StartSmtp) -> None:
    server = smtp()
    async with make_channel(server, password="not-the-password") as channel:
        verdict = await channel.check()
        with pytest.raises(AuthError) as caught:
            await channel.send(message())
    assert not verdict.ok and "535" in verdict.message and "'crmhub'" in verdict.message
    assert "not-the-password" not in verdict.message + str(caught.value) + repr(channel.config)
    assert server.handler.mails == []


async def test_check_connects_and_logs_in_without_sending(smtp: StartSmtp) -> None:
    server = smtp()
    async with make_channel(server) as channel:
        verdict = await channel.check()
    async with make_channel(server, starttls=True) as channel:
        no_tls = await channel.check()
    assert verdict.ok and "logged in as crmhub" in verdict.message and "auth" in verdict.details["extensions"]
    assert not no_tls.ok and "STARTTLS" in no_tls.message
    assert server.handler.mails == [] and server.handler.logins == [("crmhub", True)]


async def test_one_connection_serves_a_burst(smtp: StartSmtp) -> None:
    server = smtp()
    async with make_channel(server) as channel:
        for i in range(5):
            assert (await channel.send(message(f"b-{i}", text=f"第 {i} 封"))).status == "delivered"
    assert len(server.handler.wait_for(5)) == 5
    assert server.handler.logins == [("crmhub", True)]


async def test_unreachable_server_is_retriable() -> None:
    config = email_config_for_port(free_port())
    async with EmailChannel(config, PluginContext(name="mail")) as channel:
        with pytest.raises(RetriableError):
            await channel.send(message())
        verdict = await channel.check()
    assert not verdict.ok and "unreachable" in verdict.message


def email_config_for_port(port: int) -> EmailConfig:
    return EmailConfig(
        plugin="email",
        host="127.0.0.1",
        port=port,
        username="crmhub",
        password=SANDBOX_PASSWORD,
        from_addr="crm@bank.example",
        starttls=False,
        timeout=2.0,
    )


async def test_rendered_notification_end_to_end(smtp: StartSmtp) -> None:
    server = smtp()
    subject, text, html = render_email(
        "rating_downgrade",
        "en",
        {
            "client": {"name": "Xinghe <script>x</script>", "uscc": "91110108MA01ABCD1X"},
            "before": {"rating": "A", "score": 80},
            "after": {"rating": "BB", "score": 63, "segment": "medium"},
            "reasons": [f"returned items on counterparty account {ACCOUNT}"],
            "url": "https://crm.bank.example/clients/9",
        },
    )
    async with make_channel(server) as channel:
        await channel.send(
            OutboundMessage(
                key="downgrade-9",
                recipients=["risk@bank.example"],
                subject=subject,
                text=text,
                html=html,
                kind="rating_downgrade",
            )
        )
    mail = server.handler.wait_for(1)[0]
    assert mail.subject == "[Rating downgrade] Xinghe <script>x</script>: A → BB"
    assert mail.html is not None and "&lt;script&gt;" in mail.html and "<script>" not in mail.html
    assert mail.text is not None and "A → BB" in mail.text and ACCOUNT not in mail.text + mail.html


def test_config_rules(smtp: StartSmtp) -> None:
    server = smtp()
    assert email_config(server, use_tls=True).starttls is False
    implicit = EmailConfig(plugin="email", host="h", from_addr="a@b.example", use_tls=True)
    assert implicit.port == 465 and implicit.starttls is False
    assert EmailConfig(plugin="email", host="h", from_addr="a@b.example").port == 587
    for bad in ({"use_tls": True, "starttls": True}, {"username": "u"}, {"from_addr": "nope"}):
        with pytest.raises(ValueError):
            EmailConfig.model_validate({"plugin": "email", "host": "h", "from_addr": "a@b.example", **bad})
