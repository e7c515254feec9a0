"""AccountObj / ContactObj ↔ crmhub's canonical model, with field names resolved through ``describe``.

Only ``_id``, ``name``, ``owner``, ``create_time``, ``last_modified_time`` and ``life_status`` are hard-coded
(fact sheet §5.2); every other field name is a default that ``[connectors.<name>.fields.<stream>]`` overrides
and ``describe`` confirms. A default custom field that the tenant does not have (real tenants have generated names
like ``field_a1B2c__c``) is looked up by its label (统一社会信用代码 …) before it is dropped with a warning.

A value that cannot be trusted makes the record *rejected* with the field named (bad USCC, missing or non-text
name); a value that cannot be mapped without guessing (a lumped industry option) becomes a ``review_flags`` entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from crmhub import upstream
from crmhub.errors import RecordError
from crmhub.model import (
    Contact,
    CorporateClient,
    Industry,
    Person,
    Rating,
    RelationshipManager,
    RiskSummary,
    Segment,
)
from crmhub_fxiaoke import industry

ACCOUNT_DEFAULTS: dict[str, str] = {
    "name": "name",
    "uscc": "uscc__c",
    "phone": "tel",
    "email": "email",
    "website": "url",
    "industry": "industry",
    "province": "province",
    "city": "city",
    "district": "district",
    "street": "address",
    "legal_representative": "legal_representative__c",
    "relationship_manager": "owner",
    "risk_rating": "risk_rating__c",
    "risk_segment": "risk_segment__c",
}
CONTACT_DEFAULTS: dict[str, str] = {
    "name": "name",
    "client_source_id": "account_id",
    "mobile": "mobile1",
    "phone": "tel1",
    "email": "email",
    "title": "job_title",
    "department": "department",
}
LABEL_HINTS: dict[str, tuple[str, ...]] = {
    "uscc": ("统一社会信用代码", "社会信用代码", "信用代码", "USCC"),
    "risk_rating": ("风险评级", "信用评级", "客户评级"),
    "risk_segment": ("风险分层", "风险等级", "风险分类"),
    "legal_representative": ("法定代表人", "法人代表", "法人"),
}
REQUIRED = frozenset({"name", "relationship_manager", "client_source_id"})


@dataclass(slots=True)
class FieldMap:
    """Canonical field → the tenant's API name for one object, plus what resolution had to say."""

    names: dict[str, str]
    options: dict[str, dict[str, str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def api(self, canonical: str) -> str | None:
        """The API name mapped to ``canonical`` (None when the tenant has no such field)."""
        return self.names.get(canonical)


def resolve(
    defaults: Mapping[str, str], overrides: Mapping[str, str], describe: Mapping[str, Any] | None, object_label: str
) -> FieldMap:
    """Apply overrides, then check each name against ``describe`` (a missing custom field is searched by label)."""
    names = {**defaults, **overrides}
    fm = FieldMap(names={})
    fields: Mapping[str, Any] = (describe or {}).get("fields") or {}
    for canonical, api in names.items():
        if not fields or api in fields or canonical in REQUIRED:
            fm.names[canonical] = api
            continue
        if canonical in overrides:  # the operator named it: keep it, but say describe does not know it
            fm.names[canonical] = api
            fm.warnings.append(
                f"{object_label}: fields.{canonical} = {api!r} is not in describe; check the API "
                "name (real tenants use generated names like field_a1B2c__c)"
            )
            continue
        hints = LABEL_HINTS.get(canonical, ())
        found = [
            name
            for name, spec in fields.items()
            if isinstance(spec, dict) and any(h in str(spec.get("label", "")) for h in hints)
        ]
        if len(found) == 1:
            fm.names[canonical] = found[0]
            fm.warnings.append(
                f"{object_label}: field {api!r} for {canonical} does not exist; using {found[0]!r} "
                f"(label {fields[found[0]].get('label')!r}) — set fields.{canonical} to confirm"
            )
        else:
            fm.warnings.append(
                f"{object_label}: field {api!r} for {canonical} does not exist"
                + (f"; candidates by label: {', '.join(found)}" if found else "")
                + f" — {canonical} is not mapped until fields.{canonical} names it"
            )
    for canonical, api in fm.names.items():
        spec = fields.get(api)
        if isinstance(spec, dict) and isinstance(spec.get("options"), list):
            fm.options[canonical] = {
                str(o.get("value")): str(o.get("label", o.get("value"))) for o in spec["options"] if isinstance(o, dict)
            }
    return fm


def _text(row: Mapping[str, Any], api: str | None, *, required: bool = False) -> str | None:
    """Field ``api`` as text by the shared rule (`crmhub.upstream.text`); a required value may not be a number."""
    if api is None:
        return None
    return upstream.text(row.get(api), api, required=required, numbers=not required)


def millis(row: Mapping[str, Any], api: str) -> datetime:
    """A millisecond-epoch field as an aware datetime (RecordError when absent or not a number)."""
    value = row.get(api)
    try:
        return datetime.fromtimestamp(int(str(value)) / 1000, UTC)
    except (TypeError, ValueError, OverflowError):
        raise RecordError(f"{api}: expected a millisecond timestamp, got {value!r}", field=api) from None


def _owner(row: Mapping[str, Any], api: str) -> RelationshipManager | None:
    where = f"{api}__r"
    ref = row.get(where)
    if not isinstance(ref, dict):
        where = f"{api}__l"
        refs = row.get(where)
        ref = refs[0] if isinstance(refs, list) and refs and isinstance(refs[0], dict) else None
    if ref is None:
        return None
    name = upstream.text(ref.get("name"), f"{where}.name", numbers=False)
    if name is None:
        return None
    try:
        return RelationshipManager(name=name, email=upstream.text(ref.get("email"), f"{where}.email"))
    except ValidationError as exc:
        raise RecordError(
            f"{where}: {str(exc.errors()[0]['msg']).removeprefix('Value error, ')}", field=where
        ) from None


def account(row: Mapping[str, Any], fm: FieldMap, industry_map: Mapping[str, str | list[str]]) -> CorporateClient:
    """Map one AccountObj row; raises `RecordError` naming the field when the record cannot be trusted."""
    a = fm.names.get  # = fm.api, without a Python frame per field
    name = _text(row, a("name"), required=True)
    uscc = _text(row, a("uscc"))  # validated (GB 32100 check character) by the model, once
    flags: list[str] = []
    code: str | None = None
    if a("industry"):
        picked = row.get(a("industry") or "")
        for option in picked if isinstance(picked, list) else [picked]:  # select_many tenants send a list
            upstream.require_scalar(option, a("industry") or "industry", "a picklist option")
        verdict = industry.map_option(
            picked, fm.options.get("industry", {}), industry_map, field=a("industry") or "industry"
        )
        code, flag = verdict.code, verdict.flag
        if flag:
            flags.append(flag)
    parts = {k: _text(row, a(k)) for k in ("province", "city", "district", "street")}
    address = {k: v for k, v in parts.items() if v} or None
    legal = _text(row, a("legal_representative"))
    try:
        return CorporateClient(
            name=name or "",
            uscc=uscc,
            registered_address=address,  # a dict: errors name registered_address.<part>
            phone=_text(row, a("phone")),
            email=_text(row, a("email")),
            website=_text(row, a("website")),
            industry=Industry(code=code) if code else None,
            legal_representative=Person(name=legal) if legal else None,
            relationship_manager=_owner(row, a("relationship_manager") or "owner"),
            review_flags=flags,
            risk=read_risk(row, fm),
        )
    except ValidationError as exc:
        raise _record_error(exc, fm) from None


_SEGMENTS = {"low": "low", "medium": "medium", "high": "high", "低风险": "low", "中风险": "medium", "高风险": "high"}


def read_risk(row: Mapping[str, Any], fm: FieldMap) -> RiskSummary | None:
    """The rating and segment crmhub wrote back (option values or labels), so our own write's echo is known."""
    rating_raw, segment_raw = _text(row, fm.api("risk_rating")), _text(row, fm.api("risk_segment"))
    if rating_raw is None or segment_raw is None:
        return None
    rating_label = fm.options.get("risk_rating", {}).get(rating_raw, rating_raw)
    segment_label = fm.options.get("risk_segment", {}).get(segment_raw, segment_raw)
    rating = rating_raw if rating_raw in Rating.__members__ else rating_label
    segment = _SEGMENTS.get(segment_raw) or _SEGMENTS.get(segment_label)
    if rating not in Rating.__members__ or segment is None:
        return None
    return RiskSummary(rating=Rating(rating), segment=Segment(segment))


def _record_error(exc: ValidationError, fm: FieldMap) -> RecordError:
    """Name the tenant's field, and say the validator's words without pydantic's boilerplate."""
    err = exc.errors()[0]
    canonical = str(err["loc"][0]) if err["loc"] else "record"
    leaf = str(err["loc"][-1]) if err["loc"] else "record"
    api = fm.names.get(canonical) or fm.names.get(leaf) or canonical  # registered_address.street → address
    message = str(err["msg"]).removeprefix("Value error, ")
    return RecordError(f"{api}: {message}", field=api)


def contact(row: Mapping[str, Any], fm: FieldMap) -> Contact:
    """Map one ContactObj row; ``account_id`` becomes ``client_source_id``."""
    a = fm.names.get  # = fm.api, without a Python frame per field
    try:
        return Contact(
            source_id=str(row.get("_id")),
            name=_text(row, a("name"), required=True) or "",
            client_source_id=_text(row, a("client_source_id")),
            mobile=_text(row, a("mobile")),
            phone=_text(row, a("phone")),
            email=_text(row, a("email")),
            title=_text(row, a("title")),
            department=_text(row, a("department")),
        )
    except ValidationError as exc:
        raise _record_error(exc, fm) from None


def _option(options: Mapping[str, str], *wanted: str) -> str | None:
    for w in wanted:
        if w in options:
            return w
    for value, label in options.items():
        if label in wanted:
            return value
    return None


def account_payload(
    client: CorporateClient, allowed: set[str], fm: FieldMap, industry_map: Mapping[str, str | list[str]]
) -> tuple[dict[str, Any], dict[str, str]]:
    """``object_data`` fields for a write, and the canonical fields skipped with the reason."""
    a = fm.api
    out: dict[str, Any] = {}
    skipped: dict[str, str] = {}

    def put(canonical: str, value: Any) -> None:
        api = a(canonical)
        if api is None:
            skipped[canonical] = f"the tenant has no field for {canonical}; set fields.{canonical}"
        else:
            out[api] = value

    if "name" in allowed:
        put("name", client.name)
    if "uscc" in allowed and client.uscc:
        put("uscc", client.uscc)
    for canonical in ("phone", "email", "website"):
        if canonical in allowed and getattr(client, canonical):
            put(canonical, getattr(client, canonical))
    if "industry" in allowed and client.industry is not None:
        value = industry.option_for_code(client.industry.code, fm.options.get("industry", {}), industry_map)
        if value is None:
            skipped["industry"] = f"no unambiguous Fenxiang industry option for GB/T {client.industry.code}"
        else:
            put("industry", value)
    if "address" in allowed:
        addr = client.registered_address or client.business_address
        if addr is not None:
            for canonical, value in (
                ("province", addr.province),
                ("city", addr.city),
                ("district", addr.district),
                ("street", addr.street),
            ):
                if value:
                    put(canonical, value)
    if "risk" in allowed and client.risk is not None:
        rating = _option(fm.options.get("risk_rating", {}), client.risk.rating.value)
        segment = _option(fm.options.get("risk_segment", {}), client.risk.segment.value, client.risk.segment.label_zh)
        if rating is None and fm.options.get("risk_rating"):
            skipped["risk_rating"] = f"no option {client.risk.rating.value!r} on {a('risk_rating')}"
        else:
            put("risk_rating", rating or client.risk.rating.value)
        if segment is None and fm.options.get("risk_segment"):
            skipped["risk_segment"] = f"no option {client.risk.segment.value!r} on {a('risk_segment')}"
        else:
            put("risk_segment", segment or client.risk.segment.value)
    return out, skipped
