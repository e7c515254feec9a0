"""The AML officers' work queue: alerts filtered by status, kind, age and client, with what a queue row needs.

The console's alert pages read alerts through here (the CLI's ``alerts list`` keeps `store.list_alerts`), so the
filters, the age buckets and the "is a close proposal waiting?" question are answered once, in SQL:

* every filter is a WHERE on the alert (joined to its golden client for the name), paged with LIMIT/OFFSET;
* age is how long the alert has waited: whole days since it was raised, in the dashboard's buckets
  (`crmhub.sync.run_query.ALERT_AGE_BUCKETS`, `alert_age_bucket`), so a count there and a filter here agree; the
  regulatory clock is the report deadline (`crmhub.risk.alerts.deadlines`), which runs from the transaction day;
* the queue is ordered by the transaction day (oldest first), the day the deadlines run from;
* a pending close proposal is an `Approval` of ``alert.close`` whose payload names the alert — read for one page
  of alerts in one query (JSON accessors, portable between SQLite and PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Date, Select, and_, exists, func, literal, or_, select
from sqlalchemy.orm import Session

from crmhub.errors import InputError
from crmhub.i18n import bilingual
from crmhub.masking import mask_fields
from crmhub.model import uscc as uscc_mod
from crmhub.risk.alerts import ALERT_KINDS
from crmhub.store.tables import Alert, Approval, AuditLog, GoldenClient
from crmhub.sync.run_query import ALERT_AGE_BUCKETS, ALERT_OPEN, alert_age_bucket

OPEN = ALERT_OPEN
AGE_BUCKETS = tuple(name for name, _first, _last in ALERT_AGE_BUCKETS)
"""The age bucket names, youngest first (``0-1``, ``2-5``, ``6-10``, ``>10`` days since raised)."""
STATUS_FILTERS = ("open", "new", "acknowledged", "closed", "pending", "all")
"""``open`` = new + acknowledged; ``pending`` = open with a close proposal waiting for the second officer."""
CLOSE_ACTION = "alert.close"
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class QueueFilters:
    """What the queue shows: ``status`` (see `STATUS_FILTERS`), ``kind``, ``age`` (a bucket key), ``client`` (a
    fragment of the client's name or USCC) and the order (``oldest`` first, the default, or ``newest``)."""

    status: str = "open"
    kind: str = ""
    age: str = ""
    client: str = ""
    order: str = "oldest"

    def check(self) -> QueueFilters:
        """Itself, or an input error naming the value that is not one of the choices."""
        for name, value, choices in (
            ("status", self.status, STATUS_FILTERS),
            ("kind", self.kind, ALERT_KINDS),
            ("age", self.age, AGE_BUCKETS),
            ("order", self.order, ("oldest", "newest")),
        ):
            if value and value not in choices:
                raise InputError(
                    bilingual(
                        f"筛选条件 {name} 的值 {value!r} 无效，可选：{', '.join(choices)}",
                        f"{name} {value!r} is not one of: {', '.join(choices)}",
                    )
                )
        if len(self.client) > 200:
            raise InputError(bilingual("客户名称或代码过长", "the client name or USCC is too long"))
        return self

    def as_dict(self) -> dict[str, str]:
        """The filters that are set (for the audit entry of an export)."""
        return {
            k: v
            for k, v in (
                ("status", self.status),
                ("kind", self.kind),
                ("age", self.age),
                ("client", self.client),
                ("order", self.order),
            )
            if v
        }


def _has_pending_close() -> ColumnElement[bool]:
    """EXISTS a pending close proposal naming the (outer query's) alert."""
    return exists(
        select(Approval.id).where(
            Approval.action == CLOSE_ACTION,
            Approval.status == "pending",
            Approval.payload["alert_id"].as_integer() == Alert.id,
        )
    )


def _age_range(key: str, now: datetime) -> ColumnElement[bool]:
    """Raised ``first``..``last`` whole days before ``now`` (the rule of `alert_age_bucket`: age <= last ⇔
    raised after now - (last + 1) days)."""
    _, first, last = next(b for b in ALERT_AGE_BUCKETS if b[0] == key)
    conditions = []
    if first > 0:
        conditions.append(Alert.created_at <= now - timedelta(days=first))
    if last is not None:
        conditions.append(Alert.created_at > now - timedelta(days=last + 1))
    return and_(*conditions)


_sort_day = func.coalesce(Alert.day, literal(date(1900, 1, 1), Date))
"""The day the queue sorts on: a missing day first, the same on SQLite and PostgreSQL (which order NULLs apart)."""


def queue_query(filters: QueueFilters, now: datetime) -> Select[int]:
    """The ids of the matching alerts, in queue order (the day, then the id: stable pages).

    Only ids: sorting narrow rows is cheap, where sorting whole alerts would drag their evidence JSON through the
    sort. `load` fetches the page's alerts. The client table is joined only to filter by its name.
    """
    q = select(Alert.id)
    status = filters.status or "open"
    if status in ("open", "pending"):
        q = q.where(Alert.status.in_(OPEN))
    elif status != "all":
        q = q.where(Alert.status == status)
    if status == "pending":
        q = q.where(_has_pending_close())
    if filters.kind:
        q = q.where(Alert.kind == filters.kind)
    if filters.age:
        q = q.where(_age_range(filters.age, now))
    if filters.client:
        text = filters.client.strip()
        q = q.outerjoin(GoldenClient, GoldenClient.id == Alert.client_id).where(
            or_(
                GoldenClient.name.contains(text, autoescape=True),
                Alert.uscc.contains(uscc_mod.compact(text), autoescape=True),
            )
        )
    if filters.order == "newest":
        return q.order_by(_sort_day.desc(), Alert.id.desc())
    return q.order_by(_sort_day, Alert.id)


@dataclass(frozen=True, slots=True)
class QueueRow:
    """What a queue line (and an export row) needs of an alert: its columns and the client's name, without the
    evidence JSON (only its disposition is read, in SQL) — a page of these costs a fraction of whole alerts."""

    id: int
    kind: str
    status: str
    client_id: int | None
    uscc: str | None
    day: date | None
    amount_minor: int | None
    currency: str | None
    created_at: datetime
    disposition: str | None
    name: str | None

    @classmethod
    def of(cls, alert: Alert, name: str | None) -> QueueRow:
        """The queue row of an alert already loaded (its page shows the same facts as its queue line)."""
        return cls(
            alert.id,
            alert.kind,
            alert.status,
            alert.client_id,
            alert.uscc,
            alert.day,
            alert.amount_minor,
            alert.currency,
            alert.created_at,
            ((alert.evidence or {}).get("disposition") or {}).get("value"),
            name,
        )


def load(session: Session, ids: Sequence[int]) -> list[QueueRow]:
    """The queue rows of the alerts ``ids``, in that order: one query."""
    if not ids:
        return []
    found = {
        r[0]: QueueRow(*r)
        for r in session.execute(
            select(
                Alert.id,
                Alert.kind,
                Alert.status,
                Alert.client_id,
                Alert.uscc,
                Alert.day,
                Alert.amount_minor,
                Alert.currency,
                Alert.created_at,
                Alert.evidence["disposition"]["value"].as_string(),
                GoldenClient.name,
            )
            .outerjoin(GoldenClient, GoldenClient.id == Alert.client_id)
            .where(Alert.id.in_(list(ids)))
        )
    }
    return [found[i] for i in ids if i in found]


def chunks(
    begin: Callable[[], AbstractContextManager[Session]],
    filters: QueueFilters,
    now: datetime,
    convert: Callable[[Session, list[QueueRow]], list[T]],
    size: int = 1000,
) -> Iterator[list[T]]:
    """Every matching alert, by id, ``size`` at a time: each chunk is read and passed through ``convert`` in its
    own short transaction, so a slow download holds no connection and nothing outlives its session.

    Keyset paging on the primary key, so the last chunk costs what the first does. (The queue's own order, by day,
    has no index to walk: paging a large export through it would sort the table once per chunk.)
    """
    base = queue_query(filters, now).order_by(None).order_by(Alert.id).limit(size)
    last: int | None = None
    while True:
        with begin() as s:
            ids = list(s.scalars(base if last is None else base.where(Alert.id > last)))
            out = convert(s, load(s, ids))
        if out:
            yield out
        if len(ids) < size:
            return
        last = ids[-1]


def pending_closes(session: Session, alert_ids: Sequence[int]) -> dict[int, Approval]:
    """The waiting close proposal of each of ``alert_ids`` that has one (the oldest, if there are several)."""
    if not alert_ids:
        return {}
    rows = session.scalars(
        select(Approval)
        .where(
            Approval.action == CLOSE_ACTION,
            Approval.status == "pending",
            Approval.payload["alert_id"].as_integer().in_(list(alert_ids)),
        )
        .order_by(Approval.id)
    )
    found: dict[int, Approval] = {}
    for row in rows:
        found.setdefault(int(row.payload["alert_id"]), row)
    return found


def close_proposals(session: Session, alert_id: int) -> list[Approval]:
    """Every close proposal ever filed for the alert (pending, applied, rejected, failed), oldest first."""
    return list(
        session.scalars(
            select(Approval)
            .where(Approval.action == CLOSE_ACTION, Approval.payload["alert_id"].as_integer() == alert_id)
            .order_by(Approval.id)
        )
    )


def open_by_kind_and_age(session: Session, now: datetime) -> dict[tuple[str, str], int]:
    """Open alerts counted by (kind, age bucket name): one GROUP BY over the whole store."""
    bucket = alert_age_bucket(now)
    rows = session.execute(
        select(Alert.kind, bucket, func.count()).where(Alert.status.in_(OPEN)).group_by(Alert.kind, bucket)
    )
    return {(str(kind), str(key)): int(n) for kind, key, n in rows}


def age_days(raised: datetime, now: datetime) -> int:
    """Whole days since the alert was raised (0 for the first 24 hours, as `alert_age_bucket` counts)."""
    return max(0, (now - raised).days)


def history(session: Session, alert_id: int, approval_ids: Sequence[int], limit: int = 200) -> list[dict[str, Any]]:
    """Audit entries about the alert and about its close proposals, oldest first, details masked."""
    about = [and_(AuditLog.entity == "alert", AuditLog.entity_id == str(alert_id))]
    if approval_ids:
        about.append(and_(AuditLog.entity == "approval", AuditLog.entity_id.in_([str(i) for i in approval_ids])))
    rows = session.scalars(select(AuditLog).where(or_(*about)).order_by(AuditLog.seq).limit(limit))
    return [
        {
            "seq": r.seq,
            "at": r.at,
            "actor": r.actor,
            "action": r.action,
            "entity": r.entity,
            "entity_id": r.entity_id,
            "details": mask_fields(r.details or {}),
        }
        for r in rows
    ]


__all__ = [
    "AGE_BUCKETS",
    "ALERT_KINDS",
    "OPEN",
    "STATUS_FILTERS",
    "QueueFilters",
    "QueueRow",
    "age_days",
    "chunks",
    "close_proposals",
    "history",
    "load",
    "open_by_kind_and_age",
    "pending_closes",
    "queue_query",
]
