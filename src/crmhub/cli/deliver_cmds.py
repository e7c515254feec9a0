"""``crmhub deliver``: send the queued write-backs at each CRM's own pace, with progress and an ETA.

A sync spends at most ``write_back.inline_seconds`` per target and leaves the rest queued (its report says how
many); this command — run by hand, beside a long sync, or as a ``deliver`` job in the scheduler or a worker —
drains them (`crmhub.sync.deliverer`).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn
from rich.table import Table

from crmhub.cli.common import ConfigOption, console, load_context, run, write_json_line
from crmhub.core import exit_codes
from crmhub.display import duration_text
from crmhub.i18n import current_lang
from crmhub.security.guard import current_actor
from crmhub.sync.deliverer import TargetDrain, run_deliverer
from crmhub.sync.outbox import DeliveryStats

TEXT = {
    "title": {"en": "Write-back delivery", "zh": "回写投递"},
    "connector": {"en": "Connector", "zh": "连接器"},
    "confirmed": {"en": "confirmed", "zh": "已确认"},
    "failed": {"en": "failed (dead letters)", "zh": "失败（死信）"},
    "retried": {"en": "retry later", "zh": "稍后重试"},
    "left": {"en": "still queued", "zh": "仍在排队"},
    "time": {"en": "time", "zh": "耗时"},
    "note": {"en": "note", "zh": "说明"},
    "nothing": {
        "en": "No write-back target is configured (write_back.enabled with fields).",
        "zh": "没有配置回写目标（需要 write_back.enabled 并列出字段）。",
    },
    "eta": {"en": "ETA {eta}", "zh": "预计还需 {eta}"},
}


def _t(key: str) -> str:
    return TEXT[key][current_lang()]


class _Bars:
    """One rich bar per target: sent of queued-at-start, with the time remaining at the measured pace."""

    def __init__(self) -> None:
        self.bar = Progress(
            TextColumn("{task.description:<16}", markup=False),
            BarColumn(bar_width=None),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self.tasks: dict[str, TaskID] = {}

    def __call__(self, connector: str, stats: DeliveryStats, queued_at_start: int) -> None:
        task = self.tasks.get(connector)
        if task is None:
            task = self.tasks[connector] = self.bar.add_task(connector, total=max(queued_at_start, 1))
        self.bar.update(task, completed=stats.confirmed + stats.failed + stats.retried)


def _table(results: list[TargetDrain]) -> Table:
    table = Table(title=_t("title"))
    table.add_column(_t("connector"))
    for key in ("confirmed", "failed", "retried", "left", "time"):
        table.add_column(_t(key), justify="right")
    table.add_column(_t("note"))
    for r in results:
        note = r.error or r.skipped or (_t("eta").format(eta=duration_text(r.eta_s)) if r.left else "")
        table.add_row(
            r.connector,
            str(r.stats.confirmed),
            str(r.stats.failed),
            str(r.stats.retried),
            str(r.left),
            duration_text(r.seconds),
            note,
        )
    return table


def deliver(
    config: Path | None = ConfigOption,
    connector: list[str] | None = typer.Option(
        None, "--connector", help="Only this connector's write-backs (repeatable)."
    ),
    follow: bool = typer.Option(
        False,
        "--follow",
        help="Keep running: send new write-backs as syncs queue them (stop with Ctrl-C; nothing is lost).",
    ),
    poll: float = typer.Option(30.0, "--poll", min=1.0, help="With --follow: seconds between looks at the queue."),
    wait: float = typer.Option(
        0.0,
        "--wait",
        help="Seconds to wait for another deliverer of the same connector (default: skip that connector).",
    ),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object per connector."),
) -> None:
    """Send the write-backs syncs left queued, at each CRM's rate limit, with progress and an ETA."""
    ctx = load_context(config)
    store = ctx.open_store()
    actor = current_actor().name
    bars = _Bars() if not json_out and sys.stdout.isatty() else None
    failed = False
    try:
        while True:
            if bars is not None:
                with bars.bar:
                    results = run(
                        run_deliverer(
                            ctx.settings, ctx.registry, store, connector, actor=actor, progress=bars, lock_wait=wait
                        )
                    )
            else:
                results = run(run_deliverer(ctx.settings, ctx.registry, store, connector, actor=actor, lock_wait=wait))
            failed = any(r.error for r in results)
            _show(results, json_out)
            if not follow:
                break
            time.sleep(poll)
    except KeyboardInterrupt:
        pass  # between two batches or inside a call: rows are `sent` and re-sent idempotently next time
    finally:
        store.dispose()
    raise SystemExit(exit_codes.ExitCode.FAILED if failed else exit_codes.ExitCode.OK)


def _show(results: list[TargetDrain], json_out: bool) -> None:
    if json_out:
        for r in results:
            write_json_line(r.as_dict())
        return
    if not results:
        console.print(_t("nothing"))
        return
    console.print(_table(results))
