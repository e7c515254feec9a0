"""Entity resolution for the sync engine (architecture.md, sync cycle step 2 "Match").

`Matcher` keeps an incremental, compact index of `MatchRecord`s (blocks + term frequencies + the records
themselves) and answers two questions:

- *Which known records is this one?* — `best_matches(record)`: candidates from the blocks, scored with
  Fellegi-Sunter weights (`crmhub.sync.scoring`), best first, each with its explanation. The sync asks the same
  question of the index it keeps in the store (`crmhub.sync.match_index.BatchIndex`, same blocks, counts and
  order), so that a run does not rebuild this in-memory index from the whole book.
- *Which records are one company?* — `resolve(records)`: every candidate pair scored once, pairs at or above
  ``auto_merge`` joined into clusters (union-find, strongest evidence first, never joining two different USCCs),
  pairs between ``review`` and ``auto_merge`` listed for a human and never merged.

Why clusters are built strongest-first with a USCC constraint: transitive closure is where matchers go wrong —
A~B and B~C must not make A~C when A and C carry different USCCs. Processing edges by descending weight lets the
best evidence win and turns the losing link into a review item instead of a silent merge.

`MatchRecord`, `MatchScore` and the scoring model are re-exported here for callers.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from crmhub.sync.blocking import BlockIndex, BlockingConfig, block_keys
from crmhub.sync.records import MatchRecord
from crmhub.sync.scoring import Contribution, MatchModel, MatchScore, TermFrequencies, score_at_least, score_pair

__all__ = [
    "BlockingConfig",
    "Contribution",
    "Link",
    "MatchModel",
    "MatchRecord",
    "MatchScore",
    "MatchStats",
    "MatchThresholds",
    "Matcher",
    "Resolution",
    "ReviewPair",
]


@dataclass(frozen=True, slots=True)
class MatchThresholds:
    """Match-probability thresholds: ``auto_merge`` joins records, ``review`` queues a pair for a human.

    Defaults come from the drift tests and the synthetic-world benchmark (bench/matching.py): at 0.95 the
    drift-table variants merge on name and region alone, while near misses (same 字号 other industry, same name
    other region, homophone 字号 without corroboration) stay below it; lower pairs down to 0.6 are worth a look.
    """

    auto_merge: float = 0.95
    review: float = 0.6

    def __post_init__(self) -> None:
        if not 0.0 <= self.review <= self.auto_merge <= 1.0:
            raise ValueError(
                f"thresholds must satisfy 0 <= review <= auto_merge <= 1, got review={self.review}, "
                f"auto_merge={self.auto_merge}"
            )


@dataclass(frozen=True, slots=True)
class Link:
    """An automatic merge decision: the two records and the probability that joined them."""

    ref_a: str
    ref_b: str
    match_probability: float


@dataclass(frozen=True, slots=True)
class ReviewPair:
    """A pair a human must decide; never merged automatically.

    ``reason``: ``grey_zone`` (probability between the thresholds), ``uscc_clash`` (a strong link that would put
    two USCCs in one cluster), ``branch_uscc_clash`` (a branch and a head office carrying the same USCC) or the
    score's ``review_only`` rule (``group_mismatch``: a 集团 and a non-集团 name, however probable).
    """

    ref_a: str
    ref_b: str
    score: MatchScore
    reason: str


@dataclass(frozen=True, slots=True)
class MatchStats:
    """What a resolution cost: records, candidate pairs scored, oversized blocks skipped, wall time."""

    records: int
    pairs_scored: int
    oversized_blocks: int
    seconds: float


@dataclass(frozen=True, slots=True)
class Resolution:
    """Clusters of refs (one per entity, singletons included), automatic links, and the review queue."""

    clusters: tuple[tuple[str, ...], ...]
    links: tuple[Link, ...]
    review: tuple[ReviewPair, ...]
    stats: MatchStats

    def cluster_index(self) -> dict[str, int]:
        """ref → position of its cluster in `clusters`."""
        return {ref: i for i, members in enumerate(self.clusters) for ref in members}


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while resolving.

    Resolution allocates millions of short-lived tuples and scores and no reference cycles (reference counting
    frees them), but each allocation burst makes the collector traverse every live object — the caller's records
    included — so with 100k records the collector alone made matching superlinear (measured: 4.0 s CPU with it,
    2.6 s without, for 100,000 records). The previous state is restored afterwards.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class _UnionFind:
    """Disjoint sets over record ids, each root remembering its cluster's USCC (at most one)."""

    __slots__ = ("parent", "uscc")

    def __init__(self, usccs: list[str | None]) -> None:
        self.parent = list(range(len(usccs)))
        self.uscc = usccs

    def find(self, x: int) -> int:
        parent = self.parent
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    def union(self, a: int, b: int) -> bool:
        """Join the sets of a and b unless that would put two different USCCs in one cluster."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return True
        ua, ub = self.uscc[ra], self.uscc[rb]
        if ua and ub and ua != ub:
            return False
        self.parent[rb] = ra
        self.uscc[ra] = ua or ub
        return True


class Matcher:
    """Incremental blocking index + Fellegi-Sunter scorer + clustering (see module docstring)."""

    def __init__(
        self,
        thresholds: MatchThresholds | None = None,
        *,
        model: MatchModel | None = None,
        blocking: BlockingConfig | None = None,
    ) -> None:
        self.thresholds = thresholds or MatchThresholds()
        self.model = model or MatchModel()
        self._blocks = BlockIndex(blocking)
        self._tf = TermFrequencies()
        self._records: list[MatchRecord | None] = []
        self._ids: dict[str, int] = {}
        self.pairs_scored = 0

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, ref: object) -> bool:
        return ref in self._ids

    def get(self, ref: str) -> MatchRecord | None:
        """The indexed record for `ref`, if any."""
        rid = self._ids.get(ref)
        return None if rid is None else self._records[rid]

    def add(self, record: MatchRecord) -> None:
        """Index a record; a record with a ref already indexed replaces the old version."""
        if record.ref in self._ids:
            self.remove(record.ref)
        rid = len(self._records)
        self._records.append(record)
        self._ids[record.ref] = rid
        self._blocks.add(rid, block_keys(record))
        self._tf.add(record)

    def remove(self, ref: str) -> None:
        """Forget a record (deleted or about to be replaced)."""
        rid = self._ids.pop(ref, None)
        if rid is None:
            raise KeyError(f"record {ref!r} is not indexed; nothing to remove")
        record = self._records[rid]
        assert record is not None
        self._records[rid] = None
        self._blocks.remove(rid, block_keys(record))
        self._tf.remove(record)

    def _candidate_ids(self, record: MatchRecord) -> set[int]:
        found = set(self._blocks.candidates(block_keys(record)))
        own = self._ids.get(record.ref)
        found.discard(own if own is not None else -1)
        return found

    def candidates(self, record: MatchRecord) -> list[str]:
        """Refs of indexed records sharing a usable block with `record` (not scored)."""
        out = []
        for rid in self._candidate_ids(record):
            other = self._records[rid]
            if other is not None:
                out.append(other.ref)
        return out

    def score(self, a: MatchRecord, b: MatchRecord) -> MatchScore:
        """Score a pair with this matcher's model and the term frequencies of the indexed data."""
        self.pairs_scored += 1
        return score_pair(a, b, self._tf, self.model)

    def explain(self, ref_a: str, ref_b: str) -> MatchScore:
        """Re-score two indexed records, for an audit trail or a reviewer's screen."""
        a, b = self.get(ref_a), self.get(ref_b)
        if a is None or b is None:
            missing = ref_a if a is None else ref_b
            raise KeyError(f"record {missing!r} is not indexed; add() it before asking for an explanation")
        return self.score(a, b)

    def best_matches(
        self, record: MatchRecord, *, limit: int = 10, min_probability: float | None = None
    ) -> list[tuple[str, MatchScore]]:
        """Indexed records that may be `record`, best first, at or above ``min_probability`` (default: review)."""
        floor = self.thresholds.review if min_probability is None else min_probability
        scored: list[tuple[str, MatchScore]] = []
        for rid in self._candidate_ids(record):
            other = self._records[rid]
            if other is None:
                continue
            self.pairs_scored += 1
            s = score_at_least(record, other, self._tf, self.model, floor)
            if s is not None:
                scored.append((other.ref, s))
        scored.sort(key=lambda item: (-item[1].total, item[0]))
        return scored[:limit]

    def resolve(self, records: Iterable[MatchRecord] = ()) -> Resolution:
        """Index `records` (a stream is fine), then cluster everything indexed; see the module docstring."""
        with _gc_paused():
            return self._resolve(records)

    def _resolve(self, records: Iterable[MatchRecord]) -> Resolution:
        started = time.perf_counter()
        scored_before = self.pairs_scored
        for record in records:
            self.add(record)
        auto, review = self.thresholds.auto_merge, self.thresholds.review
        edges: list[tuple[float, float, int, int, str | None]] = []
        clashes: list[tuple[int, int]] = []
        live = self._records
        for rid, current in enumerate(live):
            if current is None:
                continue
            for other_id in set(self._blocks.candidates(block_keys(current))):
                if other_id >= rid:
                    continue  # scored from the other side: candidacy is symmetric (BlockIndex.candidates)
                other = live[other_id]
                if other is None:
                    continue
                s = self.score(current, other)
                if s.match_probability >= review:
                    edges.append((s.total, s.match_probability, other_id, rid, s.review_only))
                elif s.rule == "branch_uscc_clash":
                    clashes.append((other_id, rid))
        edges.sort(key=lambda e: (-e[0], e[2], e[3]))
        uf = _UnionFind([r.uscc if r is not None else None for r in live])
        links: list[Link] = []
        pending: dict[tuple[int, int], tuple[int, int, str]] = {}
        for _total, prob, i, j, review_only in edges:
            a, b = live[i], live[j]
            assert a is not None and b is not None
            if review_only is not None:
                pending.setdefault(self._pair_key(uf, i, j), (i, j, review_only))
            elif prob >= auto:
                if uf.find(i) == uf.find(j):
                    continue
                if uf.union(i, j):
                    links.append(Link(a.ref, b.ref, prob))
                else:
                    pending.setdefault(self._pair_key(uf, i, j), (i, j, "uscc_clash"))
            else:
                pending.setdefault(self._pair_key(uf, i, j), (i, j, "grey_zone"))
        for i, j in clashes:
            pending.setdefault(self._pair_key(uf, i, j), (i, j, "branch_uscc_clash"))
        review_pairs = []
        seen: set[tuple[int, int]] = set()
        for i, j, reason in pending.values():
            roots = self._pair_key(uf, i, j)
            if roots[0] == roots[1] or roots in seen:
                continue  # joined later through stronger links, or already queued for these two clusters
            seen.add(roots)
            a, b = live[i], live[j]
            assert a is not None and b is not None
            review_pairs.append(ReviewPair(a.ref, b.ref, self.score(a, b), reason))
        groups: dict[int, list[str]] = {}
        for rid, member in enumerate(live):
            if member is not None:
                groups.setdefault(uf.find(rid), []).append(member.ref)
        stats = MatchStats(
            records=len(self._ids),
            pairs_scored=self.pairs_scored - scored_before,
            oversized_blocks=self._blocks.oversized,
            seconds=time.perf_counter() - started,
        )
        return Resolution(tuple(tuple(g) for g in groups.values()), tuple(links), tuple(review_pairs), stats)

    @staticmethod
    def _pair_key(uf: _UnionFind, i: int, j: int) -> tuple[int, int]:
        ri, rj = uf.find(i), uf.find(j)
        return (ri, rj) if ri <= rj else (rj, ri)
