"""The email channel against `crmhub.testing.ChannelContract`, speaking real SMTP to the aiosmtpd sandbox."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from crmhub.sandbox.runner import free_port
from crmhub.testing import ChannelContract, Fault
from crmhub_email import plugin as email_plugin
from crmhub_email.sandbox import SmtpSandbox, serve_smtp

GOOD = ("rm.zhang@bank.example", "risk.li@bank.example")
REFUSED = "nobody@bank.example"


class TestEmailContract(ChannelContract):
    plugin = "email"
    recipients = GOOD
    refused_recipient = REFUSED

    @contextlib.contextmanager
    def service(self, fault: Fault | None = None) -> Iterator[dict[str, Any]]:
        """The SMTP sandbox; down = a port nothing listens on, throttled = every recipient deferred (450),
        rejected credentials = a wrong password (535)."""
        app = email_plugin.crmhub_sandbox_apps()[0]
        if fault is Fault.UNAVAILABLE:
            yield {**app.config(f"127.0.0.1:{free_port()}"), "timeout": 2.0}
            return
        handler = SmtpSandbox(
            refuse=frozenset({REFUSED}), defer=frozenset(GOOD) if fault is Fault.THROTTLED else frozenset()
        )
        server = serve_smtp(handler)  # started already
        try:
            table = {**app.config(f"{server.host}:{server.port}"), "timeout": 5.0}
            if fault is Fault.AUTH_REJECTED:
                table["password"] = "wrong-" + table["password"]
            yield table
        finally:
            server.stop()
