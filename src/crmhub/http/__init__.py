"""Toolkit for plugins that talk HTTP: client factory, retry policy, rate budget, single-flight token cache.

Layers, as in httpx: a connector's client → its ``httpx.Auth`` flow (token refresh) → the transport. Pacing
(`RateBudget`) and retries (`retrying`) wrap each logical call; metrics land in the `ApiMetrics` the core gave.
"""

from crmhub.http.budget import LocalCap, LocalRateLimits, RateBudget, SlidingWindow
from crmhub.http.client import build_client
from crmhub.http.retry import RetryPolicy, parse_retry_after, raise_for_transient, retrying
from crmhub.http.token import CachedToken, SingleFlightToken, cache_key

__all__ = [
    "CachedToken",
    "LocalCap",
    "LocalRateLimits",
    "RateBudget",
    "RetryPolicy",
    "SingleFlightToken",
    "SlidingWindow",
    "build_client",
    "cache_key",
    "parse_retry_after",
    "raise_for_transient",
    "retrying",
]
