"""One synthetic company → the store rows a sync would have left for it (bench/console_data.py drives this).

The company comes from the sandbox world generator (`crmhub.sandbox.world.World`, the same code the simulators
serve), so names, USCCs (valid GB 32100 codes whose division matches the registered address), addresses,
industries, legal representatives, contacts and relationship managers are as realistic as in the sandbox, and so
is the drift between the systems (a Zoho name in brackets, a missing USCC in Fenxiang …). Instead of sending the
views through the connectors and the matcher (a 100,000-company sync takes about 20 minutes), each view is turned
into its canonical record directly and validated by `CorporateClient`, and the golden record is assembled with the
survivorship rules' outcome (source priority for identity fields, most recent for contact fields), with one
`field_lineage` row per field naming the winner and the competing values, like `crmhub.sync.merge` writes them.

Native payloads (``source_record.raw``) are rendered by the simulators' own record builders for Zoho and
Fenxiang; the ledger's is a Fineract client as the ledger simulator serves it (fewer fields).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from crmhub.core.hashing import content_hash
from crmhub.model import CorporateClient
from crmhub.model.industry import labels
from crmhub.model.uscc import compact
from crmhub.sandbox.worldtypes import Company, CrmAccountView, LedgerClientView, OwnerView
from crmhub.sync.merge import _masked_changes
from crmhub.sync.names import normalize_company_name

PRIORITY = ("ledger", "zoho", "fxiaoke")
"""Source priority of the identity fields (the sandbox configuration's order: the ledger is the bank's own book)."""
MOST_RECENT = frozenset({"phone", "email", "website", "annual_revenue", "relationship_manager", "branch"})
"""Fields whose newest value wins (contact data goes stale; the CRMs are edited more often than the ledger)."""
FIELDS = (
    "name",
    "uscc",
    "industry",
    "registered_address",
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
)
STREAM = {"zoho": "accounts", "fxiaoke": "accounts", "ledger": "clients"}
_ADMIN = OwnerView("系统管理员", "4970762000000000001", "admin@bank.example")


@dataclass(slots=True)
class Source:
    """One system's record of the company: native payload and canonical snapshot."""

    connector: str
    source_id: str
    raw: dict[str, Any]
    data: dict[str, Any]
    observed_at: datetime

    @property
    def ref(self) -> str:
        return f"{STREAM[self.connector]}/{self.source_id}"


@dataclass(slots=True)
class Golden:
    """The golden record of one company and what it was made from."""

    data: dict[str, Any]
    name_key: str
    sources: list[Source]
    lineage: list[dict[str, Any]] = field(default_factory=list)
    create_changes: dict[str, Any] = field(default_factory=dict)


def _drop_none(value: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in value.items() if v is not None and v not in ({}, [])}


def _industry(code: str | None) -> dict[str, Any] | None:
    if not code:
        return None
    zh, en = labels(code)
    return {"code": code, "name_zh": zh, "name_en": en}


def _money(amount: Any, currency: str) -> dict[str, Any] | None:
    return None if amount is None else {"amount": str(amount), "currency": currency or "CNY"}


def _rm(owner: OwnerView) -> dict[str, Any]:
    return {"name": owner.name, "user_id": owner.user_id, "email": owner.email}


def crm_data(view: CrmAccountView) -> dict[str, Any]:
    """The canonical record a CRM connector maps this account to (before validation)."""
    rep = view.legal_representative
    address = _drop_none(
        {
            "country": "CN",
            "province": view.province,
            "city": view.city,
            "district": view.district,
            "street": view.street,
            "postcode": view.postcode,
        }
    )
    contacts = [
        _drop_none(
            {
                "source_id": f"{view.system}:{c.source_id}",
                "name": c.name,
                "title": c.title,
                "phone": c.phone,
                "mobile": c.mobile,
                "email": c.email,
                "wecom_user_id": c.wecom_user_id,
            }
        )
        for c in view.contacts
    ]
    return _drop_none(
        {
            "name": view.name,
            "uscc": view.uscc,
            "phone": view.phone,
            "email": view.email,
            "website": view.website,
            "registered_address": address if len(address) > 1 else None,
            "industry": _industry(view.industry_code),
            "legal_representative": _drop_none({"name": rep.name, "id_number": rep.id_number, "phone": rep.mobile})
            if rep is not None
            else None,
            "registered_capital": _money(view.registered_capital, view.currency),
            "annual_revenue": _money(view.annual_revenue, view.currency),
            "employees": view.employees,
            "established_on": view.established_on.isoformat() if view.established_on else None,
            "relationship_manager": _rm(view.owner),
            "contacts": contacts,
        }
    )


def ledger_data(view: LedgerClientView) -> dict[str, Any]:
    """The canonical record the ledger connector maps this client to (before validation)."""
    return _drop_none(
        {
            "name": view.fullname,
            "uscc": view.uscc,
            "phone": view.mobile,
            "industry": _industry(view.industry_code),
            "branch": view.office_name,
            "external_ids": _drop_none(
                {
                    "ledger_account_no": [f"{int(view.source_id):09d}"],
                    "ledger_external_id": [view.external_id] if view.external_id else None,
                }
            ),
        }
    )


