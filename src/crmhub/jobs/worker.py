"""Distributed execution: ``crmhub worker`` — procrastinate workers on the PostgreSQL store, any number of machines.

* **Schema**: procrastinate's tables live in their own schema of the store's database — ``procrastinate``, or
  ``<store schema>_procrastinate`` when ``[store].url`` sets a ``search_path`` — created by the first worker under
  an advisory lock (so many workers starting together apply it once) and left alone afterwards.
* **Ticks, once**: every worker runs a `Deferrer` that computes the ``[jobs.*]`` ticks in each job's time zone
  (`crmhub.jobs.schedule`) and defers them through procrastinate's periodic-defer table, whose unique
  ``(task, periodic id, timestamp)`` row makes a tick one job however many workers defer it. A ``queueing_lock``
  per job keeps at most one run of a job waiting; a tick that finds one waiting is skipped (coalesced).
* **Never two writers**: each job is deferred with procrastinate's ``lock`` — its connectors for a sync (the
  same names as crmhub's run locks), ``engine:merge`` for risk, ``job:<name>`` otherwise — and the job itself
  takes crmhub's run locks (``job:<name>``, and the engine's connector locks), which a manual ``crmhub sync``
  respects too. A job that finds a lock busy (`LockedError`) or hit a `RetriableError` is retried with
  exponential backoff; a fatal failure is not.
* **Dead workers**: a worker whose procrastinate heartbeat and crmhub lock heartbeats both stopped is dead; any
  other worker's recovery pass releases its locks, marks its sync run interrupted and re-queues its job.
* **Stopping**: SIGTERM asks the running job to stop at its next safe point; it is re-queued (nothing lost, the
  engine resumes from the committed cursors) and the worker exits; after ``grace`` seconds it exits regardless —
  timed by a watchdog thread (`crmhub.jobs.stopping`), so a blocked or closed event loop cannot keep it alive.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from sqlalchemy.engine import make_url

from crmhub.core.exit_codes import ExitCode
from crmhub.errors import InputError, LockedError, StoreError
from crmhub.i18n import bilingual
from crmhub.jobs import joblog, liveness, state
from crmhub.jobs.guard import StopToken
from crmhub.jobs.runner import job_settings, run_job
from crmhub.jobs.runs import queue as sync_tasks
from crmhub.jobs.schedule import LATE_OK, Schedule
from crmhub.jobs.scheduler import Clock, SystemClock
from crmhub.jobs.stopping import StopSignals
from crmhub.store import Store
from crmhub.store.db import normalize_url
from crmhub.store.locks import LockSet, holder_id
from crmhub.sync.engine import MERGE_LOCK
from crmhub.sync.recovery import recover_dead_runs

if TYPE_CHECKING:
    import procrastinate

    from crmhub.config import Settings
    from crmhub.plugins import Registry

log = logging.getLogger("crmhub.jobs")

QUEUE = sync_tasks.QUEUE
TASK = "crmhub.run_job"
RETRY_BASE = 2.0
RETRY_CAP = 900.0
MAX_ATTEMPTS = 12
DEFAULT_GRACE = 120.0
RUNNING: set[StopToken] = set()
"""Stop tokens of the jobs running in this process (the signal handler asks each to stop)."""


class JobRetriable(Exception):
    """The job may succeed later (busy lock, transient failure, interrupted by a shutdown): retry it."""

    def __init__(self, message: str, *, immediate: bool = False) -> None:
        super().__init__(message)
        self.immediate = immediate


class JobFailed(Exception):
    """The job failed for a reason a retry will not fix; it is marked failed in procrastinate too."""


# --- database plumbing ----------------------------------------------------------------------------------------


def require_postgres(store: Store) -> None:
    """Workers coordinate through PostgreSQL; anything else is a clear error."""
    if store.dialect != "postgresql":
        raise InputError(
            bilingual(
                f"`crmhub worker` 需要 PostgreSQL 存储；当前存储是 {store.dialect}",
                f"`crmhub worker` needs a PostgreSQL store; [store].url is {store.dialect}",
            ),
            hint=bilingual(
                '设置 [store] url = "postgresql+psycopg://用户@主机:5432/库"；单机请用 `crmhub scheduler run`',
                'set [store] url = "postgresql+psycopg://user@host:5432/db"; on one machine use `crmhub scheduler run`',
            ),
        )
    try:
        import procrastinate  # noqa: F401
    except ImportError:
        raise StoreError(
            "procrastinate is not installed", hint="install the postgres extra: pip install 'crmhub[postgres]'"
        ) from None


def _options(url: str) -> str:
    value = make_url(normalize_url(url)).query.get("options", "")
    return unquote(" ".join(value) if isinstance(value, tuple) else value)


def procrastinate_schema(url: str) -> str:
    """``procrastinate``, or ``<store schema>_procrastinate`` when the store URL sets a search_path."""
    m = re.search(r"search_path\s*=\s*\"?([A-Za-z_][A-Za-z0-9_]*)", _options(url))
    return f"{m.group(1)}_procrastinate" if m and m.group(1) != "public" else "procrastinate"


def conninfo(url: str, schema: str) -> str:
    """A libpq connection string for procrastinate: the store's database, ``search_path`` = its schema."""
    from psycopg.conninfo import make_conninfo

    u = make_url(normalize_url(url))
    other = re.sub(r"-c\s*search_path\s*=\s*\S+", "", _options(url)).strip()
    params: dict[str, Any] = {k: (v[-1] if isinstance(v, tuple) else v) for k, v in u.query.items() if k != "options"}
    params.update(
        {
            "host": u.host,
            "port": u.port,
            "user": u.username,
            "password": u.password,
            "dbname": u.database,
            "options": f"{other} -c search_path={schema}".strip(),
        }
    )
    return make_conninfo("", **{k: v for k, v in params.items() if v is not None})


