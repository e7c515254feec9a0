"""``crmhub notify`` (test, run, log, retry, routes) and ``crmhub interactions`` (add, list).

Notifications are planned from the store and delivered through the outbox, so every command here goes through
the same path a sync uses: ``notify test`` plans a test row and delivers just that row, ``notify log`` reads the
outbox rows back, ``notify run`` plans and delivers whatever is due (follow-up reminders included — schedule it
each morning). ``interactions add`` lets a relationship manager record a visit, which resets the follow-up clock.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from crmhub.cli.common import (
    AllOption,
    ConfigOption,
    Context,
    LimitOption,
    console,
    load_context,
    note_cut,
    row_limit,
    run,
    write_json_line,
)
from crmhub.core.exit_codes import ExitCode
from crmhub.display import label, local_time
from crmhub.errors import InputError
from crmhub.i18n import bilingual
from crmhub.masking import mask_text
from crmhub.notify import followup
from crmhub.notify.log import list_notifications, notification_json, requeue
from crmhub.notify.service import Notifier
from crmhub.notify.settings import EVENTS
from crmhub.sync import queries

notify_app = typer.Typer(
    help="Notifications: test a channel, send what is due, read the delivery log.", no_args_is_help=True
)
interactions_app = typer.Typer(
    help="Visits, calls and messages with clients (they reset follow-up reminders).", no_args_is_help=True
)

_COLOUR = {
    "delivered": "green",
    "failed": "red",
    "unconfirmed": "yellow",
    "partial": "yellow",
    "retrying": "cyan",
    "skipped": "dim",
    "sending": "magenta",
}


def _exit(code: int) -> None:
    """End with ``code``. SystemExit rather than typer.Exit: `crmhub.cli.main` runs typer with
    ``standalone_mode=False``, where a typer.Exit code is returned by the app and then dropped."""
    if code:
        raise SystemExit(code)


def _with_notifier(ctx: Context, work: Any) -> Any:
    store = ctx.open_store()
    try:

        async def go() -> Any:
            async with Notifier(ctx.settings, ctx.registry, store) as notifier:
                return await work(notifier)

        return run(go())
    finally:
        store.dispose()


@notify_app.command("test")
def notify_test(
    channel: str = typer.Argument(..., help="A channel name under [channels], e.g. email or wecom."),
    to: list[str] | None = typer.Option(None, "--to", help="Recipient (repeatable); default: the operators group."),
    config: Path | None = ConfigOption,
    json_out: bool = typer.Option(False, "--json", help="Print the log entry as JSON."),
) -> None:
    """Send a test message through CHANNEL via the outbox and show the channel's answer."""
    ctx = load_context(config)
    entry = _with_notifier(ctx, lambda n: n.send_test(channel, list(to or []) or None))
    if json_out:
        write_json_line(entry)
    else:
        colour = _COLOUR.get(entry["status"], "white")
        head = bilingual(f"测试消息 #{entry['id']} 经 {channel}：", f"test message #{entry['id']} via {channel}: ")
        console.print(
            f"{escape(head)}[{colour}]{escape(label('outbox_status', entry['status']))}[/{colour}]", markup=True
        )
        for recipient, result in (entry["results"] or {}).items():
            console.print(f"  {recipient}: {result}")
        if entry.get("answer"):
            console.print(f"  [dim]{escape(str(entry['answer']))}[/dim]", markup=True)
        if entry.get("error") and entry["status"] != "delivered":
            console.print(f"  [red]{escape(str(entry['error']))}[/red]", markup=True)
    _exit(ExitCode.OK if entry["status"] == "delivered" else ExitCode.FAILED)


