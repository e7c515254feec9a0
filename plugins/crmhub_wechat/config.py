"""`WecomConfig`: the ``[channels.<name>]`` table of a ``wechat_work`` channel.

Defaults stay under WeCom's documented limits (30 messages/min per member, 20/min per group robot) because
WeCom drops the excess silently. Every credential is a `SecretStr`; the group-robot key is the whole credential
of its webhook URL, so a pasted URL is reduced to its key and never printed.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import parse_qs, urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from crmhub.contract import ChannelConfig

OaPart = Literal["subject", "text", "kind", "time"]
_OA_FIELDS: dict[str, OaPart] = {"keyword1": "subject", "keyword2": "text", "keyword3": "time"}


class WecomConfig(ChannelConfig):
    """How to reach one WeCom app (and optionally its group robot and an Official Account)."""

    base_url: str = Field("https://qyapi.weixin.qq.com", description="WeCom API root (the simulator's URL in tests).")
    corp_id: str = Field(description="企业ID (CorpID), from 我的企业 → 企业信息.")
    corp_secret: SecretStr = Field(description="The app's Secret (应用管理 → the app → Secret).")
    agent_id: int = Field(description="The app's AgentId.")
    webhook_key: SecretStr | None = Field(
        None, description="Group-robot key (or the whole webhook URL); enables the '@robot' recipient."
    )

    msgtype: Literal["markdown", "text", "textcard"] = Field(
        "markdown", description="Application message type. Markdown is not shown in WeChat's 微工作台; use text there."
    )
    robot_msgtype: Literal["markdown", "text"] = "markdown"
    robot_mentions: list[str] = Field(default_factory=list, description="User ids the robot @-mentions.")
    textcard_url: str | None = Field(None, description="Link of textcard messages whose text has no URL.")
    textcard_button: str = Field("详情", description="Textcard button text (≤ 4 characters).")
    safe: bool = Field(False, description="Send text messages as confidential (保密消息, no forwarding).")
    allow_at_all: bool = Field(False, description="Allow the '@all' recipient (every member who sees the app).")

    long_messages: Literal["split", "truncate"] = "split"
    max_parts: int = Field(3, ge=1, le=10, description="Most messages one long notification is split into.")
    text_max_bytes: int = Field(2048, ge=64, description="text content limit in UTF-8 bytes (UNCONFIRMED 2,048).")
    markdown_max_bytes: int = Field(2048, ge=64)
    robot_text_max_bytes: int = Field(2048, ge=64)
    robot_markdown_max_bytes: int = Field(4096, ge=64)

    duplicate_check: bool = Field(True, description="Ask WeCom to drop an identical message sent again (retries).")
    duplicate_check_interval: int = Field(1800, ge=1, le=14400)

    per_user_per_minute: int = Field(25, ge=1, le=30, description="Pace per member under WeCom's silent 30/min.")
    per_user_per_hour: int = Field(900, ge=1, le=1000, description="Pace per member under WeCom's 1,000/h.")
    robot_per_minute: int = Field(18, ge=1, le=20, description="Pace per robot under WeCom's 20/min.")
    api_calls_per_minute: int = Field(600, ge=1, description="Pace all API calls of this app (45009 above it).")
    rate_window_seconds: float = Field(
        60.0, gt=0, description="Length of a rate-limit 'minute'. Keep 60; tests shrink it with the simulator's."
    )
    concurrency: int = Field(5, ge=1, le=50)

    token_refresh_attempts: int = Field(
        1, ge=0, le=2, description="Fresh tokens to try after 40014/42001 (never unbounded, unlike wechatpy)."
    )
    retry_attempts: int = Field(5, ge=1, le=10, description="Attempts for -1 / 45009 / 45033 / network errors.")
    retry_base_delay: float = Field(1.0, gt=0)
    retry_max_wait: float = Field(120.0, gt=0, description="Most seconds of backoff for one message.")

    oa_base_url: str = Field("https://api.weixin.qq.com", description="Official Account API root.")
    oa_app_id: str | None = None
    oa_app_secret: SecretStr | None = None
    oa_template_id: str | None = None
    oa_fields: dict[str, OaPart] = Field(
        default_factory=lambda: dict(_OA_FIELDS),
        description="Template data key → the part of the notification it shows.",
    )
    oa_url: str | None = Field(None, description="Link opened from the template message.")

    @field_validator("base_url", "oa_base_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL such as https://qyapi.weixin.qq.com")
        return value.removesuffix("/cgi-bin")

    @field_validator("webhook_key")
    @classmethod
    def _key_from_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        raw = value.get_secret_value().strip()
        if raw.startswith(("http://", "https://")):
            keys = parse_qs(urlsplit(raw).query).get("key")
            if not keys or not keys[0]:
                raise ValueError("the webhook URL has no key=… parameter; copy it again from the group's robot")
            raw = keys[0]
        if not raw:
            raise ValueError("must not be empty")
        return SecretStr(raw)

    @field_validator("textcard_button")
    @classmethod
    def _button(cls, value: str) -> str:
        if not 1 <= len(value) <= 4:
            raise ValueError("WeCom shows at most 4 characters on a textcard button")
        return value

    @model_validator(mode="after")
    def _coherent(self) -> WecomConfig:
        oa = (self.oa_app_id, self.oa_app_secret, self.oa_template_id)
        if any(v is not None for v in oa) and not all(v is not None for v in oa):
            raise ValueError("Official Account messages need oa_app_id, oa_app_secret and oa_template_id together")
        return self

    @property
    def oa_enabled(self) -> bool:
        """True when Official Account template messages are configured."""
        return self.oa_app_id is not None
