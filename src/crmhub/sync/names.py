"""Normalisation of company names, person names and phone numbers for matching (domain.md §10).

The same company reaches crmhub written many ways — 星河科技（北京）有限公司, 北京星河科技有限责任公司, 北京星河科技有限
公司 in traditional characters — and matching must see through that drift without ever confusing a branch with its
parent. `normalize_company_name` keeps the original and derives a comparison ``key`` (字号 + industry words) plus
the parts it stripped (region, legal form, branch), so that each part can be compared by its own rule and every
decision can be explained.

Pipeline: NFKC → explicit bracket/quote mapping → traditional → simplified (OpenCC ``t2s``, decision 0003) → drop
whitespace, middle dots, quotes and other punctuation, upper-case Latin, unify dashes → branch suffix → bracketed
parts (region, (中国), (集团), bracketed form) → legal form (longest first) → 集团 → leading region → 字号 +
industry words. The original string is never altered.
"""

from __future__ import annotations

import os
import re
import sys
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Protocol, cast

from crmhub.model import regions
from crmhub.sync.lexicon import (
    BRANCH_SUFFIXES,
    ENGLISH_FORMS,
    INDUSTRY_WORDS,
    LEGAL_FORMS,
    QUALIFIERS,
    WEAK_BRANCH_SUFFIXES,
)

__all__ = [
    "CompanyName",
    "fold",
    "normalize_company_name",
    "normalize_person_name",
    "normalize_phone",
    "pinyin_key",
    "split_trade_name",
    "to_simplified",
]

_MAP = str.maketrans(
    {
        "【": "(", "】": ")", "〔": "(", "〕": ")", "〈": "(", "〉": ")", "《": "(", "》": ")", "[": "(", "]": ")",
        "{": "(", "}": ")", "「": "", "」": "", "『": "", "』": "", "—": "-", "–": "-", "―": "-", "‐": "-",
        "‑": "-", "−": "-", "─": "-",
    }
)  # fmt: skip
_KEEP_PUNCT = frozenset("()-&")
_BRACKETS = re.compile(r"\(([^()]*)\)")
_WORD_SET = frozenset({*INDUSTRY_WORDS, *QUALIFIERS})
_WORD_LENGTHS = tuple(sorted({len(w) for w in _WORD_SET}, reverse=True))
_FORM_BY_WRITTEN = {written: (canon, group) for written, canon, group in LEGAL_FORMS}
_PARENT_FORMS = tuple(written for written, _, _ in LEGAL_FORMS if len(written) >= 2)


@dataclass(frozen=True, slots=True)
class CompanyName:
    """A company name parsed for matching; `key` is what names are compared on.

    ``key`` is the 字号 plus industry words with region, legal form, 集团 and branch removed (北京星河科技有限公司 →
    ``星河科技``); ``tokens`` splits it into the 字号 followed by the industry words and qualifiers (``("星河",
    "科技")``). ``region`` is the short name of the most specific division found (北京, 浦东) and
    ``region_code`` its GB/T 2260 code; ``form`` the canonical legal form (有限责任公司 → 有限公司); ``branch`` the
    branch part (上海分公司) or None for a head office.
    """

    original: str
    key: str
    region: str | None = None
    form: str | None = None
    branch: str | None = None
    tokens: tuple[str, ...] = ()
    region_code: str | None = None
    group: bool = False
    latin: bool = False

    @property
    def trade_name(self) -> str:
        """The 字号 (first token), or the whole key when it could not be split."""
        return self.tokens[0] if self.tokens else self.key

    @property
    def industry(self) -> tuple[str, ...]:
        """Industry words and qualifiers after the 字号, in order."""
        return self.tokens[1:]


class _Converter(Protocol):
    def convert(self, text: str) -> str: ...


@cache
def _converter() -> _Converter:
    import opencc

    return cast(_Converter, opencc.OpenCC("t2s"))


def to_simplified(text: str) -> str:
    """Traditional → simplified Chinese (OpenCC ``t2s``); other characters unchanged."""
    if text.isascii():
        return text
    return _converter().convert(text)


def _clean_char(ch: str) -> str:
    if ch.isspace():
        return ""
    if ch in _KEEP_PUNCT:
        return ch
    category = unicodedata.category(ch)
    if category[0] == "P" or ch in "·•・‧":
        return ""
    return ch


class _CleanTable(dict[int, str]):
    """`_clean_char` as a `str.translate` table filled on first sight of each character (the per-character
    Python call was a fifth of normalising a name)."""

    def __missing__(self, codepoint: int) -> str:
        value = self[codepoint] = _clean_char(chr(codepoint))
        return value


_CLEAN = _CleanTable()


