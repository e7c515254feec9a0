"""Planning notifications: facts × routes → outbox rows, idempotently.

For every fact (see `crmhub.notify.facts`) and every send of its route, each recipient spec (``rm``, a group, a
literal address) becomes one outbox row of kind ``notification``: ``target`` = the channel, ``stream`` = the event,
``source_id`` = the fact's ref, ``payload`` = {event, template, lang, context, recipients, spec}. Its idempotency
key is ``n:<fact>:<channel>:<spec>`` — unique in the table — so the row *is* the marker that the fact was planned:
re-planning finds the key and adds nothing, and two planners racing insert it once (``ON CONFLICT DO NOTHING``).

Recipients are resolved and the context rendered (masked) at planning time and frozen in the payload: a re-send
after a crash then carries the identical body, which is what lets WeCom's duplicate check absorb it. A spec that
resolves to nobody because of the client (no relationship manager) is recorded as a ``skipped`` row with the
reason, visible in ``crmhub notify log``; an empty group simply means the route is not in use.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from crmhub.core.chunks import chunked
from crmhub.core.hashing import content_hash, short_hash
from crmhub.i18n import bilingual
from crmhub.notify import facts as F
from crmhub.notify.recipients import Manager, resolve
from crmhub.notify.settings import EVENTS, Lang, Send, aml_refusal
from crmhub.store.tables import Outbox

if TYPE_CHECKING:
    from crmhub.config import Settings
    from crmhub.store import Store

log = logging.getLogger("crmhub.notify")
KEY_LIMIT = 128


def notification_key(ref: str, channel: str, spec: str) -> str:
    """``n:<ref>:<channel>:<spec>``, hashed where it would not fit the 128-character key column."""
    raw = f"n:{ref}:{channel}:{spec}"
    if len(raw) <= KEY_LIMIT:
        return raw
    shorter = f"n:{ref}:{channel}:{short_hash(spec, 24)}"
    return shorter if len(shorter) <= KEY_LIMIT else "n:" + short_hash(raw, 48)


@dataclass(slots=True)
class PlanOutcome:
    """What a planning pass did (``rows`` holds the would-be rows in a dry run)."""

    planned: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    warnings: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)

    def merge(self, other: PlanOutcome) -> None:
        """Add ``other``'s counts."""
        self.planned.update(other.planned)
        self.skipped.update(other.skipped)
        self.warnings += [w for w in other.warnings if w not in self.warnings]
        self.rows += other.rows


def insert_rows(session: Session, rows: list[dict[str, Any]]) -> int:
    """Insert rows whose key is new; return how many were inserted (a racing planner's rows are left alone)."""
    if not rows:
        return 0
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        result = session.execute(
            pg_insert(Outbox).values(rows).on_conflict_do_nothing(index_elements=["idempotency_key"])
        )
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        result = session.execute(
            sqlite_insert(Outbox).values(rows).on_conflict_do_nothing(index_elements=["idempotency_key"])
        )
    return int(getattr(result, "rowcount", 0) or 0)


def _existing(session: Session, keys: Iterable[str]) -> set[str]:
    found: set[str] = set()
    for wanted in chunked(dict.fromkeys(keys), F.BATCH):
        found.update(session.scalars(select(Outbox.idempotency_key).where(Outbox.idempotency_key.in_(wanted))))
    return found


