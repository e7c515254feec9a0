"""Console pages: the review queue and one review item side by side (`crmhub review list/accept/reject`,
`crmhub clients split`).

Every decision goes through `crmhub.security.approvals.submit` with the logged-in operator's actor, exactly as the
CLI does: under ``[security.four_eyes]`` (the default) it files a proposal that another operator approves in the
inbox (`crmhub.console.pages.approvals`); without it the change applies at once. The page never offers a second
proposal for an item that already has one pending, and the server refuses one too (two browsers, one item).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import Response

from crmhub.console import compare, proposals
from crmhub.console.web import Req, page, paginate
from crmhub.display import label, local_time, reason
from crmhub.errors import InputError
from crmhub.masking import mask_fields, mask_text
from crmhub.security import approvals
from crmhub.store.tables import AuditLog, GoldenClient, ReviewItem

KINDS = ("match", "conflict", "uscc_conflict")
STATUSES = ("open", "accepted", "rejected")
NOTE_MAX = 2000
_DETAIL_LABELS = {
    "uscc": {"zh": "记录携带的统一社会信用代码", "en": "USCC the record carries"},
    "reason": {"zh": "原因", "en": "reason"},
}


def _score_arg(req: Req, name: str) -> float | None:
    raw = req.arg(name)
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise InputError(
            req.text(
                f"匹配概率范围须为 0 到 1 之间的数（收到 {raw[:20]!r}）",
                f"a score bound must be a number from 0 to 1 (got {raw[:20]!r})",
            )
        )
    return value


def _choice(req: Req, name: str, allowed: tuple[str, ...], default: str = "") -> str:
    value = req.arg(name, default)
    if value and value not in allowed and value != "all":
        raise InputError(
            req.text(
                f"{name} 须为以下之一：{', '.join(allowed)}（收到 {value[:20]!r}）",
                f"{name} must be one of: {', '.join(allowed)} (got {value[:20]!r})",
            )
        )
    return value


@page("GET", "/review", command="review list")
def review_list(req: Req) -> Response:
    """Review items (open by default), filtered by kind and score range, best scores first, one page at a time."""
    status = _choice(req, "status", STATUSES, "open")
    kind = _choice(req, "kind", KINDS)
    low, high = _score_arg(req, "min"), _score_arg(req, "max")
    ascending = req.arg("sort") == "asc"
    q = select(ReviewItem)
    if status and status != "all":
        q = q.where(ReviewItem.status == status)
    if kind and kind != "all":
        q = q.where(ReviewItem.kind == kind)
    if low is not None:
        q = q.where(ReviewItem.score >= low)
    if high is not None:
        q = q.where(ReviewItem.score <= high)
    by_score = ReviewItem.score.asc() if ascending else ReviewItem.score.desc()
    q = q.order_by(ReviewItem.score.is_(None), by_score, ReviewItem.id)  # items without a score (conflicts) last
    with req.db() as s:
        pager = paginate(s, q, req.page_number(), req.state.settings.console.page_size)
        items: list[ReviewItem] = pager.rows
        names = proposals.client_names(s, [c for it in items for c in (it.client_id, it.other_client_id)])
        pending = proposals.pending_for_items(s, items)
        rows = [
            {
                "id": it.id,
                "kind": label("review_kind", it.kind, req.lang),
                "status": it.status,
                "status_label": label("review_status", it.status, req.lang),
                "client": (it.client_id, names.get(it.client_id, "")) if it.client_id else None,
                "other": (it.other_client_id, names.get(it.other_client_id, "")) if it.other_client_id else None,
                "field": label("field", it.field, req.lang) if it.field else "",
                "score": it.score,
                "created": local_time(it.created_at),
                "pending": [p.id for p in pending.get(it.id, [])],
            }
            for it in items
        ]
    return req.render(
        "review/list.html.j2",
        active="/review",
        rows=rows,
        pager=pager,
        status=status,
        kind=kind,
        kinds=[(k, label("review_kind", k, req.lang)) for k in KINDS],
        statuses=[(k, label("review_status", k, req.lang)) for k in STATUSES],
        low=req.arg("min"),
        high=req.arg("max"),
        ascending=ascending,
    )


def _item_id(req: Req) -> int:
    return int(req.request.path_params["id"])


def _load_item(s: Session, req: Req, item_id: int) -> ReviewItem:
    item = s.get(ReviewItem, item_id)
    if item is None:
        raise InputError(
            req.text(f"没有复核事项 {item_id}", f"no review item {item_id}"),
            hint=req.text("请从复核队列中选择", "pick one from the review queue"),
        )
    return item


def _columns(s: Session, req: Req, item: ReviewItem) -> list[compare.Column]:
    """Golden first, then the candidate(s): what the reviewer compares."""

    def client(cid: int | None, role: str) -> list[compare.Column]:
        row = s.get(GoldenClient, cid) if cid else None
        return [compare.client_column(s, row, role)] if row is not None else []

    if item.kind == "match":  # accepting merges client_id INTO other_client_id: the other one is the golden
        return client(item.other_client_id, "golden") + client(item.client_id, "candidate")
    if item.kind == "conflict":
        return client(item.client_id, "golden") + compare.conflict_columns(item)
    return client(item.client_id, "golden") + client(item.other_client_id, "holder")


def _decision(s: Session, req: Req, item: ReviewItem) -> dict[str, Any] | None:
    """Who decided a closed item, when, and their note (from the decision's audit entry)."""
    if item.status == "open":
        return None
    entry = s.scalars(
        select(AuditLog)
        .where(
            AuditLog.entity == "review_item",
            AuditLog.entity_id == str(item.id),
            AuditLog.action.in_(("review.accept", "review.reject")),
        )
        .order_by(AuditLog.id.desc())
        .limit(1)
    ).first()
    details = entry.details if entry is not None else {}
    return {
        "by": item.decided_by or (entry.actor if entry else "-"),
        "at": local_time(item.decided_at),
        "note": mask_text(str(details.get("note") or "")),
        "outcome": reason(details.get("outcome"), req.lang),
    }


def _not_found(req: Req, item_id: int) -> Response:
    return req.render(
        "error.html.j2",
        status_code=404,
        title=req.text("未找到", "Not found"),
        message=req.text(f"没有复核事项 {item_id}", f"no review item {item_id}"),
        hint=req.text("请从复核队列中选择", "pick one from the review queue"),
    )


def _item_view(req: Req, item_id: int, *, error: str | None = None, status_code: int = 200, note: str = "") -> Response:
    with req.db() as s:
        if s.get(ReviewItem, item_id) is None:
            return _not_found(req, item_id)
        item = _load_item(s, req, item_id)
        columns = _columns(s, req, item)
        rows = compare.compare(columns, req.lang, only=item.field if item.kind == "conflict" else None)
        client_ids = [c.client_id for c in columns if c.client_id]
        sources = compare.sources(s, client_ids)
        pending = proposals.pending_for_items(s, [item])[item.id]
        words = proposals.load_words(s, pending)
        decision = _decision(s, req, item)
        extra = [
            (_DETAIL_LABELS.get(k, {}).get(req.lang, k), compare.lines(mask_fields(v, k), k, req.lang))
            for k, v in (item.details or {}).items()
            if k not in ("explanation", "values")
        ]
        explanation = (
            compare.parse_explanation((item.details or {}).get("explanation")) if item.kind == "match" else None
        )
        view = {
            "id": item.id,
            "kind": item.kind,
            "kind_label": label("review_kind", item.kind, req.lang),
            "status": item.status,
            "status_label": label("review_status", item.status, req.lang),
            "field": label("field", item.field, req.lang) if item.field else "",
            "score": item.score,
            "created": local_time(item.created_at),
            "extra": extra,
        }
    split_options = [
        (f"{ref.client_id}|{ref.ref}", ref, len(sources[ref.client_id]) == 1)
        for cid in client_ids
        for ref in sources[cid]
    ]
    return req.render(
        "review/item.html.j2",
        status_code=status_code,
        active="/review",
        item=view,
        columns=columns,
        rows=[(r, label("field", r.field, req.lang)) for r in rows],
        sources=sources,
        explanation=explanation,
        pending=[(p, proposals.describe(p, words, req.lang)) for p in pending],
        decision=decision,
        comparisons=compare.COMPARISONS,
        split_options=split_options,
        error=error,
        note=note,
        max_note=NOTE_MAX,
        four_eyes={
            "decide": approvals.needs_four_eyes(req.state.settings, "review.decide"),
            "split": approvals.needs_four_eyes(req.state.settings, "client.split"),
        },
    )


@page("GET", "/review/{id:int}", command="review list")
def review_item(req: Req) -> Response:
    """One item: golden and candidate field by field, the score's evidence, source records, and the actions."""
    return _item_view(req, _item_id(req))


def _note(req: Req) -> str | None:
    """The required note, or None when it is missing or too long (the caller re-renders with the message)."""
    note = req.field("note")
    return note if note and len(note) <= NOTE_MAX else None


def _note_error(req: Req) -> str:
    return req.text(
        f"请填写备注，说明为什么这样决定（最多 {NOTE_MAX} 字）",
        f"a note saying why is required (at most {NOTE_MAX} characters)",
    )


def _refuse_second_proposal(s: Session, req: Req, item: ReviewItem) -> None:
    waiting = proposals.pending_for_items(s, [item])[item.id]
    if waiting:
        raise InputError(
            req.text(
                f"复核事项 {item.id} 已有待审批的审批单 #{waiting[0].id}",
                f"review item {item.id} already has a pending proposal #{waiting[0].id}",
            ),
            hint=req.text(f"请在审批页处理 /approvals/{waiting[0].id}", f"see it at /approvals/{waiting[0].id}"),
        )
    if item.status != "open":
        raise InputError(
            req.text(
                f"复核事项 {item.id} 已处理（{label('review_status', item.status, 'zh')}）",
                f"review item {item.id} is already {item.status}",
            )
        )


def _filed(req: Req, proposal_id: int) -> str:
    return req.text(
        f"已提交审批单 #{proposal_id}；需另一位审批人批准后生效",
        f"proposal #{proposal_id} filed; another approver must approve it",
    )


def _decide(req: Req, accept: bool) -> Response:
    item_id = _item_id(req)
    note = _note(req)
    if note is None:
        return _item_view(req, item_id, error=_note_error(req), status_code=400, note=req.field("note")[:NOTE_MAX])
    with req.db() as s:
        _refuse_second_proposal(s, req, _load_item(s, req, item_id))
        proposal, result = approvals.submit(
            s, req.state.settings, "review.decide", {"item_id": item_id, "accept": accept, "note": note}, req.user.actor
        )
        filed = proposal.id if proposal is not None else None
    if filed is not None:
        return req.redirect(f"/review/{item_id}", notice=_filed(req, filed))
    return req.redirect(f"/review/{item_id}", notice=f"#{item_id}: {reason(result['outcome'], req.lang)}")


@page("POST", "/review/{id:int}/accept", command="review accept")
def review_accept(req: Req) -> Response:
    """Accept (merge the pair / let the rule decide): a proposal under four eyes, else at once."""
    return _decide(req, True)


@page("POST", "/review/{id:int}/reject", command="review reject")
def review_reject(req: Req) -> Response:
    """Reject (keep the records apart): a proposal under four eyes, else at once."""
    return _decide(req, False)


@page("POST", "/review/{id:int}/split", command="clients split")
def review_split(req: Req) -> Response:
    """Split one source record of either client off into a new client (``clients split``)."""
    item_id = _item_id(req)
    note = _note(req)
    if note is None:
        return _item_view(req, item_id, error=_note_error(req), status_code=400, note=req.field("note")[:NOTE_MAX])
    client_raw, _, record = req.field("record").partition("|")
    with req.db() as s:
        item = _load_item(s, req, item_id)
        _refuse_second_proposal(s, req, item)
        client_id = int(client_raw) if client_raw.isdigit() and len(client_raw) < 12 else 0
        linked = (
            compare.sources(s, [client_id])[client_id] if client_id in (item.client_id, item.other_client_id) else []
        )
        if record not in {r.ref for r in linked}:
            raise InputError(
                req.text("请从列表中选择要拆分的来源记录", "choose the source record to split off from the list")
            )
        payload = {"client": client_id, "record": record, "note": note, "item_id": item_id}
        proposal, result = approvals.submit(s, req.state.settings, "client.split", payload, req.user.actor)
        filed = proposal.id if proposal is not None else None
    if filed is not None:
        return req.redirect(f"/review/{item_id}", notice=_filed(req, filed))
    return req.redirect(
        f"/review/{item_id}",
        notice=req.text(
            f"已拆分：{record} 现属于新客户 {result['new_client']}",
            f"split: {record} now belongs to client {result['new_client']}",
        ),
    )
