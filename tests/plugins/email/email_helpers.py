"""Helpers for the email plugin tests: real SMTP sandbox servers on loopback and channels pointed at them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from crmhub.contract import PluginContext
from crmhub_email import EmailChannel, EmailConfig
from crmhub_email import plugin as email_plugin
from crmhub_email.sandbox import SandboxCertificate, SmtpSandbox, SmtpServer, self_signed_tls, serve_smtp

StartSmtp = Callable[..., SmtpServer]


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> SandboxCertificate:
    """One throwaway self-signed certificate for 127.0.0.1 / localhost."""
    return self_signed_tls("localhost", Path(tmp_path_factory.mktemp("smtp-tls")))


@pytest.fixture
def smtp(certificate: SandboxCertificate) -> Iterator[StartSmtp]:
    """Start sandbox SMTP servers: ``tls`` is None, "starttls" or "implicit"; handler options as keywords."""
    servers: list[SmtpServer] = []

    def start(tls: str | None = None, **handler: Any) -> SmtpServer:
        sandbox = SmtpSandbox(**handler)
        server = serve_smtp(
            sandbox,
            starttls=certificate.context if tls == "starttls" else None,
            implicit_tls=certificate.context if tls == "implicit" else None,
        )
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def email_config(server: SmtpServer, **overrides: Any) -> EmailConfig:
    """The sandbox's own ``[channels.email]`` table (from the plugin hook) plus ``overrides``."""
    app = email_plugin.crmhub_sandbox_apps()[0]
    return EmailConfig.model_validate({**app.config(f"{server.host}:{server.port}"), "timeout": 5.0, **overrides})


def make_channel(server: SmtpServer, **overrides: Any) -> EmailChannel:
    """An `EmailChannel` speaking real SMTP to ``server``."""
    return EmailChannel(email_config(server, **overrides), PluginContext(name="mail"))
