"""The simulator's in-memory rows: clients, savings accounts, transactions, loans and audit entries.

Plain slotted dataclasses, because a 2,000-client world holds hundreds of thousands of transactions and the
simulator must stay light; rendering to Fineract JSON happens per request in `crmhub_ledger.sandbox.render`.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

CENT = Decimal("0.01")


@dataclass(slots=True)
class PaymentType:
    """A Fineract payment type; ``is_cash`` drives the PBOC 0501 cash rule downstream."""

    id: int
    name: str
    is_cash: bool
    description: str = ""


PAYMENT_TYPES: dict[int, PaymentType] = {
    1: PaymentType(1, "Cash", True, "现金"),
    2: PaymentType(2, "Bank Transfer", False, "转账 (CNAPS)"),
    3: PaymentType(3, "Cheque", False, "支票"),
    4: PaymentType(4, "Cross-border Transfer", False, "跨境汇款 (SWIFT)"),
}


@dataclass(slots=True)
class SimIdentifier:
    """A client identity document (``/clients/{id}/identifiers``)."""

    id: int
    document_type_id: int
    document_type_name: str
    document_key: str
    description: str = ""


@dataclass(slots=True)
class SimClient:
    """A corporate (entity, ``legalFormId`` 2) client."""

    id: int
    fullname: str
    external_id: str | None
    incorp_number: str | None
    office_id: int
    office_name: str
    mobile: str | None
    email: str | None
    industry_code: str | None
    activation_date: date
    submitted_on: date
    status: int = 300
    legal_form: int = 2
    constitution_id: int = 17
    identifiers: list[SimIdentifier] = field(default_factory=list)
    savings_ids: list[int] = field(default_factory=list)
    loan_ids: list[int] = field(default_factory=list)
    malformed: str | None = None
    created_at: datetime | None = None
    modified_at: datetime | None = None

    @property
    def account_no(self) -> str:
        """Fineract's default account number: the id, zero-padded to nine digits."""
        return f"{self.id:09d}"


@dataclass(slots=True)
class SimTransaction:
    """One savings transaction; ``booking_date`` is Fineract's ``submittedOnDate``, ``value_date`` its ``date``."""

    id: int
    account_id: int
    type_id: int
    entry: str
    amount: Decimal
    currency: str
    value_date: date
    booking_date: date
    running_balance: Decimal
    payment_type_id: int | None = None
    counterparty_account: str | None = None
    counterparty_name: str | None = None
    counterparty_bank: str | None = None
    is_manual: bool = False
    reversed: bool = False
    is_reversal: bool = False
    original_id: int = 0
    submitted_by: str = "mifos"


@dataclass(slots=True)
class SimSavings:
    """A current/savings account with its transactions kept in booking order (``booking_dates`` mirrors them)."""

    id: int
    account_no: str
    client_id: int
    currency: str
    product_id: int
    product_name: str
    opening_balance: Decimal
    balance: Decimal
    sub_status: int
    allow_overdraft: bool
    overdraft_limit: Decimal | None
    activated_on: date
    status: int = 300
    nominal_rate: Decimal = Decimal("0.35")
    transactions: list[SimTransaction] = field(default_factory=list)
    booking_dates: list[date] = field(default_factory=list)
    on_hold: Decimal = Decimal(0)
    id_ordered: bool = True

    def append(self, tx: SimTransaction) -> None:
        """Add a transaction booked today or later (keeps the booking-date index sorted without re-sorting)."""
        if self.booking_dates and tx.booking_date < self.booking_dates[-1]:
            raise ValueError("transactions must be appended in booking order")
        if self.transactions and tx.id < self.transactions[-1].id:
            self.id_ordered = False  # then id order differs from booking order and searches by id must sort
        self.transactions.append(tx)
        self.booking_dates.append(tx.booking_date)


def add_months(d: date, months: int) -> date:
    """``d`` moved by whole months, clamping the day to the month's length (31 Jan + 1 → 28/29 Feb)."""
    total = d.year * 12 + d.month - 1 + months
    year, month = divmod(total, 12)
    day = min(d.day, calendar.monthrange(year, month + 1)[1])
    return date(year, month + 1, day)


