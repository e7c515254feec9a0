"""Canonical JSON and content hashes: the basis of "same hash → nothing to do" and of echo suppression.

The hashes are stored (``source_record.content_hash``, the outbox's ``payload_hash``, idempotency keys, the audit
chain's HMACs), so the canonical text must never change: it is, byte for byte, what
``json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)`` gives. orjson
writes that text about ten times faster, and for JSON data it writes the very same bytes (keys sorted, UTF-8 kept,
the same escapes) — except for a few floats: Python writes ``1e-05`` and ``1e-07`` where orjson writes
``0.00001`` and ``1e-7``. So the fast path hands orjson the data and the two conversions it must do exactly as
``default=str`` (`Decimal`, dates, times — ``str(datetime)`` has a space where orjson's ISO form has a ``T``), and
falls back to the standard library whenever the result could differ: a type orjson would turn differently
(subclasses of str/int/dict/list, dataclasses, sets, non-string keys, integers beyond 64 bits — orjson refuses
them, the standard library decides) or a float written the way the two disagree on (a cheap byte scan first,
the exact pattern only when that finds something). ``tests/core/test_hashing.py`` checks the identity.

Not covered (both out of reach of stored data, which the standard library's encoder must be able to write): a
plain `Enum` member (orjson writes its value, ``default=str`` its name) and NaN/infinity (not JSON).
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date, time
from decimal import Decimal
from typing import Any

import orjson

_OPTIONS = (
    orjson.OPT_SORT_KEYS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)
_FLOAT_RISK = re.compile(rb"\de-\d(?!\d)|(?:^|[:,\[])-?0\.0000")
"""Floats whose text orjson and Python write differently: a one-digit negative exponent (``1e-7`` vs ``1e-07``)
and a small number orjson writes in full (``0.00001`` vs ``1e-05``)."""


class _Fallback(TypeError):
    """A value the fast path does not write exactly as the standard library would."""


def _default(value: Any) -> str:
    """What ``default=str`` does, for the types it is given in practice; anything else → the standard library."""
    if isinstance(value, Decimal | date | time):  # datetime is a date
        return str(value)
    raise _Fallback


def _stdlib_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def canonical_bytes(value: Any) -> bytes:
    """The canonical JSON of ``value`` as UTF-8 (see the module docstring: identical to the standard library's)."""
    try:
        out = orjson.dumps(value, default=_default, option=_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError is a TypeError; so is _Fallback
        return _stdlib_json(value).encode("utf-8")
    if (b"e-" in out or b"0.0000" in out) and _FLOAT_RISK.search(out):
        return _stdlib_json(value).encode("utf-8")
    return out


def canonical_json(value: Any) -> str:
    """Deterministic JSON (sorted keys, no spaces, UTF-8 kept) for hashing."""
    return canonical_bytes(value).decode("utf-8")


def content_hash(value: Any) -> str:
    """SHA-256 hex digest of the canonical JSON of ``value``."""
    return hashlib.sha256(canonical_bytes(value)).hexdigest()


def short_hash(value: Any, length: int = 24) -> str:
    """A shorter digest for keys that humans may see (idempotency keys, dedup keys)."""
    return content_hash(value)[:length]
