"""`Notifier`: plan from the store, deliver through the channel pool — after a sync, on demand, or as a test.

The sync engine calls `Notifier.after_run` when a run's report is stored; ``crmhub notify run`` calls
`Notifier.run` (including follow-up reminders); ``crmhub notify test`` sends one test message through the very
same outbox path. A host that lives long (the scheduler) enters the notifier as an async context manager so its
channel instances — and their pacing — live as long as it does; a one-shot caller gets them closed after the call.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from crmhub.core.hashing import content_hash
from crmhub.errors import InputError
from crmhub.notify.channels import ChannelPool
from crmhub.notify.context import test_context
from crmhub.notify.delivery import Deliverer, DeliveryStats
from crmhub.notify.facts import NOTIFICATION
from crmhub.notify.log import notification_json
from crmhub.notify.planner import Planner, PlanOutcome, insert_rows
from crmhub.notify.recipients import resolve
from crmhub.store.tables import Outbox

if TYPE_CHECKING:
    from crmhub.config import Settings
    from crmhub.core.report import RunReport
    from crmhub.plugins import Registry
    from crmhub.store import Store

log = logging.getLogger("crmhub.notify")


@dataclass(slots=True)
class NotifyOutcome:
    """A planning pass and the delivery pass after it."""

    plan: PlanOutcome
    delivery: DeliveryStats

    def as_dict(self) -> dict[str, Any]:
        """For ``--json`` output."""
        return {
            "planned": dict(self.plan.planned),
            "skipped": dict(self.plan.skipped),
            "warnings": list(self.plan.warnings),
            **self.delivery.as_dict(),
        }


def _add(total: DeliveryStats, more: DeliveryStats) -> None:
    for name in ("delivered", "partial", "failed", "retrying", "unconfirmed", "resent"):
        setattr(total, name, getattr(total, name) + getattr(more, name))
    total.stopped.update(more.stopped)
    total.paused.update(more.paused)
    total.locked = total.locked or more.locked


class Notifier:
    """Notifications for one configuration and store."""

    def __init__(self, settings: Settings, registry: Registry, store: Store, *, today: date | None = None) -> None:
        self.settings = settings
        self.store = store
        self.today = today
        from crmhub.notify.sendlog import OutboxSendLog
        from crmhub.store.secrets import StoreTokenCache

        self.pool = ChannelPool(settings, registry, StoreTokenCache(store), OutboxSendLog(store))
        self._hosted = 0

    async def __aenter__(self) -> Notifier:
        self._hosted += 1
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._hosted -= 1
        if not self._hosted:
            await self.pool.aclose()

    def planner(self) -> Planner:
        """A planner for this moment."""
        return Planner(self.settings, now=datetime.now(UTC), today=self.today)

    async def run(self, *, follow_ups: bool = True, dry_run: bool = False) -> NotifyOutcome:
        """Plan everything due, deliver it, then report anything that could not be delivered to operators."""
        plan = await asyncio.to_thread(self.planner().plan, self.store, follow_ups=follow_ups, dry_run=dry_run)
        stats = DeliveryStats()
        if dry_run or not self.settings.notify.enabled:
            return NotifyOutcome(plan, stats)
        deliverer = Deliverer(self.store, self.settings.notify, self.pool)
        _add(stats, await deliverer.run())
        if stats.failed or stats.partial or stats.unconfirmed:
            again = await asyncio.to_thread(self.planner().plan, self.store, events=["undelivered"])
            plan.merge(again)
            if sum(again.planned.values()):
                _add(stats, await deliverer.run())
        return NotifyOutcome(plan, stats)

    async def after_run(self, report: RunReport) -> None:
        """The sync engine's hook: notify what this run (and anything before it) left in the store."""
        if report.dry_run or not self.settings.notify.enabled:
            return
        try:
            outcome = await self.run(follow_ups=self.settings.notify.follow_up.with_sync)
            d = outcome.delivery
            log.info(
                "notify after run %s: planned %d, delivered %d, retrying %d, failed %d, unconfirmed %d",
                report.run_id,
                sum(outcome.plan.planned.values()),
                d.delivered,
                d.retrying,
                d.failed,
                d.unconfirmed,
            )
            await asyncio.to_thread(self._report_outcome, report, outcome)
        finally:
            if not self._hosted:
                await self.pool.aclose()

    def _report_outcome(self, report: RunReport, outcome: NotifyOutcome) -> None:
        """Put the notify step into the run's report — printed by `crmhub sync` and stored for `crmhub report` — so
        operators see every notification that may be lost or doubled (unconfirmed) where they look first."""
        from crmhub.notify.log import uncertain
        from crmhub.store.tables import SyncRun

        d = outcome.delivery
        with self.store.begin() as s:
            summary = uncertain(s, since=report.started_at)
            report.notifications = {
                "planned": sum(outcome.plan.planned.values()),
                "delivered": d.delivered,
                "retrying": d.retrying,
                "failed": d.failed,
                "partial": d.partial,
                "unconfirmed": d.unconfirmed,
                "resent": d.resent,
                **summary,
            }
            row = s.get(SyncRun, report.run_id) if report.run_id is not None else None
            if row is not None:
                row.report = {**(row.report or {}), "notifications": report.notifications}

    async def send_test(self, channel: str, to: list[str] | None = None) -> dict[str, Any]:
        """Send one ``test`` message through ``channel`` via the outbox; returns its log entry."""
        why = self.pool.why_unavailable(channel)
        if why is not None:
            raise InputError(why, hint="see `crmhub connectors check` and the [channels] tables")
        ns = self.settings.notify
        cfg = self.settings.channels.get(channel)
        rm_address = cfg.rm_address if cfg is not None else "user_id"
        specs = to or ["operators"]
        recipients: list[str] = []
        for spec in specs:
            resolved = resolve(spec, rm_address, ns, None)
            if resolved.problem and not resolved.addresses:
                raise InputError(
                    f"no recipient for {spec!r}: {resolved.problem}",
                    hint="pass --to ADDRESS (a mailbox, a WeCom UserID, @robot …)",
                )
            recipients += [r for r in resolved.addresses if r not in recipients]
        now = datetime.now(UTC)
        payload = {
            "event": "test",
            "fact": "test",
            "template": "test",
            "lang": ns.language(self.settings.lang),
            "spec": ",".join(specs),
            "recipients": recipients,
            "context": test_context(channel, ns, now),
        }
        key = f"n:test:{uuid.uuid4().hex}:{channel}"[:128]
        row = {
            "kind": NOTIFICATION,
            "target": channel,
            "stream": "test",
            "idempotency_key": key,
            "client_id": None,
            "source_id": "test",
            "payload": payload,
            "payload_hash": content_hash(payload),
            "state": "planned",
            "attempts": 0,
            "answer": None,
            "last_error": None,
            "run_id": None,
            "not_before": None,
            "created_at": now,
            "updated_at": now,
        }
        with self.store.begin() as s:
            insert_rows(s, [row])
            row_id = s.scalar(select(Outbox.id).where(Outbox.idempotency_key == key))
        if row_id is None:
            raise InputError(f"the test notification {key} could not be stored")
        async with self:
            stats = await Deliverer(self.store, ns, self.pool).run(only=[row_id])
        with self.store.begin() as s:
            entry = notification_json(s.get(Outbox, row_id))  # type: ignore[arg-type]
        if stats.locked:
            entry["error"] = entry["error"] or f"another process is delivering ({stats.locked}); it will send this"
        if channel in stats.stopped:
            entry["error"] = stats.stopped[channel]
        return entry
