"""Reading a module completely or incrementally, in pages the engine can commit one by one.

**Order and cursor.** Records are read by ``Modified_Time`` ascending from a lower bound (``If-Modified-Since``,
inclusive). A page's ``next_cursor`` never points past a record not yet yielded: mid-run it names the time from
which to resume (boundary duplicates are possible and dropped by ``(id, Modified_Time)``); after the last page it
becomes ``{"mode": "incremental", "since": <newest Modified_Time>, "seen": [...]}``, and the next run starts
``overlap_seconds`` earlier and drops what ``seen`` lists.

**Throughput.** One ``page_token`` chain returns 200 records per round trip, whatever the concurrency. To approach
*concurrency × 200* we split the range into **windows of about 2,000 records** using a COQL key scan
(``select Modified_Time … order by Modified_Time, id limit offset, 2000``, one heavy call per 2,000 keys). Every
page of a window is addressable by page number with ``If-Modified-Since = window start`` (2,000 is exactly the
page-number wall), so all pages of several windows are fetched in parallel under the edition's concurrency, and
windows are yielded in order. A window keeps only records before the next window's start; ids the scan saw but
the pages missed (a concurrent edit shifted a page) are fetched by ``ids=``. Ties wider than a window fall back to
``page_token`` inside the window. Without COQL (scope missing, ``parallel_read = "sequential"``) the reader follows
one ``page_token`` chain. Bulk Read (see `crmhub_zoho.bulk`) is used for very large first loads.
"""

from __future__ import annotations

import asyncio
import functools
import math
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from crmhub.contract import Cursor, Page, RejectedRecord, SourceRecord
from crmhub.core.chunks import chunked
from crmhub.errors import AuthError
from crmhub_zoho.client import ListPage, ZohoApiError, ZohoClient
from crmhub_zoho.config import ZohoConfig
from crmhub_zoho.mapping import parse_time

PAGE_WALL = 2000
"""Page numbers reach only the first 2,000 records of a query (fact sheet §2.2)."""

SCAN_FLOOR = "2000-01-01T00:00:00+00:00"
"""Lower bound for a full key scan (COQL needs a WHERE clause on older API versions)."""

MapFn = Callable[[dict[str, Any]], SourceRecord | RejectedRecord]
WindowPages = list[tuple[bool, list[dict[str, Any]]]]


def epoch_of(text: str | None) -> float:
    """Epoch seconds of a Zoho datetime text (``-inf`` for None or unreadable).

    Texts are cached: a parallel read parses each record's ``Modified_Time`` three times (the key scan, the window
    filter, the boundary bookkeeping), a few thousand records apart; 16,384 entries cover the windows in flight.
    Anything else an outside system sends (a number, an object) is parsed uncached, as before."""
    if isinstance(text, str):
        return _epoch_of_text(text)
    return _epoch(text)


def _epoch(text: object) -> float:
    try:
        parsed = parse_time(text)
    except (ValueError, OverflowError):
        return float("-inf")
    return parsed.timestamp() if parsed is not None else float("-inf")


_epoch_of_text = functools.lru_cache(maxsize=16_384)(_epoch)


def shift(text: str, seconds: int) -> str:
    """``text`` moved back by ``seconds``, keeping its offset."""
    parsed = parse_time(text)
    assert parsed is not None
    return (parsed - timedelta(seconds=seconds)).isoformat(timespec="seconds")


