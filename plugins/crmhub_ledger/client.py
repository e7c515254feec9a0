"""`LedgerClient`: the HTTP client for a Fineract-shaped ledger — auth, tenant header, pacing, retries, errors.

Every call carries HTTP Basic and ``Fineract-Platform-TenantId``; pacing goes through a `RateBudget` and
retries through `crmhub.http.retrying`, so drops, 5xx and 429 are absorbed within the configured budget and
counted in the connector's metrics. Fineract's error bodies are turned into the exception the engine needs:
401 → `AuthError`, a missing/unknown tenant or 403 → `FatalError` with a hint, 404 → `NotFound` (the caller
decides), anything else 4xx → `FatalError` quoting Fineract's own message.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

from crmhub.contract import ApiMetrics
from crmhub.errors import AuthError, FatalError, RetriableError
from crmhub.http import RateBudget, RetryPolicy, build_client, raise_for_transient, retrying
from crmhub_ledger.config import LedgerConfig
from crmhub_ledger.fineract import TENANT_HEADER

Params = Mapping[str, str | int | bool | None]


class NotFound(Exception):
    """The ledger answered 404 for one resource (e.g. a client deleted since the audit row was written)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path


def _fineract_message(response: httpx.Response) -> str:
    """Fineract's most specific message: the first error's developerMessage, else the top-level one."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    if isinstance(body, dict):
        errors = body.get("errors") or []
        if errors and isinstance(errors[0], dict):
            first = errors[0]
            param = first.get("parameterName")
            text = str(first.get("developerMessage") or first.get("defaultUserMessage") or "")
            return f"{text} (parameter {param})" if param and param not in text else text
        return str(body.get("developerMessage") or body.get("defaultUserMessage") or body)[:300]
    return str(body)[:300]


class LedgerClient:
    """Thin async client over one ledger tenant; ``get`` returns parsed JSON."""

    def __init__(
        self,
        config: LedgerConfig,
        metrics: ApiMetrics,
        *,
        connector: str = "core_ledger",
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.config = config
        self.metrics = metrics
        self.connector = connector
        self.budget = RateBudget(concurrency=config.concurrency)
        self.policy = RetryPolicy(
            max_attempts=config.retry_attempts,
            max_total_wait=config.retry_max_wait,
            base_delay=config.retry_base_delay,
            max_delay=10.0,
            retry_after_floor=min(0.2, config.retry_base_delay),
            connect_attempts=config.connect_attempts,
        )
        self.http = build_client(
            base_url=config.base_url,
            timeout=config.timeout,
            metrics=metrics,
            auth=httpx.BasicAuth(config.username, config.password.get_secret_value()),
            max_connections=max(4, config.concurrency * 2),
            transport=transport,
            headers={TENANT_HEADER: config.tenant_id, "Accept": "application/json"},
        )

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.http.aclose()

    async def get(self, path: str, params: Params | None = None, *, stream: str | None = None) -> Any:
        """GET ``path`` (relative to ``base_url``) with retries; returns the decoded JSON."""
        clean = {k: _param(v) for k, v in (params or {}).items() if v is not None}

        async def once() -> Any:
            async with self.budget.slot():
                response = await self.http.get(path, params=clean)
            return self._decode(response, stream)

        return await retrying(once, policy=self.policy, metrics=self.metrics)

    async def post(self, path: str, body: dict[str, Any], *, stream: str | None = None) -> Any:
        """POST once (writes are never retried blindly: Fineract commands are not idempotent)."""
        async with self.budget.slot():
            response = await self.http.post(path, json=body)
        return self._decode(response, stream)

    def _decode(self, response: httpx.Response, stream: str | None) -> Any:
        raise_for_transient(response, connector=self.connector, stream=stream)
        status = response.status_code
        where = f"{response.request.method} {response.request.url.path}"
        if status == 401:
            raise AuthError(
                f"the ledger rejected the credentials of user {self.config.username!r} ({where}: 401)",
                connector=self.connector,
                stream=stream,
                service_code=401,
                hint="check username and password in the connector config",
            )
        if status == 404:
            raise NotFound(response.request.url.path, _fineract_message(response))
        if status == 400 and TENANT_HEADER.lower() in _fineract_message(response).lower():
            raise FatalError(
                f"the ledger refused the tenant {self.config.tenant_id!r}: {_fineract_message(response)}",
                connector=self.connector,
                stream=stream,
                service_code=400,
                hint="set tenant_id to the ledger's tenant identifier (often 'default')",
            )
        if status == 403:
            raise FatalError(
                f"{where} is forbidden for user {self.config.username!r}: {_fineract_message(response)}",
                connector=self.connector,
                stream=stream,
                service_code=403,
                hint="grant the API user read permission on clients, savings, loans and audits",
            )
        if status >= 400:
            raise FatalError(
                f"{where} answered {status}: {_fineract_message(response)}",
                connector=self.connector,
                stream=stream,
                service_code=status,
            )
        try:
            return response.json()
        except (ValueError, json.JSONDecodeError):
            raise RetriableError(
                f"{where} answered {status} with a body that is not JSON (cut off?)",
                connector=self.connector,
                stream=stream,
            ) from None


def _param(value: str | int | bool | None) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
