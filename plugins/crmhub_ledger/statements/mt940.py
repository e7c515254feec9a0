"""SWIFT MT940/MT942, streamed: a line reader splits the file into ``:20:`` blocks, ``mt-940`` parses them in chunks.

``mt-940`` (wolph/mt940) does the tag grammar and the bank quirks (entry dates across year ends, funds codes,
zero-padded amounts, multi-line ``:86:``) but parses a whole text at once and keeps ~17 bytes per input byte, so
this module never hands it the file: each statement block (``:20:`` … ``-`` / next ``:20:``) is read line by line
and parsed as its header plus at most `BATCH` ``:61:`` entries at a time; the closing balance (``:62F:``/``:62M:``,
``:64:``) is parsed last, with the header. Memory is bounded by the chunk, not the file or the statement.

What crmhub adds: the ``:61:`` amount is checked against SWIFT's ``15d`` before ``mt-940`` sees it (the library's
pattern silently cuts a longer amount to 15 digits), reversal marks (``RC``/``RD``), counterparty hints from
structured ``:86:`` text, and errors that name the file, line and value. Line identity is decided by the importer
(`crmhub.sync.statement_booking`), not here: a bank's ``:20:``/``:28C:`` are often reused (``STARTUMS``, ``0``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import mt940 as mt

from crmhub.i18n import bilingual
from crmhub.model import Direction, Money, Transaction
from crmhub.statements.model import BATCH, Balance, Statement, StatementLine, input_error

OPTIONS = mt.Options(
    reversal_sign=True,
    strip_bom=True,
    merge_keeps_values=True,
    unbounded_details=True,
    case_insensitive_marks=True,
    applicant_iban=True,
)
"""Opt into every ``mt-940`` 5.1 fix crmhub depends on (RC sign, BOM, :86: length, IBAN sub-field)."""

MAX_LINE = 65_536
"""Longest accepted line in bytes (SWIFT lines are ≤ 65 characters; a bigger one is not a statement)."""
MAX_HEAD_LINES = 200
"""Lines allowed between ``:20:`` and the first ``:61:`` (header tags and statement-level ``:86:`` text)."""


class _Quiet(logging.Filter):
    """``mt-940`` logs each failed tag match; crmhub reports the failure itself, naming the line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < logging.ERROR


logging.getLogger("mt940.tags").addFilter(_Quiet())

_KIND = {
    "TRF": "transfer",
    "CHG": "fee",
    "COM": "fee",
    "INT": "interest",
    "CHK": "cheque",
    "DDT": "direct_debit",
    "CMI": "transfer",
    "MSC": "other",
    "STO": "transfer",
    "SAL": "salary",
    "DIV": "dividend",
}
_TAGGED = re.compile(r"/(NAME|IBAN|BIC|CNTP|ACCW|BENM|ORDP)/([^/\n]*)")
_AMOUNT_61 = re.compile(r"^:61:\d{6}(?:\d{4})?\s*R?[CD](?:[A-Z](?=[\d,]))?([\d,]*)", re.IGNORECASE)
_SWIFT_AMOUNT = re.compile(r"^\d+,\d{0,2}$")
_FIELD = re.compile(r"^:(\d{2}[A-Z]?):(.*)$")


