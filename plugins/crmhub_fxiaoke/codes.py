"""Fenxiang Xiaoke ``errorCode`` values and what crmhub does with each.

Every gateway answer is HTTP 200; success is ``errorCode == 0`` and nothing else. The vendor warns that
``errorMessage`` text changes, so crmhub branches on the code only and keeps the message (and ``traceId``) for
the operator. The table follows the fact sheet (apis/fxiaoke.md §6); the connector and the simulator share it so
the simulator answers exactly the codes the connector is written against.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from crmhub.errors import (
    AuthError,
    FatalError,
    IntegrationError,
    QuotaExhaustedError,
    RateLimitedError,
    RecordError,
    RetriableError,
)

OK = 0
BUSY = -1
SYSTEM_ERROR = -2
MISSING_CORP_ACCESS_TOKEN = 10013  # also "offset out of range 10000" on query (see `classify`)
LIVE_BAD_APP_SECRET = 10006
CALL_LIMIT = 14001
INVALID_PARAMETER = 15002
TOKEN_EXPIRED = 20016
CORP_ID_NOT_FOUND = 20017
DAILY_QUOTA = 30002
NO_QUOTA_PURCHASED = 30003
FREQUENCY_LIMIT = 30004
PARAMETER_ERROR = 32000
SERVICE_TIMEOUT = 50009


class Action(StrEnum):
    """What the caller must do about a code."""

    RETRY = "retry"
    RATE = "rate"
    REFRESH = "refresh"
    AUTH = "auth"
    FATAL = "fatal"
    QUOTA = "quota"
    RECORD = "record"


CODES: dict[int, tuple[Action, str]] = {
    -1: (Action.RETRY, "system busy (系统繁忙)"),
    -2: (Action.RETRY, "system error (系统错误)"),
    10001: (Action.AUTH, "appId missing"),
    10002: (Action.AUTH, "appSecret missing"),
    10006: (Action.AUTH, "appSecret missing or illegal (live gateway) / missing scope (code table)"),
    10012: (Action.AUTH, "permanentCode missing"),
    10013: (Action.AUTH, "corpAccessToken missing"),
    10014: (Action.AUTH, "corpId missing"),
    11001: (Action.AUTH, "appId invalid"),
    11002: (Action.AUTH, "appSecret invalid"),
    11013: (Action.AUTH, "permanentCode invalid"),
    11014: (Action.AUTH, "corpAccessToken invalid"),
    11015: (Action.AUTH, "corpId invalid"),
    12002: (Action.AUTH, "login state error"),
    14001: (Action.RATE, "call limit exceeded (接口调用超过限制)"),
    15002: (Action.RECORD, "invalid parameter"),
    15003: (Action.FATAL, "the app has no access permission"),
    20005: (Action.REFRESH, "app access token missing or expired"),
    20006: (Action.AUTH, "appId or appSecret wrong"),
    20014: (Action.FATAL, "the app has no permission for this employee's data"),
    20015: (Action.AUTH, "permanent code wrong"),
    20016: (Action.REFRESH, "corpAccessToken missing or expired"),
    20017: (Action.AUTH, "corpId not found / no token sent"),
    20020: (Action.FATAL, "no permission for this enterprise's data"),
    20021: (Action.FATAL, "the app is disabled"),
    20022: (Action.FATAL, "the enterprise has not authorised the app"),
    20023: (Action.FATAL, "no department permission"),
    30002: (Action.QUOTA, "daily call quota exceeded (当天访问频次超限, resets 00:00)"),
    30003: (Action.FATAL, "no OpenAPI quota purchased"),
    30004: (Action.RATE, "per-interface frequency exceeded (秒频次超限)"),
    30007: (Action.RECORD, "department not found"),
    30027: (Action.RECORD, "employee not found"),
    32000: (Action.RECORD, "parameter error"),
    50009: (Action.RETRY, "service exception or timeout"),
}
"""errorCode → (action, meaning). Unknown codes: record-level on writes, fatal on reads."""

OFFSET_OUT_OF_RANGE_MESSAGE = "offset out of range 10000"


def envelope_error(body: dict[str, Any]) -> tuple[int, str, str]:
    """(errorCode, errorMessage, traceId) of an answer; a missing or non-int code counts as malformed (-2)."""
    code = body.get("errorCode")
    if isinstance(code, bool) or not isinstance(code, int):
        try:
            code = int(str(code))
        except ValueError:
            code = SYSTEM_ERROR
    message = str(body.get("errorMessage") or body.get("errorDescription") or "")
    return code, message, str(body.get("traceId") or "")


def classify(code: int, *, path: str, writing: bool) -> Action:
    """The action for ``code`` on ``path``; 10013 is a paging error on query, an auth error elsewhere."""
    if code == MISSING_CORP_ACCESS_TOKEN and path.endswith("/data/query"):
        return Action.FATAL
    known = CODES.get(code)
    if known is not None:
        return known[0]
    return Action.RECORD if writing else Action.FATAL


def to_error(
    code: int,
    message: str,
    trace_id: str,
    *,
    path: str,
    writing: bool,
    connector: str | None,
    stream: str | None,
    source_id: str | None = None,
) -> IntegrationError:
    """The typed crmhub error for a non-zero ``errorCode`` (never includes request bodies or secrets)."""
    action = classify(code, path=path, writing=writing)
    meaning = CODES.get(code, (action, "unknown code"))[1]
    text = f"Fenxiang Xiaoke {path} answered errorCode {code} ({meaning}): {message or '-'} [traceId {trace_id or '-'}]"
    common: dict[str, Any] = {"connector": connector, "stream": stream, "service_code": code}
    if action is Action.RATE:
        return RateLimitedError(text, hint="crmhub paces below 100 calls / 20 s per path and backs off", **common)
    if action is Action.RETRY:
        return RetriableError(text, hint="transient on Fenxiang's side; the call is retried with backoff", **common)
    if action is Action.QUOTA:
        return QuotaExhaustedError(
            text,
            hint="the daily quota resets at 00:00 (Asia/Shanghai); the run resumes from its saved cursor",
            **common,
        )
    if action in (Action.AUTH, Action.REFRESH):
        return AuthError(
            text,
            hint="check app_id, app_secret, permanent_code and current_open_user_id in "
            f"[connectors.{connector or 'fxiaoke'}]",
            **common,
        )
    if action is Action.RECORD and writing:
        return RecordError(text, source_id=source_id, **common)
    if code == MISSING_CORP_ACCESS_TOKEN:
        return FatalError(
            text,
            hint="a query asked for offset > 10,000; crmhub's keyset scan never should — please report this as a bug",
            **common,
        )
    return FatalError(text, hint="Fenxiang refused the call; the message names the cause", **common)
