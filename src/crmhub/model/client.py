"""The golden record, `CorporateClient`, and the parts it is made of.

A `CorporateClient` is both the shape of one source system's view of a company (what a connector emits) and
the merged golden record (what the engine stores). Only ``name`` is required; ``CorporateClient(name=…,
uscc=…)`` is a valid record.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from crmhub.model import uscc as _uscc
from crmhub.model.text import (
    EmailText,
    Label,
    Name,
    Note,
    SourceId,
    UrlText,
    UserId,
)
from crmhub.model.trusted import trusted
from crmhub.model.types import (
    Address,
    CompanyEmail,
    CompanyPhone,
    Industry,
    Money,
    SensitiveEmail,
    SensitiveIdNumber,
    SensitiveName,
    SensitivePhone,
    Uscc,
)


class Record(BaseModel):
    """Base for canonical records: unknown keys are rejected, assignment is validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class Person(Record):
    """A natural person attached to a company (legal representative, shareholder)."""

    name: SensitiveName
    id_number: SensitiveIdNumber | None = None
    phone: SensitivePhone | None = None


class Contact(Record):
    """A contact person at a corporate client (personal information under PIPL)."""

    source_id: SourceId | None = None
    name: SensitiveName
    title: Label | None = None
    department: Label | None = None
    phone: SensitivePhone | None = None
    mobile: SensitivePhone | None = None
    email: SensitiveEmail | None = None
    wecom_user_id: UserId | None = None
    is_primary: bool = False
    client_source_id: SourceId | None = Field(default=None, description="Source id of the company it belongs to.")
    client_uscc: Uscc | None = None


class Shareholder(Record):
    """One shareholder and its share of the registered capital."""

    name: Name
    share_percent: Decimal | None = Field(default=None, ge=0, le=100)
    kind: Label | None = Field(default=None, description="person, company, state, …")

    @model_serializer(mode="wrap")
    def _mask_person(self, handler: SerializerFunctionWrapHandler, info: SerializationInfo) -> Any:
        """A natural-person shareholder's name is personal data: masked when the dump asks for masking."""
        out = handler(self)
        context = info.context
        if isinstance(context, dict) and context.get("mask") and isinstance(out, dict):
            from crmhub.masking import mask_fields

            masked: Any = mask_fields(out, "shareholders")
            return masked
        return out


class RelationshipManager(Record):
    """The bank employee responsible for the client (客户经理)."""

    name: Name
    user_id: UserId | None = Field(default=None, description="WeCom user id, for notifications.")
    email: EmailText | None = None
    branch: Label | None = None


class Preferences(Record):
    """Needs and preferences recorded by relationship managers."""

    products_of_interest: list[Label] = Field(default_factory=list)
    preferred_channels: list[Label] = Field(default_factory=list)
    tags: list[Label] = Field(default_factory=list)


def _no_preferences() -> Preferences:
    """``Preferences()`` — three empty lists, nothing set — without running its validator for nothing: every
    client gets one, and validating ``{}`` cost a fifth of a bare client's validation. ``tests/model`` checks that
    it equals ``Preferences()`` (values, fields set, extras)."""
    return trusted(Preferences, {"products_of_interest": [], "preferred_channels": [], "tags": []}, _NOTHING_SET)


_NOTHING_SET: frozenset[str] = frozenset()


class Rating(StrEnum):
    """crmhub's default 10-grade obligor scale; `numeric` gives the 1-10 alias (1 = AAA)."""

    AAA = "AAA"
    AA = "AA"
    A = "A"
    BBB = "BBB"
    BB = "BB"
    B = "B"
    CCC = "CCC"
    CC = "CC"
    C = "C"
    D = "D"

    @property
    def numeric(self) -> int:
        """1 = AAA … 10 = D."""
        return list(Rating).index(self) + 1

    @classmethod
    def from_numeric(cls, n: int) -> Rating:
        """The grade for a 1-10 alias."""
        return list(Rating)[n - 1]


class Segment(StrEnum):
    """Risk segment (低/中/高风险)."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"

    @property
    def label_zh(self) -> str:
        """Chinese label."""
        return {"low": "低风险", "medium": "中风险", "high": "高风险"}[self.value]


class RiskSummary(Record):
    """The latest risk assessment's headline, carried on the golden record.

    A CRM that stores only the rating and segment written back by crmhub maps them here with ``score`` and
    ``assessed_at`` left empty; the write-back planner compares rating and segment only.
    """

    rating: Rating
    segment: Segment
    score: Decimal | None = None
    assessed_at: datetime | None = None


class FieldLineage(Record):
    """Where one golden field's value came from and why it won."""

    source: str = Field(description="Connector name, or 'manual'.")
    source_record_id: str
    observed_at: datetime
    rule: str = Field(description="The survivorship rule that chose it, e.g. 'source_priority'.")


