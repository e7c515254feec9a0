"""The risk issue's acceptance case end to end: `crmhub sync` over the ledger simulator (real HTTP, real store),
then `crmhub alerts list --json` and `crmhub risk explain`, each a real `crmhub` process.

The ledger holds a corporate transfer of RMB 2,500,000, a client moving RMB 1,990,000 three times in one day and a
loan 120 days past due (rated D: default, no new credit).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import tomli_w
from ledger_world import TODAY, Ids, _client, _loan, _savings, _tx, code

from conftest import TinyWorld
from crmhub.model import Rating
from crmhub.sandbox.worldtypes import LedgerClientView
from crmhub.testing import start_simulator
from crmhub_ledger.sandbox import build

pytestmark = pytest.mark.slow


def _views() -> list[LedgerClientView]:
    ids = Ids()
    routine = [
        _tx(ids, TODAY - timedelta(days=k * 7), str(20_000 + k * 500), "C" if k % 2 else "D", cp=k)
        for k in range(12, 0, -1)
    ]
    big = _client(
        1,
        "北京大额转账有限公司",
        [_savings(ids, [*routine, _tx(ids, TODAY - timedelta(days=3), "2500000", "C", cp=2)])],
    )
    same_day = TODAY - timedelta(days=2)
    mover = _client(
        2,
        "广州拆分付款有限公司",
        [_savings(ids, [_tx(ids, same_day, "1990000", "D", cp=4 + k) for k in range(3)], opening="8000000")],
    )
    quiet = [_savings(ids, [_tx(ids, TODAY - timedelta(days=30), "10000", "C", cp=1)])]
    late = _client(3, "重庆逾期建材有限公司", quiet, [_loan(ids, "3000000", 120)])
    return [big, mover, late]


def _crmhub(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CRMHUB_LANG": "en", "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "crmhub.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_sync_over_the_ledger_raises_the_alerts_and_rates_the_overdue_client_d(tmp_path: Path, store_url: str) -> None:
    with start_simulator(build, world=TinyWorld(views=_views)) as server:
        cfg = tmp_path / "crmhub.toml"
        cfg.write_text(
            tomli_w.dumps(
                {
                    "store": {"url": store_url},
                    "risk": {"today": TODAY.isoformat()},
                    "connectors": {
                        "ledger": {
                            "plugin": "core_ledger",
                            "username": "mifos",
                            "password": "password",
                            "base_url": server.url + "/fineract-provider/api/v1",
                        }
                    },
                }
            ),
            encoding="utf-8",
        )
        sync = _crmhub("sync", "-c", str(cfg), "--json", cwd=tmp_path)
        assert sync.returncode == 0, sync.stderr[-3000:]
        assert json.loads(sync.stdout)["totals"]["clients_created"] == 3

        alerts = _crmhub("alerts", "list", "--json", "-c", str(cfg), cwd=tmp_path)
        assert alerts.returncode == 0, alerts.stderr[-3000:]
        got = [json.loads(line) for line in alerts.stdout.splitlines()]
        tx_ids = {v.fullname: [f"{a.id}:{t.id}" for a in v.savings for t in a.transactions] for v in _views()}
        large = [a for a in got if a["kind"] == "large_value" and a["uscc"] == code(1)]
        assert [a["transaction_ids"] for a in large] == [tx_ids["北京大额转账有限公司"][-1:]]
        assert large[0]["amount"] == "2500000.00"
        structuring = [a for a in got if a["kind"] == "structuring"]
        assert [(a["uscc"], sorted(a["transaction_ids"])) for a in structuring] == [
            (code(2), sorted(tx_ids["广州拆分付款有限公司"]))
        ]
        assert not [a for a in got if a["uscc"] == code(3)]

        explain = _crmhub("risk", "explain", code(3), "--json", "-c", str(cfg), cwd=tmp_path)
        assert explain.returncode == 0, explain.stderr[-3000:]
        explained = json.loads(explain.stdout)
        assert Rating(explained["rating"]) is Rating.D  # issue 13: 120 days past due is default, not B
        assert [o["code"] for o in explained["overrides"]] == ["default_dpd_over_90", "default_npl_class"]
        assert explained["inputs"]["max_dpd"] == 120
        assert explained["policy"]["new_credit"] is False and explained["policy"]["pricing_addon_bp"] is None
        text = _crmhub("risk", "explain", code(3), "-c", str(cfg), cwd=tmp_path)
        assert "default_dpd_over_90" in text.stdout and "more than 90 days past due" in text.stdout
        assert "Credit policy: No new credit" in text.stdout and "+200 bp" not in text.stdout
