"""The WeCom simulator as an ASGI app: the real endpoint paths, JSON answers with ``errcode`` (HTTP 200 like WeCom),
wrapped in `FaultMiddleware` whose throttle answer is WeCom's 45009 and whose busy answer is -1.

Bodies are parsed as JSON whatever the Content-Type says (wechatpy posts JSON bytes without one). Operator and
test endpoints live under ``/_sandbox`` and are exempt from injected faults.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from crmhub.contract import SandboxOptions
from crmhub.sandbox.faults import FaultMiddleware, FaultProfile, Receive, Scope, Send, ThrottleAnswer
from crmhub_wechat import errcodes as ec
from crmhub_wechat.simulator.settings import settings_for
from crmhub_wechat.simulator.state import WecomSimulator

_INVALID_JSON = object()


def _answer(data: dict[str, Any]) -> JSONResponse:
    return JSONResponse(data, media_type="application/json; charset=UTF-8")


async def _body(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw.decode("utf-8")) if raw else None
    except (UnicodeDecodeError, ValueError):
        return _INVALID_JSON


def _ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def build_routes(sim: WecomSimulator) -> list[Route]:
    """The simulator's routes, bound to ``sim``."""

    def done(request: Request, answer: dict[str, Any]) -> JSONResponse:
        code = answer.get("errcode")
        sim.record_request(
            request.method, request.url.path, dict(request.query_params), int(code) if code is not None else None
        )
        return _answer(answer)

    def bad_json(request: Request) -> JSONResponse:
        return done(
            request, {"errcode": ec.DATA_FORMAT_ERROR, "errmsg": "Warning: wrong json format. data format error"}
        )

    async def gettoken(request: Request) -> JSONResponse:
        q = request.query_params
        return done(request, sim.gettoken(q.get("corpid"), q.get("corpsecret"), _ip(request)))

    async def message_send(request: Request) -> JSONResponse:
        body = await _body(request)
        if body is _INVALID_JSON:
            return bad_json(request)
        return done(request, sim.send_app_message(request.query_params.get("access_token"), body, _ip(request)))

    async def agent_get(request: Request) -> JSONResponse:
        q = request.query_params
        return done(request, sim.agent_get(q.get("access_token"), q.get("agentid"), _ip(request)))

    async def webhook_send(request: Request) -> JSONResponse:
        body = await _body(request)
        if body is _INVALID_JSON:
            return bad_json(request)
        return done(request, sim.send_robot_message(request.query_params.get("key"), body))

    async def oa_token(request: Request) -> JSONResponse:
        q = request.query_params
        return done(request, sim.oa_token(q.get("grant_type"), q.get("appid"), q.get("secret")))

    async def template_send(request: Request) -> JSONResponse:
        body = await _body(request)
        if body is _INVALID_JSON:
            return bad_json(request)
        return done(request, sim.send_template_message(request.query_params.get("access_token"), body))

    async def inbox(request: Request) -> JSONResponse:
        snapshot = sim.snapshot()
        wanted = request.query_params.get("recipient")
        if wanted:
            snapshot["messages"] = [
                m for m in snapshot["messages"] if wanted.lower() in (r.lower() for r in m["recipients"])
            ]
        return _answer(snapshot)

    async def requests(request: Request) -> JSONResponse:
        return _answer({"requests": sim.requests_snapshot()})

    async def directory(request: Request) -> JSONResponse:
        return _answer(sim.directory())

    async def clock(request: Request) -> JSONResponse:
        body = await _body(request)
        try:
            seconds = float(body["advance_seconds"])
        except (TypeError, KeyError, ValueError):
            return JSONResponse({"error": 'send {"advance_seconds": <number>}'}, status_code=400)
        return _answer({"now": sim.advance(seconds).isoformat()})

    async def invalidate(request: Request) -> JSONResponse:
        body = await _body(request)
        body = body if isinstance(body, dict) else {}
        if body.get("clear"):
            sim.clear_token_fault()
            return _answer({"cleared": True})
        try:
            count = sim.invalidate_tokens(
                int(body.get("errcode", ec.TOKEN_EXPIRED)),
                persistent=bool(body.get("persistent", False)),
                kind=body.get("kind"),
            )
        except (TypeError, ValueError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return _answer({"invalidated": count})

    async def reset(request: Request) -> JSONResponse:
        sim.reset()
        return _answer({"reset": True})

    return [
        Route("/cgi-bin/gettoken", gettoken, methods=["GET"]),
        Route("/cgi-bin/message/send", message_send, methods=["POST"]),
        Route("/cgi-bin/agent/get", agent_get, methods=["GET"]),
        Route("/cgi-bin/webhook/send", webhook_send, methods=["POST"]),
        Route("/cgi-bin/token", oa_token, methods=["GET"]),
        Route("/cgi-bin/message/template/send", template_send, methods=["POST"]),
        Route("/_sandbox/inbox", inbox, methods=["GET"]),
        Route("/_sandbox/requests", requests, methods=["GET"]),
        Route("/_sandbox/directory", directory, methods=["GET"]),
        Route("/_sandbox/clock", clock, methods=["POST"]),
        Route("/_sandbox/invalidate-token", invalidate, methods=["POST"]),
        Route("/_sandbox/reset", reset, methods=["POST"]),
    ]


def _errcode_answer(sim: WecomSimulator, code: int) -> ThrottleAnswer:
    """An injected-fault answer in WeCom's shape (HTTP 200, errcode in the body), logged like a real one."""
    body = json.dumps({"errcode": code, "errmsg": ec.ERRMSG[code]}).encode()

    async def answer(scope: Scope, receive: Receive, send: Send) -> None:
        query = dict(
            p.split("=", 1) if "=" in p else (p, "") for p in scope.get("query_string", b"").decode().split("&") if p
        )
        sim.record_request(scope.get("method", "GET"), scope["path"], query, code)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json; charset=UTF-8"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return answer


class WecomSandboxApp:
    """The ASGI app ``crmhub sandbox serve`` and the tests run; ``.simulator`` is the live state (inbox)."""

    def __init__(self, simulator: WecomSimulator, faults: FaultProfile | None = None) -> None:
        self.simulator = simulator
        self.inner = Starlette(routes=build_routes(simulator))
        self.faults = FaultMiddleware(
            self.inner,
            faults or FaultProfile(),
            throttle=_errcode_answer(simulator, ec.API_FREQ_OUT_OF_LIMIT),
            busy=_errcode_answer(simulator, ec.BUSY),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.faults(scope, receive, send)


def build_app(options: SandboxOptions) -> WecomSandboxApp:
    """The `SandboxApp.build` factory: settings from ``options``, faults from ``options.faults``."""
    faults = options.faults if isinstance(options.faults, FaultProfile) else None
    sim = WecomSimulator(settings_for(options), clock=options.clock, seed=options.seed)
    return WecomSandboxApp(sim, faults)
