"""Blocking: which pairs are worth scoring, so matching stays near-linear in the number of records.

Each record emits a few *chains* of blocking keys, coarse to fine (name prefix → name prefix within the province →
full name key). At query time each chain contributes the members of its coarsest block that is still small; a
block that grew past ``max_block`` members (a frequent 字号 prefix, a switchboard number shared by a business
park, the legal representative 王伟) is marked oversized, stops storing members, and its chain falls through to the
finer key. Every record is indexed at every level, so the fall-through loses nothing that the finer key would
find, and the cost per record is bounded by ``max_block`` × number of blocking keys.

Families (domain.md §10 step 9): USCC; phone; first two characters of the name key (→ + province → full key);
registering division (USCC positions 3-8, or the name/address region without a USCC) at city level + name
prefix; pinyin of the 字号 (homophone typos such as 星河/星和 share it); legal representative within the province.

Block keys are stored as ``hash(str)`` — a 64-bit collision only adds a candidate, never loses one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from crmhub.sync.records import MatchRecord

__all__ = ["BlockIndex", "BlockingConfig", "block_chains"]


@dataclass(frozen=True, slots=True)
class BlockingConfig:
    """``max_block``: members kept per block before it is declared oversized and skipped."""

    max_block: int = 48


def block_chains(record: MatchRecord) -> list[tuple[str | None, ...]]:
    """The record's blocking-key chains, each ordered coarse → fine; None marks a level it cannot fill."""
    name = record.name
    key = name.key
    prov = record.province
    chains: list[tuple[str | None, ...]] = []
    if record.uscc:
        chains.append(("u|" + record.uscc,))
    for phone in record.phones:
        chains.append(("p|" + phone,))
    if key:
        prefix = key[:2]
        chains.append(("n|" + prefix, f"n|{prefix}|{prov}" if prov else None, "k|" + key))
        if record.geo4:
            chains.append((f"d|{record.geo4}|{prefix}",))
    if record.trade_pinyin:
        chains.append(("y|" + record.trade_pinyin, f"y|{record.trade_pinyin}|{prov}" if prov else None))
    if record.legal_rep and prov:
        chains.append((f"l|{record.legal_rep}|{prov}", f"l|{record.legal_rep}|{prov}|{key[:1]}"))
    return chains


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

    def add(self, rid: int, chains: Iterable[tuple[str | None, ...]]) -> None:
        """Index record `rid` under every key of every chain."""
        blocks, oversized = self._blocks, self._oversized
        for chain in chains:
            for key in chain:
                if key is None:
                    continue
                h = hash(key)
                if h in oversized:
                    continue
                members = blocks.get(h)
                if members is None:
                    blocks[h] = rid
                elif isinstance(members, int):
                    if members != rid:
                        blocks[h] = [members, rid]
                elif rid not in members:
                    if len(members) >= self._max:
                        oversized.add(h)
                        del blocks[h]
                    else:
                        members.append(rid)

    def remove(self, rid: int, chains: Iterable[tuple[str | None, ...]]) -> None:
        """Drop `rid` from its blocks (oversized blocks stay oversized: a conservative choice)."""
        blocks = self._blocks
        for chain in chains:
            for key in chain:
                if key is None:
                    continue
                h = hash(key)
                members = blocks.get(h)
                if members == rid:
                    del blocks[h]
                elif isinstance(members, list) and rid in members:
                    members.remove(rid)
                    if len(members) == 1:
                        blocks[h] = members[0]

    def candidates(self, chains: Iterable[tuple[str | None, ...]]) -> Iterator[int]:
        """Ids sharing a usable (not oversized) block with the chains' owner; may repeat ids or include the owner.

        Every usable level is visited, not only the coarsest: a record lacking a level (no province) is still
        found through the finer key both share, which keeps "is a candidate of" symmetric — `Matcher.resolve`
        relies on that to score each pair exactly once.
        """
        blocks, oversized = self._blocks, self._oversized
        for chain in chains:
            for key in chain:
                if key is None:
                    continue
                h = hash(key)
                if h in oversized:
                    continue
                members = blocks.get(h)
                if members is None:
                    continue
                if isinstance(members, int):
                    yield members
                else:
                    yield from members
