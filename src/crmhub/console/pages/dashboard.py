"""The dashboard: the state of the hub at a glance (placeholder until the dashboard page lands)."""

from __future__ import annotations

from starlette.responses import Response

from crmhub.console.web import Req, page


@page("GET", "/", command="console")
def dashboard(req: Req) -> Response:
    """Last runs, next jobs, open work and trends."""
    return req.render("dashboard/index.html.j2", active="/")