@notify_app.command("run")
def notify_run(
    config: Path | None = ConfigOption,
    json_out: bool = typer.Option(False, "--json", help="Print the outcome as one JSON object."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be planned; send nothing."),
    follow_ups: bool = typer.Option(True, "--follow-ups/--no-follow-ups", help="Include follow-up reminders."),
) -> None:
    """Plan every notification that is due (alerts, downgrades, runs, follow-ups) and send it."""
    ctx = load_context(config)
    outcome = _with_notifier(ctx, lambda n: n.run(follow_ups=follow_ups, dry_run=dry_run))
    if json_out:
        data = outcome.as_dict()
        if dry_run:
            data["would_send"] = [_planned_json(r) for r in outcome.plan.rows]
        write_json_line(data)
        return
    for warning in outcome.plan.warnings:
        console.print(f"[yellow]{escape(warning)}[/yellow]", markup=True)
    if dry_run:
        table = Table(title=bilingual("将要发送的通知（演练，未发送）", "Notifications that would be sent (dry run)"))
        for col in (
            bilingual("事件", "event"),
            bilingual("渠道", "channel"),
            bilingual("收件人", "recipients"),
            bilingual("状态", "state"),
        ):
            table.add_column(col)
        for r in outcome.plan.rows:
            item = _planned_json(r)
            table.add_row(
                label("notify_event", item["event"]),
                item["channel"],
                ", ".join(item["recipients"]) or "-",
                label("outbox_status", item["state"]) + (f" ({item['error']})" if item["error"] else ""),
            )
        console.print(table)
        return
    planned, skipped = sum(outcome.plan.planned.values()), sum(outcome.plan.skipped.values())
    d = outcome.delivery
    console.print(
        bilingual(
            f"新计划 {planned} 条（跳过 {skipped} 条）；送达 {d.delivered}，重试中 {d.retrying}，"
            f"失败 {d.failed}，部分送达 {d.partial}，送达未知 {d.unconfirmed}",
            f"{planned} planned ({skipped} skipped); {d.delivered} delivered, "
            f"{d.retrying} retrying, {d.failed} failed, {d.partial} partial, {d.unconfirmed} unconfirmed",
        )
    )
    for name, why in d.stopped.items():
        console.print(f"[red]{escape(name)}: {escape(why)}[/red]", markup=True)
    for name, why in d.paused.items():
        console.print(
            bilingual(
                f"[yellow]{escape(name)} 暂时不可用，剩余通知稍后重试：{escape(why)}[/yellow]",
                f"[yellow]{escape(name)} is unavailable; the rest waits for the next run: {escape(why)}[/yellow]",
            ),
            markup=True,
        )
    if d.locked:
        console.print(
            bilingual(
                f"另一个进程正在发送通知（{d.locked}），本次未发送",
                f"another process is delivering ({d.locked}); nothing was sent by this one",
            )
        )
    _exit(ExitCode.FAILED if d.stopped else ExitCode.OK)


def _planned_json(row: dict[str, Any]) -> dict[str, Any]:
    payload = row["payload"]
    return {
        "event": row["stream"],
        "fact": payload["fact"],
        "channel": row["target"],
        "recipients": payload["recipients"],
        "template": payload["template"],
        "lang": payload["lang"],
        "state": row["state"],
        "error": row["last_error"],
    }


@notify_app.command("log")
def notify_log(
    config: Path | None = ConfigOption,
    json_out: bool = typer.Option(False, "--json", help="One JSON object per line."),
    status: str | None = typer.Option(
        None, "--status", help="delivered, failed, unconfirmed, retrying, planned, partial, sending or skipped."
    ),
    event: str | None = typer.Option(None, "--event", help=f"One of {', '.join(EVENTS)}, test."),
    channel: str | None = typer.Option(None, "--channel", help="Only this channel."),
    limit: int = LimitOption,
    all_rows: bool = AllOption,
) -> None:
    """The delivery log: every notification with its status, attempts and the channel's answer per recipient."""
    ctx = load_context(config)
    cap = row_limit(limit, all_rows)
    with ctx.session() as s:  # one row more than shown tells whether the log was cut
        entries = [
            notification_json(r)
            for r in list_notifications(s, status=status, event=event, channel=channel, limit=cap + 1)
        ]
    cut, entries = len(entries) > cap, entries[:cap]
    if json_out:
        for entry in entries:
            write_json_line(entry)
        if cut:
            note_cut(len(entries), None)
        return
    table = Table(title=bilingual("通知发送记录", "Notification log"))
    for col in (
        "id",
        bilingual("时间", "time"),
        bilingual("事件", "event"),
        bilingual("渠道", "channel"),
        bilingual("收件人", "recipients"),
        bilingual("状态", "status"),
        bilingual("次数", "attempts"),
        bilingual("应答 / 原因", "answer / reason"),
    ):
        table.add_column(col)
    for e in entries:
        colour = _COLOUR.get(e["status"], "white")
        table.add_row(
            str(e["id"]),
            local_time(e["updated_at"]),
            label("notify_event", e["event"]),
            e["channel"],
            ", ".join(e["recipients"]) or "-",
            Text(label("outbox_status", e["status"]), style=colour),
            str(e["attempts"]),
            mask_text(str(e["error"] or e["answer"] or ""))[:120],
        )
    console.print(table)
    if cut:
        note_cut(len(entries), None)
    unsure = [str(e["id"]) for e in entries if e["status"] == "unconfirmed"]
    if unsure:  # may be lost or doubled: say so where operators look, with what to do
        console.print(
            bilingual(
                f"未确认（可能丢失或重复，不会自动重发）：#{', #'.join(unsure)}。请向收件人核实，未收到的用 "
                "`crmhub notify retry ID` 重发。",
                f"Unconfirmed (may be lost or doubled; never re-sent automatically): #{', #'.join(unsure)}. Check with "
                "the recipients, then `crmhub notify retry ID` for any that did not arrive.",
            ),
            style="yellow",
        )


@notify_app.command("retry")
def notify_retry(
    ids: list[int] = typer.Argument(..., help="Notification ids from `crmhub notify log`."),
    config: Path | None = ConfigOption,
) -> None:
    """Send failed, partial, unconfirmed or skipped notifications again (delivered recipients are left out).

    For an unconfirmed one, first make sure the message did not arrive: a retry may otherwise duplicate it.
    """
    from crmhub.security.guard import current_actor
    from crmhub.sync.audit import append

    ctx = load_context(config)
    with ctx.session() as s:
        for row_id in ids:
            row = requeue(s, row_id)
            append(
                s,
                actor=current_actor().name,
                action="notification.retry",
                entity="notification",
                entity_id=row.id,
                details={"target": row.target, "event": (row.payload or {}).get("event")},
            )
            console.print(
                bilingual(
                    f"#{row.id} 已重新排队，将在下次 `crmhub notify run` 时发送",
                    f"#{row.id} queued again; the next `crmhub notify run` sends it",
                )
            )


@notify_app.command("routes")
def notify_routes(config: Path | None = ConfigOption, json_out: bool = typer.Option(False, "--json")) -> None:
    """The effective routes: per event, which channel sends to whom, in which language, and whether it can."""
    ctx = load_context(config)
    ns = ctx.settings.notify
    rows: list[dict[str, Any]] = []
    for event in EVENTS:
        route = ns.route(event)
        for send in ns.sends(event, ctx.settings.lang):
            cfg = ctx.settings.channels.get(send.channel)
            usable = (
                "ok"
                if cfg is not None and cfg.enabled
                else "channel not configured"
                if cfg is None
                else "channel disabled"
            )
            to = [f"{spec} ({len(ns.groups[spec])})" if spec in ns.groups else spec for spec in send.to]
            rows.append(
                {
                    "event": event,
                    "enabled": route.enabled and ns.enabled,
                    "channel": send.channel,
                    "to": to,
                    "template": send.template,
                    "lang": send.lang,
                    "channel_status": usable,
                }
            )
    if json_out:
        for r in rows:
            write_json_line(r)
        return
    table = Table(title=bilingual("通知路由", "Notification routes"))
    for col in (
        bilingual("事件", "event"),
        bilingual("启用", "enabled"),
        bilingual("渠道", "channel"),
        bilingual("收件人", "to"),
        bilingual("模板", "template"),
        bilingual("语言", "lang"),
        bilingual("渠道状态", "channel status"),
    ):
        table.add_column(col)
    for r in rows:
        table.add_row(
            label("notify_event", r["event"]),
            "✓" if r["enabled"] else "-",
            r["channel"],
            ", ".join(r["to"]),
            str(r["template"]),
            str(r["lang"]),
            r["channel_status"],
        )
    console.print(table)


# --- interactions --------------------------------------------------------------------------------------------


def _when(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(f"--at {value!r} is not an ISO date/time", hint="e.g. 2026-05-01T10:00+08:00") from None
    if parsed.tzinfo is None:
        raise InputError(f"--at {value!r} has no time zone", hint="add one, e.g. 2026-05-01T10:00+08:00")
    return parsed


@interactions_app.command("add")
def interactions_add(
    ref: str = typer.Argument(..., help="Hub id or USCC of the client."),
    kind: str = typer.Option(..., "--kind", help="visit, call, message, email or meeting."),
    at: str | None = typer.Option(None, "--at", help="When (ISO 8601 with time zone; default: now)."),
    by: str | None = typer.Option(None, "--by", help="Who was in touch (the relationship manager)."),
    summary: str | None = typer.Option(None, "--summary", help="What was discussed."),
    config: Path | None = ConfigOption,
) -> None:
    """Record a visit, call, message, email or meeting with a client; it resets the follow-up reminder."""
    ctx = load_context(config)
    with ctx.session() as s:
        client = queries.find_client(s, ref)
        row = followup.record_interaction(s, client, kind, at=_when(at), by=by, summary=summary)
        s.flush()
        from crmhub.security.guard import current_actor
        from crmhub.sync.audit import append

        append(
            s,
            actor=current_actor().name,
            action="interaction.add",
            entity="client",
            entity_id=client.id,
            details={"interaction": row.id, "kind": row.kind, "by": by},
        )
        state = followup.follow_up_for(s, client, ctx.settings.notify, _today(ctx))
        name = client.name
    console.print(
        bilingual(
            f"已记录 {name} 的{label('interaction_kind', row.kind, 'zh')}（#{row.id}）",
            f"recorded a {row.kind} with {name} (#{row.id})",
        )
    )
    if state is not None:
        console.print(
            bilingual(
                f"下次跟进：{state.due_on.isoformat()}（每 {state.interval} 天）",
                f"next follow-up due {state.due_on.isoformat()} (every {state.interval} days)",
            )
        )


@interactions_app.command("list")
def interactions_list(
    ref: str = typer.Argument(..., help="Hub id or USCC of the client."),
    config: Path | None = ConfigOption,
    json_out: bool = typer.Option(False, "--json", help="One JSON object per line."),
    limit: int = LimitOption,
    all_rows: bool = AllOption,
) -> None:
    """A client's interactions, newest first, and when the next follow-up is due."""
    ctx = load_context(config)
    cap = row_limit(limit, all_rows)
    with ctx.session() as s:
        client = queries.find_client(s, ref)
        rows = followup.list_interactions(s, client.id, cap + 1)  # one more than shown: was the list cut?
        cut, rows = len(rows) > cap, rows[:cap]
        state = followup.follow_up_for(s, client, ctx.settings.notify, _today(ctx))
        items: list[dict[str, Any]] = [
            {
                "id": r.id,
                "client_id": r.client_id,
                "kind": r.kind,
                "occurred_at": r.occurred_at.isoformat(),
                "by": r.by,
                "summary": mask_text(r.summary) if r.summary else None,
                "source": r.source,
            }
            for r in rows
        ]
        name, segment = client.name, client.segment
    if json_out:
        for item in items:
            write_json_line(item)
        if cut:
            note_cut(len(items), None)
        return
    table = Table(title=f"{name} — " + bilingual(f"{len(items)} 条联系记录", f"{len(items)} interaction(s)"))
    for col in (
        "id",
        bilingual("时间", "when"),
        bilingual("方式", "kind"),
        bilingual("人员", "by"),
        bilingual("摘要", "summary"),
    ):
        table.add_column(col)
    for it in items:
        table.add_row(
            str(it["id"]),
            local_time(it["occurred_at"]),
            label("interaction_kind", it["kind"]),
            it["by"] or "-",
            it["summary"] or "-",
        )
    console.print(table)
    if cut:
        note_cut(len(items), None)
    if state is None:
        console.print(
            bilingual(
                f"风险分层 {segment or '-'} 未设置跟进周期", f"no follow-up interval for segment {segment or '-'}"
            )
        )
    else:
        late = bilingual("（已到期）", " (due now)") if state.overdue else ""
        console.print(
            bilingual(
                f"下次跟进：{state.due_on.isoformat()}{late}，每 {state.interval} 天",
                f"next follow-up: {state.due_on.isoformat()}{late}, every {state.interval} days",
            )
        )


def _today(ctx: Context) -> Any:
    from zoneinfo import ZoneInfo

    return datetime.now(UTC).astimezone(ZoneInfo(ctx.settings.notify.timezone)).date()
