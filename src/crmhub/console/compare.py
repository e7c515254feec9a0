"""The side-by-side view of a review item: golden record and candidate(s), field by field, plus the match score.

Why a module of its own: the review page must show a reviewer exactly what differs between the two records before
anyone merges them, and that takes some shaping — nested canonical values (addresses, industries, contacts) become
short readable lines, differences are found on the UNMASKED values (two different people both show as ``王*``) while
only masked values are ever shown, and the match score's per-feature evidence is read back from the explanation
the matcher stored with the item (`crmhub.sync.scoring.MatchScore.explain`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crmhub.display import label, local_time
from crmhub.i18n import Lang
from crmhub.masking import mask_fields
from crmhub.store.tables import GoldenClient, ReviewItem, SourceRecord, Xref
from crmhub.sync import queries

FIELD_ORDER = (
    "name",
    "uscc",
    "uscc_unverified",
    "aliases",
    "english_name",
    "industry",
    "company_type",
    "enterprise_size",
    "registered_address",
    "business_address",
    "legal_representative",
    "registered_capital",
    "annual_revenue",
    "established_on",
    "employees",
    "phone",
    "email",
    "website",
    "branch",
    "relationship_manager",
    "risk",
    "contacts",
    "shareholders",
    "preferences",
    "review_flags",
)
"""Rows of the comparison in reading order (other fields follow alphabetically)."""
_SKIP = frozenset({"id", "status", "version", "updated_at", "external_ids", "lineage", "data_quality"})
_ADDRESS_PARTS = ("province", "city", "district", "street")
_QUIET_KEYS = frozenset({"source_id", "is_primary", "country", "assessed_at", "scorecard_version"})
"""Keys left out of a one-line rendering (identifiers and bookkeeping a reviewer does not compare)."""
COMPARISONS: dict[str, dict[str, str]] = {
    "prior": {"zh": "先验（基准概率）", "en": "prior (base rate)"},
    "name": {"zh": "名称", "en": "name"},
    "region": {"zh": "地区", "en": "region"},
    "form": {"zh": "企业形式", "en": "legal form"},
    "phone": {"zh": "电话", "en": "phone"},
    "uscc": {"zh": "统一社会信用代码", "en": "USCC"},
    "group": {"zh": "集团", "en": "group"},
    "legal_rep": {"zh": "法定代表人", "en": "legal representative"},
    "branch": {"zh": "分支机构", "en": "branch"},
}
"""The matcher's comparisons (`crmhub.sync.scoring.DEFAULT_LEVELS`) in words; levels stay as the matcher names them."""
_SUB_LABELS: dict[str, dict[str, str]] = {
    "mobile": {"zh": "手机", "en": "mobile"},
    "title": {"zh": "职务", "en": "title"},
    "ratio": {"zh": "持股比例", "en": "share"},
    "kind": {"zh": "类型", "en": "kind"},
}
"""Keys inside nested values (contacts, shareholders) that the shared field labels do not name."""
MAX_SOURCES = 200
"""Source records listed per item (a golden client with more is pathological; the page says so)."""


@dataclass(frozen=True, slots=True)
class Contribution:
    """One line of a match score's evidence: a comparison, the level it reached, its weight in bits."""

    comparison: str
    level: str
    weight: float


@dataclass(slots=True)
class Explanation:
    """A stored match explanation read back: probability, total weight, rules and the per-feature weights."""

    probability: float | None = None
    total: float | None = None
    notes: list[str] = field(default_factory=list)
    contributions: list[Contribution] = field(default_factory=list)
    raw: str = ""


_HEAD = re.compile(r"^match probability ([0-9.]+) \(total ([+-]?[0-9.]+) bits\)$")
_LINE = re.compile(r"^\s+(\S+)\s+(.+?)\s+([+-][0-9]+\.[0-9]+)$")


def parse_explanation(text: str | None) -> Explanation:
    """Read `MatchScore.explain` text back into numbers (lines it cannot read are kept as notes)."""
    out = Explanation(raw=text or "")
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        head = _HEAD.match(line.strip())
        if head:
            out.probability, out.total = float(head.group(1)), float(head.group(2))
            continue
        contrib = _LINE.match(line)
        if contrib:
            out.contributions.append(Contribution(contrib.group(1), contrib.group(2), float(contrib.group(3))))
        else:
            out.notes.append(line.strip())
    return out


@dataclass(frozen=True, slots=True)
class SourceRef:
    """A source record linked to a golden client (what `clients split` takes as ``connector:source_id``)."""

    client_id: int
    connector: str
    stream: str
    source_id: str
    method: str
    last_seen: str
    """When a sync last read it, in the bank's time zone."""

    @property
    def ref(self) -> str:
        return f"{self.connector}:{self.source_id}"


