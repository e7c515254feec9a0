"""End-to-end helpers: the real simulators (Zoho, Fenxiang, the ledger) over one small world, a crmhub config
pointing at them with ``[jobs]`` tables, ``crmhub`` subprocesses, and a backend-neutral summary of a store's
state to compare an interrupted-then-resumed history with an uninterrupted one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import tomli_w
from sqlalchemy import func, select

from crmhub.plugins import Registry, load
from crmhub.sandbox.faults import FaultProfile
from crmhub.sandbox.serve import SandboxSet, free_port_base, start_sandboxes
from crmhub.store import Store
from crmhub.store.tables import GoldenClient, LedgerTransaction, Outbox, SourceRecord, Xref

SEED, CLIENTS, TODAY = 11, 40, date(2026, 11, 20)
CONNECTORS = ("zoho_crm", "fxiaoke", "core_ledger")
JOB = {"nightly": {"cron": "0 2 * * *", "catch_up": "once", "timeout": "5m"}}


def real_registry() -> Registry:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load()


def sandboxes(registry: Registry, latency_ms: float = 15.0) -> SandboxSet:
    """The three connector simulators over the shared test world (same seed → same data every time)."""
    apps = [a for a in registry.sandbox_apps if a.name in CONNECTORS]
    return start_sandboxes(
        apps,
        port_base=free_port_base(apps),
        seed=SEED,
        clients=CLIENTS,
        today=TODAY,
        faults=FaultProfile(latency_ms=latency_ms),
    )


def write_config(path: Path, sandbox: SandboxSet, store_url: str, jobs: dict[str, Any]) -> Path:
    """A config file: the simulators' connectors, ``store_url``, ``jobs``; no channels (nothing to notify)."""
    doc = sandbox.config()
    doc.pop("channels", None)
    doc["store"] = {"url": store_url}
    doc["jobs"] = jobs
    doc["risk"] = {"today": TODAY.isoformat()}
    path.write_text(tomli_w.dumps(doc), encoding="utf-8")
    return path


def crmhub(*args: str, cwd: Path, **popen: Any) -> subprocess.Popen[str]:
    """Start ``crmhub ARGS`` as a user would (its own process, English messages)."""
    env = {**os.environ, "CRMHUB_LANG": "en", "COLUMNS": "200", "PYTHONFAULTHANDLER": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "crmhub.cli", *args],
        cwd=cwd,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **popen,
    )


def wait_for(check: Callable[[], Any], timeout: float, what: str, every: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def count(store: Store, table: Any, *where: Any) -> int:
    with store.begin() as s:
        return s.scalar(select(func.count()).select_from(table).where(*where)) or 0


def summary(store: Store) -> dict[str, Any]:
    """What must be identical after an uninterrupted run and after an interrupted one plus a rerun."""
    with store.begin() as s:
        golden = sorted(
            (g.uscc or "", g.name) for g in s.scalars(select(GoldenClient).where(GoldenClient.status == "active"))
        )
        sources = Counter(f"{c}/{st}" for c, st in s.execute(select(SourceRecord.connector, SourceRecord.stream)))
        writes = Counter(
            f"{t}:{st}" for t, st in s.execute(select(Outbox.target, Outbox.state).where(Outbox.kind == "write_back"))
        )
        return {
            "golden": golden,
            "usccs_unique": len({u for u, _ in golden if u}) == sum(1 for u, _ in golden if u),
            "sources": dict(sources),
            "xrefs": s.scalar(select(func.count()).select_from(Xref)),
            "transactions": s.scalar(select(func.count()).select_from(LedgerTransaction)),
            "writes": dict(writes),
        }


def settle(proc: subprocess.Popen[str], timeout: float = 60) -> tuple[int, str, str]:
    """Wait for ``proc`` to exit; one still running after ``timeout`` is aborted (SIGABRT: faulthandler prints
    every thread's stack) and the test fails with the end of its output — a hung process is a bug to diagnose."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)
        try:
            out, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        raise AssertionError(
            f"process {proc.pid} did not exit within {timeout}s; its stdout ends:\n"
            f"{out[-4000:]}\nits stderr ends:\n{err[-12000:]}"
        ) from None
    return proc.returncode, out, err
