"""A golden client full of personal data, and a check that none of it reaches a text meant for people."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from crmhub.store import Store
from crmhub.store.tables import FieldLineage, GoldenClient

USCC = "91110000600037341L"
COMPANY = "北京星河科技有限公司"
REP = {"name": "欧阳娜娜", "id_number": "11010519491231002X", "phone": "+86 138-1234-5678"}
CONTACT = {
    "name": "张小三",
    "mobile": "１３９１２３４５６７８",
    "phone": "(010) 6552-1234",
    "email": "zhang.xiaosan@xinghe.example",
    "title": "财务经理",
}
DATA: dict[str, Any] = {
    "name": COMPANY,
    "uscc": USCC,
    "phone": "137 0000 1111",
    "email": "boss.wang@163.com",
    "legal_representative": REP,
    "contacts": [CONTACT],
    "shareholders": [
        {"name": "王大锤", "share_percent": "60", "kind": "person"},
        {"name": "星河控股有限公司", "share_percent": "40", "kind": "company"},
    ],
    "external_ids": {"zoho": ["4970760000001234567"]},
}
SECRETS_DIGITS = ("13812345678", "13912345678", "13700001111", "01065521234", "11010519491231002")
SECRET_WORDS = ("欧阳娜娜", "娜娜", "张小三", "小三", "王大锤", "大锤", "zhang.xiaosan", "boss.wang")
_FOLD = str.maketrans({chr(0xFF10 + i): str(i) for i in range(10)})


def seed(store: Store) -> int:
    """The client, with lineage rows (explain) whose competing values carry personal data too."""
    now = datetime(2026, 11, 30, 1, 2, 3, 456789, tzinfo=UTC)
    with store.begin() as s:
        g = GoldenClient(
            uscc=USCC,
            name=COMPANY,
            data=DATA,
            status="active",
            needs_merge=False,
            needs_risk=False,
            needs_plan=False,
            created_at=now,
            updated_at=now,
        )
        s.add(g)
        s.flush()
        for field, value, competing in (
            ("legal_representative", REP, [{"source": "fxiaoke", "value": {**REP, "phone": "13812345678"}}]),
            ("contacts", [CONTACT], []),
            ("phone", DATA["phone"], [{"source": "fxiaoke", "value": "010-88889999"}]),
            ("email", DATA["email"], []),
        ):
            s.add(
                FieldLineage(
                    client_id=g.id,
                    field=field,
                    value=value,
                    source="zoho",
                    source_record_id="Z1",
                    observed_at=now,
                    rule="source_priority",
                    competing=competing,
                    updated_at=now,
                )
            )
        return g.id


def leaks(text: str) -> list[str]:
    """The personal data found in ``text`` (digits compared with separators and full width folded away)."""
    digits = re.sub(r"[\s\-()（）+\u3000－]", "", text.translate(_FOLD))
    found = [d for d in SECRETS_DIGITS if d in digits]
    return found + [w for w in SECRET_WORDS if w in text]
