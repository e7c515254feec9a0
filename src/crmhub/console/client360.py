"""Read-side queries behind the console's client 360: one client's source records, ledger, loans and alerts.

Each part of the page is read with one indexed query (a transaction summary aggregated in SQL), so the page costs
the same on a 100,000-client store as on a small one.

A golden client's ledger identity is the same as the risk engine's (`crmhub.risk.ledger`): its cross-referenced
source records of kind ``client``; accounts and facilities hang off ``(connector, client_source_id)``, and
transactions off the same key, falling back to the owning account for rows stored without a client id.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from crmhub.masking import mask, mask_fields
from crmhub.store.tables import (
    Alert,
    CreditFacilityRow,
    LedgerAccount,
    LedgerTransaction,
    SourceRecord,
    Xref,
)

T = LedgerTransaction
RECENT_DAYS = 90


@dataclass(frozen=True, slots=True)
class Linked:
    """One source record linked to the golden client (how, and what it says)."""

    id: int
    connector: str
    stream: str
    source_id: str
    method: str
    score: float | None
    last_seen_at: datetime
    modified_at: datetime | None
    deleted: bool
    data: dict[str, Any]

    @property
    def key(self) -> str:
        """``connector:stream/source_id`` (what lineage rows name as their record)."""
        return f"{self.connector}:{self.stream}/{self.source_id}"


def linked_records(session: Session, client_id: int) -> list[Linked]:
    """The client's source records of kind ``client``, by connector then id."""
    rows = session.execute(
        select(
            SourceRecord.id,
            SourceRecord.connector,
            SourceRecord.stream,
            SourceRecord.source_id,
            Xref.method,
            Xref.score,
            SourceRecord.last_seen_at,
            SourceRecord.modified_at,
            SourceRecord.deleted,
            SourceRecord.data,
        )
        .join(Xref, Xref.source_record_id == SourceRecord.id)
        .where(Xref.client_id == client_id, SourceRecord.kind == "client")
        .order_by(SourceRecord.connector, SourceRecord.id)
    )
    return [
        Linked(
            r.id,
            r.connector,
            r.stream,
            r.source_id,
            r.method,
            r.score,
            r.last_seen_at,
            r.modified_at,
            r.deleted,
            dict(r.data or {}),
        )
        for r in rows
    ]


SIDE_BY_SIDE_SKIP = frozenset({"lineage", "external_ids", "review_flags", "data_quality", "risk"})


@dataclass(slots=True)
class FieldRow:
    """One field across the source records: a value per record (None where the record lacks it)."""

    field: str
    values: list[Any]

    @property
    def differs(self) -> bool:
        """Whether the records that have the field disagree on it."""
        present = [v for v in self.values if not blank(v)]
        return len({repr(v) for v in present}) > 1


def side_by_side(records: list[Linked], order: list[str], *, masked: bool) -> list[FieldRow]:
    """Every mapped field of ``records`` as one row with a column per record (personal data masked unless
    ``masked`` is False); fields in ``order`` first, the rest alphabetically."""
    seen: set[str] = set()
    for rec in records:
        seen.update(k for k, v in rec.data.items() if not blank(v) and k not in SIDE_BY_SIDE_SKIP)
    names = [f for f in order if f in seen] + sorted(seen - set(order))
    rows = []
    for name in names:
        values = [rec.data.get(name) for rec in records]
        rows.append(FieldRow(name, [shown(v, name, masked=masked) for v in values]))
    return rows


def blank(value: Any) -> bool:
    """Nothing to show: None, empty text, or a list/object holding only blanks (``preferences`` with no tags)."""
    if value is None or value == "":
        return True
    if isinstance(value, dict):
        return all(blank(v) for v in value.values())
    if isinstance(value, list | tuple):
        return all(blank(v) for v in value)
    return False


def shown(value: Any, field_name: str, *, masked: bool) -> Any:
    """A value of field ``field_name`` as the page may show it: masked by field unless revealed."""
    return mask_fields(value, field_name) if masked else value


@dataclass(frozen=True, slots=True)
class AccountLine:
    """One ledger account of the client."""

    connector: str
    source_id: str
    account_no: str
    currency: str
    balance: Decimal
    sub_status: str
    product: str | None
    status: str | None


