"""``crmhub scheduler run``, ``crmhub jobs list|run`` and ``crmhub worker``: the scheduled jobs of ``[jobs.*]``.

Every way of running a job goes through `crmhub.jobs.runner.run_job`, so ``jobs run NAME`` behaves exactly like
the scheduled run it stands in for (locks, timeout, job_state, report) — only its trigger says ``manual``.
The scheduler and workers write structured JSON lines to stdout (see docs/scaling.md); ``jobs`` commands print
tables or, with ``--json``, one JSON object per line.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from crmhub.cli.common import ConfigOption, console, err_console, load_context, run, write_json_line
from crmhub.core import exit_codes
from crmhub.core.exit_codes import ExitCode
from crmhub.display import label, local_time
from crmhub.errors import InputError
from crmhub.i18n import bilingual, current_lang
from crmhub.masking import mask_text

if TYPE_CHECKING:
    from crmhub.sync.run_tasks import RunningRun

scheduler_app = typer.Typer(
    help="The embedded scheduler: run the configured jobs on one machine.", no_args_is_help=True
)
jobs_app = typer.Typer(help="Scheduled jobs: their schedule and last results; run one now.", no_args_is_help=True)

_COLOUR = {
    "succeeded": "green",
    "partial": "yellow",
    "failed": "red",
    "interrupted": "yellow",
    "locked": "magenta",
    "running": "cyan",
}


def _status(value: str | None) -> Text:
    if not value:
        return Text("-")
    return Text(label("run_status", value), style=_COLOUR.get(value, "white"))


def _when(iso: str | None) -> str:
    """A past time in the configured zone, ``YYYY-MM-DD HH:MM:SS``."""
    return local_time(iso)


def _next(iso: str | None) -> str:
    """The next run in the job's own zone (its cron is read in that zone), without the offset noise."""
    return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M:%S") if iso else "-"


def _no_jobs(source: str | None) -> InputError:
    return InputError(
        bilingual(f"{source or '配置'} 中没有 [jobs.*] 作业", f"no [jobs.*] tables in {source or 'the config'}"),
        hint=bilingual(
            '添加例如 [jobs.nightly_sync] cron = "0 2 * * *"（见 docs/scaling.md）',
            'add e.g. [jobs.nightly_sync] cron = "0 2 * * *" (see docs/scaling.md)',
        ),
    )


@scheduler_app.command("run")
def scheduler_run(
    config: Path | None = ConfigOption,
    grace: float = typer.Option(
        120.0, "--grace", min=0, help="Seconds a stopping scheduler waits for the running job's safe point."
    ),
) -> None:
    """Run the configured job schedules on this machine until SIGTERM or SIGINT (logs: JSON lines on stdout)."""
    from crmhub.jobs import joblog
    from crmhub.jobs.scheduler import EmbeddedScheduler

    ctx = load_context(config)
    if not ctx.settings.jobs:
        raise _no_jobs(ctx.settings.source)
    joblog.setup()
    store = ctx.open_store()
    try:
        code = run(EmbeddedScheduler(ctx.settings, ctx.registry, store, grace=grace).run(signals=True))
    finally:
        store.dispose()
    if code:
        raise SystemExit(code)


