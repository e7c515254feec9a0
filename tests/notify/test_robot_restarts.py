"""The WeCom group robot across restarts, against the real WeCom simulator.

Original breaks (issue #14, item 10): after restarts 44–55 robot sends were refused with 45009, because the robot's
20-per-minute pacing window lived in memory and every new process started it empty (the per-member window of app
messages, whose excess WeCom drops silently, had the same flaw); and a robot send left ``sent``
by a killed process must be resolved by the next run — the robot has no idempotency key, so it is marked
``unconfirmed`` (never sent twice automatically), shown in ``notify log`` and the run report, and re-sent only by
``crmhub notify retry``.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from sqlalchemy import select

from crmhub.cli import main
from crmhub.notify import delivery
from crmhub.notify.log import list_notifications, notification_json
from crmhub.notify.service import Notifier
from crmhub.plugins import Registry
from crmhub.reporting import render_report
from crmhub.store import Store
from crmhub.store.tables import Outbox, SyncRun
from crmhub.sync.engine import SyncEngine
from crmhub.testing import start_simulator
from crmhub_wechat.errcodes import API_FREQ_OUT_OF_LIMIT
from crmhub_wechat.simulator import WecomSimulator, build_app
from sync.memory_connector import SYSTEMS, MemoryCrm

from .helpers import Servers, settings, sync_run

pytestmark = pytest.mark.slow  # whole syncs / CLI subprocesses: .ci/run runs it, the README's fast set does not

LIMIT, WINDOW = 4, 8.0
ROBOT_ROUTE = {"sync_failed": {"send": [{"channel": "wecom", "to": ["@robot"]}]}}


class SimulatedCrash(BaseException):
    """The process dies (BaseException: nothing in the deliverer may swallow it)."""


def _robot_inbox(sim: WecomSimulator) -> list[Any]:
    return [m for m in sim.inbox if m.channel == "robot"]


def _kill_while_robot_in_flight(store: Store, cfg_path: Path, cwd: Path) -> int:
    """Start `crmhub notify run`, SIGKILL it once its robot call is recorded as started; the row's id."""
    env = {**os.environ, "CRMHUB_LANG": "en"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "crmhub.cli", "notify", "run", "-c", str(cfg_path), "--no-follow-ups"],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with store.begin() as s:
                row = s.scalars(select(Outbox).where(Outbox.target == "wecom")).first()
                if row is not None and row.state == "sent" and (row.answer or {}).get("calls"):
                    proc.send_signal(signal.SIGKILL)
                    return row.id
            time.sleep(0.05)
        raise AssertionError("the robot send never started")
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CRMHUB_LANG": "en", "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "crmhub.cli", *args],
        cwd=cwd,
        env=env,
        text=True,
        capture_output=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("target", ["@robot", "zhangsan"])
def test_pacing_continues_across_processes(
    target: str, store: Store, store_url: str, registry: Registry, servers: Servers, tmp_path: Path
) -> None:
    """Two `crmhub notify run` processes, one right after the other, each with a full window of messages to the
    group robot (45009 above the limit) or to one member (the excess dropped silently): the second continues the
    first one's window from the store and waits — the simulator refuses and drops nothing."""
    wecom = start_simulator(
        build_app, settings={"robot_per_minute": LIMIT, "per_user_per_minute": LIMIT, "rate_window_seconds": WINDOW}
    )
    try:
        sim: WecomSimulator = wecom.app.simulator
        channels = servers.channels()
        channels["wecom"].update(
            base_url=wecom.url,
            robot_per_minute=LIMIT,
            per_user_per_minute=LIMIT,
            rate_window_seconds=WINDOW,
            retry_attempts=2,
            retry_max_wait=1.0,
        )
        route = {"sync_failed": {"send": [{"channel": "wecom", "to": [target]}]}}
        cfg = tmp_path / "crmhub.toml"
        cfg.write_text(
            tomli_w.dumps(
                {
                    "store": {"url": store_url},
                    "channels": channels,
                    "notify": {"groups": {"operators": ["ops@bank.example"]}, "retry_delay_seconds": 0, **route},
                }
            ),
            encoding="utf-8",
        )
        for batch in range(2):
            for _ in range(LIMIT):
                sync_run(store, error=f"batch {batch}: zoho token revoked")
            done = _cli("notify", "run", "-c", str(cfg), "--no-follow-ups", "--json", cwd=tmp_path)
            assert done.returncode == 0, done.stderr
            assert json.loads(done.stdout.strip().splitlines()[-1])["delivered"] == LIMIT, done.stdout
        refused = [r for r in sim.rejected if r.errcode == API_FREQ_OUT_OF_LIMIT]
        assert refused == [], f"{len(refused)} sends refused with 45009"
        assert sim.dropped == [], f"{len(sim.dropped)} messages dropped silently"
        arrived = [m for m in sim.inbox if (m.channel == "robot") == (target == "@robot")]
        times = sorted(m.time for m in arrived)
        assert len(times) == 2 * LIMIT
        # every rolling window holds at most LIMIT messages, so the second process really waited
        assert all((times[i + LIMIT] - times[i]).total_seconds() >= WINDOW for i in range(len(times) - LIMIT))
        with store.begin() as s:
            rows = s.scalars(select(Outbox).where(Outbox.target == "wecom")).all()
            assert len(rows) == 2 * LIMIT and {r.state for r in rows} == {"confirmed"}
            calls = [c for r in rows for c in (r.answer or {})["calls"][target]]
            assert len(calls) == 2 * LIMIT and all(end is not None and end >= start for start, end in calls)
    finally:
        wecom.stop()


