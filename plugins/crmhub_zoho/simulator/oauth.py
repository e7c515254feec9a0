"""The Zoho Accounts OAuth server of the simulator: ``POST /oauth/v2/token`` and the token rules.

Reproduced rules (fact sheet §1): parameters in the query string **or** a form body; refresh-token and
authorization-code grants; errors as HTTP **200** with ``{"error": …}``; at most 10 access tokens minted per refresh
token in a rolling 10 minutes (then "Access Denied", still HTTP 200); at most 15 live access tokens per refresh
token (the 16th evicts the oldest); at most 20 refresh tokens per user per client (the 21st deletes the first and
its access tokens); grant codes valid 3 minutes. ``expires_in`` is seconds and ``expires_in_sec`` is never sent;
``api_domain`` is the simulator's own base URL so clients (and the official SDK) stay on it.
"""

from __future__ import annotations

import secrets
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response

from crmhub_zoho.simulator.responses import ok

if TYPE_CHECKING:
    from crmhub_zoho.simulator.state import ZohoSimulator

ACCESS_DENIED = {
    "error_description": "You have made too many requests continuously. Please try again after some time.",
    "error": "Access Denied",
    "status": "failure",
}
"""Body of a throttled refresh. Exact text UNCONFIRMED (fact sheet §1.6); the HTTP 200 status is documented."""


@dataclass(slots=True)
class AccessToken:
    """One live access token."""

    value: str
    refresh_token: str
    user_id: str
    expires_at: float


@dataclass(slots=True)
class RefreshGrant:
    """One refresh token: whose it is, its live access tokens and when it minted them."""

    token: str
    client_id: str
    user_id: str
    live: deque[str] = field(default_factory=deque)
    minted: deque[float] = field(default_factory=deque)


@dataclass(slots=True)
class GrantCode:
    """A one-time authorization code."""

    client_id: str
    user_id: str
    expires_at: float
    redirect_uri: str | None = None


class OAuthState:
    """Clients, refresh tokens, live access tokens and grant codes of the simulated accounts server."""

    def __init__(self, sim: ZohoSimulator) -> None:
        self.sim = sim
        s = sim.settings
        self.clients: dict[str, str] = {s["client_id"]: s["client_secret"]}
        self.refresh: dict[str, RefreshGrant] = {}
        self.access: dict[str, AccessToken] = {}
        self.codes: dict[str, GrantCode] = {}
        self.refresh_calls = 0
        self.denied = 0
        self.add_refresh_token(s["refresh_token"], s["client_id"], sim.admin.user_id)

    def add_refresh_token(self, token: str, client_id: str, user_id: str) -> RefreshGrant:
        """Register a refresh token, evicting the user's oldest one past 20 (with its access tokens)."""
        mine = [g for g in self.refresh.values() if g.client_id == client_id and g.user_id == user_id]
        if len(mine) >= self.sim.settings["refresh_tokens_per_user"]:
            oldest = mine[0]
            for value in oldest.live:
                self.access.pop(value, None)
            del self.refresh[oldest.token]
        grant = RefreshGrant(token, client_id, user_id)
        self.refresh[token] = grant
        return grant

    def issue_code(self, client_id: str | None = None, redirect_uri: str | None = None) -> str:
        """A grant code for the admin user, valid 3 minutes (the admin endpoint uses this)."""
        code = "1000." + secrets.token_hex(16) + "." + secrets.token_hex(16)
        self.codes[code] = GrantCode(
            client_id or self.sim.settings["client_id"],
            self.sim.admin.user_id,
            self.sim.epoch_now() + 180,
            redirect_uri,
        )
        return code

    def lookup(self, value: str) -> AccessToken | None:
        """The live, unexpired access token with this value."""
        tok = self.access.get(value)
        if tok is None:
            return None
        if tok.expires_at <= self.sim.epoch_now():
            return None
        return tok

    def _mint(self, grant: RefreshGrant) -> AccessToken:
        now = self.sim.epoch_now()
        lifetime = float(self.sim.settings["token_lifetime"])
        ttl = getattr(self.sim.faults, "token_ttl", None)
        value = "1000." + secrets.token_hex(16) + "." + secrets.token_hex(16)
        tok = AccessToken(value, grant.token, grant.user_id, now + (min(lifetime, ttl) if ttl else lifetime))
        self.access[value] = tok
        grant.live.append(value)
        grant.minted.append(now)
        while len(grant.live) > self.sim.settings["live_tokens"]:
            self.access.pop(grant.live.popleft(), None)
        return tok

    def _throttled(self, grant: RefreshGrant) -> bool:
        now = self.sim.epoch_now()
        window = self.sim.settings["refresh_window"]
        while grant.minted and now - grant.minted[0] >= window:
            grant.minted.popleft()
        return len(grant.minted) >= int(self.sim.settings["refresh_limit"])

    def token_answer(self, tok: AccessToken, refresh_token: str | None = None) -> dict[str, Any]:
        """The success body; ``refresh_token`` only on the code grant."""
        body: dict[str, Any] = {"access_token": tok.value}
        if refresh_token is not None:
            body["refresh_token"] = refresh_token
            body["scope"] = (
                "ZohoCRM.modules.ALL ZohoCRM.settings.ALL ZohoCRM.users.READ ZohoCRM.org.READ "
                "ZohoCRM.coql.READ ZohoCRM.bulk.ALL"
            )
        body.update(
            {
                "api_domain": self.sim.base_url,
                "token_type": "Bearer",
                "expires_in": int(self.sim.settings["token_lifetime"]),
            }
        )
        return body


