"""`Statement`: one bank statement's metadata and its transactions in crmhub's canonical `Transaction` form.

Both parsers (MT940, camt.053) produce this, so ``crmhub ledger import`` stores statements without caring about
the format. Balances are signed (debit balances negative), like the ledger's ``accountBalance``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from crmhub.errors import InputError
from crmhub.model import Direction, Money, Transaction


@dataclass(frozen=True, slots=True)
class Balance:
    """A statement balance (opening, closing, available) on a date."""

    amount: Money
    on: date | None
    kind: str


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
        total = Decimal(0)
        for tx in self.transactions:
            if self.currency is None or tx.amount.currency == self.currency:
                total += tx.amount.amount if tx.direction is Direction.CREDIT else -tx.amount.amount
        return total

    @property
    def balance_difference(self) -> Decimal | None:
        """closing − (opening + net); 0 when the statement ties out, ``None`` without both balances."""
        if self.opening is None or self.closing is None:
            return None
        return self.closing.amount.amount - (self.opening.amount.amount + self.net)

    @property
    def ties_out(self) -> bool:
        """True when opening + net = closing (a check banks' own samples sometimes fail when anonymised)."""
        return self.balance_difference == 0


def merge(statements: list[Statement]) -> Statement:
    """Consecutive statements of one account as one: first opening, last closing, all transactions."""
    first, last = statements[0], statements[-1]
    txs = tuple(tx for s in statements for tx in s.transactions)
    ident = first.statement_id if len(statements) == 1 else f"{first.statement_id}..{last.statement_id}"
    return Statement(
        format=first.format, source=first.source, statement_id=ident, account=first.account,
        currency=first.currency, transactions=txs, opening=first.opening, closing=last.closing,
        available=last.available, sequence=first.sequence if len(statements) == 1 else None,
        message_id=first.message_id, created_at=last.created_at, period_from=first.period_from,
        period_to=last.period_to, owner=first.owner, skipped=tuple(x for s in statements for x in s.skipped))


def input_error(path: Path | str, where: str, problem: str, hint: str | None = None) -> InputError:
    """An `InputError` naming the file and the line or element."""
    return InputError(f"{path}: {where}: {problem}", hint=hint)
