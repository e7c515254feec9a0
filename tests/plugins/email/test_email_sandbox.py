"""The SMTP sandbox is a real SMTP server: the standard library's smtplib talks to it over loopback."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage

import pytest
from email_helpers import StartSmtp

from crmhub.contract import SandboxOptions
from crmhub_email import EmailConfig
from crmhub_email import plugin as email_plugin
from crmhub_email.sandbox import SANDBOX_PASSWORD, SANDBOX_USERNAME, SandboxCertificate, SmtpSandbox


def _mail(to: str = "rm@bank.example") -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = "评级下调：北京星河科技有限公司"
    mail["From"] = "crm@bank.example"
    mail["To"] = to
    mail.set_content("纯文本正文")
    mail.add_alternative("<p>HTML 正文</p>", subtype="html")
    return mail


def test_login_and_multipart_mail_is_kept_with_both_parts(smtp: StartSmtp) -> None:
    server = smtp()
    with smtplib.SMTP(server.host, server.port, timeout=5) as client:
        client.login(SANDBOX_USERNAME, SANDBOX_PASSWORD)
        client.send_message(_mail())
    mail = server.handler.wait_for(1)[0]
    assert mail.mail_from == "crm@bank.example" and mail.rcpt_tos == ("rm@bank.example",)
    assert mail.subject == "评级下调：北京星河科技有限公司"
    assert mail.text is not None and mail.text.strip() == "纯文本正文"
    assert mail.html is not None and "HTML 正文" in mail.html
    assert mail.authenticated_as == SANDBOX_USERNAME and not mail.tls
    assert server.handler.logins == [(SANDBOX_USERNAME, True)]


@pytest.mark.parametrize("mechanism", ["LOGIN", "PLAIN"])
def test_auth_login_and_plain(smtp: StartSmtp, mechanism: str) -> None:
    server = smtp()
    with smtplib.SMTP(server.host, server.port, timeout=5) as client:
        client.ehlo()
        assert "LOGIN" in client.esmtp_features["auth"] and "PLAIN" in client.esmtp_features["auth"]
        client.user, client.password = SANDBOX_USERNAME, SANDBOX_PASSWORD
        code, _ = client.auth(mechanism, getattr(client, f"auth_{mechanism.lower()}"))
        assert code == 235
        client.send_message(_mail())
    assert len(server.handler.wait_for(1)) == 1


def test_auth_is_required_and_wrong_passwords_fail(smtp: StartSmtp) -> None:
    server = smtp()
    with smtplib.SMTP(server.host, server.port, timeout=5) as client:
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            client.send_message(_mail())
        assert refused.value.smtp_code == 530
        with pytest.raises(smtplib.SMTPAuthenticationError) as denied:
            client.login(SANDBOX_USERNAME, "wrong")
        assert denied.value.smtp_code == 535
    assert server.handler.mails == []
    assert server.handler.logins and all(not ok for _, ok in server.handler.logins)  # smtplib tries PLAIN, LOGIN


def test_refused_and_deferred_recipients(smtp: StartSmtp) -> None:
    server = smtp(refuse=frozenset({"gone@bank.example"}), defer=frozenset({"busy@bank.example"}))
    with smtplib.SMTP(server.host, server.port, timeout=5) as client:
        client.login(SANDBOX_USERNAME, SANDBOX_PASSWORD)
        refused = client.sendmail(
            "crm@bank.example", ["rm@bank.example", "gone@bank.example", "busy@bank.example"], _mail().as_bytes()
        )
    assert refused["gone@bank.example"][0] == 550 and refused["busy@bank.example"][0] == 450
    assert server.handler.wait_for(1)[0].rcpt_tos == ("rm@bank.example",)
    assert server.handler.mails_to("RM@bank.example")


def test_starttls_and_implicit_tls(smtp: StartSmtp, certificate: SandboxCertificate) -> None:
    trust = ssl.create_default_context(cafile=str(certificate.cert_file))
    upgraded = smtp(tls="starttls")
    with smtplib.SMTP(upgraded.host, upgraded.port, timeout=5) as client:
        client.starttls(context=trust)
        client.login(SANDBOX_USERNAME, SANDBOX_PASSWORD)
        client.send_message(_mail())
    implicit = smtp(tls="implicit")
    with smtplib.SMTP_SSL(implicit.host, implicit.port, timeout=5, context=trust) as client:
        client.login(SANDBOX_USERNAME, SANDBOX_PASSWORD)
        client.send_message(_mail())
    assert upgraded.handler.wait_for(1)[0].tls and implicit.handler.wait_for(1)[0].tls


def test_relay_mode_without_auth_and_clear(smtp: StartSmtp) -> None:
    server = smtp(require_auth=False)
    with smtplib.SMTP(server.host, server.port, timeout=5) as client:
        client.send_message(_mail())
    assert server.handler.wait_for(1)[0].authenticated_as is None
    server.handler.clear()
    assert server.handler.mails == []


def test_plugin_sandbox_app_builds_a_handler_and_a_valid_config() -> None:
    app = email_plugin.crmhub_sandbox_apps()[0]
    assert (app.name, app.preferred_offset, app.protocol, app.config_name) == ("smtp", 4, "smtp", "email")
    handler = app.build(
        SandboxOptions(base_url="smtp://127.0.0.1:8029", settings={"email": {"refuse": ["X@bank.example"]}})
    )
    assert isinstance(handler, SmtpSandbox) and handler.refuse == frozenset({"x@bank.example"})
    config = EmailConfig.model_validate(app.config("127.0.0.1:8029"))
    assert (config.host, config.port, config.starttls, config.from_addr) == (
        "127.0.0.1",
        8029,
        False,
        "crm@bank.example",
    )
