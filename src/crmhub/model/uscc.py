"""Unified Social Credit Code (统一社会信用代码) validation per GB 32100-2015.

Written in the project rather than delegated to python-stdnum because stdnum requires positions 1-8 to be digits
and so rejects legitimate letter-first codes (``Y1…``, ``N2…``, ``A1…``). python-stdnum is used only as a
cross-check in the tests.

Layout (18 characters): registration authority (1), organisation type (1), GB/T 2260 division code of the
registering authority (6), organisation code per GB 11714 (8 body + 1 check), USCC check character (1).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
"""The 31 symbols of GB 32100 (no I, O, Z, S, V); a symbol's value is its index."""

_VALUE = {c: i for i, c in enumerate(ALPHABET)}
_WEIGHTS_18 = tuple(pow(3, i, 31) for i in range(17))
_WEIGHTS_ORG = (3, 7, 9, 10, 5, 8, 4, 2)
_NEVER_USED = "IOZSV"
_WELL_FORMED = re.compile("[0-9A-HJ-NP-RTUWXY]{18}")
_WEIGHTED = tuple({c: v * w for c, v in _VALUE.items()} for w in _WEIGHTS_18)
"""Per position 1-17: symbol → value × weight, so the checksum of a well-formed code is 17 lookups."""

AUTHORITY_TYPES: dict[str, dict[str, str]] = {
    "1": {"1": "机关", "2": "事业单位", "3": "中央编办直接管理机构编制的群众团体", "9": "其他"},
    "2": {"1": "外国常驻新闻机构", "9": "其他"},
    "3": {
        "1": "律师执业机构",
        "2": "公证处",
        "3": "基层法律服务所",
        "4": "司法鉴定机构",
        "5": "仲裁委员会",
        "9": "其他",
    },
    "4": {"1": "外国在华文化中心", "9": "其他"},
    "5": {"1": "社会团体", "2": "民办非企业单位", "3": "基金会", "9": "其他"},
    "6": {"1": "外国旅游部门常驻代表机构", "2": "港澳台地区旅游部门常驻内地(大陆)代表机构", "9": "其他"},
    "7": {"1": "宗教活动场所", "2": "宗教院校", "9": "其他"},
    "8": {"1": "基层工会", "9": "其他"},
    "9": {"1": "企业", "2": "个体工商户", "3": "农民专业合作社"},
    "A": {"1": "军队事业单位", "9": "其他"},
    "N": {"1": "组级", "2": "村级", "3": "乡镇级集体经济组织", "9": "其他"},
    "Y": {"1": "其他"},
}
"""Registration authority (position 1) → organisation types (position 2), GB 32100-2015 table (2nd-hand)."""


class UsccError(ValueError):
    """A string is not a valid USCC; the message says which character is wrong and what to do."""


@dataclass(frozen=True, slots=True)
class UsccParts:
    """The parsed fields of a valid USCC."""

    code: str
    authority: str
    org_type: str
    division: str
    org_code: str
    check: str


_SEPARATORS = frozenset(" \t\r\n-_.\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u30fc\u00b7")
"""Characters people put between the groups of a code (after NFKC, which turns full-width ones into these)."""


def compact(value: str) -> str:
    """Fold a USCC as people type it: NFKC (full-width ``９１１１…`` and U+3000 become ASCII), upper case, blanks
    and dashes removed. Every USCC crmhub reads (connector fields, CLI arguments, config) goes through this before
    it is validated, so ``９１１１００００６００ ０３７３４１ｌ`` and ``91110000600037341L`` are the same code."""
    if _WELL_FORMED.fullmatch(value):
        return value
    folded = unicodedata.normalize("NFKC", value)
    return "".join(ch for ch in folded if ch not in _SEPARATORS and not ch.isspace()).upper()


