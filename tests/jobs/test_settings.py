"""``[jobs.*]`` configuration (errors name the key), durations, cron ticks in a time zone, and the commands that
are not syncs, run through the same `run_job`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import crmhub.plugins
from crmhub.cli import main
from crmhub.config import parse_settings
from crmhub.errors import ConfigError, InputError
from crmhub.i18n import set_lang
from crmhub.jobs.runner import run_job
from crmhub.jobs.schedule import Schedule
from crmhub.jobs.settings import format_duration, parse_duration
from crmhub.plugins import Registry
from crmhub.store import Store

from .conftest import make_settings


def problems(registry: Registry, jobs: dict[str, Any], **extra: Any) -> dict[str, str]:
    data = {"connectors": {"zoho": {"plugin": "tick"}, "ledger": {"plugin": "tick"}}, "jobs": jobs, **extra}
    with pytest.raises(ConfigError) as err:
        parse_settings(data, registry)
    return dict(err.value.problems)


def test_the_documented_table_is_valid(registry: Registry) -> None:
    """The example from the docs parses, with its defaults."""
    settings = parse_settings(
        {
            "connectors": {n: {"plugin": "tick"} for n in ("zoho", "fxiaoke", "ledger")},
            "jobs": {
                "nightly_sync": {
                    "cron": "0 2 * * *",
                    "timezone": "Asia/Shanghai",
                    "command": "sync",
                    "connectors": ["zoho", "fxiaoke", "ledger"],
                    "timeout": "30m",
                    "catch_up": "skip",
                },
                "morning": {"cron": "@daily", "command": "notify run"},
            },
        },
        registry,
    )
    nightly, morning = settings.jobs["nightly_sync"], settings.jobs["morning"]
    assert nightly.timeout_seconds == 1800 and nightly.catch_up == "skip"
    assert (morning.timezone, morning.catch_up, morning.timeout_seconds, morning.connectors) == (
        "Asia/Shanghai",
        "skip",
        3600,
        None,
    )


def test_mistakes_are_named_by_key_path(registry: Registry) -> None:
    """Bad cron, time zone, duration, command, unknown connectors and keys: each reported with its key path."""
    found = problems(
        registry,
        {
            "a": {"cron": "0 2 * *"},
            "b": {"cron": "61 2 * * *"},
            "c": {"cron": "0 2 * * *", "timezone": "Mars/Base"},
            "d": {"cron": "0 2 * * *", "timeout": "soon"},
            "e": {"cron": "0 2 * * *", "command": "reboot"},
            "f": {"cron": "0 2 * * *", "connectors": ["zoho", "salesforce", "sap"]},
            "g": {"cron": "0 2 * * *", "crom": "x"},
            "h": {"cron": "0 2 * * *", "command": "notify run", "connectors": ["zoho"]},
            "i": {"cron": "0 2 * * *", "command": "report digest"},
            "j": {"cron": "0 2 * * *", "catch_up": "all"},
        },
    )
    assert "expected five fields" in found["jobs.a.cron"]
    assert "not a valid cron expression" in found["jobs.b.cron"]
    assert "unknown time zone" in found["jobs.c.timezone"]
    assert "30s, 10m, 2h" in found["jobs.d.timeout"]
    assert "'sync'" in found["jobs.e.command"]
    assert found["jobs.f.connectors"] == "unknown connector(s) 'salesforce', 'sap'; configured: zoho, ledger"
    assert found["jobs.g"] == "unknown key 'crom'; did you mean 'cron'?"
    assert "sync and deliver jobs only" in found["jobs.h"]
    assert "[notify.digest] enabled = true" in found["jobs.i.command"]
    assert "'skip' or 'once'" in found["jobs.j.catch_up"]


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("10m", 600), ("2h", 7200), ("1h30m", 5400), ("1d", 86400), ("90", 90), (45, 45)]
)
def test_durations(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds
    assert parse_duration(format_duration(seconds)) == seconds


@pytest.mark.parametrize("bad", ["", "0s", "-5m", "5 minutes", "m"])
def test_bad_durations(bad: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)


def test_ticks_are_in_the_jobs_time_zone() -> None:
    """02:00 in Shanghai is 18:00 UTC the day before; in New York a skipped 02:30 runs at 03:00 and a repeated
    01:30 runs once, as cron does."""
    shanghai = Schedule("0 2 * * *")
    t = shanghai.next_after(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    assert t == datetime(2026, 3, 1, 18, 0, tzinfo=UTC) and shanghai.local(t).hour == 2
    assert shanghai.latest_at_or_before(t) == t and shanghai.latest_at_or_before(t.replace(second=59)) == t
    assert shanghai.latest_at_or_before(t - timedelta(seconds=1)) == t - timedelta(days=1)
    ny = Schedule("30 2 * * *", ZoneInfo("America/New_York"))
    spring = [
        ny.local(x).strftime("%d %H:%M")
        for x in ny.ticks_between(datetime(2026, 3, 7, 12, tzinfo=UTC), datetime(2026, 3, 10, 12, tzinfo=UTC))
    ]
    assert spring == ["08 03:00", "09 02:30", "10 02:30"]
    ny = Schedule("30 1 * * *", ZoneInfo("America/New_York"))
    autumn = list(ny.ticks_between(datetime(2026, 10, 31, 12, tzinfo=UTC), datetime(2026, 11, 2, 12, tzinfo=UTC)))
    assert [ny.local(x).strftime("%d %H:%M") for x in autumn] == ["01 01:30", "02 01:30"]
    assert ny.latest_at_or_before(datetime(2026, 11, 1, 6, 45, tzinfo=UTC)) == autumn[0]


async def test_risk_and_notify_jobs_run_through_run_job(store: Store, store_url: str, registry: Registry) -> None:
    """`risk assess` scores the clients a sync left unassessed, under the merge lock; `notify run` with
    notifications off is a quiet success; an unknown job is an error naming the configured ones."""
    settings = make_settings(
        registry,
        store_url,
        {
            "sync": {"cron": "0 2 * * *"},
            "risk": {"cron": "0 3 * * *", "command": "risk assess"},
            "notes": {"cron": "0 8 * * *", "command": "notify run"},
        },
        crm={"records": 3},
    )
    assert (await run_job(settings, registry, "sync", store=store)).status == "succeeded"  # no risk phase
    risk = await run_job(settings, registry, "risk", store=store)
    assert risk.status == "succeeded" and risk.details["clients"] == 3 and risk.run_id is None
    notes = await run_job(settings, registry, "notes", store=store)
    assert notes.status == "succeeded" and notes.details["delivered"] == 0
    set_lang("en")
    try:
        with pytest.raises(InputError, match="no job named 'nope'; configured: sync, risk, notes"):
            await run_job(settings, registry, "nope", store=store)
    finally:
        set_lang(None)


def test_worker_needs_postgresql(
    tmp_path: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`crmhub worker` on the SQLite store exits 2 and says what to use instead."""
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[store]\nurl = "sqlite:///{tmp_path / "s.db"}"\n[jobs.n]\ncron = "0 2 * * *"\n', encoding="utf-8")
    monkeypatch.setattr(crmhub.plugins, "load", lambda: registry)
    assert main(["--lang", "en", "worker", "-c", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "needs a PostgreSQL store" in err and "crmhub scheduler run" in err


async def test_deliver_job_takes_connectors_and_runs_through_run_job(
    store: Store, store_url: str, registry: Registry
) -> None:
    """A `deliver` job may name its connectors (like a sync job) and never overlaps another deliverer of them
    on any worker; with nothing to write back it is a quiet success listing no target."""
    from crmhub.jobs.worker import procrastinate_lock

    settings = make_settings(
        registry,
        store_url,
        {"drain": {"cron": "*/10 * * * *", "command": "deliver", "connectors": ["crm"]}},
        crm={"records": 2},
    )
    assert procrastinate_lock(settings, "drain") == "deliver:crm"
    result = await run_job(settings, registry, "drain", store=store)
    assert result.status == "succeeded" and result.details == {"targets": []}
    with pytest.raises(Exception, match="applies to sync and deliver jobs only"):
        make_settings(
            registry, store_url, {"n": {"cron": "0 2 * * *", "command": "notify run", "connectors": ["crm"]}}, crm={}
        )
