"""WeCom and Official Account ``errcode`` values, their ``errmsg`` texts, and what crmhub must do about each.

One table serves the simulator (what to answer) and the channel (how to react), so both agree by construction.
Branch on the number, never on ``errmsg`` (WeCom changes the wording and appends a ``hint``).
"""

from __future__ import annotations

import re
from enum import StrEnum

OK = 0
BUSY = -1
INVALID_SECRET = 40001
INVALID_USERID = 40003
INVALID_MSGTYPE = 40008
INVALID_CORPID = 40013
INVALID_TOKEN = 40014
INVALID_USERID_LIST_LENGTH = 40032
INVALID_ARGS = 40035
INVALID_TEMPLATE_ID = 40037
INVALID_AGENTID = 40056
SECRET_INVALID = 40091
INVALID_APPSECRET = 40125
INVALID_GRANT_TYPE = 40002
OA_IP_NOT_ALLOWED = 40164
TOKEN_MISSING = 41001
CORPID_MISSING = 41002
SECRET_MISSING = 41004
URL_MISSING = 41010
AGENTID_MISSING = 41011
TITLE_MISSING = 41016
DESCRIPTION_MISSING = 41033
TOKEN_EXPIRED = 42001
REQUIRE_SUBSCRIBE = 43004
EMPTY_CONTENT = 44004
CONTENT_TOO_LONG = 45002
API_FREQ_OUT_OF_LIMIT = 45009
API_CONCURRENCY_OUT_OF_LIMIT = 45033
DATA_FORMAT_ERROR = 47001
INVALID_TEMPLATE_ARGUMENT = 47003
API_FORBIDDEN = 48002
NO_PERMISSION = 60011
IP_NOT_ALLOWED = 60020
ALL_RECIPIENTS_INVALID = 81013
ALL_MEMBERS_INVALID = 82001
PARTY_LIST_TOO_LONG = 82002
TAG_LIST_TOO_LONG = 82003
INVALID_WEBHOOK_KEY = 93000
NO_APP_PERMISSION = 301002

ERRMSG: dict[int, str] = {
    OK: "ok",
    BUSY: "system busy",
    INVALID_SECRET: "invalid credential",
    INVALID_USERID: "invalid userid",
    INVALID_MSGTYPE: "invalid message type",
    INVALID_CORPID: "invalid corpid",
    INVALID_TOKEN: "invalid access_token",
    INVALID_USERID_LIST_LENGTH: "invalid userid list length",
    INVALID_ARGS: "invalid args",
    INVALID_TEMPLATE_ID: "invalid template_id",
    INVALID_AGENTID: "invalid agentid",
    SECRET_INVALID: "secret is invalid",
    INVALID_APPSECRET: "invalid appsecret",
    INVALID_GRANT_TYPE: "invalid grant_type",
    OA_IP_NOT_ALLOWED: "invalid ip, not in whitelist",
    TOKEN_MISSING: "access_token missing",
    CORPID_MISSING: "corpid missing",
    SECRET_MISSING: "corpsecret missing",
    URL_MISSING: "url missing",
    AGENTID_MISSING: "agentid missing",
    TITLE_MISSING: "title missing",
    DESCRIPTION_MISSING: "description missing",
    TOKEN_EXPIRED: "access_token expired",
    REQUIRE_SUBSCRIBE: "require subscribe",
    EMPTY_CONTENT: "empty content",
    CONTENT_TOO_LONG: "content size out of limit",
    API_FREQ_OUT_OF_LIMIT: "api freq out of limit",
    API_CONCURRENCY_OUT_OF_LIMIT: "api concurrent out of limit",
    DATA_FORMAT_ERROR: "data format error",
    INVALID_TEMPLATE_ARGUMENT: "argument invalid!",
    API_FORBIDDEN: "api forbidden",
    NO_PERMISSION: "no privilege to access/modify contact/party/agent",
    IP_NOT_ALLOWED: "not allow to access from your ip",
    ALL_RECIPIENTS_INVALID: "user & party & tag all invalid",
    ALL_MEMBERS_INVALID: "all user & party & tag invalid",
    PARTY_LIST_TOO_LONG: "invalid partyid list size",
    TAG_LIST_TOO_LONG: "invalid tagid list size",
    INVALID_WEBHOOK_KEY: "invalid webhook url",
    NO_APP_PERMISSION: "no privilege to access app",
}
"""English ``errmsg`` heads as WeCom writes them (before its ``, hint: [...]`` suffix); wording UNCONFIRMED."""


