"""Read endpoints: list records (page / page_token / If-Modified-Since), one record, deleted, search, COQL.

Behaviour per fact sheet §2, §4-6: ``fields`` mandatory from v3 (≤ 50); ``per_page`` ≤ 200; ``page`` XOR
``page_token``; page numbers stop at 2,000 records (400 ``DISCRETE_PAGINATION_LIMIT_EXCEEDED``), ``next_page_token``
continues (keyset, user-specific, 24 h); ``If-Modified-Since`` is inclusive and answers 304 when nothing changed;
204 when there are no records at all. Page tokens are keyset positions, so a chain never skips or repeats a record
while others write.
"""

from __future__ import annotations

import base64
import bisect
import json
import re
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from crmhub_zoho.simulator.oauth import AccessToken
from crmhub_zoho.simulator.query import QueryError, parse_coql, parse_criteria
from crmhub_zoho.simulator.responses import JSON_TYPE, dumps, empty, error, invalid_token, ok
from crmhub_zoho.simulator.seed import SYSTEM_KEYS, zoho_time
from crmhub_zoho.simulator.store import Key, ModuleStore, page_of

if TYPE_CHECKING:
    from crmhub_zoho.simulator.state import ZohoSimulator

SORTABLE = ("id", "Created_Time", "Modified_Time")
_DOLLAR = tuple(SYSTEM_KEYS)


def sim_of(request: Request) -> ZohoSimulator:
    """The simulator behind this request."""
    sim: ZohoSimulator = request.app.state.sim
    return sim


