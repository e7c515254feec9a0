"""Cutting a list of work into pieces: `chunked`, the one helper every batch loop uses.

Why pieces: a SQL ``IN (...)`` list, an API's write batch and a bulk file all have a bound — SQLite's bound
parameters, a CRM's 100 records per call — and a batch bounds the memory a step holds. Python 3.11 has no
``itertools.batched`` (3.12), so this is that function, with a fast path for sequences (slices, no per-item step).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from typing import TypeVar

T = TypeVar("T")

IN_LIST = 500
"""Values per SQL ``IN (...)`` list when a module has no size of its own: far under SQLite's bound-parameter limit,
and small enough that PostgreSQL keeps answering from the index."""


def chunked(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Successive lists of ``size`` items of ``items``, in order, the last one shorter when the count does not
    divide; nothing at all for no items. A generator given as ``items`` is read lazily, one piece at a time."""
    if size < 1:
        raise ValueError(f"chunked: size must be at least 1, got {size}")
    if isinstance(items, Sequence):
        for start in range(0, len(items), size):
            piece = items[start : start + size]
            yield piece if isinstance(piece, list) else list(piece)
        return
    iterator = iter(items)
    while piece := list(islice(iterator, size)):
        yield piece
