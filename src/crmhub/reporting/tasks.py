"""A distributed run's tasks as rich tables: the "Tasks" section of `crmhub report` and its ``--tasks`` listing.

The numbers come from `crmhub.sync.run_tasks` (errors already masked there); this module only lays them out, with
the report's labels, so the terminal and the console (templates/runs/_tasks.html.j2) say the same thing.
"""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from crmhub.display import label as value_label
from crmhub.display import local_time
from crmhub.i18n import Lang
from crmhub.reporting.labels import label
from crmhub.sync.run_tasks import PhaseView, Progress, RunTasks, TaskView

_COLOUR = {"done": "green", "running": "cyan", "failed": "red", "cancelled": "yellow", "queued": "white"}


def progress_text(progress: Progress, lang: Lang) -> str:
    """``12 of 20 tasks done (60%) — phase merge: 2/10`` (or "no task yet")."""
    if not progress.total:
        return label("tasks_none", lang)
    return label("tasks_progress", lang).format(
        done=progress.done,
        total=progress.total,
        percent=progress.percent,
        phase=label(progress.phase or "-", lang),
        phase_done=progress.phase_done,
        phase_total=progress.phase_total,
    )


def render_tasks(tasks: RunTasks, lang: Lang, *, every: bool = False) -> Group:
    """The run's progress, a table of its phases and one of its workers; with ``every``, each task too."""
    parts: list[Table | Text] = [
        Text(f"{label('tasks', lang)}: {progress_text(tasks.progress, lang)}", style="bold"),
    ]
    if not tasks.phases:
        return Group(*parts)
    parts.append(_phase_table(tasks.phases, lang))
    parts.append(_worker_table(tasks, lang))
    if every:
        parts += [_task_table(p, lang) for p in tasks.phases]
    else:
        parts.append(Text(label("tasks_hint", lang).format(run_id=tasks.run_id), style="dim"))
    for phase in tasks.phases:
        for task in phase.tasks:
            if task.error and task.status in ("failed", "cancelled") and not every:
                parts.append(Text(f"{label('error', lang)} [{phase.phase}/{task.part}]: {task.error}", style="red"))
    return Group(*parts)


def _phase_table(phases: list[PhaseView], lang: Lang) -> Table:
    table = Table(title=label("tasks", lang))
    table.add_column(label("phase", lang))
    table.add_column(label("done_total", lang), justify="right")
    for col in ("running", "failed", "retries"):
        table.add_column(label(col, lang), justify="right")
    table.add_column(label("workers", lang))
    for p in phases:
        table.add_row(
            label(p.phase, lang),
            Text(f"{p.done}/{p.total}", style="green" if p.finished else ""),
            str(p.counts.get("running", 0)),
            Text(str(p.counts.get("failed", 0)), style="red" if p.counts.get("failed") else ""),
            str(p.retries),
            ", ".join(p.workers) or "-",
        )
    return table


def _worker_table(tasks: RunTasks, lang: Lang) -> Table:
    table = Table(title=label("workers", lang))
    table.add_column(label("worker", lang))
    table.add_column(label("tasks", lang), justify="right")
    for col in ("done", "running", "failed"):
        table.add_column(value_label("task_status", col, lang), justify="right")
    table.add_column(label("busy", lang), justify="right")
    for w in tasks.workers:
        table.add_row(
            w.worker,
            str(w.tasks),
            str(w.done),
            str(w.running),
            str(w.failed),
            f"{w.busy_s:.1f} {label('seconds', lang)}",
        )
    return table


def _task_table(phase: PhaseView, lang: Lang) -> Table:
    table = Table(title=f"{label(phase.phase, lang)} ({phase.done}/{phase.total})")
    table.add_column(label("part", lang))
    table.add_column(label("status", lang))
    table.add_column(label("worker", lang))
    table.add_column(label("tries", lang), justify="right")
    table.add_column(label("started", lang))
    table.add_column(label("duration", lang), justify="right")
    table.add_column(label("error", lang))
    for task in phase.tasks:
        table.add_row(
            task.part,
            _status(task, lang),
            task.worker or "-",
            str(task.tries),
            local_time(task.started_at),
            f"{task.duration_s:.1f}" if task.duration_s is not None else "-",
            task.error or "",
        )
    return table


def _status(task: TaskView, lang: Lang) -> Text:
    return Text(value_label("task_status", task.status, lang), style=_COLOUR.get(task.status, "white"))