def authenticate(request: Request) -> AccessToken | Response:
    """The caller's access token, or the 401 ``INVALID_TOKEN`` answer (``Bearer`` is not accepted)."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme != "Zoho-oauthtoken" or not value.strip():
        return invalid_token()
    tok = sim_of(request).oauth.lookup(value.strip())
    return tok if tok is not None else invalid_token()


def version_major(request: Request) -> int:
    """3 for ``v3``, 2 for ``v2.1`` …"""
    m = re.match(r"v(\d+)", request.path_params.get("ver", "v8"))
    return int(m.group(1)) if m else 8


def store_of(request: Request) -> ModuleStore | Response:
    """The module store named in the path, or 400 ``INVALID_MODULE``."""
    sim = sim_of(request)
    module = sim.module_def(request.path_params["module"])
    if module is None:
        return error(400, "INVALID_MODULE", "the module name given seems to be invalid", {"resource_path_index": 0})
    return sim.modules[module.api_name]


def parse_fields(raw: str | None, store: ModuleStore, *, required: bool) -> list[str] | Response | None:
    """The ``fields`` parameter: mandatory from v3, at most 50 names; unknown names are ignored (UNCONFIRMED)."""
    if raw is None or not raw.strip():
        if required:
            return error(400, "REQUIRED_PARAM_MISSING", "One of the expected parameter is missing", {"param": "fields"})
        return None
    names = [n.strip() for n in raw.split(",") if n.strip()]
    if len(names) > 50:
        return error(400, "LIMIT_EXCEEDED", "fields limit exceeded", {"param": "fields", "limit": 50})
    return [n for n in names if n in store.module.by_name and n != "id"]


def project(rec: dict[str, Any], fields: list[str] | None) -> dict[str, Any]:
    """The record as the API returns it for these ``fields`` (id and ``$`` keys always present)."""
    if fields is None:
        return dict(rec)
    out = {"id": rec["id"]}
    for name in fields:
        out[name] = rec.get(name)
    for key in _DOLLAR:
        out[key] = rec.get(key)
    return out


def since_header(request: Request) -> int | Response | None:
    """``If-Modified-Since`` as epoch seconds (ISO 8601 with offset), or 400 when unreadable."""
    raw = request.headers.get("if-modified-since")
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        return error(
            400,
            "INVALID_DATA",
            "invalid If-Modified-Since header",
            {"header": "If-Modified-Since", "expected_data_type": "datetime"},
        )
    if value.tzinfo is None:
        return error(400, "INVALID_DATA", "If-Modified-Since needs an offset", {"header": "If-Modified-Since"})
    return int(value.timestamp())


def _int_param(request: Request, name: str, default: int, lo: int, hi: int) -> int | Response:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        return error(400, "INVALID_DATA", "invalid data", {"param": name, "expected_data_type": "integer"})
    if not lo <= value <= hi:
        return error(
            400, "INVALID_DATA", f"{name} must be between {lo} and {hi}", {"param": name, "minimum": lo, "maximum": hi}
        )
    return value


# --- page tokens ----------------------------------------------------------------------------------------------


def make_token(sim: ZohoSimulator, query: tuple[Any, ...], key: Key, pos: int, user: str) -> tuple[str, str]:
    """An opaque page token and its expiry text."""
    expiry = sim.epoch_now() + sim.settings["page_token_ttl"]
    payload = json.dumps([list(query), list(key), pos, user, int(expiry)], separators=(",", ":")).encode()
    text = base64.urlsafe_b64encode(payload).decode().rstrip("=")
    return f"{text}.{sim.page_signature(payload)}", zoho_time(datetime.fromtimestamp(expiry).astimezone())


def read_token(sim: ZohoSimulator, token: str, query: tuple[Any, ...], user: str) -> tuple[Key, int] | Response:
    """(keyset key, position) of a valid token for this query and user, else a 400 answer."""
    body, _, sig = token.partition(".")
    try:
        payload = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        q, key, pos, owner, expiry = json.loads(payload)
    except (ValueError, TypeError):
        return error(400, "INVALID_DATA", "the page_token given seems to be invalid", {"param": "page_token"})
    if sim.page_signature(payload) != sig or q != list(query):
        return error(400, "INVALID_DATA", "the page_token given seems to be invalid", {"param": "page_token"})
    if owner != user:
        return error(400, "INVALID_DATA", "the page_token belongs to another user", {"param": "page_token"})
    if expiry <= sim.epoch_now():
        return error(400, "INVALID_DATA", "the page_token has expired", {"param": "page_token", "expired": True})
    return (int(key[0]), int(key[1]), str(key[2])), int(pos)


# --- handlers -------------------------------------------------------------------------------------------------


async def list_records(request: Request) -> Response:
    """``GET /crm/{v}/{module}``."""
    tok = authenticate(request)
    if isinstance(tok, Response):
        return tok
    store = store_of(request)
    if isinstance(store, Response):
        return store
    sim = sim_of(request)
    q = request.query_params
    fields = parse_fields(q.get("fields"), store, required=version_major(request) >= 3)
    if isinstance(fields, Response):
        return fields
    per_page = _int_param(request, "per_page", 200, 1, 200)
    if isinstance(per_page, Response):
        return per_page
    if q.get("ids"):
        ids = [i.strip() for i in q["ids"].split(",") if i.strip()]
        if len(ids) > 100:
            return error(400, "LIMIT_EXCEEDED", "ids limit exceeded", {"param": "ids", "limit": 100})
        found = [project(store.records[i], fields) for i in ids if i in store.records]
        if not found:
            return empty(204)
        return ok(
            {"data": found, "info": {"per_page": per_page, "count": len(found), "page": 1, "more_records": False}}
        )
    if "page" in q and "page_token" in q:
        return error(400, "INVALID_DATA", "page and page_token cannot be used together", {"param": "page_token"})
    sort_by = q.get("sort_by", "id")
    if sort_by not in SORTABLE:
        return error(400, "INVALID_DATA", "invalid data", {"param": "sort_by", "supported_values": list(SORTABLE)})
    if sort_by != "id" and q.get("cvid"):
        return error(400, "INVALID_DATA", "sort_by cannot be used with cvid", {"param": "sort_by"})
    sort_order = q.get("sort_order", "desc")
    if sort_order not in ("asc", "desc"):
        return error(400, "INVALID_DATA", "invalid data", {"param": "sort_order", "supported_values": ["asc", "desc"]})
    since = since_header(request)
    if isinstance(since, Response):
        return since
    if len(store) == 0:
        return empty(204)
    latest = store.latest_modified()
    if since is not None and (latest is None or latest < since):
        return empty(304)
    entries = store.ordered(sort_by, since)
    descending = sort_order == "desc"
    query = (store.module.api_name, sort_by, sort_order, since)
    if "page_token" in q:
        decoded = read_token(sim, q["page_token"], query, tok.user_id)
        if isinstance(decoded, Response):
            return decoded
        after, pos = decoded
        if pos >= sim.settings["page_token_limit"]:
            return error(
                400,
                "LIMIT_REACHED",
                "page_token reaches at most the first records of a query",
                {"limit": sim.settings["page_token_limit"]},
            )
        page_entries, more = page_of(entries, descending, after=after, count=per_page)
        page_no = pos // per_page + 1
    else:
        page = _int_param(request, "page", 1, 1, 10**6)
        if isinstance(page, Response):
            return page
        pos = (page - 1) * per_page
        wall = sim.settings["page_wall"]
        if pos + per_page > wall:
            return error(
                400,
                "DISCRETE_PAGINATION_LIMIT_EXCEEDED",
                f"You can only get the first {wall} records without using page_token param",
                {"limit": wall},
            )
        page_entries, more = page_of(entries, descending, offset=pos, count=per_page)
        page_no = page
    if not page_entries:
        return empty(204)
    next_token, expiry = (
        make_token(sim, query, page_entries[-1], pos + len(page_entries), tok.user_id) if more else (None, None)
    )
    info = {
        "per_page": per_page,
        "next_page_token": next_token,
        "count": len(page_entries),
        "sort_by": sort_by,
        "page": page_no,
        "previous_page_token": None,
        "page_token_expiry": expiry,
        "sort_order": sort_order,
        "email": False,
        "more_records": more,
        "call": False,
    }
    return Response(encoded_page(store, [e[2] for e in page_entries], fields, info), media_type=JSON_TYPE)


def encoded_page(store: ModuleStore, ids: list[str], fields: list[str] | None, info: dict[str, Any]) -> bytes:
    """``{"data": [...], "info": {...}}``; each record's JSON is rendered once per ``fields`` list and kept until
    the record changes, so serving a page costs string joins (clients ask for the same fields page after page)."""
    key = tuple(fields) if fields is not None else None
    rendered = store.rendered
    parts = []
    for rid in ids:
        hit = rendered.get(rid)
        if hit is None or hit[0] != key:
            text = dumps(project(store.records[rid], fields)).decode()
            rendered[rid] = (key, text)
            parts.append(text)
        else:
            parts.append(hit[1])
    return ('{"data":[' + ",".join(parts) + '],"info":' + json.dumps(info, separators=(",", ":")) + "}").encode()


async def get_record(request: Request) -> Response:
    """``GET /crm/{v}/{module}/{id}``."""
    tok = authenticate(request)
    if isinstance(tok, Response):
        return tok
    store = store_of(request)
    if isinstance(store, Response):
        return store
    rec = store.records.get(request.path_params["record_id"])
    if rec is None:
        return empty(204)
    fields = parse_fields(request.query_params.get("fields"), store, required=False)
    return ok({"data": [project(rec, fields if isinstance(fields, list) else None)]})


async def deleted_records(request: Request) -> Response:
    """``GET /crm/{v}/{module}/deleted?type=all|recycle|permanent``, newest first (order UNCONFIRMED)."""
    tok = authenticate(request)
    if isinstance(tok, Response):
        return tok
    store = store_of(request)
    if isinstance(store, Response):
        return store
    kind = request.query_params.get("type", "all")
    if kind not in ("all", "recycle", "permanent"):
        return error(
            400, "INVALID_DATA", "invalid data", {"param": "type", "supported_values": ["all", "recycle", "permanent"]}
        )
    per_page = _int_param(request, "per_page", 200, 1, 200)
    page = _int_param(request, "page", 1, 1, 10**6)
    since = since_header(request)
    for value in (per_page, page, since):
        if isinstance(value, Response):
            return value
    assert isinstance(per_page, int) and isinstance(page, int) and not isinstance(since, Response)
    if not store.tombstones:
        return empty(204)
    rows = [t for t in store.tombstones if kind == "all" or t[2]["type"] == kind]
    if since is not None:
        rows = [t for t in rows if t[0] >= since]
        if not rows:
            return empty(304)
    rows.reverse()
    chunk = rows[(page - 1) * per_page : page * per_page]
    if not chunk:
        return empty(204)
    more = page * per_page < len(rows)
    return ok(
        {
            "data": [t[2] for t in chunk],
            "info": {"per_page": per_page, "count": len(chunk), "page": page, "more_records": more},
        }
    )


async def search_records(request: Request) -> Response:
    """``GET /crm/{v}/{module}/search``: criteria / email / phone / word; at most 2,000 results in all."""
    tok = authenticate(request)
    if isinstance(tok, Response):
        return tok
    store = store_of(request)
    if isinstance(store, Response):
        return store
    sim = sim_of(request)
    q = request.query_params
    per_page = _int_param(request, "per_page", 200, 1, 200)
    page = _int_param(request, "page", 1, 1, 10**6)
    for value in (per_page, page):
        if isinstance(value, Response):
            return value
    assert isinstance(per_page, int) and isinstance(page, int)
    fields = parse_fields(q.get("fields"), store, required=False)
    if isinstance(fields, Response):
        return fields
    try:
        if q.get("criteria"):
            pred = parse_criteria(q["criteria"], store.module)
        elif q.get("email"):
            needle = q["email"].casefold()
            emails = [f.api_name for f in store.module.fields if f.data_type == "email"]
            pred = lambda r: any((r.get(f) or "").casefold() == needle for f in emails)  # noqa: E731
        elif q.get("phone"):
            digits = re.sub(r"\D", "", q["phone"])
            phones = [f.api_name for f in store.module.fields if f.data_type == "phone"]
            pred = lambda r: any(digits and digits in re.sub(r"\D", "", r.get(f) or "") for f in phones)  # noqa: E731
        elif q.get("word"):
            from crmhub_zoho.simulator.query import word_match

            word = q["word"]
            texts = [f.api_name for f in store.module.fields if f.data_type in ("text", "email", "phone", "website")]
            pred = lambda r: any(isinstance(r.get(f), str) and word_match(r[f], word) for f in texts)  # noqa: E731
        else:
            return error(
                400, "REQUIRED_PARAM_MISSING", "One of the expected parameter is missing", {"param": "criteria"}
            )
    except QueryError as exc:
        return error(400, exc.code, str(exc), exc.details)
    cap = sim.settings["search_cap"]
    offset = (page - 1) * per_page
    if offset + per_page > cap:
        return error(400, "LIMIT_REACHED", f"search returns at most {cap} records", {"limit": cap})
    records = store.records
    matches: list[dict[str, Any]] = []
    for _, _, rid in store.by_id:
        if pred(records[rid]):
            matches.append(records[rid])
            if len(matches) > offset + per_page:
                break
    chunk = matches[offset : offset + per_page]
    if not chunk:
        return empty(204)
    return ok(
        {
            "data": [project(r, fields) for r in chunk],
            "info": {
                "per_page": per_page,
                "count": len(chunk),
                "page": page,
                "more_records": len(matches) > offset + per_page,
            },
        }
    )


def _coql_value(rec: dict[str, Any], name: str) -> Any:
    base, _, sub = name.partition(".")
    value = rec.get(base)
    if isinstance(value, dict):
        return value.get(sub) if sub else {"id": value.get("id")}
    return value


async def coql(request: Request) -> Response:
    """``POST /crm/{v}/coql`` with ``{"select_query": …}``."""
    tok = authenticate(request)
    if isinstance(tok, Response):
        return tok
    sim = sim_of(request)
    try:
        body = json.loads(await request.body() or b"{}")
        text = body["select_query"]
    except (ValueError, KeyError, TypeError):
        return error(400, "INVALID_DATA", "select_query is missing", {"api_name": "select_query"})
    try:
        query = parse_coql(text, {name: store.module for name, store in sim.modules.items()})
    except QueryError as exc:
        return error(400, exc.code, str(exc), exc.details)
    store = sim.modules[query.module.api_name]
    records = store.records
    order = query.order or [("id", False)]
    floor = (
        0
        if query.modified_floor is None
        else bisect.bisect_left(store.by_modified, (int(query.modified_floor), -1, ""))
    )
    if query.floor_only and query.aggregates == [("COUNT", "id")]:
        return ok(
            {"data": [{"COUNT(id)": len(store.by_modified) - floor}], "info": {"count": 1, "more_records": False}}
        )
    candidates: Sequence[Key]  # a slice (list) of the modified index, or the id index itself
    if order in ([("Modified_Time", False)], [("Modified_Time", False), ("id", False)]):
        candidates, presorted = store.by_modified[floor:], True
    elif order == [("id", False)]:
        candidates, presorted = store.by_id, True
    else:
        candidates, presorted = (store.by_modified[floor:] if floor else store.by_id), False
    if query.floor_only and presorted and candidates is not store.by_id and not query.aggregates:
        # where is exactly ``Modified_Time >= t``: the index slice is the answer, no predicate to evaluate
        chunk_keys = candidates[query.offset : query.offset + query.limit]
        if not chunk_keys:
            return empty(204)
        data = [
            {"id": rid, **{n: _coql_value(records[rid], n) for n in query.fields if n != "id"}}
            for _, _, rid in chunk_keys
        ]
        return ok(
            {"data": data, "info": {"count": len(data), "more_records": len(candidates) > query.offset + query.limit}}
        )
    early_stop = presorted and not query.aggregates
    where = query.where
    want = query.offset + query.limit + 1
    matches: list[dict[str, Any]] = []
    for _, _, rid in candidates:
        rec = records[rid]
        if where is None or where(rec):
            matches.append(rec)
            if early_stop and len(matches) >= want:
                break
    if query.aggregates:
        row: dict[str, Any] = {}
        for fn, name in query.aggregates:
            values = [v for r in matches if (v := _coql_value(r, name)) is not None]
            nums = [float(v) for v in values if isinstance(v, (int, float))]
            row[f"{fn}({name})"] = {
                "COUNT": len(values),
                "MAX": max(nums, default=None),
                "MIN": min(nums, default=None),
                "SUM": sum(nums),
                "AVG": sum(nums) / len(nums) if nums else None,
            }[fn]
        return ok({"data": [row], "info": {"count": 1, "more_records": False}})
    if not presorted:
        for name, descending in reversed(order):
            matches.sort(key=lambda r, n=name: _sort_key(r, n), reverse=descending)  # type: ignore[misc]
    chunk = matches[query.offset : query.offset + query.limit]
    if not chunk:
        return empty(204)
    data = [{"id": r["id"], **{n: _coql_value(r, n) for n in query.fields if n != "id"}} for r in chunk]
    return ok({"data": data, "info": {"count": len(data), "more_records": len(matches) > query.offset + query.limit}})


def _sort_key(rec: dict[str, Any], name: str) -> tuple[int, Any]:
    value = rec.get(name)
    if name == "id":
        return (0, int(rec["id"]))
    if value is None:
        return (1, "")
    if isinstance(value, dict):
        return (0, str(value.get("name") or value.get("id")))
    return (0, value)
