"""Delivering notifications exactly once: outbox rows planned → sent → confirmed | partial | failed | unconfirmed.

The protocol, per row:

1. compose the message from the frozen payload (deterministic, so every attempt has the identical body);
2. **claim** the row — ``UPDATE … SET state='sent' WHERE id=? AND state='planned'``, committed — before calling the
   channel, so two deliverers never both send it and a crash leaves the row visibly ``sent``;
3. call ``channel.send``; 4. record the answer per recipient in ``answer`` and move the row on.

A row still ``sent`` when a deliverer starts (only one runs at a time: the ``notify:deliver`` lock) means a process
died between 2 and 4: the message may or may not have gone out. It is re-sent only to recipients whose service
drops duplicates itself (`Channel.duplicate_window`: WeCom app messages with duplicate check on, OA template
messages by ``client_msg_id``) and only while that window — counted from the first attempt, minus a margin — is
still open; for email and the group robot, or a window that has passed, the row becomes ``unconfirmed``: never a
second message, and an ``undelivered`` report to operators instead. Transient failures (`RetriableError`, or a
recipient answered ``retriable: …``) go back to ``planned`` with exponential backoff until ``max_attempts``;
configuration failures (`FatalError`) stop that channel for this pass without spending an attempt.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from crmhub.contract import Channel, DeliveryResult, OutboundMessage
from crmhub.errors import FatalError, RecordError, RetriableError
from crmhub.masking import mask_text
from crmhub.notify.channels import ChannelPool
from crmhub.notify.facts import NOTIFICATION
from crmhub.store.locks import LockSet
from crmhub.store.tables import Outbox

if TYPE_CHECKING:
    from crmhub.notify.settings import NotifySettings
    from crmhub.store import Store

log = logging.getLogger("crmhub.notify")
LOCK = "notify:deliver"
OK = "ok"
UNCONFIRMED = "unconfirmed"
MAX_BACKOFF = timedelta(hours=1)
SCAN = 200


@dataclass(slots=True)
class DeliveryStats:
    """What one delivery pass did."""

    delivered: int = 0
    partial: int = 0
    failed: int = 0
    retrying: int = 0
    unconfirmed: int = 0
    resent: int = 0
    stopped: dict[str, str] = field(default_factory=dict)
    paused: dict[str, str] = field(default_factory=dict)
    locked: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Counts for JSON output."""
        return {
            "delivered": self.delivered,
            "partial": self.partial,
            "failed": self.failed,
            "retrying": self.retrying,
            "unconfirmed": self.unconfirmed,
            "resent": self.resent,
            "stopped_channels": dict(self.stopped),
            "paused_channels": dict(self.paused),
            "locked": self.locked,
        }


class ChannelStopped(Exception):
    """A channel raised `FatalError`: nothing more goes through it in this pass."""


class ChannelPaused(Exception):
    """A channel raised `RetriableError` (down, throttled): its other rows wait for the next pass instead of each
    spending a full retry cycle against a service that is not answering."""


def _now() -> datetime:
    return datetime.now(UTC)


