"""Matching quality against a ground truth: pairwise precision and recall of the golden clustering.

Used by ``crmhub demo``, the end-to-end tests and the benchmarks with the sandbox world's ground truth; works for
any truth given as (connector, source id, entity key) triples.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import combinations

from sqlalchemy import select
from sqlalchemy.orm import Session

from crmhub.contract import StreamKind
from crmhub.store.tables import GoldenClient, Xref
from crmhub.store.tables import SourceRecord as SourceRow


@dataclass(frozen=True, slots=True)
class MatchQuality:
    """Pairwise figures: a pair is two records placed in (or truly in) the same entity."""

    records: int
    predicted_pairs: int
    true_pairs: int
    correct_pairs: int

    @property
    def precision(self) -> float:
        """Share of predicted pairs that are true (1.0 when nothing was merged)."""
        return self.correct_pairs / self.predicted_pairs if self.predicted_pairs else 1.0

    @property
    def recall(self) -> float:
        """Share of true pairs that were found (1.0 when there are none)."""
        return self.correct_pairs / self.true_pairs if self.true_pairs else 1.0


def _pairs(groups: Iterable[list[tuple[str, str]]]) -> set[tuple[tuple[str, str], tuple[str, str]]]:
    out: set[tuple[tuple[str, str], tuple[str, str]]] = set()
    for members in groups:
        for a, b in combinations(sorted(members), 2):
            out.add((a, b))
    return out


def matching_quality(session: Session, truth: Iterable[tuple[str, str, int]]) -> MatchQuality:
    """Compare the store's golden clustering of client records with ``truth`` (records absent from either side
    are ignored)."""
    truth_map = {(system, sid): key for system, sid, key in truth}
    predicted: dict[int, list[tuple[str, str]]] = defaultdict(list)
    seen: set[tuple[str, str]] = set()
    rows = session.execute(
        select(SourceRow.connector, SourceRow.source_id, Xref.client_id)
        .join(Xref, Xref.source_record_id == SourceRow.id)
        .join(GoldenClient, GoldenClient.id == Xref.client_id)
        .where(SourceRow.kind == StreamKind.CLIENT.value, SourceRow.deleted.is_(False))
    )
    for connector, source_id, client_id in rows:
        ref = (connector, source_id)
        if ref in truth_map:
            predicted[client_id].append(ref)
            seen.add(ref)
    actual: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for ref, key in truth_map.items():
        if ref in seen:
            actual[key].append(ref)
    p, t = _pairs(predicted.values()), _pairs(actual.values())
    return MatchQuality(len(seen), len(p), len(t), len(p & t))
