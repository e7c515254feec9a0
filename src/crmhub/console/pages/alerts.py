"""Console pages: the AML officers' alert queue, one alert's evidence, and acknowledging or closing it.

Everything here is the CLI's ``alerts list | show | ack | close`` in a browser, by the same functions: the queue
is `crmhub.risk.alerts.queue`, masking `crmhub.risk.alerts.store.masked`, acknowledging `store.acknowledge`,
closing `crmhub.security.approvals.submit` (four eyes by default: a second AML officer approves in the approvals
inbox, ``/approvals/{id}``), and report deadlines `crmhub.risk.alerts.deadlines` — the rule the notifications
use, so a due day reads the same in a message and on the screen. AML information is confidential (domain.md §11):
every route needs the aml_officer role, as the CLI commands do.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session
from starlette.responses import Response

from crmhub.console.export import FORMATS, export_response
from crmhub.console.web import Req, page, paginate
from crmhub.display import label
from crmhub.errors import InputError
from crmhub.risk.alerts import queue
from crmhub.risk.alerts.deadlines import add_working_days, reference_day, report_deadline
from crmhub.risk.alerts.store import acknowledge, alert_json, masked
from crmhub.security import approvals
from crmhub.store.tables import Alert, Approval, GoldenClient
from crmhub.sync import audit

DUE_SOON_WORKING_DAYS = 2
"""An open alert whose report is due within this many working days is highlighted as due soon."""
AGE_COLOURS = ("#2e9d57", "#d4a72c", "#e16f24", "#c62828")
"""One colour per age bucket, young to old."""
NOTE_MAX = 2000
EXPORT_CHUNK = 1000


def _today(req: Req, now: datetime) -> date:
    """``now``'s day in the bank's time zone (the zone the deadlines are counted in)."""
    return now.astimezone(ZoneInfo(req.state.settings.notify.timezone)).date()


def _filters(req: Req) -> queue.QueueFilters:
    return queue.QueueFilters(
        status=req.arg("status", "open"),
        kind=req.arg("kind"),
        age=req.arg("age"),
        client=req.arg("q"),
        order=req.arg("order", "oldest"),
    ).check()


def _amount(row: queue.QueueRow) -> Decimal | None:
    return None if row.amount_minor is None else Decimal(row.amount_minor).scaleb(-2)


def _row(req: Req, row: queue.QueueRow, pending: Approval | None, now: datetime) -> dict[str, Any]:
    """What one queue line shows: the alert, its client, age, report deadline and urgency, a waiting proposal."""
    ns = req.state.settings.notify
    today = _today(req, now)
    day = reference_day(row, ns)
    deadline = report_deadline(row, ns)
    urgency = ""
    if deadline is not None and row.status in queue.OPEN:
        if today > deadline:
            urgency = "overdue"
        elif deadline <= add_working_days(today, DUE_SOON_WORKING_DAYS, ns):
            urgency = "due_soon"
    return {
        "id": row.id,
        "kind": row.kind,
        "status": row.status,
        "client_id": row.client_id,
        "name": row.name,
        "uscc": row.uscc,
        "amount": _amount(row),
        "currency": row.currency,
        "day": day,
        "age": queue.age_days(row.created_at, now),
        "deadline": deadline,
        "urgency": urgency,
        "pending": pending,
        "disposition": row.disposition,
    }


def _chart(req: Req, counts: dict[tuple[str, str], int]) -> dict[str, Any]:
    """A stacked bar chart: open alerts per kind, one colour per age bucket."""
    kinds = [k for k in queue.ALERT_KINDS if any(counts.get((k, b)) for b in queue.AGE_BUCKETS)]
    return {
        "animation": False,
        "color": list(AGE_COLOURS),
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 0},
        "grid": {"left": 40, "right": 16, "top": 36, "bottom": 28, "containLabel": True},
        "xAxis": {"type": "category", "data": [label("alert_kind", k, req.lang) for k in kinds]},
        "yAxis": {"type": "value", "minInterval": 1},
        "series": [
            {
                "name": req.text(f"{b} 天", f"{b} days"),
                "type": "bar",
                "stack": "age",
                "data": [counts.get((k, b), 0) for k in kinds],
            }
            for b in queue.AGE_BUCKETS
        ],
    }


@page("GET", "/alerts", command="alerts list")
def alerts_list(req: Req) -> Response:
    """The queue: filters, one page of alerts oldest first, deadlines, waiting proposals, a chart by kind and age."""
    filters = _filters(req)
    now = datetime.now(UTC)
    fmt = req.arg("format")
    if fmt:
        return _export(req, filters, now, fmt)
    size = req.state.settings.console.page_size
    with req.db() as s:
        ids = paginate(s, queue.queue_query(filters, now), req.page_number(), size)
        loaded = queue.load(s, ids.rows)
        pending = queue.pending_closes(s, ids.rows)
        counts = queue.open_by_kind_and_age(s, now)
        rows = [_row(req, r, pending.get(r.id), now) for r in loaded]
    pager = replace(ids, rows=rows)
    return req.render(
        "alerts/list.html.j2",
        active="/alerts",
        pager=pager,
        rows=pager.rows,
        filters=filters,
        chart=_chart(req, counts) if counts else None,
        open_total=sum(counts.values()),
        kinds=queue.ALERT_KINDS,
        statuses=queue.STATUS_FILTERS,
        buckets=queue.AGE_BUCKETS,
        working_days=req.state.settings.notify.aml_report_working_days,
        lab=lambda group, value: label(group, value, req.lang),
    )


def _export(req: Req, filters: queue.QueueFilters, now: datetime, fmt: str) -> Response:
    """The filtered queue as CSV or Excel, by id, read in chunks (never the whole list in memory), and audited."""
    if fmt not in FORMATS:
        raise InputError(req.text(f"导出格式 {fmt!r} 无效，可选：csv、xlsx", f"format {fmt!r} is not csv or xlsx"))
    with req.db() as s:
        audit.append(
            s,
            actor=req.user.name,
            action="alert.export",
            entity="alert",
            entity_id=None,
            details={"format": fmt, "filters": filters.as_dict(), "via": "console"},
        )
    headers = [
        req.text(zh, en)
        for zh, en in (
            ("编号", "id"),
            ("类型", "kind"),
            ("状态", "status"),
            ("客户编号", "client id"),
            ("客户名称", "client"),
            ("统一社会信用代码", "USCC"),
            ("金额", "amount"),
            ("币种", "currency"),
            ("交易日", "day"),
            ("已等待天数", "days waiting"),
            ("报告截止日", "report deadline"),
            ("紧急程度", "urgency"),
            ("待审批关闭", "pending close approval"),
            ("处置", "disposition"),
        )
    ]

    urgency = {"overdue": req.text("已逾期", "overdue"), "due_soon": req.text("即将到期", "due soon")}

    def convert(s: Session, chunk: list[queue.QueueRow]) -> list[list[Any]]:
        pending = queue.pending_closes(s, [q.id for q in chunk])
        out = []
        for q in chunk:
            r = _row(req, q, pending.get(q.id), now)
            out.append(
                [
                    r["id"],
                    label("alert_kind", r["kind"], req.lang),
                    label("alert_status", r["status"], req.lang),
                    r["client_id"],
                    r["name"],
                    r["uscc"],
                    r["amount"],
                    r["currency"],
                    r["day"],
                    r["age"],
                    r["deadline"],
                    urgency.get(r["urgency"]),
                    r["pending"].id if r["pending"] else None,
                    label("alert_disposition", r["disposition"], req.lang) if r["disposition"] else None,
                ]
            )
        return out

    def lines() -> Iterator[list[Any]]:
        for chunk in queue.chunks(req.state.store.begin, filters, now, convert, EXPORT_CHUNK):
            yield from chunk

    return export_response(fmt, headers, lines(), f"alerts-{_today(req, now).isoformat()}")


def _detail(s: Session, req: Req, alert_id: int) -> dict[str, Any] | None:
    """Everything the alert page shows (None: no such alert)."""
    row = s.get(Alert, alert_id)
    if row is None:
        return None
    now = datetime.now(UTC)
    client = s.get(GoldenClient, row.client_id) if row.client_id is not None else None
    proposals = queue.close_proposals(s, alert_id)
    pending = next((p for p in proposals if p.status == "pending"), None)
    item = masked(alert_json(row))
    evidence = item.get("evidence") or {}
    details = dict(evidence.get("details") or {})
    regulation = details.pop("regulation", None), details.pop("regulation_en", None)
    return {
        "alert": item,
        "row": _row(req, queue.QueueRow.of(row, client.name if client else None), pending, now),
        "client": client,
        "rule": evidence.get("rule") or {},
        "details": details,
        "regulation": req.text(regulation[0] or "", regulation[1] or regulation[0] or ""),
        "transactions": evidence.get("transactions") or [],
        "transactions_total": evidence.get("transactions_total", len(evidence.get("transactions") or [])),
        "disposition": evidence.get("disposition"),
        "proposals": proposals,
        "pending": pending,
        "history": queue.history(s, alert_id, [p.id for p in proposals]),
        "dispositions": approvals.DISPOSITIONS,
        "working_days": req.state.settings.notify.aml_report_working_days,
        "four_eyes": approvals.needs_four_eyes(req.state.settings, "alert.close"),
        "lab": lambda group, value: label(group, value, req.lang),
        "show": _show,
        "local": lambda value: _local(req, value),
    }


def _show(value: Any) -> str:
    """A detail value as one line: JSON for lists and objects (Chinese kept readable)."""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if isinstance(value, bool):
        return "true" if value else "false"
    return "—" if value is None or value == "" else str(value)


def _local(req: Req, value: datetime | str | None) -> str:
    """A stored (UTC) time in the bank's zone, to the minute."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value is None:
        return "—"
    return value.astimezone(ZoneInfo(req.state.settings.timezone)).strftime("%Y-%m-%d %H:%M")


