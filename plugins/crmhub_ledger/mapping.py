"""Fineract JSON → crmhub's canonical records (`CorporateClient`, `BankAccount`, `Transaction`, `CreditFacility`).

Pure functions, no I/O: the connector fetches, these map, and a `MappingProblem` (naming the field) becomes a
`RejectedRecord` so one bad row never stops a pull. The USCC is taken from ``clientNonPersonDetails.incorpNumber``,
then an identifier of a USCC document type, then ``externalId`` when that is a valid USCC; a present but invalid
code is rejected rather than silently replaced, because the ledger itself must be corrected.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from crmhub import upstream
from crmhub.errors import RecordError
from crmhub.model import (
    AccountSubStatus,
    BankAccount,
    CorporateClient,
    CreditFacility,
    Direction,
    Industry,
    LoanClass,
    Money,
    Transaction,
)
from crmhub.model import uscc as uscc_rules
from crmhub.model.client import uscc_finding
from crmhub_ledger.config import LedgerConfig
from crmhub_ledger.fineract import DateParseError, code_tail, decimal_or_none, parse_date

_SEVERITY = [LoanClass.PASS, LoanClass.SPECIAL_MENTION, LoanClass.SUBSTANDARD, LoanClass.DOUBTFUL, LoanClass.LOSS]
_SUB_STATUS = {
    0: AccountSubStatus.NONE,
    100: AccountSubStatus.INACTIVE,
    200: AccountSubStatus.DORMANT,
    300: AccountSubStatus.ESCHEAT,
    400: AccountSubStatus.BLOCK,
}
_GBT_PREFIX = re.compile(r"^\s*([A-Ta-t](?:\d{2,4})?)(?=[\s\-:：_/]|$)")


class MappingProblem(ValueError):
    """A row cannot be mapped; ``field`` names the offending Fineract field."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def _text(item: dict[str, Any], name: str, *, where: str | None = None, required: bool = False) -> str | None:
    """``item[name]`` by the shared upstream text rule (`crmhub.upstream.text`): an object or a list where text is
    expected is a `MappingProblem` naming the field, never its Python repr stored as text."""
    try:
        return upstream.text(item.get(name), where or name, required=required)
    except RecordError as exc:
        raise MappingProblem(exc.field or name, exc.message.removeprefix(f"{exc.field}: ")) from None


def _invalid(exc: ValueError, fields: dict[str, str], default: str) -> MappingProblem:
    """A model validation error as a `MappingProblem` naming the Fineract field behind the canonical one."""
    if isinstance(exc, ValidationError) and exc.errors():
        err = exc.errors()[0]
        loc = [str(p) for p in err["loc"]]
        name = next((fields[p] for p in loc if p in fields), ".".join(loc) or default)
        return MappingProblem(name, str(err["msg"]).removeprefix("Value error, "))
    return MappingProblem(default, str(exc))


def _int_id(item: dict[str, Any], name: str = "id") -> int:
    value = item.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise MappingProblem(name, f"expected an integer id, got {value!r}")
    return value


def _date(item: dict[str, Any], name: str, *, where: str | None = None) -> date | None:
    try:
        return parse_date(item.get(name))
    except DateParseError as exc:
        raise MappingProblem(where or name, str(exc)) from None


def _money(value: Any, currency: str, field: str) -> Money | None:
    try:
        amount = decimal_or_none(value)
    except ValueError as exc:
        raise MappingProblem(field, str(exc)) from None
    if amount is None:
        return None
    try:
        return Money(amount=amount, currency=currency)
    except ValueError as exc:  # pydantic's ValidationError: e.g. a currency that is not an ISO 4217 code
        errors = getattr(exc, "errors", None)
        reason = errors()[0]["msg"].removeprefix("Value error, ") if callable(errors) else str(exc)
        raise MappingProblem("currency", f"{field}: {reason}") from None


def _obj(item: dict[str, Any], key: str) -> dict[str, Any]:
    """``item[key]`` when it is an object, else an empty dict (Fineract omits empty blocks)."""
    value = item.get(key)
    return value if isinstance(value, dict) else {}


def _currency(item: dict[str, Any]) -> str:
    cur = item.get("currency")
    code = cur.get("code") if isinstance(cur, dict) else cur
    return str(code) if code else "CNY"


# --- clients ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UsccResolution:
    """The USCC chosen for a client and where it came from (for lineage and the raw payload).

    ``unverified`` is a code the ledger holds that fails GB 32100 validation: the client is kept with it as a
    data-quality finding (issue 13 item 9), never used as the client's USCC (accounts and loans do not carry it).
    """

    value: str | None
    source: str
    unverified: str | None = None