def as_text(value: datetime) -> str:
    """A datetime as Zoho-style text (naive values are taken as UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat(timespec="seconds")


@dataclass(slots=True)
class Window:
    """A ``Modified_Time`` range ``[start, end)`` holding about 2,000 records; ``end=None`` is the open tail."""

    start: str | None
    end: str | None
    ids: list[str]

    @property
    def end_epoch(self) -> float:
        """``end`` in epoch seconds (+inf for the tail)."""
        return epoch_of(self.end) if self.end else float("inf")


@dataclass(slots=True)
class Progress:
    """What a run has seen: the newest ``Modified_Time`` and the recent (id, time) pairs for boundary de-dup."""

    overlap: int
    cap: int
    previous_since: str | None
    seen_before: set[str] = field(default_factory=set)
    newest: str | None = None
    newest_epoch: float = float("-inf")
    recent: dict[str, float] = field(default_factory=dict)
    refetched: dict[str, str] = field(default_factory=dict)

    def note(self, rec: dict[str, Any]) -> str:
        """Record one raw record; its boundary key ``id|Modified_Time``."""
        mt = rec.get("Modified_Time")
        key = f"{rec.get('id')}|{mt}"
        t = epoch_of(mt)
        if t > self.newest_epoch:
            self.newest, self.newest_epoch = str(mt), t
        if t >= self.newest_epoch - self.overlap:
            self.recent[key] = t
            if len(self.recent) > 4 * max(self.cap, 256):
                self._prune()
        return key

    def _prune(self) -> None:
        floor = self.newest_epoch - self.overlap
        kept = sorted(((t, k) for k, t in self.recent.items() if t >= floor), reverse=True)[: self.cap]
        self.recent = {k: t for t, k in kept}

    def final_cursor(self) -> Cursor:
        """The cursor after the last page: incremental from the newest time seen."""
        self._prune()
        since = self.newest or self.previous_since
        return {"v": 1, "mode": "incremental", "since": since, "seen": sorted(self.recent)}

    def resume_cursor(self, start: str | None, seen: Sequence[str] = ()) -> Cursor:
        """A mid-run cursor: resume reading at ``start`` (inclusive)."""
        return {"v": 1, "mode": "scan", "from": start, "since": self.previous_since, "seen": list(seen)}


class ModuleReader:
    """Reads one module (Accounts or Contacts) into pages of mapped records."""

    def __init__(
        self, client: ZohoClient, config: ZohoConfig, *, stream: str, module: str, fields: Sequence[str], map_fn: MapFn
    ) -> None:
        self.client = client
        self.config = config
        self.stream = stream
        self.module = module
        self.fields = list(fields)
        self.map_fn = map_fn
        self.per_page = config.page_size
        self.lookahead = max(2, math.ceil(2 * config.effective_concurrency * config.page_size / PAGE_WALL) + 1)
        self.mode_used = "sequential"
        self._ties_at_end = 0

    async def read(self, lower: str | None, progress: Progress) -> AsyncIterator[Page]:
        """Pages of everything modified at or after ``lower`` (None = everything)."""
        first = await self._list(page=1, since=lower)
        if first.status in (204, 304) or not first.data:
            yield Page([], progress.final_cursor())
            return
        if not first.more:
            yield self._page(first.data, progress, None)
            return
        if self.config.parallel_read != "sequential":
            try:
                async for page in self._parallel(first, lower, progress):
                    yield page
                return
            except _CoqlUnavailable:
                pass
        async for page in self._sequential(first, lower, progress):
            yield page

    # --- one chain -------------------------------------------------------------------------------------------

    async def _sequential(self, first: ListPage, lower: str | None, progress: Progress) -> AsyncIterator[Page]:
        self.mode_used = "sequential"
        current, number = first, 1
        while True:
            data = current.data
            last_mt = str(data[-1].get("Modified_Time")) if data else lower
            at_last = [f"{r.get('id')}|{r.get('Modified_Time')}" for r in data if r.get("Modified_Time") == last_mt][
                : self.config.boundary_ids
            ]
            if not current.more:
                yield self._page(data, progress, None)
                return
            yield self._page(data, progress, progress.resume_cursor(last_mt, at_last))
            token = current.next_token
            if token is None and (number + 1) * self.per_page <= PAGE_WALL:
                number += 1
                current = await self._list(page=number, since=lower)
            elif token is not None:
                number += 1
                current = await self._list(page_token=token, since=lower)
            else:
                raise ZohoApiError(
                    f"Zoho gave no next_page_token after record {number * self.per_page}",
                    status=200,
                    zoho_code=None,
                    details={},
                    connector=self.client.connector,
                    stream=self.stream,
                    hint="use API v8 (api_version) so page tokens are sent",
                )
            if current.status in (204, 304) or not current.data:
                yield Page([], progress.final_cursor())
                return

    # --- parallel windows -------------------------------------------------------------------------------------

    async def _parallel(self, first: ListPage, lower: str | None, progress: Progress) -> AsyncIterator[Page]:
        planner = self._plan(lower)
        try:
            window = await planner.__anext__()
        except StopAsyncIteration:
            window = Window(lower, None, [])
        self.mode_used = "parallel"
        slots = asyncio.Semaphore(self.lookahead)
        pipeline: asyncio.Queue[tuple[Window, asyncio.Task[WindowPages]] | BaseException | None] = asyncio.Queue()

        async def schedule() -> None:
            nonlocal window
            try:
                await slots.acquire()
                pipeline.put_nowait((window, asyncio.create_task(self._fetch_window(window, first))))
                async for nxt in planner:
                    await slots.acquire()
                    pipeline.put_nowait((nxt, asyncio.create_task(self._fetch_window(nxt, None))))
                pipeline.put_nowait(None)
            except asyncio.CancelledError:
                raise
            except BaseException as exc:
                pipeline.put_nowait(exc)

        scheduler = asyncio.create_task(schedule())
        pending: list[asyncio.Task[Any]] = [scheduler]
        try:
            while True:
                item = await pipeline.get()
                if item is None:
                    break
                if isinstance(item, BaseException):
                    raise item
                win, task = item
                pages = await task
                slots.release()
                ties = _Ties(self.config.boundary_ids)
                for i, (refetch, raw) in enumerate(pages):
                    last = i == len(pages) - 1
                    if last and win.end is None:
                        yield self._page(raw, progress, None, refetch=refetch)
                    elif last:
                        yield self._page(raw, progress, progress.resume_cursor(win.end), refetch=refetch)
                    else:
                        ties.add(raw, refetch)
                        yield self._page(raw, progress, ties.cursor(progress, win.start), refetch=refetch)
        finally:
            scheduler.cancel()
            while not pipeline.empty():
                leftover = pipeline.get_nowait()
                if isinstance(leftover, tuple):
                    leftover[1].cancel()
                    pending.append(leftover[1])
            await asyncio.gather(*pending, return_exceptions=True)

    async def _plan(self, lower: str | None) -> AsyncIterator[Window]:
        """Windows from COQL key scans, in order; the last one is open-ended.

        Scans of consecutive 2,000-key slices (``limit offset, 2000`` from the same lower bound) run a few at a time
        in parallel; past ``coql_offset_limit`` a new block starts from the last key seen (keyset), since COQL's
        OFFSET ceiling is believed to be 100,000 (UNCONFIRMED, configurable)."""
        start: str | None = lower
        ids: list[str] = []
        last_mt: str | None = None
        last_epoch = float("-inf")
        block_lower, block_offset = lower or SCAN_FLOOR, 0
        depth = max(1, min(4, self.config.effective_concurrency // 3))
        pending: list[asyncio.Task[ListPage]] = []
        first = True
        try:
            while True:
                while len(pending) < depth and block_offset + PAGE_WALL <= self.config.coql_offset_limit:
                    query = (
                        f"select Modified_Time from {self.module} where Modified_Time >= '{block_lower}' "
                        f"order by Modified_Time asc, id asc limit {block_offset}, {PAGE_WALL}"
                    )
                    pending.append(asyncio.create_task(self.client.coql(query, stream=self.stream)))
                    block_offset += PAGE_WALL
                if not pending:  # the block reached the OFFSET ceiling: continue from the last key (keyset)
                    assert last_mt is not None
                    # keys at exactly last_mt were already read: skip them in the new block
                    block_lower, block_offset = last_mt, self._ties_at_end
                    continue
                task = pending.pop(0)
                try:
                    batch = await task
                except (ZohoApiError, AuthError) as exc:
                    scope = isinstance(exc, AuthError) and exc.service_code == "OAUTH_SCOPE_MISMATCH"
                    if first and (isinstance(exc, ZohoApiError) or scope):
                        raise _CoqlUnavailable(str(exc)) from exc
                    raise
                first = False
                keys = [(str(r.get("Modified_Time")), str(r["id"])) for r in batch.data]
                for mt, rid in keys:
                    mt_epoch = epoch_of(mt)
                    if mt_epoch == last_epoch:
                        self._ties_at_end += 1
                    else:
                        self._ties_at_end = 1
                    if len(ids) >= PAGE_WALL and mt_epoch != last_epoch:
                        yield Window(start, mt, ids)
                        start, ids = mt, []
                    ids.append(rid)
                    last_mt, last_epoch = mt, mt_epoch
                if len(keys) < PAGE_WALL or not batch.more:
                    break
            yield Window(start, None, ids)
        finally:
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def _fetch_window(self, window: Window, prefetched: ListPage | None) -> WindowPages:
        """Every record of a window, as pages; parallel page numbers, then more pages, then missing ids.

        Each page comes with a flag: True for records re-fetched by id (so their echo later in the tail is dropped).
        """
        max_numbered = PAGE_WALL // self.per_page
        wanted = min(max_numbered, max(1, math.ceil(len(window.ids) / self.per_page)))
        numbers = [n for n in range(1, wanted + 1) if not (n == 1 and prefetched is not None)]
        fetched = await asyncio.gather(*(self._list(page=n, since=window.start) for n in numbers))
        pages: list[ListPage] = ([prefetched] if prefetched is not None else []) + list(fetched)
        end = window.end_epoch
        last = pages[-1]
        number = len(pages)
        while last.more and last.data and epoch_of(last.data[-1].get("Modified_Time")) < end:
            token = last.next_token
            if number < max_numbered:
                number += 1
                last = await self._list(page=number, since=window.start)
            elif token is not None:
                number += 1
                last = await self._list(page_token=token, since=window.start)
            else:
                break
            pages.append(last)
        out: WindowPages = []
        got: set[str] = set()
        for page in pages:
            kept = [r for r in page.data if epoch_of(r.get("Modified_Time")) < end and r.get("id") not in got]
            got.update(str(r.get("id")) for r in kept)
            if kept:
                out.append((False, kept))
        missing = [rid for rid in window.ids if rid not in got]
        for chunk in chunked(missing, 100):
            extra = await self.client.list_page(
                self.module, self.fields, ids=chunk, per_page=self.per_page, stream=self.stream
            )
            if extra.data:
                out.append((True, extra.data))
        return out or [(False, [])]

    # --- helpers ---------------------------------------------------------------------------------------------

    async def _list(
        self, *, page: int | None = None, page_token: str | None = None, since: str | None = None
    ) -> ListPage:
        return await self.client.list_page(
            self.module,
            self.fields,
            page=page,
            page_token=page_token,
            since=since,
            per_page=self.per_page,
            stream=self.stream,
        )

    def _page(
        self, raw: list[dict[str, Any]], progress: Progress, cursor: Cursor | None, *, refetch: bool = False
    ) -> Page:
        """Map raw records into a page; ``cursor=None`` means "the last page": the final cursor is computed after
        these records are noted."""
        records: list[SourceRecord] = []
        rejected: list[RejectedRecord] = []
        for rec in raw:
            key = progress.note(rec)
            if key in progress.seen_before:
                continue
            rid = str(rec.get("id"))
            if refetch:
                progress.refetched[rid] = str(rec.get("Modified_Time"))
            elif rid in progress.refetched and progress.refetched[rid] == str(rec.get("Modified_Time")):
                continue
            out = self.map_fn(rec)
            if isinstance(out, SourceRecord):
                records.append(out)
            else:
                rejected.append(out)
        return Page(records, cursor if cursor is not None else progress.final_cursor(), rejected)


class _Ties:
    """Where to resume inside a window: after the newest ``Modified_Time`` read so far, skipping the records read
    at exactly that time (a window's numbered pages come in ``Modified_Time`` order).

    Resuming from the window's start instead would read its earlier pages a second time. Once records fetched by id
    (out of order) were read, only the window's start is safe, and the re-read is accepted.
    """

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.time: str | None = None
        self.keys: list[str] = []
        self.out_of_order = False

    def add(self, raw: list[dict[str, Any]], refetch: bool) -> None:
        """Note one page's records."""
        self.out_of_order = self.out_of_order or refetch
        for rec in raw:
            mt = rec.get("Modified_Time")
            if mt != self.time:
                self.time, self.keys = str(mt) if mt is not None else None, []
            self.keys.append(f"{rec.get('id')}|{mt}")

    def cursor(self, progress: Progress, window_start: str | None) -> Cursor:
        """The cursor after the pages noted so far."""
        if self.out_of_order or self.time is None or len(self.keys) > self.cap:
            return progress.resume_cursor(window_start)
        return progress.resume_cursor(self.time, self.keys)


class _CoqlUnavailable(Exception):
    """COQL refused the key scan (scope, edition or API version): fall back to one page_token chain."""
