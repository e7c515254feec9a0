"""The windowed ``_id`` keyset scan: read any number of records without ever asking for ``offset`` > 0.

Fenxiang refuses ``offset`` > 10,000 (errorCode 10013), so offset paging cannot read a large tenant. The vendor's
deep-paging recipe, made incremental (fact sheet §4):

1. Fix a window ``[lo, hi]`` on ``last_modified_time`` (ms). ``hi`` is the newest ``last_modified_time`` the
   server holds when the window opens (one probe query ordered by ``last_modified_time`` desc, limit 1), so the
   window never reaches past the server's own clock, whatever the skew between our clock and theirs.
2. Read ``last_modified_time`` in ``[lo, hi]`` AND ``_id`` > last ``_id`` seen, ordered by ``_id``, 100 a page,
   ``offset`` always 0, until a page comes back short.
3. The next window starts at ``hi − overlap`` (late commits, records changed on the boundary millisecond).
   The closing cursor lists the ``_id|last_modified_time`` of the records it read inside that overlap (at most
   `SEEN_CAP`), and the next window drops them, so an unchanged record is not read again; a record changed since
   has a new ``last_modified_time`` and is read.

A record changed during a scan gets a ``last_modified_time`` > ``hi`` and is read by the next window; a crash
resumes inside the window from the cursor saved with the last committed page. The cursor is a few integers and
strings, plus the bounded overlap list.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from crmhub.errors import FatalError
from crmhub_fxiaoke.client import FxiaokeClient

CURSOR_VERSION = 1
LMT = "last_modified_time"
SEEN_CAP = 200
"""Most records the closing cursor remembers from the overlap; with more (a bulk edit in the last seconds), the
next window simply reads them again (unchanged, they are no-ops in the store)."""


@dataclass(frozen=True, slots=True)
class Window:
    """A scan in progress: ``last_modified_time`` in [lo, hi], ``_id`` after ``after``."""

    lo: int
    hi: int
    after: str = ""


@dataclass(frozen=True, slots=True)
class ScanState:
    """Everything with ``last_modified_time`` ≤ ``mark`` has been read, plus the window in progress."""

    mark: int | None = None
    window: Window | None = None
    seen: tuple[str, ...] = ()
    """``_id|last_modified_time`` of the records read inside the overlap before ``mark``: skipped when read again."""

    def to_cursor(self) -> dict[str, Any]:
        """JSON-serialisable form (what the engine stores with each page)."""
        out: dict[str, Any] = {"v": CURSOR_VERSION, "mark": self.mark}
        if self.window is not None:
            out["window"] = {"lo": self.window.lo, "hi": self.window.hi, "after": self.window.after}
        if self.seen:
            out["seen"] = list(self.seen)
        return out

    @classmethod
    def from_cursor(cls, cursor: dict[str, Any] | None, *, connector: str, stream: str) -> ScanState:
        """Parse a stored cursor; a cursor this version cannot read is a fatal, explained error."""
        if not cursor:
            return cls()
        try:
            if cursor.get("v") != CURSOR_VERSION:
                raise ValueError(f"version {cursor.get('v')!r}")
            mark = cursor.get("mark")
            win = cursor.get("window")
            window = Window(int(win["lo"]), int(win["hi"]), str(win.get("after") or "")) if win else None
            seen = tuple(str(key) for key in cursor.get("seen") or ())
            return cls(int(mark) if mark is not None else None, window, seen)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise FatalError(
                f"stored cursor {cursor!r} is not a Fenxiang scan cursor ({exc})",
                connector=connector,
                stream=stream,
                hint="run the stream once with a full read to reset its cursor",
            ) from None


async def scan(
    client: FxiaokeClient,
    api_name: str,
    state: ScanState,
    *,
    stream: str,
    page_size: int,
    overlap_ms: int,
    base_filters: list[dict[str, Any]],
    since_ms: int | None = None,
) -> AsyncIterator[tuple[list[dict[str, Any]], ScanState]]:
    """Yield (rows, state after these rows) until the window is exhausted; the last state closes the window."""
    window = state.window
    if since_ms is not None:
        window = None
        lo = since_ms
        state = ScanState(state.mark)
    else:
        lo = max(0, state.mark - overlap_ms) if state.mark is not None else 0
    if window is None:
        probe = await client.query(
            api_name,
            [*base_filters, _f(LMT, "GTE", lo)],
            orders=[{"fieldName": LMT, "isAsc": False}],
            limit=1,
            projection=["_id", LMT],
            stream=stream,
        )
        if not probe:
            return
        try:
            hi = int(str(probe[0][LMT]))
        except (KeyError, ValueError) as exc:
            raise FatalError(
                f"{api_name}: the newest record has no usable {LMT} ({exc})",
                connector=client.context.name,
                stream=stream,
            ) from None
        window = Window(lo, hi)
        state = ScanState(state.mark, window, state.seen)
    mark = max(window.hi, state.mark or 0)
    skip = set(state.seen)
    recent: list[str] = []

    def fetch(w: Window) -> asyncio.Task[list[dict[str, Any]]]:
        filters = [*base_filters, _f(LMT, "GTE", w.lo), _f(LMT, "LTE", w.hi)]
        if w.after:
            filters.append(_f("_id", "GT", w.after))
        return client.track(
            asyncio.ensure_future(
                client.query(
                    api_name, filters, orders=[{"fieldName": "_id", "isAsc": True}], limit=page_size, stream=stream
                )
            )
        )

    # one page is fetched ahead while the caller maps and stores the current one (the next query needs only
    # the current page's last _id); the page is still yielded — and its cursor saved — strictly in order
    pending = fetch(window)
    try:
        while True:
            rows = await pending
            ids = [r["_id"] for r in rows if isinstance(r.get("_id"), str)]
            fresh = [r for r in rows if _key(r) not in skip] if skip else rows
            recent += [_key(r) for r in rows if _millis(r) >= mark - overlap_ms]
            if len(rows) < page_size:
                yield fresh, ScanState(mark, None, tuple(sorted(recent)) if len(recent) <= SEEN_CAP else ())
                return
            if not ids or max(ids) <= window.after:
                raise FatalError(
                    f"{api_name}: a full page did not move the _id cursor past {window.after!r}",
                    connector=client.context.name,
                    stream=stream,
                    hint="the gateway ignored the _id filter or order; please report this",
                )
            window = Window(window.lo, window.hi, max(ids))
            state = ScanState(state.mark, window, state.seen)
            pending = fetch(window)
            yield fresh, state
    finally:
        if not pending.done():
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pending


def _key(row: dict[str, Any]) -> str:
    return f"{row.get('_id')}|{row.get(LMT)}"


def _millis(row: dict[str, Any]) -> int:
    try:
        return int(str(row.get(LMT)))
    except ValueError:
        return -1


def _f(field: str, op: str, value: object) -> dict[str, Any]:
    return {"field_name": field, "operator": op, "field_values": [value]}
