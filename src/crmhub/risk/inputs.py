"""A client's scorecard inputs: ledger behaviour (from `ClientFacts`) and profile (from the golden record).

Inputs are plain JSON values (numbers rounded, classes as strings, ``None`` = unknown) because they are hashed
to skip unchanged clients, stored with the assessment, shown by ``crmhub risk explain`` and handed to plugin
factors. Amounts are CNY yuan; other currencies are converted with ``[risk.fx_to_cny]`` and a currency without a
rate is left out and named in ``unconverted_currencies`` rather than guessed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from crmhub.contract import RiskFactor, RiskFactorInput
from crmhub.core.hashing import content_hash
from crmhub.model import CorporateClient
from crmhub.risk.balances import bucket_sums, coefficient_of_variation, end_of_day_balances, overdraft_stats
from crmhub.risk.card import CLASS_ORDER
from crmhub.risk.ledger import ClientFacts, Key
from crmhub.risk.settings import RiskSettings

log = logging.getLogger("crmhub.risk")

BUILTIN_INPUTS: tuple[str, ...] = (
    "ledger_linked",
    "accounts",
    "avg_daily_balance",
    "credit_turnover",
    "debit_turnover",
    "monthly_credit_turnover",
    "turnover_stability",
    "overdraft_days",
    "overdraft_count",
    "overdraft_beyond_limit_days",
    "returned_items",
    "max_dpd",
    "worst_class",
    "loan_count",
    "loan_outstanding",
    "loan_to_turnover",
    "industry_section",
    "years_in_business",
    "registered_capital",
    "annual_revenue",
    "employees",
)
"""Inputs the engine computes itself; plugin factors add their own names."""

LEDGER_INPUTS = BUILTIN_INPUTS[2:17]


def _yuan(minor: float) -> float:
    return round(minor / 100, 2)


class Converter:
    """Minor units of any configured currency → CNY minor units (as float)."""

    def __init__(self, settings: RiskSettings) -> None:
        self.rates = {c: float(r) for c, r in settings.fx_to_cny.items()}
        self.rates["CNY"] = 1.0
        self.missing: set[str] = set()

    def cny(self, minor: int, currency: str) -> float | None:
        """The CNY value, or ``None`` (and the currency remembered) when no rate is configured."""
        rate = self.rates.get(currency)
        if rate is None:
            self.missing.add(currency)
            return None
        return minor * rate


class LedgerView:
    """One client's window computed once and shared by the inputs and the alert rules: end-of-day balances per
    account and in total (CNY), and per-day credits and debits in CNY minor units."""

    def __init__(self, facts: ClientFacts, settings: RiskSettings, today: date) -> None:
        self.facts = facts
        self.conv = Converter(settings)
        self.days = settings.read_days
        self.first = today.toordinal() - self.days
        self.last = self.first + self.days - 1
        self.window = settings.window_days
        self.window_first = today.toordinal() - self.window
        self.series: dict[Key, list[int]] = {
            key: end_of_day_balances(a.balance_minor, a.nets, self.first, self.days)
            for key, a in facts.accounts.items()
            if a.known
        }
        self.total = [0.0] * self.days
        for key, balances in self.series.items():
            rate = self.conv.cny(1, facts.accounts[key].currency)
            if rate is not None:
                self.total = [t + b * rate for t, b in zip(self.total, balances, strict=True)]
        self.credits: dict[int, float] = {}
        self.debits: dict[int, float] = {}
        self.customer_credits: dict[int, float] = {}
        self.customer_debits: dict[int, float] = {}
        rates = self.conv.rates
        last = self.last
        for flow in facts.flows:
            rate = rates.get(flow.currency)
            if flow.day > last or rate is None:
                if rate is None:
                    self.conv.missing.add(flow.currency)
                continue
            value = flow.amount_minor * rate
            day = flow.day
            if flow.credit:
                self.credits[day] = self.credits.get(day, 0.0) + value
                if not flow.bank:
                    self.customer_credits[day] = self.customer_credits.get(day, 0.0) + value
            else:
                self.debits[day] = self.debits.get(day, 0.0) + value
                if not flow.bank:
                    self.customer_debits[day] = self.customer_debits.get(day, 0.0) + value

    def balance_at(self, day: int) -> float:
        """The client's total end-of-day balance (CNY minor) on an ordinal day; before the window, the balance
        the first day started from."""
        if day < self.first:
            return self.total[0] - self.credits.get(self.first, 0.0) + self.debits.get(self.first, 0.0)
        return self.total[min(day, self.last) - self.first]

    @property
    def average_balance(self) -> float | None:
        """Average daily balance over the scorecard window, CNY minor (0 without accounts; ``None`` when no
        balance is known)."""
        if not self.series:
            return None if self.facts.accounts else 0.0
        return sum(self.total[-self.window :]) / self.window

    def window_sum(self, by_day: dict[int, float]) -> float:
        """Sum of a per-day series over the scorecard window."""
        return sum(v for d, v in by_day.items() if self.window_first <= d <= self.last)


def ledger_inputs(
    facts: ClientFacts | None, settings: RiskSettings, today: date, view: LedgerView | None = None
) -> dict[str, Any]:
    """Behaviour and credit inputs from the ledger (all ``None`` for a client the ledger does not know)."""
    if facts is None or not facts.links:
        return {"ledger_linked": False, "accounts": 0, **dict.fromkeys(LEDGER_INPUTS)}
    v = view or LedgerView(facts, settings, today)
    od = overdraft_stats((b[-v.window :], facts.accounts[k].overdraft_limit_minor) for k, b in v.series.items())
    credit_total = v.window_sum(v.credits)
    debit_total = v.window_sum(v.debits)
    stability = coefficient_of_variation(bucket_sums(v.credits, v.window_first, v.window, 30))
    loans = [v.conv.cny(ln.outstanding_minor, ln.currency) for ln in facts.loans]
    outstanding = sum(x for x in loans if x is not None)
    annual_credits = credit_total * 365 / v.window
    if outstanding <= 0:
        ratio: float | None = 0.0
    elif annual_credits <= 0:
        ratio = 99.0
    else:
        ratio = round(outstanding / annual_credits, 4)
    worst = max((ln.classification for ln in facts.loans), key=_class_rank, default="none")
    adb = v.average_balance
    out: dict[str, Any] = {
        "ledger_linked": True,
        "accounts": len(facts.accounts),
        "avg_daily_balance": None if adb is None else _yuan(adb),
        "credit_turnover": _yuan(credit_total),
        "debit_turnover": _yuan(debit_total),
        "monthly_credit_turnover": _yuan(credit_total * 30 / v.window),
        "turnover_stability": None if stability is None else round(stability, 4),
        "overdraft_days": od.days,
        "overdraft_count": od.episodes,
        "overdraft_beyond_limit_days": od.beyond_limit_days,
        "returned_items": sum(n for d, n in facts.reversed_days.items() if v.window_first <= d <= v.last),
        "max_dpd": max((ln.days_past_due for ln in facts.loans), default=0),
        "worst_class": worst,
        "loan_count": len(facts.loans),
        "loan_outstanding": _yuan(outstanding),
        "loan_to_turnover": ratio,
    }
    if v.conv.missing:
        out["unconverted_currencies"] = sorted(v.conv.missing)
    return out


def _class_rank(value: str) -> int:
    return CLASS_ORDER.index(value) if value in CLASS_ORDER else 0


def _money_cny(value: Any, settings: RiskSettings) -> float | None:
    if not isinstance(value, dict) or value.get("amount") is None:
        return None
    rate = settings.fx(str(value.get("currency") or "CNY"))
    try:
        amount = Decimal(str(value["amount"]))
    except (InvalidOperation, ValueError):
        return None
    return None if rate is None else round(float(amount * rate), 2)


def profile_inputs(data: dict[str, Any], settings: RiskSettings, today: date) -> dict[str, Any]:
    """Industry section, years in business, registered capital (and, unscored by default, revenue and staff)."""
    industry = data.get("industry")
    code = industry.get("code") if isinstance(industry, dict) else None
    years: float | None = None
    established = data.get("established_on")
    if isinstance(established, str):
        try:
            years = round(max(0, (today - date.fromisoformat(established)).days) / 365.25, 2)
        except ValueError:
            years = None
    employees = data.get("employees")
    return {
        "industry_section": code[0] if isinstance(code, str) and code else None,
        "years_in_business": years,
        "registered_capital": _money_cny(data.get("registered_capital"), settings),
        "annual_revenue": _money_cny(data.get("annual_revenue"), settings),
        "employees": employees if isinstance(employees, int) else None,
    }


def plugin_inputs(
    factors: Sequence[RiskFactor], client: CorporateClient, inputs: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Values of plugin factors; a factor that raises gives ``None`` (missing) and its error is recorded."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    view = RiskFactorInput(client=client, aggregates=dict(inputs))
    for factor in factors:
        try:
            value = factor.compute(view)
            json.dumps(value)
        except Exception as exc:  # a plugin must never stop an assessment
            log.warning("risk factor %r failed for client %s: %s", factor.name, client.id, exc)
            values[factor.name] = None
            errors[factor.name] = f"{type(exc).__name__}: {exc}"
            continue
        values[factor.name] = value
    return values, errors


def inputs_hash(inputs: dict[str, Any], card_fingerprint: str, parameters: dict[str, Any]) -> str:
    """What decides whether a client must be re-scored: its inputs, the card's content and the settings."""
    return content_hash({"inputs": inputs, "card": card_fingerprint, "parameters": parameters})
