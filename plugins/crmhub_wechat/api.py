"""A thin async WeCom / Official Account client: tokens, calls, and errcodes turned into crmhub's error types.

Why not wechatpy: it is synchronous, hard-codes the token URL, and on 40001/40014/42001 refetches and retries
*recursively without a cap* (a server that keeps answering 40014 overflows the stack). Here a token is fetched
single-flight and shared by every concurrent send, refreshed at most ``token_refresh_attempts`` times per call,
and transient answers (-1, 45009, 45033, network failures) are retried with backoff via `crmhub.http.retrying`.

Secrets (corp secret, access tokens, the robot key) travel only in query strings and never appear in an error
message: errors name the endpoint path, the errcode and what the operator should fix.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from crmhub.contract import PluginContext
from crmhub.errors import AuthError, FatalError, RateLimitedError, RetriableError
from crmhub.http import (
    RateBudget,
    RetryPolicy,
    SingleFlightToken,
    SlidingWindow,
    build_client,
    cache_key,
    raise_for_transient,
    retrying,
)
from crmhub_wechat import errcodes as ec
from crmhub_wechat.config import WecomConfig

log = logging.getLogger("crmhub.plugins.wechat_work")


class RedactQuerySecrets(logging.Filter):
    """Masks credentials in URLs that httpx logs at INFO (``HTTP Request: GET …?corpsecret=…``).

    WeCom takes the corp secret, access tokens and the robot key in the query string by design, so without this
    filter an INFO-level log configuration would write them out.
    """

    _SECRET = re.compile(r"((?:corpsecret|secret|access_token|key)=)[^&\s\"']+")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                self._SECRET.sub(r"\1***", str(a)) if isinstance(a, str | httpx.URL) else a for a in record.args
            )
        return True


def install_log_redaction() -> None:
    """Attach `RedactQuerySecrets` to the ``httpx`` logger once."""
    target = logging.getLogger("httpx")
    if not any(isinstance(f, RedactQuerySecrets) for f in target.filters):
        target.addFilter(RedactQuerySecrets())


install_log_redaction()

Answer = dict[str, Any]
Sleep = Callable[[float], Awaitable[None]]


def errcode_of(answer: Answer) -> int:
    """The answer's ``errcode`` as an int (0 when absent, as on an Official Account token success)."""
    try:
        return int(answer.get("errcode", 0) or 0)
    except (TypeError, ValueError):
        return ec.BUSY


