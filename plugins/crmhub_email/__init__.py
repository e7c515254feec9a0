"""crmhub's email plugin: the ``email`` notification channel (SMTP) and an SMTP sandbox that keeps what it receives.

Public API: `EmailChannel`, `EmailConfig`, `render_email`, and `crmhub_email.sandbox` (`SmtpSandbox`,
`serve_smtp`, `self_signed_tls`) for tests and ``crmhub sandbox serve``.
"""

from __future__ import annotations

from crmhub_email.channel import EmailChannel
from crmhub_email.compose import build_message, message_id
from crmhub_email.config import EmailConfig
from crmhub_email.rendering import render_email

__all__ = ["EmailChannel", "EmailConfig", "build_message", "message_id", "render_email"]