def uscc_from_identifiers(identifiers: list[dict[str, Any]], config: LedgerConfig) -> str | None:
    """The ``documentKey`` of the first identifier whose document type (id or name) is a USCC type."""
    wanted = {t.strip().lower() for t in config.uscc_document_types}
    for ident in identifiers:
        doc = ident.get("documentType") or {}
        names = {str(doc.get("id", "")).lower(), str(doc.get("name", "")).strip().lower()}
        if names & wanted and ident.get("documentKey"):
            return str(ident["documentKey"])
    return None


def resolve_uscc(
    item: dict[str, Any], identifiers: list[dict[str, Any]] | None, config: LedgerConfig, known: str | None = None
) -> UsccResolution:
    """Pick the USCC: incorpNumber → USCC identifier → valid externalId → a value known from an earlier read.

    A code failing validation does not reject the client: the next source is tried, and the bad code is carried as
    ``unverified`` (a data-quality finding on the client).
    """
    bad: tuple[str, str] | None = None
    details = item.get("clientNonPersonDetails")
    incorp = details.get("incorpNumber") if isinstance(details, dict) else None
    if incorp:
        if uscc_rules.is_valid(str(incorp)):
            return UsccResolution(uscc_rules.compact(str(incorp)), "clientNonPersonDetails.incorpNumber")
        bad = (str(incorp), "clientNonPersonDetails.incorpNumber")
    if identifiers:
        key = uscc_from_identifiers(identifiers, config)
        if key and uscc_rules.is_valid(key):
            return UsccResolution(uscc_rules.compact(key), "identifiers.documentKey", bad[0] if bad else None)
        if key and bad is None:
            bad = (key, "identifiers.documentKey")
    unverified = bad[0] if bad else None
    external = item.get("externalId")
    if isinstance(external, str) and uscc_rules.is_valid(external):
        return UsccResolution(uscc_rules.compact(external), "externalId", unverified)
    if known:
        return UsccResolution(known, "previous read", unverified)
    return UsccResolution(None, bad[1], unverified) if bad else UsccResolution(None, "missing")


def map_industry(details: Any, config: LedgerConfig) -> tuple[Industry | None, str | None]:
    """GB/T 4754 industry from ``mainBusinessLine`` (leading code, or ``industry_map``); else a review note."""
    line = details.get("mainBusinessLine") if isinstance(details, dict) else None
    if not isinstance(line, dict):
        return None, None
    name = _text(line, "name", where="clientNonPersonDetails.mainBusinessLine.name") or ""
    for key in (str(line.get("id", "")), name):
        if key and key in config.industry_map:
            return Industry(code=config.industry_map[key]), None
    match = _GBT_PREFIX.match(name)
    if match:
        try:
            return Industry(code=match.group(1).upper()), None
        except ValueError:
            pass
    return None, f"industry: ledger mainBusinessLine {name!r} does not map to GB/T 4754; add it to industry_map"


def is_entity(item: dict[str, Any]) -> bool:
    """Corporate (``legalForm`` ENTITY / ``legalFormId`` 2)."""
    legal = item.get("legalForm")
    ident = legal.get("id") if isinstance(legal, dict) else item.get("legalFormId")
    return ident == 2 or (isinstance(legal, dict) and legal.get("value") == "ENTITY")


def is_person(item: Mapping[str, Any]) -> bool:
    """A natural person's client (``legalForm`` id 1 / PERSON, or a payload carrying ``firstname`` and ``lastname``):
    the console masks its name as a person's when it shows the payload of a dead letter."""
    form = item.get("legalForm")
    if isinstance(form, dict):
        return form.get("id") == 1 or str(form.get("value") or "").lower() == "person"
    return "firstname" in item and "lastname" in item


_CLIENT_FIELDS = {
    "name": "fullname",
    "phone": "mobileNo",
    "email": "emailAddress",
    "branch": "officeName",
    "external_ids": "accountNo",
    "uscc": "clientNonPersonDetails.incorpNumber",
}


