"""Masking of personal data in everything meant for people (PIPL; JR/T 0171-2020 Annex A, patterns illustrative).

This module is the one place the masking rules live. Reports, CLI output, logs and every email or WeChat message
pass personal values through it — by kind when the field is known (`mask`, `mask_fields`), by pattern in free
text (`mask_text`). The rules (docs/security.md, "Personal data and masking"):

- phones, in any written form (``+86 138-1234-5678``, ``138 1234 5678``, ``(010) 6552-1234``, full-width
  digits): at most the first 3 and the last 4 digits stay, always at least 4 hidden;
- personal names: the surname (two-character compound surnames such as 欧阳, 司马, 诸葛 included) and one ``*``
  per further character — 张三 → 张*, 欧阳娜娜 → 欧阳**; no character of the given name is shown;
- e-mail addresses: the first character of the local part, then ``***@domain``;
- resident ID numbers: first and last character (well inside "first 6 / last 4 or less");
- account numbers: first 6 and last 4;
- company fields: a company's ``phone`` holding a mobile number and a company ``email`` at a public free-mail
  domain are personal data and masked; a switchboard number or ``info@company`` stays readable;
- USCCs, company names, amounts and ratings are not personal data and stay readable.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from typing import Any

_FULL_WIDTH = str.maketrans(
    {
        **{chr(0xFF10 + i): str(i) for i in range(10)},
        "\uff0b": "+",
        "\uff0d": "-",
        "\u3000": " ",
        "\uff08": "(",
        "\uff09": ")",
        "\u00a0": " ",
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
    }
)
"""Full-width digits, plus, hyphen, parentheses and odd spaces → ASCII, one character for one (spans stay put)."""

_B = r"(?<![0-9A-Za-z+])"  # nothing alphanumeric before (no match inside a USCC or a longer number)
_E = r"(?![0-9A-Za-z])"
_SEP = r"[ \-]?"
_CC = rf"(?:(?:\+|00)?86{_SEP}|\(\+?86\){_SEP})?"
_MOBILE = re.compile(  # 3-4-4, 4-3-4 and 3-8 groupings, or one run of 11 digits
    _B + _CC + rf"(?:1[3-9]\d{_SEP}\d{{4}}{_SEP}\d{{4}}|1[3-9]\d\d{_SEP}\d{{3}}{_SEP}\d{{4}}"
    rf"|1[3-9]\d{_SEP}\d{{8}})" + _E
)
_LANDLINE = re.compile(
    _B + rf"(?:(?:\+|00)86{_SEP}0?[1-9]\d{{1,2}}{_SEP}|\(0[1-9]\d{{1,2}}\) ?|0[1-9]\d{{1,2}}[ \-])"
    rf"[2-9]\d{{2,3}}{_SEP}\d{{4}}" + _E
)
_ID18 = re.compile(r"(?<![0-9A-Za-z])(\d)(\d{16})([\dXx])(?![0-9A-Za-z])")
_ACCOUNT = re.compile(r"(?<![0-9A-Za-z*])(\d{6})(\d{2,15})(\d{4})(?![0-9A-Za-z])")
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+\-])([A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]*"
    r"@([A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+)"
)
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_HAN = re.compile(r"^[\u3400-\u9fff\u00b7\u30fb]+$")

COMPOUND_SURNAMES = frozenset(
    {
        "欧阳",
        "司马",
        "诸葛",
        "上官",
        "东方",
        "皇甫",
        "尉迟",
        "公孙",
        "慕容",
        "长孙",
        "宇文",
        "司徒",
        "司空",
        "夏侯",
        "令狐",
        "端木",
        "独孤",
        "南宫",
        "西门",
        "百里",
        "呼延",
        "轩辕",
        "闻人",
        "申屠",
        "太史",
        "澹台",
        "公冶",
        "宗政",
        "濮阳",
        "淳于",
        "单于",
        "钟离",
        "赫连",
        "万俟",
        "鲜于",
        "闾丘",
        "亓官",
        "仉督",
        "子车",
        "颛孙",
        "巫马",
        "公西",
        "漆雕",
        "乐正",
        "壤驷",
        "公良",
        "拓跋",
        "夹谷",
        "宰父",
        "谷梁",
        "段干",
        "东郭",
        "左丘",
        "梁丘",
        "第五",
    }
)
"""Two-character surnames: the whole surname is kept, so 欧阳娜娜 → 欧阳** (not 欧****)."""

FREE_MAIL_DOMAINS = frozenset(
    {
        "qq.com",
        "foxmail.com",
        "163.com",
        "126.com",
        "yeah.net",
        "139.com",
        "189.cn",
        "wo.cn",
        "sina.com",
        "sina.cn",
        "sohu.com",
        "aliyun.com",
        "tom.com",
        "21cn.com",
        "gmail.com",
        "outlook.com",
        "hotmail.com",
        "live.com",
        "msn.com",
        "yahoo.com",
        "icloud.com",
        "me.com",
        "proton.me",
        "protonmail.com",
    }
)
"""Public mailbox providers: a company ``email`` at one of these is somebody's own address (personal data)."""

