"""The events a sync or an assessment tells plugins about: a few frozen dataclasses and one typed ``emit``.

Each event names the hook it fires (``hook``) and carries exactly that hook's arguments but ``run_id``, which the
emitter adds. Events are fired only after the transaction that made them true has committed, so a plugin never
hears about a change that was rolled back; a failing plugin handler is logged and never stops the run.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
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
class AlertRaised:
    """A new risk alert (``alert`` is its JSON form; AML-confidential — see the hookspec)."""

    hook: ClassVar[str] = "crmhub_alert_raised"
    alert: dict[str, Any]
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
