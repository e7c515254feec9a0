"""Retrying dead letters: inbound records are re-mapped and stored through ingest, refused write-backs re-queued.

Listing and reading them is below the engine (`crmhub.store.deadletter_query`, `crmhub.store.deadletter_history`);
a retry is here because it makes connectors and stores through `crmhub.sync.ingest.Ingestor`.

`retry_dead_letters` is what ``crmhub deadletter retry`` and the console's Retry button both run: it makes the
configured connectors, retries, and leaves one audit entry naming the operator — so the two behave identically.

A retry never holds a store transaction while it talks to a connector: the rows to retry are read in one short
transaction, each connector re-maps its payloads (which may call the source, e.g. Fenxiang's ``describe``, and use
the token cache — another connection to the same database), and each outcome is written in its own short
transaction. Holding SQLite's write lock across that work made the token cache's connection wait out the busy
timeout and fail with "database is locked".
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from crmhub.contract import Connector, PluginContext, RateLimits, StreamKind
from crmhub.core.outbox import OutboxState
from crmhub.errors import CrmhubError, InputError, RecordError
from crmhub.store import deadletter_history as dl_history
from crmhub.store.secrets import StoreTokenCache
from crmhub.store.tables import DeadLetter, Outbox
from crmhub.sync.audit import append
from crmhub.sync.ingest import Ingestor
from crmhub.sync.ratebudget import rate_limits

if TYPE_CHECKING:
    from crmhub.config import Settings
    from crmhub.plugins import Registry
    from crmhub.store import Store

log = logging.getLogger(__name__)

ConnectorFactory = Callable[[str], "Connector[Any] | None"]
"""Makes the configured connector of that name, or None when it is no longer configured."""


def select_for_retry(session: Session, ids: list[int] | None) -> list[DeadLetter]:
    """The open dead letters to retry (all when ``ids`` is None); unknown ids are an `InputError`."""
    q = select(DeadLetter).where(DeadLetter.status == "open")
    if ids is not None:
        q = q.where(DeadLetter.id.in_(ids))
    rows = list(session.scalars(q.order_by(DeadLetter.id)))
    if ids is not None:
        missing = sorted(set(ids) - {r.id for r in rows})
        if missing:
            raise InputError(
                f"no open dead letter with id {', '.join(map(str, missing))}", hint="see `crmhub deadletter list`"
            )
    return rows


@dataclass(frozen=True, slots=True)
class _Todo:
    """What a retry needs of a dead letter, read before any connector work starts."""

    id: int
    direction: str
    connector: str
    stream: str
    source_id: str | None
    payload: dict[str, Any]
    run_id: int | None


@dataclass(frozen=True, slots=True)
class RetryOutcome:
    """One dead letter's retry: ``ok`` and what happened (the new reason when it still fails)."""

    id: int
    connector: str
    stream: str
    source_id: str | None
    ok: bool
    message: str

    def as_json(self) -> dict[str, Any]:
        """For `crmhub deadletter retry --json`."""
        return {
            "id": self.id,
            "connector": self.connector,
            "stream": self.stream,
            "source_id": self.source_id,
            "ok": self.ok,
            "message": self.message,
        }


async def retry(store: Store, ids: list[int] | None, make_connector: ConnectorFactory) -> list[RetryOutcome]:
    """Retry the open dead letters ``ids`` (all when None); see the module docstring for the transactions."""
    with store.begin() as s:
        todo = [
            _Todo(r.id, r.direction, r.connector, r.stream, r.source_id, dict(r.payload or {}), r.run_id)
            for r in select_for_retry(s, ids)
        ]
    outcomes: list[RetryOutcome] = []
    inbound: dict[str, list[_Todo]] = defaultdict(list)
    for item in todo:
        if item.direction == "out":
            with store.begin() as s:
                outcomes.append(_retry_outbound(s, item))
        else:
            inbound[item.connector].append(item)
    for name, items in inbound.items():
        try:
            connector = make_connector(name)
        except (CrmhubError, KeyError) as exc:  # KeyError: its plugin is no longer installed
            outcomes += [_record(store, item, f"connector {name!r} cannot be set up: {exc}", False) for item in items]
            continue
        if connector is None:
            outcomes += [_record(store, item, f"connector {name!r} is no longer configured", False) for item in items]
            continue
        try:
            async with connector:
                for item in items:
                    outcomes.append(await _retry_inbound(store, connector, item))
        except CrmhubError as exc:  # the connector could not open (e.g. authentication): its items stay open,
            done = {o.id for o in outcomes}  # with the reason in their history; the other connectors go on
            outcomes += [
                _record(store, item, f"connector {name!r} could not be used now: {exc}", False)
                for item in items
                if item.id not in done
            ]
    return sorted(outcomes, key=lambda o: o.id)


