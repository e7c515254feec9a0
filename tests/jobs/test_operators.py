"""What operators get from scheduled jobs: each scheduled sync's report and, when configured, its digest; a run
stopped by its timeout as a failure notification; ``report digest`` for scheduled runs not yet summarised — over
the real email channel into an SMTP sandbox, never twice for one run."""

from __future__ import annotations

from typing import Any

from crmhub.config import Settings, parse_settings
from crmhub.jobs.runner import run_job
from crmhub.notify.service import Notifier
from crmhub.notify.settings import Send
from crmhub.plugins import Registry
from crmhub.store import Store
from crmhub_email.sandbox import SmtpSandbox

OPS = "ops@bank.example"


def settings(registry: Registry, store_url: str, channel: dict[str, Any], *, notify: bool = True) -> Settings:
    return parse_settings(
        {
            "store": {"url": store_url},
            "risk": {"enabled": False},
            "connectors": {"crm": {"plugin": "tick", "records": 4}, "slow": {"plugin": "tick", "mode": "hang"}},
            "channels": {"email": channel},
            "notify": {"enabled": notify, "groups": {"operators": [OPS]}, "digest": {"enabled": True}},
            "jobs": {
                "nightly": {"cron": "0 2 * * *", "connectors": ["crm"]},
                "stuck": {"cron": "0 3 * * *", "connectors": ["slow"], "timeout": "1s"},
                "digest": {"cron": "0 8 * * *", "command": "report digest"},
            },
        },
        registry,
    )


async def test_scheduled_runs_reach_operators_once(
    store: Store, store_url: str, registry: Registry, mailbox: tuple[SmtpSandbox, dict[str, Any]]
) -> None:
    """A scheduled run made while notifications were off is summarised by `report digest`; the next scheduled run
    sends its own digest; neither is sent again, a manual run sends none, a timed-out run reports a failure."""
    mail, channel = mailbox
    quiet = settings(registry, store_url, channel, notify=False)
    loud = settings(registry, store_url, channel)

    first = await run_job(quiet, registry, "nightly", "scheduler", store=store)  # ran while notify was off
    assert first.status == "succeeded" and mail.mails == []
    digest = await run_job(loud, registry, "digest", "scheduler", store=store)
    assert digest.status == "succeeded" and digest.details["planned"] == 1
    (summary,) = mail.wait_for(1)
    assert list(summary.rcpt_tos) == [OPS] and str(first.run_id) in (summary.text or "")

    second = await run_job(loud, registry, "nightly", "scheduler", store=store)  # the sync's own hook sends it
    assert second.status == "succeeded" and len(mail.wait_for(2)) == 2
    again = await run_job(loud, registry, "digest", "scheduler", store=store)
    assert again.details["planned"] == 0 and len(mail.mails) == 2  # never twice for one run
    manual = await run_job(loud, registry, "nightly", "manual", store=store)
    assert manual.status == "succeeded" and len(mail.mails) == 2  # a manual run has no digest

    stuck = await run_job(loud, registry, "stuck", "scheduler", store=store)
    assert stuck.status == "failed" and "timeout" in (stuck.error or "")
    failure = mail.wait_for(3)[-1]
    assert list(failure.rcpt_tos) == [OPS] and str(stuck.run_id) in (failure.text or "")


async def test_a_failed_non_sync_job_is_told_to_operators_once(
    store: Store, store_url: str, registry: Registry, mailbox: tuple[SmtpSandbox, dict[str, Any]]
) -> None:
    """A scheduled `report digest` job that fails (its route names a channel that is not configured) has no sync
    run to report it: operators get one "Job failed" mail naming the job and its error — not again on the next
    notification pass, and not for a manual run, which the person running it sees."""
    mail, channel = mailbox
    cfg = settings(registry, store_url, channel)
    broken = cfg.model_copy(
        update={
            "notify": cfg.notify.model_copy(
                update={
                    "digest": cfg.notify.digest.model_copy(update={"send": [Send(channel="wecom", to=["operators"])]})
                }
            )
        }
    )
    manual = await run_job(broken, registry, "digest", "manual", store=store)
    assert manual.status == "failed" and mail.mails == []
    failed = await run_job(broken, registry, "digest", "scheduler", store=store)
    assert failed.status == "failed" and "wecom" in (failed.error or "")
    (notice,) = mail.wait_for(1)
    assert list(notice.rcpt_tos) == [OPS]
    assert notice.subject == "【作业失败】digest (report digest)"  # notifications default to zh
    assert "wecom" in (notice.text or "") and "crmhub jobs run digest" in (notice.text or "")
    async with Notifier(broken, registry, store) as notifier:
        again = await notifier.run(follow_ups=False)
    assert sum(again.plan.planned.values()) == 0 and len(mail.mails) == 1
