"""The book in breakdowns: active golden clients counted, and their credit exposure summed, by risk segment,
rating, industry section (GB/T 4754), province and relationship manager — aggregated in SQL.

Why columns, and one statement: each breakdown needs the same five keys. Three of them come from the client's
JSON (``data``), but parsing every document was most of the cost (1.5-2.6 s at 100,000 clients), so they are
columns of ``golden_client`` written with the document (`crmhub.store.golden_keys`); nothing here reads the JSON.
The statement reads every matching client once with its keys and exposure (a ``MATERIALIZED`` CTE), groups the
book by all five keys at once (one sort), then rolls that small table up by each key (``UNION ALL``): a few
hundred rows come back whatever the size of the book. `stamp` is a cheap fingerprint of the data a
breakdown depends on, for callers that keep results.

Exposure is what the risk engine calls a live facility's exposure (`crmhub.risk.ledger.LedgerReader._loans`): the
outstanding amount (the principal when the ledger gives none) of every facility whose status is not one of
``[risk] closed_loan_statuses``, reached from a golden client through its cross-referenced ledger client records
(``xref`` → ``source_record`` of kind ``client`` → ``credit_facility`` by connector and ``client_source_id``),
converted to CNY with ``[risk] fx_to_cny``.

`Filters` are the query arguments of the console's segments page (``segment``, ``rating``, ``industry``,
``region``, ``manager``; ``-`` selects clients where the value is not known). Their keys are the fields the
clients page (`crmhub.console.client_list`) filters on, so each count links to exactly the clients behind it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from typing import Any

from sqlalchemy import ColumnElement, String, and_, case, func, literal, null, or_, select, true, union_all
from sqlalchemy.orm import Session

from crmhub.errors import InputError
from crmhub.i18n import bilingual
from crmhub.model import Rating, Segment
from crmhub.model.industry import SECTION_BY_LETTER
from crmhub.risk.settings import RiskSettings
from crmhub.store import golden_keys
from crmhub.store.tables import AuditLog, CreditFacilityRow, GoldenClient, SourceRecord, SyncRun, Xref

DIMENSIONS = ("segment", "rating", "industry", "region", "manager")
"""The breakdowns, in the order the page shows them (also the filter names)."""
UNKNOWN = "-"
"""The filter value of the "not known" bucket."""

SEGMENT_ORDER = [s.value for s in Segment]
RATING_ORDER = [r.value for r in Rating]

PROVINCE_EN = {
    "11": "Beijing",
    "12": "Tianjin",
    "13": "Hebei",
    "14": "Shanxi",
    "15": "Inner Mongolia",
    "21": "Liaoning",
    "22": "Jilin",
    "23": "Heilongjiang",
    "31": "Shanghai",
    "32": "Jiangsu",
    "33": "Zhejiang",
    "34": "Anhui",
    "35": "Fujian",
    "36": "Jiangxi",
    "37": "Shandong",
    "41": "Henan",
    "42": "Hubei",
    "43": "Hunan",
    "44": "Guangdong",
    "45": "Guangxi",
    "46": "Hainan",
    "50": "Chongqing",
    "51": "Sichuan",
    "52": "Guizhou",
    "53": "Yunnan",
    "54": "Tibet",
    "61": "Shaanxi",
    "62": "Gansu",
    "63": "Qinghai",
    "64": "Ningxia",
    "65": "Xinjiang",
    "71": "Taiwan",
    "81": "Hong Kong",
    "82": "Macao",
}
"""English names of the province-level divisions, by the first two digits of their GB/T 2260 code."""


province_of = golden_keys.province_of
G = GoldenClient
INDUSTRY_CODE = G.data["industry"]["code"].as_string()
"""The full industry code (only a filter with digits, ``C39``, reads it — after the section column narrowed)."""


def keys() -> dict[str, Any]:
    """The SQL expression of each dimension's key on `GoldenClient` (NULL: not known): columns only.

    ``region`` is the registered address's province (浙江省 or 浙江, as its full name), else its city (a
    municipality such as 北京市 is a province) — see `crmhub.store.golden_keys`; the manager is the RM's name, else
    their user id. The clients page filters on the same columns (`condition`), so a count and the list behind it
    agree. (The USCC's registering division would place more clients, but the clients list could not select them.)
    """
    return {
        "segment": G.segment,
        "rating": G.rating,
        "industry": G.industry_section,
        "region": G.province,
        "manager": func.coalesce(G.rm_name, G.rm_user_id),
    }


def condition(name: str, value: str) -> ColumnElement[bool]:
    """The WHERE clause selecting dimension ``name``'s bucket ``value`` (`UNKNOWN`: not known), written so that an
    index on the column serves it. Shared with the clients list (`crmhub.console.client_list`)."""
    if name == "manager":  # coalesce(rm_name, rm_user_id) = value, spelt so each column's index can serve it
        if value == UNKNOWN:
            return and_(G.rm_name.is_(None), G.rm_user_id.is_(None))
        return or_(G.rm_name == value, and_(G.rm_name.is_(None), G.rm_user_id == value))
    column = keys()[name]
    if value == UNKNOWN:
        return column.is_(None)  # type: ignore[no-any-return]
    if name == "industry" and len(value) > 1:
        return and_(G.industry_section == value[0], INDUSTRY_CODE.startswith(value, autoescape=True))
    if name == "region":
        return G.province == golden_keys.region_key(value)
    return column == value  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class Filters:
    """What narrows every breakdown (and the clients list): ``None`` is no filter, `UNKNOWN` "not known"."""

    segment: str | None = None
    rating: str | None = None
    industry: str | None = None
    region: str | None = None
    manager: str | None = None

    @classmethod
    def parse(cls, args: Mapping[str, str]) -> Filters:
        """From query arguments; an `InputError` naming the argument when a value cannot be meant."""
        values = {name: (args.get(name) or "").strip() or None for name in DIMENSIONS}
        segment, rating, industry = values["segment"], values["rating"], values["industry"]
        if segment is not None and segment not in (UNKNOWN, *SEGMENT_ORDER):
            raise _bad("segment", segment, ", ".join(SEGMENT_ORDER))
        if rating is not None and rating != UNKNOWN:
            rating = rating.upper()
            if rating not in RATING_ORDER:
                raise _bad("rating", rating, ", ".join(RATING_ORDER))
        if industry is not None and industry != UNKNOWN:
            industry = industry.upper()
            digits = industry[1:]
            if industry[0] not in SECTION_BY_LETTER or (digits and not (digits.isdigit() and len(digits) <= 4)):
                raise _bad(
                    "industry",
                    industry,
                    bilingual(
                        "门类字母 A–T，可带 2–4 位数字，例如 C 或 C39",
                        "a section letter A-T, optionally with 2-4 digits, e.g. C or C39",
                    ),
                )
        for name in ("region", "manager"):
            text = values[name]
            if text is not None and len(text) > 128:
                raise _bad(name, text[:20] + "…", bilingual("不超过 128 个字符", "at most 128 characters"))
        return cls(segment, rating, industry, values["region"], values["manager"])

    def as_args(self) -> dict[str, str]:
        """The filters set, as query arguments."""
        return {name: value for name in DIMENSIONS if (value := getattr(self, name)) is not None}

    def conditions(self) -> list[ColumnElement[bool]]:
        """WHERE clauses on `GoldenClient` (add ``status == 'active'`` yourself)."""
        return [condition(name, value) for name in DIMENSIONS if (value := getattr(self, name)) is not None]


def _bad(name: str, value: str, accepted: str) -> InputError:
    return InputError(
        bilingual(f"筛选条件 {name}={value!r} 无效", f"filter {name}={value!r} is not valid"),
        hint=bilingual(f"可用的值：{accepted}", f"use {accepted}"),
    )


@dataclass(slots=True)
class Bucket:
    """One row of a breakdown: its filter value (`UNKNOWN` for "not known"), labels, clients and exposure."""

    key: str
    label_zh: str
    label_en: str
    clients: int = 0
    exposure_minor: Decimal = Decimal(0)
    """CNY minor units (fen)."""

    @property
    def known(self) -> bool:
        return self.key != UNKNOWN

    @property
    def exposure(self) -> Decimal:
        """CNY yuan."""
        return (self.exposure_minor / 100).quantize(Decimal("0.01"))

    def label(self, lang: str) -> str:
        return self.label_zh if lang == "zh" else self.label_en


@dataclass(slots=True)
class Breakdown:
    """Every dimension's buckets, ordered for display, with the totals and currencies without a rate."""

    dims: dict[str, list[Bucket]]
    clients: int = 0
    exposure_minor: Decimal = Decimal(0)
    clients_with_exposure: int = 0
    unconverted: set[str] = field(default_factory=set)

    @property
    def exposure(self) -> Decimal:
        return (self.exposure_minor / 100).quantize(Decimal("0.01"))


def bucket_label(dim: str, key: str) -> tuple[str, str]:
    if key == UNKNOWN:
        return "未知", "Unknown"
    if dim == "segment" and key in SEGMENT_ORDER:
        return Segment(key).label_zh, {"low": "Low risk", "medium": "Medium risk", "high": "High risk"}[key]
    if dim == "industry" and key in SECTION_BY_LETTER:
        section = SECTION_BY_LETTER[key]
        return f"{key} {section.name_zh}", f"{key} {section.name_en}"
    if dim == "region":
        province = province_of(key)
        if province is not None:
            return province.name, PROVINCE_EN.get(province.code[:2], province.name)
    return key, key


def _bucket_key(dim: str, raw: Any) -> str:
    """The filter value of a raw SQL key (provinces: their full name, whatever spelling the data used)."""
    if raw is None:
        return UNKNOWN
    text = str(raw)
    if dim == "region":
        province = province_of(text)
        return province.name if province is not None else text
    return text


def _order(dim: str, bucket: Bucket) -> tuple[Any, ...]:
    if dim == "segment":
        return (not bucket.known, SEGMENT_ORDER.index(bucket.key) if bucket.key in SEGMENT_ORDER else 99, bucket.key)
    if dim == "rating":
        return (not bucket.known, RATING_ORDER.index(bucket.key) if bucket.key in RATING_ORDER else 99, bucket.key)
    if dim == "industry":
        return (not bucket.known, bucket.key)
    return (not bucket.known, -bucket.clients, -bucket.exposure_minor, bucket.key)


def _exposure(risk: RiskSettings) -> Any:
    """Per golden client, the CNY exposure (minor units) of its live facilities, linked as the risk engine links
    them; facilities in a currency without a rate count as NULL (see `unconverted_currencies`)."""
    F = CreditFacilityRow
    closed = [s.lower() for s in risk.closed_loan_statuses]
    rates = {"CNY": Decimal(1), **{c: Decimal(str(r)) for c, r in risk.fx_to_cny.items() if c != "CNY"}}
    rate = case(
        *((F.currency == c, literal(r if r != r.to_integral_value() else int(r))) for c, r in rates.items()),
        else_=null(),
    )
    # summed per ledger client first: a few thousand rows, each then finds its record by source id and its golden
    # client by the record (not every cross-reference of the store looked up the other way round)
    per_record = (
        select(
            F.connector,
            F.client_source_id,
            func.sum(func.coalesce(F.outstanding_minor, F.principal_minor) * rate).label("exposure"),
        )
        .where(func.lower(F.status).not_in(closed) if closed else true())
        .group_by(F.connector, F.client_source_id)
        .subquery("f")
    )
    return (
        select(Xref.client_id.label("client_id"), func.sum(per_record.c.exposure).label("exposure"))
        .select_from(per_record)
        .join(
            SourceRecord,
            and_(
                SourceRecord.source_id == per_record.c.client_source_id,
                SourceRecord.connector == per_record.c.connector,
                SourceRecord.kind == "client",
                SourceRecord.deleted.is_(False),
            ),
        )
        .join(Xref, Xref.source_record_id == SourceRecord.id)
        .group_by(Xref.client_id)
        .subquery("e")
    )


def unconverted_currencies(session: Session, risk: RiskSettings) -> list[str]:
    """Currencies of facilities that `[risk] fx_to_cny` has no rate for (their exposure is left out)."""
    known = {"CNY", *risk.fx_to_cny}
    return sorted(
        session.scalars(select(CreditFacilityRow.currency).where(CreditFacilityRow.currency.not_in(known)).distinct())
    )


def breakdown(session: Session, filters: Filters, risk: RiskSettings) -> Breakdown:
    """Counts and CNY exposure of the active clients matching ``filters``, by every dimension (one statement)."""
    exposure = _exposure(risk)
    clients = (
        select(*(e.label(name) for name, e in keys().items()), exposure.c.exposure)
        .select_from(GoldenClient)
        .outerjoin(exposure, exposure.c.client_id == GoldenClient.id)
        .where(GoldenClient.status == "active", *filters.conditions())
        .cte("c")
        .prefix_with("MATERIALIZED")
    )
    cols = [clients.c[dim] for dim in DIMENSIONS]
    live = case((clients.c.exposure > 0, 1), else_=0)
    combos = (
        select(*cols, func.count().label("n"), func.sum(clients.c.exposure).label("x"), func.sum(live).label("live"))
        .group_by(*cols)
        .cte("g")
    )
    parts = [
        select(
            literal(dim, String).label("dim"),
            combos.c[dim].label("key"),
            func.sum(combos.c.n),
            func.sum(combos.c.x),
            func.sum(combos.c.live),
        ).group_by(combos.c[dim])
        for dim in DIMENSIONS
    ]
    buckets: dict[str, dict[str, Bucket]] = {dim: {} for dim in DIMENSIONS}
    out = Breakdown({}, unconverted=set(unconverted_currencies(session, risk)))
    for dim, raw, count, minor, with_exposure in session.execute(union_all(*parts)):
        key = _bucket_key(dim, raw)
        found = buckets[dim].get(key)
        if found is None:
            found = buckets[dim][key] = Bucket(key, *bucket_label(dim, key))
        found.clients += int(count)
        found.exposure_minor += Decimal(str(minor or 0))
        if dim == DIMENSIONS[0]:
            out.clients += int(count)
            out.exposure_minor += Decimal(str(minor or 0))
            out.clients_with_exposure += int(with_exposure or 0)
    out.dims = {dim: sorted(found.values(), key=partial(_order, dim)) for dim, found in buckets.items()}
    return out


def stamp(session: Session) -> tuple[Any, ...]:
    """What a breakdown depends on, cheaply: the newest sync run and its state, the newest audit entry (every
    change an operator makes is one), and the count and newest change of the clients and the facilities. Equal
    stamps: a kept breakdown still holds (a few indexed reads and two narrow scans, no JSON)."""
    run = session.execute(
        select(SyncRun.id, SyncRun.status, SyncRun.finished_at, SyncRun.heartbeat_at)
        .order_by(SyncRun.id.desc())
        .limit(1)
    ).first()
    clients = session.execute(
        select(func.count(), func.max(GoldenClient.id), func.max(GoldenClient.updated_at))
    ).first()
    facilities = session.execute(
        select(func.count(), func.max(CreditFacilityRow.id), func.max(CreditFacilityRow.updated_at))
    ).first()
    seq = session.scalar(select(func.max(AuditLog.seq)))
    return (tuple(run) if run else None, seq, tuple(clients or ()), tuple(facilities or ()))
