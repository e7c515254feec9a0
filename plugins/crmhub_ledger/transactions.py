"""The ``transactions`` stream: booking-date search per account, streamed page by page.

Fineract filters transactions by booking day only (``fromSubmittedDate``), so a run must re-read the last day it
saw, and the connector de-duplicates by ``(account id, transaction id)``. Cursor shapes:

* first run (``phase: "full"``): every account in id order, transactions booked since ``history_days`` ago;
  ``offset``/``acct``/``tx`` locate the account in the list and the position inside its search.
* later runs (``phase: "audit"``): only accounts the audit trail says were written to since ``mark``, searched
  from ``day`` (the last booked day seen); ``seen`` keeps, for accounts active on or after ``day``, the highest
  transaction id already emitted (ids only grow per account), so the re-read returns nothing twice.

Only one account's page is in memory at a time; the next accounts' first pages are fetched ahead within the
concurrency budget.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from crmhub.contract import Cursor, Page, RejectedRecord, SourceRecord
from crmhub_ledger import audits, mapping
from crmhub_ledger.audits import Mark
from crmhub_ledger.client import NotFound
from crmhub_ledger.fineract import DateParseError, format_java_date, parse_date

if TYPE_CHECKING:
    from crmhub_ledger.connector import LedgerConnector

STREAM = "transactions"


@dataclass(slots=True)
class Seen:
    """Per account: highest transaction id emitted and its last booking day (ordinal), for the re-read."""

    accounts: dict[int, tuple[int, int]] = field(default_factory=dict)
    max_day: int = 0

    def note(self, account: int, tx_id: int, day: date | None) -> None:
        """Remember an emitted (or rejected) transaction."""
        old_id, old_day = self.accounts.get(account, (0, 0))
        ordinal = day.toordinal() if day else old_day
        self.accounts[account] = (max(old_id, tx_id), max(old_day, ordinal))
        self.max_day = max(self.max_day, ordinal)

    def floor(self, account: int) -> int:
        """Ids at or below this were emitted before."""
        return self.accounts.get(account, (0, 0))[0]

    def to_json(self, keep_from: int = 0) -> dict[str, list[int]]:
        """The entries still needed: accounts whose last booking day is on or after ``keep_from``."""
        return {str(a): [i, d] for a, (i, d) in self.accounts.items() if d >= keep_from}

    @classmethod
    def from_json(cls, data: Any) -> Seen:
        """From a cursor."""
        seen = cls()
        if isinstance(data, dict):
            for key, value in data.items():
                seen.accounts[int(key)] = (int(value[0]), int(value[1]))
                seen.max_day = max(seen.max_day, int(value[1]))
        return seen


def _day(value: Any) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) and value else None


def _final(mark: Mark, seen: Seen, start: date) -> Cursor:
    """The cursor after a completed run: re-read from the last booked day (or the mark's day), no earlier."""
    last = max(seen.max_day, mark.at.date().toordinal() if mark.at else 0)
    day = date.fromordinal(last) if last else start
    return {
        "phase": "audit",
        "mark": mark.to_json(),
        "day": day.isoformat(),
        "seen": seen.to_json(keep_from=day.toordinal()),
    }


async def pull_transactions(
    conn: LedgerConnector, cursor: Cursor | None, since: datetime | None
) -> AsyncIterator[Page]:
    """Entry point used by `LedgerConnector.pull`."""
    cursor = cursor or {}
    if since is None and cursor.get("phase") == "audit":
        async for page in _incremental(conn, cursor):
            yield page
        return
    if since is None and cursor.get("phase") == "full":
        state = dict(cursor)
        mark = Mark.from_json(state.get("mark")) or Mark(0, None)
        seen = Seen.from_json(state.get("seen"))
    else:
        mark = await audits.head(conn.client, STREAM)
        seen = Seen()
        if since is not None:
            start = conn.local(since).date()
        else:
            today = datetime.now(conn.tz).date()
            if mark.at is not None:
                today = min(today, mark.at.date())
            start = today - timedelta(days=conn.config.history_days)
        state = {"phase": "full", "from": start.isoformat(), "offset": 0, "acct": None, "tx": 0}
    async for page in _full(conn, state, mark, seen):
        yield page


async def _search(conn: LedgerConnector, account: int, start: date, offset: int) -> dict[str, Any]:
    cfg = conn.config
    params: dict[str, str | int] = {
        "fromSubmittedDate": format_java_date(start, cfg.date_format),
        "dateFormat": cfg.date_format,
        "locale": cfg.date_locale,
        "orderBy": "id",
        "sortOrder": "ASC",
        "offset": offset,
        "limit": cfg.page_size,
    }
    page: dict[str, Any] = await conn.client.get(
        f"/savingsaccounts/{account}/transactions/search", params, stream=STREAM
    )
    return page


def _map_page(
    conn: LedgerConnector,
    account: int,
    client_id: str | None,
    page: dict[str, Any],
    floor: int,
    emitted: set[int],
    seen: Seen,
) -> tuple[list[SourceRecord], list[RejectedRecord], int]:
    """Map one search page; returns records, rejects, and how many distinct rows it held (for the offset)."""
    records: list[SourceRecord] = []
    rejected: list[RejectedRecord] = []
    distinct: set[Any] = set()
    for item in page.get("content", []) or []:
        if not isinstance(item, dict):
            continue
        tx_id = item.get("id")
        if tx_id in distinct:
            continue
        distinct.add(tx_id)
        if isinstance(tx_id, int) and (tx_id <= floor or tx_id in emitted):
            continue
        try:
            tx = mapping.map_transaction(item, account, client_id, conn.config)
        except mapping.MappingProblem as exc:
            rejected.append(conn.reject(STREAM, item, exc))
            rejected[-1] = rejected[-1].model_copy(
                update={"source_id": mapping.transaction_key(account, tx_id) if tx_id is not None else None}
            )
            if isinstance(tx_id, int):
                emitted.add(tx_id)
                seen.note(account, tx_id, _safe_day(item))
            continue
        emitted.add(int(tx_id))  # type: ignore[arg-type]
        seen.note(account, int(tx_id), tx.booking_date)  # type: ignore[arg-type]
        records.append(SourceRecord(stream=STREAM, source_id=tx.source_id, data=tx, raw=item))
    return records, rejected, len(distinct)


def _safe_day(item: dict[str, Any]) -> date | None:
    try:
        return parse_date(item.get("submittedOnDate"))
    except DateParseError:
        return None


async def _prefetch(conn: LedgerConnector, jobs: list[tuple[int, date, int]]) -> AsyncGenerator[dict[str, Any], None]:
    """First search pages of ``jobs`` (account, from, offset) in order, ``concurrency`` of them in flight."""
    window = conn.config.concurrency
    tasks: dict[int, asyncio.Task[dict[str, Any]]] = {}
    try:
        for i in range(len(jobs)):
            for j in range(i, min(len(jobs), i + window)):
                if j not in tasks:
                    tasks[j] = asyncio.ensure_future(_search(conn, *jobs[j]))
            yield await tasks.pop(i)
    finally:
        for task in tasks.values():
            task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)


