"""The audit page: the audit trail, searchable and paged on the server, newest first, with the chain's
verification status on top; "verify now"; and the filtered entries as CSV or Excel.

The listing and the export select with `crmhub.sync.audit_query` — the functions behind ``crmhub audit list`` and
``crmhub audit export`` — and an export leaves the same ``audit.export`` entry the CLI's does, naming the operator.
Details are shown as stored (masked when written) and masked again on the way out, as the CLI does.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.responses import Response

from crmhub.console.chain import watch_for
from crmhub.console.export import FORMATS, export_response
from crmhub.console.reading import read_session
from crmhub.console.web import Pager, Req, page
from crmhub.display import local_time
from crmhub.store.tables import AuditLog
from crmhub.sync import audit_query
from crmhub.sync.audit_verify import KIND_LABELS

FIELDS = ("actor", "action", "entity", "run", "from", "to", "q", "upto")
"""The filter fields of the page (query arguments), kept by the pager and the export link."""
_NAMES = {"since": "from", "until": "to", "run": "run"}
_EXPORT_PAGE = 1000
COUNT_CAP = 10_000
"""A filtered listing counts its matches only up to this many (and says "more than"): the pager needs no more,
and a count of every match would read the whole filtered log on each page view."""
TEXT_COUNT_CAP = 1_000
"""The cap when searching the details' text: that search reads entries one by one (no index can serve it)."""


@dataclass(frozen=True, slots=True)
class AuditPager(Pager):
    """A `Pager` whose ``total`` may be a lower bound: ``more`` when the matches were counted only up to it."""

    more: bool = False


def _paged(s: Session, filters: audit_query.Filters, page: int, size: int) -> AuditPager:
    """One page of matching entry ids, newest first, and their number — cheap on a long log.

    Unfiltered, the number is the head's ``seq`` (entries are numbered 1, 2, 3 … without gaps), not a COUNT over
    the table. Filtered, matches are counted up to `COUNT_CAP` (at least to just past the page asked for), so the
    count stops early on a filter matching half the log. The page is then an OFFSET on the id order, which every
    index of the table ends with (page 500 of the whole log reads 25,000 index entries: milliseconds).
    """
    table = AuditLog.__table__
    ids = audit_query.query(filters).with_only_columns(table.c.id).order_by(table.c.id.desc())
    more = False
    if replace(filters, upto_seq=None) == audit_query.Filters():
        head = audit_query.head_seq(s)
        total = head if filters.upto_seq is None else max(0, min(head, filters.upto_seq))
    else:
        cap = max(TEXT_COUNT_CAP if filters.text is not None else COUNT_CAP, page * size)
        total = int(s.scalar(select(func.count()).select_from(ids.order_by(None).limit(cap + 1).subquery())) or 0)
        more, total = total > cap, min(total, cap)
    pages = max(1, math.ceil(total / size))
    page = min(page, pages)  # the count reaches past the page asked for: never beyond what was counted
    rows = list(s.scalars(ids.limit(size).offset((page - 1) * size)))
    return AuditPager(rows, total, page, size, more=more)


def _given(req: Req) -> dict[str, str]:
    """The filter fields the operator filled in: the query string of the page, the form of the export."""
    get = req.field if req.form is not None else req.arg
    return {name: get(name) for name in FIELDS if get(name)}


def _filters(given: dict[str, str]) -> audit_query.Filters:
    """The filter fields as `audit_query.Filters` (a clear message for a value that cannot be read)."""
    filters = audit_query.Filters.parse(
        given.get("from"),
        given.get("actor"),
        given.get("entity"),
        until=given.get("to"),
        action=given.get("action"),
        run=given.get("run"),
        text=given.get("q", "")[:200] or None,
        names=_NAMES,
    )
    upto = given.get("upto", "")
    if upto.isdigit() and len(upto) < 16:
        filters = replace(filters, upto_seq=int(upto))
    return filters


def _entry(row: Any) -> dict[str, Any]:
    item = audit_query.entry_json(row)
    details = item["details"]
    item["at_local"] = local_time(item["at"])
    item["details_text"] = json.dumps(details, ensure_ascii=False, sort_keys=True) if details else ""
    item["details_pretty"] = json.dumps(details, ensure_ascii=False, sort_keys=True, indent=2) if details else ""
    return item


