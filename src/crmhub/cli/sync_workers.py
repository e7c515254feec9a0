"""`crmhub sync --on-workers` / ``[sync] executor = "workers"`` / `crmhub sync --cancel RUN_ID`: the CLI side of
a sync split into tasks on `crmhub worker` processes (`crmhub.jobs.runs`)."""

from __future__ import annotations

from crmhub.cli.common import Context, err_console, run
from crmhub.core.exit_codes import ExitCode
from crmhub.core.report import RunReport
from crmhub.errors import InputError
from crmhub.i18n import bilingual
from crmhub.store import Store


def on_workers(
    ctx: Context,
    store: Store,
    only: list[str] | None,
    *,
    dry_run: bool,
    wait: float,
    detach: bool,
    cancel: int | None,
) -> RunReport | None:
    """Start (and unless ``detach`` wait for) a distributed run, or cancel one; None when there is no report to
    print (detached, cancelled)."""
    from crmhub.jobs.runs import launch

    launch.needs_postgres(store)
    if cancel is not None:
        from crmhub.security.guard import current_actor

        run(launch.cancel(ctx.settings, ctx.registry, store, cancel, current_actor().name))
        err_console.print(
            bilingual(
                f"运行 {cancel} 已取消：排队的任务不再执行，正在运行的任务结束后保存报告（crmhub report {cancel}）",
                f"run {cancel} cancelled: queued tasks are skipped; the report is stored once running tasks end "
                f"(crmhub report {cancel})",
            )
        )
        return None
    if dry_run:
        raise InputError(
            bilingual("--dry-run 只在本进程中运行", "--dry-run runs in this process only"),
            hint=bilingual("去掉 --on-workers 再试", "drop --on-workers for a dry run"),
        )
    run_id = run(launch.launch(ctx.settings, ctx.registry, store, only, lock_wait=wait))
    follow = bilingual(
        f"同步运行 {run_id} 已交给工作进程（crmhub worker）；查看结果：crmhub report {run_id}；"
        f"取消：crmhub sync --cancel {run_id}",
        f"sync run {run_id} handed to the workers (crmhub worker); its report: crmhub report {run_id}; "
        f"cancel it: crmhub sync --cancel {run_id}",
    )
    if detach:
        print(run_id)
        err_console.print(follow)
        return None
    err_console.print(follow)

    def unclaimed() -> None:
        secs = int(launch.UNCLAIMED_AFTER)
        err_console.print(
            bilingual(
                f"{secs} 秒内没有工作进程领取运行 {run_id} 的任务：请确认有 `crmhub worker` 连接到同一个存储"
                f"（同一份配置）；运行会一直排队，直到有工作进程启动",
                f"no worker has picked up a task of run {run_id} in {secs} s: is a `crmhub worker` running "
                "against this store (same configuration)? The run stays queued until one starts",
            )
        )

    try:
        return run(launch.wait(store, run_id, on_unclaimed=unclaimed))
    except KeyboardInterrupt:  # the run is the workers': stop waiting, not the run
        err_console.print(
            bilingual(
                f"已停止等待；运行 {run_id} 仍在工作进程上继续（取消：crmhub sync --cancel {run_id}）",
                f"stopped waiting; run {run_id} goes on on the workers (cancel it: crmhub sync --cancel {run_id})",
            )
        )
        raise SystemExit(ExitCode.INTERRUPTED) from None
