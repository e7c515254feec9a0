"""Compact building blocks of `crmhub_zoho.simulator.store.ModuleStore`, so a million-record module fits in memory.

A world-backed store keeps no record dicts: records are regenerated from the world on demand (the shared
`crmhub.sandbox.overlay.RecordMap`, with an overlay of records written since the load), and its indexes are
``array('q')`` columns (8 bytes per entry) instead of lists of tuples (~200 bytes per entry). The index types
still look like the sorted lists of ``(primary, id number, id)`` tuples the readers were written against
(`SortedIndex` is a sequence: ``len``, indexing, slicing and `bisect` work on it unchanged).
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Iterable, Iterator, Sequence
from typing import overload

from crmhub.sandbox.overlay import sorted_order

Key = tuple[int, int, str]


class SortedIndex(Sequence[Key]):
    """A sorted index of ``(primary, id number, id)`` entries held in two int64 columns (one when the primary is
    the id itself). Inserting or removing an entry moves the columns' tails (a memmove), like a list's insert."""

    def __init__(self, by_id: bool = False) -> None:
        self.ids: array[int] = array("q")
        self.primary: array[int] = self.ids if by_id else array("q")
        self._by_id = by_id

    def build(self, ids: array[int], primary: array[int] | None = None) -> None:
        """Replace the entries by the rows (``primary``, ``ids``), sorting them."""
        if self._by_id or primary is None:
            self.ids = self.primary = array("q", sorted(ids))
            return
        order = sorted_order(primary, ids)
        self.primary = array("q", (primary[i] for i in order))
        self.ids = array("q", (ids[i] for i in order))

    def __len__(self) -> int:
        return len(self.ids)

    @overload
    def __getitem__(self, index: int) -> Key: ...
    @overload
    def __getitem__(self, index: slice) -> list[Key]: ...

    def __getitem__(self, index: int | slice) -> Key | list[Key]:
        if isinstance(index, slice):
            ids, prim = self.ids[index], self.primary[index]
            return [(p, i, str(i)) for p, i in zip(prim, ids, strict=True)]
        i = self.ids[index]
        return (self.primary[index], i, str(i))

    def __iter__(self) -> Iterator[Key]:
        for p, i in zip(self.primary, self.ids, strict=True):
            yield (p, i, str(i))

    def insort(self, entry: Key) -> None:
        """Insert one entry in order."""
        pos = bisect.bisect_left(self, entry)
        self.ids.insert(pos, entry[1])
        if not self._by_id:
            self.primary.insert(pos, entry[0])

    def remove(self, entry: Key) -> None:
        """Remove one entry if present."""
        pos = bisect.bisect_left(self, entry)
        if pos < len(self.ids) and self.ids[pos] == entry[1] and self.primary[pos] == entry[0]:
            del self.ids[pos]
            if not self._by_id:
                del self.primary[pos]


class DupIndex:
    """Normalised value → ids for one duplicate-check field: base records as a sorted column of value hashes
    (verified against the record on lookup, so a hash collision never reports a false duplicate), overlay
    records in a dict of sets."""

    def __init__(self) -> None:
        self.hashes: array[int] = array("q")
        self.ids: array[int] = array("q")
        self.overlay: dict[str, set[str]] = {}

    def build(self, hashes: array[int], ids: array[int]) -> None:
        order = sorted_order(hashes, ids)
        self.hashes = array("q", (hashes[i] for i in order))
        self.ids = array("q", (ids[i] for i in order))

    def base_candidates(self, norm: str) -> Iterable[str]:
        h = hash(norm)
        lo = bisect.bisect_left(self.hashes, h)
        hi = bisect.bisect_right(self.hashes, h, lo)
        return (str(self.ids[i]) for i in range(lo, hi))

    def add(self, norm: str, rid: str) -> None:
        self.overlay.setdefault(norm, set()).add(rid)

    def discard(self, norm: str, rid: str) -> None:
        ids = self.overlay.get(norm)
        if ids is not None:
            ids.discard(rid)
            if not ids:
                del self.overlay[norm]
