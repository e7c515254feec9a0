"""Bulk Write (fact sheet "Bulk Write"): upload a zipped CSV, create a job, poll it, download the result file.

* ``POST /crm/{v}/upload`` — multipart ``file`` (a ZIP holding one CSV, ≤ 25 MB, ≤ 25,000 records, first row = API
  names, lookups as ``Field.id``), headers ``feature: bulk-write`` and ``X-CRM-ORG: <zgid>``; answers
  ``details.file_id``. A real org takes uploads on its file-upload server; the simulator serves them on its base URL.
* ``POST /crm/bulk/{v}/write`` — ``operation`` insert | update | upsert, ``ignore_empty``, ``resource: [{type: data,
  module, file_id, field_mappings: [{api_name, index, find_by?}], find_by}]``; answers the job id (201). The gate
  charges ``bulk_write_credits`` (2nd-hand: 500) for it.
* ``GET /crm/bulk/{v}/write/{id}`` — ``status`` ADDED → IN PROGRESS → COMPLETED (or FAILED), one step per poll
  (``bulk_write_polls`` polls to finish, so tests are deterministic). The rows are applied when the job completes,
  through the same code as ``PUT``/``upsert`` (validation, duplicate checks, ``Modified_Time`` bump); ``resource[0].
  file`` gives ``added_count``, ``updated_count``, ``skipped_count``, ``total_count``; ``result.download_url`` the
  result ZIP.
* The result ZIP holds one CSV: the first three mapped columns of the upload plus ``RECORD_ID``, ``STATUS``
  (ADDED / UPDATED / SKIPPED / UNPROCESSED) and ``ERRORS`` (``CODE-column`` items joined by ``:``).

Unknown job ids and result files answer 404; bad uploads and bad job definitions 400.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from crmhub_zoho.simulator.records import authenticate, sim_of
from crmhub_zoho.simulator.responses import error, ok
from crmhub_zoho.simulator.seed import zoho_id
from crmhub_zoho.simulator.store import ModuleStore
from crmhub_zoho.simulator.writes import RecordFailure, apply_one

if TYPE_CHECKING:
    from crmhub_zoho.simulator.state import ZohoSimulator

MAX_FILE_BYTES = 25 * 2**20
MAX_RECORDS = 25_000
STATES = ("ADDED", "IN PROGRESS", "COMPLETED")


def zgid() -> str:
    """The org's zgid, as ``GET /org`` reports it."""
    return zoho_id(1)[-9:]


@dataclass(slots=True)
class WriteJob:
    """One Bulk Write job."""

    id: str
    operation: str
    module: str
    file_id: str
    mappings: list[dict[str, Any]]
    find_by: str
    ignore_empty: bool
    created_by: dict[str, str]
    created_time: str
    status: str = "ADDED"
    polls: int = 0
    fail: bool = False
    counts: dict[str, int] = field(default_factory=dict)
    archive: bytes | None = None


