"""In-memory records of one module with real indexes, so a page costs a bisect and a slice, never a sort.

Indexes are sorted sequences of ``(primary, id number, id)`` (`crmhub_zoho.simulator.compact.SortedIndex`, int64
columns): by id, by ``Modified_Time`` and by ``Created_Time`` (epoch seconds). A write moves one entry (bisect +
insert); filtered orders (``If-Modified-Since`` combined with ``sort_by=id``) are computed once per store version
and cached, so a ``page_token`` chain over them stays cheap.
"""

from __future__ import annotations

import bisect
from array import array
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from crmhub.sandbox.overlay import BoundedDict, IntIds, RecordMap
from crmhub_zoho.simulator.compact import DupIndex, Key, SortedIndex
from crmhub_zoho.simulator.fields import ModuleDef

__all__ = ["Key", "ModuleStore", "epoch", "norm_unique", "page_of"]


def epoch(text: str) -> int:
    """Epoch seconds of a Zoho datetime string (always with an offset)."""
    return int(datetime.fromisoformat(text).timestamp())


def norm_unique(value: Any) -> str:
    """Unique and duplicate-check fields compare case-insensitively and ignore surrounding blanks."""
    return str(value).strip().casefold()


class IndexRows:
    """What a lazy store keeps of each record, as int64 columns: id, ``Modified_Time``, ``Created_Time`` and the
    hashes of its duplicate-check fields' normalised values."""

    def __init__(self, dup_fields: tuple[str, ...]) -> None:
        self.ids: array[int] = array("q")
        self.mts: array[int] = array("q")
        self.cts: array[int] = array("q")
        self.dups: dict[str, tuple[array[int], array[int]]] = {f: (array("q"), array("q")) for f in dup_fields}

    def add(self, rec: dict[str, Any]) -> None:
        """Index one record (the record itself is not kept)."""
        n = int(rec["id"])
        self.ids.append(n)
        self.mts.append(epoch(rec["Modified_Time"]))
        self.cts.append(epoch(rec["Created_Time"]))
        for fld, (hashes, owners) in self.dups.items():
            value = rec.get(fld)
            if value is not None and str(value).strip():
                hashes.append(hash(norm_unique(value)))
                owners.append(n)