async def test_killed_robot_send_is_unconfirmed_shown_and_resent_only_on_request(
    store: Store,
    registry: Registry,
    servers: Servers,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    """A robot message went out, then the process died before recording WeCom's answer. The next run does not send
    it again (the robot cannot drop a duplicate) but marks it unconfirmed: the sync's run report and `notify log`
    name it as possibly lost or doubled, operators get an undelivered report, and `notify retry` re-sends it."""
    SYSTEMS["b"] = MemoryCrm()
    cfg = settings(
        registry,
        servers,
        notify=ROBOT_ROUTE,
        connectors={"crm": {"plugin": "memory", "system": "b", "write_back": {"enabled": False}}},
    )
    sync_run(store, error="zoho token revoked")

    def crash(*args: Any, **kwargs: Any) -> str:
        raise SimulatedCrash("killed after the robot answered")

    with monkeypatch.context() as patched:  # only this patch is undone (not the suite's autouse environment)
        patched.setattr(delivery, "record_result", crash)
        with pytest.raises(SimulatedCrash):
            async with Notifier(cfg, registry, store) as notifier:
                await notifier.run(follow_ups=False)
    assert len(_robot_inbox(servers.sim)) == 1
    with store.begin() as s:
        row = s.scalars(select(Outbox).where(Outbox.target == "wecom")).one()
        assert row.state == "sent"

    engine = SyncEngine(cfg, registry, store, after_run=Notifier(cfg, registry, store).after_run)
    report = await engine.run()
    assert len(_robot_inbox(servers.sim)) == 1, "an unconfirmed robot message was sent again automatically"
    assert report.notifications is not None and report.notifications["unconfirmed"] == 1
    assert [u["id"] for u in report.notifications["uncertain"]] == [row.id]
    shown = render_report(report, "en")
    from rich.console import Console

    console = Console(record=True, width=200)
    console.print(shown)
    text = console.export_text()
    assert f"#{row.id} sync_failed via wecom to @robot: may be lost or doubled" in text
    assert "crmhub notify retry ID" in text
    with store.begin() as s:
        stored = s.get(SyncRun, report.run_id)
        assert stored is not None and stored.report["notifications"]["uncertain"][0]["id"] == row.id
        entry = notification_json(s.get(Outbox, row.id))  # type: ignore[arg-type]
        assert entry["status"] == "unconfirmed" and entry["results"]["@robot"].startswith("unconfirmed")
    ops = servers.mail.mails_to("ops@bank.example")
    assert any(f"#{row.id}" in (m.text or "") for m in ops), "operators were not told"

    toml = tmp_path / "c.toml"
    toml.write_text(
        tomli_w.dumps(
            {
                "store": {"url": str(store.engine.url.render_as_string(hide_password=False))},
                "channels": servers.channels(),
                "notify": {"groups": {"operators": ["ops@bank.example"]}, **ROBOT_ROUTE},
            }
        ),
        encoding="utf-8",
    )
    assert main(["--lang", "en", "notify", "log", "-c", str(toml)]) == 0
    out = capsys.readouterr().out
    assert "may be lost or doubled" in out and f"#{row.id}" in out
    assert main(["notify", "retry", str(row.id), "-c", str(toml)]) == 0
    async with Notifier(cfg, registry, store) as notifier:
        await notifier.run(follow_ups=False)
    assert len(_robot_inbox(servers.sim)) == 2  # re-sent once, deliberately
    with store.begin() as s:
        assert notification_json(s.get(Outbox, row.id))["status"] == "delivered"  # type: ignore[arg-type]
        assert [r.id for r in list_notifications(s, status="unconfirmed") if r.target == "wecom"] == []


async def test_sigkilled_robot_send_is_resolved_by_the_next_run(
    store: Store,
    store_url: str,
    registry: Registry,
    servers: Servers,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A real `crmhub notify run` SIGKILLed while its robot request is in flight (the simulator answers slowly):
    the next run marks the row unconfirmed and sends nothing — whether or not WeCom took the first post, the group
    sees it at most once — and the log says so."""
    from crmhub.sandbox.faults import FaultProfile

    wecom = start_simulator(build_app, faults=FaultProfile(latency_ms=3000.0))
    try:
        sim: WecomSimulator = wecom.app.simulator
        channels = servers.channels()
        channels["wecom"]["base_url"] = wecom.url
        cfg_path = tmp_path / "crmhub.toml"
        cfg_path.write_text(
            tomli_w.dumps(
                {
                    "store": {"url": store_url},
                    "channels": channels,
                    "notify": {"groups": {"operators": ["ops@bank.example"]}, **ROBOT_ROUTE},
                }
            ),
            encoding="utf-8",
        )
        sync_run(store, error="zoho token revoked")
        in_flight = _kill_while_robot_in_flight(store, cfg_path, tmp_path)
        await asyncio.sleep(3.5)  # whatever the simulator does with the orphaned request is done now
        arrived = len(_robot_inbox(sim))
        assert arrived <= 1
        with store.begin() as s:
            row = s.get(Outbox, in_flight)
            assert row is not None and row.state == "sent"
            assert [end for _, end in (row.answer or {})["calls"]["@robot"]] == [None]  # killed before the answer

        cfg = settings(registry, servers, notify=ROBOT_ROUTE, wecom={"base_url": wecom.url})
        async with Notifier(cfg, registry, store) as notifier:
            outcome = await notifier.run(follow_ups=False)
        assert outcome.delivery.unconfirmed == 1 and len(_robot_inbox(sim)) == arrived
        assert main(["notify", "log", "-c", str(cfg_path), "--status", "unconfirmed", "--json"]) == 0
        entries = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert [(e["id"], e["channel"]) for e in entries] == [(in_flight, "wecom")]
        assert entries[0]["results"]["@robot"].startswith("unconfirmed")
    finally:
        wecom.stop()
