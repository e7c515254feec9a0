"""`Statement`: one bank statement's metadata and its transactions in crmhub's canonical `Transaction` form.

Both parsers (MT940, camt.053) produce this, so ``crmhub ledger import`` stores statements without caring about
the format. Balances are signed (debit balances negative), like the ledger's ``accountBalance``.

Files are read as a stream of `StatementSource` objects: each gives its transactions in bounded batches
(`StatementLine`, with the bank's line reference and where the line is in the file) and its metadata once the
batches are exhausted, so a 50 MB file never has to be in memory at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Protocol

from crmhub.errors import InputError
from crmhub.i18n import bilingual
from crmhub.model import Direction, Money, Transaction

BATCH = 500
"""Statement lines per batch handed to the store (also the MT940 chunk parsed by ``mt-940`` at once)."""


@dataclass(frozen=True, slots=True)
class Balance:
    """A statement balance (opening, closing, available) on a date."""

    amount: Money
    on: date | None
    kind: str


@dataclass(frozen=True, slots=True)
class StatementLine:
    """One booked line of a statement: the transaction, the bank's reference for it, and where it was read."""

    tx: Transaction
    reference: str
    where: str


@dataclass(frozen=True, slots=True)
class Statement:
    """One statement (an MT940 ``:20:`` block or a camt.053 ``Stmt``)."""

    format: str
    source: str
    statement_id: str
    account: str
    currency: str | None
    transactions: tuple[Transaction, ...]
    opening: Balance | None = None
    closing: Balance | None = None
    available: Balance | None = None
    sequence: str | None = None
    message_id: str | None = None
    created_at: datetime | None = None
    period_from: date | None = None
    period_to: date | None = None
    owner: str | None = None
    skipped: tuple[str, ...] = field(default_factory=tuple)

    def __iter__(self) -> Iterator[Transaction]:
        return iter(self.transactions)

    def __len__(self) -> int:
        return len(self.transactions)

    @property
    def net(self) -> Decimal:
        """Credits minus debits of the booked transactions in the statement currency."""
        return net_of(self.transactions, self.currency)

    @property
    def balance_difference(self) -> Decimal | None:
        """closing − (opening + net); 0 when the statement ties out, ``None`` without both balances."""
        return difference(self.opening, self.closing, self.net)

    @property
    def ties_out(self) -> bool:
        """True when opening + net = closing (a check banks' own samples sometimes fail when anonymised)."""
        return self.balance_difference == 0


class StatementSource(Protocol):
    """A statement being read from a file: lines in batches first, then its metadata.

    ``label`` names the statement for messages (account, ``:20:``/``:28C:`` or ``Stmt/Id``, the line it starts
    on); with the account, statement and opening-balance hints (raw text, for the statement's stored key) it is
    complete once the first batch was read (camt reads the statement's header as it goes). `batches` raises
    `InputError` for a broken statement; the file's next statement can still be read. `summary` is valid once
    `batches` is exhausted (transactions empty).
    """

    @property
    def label(self) -> str: ...

    @property
    def account_hint(self) -> str: ...

    @property
    def statement_hint(self) -> str: ...

    @property
    def opening_hint(self) -> str: ...

    def batches(self) -> Iterator[list[StatementLine]]: ...

    def summary(self) -> Statement: ...


def net_of(
    transactions: Iterator[Transaction] | tuple[Transaction, ...] | list[Transaction], currency: str | None
) -> Decimal:
    """Credits minus debits of ``transactions`` in ``currency`` (all when ``None``)."""
    total = Decimal(0)
    for tx in transactions:
        if currency is None or tx.amount.currency == currency:
            total += tx.amount.amount if tx.direction is Direction.CREDIT else -tx.amount.amount
    return total


def difference(opening: Balance | None, closing: Balance | None, net: Decimal) -> Decimal | None:
    """closing − (opening + net), ``None`` without both balances."""
    if opening is None or closing is None:
        return None
    return closing.amount.amount - (opening.amount.amount + net)


def merge(statements: list[Statement]) -> Statement:
    """Consecutive statements of one account as one: first opening, last closing, all transactions."""
    first, last = statements[0], statements[-1]
    txs = tuple(tx for s in statements for tx in s.transactions)
    ident = first.statement_id if len(statements) == 1 else f"{first.statement_id}..{last.statement_id}"
    return Statement(
        format=first.format,
        source=first.source,
        statement_id=ident,
        account=first.account,
        currency=first.currency,
        transactions=txs,
        opening=first.opening,
        closing=last.closing,
        available=last.available,
        sequence=first.sequence if len(statements) == 1 else None,
        message_id=first.message_id,
        created_at=last.created_at,
        period_from=first.period_from,
        period_to=last.period_to,
        owner=first.owner,
        skipped=tuple(x for s in statements for x in s.skipped),
    )


def input_error(
    path: Path | str,
    where: str,
    problem: str,
    hint: str | None = None,
    *,
    zh: str | None = None,
    zh_hint: str | None = None,
) -> InputError:
    """An `InputError` naming the file and the line or element (in Chinese when ``zh`` is given and chosen)."""
    message = f"{path}: {where}: {problem}"
    if zh:
        message = bilingual(f"{path}：{where}：{zh}", message)
    if hint is not None and zh_hint is not None:
        hint = bilingual(zh_hint, hint)
    return InputError(message, hint=hint)
