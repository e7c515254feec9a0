"""Bulk Write write-back: the connector against the simulator over loopback HTTP, and edge cases with respx."""

from __future__ import annotations

import asyncio
import csv
import io
import zipfile
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
import respx
from zoho_helpers import ZohoServer, api, connector_for, log_settled, sim_of

from crmhub.contract import OutboundRecord, PluginContext
from crmhub.model import CorporateClient, Rating, RiskSummary, Segment
from crmhub.model.uscc import make
from crmhub_zoho.config import ZohoConfig
from crmhub_zoho.connector import ZohoConnector
from crmhub_zoho.plugin import _config

BULK = {"bulk_threshold": 10, "bulk_poll_interval": 0.01, "bulk_poll_max": 0.02, "fields": ["name", "uscc", "risk"]}


def _risk(rating: Rating = Rating.A) -> RiskSummary:
    return RiskSummary(
        rating=rating, score=Decimal(700), segment=Segment.LOW, assessed_at=datetime(2026, 1, 1, tzinfo=UTC)
    )


def _new(i: int, name: str | None = None) -> OutboundRecord:
    data = CorporateClient(name=name or f"批量客户{i}有限公司", uscc=make("91440300", f"BW{i:06d}"), risk=_risk())
    return OutboundRecord(key=f"new{i}", data=data, fields=("name", "uscc", "risk"))


def _known(rec: dict[str, Any], key: str, *, source_id: str | None = None, name: str | None = None) -> OutboundRecord:
    data = CorporateClient(name=name or rec["Account_Name"], risk=_risk(Rating.AA))
    return OutboundRecord(key=key, source_id=source_id or rec["id"], data=data, fields=("name", "risk"))


def _posts(server: Any, suffix: str) -> list[dict[str, Any]]:
    return [e for e in sim_of(server).log if e["method"] == "POST" and e["path"].endswith(suffix)]


async def test_bulk_write_updates_and_upserts_with_per_record_results(zoho_server: ZohoServer) -> None:
    server = zoho_server(30, contacts=0)
    sim = sim_of(server)
    store = sim.modules["Accounts"]
    existing = [store.records[e[2]] for e in store.by_id][:20]
    before = {r["id"]: r["Modified_Time"] for r in existing}
    sim.advance += 5  # so the bulk write's Modified_Time is later than the seed's
    records = [_known(r, f"old{i}") for i, r in enumerate(existing)]
    records[3] = _known(existing[3], "old3", source_id="4970762000999999999")  # no such record
    records[5] = _known(existing[5], "old5", name="名" * 201)  # longer than Account_Name allows
    records += [_new(i) for i in range(15)]
    async with connector_for(server, write_back=BULK) as conn:
        assert conn.push_batch_size == 10_000
        results = await conn.push("accounts", records)
    assert [r.key for r in results] == [r.key for r in records]
    log_settled(server, lambda log: sum(e["path"] == "/crm/bulk/v8/write" for e in log) >= 2)
    assert len(_posts(server, "/crm/v8/upload")) == 2  # one file per operation
    assert len(_posts(server, "/crm/bulk/v8/write")) == 2
    assert not _posts(server, "/upsert") and not [e for e in sim.log if e["method"] == "PUT"]
    missing, too_long = results[3], results[5]
    assert missing.status == "error" and (missing.reason or "").startswith("RESOURCE_NOT_FOUND")
    assert not missing.retriable
    assert too_long.status == "error" and "INVALID_DATA" in (too_long.reason or "") and too_long.field == "name"
    for i, res in enumerate(results[:20]):
        if i in (3, 5):
            continue
        assert res.status == "ok" and res.action == "update" and res.source_id == existing[i]["id"]
        stored = store.records[existing[i]["id"]]
        assert stored["Risk_Rating"] == "AA" and stored["Modified_Time"] > before[stored["id"]]
    assert store.records[existing[5]["id"]]["Risk_Rating"] == existing[5]["Risk_Rating"]  # skipped row untouched
    for res, rec in zip(results[20:], records[20:], strict=True):
        assert res.status == "ok" and res.action == "insert"
        stored = store.records[str(res.source_id)]
        assert stored["USCC"] == rec.data.uscc and stored["Risk_Segment"] == "低风险"  # type: ignore[union-attr]
    assert len(store) == 30 + 15
    jobs = list(sim.bulk_writes.jobs.values())
    assert sorted(j.operation for j in jobs) == ["update", "upsert"]
    upd = next(j for j in jobs if j.operation == "update")
    assert upd.counts == {"added_count": 0, "updated_count": 18, "skipped_count": 2, "total_count": 20}
    assert sim.credits_used >= 2 * 500


