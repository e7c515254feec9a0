"""A dead letter's history: why it was first refused, and what each later sync or retry made of it.

Kept on the row (`DeadLetter.history`, JSON) because ``reason`` holds only the latest reason: an operator retrying
after a fix must still see what the original problem was, and when each attempt happened with which outcome.
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
    if row.history:
        return [dict(h) for h in row.history]
    return [entry(REJECTED, row.reason, at=row.created_at, run_id=row.run_id)]


def append(row: DeadLetter, event: str, reason: str, *, at: datetime | None = None,
           run_id: int | None = None) -> None:
    """Add an entry (a new list, so the ORM sees the JSON change)."""
    row.history = [*history_of(row), entry(event, reason, at=at, run_id=run_id)]


def first_reason(row: DeadLetter) -> str:
    """The reason the record was dead-lettered in the first place."""
    return str(history_of(row)[0].get("reason") or row.reason)
