"""The simulator's state: object tables with real indexes, tokens, rate windows, daily quota, request log.

Tables keep ``_id`` and ``(last_modified_time, _id)`` sorted lists maintained on every write (never re-sorted per
request), an equality index on the USCC field, and each record's JSON bytes cached so a 100-row page is a join
of ready bytes. A lock guards the state because tests poke it from their own thread while the server's loop
serves requests.
"""

from __future__ import annotations

import json
import time
from bisect import bisect_left, insort
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from crmhub_fxiaoke.simulator import query

SHANGHAI = timezone(timedelta(hours=8))


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON, Chinese kept readable like the gateway's answers."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


class ObjectTable(query.Indexed):
    """All records of one object API name, with sorted and equality indexes."""

    def __init__(self, api_name: str, equality_fields: tuple[str, ...] = ()) -> None:
        self.api_name = api_name
        self.records: dict[str, dict[str, Any]] = {}
        self.by_id: list[str] = []
        self.by_lmt: list[tuple[int, str]] = []
        self.equality: dict[str, dict[str, set[str]]] = {f: defaultdict(set) for f in equality_fields}
        self._json: dict[str, bytes] = {}

    def __len__(self) -> int:
        return len(self.records)

    def bulk_load(self, records: list[dict[str, Any]]) -> None:
        """Load many records at once (sorting once, not per insert)."""
        for rec in records:
            self.records[rec["_id"]] = rec
            self._index_eq(rec, add=True)
        self.by_id = sorted(self.records)
        self.by_lmt = sorted((r["last_modified_time"], i) for i, r in self.records.items())
        for rec in records:  # records are served as stored documents: encode once, at load
            self._json[rec["_id"]] = dumps(rec)

    def _index_eq(self, rec: dict[str, Any], *, add: bool) -> None:
        for fname, index in self.equality.items():
            value = rec.get(fname)
            if isinstance(value, str) and value:
                if add:
                    index[value].add(rec["_id"])
                else:
                    index[value].discard(rec["_id"])

    def insert(self, rec: dict[str, Any]) -> None:
        """Add a new record."""
        self.records[rec["_id"]] = rec
        insort(self.by_id, rec["_id"])
        insort(self.by_lmt, (rec["last_modified_time"], rec["_id"]))
        self._index_eq(rec, add=True)

    def replace(self, rec_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Apply ``changes`` to a record, keeping every index right."""
        rec = self.records[rec_id]
        self._index_eq(rec, add=False)
        old_key = (rec["last_modified_time"], rec_id)
        rec.update(changes)
        for k in [k for k, v in changes.items() if v is None]:
            rec.pop(k, None)
        if rec["last_modified_time"] != old_key[0]:
            del self.by_lmt[bisect_left(self.by_lmt, old_key)]
            insort(self.by_lmt, (rec["last_modified_time"], rec_id))
        self._index_eq(rec, add=True)
        self._json.pop(rec_id, None)
        return rec

    def remove(self, rec_id: str) -> None:
        """Hard-delete a record."""
        rec = self.records.pop(rec_id)
        self._index_eq(rec, add=False)
        del self.by_id[bisect_left(self.by_id, rec_id)]
        del self.by_lmt[bisect_left(self.by_lmt, (rec["last_modified_time"], rec_id))]
        self._json.pop(rec_id, None)

    def encoded(self, rec: dict[str, Any]) -> bytes:
        """The record's JSON bytes (cached until it changes)."""
        data = self._json.get(rec["_id"])
        if data is None:
            data = self._json[rec["_id"]] = dumps(rec)
        return data


@dataclass(slots=True)
class Token:
    """An issued corpAccessToken (or header-style accessToken)."""

    value: str
    issued: float
    expires: float
    dies: float


class Tokens:
    """Issue and check tokens: same token within 6,600/7,200 of its life, a new one after."""

    def __init__(self, lifetime: float, forced_ttl: float | None) -> None:
        self.lifetime = lifetime
        self.forced_ttl = forced_ttl
        self.current: Token | None = None
        self.all: dict[str, Token] = {}
        self.issued = 0
        self._n = 0

    def get(self, now: float, secret_seed: str) -> Token:
        """The token to answer a token call with at ``now``."""
        cur = self.current
        reuse_until = self.lifetime * 6600 / 7200
        if cur is not None and now - cur.issued < reuse_until and now < cur.dies:
            return cur
        self._n += 1
        import hashlib

        value = hashlib.sha256(f"{secret_seed}:{self._n}:{now}".encode()).hexdigest()[:32].upper()
        dies = now + (self.forced_ttl if self.forced_ttl is not None else self.lifetime)
        tok = Token(value, now, now + self.lifetime, min(dies, now + self.lifetime))
        self.current, self.all[value] = tok, tok
        self.issued += 1
        return tok

    def alive(self, value: str, now: float) -> bool:
        """Is ``value`` a token that still works?"""
        tok = self.all.get(value)
        return tok is not None and now < tok.dies

    def expire_all(self, now: float) -> None:
        """Kill every token (admin endpoint; forced expiry for fault tests)."""
        for tok in self.all.values():
            tok.dies = min(tok.dies, now)


class Windows:
    """Sliding windows per key (API path): at most ``calls`` admitted in any ``period`` seconds."""

    def __init__(self, calls: int, period: float) -> None:
        self.calls = calls
        self.period = period
        self._starts: dict[str, deque[float]] = defaultdict(deque)

    def admit(self, key: str, now: float) -> bool:
        """Record one call for ``key`` if it fits; False when it would exceed the window."""
        starts = self._starts[key]
        while starts and now - starts[0] >= self.period:
            starts.popleft()
        if len(starts) >= self.calls:
            return False
        starts.append(now)
        return True


@dataclass(slots=True)
class Quota:
    """A daily call quota that resets at 00:00 Asia/Shanghai."""

    limit: int | None
    day: str = ""
    used: int = 0

    def spend(self, now: float) -> bool:
        """Count one call; False when the day's quota is already used up."""
        day = datetime.fromtimestamp(now, SHANGHAI).strftime("%Y-%m-%d")
        if day != self.day:
            self.day, self.used = day, 0
        if self.limit is not None and self.used >= self.limit:
            return False
        self.used += 1
        return True


@dataclass(slots=True)
class RequestLog:
    """What tests inspect: every request (bounded), calls and answer codes per path."""

    size: int = 10_000
    entries: deque[dict[str, Any]] = field(default_factory=deque)
    calls: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    codes: dict[str, dict[int, int]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))
    seq: int = 0

    def add(self, path: str, body: Any, code: int, trace: str | None, at: float) -> None:
        """Record one request and its answer code."""
        self.seq += 1
        self.calls[path] += 1
        self.codes[path][code] += 1
        if isinstance(body, dict):
            body = {k: ("***" if k in ("appSecret", "permanentCode") else v) for k, v in body.items()}
        self.entries.append({"seq": self.seq, "at": at, "path": path, "body": body, "errorCode": code,
                             "thirdTraceId": trace})
        while len(self.entries) > self.size:
            self.entries.popleft()


class Clock:
    """The simulator's now: the sandbox clock plus what ``/_sandbox/clock`` advanced."""

    def __init__(self, base: Callable[[], datetime]) -> None:
        self._base = base
        self.offset = 0.0
        self._last_ms = 0

    def now(self) -> float:
        """Seconds since the epoch."""
        return self._base().timestamp() + self.offset

    def now_ms(self) -> int:
        """Milliseconds since the epoch, strictly increasing across calls (each write gets its own ms)."""
        value = max(int(self.now() * 1000), self._last_ms + 1)
        self._last_ms = value
        return value


def monotonic() -> float:
    """Wall-independent seconds, for rate windows."""
    return time.monotonic()