KINDS = ("phone", "company_phone", "id_number", "account", "email", "company_email", "name")


def is_resident_id(value: str) -> bool:
    """True for an 18-character resident ID number whose GB 11643 (MOD 11-2) check character is right."""
    if len(value) != 18 or not value[:17].isdigit():
        return False
    total = sum(int(c) * w for c, w in zip(value[:17], _ID_WEIGHTS, strict=True))
    return "10X98765432"[total % 11] == value[17].upper()


def _is_uscc(value: str) -> bool:
    from crmhub.model.uscc import is_valid

    return len(value) == 18 and is_valid(value)


def _phone_digits(value: str) -> str:
    """The national digits of a phone number: full-width folded, country code 86 / +86 / 0086 dropped."""
    digits = re.sub(r"\D", "", value.translate(_FULL_WIDTH))
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and len(digits) - len(prefix) >= 10:
            return digits[len(prefix) :]
    return digits


def is_mobile(value: str) -> bool:
    """True when ``value`` is a mainland mobile number in any written form (a person's, whatever field it is in)."""
    digits = _phone_digits(value)
    return len(digits) == 11 and digits[0] == "1" and digits[1] in "3456789"


def _mask_digits(digits: str) -> str:
    """At most the first 3 and last 4 digits stay, and always at least 4 are hidden (``138****5678``)."""
    n = len(digits)
    shown = max(0, min(7, n - 4))
    last = min(4, shown - shown // 2)
    first = shown - last
    return digits[:first] + "*" * (n - first - last) + (digits[n - last :] if last else "")


def mask_name(value: str) -> str:
    """A personal name: surname + one ``*`` per further character (张三 → 张*, 欧阳娜娜 → 欧阳**).

    A name in Latin letters keeps its first letter (``Zhang San`` → ``Z***``); a single character becomes ``*``.
    """
    v = value.strip()
    if not v:
        return v
    if _HAN.match(v):
        if len(v) == 1:
            return "*"
        keep = 2 if v[:2] in COMPOUND_SURNAMES and len(v) > 2 else 1
        return v[:keep] + "*" * (len(v) - keep)
    return v[0] + "***"


def _visible(value: str) -> int:
    """How many characters of a value are not mask stars."""
    return sum(1 for c in value if c != "*")


def _masked_name(value: str) -> bool:
    """A name already in the masked form (surname + stars): a stray ``*`` in a full name (``张三*``) is not."""
    head = value.rstrip("*")
    return head != value and "*" not in head and (len(head) <= 1 or (len(head) == 2 and head in COMPOUND_SURNAMES))


def mask(value: str, kind: str) -> str:
    """Mask one value of a known kind (one of `KINDS`); masking a masked value changes nothing."""
    v = value.strip()
    if not v:
        return v
    if kind == "company_phone":
        return mask(v, "phone") if is_mobile(v) else v
    if kind == "phone":
        digits = _phone_digits(v)
        if not digits:
            return "*" * len(v) if "*" not in v else v
        if "*" in v and len(digits) <= 7:  # already masked (by us or by the source): at most 3 + 4 digits show
            return v
        return _mask_digits(digits)
    if kind == "id_number":
        if "*" in v and _visible(v) <= 2:
            return v
        return v[0] + "*" * max(len(v) - 2, 0) + v[-1] if len(v) > 2 else "*" * len(v)
    if kind == "account":
        if "*" in v and _visible(v) <= 10:
            return v
        return v[:6] + "*" * max(len(v) - 10, 0) + v[-4:] if len(v) > 10 else "*" * max(len(v) - 4, 0) + v[-4:]
    if kind == "company_email":
        domain = v.rpartition("@")[2].lower()
        return mask(v, "email") if domain in FREE_MAIL_DOMAINS else v
    if kind == "email":
        local, _, domain = v.rpartition("@")
        return (local[:1] + "***@" + domain) if domain and local else "***"
    if kind == "name":
        return v if _masked_name(v) else mask_name(v.replace("*", ""))
    raise ValueError(f"unknown masking kind {kind!r}; use one of {', '.join(KINDS)}")


def _sub_spans(text: str, folded: str, pattern: re.Pattern[str], repl: Callable[[str], str]) -> str:
    """Replace ``pattern``'s matches found in the full-width-folded copy, in the original text."""
    out: list[str] = []
    last = 0
    for m in pattern.finditer(folded):
        out.append(text[last : m.start()])
        out.append(repl(m.group(0)))
        last = m.end()
    if not out:
        return text
    out.append(text[last:])
    return "".join(out)


_URL_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@]*:)(?P<password>[^\s@/]+)(?=@)")


