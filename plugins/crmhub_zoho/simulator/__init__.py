"""A Zoho CRM v8 simulator built from the fact sheet (design/apis/zoho-crm.md), not from the connector.

``build(options)`` returns the ASGI app: limits gate → fault middleware → Starlette routes. OAuth and the API are
served on the same base URL (``api_domain`` = ``options.base_url``), so the official SDK and crmhub's connector
need only their URLs changed. ``app.simulator`` is the state object for in-process tests and the demo.
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.routing import Route

from crmhub.contract import SandboxOptions
from crmhub.sandbox.faults import FaultMiddleware, FaultProfile
from crmhub_zoho.simulator import admin, bulk, bulk_write, meta, oauth, records, writes
from crmhub_zoho.simulator.gate import ZohoGate, throttle_answer
from crmhub_zoho.simulator.state import DEFAULT_SETTINGS, ZohoSimulator

V = "/crm/{ver:str}"


def routes() -> list[Route]:
    """Every path the simulator answers."""
    return [
        Route("/oauth/v2/token", oauth.token_endpoint, methods=["POST"]),
        Route("/oauth/v2/token/revoke", oauth.revoke_endpoint, methods=["POST"]),
        Route("/_sandbox/requests", admin.requests_log, methods=["GET"]),
        Route("/_sandbox/stats", admin.stats, methods=["GET"]),
        Route("/_sandbox/mutate", admin.mutate, methods=["POST"]),
        Route("/_sandbox/clock", admin.clock, methods=["POST"]),
        Route("/_sandbox/grant", admin.grant, methods=["POST"]),
        Route("/_sandbox/bulk_fail", admin.bulk_fail, methods=["POST"]),
        Route("/_sandbox/bulk_write_fail", admin.bulk_write_fail, methods=["POST"]),
        Route("/crm/bulk/{ver:str}/read", bulk.create_job, methods=["POST"]),
        Route("/crm/bulk/{ver:str}/read/{job_id:str}", bulk.job_status, methods=["GET"]),
        Route("/crm/bulk/{ver:str}/read/{job_id:str}/result", bulk.job_result, methods=["GET"]),
        Route("/crm/bulk/{ver:str}/write", bulk_write.create_job, methods=["POST"]),
        Route("/crm/bulk/{ver:str}/write/{job_id:str}", bulk_write.job_status, methods=["GET"]),
        Route("/v2/crm/{zgid:str}/bulk-write/{job_id:str}/{file:str}", bulk_write.job_result, methods=["GET"]),
        Route(V + "/upload", bulk_write.upload, methods=["POST"]),
        Route(V + "/users", meta.users, methods=["GET"]),
        Route(V + "/org", meta.org, methods=["GET"]),
        Route(V + "/settings/modules", meta.modules, methods=["GET"]),
        Route(V + "/settings/modules/{module:str}", meta.module_detail, methods=["GET"]),
        Route(V + "/settings/fields", meta.fields, methods=["GET"]),
        Route(V + "/coql", records.coql, methods=["POST"]),
        Route(V + "/{module:str}/deleted", records.deleted_records, methods=["GET"]),
        Route(V + "/{module:str}/search", records.search_records, methods=["GET"]),
        Route(V + "/{module:str}/upsert", writes.write_records, methods=["POST"]),
        Route(V + "/{module:str}", records.list_records, methods=["GET"]),
        Route(V + "/{module:str}", writes.write_records, methods=["POST", "PUT"]),
        Route(V + "/{module:str}", writes.delete_records, methods=["DELETE"]),
        Route(V + "/{module:str}/{record_id:str}", records.get_record, methods=["GET"]),
        Route(V + "/{module:str}/{record_id:str}", writes.write_records, methods=["PUT"]),
        Route(V + "/{module:str}/{record_id:str}", writes.delete_records, methods=["DELETE"]),
    ]


def build(options: SandboxOptions) -> Any:
    """The simulator app for ``options`` (world, faults, base URL, clock, settings)."""
    sim = ZohoSimulator(options)
    app = Starlette(routes=routes())
    app.state.sim = sim
    faults = FaultMiddleware(app, options.faults or FaultProfile(), throttle=throttle_answer)
    app.state.fault_stats = faults.stats
    gate = ZohoGate(faults, sim)
    gate.faults = faults
    return gate


__all__ = ["DEFAULT_SETTINGS", "ZohoSimulator", "build"]
