"""Blocking: which pairs are worth scoring, so matching stays near-linear in the number of records.

Each record emits a handful of blocking keys (domain.md §10 step 9). Two records are *candidates* when they share
a block that is not oversized: a block that grows past ``max_block`` members (a frequent 字号 in a big province,
a switchboard shared by a business park, 王伟 as legal representative) is marked oversized, stops storing members
and is skipped from then on. The cost per record is therefore bounded by ``max_block`` × keys, whatever the size
of the book; the keys are chosen so that every true pair still shares at least one small block:

| key | catches |
|---|---|
| ``u`` USCC | the deterministic case |
| ``p`` each phone | renamed companies, missing USCC |
| ``n`` first two characters of the name key + province | typos after the second character |
| ``k`` the full name key | every drift that normalisation removes, even without any region |
| ``d`` registering division (USCC pos. 3-8, else name/address region), city level, + name prefix | same city |
| ``y`` pinyin of the whole key | homophone typos (星河/星和), also in the first characters |
| ``l`` legal representative + province (+ first name character) | names rewritten beyond recognition |

Coarser keys (the name prefix alone, the 字号 pinyin with or without the province) are deliberately absent: in a
large book their blocks are big, and the true pairs in them are all found by the keys above — measured on 100,000
sandbox-world records: 54,234 of 54,248 true pairs share a block either way, with 91,590 candidate pairs instead of
601,437.

Keys are stored as ``hash(str)``: a 64-bit collision only adds a candidate, never loses one. The sync keeps the
same keys in the store, hashed stably (`crmhub.sync.match_index`), with the same cap applied to stored block sizes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from crmhub.sync.records import MatchRecord

__all__ = ["BlockIndex", "BlockingConfig", "block_key_strings", "block_keys"]


@dataclass(frozen=True, slots=True)
class BlockingConfig:
    """``max_block``: members kept per block before it is declared oversized and skipped."""

    max_block: int = 48


def block_key_strings(record: MatchRecord) -> list[str]:
    """The record's blocking keys as text, see the module docstring (the persisted index hashes them stably)."""
    key = record.name.key
    prov = record.province
    keys = ["p|" + phone for phone in record.phones]
    if record.uscc:
        keys.append("u|" + record.uscc)
    if key:
        prefix = key[:2]
        keys.append("k|" + key)
        keys.append("y|" + record.key_pinyin)
        if prov:
            keys.append(f"n|{prefix}|{prov}")
        if record.geo4:
            keys.append(f"d|{record.geo4}|{prefix}")
    if record.legal_rep and prov:
        keys.append(f"l|{record.legal_rep}|{prov}")
        keys.append(f"l|{record.legal_rep}|{prov}|{key[:1]}")
    return keys


def block_keys(record: MatchRecord) -> list[int]:
    """The record's blocking keys, hashed with Python's per-process ``hash`` (the in-memory index)."""
    return [hash(k) for k in block_key_strings(record)]


class BlockIndex:
    """Blocks of record ids, capped; ids are small ints handed out by the caller."""

    __slots__ = ("_blocks", "_max", "_oversized")

    def __init__(self, config: BlockingConfig | None = None) -> None:
        self._max = (config or BlockingConfig()).max_block
        self._blocks: dict[int, int | list[int]] = {}
        self._oversized: set[int] = set()

    @property
    def oversized(self) -> int:
        """How many blocks were declared oversized."""
        return len(self._oversized)

    def __len__(self) -> int:
        return len(self._blocks)

    def add(self, rid: int, keys: Iterable[int]) -> None:
        """Index record `rid` under each key."""
        blocks, oversized, limit = self._blocks, self._oversized, self._max
        for h in keys:
            members = blocks.get(h)
            if members is None:
                if h not in oversized:
                    blocks[h] = rid
            elif isinstance(members, int):
                if members != rid:
                    blocks[h] = [members, rid]
            elif rid not in members:
                if len(members) >= limit:
                    oversized.add(h)
                    del blocks[h]
                else:
                    members.append(rid)

    def remove(self, rid: int, keys: Iterable[int]) -> None:
        """Drop `rid` from its blocks (an oversized block stays oversized: a conservative choice)."""
        blocks = self._blocks
        for h in keys:
            members = blocks.get(h)
            if members == rid:
                del blocks[h]
            elif isinstance(members, list) and rid in members:
                members.remove(rid)
                if len(members) == 1:
                    blocks[h] = members[0]

    def candidates(self, keys: Iterable[int]) -> Iterator[int]:
        """Ids sharing a block (not oversized) with the keys' owner; may repeat ids or include the owner.

        Candidacy is symmetric — both records hold the shared key — which `Matcher.resolve` relies on to score
        each pair exactly once.
        """
        blocks = self._blocks
        for h in keys:
            members = blocks.get(h)
            if members is None:
                continue
            if isinstance(members, int):
                yield members
            else:
                yield from members