class WecomApi:
    """Calls for one WeCom app (+ its group robot and optional Official Account) with shared, paced state."""

    def __init__(
        self,
        config: WecomConfig,
        context: PluginContext,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.context = context
        self._sleep = sleep
        self._client = build_client(
            timeout=config.timeout,
            metrics=context.metrics,
            transport=transport,
            max_connections=max(4, config.concurrency * 2),
        )
        self.token = SingleFlightToken(
            self._fetch_token,
            clock=clock,
            cache=context.token_cache,
            cache_key=cache_key("wecom", config.base_url, config.corp_id, config.corp_secret),
        )
        self.oa_token = SingleFlightToken(self._fetch_oa_token, clock=clock)
        window_kwargs: dict[str, Any] = {"clock": clock}
        if sleep is not None:
            window_kwargs["sleep"] = sleep
        self.budget = RateBudget(
            concurrency=config.concurrency,
            window=SlidingWindow(config.api_calls_per_minute, config.rate_window_seconds, **window_kwargs),
        )
        self.policy = RetryPolicy(
            max_attempts=config.retry_attempts,
            base_delay=config.retry_base_delay,
            max_delay=min(30.0, config.retry_max_wait),
            max_total_wait=config.retry_max_wait,
        )

    @property
    def name(self) -> str:
        """The channel's configured name, for error messages."""
        return self.context.name

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()

    # --- transport -----------------------------------------------------------------------------------------

    async def _request(
        self, method: str, url: str, *, params: dict[str, Any], json_body: dict[str, Any] | None = None
    ) -> Answer:
        """One HTTP call inside the rate budget; 429/5xx → retriable, anything but a JSON object → an error."""
        content = None
        headers = None
        if json_body is not None:
            content = json.dumps(json_body, ensure_ascii=False).encode("utf-8")
            headers = {"Content-Type": "application/json; charset=utf-8"}
        async with self.budget.slot():
            response = await self._client.request(method, url, params=params, content=content, headers=headers)
        raise_for_transient(response, connector=self.name)
        path = response.request.url.path
        if response.status_code != 200:
            raise FatalError(
                f"WeCom {method} {path} answered HTTP {response.status_code}",
                connector=self.name,
                hint="check base_url: it must be the API root, e.g. https://qyapi.weixin.qq.com",
            )
        try:
            data = response.json()
        except ValueError:
            raise RetriableError(
                f"WeCom {method} {path} answered something that is not JSON", connector=self.name
            ) from None
        if not isinstance(data, dict):
            raise RetriableError(f"WeCom {method} {path} answered JSON that is not an object", connector=self.name)
        return data

    # --- errcodes ------------------------------------------------------------------------------------------

    def raise_for(self, answer: Answer, what: str, *, oa: bool = False) -> None:
        """Raise the crmhub error an errcode calls for; return for 0, token errors and record-level codes."""
        code = errcode_of(answer)
        act = ec.action(code)
        if oa and code == ec.INVALID_SECRET and what != "token":
            act = ec.Action.REFRESH_TOKEN  # on an OA API call, 40001 means "this token is no longer valid"
        if act in (ec.Action.OK, ec.Action.REFRESH_TOKEN, ec.Action.RECORD):
            return
        msg = ec.short_errmsg(str(answer.get("errmsg", "")))
        head = f"{'Official Account' if oa else 'WeCom'} {what} answered errcode {code} ({msg})"
        if act is ec.Action.RATE_LIMITED:
            raise RateLimitedError(head, connector=self.name, service_code=code)
        if act is ec.Action.RETRY:
            raise RetriableError(head, connector=self.name, service_code=code)
        if act is ec.Action.FATAL_BUG:
            raise FatalError(
                head,
                connector=self.name,
                service_code=code,
                hint="crmhub sent a request WeCom considers malformed; report this as a bug",
            )
        raise self._config_error(code, head, str(answer.get("errmsg", "")), oa=oa)

    def _config_error(self, code: int, head: str, errmsg: str, *, oa: bool) -> FatalError:
        where = f"channels.{self.name}"
        agent = self.config.agent_id
        if code in (ec.IP_NOT_ALLOWED, ec.OA_IP_NOT_ALLOWED):
            ip = ec.ip_from_errmsg(errmsg) or "this server's public IP"
            if oa:
                return AuthError(
                    f"the Official Account refused calls from IP {ip} (errcode {code})",
                    connector=self.name,
                    service_code=code,
                    hint=f"add {ip} to the IP whitelist (公众号 → 设置与开发 → 基本配置 → IP白名单)",
                )
            return AuthError(
                f"WeCom refused calls from IP {ip} (errcode 60020: not in the app's trusted IPs)",
                connector=self.name,
                service_code=code,
                hint=f"add {ip} to 企业可信IP of app {agent} (应用管理 → the app → 企业可信IP)",
            )
        if code == ec.INVALID_CORPID:
            if oa:
                return AuthError(
                    head,
                    connector=self.name,
                    service_code=code,
                    hint=f"set {where}.oa_app_id to the AppID from 公众号 → 设置与开发 → 基本配置",
                )
            return AuthError(
                head,
                connector=self.name,
                service_code=code,
                hint=f"set {where}.corp_id to the 企业ID shown under 我的企业 → 企业信息",
            )
        if code in (ec.INVALID_SECRET, ec.SECRET_INVALID, ec.INVALID_APPSECRET):
            if oa:
                return AuthError(
                    head,
                    connector=self.name,
                    service_code=code,
                    hint=f"copy the AppSecret again into {where}.oa_app_secret (a reset revokes the old)",
                )
            return AuthError(
                head,
                connector=self.name,
                service_code=code,
                hint=f"copy the Secret of app {agent} again from 应用管理 into {where}.corp_secret "
                "(resetting a secret revokes the old one)",
            )
        if code in (ec.INVALID_AGENTID, ec.NO_APP_PERMISSION):
            return FatalError(
                head,
                connector=self.name,
                service_code=code,
                hint=f"set {where}.agent_id to the AgentId of the app whose Secret is configured",
            )
        if code == ec.INVALID_WEBHOOK_KEY:
            return FatalError(
                "WeCom rejected the group-robot key (errcode 93000 invalid webhook url)",
                connector=self.name,
                service_code=code,
                hint=f"copy the robot's webhook URL again (group → 群机器人) into {where}.webhook_key",
            )
        if code == ec.INVALID_TEMPLATE_ID:
            return FatalError(
                head,
                connector=self.name,
                service_code=code,
                hint=f"set {where}.oa_template_id to a template of the Official Account",
            )
        if code == ec.API_FORBIDDEN:
            return FatalError(
                head,
                connector=self.name,
                service_code=code,
                hint=f"app {agent} may not call this API; use a self-built app (自建应用) with message permission",
            )
        return FatalError(head, connector=self.name, service_code=code, hint=f"check the settings in {where}")

    # --- tokens --------------------------------------------------------------------------------------------

    async def _fetch_token(self) -> tuple[str, float, dict[str, str] | None]:
        answer = await self._request(
            "GET",
            f"{self.config.base_url}/cgi-bin/gettoken",
            params={"corpid": self.config.corp_id, "corpsecret": self.config.corp_secret.get_secret_value()},
        )
        return self._token_from(answer, "gettoken", oa=False)

    async def _fetch_oa_token(self) -> tuple[str, float, dict[str, str] | None]:
        if self.config.oa_app_id is None or self.config.oa_app_secret is None:
            raise FatalError(
                "Official Account messages are not configured",
                connector=self.name,
                hint=f"set channels.{self.name}.oa_app_id, oa_app_secret and oa_template_id",
            )
        answer = await self._request(
            "GET",
            f"{self.config.oa_base_url}/cgi-bin/token",
            params={
                "grant_type": "client_credential",
                "appid": self.config.oa_app_id,
                "secret": self.config.oa_app_secret.get_secret_value(),
            },
        )
        return self._token_from(answer, "token", oa=True)

    def _token_from(self, answer: Answer, what: str, *, oa: bool) -> tuple[str, float, dict[str, str] | None]:
        self.raise_for(answer, what, oa=oa)
        code = errcode_of(answer)
        token = answer.get("access_token")
        if code != 0 or not isinstance(token, str) or not token:
            raise FatalError(
                f"{'Official Account' if oa else 'WeCom'} {what} answered errcode {code} without a token",
                connector=self.name,
                service_code=code,
                hint=f"check channels.{self.name}",
            )
        try:
            lifetime = float(answer.get("expires_in", 7200))
        except (TypeError, ValueError):
            lifetime = 7200.0
        log.info(
            "channel %s: fetched a new %s access token (valid %.0f s)", self.name, "OA" if oa else "WeCom", lifetime
        )
        return token, lifetime, None

    # --- calls ---------------------------------------------------------------------------------------------

    async def app_call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: dict[str, Any] | None = None,
        policy: RetryPolicy | None = None,
    ) -> Answer:
        """Call a WeCom app API with the shared token; returns the answer (errcode 0 or record-level).

        ``policy`` overrides the retry policy (``check()`` uses a short one so a verdict comes quickly).
        """
        return await self._authed_call(
            self.token, self.config.base_url, method, path, params, json_body, oa=False, policy=policy
        )

    async def oa_call(self, path: str, json_body: dict[str, Any]) -> Answer:
        """Call an Official Account API with its token (one holder per process: a new OA token retires the old)."""
        return await self._authed_call(
            self.oa_token, self.config.oa_base_url, "POST", path, None, json_body, oa=True, policy=None
        )

    async def _authed_call(
        self,
        holder: SingleFlightToken,
        base: str,
        method: str,
        path: str,
        params: dict[str, Any] | None,
        json_body: dict[str, Any] | None,
        *,
        oa: bool,
        policy: RetryPolicy | None,
    ) -> Answer:
        what = path.removeprefix("/cgi-bin/")

        async def once() -> tuple[Answer, str]:
            token = (await holder.get()).value.get_secret_value()
            answer = await self._request(
                method, f"{base}{path}", params={**(params or {}), "access_token": token}, json_body=json_body
            )
            self.raise_for(answer, what, oa=oa)
            return answer, token

        refreshes = 0
        while True:
            answer, used = await retrying(
                once, policy=policy or self.policy, metrics=self.context.metrics, sleep=self._sleep
            )
            code = errcode_of(answer)
            is_token_error = ec.action(code) is ec.Action.REFRESH_TOKEN or (oa and code == ec.INVALID_SECRET)
            if not is_token_error:
                return answer
            if refreshes >= self.config.token_refresh_attempts:
                raise FatalError(
                    f"{'Official Account' if oa else 'WeCom'} {what} rejected {refreshes + 1} access token(s) in a "
                    f"row (errcode {code}: {ec.short_errmsg(str(answer.get('errmsg', '')))})",
                    connector=self.name,
                    service_code=code,
                    hint="another system may be resetting the secret or fetching tokens for the same app; "
                    "check who else uses these credentials",
                )
            refreshes += 1
            holder.invalidate(used)
            log.info(
                "channel %s: %s answered %s; fetching a new token (%d/%d)",
                self.name,
                what,
                code,
                refreshes,
                self.config.token_refresh_attempts,
            )

    async def robot_send(self, body: dict[str, Any]) -> Answer:
        """Post one group-robot message (the key is the credential; it stays in the query string)."""
        if self.config.webhook_key is None:
            raise FatalError(
                "the '@robot' recipient needs a group-robot key",
                connector=self.name,
                hint=f"set channels.{self.name}.webhook_key to the robot's webhook URL or key",
            )
        key = self.config.webhook_key.get_secret_value()

        async def once() -> Answer:
            answer = await self._request(
                "POST", f"{self.config.base_url}/cgi-bin/webhook/send", params={"key": key}, json_body=body
            )
            self.raise_for(answer, "webhook/send")
            return answer

        return await retrying(once, policy=self.policy, metrics=self.context.metrics, sleep=self._sleep)
