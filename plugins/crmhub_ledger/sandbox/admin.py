"""``/_sandbox`` admin routes (exempt from faults): request log, stats, realistic mutations, the clock."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from crmhub_ledger.sandbox.errors import SimError
from crmhub_ledger.sandbox.state import LedgerSimulator


def routes(sim: LedgerSimulator) -> list[Route]:
    """The admin routes bound to ``sim``."""

    async def body(request: Request) -> dict[str, Any]:
        raw = await request.body()
        try:
            data = json.loads(raw) if raw else {}
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise SimError(400, "sandbox.body", "the body must be a JSON object")
        return data

    async def requests(request: Request) -> Response:
        if request.method == "DELETE":
            with sim.lock:
                sim.requests.clear()
            return JSONResponse({"cleared": True})
        limit = int(request.query_params.get("limit") or 0)
        with sim.lock:
            rows = list(sim.requests)
        return JSONResponse({"total": len(rows), "requests": rows[-limit:] if limit > 0 else rows})

    async def stats(request: Request) -> Response:
        with sim.lock:
            data = sim.stats()
        faults = getattr(request.app.state, "faults", None)
        if faults is not None:
            s = faults.stats
            data["faults"] = {
                "throttled": s.throttled,
                "errors": s.errors,
                "dropped": s.dropped,
                "busy": s.busy,
                "delayed": s.delayed,
            }
        return JSONResponse(data)

    async def mutate(request: Request) -> Response:
        try:
            data = await body(request)
            count = int(data.get("count", 1))
            seed = data.get("seed")
        except (SimError, TypeError, ValueError):
            return JSONResponse({"error": 'expected {"count": N, "seed": S}'}, status_code=400)
        with sim.lock:
            changes = sim.mutate(count, None if seed is None else int(seed))
        return JSONResponse(
            {"requested": count, "applied": len(changes), "changes": changes, "today": sim.today.isoformat()}
        )

    async def clock(request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse({"today": sim.today.isoformat(), "now": sim.now().isoformat(sep=" ")})
        try:
            days = int((await body(request)).get("advance_days", 0))
        except (SimError, TypeError, ValueError):
            return JSONResponse({"error": 'expected {"advance_days": N}'}, status_code=400)
        with sim.lock:
            today = sim.advance(days)
        return JSONResponse({"today": today.isoformat(), "now": sim.now().isoformat(sep=" ")})

    return [
        Route("/_sandbox/requests", requests, methods=["GET", "DELETE"]),
        Route("/_sandbox/stats", stats, methods=["GET"]),
        Route("/_sandbox/mutate", mutate, methods=["POST"]),
        Route("/_sandbox/clock", clock, methods=["GET", "POST"]),
    ]
