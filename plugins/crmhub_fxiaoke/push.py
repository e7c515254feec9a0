"""Write-back to AccountObj: update by ``_id``, or find by USCC before creating, so retries never duplicate.

A create whose answer was lost (dropped connection, -1, timeout) may or may not have happened. Retrying it
blindly is how integrations create duplicates (peers.md §5 #2). Here every create is preceded by a lookup on the
USCC field — including before each retry — and sent with ``optionInfo.isDuplicateSearch`` so the tenant's own
duplicate rule also refuses a second record; a refused create is resolved by the same lookup, whatever the
refusal's errorCode (the duplicate code is UNCONFIRMED). A record without a USCC has no natural key: it is
created once and an ambiguous failure is reported as retriable instead of being resent.
"""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import httpx

from crmhub.contract import OutboundRecord, PushResult
from crmhub.errors import FatalError, RecordError, RetriableError
from crmhub.model import CorporateClient
from crmhub_fxiaoke import mapping
from crmhub_fxiaoke.client import DATA

if TYPE_CHECKING:
    from crmhub_fxiaoke.connector import FxiaokeConnector

ACCOUNT = "AccountObj"


class AccountWriter:
    """Writes one batch of accounts for a connector."""

    def __init__(self, connector: FxiaokeConnector, fm: mapping.FieldMap) -> None:
        self.connector = connector
        self.client = connector.client
        self.config = connector.config
        self.fm = fm

    async def push_all(self, records: Sequence[OutboundRecord]) -> list[PushResult]:
        """Results in input order; records sharing a USCC are written one after another (no self-race)."""
        results: list[PushResult | None] = [None] * len(records)
        groups: dict[str, list[int]] = defaultdict(list)
        for i, rec in enumerate(records):
            uscc = rec.data.uscc if isinstance(rec.data, CorporateClient) else None
            groups[uscc or f"#{i}"].append(i)

        async def run(indexes: list[int]) -> None:
            for i in indexes:
                results[i] = await self.push_one(records[i])

        await asyncio.gather(*(run(ix) for ix in groups.values()))
        return [r for r in results if r is not None]

    async def push_one(self, rec: OutboundRecord) -> PushResult:
        """Write one record; record-level refusals and exhausted retries become an error result."""
        if not isinstance(rec.data, CorporateClient):
            return PushResult(key=rec.key, status="error", reason="only accounts (CorporateClient) are written back")
        allowed = set(self.config.write_back.fields)
        if rec.fields is not None:
            allowed &= set(rec.fields)
        payload, skipped = mapping.account_payload(rec.data, allowed, self.fm, self.config.industry_map)
        extra: dict[str, Any] = {"skipped_fields": skipped} if skipped else {}
        try:
            if rec.source_id:
                if not payload:
                    return PushResult(key=rec.key, status="ok", source_id=rec.source_id, action="unchanged", raw=extra)
                await self._update(rec.source_id, payload)
                return PushResult(key=rec.key, status="ok", source_id=rec.source_id, action="update", raw=extra)
            return await self._upsert(rec, payload, extra)
        except RecordError as exc:
            return PushResult(
                key=rec.key,
                status="error",
                source_id=rec.source_id,
                reason=exc.message,
                field=exc.field,
                raw={"errorCode": exc.service_code, **extra},
            )
        except RetriableError as exc:
            return PushResult(
                key=rec.key,
                status="error",
                source_id=rec.source_id,
                reason=exc.message,
                retriable=True,
                raw={"errorCode": exc.service_code, **extra},
            )

    async def _upsert(self, rec: OutboundRecord, payload: dict[str, Any], extra: dict[str, Any]) -> PushResult:
        assert isinstance(rec.data, CorporateClient)
        uscc = rec.data.uscc
        if uscc:
            found = await self._find(uscc, list(payload))
            if found is not None:
                return await self._update_found(rec.key, found, payload, extra)
        if not self.config.write_back.create:
            return PushResult(
                key=rec.key,
                status="error",
                reason=(
                    f"no Fenxiang account with USCC {uscc} and creating accounts is disabled"
                    if uscc
                    else "the record has no Fenxiang _id and no USCC, and creating accounts is disabled"
                ),
                field="uscc",
                raw=extra,
            )
        if "name" not in payload and self.fm.api("name"):
            payload[self.fm.api("name") or "name"] = rec.data.name
        return await self._create(rec.key, uscc, payload, extra)

    async def _create(self, key: str, uscc: str | None, payload: dict[str, Any], extra: dict[str, Any]) -> PushResult:
        body = {
            "data": {
                "object_data": {"dataObjectApiName": ACCOUNT, **payload},
                "optionInfo": {"isDuplicateSearch": True, "skipFuncValidate": False, "useValidationRule": True},
            },
            "triggerWorkFlow": True,
            "triggerApprovalFlow": False,
        }
        policy = self.client.policy
        last: Exception | None = None
        for attempt in range(1, policy.max_attempts + 1):
            try:
                answer = await self.client.send_once(DATA + "create", body, stream="accounts", writing=True)
            except RecordError as exc:
                found = await self._find(uscc, list(payload)) if uscc else None
                if found is None:
                    raise
                return await self._update_found(key, found, payload, {**extra, "duplicate_rule": exc.service_code})
            except (RetriableError, httpx.TransportError) as exc:
                last = exc
                if not uscc:
                    break
                await asyncio.sleep(
                    min(policy.max_delay, policy.base_delay * 2 ** (attempt - 1)) * (0.5 + random.random() / 2)
                )
                self.client.metrics.retries += 1
                found = await self._find(uscc, list(payload))
                if found is not None:  # the lost answer's create did happen
                    return PushResult(
                        key=key,
                        status="ok",
                        source_id=str(found["_id"]),
                        action="insert",
                        raw={**extra, "recovered_after": type(exc).__name__},
                    )
                continue
            data_id = answer.get("dataId")
            if not isinstance(data_id, str) or not data_id:
                raise FatalError(
                    "Fenxiang create answered errorCode 0 without dataId",
                    connector=self.connector.name,
                    stream="accounts",
                )
            return PushResult(key=key, status="ok", source_id=data_id, action="insert", raw=extra)
        reason = f"create failed with an unknown outcome ({type(last).__name__}: {last})"
        if not uscc:
            reason += (
                "; without a USCC crmhub cannot check whether it happened — look for the account by name "
                "in Fenxiang before retrying"
            )
        return PushResult(key=key, status="error", reason=reason, retriable=True, raw=extra)

    async def _find(self, uscc: str | None, fields: list[str]) -> dict[str, Any] | None:
        api = self.fm.api("uscc")
        if not uscc or api is None:
            return None
        rows = await self.client.query(
            ACCOUNT,
            [{"field_name": api, "operator": "EQ", "field_values": [uscc]}],
            orders=[{"fieldName": "_id", "isAsc": True}],
            limit=10,
            projection=sorted({"_id", "life_status", *fields}),
            stream="accounts",
        )
        live = [r for r in rows if r.get("life_status") != "invalid" and isinstance(r.get("_id"), str)]
        return live[0] if live else None

    async def _update_found(
        self, key: str, found: dict[str, Any], payload: dict[str, Any], extra: dict[str, Any]
    ) -> PushResult:
        rec_id = str(found["_id"])
        changes = {k: v for k, v in payload.items() if found.get(k) != v}
        if not changes:
            return PushResult(key=key, status="ok", source_id=rec_id, action="unchanged", raw=extra)
        await self._update(rec_id, changes)
        return PushResult(key=key, status="ok", source_id=rec_id, action="update", raw=extra)

    async def _update(self, rec_id: str, changes: dict[str, Any]) -> None:
        body = {
            "data": {"object_data": {"_id": rec_id, "dataObjectApiName": ACCOUNT, **changes}},
            "triggerWorkFlow": True,
            "triggerApprovalFlow": False,
        }
        answer = await self.client.call(DATA + "update", body, stream="accounts", writing=True)
        if answer.get("dataId") not in (None, rec_id):
            self.connector.context.logger.warning(
                "fxiaoke update of %s answered dataId %s", rec_id, answer.get("dataId")
            )
