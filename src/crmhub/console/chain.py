"""The audit chain's verification status for the console, walked at most once a minute per app.

`crmhub.sync.audit_verify.verify` (what ``crmhub audit verify`` runs) walks the WHOLE chain — every entry's MAC —
which takes seconds on a long log. The audit page must not: it shows the last result, and when that is older than
`MAX_AGE` it starts a new walk in a background thread and waits only `FIRST_WAIT` for it. So every page is fast,
the status is never more than a minute (plus one walk) old, and a single walk runs at a time however many operators
look. "Verify now" walks synchronously (an explicit request may take its time). A full walk, not an incremental
one, because an edit can hit any old entry; the walk reads in a deferred transaction, never blocking writers.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.exc import SQLAlchemyError

from crmhub.console.reading import read_session
from crmhub.errors import CrmhubError
from crmhub.i18n import Lang, bilingual, set_lang
from crmhub.store import Store
from crmhub.sync.audit_verify import Report, verify

log = logging.getLogger(__name__)

MAX_AGE = 60.0
"""Seconds a verification result is shown before the next page view walks the chain again."""
FIRST_WAIT = 0.8
"""Seconds a page waits for a walk when it has no result at all yet (a short log is done by then)."""


@dataclass(frozen=True, slots=True)
class ChainStatus:
    """One walk's outcome: the report (None when the walk could not run: ``error`` says why) and when it ran."""

    checked_at: datetime
    seconds: float
    report: Report | None = None
    error: str | None = None

    @property
    def intact(self) -> bool:
        return self.report is not None and self.report.problem is None


class ChainWatch:
    """The verification status of one store; thread-safe (pages run in worker threads)."""

    def __init__(self, store: Store, lang: Lang, max_age: float = MAX_AGE) -> None:
        self.store = store
        self.lang: Lang = lang
        self.max_age = max_age
        self._lock = threading.Lock()
        self._walk_lock = threading.Lock()
        self._status: ChainStatus | None = None
        self._mono = 0.0
        self._thread: threading.Thread | None = None

    def current(self, wait: float = FIRST_WAIT) -> tuple[ChainStatus | None, bool]:
        """The latest status and whether a walk is running; starts one in the background when the status is
        older than ``max_age`` (waiting up to ``wait`` seconds for it only when there is no status yet)."""
        with self._lock:
            stale = self._status is None or time.monotonic() - self._mono > self.max_age
            if stale and (self._thread is None or not self._thread.is_alive()):
                self._thread = threading.Thread(target=self._background, name="crmhub-audit-verify", daemon=True)
                self._thread.start()
            thread, status = self._thread, self._status
        if status is None and thread is not None:
            thread.join(wait)
        with self._lock:
            running = self._thread is not None and self._thread.is_alive()
            return self._status, running

    def verify_now(self) -> ChainStatus:
        """Walk the chain now (after any walk already running) and keep the result."""
        return self._walk()

    def _background(self) -> None:
        set_lang(self.lang)  # a new thread has its own context: the problem is described in the console's language
        self._walk()

    def _walk(self) -> ChainStatus:
        with self._walk_lock:
            started, now = time.monotonic(), datetime.now(UTC)
            try:
                with read_session(self.store) as s:
                    status = ChainStatus(now, 0.0, report=verify(s))
            except CrmhubError as exc:  # no audit key here: say so instead of failing the page
                status = ChainStatus(now, 0.0, error=exc.message + (f" — {exc.hint}" if exc.hint else ""))
            except SQLAlchemyError:
                log.exception("audit chain verification could not read the store")
                status = ChainStatus(now, 0.0, error=bilingual("无法读取数据库（详见服务器日志）",
                                                               "the store could not be read (see the server log)"))
            status = ChainStatus(status.checked_at, round(time.monotonic() - started, 3), status.report,
                                 status.error)
            with self._lock:
                self._status, self._mono = status, time.monotonic()
            return status


_WATCHES: weakref.WeakKeyDictionary[object, ChainWatch] = weakref.WeakKeyDictionary()
_WATCHES_LOCK = threading.Lock()


def watch_for(owner: object, store: Store, lang: Lang) -> ChainWatch:
    """The `ChainWatch` of one console app (``owner``: its `ConsoleState`), created on first use."""
    with _WATCHES_LOCK:
        found = _WATCHES.get(owner)
        if found is None:
            found = _WATCHES[owner] = ChainWatch(store, lang)
        return found
