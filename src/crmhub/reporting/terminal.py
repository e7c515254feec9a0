"""Rendering run reports and write-back plans as rich tables."""

from __future__ import annotations

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from crmhub.core.report import RunReport
from crmhub.display import duration_text, local_time
from crmhub.display import label as value_label
from crmhub.i18n import Lang
from crmhub.masking import mask_fields, mask_text
from crmhub.reporting.labels import STREAM_COLUMNS, label
from crmhub.reporting.masked import mask_report


def render_report(report: RunReport, lang: Lang) -> Group:
    """The report as a renderable: header, per-stream table, totals, errors (personal data masked)."""
    report = mask_report(report)
    parts: list[Table | Text] = []
    status = label(report.status, lang)
    head = Text(
        f"{label('title', lang)} #{report.run_id or '-'} — {status} — {report.duration_s:.1f} {label('seconds', lang)}",
        style="bold green" if report.status == "succeeded" else "bold yellow",
    )
    parts.append(head)
    job = f" ({report.job})" if report.job else ""
    parts.append(
        Text(
            f"{label('started', lang)} {local_time(report.started_at)} · "
            f"{label('trigger', lang)} {value_label('trigger', report.trigger, lang)}{job}"
        )
    )
    if report.dry_run:
        parts.append(Text(label("dry_run", lang), style="bold cyan"))
    table = Table(show_lines=False)
    table.add_column(label("connector", lang))
    table.add_column(label("stream", lang))
    for col in STREAM_COLUMNS:
        table.add_column(label(col, lang), justify="right")
    for connector, stream, counts in report.stream_rows():
        table.add_row(connector, stream, *(str(counts.get(c, 0)) for c in STREAM_COLUMNS))
    parts.append(table)
    api = Table()
    api.add_column(label("connector", lang))
    api.add_column(label("status", lang))
    for col in ("api_calls", "retries", "throttled", "written_back", "write_queued"):
        api.add_column(label(col, lang), justify="right")
    api.add_column(label("duration", lang), justify="right")
    for name, rep in report.connectors.items():
        api.add_row(
            name,
            label(rep.status, lang),
            str(int(rep.api.get("api_calls", 0))),
            str(int(rep.api.get("retries", 0))),
            str(int(rep.api.get("throttled", 0))),
            str(rep.written_back),
            str(rep.write_queued),
            f"{rep.duration_s:.1f}",
        )
    parts.append(api)
    parts += [Text(line, style="yellow") for line in queued_lines(report, lang)]
    totals = Table(title=label("totals", lang), show_header=False)
    totals.add_column()
    totals.add_column(justify="right")
    for key, value in report.totals.shown().items():
        totals.add_row(label(key, lang), str(value))
    parts.append(totals)
    for name, rep in report.connectors.items():
        if rep.error:
            parts.append(Text(f"{label('error', lang)} [{name}]: {mask_text(rep.error)}", style="red"))
        for stream, counts in rep.streams.items():
            if counts.get("error"):
                parts.append(
                    Text(f"{label('error', lang)} [{name}/{stream}]: {mask_text(str(counts['error']))}", style="red")
                )
    if report.error:
        parts.append(Text(f"{label('error', lang)}: {mask_text(report.error)}", style="red"))
    parts += _notifications(report, lang)
    parts += _tasks(report, lang)
    return Group(*parts)


def _tasks(report: RunReport, lang: Lang) -> list[Text]:
    """A run split over workers: how many tasks, and each one that took more than one try or did not finish."""
    if not report.tasks:
        return []
    workers = len({t.get("worker") for t in report.tasks if t.get("worker")})
    out = [Text(label("tasks_line", lang).format(tasks=len(report.tasks), workers=workers))]
    for t in report.tasks:
        if int(t.get("tries") or 0) > 1 or t.get("status") not in ("done", None):
            out.append(
                Text(
                    label("task_tries", lang).format(
                        task=f"{t.get('phase')}/{t.get('part')}", tries=t.get("tries"), status=t.get("status")
                    ),
                    style="yellow",
                )
            )
    return out


def queued_lines(report: RunReport, lang: Lang) -> list[str]:
    """One line per connector with write-backs left queued: how many, the ETA, and what sends them."""
    out = []
    for name, rep in report.connectors.items():
        if not rep.write_queued:
            continue
        eta = (
            label("queued_eta", lang).format(eta=duration_text(rep.write_eta_s, lang))
            if rep.write_eta_s is not None
            else ""
        )
        out.append(label("queued_note", lang).format(name=name, count=f"{rep.write_queued:,}", eta=eta))
    return out


def _notifications(report: RunReport, lang: Lang) -> list[Text]:
    """The notify step's counts, and every notification that may be lost or doubled (never silently)."""
    n = report.notifications
    if not n:
        return []
    counts = {k: n.get(k, 0) for k in ("planned", "delivered", "retrying", "failed", "unconfirmed")}
    out = [Text(f"{label('notifications', lang)}: " + label("notify_counts", lang).format(**counts))]
    for u in n.get("uncertain") or []:
        out.append(
            Text(
                label("notify_uncertain", lang).format(
                    id=u.get("id"),
                    event=u.get("event"),
                    channel=u.get("channel"),
                    recipients=mask_text(", ".join(u.get("recipients") or [])) or "-",
                ),
                style="yellow",
            )
        )
    if n.get("unconfirmed_total"):
        out.append(Text(label("notify_uncertain_hint", lang).format(total=n["unconfirmed_total"]), style="yellow"))
    return out


def render_plan(report: RunReport, lang: Lang, console: Console) -> None:
    """Print a dry run's write-back plan: per connector, creates and updates, field by field (masked)."""
    report = mask_report(report)
    if not report.plan:
        console.print(label("no_plan", lang))
        return
    table = Table(title=label("plan_title", lang))
    for col in ("connector", "action", "client", "field", "before", "after"):
        table.add_column(label(col, lang))
    for change in report.plan:
        first = True
        for field_name, values in change.fields.items():
            table.add_row(
                change.connector if first else "",
                label(change.action, lang) if first else "",
                f"{mask_text(change.client_name)} (#{change.client_id}, {change.source_id or '-'})" if first else "",
                field_name,
                str(mask_fields(values.get("before"), field_name)),
                str(mask_fields(values.get("after"), field_name)),
            )
            first = False
    console.print(table)
