"""The ingest boundary's last check: nothing an outside system sent may stop a stream or dirty a later output.

Connectors map records through the canonical model, whose text types already clean control characters and ANSI
escapes and refuse over-long values (`crmhub.model.text`). What the model does not see is checked here, before a
page is written:

- **ids** (``source_id``): used as keys and written back to the source, so they are never altered — an id with
  control characters, or longer than the ``VARCHAR(200)`` columns that hold it, makes the record a dead letter
  naming the ``id`` field and the length;
- **raw payloads** (``source_record.raw``, ``dead_letter.payload``) are evidence and are kept, but with every string
  cleaned when the row is written (an unchanged record's payload is not cleaned for nothing) by the same rule
  (`crmhub.model.text.clean_json`): PostgreSQL's ``jsonb`` refuses ``\\u0000`` and no UTF-8
  store takes a lone surrogate, so before this rule one NUL in a Zoho name stopped the stream on every run;
- **dead letters** themselves are made storable: reason and field cleaned, ids and field names cut to their column
  sizes (``…`` marks a cut), so recording a bad record can never fail in turn.

If the database still refuses a page, `crmhub.sync.ingest.Ingestor` stores it again one record at a time and
dead-letters the records it refuses (see there).
"""

from __future__ import annotations

from typing import Any

from crmhub.model.text import ID_MAX, clean_json, clean_text, is_clean

FIELD_MAX = 128
"""dead_letter.field is VARCHAR(128)."""
REASON_MAX = 2000
"""A dead letter's reason is cut to this many characters (it may quote upstream text)."""


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def id_problem(source_id: str) -> str | None:
    """Why ``source_id`` cannot be stored as a key (None when it can)."""
    if len(source_id) > ID_MAX:
        return f"id: {len(source_id)} characters, at most {ID_MAX} allowed"
    if not is_clean(source_id) or "\t" in source_id or "\n" in source_id:
        return "id: contains control characters; an id is a key and is never altered, so the record cannot be stored"
    return None


def storable_dead_letter(
    source_id: str | None, reason: str, field: str | None, payload: dict[str, Any] | None
) -> tuple[str | None, str, str | None, dict[str, Any]]:
    """(source id, reason, field, payload) cleaned and cut to fit the ``dead_letter`` columns."""
    sid = None if source_id is None else _cut(clean_text(source_id), ID_MAX)
    why = _cut(clean_text(reason, multiline=True), REASON_MAX) or "rejected"
    fname = None if field is None else _cut(clean_text(field), FIELD_MAX)
    body = clean_json(payload or {})
    return sid, why, fname, body if isinstance(body, dict) else {"payload": body}