def _by_connector(records: list[Linked]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for rec in records:
        if not rec.deleted:
            out[rec.connector].append(rec.source_id)
    return out


def _owned(table: Any, links: dict[str, list[str]]) -> ColumnElement[bool] | None:
    conds = [and_(table.connector == c, table.client_source_id.in_(sids)) for c, sids in links.items()]
    return or_(*conds) if conds else None


def money(minor: int | None) -> Decimal | None:
    """Minor units (fen/cents) → an exact decimal amount."""
    return None if minor is None else Decimal(minor).scaleb(-2)


def accounts(session: Session, records: list[Linked], *, masked: bool) -> list[AccountLine]:
    """The client's ledger accounts with their balances (account numbers masked unless revealed)."""
    where = _owned(LedgerAccount, _by_connector(records))
    if where is None:
        return []
    A = LedgerAccount
    rows = session.execute(
        select(A.connector, A.source_id, A.account_no, A.currency, A.balance_minor, A.sub_status, A.data)
        .where(where)
        .order_by(A.connector, A.id)
    )
    return [
        AccountLine(
            r.connector,
            r.source_id,
            mask(r.account_no, "account") if masked else r.account_no,
            r.currency,
            money(r.balance_minor) or Decimal(0),
            r.sub_status,
            (r.data or {}).get("product"),
            (r.data or {}).get("status"),
        )
        for r in rows
    ]


@dataclass(slots=True)
class Flows:
    """Money in and out in one currency."""

    credit_count: int = 0
    credit: Decimal = Decimal(0)
    debit_count: int = 0
    debit: Decimal = Decimal(0)

    def add(self, direction: str, count: int, amount: Decimal) -> None:
        if direction == "credit":
            self.credit_count += count
            self.credit += amount
        else:
            self.debit_count += count
            self.debit += amount

    @property
    def count(self) -> int:
        return self.credit_count + self.debit_count

    @property
    def net(self) -> Decimal:
        return self.credit - self.debit


@dataclass(slots=True)
class TxSummary:
    """The client's transactions: totals per currency, first and last booking day, the recent months."""

    totals: dict[str, Flows] = field(default_factory=dict)
    first_day: date | None = None
    last_day: date | None = None
    since: date | None = None
    months: list[tuple[str, str, Flows]] = field(default_factory=list)
    """(``YYYY-MM``, currency, flows) for the last `RECENT_DAYS` days, oldest month first."""

    @property
    def count(self) -> int:
        return sum(f.count for f in self.totals.values())


def _tx_scope(session: Session, links: dict[str, list[str]]) -> ColumnElement[bool] | None:
    """The client's transactions: by its ledger client ids, and rows without one by the client's accounts."""
    conds: list[ColumnElement[bool]] = [
        and_(T.connector == c, T.client_source_id.in_(sids)) for c, sids in links.items()
    ]
    where = _owned(LedgerAccount, links)
    if where is not None:
        owned: dict[str, list[str]] = defaultdict(list)
        for connector, sid in session.execute(select(LedgerAccount.connector, LedgerAccount.source_id).where(where)):
            owned[connector].append(sid)
        conds += [
            and_(T.connector == c, T.client_source_id.is_(None), T.account_source_id.in_(sids))
            for c, sids in owned.items()
        ]
    return or_(*conds) if conds else None


def transactions(session: Session, records: list[Linked], today: date) -> TxSummary:
    """Counts and sums per currency and direction over all the client's booked, non-reversed transactions, and
    the last `RECENT_DAYS` days per month (summed per day in SQL, folded into months here: portable SQL)."""
    out = TxSummary(since=today - timedelta(days=RECENT_DAYS))
    scope = _tx_scope(session, _by_connector(records))
    if scope is None:
        return out
    live = and_(scope, T.reversed.is_(False))
    days: list[date] = []
    for currency, direction, count, total, first, last in session.execute(
        select(
            T.currency,
            T.direction,
            func.count(),
            func.sum(T.amount_minor),
            func.min(T.booking_date),
            func.max(T.booking_date),
        )
        .where(live)
        .group_by(T.currency, T.direction)
    ):
        out.totals.setdefault(currency, Flows()).add(direction, int(count), money(int(total or 0)) or Decimal(0))
        days += [d for d in (_day(first), _day(last)) if d is not None]
    out.first_day, out.last_day = (min(days), max(days)) if days else (None, None)
    months: dict[tuple[str, str], Flows] = {}
    assert out.since is not None
    for day, currency, direction, count, total in session.execute(
        select(T.booking_date, T.currency, T.direction, func.count(), func.sum(T.amount_minor))
        .where(live, T.booking_date > out.since, T.booking_date <= today)
        .group_by(T.booking_date, T.currency, T.direction)
    ):
        d = _day(day)
        if d is None:
            continue
        key = (d.strftime("%Y-%m"), currency)
        months.setdefault(key, Flows()).add(direction, int(count), money(int(total or 0)) or Decimal(0))
    out.months = [(m, c, f) for (m, c), f in sorted(months.items())]
    return out


def _day(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


@dataclass(frozen=True, slots=True)
class FacilityLine:
    """One loan or other credit facility of the client."""

    connector: str
    source_id: str
    product: str | None
    currency: str
    principal: Decimal | None
    outstanding: Decimal | None
    days_past_due: int
    classification: str
    status: str
    maturity_on: str | None


def facilities(session: Session, records: list[Linked]) -> list[FacilityLine]:
    """The client's loans and other facilities (exposure and delinquency as last read)."""
    where = _owned(CreditFacilityRow, _by_connector(records))
    if where is None:
        return []
    L = CreditFacilityRow
    rows = session.execute(
        select(
            L.connector,
            L.source_id,
            L.currency,
            L.principal_minor,
            L.outstanding_minor,
            L.days_past_due,
            L.classification,
            L.status,
            L.data,
        )
        .where(where)
        .order_by(L.days_past_due.desc(), L.id)
    )
    return [
        FacilityLine(
            r.connector,
            r.source_id,
            (r.data or {}).get("product"),
            r.currency,
            money(r.principal_minor),
            money(r.outstanding_minor),
            r.days_past_due,
            r.classification,
            r.status,
            (r.data or {}).get("maturity_on"),
        )
        for r in rows
    ]


def client_alerts(session: Session, client_id: int, limit: int = 20) -> tuple[int, list[Alert]]:
    """How many alerts the client has, and the newest ``limit`` of them."""
    total = session.scalar(select(func.count()).select_from(Alert).where(Alert.client_id == client_id)) or 0
    rows = list(
        session.scalars(
            select(Alert)
            .where(Alert.client_id == client_id)
            .order_by(Alert.created_at.desc(), Alert.id.desc())
            .limit(limit)
        )
    )
    return total, rows


def factor_chart(factors: list[dict[str, Any]], lang: str) -> dict[str, Any]:
    """An ECharts option: each factor's points (horizontal bars, with its maximum as a faint bar behind)."""
    labels = [str(f.get("label_zh") if lang == "zh" else f.get("label_en")) for f in factors]

    def number(value: Any) -> float:
        try:
            return float(Decimal(str(value)))
        except (ArithmeticError, ValueError):
            return 0.0

    points = [round(number(f.get("points")), 2) for f in factors]
    best = [
        round(number(f.get("max_points")) * number(f.get("weight") or 1), 2)
        if f.get("max_points") is not None
        else None
        for f in factors
    ]
    series: list[dict[str, Any]] = []
    if all(b is not None for b in best) and any(best):
        series.append(
            {
                "type": "bar",
                "name": "最高分" if lang == "zh" else "maximum",
                "data": best,
                "barGap": "-100%",
                "itemStyle": {"color": "#e3e8ee"},
                "silent": True,
            }
        )
    series.append(
        {
            "type": "bar",
            "name": "得分" if lang == "zh" else "points",
            "data": points,
            "itemStyle": {"color": "#0b5cad"},
            "label": {"show": True, "position": "right"},
        }
    )
    return {
        "animation": False,
        "tooltip": {"trigger": "axis", "axisPointer": {"type": "shadow"}},
        "grid": {"left": 8, "right": 40, "top": 10, "bottom": 10, "containLabel": True},
        "xAxis": {"type": "value"},
        "yAxis": {"type": "category", "data": labels, "inverse": True},
        "series": series,
    }
