"""``search_query_info`` for the simulator: filter operators, and a planner that uses the table's indexes.

The gateway's operators (fact sheet §3.3) are AND-ed; values arrive as a list, numbers as ints or numeric
strings. The planner picks the narrowest index the filters allow (an ``_id`` range, a ``last_modified_time``
range, an equality index such as the USCC field), streams it in order when the requested order matches the
index (so a 100-row page costs ~100 checks, not a scan), and falls back to a bounded top-k sort otherwise.
"""

from __future__ import annotations

import heapq
import itertools
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

OPERATORS = frozenset(
    {
        "EQ",
        "N",
        "GT",
        "GTE",
        "LT",
        "LTE",
        "IN",
        "NIN",
        "BETWEEN",
        "NBETWEEN",
        "LIKE",
        "NLIKE",
        "STARTWITH",
        "ENDWITH",
        "IS",
        "ISN",
        "HASANYOF",
        "NHASANYOF",
        "CONTAINS",
    }
)
LIFECYCLE_FIELDS = frozenset({"is_deleted", "life_status"})


class QueryError(ValueError):
    """A malformed ``search_query_info``; the app answers it with errorCode 15002."""


@dataclass(frozen=True, slots=True)
class Filter:
    """One parsed filter."""

    field: str
    op: str
    values: tuple[Any, ...]


def parse_filters(raw: object) -> list[Filter]:
    """Validate the ``filters`` list."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise QueryError("search_query_info.filters must be a list")
    out: list[Filter] = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise QueryError(f"filters[{i}] must be an object")
        field, op, values = item.get("field_name"), str(item.get("operator", "")).upper(), item.get("field_values")
        if not isinstance(field, str) or not field:
            raise QueryError(f"filters[{i}].field_name is required")
        if op not in OPERATORS:
            raise QueryError(f"filters[{i}].operator {op!r} is not one of {', '.join(sorted(OPERATORS))}")
        if values is None:
            values = []
        if not isinstance(values, list):
            raise QueryError(f"filters[{i}].field_values must be a list")
        if op in ("BETWEEN", "NBETWEEN") and len(values) != 2:
            raise QueryError(f"filters[{i}]: {op} needs field_values [low, high]")
        if op not in ("IS", "ISN", "IN", "NIN", "HASANYOF", "NHASANYOF", "CONTAINS") and not values:
            raise QueryError(f"filters[{i}]: {op} needs a value")
        out.append(Filter(field, op, tuple(values)))
    return out


def _empty(v: Any) -> bool:
    return v is None or v in ("", [])


def _coerce(value: Any, like: Any) -> Any:
    """Bring a filter value to the stored value's type: "1714000000000" → int, "true" → bool."""
    if isinstance(like, bool):
        if isinstance(value, str):
            return value.strip().lower() in ("true", "1")
        return bool(value)
    if isinstance(like, int | float) and not isinstance(value, int | float):
        try:
            return int(str(value)) if isinstance(like, int) else float(str(value))
        except ValueError:
            return value
    if isinstance(like, str) and not isinstance(value, str):
        return str(value).lower() if isinstance(value, bool) else str(value)
    return value


def _cmp(stored: Any, value: Any, op: str) -> bool:
    v = _coerce(value, stored)
    try:
        if op == "GT":
            return bool(stored > v)
        if op == "GTE":
            return bool(stored >= v)
        if op == "LT":
            return bool(stored < v)
        return bool(stored <= v)
    except TypeError:
        return False


def matches(record: dict[str, Any], f: Filter) -> bool:
    """Does ``record`` satisfy filter ``f``?"""
    stored = record.get(f.field)
    op, values = f.op, f.values
    if op == "IS":
        return _empty(stored)
    if op == "ISN":
        return not _empty(stored)
    if isinstance(stored, list) and op in ("EQ", "IN", "HASANYOF", "CONTAINS", "N", "NIN", "NHASANYOF"):
        hit = any(str(v) in {str(s) for s in stored} for v in values)
        return hit if op in ("EQ", "IN", "HASANYOF", "CONTAINS") else not hit
    if op == "EQ":
        return stored is not None and stored == _coerce(values[0], stored)
    if op == "N":
        return stored is None or stored != _coerce(values[0], stored)
    if op in ("IN", "HASANYOF", "CONTAINS"):
        return stored is not None and any(stored == _coerce(v, stored) for v in values)
    if op in ("NIN", "NHASANYOF"):
        return stored is None or all(stored != _coerce(v, stored) for v in values)
    if stored is None:
        return op in ("NLIKE", "NBETWEEN")
    if op in ("GT", "GTE", "LT", "LTE"):
        return _cmp(stored, values[0], op)
    if op == "BETWEEN":
        return _cmp(stored, values[0], "GTE") and _cmp(stored, values[1], "LTE")
    if op == "NBETWEEN":
        return not (_cmp(stored, values[0], "GTE") and _cmp(stored, values[1], "LTE"))
    text, needle = str(stored), str(values[0])
    if op == "LIKE":
        return needle in text
    if op == "NLIKE":
        return needle not in text
    if op == "STARTWITH":
        return text.startswith(needle)
    return text.endswith(needle)  # ENDWITH