def ensure_schema(url: str, schema: str) -> bool:
    """Apply procrastinate's schema to ``schema`` unless it is there; True when it was created now."""
    import psycopg
    from procrastinate import __version__ as version
    from procrastinate.schema import SchemaManager
    from psycopg import sql

    with psycopg.connect(conninfo(url, schema)) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"crmhub:procrastinate:{schema}"])
        found = conn.execute("SELECT to_regnamespace(%s) IS NOT NULL", [schema]).fetchone()
        if not (found and found[0]):  # a schema a DBA created beforehand needs no CREATE right on the database
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        row = conn.execute(
            "SELECT to_regclass(%s)::text, obj_description(to_regnamespace(%s), 'pg_namespace')",
            [f"{schema}.procrastinate_jobs", schema],
        ).fetchone()
        if row is not None and row[0]:
            if row[1] and row[1] != f"procrastinate {version}":
                log.warning(
                    "procrastinate schema %s was created by %s, this is procrastinate %s: apply its "
                    "migrations (see docs/scaling.md)",
                    schema,
                    row[1],
                    version,
                )
            return False
        conn.execute(sql.SQL("SET LOCAL search_path TO {}").format(sql.Identifier(schema)))
        conn.execute(SchemaManager.get_schema())
        conn.execute(
            sql.SQL("COMMENT ON SCHEMA {} IS {}").format(
                sql.Identifier(schema), sql.Literal(f"procrastinate {version}")
            )
        )
    return True


# --- the task ---------------------------------------------------------------------------------------------------


def procrastinate_lock(settings: Settings, name: str) -> str:
    """The procrastinate ``lock`` of a job: runs sharing it never overlap, on any worker."""
    job = job_settings(settings, name)
    if job.command == "sync":
        names = job.connectors or [n for n, c in settings.connectors.items() if c.enabled]
        return ("connector:" + ",".join(sorted(names)))[:200] if names else liveness.job_lock(name)
    if job.command == "deliver":  # a target's deliverers never overlap (the deliver lock says so again in-store)
        names = job.connectors or [n for n, c in settings.connectors.items() if c.enabled]
        return ("deliver:" + ",".join(sorted(names)))[:200] if names else liveness.job_lock(name)
    if job.command == "risk assess":
        return MERGE_LOCK
    return liveness.job_lock(name)


class Backoff:
    """Retry `JobRetriable` failures: at once after a shutdown, else ``RETRY_BASE · 2^attempts`` (capped)."""

    def get_retry_exception(self, exception: BaseException, job: Any) -> Any:
        from procrastinate.exceptions import JobRetry
        from procrastinate.retry import RetryDecision

        if not isinstance(exception, JobRetriable) or job.attempts >= MAX_ATTEMPTS:
            return None
        delay = 0.0 if exception.immediate else min(RETRY_CAP, RETRY_BASE * 2**job.attempts)
        return JobRetry(RetryDecision(retry_at=datetime.now(UTC) + timedelta(seconds=delay)))


