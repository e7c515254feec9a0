"""`FxiaokeConnector`: Fenxiang Xiaoke accounts and contacts in, risk and identity fields back out.

Streams:

- ``accounts`` (AccountObj → `CorporateClient`, writable) and ``contacts`` (ContactObj → `Contact`, linked through
  ``account_id`` → ``client_source_id``): full first run, then incremental, by the windowed ``_id`` keyset scan in
  `crmhub_fxiaoke.scan`. A row the tenant shows with ``life_status = invalid`` comes out as a tombstone
  (``deleted=True``) in its own stream.
- ``deleted`` (`StreamKind.DELETION`): invalidated (作废) AccountObj and ContactObj records, read with
  ``deleted_filters`` (default ``life_status EQ invalid``) because whether a tenant's default query includes them
  is UNCONFIRMED. Each tombstone names the stream it deletes. A record invalidated *and* hard-deleted between two
  runs is not observable through the open API.

Limits: each API path is paced to 100 calls / 20 s; 30004/14001/-1 back off and retry; 30002 stops the pull with
`FxiaokeQuotaExhausted`, whose ``resume_cursor`` is the cursor of the last page yielded.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import httpx

from crmhub.contract import (
    CheckResult,
    Connector,
    Cursor,
    OutboundRecord,
    Page,
    PayloadNames,
    PluginContext,
    PushResult,
    RejectedRecord,
    SourceRecord,
    StreamKind,
    StreamSpec,
)
from crmhub.errors import FatalError, IntegrationError, QuotaExhaustedError, RecordError
from crmhub_fxiaoke import mapping
from crmhub_fxiaoke.client import FxiaokeClient
from crmhub_fxiaoke.config import FxiaokeConfig
from crmhub_fxiaoke.scan import ScanState, scan

ACCOUNT, CONTACT = "AccountObj", "ContactObj"
OBJECTS = {"accounts": ACCOUNT, "contacts": CONTACT}


class FxiaokeQuotaExhausted(QuotaExhaustedError):
    """30002: the tenant's daily quota is spent. ``resume_cursor`` continues the stream after the reset."""

    def __init__(self, message: str, *, resume_cursor: Cursor | None, resets_at: datetime, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.resume_cursor = resume_cursor
        self.resets_at = resets_at


class FxiaokeConnector(Connector[FxiaokeConfig]):
    """Fenxiang Xiaoke (纷享销客) CRM through its open API (legacy body auth, or header auth as an option)."""

    config_model: ClassVar[type[FxiaokeConfig]] = FxiaokeConfig
    streams: ClassVar[tuple[StreamSpec, ...]] = (
        StreamSpec("accounts", StreamKind.CLIENT, writable=True),  # AccountObj (客户)
        StreamSpec("contacts", StreamKind.CONTACT),  # ContactObj (联系人), linked to accounts by account_id
        StreamSpec("deleted", StreamKind.DELETION),  # invalidated (作废) AccountObj and ContactObj, as tombstones
    )
    payload_names: ClassVar[PayloadNames] = PayloadNames(
        company=("account_id__r",),  # a contact's account lookup (an account names itself in ``name``)
    )

    def __init__(
        self, config: FxiaokeConfig, context: PluginContext, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        super().__init__(config, context)
        self.client = FxiaokeClient(config, context, transport=transport)
        self._maps: dict[str, mapping.FieldMap] = {}

    async def aclose(self) -> None:
        """Close the HTTP pool."""
        await self.client.aclose()

    # -- field discovery -------------------------------------------------------------------------------------

    async def field_map(self, stream: str) -> mapping.FieldMap:
        """The stream's field names, resolved once through ``describe`` (cached for the connector's life)."""
        fm = self._maps.get(stream)
        if fm is None:
            api = OBJECTS[stream]
            describe = await self.client.describe(api)
            cfg = self.config
            defaults = dict(mapping.ACCOUNT_DEFAULTS if stream == "accounts" else mapping.CONTACT_DEFAULTS)
            if stream == "accounts":
                defaults.update(
                    uscc=cfg.uscc_field, risk_rating=cfg.risk_rating_field, risk_segment=cfg.risk_segment_field
                )
            fm = mapping.resolve(defaults, cfg.fields.get(stream, {}), describe, api)
            for warning in fm.warnings:
                self.context.logger.warning("fxiaoke %s: %s", self.name, warning)
            self._maps[stream] = fm
        return fm

    async def describe_fields(self, stream: str) -> list[dict[str, Any]]:
        """The tenant's fields of a stream's object (api_name, label, type) — to find custom field names."""
        describe = await self.client.describe(OBJECTS[stream])
        fields = describe.get("fields") or {}
        return [
            {"api_name": k, "label": v.get("label"), "type": v.get("type")}
            for k, v in fields.items()
            if isinstance(v, dict)
        ]

    async def check(self) -> CheckResult:
        """Get a token, describe AccountObj, read one record; report the mapping warnings."""
        try:
            fm = await self.field_map("accounts")
            rows = await self.client.query(
                ACCOUNT,
                [],
                orders=[{"fieldName": "_id", "isAsc": True}],
                limit=1,
                projection=["_id", "name"],
                stream="accounts",
            )
        except IntegrationError as exc:
            return CheckResult(ok=False, message=str(exc), details={"code": exc.code, "service_code": exc.service_code})
        return CheckResult(
            ok=True,
            message=f"Fenxiang Xiaoke reachable at {self.config.base_url}; corpId "
            f"{self.client.corp_id}; AccountObj readable",
            details={"fields": fm.names, "warnings": fm.warnings, "sample_ids": [r.get("_id") for r in rows]},
        )

    # -- pull ------------------------------------------------------------------------------------------------

    def pull(self, stream: str, cursor: Cursor | None, *, since: datetime | None = None) -> AsyncIterator[Page]:
        """Pages of ``stream`` from ``cursor`` (``since`` overrides it); see the module docstring."""
        self.stream(stream)
        return self._pull(stream, cursor, since)

    async def _pull(self, stream: str, cursor: Cursor | None, since: datetime | None) -> AsyncIterator[Page]:
        since_ms = int(since.timestamp() * 1000) if since is not None else None
        last: Cursor | None = cursor
        try:
            if stream == "deleted":
                subs: dict[str, Any] = dict((cursor or {}).get("objects") or {})
                for target, api in OBJECTS.items():
                    state = ScanState.from_cursor(subs.get(api), connector=self.name, stream=stream)
                    async for rows, after in scan(
                        self.client,
                        api,
                        state,
                        stream=stream,
                        page_size=self.config.page_size,
                        overlap_ms=self.config.overlap_ms,
                        base_filters=list(self.config.deleted_filters),
                        since_ms=since_ms,
                    ):
                        subs[api] = after.to_cursor()
                        last = {"v": 1, "objects": dict(subs)}
                        yield Page(
                            [self._tombstone(target, r, stream) for r in rows if r.get("_id")],
                            last,
                            [
                                RejectedRecord(
                                    stream=stream, source_id=None, reason="row without _id", field="_id", payload=r
                                )
                                for r in rows
                                if not r.get("_id")
                            ],
                        )
                return
            fm = await self.field_map(stream)
            state = ScanState.from_cursor(cursor, connector=self.name, stream=stream)
            async for rows, after in scan(
                self.client,
                OBJECTS[stream],
                state,
                stream=stream,
                page_size=self.config.page_size,
                overlap_ms=self.config.overlap_ms,
                base_filters=[],
                since_ms=since_ms,
            ):
                last = after.to_cursor()
                yield self._page(stream, rows, fm, last)
        except QuotaExhaustedError as exc:
            raise self._quota_error(exc, stream, last) from exc

    def _page(self, stream: str, rows: list[dict[str, Any]], fm: mapping.FieldMap, next_cursor: Cursor) -> Page:
        records: list[SourceRecord] = []
        rejected: list[RejectedRecord] = []
        for row in rows:
            rec_id = row.get("_id")
            if not isinstance(rec_id, str) or not rec_id:
                rejected.append(
                    RejectedRecord(stream=stream, source_id=None, reason="row without _id", field="_id", payload=row)
                )
                continue
            try:
                modified = mapping.millis(row, "last_modified_time")
                if row.get("life_status") == "invalid" or row.get("is_deleted") is True:
                    records.append(
                        SourceRecord(stream=stream, source_id=rec_id, deleted=True, modified_at=modified, raw=row)
                    )
                    continue
                data = (
                    mapping.account(row, fm, self.config.industry_map)
                    if stream == "accounts"
                    else mapping.contact(row, fm)
                )
            except RecordError as exc:
                rejected.append(
                    RejectedRecord(
                        stream=stream,
                        source_id=rec_id,
                        field=exc.field,
                        payload=row,
                        reason=f"{OBJECTS[stream]} {rec_id}: {exc.message}",
                    )
                )
                continue
            # data is already a validated canonical record; re-validating the raw row would double the cost
            records.append(
                SourceRecord.model_construct(
                    stream=stream,
                    source_id=rec_id,
                    data=data,
                    deleted=False,
                    deletes_stream=None,
                    modified_at=modified,
                    raw=row,
                )
            )
        return Page(records, next_cursor, rejected)

    async def remap(self, stream: str, payload: dict[str, Any]) -> SourceRecord:
        """Map a dead-lettered AccountObj or ContactObj row again, through the same code as a pull (`_page`) with
        the current configuration and the tenant's field names (``describe``, read once)."""
        self.stream(stream)
        if stream not in OBJECTS:
            raise RecordError(
                f"stream {stream!r} has no mapping to apply again (a row without _id cannot be "
                "re-read); the next sync reads it again",
                stream=stream,
            )
        page = self._page(stream, [payload], await self.field_map(stream), {})
        if page.rejected:
            raise page.rejected[0].as_error()
        return page.records[0]

    @staticmethod
    def _tombstone(target: str, row: dict[str, Any], stream: str) -> SourceRecord:
        try:
            modified: datetime | None = mapping.millis(row, "last_modified_time")
        except RecordError:
            modified = None
        return SourceRecord(
            stream=stream, source_id=str(row["_id"]), deleted=True, deletes_stream=target, modified_at=modified, raw=row
        )

    def _quota_error(self, exc: QuotaExhaustedError, stream: str, cursor: Cursor | None) -> FxiaokeQuotaExhausted:
        tz = ZoneInfo(self.config.quota_reset_timezone)
        now = self.context.clock().astimezone(tz)
        resets = datetime.combine(now.date() + timedelta(days=1), time(0), tz).astimezone(UTC)
        return FxiaokeQuotaExhausted(
            f"{exc.message}; stream {stream!r} stopped cleanly — every page before this one is committed",
            resume_cursor=cursor,
            resets_at=resets,
            connector=self.name,
            stream=stream,
            service_code=exc.service_code,
            hint=f"the quota resets at {resets.astimezone(tz):%Y-%m-%d %H:%M} {self.config.quota_reset_timezone}; "
            "the next run resumes from the saved cursor",
        )

    # -- push ------------------------------------------------------------------------------------------------

    def writable_fields(self, stream: str) -> frozenset[str] | None:
        """Canonical fields an AccountObj write carries (and a later read brings back)."""
        if stream != "accounts":
            return frozenset()
        return frozenset({"name", "uscc", "phone", "email", "website", "industry", "address", "risk"})

    async def push(self, stream: str, records: Sequence[OutboundRecord]) -> list[PushResult]:
        """Create or update AccountObj records; one `PushResult` per input, in input order."""
        spec = self.stream(stream)
        if not spec.writable:
            raise FatalError(f"stream {stream!r} is read-only", connector=self.name, stream=stream)
        if not self.config.write_back.enabled:
            raise FatalError(
                "write-back is disabled for this connector",
                connector=self.name,
                stream=stream,
                hint=f"set [connectors.{self.name}.write_back] enabled = true",
            )
        from crmhub_fxiaoke.push import AccountWriter

        writer = AccountWriter(self, await self.field_map(stream))
        try:
            return await writer.push_all(records)
        except QuotaExhaustedError as exc:
            raise self._quota_error(exc, stream, None) from exc
