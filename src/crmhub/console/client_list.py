"""The console's client list: filters typed in a form → SQL conditions, one page of matches, the export.

Why its own module: the list must stay fast on a 100,000-client store, so every filter is a column test or a
JSON-document expression evaluated in SQL (never a per-row lookup, SQLAlchemy's portable JSON accessors on SQLite
and PostgreSQL alike), column tests run before the document is parsed, a page filtered on the document costs one
scan (`list_page`), and the export walks the same filtered query in key order one bounded chunk at a time.

Industry section, province and manager are indexed columns (`crmhub.store.golden_keys`), tested exactly as the
segments page counts them (`crmhub.reporting.segments.condition`): a count there and the list it links to are the same
clients. Only an industry code with digits (C39) or a region that names no province (a city, 深圳) still reads the
document.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import Session

from crmhub.console.web import Pager, paginate
from crmhub.core.pages import keyset_pages
from crmhub.model import uscc as uscc_mod
from crmhub.model.client import Rating, Segment
from crmhub.model.industry import SECTIONS
from crmhub.reporting import segments
from crmhub.store import Store
from crmhub.store.tables import GoldenClient

G = GoldenClient
SEGMENTS = tuple(s.value for s in Segment)
RATINGS = tuple(r.value for r in Rating)
INDUSTRY_SECTIONS = tuple((s.letter, s.name_zh, s.name_en) for s in SECTIONS)
MAX_TEXT = 100
"""Longest search text accepted (longer input is cut; nothing useful is that long)."""
EXPORT_CHUNK = 1000

_INDUSTRY = G.data["industry"]["code"].as_string()
_INDUSTRY_ZH = G.data["industry"]["name_zh"].as_string()
_INDUSTRY_EN = G.data["industry"]["name_en"].as_string()
_PROVINCE = G.data["registered_address"]["province"].as_string()
_CITY = G.data["registered_address"]["city"].as_string()
_RM = G.data["relationship_manager"]["name"].as_string()


@dataclass(frozen=True, slots=True)
class ClientFilters:
    """The list's filters as typed in the form; `problems` says which ones were not understood (and dropped)."""

    q: str = ""
    region: str = ""
    industry: str = ""
    segment: str = ""
    rating: str = ""
    rm: str = ""
    problems: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, arg: Callable[[str], str]) -> ClientFilters:
        """From query-string arguments (``arg(name)``): text is cut to `MAX_TEXT`, choices are checked."""
        problems: list[tuple[str, str]] = []
        segment = arg("segment").lower()
        if segment and segment not in SEGMENTS:
            problems.append(
                (
                    f"风险分层 {segment!r} 无效，可选：{'、'.join(SEGMENTS)}",
                    f"unknown segment {segment!r}; use one of {', '.join(SEGMENTS)}",
                )
            )
            segment = ""
        rating = arg("rating").upper()
        if rating and rating not in RATINGS:
            problems.append(
                (
                    f"评级 {rating!r} 无效，可选：{'、'.join(RATINGS)}",
                    f"unknown rating {rating!r}; use one of {', '.join(RATINGS)}",
                )
            )
            rating = ""
        industry = arg("industry").upper()
        letters = {letter for letter, _, _ in INDUSTRY_SECTIONS}
        if industry and not (industry[:1] in letters and (len(industry) == 1 or industry[1:].isdigit())):
            problems.append(
                (
                    f"行业代码 {industry!r} 无效：请用 GB/T 4754 门类字母（A–T），可带数字，如 C39",
                    f"industry {industry!r} is not a GB/T 4754 code: a section letter A-T, optionally "
                    "with digits, e.g. C39",
                )
            )
            industry = ""
        return cls(
            q=arg("q")[:MAX_TEXT],
            region=arg("region")[:MAX_TEXT],
            industry=industry[:5],
            segment=segment,
            rating=rating,
            rm=arg("rm")[:MAX_TEXT],
            problems=tuple(problems),
        )

    @property
    def active(self) -> bool:
        """Whether any filter is set."""
        return any((self.q, self.region, self.industry, self.segment, self.rating, self.rm))

    @property
    def region_is_province(self) -> bool:
        """Whether the region names a province (浙江, 浙江省, 33): then it is the ``province`` column's value."""
        return bool(self.region) and segments.province_of(self.region) is not None

    @property
    def on_document(self) -> bool:
        """Whether a filter reads the JSON document (a full scan of it; the column filters are cheap)."""
        return len(self.industry) > 1 or bool(self.region and not self.region_is_province)

    def where(self) -> list[ColumnElement[bool]]:
        """The SQL conditions of the filters (active clients only), cheapest first: column tests before the
        JSON document is parsed."""
        conds: list[ColumnElement[bool]] = [G.status == "active"]
        if self.segment:
            conds.append(G.segment == self.segment)
        if self.rating:
            conds.append(G.rating == self.rating)
        if self.q:
            by_name = G.name.icontains(self.q, autoescape=True)
            code = uscc_mod.compact(self.q)  # full-width, lower case, spaces and dashes folded
            usable = code.isascii() and code.isalnum()  # could begin a USCC (digits and capital letters)
            conds.append(or_(by_name, G.uscc.startswith(code, autoescape=True)) if usable else by_name)
        if self.industry:
            conds.append(segments.condition("industry", self.industry))
        if self.rm:  # the manager's name (else user id), exactly: the segments page's manager bucket
            conds.append(segments.condition("manager", self.rm.strip()))
        if self.region_is_province:
            conds.append(segments.condition("region", self.region))
        elif self.region:  # a city or other address text: a fragment of the address's province or city
            conds.append(
                or_(_PROVINCE.contains(self.region, autoescape=True), _CITY.contains(self.region, autoescape=True))
            )
        return conds


