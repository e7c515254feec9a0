"""Four-eyes proposals as the console shows them: what each would do, in words, and which wait on a review item.

An approver decides from the inbox; a payload such as ``{"item_id": 3, "accept": true}`` tells them nothing, so each
proposal is described with the names of the companies it touches ("accept review item 3: merge A (#144) into B
(#95)"). The names and review items a page needs are loaded in two queries for the whole page (no query per row).
Company names are shown through `crmhub.masking.mask_text`, as `clients show` prints them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from crmhub.display import label
from crmhub.i18n import Lang
from crmhub.masking import mask_text
from crmhub.store.tables import Approval, GoldenClient, ReviewItem

Text = Callable[[str, str], str]
ITEM_ACTIONS = ("review.decide", "client.split")
"""Proposals that can concern a review item (a decision on it, or a split filed from its page)."""


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def pending_for_items(session: Session, items: Iterable[ReviewItem]) -> dict[int, list[Approval]]:
    """Pending proposals per review item: its decision, or a split of one of its two clients (one query)."""
    items = list(items)
    out: dict[int, list[Approval]] = {it.id: [] for it in items}
    if not items:
        return out
    ids = [it.id for it in items]
    clients = {c for it in items for c in (it.client_id, it.other_client_id) if c}
    cond = [Approval.payload["item_id"].as_integer().in_(ids)]
    if clients:
        cond.append((Approval.action == "client.split") & Approval.payload["client"].as_integer().in_(clients))
    q = (
        select(Approval)
        .where(Approval.status == "pending", Approval.action.in_(ITEM_ACTIONS), or_(*cond))
        .order_by(Approval.id)
    )
    for row in session.scalars(q):
        payload = row.payload or {}
        for it in items:
            if _int(payload.get("item_id")) == it.id or (
                row.action == "client.split" and _int(payload.get("client")) in (it.client_id, it.other_client_id)
            ):
                out[it.id].append(row)
    return out


def client_names(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    """Masked names of golden clients by id (one query)."""
    wanted = {i for i in ids if i}
    if not wanted:
        return {}
    rows = session.execute(select(GoldenClient.id, GoldenClient.name).where(GoldenClient.id.in_(wanted)))
    return {int(i): mask_text(name or "") for i, name in rows}


@dataclass(slots=True)
class Words:
    """What describing a page of proposals needs: their review items and the names of the clients involved."""

    items: dict[int, ReviewItem] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)

    def client(self, client_id: Any) -> str:
        cid = _int(client_id)
        if cid is None:
            return "?"
        name = self.names.get(cid)
        return f"{name} (#{cid})" if name else f"#{cid}"


def load_words(session: Session, rows: Iterable[Approval]) -> Words:
    """The review items and client names ``rows`` refer to (two queries whatever the number of rows)."""
    rows = list(rows)
    item_ids = {i for r in rows if (i := _int((r.payload or {}).get("item_id"))) is not None}
    items = (
        {it.id: it for it in session.scalars(select(ReviewItem).where(ReviewItem.id.in_(item_ids)))} if item_ids else {}
    )
    ids: set[int | None] = {c for it in items.values() for c in (it.client_id, it.other_client_id)}
    for r in rows:
        p = r.payload or {}
        ids.update({_int(p.get("client")), _int(p.get("absorbed"))})
    return Words(items, client_names(session, ids))


def _review(p: dict[str, Any], words: Words, lang: Lang) -> str:
    text = _texts(lang)
    item_id = _int(p.get("item_id"))
    accept = bool(p.get("accept"))
    verb = text("接受", "accept") if accept else text("驳回", "reject")
    head = text(f"{verb}复核事项 {item_id}", f"{verb} review item {item_id}")
    it = words.items.get(item_id) if item_id is not None else None
    if it is None:
        return head
    a, b = words.client(it.client_id), words.client(it.other_client_id)
    if it.kind == "match":
        return head + (
            text(f"：将 {a} 合并到 {b}", f": merge {a} into {b}")
            if accept
            else text(f"：{a} 与 {b} 保持为两个客户", f": keep {a} and {b} apart")
        )
    if it.kind == "conflict":
        name = label("field", it.field, lang)
        return head + (
            text(f"：{a} 的「{name}」下次同步时按规则取值", f": the rule decides {name} of {a} on the next sync")
            if accept
            else text(f"：{a} 的「{name}」保持现值", f": {name} of {a} stays as it is")
        )
    return head + text(f"（{a} 与 {b} 的统一社会信用代码冲突）", f" (conflicting USCCs of {a} and {b})")


def _texts(lang: Lang) -> Text:
    return (lambda zh, en: zh) if lang == "zh" else (lambda zh, en: en)


def describe(row: Approval, words: Words, lang: Lang) -> str:
    """What ``row`` would do when approved, in ``lang``."""
    p = row.payload or {}
    text = _texts(lang)
    if row.action == "review.decide":
        return _review(p, words, lang)
    if row.action == "client.split":
        record, who = str(p.get("record") or "?"), words.client(p.get("client"))
        return text(
            f"拆分：将记录 {record} 从 {who} 拆出为新客户", f"split record {record} off {who} into a new client"
        )
    if row.action == "client.unmerge":
        who = words.client(p.get("absorbed"))
        return text(f"撤销合并：恢复被合并的客户 {who}", f"undo the merge that absorbed {who}")
    if row.action == "alert.close":
        how = label("alert_disposition", p.get("disposition"), lang)
        return text(f"关闭预警 #{p.get('alert_id')}（结论：{how}）", f"close alert #{p.get('alert_id')} as {how}")
    if row.action == "reveal.bulk":
        what = str(p.get("command") or "clients list")
        why = mask_text(str(p.get("reason") or ""))
        return text(f"批量查看个人信息（{what}，理由：{why}）", f"reveal personal data in bulk ({what}; reason: {why})")
    return row.action