@dataclass(frozen=True, slots=True)
class Order:
    """One ``orders`` entry."""

    field: str
    ascending: bool


def parse_orders(raw: object) -> list[Order]:
    """Validate the ``orders`` list (``fieldName`` + ``isAsc``)."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise QueryError("search_query_info.orders must be a list")
    out = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or not isinstance(item.get("fieldName"), str):
            raise QueryError(f"orders[{i}] needs fieldName and isAsc")
        asc = item.get("isAsc", True)
        out.append(Order(item["fieldName"], asc if isinstance(asc, bool) else str(asc).lower() == "true"))
    return out


class Indexed:
    """What the planner needs from a table: records and its sorted indexes."""

    lazy: bool  # records regenerated on read (a RecordMap with an ``overlay`` of written records)
    records: Any  # Mapping[str, dict]: a dict, or a lazy table's RecordMap
    by_id: Sequence[str]
    by_lmt: Sequence[tuple[int, str]]
    equality: dict[str, Any]  # field -> value -> ids (``.get(value, default)``)


Bound = tuple[Any, bool, Any, bool]
NO_BOUND: Bound = (None, True, None, True)


def _range(fs: Sequence[Filter], key: Callable[[Any], Any]) -> tuple[Bound | None, list[Filter]]:
    """The tightest [lo, hi] bound the comparison filters give, and the filters that bound fully enforces."""
    lo: Any = None
    hi: Any = None
    lo_inc = hi_inc = True
    found = False
    consumed: list[Filter] = []
    for f in fs:
        if f.op not in ("GT", "GTE", "LT", "LTE", "EQ", "BETWEEN"):
            continue
        try:
            vals = [key(v) for v in f.values]
        except (TypeError, ValueError):
            continue
        consumed.append(f)
        if f.op in ("GT", "GTE") and (lo is None or vals[0] > lo or (vals[0] == lo and f.op == "GT")):
            lo, lo_inc, found = vals[0], f.op == "GTE", True
        elif f.op in ("LT", "LTE") and (hi is None or vals[0] < hi or (vals[0] == hi and f.op == "LT")):
            hi, hi_inc, found = vals[0], f.op == "LTE", True
        elif f.op == "EQ":
            lo, hi, lo_inc, hi_inc, found = vals[0], vals[0], True, True, True
        elif f.op == "BETWEEN":
            if lo is None or vals[0] > lo:
                lo, lo_inc = vals[0], True
            if hi is None or vals[1] < hi:
                hi, hi_inc = vals[1], True
            found = True
    return ((lo, lo_inc, hi, hi_inc) if found else None), consumed


def _id_slice(table: Indexed, bound: Bound) -> tuple[int, int]:
    lo, lo_inc, hi, hi_inc = bound
    start = 0 if lo is None else (bisect_left if lo_inc else bisect_right)(table.by_id, lo)
    end = len(table.by_id) if hi is None else (bisect_right if hi_inc else bisect_left)(table.by_id, hi)
    return start, max(start, end)


def _lmt_slice(table: Indexed, bound: Bound) -> tuple[int, int]:
    lo, lo_inc, hi, hi_inc = bound
    if lo is None:
        start = 0
    else:
        start = bisect_left(table.by_lmt, (lo, "")) if lo_inc else bisect_right(table.by_lmt, (lo, "\uffff"))
    if hi is None:
        end = len(table.by_lmt)
    else:
        end = bisect_right(table.by_lmt, (hi, "\uffff")) if hi_inc else bisect_left(table.by_lmt, (hi, ""))
    return start, max(start, end)


def run(
    table: Indexed,
    filters: list[Filter],
    orders: list[Order],
    offset: int,
    limit: int,
    *,
    want_total: bool,
    include_invalid_by_default: bool,
) -> tuple[list[dict[str, Any]], int]:
    """Rows ``offset .. offset+limit`` of the filtered, ordered table, and the total (0 unless wanted)."""
    hide_invalid = not include_invalid_by_default and not any(f.field in LIFECYCLE_FIELDS for f in filters)
    order = orders[0] if orders else Order("_id", True)
    id_bound, id_used = _range([f for f in filters if f.field == "_id"], str)
    lmt_bound, lmt_used = _range([f for f in filters if f.field == "last_modified_time"], lambda v: int(str(v)))

    # candidate sources: (size, natural order, iterator factory); an index already in the requested order
    # streams and stops after offset+limit matches, so it is charged a tenth of its size
    # (and each source says which filters it already enforces, so rows are not re-checked against them)
    candidates: list[tuple[int, str, Callable[[bool], Iterable[str]], list[Filter]]] = []
    s, e = _id_slice(table, id_bound or NO_BOUND)
    id_walk = _walk(table.by_id, s, e, lambda k: k)
    candidates.append((e - s, "_id", id_walk, id_used))
    ls, le = _lmt_slice(table, lmt_bound or NO_BOUND)
    lmt_walk = _walk(table.by_lmt, ls, le, lambda k: k[1])
    candidates.append((le - ls, "last_modified_time", lmt_walk, lmt_used))
    for f in filters:
        index = table.equality.get(f.field)
        ids: list[str] | None = None
        if index is not None and f.op in ("EQ", "IN"):
            ids = sorted(set[str]().union(*(index.get(str(v), set()) for v in f.values)))
        elif f.field == "_id" and f.op == "IN":
            ids = sorted(str(v) for v in f.values)
        if ids is not None:
            candidates.append((len(ids), "_id", _walk(ids, 0, len(ids), lambda k: k), [f]))

    def in_order(natural: str) -> bool:
        return order.field == natural and (
            len(orders) <= 1
            or (natural == "last_modified_time" and orders[1].field == "_id" and orders[1].ascending == order.ascending)
        )

    _, natural, source, enforced = min(candidates, key=lambda c: c[0] / 10 if in_order(c[1]) else c[0])
    preds = [f for f in filters if all(f is not g for g in enforced)]

    def rows(ids: Iterable[str]) -> Iterator[dict[str, Any]]:
        recs = table.records
        for i in ids:
            rec = recs.get(i)
            if rec is None or (hide_invalid and rec.get("is_deleted") is True):
                continue
            if all(matches(rec, p) for p in preds):
                yield rec

    if in_order(natural):
        it = rows(source(order.ascending))
        if not want_total:
            return list(itertools.islice(it, offset, offset + limit)), 0
        if not preds and table.lazy and source in (id_walk, lmt_walk):
            # (count from the index and the overlay: regenerating a million records for a total would take minutes)
            overlay = table.records.overlay
            total = sum(
                1 for i in source(True) if not (hide_invalid and i in overlay and overlay[i].get("is_deleted") is True)
            )
            return list(itertools.islice(it, offset, offset + limit)), total
        every = list(it)
        return every[offset : offset + limit], len(every)
    every = list(rows(source(True)))
    keys = [(o.field, o.ascending) for o in (orders or [order])]

    def sort_key(rec: dict[str, Any]) -> tuple[Any, ...]:
        out: list[Any] = []
        for fld, asc in keys:
            v = rec.get(fld)
            num = isinstance(v, int | float)  # (numbers before text: a malformed numeric name must not crash)
            rank = (v is None, not num, v if num else str(v) if v is not None else "")
            out.append(rank if asc else _Reverse(rank))
        out.append(rec["_id"])
        return tuple(out)

    page = heapq.nsmallest(offset + limit, every, key=sort_key)[offset:]
    return page, (len(every) if want_total else 0)


def _walk(keys: Sequence[Any], start: int, end: int, pick: Callable[[Any], str]) -> Callable[[bool], Iterable[str]]:
    """An iterator factory over ``keys[start:end]`` in either direction."""

    def walk(ascending: bool) -> Iterator[str]:
        steps = range(start, end) if ascending else range(end - 1, start - 1, -1)
        return (pick(keys[i]) for i in steps)

    return walk


class _Reverse:
    """Inverts comparison for descending sort keys."""

    __slots__ = ("v",)

    def __init__(self, v: Any) -> None:
        self.v = v

    def __lt__(self, other: _Reverse) -> bool:
        return bool(other.v < self.v)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Reverse) and bool(other.v == self.v)

    def __hash__(self) -> int:
        return hash(self.v)
