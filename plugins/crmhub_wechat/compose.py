"""Turning an `OutboundMessage` into WeCom request bodies: who gets it (recipient syntax) and what they read.

Recipient syntax (``OutboundMessage.recipients``):

==================  ==========================================================================================
``zhangsan``        a member's UserID (also ``user:zhangsan``); compared case-insensitively, as WeCom does
``party:2``         a department id (also ``dept:2``)
``tag:1``           a tag id
``@all``            every member who can see the app — refused unless ``allow_at_all`` is set
``@robot``          the group robot of ``webhook_key`` (a UserID cannot start with ``@``, so this is unambiguous)
``oa:OPENID``       an Official Account follower (template message)
==================  ==========================================================================================

Every text goes through `crmhub.masking.mask_text` *after* it is assembled and *before* it is cut to size, so no
ID number, mobile or account number leaves crmhub unmasked, whatever the template or caller put in.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from crmhub.contract import OutboundMessage
from crmhub.errors import RecordError
from crmhub.masking import mask_text
from crmhub.model.text import clean_text
from crmhub_wechat.config import WecomConfig
from crmhub_wechat.textutil import (
    card_description,
    first_url,
    markdown_to_text,
    neutralise_markdown,
    split_utf8,
    truncate_utf8,
)

ROBOT = "@robot"
AT_ALL = "@all"
_USERID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-@.]{0,63}$")
_NUMERIC_ID = re.compile(r"^\d{1,12}$")
_OPENID = re.compile(r"^[A-Za-z0-9_\-]{6,64}$")
TEXTCARD_TITLE_BYTES = 128
TEXTCARD_DESCRIPTION_BYTES = 512


@dataclass(slots=True)
class Targets:
    """The recipients of one message, by kind; keys are the caller's original strings (for per-recipient results)."""

    users: dict[str, str] = field(default_factory=dict)
    parties: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    robot: list[str] = field(default_factory=list)
    oa: dict[str, str] = field(default_factory=dict)
    invalid: dict[str, str] = field(default_factory=dict)

    @property
    def app(self) -> bool:
        """True when an application message is needed."""
        return bool(self.users or self.parties or self.tags)


def parse_recipients(recipients: list[str], *, allow_at_all: bool) -> Targets:
    """Sort recipient strings into users, departments, tags, robot and OA followers; explain the unusable ones."""
    out = Targets()
    for original in dict.fromkeys(r for r in recipients):
        value = original.strip()
        kind, sep, rest = value.partition(":")
        kind = kind.lower() if sep else ""
        if value.lower() == ROBOT:
            out.robot.append(original)
        elif value.lower() == AT_ALL:
            if allow_at_all:
                out.users[original] = AT_ALL
            else:
                out.invalid[original] = "refused: '@all' reaches every member; set allow_at_all = true to allow it"
        elif kind in ("party", "dept") and _NUMERIC_ID.match(rest.strip()):
            out.parties[original] = rest.strip()
        elif kind == "tag" and _NUMERIC_ID.match(rest.strip()):
            out.tags[original] = rest.strip()
        elif kind == "oa" and _OPENID.match(rest.strip()):
            out.oa[original] = rest.strip()
        elif kind == "user" and _USERID.match(rest.strip()):
            out.users[original] = rest.strip()
        elif not sep and _USERID.match(value):
            out.users[original] = value
        else:
            out.invalid[original] = "not a WeCom recipient: use a UserID, party:<id>, tag:<id>, @robot or oa:<openid>"
    return out


def _plain(message: OutboundMessage) -> str:
    """The message as plain text, headed by its subject."""
    body = message.text.strip() or markdown_to_text(message.markdown or "")
    subject = message.subject.strip()
    if subject and not body.startswith(subject):
        body = f"{subject}\n\n{body}" if body else subject
    return body


def _markdown(message: OutboundMessage) -> str:
    """The message as WeCom markdown: the caller's markdown, or the text under a bold subject."""
    if message.markdown and message.markdown.strip():
        return message.markdown.strip()
    subject = neutralise_markdown(message.subject.strip())
    body = neutralise_markdown(message.text.strip())
    return f"**{subject}**\n{body}" if subject else body


def _require(content: str) -> str:
    if not content.strip():
        raise RecordError("the notification is empty (WeCom answers 44004 for empty content)")
    return content


