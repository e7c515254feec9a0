"""Keyset paging: reading a long list page by page, each page starting after the last key of the one before.

Why keyset, not offset: a page after ``id > last`` is found through the index, so the last page of a large table
costs what the first does, and rows inserted meanwhile neither shift nor repeat a page. Every long read — the
risk engine's batches, the alert and client exports, the audit chain's verification — walks its table this way;
`keyset_pages` is that loop, written once. The caller's ``read`` opens its own transaction when it should (one
short transaction per page holds no connection while a slow download is written out).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

R = TypeVar("R")
K = TypeVar("K")


def keyset_pages(read: Callable[[K | None], Sequence[R]], key: Callable[[R], K], size: int) -> Iterator[Sequence[R]]:
    """The pages ``read(after)`` returns, in order, until one comes back shorter than ``size``.

    ``read(None)`` is the first page; ``read(after)`` the next ``size`` rows after ``after`` (in the order its
    query walks: ``id > after`` ascending or ``id < after`` descending), where ``after`` is ``key`` of the previous
    page's last row. Empty pages are not yielded.
    """
    if size < 1:
        raise ValueError(f"keyset_pages: size must be at least 1, got {size}")
    after: K | None = None
    while True:
        page = read(after)
        if page:
            yield page
        if len(page) < size:
            return
        after = key(page[-1])
