"""Console pages: runs — the run list, one run's report, and the records behind each of its counts.

A run page shows everything the static HTML report (`crmhub report --format html`) shows, with the same labels
(`crmhub.reporting.labels`) and the same masking (`crmhub.reporting.mask_report`); each count links to the
records behind it (`crmhub.sync.run_records`). Every page is a read (the ``report`` command's rule).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from starlette.responses import Response

from crmhub.console.export import FORMATS, export_response
from crmhub.console.run_charts import bar_chart
from crmhub.console.web import Pager, Req, page, paginate
from crmhub.core.pages import keyset_pages
from crmhub.display import current_timezone, label, local_time
from crmhub.masking import mask_text
from crmhub.reporting import mask_report
from crmhub.reporting.labels import LABELS, STREAM_COLUMNS
from crmhub.reporting.tasks import progress_text
from crmhub.reporting.terminal import queued_lines
from crmhub.store.tables import SyncRun
from crmhub.sync import run_query, run_records, run_tasks

_EXPORT_HEADERS = (
    "id",
    "kind",
    "trigger",
    "job",
    "status",
    "dry_run",
    "started_at",
    "finished_at",
    "duration_s",
    "read",
    "created",
    "updated",
    "dead_letters",
    "written_back",
    "alerts_raised",
)


def _common(req: Req) -> dict[str, Any]:
    """What every run template uses: report labels in the user's language, local times, value labels."""
    return {
        "labels": {k: v[req.lang] for k, v in LABELS.items()},
        "local": local_time,
        "timezone": current_timezone().key,
        "vlabel": lambda group, value: label(group, value, req.lang),
    }


def _filters(req: Req) -> run_query.RunFilters:
    return run_query.RunFilters.parse(
        status=req.arg("status"),
        kind=req.arg("kind"),
        trigger=req.arg("trigger"),
        job=req.arg("job"),
        started_from=req.arg("from"),
        started_to=req.arg("to"),
    )


@page("GET", "/runs", command="report")
def run_list(req: Req) -> Response:
    """Runs, newest first, filtered by status, kind, trigger, job and start date; CSV/Excel export."""
    context = _common(req)
    filters = _filters(req)
    fmt = req.arg("format")
    if fmt in FORMATS:
        req.audit_export("sync_run")
        return export_response(fmt, _EXPORT_HEADERS, _export_rows(req, filters), "runs")
    with req.db() as s:
        pager = paginate(
            s, run_query.run_list_query(filters), req.page_number(), req.state.settings.console.page_size, scalars=False
        )
        read = run_query.records_read(s, [r.id for r in pager.rows])
        choices = run_query.filter_choices(s)
    return req.render(
        "runs/list.html.j2",
        active="/runs",
        pager=pager,
        read=read,
        choices=choices,
        statuses=run_query.RUN_STATUSES,
        filters=filters,
        **context,
    )


def _export_rows(req: Req, filters: run_query.RunFilters) -> Iterator[tuple[Any, ...]]:
    """The filtered runs for a CSV/Excel file, streamed page by page in its own transaction."""
    size = 500

    def page(before: int | None) -> list[tuple[Any, ...]]:  # newest first: the next page is below the last id
        with req.db() as s:
            q = run_query.run_list_query(filters)
            if before is not None:
                q = q.where(SyncRun.id < before)
            rows = s.execute(q.limit(size)).all()
            read = run_query.records_read(s, [r.id for r in rows])
        return [
            (
                r.id,
                r.kind,
                r.trigger,
                r.job,
                r.status,
                r.dry_run,
                r.started_at,
                r.finished_at,
                r.duration_s,
                read.get(r.id, 0),
                r.created,
                r.updated,
                r.dead_letters,
                r.written_back,
                r.alerts_raised,
            )
            for r in rows
        ]

    for rows in keyset_pages(page, lambda row: int(row[0]), size):
        yield from rows


def _not_found(req: Req, run_id: int) -> Response:
    return req.render(
        "error.html.j2",
        status_code=404,
        title=req.text("没有这次运行", "No such run"),
        message=req.text(f"没有编号为 {run_id} 的运行。", f"There is no run {run_id}."),
        hint=req.text("在“运行”列表中查看已有的运行。", "See the run list for the runs there are."),
    )


@page("GET", "/runs/{id:int}", command="report")
def run_show(req: Req) -> Response:
    """One run: everything its report says, each count linking to the records behind it; for a run split over
    workers, its tasks by phase and worker (`crmhub.sync.run_tasks`)."""
    context = _common(req)
    run_id = int(req.request.path_params["id"])
    with req.db() as s:
        run = run_query.get_run(s, run_id)
        if run is None:
            return _not_found(req, run_id)
        report = mask_report(run_query.load_report(s, run))
        tasks = run_tasks.load_tasks(s, run_id) if run.executor == "workers" else None
    labels = context["labels"]
    stream_chart = bar_chart(
        [(f"{c}/{st}", float(counts.get("read", 0) or 0)) for c, st, counts in report.stream_rows()], labels["read"]
    )
    phase_chart = bar_chart(
        [(labels.get(k, k), v) for k, v in report.phases.items()], labels["phases"], unit=labels["seconds"]
    )
    return req.render(
        "runs/show.html.j2",
        active="/runs",
        report=report,
        run=run,
        columns=STREAM_COLUMNS,
        totals=report.totals.shown(),
        stream_chart=stream_chart,
        phase_chart=phase_chart,
        drill=_DRILL_OF_TOTAL,
        may_alerts=req.may("alerts list"),
        queued=queued_lines(report, req.lang),
        tasks=tasks,
        tasks_progress=progress_text(tasks.progress, req.lang) if tasks else "",
        mask_recipients=lambda rs: mask_text(", ".join(rs or [])) or "-",
        **context,
    )


