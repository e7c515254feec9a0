"""Native record ids for the synthetic world: unique, deterministic, random-access and reversible.

Every id is a function of (seed, company key, slot), never of a counter, so one company can be regenerated alone
and a million-client world never holds an id table. Keys go through a seeded affine permutation modulo the prime
`MAX_CLIENTS` first, so ids look scattered (no system's ids line up with another's) while staying unique, and
the permutation's inverse turns an id back into its company key for the ground truth (`World.truth_key`).

| system | record | shape |
|---|---|---|
| Zoho | account / contact | ``4970762`` + ``00`` + 7-digit permuted key + 3-digit slot (001 = account) — 19 digits |
| Fenxiang | account / contact | 24 hex like an ObjectId: 8 creation time, 6 tenant, 6 permuted key, 4 slot |
| ledger | client | ``key + 1`` (Fineract ids are small sequential integers) |
| ledger | savings / loan | ``key * 4 + slot + 1`` |
| ledger | transaction | ``key * 10_000 + sequence + 1`` |
| USCC | organisation code body | 8 digits (registered before 2015-10) or ``MA`` + 6 base-31 characters |
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from crmhub.model.uscc import ALPHABET

if TYPE_CHECKING:
    from _typeshed import SupportsLenAndGetItem

_T = TypeVar("_T")

MAX_CLIENTS = 9_999_991
"""The largest world (a prime: the modulus of the key permutations)."""

ZOHO_ORG_PREFIX = "4970762"
ACCOUNTS_PER_CLIENT = 4
"""Slots for savings accounts and for loans per ledger client."""
TRANSACTIONS_PER_CLIENT = 10_000
"""Transaction-id slots per ledger client (the generator stays far below)."""


class WorldRandom(random.Random):
    """`random.Random` with cheaper `randrange` and `choice` (one float draw instead of rejection sampling).

    The world makes millions of small integer draws; the stdlib's exact-uniform rejection sampling is several times
    slower than scaling one ``random()`` and the bias (< 2**-40 for the ranges used here) is irrelevant for
    synthetic data. Ranges wider than 2**40 fall back to the exact method. Output is as deterministic as the base.
    """

    def randrange(self, start: int, stop: int | None = None, step: int = 1) -> int:
        if stop is None:
            start, stop = 0, start
        width = stop - start
        if step != 1 or width <= 0 or width > 1 << 40:
            return super().randrange(start, stop, step)
        return start + int(self.random() * width)

    def choice(self, seq: SupportsLenAndGetItem[_T]) -> _T:
        if not seq:
            raise IndexError("cannot choose from an empty sequence")
        return seq[int(self.random() * len(seq))]


def world_random(seed: int, key: int, stage: str) -> WorldRandom:
    """The random stream of one stage of one company (``stage`` = ``"plan"``, ``"identity"``, ``"zoho"`` …)."""
    return WorldRandom(f"crmhub-world:{seed}:{key}:{stage}")


def _digest(*parts: object) -> bytes:
    return hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=16).digest()


@dataclass(frozen=True, slots=True)
class KeyPermutation:
    """``key → (a·key + b) mod MAX_CLIENTS``, a bijection on ``[0, MAX_CLIENTS)``."""

    a: int
    b: int
    a_inv: int

    @classmethod
    def derive(cls, seed: int, purpose: str) -> KeyPermutation:
        """A permutation for ``purpose`` (``"zoho"``, ``"uscc"`` …) in the world of ``seed``."""
        d = _digest("crmhub-world-perm", seed, purpose)
        a = 1 + int.from_bytes(d[:8], "big") % (MAX_CLIENTS - 1)
        b = int.from_bytes(d[8:], "big") % MAX_CLIENTS
        return cls(a, b, pow(a, -1, MAX_CLIENTS))

    def __call__(self, key: int) -> int:
        return (self.a * key + self.b) % MAX_CLIENTS

    def inverse(self, value: int) -> int:
        """The key that maps to ``value``."""
        return ((value - self.b) * self.a_inv) % MAX_CLIENTS


class IdCodec:
    """Encodes and decodes the native ids of one world (one seed)."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.zoho_perm = KeyPermutation.derive(seed, "zoho")
        self.fxiaoke_perm = KeyPermutation.derive(seed, "fxiaoke")
        self.uscc_perm = KeyPermutation.derive(seed, "uscc")
        self.cif_perm = KeyPermutation.derive(seed, "cif")
        self.fxiaoke_tenant = _digest("crmhub-world-fx-tenant", seed).hex()[:6]

    # Zoho ---------------------------------------------------------------------------------------------------
    def zoho_id(self, key: int, slot: int) -> str:
        """Slot 1 is the account, 2… its contacts."""
        return f"{ZOHO_ORG_PREFIX}00{self.zoho_perm(key):07d}{slot:03d}"

    def decode_zoho(self, source_id: str) -> tuple[int, int] | None:
        """(key, slot) or ``None`` when ``source_id`` is not an id of this world's shape."""
        if len(source_id) != 19 or not source_id.isdigit() or not source_id.startswith(ZOHO_ORG_PREFIX + "00"):
            return None
        return self.zoho_perm.inverse(int(source_id[9:16])), int(source_id[16:])

    # Fenxiang -----------------------------------------------------------------------------------------------
    def fxiaoke_id(self, key: int, slot: int, created_at: datetime) -> str:
        """Slot 0 is the account, 1… its contacts; the first 8 hex are the creation time, as in ObjectIds."""
        return f"{int(created_at.timestamp()):08x}{self.fxiaoke_tenant}{self.fxiaoke_perm(key):06x}{slot:04x}"

    def decode_fxiaoke(self, source_id: str) -> tuple[int, int, int] | None:
        """(key, slot, creation epoch seconds) or ``None``."""
        if len(source_id) != 24 or source_id[8:14] != self.fxiaoke_tenant:
            return None
        try:
            ts, perm, slot = int(source_id[:8], 16), int(source_id[14:20], 16), int(source_id[20:], 16)
        except ValueError:
            return None
        if perm >= MAX_CLIENTS:
            return None
        return self.fxiaoke_perm.inverse(perm), slot, ts

    # ledger -------------------------------------------------------------------------------------------------
    @staticmethod
    def ledger_client_id(key: int) -> int:
        return key + 1

    @staticmethod
    def decode_ledger_client(source_id: str) -> int | None:
        if not source_id.isdigit() or int(source_id) < 1:
            return None
        return int(source_id) - 1

    @staticmethod
    def savings_id(key: int, slot: int) -> int:
        return key * ACCOUNTS_PER_CLIENT + slot + 1

    @staticmethod
    def loan_id(key: int, slot: int) -> int:
        return key * ACCOUNTS_PER_CLIENT + slot + 1

    @staticmethod
    def transaction_id(key: int, seq: int) -> int:
        if seq >= TRANSACTIONS_PER_CLIENT:
            raise ValueError(f"client {key}: more than {TRANSACTIONS_PER_CLIENT} transactions")
        return key * TRANSACTIONS_PER_CLIENT + seq + 1

    def cif_number(self, key: int) -> str:
        """The bank's own customer number (客户号), used as the ledger ``externalId`` for some clients."""
        return f"CIF{self.cif_perm(key):010d}"

    # USCC ---------------------------------------------------------------------------------------------------
    def uscc_body(self, key: int, *, legacy: bool) -> str:
        """The 8-character organisation-code body: digits for pre-2015 registrations, ``MA…`` after."""
        n = self.uscc_perm(key)
        if legacy:
            return "1234567"[n % 7] + f"{n:07d}"
        chars = []
        for _ in range(5):
            n, r = divmod(n, 31)
            chars.append(ALPHABET[r])
        return "MA" + ALPHABET[1 + self.uscc_perm(key) % 30] + "".join(reversed(chars))

    def key_for_uscc_body(self, body: str) -> int | None:
        """Inverse of `uscc_body` (``None`` for a body this world did not produce)."""
        if len(body) != 8:
            return None
        if body.isdigit():
            n = int(body[1:])
        elif body.startswith("MA") and all(c in ALPHABET for c in body[2:]):
            n = 0
            for c in body[3:]:
                n = n * 31 + ALPHABET.index(c)
        else:
            return None
        return self.uscc_perm.inverse(n) if n < MAX_CLIENTS else None
