"""``[risk]`` in crmhub.toml: the scorecard to use, the ledger window, FX rates and the alert rules' parameters.

Defaults follow domain.md: the large-value thresholds are PBOC Order 〔2016〕No. 3 as amended by 〔2018〕No. 2 (0501
cash, 0502 corporate transfers); every other number is an *illustrative* default a bank replaces with its own
monitoring standard (the Order is principle-based for suspicious transactions: each bank sets its own). Every
parameter's source is commented in config/crmhub.toml.
Amounts are in major units (yuan, dollars) as people write them; the engine converts to minor units.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from crmhub.errors import ConfigError
from crmhub.risk.card import Scorecard, default_scorecard, load_scorecard_file


class RiskStrict(BaseModel):
    """Risk settings reject unknown keys, like the rest of the configuration."""

    model_config = ConfigDict(extra="forbid")


class RuleSettings(RiskStrict):
    """What every alert rule has."""

    enabled: bool = True


class LargeValueSettings(RuleSettings):
    """``large_value``: per customer per day, credits and debits summed separately (PBOC Order 〔2016〕No. 3 as
    amended; codes 0501 cash, 0502 corporate transfers)."""

    transfer_cny: Decimal = Field(default=Decimal(2_000_000), gt=0, description="0502 corporate transfers, CNY.")
    transfer_usd: Decimal = Field(
        default=Decimal(200_000), gt=0, description="0502, foreign currencies summed as USD equivalent."
    )
    cash_cny: Decimal = Field(default=Decimal(50_000), gt=0, description="0501 cash, CNY.")
    cash_usd: Decimal = Field(default=Decimal(10_000), gt=0, description="0501 cash, foreign currencies in USD.")


class StructuringSettings(RuleSettings):
    """``structuring``: ≥ ``min_count`` transactions within ``window_days``, each just below a large-value
    threshold (in ``[band_low × threshold, threshold)``)."""

    band_low: Decimal = Field(default=Decimal("0.9"), gt=0, lt=1)
    min_count: int = Field(default=3, ge=2)
    window_days: int = Field(default=5, ge=1)


class PassThroughSettings(RuleSettings):
    """``pass_through``: an inflow ≥ ``min_inflow_cny`` mostly paid out again within ``window_days`` and the
    balance back near where it was (快进快出)."""

    min_inflow_cny: Decimal = Field(default=Decimal(500_000), gt=0)
    min_outflow_share: Decimal = Field(
        default=Decimal("0.9"), gt=0, le=1, description="Outflow ≥ this share of the inflow (domain.md: 80-90 %)."
    )
    window_days: int = Field(default=3, ge=0, description="Days after the inflow day (3 = within 72 h).")
    balance_tolerance: Decimal = Field(
        default=Decimal("0.2"), ge=0, description="|balance after − balance before| ≤ this share of the inflow."
    )
    max_prior_balance_share: Decimal | None = Field(
        default=Decimal(1),
        ge=0,
        description="The balance before the inflow is at most this share of the inflow "
        "(a conduit holds little of what passes through); unset = off.",
    )
    min_turnover_to_adb: Decimal = Field(
        default=Decimal(0),
        ge=0,
        description="Also require window turnover / average daily balance ≥ this (domain.md suggests 20; 0 = off).",
    )


class FanSettings(RuleSettings):
    """``fan_in`` / ``fan_out``: ≥ ``min_counterparties`` distinct payers (payees) within ``window_days``."""

    min_counterparties: int = Field(default=10, ge=2)
    window_days: int = Field(default=3, ge=1)
    max_opposite_counterparties: int | None = Field(
        default=None,
        ge=0,
        description="Also require at most this many distinct counterparties on the other "
        'side in the window ("many in, few out"); unset = not required.',
    )


class DormantSettings(RuleSettings):
    """``dormant_reactivation``: an account dormant/inactive, or silent ≥ ``inactive_days``, that moves
    ≥ ``min_amount_cny`` or ≥ ``min_count`` transactions within the last ``recent_days``."""

    inactive_days: int = Field(default=180, ge=1)
    recent_days: int = Field(
        default=30,
        ge=1,
        description="The recent window; transactions less than this many days apart also form one reactivation burst.",
    )
    max_burst_days: int = Field(
        default=60,
        ge=1,
        description="A reactivation burst began at most this many days "
        "ago; a longer run of activity is not a sudden "
        "reactivation.",
    )
    min_amount_cny: Decimal = Field(default=Decimal(300_000), gt=0)
    min_count: int = Field(default=10, ge=1)
    sub_statuses: list[str] = Field(default_factory=lambda: ["dormant", "inactive"])


class AlertSettings(RiskStrict):
    """``[risk.alerts]``: one table per rule."""

    enabled: bool = True
    large_value: LargeValueSettings = Field(default_factory=LargeValueSettings)
    structuring: StructuringSettings = Field(default_factory=StructuringSettings)
    pass_through: PassThroughSettings = Field(default_factory=PassThroughSettings)
    fan_in: FanSettings = Field(default_factory=FanSettings)
    fan_out: FanSettings = Field(default_factory=FanSettings)
    dormant_reactivation: DormantSettings = Field(default_factory=DormantSettings)
    lookback_days: int = Field(
        default=120,
        ge=7,
        le=400,
        description="Days of transactions screened on each assessment (reruns never "
        "duplicate, so overlapping lookbacks are safe).",
    )
    max_evidence: int = Field(default=200, ge=10, description="Transactions listed per alert (the rest counted).")


def _default_fx() -> dict[str, Decimal]:
    return {
        "USD": Decimal("7.10"),
        "EUR": Decimal("7.70"),
        "HKD": Decimal("0.91"),
        "GBP": Decimal("9.00"),
        "JPY": Decimal("0.047"),
    }


class RiskSettings(RiskStrict):
    """``[risk]``: how golden clients are rated and which alerts are raised."""

    enabled: bool = Field(default=True, description="Run the risk phase in every sync.")
    today: date | None = Field(default=None, description="Assess as of this day (default: today in Asia/Shanghai).")
    batch_size: int = Field(default=500, ge=1, le=5000, description="Clients per transaction.")
    window_days: int = Field(default=90, ge=30, le=400, description="Ledger history read per assessment.")
    scorecard_file: str | None = Field(default=None, description="A scorecard TOML file (relative to the cwd).")
    scorecard: Scorecard | None = Field(default=None, description="Or the scorecard inline ([risk.scorecard]).")
    fx_to_cny: dict[str, Decimal] = Field(
        default_factory=_default_fx, description="CNY per unit of each currency (illustrative rates)."
    )
    closed_loan_statuses: list[str] = Field(
        default_factory=lambda: ["met", "closed", "overpaid", "rejected", "withdrawn", "approval", "approved"],
        description="Loan statuses (last part of the ledger's status code) that are no exposure.",
    )
    bank_initiated_kinds: list[str] = Field(
        default_factory=lambda: ["interest", "fee", "tax"],
        description="Transaction kinds the bank books itself: not customer activity, not reportable.",
    )
    non_posting_kinds: list[str] = Field(
        default_factory=lambda: ["hold", "release"], description="Kinds that do not move the balance (amount holds)."
    )
    alerts: AlertSettings = Field(default_factory=AlertSettings)

    _card: Scorecard | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _one_scorecard(self) -> RiskSettings:
        if self.scorecard is not None and self.scorecard_file:
            raise ValueError("set either scorecard_file or an inline [risk.scorecard], not both")
        if self.scorecard_file:
            try:
                self._card = load_scorecard_file(self.scorecard_file)
            except ConfigError as exc:
                raise ValueError(str(exc.message).replace("\n", "; ")) from None
        return self

    def card(self) -> Scorecard:
        """The scorecard in force: inline, else the file, else the packaged default."""
        if self.scorecard is not None:
            return self.scorecard
        if self._card is None:
            self._card = default_scorecard()
        return self._card

    @property
    def read_days(self) -> int:
        """Days of ledger history read per batch: the scorecard window or the alert lookback, the longer."""
        return max(self.window_days, self.alerts.lookback_days if self.alerts.enabled else 0)

    def fx(self, currency: str) -> Decimal | None:
        """CNY per unit of ``currency`` (1 for CNY; ``None`` when no rate is configured)."""
        return Decimal(1) if currency == "CNY" else self.fx_to_cny.get(currency)

    def as_parameters(self) -> dict[str, Any]:
        """The settings that shape inputs, for the stored assessment."""
        return {"window_days": self.window_days, "fx_to_cny": {k: str(v) for k, v in sorted(self.fx_to_cny.items())}}
