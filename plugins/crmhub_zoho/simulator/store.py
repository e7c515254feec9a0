"""In-memory records of one module with real indexes, so a page costs a bisect and a slice, never a sort.

Indexes are sorted lists of ``(primary, id number, id)``: by id, by ``Modified_Time`` and by ``Created_Time``
(epoch seconds). A write moves one entry (bisect + insert); filtered orders (``If-Modified-Since`` combined with
``sort_by=id``) are computed once per store version and cached, so a ``page_token`` chain over them stays cheap.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from crmhub_zoho.simulator.fields import ModuleDef

Key = tuple[int, int, str]




def epoch(text: str) -> int:
    """Epoch seconds of a Zoho datetime string (always with an offset)."""
    return int(datetime.fromisoformat(text).timestamp())


def norm_unique(value: Any) -> str:
    """Unique and duplicate-check fields compare case-insensitively and ignore surrounding blanks."""
    return str(value).strip().casefold()


class ModuleStore:
    """Records of one module (``id`` → Zoho JSON dict), their indexes and the module's tombstones."""

    def __init__(self, module: ModuleDef) -> None:
        self.module = module
        self.records: dict[str, dict[str, Any]] = {}
        self.rendered: dict[str, tuple[tuple[str, ...] | None, str]] = {}
        self.by_id: list[Key] = []
        self.by_modified: list[Key] = []
        self.by_created: list[Key] = []
        self._mt: dict[str, int] = {}
        self._ct: dict[str, int] = {}
        self.dup_index: dict[str, dict[str, set[str]]] = {
            f: {} for f in (*module.system_duplicate_fields, *module.unique_fields)
        }
        self.tombstones: list[tuple[int, int, dict[str, Any]]] = []
        self.version = 0
        self._cache: OrderedDict[tuple[Any, ...], list[Key]] = OrderedDict()

    def __len__(self) -> int:
        return len(self.records)

    # --- loading and writing ---------------------------------------------------------------------------------

    def load(self, records: Sequence[dict[str, Any]]) -> None:
        """Bulk-load records (seeding): one sort per index instead of one insert per record."""
        for rec in records:
            rid = rec["id"]
            self.records[rid] = rec
            self._mt[rid] = epoch(rec["Modified_Time"])
            self._ct[rid] = epoch(rec["Created_Time"])
            self._index_dups(rid, rec)
        self.by_id = sorted((int(r), int(r), r) for r in self.records)
        self.by_modified = sorted((self._mt[r], int(r), r) for r in self.records)
        self.by_created = sorted((self._ct[r], int(r), r) for r in self.records)
        self._bump()

    def put(self, rec: dict[str, Any]) -> None:
        """Insert or replace one record, moving its index entries."""
        rid = rec["id"]
        old = self.records.get(rid)
        if old is not None:
            self._unindex_dups(rid, old)
            _remove(self.by_modified, (self._mt[rid], int(rid), rid))
            _remove(self.by_created, (self._ct[rid], int(rid), rid))
        else:
            bisect.insort(self.by_id, (int(rid), int(rid), rid))
        self.records[rid] = rec
        self.rendered.pop(rid, None)
        self._mt[rid] = epoch(rec["Modified_Time"])
        self._ct[rid] = epoch(rec["Created_Time"])
        bisect.insort(self.by_modified, (self._mt[rid], int(rid), rid))
        bisect.insort(self.by_created, (self._ct[rid], int(rid), rid))
        self._index_dups(rid, rec)
        self._bump()

    def remove(self, rid: str, tombstone: dict[str, Any], deleted_epoch: int) -> dict[str, Any] | None:
        """Delete one record and keep its tombstone for ``/deleted``."""
        old = self.records.pop(rid, None)
        if old is None:
            return None
        self.rendered.pop(rid, None)
        self._unindex_dups(rid, old)
        _remove(self.by_id, (int(rid), int(rid), rid))
        _remove(self.by_modified, (self._mt.pop(rid), int(rid), rid))
        _remove(self.by_created, (self._ct.pop(rid), int(rid), rid))
        bisect.insort(self.tombstones, (deleted_epoch, int(rid), tombstone), key=lambda t: (t[0], t[1]))
        self._bump()
        return old

    def modified_epoch(self, rid: str) -> int:
        """``Modified_Time`` of a record in epoch seconds."""
        return self._mt[rid]

    def find_duplicates(self, field: str, value: Any) -> set[str]:
        """Ids whose duplicate-check or unique ``field`` equals ``value``."""
        if value is None or str(value).strip() == "":
            return set()
        return self.dup_index.get(field, {}).get(norm_unique(value), set())

    def _index_dups(self, rid: str, rec: dict[str, Any]) -> None:
        for fld, index in self.dup_index.items():
            value = rec.get(fld)
            if value is not None and str(value).strip():
                index.setdefault(norm_unique(value), set()).add(rid)

    def _unindex_dups(self, rid: str, rec: dict[str, Any]) -> None:
        for fld, index in self.dup_index.items():
            value = rec.get(fld)
            if value is not None and str(value).strip():
                ids = index.get(norm_unique(value))
                if ids is not None:
                    ids.discard(rid)
                    if not ids:
                        del index[norm_unique(value)]

    def _bump(self) -> None:
        self.version += 1
        self._cache.clear()

    # --- ordered views -----------------------------------------------------------------------------------------

    def ordered(self, sort_by: str, since: int | None) -> list[Key]:
        """Entries in ascending ``sort_by`` order, restricted to ``Modified_Time >= since`` when given."""
        base = {"id": self.by_id, "Modified_Time": self.by_modified, "Created_Time": self.by_created}[sort_by]
        if since is None:
            return base
        if sort_by == "Modified_Time":
            lo = bisect.bisect_left(self.by_modified, (since, -1, ""))
            return self.by_modified[lo:]
        key = (sort_by, since)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        lo = bisect.bisect_left(self.by_modified, (since, -1, ""))
        ids = [e[2] for e in self.by_modified[lo:]]
        if sort_by == "id":
            entries = sorted((int(r), int(r), r) for r in ids)
        else:
            entries = sorted((self._ct[r], int(r), r) for r in ids)
        self._cache[key] = entries
        if len(self._cache) > 16:
            self._cache.popitem(last=False)
        return entries

    def latest_modified(self) -> int | None:
        """The newest ``Modified_Time`` (epoch), for ``If-Modified-Since`` → 304 decisions."""
        return self.by_modified[-1][0] if self.by_modified else None


def _remove(index: list[Key], entry: Key) -> None:
    i = bisect.bisect_left(index, entry)
    if i < len(index) and index[i] == entry:
        del index[i]


def page_of(entries: list[Key], descending: bool, *, offset: int = 0, after: Key | None = None,
            count: int = 200) -> tuple[list[Key], bool]:
    """One page of ``entries`` (ascending list) in the requested direction, by offset or after a keyset key.

    Returns the page and whether more entries follow it.
    """
    n = len(entries)
    if not descending:
        start = bisect.bisect_right(entries, after) if after is not None else offset
        page = entries[start:start + count]
        return page, start + count < n
    end = bisect.bisect_left(entries, after) if after is not None else n - offset
    start = max(0, end - count)
    page = entries[start:end][::-1] if end > 0 else []
    return page, start > 0
