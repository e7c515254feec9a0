"""Write-back off the critical path: drain a target's outbox at its own pace, beside the syncs.

A CRM's write limit can make a large write-back take hours (Fenxiang: 100 calls per 20 s per path, one record per
call — 93,000 updates ≈ 5 h). A sync therefore spends at most ``[connectors.<name>.write_back].inline_seconds`` on
a target and leaves the rest ``planned``; `crmhub deliver` (or a ``deliver`` job in the scheduler or a worker)
drains it with progress and an ETA. One lock per target (``deliver:<name>``) keeps the sync's deliver phase and a
deliverer from sending the same target at once; the outbox itself keeps every write exactly once whoever sends it
(rows marked ``sent`` before the call, confirmed after; see `crmhub.sync.outbox`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select

from crmhub.config import Settings
from crmhub.contract import Connector, PluginContext
from crmhub.core.outbox import OPEN
from crmhub.errors import FatalError, InputError
from crmhub.plugins import Registry
from crmhub.store import Store
from crmhub.store.locks import LockSet
from crmhub.store.secrets import StoreTokenCache
from crmhub.store.tables import Outbox
from crmhub.store.unit import UnitOfWork
from crmhub.sync.audit import append
from crmhub.sync.outbox import DeliveryStats, deliver
from crmhub.sync.ratebudget import rate_limits
from crmhub.sync.writeback import writable_targets


def deliver_lock(connector: str) -> str:
    """The lock one sender of ``connector``'s write-backs holds."""
    return f"deliver:{connector}"


def queued(store_or_uow: Store | UnitOfWork, target: str) -> int:
    """Write-backs still to send to ``target`` (planned, or sent and never confirmed), due or not."""
    query = (
        select(func.count())
        .select_from(Outbox)
        .where(Outbox.kind == "write_back", Outbox.target == target, Outbox.state.in_(OPEN))
    )
    if isinstance(store_or_uow, UnitOfWork):
        with store_or_uow.transaction() as s:
            return int(s.scalar(query) or 0)
    with store_or_uow.begin() as s:
        return int(s.scalar(query) or 0)


def eta_seconds(left: int, done: int, seconds: float) -> float | None:
    """Time to send ``left`` more at the pace just measured (None before anything was sent)."""
    if left <= 0:
        return 0.0
    if done <= 0 or seconds <= 0:
        return None
    return round(left * seconds / done, 1)


@dataclass(slots=True)
class TargetDrain:
    """What one drain of one target did and left."""

    connector: str
    stats: DeliveryStats = field(default_factory=DeliveryStats)
    seconds: float = 0.0
    left: int = 0
    eta_s: float | None = None
    skipped: str | None = None
    """Why nothing was sent (another sender holds the target, the connector failed …)."""
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """For ``--json`` and job details."""
        return {
            "connector": self.connector,
            "confirmed": self.stats.confirmed,
            "failed": self.stats.failed,
            "retried": self.stats.retried,
            "left": self.left,
            "eta_s": self.eta_s,
            "seconds": round(self.seconds, 1),
            "skipped": self.skipped,
            "error": self.error,
        }


Progress = Callable[[str, DeliveryStats, int], None]
"""Called after every batch with (connector, counts so far, writes left when the drain started)."""


async def drain_target(
    uow: UnitOfWork,
    store: Store,
    conn: Connector[Any],
    name: str,
    *,
    batch: int,
    run_id: int | None,
    budget_s: float | None = None,
    progress: Progress | None = None,
    lock_wait: float = 0.0,
) -> TargetDrain:
    """Send ``name``'s queue under its deliver lock, for at most ``budget_s`` seconds (None: until empty).

    A target another sender holds is skipped (``skipped`` says so): its queue is being drained already.
    """
    out = TargetDrain(name)
    lock = LockSet(store, [deliver_lock(name)])
    if not uow.dry_run:
        holder = await asyncio.to_thread(lock.try_acquire) if lock_wait <= 0 else None
        if lock_wait > 0:
            await lock.acquire_async(wait=lock_wait)
        elif holder is not None:
            out.skipped = f"another deliverer is sending ({holder})"
            out.left = await asyncio.to_thread(queued, uow, name)
            return out
    try:
        start = await asyncio.to_thread(queued, uow, name)
        began = time.monotonic()
        deadline = None if budget_s is None else began + budget_s

        def after_batch(stats: DeliveryStats) -> None:
            if progress is not None:
                progress(name, stats, start)

        try:
            out.stats = await deliver(
                uow, conn, name, batch=batch, run_id=run_id, deadline=deadline, on_batch=after_batch
            )
        finally:
            out.seconds = time.monotonic() - began
            out.left = await asyncio.to_thread(queued, uow, name)
            out.eta_s = eta_seconds(out.left, out.stats.confirmed + out.stats.failed, out.seconds)
    finally:
        if not uow.dry_run:
            await asyncio.to_thread(lock.release)
    return out


async def run_deliverer(
    settings: Settings,
    registry: Registry,
    store: Store,
    only: Sequence[str] | None = None,
    *,
    actor: str,
    progress: Progress | None = None,
    lock_wait: float = 0.0,
) -> list[TargetDrain]:
    """Drain every write-back target (or ``only`` these connectors) until its queue is empty or due later.

    Opens the connectors itself (with the store's shared token cache), one target after the other; a connector
    that fails (bad credentials, unreachable) is reported on its row and the others go on. A run that sent or
    refused anything leaves one audit entry naming ``actor`` with the counts per connector (each write's own
    outcome is on its outbox row; refused ones are dead letters).
    """
    names = [n for n, c in settings.connectors.items() if c.enabled and c.write_back.enabled]
    if only:
        unknown = [n for n in only if n not in settings.connectors]
        if unknown:
            raise InputError(
                f"unknown connector(s) {', '.join(unknown)}; configured: {', '.join(settings.connectors) or '-'}"
            )
        names = [n for n in names if n in only]
    cache = StoreTokenCache(store)
    uow = UnitOfWork(store)
    results: list[TargetDrain] = []
    try:
        async with AsyncExitStack() as stack:
            limits = stack.enter_context(rate_limits(settings, store))
            connectors: dict[str, Connector[Any]] = {}
            for name in names:
                cfg = settings.connectors[name]
                cls = registry.connectors[cfg.plugin]
                connectors[name] = await stack.enter_async_context(
                    cls(cfg, PluginContext(name=name, token_cache=cache, rate_limits=limits))
                )
            for target in writable_targets(connectors):
                name = target.connector
                try:
                    results.append(
                        await drain_target(
                            uow,
                            store,
                            connectors[name],
                            name,
                            batch=settings.sync.write_batch,
                            run_id=None,
                            progress=progress,
                            lock_wait=lock_wait,
                        )
                    )
                except FatalError as exc:
                    left = await asyncio.to_thread(queued, uow, name)
                    results.append(TargetDrain(name, left=left, error=str(exc)))
    finally:
        uow.close()
        _audit(store, actor, results)
    return results


def _audit(store: Store, actor: str, results: list[TargetDrain]) -> None:
    sent = {r.connector: r.as_dict() for r in results if r.stats.confirmed or r.stats.failed or r.error}
    if not sent:
        return

    with store.begin() as s:
        append(
            s,
            actor=actor,
            action="writeback.deliver",
            entity="connector",
            entity_id=next(iter(sent)) if len(sent) == 1 else None,
            details={"targets": sent},
        )