_DRILL_OF_TOTAL = {
    "clients_created": "created",
    "clients_updated": "updated",
    "dead_letters": "rejected",
    "conflicts": "conflicted",
    "conflicts_queued": "conflicted",
    "review_items": "conflicted",
    "written_back": "written_back",
    "write_failed": "write_failed",
    "alerts_raised": "alerts",
    "planned_writes": "planned",
}
"""Which drill-down lists the records behind each run-wide count."""

_TITLES = {
    "created": ("本次运行新建的客户主记录", "Golden clients this run created"),
    "updated": ("本次运行更新的客户主记录", "Golden clients this run updated"),
    "rejected": ("本次运行拒收的记录（死信）", "Records this run rejected (dead letters)"),
    "conflicted": ("本次运行遇到的冲突与新增复核事项", "Conflicts this run met and review items it queued"),
    "written_back": ("本次运行计划并已回写的记录", "Write-backs this run planned that were delivered"),
    "write_failed": ("本次运行回写失败的记录", "Write-backs this run planned that failed"),
    "alerts": ("本次运行新增的预警", "Alerts this run raised"),
    "planned": ("演练运行的回写计划", "The dry run's write-back plan"),
}


@page("GET", "/runs/{id:int}/records", command="report")
def run_records_page(req: Req) -> Response:
    """The records behind one count of a run: ``?what=created|updated|rejected|conflicted|written_back|
    write_failed|alerts|planned``, optionally ``&connector=…&stream=…`` where records belong to a stream."""
    context = _common(req)
    run_id = int(req.request.path_params["id"])
    what = req.arg("what")
    if what and what not in run_records.WHATS:
        return req.render(
            "error.html.j2",
            status_code=400,
            title=req.text("无法显示", "Cannot show that"),
            message=req.text(f"不知道要列出哪类记录：what={what!r}。", f"Unknown kind of records: what={what!r}."),
            hint=req.text("可选：", "Use one of: ") + ", ".join(run_records.WHATS),
        )
    if what == "alerts" and not req.may("alerts list"):
        return req.render(
            "error.html.j2",
            status_code=403,
            title=req.text("无权操作", "Not allowed"),
            message=req.text("预警仅反洗钱专员可见", "Alerts are for AML officers only"),
        )
    narrowing = (
        run_records.Narrowing(req.arg("connector"), req.arg("stream"))
        if what in run_records.FILTERABLE
        else run_records.Narrowing()
    )
    size = req.state.settings.console.page_size
    with req.db() as s:
        run = run_query.get_run(s, run_id)
        if run is None:
            return _not_found(req, run_id)
        if not what:  # no kind chosen: the page offers them all
            return req.render(
                "runs/records.html.j2",
                active="/runs",
                run=run,
                what="",
                rows=[],
                pager=None,
                title=req.text("本次运行的记录", "Records of this run"),
                narrowing=narrowing,
                filterable=False,
                tabs=_tabs(req, run),
                **context,
            )
        if what == "planned":
            pager = _plan_page(
                run_records.plan_rows(run_query.load_plan(s, run_id), narrowing), req.page_number(), size
            )
            rows = pager.rows
        else:
            pager = paginate(
                s,
                run_records.query(what, run, narrowing),
                req.page_number(),
                size,
                scalars=what in ("rejected", "written_back", "write_failed", "alerts"),
            )
            rows = run_records.shape(s, what, pager.rows)
    zh, en = _TITLES[what]
    return req.render(
        "runs/records.html.j2",
        active="/runs",
        run=run,
        what=what,
        title=req.text(zh, en),
        pager=pager,
        rows=rows,
        narrowing=narrowing,
        filterable=what in run_records.FILTERABLE,
        tabs=_tabs(req, run),
        **context,
    )


def _tabs(req: Req, run: SyncRun) -> list[tuple[str, str]]:
    """(what, label) of every drill-down this user may open for ``run`` (a dry run's plan only for a dry run)."""
    return [
        (what, req.text(*_TAB_LABELS[what]))
        for what in run_records.WHATS
        if (what != "alerts" or req.may("alerts list")) and (what != "planned" or run.dry_run)
    ]


_TAB_LABELS = {
    "created": ("新建", "created"),
    "updated": ("更新", "updated"),
    "rejected": ("拒收", "rejected"),
    "conflicted": ("冲突与复核", "conflicts & review"),
    "written_back": ("已回写", "written back"),
    "write_failed": ("回写失败", "write-backs failed"),
    "alerts": ("预警", "alerts"),
    "planned": ("回写计划", "plan"),
}


def _plan_page(rows: list[dict[str, Any]], number: int, size: int) -> Pager:
    pages = max(1, -(-len(rows) // size))
    number = min(number, pages)
    return Pager(rows[(number - 1) * size : number * size], len(rows), number, size)
