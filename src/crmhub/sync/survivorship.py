"""Survivorship: which source's value each golden field takes, and why.

Rules (MDM practice, see peers.md §3): ``source_priority`` (first trusted source that has a value),
``prefer_unless_blank`` (the first listed source unless it is blank, then the most recent other),
``most_recent`` (the newest observation) and ``most_complete`` (the fullest value). Defaults give the ledger the
legal facts it holds and the CRMs what they own (relationship manager, contact details, preferences).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import datetime
from typing import Any

from crmhub.core.hashing import content_hash
from crmhub.sync.settings import FieldRule

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


class Candidate:
    """One source's value for one field (non-blank: blank values are never candidates).

    A plain slotted class, not a frozen dataclass: the merge makes one per field per member (a dozen per golden
    client), so construction is kept to setting five attributes; the value's hash is computed once, here, unless
    given.
    """

    __slots__ = ("observed_at", "source", "source_record_id", "value", "value_hash")

    def __init__(
        self, value: Any, source: str, source_record_id: str, observed_at: datetime, value_hash: str = ""
    ) -> None:
        self.value = value
        self.source = source
        self.source_record_id = source_record_id
        self.observed_at = observed_at
        self.value_hash = value_hash or content_hash(value)
        """Hash of the value, for change detection between runs."""

    def __repr__(self) -> str:
        return f"Candidate({self.source}:{self.source_record_id}, {self.value!r})"


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
    """None, empty strings and empty containers count as blank (a container of blanks too)."""
    kind = type(value)
    if kind is str:  # the usual cases first: the merge asks this of every value of every member
        return not value.strip()
    if value is None:
        return True
    if kind is dict:  # loops, not all(<generator>): documents hold many small dicts and lists
        for v in value.values():  # noqa: SIM110 (a loop: no generator per call)
            if not is_blank(v):
                return False
        return True
    if kind is list:
        for v in value:  # noqa: SIM110
            if not is_blank(v):
                return False
        return True
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


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """A field's rule with its source order resolved once per run (`compile_rules`), not once per golden client."""

    field: str
    rule: str
    priority: tuple[str, ...]
    rank: dict[str, int]
    """Source → position in ``priority``; a source not listed ranks after every listed one."""


def compile_rules(
    fields: Sequence[str], rules: Mapping[str, FieldRule], default_priority: Sequence[str]
) -> dict[str, CompiledRule]:
    """Each field's rule name and source ranks, as `decide` reads them."""
    out: dict[str, CompiledRule] = {}
    for name in fields:
        rule = rules.get(name)
        rule_name = rule.rule if rule is not None else DEFAULT_RULES.get(name, "source_priority")
        priority = tuple(rule.sources if rule is not None and rule.sources else default_priority)
        rank: dict[str, int] = {}
        for i, source in enumerate(priority):
            rank.setdefault(source, i)  # list.index: the first position of a source listed twice
        out[name] = CompiledRule(name, rule_name, priority, rank)
    return out


def decide(rule: CompiledRule, present: Sequence[Candidate]) -> Decision:
    """Apply the field's rule to its candidates (all non-blank, in member order)."""
    if not present:
        return Decision(rule.field, rule.rule, None, [])
    if len(present) == 1:  # one source has a value: every rule picks it, and nothing competes
        return Decision(rule.field, rule.rule, present[0], [], True)
    rule_name, rank, last = rule.rule, rule.rank, len(rule.priority)
    if rule_name == "source_priority":
        winner = min(present, key=lambda c: (rank.get(c.source, last), -c.observed_at.timestamp()))
        decided = True
    elif rule_name == "prefer_unless_blank":
        preferred = [c for c in present if c.source == rule.priority[0]] if rule.priority else []
        if preferred:
            winner = max(preferred, key=lambda c: c.observed_at)
            decided = True
        else:
            winner, decided = _most_recent(present)
    elif rule_name == "most_recent":
        winner, decided = _most_recent(present)
    else:  # most_complete; a tie in completeness falls back to recency, which is a rule too: always decided
        scores = [completeness(c.value) for c in present]
        best = max(scores)
        top = [c for c, score in zip(present, scores, strict=True) if score == best]
        winner = max(top, key=lambda c: (c.observed_at, -rank.get(c.source, last)))
        decided = True
    competing = [c for c in present if c is not winner]
    return Decision(rule.field, rule_name, winner, competing, decided)


def _most_recent(present: Sequence[Candidate]) -> tuple[Candidate, bool]:
    newest = max(c.observed_at for c in present)
    top = [c for c in present if c.observed_at == newest]
    if len({c.value_hash for c in top}) > 1:
        # two sources changed the field at the same instant to different values: the rule cannot decide
        return top[0], False
    return top[0], True