@jobs_app.command("list")
def jobs_list(
    config: Path | None = ConfigOption,
    json_out: bool = typer.Option(False, "--json", help="One JSON object per job and line."),
    recent: int = typer.Option(5, "--recent", min=0, help="How many recent results to include with --json."),
) -> None:
    """Each job's schedule, next run (in its time zone) and last result."""
    from crmhub.jobs.state import overview
    from crmhub.sync.run_tasks import progress_by_job, running_runs

    ctx = load_context(config)
    store = ctx.open_store()
    try:
        rows = overview(ctx.settings, store, recent=recent)
        with store.begin() as s:
            distributed = running_runs(s)
    finally:
        store.dispose()
    progress = progress_by_job(distributed)
    for row in rows:  # a job's run split over workers: how far it got
        row["progress"] = progress.get(row["job"])
    if json_out:
        for row in rows:
            write_json_line(row)
        return
    if distributed:
        console.print(_progress_table(distributed))
    if not rows:
        console.print(bilingual("没有配置作业（[jobs.*]）", "no jobs configured ([jobs.*])"))
        return
    table = Table(title=bilingual("计划作业", "Scheduled jobs"))
    for col in (
        bilingual("作业", "job"),
        bilingual("命令", "command"),
        "cron",
        bilingual("下次运行", "next run"),
        bilingual("上次结果", "last result"),
        bilingual("运行编号", "run id"),
        bilingual("开始", "started"),
        bilingual("结束", "finished"),
        bilingual("次数", "runs"),
    ):
        table.add_column(col)
    for r in rows:
        last = r["last"]
        next_run = f"{_next(r['next_run'])} {r['timezone']}" if r["enabled"] else bilingual("已停用", "disabled")
        table.add_row(
            r["job"],
            r["command"],
            r["cron"],
            next_run,
            _status(last["status"]),
            str(last["run_id"] or "-"),
            _when(last["started_at"]),
            _when(last["finished_at"]),
            str(r["runs"]),
        )
    console.print(table)
    for r in rows:
        if r["last"]["error"] and r["last"]["status"] not in ("succeeded", "running"):
            console.print(f"[dim]{escape(r['job'])}: {escape(mask_text(str(r['last']['error'])))}[/dim]", markup=True)


def _progress_table(runs: list[RunningRun]) -> Table:
    """Sync runs split over workers that are still going: the phase each is in and its tasks done."""
    from crmhub.reporting.labels import label as report_label

    lang = current_lang()
    table = Table(title=bilingual("进行中的分布式同步", "Distributed syncs in progress"))
    for col in (
        bilingual("运行编号", "run id"),
        bilingual("作业", "job"),
        bilingual("开始", "started"),
        bilingual("阶段", "phase"),
        bilingual("阶段完成", "phase done"),
        bilingual("任务完成", "tasks done"),
        bilingual("运行中", "running"),
        bilingual("失败", "failed"),
    ):
        table.add_column(col)
    for r in runs:
        p = r.progress
        table.add_row(
            str(r.run_id),
            r.job or bilingual("（手动）", "(manual)"),
            _when(r.started_at.isoformat()),
            report_label(p.phase, lang) if p.phase else "-",
            f"{p.phase_done}/{p.phase_total}",
            f"{p.done}/{p.total}",
            str(p.running),
            Text(str(p.failed), style="red" if p.failed else ""),
        )
    return table


@jobs_app.command("run")
def jobs_run(
    name: str = typer.Argument(..., help="A job name under [jobs]."),
    config: Path | None = ConfigOption,
    json_out: bool = typer.Option(False, "--json", help="Print the outcome as one JSON object."),
    wait: float = typer.Option(0.0, "--wait", min=0, help="Seconds to wait for busy connector locks."),
    defer: bool = typer.Option(False, "--defer", help="Queue it for the workers instead (PostgreSQL store)."),
) -> None:
    """Run one job now, through the same code as its scheduled runs (or queue it for the workers)."""
    from crmhub.jobs.runner import job_settings, run_job

    ctx = load_context(config)
    job_settings(ctx.settings, name)
    store = ctx.open_store()
    try:
        if defer:
            job_id = run(_defer(ctx, store, name))
            if json_out:
                write_json_line({"job": name, "queued": job_id is not None, "procrastinate_job": job_id})
            else:
                console.print(
                    bilingual(f"作业 {name} 已排队（#{job_id}）", f"job {name} queued (#{job_id})")
                    if job_id is not None
                    else bilingual(f"作业 {name} 已有一次运行在排队", f"a run of job {name} is already queued")
                )
            return
        outcome = run(run_job(ctx.settings, ctx.registry, name, "manual", store=store, lock_wait=wait))
    finally:
        store.dispose()
    if json_out:
        write_json_line(outcome.as_dict())
    else:
        head = bilingual(f"作业 {name}（{outcome.command}）：", f"job {name} ({outcome.command}): ")
        console.print(
            Text.assemble(
                head,
                _status(outcome.status),
                f"  run #{outcome.run_id}" if outcome.run_id else "",
                f"  {outcome.duration_s}s",
            )
        )
        if outcome.error and not outcome.ok:
            err_console.print(f"[red]{escape(mask_text(outcome.error))}[/red]", markup=True)
        if outcome.run_id:
            console.print(
                bilingual(
                    f"查看报告：crmhub report {outcome.run_id}", f"see the report: crmhub report {outcome.run_id}"
                )
            )
    code = exit_codes.for_status(outcome.status)
    if code:
        raise SystemExit(code)