class Planner:
    """Plans every enabled event for one configuration; ``now``/``today`` are injectable for tests."""

    def __init__(self, settings: Settings, *, now: datetime | None = None, today: date | None = None) -> None:
        self.settings = settings
        self.ns = settings.notify
        self.now = now or datetime.now(UTC)
        self.today = today or self.now.astimezone(ZoneInfo(self.ns.timezone)).date()

    # --- routes --------------------------------------------------------------------------------------------

    def active_sends(self, event: str, outcome: PlanOutcome) -> list[Send]:
        """The event's sends whose channel is configured and enabled (others become warnings)."""
        if not self.ns.route(event).enabled:
            return []
        sends = []
        for send in self.ns.sends(event, self.settings.lang):
            cfg = self.settings.channels.get(send.channel)
            if cfg is None:
                outcome.warnings.append(
                    f"[notify.{event}] sends through channel {send.channel!r}, which is not configured under [channels]"
                )
            elif not cfg.enabled:
                outcome.warnings.append(f"[notify.{event}]: channel {send.channel!r} is disabled")
            else:
                sends.append(send)
        return sends

    # --- planning ------------------------------------------------------------------------------------------

    def plan(
        self, store: Store, *, events: Iterable[str] | None = None, follow_ups: bool = True, dry_run: bool = False
    ) -> PlanOutcome:
        """Plan every enabled event (``events`` to restrict); each event kind is one transaction."""
        outcome = PlanOutcome()
        if not self.ns.enabled:
            outcome.warnings.append("notifications are off ([notify] enabled = false)")
            return outcome
        wanted = [e for e in (events or EVENTS) if e != "follow_up" or follow_ups]
        sends = {e: self.active_sends(e, outcome) for e in wanted}
        since = F.horizon(self.ns, self.now)
        run_events = {e for e in ("sync_failed", "dead_letters", "digest") if sends.get(e)}
        for event in wanted:
            if not sends[event] or event in run_events:
                continue
            budget = self.ns.follow_up.max_per_run if event == "follow_up" else None
            with store.begin() as s:
                for batch in self._batches(s, event, since):
                    added = self._plan_batch(s, batch, sends[event], outcome, dry_run, budget)
                    if budget is not None:
                        budget -= added
                        if budget <= 0:
                            break
        if run_events:
            with store.begin() as s:
                facts = list(F.run_facts(s, self.settings, run_events, since, self.now))
                if "sync_failed" in run_events:
                    facts += F.job_failure_facts(s, self.ns, since, self.now)
                for event in sorted(run_events):
                    self._plan_batch(s, [f for f in facts if f.event == event], sends[event], outcome, dry_run)
        return outcome

    def _batches(self, session: Session, event: str, since: datetime) -> Iterator[list[F.Fact]]:
        if event == "follow_up":
            yield from F.follow_up_facts(session, self.ns, self.today, self.now)
            return
        finder = {"alert": F.alert_facts, "rating_downgrade": F.downgrade_facts, "undelivered": F.undelivered_facts}[
            event
        ]
        batch: list[F.Fact] = []
        for fact in finder(session, self.ns, since, self.now):
            batch.append(fact)
            if len(batch) >= F.BATCH:
                yield batch
                batch = []
        if batch:
            yield batch

    def _plan_batch(
        self,
        session: Session,
        facts: list[F.Fact],
        sends: list[Send],
        outcome: PlanOutcome,
        dry_run: bool,
        budget: int | None = None,
    ) -> int:
        """Plan one batch of facts; returns how many rows it added (at most ``budget`` facts' worth)."""
        if not facts:
            return 0
        wanted = [
            (fact, send, spec, notification_key(fact.ref, send.channel, spec))
            for fact in facts
            for send in sends
            for spec in send.to
        ]
        existing = _existing(session, (key for *_, key in wanted))
        rows: list[dict[str, Any]] = []
        contexts: dict[tuple[str, str], dict[str, Any]] = {}
        new_facts: set[str] = set()
        for fact, send, spec, key in wanted:
            if key in existing:
                continue
            if budget is not None and fact.ref not in new_facts and len(new_facts) >= budget:
                continue
            new_facts.add(fact.ref)
            existing.add(key)
            row = self._row(fact, send, spec, key, contexts, outcome)
            if row is not None:
                rows.append(row)
        inserted = len(rows) if dry_run else insert_rows(session, rows)
        if dry_run:
            outcome.rows += rows
        for row in rows:
            (outcome.skipped if row["state"] == "skipped" else outcome.planned)[row["stream"]] += 1
        if inserted != len(rows):
            log.info("notify: %d of %d rows were planned by a concurrent planner", len(rows) - inserted, len(rows))
        return len(new_facts)

    def _row(
        self,
        fact: F.Fact,
        send: Send,
        spec: str,
        key: str,
        contexts: dict[tuple[str, str], dict[str, Any]],
        outcome: PlanOutcome,
    ) -> dict[str, Any] | None:
        rm_address = self.settings.channels[send.channel].rm_address
        manager = Manager.of(fact.client.data, fact.client.rm_user_id) if fact.client is not None else None
        if fact.event == "alert":  # config check refuses these already; refuse again for settings built in code
            refused = [why for why in (aml_refusal(a) for a in (spec, *self.ns.groups.get(spec, ()))) if why]
            if refused:
                note = bilingual(
                    f"[notify.alert]：{spec!r} 不接收反洗钱预警（{refused[0]}），未发送",
                    f"[notify.alert]: {spec!r} never receives AML alerts ({refused[0]}); nothing is sent to it",
                )
                if note not in outcome.warnings:
                    outcome.warnings.append(note)
                return None
        resolved = resolve(spec, rm_address, self.ns, manager)
        if not resolved.addresses and resolved.group:
            note = f"[notify.{fact.event}]: {resolved.problem}; nothing is sent to it"
            if note not in outcome.warnings:
                outcome.warnings.append(note)
            return None
        lang: Lang = send.lang or self.ns.language(self.settings.lang)
        cache_key = (fact.ref, lang)
        if cache_key not in contexts:
            contexts[cache_key] = fact.build(lang)
        payload = {
            "event": fact.event,
            "fact": fact.ref,
            "template": send.template,
            "lang": lang,
            "spec": spec,
            "recipients": list(resolved.addresses),
            "context": contexts[cache_key],
        }
        skipped = not resolved.addresses
        return {
            "kind": F.NOTIFICATION,
            "target": send.channel,
            "stream": fact.event,
            "idempotency_key": key,
            "client_id": fact.client.id if fact.client is not None else None,
            "source_id": fact.ref,
            "payload": payload,
            "payload_hash": content_hash(payload),
            "state": "skipped" if skipped else "planned",
            "attempts": 0,
            "answer": None,
            "last_error": resolved.problem if skipped else None,
            "run_id": fact.run_id,
            "not_before": None,
            "created_at": self.now,
            "updated_at": self.now,
        }
