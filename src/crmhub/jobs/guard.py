"""Stopping a running job without losing or doubling work: a stop token and the sync engine's safe points.

A job is stopped for two reasons — its ``timeout`` passed, or the process is shutting down — and only at a point
where stopping is free. In a sync that is anywhere in *ingest* (every page and its cursor commit in one
synchronous transaction, so a cancel lands between pages or inside an HTTP call) and in *deliver* (outbox rows are
marked ``sent`` before the call and re-sent idempotently), but not while *match* or *merge* run: they work in a
thread that a cancelled coroutine cannot stop, and the engine would release the connector and merge locks while
that thread still writes. `SafePoints` is the engine's progress listener: it learns the phase from the engine and
cancels the run's task as soon as a requested stop is safe. Risk assessment stops between batches; notification
jobs are safe to cancel anywhere (the outbox is exactly-once).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from crmhub.sync.ingest import StreamStats
from crmhub.sync.phases import not_cancel_safe

CRITICAL_PHASES = not_cancel_safe()
"""Phases a stop waits for, as each phase declares (`crmhub.sync.phase.Phase.cancel_safe`): those working in a
thread (match, merge, link, risk, plan) and the finishing ones (report, notify)."""
StopKind = Literal["timeout", "shutdown"]
log = logging.getLogger("crmhub.jobs")


@dataclass(frozen=True, slots=True)
class StopReason:
    """Why a job is asked to stop."""

    kind: StopKind
    text: str


class StopToken:
    """A request to stop one running job at its next safe point; safe to use from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reason: StopReason | None = None
        self._listeners: list[Callable[[StopReason], object]] = []

    @property
    def reason(self) -> StopReason | None:
        """The first reason given, or None while no stop was asked."""
        return self._reason

    def request(self, kind: StopKind, text: str) -> None:
        """Ask to stop (the first request wins; later ones are ignored). Never raises: the caller is typically a
        process that is shutting down, and a listener that fails must not keep it from the rest of its stop."""
        with self._lock:
            if self._reason is not None:
                return
            self._reason = StopReason(kind, text)
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(self._reason)
            except Exception:
                log.exception("a stop listener failed; the stop goes on")

    def subscribe(self, listener: Callable[[StopReason], object]) -> Callable[[], None]:
        """Call ``listener`` on the request (at once if it was already made); returns a function that removes it
        (call it when whatever the listener acts on is gone, e.g. the job's event loop)."""
        with self._lock:
            reason = self._reason
            if reason is None:
                self._listeners.append(listener)
                return lambda: self._unsubscribe(listener)
        listener(reason)
        return lambda: None

    def _unsubscribe(self, listener: Callable[[StopReason], object]) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)


def post(loop: asyncio.AbstractEventLoop, callback: Callable[..., object], *args: object) -> bool:
    """``loop.call_soon_threadsafe(callback, *args)`` from any thread; False (nothing done) when the loop has
    closed — a job whose loop ended has nothing left to stop. A stop request can race the end of a job's loop
    (the worker's runner still lists the job while it records the outcome), and raising there used to abort the
    worker's SIGTERM handling ("Event loop is closed")."""
    try:
        loop.call_soon_threadsafe(callback, *args)
    except RuntimeError:
        if loop.is_closed():
            return False
        raise
    return True


class JobStopped(Exception):
    """Raised inside a job (risk batches) when a stop was requested and the current batch is committed."""

    def __init__(self, reason: StopReason) -> None:
        super().__init__(reason.text)
        self.reason = reason


class SafePoints:
    """The sync engine's `Progress`: cancels the run's task when a requested stop reaches a safe phase."""

    def __init__(self, loop: asyncio.AbstractEventLoop, token: StopToken) -> None:
        self.loop = loop
        self.token = token
        self.current = "starting"
        self.pages = 0
        self.stopped_in: str | None = None
        self._task: asyncio.Task[object] | None = None
        self.unsubscribe = token.subscribe(lambda _reason: post(loop, self._check))
        """Stop listening (when the run's loop ends)."""

    def bind(self, task: asyncio.Task[object]) -> None:
        """The task running the engine."""
        self._task = task
        self._check()

    def _check(self) -> None:
        reason = self.token.reason
        task = self._task
        if reason is None or task is None or task.done() or self.stopped_in is not None:
            return
        if self.current in CRITICAL_PHASES:
            return
        self.stopped_in = self.current
        task.cancel(reason.text)

    def stream_started(self, connector: str, stream: str) -> None:
        self._check()

    def page_stored(self, connector: str, stream: str, stats: StreamStats) -> None:
        self.pages += 1
        self._check()

    def stream_finished(self, connector: str, stream: str, stats: StreamStats) -> None:
        self._check()

    def phase(self, name: str) -> None:
        self.current = name
        self._check()
