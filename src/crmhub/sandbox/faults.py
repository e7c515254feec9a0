"""Fault injection for the simulators: latency, throttling, 5xx, dropped connections, early token expiry,
malformed and duplicate records.

`FaultProfile` is plain data (parsed from ``--faults`` or built by tests). `FaultMiddleware` wraps a
simulator's ASGI app and applies the transport-level faults; each simulator reads the data-level fields
(``token_ttl``, ``malformed_rate``, ``duplicate_rate``) itself and supplies its own throttle answer, because
"too many requests" looks different on every service (Zoho 429, Fenxiang 200 + errorCode 30004, WeCom 45009).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class FaultProfile:
    """What to break and how often. Rates are shares of requests (0-1); times are seconds or milliseconds."""

    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0
    throttle_rate: float = 0.0
    error_rate: float = 0.0
    drop_rate: float = 0.0
    token_ttl: float | None = None
    malformed_rate: float = 0.0
    duplicate_rate: float = 0.0
    busy_rate: float = 0.0
    seed: int = 0
    exempt_paths: tuple[str, ...] = field(default=("/_sandbox",))

    @property
    def active(self) -> bool:
        """True when any transport-level fault is on."""
        return any(
            (
                self.latency_ms,
                self.latency_jitter_ms,
                self.throttle_rate,
                self.error_rate,
                self.drop_rate,
                self.busy_rate,
            )
        )


PROFILES: dict[str, FaultProfile] = {
    "none": FaultProfile(),
    "slow": FaultProfile(latency_ms=50.0),
    "flaky": FaultProfile(throttle_rate=0.05, error_rate=0.03, drop_rate=0.01, busy_rate=0.02),
    "expiring": FaultProfile(token_ttl=5.0),
    "dirty": FaultProfile(malformed_rate=0.02, duplicate_rate=0.02),
    "hostile": FaultProfile(
        latency_ms=5.0,
        latency_jitter_ms=20.0,
        throttle_rate=0.08,
        error_rate=0.04,
        drop_rate=0.02,
        busy_rate=0.03,
        token_ttl=20.0,
        malformed_rate=0.01,
        duplicate_rate=0.01,
    ),
}
"""Named profiles for ``--faults NAME``."""

_FIELD_TYPES = {f.name: f.type for f in fields(FaultProfile)}


class FaultProfileError(ValueError):
    """``--faults`` could not be parsed; the message lists the accepted names and keys."""


def parse_profile(text: str | None) -> FaultProfile:
    """Parse ``NAME``, ``key=value,…`` or ``NAME,key=value,…`` (e.g. ``flaky,latency_ms=50``)."""
    if not text:
        return PROFILES["none"]
    profile = PROFILES["none"]
    changes: dict[str, Any] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        if "=" not in part:
            if part not in PROFILES:
                raise FaultProfileError(f"unknown fault profile {part!r}; known: {', '.join(PROFILES)}")
            profile = PROFILES[part]
            continue
        key, _, value = part.partition("=")
        key = key.strip()
        if key not in _FIELD_TYPES or key == "exempt_paths":
            keys = ", ".join(k for k in _FIELD_TYPES if k != "exempt_paths")
            raise FaultProfileError(f"unknown fault key {key!r}; known keys: {keys}")
        try:
            changes[key] = int(value) if key == "seed" else float(value)
        except ValueError:
            raise FaultProfileError(f"fault {key}={value!r}: expected a number") from None
    return replace(profile, **changes)


ThrottleAnswer = Callable[[Scope, Receive, Send], Awaitable[None]]


async def _json_answer(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json;charset=UTF-8"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class DroppedConnection(Exception):
    """Raised inside the ASGI app to make the server drop the connection mid-response (a fault)."""


@dataclass(slots=True)
class FaultStats:
    """What the middleware injected, for tests and the serve banner."""

    throttled: int = 0
    errors: int = 0
    dropped: int = 0
    busy: int = 0
    delayed: int = 0


class FaultMiddleware:
    """ASGI middleware applying a `FaultProfile` to every request outside ``exempt_paths``."""

    def __init__(
        self,
        app: ASGIApp,
        profile: FaultProfile,
        *,
        throttle: ThrottleAnswer | None = None,
        busy: ThrottleAnswer | None = None,
    ) -> None:
        self.app = app
        self.profile = profile
        self.throttle = throttle
        self.busy = busy
        self.random = random.Random(profile.seed)
        self.stats = FaultStats()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or not self.profile.active
            or any(scope["path"].startswith(p) for p in self.profile.exempt_paths)
        ):
            await self.app(scope, receive, send)
            return
        p = self.profile
        delay = p.latency_ms + (self.random.random() * p.latency_jitter_ms if p.latency_jitter_ms else 0.0)
        if delay > 0:
            self.stats.delayed += 1
            await asyncio.sleep(delay / 1000.0)
        roll = self.random.random()
        if roll < p.throttle_rate:
            self.stats.throttled += 1
            if self.throttle is not None:
                await self.throttle(scope, receive, send)
            else:
                await _json_answer(send, 429, b'{"code":"TOO_MANY_REQUESTS","status":"error"}')
            return
        roll -= p.throttle_rate
        if roll < p.error_rate:
            self.stats.errors += 1
            await _json_answer(send, 502, b'{"error":"bad gateway (injected fault)"}')
            return
        roll -= p.error_rate
        if roll < p.busy_rate and self.busy is not None:
            self.stats.busy += 1
            await self.busy(scope, receive, send)
            return
        roll -= p.busy_rate
        if roll < p.drop_rate:
            self.stats.dropped += 1
            await self._drop(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _drop(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Start a response, send part of the body, then abort the connection."""
        started = False

        async def partial_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                await send(message)
            elif message["type"] == "http.response.body":
                body = message.get("body", b"")
                await send({"type": "http.response.body", "body": body[: max(1, len(body) // 3)], "more_body": True})
                raise DroppedConnection("connection dropped mid-response (injected fault)")

        try:
            await self.app(scope, receive, partial_send)
        except DroppedConnection:
            raise
        if not started:  # pragma: no cover - the app always answers
            raise DroppedConnection("connection dropped before the response (injected fault)")
