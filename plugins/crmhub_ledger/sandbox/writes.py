"""Validation of write-command bodies, the way Fineract's ``*DataValidator`` classes do it.

Fineract insists that every request carrying a date also carries ``dateFormat`` and ``locale``; a client that
forgets them gets a 400 naming the parameter. The simulator enforces the same so a connector written against it
behaves against a real ledger.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from crmhub_ledger.fineract import DateParseError, parse_java_date
from crmhub_ledger.sandbox.errors import SimError, validation
from crmhub_ledger.sandbox.records import SimClient

if TYPE_CHECKING:
    from crmhub_ledger.sandbox.state import LedgerSimulator

_CLIENT_DATES = ("activationDate", "submittedOnDate", "dateOfBirth")


def read_date(body: dict[str, Any], name: str, resource: str) -> date | None:
    """Parse ``body[name]`` with the body's ``dateFormat``/``locale``; both are mandatory when a date is sent."""
    raw = body.get(name)
    if raw in (None, ""):
        return None
    fmt, locale = body.get("dateFormat"), body.get("locale")
    if not fmt:
        raise validation(
            "dateFormat",
            f"The parameter `dateFormat` is mandatory when `{name}` is given.",
            f"validation.msg.{resource}.dateFormat.cannot.be.blank",
        )
    if not locale:
        raise validation(
            "locale",
            f"The parameter `locale` is mandatory when `{name}` is given.",
            f"validation.msg.{resource}.locale.cannot.be.blank",
        )
    if not isinstance(raw, str):
        raise validation(
            name,
            f"The parameter `{name}` must be a date string in format {fmt!r}.",
            f"validation.msg.{resource}.{name}.invalid.format",
            raw,
        )
    try:
        return parse_java_date(raw, str(fmt), str(locale))
    except DateParseError as exc:
        raise validation(
            name,
            f"The parameter `{name}` is invalid: {exc}.",
            f"validation.msg.{resource}.{name}.invalid.date.format",
            raw,
        ) from None


def read_amount(body: dict[str, Any], name: str, resource: str) -> Decimal:
    """A mandatory positive amount (number or numeric string)."""
    raw = body.get(name)
    if raw in (None, ""):
        raise validation(
            name, f"The parameter `{name}` is mandatory.", f"validation.msg.{resource}.{name}.cannot.be.blank"
        )
    try:
        value = Decimal(str(raw).replace(",", ""))
    except InvalidOperation:
        raise validation(
            name, f"The parameter `{name}` must be a number.", f"validation.msg.{resource}.{name}.not.a.number", raw
        ) from None
    if value <= 0:
        raise validation(
            name,
            f"The parameter `{name}` must be greater than 0.",
            f"validation.msg.{resource}.{name}.not.greater.than.zero",
            raw,
        )
    return value


def _details(body: dict[str, Any], sim: LedgerSimulator) -> tuple[str | None, str | None, bool, bool]:
    """(incorpNumber, industry code, incorp given, industry given) from ``clientNonPersonDetails``."""
    details = body.get("clientNonPersonDetails")
    if details is None:
        return None, None, False, False
    if not isinstance(details, dict):
        raise validation("clientNonPersonDetails", "The parameter `clientNonPersonDetails` must be an object.")
    read_date(details, "incorpValidityTillDate", "clientNonPersonDetails")
    industry = None
    line = details.get("mainBusinessLineId")
    if line is not None:
        by_id = {v: k for k, v in sim.code_values.items()}
        try:
            industry = by_id[int(line)]
        except (KeyError, ValueError, TypeError):
            raise validation(
                "mainBusinessLineId",
                f"Code value with identifier {line} does not exist",
                "error.msg.codevalue.id.invalid",
                line,
            ) from None
    incorp = details.get("incorpNumber")
    return (str(incorp) if incorp else None), industry, "incorpNumber" in details, line is not None