async def _defer(ctx: Any, store: Any, name: str) -> int | None:
    import time as _time

    from crmhub.jobs.worker import build_app, defer, ensure_schema, procrastinate_schema, require_postgres

    require_postgres(store)
    schema = procrastinate_schema(ctx.settings.store.url)
    ensure_schema(ctx.settings.store.url, schema)
    app = build_app(ctx.settings, ctx.registry, store, schema=schema)
    async with app.open_async():
        return await defer(app, ctx.settings, name, timestamp=int(_time.time()), trigger="manual", periodic=False)


def worker(
    config: Path | None = ConfigOption,
    concurrency: int = typer.Option(1, "--concurrency", min=1, help="Worker processes on this machine."),
    grace: float = typer.Option(
        120.0, "--grace", min=0, help="Seconds a stopping worker waits for the running job's safe point."
    ),
    stalled_after: float = typer.Option(
        60.0, "--stalled-after", min=5, help="Seconds without heartbeats after which a worker counts as dead."
    ),
) -> None:
    """Run jobs from the PostgreSQL queue (and queue the scheduled ticks); start as many as you like, anywhere."""
    if concurrency > 1:
        raise SystemExit(_supervise(config, concurrency, grace, stalled_after))
    from crmhub.jobs import joblog
    from crmhub.jobs.worker import require_postgres, run_worker

    ctx = load_context(config)
    store = ctx.open_store()
    try:
        require_postgres(store)
        joblog.setup()
        code = run(run_worker(ctx.settings, ctx.registry, store, grace=grace, stalled_after=stalled_after))
    finally:
        store.dispose()
    _exit_within(5.0, code)
    if code:
        raise SystemExit(code)


def _exit_within(seconds: float, code: int) -> None:
    """The worker has stopped and logged so; if the interpreter's own shutdown then waits on a straggling thread (a
    database call the stop cut short, joined by the thread pools at exit), leave anyway after ``seconds`` — every
    committed page is kept and a job is re-queued, so nothing is lost by not waiting."""

    def leave() -> None:
        import faulthandler

        print(
            bilingual(
                "工作进程已停止，但仍有线程在运行；以下是其调用栈，随后退出：",
                "worker stopped but a thread was still running; its stack, then exiting:",
            ),
            file=sys.stderr,
        )
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)  # for the bug report: who straggled
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)

    timer = threading.Timer(seconds, leave)
    timer.daemon = True
    timer.start()


def _supervise(config: Path | None, n: int, grace: float, stalled_after: float) -> int:
    """``--concurrency N``: N worker processes (one job each at a time: crmhub's run locks are per process, and
    the merge is CPU-bound). SIGTERM/SIGINT is passed on once to each; a child that dies is started again."""
    args = [sys.executable, "-m", "crmhub.cli", "worker", "--grace", str(grace), "--stalled-after", str(stalled_after)]
    if config is not None:
        args += ["-c", str(config)]
    env = {**os.environ, "CRMHUB_LANG": current_lang()}
    stopping: list[int] = []

    def spawn() -> subprocess.Popen[bytes]:
        return subprocess.Popen(args, env=env, start_new_session=True)

    children = [spawn() for _ in range(n)]

    def on_signal(signum: int, _frame: Any) -> None:
        stopping.append(signum)
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM if len(stopping) == 1 else signal.SIGKILL)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    while True:
        for i, child in enumerate(children):
            code = child.poll()
            # a configuration problem or a refusal: restarting cannot help
            if code in (ExitCode.USAGE, ExitCode.LOCKED) and not stopping:
                on_signal(signal.SIGTERM, None)
                for other in children:
                    other.wait()
                return code
            if code is not None and not stopping:
                err_console.print(
                    bilingual(
                        f"工作进程 {child.pid} 退出（{code}），5 秒后重启",
                        f"worker process {child.pid} exited ({code}); restarting in 5s",
                    )
                )
                time.sleep(5)
                children[i] = spawn()
        if stopping and all(c.poll() is not None for c in children):
            return 0
        time.sleep(0.5)
