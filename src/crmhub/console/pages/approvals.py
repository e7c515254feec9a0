"""Console pages: the approvals inbox and one proposal with Approve / Reject (`crmhub approvals list/show/approve/
reject`).

The rules are those of `crmhub.security.approvals`, called exactly as the CLI calls them: nobody decides their own
proposal, the approver needs the role `FOUR_EYES` names for the action, a rejection needs a reason, and proposals
about AML alerts are visible only to AML officers (no tipping-off) — filtered in SQL so paging stays right. The
page does not offer buttons the rules would refuse; it says why instead (and the server refuses anyway).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from starlette.responses import Response

from crmhub.console import proposals
from crmhub.console.web import Req, page, paginate
from crmhub.display import label, local_time
from crmhub.errors import AccessError, InputError
from crmhub.i18n import bilingual
from crmhub.masking import mask_fields, mask_text
from crmhub.security import approvals
from crmhub.security.roles import FOUR_EYES
from crmhub.store.tables import Approval

ACTIONS: dict[str, dict[str, str]] = {
    "review.decide": {"zh": "复核决定", "en": "review decision"},
    "client.split": {"zh": "拆分客户", "en": "split a client"},
    "client.unmerge": {"zh": "撤销合并", "en": "undo a merge"},
    "alert.close": {"zh": "关闭预警", "en": "close an alert"},
    "reveal.bulk": {"zh": "批量查看个人信息", "en": "bulk reveal"},
}
"""Each four-eyes action (`crmhub.security.roles.FOUR_EYES`) in words."""


def _action_label(action: str, lang: str) -> str:
    return ACTIONS.get(action, {}).get(lang, action)


def _visible_actions(req: Req) -> list[str]:
    return [a for a in FOUR_EYES if not approvals.aml_hidden(a, req.user.roles)]


def _row(row: Approval, words: proposals.Words, req: Req) -> dict[str, Any]:
    return {
        "id": row.id,
        "action": row.action,
        "action_label": _action_label(row.action, req.lang),
        "words": proposals.describe(row, words, req.lang),
        "proposer": row.proposer,
        "created": local_time(row.created),
        "status": row.status,
        "status_label": label("approval_status", row.status, req.lang),
        "decided_by": row.decided_by,
        "decided_at": local_time(row.decided_at) if row.decided_at else "",
        "note": mask_text(row.note or ""),
    }


@page("GET", "/approvals", command="approvals list")
def approvals_list(req: Req) -> Response:
    """The inbox: pending proposals by default (oldest first: a queue), or any status (newest first)."""
    status = req.arg("status", "pending")
    action = req.arg("action")
    if status != "all" and status not in approvals.STATUSES:
        raise InputError(
            req.text(
                f"状态须为以下之一：{', '.join(approvals.STATUSES)}、all（收到 {status[:20]!r}）",
                f"status must be one of: {', '.join(approvals.STATUSES)}, all (got {status[:20]!r})",
            )
        )
    visible = _visible_actions(req)
    if action and action not in visible:
        raise InputError(
            req.text(
                f"动作须为以下之一：{', '.join(visible)}（收到 {action[:20]!r}）",
                f"action must be one of: {', '.join(visible)} (got {action[:20]!r})",
            )
        )
    q = approvals.visible_to(select(Approval), req.user.roles)
    if status != "all":
        q = q.where(Approval.status == status)
    if action:
        q = q.where(Approval.action == action)
    q = q.order_by(Approval.id if status == "pending" else Approval.id.desc())
    with req.db() as s:
        pager = paginate(s, q, req.page_number(), req.state.settings.console.page_size)
        words = proposals.load_words(s, pager.rows)
        rows = [_row(r, words, req) for r in pager.rows]
    return req.render(
        "approvals/list.html.j2",
        active="/approvals",
        rows=rows,
        pager=pager,
        status=status,
        action=action,
        statuses=[(v, label("approval_status", v, req.lang)) for v in approvals.STATUSES],
        actions=[(a, _action_label(a, req.lang)) for a in visible],
    )


def _approval_id(req: Req) -> int:
    return int(req.request.path_params["id"])


def _refuse_hidden(row: Approval, req: Req) -> None:
    """The same refusal as `crmhub approvals show` for an AML proposal shown to someone outside the AML function."""
    if approvals.aml_hidden(row.action, req.user.roles):
        raise AccessError(
            bilingual(
                f"审批单 {row.id} 涉及反洗钱预警，只有 aml_officer 可以查看",
                f"approval {row.id} concerns an AML alert; only an aml_officer may see it",
                req.lang,
            )
        )


def _why_not(row: Approval, req: Req) -> str | None:
    """Why the user may not decide ``row`` (None: they may) — the rules `approvals.approve` enforces."""
    if row.status != "pending":
        return req.text(
            f"该审批单的状态是「{label('approval_status', row.status, 'zh')}」，不能再决定。",
            f"This proposal is {row.status}; it can no longer be decided.",
        )
    if row.proposer == req.user.name:
        return req.text(
            "这是你提议的，不能自己审批；须由另一位有权限的操作员批准或拒绝。",
            "You proposed this, so you may not decide it: another operator with the role must approve or reject it.",
        )
    needed = FOUR_EYES[row.action].approver_roles if row.action in FOUR_EYES else ()
    if not req.user.roles & set(needed):
        return req.text(
            f"审批此类操作需要以下角色之一：{', '.join(needed)}。",
            f"Deciding this needs one of the roles: {', '.join(needed)}.",
        )
    return None


def _detail(req: Req, approval_id: int, *, error: str | None = None, status_code: int = 200) -> Response:
    with req.db() as s:
        if s.get(Approval, approval_id) is None:
            return req.render(
                "error.html.j2",
                status_code=404,
                title=req.text("未找到", "Not found"),
                message=req.text(f"没有审批单 {approval_id}", f"no approval {approval_id}"),
                hint=req.text("请从审批收件箱中选择", "pick one from the approvals inbox"),
            )
        row = approvals.get(s, approval_id)
        _refuse_hidden(row, req)
        words = proposals.load_words(s, [row])
        view = _row(row, words, req)
        payload = mask_fields(row.payload or {}, None)
        raw_json = json.dumps(payload, ensure_ascii=False, indent=2, sort_keys=True)
        why_not = _why_not(row, req)
        item_id = (row.payload or {}).get("item_id")
    return req.render(
        "approvals/item.html.j2",
        status_code=status_code,
        active="/approvals",
        a=view,
        payload=payload,
        payload_json=raw_json,
        why_not=why_not,
        closed=view["status"] != "pending",
        item_id=item_id if isinstance(item_id, int) else None,
        error=error,
    )


@page("GET", "/approvals/{id:int}", command="approvals show")
def approval_show(req: Req) -> Response:
    """One proposal: what it would do, who proposed it, and Approve / Reject when the user may decide it."""
    return _detail(req, _approval_id(req))


@page("POST", "/approvals/{id:int}/approve", command="approvals approve")
def approval_approve(req: Req) -> Response:
    """Approve: the proposal is applied now as the proposer's intent (never by its proposer)."""
    approval_id = _approval_id(req)
    note = req.field("note") or None
    with req.db() as s:
        _refuse_hidden(approvals.get(s, approval_id), req)
        row, result = approvals.approve(s, approval_id, req.user.actor, note)
        status, proposer = row.status, row.proposer
    if status == "failed":
        notice = req.text(
            f"审批单 #{approval_id} 已批准但无法执行：{result.get('error')}",
            f"approval #{approval_id} approved but could not be applied: {result.get('error')}",
        )
    else:
        notice = req.text(
            f"审批单 #{approval_id}（提议人 {proposer}）已批准：{label('approval_status', status, 'zh')}",
            f"approval #{approval_id} (proposed by {proposer}) approved: {status}",
        )
    return req.redirect(f"/approvals/{approval_id}", notice=notice)


@page("POST", "/approvals/{id:int}/reject", command="approvals reject")
def approval_reject(req: Req) -> Response:
    """Reject with a reason (required); nothing is applied."""
    approval_id = _approval_id(req)
    note = req.field("note")
    if not note:
        return _detail(
            req,
            approval_id,
            status_code=400,
            error=req.text("拒绝时必须填写原因", "a rejection needs a reason: write it in the note"),
        )
    with req.db() as s:
        _refuse_hidden(approvals.get(s, approval_id), req)
        approvals.reject(s, approval_id, req.user.actor, note)
    return req.redirect(
        f"/approvals/{approval_id}",
        notice=req.text(f"审批单 #{approval_id} 已拒绝", f"approval #{approval_id} rejected"),
    )
