"""SWIFT MT940/MT942 through the mature ``mt-940`` library (wolph/mt940), mapped to canonical transactions.

``mt-940`` does the tag grammar and the bank quirks (entry dates across year ends, funds codes, zero-padded
amounts, multi-line ``:86:``); this module adds what crmhub needs: one `Statement` per ``:20:`` block, stable
source ids (``:20:`` reference, ``:28C:`` number and the line's position, so a re-import is idempotent), reversal
marks (``RC``/``RD``), counterparty hints from structured ``:86:`` text and errors that name the file and line.
"""

from __future__ import annotations

import logging
import re
from datetime import date
from pathlib import Path
from typing import Any

import mt940 as mt

from crmhub.model import Direction, Money, Transaction
from crmhub_ledger.statements.model import Balance, Statement, input_error

OPTIONS = mt.Options(reversal_sign=True, strip_bom=True, merge_keeps_values=True, unbounded_details=True,
                     case_insensitive_marks=True, applicant_iban=True)
"""Opt into every ``mt-940`` 5.1 fix crmhub depends on (RC sign, BOM, :86: length, IBAN sub-field)."""


class _Quiet(logging.Filter):
    """``mt-940`` logs each failed tag match; crmhub reports the failure itself, naming the line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < logging.ERROR


logging.getLogger("mt940.tags").addFilter(_Quiet())

_KIND = {"TRF": "transfer", "CHG": "fee", "COM": "fee", "INT": "interest", "CHK": "cheque", "DDT": "direct_debit",
         "CMI": "transfer", "MSC": "other", "STO": "transfer", "SAL": "salary", "DIV": "dividend"}
_TAGGED = re.compile(r"/(NAME|IBAN|BIC|CNTP|ACCW|BENM|ORDP)/([^/\n]*)")


def _decode(raw: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return raw.decode("latin-1")


def _line_of(text: str, needle: str) -> int:
    index = text.find(needle)
    return text.count("\n", 0, index) + 1 if index >= 0 else 0


def _balance(data: dict[str, Any], names: tuple[str, ...], kind: str) -> Balance | None:
    for name in names:
        value = data.get(name)
        if value is not None:
            amount = value.amount
            return Balance(Money(amount=amount.amount, currency=amount.currency), date(value.date.year,
                                                                                      value.date.month,
                                                                                      value.date.day), kind)
    return None


def _counterparty(details: str, data: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(name, account, bank) from GVC sub-fields (German banks) or ``/NAME/…/IBAN/…`` tags (Dutch banks)."""
    name = data.get("applicant_name")
    account = data.get("applicant_iban")
    bank = data.get("applicant_bin")
    tags = {k: v.strip() for k, v in _TAGGED.findall(details.replace("\n", ""))}
    return (name or tags.get("NAME") or None, account or tags.get("IBAN") or None, bank or tags.get("BIC") or None)


def parse(path: Path, raw: bytes, account: str | None) -> list[Statement]:
    """Every ``:20:`` block of an MT940 (or MT942) file as a `Statement`."""
    text = _decode(raw)
    try:
        blocks = mt.parse_statements(text, options=OPTIONS)
    except RuntimeError as exc:
        value = str(exc.args[2]) if len(exc.args) > 2 else str(exc)
        line = _line_of(text, value.split("\n")[0]) if value else 0
        raise input_error(path, f"line {line}", f"cannot read MT940 field {value[:60]!r}",
                          "check the :61: statement line (value date, C/D mark, amount with decimal comma)") from None
    except (ValueError, TypeError) as exc:
        raise input_error(path, "MT940", f"cannot parse: {exc}") from None
    if not blocks:
        raise input_error(path, "line 1", "no ':20:' statement block found", "is this an MT940 file?")
    out: list[Statement] = []
    for number, block in enumerate(blocks, start=1):
        out.append(_statement(path, text, block, number, account))
    return out


def _statement(path: Path, text: str, block: Any, number: int, account: str | None) -> Statement:
    data = block.data
    ref = str(data.get("transaction_reference") or f"statement-{number}").strip()
    ident = str(data.get("account_identification") or "").strip()
    if not ident:
        raise input_error(path, f"line {_line_of(text, ':20:' + ref)}", f"statement {ref!r} has no :25: account")
    seq = "/".join(str(data[k]) for k in ("statement_number", "sequence_number") if data.get(k))
    opening = _balance(data, ("final_opening_balance", "intermediate_opening_balance", "opening_balance"), "opening")
    closing = _balance(data, ("final_closing_balance", "intermediate_closing_balance", "closing_balance"), "closing")
    available = _balance(data, ("available_balance",), "available")
    is_942 = opening is None and closing is None
    if is_942 and not block.transactions:
        raise input_error(path, f"line {_line_of(text, ':20:' + ref)}",
                          f"statement {ref!r} has neither balances (:60F:/:62F:) nor lines (:61:)")
    currency = opening.amount.currency if opening else (block.currency or None)
    statement_id = f"{ref}/{seq}" if seq else ref
    target = account or ident
    txs: list[Transaction] = []
    for index, tx in enumerate(block.transactions, start=1):
        txs.append(_transaction(path, text, tx.data, target, f"{statement_id}#{index}", currency))
    return Statement(format="mt942" if is_942 else "mt940", source=str(path), statement_id=statement_id,
                     account=ident, currency=currency, transactions=tuple(txs), opening=opening, closing=closing,
                     available=available, sequence=seq or None)


def _transaction(path: Path, text: str, data: dict[str, Any], account: str, key: str,
                 currency: str | None) -> Transaction:
    amount = data.get("amount")
    if amount is None or data.get("date") is None:
        raise input_error(path, f"statement line {key}", "a :61: line without value date or amount")
    status = str(data.get("status") or "").upper()
    signed = amount.amount
    value_day = date(data["date"].year, data["date"].month, data["date"].day)
    entry = data.get("entry_date")
    booking = date(entry.year, entry.month, entry.day) if entry else value_day
    details = str(data.get("transaction_details") or "")
    name, cp_account, bank = _counterparty(details, data)
    type_code = str(data.get("id") or "")
    kind = _KIND.get(type_code[1:4], "transfer") if type_code else "transfer"
    reference = str(data.get("customer_reference") or "").strip()
    description = " ".join(part for part in (details.replace("\n", " ").strip(),
                                             "" if reference in ("", "NONREF") else f"ref {reference}") if part)
    return Transaction(
        source_id=f"mt940:{account}:{key}", account_source_id=account, booking_date=booking, value_date=value_day,
        amount=Money(amount=abs(signed), currency=amount.currency or currency or "XXX"),
        direction=Direction.DEBIT if signed < 0 else Direction.CREDIT, kind=kind, counterparty_name=name,
        counterparty_account=cp_account, counterparty_bank=bank, reversed=status.startswith("R"),
        description=description or None)