def mask_url(text: str) -> str:
    """Replace the password of every URL in ``text`` with ``***`` (``postgresql://crmhub:***@db/crmhub``).

    Database URLs carry their password inline; wherever one is shown — ``config check``, ``db upgrade``, reports,
    logs, error messages — only this masked form may appear.
    """
    return _URL_PASSWORD.sub(lambda m: m.group("head") + "***", text)


_MAY_MASK = re.compile(r"[\d@]|://")
"""What every rule of `mask_text` needs: a digit (Unicode digits included: full-width ones fold to ASCII), an
``@`` (e-mail) or ``://`` (URL). Text without any of them is returned as it is, without running the rules."""


def mask_text(text: str) -> str:
    """Mask every phone number, resident ID number, long account number and e-mail address in free text.

    Full-width digits and separators are recognised (the folded copy has the same length, so spans match).
    USCCs are not personal data and stay readable: an 18-digit run is masked only when its ID checksum holds,
    and account numbers only when they stand alone (not inside a USCC). Names cannot be told from other words in
    free text; they are masked by field (`mask_fields`) before they reach a text.
    """
    if not text or not _MAY_MASK.search(text):
        return text
    text = mask_url(text)
    text = _EMAIL.sub(lambda m: m.group(1) + "***@" + m.group(2), text)
    folded = text.translate(_FULL_WIDTH)
    if folded == text and not any(c.isdigit() for c in text):
        return text
    text = _sub_spans(
        text, folded, _ID18, lambda s: s[0] + "*" * 16 + s[17] if is_resident_id(s.translate(_FULL_WIDTH)) else s
    )
    folded = text.translate(_FULL_WIDTH)
    text = _sub_spans(text, folded, _MOBILE, lambda s: _mask_digits(_phone_digits(s)))
    folded = text.translate(_FULL_WIDTH)
    text = _sub_spans(text, folded, _LANDLINE, lambda s: _mask_digits(_phone_digits(s)))
    folded = text.translate(_FULL_WIDTH)
    return _sub_spans(
        text,
        folded,
        _ACCOUNT,
        lambda s: s if _is_uscc(s.translate(_FULL_WIDTH)) else s[:6] + "*" * (len(s) - 10) + s[-4:],
    )