async def token_endpoint(request: Request) -> Response:
    """``POST /oauth/v2/token``: refresh-token and authorization-code grants."""
    sim: ZohoSimulator = request.app.state.sim
    params: dict[str, str] = dict(request.query_params)
    body = await request.body()
    if body:
        params.update(dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)))
    request.scope["zoho.note"] = params.get("grant_type")
    oauth = sim.oauth
    client_id, secret = params.get("client_id"), params.get("client_secret")
    if client_id not in oauth.clients or oauth.clients[client_id] != secret:
        return ok({"error": "invalid_client"})
    grant_type = params.get("grant_type")
    if grant_type == "refresh_token":
        oauth.refresh_calls += 1
        grant = oauth.refresh.get(params.get("refresh_token") or "")
        if grant is None or grant.client_id != client_id:
            return ok({"error": "invalid_code"})
        if oauth._throttled(grant):
            oauth.denied += 1
            return ok(ACCESS_DENIED)
        return ok(oauth.token_answer(oauth._mint(grant)))
    if grant_type == "authorization_code":
        code = oauth.codes.pop(params.get("code") or "", None)
        if code is None or code.client_id != client_id or code.expires_at <= sim.epoch_now():
            return ok({"error": "invalid_code"})
        if code.redirect_uri and params.get("redirect_uri") and params["redirect_uri"] != code.redirect_uri:
            return ok({"error": "invalid_redirect_uri"})
        grant = oauth.add_refresh_token(
            "1000." + secrets.token_hex(16) + "." + secrets.token_hex(16), client_id, code.user_id
        )
        return ok(oauth.token_answer(oauth._mint(grant), refresh_token=grant.token))
    return ok({"error": "unsupported_grant_type"})


async def revoke_endpoint(request: Request) -> Response:
    """``POST /oauth/v2/token/revoke?token=…``: forget a refresh token and its access tokens."""
    sim: ZohoSimulator = request.app.state.sim
    params: dict[str, str] = dict(request.query_params)
    body = await request.body()
    if body:
        params.update(dict(parse_qsl(body.decode("utf-8", "replace"))))
    grant = sim.oauth.refresh.pop(params.get("token") or "", None)
    if grant is not None:
        for value in grant.live:
            sim.oauth.access.pop(value, None)
    return ok({"status": "success"})
