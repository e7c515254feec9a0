"""Reading and writing records in plugin tests: a whole stream with each page's cursor, sample client writes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from crmhub.contract import Connector, Cursor, OutboundRecord, Page, RejectedRecord, SourceRecord
from crmhub.model import CorporateClient


@dataclass
class Pull:
    """Everything one pull of a stream gave: records, rejects, and each page's ``next_cursor`` in order."""

    records: list[SourceRecord] = field(default_factory=list)
    rejected: list[RejectedRecord] = field(default_factory=list)
    cursors: list[Cursor | None] = field(default_factory=list)
    page_ids: list[list[str]] = field(default_factory=list)
    """Per page, the source ids it carried (records, then rejects that name one)."""

    @property
    def pages(self) -> int:
        """How many pages the pull gave."""
        return len(self.cursors)

    @property
    def last_cursor(self) -> Cursor | None:
        """The cursor after the last page (``None`` when there was no page)."""
        return self.cursors[-1] if self.cursors else None


def page_ids(page: Page) -> list[str]:
    """The source ids a page carries: its records, then the rejects that name one."""
    return [r.source_id for r in page.records] + [r.source_id for r in page.rejected if r.source_id is not None]


async def pull_all(connector: Connector[Any], stream: str, cursor: Cursor | None = None, **kwargs: Any) -> Pull:
    """Read ``stream`` of ``connector`` from ``cursor`` to its end (``kwargs`` go to ``pull``, e.g. ``since``)."""
    out = Pull()
    async for page in connector.pull(stream, cursor, **kwargs):
        out.records += page.records
        out.rejected += page.rejected
        out.cursors.append(page.next_cursor)
        out.page_ids.append(page_ids(page))
    return out


def client_writes(
    pulled: Sequence[SourceRecord], changes: dict[str, Any], *, count: int = 2, new: CorporateClient | None = None
) -> list[OutboundRecord]:
    """Sample writes for a client stream (`ConnectorContract.outbound_records`): updates of the first ``count``
    pulled clients setting ``changes`` (canonical field → value), then, with ``new``, the create of that client
    (its name, USCC and whichever ``changes`` fields it sets)."""
    writes = [
        OutboundRecord(
            key=f"update-{rec.source_id}",
            source_id=rec.source_id,
            data=CorporateClient(name=rec.data.name, **changes),
            fields=tuple(changes),
        )
        for rec in pulled
        if isinstance(rec.data, CorporateClient)
    ][:count]
    if new is not None:
        fields = ("name", "uscc", *(f for f in changes if getattr(new, f, None) is not None))
        writes.append(OutboundRecord(key="create-1", data=new, fields=fields))
    return writes