class BulkWrites:
    """Uploaded files and Bulk Write jobs of the org."""

    def __init__(self, sim: ZohoSimulator) -> None:
        self.sim = sim
        self.files: dict[str, tuple[str, list[str], list[list[str]]]] = {}
        self.jobs: dict[str, WriteJob] = {}
        self.fail_next = 0

    def advance(self, job: WriteJob) -> None:
        """One poll's worth of progress; the rows are applied when the job completes."""
        if job.status in ("COMPLETED", "FAILED"):
            return
        job.polls += 1
        step = min(len(STATES) - 1, job.polls * (len(STATES) - 1) // max(1, self.sim.settings["bulk_write_polls"]))
        if STATES[step] == "COMPLETED":
            if job.fail:
                job.status = "FAILED"
                return
            self._apply(job)
        job.status = STATES[step]

    def _apply(self, job: WriteJob) -> None:
        name, header, rows = self.files[job.file_id]
        store = self.sim.modules[job.module]
        user = job.created_by["id"]
        shown = [m for m in sorted(job.mappings, key=lambda m: int(m["index"]))][:3]
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([header[int(m["index"])] for m in shown] + ["RECORD_ID", "STATUS", "ERRORS"])
        counts = {"added_count": 0, "updated_count": 0, "skipped_count": 0, "total_count": len(rows)}
        for idx, row in enumerate(rows):
            cells = [row[int(m["index"])] if int(m["index"]) < len(row) else "" for m in shown]
            try:
                item = self._item(store, job, row, idx)
                answer = self._write(store, job, item, idx, user)
            except RecordFailure as failure:
                details = failure.answer["details"]
                column = str(details.get("api_name") or "")
                code = str(failure.answer["code"])
                if column == "id" and code == "INVALID_DATA":
                    code = "RESOURCE_NOT_FOUND"
                counts["skipped_count"] += 1
                writer.writerow([*cells, "", "SKIPPED", f"{code}-{column}" if column else code])
                continue
            status = "ADDED" if answer["message"] == "record added" else "UPDATED"
            counts["added_count" if status == "ADDED" else "updated_count"] += 1
            writer.writerow([*cells, answer["details"]["id"], status, ""])
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
            zf.writestr(f"{job.module}-{name.rsplit('.', 1)[0]}.csv", out.getvalue().encode("utf-8"))
        job.archive = buf.getvalue()
        job.counts = counts

    def _item(self, store: ModuleStore, job: WriteJob, row: list[str], idx: int) -> dict[str, Any]:
        """The JSON record a CSV row stands for (cells converted to the fields' types)."""
        item: dict[str, Any] = {}
        for m in job.mappings:
            i = int(m["index"])
            cell = row[i] if i < len(row) else ""
            api = str(m["api_name"])
            if cell == "":
                if not job.ignore_empty and api != "id":
                    item[api] = None
                continue
            if api == "id":
                item["id"] = cell
                continue
            fd = store.module.by_name[api]
            item[api] = _typed(fd.data_type, cell, api, idx)
        return item

    def _write(self, store: ModuleStore, job: WriteJob, item: dict[str, Any], idx: int, user: str) -> dict[str, Any]:
        if job.operation == "insert":
            item.pop("id", None)
            return apply_one(self.sim, store, item, idx, "insert", [], user)
        if job.find_by != "id":
            found = store.find_duplicates(job.find_by, item.get(job.find_by))
            if found:
                item["id"] = min(found)
            elif job.operation == "update":
                raise RecordFailure("RESOURCE_NOT_FOUND", "record not found", {"api_name": job.find_by})
            else:
                item.pop("id", None)
                return apply_one(self.sim, store, item, idx, "insert", [], user)
        elif job.operation == "upsert" and item.get("id") not in store.records:
            item.pop("id", None)
            return apply_one(self.sim, store, item, idx, "insert", [], user)
        return apply_one(self.sim, store, item, idx, "update", [], user)

    def answer(self, job: WriteJob, ver: str, base_url: str) -> dict[str, Any]:
        """The job-details object."""
        file_name = self.files[job.file_id][0] if job.file_id in self.files else None
        file_block: dict[str, Any] = {"status": job.status, "name": file_name}
        file_block.update(job.counts or {"added_count": 0, "updated_count": 0, "skipped_count": 0, "total_count": 0})
        out: dict[str, Any] = {
            "status": job.status,
            "character_encoding": "UTF-8",
            "id": job.id,
            "operation": job.operation,
            "created_by": job.created_by,
            "created_time": job.created_time,
            "resource": [
                {
                    "status": job.status,
                    "type": "data",
                    "module": {"api_name": job.module},
                    "field_mappings": job.mappings,
                    "find_by": job.find_by,
                    "file": file_block,
                }
            ],
        }
        if job.status == "COMPLETED":
            out["result"] = {"download_url": f"{base_url}/v2/crm/{zgid()}/bulk-write/{job.id}/{job.id}.zip"}
        return out


def _typed(data_type: str, cell: str, api: str, idx: int) -> Any:
    try:
        if data_type == "integer":
            return int(cell)
        if data_type in ("double", "currency"):
            return float(cell)
        if data_type == "boolean":
            if cell.lower() not in ("true", "false"):
                raise ValueError(cell)
            return cell.lower() == "true"
    except ValueError:
        raise RecordFailure(
            "INVALID_DATA",
            "invalid data",
            {"api_name": api, "expected_data_type": data_type, "json_path": f"$.row[{idx}].{api}"},
        ) from None
    if data_type in ("lookup", "ownerlookup"):
        return {"id": cell}
    return cell


def _read_zip(raw: bytes) -> tuple[str, list[str], list[list[str]]] | Response:
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as zf:
            names = [n for n in zf.namelist() if n.lower().endswith(".csv")]
            if len(names) != 1 or len(zf.namelist()) != 1:
                return error(
                    400, "INVALID_FILE", "the ZIP must hold exactly one CSV file", {"files": len(zf.namelist())}
                )
            text = zf.read(names[0]).decode("utf-8-sig")
    except (zipfile.BadZipFile, UnicodeDecodeError):
        return error(400, "INVALID_FILE", "the file is not a ZIP of a UTF-8 CSV", {})
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return error(400, "INVALID_FILE", "the CSV file is empty", {})
    if len(rows) - 1 > MAX_RECORDS:
        return error(
            400,
            "FILE_SIZE_EXCEEDED",
            "the CSV holds more records than allowed",
            {"limit": MAX_RECORDS, "records": len(rows) - 1},
        )
    return names[0], rows[0], rows[1:]


async def upload(request: Request) -> Response:
    """``POST /crm/{v}/upload`` (``feature: bulk-write``)."""
    tok = authenticate(request)
    if isinstance(tok, Response):
        return tok
    sim = sim_of(request)
    if request.headers.get("feature") != "bulk-write":
        return error(400, "INVALID_DATA", "the feature header must be bulk-write", {"header": "feature"})
    org = request.headers.get("x-crm-org")
    if not org:
        return error(400, "MANDATORY_NOT_FOUND", "required header not found", {"header": "X-CRM-ORG"})
    if org != zgid():
        return error(400, "INVALID_DATA", "the org id given seems to be invalid", {"header": "X-CRM-ORG"})
    form = await request.form(max_part_size=MAX_FILE_BYTES + 1)
    part = form.get("file")
    if not isinstance(part, UploadFile):
        return error(400, "MANDATORY_NOT_FOUND", "required field not found", {"param": "file"})
    raw = await part.read()
    if len(raw) > MAX_FILE_BYTES:
        return error(400, "FILE_SIZE_EXCEEDED", "the file is larger than 25 MB", {"limit": MAX_FILE_BYTES})
    parsed = _read_zip(raw)
    if isinstance(parsed, Response):
        return parsed
    file_id = sim.new_id()
    sim.bulk_writes.files[file_id] = parsed
    return ok(
        {
            "status": "success",
            "code": "FILE_UPLOAD_SUCCESS",
            "message": "file uploaded.",
            "details": {"file_id": file_id, "created_time": sim.now_text()},
        }
    )


def _bad(api_name: str, message: str = "invalid data", code: str = "INVALID_DATA") -> Response:
    return error(400, code, message, {"api_name": api_name})


async def create_job(request: Request) -> Response:
    """``POST /crm/bulk/{v}/write``."""
    tok = authenticate(request)
    if isinstance(tok, Response):
        return tok
    sim = sim_of(request)
    try:
        body = json.loads(await request.body() or b"{}")
        operation = body["operation"]
        resource = body["resource"]
    except (ValueError, KeyError, TypeError):
        return _bad("operation", "required field not found", "MANDATORY_NOT_FOUND")
    if operation not in ("insert", "update", "upsert"):
        return _bad("operation")
    if not isinstance(resource, list) or len(resource) != 1 or not isinstance(resource[0], dict):
        return _bad("resource")
    res = resource[0]
    module_ref = res.get("module")
    module = sim.module_def(str(module_ref.get("api_name") if isinstance(module_ref, dict) else module_ref))
    if module is None:
        return error(400, "INVALID_MODULE", "the module name given seems to be invalid", {"api_name": "module"})
    file_id = str(res.get("file_id") or "")
    if file_id not in sim.bulk_writes.files:
        return _bad("file_id", "the file id given seems to be invalid")
    header = sim.bulk_writes.files[file_id][1]
    mappings = res.get("field_mappings")
    if not isinstance(mappings, list) or not mappings:
        return _bad("field_mappings", "required field not found", "MANDATORY_NOT_FOUND")
    for m in mappings:
        if not isinstance(m, dict) or not isinstance(m.get("index"), int) or not 0 <= m["index"] < len(header):
            return _bad("field_mappings", "the index given seems to be invalid")
        if m.get("api_name") != "id" and m.get("api_name") not in module.by_name:
            return _bad(str(m.get("api_name")), "the field given seems to be invalid")
    find_by = str(res.get("find_by") or ("id" if operation == "update" else ""))
    unique = (*module.system_duplicate_fields, *module.unique_fields)
    if operation != "insert" and find_by != "id" and find_by not in unique:
        return _bad("find_by", "the find_by field must be id or a unique field")
    job = WriteJob(
        id=sim.new_id(),
        operation=operation,
        module=module.api_name,
        file_id=file_id,
        mappings=[dict(m) for m in mappings],
        find_by=find_by,
        ignore_empty=bool(body.get("ignore_empty", False)),
        created_by=sim.user_json(tok.user_id, email=False),
        created_time=sim.now_text(),
    )
    if sim.bulk_writes.fail_next > 0:
        sim.bulk_writes.fail_next -= 1
        job.fail = True
    sim.bulk_writes.jobs[job.id] = job
    return ok(
        {
            "status": "success",
            "code": "SUCCESS",
            "message": "success",
            "details": {"id": job.id, "created_by": job.created_by},
        },
        201,
    )


async def job_status(request: Request) -> Response:
    """``GET /crm/bulk/{v}/write/{job_id}``."""
    tok = authenticate(request)
    if isinstance(tok, Response):
        return tok
    sim = sim_of(request)
    job = sim.bulk_writes.jobs.get(request.path_params["job_id"])
    if job is None:
        return error(404, "RESOURCE_NOT_FOUND", "the requested resource is not found", {"api_name": "job_id"})
    sim.bulk_writes.advance(job)
    return ok(sim.bulk_writes.answer(job, request.path_params["ver"], sim.base_url))


async def job_result(request: Request) -> Response:
    """``GET /v2/crm/{zgid}/bulk-write/{job_id}/{job_id}.zip`` (the ``download_url``)."""
    tok = authenticate(request)
    if isinstance(tok, Response):
        return tok
    sim = sim_of(request)
    job = sim.bulk_writes.jobs.get(request.path_params["job_id"])
    if job is None or job.archive is None or request.path_params["zgid"] != zgid():
        return error(404, "RESOURCE_NOT_FOUND", "the requested resource is not found", {})
    return Response(
        job.archive,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{job.id}.zip"'},
    )
