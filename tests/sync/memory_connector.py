"""An in-memory connector used to test the engine's logic in isolation (the end-to-end tests use the real
simulators over HTTP). It behaves like a CRM with a modified-time cursor, pages, rejects and writes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from pydantic import ValidationError

from crmhub import (
    CheckResult,
    Connector,
    ConnectorConfig,
    CorporateClient,
    Cursor,
    OutboundRecord,
    Page,
    PushResult,
    RejectedRecord,
    SourceRecord,
    StreamKind,
    StreamSpec,
    hookimpl,
)


@dataclass
class MemoryCrm:
    """The "remote system": records by id with a modification counter."""

    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    clock: int = 0
    pushes: list[list[dict[str, Any]]] = field(default_factory=list)
    fail_after_pages: int | None = None
    reject_ids: set[str] = field(default_factory=set)
    crash_after_push: bool = False

    def put(self, sid: str, **values: Any) -> None:
        self.clock += 1
        self.records[sid] = {**self.records.get(sid, {}), **values, "id": sid, "_mod": self.clock}


SYSTEMS: dict[str, MemoryCrm] = {}


class SimulatedCrash(BaseException):
    """Stands for the process dying mid-pull (BaseException: nothing in the engine may swallow it)."""


class MemoryConfig(ConnectorConfig):
    system: str
    page_size: int = 2


class MemoryConnector(Connector[MemoryConfig]):
    """Reads `SYSTEMS[config.system]` in pages ordered by modification, writes back by id."""

    config_model: ClassVar[type[ConnectorConfig]] = MemoryConfig
    streams = (StreamSpec("accounts", StreamKind.CLIENT, writable=True),)

    @property
    def crm(self) -> MemoryCrm:
        return SYSTEMS[self.config.system]

    async def check(self) -> CheckResult:
        return CheckResult(ok=True, message="memory")

    def _map(self, raw: dict[str, Any]) -> SourceRecord | RejectedRecord:
        data = {k: v for k, v in raw.items() if not k.startswith("_") and k != "id"}
        try:  # like the real connectors: a record the model refuses is rejected with the field named
            client = CorporateClient.model_validate(data)
        except ValidationError as exc:
            err = exc.errors()[0]
            return RejectedRecord(
                stream="accounts",
                source_id=raw["id"],
                reason=str(err["msg"]),
                field=str(err["loc"][0]) if err["loc"] else None,
                payload=raw,
            )
        return SourceRecord(
            stream="accounts",
            source_id=raw["id"],
            data=client,
            modified_at=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=raw["_mod"]),
            raw=raw,
        )

    async def remap(self, stream: str, payload: dict[str, Any]) -> SourceRecord:
        from crmhub.errors import RecordError

        out = self._map(payload)
        if isinstance(out, RejectedRecord):
            raise RecordError(out.reason, source_id=out.source_id, field=out.field)
        return out

    async def pull(self, stream: str, cursor: Cursor | None, *, since: datetime | None = None) -> AsyncIterator[Page]:
        after = int((cursor or {}).get("mod", 0))
        items = sorted((r for r in self.crm.records.values() if r["_mod"] > after), key=lambda r: r["_mod"])
        for pages, i in enumerate(range(0, len(items), self.config.page_size)):
            if self.crm.fail_after_pages is not None and pages >= self.crm.fail_after_pages:
                raise SimulatedCrash("simulated crash")
            chunk = items[i : i + self.config.page_size]
            mapped = [self._map(r) for r in chunk]
            yield Page(
                records=[m for m in mapped if isinstance(m, SourceRecord)],
                rejected=[m for m in mapped if isinstance(m, RejectedRecord)],
                next_cursor={"mod": chunk[-1]["_mod"]},
            )

    async def push(self, stream: str, records: Sequence[OutboundRecord]) -> list[PushResult]:
        self.crm.pushes.append([r.model_dump(mode="json") for r in records])
        results = []
        for r in records:
            if r.source_id in self.crm.reject_ids:
                results.append(
                    PushResult(key=r.key, status="error", source_id=r.source_id, reason="locked", field="uscc")
                )
                continue
            values = r.data.model_dump(mode="json", include=set(r.fields or ()))
            if r.source_id is None:
                sid = f"new{len(self.crm.records) + 1}"
                self.crm.put(sid, name=r.data.name, **values)
            else:
                sid = r.source_id
                self.crm.put(sid, **values)
            results.append(PushResult(key=r.key, status="ok", source_id=sid, action="update"))
        if self.crm.crash_after_push:
            raise SimulatedCrash("killed after the CRM applied the writes, before crmhub recorded them")
        return results


class MemoryPlugin:
    @hookimpl
    def crmhub_register_connectors(self) -> dict[str, type[Connector[Any]]]:
        return {"memory": MemoryConnector}
