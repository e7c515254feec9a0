"""The SMTP sandbox: a real SMTP server (aiosmtpd) that keeps every mail it accepts, for tests and operators.

Not a mock: clients speak real SMTP to it — EHLO, STARTTLS (when given a TLS context), AUTH LOGIN/PLAIN against
the sandbox credentials, MAIL/RCPT/DATA — so the email channel is tested exactly as it runs against the bank's
server. Recipients listed in ``refuse`` get ``550`` and those in ``defer`` get ``450`` at RCPT time, to exercise
per-recipient results.

``SmtpSandbox`` is the handler `SandboxApp.build` returns; `serve_smtp` starts it on a port (aiosmtpd Controller in
a thread). `self_signed_tls` makes a throwaway certificate for STARTTLS/implicit-TLS tests (needs ``cryptography``).
"""

from __future__ import annotations

import email
import ssl
import tempfile
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any, cast

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

SANDBOX_USERNAME = "crmhub"
SANDBOX_PASSWORD = "sandbox-smtp-password"
SANDBOX_FROM = "crm@bank.example"


@dataclass(frozen=True, slots=True)
class ReceivedMail:
    """One accepted mail: the envelope, the raw bytes, the parsed message, and how it arrived."""

    seq: int
    peer: str
    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    message: EmailMessage
    received_at: datetime
    authenticated_as: str | None
    tls: bool

    @property
    def subject(self) -> str:
        """The decoded Subject header."""
        return str(self.message.get("Subject", ""))

    @property
    def message_id(self) -> str:
        """The Message-ID header."""
        return str(self.message.get("Message-ID", ""))

    def _part(self, subtype: str) -> str | None:
        part = self.message.get_body(preferencelist=(subtype,))
        if part is None or part.get_content_subtype() != subtype:
            return None
        return cast(str, part.get_content())

    @property
    def text(self) -> str | None:
        """The text/plain part, decoded."""
        return self._part("plain")

    @property
    def html(self) -> str | None:
        """The text/html part, decoded."""
        return self._part("html")


