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
from typing import TYPE_CHECKING

from pydantic import SecretStr

if TYPE_CHECKING:
    from crmhub.contract import TokenCache


def cache_key(kind: str, *credential: object) -> str:
    """A stable, non-reversible name for a credential (``kind:sha256…``), for `SingleFlightToken` caches."""
    import hashlib

    raw = "\x1f".join(str(getattr(p, "get_secret_value", lambda p=p: p)()) for p in credential)
    return f"{kind}:{hashlib.sha256(raw.encode()).hexdigest()[:32]}"


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

    def __init__(
        self,
        fetch: Callable[[], Awaitable[tuple[str, float, dict[str, str] | None]]],
        *,
        margin: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        cache: TokenCache | None = None,
        cache_key: str | None = None,
    ) -> None:
        """``fetch`` returns (token, lifetime seconds, extra fields such as an API domain).

        With a ``cache`` (the store's encrypted token cache, from `PluginContext.token_cache`) and a ``cache_key``
        naming the credential, tokens are shared with other crmhub processes using the same credential.
        """
        self._fetch = fetch
        self._margin = margin
        self._clock = clock
        self._token: CachedToken | None = None
        self._lock = asyncio.Lock()
        self._cache = cache if cache_key else None
        self._cache_key = cache_key or ""
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
            shared = self._from_cache()
            if shared is not None:
                self._token = shared
                return shared
            value, lifetime, extra = await self._fetch()
            self.refreshes += 1
            usable = max(lifetime - self._margin, lifetime / 2)
            self._token = CachedToken(SecretStr(value), self._clock() + usable, extra)
            if self._cache is not None:
                self._cache.save(self._cache_key, value, time.time() + lifetime, extra)
            return self._token

    def _from_cache(self) -> CachedToken | None:
        if self._cache is None:
            return None
        found = self._cache.load(self._cache_key)
        if found is None:
            return None
        value, expires_epoch, extra = found
        remaining = expires_epoch - time.time() - self._margin
        if remaining <= 0:
            return None
        return CachedToken(SecretStr(value), self._clock() + remaining, extra)

    def invalidate(self, failed: str | None = None) -> None:
        """Forget the token if it is the one that failed (or unconditionally when ``failed`` is None)."""
        if self._token is None:
            return
        if failed is None or self._token.value.get_secret_value() == failed:
            if self._cache is not None:
                self._cache.forget(self._cache_key, self._token.value.get_secret_value())
            self._token = None
