"""``[connectors.<name>]`` settings of the ``zoho_crm`` connector.

Only four keys are required (``accounts_url``, ``client_id``, ``client_secret``, ``refresh_token``); every other
key has a default that works for a Standard-edition org. Facts the fact sheet marks UNCONFIRMED (credit caps,
per-edition concurrency changes, bulk polling cadence) are keys here, never constants in the code.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, HttpUrl, SecretStr, field_validator

from crmhub.contract import ConnectorConfig, WriteBack

Edition = Literal["free", "standard", "professional", "enterprise", "ultimate"]

EDITION_CONCURRENCY: dict[str, int] = {"free": 5, "standard": 10, "professional": 15, "enterprise": 20, "ultimate": 25}
"""Simultaneous API calls per org per app (Kaizen #203; Airbyte ``_CONCURRENCY_API_LIMITS``)."""

HEAVY_CONCURRENCY = 10
"""Sub-concurrency for COQL and writes of more than 10 records, on every edition."""


BULK_WRITE_FILE_LIMIT = 25_000
"""Records in one Bulk Write CSV (Zoho "Bulk Write" upload page: ≤ 25,000 records, ≤ 25 MB per file)."""


class ZohoWriteBack(WriteBack):
    """``[connectors.<name>.write_back]``: the common keys plus when and how write-back uses Bulk Write.

    Why: a change set of thousands of records costs one heavy call (and 1 credit per 10 records) per 100 records
    through ``/upsert``, each under the heavy sub-concurrency of 10; a Bulk Write job takes 25,000 records per file
    and runs asynchronously at Zoho. Initialising a job costs far more credits than one call (2nd-hand: 500), so
    small change sets keep the record API.
    """

    bulk_threshold: int = Field(
        default=1000,
        ge=0,
        description=(
            "A push of at least this many records goes through the Bulk Write API (zipped CSV, job, poll, result "
            "file); smaller ones use /upsert and PUT in batches of 100. 0 = never use Bulk Write."
        ),
    )
    bulk_file_records: int = Field(
        default=10_000,
        ge=1,
        le=BULK_WRITE_FILE_LIMIT,
        description=(
            "Records per Bulk Write file (one job each) and per push the deliverer hands over; Zoho allows at most "
            "25,000. 10,000 keeps the deliverer's batch in memory small while a job still costs half the credits of "
            "the same records through the record API (2nd-hand: 500 vs 1,000)."
        ),
    )
    bulk_poll_interval: float = Field(default=2.0, gt=0, description="First wait between Bulk Write status polls.")
    bulk_poll_max: float = Field(default=30.0, gt=0, description="Longest wait between Bulk Write status polls.")
    bulk_timeout: float = Field(
        default=3600.0,
        gt=0,
        description=(
            "Give up waiting for a Bulk Write job after this long; its records are retried later (updates by id are "
            "idempotent)."
        ),
    )
    upload_url: str | None = Field(
        default=None,
        description=(
            "File-upload server for Bulk Write files, e.g. https://content.zohoapis.com.cn; default: from the data "
            "centre of accounts_url (fact sheet §1.1), else the api_domain (a simulator)."
        ),
    )


class ZohoConfig(ConnectorConfig):
    """Settings of one Zoho CRM org."""

    plugin: str = "zoho_crm"
    write_back: ZohoWriteBack = Field(default_factory=ZohoWriteBack)
    accounts_url: HttpUrl = Field(
        description="Zoho Accounts server of the org's data centre, e.g. "
        "https://accounts.zoho.com.cn (CN) or https://accounts.zoho.com (US)."
    )
    client_id: str = Field(min_length=1)
    client_secret: SecretStr
    refresh_token: SecretStr
    edition: Edition = "standard"
    concurrency: int | None = Field(
        default=None, ge=1, le=100, description="In-flight calls; default from the edition (5/10/15/20/25)."
    )
    daily_credits: int | None = Field(
        default=None, ge=1, description="Credits per rolling 24 h; None = trust the service's header."
    )
    api_version: str = Field(default="v8", pattern=r"^v\d+(\.\d+)?$")
    page_size: int = Field(default=200, ge=1, le=200)
    bulk_threshold: int = Field(
        default=50_000, ge=0, description="A full load of more records than this uses Bulk Read; 0 = never."
    )
    bulk_poll_interval: float = Field(default=2.0, gt=0, description="First wait between Bulk Read status polls.")
    bulk_poll_max: float = Field(default=30.0, gt=0, description="Longest wait between Bulk Read status polls.")
    bulk_timeout: float = Field(default=3600.0, gt=0, description="Give up on a Bulk Read job after this long.")
    parallel_read: Literal["auto", "coql", "sequential"] = Field(
        default="auto", description="auto/coql: plan parallel windows with COQL key scans; sequential: one chain."
    )
    coql_offset_limit: int = Field(
        default=100_000, ge=2000, description="Largest COQL OFFSET + LIMIT in key scans (UNCONFIRMED: 100,000)."
    )
    overlap_seconds: int = Field(default=300, ge=0, description="Re-read window before the incremental cursor.")
    boundary_ids: int = Field(
        default=2000,
        ge=0,
        description="At most this many (id, Modified_Time) pairs kept in the cursor to drop overlap duplicates.",
    )
    duplicate_check_fields: list[str] = Field(default_factory=lambda: ["USCC"])
    uscc_field: str = "USCC"
    risk_rating_field: str = "Risk_Rating"
    risk_segment_field: str = "Risk_Segment"
    industry_map: dict[str, str] = Field(
        default_factory=dict, description="Extra Industry picklist value → GB/T 4754 code."
    )
    trigger: list[str] | None = Field(
        default=None, description="Write trigger list; None = Zoho's default (workflows run), [] = none."
    )
    max_attempts: int = Field(default=8, ge=1)
    max_total_wait: float = Field(default=300.0, gt=0, description="Seconds of backoff one call may spend.")
    base_delay: float = Field(default=0.5, gt=0)
    max_delay: float = Field(default=30.0, gt=0)

    @field_validator("accounts_url")
    @classmethod
    def _no_token_path(cls, v: HttpUrl) -> HttpUrl:
        if v.path and v.path.rstrip("/").endswith("/oauth/v2/token"):
            raise ValueError(
                "give the Accounts server only (e.g. https://accounts.zoho.com.cn), without /oauth/v2/token"
            )
        return v

    @property
    def effective_concurrency(self) -> int:
        """The in-flight cap: ``concurrency`` when set, else the edition's."""
        return self.concurrency or EDITION_CONCURRENCY[self.edition]

    @property
    def token_url(self) -> str:
        """``{accounts_url}/oauth/v2/token``."""
        return str(self.accounts_url).rstrip("/") + "/oauth/v2/token"
