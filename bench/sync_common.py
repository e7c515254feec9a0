"""Shared harness of bench/sync_full.py and bench/sync_incremental.py.

The simulators run in their own process (``crmhub sandbox serve``), so the sync process's CPU time and peak memory
are its own and the simulators' CPU is read from the child's /proc entry and printed apart; the sync engine runs in
this process against a fresh SQLite store. Headline figures run the simulators at their real limits (``--speed 1``);
a run with rate-limit windows shortened (``--speed N``) is labelled "sped up N×" in every line and JSON row.

Per-phase CPU comes from `PhaseClock`, the engine's `Progress`: it reads ``time.process_time()`` at every phase
switch (ingest's CPU runs from the start of the run to the first non-ingest phase; the tail after the last phase —
finishing the report, notifications — is counted in the last phase).
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


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (/proc/<pid>/stat), e.g. the sandbox child's — so the
    simulators' CPU is reported on its own and never mixed into the engine's."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    # after the command name: state is field 3, utime field 14, stime field 15 (1-based, see proc(5))
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_peak_mib(pid: int) -> float:
    """Peak resident set of process ``pid`` so far (``VmHWM``), MiB."""
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


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


def ledger_streams_for(with_transactions: bool) -> tuple[list[str] | None, bool | str]:
    """(ledger streams to pull, what the ledger simulator serves): by default clients and loans — as
    docs/benchmarks.md says — with the simulator holding no savings accounts or transactions; with transactions,
    every stream and every row."""
    if with_transactions:
        return None, True
    return ["clients", "loans"], "loans"


def start_sandbox(
    workdir: Path, clients: int, seed: int, speed: float, ledger_detail: bool | str = True, quiet: bool = False
) -> Sandbox:
    """Start the simulators over a world of ``clients`` companies and wait until they listen.

    ``ledger_detail``: True (accounts, transactions, loans), ``"loans"`` (clients and loans) or False (clients)."""
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    base = _free_base()
    config = workdir / "sandbox.toml"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "crmhub.cli",
            "sandbox",
            "serve",
            "--clients",
            str(clients),
            "--seed",
            str(seed),
            "--port-base",
            str(base),
            "--write-config",
            str(config),
            "--speed",
            str(speed),
            *(
                []
                if ledger_detail is True
                else ["--set", f"core_ledger.detail={'loans' if ledger_detail == 'loans' else 'false'}"]
            ),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    started = time.monotonic()
    while not config.exists():
        if proc.poll() is not None:
            raise SystemExit("the sandbox failed to start")
        time.sleep(0.5)
    if not quiet:
        print(
            f"simulators ready in {time.monotonic() - started:.1f} s (world of {clients} companies, seed {seed}"
            f"{'' if speed == 1 else f', rate windows sped up {speed:g}×'}); sandbox CPU "
            f"{proc_cpu_seconds(proc.pid):.1f} s, peak RSS {proc_peak_mib(proc.pid):.0f} MiB"
        )
    return Sandbox(proc, config, base)


class PhaseClock:
    """A `crmhub.sync.engine.Progress` that records CPU and wall time at each phase switch."""

    def __init__(self) -> None:
        self.marks: list[tuple[str, float, float]] = []
        self.cpu: dict[str, float] = {}
        self.wall: dict[str, float] = {}

    def start(self) -> None:
        """Call just before the run: what happens until the first ``phase`` call is ingest's."""
        self.marks = [("ingest", time.process_time(), time.monotonic())]

    def phase(self, name: str) -> None:
        if self.marks and self.marks[-1][0] == name:
            return  # (the engine announces ingest itself; its CPU already runs from start)
        self.marks.append((name, time.process_time(), time.monotonic()))

    def stop(self) -> None:
        """Call right after the run; folds the marks into per-phase CPU and wall seconds."""
        end = ("", time.process_time(), time.monotonic())
        self.cpu, self.wall = {}, {}
        for (name, cpu, wall), (_, cpu2, wall2) in zip(self.marks, [*self.marks[1:], end], strict=True):
            self.cpu[name] = self.cpu.get(name, 0.0) + cpu2 - cpu
            self.wall[name] = self.wall.get(name, 0.0) + wall2 - wall

    def stream_started(self, connector: str, stream: str) -> None:
        return None

    def page_stored(self, connector: str, stream: str, stats: Any) -> None:
        return None

    def stream_finished(self, connector: str, stream: str, stats: Any) -> None:
        return None


def speed_label(speed: float) -> str:
    """``""`` at the real limits, else how the run was sped up — printed next to every figure of such a run."""
    return "" if speed == 1 else f"sped up {speed:g}×"


def engine_for(
    sandbox: Sandbox, workdir: Path, connectors: list[str] | None, ledger_streams: list[str] | None = None
) -> Any:
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
    return build_engine(Context(registry, settings), store, PhaseClock())


@dataclass
class Timed:
    """One measured sync: its report, this process's wall and CPU seconds, per-phase CPU, the sandbox's CPU."""

    report: Any
    wall: float
    cpu: float
    phase_cpu: dict[str, float]
    phase_wall: dict[str, float]
    sim_cpu: float


