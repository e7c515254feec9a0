"""The console world's open match review items, read from the store at run time.

Why a helper: the world is a real sync of several simulators whose connectors ingest concurrently, so the golden
client ids (and which of a pair is the candidate) differ from one build to the next. Tests that name client 144 or
item 1 pass on some builds and fail on others; they ask this module instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from crmhub.store.tables import GoldenClient, ReviewItem, SourceRecord, Xref


@dataclass(frozen=True)
class Pair:
    """One open match item: accepting it merges ``candidate`` (client_id) into ``golden`` (other_client_id)."""

    item: int
    score: float
    explanation: str
    candidate: int
    candidate_name: str
    golden: int
    golden_name: str
    connector: str
    """The candidate's (first) source record, what a split takes off it."""
    source_id: str
    candidate_sources: tuple[str, ...]
    golden_sources: tuple[str, ...]

    @property
    def record(self) -> str:
        """The candidate's source record as ``connector:source_id``."""
        return f"{self.connector}:{self.source_id}"

    @property
    def split(self) -> str:
        """The split form's value for the candidate's source record (``client|connector:source_id``)."""
        return f"{self.candidate}|{self.record}"


def _sources(s: Any, client_id: int) -> list[tuple[str, str]]:
    return [
        (c, i)
        for c, i in s.execute(
            select(SourceRecord.connector, SourceRecord.source_id)
            .join(Xref, Xref.source_record_id == SourceRecord.id)
            .where(Xref.client_id == client_id)
            .order_by(SourceRecord.connector, SourceRecord.source_id)
        )
    ]


def open_matches(store: Any) -> list[Pair]:
    """The open match items, best score first (asserts every one names two clients with source records)."""
    out = []
    with store.begin() as s:
        items = s.scalars(
            select(ReviewItem)
            .where(ReviewItem.kind == "match", ReviewItem.status == "open")
            .order_by(ReviewItem.score.desc(), ReviewItem.id)
        )
        for item in items:
            assert item.client_id and item.other_client_id and item.score is not None, item.id
            candidate, golden = s.get(GoldenClient, item.client_id), s.get(GoldenClient, item.other_client_id)
            assert candidate is not None and golden is not None, item.id
            mine, theirs = _sources(s, candidate.id), _sources(s, golden.id)
            assert mine and theirs, (item.id, mine, theirs)
            out.append(
                Pair(
                    item=item.id,
                    score=float(item.score),
                    explanation=str((item.details or {}).get("explanation") or ""),
                    candidate=candidate.id,
                    candidate_name=candidate.name,
                    golden=golden.id,
                    golden_name=golden.name,
                    connector=mine[0][0],
                    source_id=mine[0][1],
                    candidate_sources=tuple(f"{c}:{i}" for c, i in mine),
                    golden_sources=tuple(f"{c}:{i}" for c, i in theirs),
                )
            )
    return out


def two_matches(store: Any) -> tuple[Pair, Pair]:
    """The world's two open match items, best first (their scores differ, so "best" is well defined)."""
    pairs = open_matches(store)
    assert len(pairs) == 2, pairs
    best, other = pairs
    assert best.score > other.score and best.candidate_name != other.candidate_name, pairs
    return best, other
