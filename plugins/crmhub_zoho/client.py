"""The Zoho CRM API as typed async calls, each paced, retried and mapped to crmhub's error types.

Every call holds a `RateBudget` slot (the edition's concurrency; credits when configured), heavy calls (COQL,
writes of more than 10 records) also hold one of the 10 heavy slots, and `retrying` backs off on 429, 5xx and
dropped connections (exponential + jitter, Retry-After honoured if ever sent, total wait capped). Other 4xx answers
become `ZohoApiError` (a `FatalError` carrying Zoho's ``code`` and ``details``) so callers can react to specific
codes such as ``DISCRETE_PAGINATION_LIMIT_EXCEEDED``.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import IO, Any

import httpx
import orjson

from crmhub.contract import ApiMetrics, RateLimits, TokenCache
from crmhub.errors import AuthError, FatalError, QuotaExhaustedError, RateLimitedError
from crmhub.http import (
    LocalRateLimits,
    RateBudget,
    RetryPolicy,
    build_client,
    cache_key,
    raise_for_transient,
    retrying,
)
from crmhub_zoho.auth import TOKEN_ERRORS, ZohoAuth, ZohoTokens
from crmhub_zoho.config import HEAVY_CONCURRENCY, ZohoConfig

_HINTS = {
    "INVALID_MODULE": "the module is not available to this org or user (Developer editions expose about half "
    "the modules)",
    "OAUTH_SCOPE_MISMATCH": "the refresh token lacks a scope; re-consent with ZohoCRM.modules.ALL, "
    "ZohoCRM.settings.READ, ZohoCRM.users.READ, ZohoCRM.org.READ, ZohoCRM.coql.READ, "
    "ZohoCRM.bulk.READ",
    "REQUIRED_PARAM_MISSING": "a mandatory parameter is missing (fields is mandatory from API v3)",
    "INVALID_DATA": "check the field API names in [connectors.<name>.fields] against Zoho's settings/fields",
}


class ZohoApiError(FatalError):
    """Zoho answered a 4xx that retrying cannot fix; ``zoho_code`` and ``details`` are Zoho's own."""

    def __init__(
        self, message: str, *, status: int, zoho_code: str | None, details: dict[str, Any], **kwargs: Any
    ) -> None:
        super().__init__(message, service_code=zoho_code, **kwargs)
        self.status = status
        self.zoho_code = zoho_code
        self.details = details


@dataclass(slots=True)
class ListPage:
    """One answer of a list call: records, the ``info`` block and the HTTP status (204/304 = nothing)."""

    status: int
    data: list[dict[str, Any]] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def more(self) -> bool:
        """``info.more_records``."""
        return bool(self.info.get("more_records"))

    @property
    def next_token(self) -> str | None:
        """``info.next_page_token``."""
        token = self.info.get("next_page_token")
        return str(token) if token else None


def budget_key(config: ZohoConfig) -> str:
    """The org and app whose calls Zoho counts together: the data centre and a hash of the client id and refresh
    token (never the secret itself); every connector on that org, in any process, shares its concurrency."""
    return f"zoho|{config.accounts_url}|{cache_key('t', config.client_id, config.refresh_token)[2:18]}"


