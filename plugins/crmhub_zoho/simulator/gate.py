"""The org's limits and the request log, as the outermost ASGI layer (fact sheet §10).

It sits *outside* the fault middleware so injected latency counts as time in flight, as it does at Zoho: a
client that keeps more calls open than its edition allows gets 429 ``TOO_MANY_REQUESTS`` (no ``Retry-After``).
Heavy calls (COQL, writes of more than 10 records) also share a sub-concurrency of 10; every API call spends
credits from the rolling 24 h budget (writes 1 per 10 records, a Bulk Write job ``bulk_write_credits``, both
2nd-hand) and ``X-API-CREDITS-REMAINING`` appears once half the budget is spent.
The OAuth server and ``/_sandbox`` are outside the limits.
"""

from __future__ import annotations

import json
import re
import time
from typing import TYPE_CHECKING, Any

from crmhub.sandbox.faults import ASGIApp, Message, Receive, Scope, Send
from crmhub_zoho.simulator.responses import dumps

if TYPE_CHECKING:
    from crmhub_zoho.simulator.state import ZohoSimulator

_WRITE = re.compile(r"^/crm/v[\d.]+/(?!coql$|settings/|users|org$|upload$)[^/]+(?:/upsert|/[0-9]+)?$")
_BULK_WRITE_JOB = re.compile(r"^/crm/bulk/v[\d.]+/write$")


async def _answer_429(send: Send, reason: str, remaining: int | None = None) -> None:
    message = (
        "API call limit exceeded" if reason == "credits" else "The number of concurrent requests has exceeded the limit"
    )
    body = dumps({"code": "TOO_MANY_REQUESTS", "details": {}, "message": message, "status": "error"})
    headers = [(b"content-type", b"application/json;charset=UTF-8"), (b"content-length", str(len(body)).encode())]
    if remaining is not None:
        headers.append((b"x-api-credits-remaining", str(remaining).encode()))
    await send({"type": "http.response.start", "status": 429, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def throttle_answer(scope: Scope, receive: Receive, send: Send) -> None:
    """The fault middleware's injected throttle: Zoho's 429, indistinguishable from a real one."""
    await _answer_429(send, "concurrency")


class ZohoGate:
    """Concurrency, heavy sub-concurrency, credits, the credits header and the request log."""

    def __init__(self, app: ASGIApp, sim: ZohoSimulator) -> None:
        self.app = app
        self.sim = sim
        self.simulator = sim
        self.faults: Any = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        sim = self.sim
        if path.startswith("/_sandbox"):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 0}
        method: str = scope["method"]
        entry: dict[str, Any] = {
            "t": round(sim.epoch_now(), 3),
            "method": method,
            "path": path,
            "query": scope.get("query_string", b"").decode("latin-1"),
            "status": 0,
        }
        if path.startswith("/oauth"):
            await self.app(scope, receive, self._recording(send, status, None))
            self._log(entry, status["code"], scope, started)
            return
        heavy = path.endswith("/coql")
        cost = 1
        if method in ("POST", "PUT") and _WRITE.match(path):
            body = b""
            more = True
            while more:
                message = await receive()
                body += message.get("body", b"")
                more = message.get("more_body", False)
            try:
                parsed = json.loads(body or b"null")
                count = len(parsed.get("data") or []) if isinstance(parsed, dict) else 0
                if count:
                    entry["records"] = parsed["data"]  # what was asked to be written, for audits and tests
            except ValueError:
                count = 0
            heavy = heavy or count > 10
            cost = max(1, -(-count // 10))
            receive = _replay(body)
        elif method == "POST" and _BULK_WRITE_JOB.match(path):
            cost = int(sim.settings["bulk_write_credits"])  # initialising a job (2nd-hand: 500 credits)
        if sim.in_flight >= sim.settings["concurrency"] or (
            heavy and sim.heavy_in_flight >= sim.settings["heavy_concurrency"]
        ):
            sim.rejected_concurrency += 1
            await _answer_429(send, "concurrency")
            self._log(entry, 429, scope, started, note="concurrency limit")
            return
        if not sim.spend_credits(cost):
            sim.rejected_credits += 1
            await _answer_429(send, "credits", sim.credits_remaining())
            self._log(entry, 429, scope, started, note="credits exhausted")
            return
        sim.in_flight += 1
        sim.peak_in_flight = max(sim.peak_in_flight, sim.in_flight)
        if heavy:
            sim.heavy_in_flight += 1
        try:
            await self.app(scope, receive, self._recording(send, status, sim))
        finally:
            sim.in_flight -= 1
            if heavy:
                sim.heavy_in_flight -= 1
            self._log(entry, status["code"], scope, started)

    def _recording(self, send: Send, status: dict[str, int], sim: ZohoSimulator | None) -> Send:
        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                if sim is not None:
                    budget = sim.settings["daily_credits"]
                    if budget and sim.credits_used * 2 >= budget:
                        headers = list(message.get("headers", []))
                        headers.append((b"x-api-credits-remaining", str(sim.credits_remaining()).encode()))
                        message = {**message, "headers": headers}
            await send(message)

        return wrapped

    def _log(self, entry: dict[str, Any], code: int, scope: Scope, started: float, note: str | None = None) -> None:
        entry["status"] = code
        entry["ms"] = round((time.perf_counter() - started) * 1000, 2)
        entry["note"] = note or scope.get("zoho.note")
        self.sim.log.append(entry)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive
