"""Bulk Read (fact sheet §7): create a job, poll it through ADDED → QUEUED → IN PROGRESS → COMPLETED (or FAILURE),
download a ZIP holding one CSV of ≤ 200,000 rows with an ``id`` column; at most 10 downloads a minute.

A job's rows are fixed when it completes (records sorted by id, the page's slice), like an export snapshot. The
state advances one step per status poll (``bulk_polls`` polls to complete), so tests are deterministic.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from crmhub_zoho.simulator.records import authenticate, sim_of
from crmhub_zoho.simulator.responses import error, ok, too_many_requests

if TYPE_CHECKING:
    from crmhub_zoho.simulator.state import ZohoSimulator

STATES = ("ADDED", "QUEUED", "IN PROGRESS", "COMPLETED")
_COMPARATORS = (
    "equal",
    "not_equal",
    "in",
    "not_in",
    "greater_than",
    "greater_equal",
    "less_than",
    "less_equal",
    "between",
    "not_between",
    "contains",
    "not_contains",
    "starts_with",
    "ends_with",
)


@dataclass(slots=True)
class Job:
    """One Bulk Read job."""

    id: str
    module: str
    fields: list[str]
    criteria: dict[str, Any] | None
    page: int
    created_by: dict[str, str]
    created_time: str
    state: str = "ADDED"
    polls: int = 0
    fail: bool = False
    count: int = 0
    more_records: bool = False
    archive: bytes | None = None
    query: dict[str, Any] = field(default_factory=dict)


class BulkJobs:
    """Jobs of the org and the download rate window."""

    def __init__(self, sim: ZohoSimulator) -> None:
        self.sim = sim
        self.jobs: dict[str, Job] = {}
        self.downloads: deque[float] = deque()
        self.fail_next = 0

    def advance(self, job: Job) -> None:
        """One poll's worth of progress; builds the file when the job completes."""
        if job.state in ("COMPLETED", "FAILURE"):
            return
        job.polls += 1
        step = min(len(STATES) - 1, job.polls * (len(STATES) - 1) // max(1, self.sim.settings["bulk_polls"]))
        state = STATES[step]
        if state == "COMPLETED" and job.fail:
            job.state = "FAILURE"
            return
        if state == "COMPLETED":
            self._build(job)
        job.state = state

    def _build(self, job: Job) -> None:
        store = self.sim.modules[job.module]
        per_file = self.sim.settings["bulk_rows_per_file"]
        match = _criteria_predicate(job.criteria)
        skip = (job.page - 1) * per_file
        rows: list[dict[str, Any]] = []
        seen = 0
        more = False
        for _, _, rid in store.by_id:
            rec = store.records[rid]
            if match is not None and not match(rec):
                continue
            seen += 1
            if seen <= skip:
                continue
            if len(rows) == per_file:
                more = True
                break
            rows.append(rec)
        columns = ["id", *[f for f in job.fields if f != "id"]]
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(columns)
        for rec in rows:
            writer.writerow([_csv_value(rec.get(c)) for c in columns])
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
            zf.writestr(f"{job.id}.csv", text.getvalue().encode("utf-8"))
        job.archive = buf.getvalue()
        job.count = len(rows)
        job.more_records = more

    def answer(self, job: Job, ver: str) -> dict[str, Any]:
        """The job-details object."""
        out: dict[str, Any] = {
            "id": job.id,
            "operation": "read",
            "state": job.state,
            "query": job.query,
            "created_by": job.created_by,
            "created_time": job.created_time,
            "file_type": "csv",
        }
        if job.state == "COMPLETED":
            out["result"] = {
                "page": job.page,
                "count": job.count,
                "download_url": f"/crm/bulk/{ver}/read/{job.id}/result",
                "per_page": self.sim.settings["bulk_rows_per_file"],
                "more_records": job.more_records,
            }
        return out


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        return str(value.get("id") or "")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(v.get("name") if isinstance(v, dict) else v) for v in value)
    return str(value)


def _criteria_predicate(criteria: dict[str, Any] | None) -> Any:
    if not criteria:
        return None
    if "group" in criteria:
        parts = [_criteria_predicate(c) for c in criteria["group"]]
        if criteria.get("group_operator", "and").lower() == "or":
            return lambda r: any(p(r) for p in parts)
        return lambda r: all(p(r) for p in parts)
    fld = criteria.get("field") or {}
    name = fld.get("api_name") if isinstance(fld, dict) else criteria.get("api_name")
    comparator = criteria.get("comparator")
    value = criteria.get("value")

    def get(rec: dict[str, Any]) -> Any:
        v = rec.get(name or "")
        return v.get("id") if isinstance(v, dict) else v

    def norm(v: Any) -> Any:
        if isinstance(v, str) and len(v) >= 19 and v[4] == "-" and "T" in v:
            return datetime.fromisoformat(v).timestamp()
        return v

    def cmp(rec: dict[str, Any]) -> bool:
        return bool(_cmp(rec))

    def _cmp(rec: dict[str, Any]) -> Any:
        v = get(rec)
        if comparator in ("equal", "not_equal"):
            return (norm(v) == norm(value)) == (comparator == "equal")
        if comparator in ("in", "not_in"):
            return (v in (value or [])) == (comparator == "in")
        if comparator in ("contains", "not_contains"):
            return (str(value) in str(v or "")) == (comparator == "contains")
        if comparator == "starts_with":
            return str(v or "").startswith(str(value))
        if comparator == "ends_with":
            return str(v or "").endswith(str(value))
        if v is None:
            return False
        a = norm(v)
        if comparator in ("between", "not_between"):
            lo, hi = (norm(x) for x in (value or [None, None]))
            return (lo <= a <= hi) == (comparator == "between")
        b = norm(value)
        return {"greater_than": a > b, "greater_equal": a >= b, "less_than": a < b, "less_equal": a <= b}[
            str(comparator)
        ]

    return cmp


