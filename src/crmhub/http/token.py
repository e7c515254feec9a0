"""A single-flight token cache: one refresh at a time, shared by every concurrent request.

Services throttle token endpoints (Zoho: 10 refreshes per 10 minutes; Fenxiang and WeCom block frequent
calls), so N requests that find an expired token must cause one refresh, not N. `invalidate` only forgets the
token that actually failed, so a late 401 on an old token does not trigger a second refresh.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pydantic import SecretStr


@dataclass(frozen=True, slots=True)
class CachedToken:
    """A token and the monotonic time it stops being used (refreshed a margin before real expiry)."""

    value: SecretStr
    expires_at: float
    extra: dict[str, str] | None = None

    def fresh(self, now: float) -> bool:
        """Still usable at monotonic time ``now``."""
        return now < self.expires_at


class SingleFlightToken:
    """Holds the current token; `get()` refreshes through ``fetch`` at most once at a time."""

    def __init__(self, fetch: Callable[[], Awaitable[tuple[str, float, dict[str, str] | None]]], *,
                 margin: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        """``fetch`` returns (token, lifetime seconds, extra fields such as an API domain)."""
        self._fetch = fetch
        self._margin = margin
        self._clock = clock
        self._token: CachedToken | None = None
        self._lock = asyncio.Lock()
        self.refreshes = 0

    @property
    def current(self) -> CachedToken | None:
        """The cached token, fresh or not."""
        return self._token

    async def get(self) -> CachedToken:
        """A fresh token, refreshing (once, for all waiters) when needed."""
        token = self._token
        if token is not None and token.fresh(self._clock()):
            return token
        async with self._lock:
            token = self._token
            if token is not None and token.fresh(self._clock()):
                return token
            value, lifetime, extra = await self._fetch()
            self.refreshes += 1
            usable = max(lifetime - self._margin, lifetime / 2)
            self._token = CachedToken(SecretStr(value), self._clock() + usable, extra)
            return self._token

    def invalidate(self, failed: str | None = None) -> None:
        """Forget the token if it is the one that failed (or unconditionally when ``failed`` is None)."""
        if self._token is None:
            return
        if failed is None or self._token.value.get_secret_value() == failed:
            self._token = None
