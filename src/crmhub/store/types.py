"""Column types that behave the same on SQLite and PostgreSQL, and the JSON codec of every JSON column."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import JSON, DateTime
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

JsonType = JSON().with_variant(JSONB(), "postgresql")
"""JSON on SQLite, JSONB on PostgreSQL (written and read by `dumps_json` / `loads_json`, set on the engine)."""

_DUMP_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_SUBCLASS
_DIGITS = bytes.maketrans(b"123456789", b"000000000")
_LONG_NUMBER = b"0" * 19
"""19 digits in a row: a number orjson may read as a float (beyond 64 bits) — or just a long digit string."""


def dumps_json_bytes(value: Any) -> bytes:
    """A JSON column's value as UTF-8 JSON: orjson (several times faster than the standard library), and the
    standard library itself for what orjson refuses, so a value stores exactly when it stored before.

    The standard library is the judge for anything outside plain JSON types: a value it refuses (a `Decimal`, a
    date, a dataclass) is still refused rather than silently turned into text, subclasses of str/int/dict/list and
    non-string keys are written as it writes them, integers beyond 64 bits are kept. Non-ASCII text is written as
    UTF-8 rather than ``\\u`` escapes (both read back the same). One difference, for a value PostgreSQL refuses
    anyway: NaN and infinity become ``null`` instead of the non-JSON ``NaN``.
    """
    try:
        return orjson.dumps(value, option=_DUMP_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(value).encode("utf-8")


def dumps_json(value: Any) -> str:
    """`dumps_json_bytes` as text (SQLite stores a JSON column as TEXT; bytes would become a BLOB)."""
    return dumps_json_bytes(value).decode("utf-8")


def loads_json(text: str | bytes) -> Any:
    """A JSON column's value: orjson, or the standard library when orjson would read it differently or not at all
    (``NaN`` written by earlier versions, numbers beyond 64 bits — orjson makes them floats)."""
    if isinstance(text, str):
        raw = text.encode("utf-8")
    elif isinstance(text, bytes):
        raw = text
    else:  # SQLite hands a JSON number over as a number: TypeError, which SQLAlchemy's JSON type expects
        return json.loads(text)
    if _LONG_NUMBER not in raw.translate(_DIGITS):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
    return json.loads(raw)


class UtcDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as UTC and always returns aware UTC datetimes (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given to the store; pass an aware datetime")
        converted = value.astimezone(UTC)
        return converted.replace(tzinfo=None) if dialect.name == "sqlite" else converted

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        result: datetime = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return result
