"""Helpers for the notification tests: real servers (aiosmtpd SMTP sandbox, WeCom simulator over HTTP), settings
pointing at them, and rows inserted the way the engine and the risk phase write them."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crmhub.config import Settings, parse_settings
from crmhub.plugins import Registry, load
from crmhub.sandbox.runner import ThreadedServer
from crmhub.store import Store
from crmhub.store.tables import Alert, GoldenClient, RiskAssessmentRow, SyncRun
from crmhub.testing import start_simulator
from crmhub_email import plugin as email_plugin
from crmhub_email.sandbox import ReceivedMail, SmtpSandbox, SmtpServer, serve_smtp
from crmhub_wechat import plugin as wecom_plugin
from crmhub_wechat.simulator import WecomSimulator, build_app
from sync.memory_connector import MemoryPlugin

U1 = "91110000600037341L"
U2 = "91310000631696382C"
MOBILE = "13812345678"
ID_NUMBER = "110101199003074258"
RM = {"name": "张三", "user_id": "zhangsan", "email": "zhangsan@bank.example"}
NOW = datetime.now(UTC)
_MOBILE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
_ID18 = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")


@dataclass
class Servers:
    """The two real notification servers of a test."""

    mail: SmtpSandbox
    smtp: SmtpServer
    wecom: ThreadedServer

    @property
    def sim(self) -> WecomSimulator:
        """The WeCom simulator's live state (inbox, drops, requests)."""
        sim: WecomSimulator = self.wecom.app.simulator
        return sim

    def channels(self, **wecom: Any) -> dict[str, Any]:
        """``[channels.email]`` and ``[channels.wecom]`` tables pointing at the servers (the plugins' own)."""
        mail = email_plugin.crmhub_sandbox_apps()[0].config(f"{self.smtp.host}:{self.smtp.port}")
        app = wecom_plugin.crmhub_sandbox_apps()[0].config(self.wecom.url)
        return {
            "email": {**mail, "timeout": 5.0},
            "wecom": {**app, "retry_base_delay": 0.01, "retry_max_wait": 2.0, "retry_attempts": 2, **wecom},
        }

    def wecom_texts(self) -> list[str]:
        """Every body WeCom accepted, as JSON-ish text."""
        return [str(m.body) + m.content for m in self.sim.inbox]


@pytest.fixture
def registry() -> Registry:
    """Every installed plugin plus the in-memory connector of the engine tests."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load(extra=[("memory", MemoryPlugin())])


@pytest.fixture
def servers() -> Iterator[Servers]:
    """A real SMTP sandbox and a real WeCom simulator on free loopback ports."""
    mail = SmtpSandbox()
    smtp = serve_smtp(mail)
    wecom = start_simulator(build_app)
    try:
        yield Servers(mail, smtp, wecom)
    finally:
        wecom.stop()
        smtp.stop()


def settings(
    registry: Registry,
    servers: Servers,
    *,
    notify: dict[str, Any] | None = None,
    wecom: dict[str, Any] | None = None,
    **extra: Any,
) -> Settings:
    """Validated settings: both channels at the servers, AML team, risk team and operators by email, fast
    retries."""
    notify_table = {
        "groups": {
            "risk_team": ["risk@bank.example"],
            "operators": ["ops@bank.example"],
            "aml_team": ["aml@bank.example"],
        },
        "retry_delay_seconds": 0,
        "resend_margin_seconds": 60,
        **(notify or {}),
    }
    return parse_settings({"channels": servers.channels(**(wecom or {})), "notify": notify_table, **extra}, registry)


def client(
    store: Store,
    *,
    uscc: str = U1,
    name: str = "北京星河科技有限公司",
    rm: dict[str, Any] | None = RM,
    segment: str | None = "high",
    created: datetime | None = None,
    **data: Any,
) -> int:
    """A golden client as the merge writes it."""
    created = created or NOW - timedelta(days=1)
    payload: dict[str, Any] = {"name": name, "uscc": uscc, **data}
    if rm is not None:
        payload["relationship_manager"] = rm
    with store.begin() as s:
        g = GoldenClient(
            uscc=uscc,
            name=name,
            data=payload,
            rm_user_id=(rm or {}).get("user_id"),
            segment=segment,
            status="active",
            needs_merge=False,
            needs_risk=False,
            needs_plan=False,
            created_at=created,
            updated_at=created,
        )
        s.add(g)
        s.flush()
        return g.id


def assess(
    store: Store,
    client_id: int,
    rating: str,
    score: float,
    *,
    at: datetime | None = None,
    segment: str = "medium",
    reasons: tuple[str, ...] = ("registered_capital",),
) -> int:
    """A new current assessment (the previous one stops being current), as the risk phase stores it."""
    at = at or NOW
    factors = [
        {"factor": r, "bin": "low", "points": "10", "reason_zh": f"{r} 偏弱", "reason_en": f"weak {r}"} for r in reasons
    ]
    with store.begin() as s:
        for old in s.query(RiskAssessmentRow).filter_by(client_id=client_id, current=True):
            old.current = False
        row = RiskAssessmentRow(
            client_id=client_id,
            assessed_at=at,
            score=score,
            rating=rating,
            segment=segment,
            scorecard_version="test",
            inputs_hash=f"h{rating}{score}",
            current=True,
            data={"assessment": {"reason_codes": list(reasons), "factors": factors, "overrides": []}},
        )
        s.add(row)
        s.flush()
        return row.id


def alert(
    store: Store,
    client_id: int | None,
    *,
    kind: str = "large_value",
    created: datetime | None = None,
    summary: str = "大额交易：当日转入合计 2,500,000.00 元",
) -> int:
    """A new alert as the risk phase raises it."""
    created = created or NOW
    with store.begin() as s:
        row = Alert(
            client_id=client_id,
            uscc=U1,
            kind=kind,
            rule_version="1.x",
            status="new",
            dedup_key=f"{kind}:{client_id}:{created.isoformat()}",
            day=created.date(),
            amount_minor=250_000_000,
            currency="CNY",
            created_at=created,
            updated_at=created,
            evidence={"summary_zh": summary, "summary_en": "Large-value: 2,500,000.00 CNY in"},
        )
        s.add(row)
        s.flush()
        return row.id


def sync_run(
    store: Store,
    *,
    status: str = "failed",
    trigger: str = "manual",
    error: str | None = "boom",
    finished: datetime | None = None,
    report: dict[str, Any] | None = None,
) -> int:
    """A finished sync run row."""
    finished = finished or NOW
    with store.begin() as s:
        row = SyncRun(
            kind="sync",
            trigger=trigger,
            status=status,
            dry_run=False,
            connectors=["zoho"],
            report=report
            or {
                "connectors": {"zoho": {"status": "failed", "error": "401 token revoked", "streams": {}}},
                "totals": {},
            },
            error=error,
            started_at=finished - timedelta(minutes=2),
            finished_at=finished,
        )
        s.add(row)
        s.flush()
        return row.id


def mail_texts(mails: list[ReceivedMail]) -> list[str]:
    """Subject, text and HTML of each mail (what a reader sees)."""
    return [f"{m.subject}\n{m.text or ''}\n{m.html or ''}" for m in mails]


def assert_masked(texts: list[str]) -> None:
    """No 11-digit mobile and no 18-digit ID number in anything a server received."""
    for text in texts:
        assert not _MOBILE.search(text), text
        assert not _ID18.search(text), text
        assert MOBILE not in text and ID_NUMBER not in text