async def _account_pages(
    conn: LedgerConnector,
    account: int,
    client_id: str | None,
    start: date,
    offset: int,
    first: dict[str, Any],
    floor: int,
    seen: Seen,
) -> AsyncIterator[tuple[Page, int, bool]]:
    """Pages of one account's search from ``offset``: (page without cursor, next offset, last page?)."""
    emitted: set[int] = set()
    page = first
    while True:
        records, rejected, rows = _map_page(conn, account, client_id, page, floor, emitted, seen)
        total = int(page.get("total", 0) or 0)
        offset += rows
        last = rows == 0 or offset >= total
        if records or rejected or last:
            yield Page(records, None, rejected), offset, last
        if last:
            return
        page = await _search(conn, account, start, offset)


async def _full(conn: LedgerConnector, state: dict[str, Any], mark: Mark, seen: Seen) -> AsyncIterator[Page]:
    start = _day(state.get("from")) or date.today()
    listing_offset = int(state.get("offset", 0))
    resume_acct, resume_tx = state.get("acct"), int(state.get("tx", 0))
    allowed = await conn.office_clients()

    def cursor(offset: int, acct: int | None, tx: int) -> Cursor:
        return {
            "phase": "full",
            "from": start.isoformat(),
            "offset": offset,
            "acct": acct,
            "tx": tx,
            "mark": mark.to_json(),
            "seen": seen.to_json(keep_from=seen.max_day),
        }

    index = listing_offset
    async for items, _total, _after in conn.list_pages("/savingsaccounts", {}, stream=STREAM, offset=listing_offset):
        accounts: list[tuple[int, int, str | None]] = []
        for item in items:
            idx, index = index, index + 1
            sid, cid = item.get("id"), item.get("clientId")
            if not isinstance(sid, int) or (allowed is not None and cid not in allowed):
                continue
            accounts.append((idx, sid, str(cid) if cid is not None else None))
        jobs = [(sid, start, resume_tx if sid == resume_acct else 0) for _, sid, _ in accounts]
        prefetched = _prefetch(conn, jobs)
        try:
            for (idx, sid, cid), (_, _, tx_offset) in zip(accounts, jobs, strict=True):
                first = await prefetched.__anext__()
                async for page, after, last in _account_pages(conn, sid, cid, start, tx_offset, first, 0, seen):
                    page.next_cursor = cursor(idx + 1, None, 0) if last else cursor(idx, sid, after)
                    yield page
        finally:
            await prefetched.aclose()
    yield Page([], _final(mark, seen, start))


async def _incremental(conn: LedgerConnector, cursor: Cursor) -> AsyncIterator[Page]:
    mark = Mark.from_json(cursor.get("mark"))
    seen = Seen.from_json(cursor.get("seen"))
    start = _day(cursor.get("day")) or date.today()
    new_mark = await audits.head(conn.client, STREAM)
    changes = await audits.since(
        conn.client,
        mark,
        stream=STREAM,
        page_size=conn.config.page_size,
        overlap_seconds=conn.config.audit_overlap_seconds,
    )
    ids = set(changes.savings)
    for cid in sorted(changes.savings_of_clients):
        try:
            listing = await conn.client.get(f"/clients/{cid}/accounts", stream=STREAM)
        except NotFound:
            continue
        ids.update(int(a["id"]) for a in listing.get("savingsAccounts", []) if isinstance(a.get("id"), int))
    allowed = await conn.office_clients()
    unchanged = dict(cursor)

    async def owner(sid: int) -> tuple[int, str | None] | None:
        try:
            account = await conn.client.get(f"/savingsaccounts/{sid}", stream=STREAM)
        except NotFound:
            return None
        cid = account.get("clientId")
        if allowed is not None and cid not in allowed:
            return None
        return sid, str(cid) if cid is not None else None

    targets = [t for t in await conn.gather_ordered(sorted(ids), owner) if t is not None]
    jobs = [(sid, start, 0) for sid, _ in targets]
    prefetched = _prefetch(conn, jobs)
    try:
        for sid, cid in targets:
            first = await prefetched.__anext__()
            async for page, _after, _last in _account_pages(conn, sid, cid, start, 0, first, seen.floor(sid), seen):
                page.next_cursor = unchanged
                yield page
    finally:
        await prefetched.aclose()
    yield Page([], _final(new_mark, seen, start))
