"""Write endpoints: insert, update, upsert and delete, answered record by record in request order.

Per fact sheet §3: ≤ 100 records per call; each answer has ``code/details/message/status``; upsert adds ``action``
and ``duplicate_field``; lookups are written as ``{"id": …}`` and read back as ``{name, id}`` (owners add email);
``INVALID_DATA`` names ``api_name``, ``json_path`` and ``expected_data_type``; ``DUPLICATE_DATA`` carries the
``duplicate_record``; ``MANDATORY_NOT_FOUND`` the missing field. 201 when every insert succeeded, 207 when some
failed; update/upsert all-success and all-failed statuses are settings (UNCONFIRMED).
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from crmhub_zoho.simulator.fields import FieldDef
from crmhub_zoho.simulator.records import authenticate, sim_of, store_of
from crmhub_zoho.simulator.responses import error, ok
from crmhub_zoho.simulator.seed import SYSTEM_KEYS, split_name
from crmhub_zoho.simulator.store import ModuleStore

if TYPE_CHECKING:
    from crmhub_zoho.simulator.state import ZohoSimulator

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class RecordFailure(Exception):
    """One record's error answer."""

    def __init__(self, code: str, message: str, details: dict[str, Any]) -> None:
        super().__init__(message)
        self.answer: dict[str, Any] = {"code": code, "details": details, "message": message, "status": "error"}


def _invalid(fd: FieldDef, path: str, **extra: Any) -> RecordFailure:
    return RecordFailure(
        "INVALID_DATA",
        "invalid data",
        {"expected_data_type": fd.data_type, "api_name": fd.api_name, "json_path": path, **extra},
    )