class Action(StrEnum):
    """What crmhub does with an errcode (the "crmhub action" column of the design fact sheet)."""

    OK = "ok"
    REFRESH_TOKEN = "refresh_token"
    RETRY = "retry"
    RATE_LIMITED = "rate_limited"
    FATAL_CONFIG = "fatal_config"
    FATAL_BUG = "fatal_bug"
    RECORD = "record"


_ACTIONS: dict[int, Action] = {
    OK: Action.OK,
    BUSY: Action.RETRY,
    API_CONCURRENCY_OUT_OF_LIMIT: Action.RETRY,
    API_FREQ_OUT_OF_LIMIT: Action.RATE_LIMITED,
    INVALID_TOKEN: Action.REFRESH_TOKEN,
    TOKEN_EXPIRED: Action.REFRESH_TOKEN,
    INVALID_SECRET: Action.FATAL_CONFIG,
    INVALID_CORPID: Action.FATAL_CONFIG,
    SECRET_INVALID: Action.FATAL_CONFIG,
    INVALID_APPSECRET: Action.FATAL_CONFIG,
    INVALID_AGENTID: Action.FATAL_CONFIG,
    INVALID_TEMPLATE_ID: Action.FATAL_CONFIG,
    API_FORBIDDEN: Action.FATAL_CONFIG,
    IP_NOT_ALLOWED: Action.FATAL_CONFIG,
    OA_IP_NOT_ALLOWED: Action.FATAL_CONFIG,
    INVALID_WEBHOOK_KEY: Action.FATAL_CONFIG,
    NO_APP_PERMISSION: Action.FATAL_CONFIG,
    TOKEN_MISSING: Action.FATAL_BUG,
    CORPID_MISSING: Action.FATAL_CONFIG,
    SECRET_MISSING: Action.FATAL_CONFIG,
    AGENTID_MISSING: Action.FATAL_BUG,
    INVALID_MSGTYPE: Action.FATAL_BUG,
    INVALID_ARGS: Action.FATAL_BUG,
    DATA_FORMAT_ERROR: Action.FATAL_BUG,
    INVALID_GRANT_TYPE: Action.FATAL_BUG,
    URL_MISSING: Action.RECORD,
    TITLE_MISSING: Action.RECORD,
    DESCRIPTION_MISSING: Action.RECORD,
    INVALID_USERID: Action.RECORD,
    INVALID_USERID_LIST_LENGTH: Action.RECORD,
    PARTY_LIST_TOO_LONG: Action.RECORD,
    TAG_LIST_TOO_LONG: Action.RECORD,
    EMPTY_CONTENT: Action.RECORD,
    CONTENT_TOO_LONG: Action.RECORD,
    NO_PERMISSION: Action.RECORD,
    ALL_RECIPIENTS_INVALID: Action.RECORD,
    ALL_MEMBERS_INVALID: Action.RECORD,
    REQUIRE_SUBSCRIBE: Action.RECORD,
    INVALID_TEMPLATE_ARGUMENT: Action.RECORD,
}


def action(errcode: int) -> Action:
    """What to do with ``errcode``; unknown non-zero codes are record-level (the message fails, the run goes on)."""
    return _ACTIONS.get(errcode, Action.RECORD)


_HINT = re.compile(r",?\s*hint:.*$", re.DOTALL)
_FROM_IP = re.compile(r"(?:from ip:|invalid ip)\s*([0-9A-Fa-f:.]+)")


def short_errmsg(errmsg: str) -> str:
    """``errmsg`` without WeCom's ``hint: [...] from ip ... more info at ...`` tail, for operator messages."""
    return _HINT.sub("", errmsg).strip() or errmsg.strip()


def ip_from_errmsg(errmsg: str) -> str | None:
    """The caller IP WeCom reports in a 60020 ``errmsg`` (``… from ip: 1.2.3.4 …``), if present."""
    found = _FROM_IP.search(errmsg)
    return found.group(1).rstrip(".,") if found else None