def build_app(settings: Settings, registry: Registry, store: Store, *, schema: str | None = None) -> procrastinate.App:
    """A procrastinate app on the store's database with crmhub's one task, ``crmhub.run_job``."""
    import procrastinate
    from procrastinate.retry import BaseRetryStrategy

    schema = schema or procrastinate_schema(settings.store.url)
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=conninfo(settings.store.url, schema)))
    executor = f"worker:{holder_id()}"

    async def crmhub_run_job(
        context: procrastinate.JobContext, job: str, timestamp: int, trigger: str = "scheduler"
    ) -> dict[str, Any]:
        token = StopToken()
        RUNNING.add(token)
        tick = datetime.fromtimestamp(timestamp, UTC) if trigger == "scheduler" else None
        try:
            outcome = await run_job(
                settings,
                registry,
                job,
                trigger,
                store=store,
                token=token,
                tick=tick,
                lock_wait=0,
                executor=executor,
                take_tick=tick is not None,
                meta={"procrastinate_job": context.job.id},
            )
        except InputError:
            raise  # the job is no longer configured: retrying cannot help
        except Exception as exc:  # the store was unreachable, say: try again later
            raise JobRetriable(f"{type(exc).__name__}: {exc}") from exc
        finally:
            RUNNING.discard(token)
        if outcome.ok:
            return outcome.as_dict()
        if outcome.retriable:
            raise JobRetriable(outcome.error or outcome.status, immediate=outcome.status == "interrupted")
        raise JobFailed(outcome.error or outcome.status)

    strategy: BaseRetryStrategy = Backoff()  # type: ignore[assignment]  # duck-typed: procrastinate is optional
    app.task(name=TASK, queue=QUEUE, pass_context=True, retry=strategy)(crmhub_run_job)
    sync_tasks.register(
        app, settings, registry, store, retry=strategy, retriable=JobRetriable, fatal=JobFailed, running=RUNNING
    )
    return app


async def defer(
    app: procrastinate.App,
    settings: Settings,
    name: str,
    *,
    timestamp: int,
    trigger: str = "scheduler",
    periodic: bool = True,
) -> int | None:
    """Queue one run of job ``name``; None when that tick is already deferred or a run already waits."""
    from procrastinate.exceptions import AlreadyEnqueued

    deferrer = app.configure_task(
        TASK,
        lock=procrastinate_lock(settings, name),
        queueing_lock=liveness.job_lock(name),
        allow_unknown=False,
        task_kwargs={"job": name, "timestamp": timestamp, "trigger": trigger},
    )
    try:
        if periodic:
            return await app.job_manager.defer_periodic_job(deferrer.job, periodic_id=name, defer_timestamp=timestamp)
        return await deferrer.defer_async()
    except AlreadyEnqueued:
        return None


# --- periodic deferral and recovery ------------------------------------------------------------------------------


@dataclass(slots=True)
class Deferred:
    """One tick a deferrer tried to queue (``job_id`` None: someone else did, or a run still waits)."""

    job: str
    tick: datetime
    job_id: int | None