class ZohoClient:
    """One org's API: token source, HTTP client, pacing and retries."""

    def __init__(
        self,
        config: ZohoConfig,
        *,
        connector: str,
        metrics: ApiMetrics,
        transport: httpx.AsyncBaseTransport | None = None,
        token_cache: TokenCache | None = None,
        rate_limits: RateLimits | None = None,
    ) -> None:
        self.config = config
        self.connector = connector
        self.metrics = metrics
        self.policy = RetryPolicy(
            max_attempts=config.max_attempts,
            base_delay=config.base_delay,
            max_delay=config.max_delay,
            max_total_wait=config.max_total_wait,
            connect_attempts=config.connect_attempts,
        )
        # Zoho counts concurrency per org and app, whichever process calls: the caps are the org's (the core
        # decides how far they are shared, PluginContext.rate_limits)
        limits: RateLimits = rate_limits or LocalRateLimits()
        org = budget_key(config)
        self.budget = RateBudget(
            daily_credits=config.daily_credits, cap=limits.concurrency(f"{org}|all", config.effective_concurrency)
        )
        self.heavy = limits.concurrency(f"{org}|heavy", HEAVY_CONCURRENCY)
        self._token_http = build_client(timeout=config.timeout, metrics=metrics, transport=transport)
        self.tokens = ZohoTokens(
            token_url=config.token_url,
            client_id=config.client_id,
            client_secret=config.client_secret,
            refresh_token=config.refresh_token,
            http=self._token_http,
            connector=connector,
            metrics=metrics,
            cache=token_cache,
            policy=self.policy,
        )  # the configured backoff, token refreshes included
        self.http = build_client(
            timeout=config.timeout,
            metrics=metrics,
            auth=ZohoAuth(self.tokens),
            max_connections=config.effective_concurrency + 2,
            transport=transport,
        )
        self._zgid: str | None = None

    def __repr__(self) -> str:
        return f"ZohoClient(connector={self.connector!r}, accounts_url={str(self.config.accounts_url)!r})"

    async def aclose(self) -> None:
        """Close both HTTP clients."""
        await self.http.aclose()
        await self._token_http.aclose()

    def api_path(self, tail: str) -> str:
        """``/crm/v8/<tail>``."""
        return f"/crm/{self.config.api_version}/{tail.lstrip('/')}"

    # --- the one request primitive -----------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        headers: dict[str, str] | None = None,
        heavy: bool = False,
        credits: int = 1,
        stream: str | None = None,
        ok_statuses: Sequence[int] = (),
        files: dict[str, Any] | None = None,
    ) -> httpx.Response:
        """Send one call under the budget, retrying transient failures; 4xx (except ``ok_statuses``) raise.

        ``path`` is relative to the token's ``api_domain`` unless it is an absolute URL (the file-upload server,
        a Bulk Write result's ``download_url``)."""

        async def call() -> httpx.Response:
            url = path if path.startswith(("http://", "https://")) else await self.tokens.api_domain() + path
            async with self.budget.slot(credits):
                if heavy:
                    async with self.heavy.slot():
                        response = await self.http.request(
                            method, url, params=params, json=json_body, headers=headers, files=files
                        )
                else:
                    response = await self.http.request(
                        method, url, params=params, json=json_body, headers=headers, files=files
                    )
            self._note_credits(response)
            self._check(response, stream)
            return response

        response = await retrying(call, policy=self.policy, metrics=self.metrics)
        if response.status_code >= 400 and response.status_code not in ok_statuses:
            raise self._api_error(response, stream)
        return response

    async def download(self, path: str, *, stream: str | None = None) -> IO[bytes]:
        """Stream a file (a Bulk Read or Bulk Write ZIP) to a temporary file and return it, rewound; never held in
        memory."""

        async def call() -> IO[bytes]:
            url = path if path.startswith(("http://", "https://")) else await self.tokens.api_domain() + path
            sink = tempfile.TemporaryFile()  # noqa: SIM115 - returned to the caller, who closes it
            try:
                async with self.budget.slot(1), self.http.stream("GET", url) as response:
                    self._note_credits(response)
                    if response.status_code >= 400:
                        await response.aread()
                        self._check(response, stream)
                        raise self._api_error(response, stream)
                    async for chunk in response.aiter_bytes(1 << 16):
                        sink.write(chunk)
            except BaseException:
                sink.close()
                raise
            sink.seek(0)
            return sink

        return await retrying(call, policy=self.policy, metrics=self.metrics)

    def _note_credits(self, response: httpx.Response) -> None:
        remaining = response.headers.get("X-API-CREDITS-REMAINING")
        if remaining is not None and remaining.strip().isdigit():
            self.budget.note_remaining(int(remaining))

    def _check(self, response: httpx.Response, stream: str | None) -> None:
        if (
            response.status_code == 429
            and self.budget.credits_remaining is not None
            and self.budget.credits_remaining <= 0
        ):
            raise QuotaExhaustedError(
                "Zoho's daily API credits are spent (429 with X-API-CREDITS-REMAINING 0)",
                connector=self.connector,
                stream=stream,
                hint="the run stops with its cursor saved; it resumes when the rolling 24 h window frees credits",
            )
        try:
            raise_for_transient(response, connector=self.connector, stream=stream)
        except RateLimitedError as exc:
            exc.message = f"{exc.message} (Zoho uses TOO_MANY_REQUESTS for both concurrency and credits; backing off)"
            raise

    def _api_error(self, response: httpx.Response, stream: str | None) -> FatalError:
        try:
            body = response.json()
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        code = body.get("code")
        raw_details = body.get("details")
        details: dict[str, Any] = raw_details if isinstance(raw_details, dict) else {}
        message = str(body.get("message") or response.reason_phrase)[:200]
        where = f"{response.request.method} {response.request.url.path}"
        if response.status_code == 401 or code in TOKEN_ERRORS or code == "OAUTH_SCOPE_MISMATCH":
            return AuthError(
                f"Zoho refused {where}: {code or response.status_code} ({message})",
                connector=self.connector,
                stream=stream,
                service_code=code,
                hint=_HINTS.get(
                    str(code),
                    "the access token was refused even after a refresh; "
                    "check the refresh token's scopes and the data centre",
                ),
            )
        detail_text = json.dumps(details, ensure_ascii=False)[:300] if details else ""
        return ZohoApiError(
            f"Zoho answered {where} with {response.status_code} {code}: {message} {detail_text}".rstrip(),
            status=response.status_code,
            zoho_code=str(code) if code else None,
            details=details,
            connector=self.connector,
            stream=stream,
            hint=_HINTS.get(str(code)),
        )

    # --- typed calls -------------------------------------------------------------------------------------------

    async def list_page(
        self,
        module: str,
        fields: Sequence[str],
        *,
        page: int | None = None,
        page_token: str | None = None,
        since: str | None = None,
        sort_by: str = "Modified_Time",
        sort_order: str = "asc",
        per_page: int = 200,
        ids: Sequence[str] | None = None,
        stream: str | None = None,
    ) -> ListPage:
        """``GET /{module}``; 204/304 come back as an empty `ListPage` with that status."""
        params: dict[str, Any] = {"fields": ",".join(fields), "per_page": per_page}
        if ids:
            params["ids"] = ",".join(ids)
        else:
            params.update({"sort_by": sort_by, "sort_order": sort_order})
            if page_token:
                params["page_token"] = page_token
            else:
                params["page"] = page or 1
        headers = {"If-Modified-Since": since} if since else None
        response = await self.request("GET", self.api_path(module), params=params, headers=headers, stream=stream)
        return _list_page(response)

    async def coql(self, query: str, *, stream: str | None = None) -> ListPage:
        """``POST /coql``; heavy."""
        response = await self.request(
            "POST", self.api_path("coql"), json_body={"select_query": query}, heavy=True, stream=stream
        )
        return _list_page(response)

    async def deleted(
        self, module: str, *, page: int, since: str | None, per_page: int = 200, stream: str | None = None
    ) -> ListPage:
        """``GET /{module}/deleted?type=all``."""
        headers = {"If-Modified-Since": since} if since else None
        response = await self.request(
            "GET",
            self.api_path(f"{module}/deleted"),
            headers=headers,
            stream=stream,
            params={"type": "all", "page": page, "per_page": per_page},
        )
        return _list_page(response)

    async def upsert(
        self,
        module: str,
        records: list[dict[str, Any]],
        *,
        duplicate_check_fields: Sequence[str],
        trigger: list[str] | None,
        stream: str | None = None,
    ) -> tuple[int, list[dict[str, Any]]]:
        """``POST /{module}/upsert``: the HTTP status and the per-record answers (in request order)."""
        body: dict[str, Any] = {"data": records, "duplicate_check_fields": list(duplicate_check_fields)}
        if trigger is not None:
            body["trigger"] = trigger
        response = await self.request(
            "POST",
            self.api_path(f"{module}/upsert"),
            json_body=body,
            heavy=len(records) > 10,
            credits=max(1, -(-len(records) // 10)),
            stream=stream,
            ok_statuses=(400,),
        )
        payload = response.json() if response.content else {}
        answers = payload.get("data") if isinstance(payload, dict) else None
        if response.status_code == 400 and not (isinstance(answers, list) and len(answers) == len(records)):
            raise self._api_error(response, stream)
        return response.status_code, list(answers or [])

    async def update(
        self, module: str, records: list[dict[str, Any]], *, trigger: list[str] | None, stream: str | None = None
    ) -> tuple[int, list[dict[str, Any]]]:
        """``PUT /{module}`` for records that carry their ``id``: per-record answers in request order.

        Used whenever the record's Zoho id is known, so a record whose duplicate-check field is still empty in
        Zoho (e.g. a missing USCC that this write fills in) is updated, never inserted as a duplicate.
        """
        body: dict[str, Any] = {"data": records}
        if trigger is not None:
            body["trigger"] = trigger
        response = await self.request(
            "PUT",
            self.api_path(module),
            json_body=body,
            heavy=len(records) > 10,
            credits=max(1, -(-len(records) // 10)),
            stream=stream,
            ok_statuses=(400,),
        )
        payload = response.json() if response.content else {}
        answers = payload.get("data") if isinstance(payload, dict) else None
        if response.status_code == 400 and not (isinstance(answers, list) and len(answers) == len(records)):
            raise self._api_error(response, stream)
        return response.status_code, list(answers or [])

    async def get_json(
        self, tail: str, *, params: dict[str, Any] | None = None, stream: str | None = None
    ) -> dict[str, Any]:
        """A metadata GET (``users``, ``org``, ``settings/fields`` …); 204 → ``{}``."""
        response = await self.request("GET", self.api_path(tail), params=params, stream=stream)
        if response.status_code in (204, 304) or not response.content:
            return {}
        body = response.json()
        return body if isinstance(body, dict) else {}

    async def bulk_create(
        self,
        module: str,
        fields: Sequence[str],
        *,
        page: int = 1,
        criteria: dict[str, Any] | None = None,
        stream: str | None = None,
    ) -> dict[str, Any]:
        """``POST /crm/bulk/{v}/read``; the job details (id, state)."""
        query: dict[str, Any] = {"module": {"api_name": module}, "fields": list(fields), "page": page}
        if criteria:
            query["criteria"] = criteria
        response = await self.request(
            "POST",
            f"/crm/bulk/{self.config.api_version}/read",
            json_body={"query": query, "file_type": "csv"},
            stream=stream,
        )
        return dict(response.json()["data"][0]["details"])

    async def bulk_status(self, job_id: str, *, stream: str | None = None) -> dict[str, Any]:
        """``GET /crm/bulk/{v}/read/{id}``."""
        response = await self.request("GET", f"/crm/bulk/{self.config.api_version}/read/{job_id}", stream=stream)
        return dict(response.json()["data"][0])

    # --- Bulk Write (fact sheet "Bulk Write") ------------------------------------------------------------------

    async def org_zgid(self) -> str:
        """The org's ``zgid`` (``GET /org``), sent as ``X-CRM-ORG`` with Bulk Write uploads; read once."""
        if self._zgid is None:
            body = await self.get_json("org")
            org = (body.get("org") or [{}])[0]
            zgid = org.get("zgid")
            if not zgid:
                raise FatalError(
                    "Zoho's organization answer has no zgid (needed for Bulk Write uploads)",
                    connector=self.connector,
                    hint="set write_back.bulk_threshold = 0",
                )
            self._zgid = str(zgid)
        return self._zgid

    async def upload_url(self) -> str:
        """``{file-upload server}/crm/{v}/upload``: ``write_back.upload_url``, else the data centre's, else the
        ``api_domain`` (a simulator serves uploads on its own base URL)."""
        base = self.config.write_back.upload_url
        if base is None:
            host = httpx.URL(str(self.config.accounts_url)).host
            base = next((up for suffix, up in UPLOAD_SERVERS.items() if host == suffix), None)
        if base is None:
            base = await self.tokens.api_domain()
        return base.rstrip("/") + self.api_path("upload")

    async def bulk_upload(self, archive: bytes, filename: str, *, stream: str | None = None) -> str:
        """Upload a zipped CSV (multipart ``file``, ``feature: bulk-write``, ``X-CRM-ORG``); its ``file_id``."""
        headers = {"feature": "bulk-write", "X-CRM-ORG": await self.org_zgid()}
        response = await self.request(
            "POST",
            await self.upload_url(),
            headers=headers,
            stream=stream,
            files={"file": (filename, archive, "application/zip")},
        )
        body = response.json()
        details = body.get("details") if isinstance(body, dict) else None
        if not isinstance(details, dict) or not details.get("file_id"):
            raise FatalError(
                f"Zoho's upload answer has no file_id: {str(body)[:200]}", connector=self.connector, stream=stream
            )
        return str(details["file_id"])

    async def bulk_write_create(self, body: dict[str, Any], *, stream: str | None = None) -> str:
        """``POST /crm/bulk/{v}/write``; the job id. Costs far more credits than a record call (2nd-hand: 500)."""
        response = await self.request(
            "POST",
            f"/crm/bulk/{self.config.api_version}/write",
            json_body=body,
            credits=BULK_WRITE_CREDITS,
            stream=stream,
        )
        answer = response.json()
        details = answer.get("details") if isinstance(answer, dict) else None
        if not isinstance(details, dict) or not details.get("id"):
            raise FatalError(
                f"Zoho's Bulk Write answer has no job id: {str(answer)[:200]}", connector=self.connector, stream=stream
            )
        return str(details["id"])

    async def bulk_write_status(self, job_id: str, *, stream: str | None = None) -> dict[str, Any]:
        """``GET /crm/bulk/{v}/write/{id}``: the job details (``status``, ``resource``, ``result``)."""
        response = await self.request("GET", f"/crm/bulk/{self.config.api_version}/write/{job_id}", stream=stream)
        body = response.json()
        return body if isinstance(body, dict) else {}


UPLOAD_SERVERS = {
    "accounts.zoho.com": "https://content.zohoapis.com",
    "accounts.zoho.eu": "https://content.zohoapis.eu",
    "accounts.zoho.in": "https://content.zohoapis.in",
    "accounts.zoho.com.cn": "https://content.zohoapis.com.cn",
    "accounts.zoho.com.au": "https://content.zohoapis.com.au",
    "accounts.zoho.jp": "https://content.zohoapis.jp",
    "accounts.zohocloud.ca": "https://upload.zohocloud.ca",
    "accounts.zoho.sa": "https://files.zoho.sa",
}
"""Accounts server → file-upload server of its data centre (fact sheet §1.1, SDK 7.0.0 ``dc/*.py``)."""

BULK_WRITE_CREDITS = 500
"""Credits our budget charges for initialising a Bulk Write job (2nd-hand figure; the service's header corrects it)."""


def _list_page(response: httpx.Response) -> ListPage:
    if response.status_code in (204, 304) or not response.content:
        return ListPage(response.status_code)
    body = orjson.loads(response.content)  # pages are the hot path: orjson decodes ~3x faster than json
    data = body.get("data") if isinstance(body, dict) else None
    info = body.get("info") if isinstance(body, dict) else None
    return ListPage(response.status_code, list(data or []), dict(info or {}))
