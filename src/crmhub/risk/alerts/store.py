"""Storing alerts without duplicates, their JSON form, and their life cycle (new → acknowledged → closed).

De-duplication has two layers. ``Alert.dedup_key`` (unique) is ``kind:subject:window`` where the subject is the
USCC (stable across merges) or the hub id; and a draft that shares any transaction with an existing alert of the
same kind and client *is* that alert — so a window that shifts on a rerun (a late-booked transaction, a day
rolling out of the lookback) never raises the pattern twice. A still-``new`` alert takes new evidence; one a
person already acknowledged or closed is left as they decided.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crmhub.errors import InputError
from crmhub.masking import mask, mask_text
from crmhub.risk.alerts.rules import Draft
from crmhub.risk.ledger import TxRow
from crmhub.risk.settings import RiskSettings
from crmhub.store.tables import Alert
from crmhub.sync.audit import append

STATUSES = ("new", "acknowledged", "closed")
RULE_VERSIONS = {
    "large_value": "1",
    "structuring": "1",
    "pass_through": "1",
    "fan_in": "1",
    "fan_out": "1",
    "dormant_reactivation": "2",
}
"""Bumped when a rule's logic changes; the parameters' hash is appended, so a threshold change shows too."""


def rule_parameters(settings: RiskSettings, kind: str) -> dict[str, Any]:
    """The parameters a rule ran with (structuring also depends on the large-value thresholds)."""
    cfg = settings.alerts
    params: dict[str, Any] = getattr(cfg, kind).model_dump(mode="json")
    if kind == "structuring":
        params["thresholds"] = cfg.large_value.model_dump(mode="json", exclude={"enabled"})
    if kind in ("large_value", "structuring", "pass_through", "dormant_reactivation"):
        params["fx_to_cny"] = {k: str(v) for k, v in sorted(settings.fx_to_cny.items())}
    return params


def rule_version(kind: str, params: dict[str, Any]) -> str:
    """``<logic version>.<8 hex of the parameters>``."""
    digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:8]
    return f"{RULE_VERSIONS.get(kind, '1')}.{digest}"


def _money(minor: int) -> str:
    return str(Decimal(minor).scaleb(-2))


def _tx_json(r: TxRow) -> dict[str, Any]:
    return {
        "id": r.source_id,
        "connector": r.connector,
        "account": r.account_source_id,
        "day": r.day.isoformat(),
        "amount": _money(r.amount_minor),
        "currency": r.currency,
        "direction": "credit" if r.credit else "debit",
        "cash": r.cash,
        "counterparty": r.counterparty_name,
        "counterparty_account": mask(r.counterparty_account, "account") if r.counterparty_account else None,
    }


def _evidence(draft: Draft, settings: RiskSettings) -> dict[str, Any]:
    params = rule_parameters(settings, draft.kind)
    limit = settings.alerts.max_evidence
    rows = draft.transactions
    return {
        "rule": {
            "id": draft.rule_id,
            "kind": draft.kind,
            "version": rule_version(draft.kind, params),
            "parameters": params,
        },
        "summary_zh": draft.summary_zh,
        "summary_en": draft.summary_en,
        "details": draft.details,
        "transaction_ids": [r.source_id for r in rows[:limit]],
        "transactions": [_tx_json(r) for r in rows[:limit]],
        "transactions_total": len(rows),
        "row_ids": sorted(r.id for r in rows),
        "history": [],
    }


def dedup_key(draft: Draft, subject: str) -> str:
    """``kind:subject:window`` (hashed when long)."""
    key = f"{draft.kind}:{subject}:{draft.discriminator}"
    return key if len(key) <= 200 else f"{draft.kind}:{subject}:" + hashlib.sha256(key.encode()).hexdigest()[:40]


@dataclass(slots=True)
class SaveResult:
    """What `save_drafts` did."""

    created: list[Alert]
    updated: int = 0
    unchanged: int = 0


def save_drafts(
    session: Session,
    drafts: Sequence[Draft],
    subjects: dict[int, tuple[str | None, int]],
    settings: RiskSettings,
    run_id: int | None,
) -> SaveResult:
    """Insert new alerts, extend still-new ones with new evidence, skip the rest. ``subjects``: client id →
    (USCC, hub id)."""
    result = SaveResult([])
    if not drafts:
        return result
    keyed: dict[str, Draft] = {}
    for d in drafts:
        uscc, cid = subjects[d.client_id]
        keyed.setdefault(dedup_key(d, uscc or f"c{cid}"), d)
    found = {
        a.id: a
        for a in session.scalars(select(Alert).where(Alert.client_id.in_(sorted({d.client_id for d in drafts}))))
    }
    found.update({a.id: a for a in session.scalars(select(Alert).where(Alert.dedup_key.in_(list(keyed))))})
    existing = list(found.values())
    by_key = {a.dedup_key: a for a in existing}
    by_kind: dict[tuple[int | None, str], list[tuple[Alert, set[int]]]] = defaultdict(list)
    for a in existing:
        by_kind[(a.client_id, a.kind)].append((a, set((a.evidence or {}).get("row_ids", []))))
    now = datetime.now(UTC)
    for key, d in keyed.items():
        ids = {r.id for r in d.transactions}
        match = by_key.get(key)
        if match is None:
            match = next((a for a, seen in by_kind[(d.client_id, d.kind)] if ids & seen), None)
        if match is not None:
            known = set((match.evidence or {}).get("row_ids", []))
            if match.status == "new" and not ids <= known:
                history = (match.evidence or {}).get("history", [])
                match.evidence = {**_evidence(d, settings), "history": history}
                match.amount_minor, match.updated_at, match.run_id = d.amount_minor, now, run_id
                result.updated += 1
            else:
                result.unchanged += 1
            continue
        uscc, _ = subjects[d.client_id]
        evidence = _evidence(d, settings)
        row = Alert(
            client_id=d.client_id,
            uscc=uscc,
            kind=d.kind,
            rule_version=evidence["rule"]["version"],
            status="new",
            dedup_key=key,
            day=d.day,
            amount_minor=d.amount_minor,
            currency=d.currency,
            evidence=evidence,
            created_at=now,
            updated_at=now,
            run_id=run_id,
        )
        session.add(row)
        by_kind[(d.client_id, d.kind)].append((row, ids))
        by_key[key] = row
        result.created.append(row)
    session.flush()
    return result


def alert_json(row: Alert) -> dict[str, Any]:
    """The JSON form shown by ``crmhub alerts list --json`` and given to ``crmhub_alert_raised``."""
    ev = dict(row.evidence or {})
    rule = ev.get("rule") or {}
    return {
        "id": row.id,
        "client_id": row.client_id,
        "uscc": row.uscc,
        "kind": row.kind,
        "rule_id": rule.get("id"),
        "rule_version": row.rule_version,
        "status": row.status,
        "day": row.day.isoformat() if row.day else None,
        "amount": _money(row.amount_minor) if row.amount_minor is not None else None,
        "currency": row.currency,
        "transaction_ids": ev.get("transaction_ids", []),
        "summary_zh": ev.get("summary_zh", ""),
        "summary_en": ev.get("summary_en", ""),
        "evidence": {k: v for k, v in ev.items() if k not in ("row_ids", "summary_zh", "summary_en")},
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
        "run_id": row.run_id,
    }


def list_alerts(
    session: Session,
    *,
    statuses: Sequence[str] | None = None,
    kind: str | None = None,
    client_id: int | None = None,
    since: date | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[int, list[Alert]]:
    """Alerts newest first, filtered; returns (total matching, page)."""
    q = select(Alert)
    if statuses:
        unknown = [s for s in statuses if s not in STATUSES]
        if unknown:
            raise InputError(f"unknown alert status {', '.join(unknown)}; use one of {', '.join(STATUSES)} or all")
        q = q.where(Alert.status.in_(list(statuses)))
    if kind:
        q = q.where(Alert.kind == kind)
    if client_id is not None:
        q = q.where(Alert.client_id == client_id)
    if since is not None:
        q = q.where(Alert.day >= since)
    total = session.scalar(select(func.count()).select_from(q.subquery())) or 0
    return total, list(session.scalars(q.order_by(Alert.id.desc()).offset(offset).limit(limit)))


_NEXT = {"acknowledged": ("new",), "closed": ("new", "acknowledged")}


def set_status(
    session: Session, alert_id: int, status: str, *, actor: str, note: str | None = None
) -> tuple[str, Alert]:
    """Move an alert to ``acknowledged`` or ``closed`` (recorded in its history); returns (old status, row)."""
    if status not in _NEXT:
        raise InputError(f"an alert can be set to acknowledged or closed, not {status!r}")
    row = session.get(Alert, alert_id, with_for_update=True)
    if row is None:
        raise InputError(f"no alert {alert_id}", hint="list alerts with `crmhub alerts list`")
    before = row.status
    if before not in _NEXT[status]:
        raise InputError(
            f"alert {alert_id} is {before}; it cannot become {status}",
            hint="closed alerts stay closed; a new occurrence raises a new alert",
        )
    now = datetime.now(UTC)
    evidence = dict(row.evidence or {})
    evidence["history"] = [
        *evidence.get("history", []),
        {"at": now.isoformat(), "by": actor, "from": before, "to": status, "note": note},
    ]
    row.evidence = evidence
    row.status = status
    row.updated_at = now
    session.flush()
    return before, row


def masked(item: dict[str, Any]) -> dict[str, Any]:
    """An `alert_json` for people: counterparty names, summaries and the closing note through `mask_text`
    (accounts were masked when stored); ids untouched. The CLI and the console show exactly this."""
    evidence = dict(item.get("evidence") or {})
    evidence["transactions"] = [
        {**t, "counterparty": mask_text(t["counterparty"]) if t.get("counterparty") else None}
        for t in evidence.get("transactions", [])
    ]
    if isinstance(evidence.get("disposition"), dict):  # the closing note is free text: it may name people
        evidence["disposition"] = {
            **evidence["disposition"],
            "note": mask_text(evidence["disposition"].get("note") or ""),
        }
    return {
        **item,
        "summary_zh": mask_text(item.get("summary_zh", "")),
        "summary_en": mask_text(item.get("summary_en", "")),
        "evidence": evidence,
    }


def acknowledge(session: Session, alert_id: int, *, actor: str, note: str | None = None) -> tuple[str, Alert]:
    """Acknowledge an alert (someone is looking at it), in its history and the audit log; (old status, row).

    ``crmhub alerts ack`` and the console's Acknowledge button both call this (closing goes through
    `crmhub.security.approvals`, four eyes)."""
    before, row = set_status(session, alert_id, "acknowledged", actor=actor, note=note)
    append(
        session,
        actor=actor,
        action="alert.acknowledged",
        entity="alert",
        entity_id=row.id,
        details={"from": before, "to": "acknowledged", "note": note, "kind": row.kind, "uscc": row.uscc},
    )
    return before, row
