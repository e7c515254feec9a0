"""Apache Fineract's wire vocabulary, shared by the simulator and the connector.

One module so both sides agree on what an enum object, a date array or a Java ``dateFormat`` pattern looks like;
the simulator renders with these helpers and the connector parses with them. Values follow the Fineract source
(1.10.x): ``ClientStatus``, ``LegalForm``, ``SavingsAccountStatusType``, ``SavingsAccountSubStatusEnum``,
``SavingsAccountTransactionType``, ``LoanStatus``. Facts marked UNCONFIRMED in the design notes are labelled so.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

API_PREFIX = "/fineract-provider/api/v1"
TENANT_HEADER = "Fineract-Platform-TenantId"
DEFAULT_LIMIT = 200
"""``SearchParameters.DEFAULT_MAX_LIMIT``: the page size when ``limit`` is absent; ``limit <= 0`` means no limit."""

# --- enums --------------------------------------------------------------------------------------------------

LEGAL_FORM = {1: ("legalFormType.person", "PERSON"), 2: ("legalFormType.entity", "ENTITY")}
ENTITY = 2

CLIENT_STATUS = {
    0: ("clientStatusType.invalid", "Invalid"),
    100: ("clientStatusType.pending", "Pending"),
    300: ("clientStatusType.active", "Active"),
    303: ("clientStatusType.transfer.in.progress", "Transfer in progress"),
    304: ("clientStatusType.transfer.on.hold", "Transfer on hold"),
    600: ("clientStatusType.closed", "Closed"),
    700: ("clientStatusType.rejected", "Rejected"),
    800: ("clientStatusType.withdraw", "Withdrawn"),
}

SAVINGS_STATUS = {
    100: ("savingsAccountStatusType.submitted.and.pending.approval", "Submitted and pending approval"),
    200: ("savingsAccountStatusType.approved", "Approved"),
    300: ("savingsAccountStatusType.active", "Active"),
    400: ("savingsAccountStatusType.transfer.in.progress", "Transfer in progress"),
    500: ("savingsAccountStatusType.withdrawn.by.applicant", "Withdrawn by applicant"),
    600: ("savingsAccountStatusType.closed", "Closed"),
}

SUB_STATUS = {
    0: ("SavingsAccountSubStatusEnum.none", "None"),
    100: ("SavingsAccountSubStatusEnum.inactive", "Inactive"),
    200: ("SavingsAccountSubStatusEnum.dormant", "Dormant"),
    300: ("SavingsAccountSubStatusEnum.escheat", "Escheat"),
    400: ("SavingsAccountSubStatusEnum.block", "Block"),
    500: ("SavingsAccountSubStatusEnum.blockCredit", "Block Credit"),
    600: ("SavingsAccountSubStatusEnum.blockDebit", "Block Debit"),
}

TX_TYPES: dict[int, tuple[str, str, str]] = {
    1: ("savingsAccountTransactionType.deposit", "Deposit", "deposit"),
    2: ("savingsAccountTransactionType.withdrawal", "Withdrawal", "withdrawal"),
    3: ("savingsAccountTransactionType.interestPosting", "Interest Posting", "interestPosting"),
    4: ("savingsAccountTransactionType.withdrawalFee", "Withdrawal Fee", "feeDeduction"),
    5: ("savingsAccountTransactionType.annualFee", "Annual Fee", "feeDeduction"),
    7: ("savingsAccountTransactionType.payCharge", "Pay Charge", "feeDeduction"),
    17: ("savingsAccountTransactionType.overdraftInterest", "Overdraft Interest", "overdraftInterest"),
    18: ("savingsAccountTransactionType.withholdTax", "Withhold Tax", "withholdTax"),
    20: ("savingsAccountTransactionType.onHold", "Amount on hold", "amountHold"),
    21: ("savingsAccountTransactionType.release", "Release Amount", "amountRelease"),
}
"""Savings transaction types. 1 = deposit is confirmed; 2/3/20/21 are believed (UNCONFIRMED in the fact sheet)."""

TX_FLAGS = (
    "deposit",
    "withdrawal",
    "interestPosting",
    "feeDeduction",
    "overdraftInterest",
    "withholdTax",
    "amountHold",
    "amountRelease",
)

LOAN_STATUS = {
    100: ("loanStatusType.submitted.and.pending.approval", "Submitted and pending approval"),
    200: ("loanStatusType.approved", "Approved"),
    300: ("loanStatusType.active", "Active"),
    600: ("loanStatusType.closed.obligations.met", "Closed (obligations met)"),
    601: ("loanStatusType.closed.written.off", "Closed (written off)"),
    700: ("loanStatusType.overpaid", "Overpaid"),
}


def enum_obj(table: dict[int, tuple[str, str]], ident: int, **flags: Any) -> dict[str, Any]:
    """A Fineract enum object ``{"id", "code", "value"|"description", …flags}``."""
    code, label = table[ident]
    return {"id": ident, "code": code, "value": label, "description": label, **flags}


def code_tail(obj: Any) -> str | None:
    """The last dotted part of an enum object's ``code`` (``loanStatusType.active`` → ``active``)."""
    if isinstance(obj, dict):
        code = obj.get("code")
        if isinstance(code, str) and code:
            return code.rsplit(".", 1)[-1]
    return None