class Deferrer:
    """Defers the ticks of every enabled ``[jobs.*]`` entry; many may run, each tick becomes one job."""

    def __init__(
        self, app: procrastinate.App, settings: Settings, *, clock: Clock | None = None, late_ok: timedelta = LATE_OK
    ) -> None:
        self.app = app
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.late_ok = late_ok
        self.schedules = {n: Schedule.of(j) for n, j in settings.jobs.items() if j.enabled}
        self.cursor: dict[str, datetime] = {}

    async def _last_deferred(self, name: str) -> datetime | None:
        row = await self.app.connector.execute_query_one_async(
            "SELECT max(defer_timestamp) AS ts FROM procrastinate_periodic_defers "
            "WHERE task_name = %(task)s AND periodic_id = %(job)s",
            task=TASK,
            job=name,
        )
        return datetime.fromtimestamp(row["ts"], UTC) if row and row["ts"] is not None else None

    async def start(self, boot: datetime) -> list[Deferred]:
        """Cursors from the ticks already deferred; a recent tick (within ``late_ok``) still runs, older missed
        ones follow ``catch_up``."""
        out = []
        for name, schedule in self.schedules.items():
            latest = schedule.latest_at_or_before(boot)
            last = await self._last_deferred(name)
            self.cursor[name] = latest
            if last is not None and latest > last:
                if self.settings.jobs[name].catch_up == "once" or boot - latest <= self.late_ok:
                    out.append(await self._defer(name, latest))
                else:
                    joblog.event(
                        "job_skipped",
                        bilingual(
                            f"作业 {name} 停机期间错过的触发按 catch_up = skip 跳过",
                            f"job {name}: ticks missed while no worker ran are skipped (catch_up = skip)",
                        ),
                        job=name,
                        tick=latest.isoformat(),
                        reason="catch_up=skip",
                    )
        return out

    async def tick(self, now: datetime | None = None) -> list[Deferred]:
        """Defer every tick since the last call."""
        now = now or self.clock.now()
        out = []
        for name, schedule in self.schedules.items():
            for tick in schedule.ticks_between(self.cursor[name], now):
                out.append(await self._defer(name, tick))
                self.cursor[name] = tick
        return out

    async def _defer(self, name: str, tick: datetime) -> Deferred:
        job_id = await defer(self.app, self.settings, name, timestamp=int(tick.timestamp()))
        if job_id is not None:
            joblog.event(
                "job_deferred",
                bilingual(f"作业 {name} 已排队", f"job {name} queued"),
                job=name,
                tick=tick.isoformat(),
                procrastinate_job=job_id,
            )
        return Deferred(name, tick, job_id)

    async def loop(self) -> None:
        """Defer ticks as they come, forever; a failing database is retried, never the end of the loop."""
        started = False
        while True:
            now = self.clock.now()
            try:
                if not started:
                    await self.start(now)
                    started = True
                await self.tick(now)
            except Exception:
                log.exception("deferring scheduled jobs failed; trying again in 5 s")
                await self.clock.sleep(5.0)
                continue
            nxt = min((s.next_after(now) for s in self.schedules.values()), default=now + timedelta(seconds=60))
            await self.clock.sleep(max(0.2, min(60.0, (nxt - self.clock.now()).total_seconds() + 0.2)))


async def recover_stalled(app: procrastinate.App, store: Store, *, stalled_after: float) -> list[int]:
    """Re-queue jobs of dead workers (procrastinate heartbeat *and* crmhub lock heartbeats stale)."""
    stale = timedelta(seconds=stalled_after)
    recovered = []
    for job in await app.job_manager.get_stalled_jobs(task_name=TASK, seconds_since_heartbeat=stalled_after):
        name = str(job.task_kwargs.get("job"))
        view = (await asyncio.to_thread(state.load, store, [name])).get(name)
        running = (view.running if view else None) or {}
        holder = running.get("holder") if running.get("procrastinate_job") == job.id else None
        if holder and await asyncio.to_thread(liveness.holder_alive, store, holder, stale=stale):
            continue  # its event loop is slow, but the process is alive: leave it
        await asyncio.to_thread(liveness.reap_dead_runners, store, stale=stale, only=name)
        try:
            await app.job_manager.retry_job(job)
        except Exception as exc:  # another worker retried it first, or a newer run of the job already waits
            from procrastinate import jobs as pjobs

            log.info("stalled job %s not re-queued (%s); marking it failed", job.id, exc)
            try:
                await app.job_manager.finish_job(job, status=pjobs.Status.FAILED, delete_job=False)
            except Exception:
                continue
        joblog.event(
            "job_requeued",
            bilingual(f"作业 {name} 的工作进程已失联，已重新排队", f"job {name}: its worker died; queued again"),
            level=logging.WARNING,
            job=name,
            procrastinate_job=job.id,
            holder=holder,
        )
        recovered.append(int(job.id or 0))
    return recovered


# --- the worker process ------------------------------------------------------------------------------------------


async def _every(seconds: float, work: Any) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            await work()
        except Exception:
            log.exception("periodic worker task failed")


