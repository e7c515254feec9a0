"""A toy outside service (a Starlette app served on loopback), a connector and a channel that follow the contract
— the material `test_contract_catches` breaks one rule at a time to show the kit notices.

The service keeps clients in id order behind a bearer token: ``GET /clients?after=&limit=``, ``POST /clients``
(upsert by id, or create), ``POST /send`` (a message to user ids; unknown ones are refused). Transport faults come
from `crmhub.sandbox.faults.FaultMiddleware`, as in the real simulators.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

import httpx
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from crmhub.contract import (
    Channel,
    ChannelConfig,
    CheckResult,
    Connector,
    ConnectorConfig,
    Cursor,
    DeliveryResult,
    OutboundMessage,
    OutboundRecord,
    Page,
    PluginContext,
    PushResult,
    SandboxOptions,
    SourceRecord,
    StreamKind,
    StreamSpec,
)
from crmhub.errors import AuthError, FatalError, RateLimitedError, RetriableError
from crmhub.model import CorporateClient
from crmhub.sandbox.faults import FaultMiddleware, FaultProfile

TOKEN = "toy-service-bearer-token-0001"
USERS = ("alice", "bob")
log = logging.getLogger("crmhub.plugins.toy")


def build(options: SandboxOptions) -> Any:
    """The toy service: ``clients`` records (``options.settings['clients']``, default 20) behind ``TOKEN``."""
    clients = {
        i: {"id": i, "name": f"玩具客户{i:03d}有限公司", "phone": None}
        for i in range(1, int(options.settings.get("clients", 20)) + 1)
    }

    def authorised(request: Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {TOKEN}"

    async def list_clients(request: Request) -> JSONResponse:
        if not authorised(request):
            return JSONResponse({"error": "invalid token"}, status_code=401)
        after, limit = int(request.query_params.get("after", 0)), int(request.query_params.get("limit", 5))
        rows = [clients[i] for i in sorted(clients) if i > after][:limit]
        return JSONResponse({"data": rows})

    async def write_clients(request: Request) -> JSONResponse:
        if not authorised(request):
            return JSONResponse({"error": "invalid token"}, status_code=401)
        row = await request.json()
        rid = int(row.get("id") or max(clients, default=0) + 1)
        clients[rid] = {**clients.get(rid, {}), **row, "id": rid}
        return JSONResponse({"id": rid})

    async def send(request: Request) -> JSONResponse:
        if not authorised(request):
            return JSONResponse({"error": "invalid token"}, status_code=401)
        body = await request.json()
        return JSONResponse({"results": {u: "ok" if u in USERS else "unknown user" for u in body["to"]}})

    app = Starlette(
        routes=[
            Route("/clients", list_clients),
            Route("/clients", write_clients, methods=["POST"]),
            Route("/send", send, methods=["POST"]),
        ]
    )
    return FaultMiddleware(app, options.faults or FaultProfile())


def connector_table(url: str) -> dict[str, Any]:
    """The ``[connectors.<name>]`` table pointing the toy connector at a running toy service."""
    return {"plugin": "toy", "base_url": url, "token": TOKEN}


def channel_table(url: str) -> dict[str, Any]:
    """The ``[channels.<name>]`` table pointing the toy channel at a running toy service."""
    return {"plugin": "toy_chat", "base_url": url, "token": TOKEN}


class ToyConfig(ConnectorConfig):
    """``[connectors.<name>]`` of the toy connector."""

    base_url: str
    token: SecretStr
    page_size: int = 5


class ToyChatConfig(ChannelConfig):
    """``[channels.<name>]`` of the toy channel."""

    base_url: str
    token: SecretStr


def raise_for(response: httpx.Response, where: str) -> None:
    """The contract's typed errors for an answer: 429/5xx retriable, 401 fatal."""
    if response.status_code == 429:
        raise RateLimitedError(f"{where}: too many requests", connector=where)
    if response.status_code >= 500:
        raise RetriableError(f"{where}: the service answered {response.status_code}", connector=where)
    if response.status_code == 401:
        raise AuthError(f"{where}: the token was refused", connector=where, hint="check token")
    if response.status_code >= 400:
        raise FatalError(f"{where}: the service answered {response.status_code}", connector=where)


