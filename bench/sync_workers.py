"""Benchmark: one full sync of a three-system world split over 1, 2 and 4 `crmhub worker` processes (issue #20).

For each worker count the script starts a fresh copy of the simulators (``crmhub sandbox serve``, its own process:
a run writes back to the CRMs, so every run must meet the same untouched world), a fresh PostgreSQL schema for the
store (``bench_sw_<random>`` plus the ``<schema>_procrastinate`` schema the first worker creates beside it — both
dropped when the run ends, whatever happens; no other schema is touched), N ``crmhub worker`` processes, and then
runs ``crmhub sync --on-workers`` as a user would, timing it until it exits.

Per run it prints, from the ``sync_task`` rows (each task stores its own ``wall_s`` and ``cpu_s`` in ``counters``,
and its ``started_at`` / ``finished_at``):

* the whole run's wall time (the ``crmhub sync --on-workers`` command, launch to report);
* the **engine phases** (match → plan: from the first match task's start to the last plan task's finish) — their
  wall time, summed task CPU and records/s (records read by the run ÷ that wall time): the headline;
* per phase: its window (first start → last finish), the summed CPU of its tasks, its tasks and the slowest one;
* each worker's peak RSS (``VmHWM`` of ``/proc/<pid>/status``, read just before it is stopped) and CPU, the
  simulators' CPU and the PostgreSQL server's CPU (every ``postgres`` process of the machine plus what the
  postmaster reaped: machine-wide, so it includes anyone else's queries while the run lasted) apart;
* the 1-minute load average sampled during the run (the machine has 2 cores shared with PostgreSQL);
* the engine phases' throughput against the 1-worker run of the same invocation (issue #20's target: 2 workers
  ≥ 1.6× one worker).

The simulators run at the services' real limits unless ``--speed N`` shortens their rate windows (ingest and
deliver then go faster); every line and JSON row of such a run says "sped up N×" — the engine phases never call
an outside service, so their figures do not depend on it. Streams pulled: every CRM stream plus the ledger's
clients and loans (as bench/sync_full.py). A JSON line per run follows its table.

    python bench/sync_workers.py --clients 100000                      # 1, 2 and 4 workers, real limits
    python bench/sync_workers.py --clients 5000 --workers 1 2 --speed 20
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
import tomllib
import uuid
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import tomli_w

from sync_common import (
    Sandbox,
    env_note,
    ledger_streams_for,
    proc_cpu_seconds,
    proc_peak_mib,
    speed_label,
    start_sandbox,
)

ENGINE = ("match", "merge", "link", "risk", "plan")
"""The engine phases: everything between ingest and deliver (no outside service is called)."""
OPERATOR = "bench"
"""The operator the bench registers in its fresh store (the first one of a store is an admin) and acts as."""
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def schema_url(base: str, schema: str) -> str:
    """``base`` with ``search_path`` set to ``schema`` (how the tests give each store its own schema)."""
    return f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"


class Schemas:
    """This bench's own PostgreSQL schemas: created here, dropped here (with their procrastinate twin), never any
    other."""

    def __init__(self, url: str) -> None:
        from sqlalchemy import create_engine
        from sqlalchemy.pool import NullPool

        self.admin = create_engine(url, poolclass=NullPool)
        self.made: list[str] = []

    def create(self) -> str:
        from sqlalchemy import text

        name = f"bench_sw_{uuid.uuid4().hex[:10]}"
        with self.admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{name}"'))
        self.made.append(name)
        return name

    def drop(self, name: str) -> None:
        from sqlalchemy import text

        assert name in self.made, name  # only ours
        with self.admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}_procrastinate" CASCADE'))
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
        self.made.remove(name)

    def close(self) -> None:
        for name in list(self.made):
            self.drop(name)
        self.admin.dispose()


def write_config(path: Path, sandbox: Sandbox, store_url: str, partitions: int, ledger: list[str] | None) -> Path:
    """The sandbox's config with the store, ``[sync] executor = "workers"`` and no channels (nothing to notify)."""
    doc = tomllib.loads(sandbox.config.read_text(encoding="utf-8"))
    doc.pop("channels", None)
    doc["store"] = {"url": store_url}
    doc.setdefault("sync", {})["executor"] = "workers"
    doc["sync"]["workers"] = {"partitions": partitions, "max_tries": 3}
    if ledger and "ledger" in doc.get("connectors", {}):
        doc["connectors"]["ledger"]["streams"] = ledger
    path.write_text(tomli_w.dumps(doc), encoding="utf-8")
    return path


