"""Shared harness of bench/sync_full.py and bench/sync_incremental.py.

The simulators run in their own process (``crmhub sandbox serve``), so the sync process's CPU time and peak memory
are its own; the sync engine runs in this process against a fresh SQLite store. Rate-limit windows are shortened
(``--speed``) so a large world finishes in minutes; the report says so.
"""

from __future__ import annotations

import asyncio
import os
import resource
import shutil
import socket
import subprocess
import sys
import time
import tomllib
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def peak_mib() -> float:
    """Peak resident memory of this process so far, MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass
class Sandbox:
    """A `crmhub sandbox serve` child process."""

    proc: subprocess.Popen[bytes]
    config: Path
    base: int

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def _free_base() -> int:
    import random

    while True:
        base = random.randint(20000, 60000)
        if all(socket.socket().connect_ex(("127.0.0.1", base + i)) != 0 for i in range(5)):
            return base


def start_sandbox(workdir: Path, clients: int, seed: int, speed: float, ledger_detail: bool = True) -> Sandbox:
    """Start the simulators over a world of ``clients`` companies and wait until they listen."""
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    base = _free_base()
    config = workdir / "sandbox.toml"
    proc = subprocess.Popen([sys.executable, "-m", "crmhub.cli", "sandbox", "serve", "--clients", str(clients),
                             "--seed", str(seed), "--port-base", str(base), "--write-config", str(config),
                             "--speed", str(speed), "--ledger-detail" if ledger_detail else "--no-ledger-detail"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started = time.monotonic()
    while not config.exists():
        if proc.poll() is not None:
            raise SystemExit("the sandbox failed to start")
        time.sleep(0.5)
    print(f"simulators ready in {time.monotonic() - started:.1f} s (world of {clients} companies, seed {seed})")
    return Sandbox(proc, config, base)


def engine_for(sandbox: Sandbox, workdir: Path, connectors: list[str] | None,
               ledger_streams: list[str] | None = None) -> Any:
    """A SyncEngine over a fresh SQLite store for the sandbox's connectors (channels left out)."""
    warnings.simplefilter("ignore")
    from crmhub import plugins
    from crmhub.cli.common import Context
    from crmhub.cli.sync_cmds import build_engine
    from crmhub.config import parse_settings
    from crmhub.store import Store

    registry = plugins.load()
    doc = tomllib.loads(sandbox.config.read_text(encoding="utf-8"))
    db = workdir / "bench.db"
    doc["store"] = {"url": f"sqlite:///{db}"}
    doc.pop("channels", None)
    if connectors:
        doc["connectors"] = {k: v for k, v in doc["connectors"].items() if k in connectors}
    if ledger_streams and "ledger" in doc["connectors"]:
        doc["connectors"]["ledger"]["streams"] = ledger_streams
    settings = parse_settings(doc, registry)
    store = Store.open(settings.store.url)
    return build_engine(Context(registry, settings), store)


def run_timed(engine: Any) -> tuple[Any, float, float]:
    """(report, wall seconds, CPU seconds of this process) of one sync."""
    cpu = time.process_time()
    wall = time.monotonic()
    report = asyncio.run(engine.run())
    return report, time.monotonic() - wall, time.process_time() - cpu


def records_read(report: Any) -> int:
    """Source records read over every stream."""
    return sum(int(s.get("read", 0)) for _, _, s in report.stream_rows())


def describe(label: str, report: Any, wall: float, cpu: float) -> dict[str, Any]:
    """Print and return the figures of one run."""
    read = records_read(report)
    row = {"run": label, "status": report.status, "records_read": read, "wall_s": round(wall, 2),
           "cpu_s": round(cpu, 2), "records_per_s": round(read / wall, 1) if wall else None,
           "peak_mib": round(peak_mib(), 1), "phases": report.phases,
           "golden_created": report.totals.clients_created, "golden_updated": report.totals.clients_updated,
           "written_back": report.totals.written_back}
    print(f"{label:<12} {read:>9} records  {wall:8.1f} s wall  {cpu:8.1f} s CPU  {row['records_per_s']:>9} rec/s  "
          f"peak {row['peak_mib']} MiB  phases {report.phases}")
    return row


def mutate(sandbox: Sandbox, count: int, seed: int) -> int:
    """Change ``count`` records in each connector's simulator; returns how many changed in all."""
    import httpx

    doc = tomllib.loads(sandbox.config.read_text(encoding="utf-8"))
    total = 0
    with httpx.Client(timeout=120) as client:
        for cfg in doc["connectors"].values():
            base = str(cfg.get("accounts_url") or cfg.get("base_url")).split("/fineract-provider")[0]
            body = client.post(f"{base}/_sandbox/mutate", json={"count": count, "seed": seed}).json()
            changed = body.get("changed") or body.get("ids") or body.get("changes") or []
            total += len(changed) if isinstance(changed, list) else int(changed or 0)
    return total


def env_note() -> str:
    """Machine facts printed with the figures."""
    return f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}"
