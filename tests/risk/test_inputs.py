"""Ledger inputs computed in SQL over a hand-built book, checked against hand-computed values."""

from __future__ import annotations

from typing import Any

import pytest

from crmhub.risk.balances import bucket_sums, coefficient_of_variation, end_of_day_balances, overdraft_stats
from crmhub.risk.inputs import ledger_inputs, profile_inputs
from crmhub.risk.ledger import LedgerReader, has_orphan_transactions, ledger_connectors
from crmhub.risk.settings import RiskSettings
from crmhub.store import Store

from .factory import TODAY, Book


def test_balances_walk_back_from_the_current_balance() -> None:
    # current 100; +50 on day 8, −30 on day 5, +10 after the window (day 12); window days 0..9
    assert end_of_day_balances(110, {8: 50, 5: -30, 12: 10}, 0, 10) == [80] * 5 + [50] * 3 + [100] * 2
    stats = overdraft_stats([([5, -1, -20, 3, -2], 10), ([0, -5, 0, 0, 0], None)])
    # days 1, 2, 4 negative; episodes: two on the first account, one on the second; beyond the limit: day 2
    # (−20 < −10) and day 1 (the second account has no overdraft facility, so any negative is beyond)
    assert (stats.days, stats.episodes, stats.beyond_limit_days) == (3, 3, 2)
    assert coefficient_of_variation([0, 0, 0]) is None
    assert coefficient_of_variation([10, 10]) == 0
    assert bucket_sums({0: 1.0, 29: 2.0, 30: 4.0, 95: 8.0}, 0, 90, 30) == [3.0, 4.0, 0.0]


def read(store: Store, client_id: int, **risk: Any) -> dict[str, Any]:
    settings = RiskSettings(**risk)
    with store.begin() as s:
        reader = LedgerReader(s, settings, TODAY, ledger_connectors(s), orphans=has_orphan_transactions(s))
        facts = reader.load([client_id])
        return ledger_inputs(facts[client_id], settings, TODAY)


def test_hand_computed_ledger_inputs(store: Store) -> None:
    b = Book(store)
    c = b.client(1)
    main = b.account(c, 110_000)  # includes a credit of 10,000 dated after today
    od = b.account(c, 5_000, overdraft_limit=10_000)
    b.account(c, 1_000, currency="USD")  # 1,000 USD × 7.10 every day
    b.tx(c, 10, 50_000, "credit", account=main)  # 2026-11-20
    b.tx(c, 40, 30_000, "debit", account=main)  # 2026-10-21
    b.tx(c, -2, 10_000, "credit", account=main)  # 2026-12-02, after the window
    b.tx(c, 15, 99_999, "debit", account=main, reversed_=True)
    b.tx(c, 5, 20_000, "debit", account=od)  # 2026-11-25: −15,000 for two days
    b.tx(c, 3, 20_000, "credit", account=od)  # 2026-11-27
    b.tx(c, 120, 7_777, "credit", account=main)  # before the 90-day window: no effect on inputs
    b.loan(c, 1_000_000, outstanding=800_000, dpd=35, classification="special_mention")
    b.loan(c, 500_000, outstanding=0, dpd=400, classification="loss", status="met")  # closed: no exposure
    b.commit()
    got = read(store, c.id)
    # main: 10 days at 100,000 + 30 at 50,000 + 50 at 80,000; od: 88 at 5,000 + 2 at −15,000; usd 7,100 × 90
    assert got["avg_daily_balance"] == pytest.approx((6_500_000 + 410_000 + 7_100 * 90) / 90, abs=0.01)
    assert got["credit_turnover"] == 70_000 and got["debit_turnover"] == 50_000
    assert got["monthly_credit_turnover"] == pytest.approx(23_333.33)
    assert got["turnover_stability"] == pytest.approx(2**0.5, abs=1e-4)  # [0, 0, 70,000]
    assert (got["overdraft_days"], got["overdraft_count"], got["overdraft_beyond_limit_days"]) == (2, 1, 2)
    assert got["returned_items"] == 1
    assert (got["max_dpd"], got["worst_class"], got["loan_count"]) == (35, "special_mention", 1)
    assert got["loan_outstanding"] == 800_000
    assert got["loan_to_turnover"] == pytest.approx(800_000 / (70_000 * 365 / 90), abs=1e-4)
    assert got["ledger_linked"] is True and got["accounts"] == 3


def test_currencies_orphan_rows_and_clients_without_loans_or_ledger(store: Store) -> None:
    b = Book(store)
    chf = b.client(2)
    b.account(chf, 100)
    b.account(chf, 5_000, currency="CHF")
    orphan = b.client(3)
    b.account(orphan, 0)
    b.tx(orphan, 20, 12_345, "credit", client_id=None)  # stored without its client id (a statement import)
    b.tx(orphan, 10, 12_345, "debit", client_id=None)
    prospect = b.client(5, ledger=False)
    b.commit()
    got = read(store, chf.id)
    assert got["avg_daily_balance"] == 100 and got["unconverted_currencies"] == ["CHF"]  # no rate: left out, named
    assert read(store, chf.id, fx_to_cny={"CHF": "8"})["avg_daily_balance"] == 40_100
    assert (got["max_dpd"], got["worst_class"], got["loan_to_turnover"], got["turnover_stability"]) == (
        0,
        "none",
        0.0,
        None,
    )
    got = read(store, orphan.id)  # found through the account's owner
    assert got["credit_turnover"] == 12_345 and got["debit_turnover"] == 12_345
    assert got["avg_daily_balance"] == pytest.approx(12_345 * 10 / 90, abs=0.01)
    none = read(store, prospect.id)
    assert none["ledger_linked"] is False and none["avg_daily_balance"] is None and none["max_dpd"] is None


def test_profile_inputs_from_the_golden_record() -> None:
    settings = RiskSettings()
    data = {
        "industry": {"code": "K7010"},
        "established_on": "2016-11-30",
        "registered_capital": {"amount": "1000000", "currency": "USD"},
        "employees": 12,
    }
    got = profile_inputs(data, settings, TODAY)
    assert got == {
        "industry_section": "K",
        "years_in_business": pytest.approx(10.0, abs=0.01),
        "registered_capital": 7_100_000.0,
        "annual_revenue": None,
        "employees": 12,
    }
    assert profile_inputs({}, settings, TODAY)["years_in_business"] is None