@dataclass(slots=True)
class Installment:
    """One computed repayment period of a loan, as of the simulator's today."""

    number: int
    from_date: date
    due_date: date
    principal: Decimal
    interest: Decimal
    balance_after: Decimal
    paid: bool
    overdue: bool


@dataclass(slots=True)
class SimLoan:
    """A term loan with an equal-principal monthly schedule.

    ``overdue_since`` is the due date of the oldest unpaid installment (``None`` = performing). The schedule is
    anchored on it, so Fineract's ``pastDueDays`` (today − oldest overdue due date) always agrees with the
    schedule, whatever day the injectable clock says it is.
    """

    id: int
    account_no: str
    client_id: int
    product_id: int
    product_name: str
    principal: Decimal
    currency: str
    annual_rate: Decimal
    disbursed_on: date
    repayments: int
    overdue_since: date | None
    external_id: str | None = None
    stated_class: str | None = None
    charged_off: bool = False

    def due_dates(self) -> list[date]:
        """Monthly due dates; when overdue, one of them is exactly ``overdue_since``."""
        n = max(1, self.repayments)
        if self.overdue_since is None:
            return [add_months(self.disbursed_on, k) for k in range(1, n + 1)]
        anchor = self.overdue_since
        months = (anchor.year - self.disbursed_on.year) * 12 + anchor.month - self.disbursed_on.month
        k0 = max(1, min(n, months))
        while k0 > 1 and add_months(anchor, 1 - k0) <= self.disbursed_on:
            k0 -= 1
        return [add_months(anchor, k - k0) for k in range(1, n + 1)]

    def schedule(self, today: date) -> list[Installment]:
        """The repayment schedule as of ``today``: paid before ``overdue_since``, overdue from it on."""
        dues = self.due_dates()
        n = len(dues)
        base = (self.principal / n).quantize(CENT, ROUND_HALF_UP)
        out: list[Installment] = []
        balance = self.principal
        previous = self.disbursed_on
        for k, due in enumerate(dues, start=1):
            principal = base if k < n else balance
            days = max(0, (due - previous).days)
            interest = (balance * self.annual_rate / Decimal(100) * days / Decimal(365)).quantize(CENT, ROUND_HALF_UP)
            balance -= principal
            past = due < today
            unpaid_from_here = self.overdue_since is not None and due >= self.overdue_since
            paid = past and not unpaid_from_here
            out.append(Installment(k, previous, due, principal, interest, balance, paid, past and not paid))
            previous = due
        return out

    def past_due_days(self, today: date) -> int:
        """Days since the oldest overdue installment fell due (0 when none is overdue)."""
        if self.overdue_since is None or self.overdue_since >= today:
            return 0
        return (today - self.overdue_since).days


@dataclass(slots=True)
class SimAudit:
    """One audited write command (``m_portfolio_command_source``); ``made_on`` is tenant-local time."""

    id: int
    action: str
    entity: str
    resource_id: int | None
    made_on: datetime
    href: str
    client_id: int | None = None
    client_name: str | None = None
    savings_id: int | None = None
    savings_account_no: str | None = None
    loan_id: int | None = None
    subresource_id: int | None = None
    maker: str = "mifos"
    office_name: str = "Head Office"
    command: dict[str, Any] | None = None


@dataclass(slots=True)
class Clock:
    """The simulator's tenant-local clock: a wall clock shifted to the world's "now", plus advanced days."""

    base: datetime
    started: datetime
    offset_days: int = 0
    last: datetime | None = None

    def now(self, wall: datetime) -> datetime:
        """Tenant-local now for wall-clock ``wall`` (never earlier than a time already handed out)."""
        value = self.base + (wall - self.started) + timedelta(days=self.offset_days)
        value = value.replace(microsecond=0)
        if self.last is not None and value < self.last:
            value = self.last
        self.last = value
        return value
