"""Console pages: the client list (``clients list``), the client 360 (``clients show``) and its audited reveal.

The list filters in SQL and pages on the server (`crmhub.console.client_list`); the 360 shows the golden record with
the lineage of every field (what ``crmhub clients explain`` prints), the source records side by side, the risk
explanation (``crmhub risk explain``), ledger accounts, transactions, facilities, alerts (for those who may read
them) and interactions with the follow-up due (``crmhub interactions list``). Personal data is masked; a reveal is
a POST with a stated reason that writes the same audit entry as the CLI's ``--reveal`` before the page is
rendered unmasked — for that one response only (nothing is remembered, a reload is masked again).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session
from starlette.responses import Response

from crmhub.console import client360 as c360
from crmhub.console import client_list
from crmhub.console.export import FORMATS, export_response
from crmhub.console.web import Req, page
from crmhub.display import label, local_time
from crmhub.errors import InputError
from crmhub.i18n import VALUE_LABELS, Lang
from crmhub.masking import mask_text
from crmhub.notify import followup
from crmhub.risk import explain as explain_mod
from crmhub.security.roles import REVEAL_ROLES
from crmhub.store.tables import GoldenClient
from crmhub.sync import queries
from crmhub.sync.audit import record_reveal

MAX_REASON = 500
FIELD_ORDER = list(VALUE_LABELS["field"])
ADDRESS_KEYS = ("country", "province", "city", "district", "street", "postcode")


def _today(req: Req) -> date:
    return datetime.now(UTC).astimezone(ZoneInfo(req.state.settings.notify.timezone)).date()


# --- the list -------------------------------------------------------------------------------------------------


@page("GET", "/clients", command="clients list")
def clients_list(req: Req) -> Response:
    """Search golden clients by name, USCC, region, industry, segment, rating or manager; export the result."""
    filters = client_list.ClientFilters.parse(req.arg)
    fmt = req.arg("format")
    if fmt in FORMATS:
        headers = [
            req.text(zh, en)
            for zh, en in (
                ("编号", "id"),
                ("统一社会信用代码", "USCC"),
                ("名称", "name"),
                ("行业代码", "industry code"),
                ("行业", "industry"),
                ("地区", "region"),
                ("风险分层", "segment"),
                ("评级", "rating"),
                ("客户经理", "relationship manager"),
                ("更新时间", "updated"),
            )
        ]
        req.audit_export("client")
        return export_response(fmt, headers, client_list.export_rows(req.state.store, filters, req.lang), "clients")
    with req.db() as s:
        pager = client_list.list_page(s, filters, req.page_number(), req.state.settings.console.page_size)
    return req.render(
        "clients/list.html.j2",
        active="/clients",
        pager=pager,
        f=filters,
        segments=client_list.SEGMENTS,
        ratings=client_list.RATINGS,
        sections=client_list.INDUSTRY_SECTIONS,
        region_of=client_list.region_of,
        local=_local,
    )


# --- the 360 --------------------------------------------------------------------------------------------------


def _local(value: Any) -> str:
    return local_time(value, seconds=False)


def _client_or_404(req: Req, s: Session) -> GoldenClient | Response:
    """The client of the path's id (a merged one resolves to its survivor), or an error page."""
    cid = int(req.request.path_params["id"])
    try:
        return queries.find_client(s, str(cid))
    except InputError:
        return req.render(
            "error.html.j2",
            status_code=404,
            title=req.text("没有这个客户", "No such client"),
            message=req.text(f"没有编号为 {cid} 的客户。", f"There is no client with id {cid}."),
            hint=req.text("请在客户列表中查找。", "Find it in the client list."),
        )


@page("GET", "/clients/{id:int}", command="clients show")
def client_show(req: Req) -> Response:
    """Client 360: golden record and lineage, source records, risk, ledger, alerts, interactions (masked)."""
    asked = int(req.request.path_params["id"])
    with req.db() as s:
        found = _client_or_404(req, s)
        if isinstance(found, Response):
            return found
        if found.id != asked:
            return req.redirect(
                f"/clients/{found.id}",
                notice=req.text(f"客户 {asked} 已合并到 {found.id}", f"client {asked} was merged into {found.id}"),
            )
        context = _context(req, s, found, masked=True)
    return req.render("clients/show.html.j2", **context)


