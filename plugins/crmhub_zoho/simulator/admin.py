"""``/_sandbox/…`` endpoints (exempt from faults and limits) for tests, the demo and operators.

``GET requests`` (the request log, filterable by ``method``, ``path`` and ``since`` index), ``GET stats``,
``POST mutate {"count", "seed", "module"?}`` (realistic edits, answers the ids), ``POST clock
{"advance_seconds"}``, ``POST grant`` (a fresh authorization code), ``POST bulk_fail {"count"}``,
``POST bulk_write_fail {"count"}``.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from crmhub_zoho.simulator.records import sim_of
from crmhub_zoho.simulator.responses import error, ok


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        data = json.loads(raw or b"{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


async def requests_log(request: Request) -> Response:
    """The request log, oldest first."""
    sim = sim_of(request)
    q = request.query_params
    start = int(q.get("since", 0))
    rows = list(sim.log)[start:]
    if q.get("method"):
        rows = [r for r in rows if r["method"] == q["method"].upper()]
    if q.get("path"):
        rows = [r for r in rows if q["path"] in r["path"]]
    return ok({"requests": rows, "total": len(sim.log)})


async def stats(request: Request) -> Response:
    """Counters."""
    sim = sim_of(request)
    out = sim.stats()
    faults = getattr(request.app.state, "fault_stats", None)
    if faults is not None:
        out["faults"] = {
            "throttled": faults.throttled,
            "errors": faults.errors,
            "dropped": faults.dropped,
            "delayed": faults.delayed,
        }
    return ok(out)


async def mutate(request: Request) -> Response:
    """Change N records realistically; answers their ids."""
    sim = sim_of(request)
    body = await _body(request)
    module = str(body.get("module", "Accounts"))
    if module not in sim.modules:
        return error(400, "INVALID_MODULE", "unknown module", {"module": module})
    ids = sim.mutate(int(body.get("count", 1)), int(body.get("seed", 0)), module)
    return ok({"ids": ids, "module": module, "modified_time": sim.now_text()})


async def clock(request: Request) -> Response:
    """Move the simulator's clock forward."""
    sim = sim_of(request)
    body = await _body(request)
    sim.advance += float(body.get("advance_seconds", 0))
    return ok({"now": sim.now_text()})


async def grant(request: Request) -> Response:
    """A fresh authorization (grant) code for the admin user."""
    sim = sim_of(request)
    body = await _body(request)
    return ok({"code": sim.oauth.issue_code(body.get("client_id"), body.get("redirect_uri"))})


async def bulk_fail(request: Request) -> Response:
    """Make the next N Bulk Read jobs end in FAILURE."""
    sim = sim_of(request)
    body = await _body(request)
    sim.bulk.fail_next = int(body.get("count", 1))
    return ok({"fail_next": sim.bulk.fail_next})


async def bulk_write_fail(request: Request) -> Response:
    """Make the next N Bulk Write jobs end in FAILED."""
    sim = sim_of(request)
    body = await _body(request)
    sim.bulk_writes.fail_next = int(body.get("count", 1))
    return ok({"fail_next": sim.bulk_writes.fail_next})
