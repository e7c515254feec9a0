"""Every job run checks the audit chain's head: a break is marked in the job's outcome and the sync run's report,
and told to operators once (through the ``sync_failed`` route, over the real email channel into an SMTP sandbox)
— not again when the next runs find the same break."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, update

from crmhub.config import parse_settings
from crmhub.jobs.runner import run_job
from crmhub.plugins import Registry
from crmhub.store import Store
from crmhub.store.tables import AuditLog, SyncRun
from crmhub_email.sandbox import SmtpSandbox

OPS = "ops@bank.example"


async def test_broken_chain_is_marked_and_told_once(
    store: Store,
    store_url: str,
    registry: Registry,
    mailbox: tuple[SmtpSandbox, dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CRMHUB_AUDIT_KEY", "job-test-audit-key-0123456789abcdefghijklmnop")
    mail, channel = mailbox
    settings = parse_settings(
        {
            "store": {"url": store_url},
            "risk": {"enabled": False},
            "connectors": {"crm": {"plugin": "tick", "records": 4}},
            "channels": {"email": channel},
            "notify": {"enabled": True, "groups": {"operators": [OPS]}},
            "jobs": {"nightly": {"cron": "0 2 * * *", "connectors": ["crm"]}},
        },
        registry,
    )

    first = await run_job(settings, registry, "nightly", "scheduler", store=store)
    assert first.status == "succeeded" and "audit_chain" not in first.details
    with store.begin() as s:
        newest = s.scalars(select(AuditLog).order_by(AuditLog.seq.desc()).limit(1)).one()
        assert newest.action == "client.create"
        s.execute(update(AuditLog).where(AuditLog.id == newest.id).values(actor="os:mallory"))
    sent_before = len(mail.mails)

    second = await run_job(settings, registry, "nightly", "scheduler", store=store)
    assert second.status == "succeeded"
    assert second.details["audit_chain"]["kind"] == "edited" and second.details["audit_chain"]["seq"] == newest.seq
    with store.begin() as s:
        report = s.get(SyncRun, second.run_id).report  # type: ignore[union-attr]
        assert report["audit_chain"]["seq"] == newest.seq
    notices = [m for m in mail.wait_for(sent_before + 1)[sent_before:] if f"#{newest.seq}" in (m.text or "")]
    assert len(notices) == 1 and list(notices[0].rcpt_tos) == [OPS]
    assert "crmhub audit verify" in (notices[0].text or "")

    third = await run_job(settings, registry, "nightly", "scheduler", store=store)
    assert third.details["audit_chain"]["seq"] == newest.seq
    assert [m for m in mail.mails if f"#{newest.seq}" in (m.text or "")] == notices  # not told again
