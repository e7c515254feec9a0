"""Zoho's answer shapes: JSON with ``application/json;charset=UTF-8``, the error envelope, empty 204/304."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

JSON_TYPE = "application/json;charset=UTF-8"


def dumps(body: Any) -> bytes:
    """Compact UTF-8 JSON (Chinese text unescaped, as Zoho sends it)."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def ok(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON answer."""
    return Response(dumps(body), status_code=status, media_type=JSON_TYPE, headers=headers)


def error(
    status: int, code: str, message: str, details: dict[str, Any] | None = None, headers: dict[str, str] | None = None
) -> Response:
    """The API error envelope ``{"code","details","message","status":"error"}``."""
    return ok({"code": code, "details": details or {}, "message": message, "status": "error"}, status, headers)


def empty(status: int) -> Response:
    """204 No Content / 304 Not Modified: no body at all."""
    return Response(b"", status_code=status)


def invalid_token() -> Response:
    """The 401 every API path answers for a missing, malformed, unknown or expired access token."""
    return error(401, "INVALID_TOKEN", "invalid oauth token")


def too_many_requests(reason: str = "concurrency") -> Response:
    """429 TOO_MANY_REQUESTS: the same code for credits and concurrency, and no Retry-After (fact sheet §10.3)."""
    message = (
        "API call limit exceeded" if reason == "credits" else "The number of concurrent requests has exceeded the limit"
    )
    return error(429, "TOO_MANY_REQUESTS", message, {})
