"""Which rate limits the connectors of a run get: shared through the store, or this process's own.

Fenxiang counts 100 calls / 20 s per API path and Zoho its concurrency per org, over every caller. With
``[sync] shared_budget`` on (``"auto"``: whenever the store is PostgreSQL, where several workers or hosts run), the
engine, the deliverer, dead-letter retries and the connector commands hand their connectors the store's budgets
(`crmhub.store.ratelimits.StoreRateLimits`), so every process on the store paces against one budget per tenant. Off
(``"auto"`` on SQLite, the single-process default), the connectors of one run share an in-process budget.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from crmhub.config import Settings
from crmhub.contract import RateLimits
from crmhub.http import LocalRateLimits
from crmhub.store import Store
from crmhub.store.ratelimits import StoreRateLimits


def shares_budget(settings: Settings, store: Store) -> bool:
    """True when ``[sync] shared_budget`` is true, or ``"auto"`` and the store is PostgreSQL."""
    mode = settings.sync.shared_budget
    return mode is True or (mode == "auto" and store.dialect == "postgresql")


@contextmanager
def rate_limits(settings: Settings, store: Store) -> Iterator[RateLimits]:
    """The rate limits for the connectors opened inside the ``with``; the store's connection is returned after."""
    if not shares_budget(settings, store):
        yield LocalRateLimits()
        return
    shared = StoreRateLimits(store)
    try:
        yield shared
    finally:
        shared.close()
