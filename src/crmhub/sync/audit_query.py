"""Reading the audit log for people and for other systems: filtered listing and JSONL/CSV export, streamed.

Listing and export page through the table by sequence number (keyset paging), so exporting years of entries
never holds more than one page in memory. ``details`` are masked again on the way out (`mask_fields` is
idempotent), in case an entry's writer passed personal data through unmasked. CSV cells that a spreadsheet would
read as a formula (starting with ``= + - @``, tab or carriage return) get a leading ``'``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import IO, Any

from sqlalchemy import Select, Text, cast, func, or_, select
from sqlalchemy.orm import Session

from crmhub.display import current_timezone
from crmhub.errors import InputError
from crmhub.i18n import bilingual
from crmhub.masking import mask_fields
from crmhub.store.tables import AuditLog
from crmhub.sync.audit import append

_PAGE = 1000
CSV_COLUMNS = ("seq", "id", "at", "actor", "action", "object_type", "object_id", "run_id", "details", "chain", "mac")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True, slots=True)
class Filters:
    """What `entries` selects: entries at or after ``since`` (and before ``until``), by ``actor``, about
    ``object_type``[:``object_id``], with ``action`` (a trailing ``*``: any action starting so), of run ``run_id``,
    whose details contain ``text``, numbered at most ``upto_seq`` (an export's snapshot of the chain)."""

    since: datetime | None = None
    actor: str | None = None
    object_type: str | None = None
    object_id: str | None = None
    until: datetime | None = None
    action: str | None = None
    run_id: int | None = None
    text: str | None = None
    upto_seq: int | None = None

    @classmethod
    def parse(
        cls,
        since: str | None,
        actor: str | None,
        obj: str | None,
        *,
        until: str | None = None,
        action: str | None = None,
        run: str | None = None,
        text: str | None = None,
        names: dict[str, str] | None = None,
    ) -> Filters:
        """From the command line or a form; an `InputError` naming the option when a value cannot be read.

        ``until`` is inclusive: a date means the whole day. ``names`` says how to call each option in messages
        (the console's field names instead of ``--since``)."""
        name = {"since": "--since", "until": "--until", "run": "--run", **(names or {})}
        object_type, _, object_id = (obj or "").strip().partition(":")
        run_id: int | None = None
        if run:
            if not run.strip().isdigit() or len(run.strip()) > 12:
                raise InputError(
                    bilingual(f"{name['run']} {run!r} 不是运行编号", f"{name['run']} {run!r} is not a run id"),
                    hint=bilingual("运行编号是数字，例如 12", "a run id is a number, e.g. 12"),
                )
            run_id = int(run)
        end = _since(until, name["until"]) if until else None
        if end is not None and until is not None and len(until.strip()) == 10:
            end += timedelta(days=1)  # a date: up to the end of that day
        return cls(
            _since(since, name["since"]) if since else None,
            actor or None,
            object_type.strip() or None,
            object_id.strip() or None,
            until=end,
            action=(action or "").strip() or None,
            run_id=run_id,
            text=(text or "").strip() or None,
        )


def _since(value: str, option: str = "--since") -> datetime:
    """``2026-12-01`` (midnight in the configured time zone) or an ISO 8601 time (without offset: that zone)."""
    value = value.strip()
    try:
        parsed = (
            datetime.combine(date.fromisoformat(value), time()) if len(value) == 10 else datetime.fromisoformat(value)
        )
    except ValueError:
        raise InputError(
            bilingual(f"{option} {value!r} 不是日期或时间", f"{option} {value!r} is not a date or time"),
            hint=bilingual("例如 ", "use e.g. ") + "2026-12-01, 2026-12-01T09:00:00+08:00",
        ) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=current_timezone())


def _like(text: str) -> str:
    """``%text%`` for LIKE with ``!`` escaping the wildcards the user typed."""
    return "%" + text.replace("!", "!!").replace("%", "!%").replace("_", "!_") + "%"


