"""The audit chain's verification status for the console, walked at most once a minute per app.

`crmhub.sync.audit_verify.verify` (what ``crmhub audit verify`` runs) walks the WHOLE chain — every entry's MAC —
which takes seconds on a long log. The audit page must not: it shows the last result, and when that is older than
`MAX_AGE` (or than a few walks' time, on a log so long that one walk takes more than a few seconds) it starts a
new walk and never waits for it: the page says "verification running…" with the last known result, and a reload
shows the new one. The background walk runs in a child process (`crmhub.console.chain_walk`): in a thread it held
the interpreter lock for the whole walk (~30 s at 200,000 entries) and slowed every page served meanwhile. So every
page is fast, and a single walk runs at a time however many operators look. "Verify now" walks synchronously, in
the console (an explicit request may take its time). A full walk, not an incremental one, because an edit can hit
any old entry; the walk reads in a deferred transaction, never blocking writers.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime

from crmhub.console.chain_walk import check, report_of
from crmhub.i18n import Lang, bilingual, set_lang
from crmhub.store import Store
from crmhub.sync.audit_verify import Report

log = logging.getLogger(__name__)

MAX_AGE = 60.0
"""Seconds a verification result is shown before the next page view walks the chain again."""
WALKS_APART = 4.0
"""A background walk starts at most every this many times the last walk's duration (a long log is walked less
often than every `MAX_AGE` seconds, so the walks never take most of a CPU)."""


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

    def current(self) -> tuple[ChainStatus | None, bool]:
        """The latest status and whether a walk is running; starts one in the background when the status is
        older than ``max_age`` (and than `WALKS_APART` times the last walk). Never waits for it."""
        with self._lock:
            status = self._status
            age = max(self.max_age, WALKS_APART * status.seconds) if status is not None else 0.0
            stale = status is None or time.monotonic() - self._mono > age
            if stale and (self._thread is None or not self._thread.is_alive()):
                self._thread = threading.Thread(target=self._background, name="crmhub-audit-verify", daemon=True)
                self._thread.start()
            return status, self._thread is not None and self._thread.is_alive()

    def verify_now(self) -> ChainStatus:
        """Walk the chain now (after any walk already running) and keep the result."""
        return self._walk()

    def _background(self) -> None:
        """Walk in a child process (see the module docstring); keep its result like `_walk` does."""
        set_lang(self.lang)  # a new thread has its own context: messages in the console's language
        url = self.store.engine.url
        if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
            self._walk()  # a database only this process sees (tests): walk here
            return
        with self._walk_lock:
            started, now = time.monotonic(), datetime.now(UTC)
            stderr = ""
            asked = {
                "url": url.render_as_string(hide_password=False),
                "var_dir": str(self.store.var_dir.resolve()),
                "lang": self.lang,
            }
            try:
                done = subprocess.run(
                    [sys.executable, "-m", "crmhub.console.chain_walk"],
                    input=json.dumps(asked),
                    capture_output=True,
                    text=True,
                    check=False,
                )
                stderr = done.stderr
                answer = json.loads(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 else None
            except (OSError, ValueError, IndexError):
                log.exception("the audit chain verification process could not run")
                answer = None
            if answer is None:
                log.error("the audit chain verification process failed: %s", stderr[-2000:])
                status = ChainStatus(
                    now,
                    0.0,
                    error=bilingual(
                        "验证进程失败（详见服务器日志）", "the verification process failed (see the server log)"
                    ),
                )
            elif answer.get("report") is not None:
                status = ChainStatus(now, 0.0, report=report_of(answer["report"]))
            else:
                status = ChainStatus(now, 0.0, error=str(answer.get("error")))
            self._keep(status, started)

    def _walk(self) -> ChainStatus:
        with self._walk_lock:
            started, now = time.monotonic(), datetime.now(UTC)
            report, error = check(self.store)
            return self._keep(ChainStatus(now, 0.0, report, error), started)

    def _keep(self, status: ChainStatus, started: float) -> ChainStatus:
        status = ChainStatus(status.checked_at, round(time.monotonic() - started, 3), status.report, status.error)
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
