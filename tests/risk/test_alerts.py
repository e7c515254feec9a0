"""Each alert rule on hand-built transactions; de-duplication on reruns; the alert life cycle."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from sqlalchemy import select

from crmhub.config import Settings, parse_settings
from crmhub.errors import InputError
from crmhub.plugins import load
from crmhub.risk.alerts import alert_json, set_status
from crmhub.risk.runner import assess
from crmhub.store import Store
from crmhub.store.tables import Alert

from .factory import TODAY, Book, Client, steady


@pytest.fixture(scope="module")
def registry() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load()


def settings(**risk: Any) -> Settings:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return parse_settings({"risk": {"today": TODAY.isoformat(), **risk}}, load())


def alerts(store: Store, kind: str | None = None) -> list[dict[str, Any]]:
    with store.begin() as s:
        q = select(Alert).order_by(Alert.id)
        if kind:
            q = q.where(Alert.kind == kind)
        return [alert_json(a) for a in s.scalars(q)]


def live(book: Book, n: int, **kw: Any) -> Client:
    """A client with an everyday account (opening 100,000) and steady background activity."""
    c = book.client(n, **kw)
    book.account(c, opening=100_000)
    steady(book, c)
    return c


def run(store: Store, registry: Any, **risk: Any) -> Any:
    return assess(store, settings(**risk), registry, all=True)


def test_large_value_transfers_cash_and_foreign_currency(store: Store, registry: Any) -> None:
    b = Book(store)
    one = live(b, 1)
    b.tx(one, 10, 2_500_000, "credit", sid="BIG")
    two = live(b, 2)
    b.tx(two, 20, 1_200_000, "credit", sid="P1")
    b.tx(two, 20, 900_000, "credit", sid="P2")
    both = live(b, 3)
    b.tx(both, 30, 1_500_000, "credit")
    b.tx(both, 30, 1_500_000, "debit")  # each side below 2,000,000: credits and debits are summed separately
    rev = live(b, 4)
    b.tx(rev, 25, 3_000_000, "credit", reversed_=True)
    cash = live(b, 11)
    b.tx(cash, 12, 30_000, "credit", cash=True, kind="deposit", counterparty=None, sid="C1")
    b.tx(cash, 12, 25_000, "credit", cash=True, kind="deposit", counterparty=None, sid="C2")
    small = live(b, 12)
    b.tx(small, 12, 49_000, "debit", cash=True, kind="withdrawal", counterparty=None)
    usd = live(b, 13)
    usd_acct = b.account(usd, opening=0, currency="USD")
    b.tx(usd, 8, 210_000, "credit", account=usd_acct, currency="USD", sid="U1")
    b.tx(usd, 9, 150_000, "credit", account=usd_acct, currency="USD")
    eur = live(b, 14)
    eur_acct = b.account(eur, opening=0, currency="EUR")
    b.tx(eur, 8, 190_000, "debit", account=eur_acct, currency="EUR", sid="E1")  # 206,056 USD equivalent
    steady(b, usd, weekly=1_000, account=usd_acct)
    steady(b, eur, weekly=1_000, account=eur_acct)
    b.commit()
    run(store, registry)
    got = [a for a in alerts(store, "large_value") if a["uscc"] in (one.uscc, two.uscc, both.uscc, rev.uscc)]
    assert [(a["uscc"], a["transaction_ids"]) for a in got] == [(one.uscc, ["BIG"]), (two.uscc, ["P1", "P2"])]
    first = got[0]
    assert first["rule_id"] == "large_value.0502" and first["amount"] == "2500000.00" and first["currency"] == "CNY"
    assert first["day"] == "2026-11-20" and first["status"] == "new"
    ev = first["evidence"]
    assert ev["rule"]["parameters"]["transfer_cny"] == "2000000" and ev["rule"]["version"].startswith("1.")
    assert ev["details"]["report_code"] == "0502" and "〔2016〕第3号" in ev["details"]["regulation"]
    assert ev["transactions"][0]["amount"] == "2500000.00" and ev["transactions"][0]["direction"] == "credit"
    # 1.5M in and 1.5M out the same day: no large-value report, but a pass-through (快进快出)
    assert [(a["uscc"], a["kind"]) for a in alerts(store) if a["kind"] != "large_value"] == [
        (both.uscc, "pass_through")
    ]
    got = {a["uscc"]: a for a in alerts(store, "large_value")}
    assert set(got) >= {cash.uscc, usd.uscc, eur.uscc} and small.uscc not in got
    assert got[cash.uscc]["rule_id"] == "large_value.0501" and got[cash.uscc]["transaction_ids"] == ["C1", "C2"]
    assert got[usd.uscc]["currency"] == "USD" and got[usd.uscc]["amount"] == "210000.00"
    assert got[eur.uscc]["transaction_ids"] == ["E1"] and got[eur.uscc]["evidence"]["details"]["direction"] == "debit"


def test_thresholds_come_from_config(store: Store, registry: Any) -> None:
    b = Book(store)
    c = live(b, 1)
    b.tx(c, 10, 600_000, "credit")
    b.commit()
    run(store, registry, alerts={"large_value": {"transfer_cny": 500_000}, "structuring": {"enabled": False}})
    assert [a["amount"] for a in alerts(store, "large_value")] == ["600000.00"]


def test_structuring_just_below_the_threshold(store: Store, registry: Any) -> None:
    b = Book(store)
    hit = live(b, 1)
    for i, day in enumerate((20, 18, 16)):  # three within five days, each in [1.8M, 2M)
        b.tx(hit, day, 1_900_000, "debit", sid=f"S{i}")
    spread = live(b, 2)
    for day in (30, 27, 24):  # span of seven days
        b.tx(spread, day, 1_950_000, "credit")
    two = live(b, 3)
    for day in (30, 29):
        b.tx(two, day, 1_990_000, "credit")
    cash = live(b, 4)
    for i, day in enumerate((40, 40, 37)):
        b.tx(cash, day, 46_000 + i, "credit", cash=True, kind="deposit", counterparty=None, sid=f"K{i}")
    b.commit()
    run(store, registry, alerts={"large_value": {"enabled": False}})
    got = {a["uscc"]: a for a in alerts(store, "structuring")}
    assert set(got) == {hit.uscc, cash.uscc}
    assert got[hit.uscc]["transaction_ids"] == ["S0", "S1", "S2"] and got[hit.uscc]["rule_id"] == "structuring.transfer"
    assert got[hit.uscc]["amount"] == "5700000.00" and got[hit.uscc]["day"] == "2026-11-10"
    assert got[cash.uscc]["rule_id"] == "structuring.cash" and sorted(got[cash.uscc]["transaction_ids"]) == [
        "K0",
        "K1",
        "K2",
    ]


def test_pass_through_needs_a_small_balance_and_most_of_the_money_out(store: Store, registry: Any) -> None:
    b = Book(store)
    conduit = live(b, 1)
    b.tx(conduit, 30, 800_000, "credit", sid="IN")
    b.tx(conduit, 29, 400_000, "debit", sid="OUT1")
    b.tx(conduit, 28, 420_000, "debit", sid="OUT2")  # with the background's 60,000 in: 95 % out
    rich = b.client(2)
    b.account(rich, opening=3_000_000)
    steady(b, rich)
    b.tx(rich, 30, 800_000, "credit")
    b.tx(rich, 29, 760_000, "debit")
    keeps = live(b, 3)
    b.tx(keeps, 30, 800_000, "credit")
    b.tx(keeps, 29, 480_000, "debit")  # 60 % out: not a pass-through
    b.commit()
    run(store, registry)
    got = alerts(store, "pass_through")
    assert [a["uscc"] for a in got] == [conduit.uscc]
    assert {"IN", "OUT1", "OUT2"} <= set(got[0]["transaction_ids"])
    d = got[0]["evidence"]["details"]
    assert d["first_day"] == "2026-10-31" and d["inflow"] == "860,000.00" and d["outflow_share"] >= 0.9


def test_fan_in_and_fan_out(store: Store, registry: Any) -> None:
    b = Book(store)
    fan_in = live(b, 1)
    for i in range(12):
        b.tx(fan_in, 40 - i % 2, 30_000, "credit", counterparty=f"付款人{i}公司", sid=f"FI{i}")
    nine = live(b, 2)
    for i in range(5):  # 5 + the background's 3 customers = 8 distinct payers in the window
        b.tx(nine, 40, 30_000, "credit", counterparty=f"付款人{i}公司")
    fan_out = live(b, 3)
    for i in range(11):
        b.tx(
            fan_out,
            50 - i % 3,
            20_000,
            "debit",
            counterparty=f"收款人{i}公司",
            counterparty_account=f"62220000{i:08d}",
            sid=f"FO{i}",
        )
    b.commit()
    run(store, registry)
    got_in = alerts(store, "fan_in")
    assert [a["uscc"] for a in got_in] == [fan_in.uscc]
    assert {f"FI{i}" for i in range(12)} <= set(got_in[0]["transaction_ids"])
    assert got_in[0]["evidence"]["details"]["counterparties"] >= 12
    got_out = alerts(store, "fan_out")
    assert [a["uscc"] for a in got_out] == [fan_out.uscc]
    accounts = {t["counterparty_account"] for t in got_out[0]["evidence"]["transactions"]}
    assert "622200******0003" in accounts  # counterparty accounts are stored masked (6 + 4)


def test_fan_in_few_out_variant(store: Store, registry: Any) -> None:
    b = Book(store)
    c = live(b, 1)
    for i in range(12):
        b.tx(c, 40, 30_000, "credit", counterparty=f"付款人{i}公司")
    b.commit()
    run(store, registry, alerts={"fan_in": {"max_opposite_counterparties": 0}})
    assert alerts(store, "fan_in") == []  # the background pays suppliers in the same days: not "few out"


def test_dormant_reactivation(store: Store, registry: Any) -> None:
    b = Book(store)
    flagged = b.client(1)
    b.account(flagged, opening=20_000, sub_status="dormant")
    b.tx(flagged, 20, 200_000, "credit", sid="D1")
    b.tx(flagged, 18, 150_000, "debit", sid="D2")
    silent = b.client(2)
    b.account(silent, opening=20_000)
    b.tx(silent, 260, 5_000, "credit", sid="OLD")  # read by the look-back query, outside the window
    b.tx(silent, 12, 400_000, "credit", sid="R1")
    busy = b.client(3)
    b.account(busy, opening=20_000)
    b.tx(busy, 60, 5_000, "credit")
    b.tx(busy, 12, 400_000, "credit")
    steady_client = live(b, 4)  # active every week for 120 days: a long run of activity is no reactivation
    b.tx(steady_client, 12, 400_000, "credit", counterparty_account="6222020000000000001")
    b.commit()
    run(store, registry)
    got = {a["uscc"]: a for a in alerts(store, "dormant_reactivation")}
    assert set(got) == {flagged.uscc, silent.uscc}
    assert got[flagged.uscc]["transaction_ids"] == ["D1", "D2"]
    assert got[flagged.uscc]["evidence"]["details"]["sub_status"] == "dormant"
    details = got[silent.uscc]["evidence"]["details"]
    assert details["last_activity"] == "2026-03-15" and details["silent_days"] == 248


@pytest.mark.parametrize("sub_status", ["dormant", "none"])
def test_dormant_reactivation_measures_the_silence_before_the_burst(
    store: Store, registry: Any, sub_status: str
) -> None:
    """Issue 13, exactly that shape: an account silent 268 days whose burst began two days before the 30-day
    window (its two largest credits on those days). The alert read "1 天无交易后" and lacked both credits — and
    without the dormant flag it was not raised at all. Now: 268 days before the burst, the whole burst, largest
    first."""
    from datetime import timedelta

    b = Book(store)
    c = b.client(1)
    b.account(c, opening=20_000, sub_status=sub_status)
    b.tx(c, 300, 8_000, "credit", sid="LAST")  # the last activity before the silence (outside the read window)
    b.tx(c, 32, 1_800_000, "credit", sid="BIG1")  # the burst begins with its two largest credits
    b.tx(c, 31, 1_500_000, "credit", sid="BIG2")
    for i, day in enumerate(range(30, 8, -2)):
        b.tx(c, day, 60_000 + i * 1_000, "debit", sid=f"P{i}")
    b.commit()
    run(store, registry)
    (got,) = alerts(store, "dormant_reactivation")
    details = got["evidence"]["details"]
    assert details["silent_days"] == 268 and details["last_activity"] == (TODAY - timedelta(days=300)).isoformat()
    assert details["reactivated_on"] == (TODAY - timedelta(days=32)).isoformat() == got["day"]
    assert got["transaction_ids"][:2] == ["BIG1", "BIG2"] and len(got["transaction_ids"]) == 13
    assert [t["id"] for t in details["largest"]][:3] == ["BIG1", "BIG2", "P10"]
    assert details["burst_count"] == 13 and details["burst_amount"] == f"{3_300_000 + 11 * 60_000 + 55_000:,.2f}"
    assert "此前 268 天无交易" in got["summary_zh"] and "1 天无交易" not in got["summary_zh"]
    assert "1,800,000.00 CNY" in got["summary_en"] and "no activity for 268 days" in got["summary_en"]


def test_rerun_never_duplicates_and_a_shifted_window_is_the_same_alert(store: Store, registry: Any) -> None:
    b = Book(store)
    c = live(b, 1)
    for i, day in enumerate((20, 18, 16)):
        b.tx(c, day, 1_900_000, "debit", sid=f"S{i}")
    b.tx(c, 10, 2_500_000, "credit", sid="BIG")
    b.commit()
    first = run(store, registry)
    assert first.alerts_raised == 2
    again = run(store, registry)
    assert (again.alerts_raised, again.alerts_updated, again.assessed) == (0, 0, 0)
    b.tx(c, 21, 1_850_000, "debit", sid="LATE")  # booked late, before the episode's first transaction
    b.commit()
    shifted = run(store, registry)
    assert (shifted.alerts_raised, shifted.alerts_updated) == (0, 1)
    got = alerts(store, "structuring")
    assert len(got) == 1 and got[0]["transaction_ids"] == ["LATE", "S0", "S1", "S2"]
    with store.begin() as s:
        set_status(s, got[0]["id"], "acknowledged", actor="t")
    b.tx(c, 17, 1_880_000, "debit", sid="MORE")
    b.commit()
    later = run(store, registry)
    assert (later.alerts_raised, later.alerts_updated) == (0, 0)  # a person decided: left as it was
    assert len(alerts(store)) == 2


def test_alert_life_cycle(store: Store, registry: Any) -> None:
    b = Book(store)
    c = live(b, 1)
    b.tx(c, 10, 2_500_000, "credit")
    b.commit()
    run(store, registry)
    alert_id = alerts(store)[0]["id"]
    with store.begin() as s:
        assert set_status(s, alert_id, "acknowledged", actor="ops", note="checking")[0] == "new"
    with store.begin() as s, pytest.raises(InputError, match="is acknowledged"):
        set_status(s, alert_id, "acknowledged", actor="ops")
    with store.begin() as s:
        set_status(s, alert_id, "closed", actor="ops", note="reported to CAMLMAC")
    with store.begin() as s, pytest.raises(InputError, match="cannot become"):
        set_status(s, alert_id, "closed", actor="ops")
    with store.begin() as s, pytest.raises(InputError, match="no alert"):
        set_status(s, 999_999, "closed", actor="ops")
    got = alerts(store)[0]
    assert got["status"] == "closed"
    assert [(h["from"], h["to"], h["note"]) for h in got["evidence"]["history"]] == [
        ("new", "acknowledged", "checking"),
        ("acknowledged", "closed", "reported to CAMLMAC"),
    ]
    assert run(store, registry).alerts_raised == 0  # a closed alert is never raised again