def check_value(sim: ZohoSimulator, fd: FieldDef, value: Any, path: str) -> Any:
    """The stored form of ``value`` for field ``fd``, or raise `RecordFailure` (``INVALID_DATA``)."""
    if value is None:
        return None
    t = fd.data_type
    if t in ("text", "textarea", "phone", "website", "picklist", "email", "autonumber"):
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise _invalid(fd, path)
        text = str(value)
        if len(text) > fd.length:
            raise _invalid(fd, path, maximum_length=fd.length)
        if t == "email" and text and not _EMAIL.match(text):
            raise _invalid(fd, path)
        return text
    if t == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            raise _invalid(fd, path)
        return value
    if t in ("double", "currency"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _invalid(fd, path)
        return float(value)
    if t == "boolean":
        if not isinstance(value, bool):
            raise _invalid(fd, path)
        return value
    if t == "date":
        try:
            return date.fromisoformat(str(value)).isoformat()
        except ValueError:
            raise _invalid(fd, path) from None
    if t == "datetime":
        try:
            parsed = datetime.fromisoformat(str(value))
        except ValueError:
            raise _invalid(fd, path) from None
        if parsed.tzinfo is None:
            raise _invalid(fd, path)
        return str(value)
    if t in ("lookup", "ownerlookup"):
        if not isinstance(value, dict) or not value.get("id"):
            raise _invalid(fd, path)
        ref = str(value["id"])
        if t == "ownerlookup":
            if ref not in sim.users:
                raise RecordFailure(
                    "INVALID_DATA",
                    "the id given seems to be invalid",
                    {"api_name": fd.api_name, "json_path": path + ".id", "expected_data_type": "ownerlookup"},
                )
            return sim.user_json(ref)
        target = sim.modules.get(fd.lookup_module or "")
        rec = target.records.get(ref) if target is not None else None
        if rec is None:
            raise RecordFailure(
                "INVALID_DATA",
                "the related id given seems to be invalid",
                {"api_name": fd.api_name, "json_path": path + ".id", "expected_data_type": "lookup"},
            )
        label = rec.get("Account_Name") if fd.lookup_module == "Accounts" else rec.get("Full_Name")
        return {"name": label, "id": ref}
    return value


def _clean(sim: ZohoSimulator, store: ModuleStore, item: dict[str, Any], idx: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in item.items():
        fd = store.module.by_name.get(name)
        if fd is None or fd.read_only:
            continue
        out[name] = check_value(sim, fd, value, f"$.data[{idx}].{name}")
    return out


def _check_unique(store: ModuleStore, values: dict[str, Any], idx: int, self_id: str | None) -> None:
    for name in store.module.unique_fields:
        if name not in values:
            continue
        others = store.find_duplicates(name, values[name]) - ({self_id} if self_id else set())
        if others:
            other = store.records[min(others)]
            raise RecordFailure(
                "DUPLICATE_DATA",
                "duplicate data",
                {
                    "api_name": name,
                    "json_path": f"$.data[{idx}].{name}",
                    "duplicate_record": {
                        "id": other["id"],
                        "module": {"api_name": store.module.api_name, "id": "4970762000000002175"},
                        "Owner": other.get("Owner"),
                    },
                },
            )


def _full_name(rec: dict[str, Any]) -> None:
    first, last = rec.get("First_Name"), rec.get("Last_Name")
    if last is None:
        return
    cjk = bool(first) and split_name(f"{last}{first}")[0] is not None and " " not in f"{last}{first}"
    rec["Full_Name"] = f"{last}{first}" if cjk else " ".join(p for p in (first, last) if p)


def _success(
    sim: ZohoSimulator, rec: dict[str, Any], inserted: bool, upsert: bool, dup_field: str | None
) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "code": "SUCCESS",
        "details": {
            "Modified_Time": rec["Modified_Time"],
            "Modified_By": {"name": rec["Modified_By"]["name"], "id": rec["Modified_By"]["id"]},
            "Created_Time": rec["Created_Time"],
            "id": rec["id"],
            "Created_By": {"name": rec["Created_By"]["name"], "id": rec["Created_By"]["id"]},
            "$approval_state": "approved",
        },
        "message": "record added" if inserted else "record updated",
        "status": "success",
    }
    if upsert:
        answer["action"] = "insert" if inserted else "update"
        answer["duplicate_field"] = dup_field
    return answer


def apply_one(
    sim: ZohoSimulator, store: ModuleStore, item: Any, idx: int, mode: str, dup_fields: list[str], user_id: str
) -> dict[str, Any]:
    """Insert, update or upsert one record; its answer."""
    if not isinstance(item, dict):
        raise RecordFailure(
            "INVALID_DATA", "invalid data", {"json_path": f"$.data[{idx}]", "expected_data_type": "jsonobject"}
        )
    target: str | None = None
    dup_field: str | None = None
    rid = str(item["id"]) if item.get("id") is not None else None
    if mode == "update" or (mode == "upsert" and rid):
        if rid is None or rid not in store.records:
            raise RecordFailure(
                "INVALID_DATA", "the id given seems to be invalid", {"api_name": "id", "json_path": f"$.data[{idx}].id"}
            )
        target = rid
    elif mode == "upsert":
        for name in dup_fields:
            found = store.find_duplicates(name, item.get(name))
            if found:
                target, dup_field = min(found), name
                break
    values = _clean(sim, store, item, idx)
    now = sim.now_text()
    if target is None:
        for name in store.module.mandatory:
            if values.get(name) in (None, ""):
                raise RecordFailure(
                    "MANDATORY_NOT_FOUND",
                    "required field not found",
                    {"api_name": name, "json_path": f"$.data[{idx}].{name}"},
                )
        _check_unique(store, values, idx, None)
        rec: dict[str, Any] = dict.fromkeys(store.module.by_name)
        rec.update(
            {
                "id": sim.new_id(),
                "Owner": sim.user_json(user_id),
                "Created_By": sim.user_json(user_id),
                "Created_Time": now,
                "Currency": "CNY",
                "Exchange_Rate": 1.0,
                "Tag": [],
                "Record_Status__s": "Available",
                "Locked__s": False,
                **SYSTEM_KEYS,
            }
        )
        rec.update(values)
    else:
        _check_unique(store, values, idx, target)
        rec = dict(store.records[target])
        rec.update(values)
    if store.module.api_name == "Contacts":
        _full_name(rec)
    sim.touch(rec, user_id)
    store.put(rec)
    return _success(sim, rec, target is None, mode == "upsert", dup_field)


async def write_records(request: Request) -> Response:
    """``POST /{module}`` (insert), ``PUT /{module}`` (update), ``POST /{module}/upsert``, ``PUT /{module}/{id}``."""
    tok = authenticate(request)
    if isinstance(tok, Response):
        return tok
    store = store_of(request)
    if isinstance(store, Response):
        return store
    sim = sim_of(request)
    path = request.url.path
    mode = "upsert" if path.endswith("/upsert") else ("insert" if request.method == "POST" else "update")
    try:
        body = json.loads(await request.body() or b"null")
    except ValueError:
        return error(400, "INVALID_DATA", "body is not valid JSON", {})
    items = body.get("data") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items:
        return error(
            400, "MANDATORY_NOT_FOUND", "required field not found", {"api_name": "data", "json_path": "$.data"}
        )
    record_id = request.path_params.get("record_id")
    if record_id is not None:
        items = [{**items[0], "id": record_id}] if isinstance(items[0], dict) else items[:1]
    if len(items) > sim.settings["write_limit"]:
        return error(
            400, "LIMIT_EXCEEDED", "the number of records exceeded the limit", {"limit": sim.settings["write_limit"]}
        )
    module = store.module
    dup_fields = list(module.system_duplicate_fields + module.unique_fields)
    if mode == "upsert" and body.get("duplicate_check_fields") is not None:
        dup_fields = list(body["duplicate_check_fields"])
        for name in dup_fields:
            if name not in module.system_duplicate_fields and name not in module.unique_fields:
                return error(
                    400,
                    "INVALID_DATA",
                    "the field given is not a unique or duplicate-check field",
                    {"api_name": name, "json_path": "$.duplicate_check_fields"},
                )
    answers: list[dict[str, Any]] = []
    for idx, item in enumerate(items):
        try:
            answers.append(apply_one(sim, store, item, idx, mode, dup_fields, tok.user_id))
        except RecordFailure as failure:
            answers.append(failure.answer)
    request.scope["zoho.note"] = f"{mode} {len(items)}"
    ok_count = sum(1 for a in answers if a["status"] == "success")
    if ok_count == len(answers):
        status = 201 if mode == "insert" else sim.settings["update_success_status"]
    elif ok_count == 0:
        status = sim.settings["all_failed_status"]
    else:
        status = 207
    return ok({"data": answers}, status)


async def delete_records(request: Request) -> Response:
    """``DELETE /{module}?ids=a,b`` or ``/{module}/{id}``: records go to the recycle bin."""
    tok = authenticate(request)
    if isinstance(tok, Response):
        return tok
    store = store_of(request)
    if isinstance(store, Response):
        return store
    sim = sim_of(request)
    one = request.path_params.get("record_id")
    ids = [one] if one else [i.strip() for i in request.query_params.get("ids", "").split(",") if i.strip()]
    if not ids:
        return error(400, "REQUIRED_PARAM_MISSING", "One of the expected parameter is missing", {"param": "ids"})
    if len(ids) > 100:
        return error(400, "LIMIT_EXCEEDED", "ids limit exceeded", {"param": "ids", "limit": 100})
    answers = []
    now_text, now_epoch = sim.now_text(), int(sim.epoch_now())
    for rid in ids:
        rec = store.records.get(rid)
        if rec is None:
            answers.append(
                {"code": "INVALID_DATA", "details": {"id": rid}, "message": "record not deleted", "status": "error"}
            )
            continue
        label = rec.get("Account_Name") if store.module.api_name == "Accounts" else rec.get("Full_Name")
        creator = rec.get("Created_By") or sim.user_json(sim.admin.user_id)
        tombstone = {
            "deleted_by": sim.user_json(tok.user_id, email=False),
            "id": rid,
            "display_name": label,
            "type": "recycle",
            "created_by": {"name": creator.get("name"), "id": creator.get("id")},
            "deleted_time": now_text,
        }
        store.remove(rid, tombstone, now_epoch)
        answers.append({"code": "SUCCESS", "details": {"id": rid}, "message": "record deleted", "status": "success"})
    ok_count = sum(1 for a in answers if a["status"] == "success")
    status = 200 if ok_count == len(answers) else (207 if ok_count else 400)
    return ok({"data": answers}, status)