async def run_worker(
    settings: Settings,
    registry: Registry,
    store: Store,
    *,
    grace: float = DEFAULT_GRACE,
    stalled_after: float = 60.0,
    signals: bool = True,
    wait: bool = True,
    heartbeat: float = 10.0,
) -> int:
    """One worker process (one job at a time — run several for concurrency); returns the exit code."""
    require_postgres(store)
    schema = procrastinate_schema(settings.store.url)
    if await asyncio.to_thread(ensure_schema, settings.store.url, schema):
        joblog.event(
            "schema_created",
            bilingual(f"已在 {schema} 中创建 procrastinate 表", f"procrastinate tables created in schema {schema}"),
            schema=schema,
        )
    if await asyncio.to_thread(liveness.lock_alive, store, liveness.SCHEDULER_LOCK):
        raise LockedError(
            bilingual(
                "此存储上有嵌入式调度器在运行（crmhub scheduler run），它已经执行 [jobs] 计划",
                "an embedded scheduler (crmhub scheduler run) is running on this store; it "
                "already runs the [jobs] schedules",
            ),
            hint=bilingual("停止调度器后再启动工作进程", "stop the scheduler before starting workers"),
        )
    me = liveness.worker_lock(holder_id())
    lock = LockSet(store, [me], stale_after=liveness.STALE)
    await asyncio.to_thread(lock.acquire, wait=0)
    beat = min(heartbeat, stalled_after / 4)  # a live worker must never look stalled
    keeper = liveness.Keeper.enter(store, every=beat)
    await asyncio.to_thread(recover_dead_runs, store)
    app = build_app(settings, registry, store, schema=schema)
    loop = asyncio.get_running_loop()
    stopping: list[str] = []
    watch: StopSignals | None = None
    try:
        async with app.open_async():
            worker = asyncio.create_task(
                app.run_worker_async(
                    queues=[QUEUE],
                    concurrency=1,
                    name=holder_id(),
                    install_signal_handlers=False,
                    wait=wait,
                    update_heartbeat_interval=beat,
                    fetch_job_polling_interval=min(5.0, beat),
                    stalled_worker_timeout=stalled_after,
                )
            )
            side = [
                asyncio.create_task(Deferrer(app, settings).loop()),
                asyncio.create_task(
                    _every(
                        min(30.0, stalled_after / 2), lambda: recover_stalled(app, store, stalled_after=stalled_after)
                    )
                ),
                asyncio.create_task(  # a distributed sync's lost tasks (crmhub.jobs.runs.queue)
                    _every(
                        min(5.0, stalled_after / 2), lambda: sync_tasks.sweep(app, store, stalled_after=stalled_after)
                    )
                ),
            ]

            def stop(reason: str) -> None:
                """On the loop, at the first signal (the watchdog of `StopSignals` times the grace)."""
                if stopping:
                    return
                stopping.append(reason)
                joblog.event(
                    "worker_stopping",
                    bilingual(f"工作进程正在停止（{reason}）", f"worker stopping ({reason})"),
                    reason=reason,
                    running=len(RUNNING),
                    grace_s=grace,
                )
                worker.cancel()  # first: whatever a job's token does, procrastinate stops taking jobs
                for token in list(RUNNING):
                    token.request(
                        "shutdown",
                        f"interrupted: the worker is stopping ({reason}); the job is queued "
                        "again and resumes from its committed pages",
                    )

            if signals:  # only `crmhub worker` (the CLI) installs them
                # FAILED: the worker left without finishing its stop (docs/scaling.md, "Stopping a worker")
                watch = StopSignals(
                    loop,
                    stop,
                    grace=grace,
                    on_force=_log_forced_exit,
                    exit_code=ExitCode.FAILED,
                    clean_code=ExitCode.OK,
                ).install()
            joblog.event(
                "worker_started",
                bilingual(
                    f"工作进程已启动：{len(settings.jobs)} 个作业", f"worker started: {len(settings.jobs)} job(s)"
                ),
                schema=schema,
                queue=QUEUE,
                jobs=sorted(settings.jobs),
            )
            try:
                await worker
            except asyncio.CancelledError:
                if not stopping:
                    raise
            finally:
                for task in side:
                    task.cancel()
                await asyncio.gather(*side, return_exceptions=True)
    finally:
        keeper.exit()
        await asyncio.to_thread(lock.release)
        if watch is not None:
            watch.close()  # a stop under way stays timed: the rest of the shutdown cannot hang the process
    joblog.event("worker_stopped", bilingual("工作进程已停止", "worker stopped"))
    if watch is not None:
        watch.stopped_cleanly()
    return 0


def _log_forced_exit(why: str) -> None:
    joblog.event(
        "worker_forced_exit",
        bilingual(f"工作进程强制退出：{why}", f"worker exits now: {why}"),
        level=logging.WARNING,
        reason=why,
        running=len(RUNNING),
    )
