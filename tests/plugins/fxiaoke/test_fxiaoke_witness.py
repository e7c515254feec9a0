"""Real client as witness: ``fxiaoke-python`` 0.0.3 run unchanged against the simulator.

The package hard-codes ``https://open.fxiaoke.com`` (``FxiaokeApi.GRAPH`` and a literal inside
``FxiaokeSession.fresh_token``). Only the base URL is changed: a requests transport adapter mounted on the
package's own ``requests.Session`` sends ``https://open.fxiaoke.com/…`` to the loopback simulator, path, body and
headers untouched. If these calls fail, the simulator is wrong until shown otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from crmhub.sandbox.runner import ThreadedServer

requests = pytest.importorskip("requests")
pytest.importorskip("fxiaoke.api")

from fxiaoke.AccountObj import AccountObj  # noqa: E402
from fxiaoke.api import FxiaokeApi  # noqa: E402
from fxiaoke.op_create import createObj  # noqa: E402
from fxiaoke.op_get import getObj  # noqa: E402
from fxiaoke.op_query import queryObj  # noqa: E402

REAL_BASE = "https://open.fxiaoke.com"


class Rebase(requests.adapters.HTTPAdapter):  # type: ignore[misc]
    """Send requests for the real gateway to ``target`` instead (only the scheme/host/port change)."""

    def __init__(self, target: str) -> None:
        super().__init__()
        self.target = target

    def send(self, request: Any, **kwargs: Any) -> Any:
        request.url = self.target + request.url[len(REAL_BASE) :]
        return super().send(request, **kwargs)


@pytest.fixture
def fx_api(serve: Callable[..., ThreadedServer], creds: dict[str, Any]) -> tuple[Any, ThreadedServer]:
    server = serve(generate=230, window_seconds=60.0, calls_per_window=1000)
    api = FxiaokeApi.init(
        app_id=creds["app_id"],
        app_secret=creds["app_secret"],
        permanent_code=creds["permanent_code"],
        open_user_id=creds["current_open_user_id"],
    )
    api._session.requests.mount(REAL_BASE, Rebase(server.url))
    return api, server


def test_token_query_paging_and_total(fx_api: tuple[Any, ThreadedServer]) -> None:
    api, server = fx_api
    cursor = queryObj(api=api).execute(
        dataObjectApiName="AccountObj", limit=100, orders=[{"fieldName": "_id", "isAsc": True}]
    )
    rows = list(cursor)
    assert cursor.total() == 230 and len(rows) == 230 and len({r["_id"] for r in rows}) == 230
    assert api._session.corpId.startswith("FSCID_") and api._session.corpAccessToken
    calls = server.app.simulator.log.calls
    assert calls["/cgi/corpAccessToken/get/V2"] == 1 and calls["/cgi/crm/v2/data/query"] == 3


def test_filters_get_create_describe(fx_api: tuple[Any, ThreadedServer]) -> None:
    api, server = fx_api
    first = queryObj(api=api).execute(dataObjectApiName="AccountObj", limit=10).get_one()
    newer = list(
        queryObj(api=api).execute(
            dataObjectApiName="AccountObj",
            limit=100,
            filters=[
                {"field_name": "last_modified_time", "field_values": [first["last_modified_time"]], "operator": "GTE"}
            ],
        )
    )
    assert first["_id"] in {r["_id"] for r in newer}
    assert all(r["last_modified_time"] >= first["last_modified_time"] for r in newer)
    created = createObj(api=api).execute(
        dataObjectApiName="AccountObj", object_data={"name": "见证客户有限公司", "uscc__c": "91110000710926094P"}
    )
    rec_id = created["dataId"]
    got = getObj(api=api).execute(objectDataId=rec_id, dataObjectApiName="AccountObj")
    assert got["name"] == "见证客户有限公司" and got["uscc__c"] == "91110000710926094P"
    # two client bugs worked around: queryObj().describe() posts to /object/query, and AccountObj(api=…) resets
    # its own dataObjectApiName to None — so name the object explicitly on a plain object class
    describe = AccountObj(api=api).describe("AccountObj")
    assert "uscc__c" in describe["describe"]["fields"]
    assert server.app.simulator.tables["AccountObj"].records[rec_id]["version"] == "1"


def test_client_raises_on_error_code(fx_api: tuple[Any, ThreadedServer]) -> None:
    api, _ = fx_api
    with pytest.raises(RuntimeError, match="10013"):
        queryObj(api=api).execute(dataObjectApiName="AccountObj", limit=100, offset=10_100)
