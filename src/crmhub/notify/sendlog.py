"""`OutboxSendLog`: the channels' rate-limit history, kept in the notification outbox rows themselves.

Why: a WeCom group robot accepts 20 messages per rolling minute and answers 45009 above that, whoever sends them.
The channel paces itself, but a pacing window that lives in memory starts empty in every new process, so a
restarted ``crmhub notify run`` or sync (cron, the scheduler after a crash) sent a full window again and was refused.

No new table: every channel call belongs to one notification, whose outbox row (``idempotency_key`` = the
message key) records it in ``answer["calls"][target]`` as ``[started, ended]`` epoch seconds — the start before
the request leaves (so a process killed mid-call still leaves its call counted), the end when the answer came.
Recent calls are the rows of that channel updated within the window (each record bumps ``updated_at``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from crmhub.notify.facts import NOTIFICATION
from crmhub.store.tables import Outbox

if TYPE_CHECKING:
    from crmhub.store import Store

CALLS = "calls"
KEEP = 64
"""Calls kept per row and target (a message is split into a few parts at most; retries add a few more)."""


class OutboxSendLog:
    """`crmhub.contract.SendLog` over the notification outbox (one short transaction per record)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def recent(self, channel: str, within: float) -> dict[str, list[tuple[float, float | None]]]:
        """Per target, the calls through ``channel`` that started or ended in the last ``within`` seconds."""
        now = time.time()
        since = datetime.fromtimestamp(now - within, UTC) - timedelta(seconds=1)
        with self.store.begin() as s:
            answers = s.scalars(
                select(Outbox.answer).where(
                    Outbox.kind == NOTIFICATION, Outbox.target == channel, Outbox.updated_at >= since
                )
            ).all()
        out: dict[str, list[tuple[float, float | None]]] = {}
        for answer in answers:
            for target, spans in ((answer or {}).get(CALLS) or {}).items():
                for started, ended in _spans(spans):
                    if max(started, ended or started) >= now - within:
                        out.setdefault(str(target), []).append((started, ended))
        return {t: sorted(v) for t, v in out.items()}

    def record(
        self, channel: str, targets: Sequence[str], message_key: str, started: float, ended: float | None = None
    ) -> None:
        """Append the call (or set its end) under each target on the row of ``message_key``; a message without a
        row (none today: every send goes through the outbox) is paced in memory only."""
        with self.store.begin() as s:
            row = s.scalars(
                select(Outbox).where(Outbox.idempotency_key == message_key, Outbox.target == channel).with_for_update()
            ).first()
            if row is None:
                return
            answer = dict(row.answer or {})
            calls: dict[str, Any] = dict(answer.get(CALLS) or {})
            for target in targets:
                entries = [list(e) for e in calls.get(target) or []]
                for entry in entries:
                    if ended is not None and entry[0] == started:
                        entry[1] = ended
                        break
                else:
                    entries.append([started, ended])
                calls[target] = entries[-KEEP:]
            answer[CALLS] = calls
            row.answer = answer
            row.updated_at = datetime.now(UTC)


def _spans(entries: Any) -> list[tuple[float, float | None]]:
    out: list[tuple[float, float | None]] = []
    for entry in entries or []:
        try:
            started = float(entry[0])
            ended = float(entry[1]) if entry[1] is not None else None
        except (TypeError, ValueError, IndexError):
            continue
        out.append((started, ended))
    return out
