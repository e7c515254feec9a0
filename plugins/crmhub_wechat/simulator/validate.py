"""Validation of WeCom request bodies, as WeCom does it: the first problem found decides the errcode.

Pure functions (no state) so the rules can be read in one place: ``agentid`` (41011 / 40056), ``msgtype`` (40008),
content sizes in UTF-8 bytes (44004 empty, 45002 too long), textcard fields (41016 / 41033 / 41010, with title,
description and button silently cut to their limits as WeCom documents), recipient list lengths.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from crmhub_wechat import errcodes as ec
from crmhub_wechat.simulator.settings import SimSettings

APP_MSGTYPES = ("text", "markdown", "textcard")
ROBOT_MSGTYPES = ("text", "markdown")


class Invalid(Exception):
    """A request WeCom would refuse: ``errcode`` and the ``errmsg`` head."""

    def __init__(self, errcode: int, detail: str = "") -> None:
        head = ec.ERRMSG.get(errcode, "error")
        super().__init__(f"{head}, {detail}" if detail else head)
        self.errcode = errcode
        self.detail = detail


def _utf8(text: str) -> int:
    return len(text.encode("utf-8"))


def _cut(text: str, max_bytes: int) -> str:
    return text.encode("utf-8")[:max_bytes].decode("utf-8", errors="ignore")


def _ids(value: Any, name: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, str | int):
        raise Invalid(ec.INVALID_ARGS, f"{name} must be a '|'-separated string")
    return list(dict.fromkeys(p.strip() for p in str(value).split("|") if p.strip()))


@dataclass(slots=True)
class AppMessage:
    """A valid application message: recipients, type, content, and the fields WeCom cut to size."""

    agentid: int
    msgtype: str
    users: list[str]
    parties: list[str]
    tags: list[str]
    content: str
    duplicate_check: bool
    duplicate_interval: int
    truncated: list[str] = field(default_factory=list)


def _content(body: dict[str, Any], msgtype: str) -> str:
    part = body.get(msgtype)
    if not isinstance(part, dict):
        raise Invalid(ec.EMPTY_CONTENT, f"missing {msgtype} object")
    content = part.get("content")
    if not isinstance(content, str) or not content.strip():
        raise Invalid(ec.EMPTY_CONTENT)
    return content


def validate_app_message(body: dict[str, Any], s: SimSettings) -> AppMessage:
    """Check a ``message/send`` body; cut textcard fields to size in place (WeCom truncates them silently)."""
    raw_agent = body.get("agentid")
    if raw_agent is None or raw_agent == "":
        raise Invalid(ec.AGENTID_MISSING)
    try:
        agentid = int(raw_agent)
    except (TypeError, ValueError):
        raise Invalid(ec.INVALID_AGENTID) from None
    msgtype = body.get("msgtype")
    if msgtype not in APP_MSGTYPES:
        raise Invalid(ec.INVALID_MSGTYPE, f"msgtype {msgtype!r} (the simulator knows {', '.join(APP_MSGTYPES)})")
    truncated: list[str] = []
    if msgtype == "textcard":
        content = _textcard(body, s, truncated)
    else:
        content = _content(body, msgtype)
        limit = s.text_max_bytes if msgtype == "text" else s.markdown_max_bytes
        if _utf8(content) > limit:
            raise Invalid(ec.CONTENT_TOO_LONG, f"{msgtype}.content is {_utf8(content)} bytes, limit {limit}")
    users = _ids(body.get("touser"), "touser")
    parties = _ids(body.get("toparty"), "toparty")
    tags = _ids(body.get("totag"), "totag")
    if not (users or parties or tags):
        raise Invalid(ec.INVALID_ARGS, "touser, toparty and totag are all empty")
    if len(users) > s.max_users:
        raise Invalid(ec.INVALID_USERID_LIST_LENGTH, f"{len(users)} users, limit {s.max_users}")
    if len(parties) > s.max_parties:
        raise Invalid(ec.PARTY_LIST_TOO_LONG)
    if len(tags) > s.max_tags:
        raise Invalid(ec.TAG_LIST_TOO_LONG)
    interval = body.get("duplicate_check_interval", s.duplicate_check_default_interval)
    try:
        interval = max(1, min(int(interval), 4 * 3600))
    except (TypeError, ValueError):
        interval = s.duplicate_check_default_interval
    return AppMessage(
        agentid=agentid,
        msgtype=str(msgtype),
        users=users,
        parties=parties,
        tags=tags,
        content=content,
        duplicate_check=str(body.get("enable_duplicate_check", 0)) == "1",
        duplicate_interval=interval,
        truncated=truncated,
    )


def _textcard(body: dict[str, Any], s: SimSettings, truncated: list[str]) -> str:
    card = body.get("textcard")
    if not isinstance(card, dict):
        raise Invalid(ec.TITLE_MISSING, "missing textcard object")
    title, description, url = card.get("title"), card.get("description"), card.get("url")
    if not isinstance(title, str) or not title:
        raise Invalid(ec.TITLE_MISSING)
    if not isinstance(description, str) or not description:
        raise Invalid(ec.DESCRIPTION_MISSING)
    if not isinstance(url, str) or not url:
        raise Invalid(ec.URL_MISSING)
    if _utf8(title) > s.textcard_title_bytes:
        card["title"] = _cut(title, s.textcard_title_bytes)
        truncated.append("title")
    if _utf8(description) > s.textcard_description_bytes:
        card["description"] = _cut(description, s.textcard_description_bytes)
        truncated.append("description")
    btntxt = card.get("btntxt")
    if isinstance(btntxt, str) and len(btntxt) > s.textcard_btntxt_chars:
        card["btntxt"] = btntxt[: s.textcard_btntxt_chars]
        truncated.append("btntxt")
    return f"{card['title']}\n{card['description']}"


@dataclass(slots=True)
class RobotMessage:
    """A valid group-robot message."""

    msgtype: str
    content: str
    mentioned: list[str]
    mentioned_mobiles: list[str]


def validate_robot_message(body: dict[str, Any], s: SimSettings) -> RobotMessage:
    """Check a ``webhook/send`` body: text ≤ 2,048 bytes, markdown ≤ 4,096 bytes (defaults)."""
    msgtype = body.get("msgtype")
    if msgtype not in ROBOT_MSGTYPES:
        raise Invalid(ec.INVALID_MSGTYPE, f"msgtype {msgtype!r} (the simulator knows {', '.join(ROBOT_MSGTYPES)})")
    content = _content(body, str(msgtype))
    limit = s.robot_text_max_bytes if msgtype == "text" else s.robot_markdown_max_bytes
    if _utf8(content) > limit:
        raise Invalid(ec.CONTENT_TOO_LONG, f"{msgtype}.content is {_utf8(content)} bytes, limit {limit}")
    part = body[str(msgtype)]
    mentioned = [str(m) for m in part.get("mentioned_list") or []] if msgtype == "text" else []
    mobiles = [str(m) for m in part.get("mentioned_mobile_list") or []] if msgtype == "text" else []
    return RobotMessage(msgtype=str(msgtype), content=content, mentioned=mentioned, mentioned_mobiles=mobiles)


def validate_template_message(body: dict[str, Any], s: SimSettings) -> tuple[str, str, str | None]:
    """Check an OA ``message/template/send`` body → (openid, template_id, client_msg_id)."""
    openid = body.get("touser")
    if not isinstance(openid, str) or not openid:
        raise Invalid(ec.INVALID_USERID, "touser missing")
    if openid not in s.oa_followers and openid not in s.oa_unsubscribed:
        raise Invalid(ec.INVALID_USERID, "invalid openid")
    template_id = body.get("template_id")
    if not isinstance(template_id, str) or template_id not in s.oa_templates:
        raise Invalid(ec.INVALID_TEMPLATE_ID)
    data = body.get("data")
    if not isinstance(data, dict):
        raise Invalid(ec.INVALID_TEMPLATE_ARGUMENT, "data missing")
    for key in s.oa_templates[template_id]:
        item = data.get(key)
        value = item.get("value") if isinstance(item, dict) else None
        if not isinstance(value, str) or not value.strip():
            raise Invalid(ec.INVALID_TEMPLATE_ARGUMENT, f"data.{key}.value empty")
    if openid in s.oa_unsubscribed:
        raise Invalid(ec.REQUIRE_SUBSCRIBE)
    cmid = body.get("client_msg_id")
    return openid, template_id, str(cmid) if cmid else None
