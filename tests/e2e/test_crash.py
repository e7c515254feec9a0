"""Crash safety: SIGKILL `crmhub sync` at many random moments (pull, merge, risk, write-back) and rerun.

The simulators run in their own process (they outlive every killed sync). A reference sandbox with the same
seed gets one uninterrupted sync. In the end the crashed store and CRMs must equal the reference's, with no
duplicate golden record and no write-back applied twice.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from crmhub.store import Store
from crmhub.store.tables import GoldenClient, Outbox, SyncRun

pytestmark = pytest.mark.slow  # whole syncs / CLI subprocesses: .ci/run runs it, the README's fast set does not

KILLS = 20
CLIENTS = 60
SEED = 13


def _free_base() -> int:
    # below Linux's ephemeral range (32768–60999), so a client socket of a test running beside this one (the
    # suite runs on several workers) cannot take one of the five ports between this check and the bind
    while True:
        base = random.randint(20000, 32000)
        ok = True
        for off in range(5):
            with socket.socket() as s:
                ok = ok and s.connect_ex(("127.0.0.1", base + off)) != 0
        if ok:
            return base


def _cli(*args: str, env: dict[str, str] | None = None) -> list[str]:
    return [sys.executable, "-m", "crmhub.cli", *args]


class Sandbox:
    """A `crmhub sandbox serve` child process and the config pointing at it."""

    def __init__(self, workdir: Path) -> None:
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.base = _free_base()
        self.config = self.dir / "crmhub.toml"
        self.proc = subprocess.Popen(
            _cli(
                "sandbox",
                "serve",
                "--seed",
                str(SEED),
                "--clients",
                str(CLIENTS),
                "--port-base",
                str(self.base),
                "--write-config",
                str(self.config),
            ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 120
        while not self.config.exists() or not self._listening():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"sandbox did not start: {self.proc.stderr.read() if self.proc.stderr else ''}")
            time.sleep(0.2)
        text = self.config.read_text(encoding="utf-8")
        self.store_url = f"sqlite:///{self.dir / 'crmhub.db'}"
        self.config.write_text(
            text.replace('url = "sqlite:///var/crmhub.db"', f'url = "{self.store_url}"'), encoding="utf-8"
        )

    def _listening(self) -> bool:
        for off in range(3):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.base + off)) != 0:
                    return False
        return True

    def url(self, offset: int) -> str:
        return f"http://127.0.0.1:{self.base + offset}"

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def _sync(sandbox: Sandbox, timeout: float = 300) -> dict[str, Any]:
    out = subprocess.run(
        _cli("sync", "-c", str(sandbox.config), "--json"),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, "CRMHUB_LANG": "en"},
    )
    assert out.returncode == 0, out.stderr[-3000:]
    report: dict[str, Any] = json.loads(out.stdout)
    return report


def _settle(sandbox: Sandbox) -> list[dict[str, Any]]:
    """Sync until a run changes nothing (the echo of write-backs needs one more run)."""
    reports = []
    for _ in range(5):
        reports.append(_sync(sandbox))
        t = reports[-1]["totals"]
        if not (t["clients_created"] or t["clients_updated"] or t["written_back"] or t["planned_writes"]):
            return reports
    raise AssertionError(f"no quiet run after 5 syncs: {[r['totals'] for r in reports]}")


def _golden_state(sandbox: Sandbox) -> set[tuple[Any, ...]]:
    store = Store.open(sandbox.store_url)
    try:
        with store.begin() as s:
            rows = s.scalars(select(GoldenClient).where(GoldenClient.status == "active")).all()
            state = set()
            for r in rows:
                ext = tuple(sorted((k, tuple(sorted(v))) for k, v in (r.data or {}).get("external_ids", {}).items()))
                risk = (r.data or {}).get("risk") or {}
                state.add((r.uscc, r.name, ext, r.rating, r.segment, risk.get("rating")))
            assert len(state) == len(rows)
            return state
    finally:
        store.dispose()


def _crm_state(sandbox: Sandbox) -> dict[str, set[tuple[Any, ...]]]:
    """What the CRMs hold for the fields crmhub writes, read through the real connectors."""
    state = {}
    for connector in ("zoho", "fxiaoke"):
        out = subprocess.run(
            _cli("pull", connector, "accounts", "-c", str(sandbox.config)),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert out.returncode == 0, out.stderr[-3000:]
        rows = [json.loads(line) for line in out.stdout.splitlines()]
        state[connector] = {(r["source_id"], r.get("uscc"), json.dumps(r.get("risk"), sort_keys=True)) for r in rows}
    return state


def _zoho_writes(sandbox: Sandbox) -> Counter[str]:
    """Each record-with-values the Zoho simulator was asked to write and accepted, counted."""
    log = httpx.get(f"{sandbox.url(0)}/_sandbox/requests", params={"method": "PUT"}, timeout=30).json()
    counts: Counter[str] = Counter()
    for entry in log["requests"]:
        if 200 <= entry["status"] < 300:
            for rec in entry.get("records", []):
                counts[json.dumps(rec, sort_keys=True)] += 1
    return counts


def _fxiaoke_writes(sandbox: Sandbox) -> Counter[str]:
    log = httpx.get(f"{sandbox.url(1)}/_sandbox/requests", params={"limit": 100000}, timeout=30).json()
    counts: Counter[str] = Counter()
    for entry in log["requests"]:
        if entry["path"].endswith("/data/update") and entry["errorCode"] == 0:
            body = entry.get("body") or {}
            data = ((body.get("data") or {}).get("object_data")) or {}
            counts[json.dumps(data, sort_keys=True)] += 1
    return counts


@pytest.fixture
def sandboxes(tmp_path: Path) -> Iterator[tuple[Sandbox, Sandbox]]:
    crashed, reference = Sandbox(tmp_path / "crashed"), Sandbox(tmp_path / "reference")
    try:
        yield crashed, reference
    finally:
        crashed.stop()
        reference.stop()


def test_sigkill_at_random_moments_loses_nothing_and_repeats_nothing(sandboxes: tuple[Sandbox, Sandbox]) -> None:
    """≥ 20 SIGKILLs during pull, merge and write-back, each followed by a rerun: same end state as a clean run."""
    crashed, reference = sandboxes
    started = time.monotonic()
    _settle(reference)
    clean_duration = time.monotonic() - started
    rng = random.Random(SEED)
    killed_at: list[float] = []
    upper = max(1.0, clean_duration / 2)
    for _ in range(KILLS * 2):  # bounded: a sync that finished before its kill makes the next delays shorter
        if len(killed_at) == KILLS:
            break
        launched = time.monotonic()
        proc = subprocess.Popen(
            _cli("sync", "-c", str(crashed.config)), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        delay = rng.uniform(0.3, upper)
        time.sleep(delay)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed_at.append(round(delay, 2))
        else:  # the book has converged, so a run is quicker now: aim inside it
            upper = max(0.5, min(upper, 0.9 * (time.monotonic() - launched)))
        proc.wait(timeout=60)
    assert len(killed_at) == KILLS, killed_at
    _settle(crashed)
    assert _golden_state(crashed) == _golden_state(reference)
    assert _crm_state(crashed) == _crm_state(reference)
    for counts in (_zoho_writes(crashed), _fxiaoke_writes(crashed)):
        repeated = {k: n for k, n in counts.items() if n > 1}
        assert not repeated, repeated
    store = Store.open(crashed.store_url)
    try:
        with store.begin() as s:
            states = Counter(s.scalars(select(Outbox.state).where(Outbox.kind == "write_back")).all())
        assert states.get("sent", 0) == 0 and states.get("planned", 0) == 0, states
        with store.begin() as s:  # every killed run was closed by the next start, none is left "running"
            runs = Counter(s.scalars(select(SyncRun.status)).all())
        assert runs.get("running", 0) == 0 and 0 < runs.get("interrupted", 0) <= len(killed_at), runs
    finally:
        store.dispose()
