"""The ingest phase's writer: stores pages in a worker thread, in stream order, while the next pages are fetched.

Why: a page's store (SQLAlchemy statements, JSON of the canonical records, the commit) is synchronous work. Run on
the event loop, it stalls the connector for its whole length — nothing is fetched or mapped while page N commits.
Here every store call of the ingest phase runs on **one** worker thread, in the order it was submitted, so page
N + 1 is fetched and mapped on the loop while page N is stored and committed.

What it keeps from the page-by-page loop (the crash-safety contract):

* a page's records and its cursor still commit in one transaction (the job is the whole transaction);
* pages commit in stream order — one thread, first in first out, across every connector of the run (so the store
  sees one writer, as before: no SQLite lock contention, and a dry run's single PostgreSQL connection is never used
  by two threads at once);
* a page whose store fails stops its stream: the pages submitted after it are skipped, never committed, so no
  cursor ever moves past records that were not stored; the error surfaces from `StreamPages.submit` or
  `StreamPages.drain` exactly as the store call raised it;
* memory stays bounded: at most ``depth`` pages of a stream wait for the writer (`DEPTH`), then the stream waits.

A crash (SIGKILL) loses only the uncommitted pages, which the next run reads again from the stored cursor. On
every way out of a stream (the pull's end, its error, a cancellation) `StreamPages.drain` waits for the stream's
pages already handed over; if that wait is itself cancelled, the pages not yet started are skipped, so nothing is
written after the phase has ended — except the one page already inside its transaction, which commits whole.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections import deque
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

DEPTH = 2
"""Pages of one stream handed to the writer and not yet committed, at most: one being stored, one waiting. The
stream maps the next page meanwhile, so about ``DEPTH + 1`` mapped pages of a stream are in memory."""


class PageWriter:
    """One worker thread that runs every store call of an ingest phase, in submission order."""

    def __init__(self, depth: int = DEPTH) -> None:
        if depth < 1:
            raise ValueError("depth must be at least 1")
        self.depth = depth
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="crmhub-ingest")

    async def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the writer thread (after everything submitted before it) and return its result."""
        return await asyncio.wrap_future(self._pool.submit(fn))

    def stream(self, after: Callable[[], None] | None = None) -> StreamPages:
        """A new ordered sequence of page stores (one per stream); ``after`` runs on the loop after each page that
        committed, in order (the progress display)."""
        return StreamPages(self, after)

    def _submit(self, fn: Callable[[], None]) -> concurrent.futures.Future[None]:
        return self._pool.submit(fn)

    def close(self) -> None:
        """Stop the thread; jobs not started yet are cancelled (every stream has drained before this is called)."""
        self._pool.shutdown(wait=False, cancel_futures=True)


class Skipped(Exception):
    """A page not stored because an earlier page of its stream failed or the stream was stopped."""


class StreamPages:
    """The page stores of one stream in flight, oldest first."""

    def __init__(self, writer: PageWriter, after: Callable[[], None] | None) -> None:
        self._writer = writer
        self._after = after
        self._pending: deque[concurrent.futures.Future[None]] = deque()
        self._broken = False
        """Set on the writer thread when a store failed, or on the loop when the stream stops: later jobs skip."""

    def _job(self, store: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            if self._broken:
                raise Skipped
            try:
                store()
            except BaseException:
                self._broken = True
                raise

        return run

    async def submit(self, store: Callable[[], None]) -> None:
        """Hand one page's store (a whole transaction) to the writer; wait while more than ``depth`` pages of this
        stream are waiting. Raises the error of an earlier page of the stream that failed to store."""
        self._pending.append(self._writer._submit(self._job(store)))
        while len(self._pending) > self._writer.depth:
            await self._settle_oldest()

    def stop(self) -> None:
        """The stream is being abandoned (cancelled): pages not started yet will be skipped."""
        self._broken = True

    async def drain(self) -> None:
        """Wait until every page handed over has committed (or been skipped after a failure); raises the first
        page's error. If this wait is cancelled, the pages not started yet are skipped."""
        while self._pending:
            await self._settle_oldest()

    async def _settle_oldest(self) -> None:
        fut = self._pending[0]
        try:
            await asyncio.shield(asyncio.wrap_future(fut))
        except asyncio.CancelledError:
            self._broken = True  # the stream stops: what has not started will not start
            raise
        except Skipped:
            self._pending.popleft()
            return
        except BaseException:
            self._pending.popleft()
            self._broken = True
            await self._forget_rest()
            raise
        self._pending.popleft()
        if self._after is not None:
            self._after()

    async def _forget_rest(self) -> None:
        """After a failure: wait for the skipped jobs to leave the queue (each returns at once)."""
        rest, self._pending = list(self._pending), deque()
        await asyncio.gather(*(asyncio.wrap_future(f) for f in rest), return_exceptions=True)
