"""``[connectors.<name>]`` for ``plugin = "fxiaoke"``: credentials, host, pacing and field names.

Defaults follow the fact sheet (apis/fxiaoke.md): 100 rows per page, 100 calls per 20 s per API path, token
endpoint at most 10 calls a minute. Everything the fact sheet marks UNCONFIRMED is a key here (the host, the
custom field API names, the deleted-record filter, the duplicate-rule error codes, the auth style).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator

from crmhub.contract import ConnectorConfig
from crmhub.http import RetryPolicy


class FxiaokeConfig(ConnectorConfig):
    """Connector settings for one Fenxiang Xiaoke tenant."""

    base_url: str = Field(
        default="https://open.fxiaoke.com",
        description="Gateway of the tenant's cloud, e.g. https://open-hwcloud.fxiaoke.com.",
    )
    app_id: str = Field(description="FSAID_… of the enterprise app.")
    app_secret: SecretStr
    permanent_code: SecretStr
    current_open_user_id: str = Field(
        description="FSUID_… of the acting employee (a CRM admin); data permissions follow this user."
    )
    auth_style: Literal["body", "header"] = Field(
        default="body",
        description="body = legacy corpAccessToken in the JSON body; header = /oauth2.0/token + "
        "Bearer/x-fs-ea/x-fs-userid headers.",
    )
    header_user_id: str | None = Field(
        default=None, description="x-fs-userid (CRM employee id, e.g. 1000) for auth_style = header."
    )

    page_size: int = Field(default=100, ge=1, le=100)
    calls_per_window: int = Field(default=100, ge=1, description="Calls per API path per window.")
    window_seconds: float = Field(default=20.0, gt=0)
    token_calls_per_minute: int = Field(default=10, ge=1)
    token_window_seconds: float = Field(default=60.0, gt=0)
    token_margin_seconds: float = Field(
        default=180.0, ge=0, description="Renew this long before expiresIn ends (the vendor demo uses 180)."
    )
    concurrency: int = Field(default=4, ge=1, description="Calls in flight at once (push and parallel streams).")
    overlap_ms: int = Field(
        default=10_000,
        ge=0,
        description="Each incremental window starts this much before the last one ended, to catch late commits.",
    )

    uscc_field: str = "uscc__c"
    risk_rating_field: str = "risk_rating__c"
    risk_segment_field: str = "risk_segment__c"
    industry_map: dict[str, str | list[str]] = Field(
        default_factory=dict,
        description="Picklist value or label → GB/T 4754 code(s); several codes = ambiguous, empty = not an industry.",
    )
    deleted_filters: list[dict[str, Any]] = Field(
        default_factory=lambda: [{"field_name": "life_status", "operator": "EQ", "field_values": ["invalid"]}],
        description="Filters that select invalidated (作废) records for the deleted stream.",
    )
    duplicate_error_codes: list[int] = Field(
        default_factory=lambda: [32000],
        description="errorCodes the duplicate rule answers with; any refused create is also checked by USCC.",
    )

    retry_max_attempts: int = Field(default=8, ge=1)
    retry_base_delay: float = Field(default=0.5, gt=0)
    retry_max_delay: float = Field(default=30.0, gt=0)
    retry_max_total_wait: float = Field(default=300.0, gt=0)
    daily_call_budget: int | None = Field(
        default=None, ge=1, description="crmhub's own cap on calls per run, to leave quota to other integrations."
    )
    quota_reset_timezone: str = Field(default="Asia/Shanghai", description="Where the daily quota's 00:00 is.")

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, v: str) -> str:
        v = v.strip().rstrip("/")
        if not v.startswith(("http://", "https://")):
            raise ValueError(f"base_url {v!r} must start with https:// (e.g. https://open.fxiaoke.com)")
        return v

    def retry_policy(self) -> RetryPolicy:
        """The retry policy these settings describe."""
        return RetryPolicy(
            max_attempts=self.retry_max_attempts,
            base_delay=self.retry_base_delay,
            max_delay=self.retry_max_delay,
            max_total_wait=self.retry_max_total_wait,
            connect_attempts=self.connect_attempts,
        )
