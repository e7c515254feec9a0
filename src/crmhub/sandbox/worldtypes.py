"""The shapes of the synthetic world (`crmhub.sandbox.world`): ground truth plus each system's view.

A `Company` is one real company (ground truth). Each system that knows it holds a *view* of it, with the drift
that real systems accumulate (name variants, stale phones, missing USCC, conflicting industries). Simulators
turn views into their native records (Zoho JSON, Fenxiang ``AccountObj``, Fineract clients); ``source_id`` in a
view is already the native id, so ``(system, source_id) → company key`` is the ground truth for matching.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

System = Literal["zoho", "fxiaoke", "ledger"]
SYSTEMS: tuple[System, ...] = ("zoho", "fxiaoke", "ledger")

ALERT_KINDS = ("large_value", "structuring", "pass_through", "fan_in", "fan_out", "dormant_reactivation")
"""Alert kinds the risk engine raises and the world can plant."""


@dataclass(slots=True)
class PersonView:
    """A natural person (legal representative)."""

    name: str
    id_number: str | None = None
    mobile: str | None = None


@dataclass(slots=True)
class OwnerView:
    """The relationship manager who owns the record in a CRM."""

    name: str
    user_id: str
    email: str


@dataclass(slots=True)
class ContactView:
    """A contact person as one CRM holds it."""

    source_id: str
    name: str
    title: str | None = None
    mobile: str | None = None
    phone: str | None = None
    email: str | None = None
    wecom_user_id: str | None = None
    created_at: datetime | None = None
    modified_at: datetime | None = None


@dataclass(slots=True)
class CrmAccountView:
    """A company as one CRM (Zoho or Fenxiang) holds it."""

    system: System
    source_id: str
    company_key: int
    name: str
    uscc: str | None
    phone: str | None
    email: str | None
    website: str | None
    province: str | None
    city: str | None
    district: str | None
    street: str | None
    postcode: str | None
    industry_code: str | None
    legal_representative: PersonView | None
    registered_capital: Decimal | None
    annual_revenue: Decimal | None
    currency: str
    employees: int | None
    established_on: date | None
    owner: OwnerView
    created_at: datetime
    modified_at: datetime
    contacts: list[ContactView] = field(default_factory=list)


@dataclass(slots=True)
class TransactionView:
    """One savings-account transaction in the ledger."""

    id: int
    booking_date: date
    value_date: date
    amount: Decimal
    currency: str
    entry: Literal["CREDIT", "DEBIT"]
    type_id: int
    is_cash: bool = False
    counterparty_account: str | None = None
    counterparty_name: str | None = None
    counterparty_bank: str | None = None
    is_manual: bool = False
    reversed: bool = False


@dataclass(slots=True)
class SavingsView:
    """A current/savings account; ``sub_status`` uses Fineract's codes (0 none, 100 inactive, 200 dormant)."""

    id: int
    account_no: str
    currency: str
    opening_balance: Decimal
    sub_status: int
    allow_overdraft: bool
    overdraft_limit: Decimal | None
    activated_on: date
    product_name: str
    transactions: list[TransactionView] = field(default_factory=list)


@dataclass(slots=True)
class LoanView:
    """A loan; ``past_due_days`` is as of the world's ``today``."""

    id: int
    account_no: str
    product_name: str
    principal: Decimal
    currency: str
    annual_interest_rate: Decimal
    disbursed_on: date
    number_of_repayments: int
    past_due_days: int
    overdue_since: date | None
    principal_overdue: Decimal
    external_id: str | None = None


@dataclass(slots=True)
class LedgerClientView:
    """A corporate client in the core ledger (Fineract entity client, ``legalFormId`` 2)."""

    source_id: str
    company_key: int
    fullname: str
    uscc: str | None
    external_id: str | None
    office_name: str
    mobile: str | None
    industry_code: str | None
    activation_date: date
    created_at: datetime
    modified_at: datetime
    savings: list[SavingsView] = field(default_factory=list)
    loans: list[LoanView] = field(default_factory=list)


@dataclass(slots=True)
class Company:
    """Ground truth for one company, and every system's view of it."""

    key: int
    uscc: str
    name: str
    profile: str
    expected_alerts: tuple[str, ...] = ()
    parent_key: int | None = None
    zoho: CrmAccountView | None = None
    fxiaoke: CrmAccountView | None = None
    ledger: LedgerClientView | None = None

    def views(self) -> list[tuple[System, str]]:
        """(system, native source id) of every record that is this company."""
        out: list[tuple[System, str]] = []
        if self.zoho is not None:
            out.append(("zoho", self.zoho.source_id))
        if self.fxiaoke is not None:
            out.append(("fxiaoke", self.fxiaoke.source_id))
        if self.ledger is not None:
            out.append(("ledger", self.ledger.source_id))
        return out
