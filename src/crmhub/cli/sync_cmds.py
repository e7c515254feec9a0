"""Operator commands around the sync engine: ``sync``, ``report``, ``clients``, ``review``, ``deadletter``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from crmhub.cli.common import (
    AllOption,
    ConfigOption,
    Context,
    LimitOption,
    console,
    err_console,
    load_context,
    note_cut,
    print_proposed,
    row_limit,
    run,
    write_json_line,
)
from crmhub.cli.reveal import ReasonOption, RevealOption, check_reveal
from crmhub.core import exit_codes
from crmhub.core.report import RunReport
from crmhub.display import label, local_time, reason
from crmhub.errors import InputError
from crmhub.i18n import MESSAGES, bilingual, current_lang, t
from crmhub.masking import mask_fields, mask_text
from crmhub.reporting import render_html, render_plan, render_report, report_json
from crmhub.store import Store, deadletter_history, deadletter_query
from crmhub.store.tables import SyncRun
from crmhub.sync import queries, review
from crmhub.sync.deadletter_retry import retry_dead_letters
from crmhub.sync.engine import SyncEngine
from crmhub.sync.run_tasks import RunTasks

clients_app = typer.Typer(help="Golden client records.", no_args_is_help=True)
review_app = typer.Typer(help="The review queue: matches and conflicts a human must decide.", no_args_is_help=True)
deadletter_app = typer.Typer(help="Records that could not be processed, with the reason.", no_args_is_help=True)
JsonOption = typer.Option(False, "--json", help="Print JSON (raw ids, for machines).")


def build_engine(ctx: Context, store: Store, progress: Any = None) -> SyncEngine:
    """The engine for this configuration and store; notifications are planned and sent after each stored run."""
    from crmhub.notify.service import Notifier
    from crmhub.risk.runner import make_risk_phase

    notify = ctx.settings.notify.enabled and bool(ctx.settings.channels)
    return SyncEngine(
        ctx.settings,
        ctx.registry,
        store,
        progress=progress,
        risk_phase=make_risk_phase(ctx.settings, ctx.registry),
        after_run=Notifier(ctx.settings, ctx.registry, store).after_run if notify else None,
    )


def sync(
    config: Path | None = ConfigOption,
    connector: list[str] | None = typer.Option(None, "--connector", help="Only this connector (repeatable)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Pull, match and plan, print the plan; write nothing."),
    json_out: bool = typer.Option(False, "--json", help="Print the run report as one JSON object."),
    wait: float = typer.Option(0.0, "--wait", help="Seconds to wait for a running sync of the same connector."),
    html: Path | None = typer.Option(None, "--html", help="Also write the HTML report to this file."),
    on_workers: bool = typer.Option(
        False, "--on-workers", help="Split the run into tasks for `crmhub worker` (PostgreSQL; [sync] executor)."
    ),
    detach: bool = typer.Option(False, "--detach", help="With --on-workers: print the run id and return at once."),
    cancel: int | None = typer.Option(None, "--cancel", metavar="RUN_ID", help="Cancel a sync running on workers."),
) -> None:
    """Pull every configured connector, merge into golden records, write back, and report the run."""
    ctx = load_context(config)
    store = ctx.open_store()
    lang = current_lang()
    if cancel is not None or on_workers or (ctx.settings.sync.executor == "workers" and not dry_run):
        try:
            from crmhub.cli.sync_workers import on_workers as distributed

            report = distributed(
                ctx, store, connector or None, dry_run=dry_run, wait=wait, detach=detach, cancel=cancel
            )
        finally:
            store.dispose()
        if report is None:
            return
        _print_run(report, lang, json_out=json_out, dry_run=False, html=html)
        return
    try:
        show_progress = not json_out and sys.stdout.isatty()
        if show_progress:
            from crmhub.cli.progress import RichProgress

            with RichProgress(console, lang) as progress:
                report = run(build_engine(ctx, store, progress).run(connector or None, dry_run=dry_run, lock_wait=wait))
        else:
            report = run(build_engine(ctx, store).run(connector or None, dry_run=dry_run, lock_wait=wait))
    finally:
        store.dispose()
    _print_run(report, lang, json_out=json_out, dry_run=dry_run, html=html)


def _print_run(report: RunReport, lang: Any, *, json_out: bool, dry_run: bool, html: Path | None) -> None:
    """Print a run's report as `crmhub sync` does and exit with the run's status code."""
    if json_out:
        write_json_line(report_json(report))
    else:
        console.print(render_report(report, lang))
        if dry_run:
            render_plan(report, lang, console)
    if html is not None:
        html.parent.mkdir(parents=True, exist_ok=True)
        html.write_text(render_html(report, lang), encoding="utf-8")
    raise SystemExit(exit_codes.for_status(report.status))


def _load_report(store: Store, run_id: int | None) -> tuple[RunReport, RunTasks | None]:
    """The run's report and, for a run split over workers, its tasks (such a run is shown while it still runs)."""
    from sqlalchemy import select

    from crmhub.sync import run_query, run_tasks

    with store.begin() as s:
        row = (
            s.get(SyncRun, run_id)
            if run_id
            else s.scalars(select(SyncRun).where(SyncRun.dry_run.is_(False)).order_by(SyncRun.id.desc())).first()
        )
        if row is None:
            raise InputError(
                f"no run {run_id}" if run_id else "no sync has run yet",
                hint="run `crmhub sync` first" if not run_id else "see `crmhub report` for the last run",
            )
        distributed = row.executor == "workers"
        if not row.report and not distributed:
            raise InputError(f"run {row.id} has no report (status {row.status})")
        rep = RunReport.model_validate(row.report) if row.report else run_query.load_report(s, row)
        return rep, run_tasks.load_tasks(s, row.id) if distributed else None