class DataQualityFinding(Record):
    """A defect in a source's data that crmhub kept the record despite (the record is not dead-lettered).

    ``kind`` is a stable id (``uscc_check``: 18 well-formed characters whose check character is wrong, most likely
    a typo; ``uscc_format``: characters a USCC never has; ``uscc_length``); ``value`` the offending value as folded;
    ``message`` what is wrong and what to do. ``source`` names the source record on a golden client
    (``connector:stream/id``), empty on a source record itself.
    """

    field: str
    kind: str
    value: str
    message: str
    source: str | None = None


class CorporateClient(Record):
    """A corporate client (对公客户): one company, keyed by its USCC where known."""

    id: int | None = Field(default=None, description="Stable hub id of the golden record; never reused.")
    uscc: Uscc | None = None
    uscc_unverified: SourceId | None = Field(
        default=None,
        description="A USCC the source holds that fails GB 32100 validation (folded). Never an identity key; "
        "still matching evidence (one character from another record's code = a typo of it).",
    )
    name: Name = Field(min_length=1, description="Legal name (法定名称) as registered.")
    normalized_name: Name | None = None
    aliases: list[Name] = Field(default_factory=list)
    english_name: Name | None = None
    registered_address: Address | None = None
    business_address: Address | None = None
    industry: Industry | None = None
    company_type: Label | None = Field(default=None, description="e.g. 有限责任公司, 股份有限公司.")
    enterprise_size: Label | None = Field(default=None, description="大型/中型/小型/微型, when a source states it.")
    legal_representative: Person | None = None
    registered_capital: Money | None = None
    annual_revenue: Money | None = None
    established_on: date | None = None
    employees: int | None = Field(default=None, ge=0)
    phone: CompanyPhone | None = None
    email: CompanyEmail | None = None
    website: UrlText | None = None
    contacts: list[Contact] = Field(default_factory=list)
    shareholders: list[Shareholder] = Field(default_factory=list)
    relationship_manager: RelationshipManager | None = None
    branch: Label | None = None
    preferences: Preferences = Field(default_factory=_no_preferences)
    external_ids: dict[Label, list[SourceId]] = Field(default_factory=dict)
    risk: RiskSummary | None = None
    lineage: dict[str, FieldLineage] = Field(default_factory=dict)
    review_flags: list[Note] = Field(
        default_factory=list,
        description="Mapping doubts a human must settle, e.g. an ambiguous industry picklist value.",
    )
    data_quality: list[DataQualityFinding] = Field(
        default_factory=list,
        description="Defects in the source data the record was kept despite, e.g. a USCC failing its check.",
    )

    @model_validator(mode="before")
    @classmethod
    def _keep_invalid_uscc(cls, data: Any) -> Any:
        """A USCC that fails validation does not reject the client (issue 13 item 9): the code moves to
        ``uscc_unverified`` and becomes a data-quality finding, so the record is still matched and merged —
        and a bad code never becomes a golden client's key."""
        if not isinstance(data, dict):
            return data
        raw = data.get("uscc")
        if not isinstance(raw, str) or not raw.strip():
            return data
        verdict = _uscc.screen(raw)
        if verdict.code is not None:
            return data if verdict.code == raw else {**data, "uscc": verdict.code}
        finding = uscc_finding(verdict)
        found = list(data.get("data_quality") or [])
        if not any(_same_finding(f, finding) for f in found):
            found.append(finding)
        usable = verdict.folded if verdict.kind != "length" else None  # an 18-character code is evidence
        return {**data, "uscc": None, "uscc_unverified": data.get("uscc_unverified") or usable, "data_quality": found}

    @field_validator("name")
    @classmethod
    def _strip_name(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise ValueError("name must not be blank")
        return v


def uscc_finding(verdict: _uscc.Screened) -> dict[str, str]:
    """The data-quality finding for a USCC that failed validation (`crmhub.model.uscc.screen`)."""
    return {
        "field": "uscc",
        "kind": f"uscc_{verdict.kind}",
        "value": verdict.folded,
        "message": f"{verdict.problem}; the client is kept without a verified USCC — correct the code in the "
        "source system",
    }


def _same_finding(existing: Any, new: dict[str, str]) -> bool:
    found = existing if isinstance(existing, dict) else getattr(existing, "__dict__", {})
    return bool(
        found.get("field") == new["field"]
        and found.get("kind") == new["kind"]
        and found.get("value") == new["value"]
        and not found.get("source")
    )


MERGEABLE_FIELDS: tuple[str, ...] = (
    "uscc",
    "name",
    "english_name",
    "registered_address",
    "business_address",
    "industry",
    "company_type",
    "enterprise_size",
    "legal_representative",
    "registered_capital",
    "annual_revenue",
    "established_on",
    "employees",
    "phone",
    "email",
    "website",
    "relationship_manager",
    "branch",
    "preferences",
    "shareholders",
)
"""Golden fields decided by survivorship rules (the rest are derived or collected)."""