def check_character(body17: str) -> str:
    """The check character (position 18) for the first 17 characters, ISO 7064 MOD 31-3."""
    total = sum(_VALUE[c] * w for c, w in zip(body17, _WEIGHTS_18, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def org_code_check_character(body8: str) -> str:
    """The GB 11714 organisation-code check character for positions 9-16."""

    def val(c: str) -> int:
        return int(c) if c.isdigit() else ord(c) - 55

    r = 11 - sum(val(c) * w for c, w in zip(body8, _WEIGHTS_ORG, strict=True)) % 11
    return {10: "X", 11: "0"}.get(r, str(r))


_KNOWN_VALID: dict[str, None] = {}
"""Compact codes already found valid: one record's code is checked by the connector, the model's screen and the
``Uscc`` type, and again by every source that holds the same company (bounded: cleared when full)."""
_KNOWN_MAX = 65_536


def validate(value: str) -> str:
    """Return the compacted code or raise `UsccError` naming the problem.

    A checksum mismatch cannot tell which position is wrong (MOD 31-3 detects any single substitution but does
    not locate it), and the message says so.
    """
    if value in _KNOWN_VALID:
        return value
    if _WELL_FORMED.fullmatch(value):  # the usual case: already compact; one regex, then 17 lookups
        total = sum(map(dict.__getitem__, _WEIGHTED, value[:17]))  # C-level loop: no Python frame per symbol
        if value[17] == ALPHABET[(31 - total % 31) % 31]:
            if len(_KNOWN_VALID) >= _KNOWN_MAX:
                _KNOWN_VALID.clear()
            _KNOWN_VALID[value] = None
            return value
    code = compact(value)
    if len(code) != 18:
        raise UsccError(f"USCC {value!r} has {len(code)} characters, expected 18")
    for pos, ch in enumerate(code, start=1):
        if ch in _NEVER_USED:
            raise UsccError(f"USCC {code}: position {pos}: character {ch!r} not allowed (I, O, Z, S, V are never used)")
        if ch not in _VALUE:
            raise UsccError(
                f"USCC {code}: position {pos}: character {ch!r} not allowed "
                "(only digits and capital letters except I, O, Z, S, V)"
            )
    expected = check_character(code[:17])
    if code[17] != expected:
        raise UsccError(
            f"USCC {code}: check character is {code[17]!r}, expected {expected!r}; a mismatch does not say "
            "which position is wrong, so compare the whole code with the business licence"
        )
    return code


@dataclass(frozen=True, slots=True)
class Screened:
    """The outcome of `screen`: the valid code, or the folded input and why it is not a valid USCC."""

    code: str | None
    folded: str
    problem: str | None
    kind: str | None
    """``check`` (18 well-formed characters, wrong check character: most likely a typo), ``format`` (bad
    characters) or ``length``; None when valid."""


@lru_cache(maxsize=16_384)  # pure, and the result is immutable; a code is screened by each source holding it
def screen(value: str) -> Screened:
    """Validate without raising: for records that are kept although their USCC is wrong (a data-quality finding,
    not a reason to drop the client)."""
    folded = compact(value)
    try:
        return Screened(validate(folded), folded, None, None)
    except UsccError as exc:
        if len(folded) != 18:
            kind = "length"
        elif _WELL_FORMED.fullmatch(folded):
            kind = "check"
        else:
            kind = "format"
        return Screened(None, folded, str(exc), kind)


def is_valid(value: str) -> bool:
    """True when `value` is a valid USCC (after `compact`)."""
    try:
        validate(value)
    except UsccError:
        return False
    return True


def parse(value: str) -> UsccParts:
    """Validate and split a USCC into its fields."""
    code = validate(value)
    return UsccParts(code, code[0], code[1], code[2:8], code[8:17], code[17])


def warnings(value: str) -> list[str]:
    """Soft checks beyond the checksum: authority/type pair, division shape, embedded org-code check.

    Real codes occasionally fail these (older registrations), so they are warnings, never rejections.
    """
    parts = parse(value)
    found: list[str] = []
    types = AUTHORITY_TYPES.get(parts.authority)
    if types is None:
        found.append(f"position 1: unknown registration authority {parts.authority!r}")
    elif parts.org_type not in types:
        found.append(f"position 2: type {parts.org_type!r} is not defined for authority {parts.authority!r}")
    if not parts.division.isdigit():
        found.append(f"positions 3-8: division code {parts.division!r} is not six digits")
    body8 = parts.org_code[:8]
    if all(c.isdigit() or c.isupper() for c in body8):
        expected = org_code_check_character(body8)
        if parts.org_code[8] != expected:
            found.append(
                f"position 17: organisation-code check is {parts.org_code[8]!r}, GB 11714 expects {expected!r}"
            )
    return found


def make(prefix: str, body: str) -> str:
    """Build a valid USCC from an 8-character prefix and an 8-character organisation-code body.

    Used by the sandbox world generator and by tests; computes both check characters.
    """
    if len(prefix) != 8 or len(body) != 8:
        raise ValueError("prefix and body must be 8 characters each")
    org = body + org_code_check_character(body)
    body17 = prefix + org
    return body17 + check_character(body17)