async def test_small_push_stays_on_the_record_api(zoho_server: ZohoServer) -> None:
    server = zoho_server(2, contacts=0)
    async with connector_for(server, write_back=BULK) as conn:
        results = await conn.push("accounts", [_new(i) for i in range(9)])
    assert all(r.status == "ok" for r in results)
    log_settled(server, lambda log: any(e["path"].endswith("/upsert") for e in log))
    assert not _posts(server, "/crm/v8/upload") and len(_posts(server, "/upsert")) == 1


async def test_large_sets_are_split_into_files_of_the_configured_size(zoho_server: ZohoServer) -> None:
    server = zoho_server(0, contacts=0)
    async with connector_for(server, write_back={**BULK, "bulk_file_records": 12}) as conn:
        results = await conn.push("accounts", [_new(i) for i in range(30)])
    assert [r.key for r in results] == [f"new{i}" for i in range(30)]
    assert all(r.status == "ok" and r.action == "insert" for r in results)
    # 12 + 12 through two jobs, the last 6 (below the threshold) through one upsert call
    log_settled(server, lambda log: any(e["path"].endswith("/upsert") for e in log))
    assert len(_posts(server, "/crm/bulk/v8/write")) == 2 and len(_posts(server, "/upsert")) == 1
    assert len(sim_of(server).modules["Accounts"]) == 30


class _CrashOnResult(httpx.AsyncBaseTransport):
    """Lets the jobs run, then dies when a result file is fetched (the process was killed there), once every job
    of the push has completed at Zoho."""

    def __init__(self, sim: Any, jobs: int) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.sim = sim
        self.jobs = jobs

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if "/bulk-write/" in request.url.path:
            for _ in range(500):
                done = [j for j in self.sim.bulk_writes.jobs.values() if j.status == "COMPLETED"]
                if len(done) >= self.jobs:
                    break
                await asyncio.sleep(0.01)
            raise _Killed
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


