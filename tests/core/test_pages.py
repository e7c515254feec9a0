"""`crmhub.core.pages.keyset_pages` (store reads) and `crmhub.http.paging.offset_pages` (list APIs): the two
paging loops every long read uses."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmhub.core.pages import keyset_pages
from crmhub.http.paging import offset_pages


@settings(deadline=None)  # timing is not the property; a loaded CI machine must not fail it
@given(
    st.lists(st.integers(min_value=1, max_value=10_000), unique=True, max_size=80),
    st.integers(min_value=1, max_value=25),
)
def test_keyset_pages_read_every_row_once_in_order(keys: list[int], size: int) -> None:
    """Ascending (``> after``) and descending (``< after``) walks both return every row once, in order, and
    ask for one page more only when the last one was full."""
    asc, desc = sorted(keys), sorted(keys, reverse=True)
    calls: list[int | None] = []

    def read_asc(after: int | None) -> Sequence[int]:
        calls.append(after)
        return [k for k in asc if after is None or k > after][:size]

    def read_desc(after: int | None) -> Sequence[int]:
        return [k for k in desc if after is None or k < after][:size]

    pages = list(keyset_pages(read_asc, lambda k: k, size))
    assert [k for page in pages for k in page] == asc
    assert all(page for page in pages)
    assert len(calls) == len(asc) // size + 1
    assert [k for page in keyset_pages(read_desc, lambda k: k, size) for k in page] == desc


def test_keyset_pages_refuse_size_below_one() -> None:
    with pytest.raises(ValueError, match="size must be at least 1, got 0"):
        list(keyset_pages(lambda after: [], lambda k: k, 0))


async def test_offset_pages_stop_at_the_total() -> None:
    """A list of 7 read 3 at a time: three pages, offsets 3, 6, 7; no fourth call once the total is reached."""
    items = list(range(7))
    asked: list[int] = []

    async def fetch(offset: int) -> tuple[list[int], int | None]:
        asked.append(offset)
        return items[offset : offset + 3], len(items)

    pages = [(list(page), after, total) async for page, after, total in offset_pages(fetch)]
    assert pages == [([0, 1, 2], 3, 7), ([3, 4, 5], 6, 7), ([6], 7, 7)]
    assert asked == [0, 3, 6]


async def test_offset_pages_without_a_total_stop_at_an_empty_page() -> None:
    """An API that gives no total is read until a page comes back empty (yielded, so a cursor can commit)."""
    items = list(range(4))

    async def fetch(offset: int) -> tuple[list[int], int | None]:
        return items[offset : offset + 2], None

    pages = [(list(page), after) async for page, after, _ in offset_pages(fetch, offset=1)]
    assert pages == [([1, 2], 3), ([3], 4), ([], 4)]
