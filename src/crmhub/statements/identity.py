"""What makes a statement line the same line again, and what makes its text safe to store.

Banks reuse a statement's own ids (``:20:STARTUMS``, ``:28C:0`` every day; camt ``Stmt/Id`` per export), so a
line is identified by what it *is*: account, booking date, direction, amount in minor units, currency, the bank's
line reference and its **per-statement sequence** — the how-many-th line with exactly these values in its
statement (two identical ``NONREF`` fees on one day stay two). Re-importing a file gives every line the same
identity again, so nothing is added and nothing is overwritten; a second day's statement gives different
identities, so it never replaces the first day's lines.

Text from a statement (references, counterparty names and accounts, narratives) has NUL and other control
characters removed and is cut to its column's length with a note — PostgreSQL refuses NUL in text and longer
values than the column, and one such line must never block an import.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from crmhub.i18n import bilingual
from crmhub.model import Direction, Transaction

MAX_MINOR = 2**63 - 1
"""Largest amount in minor units both stores hold: PostgreSQL ``BIGINT`` and SQLite ``INTEGER`` are signed 64-bit."""
SOURCE_ID_LEN = 200
ACCOUNT_LEN = 200
REFERENCE_LEN = 140
COUNTERPARTY_NAME_LEN = 300
COUNTERPARTY_ACCOUNT_LEN = 64
TEXT_LEN = 2000
"""Narratives and bank names are not columns, but are hashed and kept short enough to show."""

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SPACE = re.compile(r"[\t\n\r]+")


def minor_units(amount: Decimal) -> int:
    """``amount`` in hundredths, exactly; `ValueError` (bilingual) for more decimals or more than the store holds."""
    hundredths = amount * 100
    if hundredths != hundredths.to_integral_value():
        raise ValueError(
            bilingual(
                f"金额 {amount} 超过两位小数（crmhub 以分为单位保存金额）",
                f"amount {amount} has more than 2 decimals (crmhub stores hundredths)",
            )
        )
    value = int(hundredths)
    if abs(value) > MAX_MINOR:
        limit = Decimal(MAX_MINOR) / 100
        raise ValueError(
            bilingual(
                f"金额 {amount} 超出可保存的范围（最大 {limit}）",
                f"amount {amount} is larger than the store can hold (at most {limit})",
            )
        )
    return value


def clean(value: str | None, limit: int, what: tuple[str, str], notes: list[str], where: str) -> str | None:
    """``value`` without control characters, at most ``limit`` characters; each change is noted (zh, en by lang)."""
    if value is None:
        return None
    text = _CONTROL.sub("", _SPACE.sub(" ", value)).strip()
    if text != value.strip():
        notes.append(
            bilingual(
                f"{where}：{what[0]}中的控制字符（如 NUL）已删除",
                f"{where}: control characters (e.g. NUL) removed from the {what[1]}",
            )
        )
    if len(text) > limit:
        notes.append(
            bilingual(
                f"{where}：{what[0]}长 {len(text)} 个字符，已截断为 {limit} 个",
                f"{where}: {what[1]} of {len(text)} characters cut to {limit}",
            )
        )
        text = text[:limit]
    return text or None


def clean_line(tx: Transaction, reference: str, where: str, notes: list[str]) -> tuple[Transaction, str]:
    """The line's text fields cleaned and cut to their columns (see the module docstring)."""
    update, ref = clean_fields(tx, reference, where, notes)
    return tx.model_copy(update=update), ref


def clean_fields(tx: Transaction, reference: str, where: str, notes: list[str]) -> tuple[dict[str, Any], str]:
    """`clean_line` as the changed fields (for one `model_copy` with other changes) and the cleaned reference."""
    ref = clean(reference, REFERENCE_LEN, ("参考号", "reference"), notes, where) or ""
    update: dict[str, Any] = {
        "counterparty_name": clean(
            tx.counterparty_name, COUNTERPARTY_NAME_LEN, ("对方户名", "counterparty name"), notes, where
        ),
        "counterparty_account": clean(
            tx.counterparty_account, COUNTERPARTY_ACCOUNT_LEN, ("对方账号", "counterparty account"), notes, where
        ),
        "counterparty_bank": clean(tx.counterparty_bank, TEXT_LEN, ("对方银行", "counterparty bank"), notes, where),
        "description": clean(tx.description, TEXT_LEN, ("摘要", "narrative"), notes, where),
    }
    return update, ref


def clean_account(value: str) -> str | None:
    """The account id without control characters, or ``None`` when it is empty or too long to be an id."""
    text = _CONTROL.sub("", value).strip()
    return text if text and len(text) <= ACCOUNT_LEN else None


def source_id(
    account: str, booking: date, direction: Direction, minor: int, currency: str, reference: str, seq: int
) -> str:
    """The stored ``source_id`` of a statement line: readable, or a digest when that would be too long."""
    mark = "C" if direction is Direction.CREDIT else "D"
    text = f"stmt:{account}:{booking.isoformat()}:{mark}{minor}{currency}:{reference}:{seq}"
    if len(text) <= SOURCE_ID_LEN:
        return text
    return "stmt:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(slots=True)
class Sequencer:
    """Numbers identical lines within one statement: 1 for the first, 2 for the next identical one, …

    Keeps an 8-byte digest per distinct line, so memory grows with the statement's distinct lines only.
    """

    seen: dict[bytes, int] = field(default_factory=dict)

    def next(self, account: str, booking: date, direction: Direction, minor: int, currency: str, reference: str) -> int:
        key = hashlib.blake2b(
            f"{account}\x1f{booking}\x1f{direction.value}\x1f{minor}\x1f{currency}\x1f{reference}".encode(),
            digest_size=8,
        ).digest()
        seq = self.seen.get(key, 0) + 1
        self.seen[key] = seq
        return seq