def crmhub(args: list[str], workdir: Path, log: str) -> subprocess.Popen[bytes]:
    """``crmhub ARGS`` in its own process, output to ``workdir/log`` (never a pipe that could fill up)."""
    env = {**os.environ, "CRMHUB_LANG": "en", "COLUMNS": "200", "CRMHUB_USER": OPERATOR}
    with open(workdir / log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "crmhub.cli", *args], cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT
        )


def start_workers(n: int, cfg: Path, workdir: Path, store: Any) -> list[subprocess.Popen[bytes]]:
    """``n`` workers, once each has a fresh liveness lock (it polls the queue)."""
    from sqlalchemy import select

    from crmhub.store.tables import RunLock

    procs = [crmhub(["worker", "-c", str(cfg), "--grace", "60"], workdir, f"worker{i}.log") for i in range(n)]
    pids = {p.pid for p in procs}
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            break
        cutoff = datetime.now(UTC) - timedelta(seconds=10)
        with store.begin() as s:
            names = s.scalars(select(RunLock.name).where(RunLock.name.like("worker:%"), RunLock.heartbeat_at >= cutoff))
            if len(pids & {int(name.rpartition(":")[2]) for name in names}) == n:
                return procs
        time.sleep(0.2)
    for p in procs:
        p.kill()
    raise SystemExit(f"the workers did not start; see {workdir}/worker*.log")