@page("GET", "/audit", command="audit list")
def audit_page(req: Req) -> Response:
    """Audit entries, newest first, filtered; the chain's verification status at the top."""
    given = _given(req)
    filters = _filters(given)
    state = req.state
    status, running = watch_for(state, state.store, state.default_lang).current()
    table = AuditLog.__table__
    with read_session(state.store) as s:
        # newest first by id: the same order as seq (entries are numbered as they are written, under a lock), and
        # every index of the table ends with it. A page is found as ids alone (read from an index where a filter
        # has one, sorted small when it must be: a run's 100,000 entries), then its rows are read by key.
        pager = _paged(s, filters, req.page_number(), state.settings.console.page_size)
        rows = (
            s.execute(
                audit_query.query(audit_query.Filters()).where(table.c.id.in_(pager.rows)).order_by(table.c.id.desc())
            ).all()
            if pager.rows
            else []
        )
        entries = [_entry(row) for row in rows]
        head = audit_query.head_seq(s)
        actions = list(s.scalars(select(AuditLog.action).distinct().order_by(AuditLog.action).limit(500)))
    problem = status.report.problem if status is not None and status.report is not None else None
    return req.render(
        "audit/index.html.j2",
        active="/audit",
        pager=pager,
        entries=entries,
        status=status,
        running=running,
        problem=problem,
        head=head,
        actions=actions,
        kinds=KIND_LABELS,
        given=given,
        checked_at=local_time(status.checked_at) if status else "",
        problem_at=local_time(problem.at) if problem is not None and problem.at else "",
        head_at=local_time(status.report.head_at) if status and status.report else "",
        may_export=req.may("audit export"),
        text_cap=TEXT_COUNT_CAP,
    )


@page("POST", "/audit/verify", command="audit verify")
def verify_now(req: Req) -> Response:
    """Walk the whole chain now (as ``crmhub audit verify``) and show the result."""
    state = req.state
    status = watch_for(state, state.store, state.default_lang).verify_now()
    if status.report is None:
        notice = req.text(f"无法验证审计链：{status.error}", f"Could not verify the audit chain: {status.error}")
    elif status.report.problem is None:
        notice = req.text(
            f"审计链完整：已验证至条目 #{status.report.head_seq}",
            f"Audit chain intact: verified up to entry #{status.report.head_seq}",
        )
    else:
        notice = req.text(
            f"审计链已损坏：条目 #{status.report.problem.seq}",
            f"Audit chain broken at entry #{status.report.problem.seq}",
        )
    return req.redirect("/audit", notice=notice)


def _export_rows(req: Req, filters: audit_query.Filters) -> Iterator[list[Any]]:
    """The entries, newest first, a page per short read transaction (never the whole log in memory)."""
    upto = filters.upto_seq
    while upto is None or upto > 0:
        with read_session(req.state.store) as s:
            page_items = list(
                audit_query.entries(s, replace(filters, upto_seq=upto), limit=_EXPORT_PAGE, newest_first=True)
            )
        for item in page_items:
            yield [
                json.dumps(item[c], ensure_ascii=False, sort_keys=True) if c == "details" else item[c]
                for c in audit_query.CSV_COLUMNS
            ]
        if len(page_items) < _EXPORT_PAGE:
            return
        upto = page_items[-1]["seq"] - 1


@page("POST", "/audit/export", command="audit export")
def audit_export(req: Req) -> Response:
    """The filtered entries as CSV or Excel. A POST: the export itself is an audit entry naming the operator
    (written first, with the number of entries; the file holds the log up to just before it)."""
    fmt = req.field("format", "csv")
    fmt = fmt if fmt in FORMATS else "csv"
    given = _given(req)
    filters = _filters(given)
    with req.db() as s:
        head = audit_query.head_seq(s)  # the snapshot exported: entries up to now, not the export's own entry
        filters = replace(filters, upto_seq=min(head, filters.upto_seq) if filters.upto_seq else head)
        count = audit_query.count(s, filters)
        audit_query.record_export(s, actor=req.user.name, fmt=fmt, entries=count, filters={**given, "via": "console"})
    return export_response(fmt, list(audit_query.CSV_COLUMNS), _export_rows(req, filters), "audit")