def connector_factory(
    settings: Settings, registry: Registry, store: Store, limits: RateLimits | None = None
) -> ConnectorFactory:
    """Makes the configured connectors as a sync does (sharing the store's token cache and ``limits``, the run's
    rate limits); None when a dead letter's connector is no longer configured. A plugin that is no longer installed
    raises KeyError (`retry` records it)."""
    cache: StoreTokenCache | None
    try:
        cache = StoreTokenCache(store)
    except CrmhubError as exc:  # the tokens cannot be shared: each connector fetches its own
        log.warning("tokens will not be shared: %s", exc)
        cache = None

    def make(name: str) -> Connector[Any] | None:
        cfg = settings.connectors.get(name)
        if cfg is None:
            return None
        return registry.connectors[cfg.plugin](cfg, PluginContext(name=name, token_cache=cache, rate_limits=limits))

    return make


async def retry_dead_letters(
    settings: Settings, registry: Registry, store: Store, ids: list[int] | None, actor: str, *, via: str | None = None
) -> list[RetryOutcome]:
    """Retry the open dead letters ``ids`` (all when None) with the configured connectors, and leave one audit
    entry naming the operator ``actor`` (a name: the sync engine knows no `Actor`) with which ids came back and
    which still fail (``via``: e.g. ``console``, noted in it).

    `crmhub deadletter retry` and the console both call this; an unknown or no longer open id is an `InputError`.
    """
    with rate_limits(settings, store) as limits:
        outcomes = await retry(store, ids, connector_factory(settings, registry, store, limits))
    if outcomes:  # who retried which dead letters, with what outcome (the history keeps the details)
        details: dict[str, Any] = {
            "ok": [o.id for o in outcomes if o.ok],
            "failed": [o.id for o in outcomes if not o.ok],
        }
        if via:
            details["via"] = via
        with store.begin() as s:
            append(
                s,
                actor=actor,
                action="deadletter.retry",
                entity="dead_letter",
                entity_id=outcomes[0].id if len(outcomes) == 1 else None,
                details=details,
            )
    return outcomes


async def _retry_inbound(store: Store, connector: Connector[Any], item: _Todo) -> RetryOutcome:
    try:
        spec = connector.stream(item.stream)
    except KeyError as exc:
        return _record(store, item, str(exc.args[0]), False)
    try:
        record = await connector.remap(item.stream, item.payload)
    except RecordError as exc:  # the record itself is still bad: that is its reason now
        return _record(store, item, str(exc), True)
    except CrmhubError as exc:  # the source or configuration failed, not the record: keep its reason
        return _record(store, item, f"could not re-map now: {exc}", False)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:  # a plugin's remap choked on the payload's
        return _record(store, item, f"the stored payload cannot be re-mapped: {exc!r}", True)  # shape: a record reason
    with store.begin() as s:
        row = s.scalars(select(DeadLetter).where(DeadLetter.id == item.id).with_for_update()).first()
        if row is None or row.status != "open":
            return RetryOutcome(
                item.id,
                item.connector,
                item.stream,
                item.source_id,
                True,
                "already resolved meanwhile (a sync stored the record)",
            )
        message = "re-mapped and stored" if spec.kind is not StreamKind.DELETION else "re-mapped and applied"
        history, attempts = row.history, row.attempts
        _mark(row, dl_history.RETRY_OK, message, ok=True)
        s.flush()  # resolved before the records are stored, so ingest does not note a second resolution
        refused = Ingestor(connector.name, item.run_id).store_records(s, spec, [record])
        if refused is not None:  # the store's screen or the database refused the re-mapped record
            row.history, row.attempts, row.status = history, attempts, "open"
            _mark(row, dl_history.RETRY_FAILED, refused, ok=False)
            row.reason = refused
            return RetryOutcome(item.id, item.connector, item.stream, item.source_id, False, refused)
    return RetryOutcome(item.id, item.connector, item.stream, item.source_id, True, message)


def _record(store: Store, item: _Todo, message: str, new_reason: bool) -> RetryOutcome:
    """A failed retry: history entry, one more attempt; ``new_reason`` replaces the latest reason."""
    with store.begin() as s:
        row = s.get(DeadLetter, item.id)
        if row is not None and row.status == "open":
            _mark(row, dl_history.RETRY_FAILED, message, ok=False)
            if new_reason:
                row.reason = message
    return RetryOutcome(item.id, item.connector, item.stream, item.source_id, False, message)


def _mark(row: DeadLetter, event: str, message: str, *, ok: bool) -> None:
    now = datetime.now(UTC)
    dl_history.append(row, event, message, at=now)
    row.attempts += 1
    row.updated_at = now
    if ok:
        row.status = "resolved"


def _retry_outbound(session: Session, item: _Todo) -> RetryOutcome:
    """Re-queue a refused write-back so the next delivery sends it again."""
    row = session.get(DeadLetter, item.id)
    outbox_id = item.payload.get("outbox_id")
    if row is None or outbox_id is None:
        message = "no outbox row recorded for this dead letter"
        if row is not None:
            _mark(row, dl_history.RETRY_FAILED, message, ok=False)
        return RetryOutcome(item.id, item.connector, item.stream, item.source_id, False, message)
    session.execute(
        update(Outbox)
        .where(Outbox.id == outbox_id)
        .values(state=OutboxState.PLANNED, not_before=None, attempts=0, updated_at=datetime.now(UTC))
    )
    _mark(row, dl_history.RETRY_OK, "write-back queued again", ok=False)
    row.status = "retried"
    return RetryOutcome(item.id, item.connector, item.stream, item.source_id, True, "write-back queued again")
