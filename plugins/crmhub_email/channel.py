"""`EmailChannel`: delivers crmhub notifications over SMTP submission (STARTTLS on 587 or implicit TLS on 465).

smtplib runs in a worker thread (``asyncio.to_thread``); one connection is kept open for ``reuse_seconds`` so a
burst of notifications does not pay a TLS handshake and a login per mail. Each recipient gets its own verdict
from the server's RCPT answer: refused (5xx) recipients fail alone, deferred (4xx) ones are retriable.

Errors by what the operator must do: a rejected login or refused sender is a configuration problem
(`AuthError` / `FatalError`), a dropped connection, timeout or 4xx is transient (`RetriableError`), a message the
server refuses at DATA with 5xx fails that notification only. The same notification key gives the same
Message-ID, and a retry of a partial delivery goes only to the recipients still missing it.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import socket
import ssl
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from email.message import EmailMessage
from typing import Any

from crmhub.contract import Channel, CheckResult, DeliveryResult, OutboundMessage, PluginContext
from crmhub.errors import AuthError, FatalError, IntegrationError, RetriableError
from crmhub_email.compose import address_problem, build_message
from crmhub_email.config import EmailConfig
from crmhub_email.rendering import render_email

log = logging.getLogger("crmhub.plugins.email")

OK = "ok"
_REMEMBERED_KEYS = 4096


def _reply(code: int, text: bytes | str) -> str:
    message = text.decode("utf-8", errors="replace") if isinstance(text, bytes) else str(text)
    return f"{code} {' '.join(message.split())}"


class EmailChannel(Channel[EmailConfig]):
    """SMTP notifications; ``recipients`` are mailbox addresses (``name@domain``)."""

    config_model = EmailConfig

    def __init__(self, config: EmailConfig, context: PluginContext) -> None:
        super().__init__(config, context)
        self._lock = threading.Lock()
        self._smtp: smtplib.SMTP | None = None
        self._last_used = 0.0
        self._delivered: OrderedDict[str, set[str]] = OrderedDict()

    # --- connection (worker thread) ------------------------------------------------------------------------

    def _tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.config.ca_file)
        if not self.config.verify_tls:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _open(self) -> smtplib.SMTP:
        """Connect, EHLO, STARTTLS when configured, AUTH when configured. Raises crmhub errors."""
        cfg = self.config
        smtp: smtplib.SMTP
        try:
            if cfg.use_tls:
                smtp = smtplib.SMTP_SSL(
                    cfg.host,
                    cfg.port,
                    local_hostname=cfg.local_hostname,
                    timeout=cfg.timeout,
                    context=self._tls_context(),
                )
            else:
                smtp = smtplib.SMTP(cfg.host, cfg.port, local_hostname=cfg.local_hostname, timeout=cfg.timeout)
            try:
                smtp.ehlo()
                if cfg.starttls:
                    if not smtp.has_extn("starttls"):
                        raise FatalError(
                            f"SMTP server {cfg.host}:{cfg.port} does not offer STARTTLS",
                            connector=self.name,
                            hint=f"set channels.{self.name}.starttls = false only "
                            "if the connection is protected otherwise, or use use_tls (port 465)",
                        )
                    smtp.starttls(context=self._tls_context())
                    smtp.ehlo()
                if cfg.username is not None and cfg.password is not None:
                    if not smtp.has_extn("auth"):
                        raise FatalError(
                            f"SMTP server {cfg.host}:{cfg.port} offers no AUTH",
                            connector=self.name,
                            hint="many servers offer AUTH only after STARTTLS; or remove username and "
                            "password for a relay that needs no login",
                        )
                    smtp.login(cfg.username, cfg.password.get_secret_value())
            except BaseException:
                smtp.close()
                raise
        except IntegrationError:
            raise
        except Exception as exc:
            raise self._map(exc) from None
        return smtp

    def _connection(self) -> smtplib.SMTP:
        """The kept connection if it is recent and alive, else a new one."""
        smtp = self._smtp
        if smtp is not None and time.monotonic() - self._last_used <= self.config.reuse_seconds:
            try:
                if smtp.noop()[0] == 250:
                    return smtp
            except (smtplib.SMTPException, OSError):
                pass
        self._drop()
        self._smtp = self._open()
        return self._smtp

    def _drop(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()

    def _map(self, exc: BaseException) -> IntegrationError:
        """An smtplib / socket / TLS failure as the crmhub error that says what to do."""
        cfg = self.config
        where = f"SMTP server {cfg.host}:{cfg.port}"
        if isinstance(exc, smtplib.SMTPAuthenticationError):
            reply = _reply(exc.smtp_code, exc.smtp_error)
            return AuthError(
                f"{where} rejected the login of {cfg.username!r} ({reply})",
                connector=self.name,
                service_code=exc.smtp_code,
                hint=f"check channels.{self.name}.username and password",
            )
        if isinstance(exc, smtplib.SMTPSenderRefused):
            error = FatalError if exc.smtp_code >= 500 else RetriableError
            return error(
                f"{where} refused the sender {cfg.from_addr} ({_reply(exc.smtp_code, exc.smtp_error)})",
                connector=self.name,
                service_code=exc.smtp_code,
                hint=f"channels.{self.name}.from_addr must be an address the login may send as",
            )
        if isinstance(exc, ssl.SSLCertVerificationError):
            return FatalError(
                f"{where} presented a certificate that cannot be verified ({exc.verify_message})",
                connector=self.name,
                hint="set ca_file to the bank's CA bundle (verify_tls = false only for a sandbox)",
            )
        if isinstance(exc, smtplib.SMTPNotSupportedError):
            return FatalError(f"{where}: {exc}", connector=self.name, hint=f"check channels.{self.name}")
        if isinstance(exc, smtplib.SMTPResponseException):
            error = RetriableError if 400 <= exc.smtp_code < 500 else FatalError
            return error(
                f"{where} answered {_reply(exc.smtp_code, exc.smtp_error)}",
                connector=self.name,
                service_code=exc.smtp_code,
            )
        if isinstance(exc, socket.gaierror):
            return FatalError(
                f"cannot resolve SMTP host {cfg.host!r} ({exc})",
                connector=self.name,
                hint=f"check channels.{self.name}.host",
            )
        if isinstance(exc, smtplib.SMTPException | OSError | ssl.SSLError):
            return RetriableError(
                f"{where} unreachable or connection lost: {type(exc).__name__}: {exc}",
                connector=self.name,
                hint="the message will be retried",
            )
        return FatalError(f"{where}: unexpected {type(exc).__name__}: {exc}", connector=self.name)

    def _check_sync(self) -> dict[str, Any]:
        with self._lock:
            self._drop()
            smtp = self._open()
            try:
                ehlo = (smtp.ehlo_resp or b"").decode("utf-8", errors="replace").splitlines()
                return {
                    "server": ehlo[0] if ehlo else "",
                    "tls": self.config.use_tls or self.config.starttls,
                    "authenticated": self.config.username is not None,
                    "extensions": sorted(smtp.esmtp_features),
                }
            finally:
                try:
                    smtp.quit()
                except (smtplib.SMTPException, OSError):
                    smtp.close()

    def _send_sync(self, mail: EmailMessage, recipients: list[str]) -> dict[str, tuple[int, bytes | str]]:
        """Send one mail; return the refused recipients. Raises crmhub errors for everything else."""
        with self._lock:
            smtp = self._connection()
            try:
                refused: dict[str, tuple[int, bytes | str]] = dict(
                    smtp.send_message(mail, from_addr=self.config.from_addr, to_addrs=recipients)
                )
            except smtplib.SMTPRecipientsRefused as exc:
                self._last_used = time.monotonic()
                return dict(exc.recipients)
            except smtplib.SMTPDataError as exc:
                self._last_used = time.monotonic()
                if exc.smtp_code >= 500:
                    return dict.fromkeys(recipients, (exc.smtp_code, exc.smtp_error))
                raise self._map(exc) from None
            except (smtplib.SMTPException, OSError) as exc:
                self._drop()
                raise self._map(exc) from None
            self._last_used = time.monotonic()
            return refused

    # --- Channel API ---------------------------------------------------------------------------------------

    async def check(self) -> CheckResult:
        """Connect, EHLO, STARTTLS and log in (as configured) without sending anything."""
        cfg = self.config
        details: dict[str, Any] = {
            "host": cfg.host,
            "port": cfg.port,
            "from_addr": cfg.from_addr,
            "security": "implicit TLS" if cfg.use_tls else "STARTTLS" if cfg.starttls else "none",
        }
        try:
            details.update(await asyncio.to_thread(self._check_sync))
        except IntegrationError as exc:
            return CheckResult(ok=False, message=str(exc), details=details)
        login = f" as {cfg.username}" if cfg.username else " (no login)"
        return CheckResult(
            ok=True,
            details=details,
            message=(f"SMTP server {cfg.host}:{cfg.port} reachable, {details['security']}, logged in{login}"),
        )

    def compose(
        self, kind: str, lang: str, context: Mapping[str, Any], *, key: str, recipients: Sequence[str]
    ) -> OutboundMessage:
        """The notification rendered by this plugin's zh/en mail templates (`render_email`), masked."""
        subject, text, html = render_email(kind, lang, context)
        return OutboundMessage(key=key, recipients=list(recipients), subject=subject, text=text, html=html, kind=kind)

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        """Deliver ``message`` as one multipart/alternative mail to every valid recipient."""
        results: dict[str, str] = {}
        already = self._delivered.get(message.key, set())
        targets: list[str] = []
        for recipient in dict.fromkeys(message.recipients):
            problem = address_problem(recipient)
            if problem:
                results[recipient] = problem
            elif recipient in already:
                results[recipient] = OK
            else:
                results[recipient] = OK
                targets.append(recipient)
        retriable = False
        answer = "nothing to send"
        if targets:
            mail = build_message(message, self.config, targets, now=self.context.clock())
            answer = f"Message-ID {mail['Message-ID']}"
            refused = await asyncio.to_thread(self._send_sync, mail, targets)
            for recipient, (code, text) in refused.items():
                original = next((t for t in targets if t.lower() == recipient.lower()), recipient)
                prefix = "retriable: deferred" if 400 <= code < 500 else "refused"
                retriable = retriable or 400 <= code < 500
                results[original] = f"{prefix}: {_reply(code, text)}"
        ok = [r for r, reason in results.items() if reason == OK]
        if ok:
            remembered = self._delivered.setdefault(message.key, set())
            remembered.update(ok)
            self._delivered.move_to_end(message.key)
            while len(self._delivered) > _REMEMBERED_KEYS:
                self._delivered.popitem(last=False)
        status = "delivered" if ok and len(ok) == len(results) else "partial" if ok else "failed"
        log.info("channel %s: message %s %s (%d/%d recipients)", self.name, message.key, status, len(ok), len(results))
        return DeliveryResult(key=message.key, status=status, recipients=results, answer=answer, retriable=retriable)

    async def aclose(self) -> None:
        """Close the kept SMTP connection."""
        await asyncio.to_thread(self._close_sync)

    def _close_sync(self) -> None:
        with self._lock:
            self._drop()
