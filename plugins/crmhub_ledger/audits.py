"""Change detection through Fineract's audit trail (``GET /audits``), the ledger's only "modified since".

Fineract has no ``modifiedSince`` filter; every write *command* leaves an audit row instead (id ascending,
``madeOnDate`` tenant-local). The high-water mark is the newest row's (id, time), captured *before* a run reads
anything, so changes made while the run is under way are picked up next time. The next scan asks for rows from
the mark's time minus an overlap and drops rows with ``id <= mark.id`` — the time filter bounds the scan, the id
makes it exact. Loan DPD and job-posted interest change without commands; the connector handles those itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from crmhub.http.paging import offset_pages
from crmhub_ledger.client import LedgerClient
from crmhub_ledger.fineract import AUDIT_TIME_FORMAT, DateParseError, parse_datetime

_SAVINGS_URL = re.compile(r"/savingsaccounts/(\d+)")
_LOAN_URL = re.compile(r"/loans/(\d+)")
_CLIENT_URL = re.compile(r"/clients/(\d+)")


@dataclass(frozen=True, slots=True)
class Mark:
    """An audit high-water mark: the newest audit id and its tenant-local time (``None`` = no audits yet)."""

    id: int
    at: datetime | None

    def to_json(self) -> dict[str, Any]:
        """For cursors."""
        return {"id": self.id, "at": self.at.strftime(AUDIT_TIME_FORMAT) if self.at else None}

    @classmethod
    def from_json(cls, data: Any) -> Mark | None:
        """From a cursor (``None`` when absent)."""
        if not isinstance(data, dict):
            return None
        at = data.get("at")
        return cls(int(data.get("id", 0)), datetime.strptime(at, AUDIT_TIME_FORMAT) if at else None)


@dataclass(slots=True)
class Changes:
    """What the audit rows since a mark touched, by entity."""

    clients: set[int] = field(default_factory=set)
    savings: set[int] = field(default_factory=set)
    savings_of_clients: set[int] = field(default_factory=set)
    loans: set[int] = field(default_factory=set)
    rows: int = 0
    newest: datetime | None = None


async def head(client: LedgerClient, stream: str) -> Mark:
    """The current high-water mark: the newest audit row (``GET /audits?paged=true&limit=1``)."""
    page = await client.get("/audits", {"paged": True, "offset": 0, "limit": 1, "sortOrder": "DESC"}, stream=stream)
    items = page.get("pageItems") if isinstance(page, dict) else page
    if not items:
        return Mark(0, None)
    row = items[0]
    try:
        at = parse_datetime(row.get("madeOnDate"))
    except DateParseError:
        at = None
    return Mark(int(row.get("id", 0)), at)


def classify(row: dict[str, Any], changes: Changes) -> None:
    """Add the entities one audit row touched to ``changes``."""
    entity = str(row.get("entityName") or "").upper()
    url = str(row.get("url") or "")
    resource = row.get("resourceId")
    client_id = row.get("clientId")
    if entity.startswith("CLIENT"):
        match = _CLIENT_URL.search(url)
        ident = client_id or (int(match.group(1)) if match else resource)
        if isinstance(ident, int):
            changes.clients.add(ident)
    elif entity.startswith("SAVINGS"):
        match = _SAVINGS_URL.search(url)
        if match:
            changes.savings.add(int(match.group(1)))
        elif entity == "SAVINGSACCOUNT" and str(row.get("actionName")) == "CREATE" and isinstance(resource, int):
            changes.savings.add(resource)
        elif isinstance(client_id, int):
            changes.savings_of_clients.add(client_id)
    elif entity.startswith("LOAN"):
        loan = row.get("loanId")
        match = _LOAN_URL.search(url)
        ident = loan or (int(match.group(1)) if match else resource)
        if isinstance(ident, int):
            changes.loans.add(ident)


async def since(
    client: LedgerClient,
    mark: Mark | None,
    *,
    stream: str,
    page_size: int,
    overlap_seconds: int,
    after: datetime | None = None,
) -> Changes:
    """Entities touched by audit rows newer than ``mark`` (or made at/after ``after``, tenant-local)."""
    changes = Changes()
    params: dict[str, Any] = {"paged": True, "sortOrder": "DESC", "limit": page_size}
    start = after
    if start is None and mark is not None and mark.at is not None:
        start = mark.at - timedelta(seconds=overlap_seconds)
    if start is not None:
        params["makerDateTimeFrom"] = start.strftime(AUDIT_TIME_FORMAT)
    floor = mark.id if (mark is not None and after is None) else 0

    async def fetch(offset: int) -> tuple[list[dict[str, Any]], int | None]:
        page = await client.get("/audits", {**params, "offset": offset}, stream=stream)
        items = page.get("pageItems", []) if isinstance(page, dict) else page
        total = page.get("totalFilteredRecords") if isinstance(page, dict) else None
        return items or [], None if total is None else int(total)

    async for items, _, _ in offset_pages(fetch):
        for row in items:
            if int(row.get("id", 0)) <= floor:
                return changes
            changes.rows += 1
            classify(row, changes)
    return changes
