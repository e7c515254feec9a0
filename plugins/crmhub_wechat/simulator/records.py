"""The simulator's log records: accepted, rejected and silently dropped messages, and the HTTP request log.

Plain dataclasses so tests can assert on them directly; `jsonable` turns them into the ``/_sandbox`` JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(slots=True)
class Delivered:
    """One accepted message. ``recipients`` are the members (or robot / openid) it actually reached."""

    seq: int
    channel: str
    msgid: str
    msgtype: str
    recipients: list[str]
    body: dict[str, Any]
    content: str
    time: datetime
    token: str | None
    agentid: int | None = None
    invalid: dict[str, list[str]] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)
    truncated: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Rejected:
    """One refused call and its errcode."""

    seq: int
    channel: str
    path: str
    errcode: int
    errmsg: str
    body: Any
    time: datetime
    token: str | None


@dataclass(slots=True)
class Dropped:
    """One copy WeCom accepted (errcode 0) but never showed the recipient."""

    seq: int
    channel: str
    msgid: str
    recipient: str
    reason: str
    time: datetime


@dataclass(slots=True)
class RequestRecord:
    """One HTTP call as the simulator saw it (secrets in the query string replaced by ``***``)."""

    seq: int
    time: datetime
    method: str
    path: str
    params: dict[str, str]
    errcode: int | None


def jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value
