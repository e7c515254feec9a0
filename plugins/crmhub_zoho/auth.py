"""OAuth for Zoho: one refresh shared by every concurrent request, ``Zoho-oauthtoken`` headers, one retry on 401.

Why single-flight: Zoho mints at most 10 access tokens per refresh token in 10 minutes and keeps 15 alive, so
independent refreshers throttle each other ("Access Denied" with HTTP 200) and evict good tokens (fact sheet §1.5).
The token endpoint reports errors with HTTP **200** and an ``error`` key; each becomes an `AuthError` naming the
likely cause (wrong data centre, wrong client, revoked refresh token, too many refreshers). Token values live only
in `SecretStr`s and request headers: never in messages, logs or reprs.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Generator
from typing import Any

import httpx

from crmhub.contract import ApiMetrics
from crmhub.errors import AuthError, RetriableError
from crmhub.http import RetryPolicy, SingleFlightToken, cache_key, raise_for_transient, retrying
from crmhub.http.token import CachedToken

HEADER_PREFIX = "Zoho-oauthtoken "
TOKEN_ERRORS = frozenset({"INVALID_TOKEN", "INVALID_OAUTHTOKEN", "AUTHENTICATION_FAILURE"})

_CAUSES: dict[str, tuple[str, str]] = {
    "invalid_client": (
        "Zoho rejected the client credentials (invalid_client)",
        "most often accounts_url points at another data centre than the org's (accounts.zoho.com, .eu, .in, "
        ".com.cn, .com.au, .jp, zohocloud.ca, .sa); otherwise client_id or client_secret is wrong",
    ),
    "invalid_code": (
        "Zoho rejected the refresh token (invalid_code)",
        "the refresh token is revoked, mistyped or belongs to another client or data centre; create a new one "
        "with access_type=offline&prompt=consent and put it in refresh_token",
    ),
    "access denied": (
        "Zoho throttled token refreshes (Access Denied)",
        "more than 10 refreshes in 10 minutes on this refresh token — usually several processes refreshing "
        "independently; run one crmhub worker per refresh token, wait 10 minutes and retry",
    ),
    "invalid_redirect_uri": (
        "Zoho rejected the redirect URI (invalid_redirect_uri)",
        "use the redirect URI registered for this client",
    ),
}


def auth_error(body: dict[str, Any], *, connector: str | None) -> AuthError:
    """The `AuthError` for a token answer without ``access_token`` (never quoting anything but the error code)."""
    raw = str(body.get("error") or "no access_token in the answer")[:60]
    message, hint = _CAUSES.get(
        raw.lower(),
        (
            f"Zoho's token endpoint refused the refresh ({raw})",
            "check accounts_url (data centre), client_id, client_secret and refresh_token",
        ),
    )
    return AuthError(message, hint=hint, connector=connector, service_code=raw)


class ZohoTokens:
    """The org's current access token and API domain, refreshed single-flight through the refresh-token grant."""

    def __init__(
        self,
        *,
        token_url: str,
        client_id: str,
        refresh_token: Any,
        client_secret: Any,
        http: httpx.AsyncClient,
        connector: str | None = None,
        metrics: ApiMetrics | None = None,
        policy: RetryPolicy | None = None,
        margin: float = 60.0,
        cache: Any = None,
    ) -> None:
        self._token_url = token_url
        self._client_id = client_id
        self._refresh_token = refresh_token
        self._client_secret = client_secret
        self._http = http
        self._connector = connector
        self._metrics = metrics
        self._policy = policy or RetryPolicy(max_attempts=4, max_total_wait=30.0)
        self._single = SingleFlightToken(
            self._fetch, margin=margin, cache=cache, cache_key=cache_key("zoho", token_url, client_id, refresh_token)
        )

    def __repr__(self) -> str:
        return f"ZohoTokens(token_url={self._token_url!r}, client_id={self._client_id!r})"

    @property
    def refreshes(self) -> int:
        """How many tokens were minted by this process."""
        return self._single.refreshes

    async def get(self) -> CachedToken:
        """A fresh token (refreshing once, for all waiters, when needed)."""
        return await self._single.get()

    def invalidate(self, failed: str) -> None:
        """Forget the token that failed (only that one, so late 401s do not cause a second refresh)."""
        self._single.invalidate(failed)

    async def api_domain(self) -> str:
        """The API base URL of the org, from the token answer's ``api_domain``."""
        token = await self.get()
        return (token.extra or {})["api_domain"].rstrip("/")

    async def _fetch(self) -> tuple[str, float, dict[str, str] | None]:
        form = {
            "grant_type": "refresh_token",
            "client_id": self._client_id,
            "client_secret": self._client_secret.get_secret_value(),
            "refresh_token": self._refresh_token.get_secret_value(),
        }

        async def call() -> httpx.Response:
            response = await self._http.post(self._token_url, data=form)
            raise_for_transient(response, connector=self._connector)
            return response

        response = await retrying(call, policy=self._policy, metrics=self._metrics)
        try:
            body = response.json()
        except (ValueError, json.JSONDecodeError):
            raise RetriableError(
                f"Zoho's token endpoint answered {response.status_code} without JSON",
                connector=self._connector,
                hint="check accounts_url; a proxy or captive portal may be in the way",
            ) from None
        if not isinstance(body, dict) or "access_token" not in body:
            raise auth_error(body if isinstance(body, dict) else {}, connector=self._connector)
        domain = body.get("api_domain")
        if not domain:
            raise AuthError(
                "Zoho's token answer has no api_domain",
                connector=self._connector,
                hint="accounts_url must be a Zoho Accounts server (…/oauth/v2/token is added)",
            )
        # Legacy answers carry expires_in in milliseconds next to expires_in_sec (SDK 7.0.0 reads it so).
        lifetime = float(body["expires_in_sec"]) if "expires_in_sec" in body else float(body.get("expires_in", 3600))
        return str(body["access_token"]), lifetime, {"api_domain": str(domain)}


class ZohoAuth(httpx.Auth):
    """``httpx.Auth`` flow: add ``Authorization: Zoho-oauthtoken …``; on a token 401, refresh once and retry."""

    max_refresh_retries = 2

    def __init__(self, tokens: ZohoTokens) -> None:
        self.tokens = tokens

    def __repr__(self) -> str:
        return "ZohoAuth(<token hidden>)"

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError("ZohoAuth works with httpx.AsyncClient only")

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self.tokens.get()
        value = token.value.get_secret_value()
        request.headers["Authorization"] = HEADER_PREFIX + value
        response = yield request
        # A token can die early (another process minted the 16th token, or Zoho expired it): refresh and retry,
        # at most twice, and only while each refresh yields a token we have not tried yet.
        for _ in range(self.max_refresh_retries):
            if response.status_code != 401:
                return
            await response.aread()
            if _error_code(response) not in TOKEN_ERRORS:
                return
            self.tokens.invalidate(value)
            token = await self.tokens.get()
            fresh = token.value.get_secret_value()
            if fresh == value:
                return
            value = fresh
            request.headers["Authorization"] = HEADER_PREFIX + value
            response = yield request


def _error_code(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return str(body.get("code")) if isinstance(body, dict) else None