def run_timed(engine: Any, sandbox: Sandbox | None = None) -> Timed:
    """Run one sync, timing this process (the engine) and the sandbox child (the simulators) apart."""
    clock: PhaseClock = engine.progress if isinstance(engine.progress, PhaseClock) else PhaseClock()
    engine.progress = clock
    sim0 = proc_cpu_seconds(sandbox.proc.pid) if sandbox else 0.0
    cpu = time.process_time()
    wall = time.monotonic()
    clock.start()
    report = asyncio.run(engine.run())
    clock.stop()
    wall, cpu = time.monotonic() - wall, time.process_time() - cpu
    sim = proc_cpu_seconds(sandbox.proc.pid) - sim0 if sandbox else 0.0
    return Timed(report, wall, cpu, dict(clock.cpu), dict(clock.wall), sim)


def records_read(report: Any) -> int:
    """Source records read over every stream."""
    return sum(int(s.get("read", 0)) for _, _, s in report.stream_rows())


def describe(label: str, run: Timed, speed: float = 1.0) -> dict[str, Any]:
    """Print and return the figures of one run: totals, then a table of wall, CPU and µs of CPU per record read
    for each phase; the simulators' CPU on its own line."""
    report = run.report
    read = records_read(report)
    sped = speed_label(speed)
    label = f"{label} [{sped}]" if sped else label
    row: dict[str, Any] = {
        "run": label,
        "speed": speed,
        "real_limits": speed == 1,
        "status": report.status,
        "records_read": read,
        "wall_s": round(run.wall, 2),
        "cpu_s": round(run.cpu, 2),
        "cpu_us_per_record": round(run.cpu / read * 1e6, 1) if read else None,
        "records_per_s": round(read / run.wall, 1) if run.wall else None,
        "peak_mib": round(peak_mib(), 1),
        "phases": report.phases,
        "phase_cpu_s": {k: round(v, 3) for k, v in run.phase_cpu.items()},
        "phase_wall_s": {k: round(v, 3) for k, v in run.phase_wall.items()},
        "phase_cpu_us_per_record": {k: round(v / read * 1e6, 1) for k, v in run.phase_cpu.items()} if read else {},
        "simulators_cpu_s": round(run.sim_cpu, 2),
        "golden_created": report.totals.clients_created,
        "golden_updated": report.totals.clients_updated,
        "written_back": report.totals.written_back,
    }
    print(
        f"{label}: {report.status}, {read:,} records read, {run.wall:.1f} s wall, engine {run.cpu:.1f} s CPU "
        f"({row['cpu_us_per_record']} µs/record), {row['records_per_s']} rec/s, peak {row['peak_mib']} MiB"
    )
    print(f"  {'phase':<9} {'wall s':>9} {'CPU s':>9} {'CPU µs/rec':>11}")
    for name, cpu in run.phase_cpu.items():
        per = f"{cpu / read * 1e6:11.1f}" if read else f"{'-':>11}"
        print(f"  {name:<9} {run.phase_wall.get(name, 0.0):9.2f} {cpu:9.2f} {per}")
    print(
        f"  {'total':<9} {run.wall:9.2f} {run.cpu:9.2f} " + (f"{run.cpu / read * 1e6:11.1f}" if read else f"{'-':>11}")
    )
    print(f"  simulators (sandbox process, not in the figures above): {run.sim_cpu:.1f} s CPU")
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


ZOHO_MODULES = (("Accounts", "accounts"), ("Contacts", "contacts"))
"""The Zoho modules a Zoho sync reads (and the connector stream each feeds)."""


def bare_zoho_loop(sandbox: Sandbox, db_path: Path) -> dict[str, Any]:
    """The floor to compare a Zoho-only sync with: plain httpx over the same pages (each module's ``page_token``
    chain with the connector's fields, 200 per page), every page committed to SQLite as raw JSON — in this process,
    right after the sync, against the same simulator. The token call is `bench/zoho_pull.py`'s."""
    import json
    import sqlite3

    import httpx

    from crmhub_zoho.config import ZohoConfig
    from crmhub_zoho.mapping import ZohoMapper
    from zoho_pull import token

    doc = tomllib.loads(sandbox.config.read_text(encoding="utf-8"))
    url = str(doc["connectors"]["zoho"]["accounts_url"]).rstrip("/")
    mapper = ZohoMapper(ZohoConfig.model_validate(doc["connectors"]["zoho"]))
    db_path.unlink(missing_ok=True)
    db = sqlite3.connect(db_path)
    db.execute("pragma journal_mode=wal")
    db.execute("create table raw (module text, id text, payload text, primary key (module, id))")
    headers = {"Authorization": f"Zoho-oauthtoken {token(url)}"}
    count = 0
    cpu, wall = time.process_time(), time.monotonic()
    with httpx.Client(base_url=url, headers=headers, timeout=120) as client:
        for module, stream in ZOHO_MODULES:
            fields = ",".join(mapper.read_fields(stream))
            page_token = None
            while True:
                params: dict[str, Any] = {
                    "fields": fields,
                    "per_page": 200,
                    "sort_by": "Modified_Time",
                    "sort_order": "asc",
                }
                if page_token:
                    params["page_token"] = page_token
                answer = client.get(f"/crm/v8/{module}", params=params)
                if answer.status_code == 204:
                    break
                body = answer.json()
                rows = [(module, r["id"], json.dumps(r, ensure_ascii=False)) for r in body["data"]]
                with db:
                    db.executemany("insert or replace into raw values (?, ?, ?)", rows)
                count += len(rows)
                page_token = body["info"].get("next_page_token")
                if not body["info"]["more_records"]:
                    break
    db.close()
    return {"records": count, "seconds": time.monotonic() - wall, "cpu_s": time.process_time() - cpu}