def report(
    run_id: int | None = typer.Argument(None, help="Run id (default: the last run)."),
    config: Path | None = ConfigOption,
    fmt: str = typer.Option("table", "--format", help="table, json or html."),
    output: Path | None = typer.Option(None, "-o", "--output", help="Write to this file instead of stdout."),
    every_task: bool = typer.Option(False, "--tasks", help="List every task of a run split over workers."),
) -> None:
    """Show a past run's report as a table, JSON or a self-contained HTML page."""
    from crmhub.reporting.tasks import render_tasks

    if fmt not in ("table", "json", "html"):
        raise InputError(f"--format must be table, json or html (got {fmt!r})")
    ctx = load_context(config)
    store = ctx.open_store()
    try:
        rep, tasks = _load_report(store, run_id)
    finally:
        store.dispose()
    lang = current_lang()
    if every_task and tasks is None:
        err_console.print(
            bilingual(
                f"运行 {rep.run_id} 未拆分到工作进程执行，没有任务", f"run {rep.run_id} was not split over workers"
            )
        )
    if fmt == "json":
        doc = report_json(rep)
        if tasks is not None:  # the store's view of the tasks (by phase, by worker) replaces the report's list
            doc["tasks"] = tasks.as_json(tasks=every_task)
        elif doc.get("tasks") is None:
            doc.pop("tasks", None)  # a single-process run has no tasks: no key, as before runs could be split
        text = json.dumps(doc, ensure_ascii=False, indent=2)
    elif fmt == "html":
        text = render_html(rep, lang)
    else:
        shown = [render_report(rep, lang), *([render_tasks(tasks, lang, every=every_task)] if tasks else [])]
        if output is None:
            console.print(*shown)
            return
        from rich.console import Console

        capture = Console(record=True, width=120, markup=False)
        capture.print(*shown)
        text = capture.export_text()
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
        err_console.print(bilingual(f"已写入 {output}", f"wrote {output}"))
    else:
        sys.stdout.write(text + "\n")


def _reveal_audit(
    s: Any, command: str, reason: str, client_ids: list[int], extra: dict[str, Any] | None = None
) -> None:
    """Audit a ``--reveal`` in the reading transaction, before anything is printed."""
    from crmhub.security.guard import current_actor
    from crmhub.sync.audit import record_reveal

    entry = record_reveal(
        s,
        command=command,
        reason=reason,
        entity="client",
        entity_id=client_ids[0] if len(client_ids) == 1 else None,
        details={"client_ids": client_ids, **(extra or {})},
        actor=current_actor().name,
    )
    s.flush()
    err_console.print(t("revealed_note", entry=entry.id, who=entry.actor), style="yellow")