async def create_job(request: Request) -> Response:
    """``POST /crm/bulk/{v}/read``."""
    tok = authenticate(request)
    if isinstance(tok, Response):
        return tok
    sim = sim_of(request)
    try:
        body = json.loads(await request.body() or b"{}")
        query = body["query"]
        module_ref = query["module"]
    except (ValueError, KeyError, TypeError):
        return error(
            400,
            "MANDATORY_NOT_FOUND",
            "required field not found",
            {"api_name": "module", "json_path": "$.query.module"},
        )
    module_name = module_ref.get("api_name") if isinstance(module_ref, dict) else module_ref
    module = sim.module_def(str(module_name))
    if module is None:
        return error(400, "INVALID_MODULE", "the module name given seems to be invalid", {"api_name": module_name})
    fields = query.get("fields") or [f.api_name for f in module.fields]
    for name in fields:
        if name != "id" and name not in module.by_name:
            return error(400, "INVALID_DATA", "invalid field", {"api_name": name, "json_path": "$.query.fields"})
    criteria = query.get("criteria")
    if criteria and not _valid_criteria(criteria):
        return error(
            400,
            "INVALID_DATA",
            "invalid criteria",
            {"api_name": "criteria", "supported_comparators": list(_COMPARATORS)},
        )
    page = int(query.get("page") or 1)
    job = Job(
        id=sim.new_id(),
        module=module.api_name,
        fields=list(fields),
        criteria=criteria,
        page=page,
        created_by=sim.user_json(tok.user_id, email=False),
        created_time=sim.now_text(),
        query={
            "module": {"api_name": module.api_name},
            "page": page,
            "fields": list(fields),
            **({"criteria": criteria} if criteria else {}),
        },
    )
    if sim.bulk.fail_next > 0:
        sim.bulk.fail_next -= 1
        job.fail = True
    sim.bulk.jobs[job.id] = job
    return ok(
        {
            "data": [
                {
                    "status": "success",
                    "code": "ADDED_SUCCESSFULLY",
                    "message": "Added successfully.",
                    "details": {
                        "id": job.id,
                        "operation": "read",
                        "state": "ADDED",
                        "created_by": job.created_by,
                        "created_time": job.created_time,
                    },
                }
            ],
            "info": {},
        },
        201,
    )


def _valid_criteria(criteria: Any) -> bool:
    if not isinstance(criteria, dict):
        return False
    if "group" in criteria:
        return isinstance(criteria["group"], list) and all(_valid_criteria(c) for c in criteria["group"])
    return criteria.get("comparator") in _COMPARATORS


async def job_status(request: Request) -> Response:
    """``GET /crm/bulk/{v}/read/{job_id}``."""
    tok = authenticate(request)
    if isinstance(tok, Response):
        return tok
    sim = sim_of(request)
    job = sim.bulk.jobs.get(request.path_params["job_id"])
    if job is None:
        return error(400, "INVALID_DATA", "the job id given seems to be invalid", {"api_name": "job_id"})
    sim.bulk.advance(job)
    return ok({"data": [sim.bulk.answer(job, request.path_params["ver"])]})


async def job_result(request: Request) -> Response:
    """``GET /crm/bulk/{v}/read/{job_id}/result``: the ZIP, at most 10 downloads per minute."""
    tok = authenticate(request)
    if isinstance(tok, Response):
        return tok
    sim = sim_of(request)
    job = sim.bulk.jobs.get(request.path_params["job_id"])
    if job is None:
        return error(400, "INVALID_DATA", "the job id given seems to be invalid", {"api_name": "job_id"})
    if job.state != "COMPLETED" or job.archive is None:
        return error(400, "INVALID_REQUEST", "the job is not completed yet", {"state": job.state})
    now = sim.epoch_now()
    window = sim.bulk.downloads
    while window and now - window[0] >= 60:
        window.popleft()
    if len(window) >= sim.settings["bulk_downloads_per_minute"]:
        return too_many_requests("downloads")
    window.append(now)
    return Response(
        job.archive,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{job.id}.zip"'},
    )
