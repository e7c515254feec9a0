"""Survivorship: which source's value each golden field takes, and why.

Rules (MDM practice, see peers.md §3): ``source_priority`` (first trusted source that has a value),
``prefer_unless_blank`` (the first listed source unless it is blank, then the most recent other),
``most_recent`` (the newest observation) and ``most_complete`` (the fullest value). Defaults give the ledger the
legal facts it holds and the CRMs what they own (relationship manager, contact details, preferences).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import datetime
from typing import Any

from crmhub.config import FieldRule
from crmhub.sync.hashing import content_hash

DEFAULT_RULES: dict[str, str] = {
    "uscc": "source_priority",
    "name": "source_priority",
    "english_name": "most_complete",
    "registered_address": "source_priority",
    "business_address": "most_recent",
    "industry": "source_priority",
    "company_type": "source_priority",
    "enterprise_size": "most_recent",
    "legal_representative": "source_priority",
    "registered_capital": "source_priority",
    "annual_revenue": "most_recent",
    "established_on": "source_priority",
    "employees": "most_recent",
    "phone": "most_recent",
    "email": "most_recent",
    "website": "most_recent",
    "relationship_manager": "most_recent",
    "branch": "most_recent",
    "preferences": "most_recent",
    "shareholders": "source_priority",
}
"""The rule each field uses when the config gives none."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """One source's value for one field."""

    value: Any
    source: str
    source_record_id: str
    observed_at: datetime
    value_hash: str = dc_field(default="", compare=False)
    """Hash of the value, for change detection between runs (computed once, at construction)."""

    def __post_init__(self) -> None:
        if not self.value_hash:
            object.__setattr__(self, "value_hash", content_hash(self.value))


@dataclass(slots=True)
class Decision:
    """The outcome for one field: the winner (None if no source has a value), the rule, the others."""

    field: str
    rule: str
    winner: Candidate | None
    competing: list[Candidate] = dc_field(default_factory=list)
    decided: bool = True

    @property
    def value(self) -> Any:
        """The chosen value (None when blank everywhere)."""
        return self.winner.value if self.winner else None


def is_blank(value: Any) -> bool:
    """None, empty strings and empty containers count as blank."""
    if value is None:
        return True
    kind = type(value)
    if kind is str:  # the usual cases first: the merge asks this of every value of every member
        return not value.strip()
    if kind is int or kind is bool or kind is float:
        return False
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list | dict | tuple | set):
        return len(value) == 0 or all(is_blank(v) for v in (value.values() if isinstance(value, dict) else value))
    return False


def completeness(value: Any) -> int:
    """How much a value says: non-blank leaves, with string length as the tie-breaker weight."""
    if is_blank(value):
        return 0
    if isinstance(value, dict):
        return sum(completeness(v) for v in value.values())
    if isinstance(value, list | tuple):
        return sum(completeness(v) for v in value)
    if isinstance(value, str):
        return 1000 + len(value)
    return 1000


def _rank(source: str, priority: Sequence[str]) -> int:
    return priority.index(source) if source in priority else len(priority)


def decide(field_name: str, candidates: Sequence[Candidate], rule: FieldRule | None,
           default_priority: Sequence[str]) -> Decision:
    """Apply the field's rule to the non-blank candidates."""
    rule_name = rule.rule if rule is not None else DEFAULT_RULES.get(field_name, "source_priority")
    priority = (rule.sources if rule is not None and rule.sources else list(default_priority))
    present = [c for c in candidates if not is_blank(c.value)]
    if not present:
        return Decision(field_name, rule_name, None, [])
    if len(present) == 1:  # one source has a value: every rule picks it, and nothing competes
        return Decision(field_name, rule_name, present[0], [], True)
    distinct = {c.value_hash for c in present}
    if rule_name == "source_priority":
        ordered = sorted(present, key=lambda c: (_rank(c.source, priority), -c.observed_at.timestamp()))
        winner = ordered[0]
        decided = True
    elif rule_name == "prefer_unless_blank":
        preferred = [c for c in present if c.source == priority[0]] if priority else []
        if preferred:
            winner = max(preferred, key=lambda c: c.observed_at)
            decided = True
        else:
            winner, decided = _most_recent(present)
    elif rule_name == "most_recent":
        winner, decided = _most_recent(present)
    else:  # most_complete
        best = max(completeness(c.value) for c in present)
        top = [c for c in present if completeness(c.value) == best]
        winner = max(top, key=lambda c: (c.observed_at, -_rank(c.source, priority)))
        decided = len({c.value_hash for c in top}) == 1 or len(distinct) == 1
        if not decided:
            decided = True  # a tie in completeness falls back to recency, which is a rule too
    competing = [c for c in present if c is not winner]
    return Decision(field_name, rule_name, winner, competing, decided)


def _most_recent(present: Sequence[Candidate]) -> tuple[Candidate, bool]:
    newest = max(c.observed_at for c in present)
    top = [c for c in present if c.observed_at == newest]
    if len({c.value_hash for c in top}) > 1:
        # two sources changed the field at the same instant to different values: the rule cannot decide
        return top[0], False
    return top[0], True
