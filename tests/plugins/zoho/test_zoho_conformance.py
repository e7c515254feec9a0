"""The Zoho connector against `crmhub.testing.ConnectorContract`, over real loopback HTTP to its simulator."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from crmhub.contract import OutboundRecord, SourceRecord
from crmhub.model import CorporateClient
from crmhub.model.client import Rating, RiskSummary, Segment
from crmhub.model.uscc import make
from crmhub.testing import ConnectorContract, client_writes
from crmhub_zoho.simulator.seed import synthetic_companies


class TestZohoContract(ConnectorContract):
    plugin = "zoho_crm"
    sandbox_app = "zoho_crm"

    def config_overrides(self) -> dict[str, Any]:
        return {
            "page_size": 7,
            "base_delay": 0.01,
            "max_delay": 0.05,
            "max_attempts": 3,
            "max_total_wait": 1.0,
            "write_back": {"create": True, "fields": ["name", "uscc", "phone", "website", "risk", "title"]},
        }

    def world(self) -> Any:
        return list(synthetic_companies(24, 7, contacts_per_company=1))

    def outbound_records(self, stream: str, pulled: Sequence[SourceRecord]) -> list[OutboundRecord]:
        risk = RiskSummary(rating=Rating.BBB, segment=Segment.MEDIUM)
        if stream == "accounts":
            new = CorporateClient(name="合约测试科技有限公司", uscc=make("91310000", "MA1CTR88"), risk=risk)
            return client_writes(
                pulled, {"phone": "021-5555 0101", "website": "https://contract.example.cn", "risk": risk}, new=new
            )
        return [
            OutboundRecord(
                key=f"upd-{rec.source_id}",
                source_id=rec.source_id,
                data=rec.data.model_copy(update={"title": "财务总监"}),
                fields=("title",),
            )
            for rec in pulled[:2]
            if rec.data is not None
        ]  # type: ignore[misc]
