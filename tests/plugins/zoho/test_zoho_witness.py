"""The official Zoho SDK (``zohocrmsdk8-0``) as a witness: pointed at the simulator with nothing but its URLs
changed, its ordinary get-records, page-token and upsert calls must work. If the SDK fails, the simulator is wrong
until shown otherwise."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from zoho_helpers import ZohoServer, log_settled, sim_of

sdk = pytest.importorskip("zohocrmsdk.src.com.zoho.crm.api.initializer")


@pytest.fixture
def in_tmp(tmp_path: Path) -> Iterator[Path]:
    """The SDK writes token and field caches; keep them in a temporary directory."""
    old = os.getcwd()
    os.chdir(tmp_path)
    yield tmp_path
    os.chdir(old)


def _init(server: Any, tmp: Path) -> None:
    from zohocrmsdk.src.com.zoho.api.authenticator.oauth_token import OAuthToken
    from zohocrmsdk.src.com.zoho.api.authenticator.store.file_store import FileStore
    from zohocrmsdk.src.com.zoho.api.logger import Logger
    from zohocrmsdk.src.com.zoho.crm.api.dc.data_center import DataCenter
    from zohocrmsdk.src.com.zoho.crm.api.initializer import Initializer
    from zohocrmsdk.src.com.zoho.crm.api.sdk_config import SDKConfig

    s = sim_of(server).settings
    env = DataCenter.Environment(server.url, server.url + "/oauth/v2/token", server.url)
    token = OAuthToken(client_id=s["client_id"], client_secret=s["client_secret"], refresh_token=s["refresh_token"])
    Initializer.initialize(
        environment=env,
        token=token,
        store=FileStore(str(tmp / "sdk_tokens.txt")),
        sdk_config=SDKConfig(auto_refresh_fields=False, pick_list_validation=False),
        resource_path=str(tmp),
        logger=Logger.get_instance(level=Logger.Levels.INFO, file_path=str(tmp / "sdk.log")),
    )


def test_official_sdk_reads_pages_and_upserts(zoho_server: ZohoServer, in_tmp: Path) -> None:
    from zohocrmsdk.src.com.zoho.crm.api import HeaderMap, ParameterMap
    from zohocrmsdk.src.com.zoho.crm.api.record import (
        ActionWrapper,
        BodyWrapper,
        GetRecordsParam,
        Record,
        RecordOperations,
        ResponseWrapper,
        SuccessResponse,
    )

    server = zoho_server(260)
    _init(server, in_tmp)
    ops = RecordOperations("Accounts")
    params = ParameterMap()
    params.add(GetRecordsParam.fields, "Account_Name,USCC,Owner,Modified_Time")
    params.add(GetRecordsParam.per_page, 200)
    first = ops.get_records(params, HeaderMap())
    body = first.get_object()
    assert first.get_status_code() == 200 and isinstance(body, ResponseWrapper)
    records = body.get_data()
    assert len(records) == 200
    assert records[0].get_key_value("Owner").get_email().endswith("@bank.example.cn")
    assert records[0].get_key_value("Modified_Time").tzinfo is not None
    token = body.get_info().get_next_page_token()
    assert body.get_info().get_more_records() and token

    params2 = ParameterMap()
    params2.add(GetRecordsParam.fields, "Account_Name,USCC")
    params2.add(GetRecordsParam.page_token, token)
    second = ops.get_records(params2, HeaderMap()).get_object()
    assert isinstance(second, ResponseWrapper)
    ids = {r.get_id() for r in records} | {r.get_id() for r in second.get_data()}
    assert len(ids) == 260 and second.get_info().get_more_records() is False

    actions = []
    for name in ("见证公司", "见证公司（更名）"):
        wrapper = BodyWrapper()
        rec = Record()
        rec.add_key_value("Account_Name", name)
        rec.add_key_value("USCC", "91310000631696382C")
        wrapper.set_data([rec])
        wrapper.set_duplicate_check_fields(["USCC"])
        answer = ops.upsert_records(wrapper, HeaderMap()).get_object()
        assert isinstance(answer, ActionWrapper)
        (result,) = answer.get_data()
        assert isinstance(result, SuccessResponse) and result.get_status().get_value() == "success"
        actions.append(result.get_details()["id"])
    assert actions[0] == actions[1]  # the second upsert matched on USCC

    settled = log_settled(server, lambda entries: sum(e["path"].endswith("/upsert") for e in entries) >= 2)
    log = [(e["method"], e["path"]) for e in settled]
    assert log[0] == ("POST", "/oauth/v2/token")
    assert ("GET", "/crm/v8/users") in log and ("GET", "/crm/v8/settings/fields") in log
    assert sum(1 for m, p in log if p.endswith("/upsert")) == 2
    assert (in_tmp / "sdk_tokens.txt").exists()
