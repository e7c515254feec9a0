"""Registered operators: add, list, disable, set a password. Every change is an audit entry with the actor."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crmhub.errors import InputError
from crmhub.security.passwords import hash_password
from crmhub.security.roles import ROLES
from crmhub.store.tables import ConsoleSession, Operator
from crmhub.sync import audit

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,59}$")


def count(session: Session) -> int:
    """How many operators are registered (0 = the store is not set up yet: bootstrapping)."""
    return session.scalar(select(func.count()).select_from(Operator)) or 0


def get(session: Session, name: str) -> Operator | None:
    """The operator called ``name`` (enabled or not), or None."""
    return session.scalars(select(Operator).where(Operator.name == name)).first()


def _require(session: Session, name: str) -> Operator:
    row = get(session, name)
    if row is None:
        raise InputError(f"no operator {name!r}", hint="list operators with `crmhub users list`")
    return row


def check_roles(roles: list[str]) -> list[str]:
    """The roles, deduplicated in table order; an input error naming any unknown role."""
    unknown = [r for r in roles if r not in ROLES]
    if unknown or not roles:
        raise InputError(
            f"unknown role(s): {', '.join(unknown)}" if unknown else "give at least one --role",
            hint=f"roles are: {', '.join(ROLES)}",
        )
    return [r for r in ROLES if r in roles]


def add(session: Session, name: str, roles: list[str], *, display_name: str | None, actor: str) -> Operator:
    """Register an operator; an input error for a bad or taken name or an unknown role."""
    if not _NAME.match(name) or name.startswith("os:"):
        raise InputError(
            f"operator name {name!r} is not allowed",
            hint="use letters, digits, '.', '_', '-' or '@' (at most 60, starting with a letter/digit)",
        )
    roles = check_roles(roles)
    if get(session, name) is not None:
        raise InputError(f"operator {name!r} already exists", hint="see `crmhub users list`")
    row = Operator(
        name=name,
        display_name=display_name,
        roles=roles,
        enabled=True,
        password_hash=None,
        created_at=datetime.now(UTC),
        created_by=actor,
    )
    session.add(row)
    session.flush()
    audit.append(
        session,
        actor=actor,
        action="operator.add",
        entity="operator",
        entity_id=name,
        details={"roles": roles, "display_name": display_name},
    )
    return row


def list_all(session: Session) -> list[Operator]:
    """Every operator, by name."""
    return list(session.scalars(select(Operator).order_by(Operator.name)))


def disable(session: Session, name: str, *, actor: str) -> None:
    """Disable an operator (kept, so audit names stay resolvable); they can no longer act."""
    row = _require(session, name)
    row.enabled = False
    _end_console_sessions(session, name)
    audit.append(session, actor=actor, action="operator.disable", entity="operator", entity_id=name, details={})


def set_password(session: Session, name: str, password: str, *, actor: str) -> None:
    """Store a new password hash for ``name`` (the password itself is never stored or audited)."""
    if len(password) < 8:
        raise InputError("the password must have at least 8 characters")
    row = _require(session, name)
    row.password_hash = hash_password(password)
    _end_console_sessions(session, name)
    audit.append(session, actor=actor, action="operator.password", entity="operator", entity_id=name, details={})


def _end_console_sessions(session: Session, name: str) -> None:
    """A disabled operator or a changed password ends every console session of that operator at once."""
    from sqlalchemy import delete

    session.execute(delete(ConsoleSession).where(ConsoleSession.operator == name))
