"""Console sessions on the server: the browser holds a random token, the store holds its SHA-256.

A session ends at logout, after ``[console] idle_minutes`` without a request, after ``[console] session_hours``
in all, or as soon as its operator is disabled (checked on every request) — none of which a signed cookie alone
could do. Each session carries its own CSRF token, which every form must echo.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from crmhub.security import operators
from crmhub.security.guard import Actor
from crmhub.store.tables import ConsoleSession

COOKIE = "crmhub_session"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


@dataclass(frozen=True, slots=True)
class ConsoleUser:
    """The operator behind a request: the same `Actor` the CLI's guard builds, plus console preferences."""

    actor: Actor
    display_name: str | None
    lang: str | None
    csrf: str
    token_hash: str

    @property
    def name(self) -> str:
        return self.actor.name

    @property
    def roles(self) -> frozenset[str]:
        return self.actor.roles


def start(session: Session, operator: str, *, client: str | None) -> str:
    """Open a session for ``operator`` (already authenticated); returns the token to set as the cookie."""
    token = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    session.add(
        ConsoleSession(
            token_hash=_hash(token),
            operator=operator,
            csrf=secrets.token_urlsafe(24),
            created_at=now,
            last_seen_at=now,
            client=(client or "")[:128] or None,
        )
    )
    return token


def resume(session: Session, token: str | None, *, idle: timedelta, lifetime: timedelta) -> ConsoleUser | None:
    """The user of a live session (and its last-seen time moved on), or None: unknown, expired, or disabled."""
    if not token or len(token) > 200:
        return None
    row = session.get(ConsoleSession, _hash(token))
    if row is None:
        return None
    now = datetime.now(UTC)
    if now - row.last_seen_at > idle or now - row.created_at > lifetime:
        session.delete(row)
        return None
    op = operators.get(session, row.operator)
    if op is None or not op.enabled:
        session.delete(row)
        return None
    if now - row.last_seen_at > timedelta(seconds=30):  # one write per half minute, not one per request
        row.last_seen_at = now
    return ConsoleUser(
        Actor(op.name, frozenset(op.roles), registered=True), op.display_name, op.lang, row.csrf, row.token_hash
    )


def end(session: Session, token: str | None) -> str | None:
    """End the session of ``token``; returns its operator (None when there was none)."""
    if not token:
        return None
    row = session.get(ConsoleSession, _hash(token))
    if row is None:
        return None
    session.delete(row)
    return row.operator


def purge_expired(session: Session, *, idle: timedelta) -> None:
    """Delete sessions idle for longer than ``idle`` (run at login, so the table never grows without bound)."""
    cutoff = datetime.now(UTC) - idle
    session.execute(delete(ConsoleSession).where(ConsoleSession.last_seen_at < cutoff))