@clients_app.command("list")
def clients_list(
    config: Path | None = ConfigOption,
    json_out: bool = typer.Option(False, "--json", help="One JSON object per line."),
    search: str | None = typer.Option(None, "--search", help="Name or USCC fragment."),
    limit: int = LimitOption,
    all_rows: bool = AllOption,
    offset: int = typer.Option(0, min=0),
    reveal: bool = RevealOption,
    reason: str | None = ReasonOption,
    approval: int | None = typer.Option(
        None, "--approval", help="The approved proposal of this bulk --reveal (four eyes)."
    ),
) -> None:
    """List golden clients (personal data masked unless --reveal; a bulk reveal needs an approved proposal)."""
    from crmhub.security import approvals
    from crmhub.security.guard import current_actor

    why = check_reveal(reveal, reason)
    ctx = load_context(config)
    request = {"search": search, "limit": row_limit(limit, all_rows), "offset": offset, "reason": why}
    with ctx.session() as s:
        extra: dict[str, Any] = {}
        if why is not None and approvals.needs_four_eyes(ctx.settings, "reveal.bulk"):
            if approval is None:
                print_proposed(approvals.propose(s, "reveal.bulk", request, current_actor()))
                return
            granted = approvals.consume_grant(s, approval, current_actor(), request)
            extra = {"approval": granted.id, "approved_by": granted.decided_by}
        total, rows = queries.list_clients(s, search=search, limit=row_limit(limit, all_rows), offset=offset)
        items = [queries.client_json(r, mask=why is None, risk=queries.current_risk(s, r.id)) for r in rows]
        if why is not None:
            _reveal_audit(s, "clients list", why, [r.id for r in rows], extra)
    if json_out:
        for item in items:
            write_json_line(item)
        note_cut(len(items), total, offset=offset)
        return
    table = Table(title=bilingual(f"客户主记录（共 {total} 个）", f"Golden clients ({total} in all)"))
    for col in (
        "id",
        "USCC",
        bilingual("名称", "name"),
        bilingual("行业", "industry"),
        bilingual("来源", "sources"),
        bilingual("评级", "rating"),
    ):
        table.add_column(col)
    for it in items:
        risk = it.get("risk") or {}
        table.add_row(
            str(it["id"]),
            it.get("uscc") or "-",
            it["name"],
            (it.get("industry") or {}).get("code", "-"),
            ", ".join(f"{k}×{len(v)}" for k, v in it.get("external_ids", {}).items()),
            risk.get("rating", "-"),
        )
    console.print(table)
    note_cut(len(items), total, offset=offset)


@clients_app.command("show")
def clients_show(
    ref: str = typer.Argument(..., help="Hub id or USCC."),
    config: Path | None = ConfigOption,
    json_out: bool = JsonOption,
    reveal: bool = RevealOption,
    reason: str | None = ReasonOption,
) -> None:
    """Show one golden client (personal data masked unless --reveal)."""
    why = check_reveal(reveal, reason)
    ctx = load_context(config)
    with ctx.session() as s:
        row = queries.find_client(s, ref)
        item = queries.client_json(row, mask=why is None, risk=queries.current_risk(s, row.id))
        if why is not None:
            _reveal_audit(s, "clients show", why, [row.id])
    if json_out:
        write_json_line(item)
    else:
        _print_client(item)