@dataclass(slots=True)
class SmtpSandbox:
    """aiosmtpd handler: accepts mail for the sandbox credentials and keeps it in memory (thread-safe)."""

    username: str = SANDBOX_USERNAME
    password: str = SANDBOX_PASSWORD
    require_auth: bool = True
    refuse: frozenset[str] = frozenset()
    defer: frozenset[str] = frozenset()
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    _mails: list[ReceivedMail] = field(default_factory=list)
    _logins: list[tuple[str, bool]] = field(default_factory=list)
    _cond: threading.Condition = field(default_factory=threading.Condition)

    # --- aiosmtpd hooks ------------------------------------------------------------------------------------

    def authenticator(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        """AUTH LOGIN / PLAIN: only the sandbox credentials pass."""
        if mechanism not in ("LOGIN", "PLAIN") or not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = auth_data.login.decode("utf-8", errors="replace")
        ok = login == self.username and auth_data.password.decode("utf-8", errors="replace") == self.password
        with self._cond:
            self._logins.append((login, ok))
        return AuthResult(success=ok, handled=False, auth_data=login if ok else None)

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, mail_options: list[str]
    ) -> str:
        """Require AUTH before MAIL (as a submission server does) unless ``require_auth`` is off.

        Enforced here rather than with aiosmtpd's ``auth_required``, which warns on every connection when TLS is
        optional — and TLS is optional in the sandbox.
        """
        if self.require_auth and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        """Refuse (550) or defer (450) configured recipients; accept the rest."""
        lowered = address.lower()
        if lowered in self.refuse:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        if lowered in self.defer:
            return f"450 4.2.1 <{address}>: Mailbox temporarily unavailable"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Parse and keep the mail."""
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8")
        parsed = email.message_from_bytes(raw, policy=default_policy)
        with self._cond:
            seq = len(self._mails) + 1
            self._mails.append(
                ReceivedMail(
                    seq=seq,
                    peer=str(session.peer[0]) if session.peer else "?",
                    mail_from=str(envelope.mail_from),
                    rcpt_tos=tuple(envelope.rcpt_tos),
                    raw=raw,
                    message=parsed,
                    received_at=self.clock(),
                    authenticated_as=session.auth_data if session.authenticated else None,
                    tls=session.ssl is not None
                    or (server.transport is not None and server.transport.get_extra_info("ssl_object") is not None),
                )
            )
            self._cond.notify_all()
        return f"250 2.0.0 Ok: queued as SBX{seq:06d}"

    def server_kwargs(self) -> dict[str, Any]:
        """The aiosmtpd ``SMTP`` keyword arguments this handler needs (its AUTH LOGIN/PLAIN authenticator, AUTH
        allowed without TLS); pass them to ``aiosmtpd.controller.Controller`` when not using `serve_smtp`."""
        return {"authenticator": self.authenticator, "auth_required": False, "auth_require_tls": False}

    # --- inbox ---------------------------------------------------------------------------------------------

    @property
    def mails(self) -> list[ReceivedMail]:
        """Every accepted mail, oldest first (a copy)."""
        with self._cond:
            return list(self._mails)

    @property
    def logins(self) -> list[tuple[str, bool]]:
        """Every AUTH attempt: (login, succeeded)."""
        with self._cond:
            return list(self._logins)

    def mails_to(self, address: str) -> list[ReceivedMail]:
        """Mails whose envelope included ``address`` (case-insensitive)."""
        wanted = address.lower()
        return [m for m in self.mails if wanted in (r.lower() for r in m.rcpt_tos)]

    def wait_for(self, count: int, timeout: float = 5.0) -> list[ReceivedMail]:
        """Block until at least ``count`` mails arrived (or ``timeout``); return them."""
        with self._cond:
            self._cond.wait_for(lambda: len(self._mails) >= count, timeout)
            return list(self._mails)

    def clear(self) -> None:
        """Forget every mail and login."""
        with self._cond:
            self._mails.clear()
            self._logins.clear()


def sandbox_handler(settings: dict[str, Any] | None = None) -> SmtpSandbox:
    """A handler from ``SandboxOptions.settings`` (keys ``username``, ``password``, ``require_auth``, ``refuse``,
    ``defer``, optionally under an ``"email"`` sub-table)."""
    raw = dict(settings or {})
    section = raw.get("email")
    if isinstance(section, dict):
        raw = section
    return SmtpSandbox(
        username=str(raw.get("username", SANDBOX_USERNAME)),
        password=str(raw.get("password", SANDBOX_PASSWORD)),
        require_auth=bool(raw.get("require_auth", True)),
        refuse=frozenset(str(a).lower() for a in raw.get("refuse", ())),
        defer=frozenset(str(a).lower() for a in raw.get("defer", ())),
    )


class SmtpServer:
    """A running sandbox SMTP server (aiosmtpd `Controller` in a thread); `stop()` shuts it down."""

    def __init__(
        self,
        handler: SmtpSandbox,
        host: str,
        port: int,
        *,
        starttls: ssl.SSLContext | None = None,
        implicit_tls: ssl.SSLContext | None = None,
    ) -> None:
        self.handler = handler
        self.host = host
        self.port = port
        kwargs: dict[str, Any] = {
            **handler.server_kwargs(),
            "hostname": host,
            "port": port,
            "server_hostname": "smtp.sandbox.crmhub",
        }
        if starttls is not None:
            kwargs.update(tls_context=starttls, require_starttls=False)
        if implicit_tls is not None:
            kwargs.update(ssl_context=implicit_tls)
        self._controller = Controller(handler, **kwargs)

    def start(self) -> SmtpServer:
        """Start listening (returns when the server answers)."""
        self._controller.start()
        return self

    def stop(self) -> None:
        """Stop the server and its thread."""
        self._controller.stop()

    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_smtp(
    handler: SmtpSandbox,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    starttls: ssl.SSLContext | None = None,
    implicit_tls: ssl.SSLContext | None = None,
) -> SmtpServer:
    """Start ``handler`` on ``host:port`` (0 = a free port) and return the running server."""
    if port == 0:
        from crmhub.sandbox.runner import free_port

        port = free_port(host)
    return SmtpServer(handler, host, port, starttls=starttls, implicit_tls=implicit_tls).start()


@dataclass(frozen=True, slots=True)
class SandboxCertificate:
    """A throwaway self-signed certificate: the server's TLS context and the PEM a client can trust."""

    context: ssl.SSLContext
    cert_pem: bytes
    cert_file: Path


def self_signed_tls(hostname: str = "localhost", directory: Path | None = None) -> SandboxCertificate:
    """A self-signed certificate for ``hostname`` and 127.0.0.1 (valid one day), for sandbox TLS only."""
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError as exc:  # pragma: no cover - cryptography is in the dev extra
        raise RuntimeError("sandbox TLS needs the 'cryptography' package (pip install cryptography)") from exc
    import ipaddress

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(hostname), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    folder = directory or Path(tempfile.mkdtemp(prefix="crmhub-smtp-tls-"))
    cert_file, key_file = folder / "sandbox-cert.pem", folder / "sandbox-key.pem"
    cert_file.write_bytes(cert_pem)
    key_file.write_bytes(key_pem)
    key_file.chmod(0o600)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return SandboxCertificate(context=context, cert_pem=cert_pem, cert_file=cert_file)


def recipients_of(mails: Iterable[ReceivedMail]) -> list[str]:
    """Every envelope recipient of ``mails``, in order (for assertions)."""
    return [r for m in mails for r in m.rcpt_tos]
