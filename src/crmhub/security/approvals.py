"""Four-eyes (maker-checker): an action proposed by one operator is applied only when a different one approves.

`submit` is what a command calls: when ``[security.four_eyes]`` marks the action, it files a proposal and changes
nothing; otherwise it applies the action at once. `approve` applies a pending proposal as the proposer's intent,
in the approver's transaction, with both names in the audit trail (the change's own entry has the actor
``proposer+approver``). Actions are applied by the functions in ``_APPLY`` — the same code path with or without
four eyes, so an approved change is exactly the change that would have been made directly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from crmhub.config import Settings
from crmhub.errors import AccessError, CrmhubError, InputError
from crmhub.i18n import bilingual
from crmhub.risk.alerts.store import set_status
from crmhub.security.guard import Actor
from crmhub.security.roles import FOUR_EYES
from crmhub.store.tables import Alert, Approval, ReviewItem
from crmhub.sync import audit, review

STATUSES = ("pending", "approved", "rejected", "applied", "failed")
AML_ACTIONS = ("alert.",)
"""Proposals about AML alerts: only the AML function sees them (no tipping-off; docs/security.md)."""
DISPOSITIONS = ("reported", "not_suspicious", "escalated", "duplicate")


def _review_decide(s: Session, p: dict[str, Any], actor: str) -> dict[str, Any]:
    decide = review.accept if p["accept"] else review.reject
    return {"outcome": decide(s, int(p["item_id"]), actor=actor, note=p.get("note"))}


def _unmerge(s: Session, p: dict[str, Any], actor: str) -> dict[str, Any]:
    return review.unmerge(s, int(p["absorbed"]), actor=actor)


def _split(s: Session, p: dict[str, Any], actor: str) -> dict[str, Any]:
    return {"new_client": review.split(s, int(p["client"]), str(p["record"]), actor=actor, note=p.get("note"))}


def _alert_close(s: Session, p: dict[str, Any], actor: str) -> dict[str, Any]:
    before, row = set_status(s, int(p["alert_id"]), "closed", actor=actor, note=p.get("note"))
    row.evidence = {
        **(row.evidence or {}),
        "disposition": {"value": p["disposition"], "note": p.get("note"), "by": actor},
    }
    audit.append(
        s,
        actor=actor,
        action="alert.closed",
        entity="alert",
        entity_id=row.id,
        details={
            "from": before,
            "to": "closed",
            "disposition": p["disposition"],
            "note": p.get("note"),
            "kind": row.kind,
            "uscc": row.uscc,
        },
    )
    return {"from": before, "to": "closed"}


def _grant(s: Session, p: dict[str, Any], actor: str) -> dict[str, Any]:
    """A bulk reveal is not applied by the approver (they would see the data): approval lets the proposer run it."""
    return {"granted_to": p.get("proposer")}


_APPLY: dict[str, Callable[[Session, dict[str, Any], str], dict[str, Any]]] = {
    "review.decide": _review_decide,
    "client.unmerge": _unmerge,
    "client.split": _split,
    "alert.close": _alert_close,
    "reveal.bulk": _grant,
}


def _check_review(s: Session, p: dict[str, Any]) -> None:
    item = s.get(ReviewItem, int(p["item_id"]))
    if item is None or item.status != "open":
        raise InputError(
            bilingual(f"复核事项 {p['item_id']} 不存在或已处理", f"review item {p['item_id']} is not open"),
            hint=bilingual("用 `crmhub review list` 查看待复核事项", "see `crmhub review list`"),
        )


def _check_alert(s: Session, p: dict[str, Any]) -> None:
    row = s.get(Alert, int(p["alert_id"]))
    if row is None or row.status == "closed":
        raise InputError(
            bilingual(f"预警 {p['alert_id']} 不存在或已关闭", f"alert {p['alert_id']} is missing or closed"),
            hint=bilingual("用 `crmhub alerts list` 查看", "see `crmhub alerts list`"),
        )


_CHECK: dict[str, Callable[[Session, dict[str, Any]], None]] = {
    "review.decide": _check_review,
    "alert.close": _check_alert,
}
"""Cheap checks made before a proposal is filed, so nobody is asked to approve what cannot apply."""


def needs_four_eyes(settings: Settings, action: str) -> bool:
    """Whether ``action`` needs a second person under the configuration."""
    return bool(getattr(settings.security.four_eyes, FOUR_EYES[action].setting))


def submit(
    session: Session, settings: Settings, action: str, payload: dict[str, Any], actor: Actor
) -> tuple[Approval | None, dict[str, Any]]:
    """Propose ``action`` (four eyes) or apply it now; returns (the proposal or None, the result when applied)."""
    if needs_four_eyes(settings, action):
        if action in _CHECK:
            _CHECK[action](session, payload)
        return propose(session, action, payload, actor), {}
    return None, _APPLY[action](session, payload, actor.name)


def propose(session: Session, action: str, payload: dict[str, Any], actor: Actor) -> Approval:
    """File a pending proposal (and its audit entry); nothing else changes."""
    row = Approval(action=action, payload=payload, proposer=actor.name, created=datetime.now(UTC), status="pending")
    session.add(row)
    session.flush()
    audit.append(
        session,
        actor=actor.name,
        action="approval.propose",
        entity="approval",
        entity_id=row.id,
        details={"action": action, "payload": payload},
    )
    return row


def get(session: Session, approval_id: int, *, lock: bool = False) -> Approval:
    """One proposal; an input error naming the id when there is none."""
    row = session.get(Approval, approval_id, with_for_update=lock)
    if row is None:
        raise InputError(
            bilingual(f"没有审批单 {approval_id}", f"no approval {approval_id}"),
            hint=bilingual("用 `crmhub approvals list` 查看", "see `crmhub approvals list`"),
        )
    return row


def list_approvals(session: Session, status: str | None = "pending") -> list[Approval]:
    """Proposals with ``status`` (None: all), oldest first."""
    q = select(Approval).order_by(Approval.id)
    if status is not None:
        q = q.where(Approval.status == status)
    return list(session.scalars(q))


def aml_hidden(action: str, roles: Iterable[str]) -> bool:
    """True when a proposal of ``action`` concerns an AML alert and ``roles`` has no ``aml_officer``."""
    return action.startswith(AML_ACTIONS) and "aml_officer" not in set(roles)


def visible_to(query: Select[Any], roles: Iterable[str]) -> Select[Any]:
    """``query`` over `Approval` without the proposals `aml_hidden` hides from ``roles`` (in SQL, for paging)."""
    if "aml_officer" in set(roles):
        return query
    return query.where(*(~Approval.action.startswith(prefix) for prefix in AML_ACTIONS))


def _decidable(row: Approval, actor: Actor, verb: str) -> None:
    if row.status != "pending":
        raise InputError(
            bilingual(
                f"审批单 {row.id} 的状态是 {row.status}，不能再{verb}",
                f"approval {row.id} is {row.status}; it can no longer be decided",
            )
        )
    if actor.name == row.proposer:
        raise AccessError(
            bilingual(
                f"{actor.name} 是审批单 {row.id} 的提议人，不能自己审批",
                f"{actor.name} proposed approval {row.id} and may not decide it",
            ),
            hint=bilingual("请另一位有权限的操作员审批", "another operator with the role must decide it"),
        )
    needed = FOUR_EYES[row.action].approver_roles
    if not actor.roles & set(needed):
        raise AccessError(
            bilingual(
                f"操作员 {actor.name} 无权审批 {row.action}，需要角色：{', '.join(needed)}",
                f"operator {actor.name} may not decide {row.action}; it needs one of: {', '.join(needed)}",
            )
        )


def approve(session: Session, approval_id: int, actor: Actor, note: str | None) -> tuple[Approval, dict[str, Any]]:
    """Apply a pending proposal as its proposer's intent; a refused application marks it ``failed`` (kept)."""
    row = get(session, approval_id, lock=True)
    _decidable(row, actor, "审批")
    row.decided_by, row.decided_at, row.note = actor.name, datetime.now(UTC), note
    both = f"{row.proposer}+{actor.name}"
    try:
        with session.begin_nested():
            result = _APPLY[row.action](session, {**row.payload, "proposer": row.proposer}, both)
    except CrmhubError as exc:
        row.status = "failed"
        audit.append(
            session,
            actor=actor.name,
            action="approval.failed",
            entity="approval",
            entity_id=row.id,
            details={"action": row.action, "proposer": row.proposer, "error": exc.message, "note": note},
        )
        return row, {"error": exc.message}
    row.status = "approved" if row.action == "reveal.bulk" else "applied"
    audit.append(
        session,
        actor=actor.name,
        action="approval.approve",
        entity="approval",
        entity_id=row.id,
        details={
            "action": row.action,
            "proposer": row.proposer,
            "approver": actor.name,
            "note": note,
            "result": result,
        },
    )
    return row, result


