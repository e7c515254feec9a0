"""`LedgerConnector` (``core_ledger``): corporate clients, savings accounts, transactions and loans, read-only.

Cursor shapes (JSON, opaque to the engine) and why:

* ``clients`` / ``accounts``: ``{"phase": "full", "offset": N, "mark": M}`` while the first scan pages the list by
  id; then ``{"phase": "audit", "mark": M}``, where the audit trail since ``M`` names the rows to re-read. ``M`` is
  captured before the scan starts, so nothing written during a scan is lost.
* ``transactions``: see `crmhub_ledger.transactions`.
* ``loans``: DPD moves with the calendar and no command records that, so every loan is re-evaluated each run
  (``loans_refresh = "every_run"``) or once per tenant day, with audited loans in between (``"daily"``): the list
  is paged every time, the detail read only for loans that may have changed — see `crmhub_ledger.loans`.

Every page's cursor points just past the records in it (boundary duplicates are allowed, gaps are not).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from crmhub.contract import (
    CheckResult,
    Connector,
    ConnectorConfig,
    Cursor,
    Page,
    PayloadNames,
    PluginContext,
    RejectedRecord,
    SourceRecord,
    StreamKind,
    StreamSpec,
)
from crmhub.core.chunks import chunked
from crmhub.errors import AuthError, IntegrationError, RecordError
from crmhub.http.paging import offset_pages
from crmhub_ledger import audits, mapping
from crmhub_ledger.audits import Mark
from crmhub_ledger.client import LedgerClient, NotFound
from crmhub_ledger.config import LedgerConfig

STREAMS: tuple[StreamSpec, ...] = (
    StreamSpec("clients", StreamKind.CLIENT),  # corporate (entity) clients; changes found through the audit trail
    StreamSpec("accounts", StreamKind.ACCOUNT),  # savings/current accounts: balances, dormancy, overdraft
    StreamSpec("transactions", StreamKind.TRANSACTION),  # by booking date, per account, last booked day re-read
    StreamSpec("loans", StreamKind.FACILITY),  # DPD and five-category floor; only loans that may have changed
)


class LedgerConnector(Connector[LedgerConfig]):
    """Reads a Fineract-shaped core ledger; never writes to it."""

    config_model: ClassVar[type[ConnectorConfig]] = LedgerConfig
    streams: ClassVar[tuple[StreamSpec, ...]] = STREAMS
    payload_names: ClassVar[PayloadNames] = PayloadNames(
        company=("clientName",),  # accounts and loans name their client
        own_name=("fullname", "displayName"),  # a client's own name
        is_person=mapping.is_person,
    )

    def __init__(self, config: LedgerConfig, context: PluginContext) -> None:
        super().__init__(config, context)
        self.client = LedgerClient(config, context.metrics, connector=context.name)
        self.tz = ZoneInfo(config.tenant_timezone)
        self.uscc_cache: dict[int, str] = {}
        self._office_clients: set[int] | None = None

    async def aclose(self) -> None:
        """Close the HTTP pool."""
        await self.client.aclose()

    # --- check ----------------------------------------------------------------------------------------------

    async def check(self) -> CheckResult:
        """``POST /authentication`` then one page of ``/clients``; failures become ``ok=False`` with the reason."""
        try:
            auth = await self.client.post(
                "/authentication",
                {"username": self.config.username, "password": self.config.password.get_secret_value()},
            )
            if not isinstance(auth, dict) or not auth.get("authenticated"):
                return CheckResult(ok=False, message="the ledger did not confirm the login")
            page = await self.client.get("/clients", {"offset": 0, "limit": 1, "orderBy": "id", "sortOrder": "ASC"})
        except AuthError as exc:
            return CheckResult(ok=False, message=str(exc), details={"error": exc.code})
        except NotFound as exc:
            return CheckResult(ok=False, message=f"{exc.path} not found: is base_url …/fineract-provider/api/v1?")
        except IntegrationError as exc:
            return CheckResult(ok=False, message=str(exc), details={"error": exc.code})
        return CheckResult(
            ok=True,
            message=f"logged in as {self.config.username} on tenant {self.config.tenant_id}",
            details={
                "tenant": self.config.tenant_id,
                "clients": page.get("totalFilteredRecords"),
                "office": auth.get("officeName"),
            },
        )

    # --- pull -----------------------------------------------------------------------------------------------

    def pull(self, stream: str, cursor: Cursor | None, *, since: datetime | None = None) -> AsyncIterator[Page]:
        """Pages of ``stream`` from ``cursor`` (``since`` = changes since that instant)."""
        self.stream(stream)
        if stream == "clients":
            return self._pull_entities("clients", cursor, since)
        if stream == "accounts":
            return self._pull_entities("accounts", cursor, since)
        if stream == "loans":
            from crmhub_ledger.loans import pull_loans

            return pull_loans(self, cursor, since)
        from crmhub_ledger.transactions import pull_transactions

        return pull_transactions(self, cursor, since)

    def local(self, when: datetime) -> datetime:
        """``when`` in tenant-local time (naive), as the audit filter expects."""
        if when.tzinfo is None:
            return when
        return when.astimezone(self.tz).replace(tzinfo=None)

    async def office_clients(self) -> set[int] | None:
        """Ids of the clients of ``office_id`` (``None`` = no office filter)."""
        if self.config.office_id is None:
            return None
        if self._office_clients is None:
            ids: set[int] = set()
            async for items, _total, _offset in self.list_pages(
                "/clients", {"officeId": self.config.office_id}, stream="clients"
            ):
                ids.update(int(i["id"]) for i in items if isinstance(i.get("id"), int))
            self._office_clients = ids
        return self._office_clients

    async def list_pages(
        self, path: str, params: dict[str, Any], *, stream: str, offset: int = 0
    ) -> AsyncIterator[tuple[list[dict[str, Any]], int, int]]:
        """Page a Fineract list by id ascending: yields (items without duplicates, total, offset after page)."""
        size = self.config.page_size

        async def fetch(at: int) -> tuple[list[dict[str, Any]], int]:
            page = await self.client.get(
                path, {**params, "offset": at, "limit": size, "orderBy": "id", "sortOrder": "ASC"}, stream=stream
            )
            raw = page.get("pageItems", []) if isinstance(page, dict) else []
            total = int(page.get("totalFilteredRecords", 0)) if isinstance(page, dict) else 0
            items: list[dict[str, Any]] = []
            seen: set[Any] = set()
            for item in raw:
                if not isinstance(item, dict) or item.get("id") in seen:
                    continue
                seen.add(item.get("id"))
                items.append(item)
            return items, total

        async for items, after, total in offset_pages(fetch, offset=offset):
            yield list(items), total or 0, after

    async def gather_ordered(self, keys: list[int], fetch: Callable[[int], Awaitable[Any]]) -> list[Any]:
        """Fetch ``keys`` concurrently (the client's budget caps the flight) and keep their order."""
        return list(await asyncio.gather(*(fetch(k) for k in keys)))

    # --- clients and accounts -------------------------------------------------------------------------------

    async def _pull_entities(self, stream: str, cursor: Cursor | None, since: datetime | None) -> AsyncIterator[Page]:
        if since is None and cursor and cursor.get("phase") == "audit":
            async for page in self._entities_from_audit(stream, Mark.from_json(cursor.get("mark")), None):
                yield page
            return
        if since is not None:
            async for page in self._entities_from_audit(stream, None, self.local(since)):
                yield page
            return
        cursor = cursor or {}
        mark = Mark.from_json(cursor.get("mark")) if cursor.get("phase") == "full" else None
        if mark is None:
            mark = await audits.head(self.client, stream)
        offset = int(cursor.get("offset", 0)) if cursor.get("phase") == "full" else 0
        path, params = (
            ("/clients", {"officeId": self.config.office_id}) if stream == "clients" else ("/savingsaccounts", {})
        )
        allowed = await self.office_clients() if stream == "accounts" else None
        emitted = False
        async for items, total, after in self.list_pages(path, params, stream=stream, offset=offset):
            rows = items if allowed is None else [i for i in items if i.get("clientId") in allowed]
            records, rejected = await self._map_entities(stream, rows, single=False)
            done = not items or after >= total
            next_cursor = (
                {"phase": "audit", "mark": mark.to_json()}
                if done
                else {"phase": "full", "offset": after, "mark": mark.to_json()}
            )
            emitted = True
            yield Page(records, next_cursor, rejected)
        if not emitted:
            yield Page([], {"phase": "audit", "mark": mark.to_json()})

    async def _entities_from_audit(self, stream: str, mark: Mark | None, after: datetime | None) -> AsyncIterator[Page]:
        new_mark = await audits.head(self.client, stream)
        changes = await audits.since(
            self.client,
            mark,
            stream=stream,
            page_size=self.config.page_size,
            overlap_seconds=self.config.audit_overlap_seconds,
            after=after,
        )
        if stream == "clients":
            ids = sorted(changes.clients)
            allowed = await self.office_clients()
            if allowed is not None:
                ids = [i for i in ids if i in allowed]
        else:
            found = set(changes.savings)
            for cid in sorted(changes.savings_of_clients):
                try:
                    accounts = await self.client.get(f"/clients/{cid}/accounts", stream=stream)
                except NotFound:
                    continue
                found.update(int(a["id"]) for a in accounts.get("savingsAccounts", []) if isinstance(a.get("id"), int))
            ids = sorted(found)
        keep = {"phase": "audit", "mark": (mark or new_mark).to_json()}
        final = {"phase": "audit", "mark": new_mark.to_json()}
        size = self.config.page_size
        if not ids:
            yield Page([], final)
            return
        done = 0
        for chunk in chunked(ids, size):
            done += len(chunk)
            path = "/clients/{}" if stream == "clients" else "/savingsaccounts/{}"

            async def fetch(ident: int, path: str = path) -> dict[str, Any] | int:
                try:
                    item: dict[str, Any] = await self.client.get(path.format(ident), stream=stream)
                    return item
                except NotFound:
                    return ident

            fetched = await self.gather_ordered(chunk, fetch)
            items = [f for f in fetched if isinstance(f, dict)]
            if stream == "accounts":
                allowed = await self.office_clients()
                if allowed is not None:
                    items = [i for i in items if i.get("clientId") in allowed]
            records, rejected = await self._map_entities(stream, items, single=True)
            records += [
                SourceRecord(stream=stream, source_id=str(f), deleted=True) for f in fetched if isinstance(f, int)
            ]
            last = done >= len(ids)
            yield Page(records, final if last else keep, rejected)

    async def _map_entities(
        self, stream: str, items: list[dict[str, Any]], *, single: bool
    ) -> tuple[list[SourceRecord], list[RejectedRecord]]:
        if stream == "clients":
            return await self._map_clients(items, single=single)
        records: list[SourceRecord] = []
        rejected: list[RejectedRecord] = []
        for item in items:
            try:
                client_id = item.get("clientId")
                account = mapping.map_account(
                    item, self.uscc_cache.get(client_id) if isinstance(client_id, int) else None
                )
            except mapping.MappingProblem as exc:
                rejected.append(self.reject(stream, item, exc))
                continue
            records.append(SourceRecord(stream=stream, source_id=account.source_id, data=account, raw=item))
        return records, rejected

    async def _map_clients(
        self, items: list[dict[str, Any]], *, single: bool
    ) -> tuple[list[SourceRecord], list[RejectedRecord]]:
        wanted = [i for i in items if self.config.include_persons or mapping.is_entity(i)]
        needs_ids = [i for i in wanted if isinstance(i.get("id"), int) and not _incorp(i)]
        identifiers: dict[int, list[dict[str, Any]]] = {}
        if needs_ids and self.config.fetch_identifiers:

            async def fetch(cid: int) -> list[dict[str, Any]]:
                try:
                    found = await self.client.get(f"/clients/{cid}/identifiers", stream="clients")
                except NotFound:
                    return []
                return found if isinstance(found, list) else []

            keys = [int(i["id"]) for i in needs_ids]
            identifiers = dict(zip(keys, await self.gather_ordered(keys, fetch), strict=True))
        records: list[SourceRecord] = []
        rejected: list[RejectedRecord] = []
        for item in wanted:
            cid = item.get("id")
            try:
                if not isinstance(cid, int) or isinstance(cid, bool):
                    raise mapping.MappingProblem("id", f"expected an integer id, got {cid!r}")
                resolution = mapping.resolve_uscc(item, identifiers.get(cid), self.config, self.uscc_cache.get(cid))
                client = mapping.map_client(item, resolution, self.config)
            except mapping.MappingProblem as exc:
                rejected.append(self.reject("clients", item, exc))
                continue
            if resolution.value:
                self.uscc_cache[cid] = resolution.value
            raw = {**item, "_crmhub": {"uscc_source": resolution.source, "single_read": single}}
            records.append(SourceRecord(stream="clients", source_id=str(cid), data=client, raw=raw))
        return records, rejected

    async def remap(self, stream: str, payload: dict[str, Any]) -> SourceRecord:
        """Map a dead-lettered clients, accounts or loans row again, through the same code as a pull (a client's
        identifiers are read again when its USCC is not on the row). Transactions are refused per statement line
        and come back with the next read of their day, so they are not re-mapped."""
        self.stream(stream)
        if stream == "transactions":
            return await super().remap(stream, payload)
        if stream == "loans":
            records, rejected = self.map_loans([payload])
        else:
            records, rejected = await self._map_entities(stream, [payload], single=True)
        if rejected:
            raise rejected[0].as_error()
        if not records:  # a person client while include_persons is off: nothing crmhub keeps
            raise RecordError("the row is not a corporate client; set include_persons to keep it", stream=stream)
        return records[0]

    def reject(self, stream: str, item: dict[str, Any], exc: mapping.MappingProblem) -> RejectedRecord:
        """A `RejectedRecord` naming the ledger row and field."""
        ident = item.get("id")
        return RejectedRecord(
            stream=stream,
            source_id=None if ident is None else str(ident),
            reason=f"ledger {stream} row {ident}: {exc.reason}",
            field=exc.field,
            payload=item,
        )

    # --- loans ----------------------------------------------------------------------------------------------

    async def fetch_loan(self, lid: int) -> dict[str, Any] | int:
        """One loan with schedule, summary and delinquency; the id itself when it no longer exists."""
        try:
            loan: dict[str, Any] = await self.client.get(
                f"/loans/{lid}",
                {"associations": "repaymentSchedule", "exclude": "guarantors,futureSchedule"},
                stream="loans",
            )
            return loan
        except NotFound:
            return lid

    def map_loans(self, fetched: list[dict[str, Any] | int]) -> tuple[list[SourceRecord], list[RejectedRecord]]:
        """Map fetched loans; vanished ids become tombstones."""
        records: list[SourceRecord] = []
        rejected: list[RejectedRecord] = []
        for item in fetched:
            if isinstance(item, int):
                records.append(SourceRecord(stream="loans", source_id=str(item), deleted=True))
                continue
            try:
                client_id = item.get("clientId")
                facility = mapping.map_loan(
                    item, self.uscc_cache.get(client_id) if isinstance(client_id, int) else None, self.config
                )
            except mapping.MappingProblem as exc:
                rejected.append(self.reject("loans", item, exc))
                continue
            raw = {k: v for k, v in item.items() if k not in ("repaymentSchedule", "transactions")}
            records.append(SourceRecord(stream="loans", source_id=facility.source_id, data=facility, raw=raw))
        return records, rejected


def _incorp(item: dict[str, Any]) -> bool:
    details = item.get("clientNonPersonDetails")
    return isinstance(details, dict) and bool(details.get("incorpNumber"))


__all__ = ["STREAMS", "LedgerConnector"]
