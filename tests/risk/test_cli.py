"""The issue's acceptance case through the command line: a RMB 2,500,000 transfer, RMB 1,990,000 moved three
times in a day, and a loan 120 days past due → a large_value and a structuring alert with their transaction ids,
and the overdue client rated B or worse with the override named in ``crmhub risk explain``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from crmhub.cli import main
from crmhub.i18n import set_lang
from crmhub.store import Store
from crmhub.store.tables import AuditLog
from crmhub.sync.audit import verify_chain

from .factory import Book, Client, steady


@pytest.fixture
def config(tmp_path: Path, store_url: str) -> str:
    path = tmp_path / "crmhub.toml"
    path.write_text(f'lang = "en"\n[store]\nurl = "{store_url}"\n[risk]\ntoday = "2026-11-30"\n', encoding="utf-8")
    return str(path)


@pytest.fixture(autouse=True)
def _terminal(monkeypatch: pytest.MonkeyPatch) -> Any:
    """A wide terminal (tables do not wrap mid-word) and the language reset after each test."""
    from crmhub.cli.common import console

    monkeypatch.setattr(console, "width", 220)
    yield
    set_lang(None)


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out + out.err


def book(store: Store) -> tuple[Client, Client, Client]:
    b = Book(store)
    clients = []
    for n in (1, 2, 3):
        c = b.client(n, f"验收客户{n}有限公司")
        b.account(c, opening=500_000)
        steady(b, c)
        clients.append(c)
    big, mover, late = clients
    b.tx(
        big,
        10,
        2_500_000,
        "credit",
        sid="TX-BIG",
        counterparty="某投资有限公司",
        counterparty_account="6222021234567890123",
    )
    for i in range(3):
        b.tx(mover, 7, 1_990_000, "debit", sid=f"TX-S{i}", counterparty="某贸易有限公司")
    b.loan(late, 2_000_000, outstanding=1_500_000, dpd=120, classification="substandard")
    b.commit()
    return big, mover, late


def test_acceptance_case(store: Store, config: str, capsys: pytest.CaptureFixture[str]) -> None:
    big, mover, late = book(store)
    code, out = cli(capsys, "risk", "assess", "--all", "-c", config)
    assert code == 0 and "3 client(s), 3 new assessment(s)" in out

    code, out = cli(capsys, "alerts", "list", "--json", "-c", config)
    assert code == 0
    got = [json.loads(line) for line in out.splitlines()]
    for item in got:
        assert {"id", "uscc", "kind", "transaction_ids", "status", "amount", "currency", "day", "evidence"} <= set(item)
    large = [a for a in got if a["kind"] == "large_value" and a["uscc"] == big.uscc]
    assert [a["transaction_ids"] for a in large] == [["TX-BIG"]] and large[0]["amount"] == "2500000.00"
    assert large[0]["evidence"]["transactions"][0]["counterparty_account"] == "622202*********0123"
    structuring = [a for a in got if a["kind"] == "structuring"]
    assert [(a["uscc"], a["transaction_ids"]) for a in structuring] == [(mover.uscc, ["TX-S0", "TX-S1", "TX-S2"])]
    assert {a["status"] for a in got} == {"new"}
    assert not [a for a in got if a["uscc"] == late.uscc]

    code, out = cli(capsys, "risk", "explain", late.uscc, "--json", "-c", config)
    explained = json.loads(out)
    assert explained["rating"] == "D" and explained["segment"] == "high"  # 120 DPD, 次级: default, not B
    assert [o["code"] for o in explained["overrides"]] == ["default_dpd_over_90", "default_npl_class"]
    policy = explained["policy"]
    assert explained["inputs"]["max_dpd"] == 120 and policy["new_credit"] is False
    assert policy["pricing_addon_bp"] is None and "NPL workout" in policy["action_en"]
    factors = {f["factor"]: f for f in explained["factors"]}
    assert factors["max_dpd"]["bin_en"] == "≥ 91" and factors["max_dpd"]["points"] == "0.00"

    code, out = cli(capsys, "risk", "explain", late.uscc, "-c", config)
    assert code == 0 and "default_dpd_over_90" in out and "rating D" in out and "Maximum days past due" in out
    assert "rating D (10/10)" in out and "Credit policy: No new credit; NPL workout" in out and " bp" not in out
    code, out = cli(capsys, "--lang", "zh", "risk", "explain", late.uscc, "-c", config)
    assert "贷款逾期超过 90 天" in out and "最长逾期天数" in out and "授信政策：不得新增授信" in out
    assert "清收" in out and "+200" not in out


def test_alert_workflow_and_reassess(store: Store, config: str, capsys: pytest.CaptureFixture[str]) -> None:
    big, _, _ = book(store)
    cli(capsys, "risk", "assess", "--all", "-c", config)
    _, out = cli(capsys, "alerts", "list", "--json", "--kind", "large_value", "--uscc", big.uscc, "-c", config)
    alert_id = json.loads(out.splitlines()[0])["id"]
    assert cli(capsys, "alerts", "ack", str(alert_id), "--note", "checking", "-c", config)[0] == 0
    _, out = cli(capsys, "alerts", "list", "--json", "--status", "acknowledged", "-c", config)
    assert [json.loads(x)["id"] for x in out.splitlines()] == [alert_id]
    code, out = cli(
        capsys, "alerts", "close", str(alert_id), "--disposition", "reported", "--note", "filed", "-c", config
    )
    assert code == 0 and "proposal #1" in out  # four eyes: a second AML officer applies it
    code, out = cli(capsys, "--as", "second-officer", "approvals", "approve", "1", "-c", config)
    assert code == 0 and "applied" in out
    code, out = cli(capsys, "alerts", "ack", str(alert_id), "-c", config)
    assert code == 2 and "cannot become acknowledged" in out
    with store.begin() as s:
        actions = list(s.scalars(select(AuditLog.action).order_by(AuditLog.id)))
        assert actions == ["alert.acknowledged", "approval.propose", "alert.closed", "approval.approve"]
        assert verify_chain(s, Path(config).parent / "var") == []  # keyed with the config's secret key
    code, out = cli(capsys, "alerts", "list", "-c", config)
    assert code == 0 and "Alerts (" in out and "Large-value transaction" in out and "large_value" not in out
    code, out = cli(capsys, "alerts", "show", str(alert_id), "--json", "-c", config)
    assert code == 0 and '"closed"' in out and "TX-BIG" in out
    code, out = cli(capsys, "alerts", "show", str(alert_id), "-c", config)
    assert code == 0 and "closed" in out and "TX-BIG" in out and "622202*********0123" in out

    code, out = cli(capsys, "risk", "assess", big.uscc, "--json", "-c", config)
    result = json.loads(out)
    assert code == 0 and result["unchanged"] == 1 and result["results"][0]["outcome"] == "unchanged"
    assert result["results"][0]["policy"]["review_months"] in (3, 6, 12)
    code, out = cli(capsys, "risk", "assess", big.uscc, "-c", config)
    assert code == 0 and "credit policy" in out and " bp, review " in out
    code, out = cli(capsys, "risk", "assess", "91110000600037342L", "-c", config)
    assert code == 2 and "not a valid USCC" in out
    code, out = cli(capsys, "risk", "explain", "91110000600037341L", "-c", config)
    assert code == 2 and "no client" in out


def test_scorecard_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = str(tmp_path / "crmhub.toml")
    Path(config).write_text('lang = "en"\n', encoding="utf-8")
    code, out = cli(capsys, "risk", "scorecard", "--json", "-c", config)
    table = json.loads(out)
    assert code == 0 and table["illustrative"] and table["version"] == "expert-2026.2"
    adb = table["factors"][0]
    assert adb["name"] == "avg_daily_balance" and adb["bins"][0] == {
        "zh": "< 50,000",
        "en": "< 50,000",
        "points": "20",
        "weighted": "2.40",
    }
    code, out = cli(capsys, "risk", "scorecard", "-c", config)
    assert code == 0 and "illustrative" in out and "AAA(1) ≥ 90" in out