@dataclass(slots=True)
class Column:
    """One column of the comparison: a golden client, or one source's value of a conflicting field."""

    role: str
    """``golden``, ``candidate``, ``holder`` (the client holding a clashing USCC) or ``value`` (a conflict)."""
    client_id: int | None = None
    name: str = ""
    status: str = ""
    source: str = ""
    observed_at: str = ""
    shown: dict[str, Any] = field(default_factory=dict)
    """Masked values by field (what the page prints)."""
    raw: dict[str, Any] = field(default_factory=dict)
    """Unmasked values by field (only compared, never printed)."""


@dataclass(frozen=True, slots=True)
class Row:
    """One field across the columns; ``differs`` when a column's value is not the first column's."""

    field: str
    cells: tuple[tuple[str, ...], ...]
    differs: bool


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "✓" if value else "✗"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _inline(value: Any, key: str, lang: Lang) -> str:
    """A value on one line: dicts as their meaningful parts, lists joined."""
    if value is None or value in ("", [], {}):
        return ""
    if isinstance(value, dict):
        if key == "industry":
            name = value.get("name_zh" if lang == "zh" else "name_en") or value.get("name_zh") or ""
            return f"{value.get('code') or ''} {name}".strip()
        if key == "risk":
            seg = label("segment", value.get("segment"), lang) if value.get("segment") else ""
            return " · ".join(p for p in (str(value.get("rating") or ""), seg, str(value.get("score") or "")) if p)
        if set(value) & set(_ADDRESS_PARTS):
            return " ".join(str(value[p]) for p in _ADDRESS_PARTS if value.get(p))
        parts = []
        for k, v in value.items():
            if k in _QUIET_KEYS and not (k == "is_primary" and v is True):
                continue
            text = _inline(v, str(k), lang)
            if text:
                name = _SUB_LABELS[k][lang] if k in _SUB_LABELS else label("field", k, lang)
                parts.append(text if k in ("name", "title") else f"{name}: {text}")
        return " · ".join(parts)
    if isinstance(value, list | tuple):
        return "; ".join(t for t in (_inline(v, key, lang) for v in value) if t)
    return _scalar(value)


def lines(value: Any, key: str, lang: Lang) -> tuple[str, ...]:
    """A field's value as display lines: one per list item (contacts, aliases), one for anything else."""
    if isinstance(value, list | tuple):
        return tuple(t for t in (_inline(v, key, lang) for v in value) if t)
    text = _inline(value, key, lang)
    return (text,) if text else ()


def client_column(session: Session, row: GoldenClient, role: str) -> Column:
    """A golden client as a column: masked values to show, unmasked ones to compare."""
    risk = queries.current_risk(session, row.id)
    shown = queries.client_json(row, mask=True, risk=risk)
    raw = queries.client_json(row, mask=False, risk=risk)
    return Column(
        role=role, client_id=row.id, name=str(shown.get("name") or ""), status=row.status, shown=shown, raw=raw
    )


def conflict_columns(item: ReviewItem) -> list[Column]:
    """The competing values of a conflict item, one column each (masked by the field they belong to)."""
    out = []
    name = item.field or ""
    for v in (item.details or {}).get("values") or []:
        if not isinstance(v, dict):
            continue
        out.append(
            Column(
                role="value",
                source=f"{v.get('source') or '-'}:{v.get('record') or '-'}",
                observed_at=str(v.get("observed_at") or ""),
                shown={name: mask_fields(v.get("value"), name)},
                raw={name: v.get("value")},
            )
        )
    return out


def compare(columns: list[Column], lang: Lang, only: str | None = None) -> list[Row]:
    """Rows = fields, columns = ``columns``; a row differs when any column's unmasked value is not the first's."""
    if only:
        names = [only]
    else:
        present = {k for c in columns for k, v in c.raw.items() if k not in _SKIP and v not in (None, "", [], {})}
        names = [f for f in FIELD_ORDER if f in present] + sorted(present - set(FIELD_ORDER))
    rows = []
    for name in names:
        raw = [lines(c.raw.get(name), name, lang) for c in columns]
        if not any(raw):
            continue  # e.g. preferences holding only empty lists
        differs = any(r != raw[0] for r in raw[1:])
        rows.append(Row(name, tuple(lines(c.shown.get(name), name, lang) for c in columns), differs))
    return rows


def sources(session: Session, client_ids: list[int]) -> dict[int, list[SourceRef]]:
    """The source records linked to each client (one query)."""
    out: dict[int, list[SourceRef]] = {cid: [] for cid in client_ids}
    if not client_ids:
        return out
    q = (
        select(
            Xref.client_id,
            SourceRecord.connector,
            SourceRecord.stream,
            SourceRecord.source_id,
            Xref.method,
            SourceRecord.last_seen_at,
        )
        .join(SourceRecord, SourceRecord.id == Xref.source_record_id)
        .where(Xref.client_id.in_(client_ids))
        .order_by(Xref.client_id, SourceRecord.connector, SourceRecord.stream, SourceRecord.source_id)
        .limit(MAX_SOURCES * len(client_ids))
    )
    for cid, connector, stream, source_id, method, seen in session.execute(q):
        out[int(cid)].append(SourceRef(int(cid), connector, stream, source_id, method, local_time(seen)))
    return out