class ToyConnector(Connector[ToyConfig]):
    """Reads clients after the last id of each page; writes by id (or creates)."""

    config_model = ToyConfig
    streams = (StreamSpec("clients", StreamKind.CLIENT, writable=True),)

    def __init__(self, config: ToyConfig, context: PluginContext) -> None:
        super().__init__(config, context)
        self.http = httpx.AsyncClient(
            base_url=config.base_url,
            timeout=5.0,
            headers={"authorization": f"Bearer {config.token.get_secret_value()}"},
        )

    async def get(self, after: int) -> list[dict[str, Any]]:
        """One page of rows after id ``after``."""
        response = await self.http.get("/clients", params={"after": after, "limit": self.config.page_size})
        raise_for(response, self.name)
        rows: list[dict[str, Any]] = response.json()["data"]
        return rows

    async def check(self) -> CheckResult:
        try:
            await self.get(0)
        except (FatalError, RetriableError) as exc:
            return CheckResult(ok=False, message=str(exc))
        return CheckResult(ok=True, message="reachable")

    def next_cursor(self, rows: list[dict[str, Any]]) -> Cursor | None:
        """The cursor after ``rows``: the last id read."""
        return {"after": rows[-1]["id"]}

    def pull(self, stream: str, cursor: Cursor | None, *, since: datetime | None = None) -> AsyncIterator[Page]:
        return self._pull(int((cursor or {}).get("after", 0)))

    async def _pull(self, after: int) -> AsyncIterator[Page]:
        while True:
            rows = await self.get(after)
            if not rows:
                return
            after = rows[-1]["id"]
            yield Page([self.record(r) for r in rows], self.next_cursor(rows))

    @staticmethod
    def record(row: dict[str, Any]) -> SourceRecord:
        """A row as a source record."""
        data = CorporateClient(name=row["name"], phone=row.get("phone"))
        return SourceRecord(stream="clients", source_id=str(row["id"]), data=data, raw=row)

    def payload(self, rec: OutboundRecord) -> dict[str, Any]:
        """What a write sends."""
        assert isinstance(rec.data, CorporateClient)
        return {"id": rec.source_id, "name": rec.data.name, "phone": rec.data.phone}

    async def push(self, stream: str, records: Sequence[OutboundRecord]) -> list[PushResult]:
        results = []
        for rec in records:
            response = await self.http.post("/clients", json=self.payload(rec))
            raise_for(response, self.name)
            results.append(
                PushResult(
                    key=rec.key,
                    status="ok",
                    source_id=str(response.json()["id"]),
                    action="update" if rec.source_id else "insert",
                )
            )
        return results

    async def aclose(self) -> None:
        await self.http.aclose()


class ToyChannel(Channel[ToyChatConfig]):
    """Sends a message to user ids; an unknown user fails alone."""

    config_model = ToyChatConfig

    def __init__(self, config: ToyChatConfig, context: PluginContext) -> None:
        super().__init__(config, context)
        self.http = httpx.AsyncClient(
            base_url=config.base_url,
            timeout=5.0,
            headers={"authorization": f"Bearer {config.token.get_secret_value()}"},
        )

    async def post(self, message: OutboundMessage) -> dict[str, str]:
        """Send; the service's answer per recipient."""
        response = await self.http.post("/send", json={"to": message.recipients, "text": message.text})
        raise_for(response, self.name)
        answer: dict[str, str] = response.json()["results"]
        return answer

    async def check(self) -> CheckResult:
        response = await self.http.get("/clients", params={"limit": 1})
        return CheckResult(ok=response.status_code == 200, message=f"answered {response.status_code}")

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        answers = await self.post(message)
        ok = [r for r, a in answers.items() if a == "ok"]
        status = "delivered" if len(ok) == len(answers) else "partial" if ok else "failed"
        return DeliveryResult(key=message.key, status=status, recipients=answers)

    async def aclose(self) -> None:
        await self.http.aclose()
