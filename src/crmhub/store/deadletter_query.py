"""Finding dead letters for people: filters, "new in run N" versus "repeat", the company each one is about, and
its payload with personal data masked — what the console's dead-letter pages (and their exports) and ``crmhub
deadletter list/show`` show.

Why here (below the engine) and not in the page: the filters are SQL that must behave the same on SQLite and
PostgreSQL, and reading a dead letter needs only the table — the CLI, the console and the notifications read them
without the sync engine. Retrying one runs ingest, so that stays in `crmhub.sync.deadletter_retry`.

Which native keys name a record's company (Zoho's ``Account_Name`` lookup, Fenxiang's ``account_id__r``, the
ledger's ``clientName``…) is each connector's own knowledge: it declares them in ``Connector.payload_names``
(`crmhub.contract.PayloadNames`) and the caller passes them in (`payload_names`); this module knows only generic
keys.

"New" and "repeat": `DeadLetter.run_id` is the LATEST run that refused the record, the first history entry holds
the run that refused it FIRST. A dead letter is *new in run N* when run N refused it first, and a *repeat in run
N* when run N refused it again (it was first refused earlier and is still open or was reopened by N).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, or_, select
from sqlalchemy.orm import Session

from crmhub.contract import PayloadNames
from crmhub.errors import InputError
from crmhub.i18n import bilingual
from crmhub.masking import mask, mask_fields, mask_text
from crmhub.store import deadletter_history as dl_history
from crmhub.store.tables import DeadLetter, GoldenClient, SourceRecord, Xref

STATUSES = ("open", "resolved", "retried", "all")
SEEN = ("new", "repeat")


@dataclass(frozen=True, slots=True)
class DeadLetterFilter:
    """What a dead-letter listing is narrowed to (every field optional except the status)."""

    status: str = "open"
    connector: str | None = None
    stream: str | None = None
    run_id: int | None = None
    reason: str | None = None
    seen: str | None = None
    """``new`` (first refused in ``run_id``, or — without a run — refused by one run only) or ``repeat``."""

    @classmethod
    def parse(
        cls, *, status: str = "", connector: str = "", stream: str = "", run: str = "", reason: str = "", seen: str = ""
    ) -> DeadLetterFilter:
        """From form or query-string text; a bad value is an `InputError` that says what is allowed."""
        status = status or "open"
        if status not in STATUSES:
            raise InputError(
                bilingual(
                    f"未知状态 {status!r}；可选：{'、'.join(STATUSES)}",
                    f"unknown status {status!r}; use one of {', '.join(STATUSES)}",
                )
            )
        if seen and seen not in SEEN:
            raise InputError(
                bilingual(f"未知筛选 {seen!r}；可选：new、repeat", f"unknown filter {seen!r}; use new or repeat")
            )
        run_id: int | None = None
        if run:
            if not run.isdigit() or len(run) > 9:
                raise InputError(
                    bilingual(
                        f"运行编号应为正整数，而不是 {run!r}",
                        f"the run id must be a positive whole number, not {run!r}",
                    )
                )
            run_id = int(run)
        return cls(
            status=status,
            connector=connector or None,
            stream=stream or None,
            run_id=run_id,
            reason=reason[:200] or None,
            seen=seen or None,
        )

    def only_open(self) -> DeadLetterFilter:
        """The same filter narrowed to open dead letters (what "retry all matching" retries; a listing of resolved
        or retried ones has none)."""
        return replace(self, status="open") if self.status in ("open", "all") else self


def first_run() -> ColumnElement[Any]:
    """The run that refused a dead letter first (``history[0].run_id``; the row's run for rows without history)."""
    return func.coalesce(DeadLetter.history[(0, "run_id")].as_integer(), DeadLetter.run_id)


def conditions(f: DeadLetterFilter) -> list[ColumnElement[bool]]:
    """The WHERE clauses of ``f`` (portable SQL: JSON path accessors, case-insensitive LIKE)."""
    where: list[ColumnElement[bool]] = []
    if f.status != "all":
        where.append(DeadLetter.status == f.status)
    if f.connector:
        where.append(DeadLetter.connector == f.connector)
    if f.stream:
        where.append(DeadLetter.stream == f.stream)
    if f.reason:
        where.append(DeadLetter.reason.icontains(f.reason, autoescape=True))
    first = first_run()
    if f.run_id is not None:
        if f.seen == "new":
            where.append(first == f.run_id)
        elif f.seen == "repeat":
            where.append(and_(DeadLetter.run_id == f.run_id, first != f.run_id))
        else:
            where.append(or_(DeadLetter.run_id == f.run_id, first == f.run_id))
    elif f.seen == "new":
        where.append(first == DeadLetter.run_id)
    elif f.seen == "repeat":
        where.append(first != DeadLetter.run_id)
    return where


def listing(f: DeadLetterFilter) -> Select[Any]:
    """Dead letters matching ``f``, newest first (ordered by the primary key: stable pages)."""
    return select(DeadLetter).where(*conditions(f)).order_by(DeadLetter.id.desc())


def count(session: Session, f: DeadLetterFilter) -> int:
    """How many dead letters match ``f``."""
    return int(session.scalar(select(func.count()).select_from(DeadLetter).where(*conditions(f))) or 0)


def matching_ids(session: Session, f: DeadLetterFilter, limit: int) -> list[int]:
    """Up to ``limit`` ids matching ``f``, oldest first (the order a retry works in)."""
    return list(session.scalars(select(DeadLetter.id).where(*conditions(f)).order_by(DeadLetter.id).limit(limit)))


def run_counts(session: Session, run_id: int) -> tuple[int, int]:
    """(new, repeat) dead letters of run ``run_id``, whatever their status now (one pass over the table)."""
    first = first_run()
    new = func.coalesce(func.sum(case((first == run_id, 1), else_=0)), 0)
    repeat = func.coalesce(func.sum(case((and_(DeadLetter.run_id == run_id, first != run_id), 1), else_=0)), 0)
    row = session.execute(select(new, repeat).where(or_(DeadLetter.run_id == run_id, first == run_id))).one()
    return int(row[0]), int(row[1])


# --- one dead letter, for `crmhub deadletter list/show` ---------------------------------------------------------


def list_dead_letters(session: Session, *, status: str | None = "open", limit: int = 1000) -> list[DeadLetter]:
    """Dead letters, newest first."""
    q = select(DeadLetter).order_by(DeadLetter.id.desc()).limit(limit)
    if status:
        q = q.where(DeadLetter.status == status)
    return list(session.scalars(q))


def get_dead_letter(session: Session, dead_id: int) -> DeadLetter:
    """One dead letter by id; an unknown id is an `InputError`."""
    row = session.get(DeadLetter, dead_id)
    if row is None:
        raise InputError(f"no dead letter with id {dead_id}", hint="see `crmhub deadletter list --status all`")
    return row


def dead_letter_json(row: DeadLetter) -> dict[str, Any]:
    """JSON form for `crmhub deadletter list/show --json`: ``reason`` is the latest, ``first_reason`` the original
    one, ``history`` every rejection, retry and resolution in order."""
    return {
        "id": row.id,
        "run_id": row.run_id,
        "direction": row.direction,
        "connector": row.connector,
        "stream": row.stream,
        "source_id": row.source_id,
        "reason": row.reason,
        "first_reason": dl_history.first_reason(row),
        "field": row.field,
        "status": row.status,
        "attempts": row.attempts,
        "history": dl_history.history_of(row),
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
    }


# --- who a dead letter is about ----------------------------------------------------------------------------------

GENERIC = PayloadNames(
    company=("company_name", "companyName", "company", "account_name", "client_name", "customer_name"),
    own_name=("name", "full_name"),
)
"""Keys any payload may use (the connectors' own come first: `payload_names`)."""
_PERSON_NAME_KEY = re.compile(
    r"(^|_)(first|last|middle|full|given|family|sur)_?name$|^(first|last)name$"
    r"|legal_?rep|representative|contact_?name|^nickname$",
    re.IGNORECASE,
)
"""Native keys that hold a person's name whatever the record is (a contact's, a legal representative's)."""
_GIVEN_NAME_KEY = re.compile(r"(^|_)(first|given|middle)_?name$|^firstname$", re.IGNORECASE)
"""A given name alone: masking it as a full name would show its first character, so every character is hidden."""


def payload_names(contributed: Iterable[PayloadNames]) -> PayloadNames:
    """One `PayloadNames` for every payload: the connectors' ``company`` keys (in the order given) before the
    generic ones, the generic ``own_name`` keys before the connectors', and a record about a person when any
    connector's ``is_person`` says so. Pass ``cls.payload_names for cls in registry.connectors.values()``."""
    company: list[str] = []
    own: list[str] = list(GENERIC.own_name)
    person: list[Callable[[Mapping[str, Any]], bool]] = []
    for names in contributed:
        company += [k for k in names.company if k not in company]
        own += [k for k in names.own_name if k not in own]
        if names.is_person is not None:
            person.append(names.is_person)
    company += [k for k in GENERIC.company if k not in company]
    return PayloadNames(tuple(company), tuple(own), _any(tuple(person)) if person else None)


def _any(tests: tuple[Callable[[Mapping[str, Any]], bool], ...]) -> Callable[[Mapping[str, Any]], bool]:
    return lambda payload: any(test(payload) for test in tests)


def is_person_record(payload: dict[str, Any], stream_is_contact: bool, names: PayloadNames) -> bool:
    """A record about a person: a contact stream, or one its connector's ``is_person`` recognises (e.g. a ledger
    client whose legal form is a natural person)."""
    if stream_is_contact:
        return True
    return names.is_person is not None and bool(names.is_person(payload))


def _text(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("name")
    return value.strip() if isinstance(value, str) and value.strip() else None


def payload_company(
    payload: dict[str, Any] | None, *, names: PayloadNames, stream_is_contact: bool = False
) -> str | None:
    """The company a native payload is about, for people to read (masked when it is a person's name); ``names``
    from `payload_names`."""
    if not isinstance(payload, dict):
        return None
    for key in names.company:
        found = _text(payload.get(key))
        if found:
            return mask_text(found)
    person = is_person_record(payload, stream_is_contact, names)
    for key in names.own_name:
        found = _text(payload.get(key))
        if found:
            return mask(found, "name") if person else mask_text(found)
    return None


def golden_names(session: Session, rows: Iterable[DeadLetter]) -> dict[tuple[str, str, str], tuple[int, str]]:
    """(connector, stream, source id) → (golden client id, name) for the rows whose source record is linked to a
    golden client — one query for a whole page, never one per row."""
    keys = {(r.connector, r.stream, r.source_id) for r in rows if r.source_id}
    if not keys:
        return {}
    q = (
        select(SourceRecord.connector, SourceRecord.stream, SourceRecord.source_id, GoldenClient.id, GoldenClient.name)
        .join(Xref, Xref.source_record_id == SourceRecord.id)
        .join(GoldenClient, GoldenClient.id == Xref.client_id)
        .where(
            SourceRecord.connector.in_(sorted({k[0] for k in keys})),  # all three: the unique index answers
            SourceRecord.stream.in_(sorted({k[1] for k in keys})),
            SourceRecord.source_id.in_(sorted({k[2] for k in keys})),
        )
    )
    return {(c, st, sid): (cid, name) for c, st, sid, cid, name in session.execute(q) if (c, st, sid) in keys}


# --- the payload, masked -----------------------------------------------------------------------------------------


def masked_payload(payload: dict[str, Any] | None, *, names: PayloadNames, stream_is_contact: bool = False) -> Any:
    """A native payload with personal data masked: `crmhub.masking.mask_fields` (phones, e-mails, ID and account
    numbers by pattern, canonical person fields), then native person-name keys (``Full_Name``, ``First_Name``,
    ``legal_representative__c``…) and — for a person's record — its own name (``names.own_name``)."""
    person = is_person_record(payload or {}, stream_is_contact, names)
    return _mask_names(mask_fields(payload or {}), person=person, own=frozenset(names.own_name), top=True)


def _mask_names(value: Any, *, person: bool, own: frozenset[str], top: bool = False) -> Any:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            name_key = _PERSON_NAME_KEY.search(str(key)) is not None or (top and person and str(key) in own)
            if name_key and isinstance(item, str):
                out[key] = "*" * len(item.strip()) if _GIVEN_NAME_KEY.search(str(key)) else mask(item, "name")
            elif name_key and isinstance(item, dict) and isinstance(item.get("name"), str):
                out[key] = {**item, "name": mask(item["name"], "name")}
            else:
                out[key] = _mask_names(item, person=False, own=own)
        return out
    if isinstance(value, list):
        return [_mask_names(v, person=person, own=own, top=top) for v in value]
    return value
