"""The Fenxiang Xiaoke connector against `crmhub.testing.ConnectorContract`, over real loopback HTTP to its
simulator."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from crmhub.contract import OutboundRecord, SourceRecord
from crmhub.model import CorporateClient
from crmhub.model.client import Rating, RiskSummary, Segment
from crmhub.model.uscc import make
from crmhub.testing import ConnectorContract, client_writes


class TestFxiaokeContract(ConnectorContract):
    plugin = "fxiaoke"
    sandbox_app = "fxiaoke"

    def sandbox_settings(self) -> dict[str, Any]:
        return {"generate": 30, "window_seconds": 0.2}

    def config_overrides(self) -> dict[str, Any]:
        return {
            "page_size": 7,
            "window_seconds": 0.2,
            "token_window_seconds": 0.5,
            "retry_base_delay": 0.01,
            "retry_max_delay": 0.05,
            "retry_max_attempts": 3,
            "retry_max_total_wait": 1.0,
            "write_back": {"create": True, "fields": ["name", "uscc", "phone", "website", "risk"]},
        }

    def outbound_records(self, stream: str, pulled: Sequence[SourceRecord]) -> list[OutboundRecord]:
        risk = RiskSummary(rating=Rating.BB, segment=Segment.HIGH)
        new = CorporateClient(name="合约测试贸易有限公司", uscc=make("91440300", "MA5CTR77"), risk=risk)
        return client_writes(
            pulled, {"phone": "0755-8888 0202", "website": "https://contract.example.cn", "risk": risk}, new=new
        )
