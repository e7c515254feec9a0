"""Follow-up visits (定期回访): when each client is due, and the interactions that reset the clock.

Due dates are computed, never stored: a client of segment *s* is due every ``intervals[s]`` days counted from its
last recorded interaction (or, with none, from its creation in crmhub). The reminder for a period is keyed by its
due date, so each period reminds exactly once, however often the planner runs — and recording a visit moves the
last touch, so the next due date (and key) moves with it. Day arithmetic is done in the bank's time zone.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crmhub.errors import InputError
from crmhub.model.banking import InteractionKind
from crmhub.notify.settings import NotifySettings
from crmhub.store.tables import GoldenClient, InteractionRow

SCAN_BATCH = 2000


@dataclass(frozen=True, slots=True)
class FollowUp:
    """One client's follow-up state: last touch, interval and the due date of the current period."""

    client_id: int
    segment: str | None
    interval: int
    last_touch: datetime
    touched: bool
    due_on: date
    overdue: bool


def local_day(value: datetime, settings: NotifySettings) -> date:
    """The calendar day of ``value`` in the bank's time zone."""
    return value.astimezone(ZoneInfo(settings.timezone)).date()


def current_due(last_day: date, interval: int, today: date, lead_days: int = 0) -> date | None:
    """The due date of the latest period that has come (``lead_days`` early), or None before the first one."""
    periods = ((today - last_day).days + lead_days) // interval
    if periods < 1:
        return None
    return last_day + timedelta(days=periods * interval)


def follow_up_of(
    client_id: int,
    segment: str | None,
    created_at: datetime,
    last: datetime | None,
    settings: NotifySettings,
    today: date,
) -> FollowUp | None:
    """The follow-up state of one client (None when its segment has no interval)."""
    interval = settings.interval(segment)
    if interval is None:
        return None
    touch = last or created_at
    day = local_day(touch, settings)
    due = current_due(day, interval, today, settings.follow_up.lead_days)
    upcoming = due or day + timedelta(days=interval)
    return FollowUp(client_id, segment, interval, touch, last is not None, upcoming, due is not None)


def due_follow_ups(session: Session, settings: NotifySettings, today: date) -> Iterator[FollowUp]:
    """Every active client whose current period has come, in id order, scanned in bounded batches."""
    last_touch = (
        select(InteractionRow.client_id, func.max(InteractionRow.occurred_at).label("last"))
        .group_by(InteractionRow.client_id)
        .subquery()
    )
    after = 0
    while True:
        q = (
            select(GoldenClient.id, GoldenClient.segment, GoldenClient.created_at, last_touch.c.last)
            .outerjoin(last_touch, last_touch.c.client_id == GoldenClient.id)
            .where(GoldenClient.status == "active", GoldenClient.id > after)
        )
        if settings.follow_up.unsegmented_days is None:
            q = q.where(GoldenClient.segment.in_(list(settings.follow_up.intervals)))
        rows = session.execute(q.order_by(GoldenClient.id).limit(SCAN_BATCH)).all()
        if not rows:
            return
        after = rows[-1][0]
        for cid, segment, created, last in rows:
            state = follow_up_of(cid, segment, created, _aware(last), settings, today)
            if state is not None and state.overdue:
                yield state


def _aware(value: datetime | None) -> datetime | None:
    """Aggregates may come back naive on SQLite: stored values are UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def last_interaction(session: Session, client_id: int) -> InteractionRow | None:
    """The client's most recent interaction."""
    return session.scalars(
        select(InteractionRow)
        .where(InteractionRow.client_id == client_id)
        .order_by(InteractionRow.occurred_at.desc(), InteractionRow.id.desc())
    ).first()


def record_interaction(
    session: Session,
    client: GoldenClient,
    kind: str,
    *,
    at: datetime | None = None,
    by: str | None = None,
    summary: str | None = None,
    source: str = "cli",
) -> InteractionRow:
    """Store a visit, call, message, email or meeting; it resets the client's follow-up clock."""
    try:
        kind_value = InteractionKind(kind.strip().lower()).value
    except ValueError:
        raise InputError(
            f"unknown interaction kind {kind!r}", hint=f"use one of {', '.join(k.value for k in InteractionKind)}"
        ) from None
    when = at or datetime.now(UTC)
    if when.tzinfo is None:
        raise InputError("the time needs a time zone, e.g. 2026-05-01T10:00+08:00")
    if when > datetime.now(UTC) + timedelta(minutes=5):
        raise InputError(f"{when.isoformat()} is in the future", hint="record interactions after they happened")
    row = InteractionRow(
        client_id=client.id,
        kind=kind_value,
        occurred_at=when.astimezone(UTC),
        by=(by or "").strip() or None,
        summary=(summary or "").strip() or None,
        source=source,
    )
    session.add(row)
    session.flush()
    return row


def list_interactions(session: Session, client_id: int, limit: int = 100) -> list[InteractionRow]:
    """The client's interactions, newest first."""
    return list(
        session.scalars(
            select(InteractionRow)
            .where(InteractionRow.client_id == client_id)
            .order_by(InteractionRow.occurred_at.desc(), InteractionRow.id.desc())
            .limit(limit)
        )
    )


def follow_up_for(session: Session, client: GoldenClient, settings: NotifySettings, today: date) -> FollowUp | None:
    """The follow-up state of one client (for `crmhub interactions list`)."""
    last = session.scalar(select(func.max(InteractionRow.occurred_at)).where(InteractionRow.client_id == client.id))
    return follow_up_of(client.id, client.segment, client.created_at, _aware(last), settings, today)
