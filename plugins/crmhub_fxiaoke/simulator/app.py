"""The simulator's HTTP face: Fenxiang's gateway conventions over `FxiaokeSimulator`.

Every answer is HTTP 200 with ``errorCode``/``errorMessage``/``errorDescription``/``traceId`` (``thirdTraceId``
from the query string is echoed); limits are checked per API path (100 calls / 20 s, scalable), then auth, then
the daily quota. ``/_sandbox/*`` endpoints are for tests and the demo and are exempt from faults and limits.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from crmhub.sandbox.faults import Receive, Scope, Send
from crmhub_fxiaoke import codes
from crmhub_fxiaoke.simulator.service import ApiError, FxiaokeSimulator
from crmhub_fxiaoke.simulator.state import Windows, dumps, monotonic

JSON_TYPE = "application/json;charset=UTF-8"
TOKEN_PATH = "/cgi/corpAccessToken/get/V2"
OAUTH_PATH = "/oauth2.0/token"
DATA_PREFIX = "/cgi/crm/v2/data/"
CUSTOM_PREFIX = "/cgi/crm/custom/v2/data/"
DESCRIBE_PATH = "/cgi/crm/v2/object/describe"
USER_BY_MOBILE = "/cgi/user/getByMobile"


def envelope(
    code: int,
    message: str,
    description: str,
    trace: str,
    third: str | None,
    extra: dict[str, Any] | None = None,
    data: bytes | None = None,
) -> bytes:
    """The gateway's answer body; ``data`` is embedded pre-encoded."""
    head: dict[str, Any] = {
        "errorCode": code,
        "errorMessage": message,
        "errorDescription": description,
        "traceId": trace,
    }
    if third:
        head["thirdTraceId"] = third
    if extra:
        head.update(extra)
    out = dumps(head)
    if data is not None:
        out = out[:-1] + b',"data":' + data + b"}"
    return out


def _trace(third: str | None) -> str:
    return f"E-O.crmhubsandbox.1000-{third or secrets.token_hex(8)}"


