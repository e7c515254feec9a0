"""A distributed sync survives its workers being SIGKILLed at random moments: one of two `crmhub worker`
processes is killed (and a fresh one started) again and again while the run goes on; the run completes, its
engine results equal a single-process run's of the same world, and no CRM write was applied twice."""

from __future__ import annotations

import json
import random
import signal
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from crmhub.cli import main
from crmhub.store import Store
from crmhub.store.tables import Outbox, SyncRun, SyncTask

from .distributed import distributed_config, engine_results
from .sandbox import real_registry, sandboxes, wait_for
from .test_sync_on_workers import second_schema  # noqa: F401 - fixture
from .test_worker_process import start_workers, stop_workers

pytestmark = pytest.mark.slow

KILLS = 10
MAX_RUNS = 6


def _finished(store: Store) -> bool:
    with store.begin() as s:
        return s.scalars(select(SyncRun.status).order_by(SyncRun.id.desc())).first() != "running"


def _running(store: Store) -> str:
    """The phases running at the moment of a kill (the test's failure message lists them)."""
    with store.begin() as s:
        running = s.scalars(select(SyncTask.phase).where(SyncTask.status == "running")).all()
    return ",".join(sorted(set(running))) or "-"


def _writes(urls: dict[str, str]) -> dict[str, Counter[str]]:
    """Each record the CRM simulators accepted a write of, counted (`/_sandbox/requests`)."""
    zoho = httpx.get(f"{urls['zoho_crm']}/_sandbox/requests", params={"method": "PUT"}, timeout=30).json()
    fx = httpx.get(f"{urls['fxiaoke']}/_sandbox/requests", params={"limit": 100000}, timeout=30).json()
    counts: dict[str, Counter[str]] = {"zoho": Counter(), "fxiaoke": Counter()}
    for entry in zoho["requests"]:
        if 200 <= entry["status"] < 300:
            for rec in entry.get("records", []):
                counts["zoho"][json.dumps(rec, sort_keys=True)] += 1
    for entry in fx["requests"]:
        if entry["path"].endswith("/data/update") and entry["errorCode"] == 0:
            data = ((entry.get("body") or {}).get("data") or {}).get("object_data") or {}
            counts["fxiaoke"][json.dumps(data, sort_keys=True)] += 1
    return counts


def test_sigkilled_workers_lose_nothing_and_write_nothing_twice(
    tmp_path: Path,
    store: Store,
    pg_only: str,
    second_schema: str,  # noqa: F811
) -> None:
    registry = real_registry()
    rng = random.Random(20)
    kills: list[str] = []
    runs = 0
    with sandboxes(registry, latency_ms=60.0) as sb:
        cfg = distributed_config(tmp_path / "two.toml", sb, pg_only, partitions=4)
        procs = start_workers(cfg, tmp_path, store)
        try:
            while len(kills) < KILLS and runs < MAX_RUNS:  # several runs: the first does the most, later ones less
                assert main(["sync", "--on-workers", "--detach", "-c", str(cfg)]) == 0
                runs += 1
                while not _finished(store) and len(kills) < KILLS:
                    time.sleep(rng.uniform(0.3, 2.5))
                    victim = rng.choice([p for p in procs if p.poll() is None])
                    kills.append(f"run {runs}: {_running(store)}")
                    victim.send_signal(signal.SIGKILL)
                    victim.wait()
                    procs.remove(victim)
                    procs += start_workers(cfg, tmp_path, store, n=1, expect=2)
                wait_for(lambda: _finished(store), 300, "the run to finish", every=0.5)
            writes = _writes(sb.urls())
        finally:
            stop_workers(procs)
    with sandboxes(registry, latency_ms=5.0) as sb:  # the reference: as many runs, in one process each
        for _ in range(runs):
            assert main(["sync", "-c", str(distributed_config(tmp_path / "one.toml", sb, second_schema))]) == 0
    single = Store.open(second_schema)
    try:
        expected = engine_results(single)
    finally:
        single.dispose()
    print("kills:", kills)
    assert len(kills) == KILLS, kills
    with store.begin() as s:
        done = [(r.status, r.error) for r in s.scalars(select(SyncRun).order_by(SyncRun.id))]
        tasks = list(s.scalars(select(SyncTask)))
        outbox = Counter(s.scalars(select(Outbox.state).where(Outbox.kind == "write_back")))
    assert done == [("succeeded", None)] * runs, (done, kills)
    assert {t.status for t in tasks} == {"done"}
    assert any(t.tries > 1 for t in tasks), kills  # some task was taken over from a killed worker
    got = engine_results(store)
    for part in ("golden", "lineage", "risk"):
        assert got[part] == expected[part], part
    assert {k: [r["payload"] for r in v] for k, v in got["plans"].items()} == {
        k: [r["payload"] for r in v] for k, v in expected["plans"].items()
    }
    assert set(outbox) == {"confirmed"}, outbox
    for target, counts in writes.items():
        assert counts, target
        assert not {k: n for k, n in counts.items() if n > 1}, target
