"""`MatchRecord`: the compact, precomputed view of one source record that the matcher indexes and scores.

Matching a large book of clients is dominated by pair comparisons, so everything a comparison needs (parsed name,
pinyin, region codes, normalised phones and legal representative) is computed once per record, here, and the
record is immutable and slotted to keep 100k of them in tens of megabytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from crmhub.model import regions
from crmhub.model import uscc as uscc_mod
from crmhub.model.client import CorporateClient
from crmhub.model.types import Address
from crmhub.sync.names import (
    CompanyName,
    normalize_company_name,
    normalize_person_name,
    normalize_phone,
    pinyin_key,
)

__all__ = ["MatchRecord"]

_MUNICIPALITIES = frozenset({"11", "12", "31", "50"})


def _geo4(code: str | None) -> str | None:
    """City-level prefix of a division code; municipalities collapse to the municipality."""
    if not code:
        return None
    return code[:2] + "00" if code[:2] in _MUNICIPALITIES else code[:4]


@dataclass(frozen=True, slots=True)
class MatchRecord:
    """One source record as the matcher sees it; ``ref`` is opaque to the matcher (e.g. ``zoho:4970…``).

    ``region_code``/``city`` come from the record's address (GB/T 2260), ``division_code`` from USCC positions
    3-8 (the registering authority). ``phone`` is the main number; ``other_phones`` holds further numbers of the
    same company (legal representative's mobile, the ledger's contact mobile) that still identify it.
    ``uscc`` is always a valid code; a source value failing the GB 32100 checksum goes to ``uscc_invalid``.
    """

    ref: str
    system: str
    name: CompanyName
    uscc: str | None = None
    region_code: str | None = None
    city: str | None = None
    division_code: str | None = None
    phone: str | None = None
    legal_rep: str | None = None
    other_phones: tuple[str, ...] = ()
    uscc_invalid: str | None = None
    key_pinyin: str = field(init=False, repr=False, compare=False)
    trade_pinyin: str = field(init=False, repr=False, compare=False)
    location: str | None = field(init=False, repr=False, compare=False)
    phones: tuple[str, ...] = field(init=False, repr=False, compare=False)
    geo4: str | None = field(init=False, repr=False, compare=False)
    """City-level prefix (4 digits) of the registering division, or of the name/address region without USCC."""
    province: str | None = field(init=False, repr=False, compare=False)
    """Two-digit province prefix of the best-known location (name region, address, USCC division)."""

    def __post_init__(self) -> None:
        self._derive(pinyin_key(self.name.key))

    def _derive(self, key_py: str) -> None:
        """Set the derived fields; ``key_py`` is ``pinyin_key(name.key)``, computed or stored."""
        object.__setattr__(self, "key_pinyin", key_py)
        key, trade = self.name.key, self.name.trade_name
        if trade == key:
            trade_py = key_py
        elif trade and key.startswith(trade):  # one syllable per character, none containing a space
            trade_py = " ".join(key_py.split(" ")[: len(trade)])
        else:
            trade_py = pinyin_key(trade)
        object.__setattr__(self, "trade_pinyin", trade_py)
        object.__setattr__(self, "location", self.name.region_code or self.region_code or self.division_code)
        phones = tuple(dict.fromkeys(p for p in (self.phone, *self.other_phones) if p))
        object.__setattr__(self, "phones", phones)
        object.__setattr__(self, "geo4", _geo4(self.division_code or self.location))
        object.__setattr__(self, "province", self.location[:2] if self.location else None)

    @classmethod
    def restore(
        cls,
        ref: str,
        system: str,
        name: CompanyName,
        key_pinyin: str,
        *,
        uscc: str | None,
        region_code: str | None,
        city: str | None,
        division_code: str | None,
        phone: str | None,
        legal_rep: str | None,
        other_phones: tuple[str, ...],
        uscc_invalid: str | None,
    ) -> MatchRecord:
        """A record from stored, already normalised values and its stored ``key_pinyin`` — what the constructor
        builds, without recomputing the pinyin (the match index decodes every candidate of every batch)."""
        record = object.__new__(cls)
        for attr, value in (
            ("ref", ref),
            ("system", system),
            ("name", name),
            ("uscc", uscc),
            ("region_code", region_code),
            ("city", city),
            ("division_code", division_code),
            ("phone", phone),
            ("legal_rep", legal_rep),
            ("other_phones", other_phones),
            ("uscc_invalid", uscc_invalid),
        ):
            object.__setattr__(record, attr, value)
        record._derive(key_pinyin)
        return record

    @classmethod
    def build(
        cls,
        ref: str,
        system: str,
        name: str,
        *,
        uscc: str | None = None,
        province: str | None = None,
        city: str | None = None,
        district: str | None = None,
        division_code: str | None = None,
        phone: str | None = None,
        legal_rep: str | None = None,
        other_phones: tuple[str | None, ...] = (),
    ) -> MatchRecord:
        """Build from raw source values (what a connector view holds), normalising each one."""
        region = regions.region_from_code(division_code) if division_code else None
        if region is None:
            region = regions.region_from_address(province, city, district)
        code = uscc_mod.compact(uscc) if uscc else None
        invalid = None
        if code and not uscc_mod.is_valid(code):
            code, invalid = None, code  # a mistyped code is no identity, but still evidence (see scoring)
        extra = tuple(p for p in (normalize_phone(x) for x in other_phones) if p)
        return cls(
            ref=ref,
            system=system,
            name=normalize_company_name(name),
            uscc=code,
            region_code=regions.current_code(region.code) if region else None,
            city=region.short if region else None,
            division_code=regions.current_code(code[2:8]) if code and len(code) == 18 else None,
            phone=normalize_phone(phone),
            legal_rep=normalize_person_name(legal_rep),
            other_phones=extra,
            uscc_invalid=invalid,
        )

    @classmethod
    def from_client(cls, ref: str, system: str, client: CorporateClient) -> MatchRecord:
        """Build from a canonical `CorporateClient` (a connector's mapped record or a golden record)."""
        address: Address | None = client.registered_address or client.business_address
        rep = client.legal_representative
        # Contacts' numbers identify people, who may serve several companies: only the legal representative's.
        others: list[str | None] = [rep.phone if rep else None]
        return cls.build(
            ref,
            system,
            client.name,
            uscc=client.uscc or client.uscc_unverified,
            province=address.province if address else None,
            city=address.city if address else None,
            district=address.district if address else None,
            division_code=address.division_code if address else None,
            phone=client.phone,
            legal_rep=rep.name if rep else None,
            other_phones=tuple(others),
        )