LIST_COLUMNS = (
    G.id,
    G.uscc,
    G.name,
    _INDUSTRY.label("industry"),
    _INDUSTRY_ZH.label("industry_zh"),
    _INDUSTRY_EN.label("industry_en"),
    _PROVINCE.label("province"),
    _CITY.label("city"),
    G.segment,
    G.rating,
    _RM.label("rm"),
    G.rm_user_id,
    G.updated_at,
)


def list_query(filters: ClientFilters) -> Select[Any]:
    """One row per matching client with the list's columns, in id order (for `crmhub.console.web.paginate`)."""
    return select(*LIST_COLUMNS).where(*filters.where()).order_by(G.id)


def list_page(session: Session, filters: ClientFilters, page: int, size: int) -> Pager:
    """One page of the filtered list and the number of matches.

    Filtered on columns only, the page's ids come from a COUNT and a LIMIT/OFFSET over ids alone (`paginate`:
    an index walk — selecting the list's columns there would read every skipped client's document, 1.1 s for
    page 500 of 100,000), then the page's columns by primary key. A filter on the JSON document makes every scan
    parse each client's document, so then the page's ids and the total come from ONE scan (``count(*) OVER
    ()``) — not one scan to count and a second to reach a deep page.
    """
    if not filters.on_document:
        ids = paginate(session, select(G.id).where(*filters.where()).order_by(G.id), page, size)
        rows = session.execute(select(*LIST_COLUMNS).where(G.id.in_(ids.rows)).order_by(G.id)).all() if ids.rows else []
        return Pager(list(rows), ids.total, ids.page, size)
    hits = session.execute(
        select(G.id, func.count().over().label("total"))
        .where(*filters.where())
        .order_by(G.id)
        .limit(size)
        .offset((page - 1) * size)
    ).all()
    if not hits:  # nothing matches, or a page past the end (paginate clamps it to the last one)
        return Pager([], 0, 1, size) if page == 1 else paginate(session, list_query(filters), page, size, scalars=False)
    rows = session.execute(select(*LIST_COLUMNS).where(G.id.in_([h.id for h in hits])).order_by(G.id)).all()
    return Pager(list(rows), int(hits[0].total), page, size)


def region_of(province: str | None, city: str | None) -> str:
    """``广东省 深圳市``; a municipality's province and city are the same name, shown once."""
    parts = [p for p in (province, city) if p]
    if len(parts) == 2 and parts[0] == parts[1]:
        parts = parts[:1]
    return " ".join(parts)


def export_rows(store: Store, filters: ClientFilters, lang: str) -> Iterator[list[Any]]:
    """Every matching client as an export row, read in id order one chunk at a time (each chunk its own short
    transaction, resuming after the last id: memory and work stay linear however long the list)."""
    conds = filters.where()

    def read(after: int | None) -> Sequence[Any]:
        with store.begin() as s:
            return s.execute(
                select(*LIST_COLUMNS).where(*conds, G.id > (after or 0)).order_by(G.id).limit(EXPORT_CHUNK)
            ).all()

    for rows in keyset_pages(read, lambda row: int(row.id), EXPORT_CHUNK):
        for r in rows:
            yield [
                r.id,
                r.uscc,
                r.name,
                r.industry,
                r.industry_zh if lang == "zh" else r.industry_en,
                region_of(r.province, r.city),
                r.segment,
                r.rating,
                r.rm or r.rm_user_id,
                r.updated_at,
            ]