def _not_found(req: Req, alert_id: int) -> Response:
    return req.render(
        "error.html.j2",
        status_code=404,
        title=req.text("没有该预警", "No such alert"),
        message=req.text(f"预警 {alert_id} 不存在", f"there is no alert {alert_id}"),
        hint=req.text("请从预警列表中选择", "pick one from the alert list (/alerts)"),
    )


@page("GET", "/alerts/{id:int}", command="alerts show")
def alert_show(req: Req) -> Response:
    """One alert: evidence, rule and version, client, deadline, history; acknowledge and close forms."""
    alert_id = int(req.request.path_params["id"])
    with req.db() as s:
        ctx = _detail(s, req, alert_id)
    if ctx is None:
        return _not_found(req, alert_id)
    return req.render("alerts/detail.html.j2", active="/alerts", form={}, error=None, **ctx)


def _note(req: Req) -> str:
    note = req.field("note")
    if len(note) > NOTE_MAX:
        raise InputError(
            req.text(f"说明不能超过 {NOTE_MAX} 个字符", f"the note may have at most {NOTE_MAX} characters")
        )
    return note


@page("POST", "/alerts/{id:int}/ack", command="alerts ack")
def alert_ack(req: Req) -> Response:
    """Acknowledge: someone is looking at the alert (its history and the audit log name them)."""
    alert_id = int(req.request.path_params["id"])
    note = _note(req)
    with req.db() as s:
        if s.get(Alert, alert_id) is None:
            return _not_found(req, alert_id)
        acknowledge(s, alert_id, actor=req.user.name, note=note or None)
    return req.redirect(
        f"/alerts/{alert_id}", notice=req.text(f"预警 {alert_id} 已受理", f"alert {alert_id} acknowledged")
    )