def stop_workers(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def postgres_cpu() -> float:
    """CPU seconds of every ``postgres`` process of this machine so far, plus what the postmaster has reaped of
    its exited children (backends of closed connections) — a counter that only grows."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                raw = fh.read()
        except OSError:
            continue
        name = raw[raw.find("(") + 1 : raw.rfind(")")]
        if not name.startswith("postgres"):
            continue
        fields = raw.rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
        if fields[1] != "0" and _name_of(int(fields[1])) not in {"postgres"}:  # the postmaster: add reaped children
            total += int(fields[13]) + int(fields[14])  # cutime, cstime
    return total / tick


def _name_of(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm", encoding="ascii", errors="replace") as fh:
            return fh.read().strip()
    except OSError:
        return ""


class LoadSampler(threading.Thread):
    """The 1-minute load average every few seconds while a run lasts."""

    def __init__(self, every: float = 5.0) -> None:
        super().__init__(daemon=True)
        self.every, self.samples, self.done = every, [os.getloadavg()[0]], threading.Event()

    def run(self) -> None:
        while not self.done.wait(self.every):
            self.samples.append(os.getloadavg()[0])

    def stop(self) -> dict[str, float]:
        self.done.set()
        self.join()
        return {"mean": round(sum(self.samples) / len(self.samples), 2), "max": round(max(self.samples), 2)}


def phase_figures(tasks: list[Any]) -> dict[str, dict[str, Any]]:
    """Per phase: its window (first task start → last task finish), summed task CPU and wall, tasks, slowest."""
    out: dict[str, dict[str, Any]] = {}
    for t in tasks:
        if t.started_at is None or t.finished_at is None:
            continue
        c = t.counters or {}
        p = out.setdefault(
            t.phase, {"start": t.started_at, "end": t.finished_at, "cpu_s": 0.0, "task_wall_s": 0.0, "tasks": 0}
        )
        p["start"], p["end"] = min(p["start"], t.started_at), max(p["end"], t.finished_at)
        p["cpu_s"] += float(c.get("cpu_s") or 0.0)
        p["task_wall_s"] += float(c.get("wall_s") or 0.0)
        p["slowest_s"] = max(p.get("slowest_s", 0.0), float(c.get("wall_s") or 0.0))
        p["tasks"] += 1
        p.setdefault("workers", set()).add(t.worker)
    for p in out.values():
        p["wall_s"] = (p["end"] - p["start"]).total_seconds()
        p["workers"] = len(p["workers"])
    return out


def one_run(args: argparse.Namespace, n: int, schemas: Schemas) -> dict[str, Any]:
    """One full sync on ``n`` workers over a fresh world and a fresh schema."""
    from sqlalchemy import select

    from crmhub.core.report import RunReport
    from crmhub.store import Store
    from crmhub.store.tables import SyncRun, SyncTask

    workdir = Path(f"var/bench/sync_workers_{args.clients}_{n}").resolve()
    ledger, detail = ledger_streams_for(False)
    sandbox = start_sandbox(workdir, args.clients, args.seed, args.speed, ledger_detail=detail)
    schema = schemas.create()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        url = schema_url(args.database_url, schema)
        cfg = write_config(workdir / "crmhub.toml", sandbox, url, args.partitions, ledger)
        store = Store.open(url)  # migrates the fresh schema
        add = ["users", "add", OPERATOR, "--role", "admin", "--role", "operator", "-c", str(cfg)]
        if crmhub(add, workdir, "users.log").wait():
            raise SystemExit(f"could not register the bench's operator; see {workdir}/users.log")
        procs = start_workers(n, cfg, workdir, store)
        sim0, pg0, cpu0 = proc_cpu_seconds(sandbox.proc.pid), postgres_cpu(), [proc_cpu_seconds(p.pid) for p in procs]
        load = LoadSampler()
        load.start()
        began = time.monotonic()
        caller = crmhub(["sync", "--on-workers", "-c", str(cfg)], workdir, "sync.log")
        code = caller.wait()
        wall = time.monotonic() - began
        loadavg = load.stop()
        sim_cpu, pg_cpu = proc_cpu_seconds(sandbox.proc.pid) - sim0, postgres_cpu() - pg0
        workers = [
            {"pid": p.pid, "peak_mib": round(proc_peak_mib(p.pid), 1), "cpu_s": round(proc_cpu_seconds(p.pid) - c, 2)}
            for p, c in zip(procs, cpu0, strict=True)
        ]
        stop_workers(procs)
        with store.begin() as s:
            run = s.scalars(select(SyncRun).order_by(SyncRun.id.desc())).first()
            if run is None:
                raise SystemExit(f"no run was stored; see {workdir}/sync.log")
            tasks = list(s.scalars(select(SyncTask).where(SyncTask.run_id == run.id)))
            if not run.report:
                raise SystemExit(f"run {run.id} ended {run.status!r} without a report; see {workdir}/sync.log")
            status, report = run.status, RunReport.model_validate(run.report)
        store.dispose()
    finally:
        stop_workers(procs)
        sandbox.stop()
        schemas.drop(schema)
    read = sum(int(st.get("read", 0)) for _, _, st in report.stream_rows())
    phases = phase_figures(tasks)
    engine = [phases[p] for p in ENGINE if p in phases]
    engine_wall = (max(p["end"] for p in engine) - min(p["start"] for p in engine)).total_seconds() if engine else 0
    engine_cpu = sum(p["cpu_s"] for p in engine)
    serial = sum(phases[p]["wall_s"] for p in ("match", "link") if p in phases)
    tries = {f"{t.phase}:{t.part}": t.tries for t in tasks if t.tries > 1}
    return {
        "workers": n,
        "clients": args.clients,
        "speed": args.speed,
        "real_limits": args.speed == 1,
        "exit_code": code,
        "status": status,
        "records_read": read,
        "wall_s": round(wall, 2),
        "engine_wall_s": round(engine_wall, 2),
        "engine_cpu_s": round(engine_cpu, 2),
        "engine_records_per_s": round(read / engine_wall, 1) if engine_wall else None,
        "engine_cpu_us_per_record": round(engine_cpu / read * 1e6, 1) if read else None,
        "engine_serial_s": round(serial, 2),
        "engine_gaps_s": round(engine_wall - sum(p["wall_s"] for p in engine), 2),
        "phases": {
            name: {
                "wall_s": round(p["wall_s"], 2),
                "cpu_s": round(p["cpu_s"], 2),
                "tasks": p["tasks"],
                "workers": p["workers"],
                "slowest_task_s": round(p["slowest_s"], 2),
            }
            for name, p in sorted(phases.items(), key=lambda kv: kv[1]["start"])
        },
        "retried_tasks": tries,
        "worker_processes": workers,
        "simulators_cpu_s": round(sim_cpu, 2),
        "postgres_cpu_s": round(pg_cpu, 2),
        "load_1min": loadavg,
        "partitions": args.partitions,
        "golden_created": report.totals.clients_created,
        "written_back": report.totals.written_back,
    }


def show(row: dict[str, Any], base: dict[str, Any] | None) -> None:
    sped = speed_label(row["speed"])
    label = f"{row['clients']:,} companies, {row['workers']} worker(s)" + (f" [{sped}]" if sped else "")
    if base is not None and base["engine_records_per_s"] and row["engine_records_per_s"]:
        row["engine_speedup"] = round(row["engine_records_per_s"] / base["engine_records_per_s"], 2)
    print(
        f"{label}: {row['status']} (exit {row['exit_code']}), {row['records_read']:,} records read, whole run "
        f"{row['wall_s']:.1f} s wall" + (f" [{sped}]" if sped else "")
    )
    print(
        f"  engine phases (match → plan): {row['engine_wall_s']:.1f} s wall, {row['engine_cpu_s']:.1f} s task CPU "
        f"({row['engine_cpu_us_per_record']} µs/record), {row['engine_records_per_s']:,} records/s"
        + (f", {row['engine_speedup']}× the 1-worker run" if "engine_speedup" in row else "")
    )
    share = row["engine_serial_s"] / row["engine_wall_s"] if row["engine_wall_s"] else 0.0
    row["engine_serial_share"] = round(share, 3)
    cores = os.cpu_count() or 1
    first = base["engine_serial_share"] if base is not None else share  # the bound follows the 1-worker run's share
    bounds = {m: 1 / (first + (1 - first) / min(m, cores)) for m in (2, 4)}
    print(
        f"  of which match + link (one task each, serial): {row['engine_serial_s']:.1f} s = {share:.0%}; gaps between "
        f"phases (barriers, queue pick-up): {row['engine_gaps_s']:.1f} s; Amdahl bound at the 1-worker run's share on "
        f"{cores} cores: " + ", ".join(f"{m} workers ≤ {b:.2f}×" for m, b in bounds.items())
    )
    print(f"  {'phase':<8} {'wall s':>8} {'CPU s':>8} {'tasks':>6} {'workers':>8} {'slowest s':>10}")
    for name, p in row["phases"].items():
        note = f" [{sped}]" if sped and name in ("ingest", "deliver") else ""
        print(
            f"  {name:<8} {p['wall_s']:8.2f} {p['cpu_s']:8.2f} {p['tasks']:6d} {p['workers']:8d} "
            f"{p['slowest_task_s']:10.2f}{note}"
        )
    for w in row["worker_processes"]:
        print(f"  worker pid {w['pid']}: peak RSS {w['peak_mib']:.0f} MiB, {w['cpu_s']:.1f} s CPU (whole run)")
    print(
        f"  apart: simulators {row['simulators_cpu_s']:.1f} s CPU, PostgreSQL server {row['postgres_cpu_s']:.1f} s "
        f"CPU (machine-wide); load (1 min) mean {row['load_1min']['mean']}, max {row['load_1min']['max']}"
        + (f"; tasks tried more than once: {row['retried_tasks']}" if row["retried_tasks"] else "")
    )
    print(json.dumps(row, ensure_ascii=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=100_000, help="companies in the world (default 100,000)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4], help="worker counts, first = baseline")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--partitions", type=int, default=8, help="[sync.workers] partitions (default 8)")
    parser.add_argument(
        "--speed", type=float, default=1.0, help="shorten the simulators' rate windows N× (default 1: the real limits)"
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("CRMHUB_TEST_DATABASE_URL", DEFAULT_URL),
        help="PostgreSQL database to create this bench's schemas in (default $CRMHUB_TEST_DATABASE_URL)",
    )
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    print(
        env_note()
        + (f"; simulators {speed_label(args.speed)}" if args.speed != 1 else "; real API limits")
        + f"; {args.partitions} partitions"
    )
    schemas = Schemas(args.database_url)
    base: dict[str, Any] | None = None
    try:
        for n in args.workers:
            row = one_run(args, n, schemas)
            show(row, base)
            base = base or row
    finally:
        schemas.close()


if __name__ == "__main__":
    main()
