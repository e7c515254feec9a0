"""A dead letter's history: why it was first refused, and what each later sync or retry made of it.

Kept on the row (`DeadLetter.history`, JSON) because ``reason`` holds only the latest reason: an operator retrying
after a fix must still see what the original problem was, and when each attempt happened with which outcome.

A record the source keeps sending unchanged is refused again at every run; appending an entry each time would grow
the row without bound (a daily job: 365 entries a year saying the same thing). A repeat of the latest rejection's
reason is therefore folded into that entry — ``count`` (how many times in all) and ``last_at``/``last_run_id`` —
while its ``at``/``run_id`` stay those of the first time, which "new in run N" / "repeat" filters read.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from crmhub.store.tables import DeadLetter

REJECTED = "rejected"
RETRY_OK = "retry_ok"
RETRY_FAILED = "retry_failed"
RESOLVED = "resolved"


def entry(event: str, reason: str, *, at: datetime | None = None, run_id: int | None = None) -> dict[str, Any]:
    """One history entry (JSON-ready)."""
    item: dict[str, Any] = {"at": (at or datetime.now(UTC)).isoformat(), "event": event, "reason": reason}
    if run_id is not None:
        item["run_id"] = run_id
    return item


def history_of(row: DeadLetter) -> list[dict[str, Any]]:
    """The row's history; a row written before history was kept shows its creation and reason."""
    return stored(row.history, row.reason, created_at=row.created_at, run_id=row.run_id)


def stored(history: list[Any] | None, reason: str, *, created_at: datetime, run_id: int | None) -> list[dict[str, Any]]:
    """`history_of` from a row's column values (for set-based writers that select columns, not ORM rows)."""
    if history:
        return [dict(h) for h in history]
    return [entry(REJECTED, reason, at=created_at, run_id=run_id)]


def append(row: DeadLetter, event: str, reason: str, *, at: datetime | None = None, run_id: int | None = None) -> None:
    """Add an entry (a new list, so the ORM sees the JSON change)."""
    row.history = [*history_of(row), entry(event, reason, at=at, run_id=run_id)]


def fold_rejected(
    history: list[dict[str, Any]], reason: str, *, at: datetime | None = None, run_id: int | None = None
) -> list[dict[str, Any]]:
    """``history`` with one more rejection for ``reason`` (a new list; ``history`` itself is not changed).

    When the latest entry is a rejection for the same reason, it is folded in (``count`` + 1, ``last_at``,
    ``last_run_id``); otherwise — a new reason, or a retry or resolution in between — a new entry is appended, so
    the order of what happened stays readable.
    """
    when = (at or datetime.now(UTC)).isoformat()
    last = history[-1] if history else None
    if last is not None and last.get("event") == REJECTED and last.get("reason") == reason:
        folded = {**last, "count": int(last.get("count") or 1) + 1, "last_at": when}
        if run_id is not None:
            folded["last_run_id"] = run_id
        return [*history[:-1], folded]
    return [*history, entry(REJECTED, reason, at=at, run_id=run_id)]


def times(item: dict[str, Any]) -> int:
    """How many times an entry happened (folded repeats included)."""
    return int(item.get("count") or 1)


def first_reason(row: DeadLetter) -> str:
    """The reason the record was dead-lettered in the first place."""
    return str(history_of(row)[0].get("reason") or row.reason)