def reject(session: Session, approval_id: int, actor: Actor, note: str) -> Approval:
    """Reject a pending proposal with a reason; nothing is applied."""
    if not note.strip():
        raise InputError(bilingual("拒绝时必须用 --note 说明原因", "a rejection needs a reason in --note"))
    row = get(session, approval_id, lock=True)
    _decidable(row, actor, "拒绝")
    row.status, row.decided_by, row.decided_at, row.note = "rejected", actor.name, datetime.now(UTC), note
    audit.append(
        session,
        actor=actor.name,
        action="approval.reject",
        entity="approval",
        entity_id=row.id,
        details={"action": row.action, "proposer": row.proposer, "note": note},
    )
    return row


def consume_grant(session: Session, approval_id: int, actor: Actor, payload: dict[str, Any]) -> Approval:
    """Use an approved bulk reveal once: same proposer, same request; it becomes ``applied``."""
    row = get(session, approval_id, lock=True)
    if row.action != "reveal.bulk" or row.status != "approved" or row.proposer != actor.name or row.payload != payload:
        raise AccessError(
            bilingual(
                f"审批单 {approval_id} 不是 {actor.name} 的、已批准的同一查看请求",
                f"approval {approval_id} is not an approved reveal of this request by {actor.name}",
            ),
            hint=bilingual(
                "用相同的条件和 --reason 重新执行，或重新提议",
                "rerun with the same filters and --reason, or propose again",
            ),
        )
    row.status = "applied"
    audit.append(
        session,
        actor=actor.name,
        action="approval.use",
        entity="approval",
        entity_id=row.id,
        details={"action": row.action, "approver": row.decided_by},
    )
    return row