@page("POST", "/clients/{id:int}/reveal", command="clients show", roles=REVEAL_ROLES)
def client_reveal(req: Req) -> Response:
    """The 360 with personal data in clear, for this response only; the reason is audited first."""
    reason = req.field("reason")
    with req.db() as s:
        found = _client_or_404(req, s)
        if isinstance(found, Response):
            return found
        if not reason:
            context = _context(req, s, found, masked=True)
            context["reveal_error"] = req.text(
                "请填写查看原文的理由（将记入审计日志）。",
                "Say why you need the data in clear (the reason is audited).",
            )
            return req.render("clients/show.html.j2", status_code=400, **context)
        if len(reason) > MAX_REASON:
            context = _context(req, s, found, masked=True)
            context["reveal_error"] = req.text(
                f"理由过长（最多 {MAX_REASON} 字）。", f"The reason is too long (at most {MAX_REASON} characters)."
            )
            return req.render("clients/show.html.j2", status_code=400, **context)
        entry = record_reveal(
            s,
            command="clients show",
            reason=reason,
            entity="client",
            entity_id=found.id,
            details={"client_ids": [found.id], "channel": "console"},
            actor=req.user.name,
        )
        s.flush()
        context = _context(req, s, found, masked=False)
        context["revealed"] = {"entry": entry.id, "reason": reason, "who": entry.actor}
    return req.render("clients/show.html.j2", **context)


def _context(req: Req, s: Session, row: GoldenClient, *, masked: bool) -> dict[str, Any]:
    """Everything the 360 template shows, read in one transaction, personal data masked unless ``masked`` is
    False."""
    item = queries.client_json(row, mask=masked, risk=queries.current_risk(s, row.id))
    lineage = [
        {
            "field": f.field,
            "value": c360.shown(f.value, f.field, masked=masked),
            "source": f.source,
            "record": f.record,
            "observed_at": f.observed_at,
            "rule": f.rule,
            "competing": [{**c, "value": c360.shown(c.get("value"), f.field, masked=masked)} for c in f.competing],
        }
        for f in queries.explain(s, row.id)
    ]
    lineage.sort(
        key=lambda f: (FIELD_ORDER.index(f["field"]) if f["field"] in FIELD_ORDER else len(FIELD_ORDER), f["field"])
    )
    records = c360.linked_records(s, row.id)
    try:
        risk: dict[str, Any] | None = explain_mod.explanation(s, row)
    except InputError:
        risk = None
    today = _today(req)
    alerts = c360.client_alerts(s, row.id) if req.may("alerts list") else None
    interactions = followup.list_interactions(s, row.id, 20)
    return {
        "active": "/clients",
        "client": row,
        "item": item,
        "masked": masked,
        "lineage": lineage,
        "records": records,
        "fields": c360.side_by_side(records, FIELD_ORDER, masked=masked),
        "risk": risk,
        "risk_chart": c360.factor_chart(risk["factors"], req.lang) if risk else None,
        "risk_history": explain_mod.history(s, row.id, limit=5),
        "accounts": c360.accounts(s, records, masked=masked),
        "tx": c360.transactions(s, records, today),
        "facilities": c360.facilities(s, records),
        "alerts": alerts,
        "interactions": [
            {
                "kind": i.kind,
                "occurred_at": i.occurred_at,
                "by": i.by,
                "source": i.source,
                "summary": (mask_text(i.summary) if masked else i.summary) if i.summary else None,
            }
            for i in interactions
        ],
        "follow_up": followup.follow_up_for(s, row, req.state.settings.notify, today),
        "findings": queries.data_quality(row),
        "region": client_list.region_of(
            (item.get("registered_address") or {}).get("province"), (item.get("registered_address") or {}).get("city")
        ),
        "may_reveal": req.may_reveal,
        "blank": c360.blank,
        "fmt": lambda v: show_value(v, req.lang),
        "lbl": lambda group, v: label(group, v, req.lang),
        "local": _local,
    }


def show_value(value: Any, lang: Lang) -> str:
    """A field value as one readable line: money as ``1,000.00 CNY``, an industry as ``E 建筑业``, objects as
    ``key: value`` pairs, lists joined with ``|``; nothing as a dash."""
    if c360.blank(value):
        return "—"
    if isinstance(value, bool):
        return ("是" if value else "否") if lang == "zh" else ("yes" if value else "no")
    if isinstance(value, str | int | float | Decimal):
        return str(value)
    if isinstance(value, dict):
        if set(value) >= {"amount", "currency"}:
            return f"{value['amount']} {value['currency']}"
        if "code" in value and ("name_zh" in value or "name_en" in value):
            return f"{value['code']} {value.get('name_zh' if lang == 'zh' else 'name_en') or ''}".strip()
        if set(value) <= set(ADDRESS_KEYS):
            return " ".join(str(value[k]) for k in ADDRESS_KEYS if not c360.blank(value.get(k)))
        parts = [
            f"{label('field', k, lang) if k in VALUE_LABELS['field'] else k}: {show_value(v, lang)}"
            for k, v in value.items()
            if not c360.blank(v)
        ]
        return "; ".join(parts) or "—"
    if isinstance(value, list | tuple):
        return " | ".join(show_value(v, lang) for v in value) or "—"
    return json.dumps(value, ensure_ascii=False, default=str)