def parse_client_create(body: dict[str, Any], sim: LedgerSimulator) -> dict[str, Any]:
    """Validate a ``POST /clients`` body; returns `SimClient` fields (entity or person)."""
    if not isinstance(body, dict):
        raise validation("body", "The request body must be a JSON object.")
    office = body.get("officeId")
    if office is None:
        raise validation(
            "officeId", "The parameter `officeId` is mandatory.", "validation.msg.client.officeId.cannot.be.blank"
        )
    legal_form = int(body.get("legalFormId") or 1)
    if legal_form == 2:
        fullname = str(body.get("fullname") or "").strip()
        if not fullname:
            raise validation(
                "fullname",
                "The parameter `fullname` is mandatory for an entity (legalFormId 2).",
                "validation.msg.client.fullname.cannot.be.blank",
            )
    else:
        first, last = str(body.get("firstname") or "").strip(), str(body.get("lastname") or "").strip()
        if not first or not last:
            raise validation(
                "firstname",
                "The parameters `firstname` and `lastname` are mandatory for a person.",
                "validation.msg.client.firstname.cannot.be.blank",
            )
        fullname = f"{first} {last}"
    dates = {name: read_date(body, name, "client") for name in _CLIENT_DATES}
    active = bool(body.get("active", False))
    if active and dates["activationDate"] is None:
        raise validation(
            "activationDate",
            "The parameter `activationDate` is mandatory when `active` is true.",
            "validation.msg.client.activationDate.cannot.be.blank",
        )
    external = body.get("externalId")
    if external and any(c.external_id == external for c in sim.clients.values()):
        raise SimError(
            403,
            "error.msg.client.duplicate.externalId",
            f"Client with externalId `{external}` already exists",
            parameter="externalId",
            value=external,
        )
    incorp, industry, _, _ = _details(body, sim)
    offices = {v: k for k, v in sim.settings.get("_offices", {"Head Office": 1}).items()}
    today = sim.today
    return {
        "fullname": fullname,
        "external_id": str(external) if external else None,
        "incorp_number": incorp,
        "office_id": int(office),
        "office_name": offices.get(int(office), "Head Office"),
        "mobile": body.get("mobileNo"),
        "email": body.get("emailAddress"),
        "industry_code": industry,
        "activation_date": dates["activationDate"] or today,
        "submitted_on": dates["submittedOnDate"] or today,
        "status": 300 if active else 100,
        "legal_form": legal_form,
    }


def apply_client_update(client: SimClient, body: dict[str, Any], sim: LedgerSimulator) -> dict[str, Any]:
    """Apply a ``PUT /clients/{id}`` body to ``client``; returns Fineract's ``changes`` map."""
    if not isinstance(body, dict):
        raise validation("body", "The request body must be a JSON object.")
    changes: dict[str, Any] = {}
    for name in _CLIENT_DATES:
        when = read_date(body, name, "client")
        if name == "activationDate" and when is not None and when != client.activation_date:
            client.activation_date = when
            changes[name] = body[name]
    simple = {"fullname": "fullname", "externalId": "external_id", "mobileNo": "mobile", "emailAddress": "email"}
    for param, attr in simple.items():
        if param in body and body[param] != getattr(client, attr):
            if (
                param == "externalId"
                and body[param]
                and any(c.external_id == body[param] and c.id != client.id for c in sim.clients.values())
            ):
                raise SimError(
                    403,
                    "error.msg.client.duplicate.externalId",
                    f"Client with externalId `{body[param]}` already exists",
                    parameter="externalId",
                    value=body[param],
                )
            setattr(client, attr, body[param])
            changes[param] = body[param]
    incorp, industry, incorp_given, industry_given = _details(body, sim)
    if incorp_given and incorp != client.incorp_number:
        client.incorp_number = incorp
        changes["incorpNumber"] = incorp
    if industry_given and industry != client.industry_code:
        client.industry_code = industry
        changes["mainBusinessLineId"] = body["clientNonPersonDetails"]["mainBusinessLineId"]
    return changes


def parse_savings_transaction(body: dict[str, Any], today: date) -> dict[str, Any]:
    """Validate a deposit/withdrawal body (``transactionDate``, ``transactionAmount``, payment details)."""
    if not isinstance(body, dict):
        raise validation("body", "The request body must be a JSON object.")
    when = read_date(body, "transactionDate", "savingsaccount.transaction")
    if when is None:
        raise validation(
            "transactionDate",
            "The parameter `transactionDate` is mandatory.",
            "validation.msg.savingsaccount.transaction.transactionDate.cannot.be.blank",
        )
    if when > today:
        raise validation(
            "transactionDate",
            "The parameter `transactionDate` cannot be in the future.",
            "validation.msg.savingsaccount.transaction.in.the.future",
            body.get("transactionDate"),
        )
    amount = read_amount(body, "transactionAmount", "savingsaccount.transaction")
    payment = body.get("paymentTypeId")
    try:
        payment_id = int(payment) if payment is not None else None
    except (TypeError, ValueError):
        raise validation("paymentTypeId", "The parameter `paymentTypeId` must be a number.", value=payment) from None
    return {
        "date": when,
        "amount": amount,
        "payment_type_id": payment_id,
        "account_number": body.get("accountNumber"),
        "bank_number": body.get("bankNumber"),
        "note": body.get("note"),
    }