def throttled_answer(scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
    """What FaultMiddleware sends for an injected throttle: HTTP 200, errorCode 30004."""
    return _fault_answer(send, codes.FREQUENCY_LIMIT, "The interface frequency exceeds the limit", "秒频次超限")


def busy_answer(scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
    """What FaultMiddleware sends for an injected busy answer: HTTP 200, errorCode -1."""
    return _fault_answer(send, codes.BUSY, "system busy", "系统繁忙")


async def _fault_answer(send: Send, code: int, message: str, description: str) -> None:
    body = envelope(code, message, description, _trace(None), None)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", JSON_TYPE.encode()), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def build_app(sim: FxiaokeSimulator) -> Starlette:
    """The Starlette app serving ``sim``."""

    async def gateway(request: Request) -> Response:
        path = request.url.path
        third = request.query_params.get("thirdTraceId")
        trace = _trace(third)
        raw = await request.body()
        try:
            body = json.loads(raw or b"{}")
            if not isinstance(body, dict):
                raise ValueError("the body must be a JSON object")
        except ValueError:
            sim.log.add(path, raw[:200].decode(errors="replace"), codes.INVALID_PARAMETER, third, sim.clock.now())
            return _answer(envelope(codes.INVALID_PARAMETER, "request body is not JSON", "参数错误", trace, third))
        headers = {k.lower(): v for k, v in request.headers.items()}
        with sim.lock:
            try:
                extra, data = _dispatch(sim, path, body, headers)
                code, out = 0, envelope(0, "OK", "success", trace, third, extra, data)
            except ApiError as err:
                code, out = err.code, envelope(err.code, err.message, err.description, trace, third)
            sim.log.add(path, body, code, third, sim.clock.now())
        return _answer(out)

    async def requests_log(request: Request) -> Response:
        limit = int(request.query_params.get("limit", "1000"))
        with sim.lock:
            entries = list(sim.log.entries)[-limit:]
        return JSONResponse({"requests": entries, "calls": dict(sim.log.calls)})

    async def stats(request: Request) -> Response:
        with sim.lock:
            return JSONResponse(sim.stats())

    async def mutate(request: Request) -> Response:
        body = await request.json()
        with sim.lock:
            ids = sim.mutate(int(body.get("count", 1)), int(body.get("seed", 0)))
        return JSONResponse({"ids": ids})

    async def clock(request: Request) -> Response:
        body = await request.json()
        with sim.lock:
            sim.clock.offset += float(body.get("advance_seconds", 0))
            return JSONResponse({"now": sim.clock.now(), "offset": sim.clock.offset})

    async def expire_tokens(request: Request) -> Response:
        with sim.lock:
            sim.tokens.expire_all(sim.clock.now())
        return JSONResponse({"expired": True})

    async def quota(request: Request) -> Response:
        body = await request.json()
        with sim.lock:
            if "daily_quota" in body:
                sim.quota.limit = body["daily_quota"]
            if body.get("reset"):
                sim.quota.used = 0
            return JSONResponse({"limit": sim.quota.limit, "used": sim.quota.used})

    async def limits(request: Request) -> Response:
        body = await request.json()
        with sim.lock:
            if "window_seconds" in body or "calls_per_window" in body:
                sim.windows = Windows(
                    int(body.get("calls_per_window", sim.windows.calls)),
                    float(body.get("window_seconds", sim.windows.period)),
                )
            return JSONResponse({"calls_per_window": sim.windows.calls, "window_seconds": sim.windows.period})

    routes = [
        Route("/_sandbox/limits", limits, methods=["POST"]),
        Route("/_sandbox/requests", requests_log, methods=["GET"]),
        Route("/_sandbox/stats", stats, methods=["GET"]),
        Route("/_sandbox/mutate", mutate, methods=["POST"]),
        Route("/_sandbox/clock", clock, methods=["POST"]),
        Route("/_sandbox/expire_tokens", expire_tokens, methods=["POST"]),
        Route("/_sandbox/quota", quota, methods=["POST"]),
        Route("/{path:path}", gateway, methods=["POST"]),
    ]
    app = Starlette(routes=routes)
    app.state.simulator = sim
    return app


def _answer(body: bytes) -> Response:
    return Response(body, status_code=200, media_type=JSON_TYPE)


def _dispatch(
    sim: FxiaokeSimulator, path: str, body: dict[str, Any], headers: dict[str, str]
) -> tuple[dict[str, Any] | None, bytes | None]:
    """Limits, auth, quota, then the operation; raises `ApiError` for any refusal."""
    if path in (TOKEN_PATH, OAUTH_PATH):
        if not sim.token_window.admit(path, monotonic()):
            raise ApiError(
                codes.CALL_LIMIT, "token endpoint called too often (at most 10 a minute)", "接口调用超过限制"
            )
        return (sim.issue_token(body) if path == TOKEN_PATH else sim.issue_oauth_token(body)), None
    if not sim.windows.admit(path, monotonic()):
        raise ApiError(codes.FREQUENCY_LIMIT, "The interface frequency exceeds the limit", "秒频次超限")
    is_data = path.startswith((DATA_PREFIX, CUSTOM_PREFIX))
    user = sim.authenticate(body, headers, needs_user=is_data)
    if not sim.quota.spend(sim.clock.now()):
        raise ApiError(codes.DAILY_QUOTA, "the enterprise's daily call quota is used up", "当天访问频次超限")
    if path == DESCRIBE_PATH:
        table = sim.table(body, "apiName")
        return None, dumps({"describe": sim.describes[table.api_name]})
    if path == USER_BY_MOBILE:
        emps = [e for e in sim.directory.by_open_id.values() if e.mobile == str(body.get("mobile"))]
        return {
            "empList": [
                {"openUserId": e.open_user_id, "name": e.name, "mobile": e.mobile, "email": e.email, "status": "NORMAL"}
                for e in emps
            ]
        }, None
    if not is_data:
        raise ApiError(codes.INVALID_PARAMETER, f"no such interface: {path}", "接口不存在")
    data = body.get("data")
    if not isinstance(data, dict):
        raise ApiError(codes.INVALID_PARAMETER, "data is required", "参数错误")
    op = path.rsplit("/", 1)[1]
    if path.startswith(CUSTOM_PREFIX):
        raise ApiError(
            codes.INVALID_PARAMETER, "custom paths only apply to objects whose apiName ends with __c", "参数错误"
        )
    if op == "query":
        return None, sim.query(data, body)
    if op == "get":
        return None, dumps(sim.get(data))
    if op == "create":
        return {"dataId": sim.create(data, user)}, None
    if op == "update":
        return {"dataId": sim.update(data, user)}, None
    if op == "invalid":
        sim.invalid(data, user)
        return None, None
    if op == "recover":
        sim.recover(data, user)
        return None, None
    if op == "delete":
        sim.delete(data)
        return None, None
    raise ApiError(codes.INVALID_PARAMETER, f"no such interface: {path}", "接口不存在")