def _print_client(item: dict[str, Any]) -> None:
    """One client as labelled rows: ids as words, times local, nested values compact (raw JSON: ``--json``)."""
    table = Table(title=f"{item.get('name')} (#{item['id']})", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    risk = item.get("risk") or {}
    rows: list[tuple[str, str]] = [
        (bilingual("状态", "status"), label("client_status", item.get("status"))),
        (
            bilingual("评级", "rating"),
            f"{risk.get('rating', '-')} {label('segment', risk.get('segment'))}" if risk else "-",
        ),
    ]
    skip = {"id", "name", "status", "risk", "version", "updated_at", "lineage", "data_quality"}
    for key, value in item.items():
        if key in skip or value in (None, "", [], {}):
            continue
        rows.append((label("field", key), _short(value, 100)))
    rows.append((bilingual("版本", "version"), str(item.get("version"))))
    rows.append((bilingual("更新时间", "updated"), local_time(item.get("updated_at"))))
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    _print_findings(item.get("data_quality") or [])


@clients_app.command("explain")
def clients_explain(
    ref: str = typer.Argument(..., help="Hub id or USCC."),
    config: Path | None = ConfigOption,
    json_out: bool = JsonOption,
    reveal: bool = RevealOption,
    reason: str | None = ReasonOption,
) -> None:
    """Per field: the chosen value, where it came from, the rule that chose it, and the competing values."""
    why = check_reveal(reveal, reason)
    ctx = load_context(config)
    with ctx.session() as s:
        row = queries.find_client(s, ref)
        fields = queries.explain(s, row.id)
        name, ext = row.name, (row.data or {}).get("external_ids", {})
        findings = queries.data_quality(row)
        if why is not None:
            _reveal_audit(s, "clients explain", why, [row.id])

    def shown(value: Any, field: str) -> Any:
        return value if why is not None else mask_fields(value, field)

    if json_out:
        write_json_line(
            {
                "id": row.id,
                "name": shown(name, "legal_name"),
                "external_ids": ext,
                "data_quality": findings,
                "fields": [
                    {
                        "field": f.field,
                        "value": shown(f.value, f.field),
                        "source": f.source,
                        "record": f.record,
                        "observed_at": f.observed_at,
                        "rule": f.rule,
                        "competing": [{**c, "value": shown(c.get("value"), f.field)} for c in f.competing],
                    }
                    for f in fields
                ],
            }
        )
        return
    table = Table(title=f"{shown(name, 'legal_name')} (#{row.id})")
    for col in (
        bilingual("字段", "field"),
        bilingual("取值", "value"),
        bilingual("来源", "source"),
        bilingual("规则", "rule"),
        bilingual("观测时间", "observed"),
        bilingual("其他来源的值", "competing"),
    ):
        table.add_column(col)
    for f in fields:
        competing = "; ".join(f"{c['source']}: {_short(shown(c.get('value'), f.field))}" for c in f.competing)
        table.add_row(
            label("field", f.field),
            _short(shown(f.value, f.field)),
            f"{f.source} {f.record}",
            label("survivorship_rule", f.rule),
            local_time(f.observed_at),
            competing or "-",
        )
    console.print(table)
    _print_findings(findings)


def _print_findings(findings: list[dict[str, Any]]) -> None:
    """Data-quality findings under a client's explanation (sync/matching area, issue 13 item 9)."""
    if not findings:
        return
    console.print(bilingual("数据质量问题（记录已保留）：", "Data-quality findings (records kept):"))
    for f in findings:
        console.print(
            f"  - {f.get('source') or '-'} {label('field', f.get('field'))}: "
            f"{label('data_quality_kind', f.get('kind'))} {f.get('value')} — {f.get('message')}",
            markup=False,
        )


def _short(value: Any, width: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= width else text[: width - 1] + "…"


def _submit(config: Path | None, action: str, payload: dict[str, Any]) -> dict[str, Any] | None:
    """Apply ``action`` now, or file it for a second operator when four eyes are required (then None)."""
    from crmhub.security import approvals
    from crmhub.security.guard import current_actor

    ctx = load_context(config)
    with ctx.session() as s:
        proposal, result = approvals.submit(s, ctx.settings, action, payload, current_actor())
        if proposal is not None:
            print_proposed(proposal)
            return None
    return result


@clients_app.command("unmerge")
def clients_unmerge(
    absorbed: int = typer.Argument(..., help="Id of the client that was merged away."),
    config: Path | None = ConfigOption,
) -> None:
    """Undo a merge: the absorbed client and its records come back (applied on the next sync's merge)."""
    details = _submit(config, "client.unmerge", {"absorbed": absorbed})
    if details is not None:
        console.print(
            bilingual(
                f"已撤销合并：客户 {absorbed} 已从 {details['from']} 中恢复",
                f"merge undone: client {absorbed} restored from {details['from']}",
            )
        )


@clients_app.command("split")
def clients_split(
    client: int = typer.Argument(...),
    record: str = typer.Argument(..., help="connector:source_id"),
    config: Path | None = ConfigOption,
) -> None:
    """Detach one source record from a client into a client of its own."""
    result = _submit(config, "client.split", {"client": client, "record": record})
    if result is not None:
        console.print(
            bilingual(
                f"已拆分：{record} 现属于新客户 {result['new_client']}",
                f"split: {record} now belongs to client {result['new_client']}",
            )
        )


@review_app.command("list")
def review_list(
    config: Path | None = ConfigOption,
    json_out: bool = JsonOption,
    status: str = typer.Option("open", help="open, accepted, rejected or all."),
    limit: int = LimitOption,
    all_rows: bool = AllOption,
) -> None:
    """List review items."""
    ctx = load_context(config)
    cap = row_limit(limit, all_rows)
    with ctx.session() as s:
        found = review.list_items(s, None if status == "all" else status)
        notes = _decision_notes(s, [i.id for i in found[:cap] if i.status != "open"])
        items = [
            {
                "id": i.id,
                "kind": i.kind,
                "status": i.status,
                "client_id": i.client_id,
                "other_client_id": i.other_client_id,
                "field": i.field,
                "score": i.score,
                "details": mask_fields(i.details, i.field),
                "created_at": i.created_at.isoformat(),
                "decided_by": i.decided_by,
                "note": notes.get(i.id),
            }
            for i in found[:cap]
        ]
    if json_out:
        for it in items:
            write_json_line(it)
        note_cut(len(items), len(found))
        return
    table = Table(title=bilingual("复核队列", "Review queue"))
    for col in (
        "id",
        bilingual("类型", "kind"),
        bilingual("状态", "status"),
        bilingual("客户", "client"),
        bilingual("候选", "candidate"),
        bilingual("字段", "field"),
        bilingual("匹配概率", "probability"),
        bilingual("创建时间", "created"),
        bilingual("决定人", "decided by"),
        bilingual("备注", "note"),
    ):
        table.add_column(col)
    for it in items:
        score = it["score"]
        table.add_row(
            str(it["id"]),
            label("review_kind", it["kind"]),
            label("review_status", it["status"]),
            str(it["client_id"] or "-"),
            str(it["other_client_id"] or "-"),
            label("field", it["field"]) if it["field"] else "-",
            f"{float(score):.3f}" if isinstance(score, int | float) else "-",
            local_time(it["created_at"]),
            str(it["decided_by"] or "-"),
            mask_text(it["note"] or "-"),
        )
    console.print(table)
    note_cut(len(items), len(found))


def _decision_notes(s: Any, item_ids: list[int]) -> dict[int, str | None]:
    """The note of each decided item, from its decision's audit entry (one query for the whole list)."""
    from sqlalchemy import select

    from crmhub.store.tables import AuditLog

    if not item_ids:
        return {}
    notes: dict[int, str | None] = {}
    for entity_id, details in s.execute(
        select(AuditLog.entity_id, AuditLog.details)
        .where(
            AuditLog.entity == "review_item",
            AuditLog.action.in_(("review.accept", "review.reject")),
            AuditLog.entity_id.in_([str(i) for i in item_ids]),
        )
        .order_by(AuditLog.id)
    ):
        notes[int(entity_id)] = (details or {}).get("note")
    return notes


def _decide(item_id: int, config: Path | None, accept: bool, note: str | None) -> None:
    result = _submit(config, "review.decide", {"item_id": item_id, "accept": accept, "note": note})
    if result is not None:
        console.print(f"#{item_id}: {reason(result['outcome'])}")


ReviewNoteOption = typer.Option(None, "--note", help="Why you decide so (kept with the decision and in the audit log).")


@review_app.command("accept")
def review_accept(
    item_id: int = typer.Argument(...), note: str | None = ReviewNoteOption, config: Path | None = ConfigOption
) -> None:
    """Accept: merge the pair (a match) or let the rule apply (a conflict)."""
    _decide(item_id, config, True, note)


@review_app.command("reject")
def review_reject(
    item_id: int = typer.Argument(...), note: str | None = ReviewNoteOption, config: Path | None = ConfigOption
) -> None:
    """Reject: keep the records apart."""
    _decide(item_id, config, False, note)


@deadletter_app.command("list")
def deadletter_list(
    config: Path | None = ConfigOption,
    json_out: bool = JsonOption,
    status: str = typer.Option("open", help="open, resolved, retried or all."),
    limit: int = LimitOption,
    all_rows: bool = AllOption,
) -> None:
    """List dead letters with connector, stream, source id, latest and original reason."""
    ctx = load_context(config)
    cap = row_limit(limit, all_rows)
    with ctx.session() as s:  # one row more than shown tells whether the listing was cut
        rows = [
            deadletter_query.dead_letter_json(r)
            for r in deadletter_query.list_dead_letters(s, status=None if status == "all" else status, limit=cap + 1)
        ]
    cut, rows = len(rows) > cap, rows[:cap]
    if json_out:
        for r in rows:
            write_json_line(_masked_dead_letter(r))
        if cut:
            note_cut(len(rows), None)
        return
    table = Table(title=t("dl_title"))
    for col in (
        "id",
        t("dl_col_dir"),
        t("dl_col_connector"),
        t("dl_col_stream"),
        t("dl_col_source"),
        t("dl_col_reason"),
        t("dl_col_first"),
        t("dl_col_status"),
        t("dl_col_attempts"),
        t("dl_col_at"),
    ):
        table.add_column(col)
    for r in rows:
        first = r["first_reason"] if r["first_reason"] != r["reason"] else "="
        table.add_row(
            str(r["id"]),
            label("direction", r["direction"]),
            r["connector"],
            r["stream"],
            r["source_id"] or "-",
            mask_text(reason(r["reason"])),
            mask_text(reason(first)),
            label("dead_letter_status", r["status"]),
            str(r["attempts"]),
            local_time(r["created_at"]),
        )
    console.print(table)
    if cut:
        note_cut(len(rows), None)


def _masked_dead_letter(r: dict[str, Any]) -> dict[str, Any]:
    return {
        **r,
        "reason": mask_text(r["reason"]),
        "first_reason": mask_text(r["first_reason"]),
        "history": [{**h, "reason": mask_text(str(h.get("reason") or ""))} for h in r["history"]],
    }


@deadletter_app.command("show")
def deadletter_show(
    dead_id: int = typer.Argument(..., help="Dead letter id."),
    config: Path | None = ConfigOption,
    json_out: bool = JsonOption,
) -> None:
    """One dead letter: where it came from, the original and latest reason, and every attempt since."""
    ctx = load_context(config)
    with ctx.session() as s:
        r = deadletter_query.dead_letter_json(deadletter_query.get_dead_letter(s, dead_id))
    if json_out:
        write_json_line(_masked_dead_letter(r))
        return
    console.print(
        t(
            "dl_show_head",
            id=r["id"],
            connector=r["connector"],
            stream=r["stream"],
            source=r["source_id"] or "-",
            status=label("dead_letter_status", r["status"]),
            attempts=r["attempts"],
        )
    )
    console.print(t("dl_show_first", reason=mask_text(reason(r["first_reason"]))))
    if r["reason"] != r["first_reason"]:
        console.print(t("dl_show_latest", reason=mask_text(reason(r["reason"]))))
    table = Table(title=t("dl_history"))
    for col in (t("dl_col_at"), t("dl_col_event"), t("dl_col_reason")):
        table.add_column(col)
    for h in r["history"]:
        event = str(h.get("event"))
        run_id = f" (run {h['run_id']})" if h.get("run_id") is not None else ""
        times = deadletter_history.times(h)
        again = "" if times <= 1 else t("dl_repeated", times=times, last=local_time(h.get("last_at")))
        table.add_row(
            local_time(h.get("at")),
            (t(f"dl_event_{event}") if f"dl_event_{event}" in MESSAGES else event) + again,
            mask_text(reason(str(h.get("reason") or ""))) + run_id,
        )
    console.print(table)


@deadletter_app.command("retry")
def deadletter_retry(
    dead_id: int | None = typer.Argument(None, help="Dead letter id."),
    all_: bool = typer.Option(False, "--all", help="Retry every open dead letter."),
    json_out: bool = JsonOption,
    config: Path | None = ConfigOption,
) -> None:
    """Retry dead letters: inbound records re-mapped with the current configuration, refused write-backs requeued."""
    if dead_id is None and not all_:
        raise InputError("give a dead letter id or --all")
    ctx = load_context(config)
    store = ctx.open_store()
    from crmhub.security.guard import current_actor

    try:
        outcomes = run(
            retry_dead_letters(
                ctx.settings, ctx.registry, store, None if all_ else [dead_id or 0], current_actor().name
            )
        )
    finally:
        store.dispose()
    ok = sum(o.ok for o in outcomes)
    failed = len(outcomes) - ok
    for o in outcomes:
        if json_out:
            write_json_line({**o.as_json(), "message": mask_text(o.message)})
            continue
        console.print(
            f"#{o.id} {o.connector}/{o.stream} {o.source_id or '-'}: "
            f"{reason('ok' if o.ok else 'still failing')} — {mask_text(reason(o.message))}"
        )
    if not json_out:
        console.print(t("dl_retry_summary", ok=ok, failed=failed))
        if ok:
            console.print(t("dl_retry_next"))
    raise SystemExit(exit_codes.for_counts(ok, failed))