def _parse(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def compose(channel: Channel[Any], row: Outbox, recipients: Sequence[str]) -> OutboundMessage:
    """The message of ``row`` for ``recipients``, rendered by the channel from the frozen payload."""
    p = row.payload
    return channel.compose(
        str(p["template"]), str(p["lang"]), p.get("context") or {}, key=row.idempotency_key, recipients=list(recipients)
    )


def record_result(
    store: Store,
    row_id: int,
    result: DeliveryResult,
    *,
    attempted: Sequence[str],
    unconfirmed: dict[str, str],
    settings: NotifySettings,
    now: datetime,
) -> str:
    """Store the channel's answer per recipient and move the row to its next state; returns that state.

    A module-level function so tests can make exactly this step fail (a crash between sending and recording).
    """
    with store.begin() as s:
        row = s.get(Outbox, row_id)
        if row is None:
            return "gone"
        answer = dict(row.answer or {})
        per: dict[str, str] = dict(answer.get("recipients") or {})
        fallback = OK if result.status == "delivered" else f"{result.status}: {result.answer or 'no detail'}"
        for r in attempted:
            per[r] = mask_text(str(result.recipients.get(r, fallback)))
        per.update(unconfirmed)
        everyone = list(row.payload.get("recipients") or [])
        ok = [r for r in everyone if per.get(r) == OK]
        unsure = [r for r in everyone if str(per.get(r, "")).startswith(UNCONFIRMED)]
        retry = [r for r in everyone if r not in ok and r not in unsure and str(per.get(r, "")).startswith("retri")]
        if len(ok) == len(everyone):
            state = "confirmed"
        elif unsure:
            state = UNCONFIRMED
        elif retry and row.attempts < settings.max_attempts:
            state = "planned"
        else:
            state = "partial" if ok else "failed"
        answer.update(
            recipients=per,
            status=result.status,
            answer=mask_text(result.answer),
            recorded_at=now.isoformat(),
            retriable=result.retriable,
        )
        answer.pop("sending_to", None)
        problems = "; ".join(f"{r}: {per[r]}" for r in everyone if per.get(r) != OK and r in per)
        row.answer = answer
        row.state = state
        row.last_error = problems or None
        row.not_before = now + backoff(settings, row.attempts) if state == "planned" else None
        row.updated_at = now
        return state


def backoff(settings: NotifySettings, attempts: int) -> timedelta:
    """Delay before attempt ``attempts + 1``: the configured delay doubled per attempt, at most an hour."""
    return min(timedelta(seconds=settings.retry_delay_seconds * 2 ** max(attempts - 1, 0)), MAX_BACKOFF)


class Deliverer:
    """Runs delivery passes over the notification outbox with one channel pool."""

    def __init__(self, store: Store, settings: NotifySettings, pool: ChannelPool) -> None:
        self.store = store
        self.settings = settings
        self.pool = pool

    async def run(self, only: Sequence[int] | None = None) -> DeliveryStats:
        """Recover rows a crash left ``sent``, then send everything due (``only``: just these row ids)."""
        stats = DeliveryStats()
        lock = LockSet(self.store, [LOCK], stale_after=timedelta(seconds=self.settings.lock_stale_seconds))
        blocked = await asyncio.to_thread(lock.try_acquire)
        if blocked is not None:
            stats.locked = blocked
            return stats
        try:
            await self._recover(stats)
            await self._send_due(stats, lock, set(only) if only is not None else None)
        finally:
            await asyncio.to_thread(lock.release)
        return stats

    # --- crash leftovers -----------------------------------------------------------------------------------

    async def _recover(self, stats: DeliveryStats) -> None:
        with self.store.begin() as s:
            ids = list(
                s.scalars(
                    select(Outbox.id).where(Outbox.kind == NOTIFICATION, Outbox.state == "sent").order_by(Outbox.id)
                )
            )
        for row_id in ids:
            with self.store.begin() as s:
                row = s.get(Outbox, row_id)
                if row is None or row.state != "sent":
                    continue
                s.expunge(row)
            channel = self.pool.get(row.target)
            answer = row.answer or {}
            attempted = list(answer.get("sending_to") or row.payload.get("recipients") or [])
            first = _parse(answer.get("first_sent_at")) or row.updated_at
            age = (_now() - first).total_seconds()
            margin = self.settings.resend_margin_seconds
            safe = [r for r in attempted if channel is not None and channel.duplicate_window(r) - margin > age]
            why = (
                f"{UNCONFIRMED}: the process stopped after sending began ({first:%Y-%m-%d %H:%M:%S}Z) and before "
                f"the answer was recorded; "
                + (
                    f"channel {row.target!r} is no longer available"
                    if channel is None
                    else f"{row.target} cannot drop a duplicate now, so it was not sent again"
                )
            )
            unsure = {r: why for r in attempted if r not in safe}
            if channel is None or not safe:
                self._mark_unconfirmed(row_id, unsure)
                stats.unconfirmed += 1
                log.warning("notify: #%d %s → %s is unconfirmed (not re-sent)", row_id, row.stream, row.target)
                continue
            stats.resent += 1
            log.info("notify: #%d re-sent to %s under %s's duplicate check", row_id, ", ".join(safe), row.target)
            try:
                await self._attempt(row, channel, safe, stats, expect="sent", first_sent=first, unconfirmed=unsure)
            except ChannelStopped as exc:
                stats.stopped.setdefault(row.target, str(exc))
            except ChannelPaused as exc:
                stats.paused.setdefault(row.target, str(exc))

    def _mark_unconfirmed(self, row_id: int, unsure: dict[str, str]) -> None:
        now = _now()
        with self.store.begin() as s:
            row = s.get(Outbox, row_id)
            if row is None:
                return
            answer = dict(row.answer or {})
            answer["recipients"] = {**(answer.get("recipients") or {}), **unsure}
            answer.pop("sending_to", None)
            row.answer = answer
            row.state = UNCONFIRMED
            row.last_error = next(iter(unsure.values()), UNCONFIRMED)
            row.updated_at = now

    # --- due rows ------------------------------------------------------------------------------------------

    async def _send_due(self, stats: DeliveryStats, lock: LockSet, only: set[int] | None) -> None:
        after = 0
        while True:
            now = _now()
            with self.store.begin() as s:
                rows = list(
                    s.execute(
                        select(Outbox.id, Outbox.target)
                        .where(Outbox.kind == NOTIFICATION, Outbox.state == "planned", Outbox.id > after)
                        .where((Outbox.not_before.is_(None)) | (Outbox.not_before <= now))
                        .order_by(Outbox.id)
                        .limit(SCAN)
                    ).all()
                )
            if not rows:
                return
            after = rows[-1][0]
            by_channel: dict[str, list[int]] = {}
            for row_id, target in rows:
                if (only is None or row_id in only) and target not in stats.stopped and target not in stats.paused:
                    by_channel.setdefault(target, []).append(row_id)
            await asyncio.gather(*(self._channel_batch(name, ids, stats) for name, ids in by_channel.items()))
            await asyncio.to_thread(lock.heartbeat)

    async def _channel_batch(self, name: str, ids: list[int], stats: DeliveryStats) -> None:
        channel = self.pool.get(name)
        if channel is None:
            stats.stopped[name] = self.pool.why_unavailable(name) or "unavailable"
            return
        gate = asyncio.Semaphore(self.settings.concurrency)

        async def one(row_id: int) -> None:
            async with gate:
                if name in stats.stopped or name in stats.paused:
                    return
                with self.store.begin() as s:
                    row = s.get(Outbox, row_id)
                    if row is None or row.state != "planned":
                        return
                    s.expunge(row)
                done = {r for r, v in ((row.answer or {}).get("recipients") or {}).items() if v == OK}
                pending = [r for r in row.payload.get("recipients") or [] if r not in done]
                try:
                    await self._attempt(row, channel, pending, stats, expect="planned")
                except ChannelStopped as exc:
                    stats.stopped.setdefault(name, str(exc))
                except ChannelPaused as exc:
                    stats.paused.setdefault(name, str(exc))

        await asyncio.gather(*(one(i) for i in ids))

    # --- one attempt ---------------------------------------------------------------------------------------

    async def _attempt(
        self,
        row: Outbox,
        channel: Channel[Any],
        recipients: list[str],
        stats: DeliveryStats,
        *,
        expect: str,
        first_sent: datetime | None = None,
        unconfirmed: dict[str, str] | None = None,
    ) -> None:
        """Compose, claim, send, record one row. Raises `ChannelStopped` on a `FatalError` and `ChannelPaused`
        (after recording the retry) on a `RetriableError`."""
        now = _now()
        try:
            message = compose(channel, row, recipients)
        except Exception as exc:
            self._finish(row.id, "failed", f"cannot render template {row.payload.get('template')!r}: {exc}", now)
            stats.failed += 1
            return
        answer = {
            **(row.answer or {}),
            "first_sent_at": (first_sent or now).isoformat(),
            "last_sent_at": now.isoformat(),
            "sending_to": list(recipients),
        }
        with self.store.begin() as s:
            claimed = s.execute(
                update(Outbox)
                .where(Outbox.id == row.id, Outbox.state == expect, Outbox.attempts == row.attempts)
                .values(state="sent", attempts=row.attempts + 1, answer=answer, updated_at=now)
            )
            if not getattr(claimed, "rowcount", 0):
                return
        paused: RetriableError | None = None
        try:
            result = await channel.send(message)
        except FatalError as exc:
            self._release(row.id, row.attempts, str(exc))
            raise ChannelStopped(str(exc)) from None
        except RetriableError as exc:
            paused = exc
            result = DeliveryResult(
                key=row.idempotency_key,
                status="failed",
                retriable=True,
                answer=str(exc),
                recipients=dict.fromkeys(recipients, f"retriable: {exc}"),
            )
        except RecordError as exc:
            result = DeliveryResult(
                key=row.idempotency_key,
                status="failed",
                answer=str(exc),
                recipients=dict.fromkeys(recipients, f"rejected: {exc}"),
            )
        except Exception as exc:  # a plugin bug: the message may have gone out, so never send it again
            log.exception("notify: channel %s failed unexpectedly on #%d", row.target, row.id)
            reason = f"{UNCONFIRMED}: the channel failed unexpectedly ({type(exc).__name__}: {exc}); not sent again"
            result = DeliveryResult(
                key=row.idempotency_key, status="failed", answer=reason, recipients=dict.fromkeys(recipients, reason)
            )
        state = record_result(
            self.store,
            row.id,
            result,
            attempted=recipients,
            unconfirmed=unconfirmed or {},
            settings=self.settings,
            now=_now(),
        )
        counter = {
            "confirmed": "delivered",
            "planned": "retrying",
            "partial": "partial",
            "failed": "failed",
            UNCONFIRMED: "unconfirmed",
        }.get(state)
        if counter:
            setattr(stats, counter, getattr(stats, counter) + 1)
        if paused is not None:
            raise ChannelPaused(str(paused))

    def _finish(self, row_id: int, state: str, error: str, now: datetime) -> None:
        with self.store.begin() as s:
            s.execute(
                update(Outbox)
                .where(Outbox.id == row_id)
                .values(state=state, last_error=mask_text(error), updated_at=now)
            )

    def _release(self, row_id: int, attempts: int, error: str) -> None:
        """Undo a claim after a configuration failure: nothing was sent, no attempt is spent."""
        now = _now()
        with self.store.begin() as s:
            s.execute(
                update(Outbox)
                .where(Outbox.id == row_id, Outbox.state == "sent")
                .values(
                    state="planned",
                    attempts=attempts,
                    last_error=mask_text(error),
                    not_before=now + backoff(self.settings, 1),
                    updated_at=now,
                )
            )
