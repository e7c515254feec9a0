"""`crmhub.core.chunks.chunked`: the one batching helper (Python 3.11 has no itertools.batched)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmhub.core.chunks import chunked


@settings(deadline=None)  # timing is not the property; a loaded CI machine must not fail it
@given(st.lists(st.integers(), max_size=60), st.integers(min_value=1, max_value=20))
def test_pieces_keep_order_and_bound(items: list[int], size: int) -> None:
    """Every item once, in order; every piece full but the last; the same for a list, a tuple and a generator."""
    for source in (items, tuple(items), (x for x in items)):
        pieces = list(chunked(source, size))
        assert [x for piece in pieces for x in piece] == items
        assert all(len(piece) == size for piece in pieces[:-1])
        assert all(0 < len(piece) <= size for piece in pieces)
        assert all(isinstance(piece, list) for piece in pieces)


def test_no_items_no_pieces() -> None:
    assert list(chunked([], 3)) == []


def test_a_generator_is_read_one_piece_at_a_time() -> None:
    """A lazy source is not drained up front: the first piece comes after reading only ``size`` items."""
    read: list[int] = []

    def source() -> Iterator[int]:
        for i in range(10):
            read.append(i)
            yield i

    pieces = chunked(source(), 3)
    assert next(pieces) == [0, 1, 2]
    assert read == [0, 1, 2]


def test_size_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="size must be at least 1, got 0"):
        list(chunked([1, 2], 0))