def _pieces(content: str, max_bytes: int, config: WecomConfig) -> list[str]:
    """Cleaned (no control characters or escape sequences, whoever composed it), masked, cut to size."""
    parts = config.max_parts if config.long_messages == "split" else 1
    return split_utf8(mask_text(_require(clean_text(content, multiline=True))), max_bytes, max_parts=parts)


def app_bodies(message: OutboundMessage, config: WecomConfig) -> list[dict[str, Any]]:
    """The ``msgtype`` part(s) of application messages (one per piece of a split message)."""
    if config.msgtype == "markdown":
        return [
            {"msgtype": "markdown", "markdown": {"content": piece}}
            for piece in _pieces(_markdown(message), config.markdown_max_bytes, config)
        ]
    if config.msgtype == "text":
        bodies: list[dict[str, Any]] = [
            {"msgtype": "text", "text": {"content": piece}}
            for piece in _pieces(_plain(message), config.text_max_bytes, config)
        ]
        if config.safe:
            for body in bodies:
                body["safe"] = 1
        return bodies
    return [textcard_body(message, config)]


def textcard_body(message: OutboundMessage, config: WecomConfig) -> dict[str, Any]:
    """A textcard: title ≤ 128 bytes, description ≤ 512 bytes (escaped, ``<br>`` lines), a link and a button."""
    text = mask_text(clean_text(message.text.strip() or markdown_to_text(message.markdown or ""), multiline=True))
    title = mask_text(clean_text(message.subject.strip())) or truncate_utf8(text.splitlines()[0] if text else "", 64)
    url = first_url(text) or first_url(message.markdown or "") or config.textcard_url
    if not url:
        raise RecordError("a textcard needs a link: put a URL in the text or set textcard_url")
    description = card_description(_require(text or title), TEXTCARD_DESCRIPTION_BYTES)
    return {
        "msgtype": "textcard",
        "textcard": {
            "title": truncate_utf8(_require(title), TEXTCARD_TITLE_BYTES),
            "description": description,
            "url": url,
            "btntxt": config.textcard_button,
        },
    }


def robot_bodies(message: OutboundMessage, config: WecomConfig) -> list[dict[str, Any]]:
    """Group-robot bodies: markdown (4,096 bytes) or text (2,048 bytes) with the configured @-mentions."""
    mentions = [m for m in config.robot_mentions if m]
    if config.robot_msgtype == "markdown":
        suffix = ("\n" + " ".join(f"<@{m}>" for m in mentions)) if mentions else ""
        room = config.robot_markdown_max_bytes - len(suffix.encode("utf-8"))
        return [
            {"msgtype": "markdown", "markdown": {"content": piece + suffix}}
            for piece in _pieces(_markdown(message), room, config)
        ]
    bodies: list[dict[str, Any]] = []
    for piece in _pieces(_plain(message), config.robot_text_max_bytes, config):
        text: dict[str, Any] = {"content": piece}
        if mentions:
            text["mentioned_list"] = mentions
        bodies.append({"msgtype": "text", "text": text})
    return bodies


def client_msg_id(key: str) -> str:
    """The notification key as an OA ``client_msg_id`` (de-duplicated per openid); long keys are hashed."""
    return key if len(key) <= 64 else hashlib.sha256(key.encode("utf-8")).hexdigest()[:48]


def oa_body(message: OutboundMessage, config: WecomConfig, openid: str, now: datetime) -> dict[str, Any]:
    """An Official Account template message; ``client_msg_id`` = the notification key (WeCom de-dups 10 min)."""
    values = {
        "subject": mask_text(clean_text(message.subject.strip())),
        "text": mask_text(clean_text(message.text.strip() or markdown_to_text(message.markdown or ""), multiline=True)),
        "kind": message.kind,
        "time": now.strftime("%Y-%m-%d %H:%M"),
    }
    data = {key: {"value": truncate_utf8(values[part], 600)} for key, part in config.oa_fields.items()}
    body: dict[str, Any] = {
        "touser": openid,
        "template_id": config.oa_template_id,
        "data": data,
        "client_msg_id": client_msg_id(message.key),
    }
    if config.oa_url:
        body["url"] = config.oa_url
    return body
