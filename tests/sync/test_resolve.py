"""The match phase builds its index straight from stored snapshots: it must see exactly what the model sees."""

from __future__ import annotations

import pytest

from crmhub.model import CorporateClient
from crmhub.sync.records import MatchRecord
from crmhub.sync.resolve import match_record


@pytest.mark.parametrize(
    "data",
    [
        {
            "name": "星河科技（北京）有限公司",
            "uscc": "91110000600037341L",
            "phone": "010-62345678",
            "registered_address": {"country": "CN", "province": "北京市", "city": "北京市", "district": "海淀区"},
            "legal_representative": {"name": "张三", "phone": "13812345678"},
        },
        {
            "name": "深圳華星網絡科技有限公司",
            "business_address": {"country": "CN", "city": "深圳市", "division_code": "440300"},
        },
        {"name": "上海宝钢贸易有限公司"},
    ],
)
def test_snapshot_record_equals_model_record(data: dict[str, object]) -> None:
    """`match_record(stored dict)` equals `MatchRecord.from_client(CorporateClient(dict))` field for field."""
    fast = match_record("7", "zoho", data)
    slow = MatchRecord.from_client("7", "zoho", CorporateClient.model_validate(data))
    assert fast == slow
    assert (fast.phones, fast.location, fast.key_pinyin) == (slow.phones, slow.location, slow.key_pinyin)
