"""`crmhub.model.trusted.trusted` builds exactly what validation builds, for the models it is used on."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from crmhub.contract import SourceRecord
from crmhub.model import Contact, CorporateClient, Preferences
from crmhub.model.client import _no_preferences
from crmhub_zoho.mapping import _source_record


def _same(a: BaseModel, b: BaseModel) -> None:
    assert type(a) is type(b)
    assert a == b
    assert a.__dict__ == b.__dict__
    assert list(a.__dict__) == list(b.__dict__)  # field order: dumps and hashes follow it
    assert a.model_fields_set == b.model_fields_set
    assert a.__pydantic_extra__ == b.__pydantic_extra__
    assert a.__pydantic_private__ == b.__pydantic_private__
    assert a.model_dump(mode="json") == b.model_dump(mode="json")
    assert a.model_dump_json() == b.model_dump_json()


def test_no_preferences_is_preferences() -> None:
    _same(_no_preferences(), Preferences())
    one, two = CorporateClient(name="甲"), CorporateClient(name="乙")
    one.preferences.tags.append("vip")  # each client has its own lists
    assert two.preferences.tags == []


def test_zoho_source_record_is_the_validated_one() -> None:
    modified = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    raw: dict[str, Any] = {"id": "1", "Account_Name": "甲公司", "Owner": {"id": "9", "name": "李娜"}}
    for stream, data, when in (
        ("accounts", CorporateClient(name="甲公司"), modified),
        ("contacts", Contact(name="李娜", source_id="2"), None),
    ):
        built = _source_record(stream, "1", data, when, raw)
        _same(built, SourceRecord(stream=stream, source_id="1", data=data, modified_at=when, raw=raw))
        assert built.raw is not raw  # a shallow copy, as validation makes
        assert built.data is data
