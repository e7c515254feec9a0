"""A small in-memory connector for the jobs tests: a few client records in pages, and on request a pull that hangs
(to exercise timeouts) or a connector that cannot even open (to exercise a failing job)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from crmhub import (
    CheckResult,
    Connector,
    ConnectorConfig,
    CorporateClient,
    Cursor,
    OutboundRecord,
    Page,
    PushResult,
    SourceRecord,
    StreamKind,
    StreamSpec,
    hookimpl,
)
from crmhub.errors import FatalError

NAMES = [
    "北京星河科技有限公司",
    "上海宝钢贸易有限公司",
    "广州珠江实业有限公司",
    "深圳南山电子有限公司",
    "杭州西湖茶业有限公司",
    "成都天府物流有限公司",
]


class TickConfig(ConnectorConfig):
    """``mode``: ok (records in pages), hang (the second page never comes), broken (fails on open)."""

    mode: str = "ok"
    records: int = 6
    page_size: int = 2


class TickConnector(Connector[TickConfig]):
    """Reads ``records`` companies in pages, cursor = last index."""

    config_model: ClassVar[type[ConnectorConfig]] = TickConfig
    streams = (StreamSpec("accounts", StreamKind.CLIENT),)

    async def __aenter__(self) -> TickConnector:
        if self.config.mode == "broken":
            raise FatalError("the test system is down", connector=self.context.name)
        return self

    async def check(self) -> CheckResult:
        return CheckResult(ok=True, message="tick")

    async def pull(self, stream: str, cursor: Cursor | None, *, since: datetime | None = None) -> AsyncIterator[Page]:
        start = int((cursor or {}).get("i", 0))
        for i in range(start, self.config.records, self.config.page_size):
            if self.config.mode == "hang" and i > start:
                await asyncio.sleep(3600)
            chunk = range(i, min(i + self.config.page_size, self.config.records))
            yield Page(
                records=[
                    SourceRecord(
                        stream="accounts",
                        source_id=f"{self.context.name}-{j}",
                        data=CorporateClient(name=NAMES[j % len(NAMES)] + ("" if j < len(NAMES) else f"{j}")),
                        modified_at=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=j),
                        raw={"i": j},
                    )
                    for j in chunk
                ],
                next_cursor={"i": chunk[-1] + 1},
            )

    async def push(self, stream: str, records: Sequence[OutboundRecord]) -> list[PushResult]:
        return [PushResult(key=r.key, status="ok", source_id=r.source_id) for r in records]


class TickPlugin:
    @hookimpl
    def crmhub_register_connectors(self) -> dict[str, type[Connector[Any]]]:
        return {"tick": TickConnector}
