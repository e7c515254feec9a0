"""Offset paging of an outside system's list API, written once for every connector that pages by offset.

An offset/limit list (Fineract's ``offset``/``limit`` with ``totalFilteredRecords``, and the like) is read page by
page: the next page starts after the items read so far, and the walk ends at an empty page or when the offset
reaches the total the API reported. The caller's ``fetch`` does the call (and drops duplicates, if the API can
repeat an item across pages: the offset then moves by what was kept), so this loop knows nothing of HTTP.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TypeVar

T = TypeVar("T")

Fetch = Callable[[int], Awaitable[tuple[Sequence[T], int | None]]]
"""``fetch(offset)`` → (the page's items, the list's total or None when the API does not say)."""


async def offset_pages(fetch: Fetch[T], *, offset: int = 0) -> AsyncIterator[tuple[Sequence[T], int, int | None]]:
    """Yield (items, offset after them, total) per page from ``offset`` until a page is empty (yielded too, so a
    caller can commit its cursor) or the offset reaches the total."""
    while True:
        items, total = await fetch(offset)
        offset += len(items)
        yield items, offset, total
        if not items or (total is not None and offset >= total):
            return