def _close_problem(req: Req, disposition: str, note: str) -> str | None:
    """Why the close form cannot be filed as filled in (None: it can)."""
    if disposition not in approvals.DISPOSITIONS:
        zh = "、".join(label("alert_disposition", d, "zh") for d in approvals.DISPOSITIONS)
        en = ", ".join(label("alert_disposition", d, "en") for d in approvals.DISPOSITIONS)
        return req.text(f"请选择处置结论（{zh}）", f"choose a disposition: {en}")
    if not note:
        return req.text(
            "关闭预警必须填写处置理由", "closing an alert needs a note with the reasons for the disposition"
        )
    return None


@page("POST", "/alerts/{id:int}/close", command="alerts close")
def alert_close(req: Req) -> Response:
    """Close with a disposition and a note: a proposal for a second AML officer (four eyes), else closed now."""
    alert_id = int(req.request.path_params["id"])
    disposition, note = req.field("disposition"), _note(req)
    problem = _close_problem(req, disposition, note)
    with req.db() as s:
        if problem is None:
            waiting = queue.pending_closes(s, [alert_id]).get(alert_id)
            if waiting is not None:
                problem = req.text(
                    f"关闭提议（审批单 {waiting.id}）已在等待审批，不能重复提交",
                    f"a close proposal (approval {waiting.id}) is already waiting for approval",
                )
        if problem is not None:
            ctx = _detail(s, req, alert_id)
            if ctx is None:
                return _not_found(req, alert_id)
            return req.render(
                "alerts/detail.html.j2",
                status_code=400,
                active="/alerts",
                error=problem,
                form={"disposition": disposition, "note": note},
                **ctx,
            )
        if s.get(Alert, alert_id) is None:
            return _not_found(req, alert_id)
        payload = {"alert_id": alert_id, "disposition": disposition, "note": note}
        proposal, _ = approvals.submit(s, req.state.settings, "alert.close", payload, req.user.actor)
        proposal_id = proposal.id if proposal is not None else None
    word = label("alert_disposition", disposition, req.lang)
    if proposal_id is not None:
        return req.redirect(
            f"/alerts/{alert_id}",
            notice=req.text(
                f"已提交关闭提议（审批单 {proposal_id}，处置：{word}）：需另一位反洗钱专员审批后才会关闭",
                f"close proposed (approval {proposal_id}, disposition: {word}): another AML officer must approve it",
            ),
        )
    return req.redirect(
        f"/alerts/{alert_id}", notice=req.text(f"预警 {alert_id} 已关闭（{word}）", f"alert {alert_id} closed ({word})")
    )