def _decode(raw: bytes) -> str:
    for encoding in ("utf-8", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return raw.decode("latin-1")


class _Lines:
    """The file's lines with their numbers, decoded one at a time; an over-long line comes back as ``None``."""

    def __init__(self, fh: IO[bytes]) -> None:
        self._fh = fh
        self.number = 0
        self._pending: tuple[int, str | None] | None = None

    def next(self) -> tuple[int, str | None] | None:
        if self._pending is not None:
            item, self._pending = self._pending, None
            return item
        raw = self._fh.readline(MAX_LINE + 1)
        if not raw:
            return None
        self.number += 1
        if len(raw) > MAX_LINE and not raw.endswith(b"\n"):
            while (more := self._fh.readline(MAX_LINE + 1)) and not more.endswith(b"\n"):
                pass
            return self.number, None
        if self.number == 1:
            raw = raw.removeprefix(b"\xef\xbb\xbf")
        return self.number, _decode(raw).rstrip("\r\n")

    def push(self, item: tuple[int, str | None]) -> None:
        self._pending = item


def _ends_block(text: str) -> bool:
    stripped = text.strip()
    return stripped == "-" or stripped.startswith("-}") or stripped == "}"


def _balance(data: dict[str, Any], names: tuple[str, ...], kind: str) -> Balance | None:
    for name in names:
        value = data.get(name)
        if value is not None:
            amount = value.amount
            return Balance(
                Money(amount=amount.amount, currency=amount.currency),
                date(value.date.year, value.date.month, value.date.day),
                kind,
            )
    return None


def _counterparty(details: str, data: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(name, account, bank) from GVC sub-fields (German banks) or ``/NAME/…/IBAN/…`` tags (Dutch banks)."""
    name = data.get("applicant_name")
    account = data.get("applicant_iban")
    bank = data.get("applicant_bin")
    tags = {k: v.strip() for k, v in _TAGGED.findall(details.replace("\n", ""))}
    return (name or tags.get("NAME") or None, account or tags.get("IBAN") or None, bank or tags.get("BIC") or None)


class Mt940Statement:
    """One ``:20:`` block being read (a `StatementSource`)."""

    def __init__(self, path: Path, lines: _Lines, start: int, first: str, number: int, account: str | None) -> None:
        self.path = path
        self._lines = lines
        self.start = start
        self.number = number
        self._account = account
        self._head: list[tuple[int, str | None]] = [(start, first)]
        self._done = False
        self._summary: Statement | None = None
        fields: dict[str, str] = {}
        while (item := lines.next()) is not None:
            text = item[1]
            if text is not None and (text.startswith(":20:") or _ends_block(text)):
                lines.push(item)
                break
            if text is not None and (text.startswith(":61:") or text.startswith(":62")):
                lines.push(item)
                break
            if len(self._head) >= MAX_HEAD_LINES:
                lines.push(item)
                break
            self._head.append(item)
            match = _FIELD.match(text or "")
            if match:
                fields.setdefault(match.group(1), match.group(2).strip())
        self.account_hint = fields.get("25", "")
        self.opening_hint = fields.get("60F") or fields.get("60M") or ""
        self.statement_hint = "/".join(x for x in (first[4:].strip(), fields.get("28C") or fields.get("28")) if x)
        self.label = f":20:/:28C: {self.statement_hint} · :25: {self.account_hint or '?'} · line {start}"

    # --- reading -------------------------------------------------------------------------------------------

    def _block_lines(self) -> Iterator[tuple[int, str | None]]:
        """The rest of the block after the header, up to its end marker (consumed) or the next ``:20:``."""
        while not self._done and (item := self._lines.next()) is not None:
            _, text = item
            if text is not None and text.startswith(":20:"):
                self._lines.push(item)
                break
            if text is not None and _ends_block(text):
                break
            yield item
        self._done = True

    def drain(self) -> None:
        """Skip what the caller left unread of this block (after an error), so the next block can be read."""
        for _ in self._block_lines():
            pass

    def _fail(self, line: int, problem: str, zh: str, hint: str | None = None, zh_hint: str | None = None) -> Exception:
        return input_error(self.path, f"line {line}", problem, hint, zh=zh, zh_hint=zh_hint)

    def _parse(self, items: list[tuple[int, str | None]]) -> Any:
        for n, text in items:
            if text is None:
                raise self._fail(
                    n,
                    f"the line is longer than {MAX_LINE} bytes — not an MT940 statement line",
                    f"该行超过 {MAX_LINE} 字节，不是 MT940 报文行",
                )
        text = "\n".join(t for _, t in items if t is not None) + "\n"
        try:
            blocks = mt.parse_statements(text, options=OPTIONS)
        except RuntimeError as exc:
            value = str(exc.args[2]) if len(exc.args) > 2 else str(exc)
            first = value.split("\n")[0]
            line = next((n for n, t in items if t is not None and first and first in t), self.start)
            raise self._fail(
                line,
                f"cannot read MT940 field {value[:60]!r}",
                f"无法解析 MT940 字段 {value[:60]!r}",
                "check the :61: statement line (value date, C/D mark, amount with decimal comma)",
                "请检查 :61: 行（起息日、借贷标记 C/D、以逗号为小数点的金额）",
            ) from None
        except (ValueError, TypeError) as exc:
            raise self._fail(items[0][0], f"cannot parse: {exc}", f"无法解析：{exc}") from None
        if len(blocks) != 1:
            raise self._fail(
                items[0][0],
                f"expected one statement block, read {len(blocks)}",
                f"应为一个报文块，实际读到 {len(blocks)} 个",
            )
        return blocks[0]

    def _check_amount(self, n: int, text: str, where: str) -> Decimal:
        """The ``:61:`` amount exactly as written; longer than SWIFT's 15 characters is an error, never cut."""
        match = _AMOUNT_61.match(text)
        raw = match.group(1) if match else ""
        if len(raw) > 15 or not _SWIFT_AMOUNT.match(raw):
            raise self._fail(
                n,
                f"{where}: amount {raw or text[4:40]!r} is not a SWIFT amount (at most 15 characters, "
                "digits with one decimal comma and at most 2 decimals) — nothing of this statement was stored",
                f"{where}：金额 {raw or text[4:40]!r} 不是合法的 SWIFT 金额（最多 15 个字符，数字加一个小数逗号，"
                "最多两位小数）— 本对账单未入账任何内容",
                "ask the bank for a corrected statement; crmhub never shortens an amount",
                "请向银行索取更正后的对账单；crmhub 从不截断金额",
            )
        return Decimal(raw.replace(",", "."))

    def batches(self) -> Iterator[list[StatementLine]]:
        """The block's ``:61:`` lines, `BATCH` at a time; the closing balance is read after the last one."""
        head = self._parse(self._head)
        data = head.data
        ident = str(data.get("account_identification") or "").strip()
        ref = str(data.get("transaction_reference") or f"statement-{self.number}").strip()
        if not ident:
            raise self._fail(self.start, f"statement {ref!r} has no :25: account", f"对账单 {ref!r} 缺少 :25: 账号")
        seq = "/".join(str(data[k]) for k in ("statement_number", "sequence_number") if data.get(k))
        opening = _balance(
            data, ("final_opening_balance", "intermediate_opening_balance", "opening_balance"), "opening"
        )
        currency = opening.amount.currency if opening else (head.currency or None)
        target = self._account or ident
        statement_id = f"{ref}/{seq}" if seq else ref
        entries: list[list[tuple[int, str | None]]] = []
        tail: list[tuple[int, str | None]] = []
        closed = False  # a :62: closing balance was seen: what follows belongs to the statement's end
        count = 0
        for item in self._block_lines():
            _, text = item
            if closed or (text is not None and text.startswith(":62")):
                closed = True
                tail.append(item)
            elif text is not None and text.startswith(":61:"):
                if len(entries) >= BATCH:
                    yield self._chunk(entries, target, currency, count)
                    count += len(entries)
                    entries = []
                entries.append([item])
            elif entries:
                entries[-1].append(item)
            else:
                tail.append(item)
            if len(tail) > MAX_HEAD_LINES or (entries and len(entries[-1]) > MAX_HEAD_LINES):
                raise self._fail(
                    item[0],
                    f"more than {MAX_HEAD_LINES} lines without a new :61: or :62F: tag",
                    f"超过 {MAX_HEAD_LINES} 行没有新的 :61: 或 :62F: 标签",
                )
        if entries:
            yield self._chunk(entries, target, currency, count)
            count += len(entries)
        data = self._parse(self._head + tail).data if tail else data
        closing = _balance(
            data, ("final_closing_balance", "intermediate_closing_balance", "closing_balance"), "closing"
        )
        is_942 = opening is None and closing is None
        if is_942 and not count:
            raise self._fail(
                self.start,
                f"statement {ref!r} has neither balances (:60F:/:62F:) nor lines (:61:)",
                f"对账单 {ref!r} 既没有余额（:60F:/:62F:）也没有交易行（:61:）",
            )
        self._summary = Statement(
            format="mt942" if is_942 else "mt940",
            source=str(self.path),
            statement_id=statement_id,
            account=ident,
            currency=currency,
            transactions=(),
            opening=opening,
            closing=closing,
            available=_balance(data, ("available_balance",), "available"),
            sequence=seq or None,
            period_from=opening.on if opening else None,
            period_to=closing.on if closing else None,
        )

    def _chunk(
        self, entries: list[list[tuple[int, str | None]]], account: str, currency: str | None, before: int
    ) -> list[StatementLine]:
        amounts = [
            self._check_amount(
                entry[0][0],
                entry[0][1] or "",
                bilingual(f"交易行 {before + k + 1}", f"statement line {before + k + 1}"),
            )
            for k, entry in enumerate(entries)
        ]
        block = self._parse(self._head + [item for entry in entries for item in entry])
        if len(block.transactions) != len(entries):
            raise self._fail(
                entries[0][0][0],
                f"read {len(block.transactions)} transactions from {len(entries)} :61: lines",
                f"{len(entries)} 个 :61: 行只读出 {len(block.transactions)} 笔交易",
            )
        out: list[StatementLine] = []
        for k, (entry, tx, written) in enumerate(zip(entries, block.transactions, amounts, strict=True)):
            where = bilingual(
                f"交易行 {before + k + 1}（第 {entry[0][0]} 行）",
                f"statement line {before + k + 1} (line {entry[0][0]})",
            )
            line = _transaction(self, tx.data, account, where, currency, entry[0][0])
            if line.tx.amount.amount != written:
                raise self._fail(
                    entry[0][0],
                    f"amount {written} was read as {line.tx.amount.amount}",
                    f"金额 {written} 被读成了 {line.tx.amount.amount}",
                )
            out.append(line)
        return out

    def summary(self) -> Statement:
        if self._summary is None:
            raise RuntimeError("summary() before batches() was exhausted")
        return self._summary


def _transaction(
    stmt: Mt940Statement, data: dict[str, Any], account: str, where: str, currency: str | None, line: int
) -> StatementLine:
    amount = data.get("amount")
    if amount is None or data.get("date") is None:
        raise stmt._fail(line, "a :61: line without value date or amount", ":61: 行缺少起息日或金额")
    status = str(data.get("status") or "").upper()
    signed = amount.amount
    value_day = date(data["date"].year, data["date"].month, data["date"].day)
    entry = data.get("entry_date")
    booking = date(entry.year, entry.month, entry.day) if entry else value_day
    details = str(data.get("transaction_details") or "")
    name, cp_account, bank = _counterparty(details, data)
    type_code = str(data.get("id") or "")
    kind = _KIND.get(type_code[1:4], "transfer") if type_code else "transfer"
    reference = str(data.get("customer_reference") or "").strip()
    reference = "" if reference.upper() == "NONREF" else reference
    description = " ".join(
        part for part in (details.replace("\n", " ").strip(), f"ref {reference}" if reference else "") if part
    )
    tx = Transaction(
        source_id=f"mt940:{account}:{where}",
        account_source_id=account,
        booking_date=booking,
        value_date=value_day,
        amount=Money(amount=abs(signed), currency=amount.currency or currency or "XXX"),
        direction=Direction.DEBIT if signed < 0 else Direction.CREDIT,
        kind=kind,
        counterparty_name=name,
        counterparty_account=cp_account,
        counterparty_bank=bank,
        reversed=status.startswith("R"),
        description=description or None,
    )
    return StatementLine(tx=tx, reference=reference, where=where)


def read(path: Path, account: str | None) -> Iterator[Mt940Statement]:
    """Every ``:20:`` block of an MT940 (or MT942) file, in file order, one at a time."""
    number = 0
    with path.open("rb") as fh:
        lines = _Lines(fh)
        while (item := lines.next()) is not None:
            n, text = item
            if text is None or not text.startswith(":20:"):
                continue  # SWIFT envelope ({1:…}{2:…}{4:), bank headers, blank lines between blocks
            number += 1
            stmt = Mt940Statement(path, lines, n, text, number, account)
            yield stmt
            stmt.drain()
    if not number:
        raise input_error(
            path,
            "line 1",
            "no ':20:' statement block found",
            "is this an MT940 file?",
            zh="找不到 ':20:' 对账单块",
            zh_hint="这是 MT940 文件吗？",
        )
