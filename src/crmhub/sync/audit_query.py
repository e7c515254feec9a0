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
from datetime import date, datetime, time
from typing import IO, Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from crmhub.errors import InputError
from crmhub.i18n import bilingual
from crmhub.masking import mask_fields
from crmhub.store.tables import AuditLog

_PAGE = 1000
CSV_COLUMNS = ("seq", "id", "at", "actor", "action", "object_type", "object_id", "run_id", "details", "chain",
               "mac")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True, slots=True)
class Filters:
    """What `entries` selects: entries at or after ``since``, by ``actor``, about ``object_type``[:``object_id``]."""

    since: datetime | None = None
    actor: str | None = None
    object_type: str | None = None
    object_id: str | None = None

    @classmethod
    def parse(cls, since: str | None, actor: str | None, obj: str | None) -> Filters:
        """From the command line; an `InputError` naming the option when a value cannot be read."""
        object_type, _, object_id = (obj or "").partition(":")
        return cls(_since(since) if since else None, actor or None, object_type or None, object_id or None)


def _since(value: str) -> datetime:
    """``2026-12-01`` (midnight in the configured time zone) or an ISO 8601 time (without offset: that zone)."""
    from crmhub.display import current_timezone

    try:
        parsed = datetime.combine(date.fromisoformat(value), time()) if len(value) == 10 else \
            datetime.fromisoformat(value)
    except ValueError:
        raise InputError(bilingual(f"--since {value!r} 不是日期或时间", f"--since {value!r} is not a date or time"),
                         hint=bilingual("例如 ", "use e.g. ") + "2026-12-01, 2026-12-01T09:00:00+08:00") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=current_timezone())


def _query(filters: Filters) -> Select[Any]:
    table = AuditLog.__table__
    query = select(table)
    if filters.since is not None:
        query = query.where(table.c.at >= filters.since)
    if filters.actor is not None:
        query = query.where(table.c.actor == filters.actor)
    if filters.object_type is not None:
        query = query.where(table.c.entity == filters.object_type)
    if filters.object_id is not None:
        query = query.where(table.c.entity_id == filters.object_id)
    return query


def entries(session: Session, filters: Filters, *, limit: int | None = None, newest_first: bool = False
            ) -> Iterator[dict[str, Any]]:
    """Matching entries as JSON-ready dicts, a page at a time (never the whole table)."""
    table = AuditLog.__table__
    base = _query(filters)
    last: int | None = None
    left = limit
    while left is None or left > 0:
        page_size = _PAGE if left is None else min(_PAGE, left)
        query = base
        if last is not None:
            query = query.where(table.c.seq < last if newest_first else table.c.seq > last)
        query = query.order_by(table.c.seq.desc() if newest_first else table.c.seq).limit(page_size)
        rows = session.execute(query).all()
        for row in rows:
            yield entry_json(row)
        if len(rows) < page_size:
            return
        last = rows[-1].seq
        if left is not None:
            left -= len(rows)


def entry_json(row: Any) -> dict[str, Any]:
    """One entry as the export and ``--json`` show it (details masked)."""
    return {"seq": row.seq, "id": row.id, "at": row.at.isoformat(), "actor": row.actor, "action": row.action,
            "object_type": row.entity, "object_id": row.entity_id, "run_id": row.run_id,
            "details": mask_fields(row.details or {}), "chain": row.chain, "mac": row.hash}


def safe_cell(value: Any) -> str:
    """A CSV cell no spreadsheet runs as a formula."""
    text = "" if value is None else value if isinstance(value, str) else \
        json.dumps(value, ensure_ascii=False, sort_keys=True) if isinstance(value, dict | list) else str(value)
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
