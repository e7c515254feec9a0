"""Masking of personal data outside the store (JR/T 0171-style patterns, illustrative defaults).

Reports, CLI output, logs and every email or WeChat message pass personal values through these functions.
"""

from __future__ import annotations

import re

_MOBILE = re.compile(r"(?<!\d)(1[3-9]\d)(\d{4})(\d{4})(?!\d)")
_ID18 = re.compile(r"(?<![0-9A-Za-z])(\d)(\d{16})([\dXx])(?![0-9A-Za-z])")
_ACCOUNT = re.compile(r"(?<![0-9A-Za-z])(\d{6})(\d{2,15})(\d{4})(?![0-9A-Za-z])")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def is_resident_id(value: str) -> bool:
    """True for an 18-character resident ID number whose GB 11643 (MOD 11-2) check character is right."""
    if len(value) != 18 or not value[:17].isdigit():
        return False
    total = sum(int(c) * w for c, w in zip(value[:17], _ID_WEIGHTS, strict=True))
    return "10X98765432"[total % 11] == value[17].upper()


def _is_uscc(value: str) -> bool:
    from crmhub.model.uscc import is_valid

    return len(value) == 18 and is_valid(value)


def mask(value: str, kind: str) -> str:
    """Mask one value of a known kind: ``phone`` 3+4, ``id_number`` 1+1, ``account`` 6+4, ``email`` 1@domain."""
    v = value.strip()
    if not v:
        return v
    if kind == "phone":
        digits = re.sub(r"\D", "", v)
        if len(digits) >= 7:
            return digits[:3] + "*" * (len(digits) - 7) + digits[-4:] if len(digits) > 7 else digits[:3] + "****"
        return "*" * len(v)
    if kind == "id_number":
        return v[0] + "*" * max(len(v) - 2, 0) + v[-1] if len(v) > 2 else "*" * len(v)
    if kind == "account":
        return v[:6] + "*" * max(len(v) - 10, 0) + v[-4:] if len(v) > 10 else "*" * max(len(v) - 4, 0) + v[-4:]
    if kind == "email":
        local, _, domain = v.partition("@")
        return (local[:1] + "***@" + domain) if domain else "***"
    raise ValueError(f"unknown masking kind {kind!r}")


def mask_text(text: str) -> str:
    """Mask every mobile number, resident ID number and long account number found in free text.

    USCCs are not personal data and stay readable: an 18-digit run is masked only when its ID checksum holds,
    and account numbers only when they stand alone (not inside a USCC).
    """
    text = _ID18.sub(
        lambda m: m.group(1) + "*" * 16 + m.group(3) if is_resident_id(m.group(0)) else m.group(0), text
    )
    text = _ACCOUNT.sub(
        lambda m: m.group(0) if _is_uscc(m.group(0)) else m.group(1) + "*" * len(m.group(2)) + m.group(3), text
    )
    return _MOBILE.sub(lambda m: m.group(1) + "****" + m.group(3), text)
