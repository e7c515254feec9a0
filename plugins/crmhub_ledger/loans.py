"""The ``loans`` stream: list every loan every run, read the detail only of loans that may have changed.

DPD moves with the calendar and no command records that (core-ledger.md §7), so every loan is re-evaluated every
run (``loans_refresh = "every_run"``) or once per tenant day (``"daily"``, audited loans in between). Re-evaluating
means paging ``GET /loans`` (200 a call); ``GET /loans/{id}?associations=repaymentSchedule`` — the only read with
``delinquent.pastDueDays`` and ``delinquencyRange`` — is called for a loan only when (`loan_state.LoanState`):

* the connector does not know it (new loan, first run, a scan resumed after a crash, another configuration);
* its list item, or the USCC its facility would carry, differs from the last complete scan's;
* the list says it is overdue (``summary.overdueSinceDate`` / ``totalOverdue`` / ``inArrears``), or its last
  detail said it was past due, and crmhub's calendar day (tenant time) moved on since the last complete scan: its
  DPD ages by the day, so the first run of each day reads it again and later runs that day do not;
* its next payment has fallen due since (the list's arrears columns are refreshed by a Fineract job, the detail's
  are computed live);
* the audit trail names it since the last run (a command that changes only what the detail shows).

Any other loan's facility would map exactly as stored, so nothing is emitted for it (ingest would find it unchanged).
DPD is never derived from ``overdueSinceDate`` and a clock: Fineract's ``pastDueDays`` honours grace settings the list
does not show.

Cursor: ``{"phase": "full", "offset", "mark"}`` between pages; ``{"phase": "done", "refreshed_on", "mark",
"state", "read_day"}`` after the last page (``state`` = `LoanState.encode`, only there, so the cursors in between stay
small; ``read_day`` = crmhub's calendar day of that scan, as an ordinal).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from crmhub.contract import Cursor, Page
from crmhub_ledger import audits
from crmhub_ledger.audits import Mark
from crmhub_ledger.loan_state import LoanState, digest, ledger_day, recheck_day, setup_digest

if TYPE_CHECKING:
    from crmhub_ledger.connector import LedgerConnector


async def pull_loans(conn: LedgerConnector, cursor: Cursor | None, since: datetime | None) -> AsyncIterator[Page]:
    """Pages of facilities (see the module docstring for which loans are read in detail)."""
    cursor = cursor or {}
    setup = setup_digest(conn.config.classification_names)
    resumed = cursor.get("phase") == "full"
    mark = Mark.from_json(cursor.get("mark")) if resumed else None
    offset = int(cursor.get("offset", 0)) if resumed else 0
    previous = Mark.from_json(cursor.get("mark")) if cursor.get("phase") == "done" else None
    if mark is None:
        mark = await audits.head(conn.client, "loans")
    today = datetime.now(conn.tz).date().isoformat() if mark.at is None else mark.at.date().isoformat()
    if (
        since is None
        and conn.config.loans_refresh == "daily"
        and cursor.get("phase") == "done"
        and cursor.get("refreshed_on") == today
    ):
        async for page in _loans_from_audit(conn, previous, today, cursor.get("state"), cursor.get("read_day")):
            yield page
        return
    old = None if resumed else LoanState.decode(cursor.get("state"), setup)
    audited: set[int] = set()
    if old is not None and previous is not None:
        audited = (
            await audits.since(
                conn.client,
                previous,
                stream="loans",
                page_size=conn.config.page_size,
                overlap_seconds=conn.config.audit_overlap_seconds,
            )
        ).loans
    clock_day = conn.context.clock().astimezone(conn.tz).date()
    day = ledger_day(clock_day, mark.at.date() if mark.at else None)
    new_day = cursor.get("read_day") != clock_day.toordinal()
    new = LoanState(setup)
    allowed = await conn.office_clients()
    emitted = False
    async for items, total, after in conn.list_pages("/loans", {}, stream="loans", offset=offset):
        wanted: list[int] = []
        digests: dict[int, bytes] = {}
        for item in items:
            lid, client_id = item.get("id"), item.get("clientId")
            if not isinstance(lid, int) or (allowed is not None and client_id not in allowed):
                continue
            d = digest(item, conn.uscc_cache.get(client_id) if isinstance(client_id, int) else None)
            known = old.get(lid) if old is not None else None
            if old is None or lid in audited or old.needs_detail(lid, d, item, day, new_day=new_day):
                wanted.append(lid)
                digests[lid] = d
            elif known is not None:
                new.add(lid, *known)
        fetched = await conn.gather_ordered(wanted, conn.fetch_loan)
        records, rejected = conn.map_loans(fetched)
        refused = {r.source_id for r in rejected}
        for f in fetched:  # vanished (ints) and refused loans stay unknown: read again next run, as before
            if isinstance(f, dict) and str(f.get("id")) not in refused and f.get("id") in digests:
                new.add(int(f["id"]), digests[int(f["id"])], recheck_day(f))
        done = not items or after >= total
        emitted = True
        yield Page(
            records,
            _done(today, mark, new, clock_day.toordinal())
            if done
            else {"phase": "full", "offset": after, "mark": mark.to_json()},
            rejected,
        )
    if not emitted:
        yield Page([], _done(today, mark, new, clock_day.toordinal()))


def _done(today: str, mark: Mark, state: LoanState, read_day: int) -> Cursor:
    return {
        "phase": "done",
        "refreshed_on": today,
        "mark": mark.to_json(),
        "state": state.encode(),
        "read_day": read_day,
    }


async def _loans_from_audit(
    conn: LedgerConnector, mark: Mark | None, today: str, state: Any, read_day: Any
) -> AsyncIterator[Page]:
    """``daily`` between two refreshes: the audited loans only; the state rides along unchanged (a loan read here
    no longer matches its fingerprint, so the next refresh reads it once more — never less)."""
    new_mark = await audits.head(conn.client, "loans")
    changes = await audits.since(
        conn.client,
        mark,
        stream="loans",
        page_size=conn.config.page_size,
        overlap_seconds=conn.config.audit_overlap_seconds,
    )
    records, rejected = conn.map_loans(await conn.gather_ordered(sorted(changes.loans), conn.fetch_loan))
    cursor: Cursor = {"phase": "done", "refreshed_on": today, "mark": new_mark.to_json()}
    if isinstance(state, str):
        cursor["state"] = state
    if isinstance(read_day, int):
        cursor["read_day"] = read_day
    yield Page(records, cursor, rejected)


__all__ = ["pull_loans"]