def fold(text: str) -> str:
    """Width, script and punctuation folding shared by every name: the first three pipeline steps."""
    text = unicodedata.normalize("NFKC", text).translate(_MAP)
    text = to_simplified(text)
    return text.translate(_CLEAN).upper()


def _is_cjk(ch: str) -> bool:
    return "\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff"


def split_trade_name(key: str) -> tuple[str, tuple[str, ...], bool]:
    """Split a key into 字号 and trailing industry words/qualifiers, longest word first.

    Returns ``(trade_name, words, all_words)``; ``all_words`` is True when the key consisted only of lexicon
    words, in which case the first of them is kept as the 字号 (中国银行 → 字号 中国, words 银行).
    """
    words: list[str] = []
    rest = key
    while rest:
        for length in _WORD_LENGTHS:  # longest first, by set lookup: a handful of probes per word
            if len(rest) >= length and rest[-length:] in _WORD_SET:
                words.append(rest[-length:])
                rest = rest[:-length]
                break
        else:
            break
    words.reverse()
    if rest:
        return rest, tuple(words), False
    if not words:
        return "", (), True
    return words[0], tuple(words[1:]), True


def _split_branch(text: str) -> tuple[str, str | None]:
    """Separate a branch suffix (…有限公司上海分公司) from the parent's name; the branch part is canonicalised."""
    if text.endswith(")"):
        match = _BRACKETS.search(text)
        if match and match.end() == len(text) and match.group(1).endswith(BRANCH_SUFFIXES):
            text = text[: match.start()] + match.group(1)
    suffix = next((s for s in BRANCH_SUFFIXES if text.endswith(s) and len(text) > len(s)), None)
    if suffix is None:
        return text, None
    head = text[: -len(suffix)]
    cut = -1
    for pos in range(len(head), 1, -1):
        if head[:pos].endswith(_PARENT_FORMS):
            cut = pos
            break
    if cut < 0:
        if suffix in WEAK_BRANCH_SUFFIXES:
            return text, None
        # No legal form before the suffix: the branch part is the region (or ordinal) right before it.
        cut = len(head)
        for pos in range(max(0, len(head) - 12), len(head) - 1):
            if regions.lookup(head[pos:]) is not None:
                cut = pos
                break
    parent, branch = text[:cut], text[cut:]
    return parent, _canonical_branch(branch)


def _canonical_branch(branch: str) -> str:
    """上海市分公司 → 上海分公司, so the same branch written two ways compares equal."""
    path = regions.parse_prefix(branch)
    if not path:
        return branch
    return "".join(r.short for r, _ in path) + branch[path[-1][1] :]


def _strip_brackets(text: str) -> tuple[str, regions.Region | None, str | None, bool]:
    """Resolve each bracketed part: region, (中国) token, (集团), bracketed legal form, or plain text."""
    region: regions.Region | None = None
    form: str | None = None
    group = False

    def replace(match: re.Match[str]) -> str:
        nonlocal region, form, group
        inner = match.group(1)
        if not inner:
            return ""
        if inner in ("中国", "CHINA"):
            return inner
        if inner == "集团":
            group = True
            return ""
        if inner in _FORM_BY_WRITTEN:
            canon, implies_group = _FORM_BY_WRITTEN[inner]
            form = form or canon
            group = group or implies_group
            return ""
        found = regions.lookup(inner)
        if found is not None:
            if region is None:
                region = found
            return ""
        return inner

    while "(" in text and _BRACKETS.search(text):
        text = _BRACKETS.sub(replace, text)
    return text.replace("(", "").replace(")", ""), region, form, group


def _strip_form(text: str) -> tuple[str, str | None, bool]:
    for written, canon, group in LEGAL_FORMS:
        if text.endswith(written) and len(text) > len(written):
            return text[: -len(written)], canon, group
    return text, None, False


def _strip_latin_form(text: str) -> tuple[str, str | None, bool]:
    """Strip English legal forms and a trailing CHINA (``Siemens Ltd., China``) — returns (rest, form, china)."""
    form: str | None = None
    china = False
    for _ in range(3):
        if text.endswith("CHINA") and len(text) > 6:
            text, china = text[:-5], True
            continue
        written = next((w for w, _ in ENGLISH_FORMS if text.endswith(w) and len(text) > len(w) + 1), None)
        if written is None:
            break
        form = form or dict(ENGLISH_FORMS)[written]
        text = text[: -len(written)]
    return text, form, china


def _leading_region(text: str) -> tuple[str, regions.Region | None]:
    """Strip a leading region, backing off while the rest would have no 字号 (北京银行 keeps 北京 in its key)."""
    path = list(regions.parse_prefix(text))
    while path:
        rest = text[path[-1][1] :]
        if rest and not split_trade_name(rest)[2]:
            return rest, path[-1][0]
        path.pop()
    return text, None


