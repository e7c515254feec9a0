"""AML and risk alerts: large-value reports (PBOC 〔2016〕3号 0501/0502) and suspicious patterns (domain.md §8).

`detect` runs every enabled rule over one batch's ledger facts and returns drafts with their evidence;
`crmhub.risk.alerts.store` saves them without duplicates and manages their status. Rules and parameters live in
``[risk.alerts]`` (`crmhub.risk.settings.AlertSettings`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from crmhub.risk.alerts.rules import Draft, RuleContext, client_drafts, group_factors
from crmhub.risk.alerts.store import STATUSES, alert_json, list_alerts, save_drafts, set_status
from crmhub.risk.inputs import LedgerView
from crmhub.risk.ledger import ClientFacts, LedgerReader
from crmhub.risk.settings import RiskSettings

ALERT_KINDS = ("large_value", "structuring", "pass_through", "fan_in", "fan_out", "dormant_reactivation")


def detect(
    reader: LedgerReader,
    facts: Mapping[int, ClientFacts],
    views: Mapping[int, LedgerView],
    settings: RiskSettings,
    today: date,
) -> list[Draft]:
    """Alert drafts for a batch: rules on the aggregates first, then one evidence read for the clients that
    tripped something, then the candidates confirmed on their transactions."""
    if not settings.alerts.enabled:
        return []
    drafts: list[Draft] = []
    candidates = []
    factors = group_factors(settings)
    for cid, f in facts.items():
        if not f.links:
            continue
        settled, pending = client_drafts(RuleContext(f, views[cid], settings, today, factors), reader)
        drafts += settled
        candidates += pending
    wanted: dict[int, tuple[date, date]] = {}
    for c in candidates:
        lo, hi = wanted.get(c.client_id, (c.first, c.last))
        wanted[c.client_id] = (min(lo, c.first), max(hi, c.last))
    rows = reader.transactions(wanted, dict(facts))
    for c in candidates:
        drafts += c.confirm([r for r in rows.get(c.client_id, []) if c.first <= r.day <= c.last])
    return drafts


__all__ = ["ALERT_KINDS", "STATUSES", "Draft", "alert_json", "detect", "list_alerts", "save_drafts", "set_status"]
