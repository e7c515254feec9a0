"""AML confidentiality end to end (issue 13 item 1): a sync over the ledger simulator (real HTTP) raises a
large-value and a structuring alert for clients whose relationship manager a CRM knows; the notifications go to
the AML team by email only, the RM and the WeCom group robot hear of follow-ups but never of an alert, and
`crmhub notify log --json` shows it.

Real parts: the ledger simulator over loopback HTTP, the sync engine with its risk phase and the notifier's
``after_run`` hook, a real SMTP sandbox and the WeCom simulator, SQL to the test store.
"""

from __future__ import annotations

import json
import warnings
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from ledger_world import TODAY, Ids, _client, _savings, _tx, code
from sqlalchemy import select

from conftest import TinyWorld
from crmhub.cli import main
from crmhub.config import parse_settings
from crmhub.notify.service import Notifier
from crmhub.plugins import load
from crmhub.risk.runner import make_risk_phase
from crmhub.sandbox.worldtypes import LedgerClientView
from crmhub.store import Store
from crmhub.store.tables import Alert
from crmhub.sync.engine import SyncEngine
from crmhub.testing import start_simulator
from crmhub_ledger.sandbox import build
from notify.helpers import Servers, mail_texts, servers
from sync.memory_connector import SYSTEMS, MemoryCrm, MemoryPlugin

pytestmark = pytest.mark.slow
__all__ = ["servers"]  # the fixture, imported for this module

RM = {"name": "张三", "user_id": "zhangsan", "email": "zhangsan@bank.example"}
NAMES = {1: "北京大额转账有限公司", 2: "广州拆分付款有限公司"}


def _views() -> list[LedgerClientView]:
    """Client 1 receives RMB 2,500,000 in one day (0502); client 2 pays RMB 1,990,000 three times in one day."""
    ids = Ids()
    routine = [
        _tx(ids, TODAY - timedelta(days=k * 7), str(20_000 + k * 500), "C" if k % 2 else "D", cp=k)
        for k in range(12, 0, -1)
    ]
    big = _client(1, NAMES[1], [_savings(ids, [*routine, _tx(ids, TODAY - timedelta(days=3), "2500000", "C", cp=2)])])
    mover = _client(
        2,
        NAMES[2],
        [
            _savings(
                ids,
                [_tx(ids, TODAY - timedelta(days=2), "1990000", "D", cp=4 + k) for k in range(3)],
                opening="8000000",
            )
        ],
    )
    return [big, mover]


def _notify_table() -> dict[str, Any]:
    return {
        "groups": {
            "aml_team": ["aml@bank.example"],
            "risk_team": ["risk@bank.example"],
            "operators": ["ops@bank.example"],
            "ops_chat": ["@robot"],
        },
        "retry_delay_seconds": 0,
        "alert_max_age_days": 400,  # the ledger world's days lie in the past
        # reminders reach the RM and the group robot in the same pass: both channels work, and carry no alert
        "follow_up": {"with_sync": True, "lead_days": 400, "send": [{"channel": "wecom", "to": ["rm", "ops_chat"]}]},
    }


async def test_a_sync_raising_aml_alerts_notifies_only_the_aml_team(
    tmp_path: Path, store: Store, store_url: str, servers: Servers, capsys: pytest.CaptureFixture[str]
) -> None:
    SYSTEMS.clear()
    SYSTEMS["crm"] = MemoryCrm()
    for n, name in NAMES.items():
        SYSTEMS["crm"].put(f"Z{n}", name=name, uscc=code(n), relationship_manager=RM)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        registry = load(extra=[("memory", MemoryPlugin())])
    with start_simulator(build, world=TinyWorld(views=_views)) as ledger:
        settings = parse_settings(
            {
                "channels": servers.channels(),
                "notify": _notify_table(),
                "risk": {"today": TODAY.isoformat()},
                "connectors": {
                    "ledger": {
                        "plugin": "core_ledger",
                        "username": "mifos",
                        "password": "password",
                        "base_url": ledger.url + "/fineract-provider/api/v1",
                    },
                    "crm": {"plugin": "memory", "system": "crm", "write_back": {"enabled": False}},
                },
            },
            registry,
        )
        report = await SyncEngine(
            settings,
            registry,
            store,
            risk_phase=make_risk_phase(settings, registry),
            after_run=Notifier(settings, registry, store).after_run,
        ).run()
    assert report.status == "succeeded" and report.totals.clients_created == 2
    with store.begin() as s:
        alerts = {(a.kind, a.uscc): a.id for a in s.scalars(select(Alert))}
    assert {("large_value", code(1)), ("structuring", code(2))} <= set(alerts)  # client 2 raises more kinds

    # the AML team got one email per alert: kind, id, date and a pointer — no client, amount or counterparty
    aml_mails = [m for m in servers.mail.mails if m.rcpt_tos == ("aml@bank.example",)]
    assert len(aml_mails) == len(alerts) and len(servers.mail.mails) == len(alerts)
    for text in mail_texts(aml_mails):
        assert "反洗钱预警" in text and "crmhub alerts show" in text
        for secret in (*NAMES.values(), code(1), code(2), "2,500,000", "1,990,000", "6222", "对手方"):
            assert secret not in text, secret
    assert any(f"#{alerts[('large_value', code(1))]}" in m.subject for m in aml_mails)

    # WeCom: the RM and the group robot received their follow-up reminders, and not one AML alert
    reached = {r for m in servers.sim.inbox for r in m.recipients}
    assert "zhangsan" in reached and any(
        m.channel == "robot" or "robot" in str(m.recipients) for m in servers.sim.inbox
    )
    for text in servers.wecom_texts():
        for leak in ("反洗钱", "大额交易", "拆分交易", "crmhub alerts show", "2,500,000", "1,990,000"):
            assert leak not in text, leak

    # `crmhub notify log --json` shows it: alert notifications only to the AML team, delivered
    cfg = tmp_path / "crmhub.toml"
    cfg.write_text(
        tomli_w.dumps({"store": {"url": store_url}, "channels": servers.channels(), "notify": _notify_table()}),
        encoding="utf-8",
    )
    assert main(["notify", "log", "--json", "-c", str(cfg)]) == 0
    entries = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    sent = sorted(
        (e["event"], e["channel"], tuple(e["recipients"]), e["status"]) for e in entries if e["event"] == "alert"
    )
    assert sent == [("alert", "email", ("aml@bank.example",), "delivered")] * len(alerts)
    assert {e["fact"] for e in entries if e["event"] == "alert"} == {f"alert:{i}" for i in alerts.values()}
    follow_ups = {(e["channel"], tuple(e["recipients"])) for e in entries if e["event"] == "follow_up"}
    assert follow_ups == {("wecom", ("zhangsan",)), ("wecom", ("@robot",))}
