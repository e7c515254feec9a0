"""The lazily loaded ledger simulator answers byte for byte like the eagerly loaded one, before and after writes.

Two simulators over the same world and the same fixed wall clock — one holding every row, one regenerating rows
from the world (``lazy_world_min = 0``) — must give identical bytes for every list page, every detail, the audit
trail and transaction searches; then again after the same writes (client update, deposit, sandbox mutations, a
new client) and after the clock moves on.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from starlette.testclient import TestClient

from crmhub.contract import SandboxOptions
from crmhub.sandbox.world import World
from crmhub_ledger.sandbox import build

pytestmark = pytest.mark.slow  # whole syncs / CLI subprocesses: .ci/run runs it, the README's fast set does not

API = "/fineract-provider/api/v1"
AUTH = {"Fineract-Platform-TenantId": "default", "Authorization": "Basic bWlmb3M6cGFzc3dvcmQ="}  # mifos:password
WALL = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)


def _pair(detail: bool | str) -> tuple[TestClient, TestClient]:
    world = World(seed=11, clients=160)
    apps = [
        build(
            SandboxOptions(
                base_url="", world=world, seed=2, clock=lambda: WALL, settings={"detail": detail, "lazy_world_min": n}
            )
        )
        for n in (10**9, 0)
    ]
    assert not apps[0].simulator.lazy and apps[1].simulator.lazy
    return TestClient(apps[0], headers=AUTH), TestClient(apps[1], headers=AUTH)


def _paths(sim: Any) -> Iterator[str]:
    for offset in range(0, len(sim.client_order) + 50, 50):
        yield f"/clients?offset={offset}&limit=50"
    yield "/clients?limit=20&orderBy=displayName&sortOrder=DESC"
    for cid in list(sim.client_order)[::3]:
        yield f"/clients/{cid}"
        yield f"/clients/{cid}/accounts"
        yield f"/clients/{cid}/identifiers"
    for offset in range(0, len(sim.savings_order) + 50, 50):
        yield f"/savingsaccounts?offset={offset}&limit=50"
    for sid in list(sim.savings_order)[::4]:
        yield f"/savingsaccounts/{sid}"
        yield (
            f"/savingsaccounts/{sid}/transactions/search?offset=0&limit=200&orderBy=id&sortOrder=ASC"
            "&fromSubmittedDate=2026-01-01&dateFormat=yyyy-MM-dd&locale=en"
        )
    for offset in range(0, len(sim.loan_order) + 50, 50):
        yield f"/loans?offset={offset}&limit=50"
    for lid in sim.loan_order:
        yield f"/loans/{lid}?associations=all"
    yield "/loans?limit=30&orderBy=clientId"
    for offset in (0, 100, 250):
        yield f"/audits?paged=true&offset={offset}&limit=100"
    yield "/audits?paged=true&limit=1&sortOrder=DESC"
    yield "/audits?paged=true&limit=50&makerDateTimeFrom=2026-06-01%2000:00:00&sortOrder=ASC"
    yield "/audits?entityName=CLIENT&paged=true&limit=40&offset=7"


def _same(eager: TestClient, lazy: TestClient) -> int:
    sim = eager.app.simulator  # type: ignore[attr-defined]
    n = 0
    for path in _paths(sim):
        a, b = eager.get(API + path), lazy.get(API + path)
        assert (a.status_code, a.content) == (b.status_code, b.content), path
        n += 1
    return n


@pytest.mark.parametrize("detail", [True, "loans", False])
def test_lazy_answers_equal_eager_answers(detail: bool | str) -> None:
    eager, lazy = _pair(detail)
    assert _same(eager, lazy) > 50
    sims = [c.app.simulator for c in (eager, lazy)]  # type: ignore[attr-defined]
    for client in (eager, lazy):
        cid = sims[0].client_order[5]
        assert client.put(f"{API}/clients/{cid}", json={"mobileNo": "13900000001"}).status_code == 200
        created = client.post(
            f"{API}/clients",
            json={
                "officeId": 1,
                "legalFormId": 2,
                "fullname": "新开户测试有限公司",
                "active": True,
                "locale": "en",
                "dateFormat": "dd MMMM yyyy",
                "activationDate": "01 November 2026",
                "submittedOnDate": "01 November 2026",
            },
        )
        assert created.status_code == 200, created.text
        if detail is True:
            sid = sims[0].savings_order[3]
            assert (
                client.post(
                    f"{API}/savingsaccounts/{sid}/transactions?command=deposit",
                    json={
                        "transactionDate": "30 November 2026",
                        "transactionAmount": "1500.00",
                        "paymentTypeId": 2,
                        "locale": "en",
                        "dateFormat": "dd MMMM yyyy",
                    },
                ).status_code
                == 200
            )
    for sim in sims:
        sim.mutate(25, seed=4)
    assert _same(eager, lazy) > 50
    for sim in sims:
        sim.advance(45)
    assert _same(eager, lazy) > 50