def canonical(data: dict[str, Any]) -> dict[str, Any]:
    """Validate ``data`` as a `CorporateClient` and dump it as the store keeps it; a field the model refuses is
    left out (a connector would have dead-lettered or dropped it), never the whole record."""
    for _ in range(len(data) + 1):
        try:
            client = CorporateClient.model_validate(data)
        except ValidationError as exc:
            bad = {str(err["loc"][0]) for err in exc.errors() if err["loc"]}
            if not bad or "name" in bad:
                raise
            data = {k: v for k, v in data.items() if k not in bad}
            continue
        return client.model_dump(mode="json", exclude_none=True, exclude={"id", "lineage"})
    raise AssertionError("unreachable")


def _ledger_raw(view: LedgerClientView) -> dict[str, Any]:
    day = view.activation_date
    return {
        "id": int(view.source_id),
        "accountNo": f"{int(view.source_id):09d}",
        "externalId": view.external_id,
        "status": {"id": 300, "code": "clientStatusType.active", "value": "Active"},
        "active": True,
        "activationDate": [day.year, day.month, day.day],
        "fullname": view.fullname,
        "displayName": view.fullname,
        "mobileNo": view.mobile,
        "officeName": view.office_name,
        "legalForm": {"id": 2, "code": "legalFormType.entity", "value": "ENTITY"},
        "clientNonPersonDetails": {"incorpNumber": view.uscc, "mainBusinessLine": {"name": view.industry_code or ""}},
    }


def sources_of(company: Company, rng: random.Random, synced_at: datetime) -> list[Source]:
    """Every system's record of ``company`` (1–3), with native payload and validated canonical snapshot."""
    from crmhub_fxiaoke.simulator.records import Directory, Employee
    from crmhub_fxiaoke.simulator.records import account_record as fx_record
    from crmhub_zoho.simulator.seed import account_record as zoho_record

    out: list[Source] = []
    if company.ledger is not None:
        out.append(
            Source(
                "ledger",
                company.ledger.source_id,
                _ledger_raw(company.ledger),
                canonical(ledger_data(company.ledger)),
                synced_at,
            )
        )
    if company.zoho is not None:
        out.append(
            Source(
                "zoho",
                company.zoho.source_id,
                zoho_record(company.zoho, _ADMIN),
                canonical(crm_data(company.zoho)),
                company.zoho.modified_at.astimezone(UTC),
            )
        )
    if company.fxiaoke is not None:
        directory = Directory(Employee("FSUID_ADMIN", "1000", "系统管理员", "admin@bank.example", "13900000000"))
        raw = fx_record(company.fxiaoke, directory.owner(company.fxiaoke.owner), rng, "uscc__c")
        out.append(
            Source(
                "fxiaoke",
                company.fxiaoke.source_id,
                raw,
                canonical(crm_data(company.fxiaoke)),
                company.fxiaoke.modified_at.astimezone(UTC),
            )
        )
    return out


def _winner(name: str, candidates: list[tuple[Source, Any]]) -> tuple[Source, Any, str]:
    if name in MOST_RECENT:
        src, value = max(candidates, key=lambda c: c[0].observed_at)
        return src, value, "most_recent"
    src, value = min(candidates, key=lambda c: PRIORITY.index(c[0].connector))
    return src, value, "source_priority"


def golden_of(company: Company, sources: list[Source], client_id: int, now: datetime) -> Golden:
    """Assemble the golden record and its lineage rows (survivorship as `crmhub.sync.merge` decides it)."""
    data: dict[str, Any] = {}
    lineage: list[dict[str, Any]] = []
    for name in FIELDS:
        candidates = [(s, s.data[name]) for s in sources if s.data.get(name) is not None]
        if name == "uscc":  # the true code (a view may lack it or hold a typo: that one is never the key)
            holders = [(s, v) for s, v in candidates if compact(str(v)) == company.uscc]
            candidates = holders or [(sources[0], company.uscc)]
        if not candidates:
            continue
        src, value, rule = _winner(name, candidates)
        data[name] = value
        others = [(s, v) for s, v in candidates if s is not src]
        lineage.append(
            {
                "client_id": client_id,
                "field": name,
                "value": value,
                "source": src.connector,
                "source_record_id": src.ref,
                "observed_at": src.observed_at,
                "rule": rule,
                "competing": [
                    {"source": s.connector, "record": s.ref, "value": v, "observed_at": s.observed_at.isoformat()}
                    for s, v in others
                ],
                "source_hashes": {f"{s.connector}:{s.ref}": content_hash(v) for s, v in candidates},
                "updated_at": now,
            }
        )
    contacts: dict[str, dict[str, Any]] = {}
    for s in sources:
        for c in s.data.get("contacts", []):
            contacts.setdefault(c["name"], c)
    if contacts:
        data["contacts"] = list(contacts.values())
    aliases = sorted({str(s.data["name"]) for s in sources} - {str(data["name"])})
    if aliases:
        data["aliases"] = aliases
    data["external_ids"] = {s.connector: [s.source_id] for s in sources}
    golden = canonical(data)
    changes = _masked_changes(
        {
            k: (None, v)
            for k, v in golden.items()
            if k not in ("external_ids", "preferences", "review_flags", "data_quality") and v not in ([], {})
        }
    )
    return Golden(golden, normalize_company_name(golden["name"]).key or golden["name"], sources, lineage, changes)