class _Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs."""


async def test_resent_after_a_lost_result_applies_once(zoho_server: ZohoServer) -> None:
    server = zoho_server(12, contacts=0)
    store = sim_of(server).modules["Accounts"]
    existing = [store.records[e[2]] for e in store.by_id]
    records = [_known(r, f"old{i}") for i, r in enumerate(existing)] + [_new(i) for i in range(12)]
    cfg = ZohoConfig.model_validate({**_config(server.url), "base_delay": 0.02, "write_back": BULK})
    crashing = ZohoConnector(cfg, PluginContext(name="zoho"), transport=_CrashOnResult(sim_of(server), 2))
    with pytest.raises(_Killed):
        async with crashing:
            await crashing.push("accounts", records)
    assert len(store) == 24  # the jobs ran at Zoho; their answers were lost
    async with connector_for(server, write_back=BULK) as conn:
        results = await conn.push("accounts", records)
    assert all(r.status == "ok" for r in results)
    assert [r.action for r in results] == ["update"] * 24  # the re-sent upserts found the first job's records
    assert len(store) == 24
    for rec in records[12:]:
        assert len(store.find_duplicates("USCC", rec.data.uscc)) == 1  # type: ignore[union-attr]


def test_simulator_rejects_bad_uploads_and_unknown_jobs(zoho_server: ZohoServer) -> None:
    server = zoho_server(1, contacts=0)
    headers = {"feature": "bulk-write"}
    with api(server) as http:
        zgid = http.get("/crm/v8/org").json()["org"][0]["zgid"]
        headers["X-CRM-ORG"] = zgid
        good = _zip("Accounts.csv", "id,Risk_Rating\n1,A\n")
        assert http.post("/crm/v8/upload", files={"file": ("a.zip", good)}).status_code == 400  # no feature header
        wrong_org = {**headers, "X-CRM-ORG": "123"}
        assert http.post("/crm/v8/upload", headers=wrong_org, files={"file": ("a.zip", good)}).status_code == 400
        not_zip = http.post("/crm/v8/upload", headers=headers, files={"file": ("a.zip", b"id\n1\n")})
        assert not_zip.status_code == 400 and not_zip.json()["code"] == "INVALID_FILE"
        big = _zip("A.csv", "Account_Name\n" + "x\n" * 25_001)
        too_many = http.post("/crm/v8/upload", headers=headers, files={"file": ("a.zip", big)})
        assert too_many.status_code == 400 and too_many.json()["details"]["limit"] == 25_000
        up = http.post("/crm/v8/upload", headers=headers, files={"file": ("a.zip", good)})
        assert up.status_code == 200 and up.json()["code"] == "FILE_UPLOAD_SUCCESS"
        file_id = up.json()["details"]["file_id"]
        body = {
            "operation": "update",
            "resource": [
                {
                    "type": "data",
                    "module": {"api_name": "Accounts"},
                    "file_id": "123",
                    "find_by": "id",
                    "field_mappings": [{"api_name": "id", "index": 0}],
                }
            ],
        }
        bad_file = http.post("/crm/bulk/v8/write", json=body)
        assert bad_file.status_code == 400 and bad_file.json()["details"]["api_name"] == "file_id"
        body["resource"][0]["file_id"] = file_id
        body["resource"][0]["field_mappings"] = [{"api_name": "id", "index": 0}, {"api_name": "Nope", "index": 1}]
        assert http.post("/crm/bulk/v8/write", json=body).status_code == 400
        assert http.get("/crm/bulk/v8/write/4970762000000000000").status_code == 404
        assert http.get(f"/v2/crm/{zgid}/bulk-write/1/1.zip").status_code == 404


def _zip(name: str, text: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(name, text)
    return buf.getvalue()


async def test_failed_job_in_the_simulator_gives_retriable_errors(zoho_server: ZohoServer) -> None:
    server = zoho_server(0, contacts=0)
    sim_of(server).bulk_writes.fail_next = 1
    async with connector_for(server, write_back=BULK) as conn:
        results = await conn.push("accounts", [_new(i) for i in range(10)])
    assert all(r.status == "error" and r.retriable and "FAILED" in (r.reason or "") for r in results)
    assert len(sim_of(server).modules["Accounts"]) == 0


# --- respx edge cases ---------------------------------------------------------------------------------------------

ACCOUNTS = "https://accounts.zoho.com.cn"
API_URL = "https://www.zohoapis.com.cn"
UPLOAD = "https://content.zohoapis.com.cn/crm/v8/upload"
RESULT = "https://download-accl.zoho.com.cn/v2/crm/673573045/bulk-write/77/77.zip"


def _connector() -> ZohoConnector:
    cfg = ZohoConfig.model_validate(
        {
            "plugin": "zoho_crm",
            "accounts_url": ACCOUNTS,
            "client_id": "1000.CID",
            "client_secret": "s",
            "refresh_token": "r",
            "base_delay": 0.001,
            "max_delay": 0.01,
            "write_back": BULK,
        }
    )
    return ZohoConnector(cfg, PluginContext(name="zoho"))


def _mock_common(status_answers: list[dict[str, Any]]) -> dict[str, Any]:
    respx.post(f"{ACCOUNTS}/oauth/v2/token").mock(
        return_value=httpx.Response(
            200, json={"access_token": "1000.t", "expires_in": 3600, "api_domain": API_URL, "token_type": "Bearer"}
        )
    )
    respx.get(f"{API_URL}/crm/v8/org").mock(return_value=httpx.Response(200, json={"org": [{"zgid": "673573045"}]}))
    routes = {
        "upload": respx.post(UPLOAD).mock(
            return_value=httpx.Response(
                200, json={"status": "success", "code": "FILE_UPLOAD_SUCCESS", "details": {"file_id": "55"}}
            )
        ),
        "create": respx.post(f"{API_URL}/crm/bulk/v8/write").mock(
            return_value=httpx.Response(201, json={"status": "success", "code": "SUCCESS", "details": {"id": "77"}})
        ),
        "status": respx.get(f"{API_URL}/crm/bulk/v8/write/77").mock(
            side_effect=[httpx.Response(200, json=a) for a in status_answers]
        ),
    }
    return routes


def _result_zip(rows: list[list[str]]) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["id", "Account_Name", "Risk_Rating", "RECORD_ID", "STATUS", "ERRORS"])
    writer.writerows(rows)
    return _zip("Accounts-bulkwrite.csv", text.getvalue())


def _knowns(n: int) -> list[OutboundRecord]:
    return [_known({"id": f"49707620000003{i:05d}", "Account_Name": f"公司{i}"}, f"k{i}") for i in range(n)]


@respx.mock
async def test_respx_failed_job_keeps_every_record_retriable() -> None:
    routes = _mock_common([{"status": "ADDED"}, {"status": "IN PROGRESS"}, {"status": "FAILED"}])
    async with _connector() as conn:
        results = await conn.push("accounts", _knowns(10))
    assert len(results) == 10 and all(r.status == "error" and r.retriable for r in results)
    upload = routes["upload"].calls[0].request
    assert upload.headers["feature"] == "bulk-write" and upload.headers["X-CRM-ORG"] == "673573045"
    assert b'name="file"' in upload.content and upload.headers["Authorization"] == "Zoho-oauthtoken 1000.t"
    created = httpx.Response(200, content=routes["create"].calls[0].request.content).json()
    resource = created["resource"][0]
    assert created["operation"] == "update" and resource["find_by"] == "id" and resource["file_id"] == "55"
    assert [m["api_name"] for m in resource["field_mappings"]] == ["id", "Account_Name", "Risk_Rating", "Risk_Segment"]
    assert routes["status"].call_count == 3


@respx.mock
async def test_respx_partial_row_errors_and_rows_out_of_order() -> None:
    records = _knowns(10)
    rows = [[r.source_id or "", "", "", r.source_id or "", "UPDATED", ""] for r in records]
    rows[2] = [records[2].source_id or "", "", "", "", "SKIPPED", "INVALID_DATA-Risk_Rating:LIMIT_EXCEEDED-Phone"]
    rows[4] = [records[4].source_id or "", "", "", "", "UNPROCESSED", ""]
    rows[0], rows[9] = rows[9], rows[0]  # order differs: matched by id
    del rows[6]  # no row at all for record 6
    _mock_common([{"status": "COMPLETED", "result": {"download_url": RESULT}}])
    respx.get(RESULT).mock(return_value=httpx.Response(200, content=_result_zip(rows)))
    async with _connector() as conn:
        results = await conn.push("accounts", records)
    assert [r.key for r in results] == [r.key for r in records]
    assert results[0].status == "ok" and results[0].source_id == records[0].source_id
    assert results[2].status == "error" and results[2].field == "risk_rating" and not results[2].retriable
    assert "INVALID_DATA" in (results[2].reason or "") and "LIMIT_EXCEEDED-Phone" in (results[2].reason or "")
    assert results[4].status == "error" and results[4].retriable
    assert results[6].status == "error" and results[6].retriable and "no result row" in (results[6].reason or "")
    assert sum(r.status == "ok" for r in results) == 7


@respx.mock
async def test_respx_rejected_upload_fails_the_group_without_retry() -> None:
    _mock_common([])
    respx.post(UPLOAD).mock(
        return_value=httpx.Response(
            400, json={"code": "INVALID_FILE", "details": {}, "message": "bad file", "status": "error"}
        )
    )
    async with _connector() as conn:
        results = await conn.push("accounts", _knowns(10))
    assert all(r.status == "error" and not r.retriable and "INVALID_FILE" in (r.reason or "") for r in results)


@respx.mock
async def test_respx_lost_result_file_leaves_records_retriable() -> None:
    _mock_common([{"status": "IN PROGRESS"}, {"status": "COMPLETED", "result": {"download_url": RESULT}}])
    respx.get(RESULT).mock(
        return_value=httpx.Response(
            404, json={"code": "RESOURCE_NOT_FOUND", "details": {}, "message": "not found", "status": "error"}
        )
    )
    async with _connector() as conn:
        results = await conn.push("accounts", _knowns(10))
    assert all(r.status == "error" and r.retriable and "result file" in (r.reason or "") for r in results)
