"""Zoho records ↔ crmhub's canonical model, with defaults that need no configuration.

The ``fields`` override table (``[connectors.zoho.fields.accounts] uscc = "Tax_ID"``) maps a canonical field to a
Zoho API name, custom fields included. Reading never guesses: an invalid USCC, a missing mandatory name or a value
of the wrong type rejects the record with a reason naming the Zoho field; an ambiguous Industry picklist value
leaves ``industry`` empty and adds a review flag. Datetimes keep their offsets (``datetime.fromisoformat``,
which reads every ISO 8601 form since Python 3.11; complaint #2). The same functions read API JSON and Bulk Read
CSV rows (where every value is text and lookups are ids).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError

from crmhub import upstream
from crmhub.contract import OutboundRecord, RejectedRecord, SourceRecord
from crmhub.errors import ConfigError, RecordError
from crmhub.model import Contact, CorporateClient
from crmhub.model.text import needs_cleaning
from crmhub.model.trusted import trusted
from crmhub_zoho.config import ZohoConfig
from crmhub_zoho.industry import classify

ACCOUNT_FIELDS: dict[str, str] = {
    "name": "Account_Name",
    "uscc": "USCC",
    "phone": "Phone",
    "website": "Website",
    "industry": "Industry",
    "street": "Billing_Street",
    "city": "Billing_City",
    "province": "Billing_State",
    "postcode": "Billing_Code",
    "country": "Billing_Country",
    "annual_revenue": "Annual_Revenue",
    "currency": "Currency",
    "employees": "Employees",
    "relationship_manager": "Owner",
    "risk_rating": "Risk_Rating",
    "risk_segment": "Risk_Segment",
}
"""Canonical field → Zoho Accounts API name (defaults)."""

ACCOUNT_OPTIONAL: dict[str, str] = {
    "email": "",
    "english_name": "",
    "company_type": "",
    "enterprise_size": "",
    "branch": "",
    "legal_representative": "",
    "registered_capital": "",
    "established_on": "",
}
"""Canonical fields with no default Zoho field; set them in the override table to read a custom field."""

CONTACT_FIELDS: dict[str, str] = {
    "first_name": "First_Name",
    "last_name": "Last_Name",
    "full_name": "Full_Name",
    "email": "Email",
    "phone": "Phone",
    "mobile": "Mobile",
    "title": "Title",
    "department": "Department",
    "client": "Account_Name",
}
"""Canonical contact field → Zoho Contacts API name (defaults)."""

_COUNTRIES = {
    "china": "CN",
    "中国": "CN",
    "cn": "CN",
    "prc": "CN",
    "people's republic of china": "CN",
    "中华人民共和国": "CN",
    "hong kong": "HK",
    "中国香港": "HK",
    "香港": "HK",
    "united states": "US",
    "usa": "US",
    "singapore": "SG",
    "新加坡": "SG",
}
_SEGMENT_LABEL = {"low": "低风险", "medium": "中风险", "high": "高风险"}
_SEGMENT_CODE = {label: code for code, label in _SEGMENT_LABEL.items()}
_RATINGS = frozenset({"AAA", "AA", "A", "BBB", "BB", "B", "CCC", "CC", "C", "D"})


class Reject(Exception):
    """A record cannot be mapped; carries the Zoho field and the reason."""

    def __init__(self, field: str | None, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


def parse_time(value: Any) -> datetime | None:
    """A Zoho datetime with its offset kept (``+05:30``, ``+08:00``; ``Z`` tolerated).

    Since Python 3.11 ``datetime.fromisoformat`` reads every ISO 8601 form Zoho and its exports use (``Z``,
    ``+0800``, basic form, fractions); complaint #2 (``Invalid isoformat string`` on 3.10's narrower parser) broke
    other connectors' incremental syncs.
    """
    if value is None or value == "":
        return None
    return datetime.fromisoformat(str(value))


def _text(value: Any, api: str) -> str | None:
    """An upstream value where text is expected: the shared rule (`crmhub.upstream.text`), errors as `Reject`."""
    try:
        return upstream.text(value, api)
    except RecordError as exc:
        raise Reject(exc.field, exc.message) from None


def _field(rec: Mapping[str, Any], api: str) -> str | None:
    """The text of field ``api`` of a record."""
    value = rec.get(api)
    if value.__class__ is str and needs_cleaning(value) is None:  # upstream.text's common case, without its frames
        return value.strip() or None
    return _text(value, api)


_RECORD_SET = frozenset({"stream", "source_id", "data", "modified_at", "raw"})


def _source_record(
    stream: str, rid: str, data: CorporateClient | Contact, modified: datetime | None, rec: dict[str, Any]
) -> SourceRecord:
    """``SourceRecord(stream=…, source_id=rid, data=data, modified_at=modified, raw=rec)`` without validating again
    what is valid already (``data`` a canonical record validated a moment ago, ``rid`` text, ``modified`` a
    datetime or None): the same values, fields set and shallow copy of ``rec`` that validation makes."""
    return trusted(
        SourceRecord,
        {
            "stream": stream,
            "source_id": rid,
            "data": data,
            "deleted": False,
            "deletes_stream": None,
            "modified_at": modified,
            "raw": dict(rec),
        },
        _RECORD_SET,
    )


def _scalar(value: Any, api: str, expected: str) -> Any:
    try:
        return upstream.require_scalar(value, api, expected)
    except RecordError as exc:
        raise Reject(exc.field, exc.message) from None


def _id_or_none(value: Any) -> str | None:
    """The record id for a dead letter, when it is usable at all (the mapping itself rejects a bad one)."""
    try:
        return upstream.text(value, "id")
    except RecordError:
        return None


def _int(value: Any, api: str) -> int | None:
    if value in (None, ""):
        return None
    _scalar(value, api, "an integer")
    if isinstance(value, bool):
        raise Reject(api, f"{api}: expected an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return int(text)
    raise Reject(api, f"{api}: expected an integer, got {str(value)[:40]!r}")


def _decimal(value: Any, api: str) -> Decimal | None:
    if value in (None, ""):
        return None
    _scalar(value, api, "a number")
    if isinstance(value, bool):
        raise Reject(api, f"{api}: expected a number, got {value!r}")
    try:
        return Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value).replace(",", "").strip())
    except InvalidOperation:
        raise Reject(api, f"{api}: expected a number, got {str(value)[:40]!r}") from None


def _lookup_id(value: Any, api: str) -> str | None:
    if isinstance(value, dict):
        return _text(value.get("id"), f"{api}.id")
    return _text(value, api)


class ZohoMapper:
    """Maps one org's records using the defaults plus the connector's override table."""

    def __init__(self, config: ZohoConfig) -> None:
        self.config = config
        self.accounts = dict(ACCOUNT_FIELDS)
        self.accounts.update(
            {
                "uscc": config.uscc_field,
                "risk_rating": config.risk_rating_field,
                "risk_segment": config.risk_segment_field,
            }
        )
        self.contacts = dict(CONTACT_FIELDS)
        problems: list[tuple[str, str]] = []
        for stream, table, known in (
            ("accounts", self.accounts, {**ACCOUNT_FIELDS, **ACCOUNT_OPTIONAL}),
            ("contacts", self.contacts, CONTACT_FIELDS),
        ):
            for canonical, api in config.fields.get(stream, {}).items():
                if canonical not in known:
                    problems.append(
                        (f"fields.{stream}.{canonical}", f"unknown canonical field; known: {', '.join(sorted(known))}")
                    )
                table[canonical] = api
        unknown_streams = set(config.fields) - {"accounts", "contacts"}
        problems += [(f"fields.{s}", "no such stream; use accounts or contacts") for s in sorted(unknown_streams)]
        if problems:
            raise ConfigError("the zoho_crm field override table has errors", problems=problems)
        self.users: dict[str, tuple[str, str | None]] = {}

    # --- which Zoho fields to read ----------------------------------------------------------------------------

    def read_fields(self, stream: str) -> list[str]:
        """Zoho API names to request for ``stream`` (≤ 50, ``Modified_Time`` always)."""
        table = self.accounts if stream == "accounts" else self.contacts
        names = [api for canonical, api in table.items() if api]
        names += ["Created_Time", "Modified_Time"]
        unique = list(dict.fromkeys(names))
        if len(unique) > 50:
            raise ConfigError(
                f"{len(unique)} Zoho fields are mapped for {stream}; Zoho reads at most 50 per call",
                problems=[(f"fields.{stream}", "map at most 48 fields")],
            )
        return unique

    # --- reading ---------------------------------------------------------------------------------------------

    def account(self, rec: dict[str, Any]) -> SourceRecord | RejectedRecord:
        """A Zoho Accounts record (API JSON or Bulk CSV row) → `SourceRecord` of a `CorporateClient`."""
        rid = _id_or_none(rec.get("id"))
        try:
            if rid is None:  # _field says why (an object, a list …) or it is missing
                _field(rec, "id")
                raise Reject("id", "id: the record has no id")
            return self._account(rid, rec)
        except Reject as exc:
            return RejectedRecord(
                stream="accounts", source_id=rid, reason=exc.reason, field=exc.field, payload=dict(rec)
            )

    def _account(self, rid: str, rec: dict[str, Any]) -> SourceRecord:
        f = self.accounts
        name = _field(rec, f["name"])
        if name is None:
            raise Reject(
                f["name"], f"{f['name']}: missing; Zoho marks it mandatory, so the record cannot be a client without it"
            )
        data: dict[str, Any] = {"name": name}
        flags: list[str] = []
        uscc_raw = _field(rec, f["uscc"])
        if uscc_raw is not None:
            data["uscc"] = uscc_raw  # validated once, by the canonical Uscc type; errors explained below
        for canonical in ("phone", "website", "email", "english_name", "company_type", "enterprise_size", "branch"):
            api = f.get(canonical)
            if api:
                value = _field(rec, api)
                if value is not None:
                    data[canonical] = value
        address = {key: _field(rec, f[key]) for key in ("street", "city", "province", "postcode")}
        country = _field(rec, f["country"])
        if any(address.values()) or country:
            data["registered_address"] = {
                **{k: v for k, v in address.items() if v},
                "country": _COUNTRIES.get((country or "").casefold(), country or "CN"),
            }
        verdict = classify(_field(rec, f["industry"]), self.config.industry_map)
        if verdict.code:
            data["industry"] = verdict.code
        if verdict.flag:
            flags.append(verdict.flag)
        if verdict.enterprise_size and "enterprise_size" not in data:
            data["enterprise_size"] = verdict.enterprise_size
        currency = _field(rec, f["currency"]) or "CNY"
        revenue = _decimal(rec.get(f["annual_revenue"]), f["annual_revenue"])
        if revenue is not None:
            data["annual_revenue"] = {"amount": revenue, "currency": currency}
        capital_api = f.get("registered_capital")
        if capital_api:
            capital = _decimal(rec.get(capital_api), capital_api)
            if capital is not None:
                data["registered_capital"] = {"amount": capital, "currency": currency}
        employees = _int(rec.get(f["employees"]), f["employees"])
        if employees is not None:
            if employees < 0:
                raise Reject(f["employees"], f"{f['employees']}: negative head count {employees}")
            data["employees"] = employees
        rep_api = f.get("legal_representative")
        if rep_api and _field(rec, rep_api):
            data["legal_representative"] = {"name": _field(rec, rep_api)}
        est_api = f.get("established_on")
        if est_api and _field(rec, est_api):
            data["established_on"] = _field(rec, est_api)
        owner = self._owner(rec.get(f["relationship_manager"]))
        if owner is not None:
            data["relationship_manager"] = owner
        if flags:
            data["review_flags"] = flags
        risk = self._risk(rec)
        if risk is not None:
            data["risk"] = risk
        try:
            modified = parse_time(rec.get("Modified_Time"))
        except (ValueError, OverflowError):
            raise Reject("Modified_Time", f"Modified_Time: not a datetime: {rec.get('Modified_Time')!r}") from None
        try:
            client = CorporateClient.model_validate(data)
        except ValidationError as exc:
            raise Reject(*_explain(exc, f)) from None
        return _source_record("accounts", rid, client, modified, rec)

    def _risk(self, rec: Mapping[str, Any]) -> dict[str, str] | None:
        """The rating and segment crmhub wrote (``Risk_Rating``/``Risk_Segment``), read back so the echo of our own
        write is recognised; values crmhub did not write (unknown grades, free text) are ignored."""
        f = self.accounts
        rating = _id_or_none(rec.get(f["risk_rating"])) if f.get("risk_rating") else None
        segment = _id_or_none(rec.get(f["risk_segment"])) if f.get("risk_segment") else None
        if rating is None or segment is None:
            return None
        code = _SEGMENT_CODE.get(segment) or (segment if segment in _SEGMENT_LABEL else None)
        if rating not in _RATINGS or code is None:
            return None
        return {"rating": rating, "segment": code}

    def writable(self) -> frozenset[str]:
        """Canonical account fields `outbound` writes (and `account` reads back)."""
        fields = {"name", "uscc", "risk", "phone", "website", "employees", "annual_revenue", "registered_address"}
        if self.accounts.get("industry") not in (None, "Industry"):
            fields.add("industry")
        return frozenset(fields)

    def _owner(self, value: Any) -> dict[str, Any] | None:
        api = self.accounts["relationship_manager"]
        if isinstance(value, dict):
            name = _text(value.get("name"), f"{api}.name")
            owner_key = _text(value.get("id"), f"{api}.id")
            if name is None and owner_key in self.users:
                name, email = self.users[owner_key]
                return {"name": name, "email": email}
            return {"name": name, "email": _text(value.get("email"), f"{api}.email")} if name else None
        owner_id = _text(value, api)
        if owner_id and owner_id in self.users:
            name, email = self.users[owner_id]
            return {"name": name, "email": email}
        return None

    def contact(self, rec: dict[str, Any]) -> SourceRecord | RejectedRecord:
        """A Zoho Contacts record → `SourceRecord` of a `Contact` (``client_source_id`` = the account id)."""
        rid = _id_or_none(rec.get("id"))
        f = self.contacts
        try:
            if rid is None:  # _field says why (an object, a list …) or it is missing
                _field(rec, "id")
                raise Reject("id", "id: the record has no id")
            last = _field(rec, f["last_name"])
            if last is None:
                raise Reject(f["last_name"], f"{f['last_name']}: missing; Zoho marks it mandatory")
            first = _field(rec, f["first_name"])
            full = _field(rec, f["full_name"])
            if full is None:
                cjk = first is not None and all("\u4e00" <= ch <= "\u9fff" for ch in last + first)
                full = f"{last}{first}" if cjk else " ".join(p for p in (first, last) if p)
            data: dict[str, Any] = {"source_id": rid, "name": full}
            for canonical in ("email", "phone", "mobile", "title", "department"):
                value = _field(rec, f[canonical])
                if value is not None:
                    data[canonical] = value
            account_id = _lookup_id(rec.get(f["client"]), f["client"])
            if account_id:
                data["client_source_id"] = account_id
            try:
                modified = parse_time(rec.get("Modified_Time"))
            except (ValueError, OverflowError):
                raise Reject("Modified_Time", f"Modified_Time: not a datetime: {rec.get('Modified_Time')!r}") from None
            try:
                contact = Contact.model_validate(data)
            except ValidationError as exc:
                raise Reject(*_explain(exc, {**f, "name": f["full_name"], "client_source_id": f["client"]})) from None
            return _source_record("contacts", rid, contact, modified, rec)
        except Reject as exc:
            return RejectedRecord(
                stream="contacts", source_id=rid, reason=exc.reason, field=exc.field, payload=dict(rec)
            )

    @staticmethod
    def tombstone(entry: Mapping[str, Any], deletes: str) -> SourceRecord:
        """A ``/deleted`` item → a deletion `SourceRecord` for stream ``deletes``."""
        return SourceRecord(
            stream="deleted",
            source_id=str(entry["id"]),
            deleted=True,
            deletes_stream=deletes,
            modified_at=parse_time(entry.get("deleted_time")),
            raw=dict(entry),
        )

    # --- writing ---------------------------------------------------------------------------------------------

    def outbound(self, stream: str, record: OutboundRecord) -> dict[str, Any]:
        """The Zoho JSON for one upsert item: only the canonical ``fields`` allowed, lookups as ``{"id": …}``."""
        allowed = set(record.fields or self.config.write_back.fields)
        out: dict[str, Any] = {}
        if record.source_id:
            out["id"] = record.source_id
        if stream == "contacts":
            contact = record.data
            assert isinstance(contact, Contact)
            return {**out, **self._outbound_contact(contact)}
        client = record.data
        assert isinstance(client, CorporateClient)
        f = self.accounts
        if "name" in allowed or (record.source_id is None and self.config.write_back.create):
            out[f["name"]] = client.name
        if client.uscc:
            out[f["uscc"]] = client.uscc
        if "industry" in allowed and client.industry and f["industry"] != "Industry":
            out[f["industry"]] = client.industry.code
        if "risk" in allowed and client.risk is not None:
            out[f["risk_rating"]] = client.risk.rating.value
            out[f["risk_segment"]] = _SEGMENT_LABEL[client.risk.segment.value]
        for canonical in ("phone", "website", "employees"):
            if canonical in allowed and getattr(client, canonical) is not None:
                out[f[canonical]] = getattr(client, canonical)
        if "annual_revenue" in allowed and client.annual_revenue is not None:
            out[f["annual_revenue"]] = float(client.annual_revenue.amount)
            out[f["currency"]] = client.annual_revenue.currency
        if "registered_address" in allowed and client.registered_address is not None:
            a = client.registered_address
            street = " ".join(p for p in (a.district, a.street) if p) or None
            out.update(
                {
                    f["street"]: street,
                    f["city"]: a.city,
                    f["province"]: a.province,
                    f["postcode"]: a.postcode,
                    f["country"]: "China" if a.country == "CN" else a.country,
                }
            )
        return out

    def _outbound_contact(self, contact: Contact) -> dict[str, Any]:
        """Contacts are written whole: every known value (their write-back is a create or a correction)."""
        f = self.contacts
        name = contact.name.strip()
        cjk = len(name) >= 2 and " " not in name and all("\u4e00" <= ch <= "\u9fff" for ch in name)
        first, last = (name[1:], name[0]) if cjk else (name.rpartition(" ")[0] or None, name.rpartition(" ")[2])
        out: dict[str, Any] = {f["last_name"]: last}
        if first:
            out[f["first_name"]] = first
        for canonical in ("email", "phone", "mobile", "title", "department"):
            value = getattr(contact, canonical)
            if value is not None:
                out[f[canonical]] = value
        if contact.client_source_id:
            out[f["client"]] = {"id": contact.client_source_id}
        return out

    def canonical_of(self, stream: str, api_name: str | None) -> str | None:
        """The canonical field behind a Zoho API name (for push errors); the API name itself when unmapped."""
        if api_name is None:
            return None
        table = self.accounts if stream == "accounts" else self.contacts
        for canonical, api in table.items():
            if api == api_name:
                return canonical
        return api_name


def _explain(exc: ValidationError, table: Mapping[str, str]) -> tuple[str | None, str]:
    err = exc.errors()[0]
    loc = [str(p) for p in err.get("loc", ())]
    canonical = loc[0] if loc else None
    leaf = loc[-1] if loc else None
    api = table.get(canonical or "") or table.get(leaf or "") or canonical  # relationship_manager.name → Owner
    message = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
    return api, f"{api}: {message}"