# --- dates --------------------------------------------------------------------------------------------------


def date_array(d: date | None) -> list[int] | None:
    """``[y, m, d]`` as Fineract serialises ``LocalDate`` (month 1-based)."""
    return None if d is None else [d.year, d.month, d.day]


def datetime_array(dt: datetime | None) -> list[int] | None:
    """``[y, m, d, H, M, S]`` (Jackson's ``LocalDateTime`` array form)."""
    return None if dt is None else [dt.year, dt.month, dt.day, dt.hour, dt.minute, dt.second]


class DateParseError(ValueError):
    """A date in a Fineract answer or request has an unexpected shape."""


def parse_date(value: Any) -> date | None:
    """Read a Fineract date: ``[y, m, d]`` arrays (the normal answer), ISO strings or epoch milliseconds."""
    if value is None or value in ("", []):
        return None
    if isinstance(value, list | tuple):
        if len(value) < 3 or not all(isinstance(p, int) and not isinstance(p, bool) for p in value[:3]):
            raise DateParseError(f"date array {value!r} is not [year, month, day]")
        try:
            return date(value[0], value[1], value[2])
        except ValueError as exc:
            raise DateParseError(f"date array {value!r}: {exc}") from None
    if isinstance(value, str):
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            raise DateParseError(f"date {value!r} is neither [y, m, d] nor yyyy-MM-dd") from None
    if isinstance(value, int) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000).date()
    raise DateParseError(f"date {value!r} has unexpected type {type(value).__name__}")


def parse_datetime(value: Any) -> datetime | None:
    """Read a Fineract timestamp: ``[y, m, d, H, M, S(, nanos)]`` arrays or ``yyyy-MM-dd HH:mm:ss`` strings."""
    if value is None or value in ("", []):
        return None
    if isinstance(value, list | tuple):
        parts = [int(p) for p in value] + [0] * max(0, 6 - len(value))
        try:
            return datetime(parts[0], parts[1], parts[2], parts[3], parts[4], parts[5])
        except (ValueError, IndexError) as exc:
            raise DateParseError(f"timestamp array {value!r}: {exc}") from None
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("T", " ").rstrip("Z"))
        except ValueError:
            raise DateParseError(f"timestamp {value!r} is not yyyy-MM-dd HH:mm:ss") from None
    if isinstance(value, int) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000)
    raise DateParseError(f"timestamp {value!r} has unexpected type {type(value).__name__}")


AUDIT_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
"""``makerDateTimeFrom``/``To`` format (tenant-local time)."""

_MONTHS_EN = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_TOKEN = re.compile(r"yyyy|yy|MMMM|MMM|MM|M|dd|d|HH|H|mm|ss|'[^']*'|.", re.S)
_STRF = {
    "yyyy": "%Y",
    "yy": "%y",
    "MMMM": "%B",
    "MMM": "%b",
    "MM": "%m",
    "M": "%m",
    "dd": "%d",
    "d": "%d",
    "HH": "%H",
    "H": "%H",
    "mm": "%M",
    "ss": "%S",
}


def java_pattern_to_strptime(pattern: str) -> str:
    """Translate the common Java ``DateTimeFormatter`` tokens Fineract clients send (``dd MMMM yyyy``)."""
    out: list[str] = []
    for token in _TOKEN.findall(pattern):
        if token in _STRF:
            out.append(_STRF[token])
        elif token.startswith("'"):
            out.append(token.strip("'").replace("%", "%%"))
        else:
            out.append(token.replace("%", "%%"))
    return "".join(out)


SUPPORTED_LOCALES = ("en", "en_US", "en_GB")


def parse_java_date(text: str, pattern: str, locale: str) -> date:
    """Parse ``text`` with a Java date pattern; only English month names (``locale=en``) are supported."""
    if locale.split("-", maxsplit=1)[0].split("_", maxsplit=1)[0].lower() != "en" and ("MMM" in pattern):
        raise DateParseError(f"locale {locale!r} is not supported for month names; use locale=en")
    fmt = java_pattern_to_strptime(pattern)
    try:
        return datetime.strptime(text.strip(), fmt).date()
    except ValueError:
        raise DateParseError(f"{text!r} does not match dateFormat {pattern!r}") from None


def format_java_date(d: date, pattern: str) -> str:
    """Format ``d`` with a Java date pattern (English month names), for request bodies."""
    fmt = java_pattern_to_strptime(pattern)
    if "%B" in fmt or "%b" in fmt:
        fmt = fmt.replace("%B", _MONTHS_EN[d.month - 1]).replace("%b", _MONTHS_EN[d.month - 1][:3])
    return d.strftime(fmt)


def decimal_or_none(value: Any) -> Decimal | None:
    """A JSON number (int, float or numeric string) as Decimal; ``None`` stays ``None``."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, int | Decimal):
        return Decimal(value)
    if isinstance(value, str):
        try:
            return Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"{value!r} is not a number") from None
    raise ValueError(f"{value!r} ({type(value).__name__}) is not a number")
