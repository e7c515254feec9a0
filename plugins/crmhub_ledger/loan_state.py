"""What the loans stream remembers between runs: per loan, a fingerprint of its list item and when to re-read it.

Why it exists: ``GET /loans`` (the paged list) carries a loan's status, summary (outstanding, overdue amounts,
``overdueSinceDate``) and timeline, but not ``delinquent`` (``pastDueDays``) nor ``delinquencyRange`` — only the
single read ``GET /loans/{id}`` computes those. Reading every loan's detail every run costs one call per loan; with
this state the connector reads the detail only for loans that may have changed (`LoanState.needs_detail`).

Why in the cursor, and why this shape: the plugin contract gives a connector no view of the store, and the cursor is
stored with the page it follows, in one transaction. At 1,000,000 companies (≈ 270,000 loans) the state is a few
MiB, so it rides only on the cursor of a scan's *last* page (the cursors in between stay small); a run killed
mid-scan resumes without it and reads every remaining detail — slower once, never wrong. Columns (sorted ids as
deltas, 8-byte digests, re-read days) are packed, zlib-compressed and base64-encoded: ≈ 11 bytes per loan.
"""

from __future__ import annotations

import base64
import hashlib
import struct
import sys
import zlib
from array import array
from bisect import bisect_left
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import orjson

from crmhub_ledger.fineract import DateParseError, parse_date

VERSION = 1
"""Bump when the mapping of a loan changes: a state of another version is ignored (every detail read once)."""
EVERY_RUN = 0
"""Re-read day meaning "read the detail on the first run of every day" (the loan is overdue: its DPD ages with the
calendar)."""
NEVER = 2**31 - 1
"""Re-read day meaning "only when the list item changes" (no payment is due any more)."""
_HEADER = struct.Struct("<II8s")  # version, count, setup digest


def digest(item: dict[str, Any], client_uscc: str | None) -> bytes:
    """8 bytes naming a list item and the USCC its facility would carry (both feed the mapped facility)."""
    return hashlib.blake2b(orjson.dumps([item, client_uscc], option=orjson.OPT_SORT_KEYS), digest_size=8).digest()


def setup_digest(classification_names: dict[str, Any]) -> bytes:
    """8 bytes naming the configuration the loan mapping reads; another configuration invalidates the state."""
    names = sorted((str(k), str(v)) for k, v in classification_names.items())
    return hashlib.blake2b(orjson.dumps([VERSION, names]), digest_size=8).digest()


def listed_overdue(item: dict[str, Any]) -> bool:
    """True unless the list item positively says the loan is not overdue (a thinner item counts as overdue)."""
    summary = item.get("summary")
    if not isinstance(summary, dict) or item.get("inArrears") or summary.get("overdueSinceDate"):
        return True
    return summary.get("totalOverdue") not in (None, 0)


def recheck_day(detail: dict[str, Any]) -> int:
    """When the detail may change without the list item changing: every day while overdue (DPD ages), else the
    next payment's due date (Fineract refreshes the list's arrears columns by a job; the detail computes them
    live), else never."""
    delinquent = detail.get("delinquent")
    delinquent = delinquent if isinstance(delinquent, dict) else {}
    dpd = delinquent.get("pastDueDays") or 0
    if listed_overdue(detail) or not isinstance(dpd, int) or isinstance(dpd, bool) or dpd != 0:
        return EVERY_RUN
    try:
        due = parse_date(delinquent.get("nextPaymentDueDate"))
    except DateParseError:
        return EVERY_RUN
    return NEVER if due is None else due.toordinal()


@dataclass(slots=True)
class LoanState:
    """Fingerprints and re-read days by loan id, sorted by id (looked up by bisection, built in id order)."""

    setup: bytes
    ids: array[int] = field(default_factory=lambda: array("q"))
    digests: bytearray = field(default_factory=bytearray)
    days: array[int] = field(default_factory=lambda: array("i"))

    def __len__(self) -> int:
        return len(self.ids)

    def get(self, lid: int) -> tuple[bytes, int] | None:
        """(digest, re-read day) of ``lid``, or None when the state does not know it."""
        at = bisect_left(self.ids, lid)
        if at == len(self.ids) or self.ids[at] != lid:
            return None
        return bytes(self.digests[at * 8 : at * 8 + 8]), self.days[at]

    def needs_detail(
        self, lid: int, item_digest: bytes, item: dict[str, Any], today: int, *, new_day: bool = True
    ) -> bool:
        """Whether the detail of ``lid`` must be read: unknown, list item changed, overdue on a new day, or its
        re-read day came (``today`` = the ledger's date as an ordinal; ``new_day``: crmhub's calendar day moved on
        since the last complete scan — DPD counts days, so an overdue loan whose list item did not change reads
        the same detail again within one day)."""
        known = self.get(lid)
        if known is None or known[0] != item_digest:
            return True
        if known[1] == EVERY_RUN or listed_overdue(item):
            return new_day
        return known[1] <= today

    def add(self, lid: int, item_digest: bytes, day: int) -> None:
        """Remember ``lid``; a list read twice (offset paging under inserts) keeps the first entry."""
        if self.ids and lid <= self.ids[-1]:
            if self.get(lid) is not None:
                return
            at = bisect_left(self.ids, lid)
            self.ids.insert(at, lid)
            self.digests[at * 8 : at * 8] = item_digest
            self.days.insert(at, day)
            return
        self.ids.append(lid)
        self.digests += item_digest
        self.days.append(day)

    def encode(self) -> str:
        """The state as one ASCII string for the cursor."""
        deltas = array("q", self.ids)
        for at in range(len(deltas) - 1, 0, -1):
            deltas[at] -= deltas[at - 1]
        days = array("i", self.days)
        if sys.byteorder != "little":
            deltas.byteswap()
            days.byteswap()
        body = (
            _HEADER.pack(VERSION, len(self.ids), self.setup) + deltas.tobytes() + bytes(self.digests) + days.tobytes()
        )
        return base64.b64encode(zlib.compress(body, 6)).decode("ascii")

    @classmethod
    def decode(cls, text: Any, setup: bytes) -> LoanState | None:
        """The state in ``text``; None when absent, damaged, of another version or another configuration."""
        if not isinstance(text, str) or not text:
            return None
        try:
            body = zlib.decompress(base64.b64decode(text.encode("ascii"), validate=True))
            version, count, stored_setup = _HEADER.unpack_from(body)
        except (ValueError, zlib.error, struct.error):
            return None
        start = _HEADER.size
        if version != VERSION or stored_setup != setup or len(body) != start + count * 20:
            return None
        deltas = array("q", body[start : start + count * 8])
        days = array("i", body[start + count * 16 :])
        if sys.byteorder != "little":
            deltas.byteswap()
            days.byteswap()
        ids = array("q")
        total = 0
        for d in deltas:
            total += d
            ids.append(total)
        return cls(setup, ids, bytearray(body[start + count * 8 : start + count * 16]), days)


def ledger_day(clock_day: date, newest_audit: date | None) -> int:
    """The ledger's date as an ordinal, for re-read days: the earlier of crmhub's clock (tenant time) and the date
    of the newest audit row (a simulator, or a ledger on a business date, may run behind the wall clock; reading a
    detail a day late is what the list would have shown anyway, reading one early every run is the cost avoided)."""
    return min(clock_day, newest_audit).toordinal() if newest_audit is not None else clock_day.toordinal()


__all__ = [
    "EVERY_RUN",
    "NEVER",
    "VERSION",
    "LoanState",
    "digest",
    "ledger_day",
    "listed_overdue",
    "recheck_day",
    "setup_digest",
]