def query(filters: Filters) -> Select[Any]:
    """The entries matching ``filters`` (no ORDER BY; rows of the ``audit_log`` table)."""
    table = AuditLog.__table__
    q = select(table)
    if filters.since is not None:
        q = q.where(table.c.at >= filters.since)
    if filters.until is not None:
        q = q.where(table.c.at < filters.until)
    if filters.actor is not None:
        q = q.where(table.c.actor == filters.actor)
    if filters.object_type is not None:
        q = q.where(table.c.entity == filters.object_type)
    if filters.object_id is not None:
        q = q.where(table.c.entity_id == filters.object_id)
    if filters.action is not None:
        if filters.action.endswith("*"):
            q = q.where(table.c.action.like(_like(filters.action[:-1])[1:], escape="!"))
        else:
            q = q.where(table.c.action == filters.action)
    if filters.run_id is not None:
        q = q.where(table.c.run_id == filters.run_id)
    if filters.upto_seq is not None:
        q = q.where(table.c.seq <= filters.upto_seq)
    if filters.text is not None:
        # SQLite keeps JSON with non-ASCII characters escaped (\u676d), PostgreSQL as text: look for both forms
        body = func.lower(cast(table.c.details, Text))
        needle = filters.text.lower()
        escaped = json.dumps(needle)[1:-1]
        forms = {needle, escaped}
        q = q.where(or_(*(body.like(_like(f), escape="!") for f in sorted(forms))))
    return q


def count(session: Session, filters: Filters) -> int:
    """How many entries match."""
    return int(session.scalar(select(func.count()).select_from(query(filters).subquery())) or 0)


def head_seq(session: Session) -> int:
    """The newest entry's number (0 for an empty log)."""
    return int(session.scalar(select(func.max(AuditLog.seq))) or 0)


EXPORT_ACTION = "audit.export"


def record_export(session: Session, *, actor: str, fmt: str, entries: int, filters: dict[str, Any]) -> AuditLog:
    """The audit entry every export of the audit log leaves — the CLI's ``audit export`` and the console's: who
    exported how many entries, in which format, selected how (``filters``: the options as given)."""
    return append(
        session,
        actor=actor,
        action=EXPORT_ACTION,
        entity="audit_log",
        entity_id=None,
        details={"format": fmt, "entries": entries, **filters},
    )


def entries(
    session: Session, filters: Filters, *, limit: int | None = None, newest_first: bool = False
) -> Iterator[dict[str, Any]]:
    """Matching entries as JSON-ready dicts, a page at a time (never the whole table)."""
    table = AuditLog.__table__
    base = query(filters)
    last: int | None = None
    left = limit
    while left is None or left > 0:
        page_size = _PAGE if left is None else min(_PAGE, left)
        q = base
        if last is not None:
            q = q.where(table.c.seq < last if newest_first else table.c.seq > last)
        q = q.order_by(table.c.seq.desc() if newest_first else table.c.seq).limit(page_size)
        rows = session.execute(q).all()
        for row in rows:
            yield entry_json(row)
        if len(rows) < page_size:
            return
        last = rows[-1].seq
        if left is not None:
            left -= len(rows)


def entry_json(row: Any) -> dict[str, Any]:
    """One entry as the export and ``--json`` show it (details masked)."""
    return {
        "seq": row.seq,
        "id": row.id,
        "at": row.at.isoformat(),
        "actor": row.actor,
        "action": row.action,
        "object_type": row.entity,
        "object_id": row.entity_id,
        "run_id": row.run_id,
        "details": mask_fields(row.details or {}),
        "chain": row.chain,
        "mac": row.hash,
    }


def safe_cell(value: Any) -> str:
    """A CSV cell no spreadsheet runs as a formula."""
    text = (
        ""
        if value is None
        else value
        if isinstance(value, str)
        else json.dumps(value, ensure_ascii=False, sort_keys=True)
        if isinstance(value, dict | list)
        else str(value)
    )
    return "'" + text if text.startswith(_FORMULA_START) else text


def write(items: Iterator[dict[str, Any]], fmt: str, handle: IO[str]) -> int:
    """Write ``items`` as ``jsonl`` or ``csv`` to ``handle``; the number written."""
    count = 0
    if fmt == "jsonl":
        for item in items:
            handle.write(json.dumps(item, ensure_ascii=False, sort_keys=True) + "\n")
            count += 1
        return count
    writer = csv.writer(handle)
    writer.writerow(CSV_COLUMNS)
    for item in items:
        writer.writerow([safe_cell(item[c]) for c in CSV_COLUMNS])
        count += 1
    return count
