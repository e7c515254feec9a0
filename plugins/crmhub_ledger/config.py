"""`LedgerConfig`: the ``[connectors.<name>]`` table for ``plugin = "core_ledger"``.

The ledger is read-only for crmhub, so write-back defaults to off. Defaults follow the Fineract facts in the
design notes; the choices the notes mark UNCONFIRMED (which identifier type carries the USCC, where a
counterparty name lives, how a bank names its delinquency classes) are settings here, not constants.
"""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator

from crmhub.contract import ConnectorConfig, WriteBack
from crmhub.model import LoanClass


def _read_only() -> WriteBack:
    return WriteBack(enabled=False, fields=[], create=False)


DEFAULT_CLASS_NAMES: dict[str, LoanClass] = {
    "正常": LoanClass.PASS,
    "pass": LoanClass.PASS,
    "normal": LoanClass.PASS,
    "关注": LoanClass.SPECIAL_MENTION,
    "special mention": LoanClass.SPECIAL_MENTION,
    "次级": LoanClass.SUBSTANDARD,
    "substandard": LoanClass.SUBSTANDARD,
    "可疑": LoanClass.DOUBTFUL,
    "doubtful": LoanClass.DOUBTFUL,
    "损失": LoanClass.LOSS,
    "loss": LoanClass.LOSS,
}


class LedgerConfig(ConnectorConfig):
    """Connection and reading settings for a Fineract-shaped core ledger."""

    plugin: str = "core_ledger"
    base_url: str = Field(description="…/fineract-provider/api/v1 (HTTPS port 8443 on a default install).")
    username: str
    password: SecretStr
    tenant_id: str = Field(default="default", description="Sent as Fineract-Platform-TenantId on every call.")
    write_back: WriteBack = Field(default_factory=_read_only)
    page_size: int = Field(default=200, ge=1, le=1000, description="limit per list/search call (always explicit).")
    concurrency: int = Field(default=6, ge=1, le=64, description="Requests in flight at once.")
    date_format: str = Field(default="yyyy-MM-dd", description="dateFormat sent with query-parameter dates.")
    date_locale: str = Field(default="en", description="locale sent with dates.")
    history_days: int = Field(default=400, ge=1, description="Booking days of transactions read on the first run.")
    office_id: int | None = Field(default=None, description="Only clients of this office (and their accounts).")
    tenant_timezone: str = Field(default="Asia/Shanghai", description="Tenant-local zone of audit timestamps.")
    audit_overlap_seconds: int = Field(
        default=300,
        ge=0,
        description="Re-scan this much audit trail before the "
        "high-water mark; rows at or below the mark's id are skipped.",
    )
    loans_refresh: str = Field(
        default="every_run",
        pattern="^(every_run|daily)$",
        description="DPD moves with the calendar: page the loan list every run (details only "
        "of loans that may have changed; overdue ones once a day) or once a day.",
    )
    include_persons: bool = Field(default=False, description="Also read natural-person clients (legalFormId 1).")
    fetch_identifiers: bool = Field(
        default=True, description="Read /clients/{id}/identifiers when the USCC is not in clientNonPersonDetails."
    )
    uscc_document_types: list[str] = Field(
        default_factory=lambda: ["21", "USCC", "统一社会信用代码", "统一社会信用代码 (USCC)"],
        description="Identifier document types (id or name) that carry the USCC (UNCONFIRMED per bank).",
    )
    counterparty_name_field: str | None = Field(
        default="note",
        description="Transaction field holding the counterparty name; Fineract's paymentDetailData "
        "has none (UNCONFIRMED per bank).",
    )
    cash_payment_types: list[str] = Field(
        default_factory=list, description="Payment type ids or names counted as cash besides isCashPayment=true."
    )
    industry_map: dict[str, str] = Field(
        default_factory=dict,
        description="mainBusinessLine code-value id or name → GB/T 4754 code, for names "
        "that do not start with the code.",
    )
    classification_names: dict[str, LoanClass] = Field(
        default_factory=lambda: dict(DEFAULT_CLASS_NAMES),
        description="Words in delinquencyRange.classification that state a five-category class.",
    )
    retry_attempts: int = Field(default=6, ge=1, le=20)
    retry_max_wait: float = Field(default=120.0, gt=0, description="Seconds of back-off per call, at most.")
    retry_base_delay: float = Field(default=0.5, gt=0, description="First back-off in seconds (doubles per try).")

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, v: str) -> str:
        v = v.strip().rstrip("/")
        if not v.startswith(("http://", "https://")):
            raise ValueError(
                "base_url must start with http:// or https:// (e.g. https://ledger:8443/fineract-provider/api/v1)"
            )
        return v

    @field_validator("write_back")
    @classmethod
    def _no_write_back(cls, v: WriteBack) -> WriteBack:
        if v.enabled:
            raise ValueError("the core ledger is read-only for crmhub; set write_back.enabled = false")
        return v