def map_client(item: dict[str, Any], resolution: UsccResolution, config: LedgerConfig) -> CorporateClient:
    """A ledger client as a `CorporateClient` (the ledger's view: name, USCC, industry, contact, branch)."""
    _int_id(item)
    _date(item, "activationDate")
    raw_name = item.get("fullname") or item.get("displayName")
    if not isinstance(raw_name, str):
        got = "nothing" if raw_name is None else upstream.shape_name(raw_name)
        raise MappingProblem("fullname", f"expected the company name, got {got}")
    name = _text({"fullname": raw_name}, "fullname")
    if name is None:
        raise MappingProblem("fullname", "the company name is blank")
    industry, review = map_industry(item.get("clientNonPersonDetails"), config)
    external: dict[str, list[str]] = {}
    if (account_no := _text(item, "accountNo")) is not None:
        external["ledger_account_no"] = [account_no]
    if (external_id := _text(item, "externalId")) is not None:
        external["ledger_external_id"] = [external_id]
    quality: list[Any] = []
    if resolution.unverified and resolution.value:  # a valid code from another field wins; the bad one is flagged
        quality.append(uscc_finding(uscc_rules.screen(resolution.unverified)))
    phone, email, branch = _text(item, "mobileNo"), _text(item, "emailAddress"), _text(item, "officeName")
    try:
        return CorporateClient(
            name=name,
            uscc=resolution.value or resolution.unverified,
            data_quality=quality,
            industry=industry,
            phone=phone,
            email=email,
            branch=branch,
            external_ids=external,
            review_flags=[review] if review else [],
        )
    except ValueError as exc:
        raise _invalid(exc, _CLIENT_FIELDS, "client") from None


# --- accounts -----------------------------------------------------------------------------------------------


def sub_status(value: Any) -> AccountSubStatus:
    """Fineract ``subStatus`` → `AccountSubStatus` (by id, then by code)."""
    if isinstance(value, dict):
        ident = value.get("id")
        if isinstance(ident, int) and ident in _SUB_STATUS:
            return _SUB_STATUS[ident]
        tail = (code_tail(value) or "").lower()
        for status in AccountSubStatus:
            if status.value == tail:
                return status
        return AccountSubStatus.OTHER if ident not in (None, 0) else AccountSubStatus.NONE
    return AccountSubStatus.NONE


def map_account(item: dict[str, Any], client_uscc: str | None) -> BankAccount:
    """A savings/current account with balances, dormancy sub-status and overdraft."""
    _int_id(item)
    client_id = _int_id(item, "clientId")
    currency = _currency(item)
    summary = _obj(item, "summary")
    balance = _money(summary.get("accountBalance", 0), currency, "summary.accountBalance")
    timeline = _obj(item, "timeline")
    overdraft = bool(item.get("allowOverdraft"))
    try:
        return BankAccount(
            source_id=str(item["id"]),
            account_no=_text(item, "accountNo") or str(item["id"]),
            client_source_id=str(client_id),
            client_uscc=client_uscc,
            product=_text(item, "savingsProductName"),
            balance=balance or Money(amount=Decimal(0), currency=currency),
            available_balance=_money(summary.get("availableBalance"), currency, "summary.availableBalance"),
            status=code_tail(item.get("status")) or "active",
            sub_status=sub_status(item.get("subStatus")),
            allow_overdraft=overdraft,
            overdraft_limit=_money(item.get("overdraftLimit"), currency, "overdraftLimit") if overdraft else None,
            opened_on=_date(timeline, "activatedOnDate", where="timeline.activatedOnDate"),
        )
    except MappingProblem:
        raise
    except ValueError as exc:
        raise MappingProblem("savingsaccount", str(exc)) from None


# --- transactions -------------------------------------------------------------------------------------------

_KIND = {
    1: "deposit",
    2: "withdrawal",
    3: "interest",
    4: "fee",
    5: "fee",
    7: "fee",
    17: "interest",
    18: "tax",
    20: "hold",
    21: "release",
}


def transaction_key(account_id: int | str, tx_id: int | str) -> str:
    """The idempotency key ``(accountId, id)`` as a source id."""
    return f"{account_id}:{tx_id}"


def _is_cash(payment: dict[str, Any], config: LedgerConfig) -> bool:
    ptype = _obj(payment, "paymentType")
    if ptype.get("isCashPayment") is True:
        return True
    names = {str(ptype.get("id", "")), str(ptype.get("name", ""))}
    return bool(names & set(config.cash_payment_types))