class ModuleStore:
    """Records of one module (``id`` → Zoho JSON dict), their indexes and the module's tombstones.

    Two ways to fill it: `load` (records given as dicts, all kept) and `load_lazy` (records regenerated from the
    world on demand; only compact index columns are kept — see `crmhub_zoho.simulator.compact`). Either way the
    readers see the same ``records`` mapping and sorted ``by_*`` sequences.
    """

    def __init__(self, module: ModuleDef) -> None:
        self.module = module
        self.records = RecordMap()
        self.rendered: dict[str, tuple[tuple[str, ...] | None, str]] = {}
        self.by_id = SortedIndex(by_id=True)
        self.by_modified = SortedIndex()
        self.by_created = SortedIndex()
        self.dup_index: dict[str, DupIndex] = {
            f: DupIndex() for f in (*module.system_duplicate_fields, *module.unique_fields)
        }
        self.tombstones: list[tuple[int, int, dict[str, Any]]] = []
        self.version = 0
        self._cache: OrderedDict[tuple[Any, ...], Sequence[Key]] = OrderedDict()

    def __len__(self) -> int:
        return len(self.records)

    # --- loading and writing ---------------------------------------------------------------------------------

    def load(self, records: Sequence[dict[str, Any]]) -> None:
        """Bulk-load records (seeding) and keep them: one sort per index instead of one insert per record."""
        for rec in records:
            rid = rec["id"]
            self.records[rid] = rec
            self._index_dups(rid, rec)
        self._build_indexes(
            array("q", (int(r) for r in self.records)),
            array("q", (epoch(r["Modified_Time"]) for r in self.records.values())),
            array("q", (epoch(r["Created_Time"]) for r in self.records.values())),
        )

    def load_lazy(
        self,
        records: Iterable[dict[str, Any]],
        loader: Callable[[str], dict[str, Any] | None],
        *,
        rendered_cap: int = 20_000,
    ) -> None:
        """Index ``records`` (streamed, each dropped once indexed) without keeping them: ``loader(id)`` gives a
        record back, identical, when it is read. Memory: about 60 bytes per record instead of several KB; the
        rendered-JSON cache keeps the ``rendered_cap`` most recently rendered records."""
        rows = self.index_rows()
        for rec in records:
            rows.add(rec)
        self.load_index(rows, loader, rendered_cap=rendered_cap)

    def index_rows(self) -> IndexRows:
        """An empty `IndexRows` for this module's fields (fill it, then `load_index`)."""
        return IndexRows(tuple(self.dup_index))

    def load_index(
        self, rows: IndexRows, loader: Callable[[str], dict[str, Any] | None], *, rendered_cap: int = 20_000
    ) -> None:
        """Make the records indexed in ``rows`` this store's base, regenerated by ``loader`` (see `load_lazy`)."""
        self.records.set_base(IntIds(rows.ids), loader)
        for fld, (hashes, owners) in rows.dups.items():
            self.dup_index[fld].build(hashes, owners)
        self.rendered = BoundedDict(rendered_cap)
        self._build_indexes(rows.ids, rows.mts, rows.cts)

    def _build_indexes(self, ids: array[int], mts: array[int], cts: array[int]) -> None:
        self.by_id.build(ids)
        self.by_modified.build(ids, mts)
        self.by_created.build(ids, cts)
        self._bump()

    def put(self, rec: dict[str, Any]) -> None:
        """Insert or replace one record, moving its index entries."""
        rid = rec["id"]
        old = self.records.get(rid)
        if old is not None:
            self._unindex_dups(rid, old)
            self.by_modified.remove((epoch(old["Modified_Time"]), int(rid), rid))
            self.by_created.remove((epoch(old["Created_Time"]), int(rid), rid))
        else:
            self.by_id.insort((int(rid), int(rid), rid))
        self.records[rid] = rec
        self.rendered.pop(rid, None)
        self.by_modified.insort((epoch(rec["Modified_Time"]), int(rid), rid))
        self.by_created.insort((epoch(rec["Created_Time"]), int(rid), rid))
        self._index_dups(rid, rec)
        self._bump()

    def remove(self, rid: str, tombstone: dict[str, Any], deleted_epoch: int) -> dict[str, Any] | None:
        """Delete one record and keep its tombstone for ``/deleted``."""
        old: dict[str, Any] | None = self.records.pop(rid, None)
        if old is None:
            return None
        self.rendered.pop(rid, None)
        self._unindex_dups(rid, old)
        self.by_id.remove((int(rid), int(rid), rid))
        self.by_modified.remove((epoch(old["Modified_Time"]), int(rid), rid))
        self.by_created.remove((epoch(old["Created_Time"]), int(rid), rid))
        bisect.insort(self.tombstones, (deleted_epoch, int(rid), tombstone), key=lambda t: (t[0], t[1]))
        self._bump()
        return old

    def modified_epoch(self, rid: str) -> int:
        """``Modified_Time`` of a record in epoch seconds."""
        return epoch(self.records[rid]["Modified_Time"])

    def find_duplicates(self, field: str, value: Any) -> set[str]:
        """Ids whose duplicate-check or unique ``field`` equals ``value``."""
        index = self.dup_index.get(field)
        if index is None or value is None or str(value).strip() == "":
            return set()
        norm = norm_unique(value)
        found = set(index.overlay.get(norm, ()))
        for rid in index.base_candidates(norm):
            if rid not in self.records.hidden:
                current = self.records.get(rid)
                if current is not None and norm_unique(current.get(field)) == norm:
                    found.add(rid)
        return found

    def _index_dups(self, rid: str, rec: dict[str, Any]) -> None:
        for fld, index in self.dup_index.items():
            value = rec.get(fld)
            if value is not None and str(value).strip():
                index.add(norm_unique(value), rid)

    def _unindex_dups(self, rid: str, rec: dict[str, Any]) -> None:
        # (a base record's entry needs no removal: the record is hidden from the base once written or removed)
        for fld, index in self.dup_index.items():
            value = rec.get(fld)
            if value is not None and str(value).strip():
                index.discard(norm_unique(value), rid)

    def _bump(self) -> None:
        self.version += 1
        self._cache.clear()

    # --- ordered views -----------------------------------------------------------------------------------------

    def ordered(self, sort_by: str, since: int | None) -> Sequence[Key]:
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
        else:  # (already in Created_Time order: filter that index rather than read every record's time)
            wanted = set(ids)
            entries = [e for e in self.by_created if e[2] in wanted]
        self._cache[key] = entries
        if len(self._cache) > 16:
            self._cache.popitem(last=False)
        return entries

    def latest_modified(self) -> int | None:
        """The newest ``Modified_Time`` (epoch), for ``If-Modified-Since`` → 304 decisions."""
        return self.by_modified[-1][0] if self.by_modified else None


def page_of(
    entries: Sequence[Key], descending: bool, *, offset: int = 0, after: Key | None = None, count: int = 200
) -> tuple[Sequence[Key], bool]:
    """One page of ``entries`` (ascending list) in the requested direction, by offset or after a keyset key.

    Returns the page and whether more entries follow it.
    """
    n = len(entries)
    if not descending:
        start = bisect.bisect_right(entries, after) if after is not None else offset
        page = entries[start : start + count]
        return page, start + count < n
    end = bisect.bisect_left(entries, after) if after is not None else n - offset
    start = max(0, end - count)
    page = entries[start:end][::-1] if end > 0 else []
    return page, start > 0
