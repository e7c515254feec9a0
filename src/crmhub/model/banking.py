"""Ledger-side records: accounts, transactions, credit facilities, and interactions with the client."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import Field

from crmhub.model.client import Record
from crmhub.model.text import FreeText, Label, SourceId, UserId, line_text
from crmhub.model.types import Money, SensitiveAccount, Uscc


class AccountSubStatus(StrEnum):
    """Fineract savings sub-status; DORMANT/INACTIVE feed the dormant-reactivation alert."""

    NONE = "none"
    INACTIVE = "inactive"
    DORMANT = "dormant"
    ESCHEAT = "escheat"
    BLOCK = "block"
    OTHER = "other"


class BankAccount(Record):
    """A current or savings account at the bank."""

    source_id: SourceId
    account_no: SensitiveAccount
    client_source_id: SourceId
    client_uscc: Uscc | None = None
    product: Label | None = None
    balance: Money
    available_balance: Money | None = None
    status: Label = "active"
    sub_status: AccountSubStatus = AccountSubStatus.NONE
    allow_overdraft: bool = False
    overdraft_limit: Money | None = None
    opened_on: date | None = None


class Direction(StrEnum):
    """Which side of the account a transaction moves."""

    CREDIT = "credit"
    DEBIT = "debit"


class Transaction(Record):
    """One booked account transaction; `source_id` is unique per ledger (account id + transaction id)."""

    source_id: str
    account_source_id: str
    client_source_id: str | None = None
    booking_date: date
    value_date: date | None = None
    amount: Money
    direction: Direction
    kind: str = Field(default="transfer", description="deposit, withdrawal, transfer, interest, fee, …")
    is_cash: bool = False
    counterparty_account: SensitiveAccount | None = None
    counterparty_name: str | None = None
    counterparty_bank: str | None = None
    cross_border: bool = False
    reversed: bool = False
    is_manual: bool = False
    running_balance: Money | None = None
    description: str | None = None


class LoanClass(StrEnum):
    """Five-category loan classification (五级分类), 金融资产风险分类办法 2023."""

    PASS = "pass"
    SPECIAL_MENTION = "special_mention"
    SUBSTANDARD = "substandard"
    DOUBTFUL = "doubtful"
    LOSS = "loss"

    @property
    def label_zh(self) -> str:
        """Chinese label (正常/关注/次级/可疑/损失)."""
        return {
            "pass": "正常",
            "special_mention": "关注",
            "substandard": "次级",
            "doubtful": "可疑",
            "loss": "损失",
        }[self.value]

    @property
    def is_npl(self) -> bool:
        """Non-performing: substandard or worse."""
        return self in (LoanClass.SUBSTANDARD, LoanClass.DOUBTFUL, LoanClass.LOSS)

    @classmethod
    def floor_for_dpd(cls, days_past_due: int) -> LoanClass:
        """The least severe class allowed for a DPD (2019 draft floors; final 2023 text UNCONFIRMED)."""
        if days_past_due > 360:
            return cls.LOSS
        if days_past_due > 270:
            return cls.DOUBTFUL
        if days_past_due > 90:
            return cls.SUBSTANDARD
        if days_past_due > 0:
            return cls.SPECIAL_MENTION
        return cls.PASS


class CreditFacility(Record):
    """A loan or other credit facility, with its delinquency and classification."""

    source_id: SourceId
    client_source_id: SourceId
    client_uscc: Uscc | None = None
    product: Label | None = None
    principal: Money
    outstanding: Money | None = None
    overdue: Money | None = None
    days_past_due: int = Field(default=0, ge=0)
    overdue_since: date | None = None
    classification: LoanClass = LoanClass.PASS
    status: Annotated[str, line_text(20)] = "active"  # credit_facility.status is VARCHAR(20)
    security_type: str | None = Field(default=None, description="信用/保证/抵押/质押 (unsecured/guarantee/…)")
    disbursed_on: date | None = None
    maturity_on: date | None = None
    annual_interest_rate: Decimal | None = None


class InteractionKind(StrEnum):
    """How the bank was in touch with the client."""

    VISIT = "visit"
    CALL = "call"
    MESSAGE = "message"
    EMAIL = "email"
    MEETING = "meeting"


class Interaction(Record):
    """A recorded touch point (visit, call, message) between the bank and a client."""

    source_id: SourceId | None = None
    client_source_id: SourceId | None = None
    client_uscc: Uscc | None = None
    kind: InteractionKind
    occurred_at: datetime
    by: UserId | None = Field(
        default=None, description="Relationship manager or employee (interaction.by is VARCHAR(128))."
    )
    summary: FreeText | None = Field(default=None, description="Free text, cut at 4000 characters (text hygiene).")