def map_transaction(item: dict[str, Any], account_id: int, client_id: str | None, config: LedgerConfig) -> Transaction:
    """One search item → `Transaction` (booking = ``submittedOnDate``, value = ``date``)."""
    tx_id = _int_id(item)
    booking = _date(item, "submittedOnDate")
    value_day = _date(item, "date")
    if booking is None:
        booking = value_day
    if booking is None:
        raise MappingProblem("submittedOnDate", "the transaction has neither submittedOnDate nor date")
    currency = _currency(item)
    amount = _money(item.get("amount"), currency, "amount")
    if amount is None or amount.amount < 0:
        raise MappingProblem("amount", f"expected a non-negative amount, got {item.get('amount')!r}")
    ttype = _obj(item, "transactionType")
    entry = str(item.get("entryType") or "").upper()
    if entry not in ("CREDIT", "DEBIT"):
        if ttype.get("deposit") or ttype.get("interestPosting"):
            entry = "CREDIT"
        elif ttype.get("withdrawal") or ttype.get("feeDeduction"):
            entry = "DEBIT"
        else:
            raise MappingProblem("entryType", f"cannot tell credit from debit ({item.get('entryType')!r})")
    payment = _obj(item, "paymentDetailData")
    cash = _is_cash(payment, config)
    raw_type = ttype.get("id")
    type_id = raw_type if isinstance(raw_type, int) else 0
    type_value = _text(ttype, "value", where="transactionType.value")
    kind = _KIND.get(type_id, (type_value or "other").lower())
    if kind in ("deposit", "withdrawal") and payment and not cash:
        kind = "transfer"
    name_field = config.counterparty_name_field
    counterparty_name = _text(item, name_field) if name_field else None
    reversal = bool(item.get("isReversal"))
    description = type_value or ""
    if reversal and item.get("originalTransactionId"):
        description += f" (reversal of {item['originalTransactionId']})"
    try:
        return Transaction(
            source_id=transaction_key(account_id, tx_id),
            account_source_id=str(account_id),
            client_source_id=client_id,
            booking_date=booking,
            value_date=value_day,
            amount=amount,
            direction=Direction.CREDIT if entry == "CREDIT" else Direction.DEBIT,
            kind=kind,
            is_cash=cash,
            counterparty_account=_text(payment, "accountNumber", where="paymentDetailData.accountNumber"),
            counterparty_name=counterparty_name,
            counterparty_bank=_text(payment, "bankNumber", where="paymentDetailData.bankNumber"),
            reversed=bool(item.get("reversed")) or reversal,
            is_manual=bool(item.get("isManualTransaction")),
            running_balance=_money(item.get("runningBalance"), currency, "runningBalance"),
            description=description or None,
        )
    except MappingProblem:
        raise
    except ValueError as exc:
        raise MappingProblem("transaction", str(exc)) from None


# --- loans --------------------------------------------------------------------------------------------------


def stated_class(item: dict[str, Any], config: LedgerConfig) -> LoanClass | None:
    """A five-category class the ledger itself states: written off → loss, or a named delinquency range."""
    if item.get("chargedOff") is True or code_tail(item.get("status")) == "written.off":
        return LoanClass.LOSS
    rng = item.get("delinquencyRange")
    text = str(rng.get("classification") or "").lower() if isinstance(rng, dict) else ""
    found: LoanClass | None = None
    for word, cls in config.classification_names.items():
        if word.lower() in text and (found is None or _SEVERITY.index(cls) > _SEVERITY.index(found)):
            found = cls
    return found


def map_loan(item: dict[str, Any], client_uscc: str | None, config: LedgerConfig) -> CreditFacility:
    """A loan → `CreditFacility`; class = worse of the DPD floor and what the ledger states."""
    _int_id(item)
    client_id = _int_id(item, "clientId")
    currency = _currency(item)
    summary = _obj(item, "summary")
    delinquent = _obj(item, "delinquent")
    dpd_raw = delinquent.get("pastDueDays", 0) or 0
    if not isinstance(dpd_raw, int) or dpd_raw < 0:
        raise MappingProblem("delinquent.pastDueDays", f"expected a non-negative integer, got {dpd_raw!r}")
    floor = LoanClass.floor_for_dpd(dpd_raw)
    stated = stated_class(item, config)
    final = stated if stated is not None and _SEVERITY.index(stated) > _SEVERITY.index(floor) else floor
    timeline = _obj(item, "timeline")
    principal = _money(item.get("principal") or item.get("approvedPrincipal"), currency, "principal")
    if principal is None:
        raise MappingProblem("principal", "the loan has no principal")
    try:
        return CreditFacility(
            source_id=str(item["id"]),
            client_source_id=str(client_id),
            client_uscc=client_uscc,
            product=_text(item, "loanProductName"),
            principal=principal,
            outstanding=_money(summary.get("principalOutstanding"), currency, "summary.principalOutstanding"),
            overdue=_money(summary.get("totalOverdue"), currency, "summary.totalOverdue"),
            days_past_due=dpd_raw,
            overdue_since=_date(summary, "overdueSinceDate", where="summary.overdueSinceDate"),
            classification=final,
            status=code_tail(item.get("status")) or "active",
            disbursed_on=_date(timeline, "actualDisbursementDate", where="timeline.actualDisbursementDate"),
            maturity_on=_date(timeline, "expectedMaturityDate", where="timeline.expectedMaturityDate"),
            annual_interest_rate=decimal_or_none(item.get("annualInterestRate")),
        )
    except MappingProblem:
        raise
    except ValueError as exc:
        raise MappingProblem("loan", str(exc)) from None