def _pick_region(a: regions.Region | None, b: regions.Region | None) -> regions.Region | None:
    if a is None or b is None:
        return a or b
    if regions.compatible(a.code, b.code):
        return a if a.level >= b.level else b
    return a


def normalize_company_name(name: str) -> CompanyName:
    """Parse a company name into comparison key, region, legal form, branch and tokens (see module docstring)."""
    text = fold(name)
    text, branch = _split_branch(text)
    text, bracket_region, form, group = _strip_brackets(text)
    if not any(_is_cjk(ch) for ch in text):
        key, latin_form, china = _strip_latin_form(text)
        key = key.rstrip("-&") or text
        latin_tokens = (key, "中国") if china else (key,)
        return CompanyName(name, key, None, form or latin_form, branch, latin_tokens, None, group, latin=True)
    text, plain_form, implies_group = _strip_form(text)
    form = form or plain_form
    group = group or implies_group
    if text.endswith("集团") and len(text) > 2:
        text, group = text[:-2], True
    text, lead_region = _leading_region(text)
    region = _pick_region(lead_region, bracket_region)
    key = text or fold(name)
    trade, words, _ = split_trade_name(key)
    tokens: tuple[str, ...] = (trade, *words) if trade else words
    return CompanyName(
        original=name,
        key=key,
        region=region.short if region else None,
        form=form,
        branch=branch,
        tokens=tokens,
        region_code=regions.current_code(region.code) if region else None,  # retired codes by their successor
        group=group,
    )


def normalize_person_name(name: str | None) -> str | None:
    """A person's name folded for comparison (width, script, spaces, middle dots): 買買提·艾力 → 买买提艾力."""
    if not name:
        return None
    folded = fold(name)
    return folded or None


_EXTENSION = re.compile(r"(?:转|分机|EXT\.?|X|#)\s*\d+\s*$", re.IGNORECASE)
_MOBILE = re.compile(r"1[3-9]\d{9}")


def normalize_phone(raw: str | None) -> str | None:
    """Digits-only phone for comparison, or None when it cannot be compared across sources.

    Strips +86 / 0086 / 86 and extensions; keeps mobiles (11 digits, 1[3-9]…), landlines with their area code
    (0 + 2-3 digit area + 7-8 digit number; a bare area code without its 0 after +86 gets it back) and 400/800
    service numbers. A landline without area code is ambiguous across cities and is dropped.
    """
    if not raw:
        return None
    text = unicodedata.normalize("NFKC", raw).strip()
    text = _EXTENSION.sub("", text)
    international = text.startswith("+") or text.startswith("00")
    digits = "".join(ch for ch in text if ch.isdigit())
    if digits.startswith("0086"):
        digits, international = digits[4:], True
    elif digits.startswith("86") and (international or len(digits) in (12, 13)):
        digits, international = digits[2:], True
    if _MOBILE.fullmatch(digits):
        return digits
    if digits.startswith(("400", "800")) and len(digits) == 10:
        return digits
    if international and not digits.startswith("0"):
        digits = "0" + digits
    if digits.startswith("0") and not digits.startswith("00") and 10 <= len(digits) <= 12:
        return digits
    return None


@cache
def _lazy_pinyin() -> Callable[[str], list[str]]:
    """pypinyin's per-character reader, imported without its phrase dictionary.

    Why: only single characters are looked up (`pinyin_key`), whose readings come from the character dictionary
    alone (checked over every character `_syllable` asks for: identical output); loading the phrases cost ~0.25 s
    of CPU and ~45 MiB per process, in every sync's match phase. The switches are pypinyin's own environment
    variables, read once at its import and restored after it (a pypinyin imported earlier is used as it is).
    """
    saved = {name: os.environ.get(name) for name in ("PYPINYIN_NO_PHRASES", "PYPINYIN_NO_DICT_COPY")}
    if "pypinyin" not in sys.modules:
        os.environ.update(dict.fromkeys(saved, "1"))
    try:
        from pypinyin import Style, lazy_pinyin
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return lambda ch: lazy_pinyin(ch, style=Style.NORMAL)


@cache
def _syllable(ch: str) -> str:
    if not _is_cjk(ch):
        return ch.lower()
    found = _lazy_pinyin()(ch)
    return found[0] if found else ch


def pinyin_key(text: str) -> str:
    """Toneless pinyin of a string, one syllable per character, space-separated (星河 → ``xing he``).

    Per-character readings (cached) rather than phrase segmentation: homophone typos (星河/星和) are made
    character by character in an IME, and the per-character lookup is ~50× faster than phrase mode.
    """
    return " ".join(_syllable(ch) for ch in text)
