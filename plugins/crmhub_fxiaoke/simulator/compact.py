"""Compact building blocks of a world-backed `crmhub_fxiaoke.simulator.state.ObjectTable`, so a million accounts
fit in memory.

A lazy table keeps no record dicts and no cached JSON: records are regenerated from the world on demand (the
shared `crmhub.sandbox.overlay.RecordMap`, under an overlay of records written since the load), and its indexes
are int64 columns instead of lists of strings and tuples. Record ids are 24 lowercase hex digits (ObjectId-like),
held as two integers (first 8 hex, last 16 hex) whose numeric order is the ids' string order (`IdColumn`, the
overlay's base). The columns still look like the sorted ``list[str]`` / ``list[tuple[int, str]]`` the query
planner was written against (`bisect`, indexing, ``insort`` and ``del`` work on them unchanged).
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Iterator, Sequence
from typing import Any, overload

from crmhub.sandbox.overlay import RecordMap, sorted_order
from crmhub.sandbox.overlay import take as _take

_HEX = frozenset("0123456789abcdef")


def split(rid: str) -> tuple[int, int]:
    """The two integers of a 24-hex id (ValueError for any other id: a lazy table holds ObjectId-like ids only)."""
    if len(rid) != 24 or not _HEX.issuperset(rid):
        raise ValueError(f"not a 24-hex record id: {rid!r}")
    return int(rid[:8], 16), int(rid[8:], 16)


def join(hi: int, lo: int) -> str:
    """The id of two integers (inverse of `split`)."""
    return f"{hi:08x}{lo:016x}"


class IdColumn(Sequence[str]):
    """A sorted sequence of ids held as two int columns (16 bytes per id instead of ~80)."""

    def __init__(self, hi: array[int] | None = None, lo: array[int] | None = None) -> None:
        self.hi: array[int] = hi if hi is not None else array("q")
        self.lo: array[int] = lo if lo is not None else array("Q")

    @classmethod
    def sorted_from(cls, hi: array[int], lo: array[int]) -> IdColumn:
        """The ids of rows (``hi``, ``lo``), sorted."""
        order = sorted_order(hi, lo)
        return cls(_take(hi, order), _take(lo, order))

    def copy(self) -> IdColumn:
        return IdColumn(array("q", self.hi), array("Q", self.lo))

    def __len__(self) -> int:
        return len(self.hi)

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return [join(h, lo) for h, lo in zip(self.hi[index], self.lo[index], strict=True)]
        return join(self.hi[index], self.lo[index])

    def __iter__(self) -> Iterator[str]:
        for h, lo in zip(self.hi, self.lo, strict=True):
            yield join(h, lo)

    def insert(self, pos: int, rid: str) -> None:
        """Insert at ``pos`` (what `bisect.insort` calls)."""
        hi, lo = split(rid)
        self.hi.insert(pos, hi)
        self.lo.insert(pos, lo)

    def __delitem__(self, pos: int) -> None:
        del self.hi[pos]
        del self.lo[pos]

    def find(self, rid: str) -> bool:
        """Is ``rid`` one of the ids (a bisect)?"""
        pos = bisect.bisect_left(self, rid)
        return pos < len(self.hi) and self[pos] == rid


class LmtColumn(Sequence[tuple[int, str]]):
    """The ``(last_modified_time, _id)`` index as three int columns (24 bytes per entry instead of ~150)."""

    def __init__(self, lmt: array[int], hi: array[int], lo: array[int]) -> None:
        self.lmt, self.hi, self.lo = lmt, hi, lo

    @classmethod
    def sorted_from(cls, lmt: array[int], hi: array[int], lo: array[int]) -> LmtColumn:
        order = sorted_order(lmt, hi, lo)
        return cls(_take(lmt, order), _take(hi, order), _take(lo, order))

    def __len__(self) -> int:
        return len(self.lmt)

    @overload
    def __getitem__(self, index: int) -> tuple[int, str]: ...
    @overload
    def __getitem__(self, index: slice) -> list[tuple[int, str]]: ...

    def __getitem__(self, index: int | slice) -> tuple[int, str] | list[tuple[int, str]]:
        if isinstance(index, slice):
            return [(t, join(h, lo)) for t, h, lo in zip(self.lmt[index], self.hi[index], self.lo[index], strict=True)]
        return (self.lmt[index], join(self.hi[index], self.lo[index]))

    def __iter__(self) -> Iterator[tuple[int, str]]:
        for t, h, lo in zip(self.lmt, self.hi, self.lo, strict=True):
            yield (t, join(h, lo))

    def insert(self, pos: int, entry: tuple[int, str]) -> None:
        hi, lo = split(entry[1])
        self.lmt.insert(pos, entry[0])
        self.hi.insert(pos, hi)
        self.lo.insert(pos, lo)

    def __delitem__(self, pos: int) -> None:
        del self.lmt[pos]
        del self.hi[pos]
        del self.lo[pos]


class EqIndex:
    """Value → ids for one equality-indexed field: base records as a sorted column of value hashes (checked
    against the record on lookup, so a hash collision never answers a wrong id), written records in a dict."""

    def __init__(self, field: str, records: RecordMap, hashes: array[int], hi: array[int], lo: array[int]) -> None:
        self.field = field
        self.records = records
        order = sorted_order(hashes)
        self.hashes, self.hi, self.lo = _take(hashes, order), _take(hi, order), _take(lo, order)
        self.overlay: dict[str, set[str]] = {}

    def get(self, value: str, default: Any = None) -> Any:
        """The ids whose field equals ``value`` (``default`` when none) — what ``dict.get`` answers eagerly."""
        found = set(self.overlay.get(value, ()))
        h = hash(value)
        lo = bisect.bisect_left(self.hashes, h)
        hi = bisect.bisect_right(self.hashes, h, lo)
        for i in range(lo, hi):
            rid = join(self.hi[i], self.lo[i])
            if rid in self.records.hidden:
                continue
            rec = self.records.get(rid)
            if rec is not None and rec.get(self.field) == value:
                found.add(rid)
        return found if found else default

    def add(self, value: str, rid: str) -> None:
        self.overlay.setdefault(value, set()).add(rid)

    def discard(self, value: str, rid: str) -> None:
        # (a base record's entry needs no removal: the record is hidden from the base once written or removed)
        ids = self.overlay.get(value)
        if ids is not None:
            ids.discard(rid)
            if not ids:
                del self.overlay[value]


class IndexRows:
    """What a lazy table keeps of each record while loading: id, ``last_modified_time`` and the hashes of its
    equality-indexed fields' values."""

    def __init__(self, eq_fields: tuple[str, ...]) -> None:
        self.hi: array[int] = array("q")
        self.lo: array[int] = array("Q")
        self.lmt: array[int] = array("q")
        self.eq: dict[str, tuple[array[int], array[int], array[int]]] = {
            f: (array("q"), array("q"), array("Q")) for f in eq_fields
        }

    def add(self, rec: dict[str, Any]) -> None:
        """Index one record (the record itself is not kept)."""
        hi, lo = split(rec["_id"])
        self.hi.append(hi)
        self.lo.append(lo)
        self.lmt.append(rec["last_modified_time"])
        for fname, (hashes, his, los) in self.eq.items():
            value = rec.get(fname)
            if isinstance(value, str) and value:
                hashes.append(hash(value))
                his.append(hi)
                los.append(lo)
