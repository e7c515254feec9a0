"""The events a sync or an assessment tells plugins about: a few frozen dataclasses and one typed ``emit``.

Each event names the hook it fires (``hook``) and carries exactly that hook's arguments but ``run_id``, which the
emitter adds. Events are fired only after the transaction that made them true has committed, so a plugin never
hears about a change that was rolled back; a failing plugin handler is logged and never stops the run.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import pluggy

    from crmhub.model import CorporateClient, RiskAssessment

log = logging.getLogger("crmhub.events")


@dataclass(frozen=True, slots=True)
class ClientChanged:
    """A golden client was created or changed by the merge; ``changes`` maps field → (before, after)."""

    hook: ClassVar[str] = "crmhub_client_changed"
    client: CorporateClient
    changes: Mapping[str, tuple[Any, Any]]

    def kwargs(self) -> dict[str, Any]:
        """The hook's arguments (without ``run_id``)."""
        return {"client": self.client, "changes": dict(self.changes)}


@dataclass(frozen=True, slots=True)
class RiskChanged:
    """A client's risk assessment changed (``before`` is None for its first one)."""

    hook: ClassVar[str] = "crmhub_risk_changed"
    client: CorporateClient
    before: RiskAssessment | None
    after: RiskAssessment

    def kwargs(self) -> dict[str, Any]:
        """The hook's arguments (without ``run_id``)."""
        return {"client": self.client, "before": self.before, "after": self.after}


@dataclass(frozen=True, slots=True)
class RaisedAlert:
    """A risk/AML alert as plugins see it: what ``crmhub alerts list --json`` shows of it, typed and read-only.

    AML-confidential (《反洗钱法》, no tipping-off): hand it only to the AML function. ``amount`` is in major units
    of ``currency``; ``evidence`` is the rule's evidence (rule, thresholds, counterparties …) without the summaries.
    """

    id: int
    client_id: int | None
    uscc: str | None
    kind: str
    rule_id: str | None
    rule_version: str
    status: str
    day: date | None
    amount: Decimal | None
    currency: str | None
    transaction_ids: tuple[str, ...]
    summary_zh: str
    summary_en: str
    evidence: Mapping[str, Any]
    created_at: datetime
    updated_at: datetime
    run_id: int | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RaisedAlert:
        """Read the JSON form (`crmhub.risk.alerts.alert_json`) back into a typed alert."""
        day, amount = data.get("day"), data.get("amount")
        return cls(
            id=int(data["id"]),
            client_id=data.get("client_id"),
            uscc=data.get("uscc"),
            kind=str(data["kind"]),
            rule_id=data.get("rule_id"),
            rule_version=str(data.get("rule_version") or ""),
            status=str(data.get("status") or "new"),
            day=date.fromisoformat(day) if day else None,
            amount=Decimal(str(amount)) if amount is not None else None,
            currency=data.get("currency"),
            transaction_ids=tuple(str(t) for t in data.get("transaction_ids") or ()),
            summary_zh=str(data.get("summary_zh") or ""),
            summary_en=str(data.get("summary_en") or ""),
            evidence=MappingProxyType(dict(data.get("evidence") or {})),
            created_at=datetime.fromisoformat(data["created_at"]),
            updated_at=datetime.fromisoformat(data["updated_at"]),
            run_id=data.get("run_id"),
        )

    def as_json(self) -> dict[str, Any]:
        """The JSON form again (what ``crmhub alerts list --json`` prints for this alert)."""
        return {
            "id": self.id,
            "client_id": self.client_id,
            "uscc": self.uscc,
            "kind": self.kind,
            "rule_id": self.rule_id,
            "rule_version": self.rule_version,
            "status": self.status,
            "day": self.day.isoformat() if self.day else None,
            "amount": str(self.amount) if self.amount is not None else None,
            "currency": self.currency,
            "transaction_ids": list(self.transaction_ids),
            "summary_zh": self.summary_zh,
            "summary_en": self.summary_en,
            "evidence": dict(self.evidence),
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "run_id": self.run_id,
        }


@dataclass(frozen=True, slots=True)
class AlertRaised:
    """A new risk alert (AML-confidential — see the hookspec)."""

    hook: ClassVar[str] = "crmhub_alert_raised"
    alert: RaisedAlert
    client: CorporateClient | None

    def kwargs(self) -> dict[str, Any]:
        """The hook's arguments (without ``run_id``)."""
        return {"alert": self.alert, "client": self.client}


Event = ClientChanged | RiskChanged | AlertRaised
"""Everything a phase may emit."""


def emit(hook: pluggy.HookRelay, events: Iterable[Event], run_id: int | None) -> int:
    """Fire each event's hook with ``run_id``; returns how many handlers' calls failed (each is logged)."""
    failed = 0
    for event in events:
        try:
            getattr(hook, event.hook)(**event.kwargs(), run_id=run_id)
        except Exception:
            failed += 1
            log.exception("a plugin's %s handler failed", event.hook)
    return failed