_mask_text_memo = functools.lru_cache(maxsize=4096)(mask_text)
"""`mask_text` for `mask_fields`: records repeat much of their text (review flags, a relationship manager's
address), and a string with a digit in it costs four regular expressions. Bounded; in memory only."""

_PERSON_FIELDS = frozenset(
    {"legal_representative", "contacts", "contact", "persons", "beneficial_owners", "controller", "actual_controller"}
)
_KEY_KINDS = {
    "id_number": "id_number",
    "phone": "phone",
    "mobile": "phone",
    "tel": "phone",
    "telephone": "phone",
    "email": "email",
    "counterparty_account": "account",
    "account_number": "account",
}
_IDENTIFIER_KEYS = frozenset(
    {
        "id",
        "source_id",
        "client_source_id",
        "external_ids",
        "uscc",
        "client_uscc",
        "user_id",
        "wecom_user_id",
        "rm_user_id",
        "record",
        "source_record_id",
        "run_id",
        "client_id",
        "other_client_id",
        "transaction_ids",
        "division_code",
        "postcode",
    }
)
"""Keys whose values are system identifiers (CRM record ids are long digit runs that look like accounts)."""
_PERSON_KINDS = frozenset({"person", "individual", "natural_person", "自然人"})


def _shareholder_is_person(item: dict[str, Any]) -> bool:
    kind = str(item.get("kind") or "").strip().lower()
    if kind:
        return kind in _PERSON_KINDS
    name = str(item.get("name") or "").strip()
    return bool(_HAN.match(name)) and 2 <= len(name) <= 4


def mask_fields(value: Any, field: str | None = None, *, person: bool = False) -> Any:
    """``value`` (a canonical record, a field value, or any JSON) with personal data masked by field.

    ``field`` names the field ``value`` belongs to: under ``legal_representative`` and ``contacts`` a ``name`` is
    a person's; a shareholder's ``name`` is masked when it is a natural person. At the top of a company record
    ``phone`` and ``email`` are the company's (masked only when they are a mobile or a free-mail address). Every
    other string goes through `mask_text`. Masking twice gives the same result as masking once.
    """
    if field in _IDENTIFIER_KEYS:
        return value
    if isinstance(value, str):
        if field == "name" and person:
            return mask(value, "name")
        kind = _KEY_KINDS.get(field or "")
        if kind is not None:
            if not person and field in ("phone", "email"):
                kind = f"company_{field}"
            return mask(value, kind)
        return _mask_text_memo(value)
    if isinstance(value, dict):
        inner = person or field in _PERSON_FIELDS
        if field == "shareholders":
            inner = _shareholder_is_person(value)
        return {
            k: mask_fields(v, str(k), person=inner if k != "relationship_manager" else False) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [mask_fields(v, field, person=person) for v in value]
    return value


def mask_record(record: dict[str, Any]) -> dict[str, Any]:
    """A company record (as JSON) with its personal data masked — what `clients show` and reports print."""
    out: dict[str, Any] = mask_fields(record)
    return out


class MaskingFilter(logging.Filter):
    """A log handler filter that masks the rendered message (for handlers that do not format JSON lines)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Replace the message with its masked rendering (arguments are merged in first)."""
        record.msg = mask_text(record.getMessage())
        record.args = None
        return True


def mask_plain_logs() -> None:
    """Mask what Python's fallback handler prints (warnings of a CLI run without a configured handler)."""
    handler = logging.lastResort
    if handler is not None and not any(isinstance(f, MaskingFilter) for f in handler.filters):
        handler.addFilter(MaskingFilter())
