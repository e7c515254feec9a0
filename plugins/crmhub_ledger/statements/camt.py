"""ISO 20022 camt.053 (and camt.052) statements, read with lxml — see docs/decisions/0002-camt-parser.md.

Streaming (`iterparse`, one ``Ntry`` in memory at a time), namespace-agnostic (``{*}`` paths, so 001.02, 001.04,
001.08 … parse alike), hardened (no DTDs, no entities, no network). Amounts stay `Decimal` from the text; an entry
keeps its own amount even when a ``TxDtls`` carries another (the ISO example's FX entry does); a batch entry is
split into its ``TxDtls`` only when every detail has an amount in the entry currency and they add up to the entry,
so counterparties are kept without ever changing the booked total. Only booked (``BOOK``) entries become
transactions; the others are listed in ``Statement.skipped``.

`read` yields one `CamtStatement` per ``Stmt`` at its start tag; its entries are parsed one by one as the caller
reads its batches, each removed from the tree once parsed, so memory holds one entry, not a statement or file.
A line's reference is its ``AcctSvcrRef`` (else ``NtryRef``; a split detail's own ``AcctSvcrRef`` or the entry's
plus ``/k``); it is never derived from ``Stmt/Id``, which banks reuse.
Identity is decided by the importer (`crmhub.sync.statement_booking`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from lxml import etree  # type: ignore[import-untyped]  # lxml ships no stubs; lxml-stubs lag behind

from crmhub.model import Direction, Money, Transaction
from crmhub.statements.model import BATCH, Balance, Statement, StatementLine, input_error

_AMOUNT = re.compile(r"^\s*\d{1,18}(\.\d{1,5})?\s*$")
_CASH_FAMILY = {"CNTR", "CASH"}
_KIND = {
    "RCDT": "transfer",
    "ICDT": "transfer",
    "RDDT": "direct_debit",
    "IDDT": "direct_debit",
    "CCRD": "card",
    "DCCT": "card",
    "RCHQ": "cheque",
    "ICHQ": "cheque",
    "CNTR": "cash",
    "FORX": "fx",
    "ADOP": "fee",
}
Element = Any


def _text(node: Element | None, path: str) -> str | None:
    if node is None:
        return None
    found = node.find(path)
    if found is None or found.text is None:
        return None
    value: str = found.text.strip()
    return value or None


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        raise ValueError(f"{text!r} is not a date (ISO 8601, YYYY-MM-DD)") from None


def _stamp(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is not a date and time (ISO 8601)") from None


def _when(node: Element | None) -> tuple[date | None, datetime | None]:
    """A ``Dt`` or ``DtTm`` child as the stated business date (never shifted across time zones)."""
    day = _text(node, "{*}Dt")
    stamp = _text(node, "{*}DtTm")
    if day:
        return _day(day), None
    if stamp:
        when = _stamp(stamp)
        return when.date(), when
    return None, None


class _Reader:
    """Per-file state: path for messages, counters for element paths."""

    def __init__(self, path: Path, account_override: str | None) -> None:
        self.path = path
        self.account_override = account_override
        self.message_id: str | None = None

    def fail(self, node: Element, where: str, problem: str, zh: str) -> Exception:
        line = getattr(node, "sourceline", None)
        return input_error(self.path, f"line {line}, {where}" if line else where, problem, zh=zh)

    def amount(self, node: Element | None, where: str) -> Money:
        if node is None:
            raise input_error(self.path, where, "the amount element is missing", zh="缺少金额元素")
        text = node.text or ""
        if not _AMOUNT.match(text):
            raise self.fail(
                node,
                where,
                f"amount {text!r} is not a decimal number (ISO 20022 uses '.' and no thousands separator)",
                f"金额 {text!r} 不是十进制数（ISO 20022 以 '.' 为小数点，不用千位分隔符）",
            )
        currency = node.get("Ccy") or ""
        try:
            return Money(amount=Decimal(text.strip()), currency=currency)
        except ValueError as exc:
            raise self.fail(node, where, str(exc), str(exc)) from None

    def account(self, stmt: Element, where: str) -> str:
        """The statement's own account id (``Acct/Id/IBAN`` or ``Othr/Id``); `InputError` when it has none."""
        acct = stmt.find("{*}Acct")
        account = _text(acct, "{*}Id/{*}IBAN") or _text(acct, "{*}Id/{*}Othr/{*}Id")
        if not account:
            raise self.fail(stmt, where, "Acct/Id has neither IBAN nor Othr/Id", "Acct/Id 既没有 IBAN 也没有 Othr/Id")
        return account

    def summary(
        self, stmt: Element, number: int, kind: str, skipped: list[str], line_currency: str | None
    ) -> Statement:
        """The statement's metadata from its element (entries already removed: they come after the balances)."""
        ident = _text(stmt, "{*}Id") or f"statement-{number}"
        where = f"Stmt[{number}] {ident!r}"
        account = self.account(stmt, where)
        acct = stmt.find("{*}Acct")
        currency = _text(acct, "{*}Ccy")
        balances: dict[str, Balance] = {}
        for bal in stmt.findall("{*}Bal"):
            code = _text(bal, "{*}Tp/{*}CdOrPrtry/{*}Cd") or _text(bal, "{*}Tp/{*}CdOrPrtry/{*}Prtry") or "?"
            money = self.amount(bal.find("{*}Amt"), f"{where}/Bal {code}/Amt")
            if _text(bal, "{*}CdtDbtInd") == "DBIT":
                money = Money(amount=-money.amount, currency=money.currency)
            on, _ = _when(bal.find("{*}Dt"))
            balances.setdefault(code, Balance(money, on, code))
        opening = balances.get("OPBD") or balances.get("PRCD")
        closing = balances.get("CLBD")
        stated = opening or closing
        if currency is None and stated is not None:
            currency = stated.amount.currency
        if currency is None:
            currency = line_currency
        period = stmt.find("{*}FrToDt")
        p_from = _text(period, "{*}FrDtTm") or _text(period, "{*}FrDt")
        p_to = _text(period, "{*}ToDtTm") or _text(period, "{*}ToDt")
        created = _text(stmt, "{*}CreDtTm")
        return Statement(
            format=kind,
            source=str(self.path),
            statement_id=ident,
            account=account,
            currency=currency,
            transactions=(),
            opening=opening,
            closing=closing,
            available=balances.get("CLAV"),
            sequence=_text(stmt, "{*}ElctrncSeqNb") or _text(stmt, "{*}LglSeqNb"),
            message_id=self.message_id,
            created_at=_stamp(created) if created else None,
            period_from=_day(p_from) if p_from else None,
            period_to=_day(p_to) if p_to else None,
            owner=_text(acct, "{*}Ownr/{*}Nm"),
            skipped=tuple(skipped),
        )

    def entry(self, entry: Element, where: str, account: str) -> list[StatementLine]:
        money = self.amount(entry.find("{*}Amt"), f"{where}/Amt")
        indicator = _text(entry, "{*}CdtDbtInd")
        if indicator not in ("CRDT", "DBIT"):
            raise self.fail(
                entry,
                f"{where}/CdtDbtInd",
                f"expected CRDT or DBIT, got {indicator!r}",
                f"应为 CRDT 或 DBIT，实际为 {indicator!r}",
            )
        direction = Direction.CREDIT if indicator == "CRDT" else Direction.DEBIT
        booking, _ = _when(entry.find("{*}BookgDt"))
        value_day, _ = _when(entry.find("{*}ValDt"))
        if booking is None and value_day is None:
            raise self.fail(
                entry,
                f"{where}/BookgDt",
                "a booked entry needs a booking or value date",
                "已记账的分录需要记账日或起息日",
            )
        domain = _text(entry, "{*}BkTxCd/{*}Domn/{*}Cd")
        family = _text(entry, "{*}BkTxCd/{*}Domn/{*}Fmly/{*}Cd")
        sub = _text(entry, "{*}BkTxCd/{*}Domn/{*}Fmly/{*}SubFmlyCd")
        kind = (
            "fee"
            if sub == "CHRG"
            else ("interest" if family == "INTR" or domain == "INTR" else _KIND.get(family or "", "transfer"))
        )
        base_ref = _text(entry, "{*}AcctSvcrRef") or _text(entry, "{*}NtryRef") or ""
        details = entry.findall("{*}NtryDtls/{*}TxDtls")
        common = {
            "booking_date": booking or value_day,
            "value_date": value_day,
            "direction": direction,
            "kind": kind,
            "is_cash": family in _CASH_FAMILY,
            "reversed": (_text(entry, "{*}RvslInd") or "").lower() == "true",
        }
        info = _text(entry, "{*}AddtlNtryInf")
        parts = self._split(details, money, f"{where}/NtryDtls")
        if parts is None:
            party = self._party(details[0], direction) if len(details) == 1 else (None, None, None)
            desc = self._description(details[0] if len(details) == 1 else None, info)
            return [self._tx(account, base_ref, f"{where} (line {entry.sourceline})", money, party, desc, common)]
        out = []
        for k, (detail, amount) in enumerate(parts, start=1):
            ref = _text(detail, "{*}Refs/{*}AcctSvcrRef") or f"{base_ref}/{k}"
            out.append(
                self._tx(
                    account,
                    ref,
                    f"{where}/TxDtls[{k}] (line {detail.sourceline})",
                    amount,
                    self._party(detail, direction),
                    self._description(detail, info),
                    common,
                )
            )
        return out

    def _split(self, details: list[Element], money: Money, where: str) -> list[tuple[Element, Money]] | None:
        if len(details) < 2:
            return None
        amounts: list[tuple[Element, Money]] = []
        for k, detail in enumerate(details, start=1):
            node = detail.find("{*}Amt")
            if node is None:
                node = detail.find("{*}AmtDtls/{*}TxAmt/{*}Amt")
            if node is None:
                return None
            amount = self.amount(node, f"{where}/TxDtls[{k}]/Amt")
            if amount.currency != money.currency:
                return None
            amounts.append((detail, amount))
        return amounts if sum(a.amount for _, a in amounts) == money.amount else None

    @staticmethod
    def _party(detail: Element, direction: Direction) -> tuple[str | None, str | None, str | None]:
        side, agent = ("Dbtr", "DbtrAgt") if direction is Direction.CREDIT else ("Cdtr", "CdtrAgt")
        parties = detail.find("{*}RltdPties")
        name = _text(parties, f"{{*}}{side}/{{*}}Nm") or _text(parties, f"{{*}}{side}/{{*}}Pty/{{*}}Nm")
        account = _text(parties, f"{{*}}{side}Acct/{{*}}Id/{{*}}IBAN") or _text(
            parties, f"{{*}}{side}Acct/{{*}}Id/{{*}}Othr/{{*}}Id"
        )
        agents = detail.find("{*}RltdAgts")
        bank = (
            _text(agents, f"{{*}}{agent}/{{*}}FinInstnId/{{*}}BICFI")
            or _text(agents, f"{{*}}{agent}/{{*}}FinInstnId/{{*}}BIC")
            or _text(agents, f"{{*}}{agent}/{{*}}FinInstnId/{{*}}Nm")
        )
        return name, account, bank

    @staticmethod
    def _description(detail: Element | None, info: str | None) -> str | None:
        texts: list[str] = []
        if detail is not None:
            texts += [n.text.strip() for n in detail.findall("{*}RmtInf/{*}Ustrd") if n.text and n.text.strip()]
            ref = _text(detail, "{*}RmtInf/{*}Strd/{*}CdtrRefInf/{*}Ref")
            if ref:
                texts.append(f"ref {ref}")
            e2e = _text(detail, "{*}Refs/{*}EndToEndId")
            if e2e and e2e != "NOTPROVIDED":
                texts.append(f"e2e {e2e}")
        if info:
            texts.insert(0, info)
        return " | ".join(texts) or None

    @staticmethod
    def _tx(
        account: str,
        ref: str,
        where: str,
        amount: Money,
        party: tuple[str | None, str | None, str | None],
        description: str | None,
        common: dict[str, Any],
    ) -> StatementLine:
        name, cp_account, bank = party
        tx = Transaction(
            source_id=f"camt:{account}:{where}",
            account_source_id=account,
            amount=amount,
            counterparty_name=name,
            counterparty_account=cp_account,
            counterparty_bank=bank,
            description=description,
            **common,
        )
        return StatementLine(tx=tx, reference=ref, where=where)


class _Events:
    """The file's shared ``iterparse`` stream (hardened); a syntax error becomes an `InputError` naming the line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._context = etree.iterparse(
            str(path),
            events=("start", "end"),
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            huge_tree=False,
            remove_comments=True,
        )

    def __iter__(self) -> Iterator[tuple[str, Element]]:
        return self

    def __next__(self) -> tuple[str, Element]:
        try:
            event, elem = next(self._context)
        except etree.XMLSyntaxError as exc:
            raise input_error(
                self.path, f"line {exc.lineno}", f"not well-formed XML: {exc.msg}", zh=f"XML 格式错误：{exc.msg}"
            ) from None
        return event, elem


class CamtStatement:
    """One ``Stmt``/``Rpt`` element, read entry by entry as the caller asks (a `StatementSource`).

    Created at the element's start tag; `batches` pulls the shared event stream up to its end tag, parsing each
    ``Ntry`` when it is complete and removing it from the tree, so a statement of any size holds one entry (plus
    the small header: ``Id``, ``Acct``, ``Bal``) in memory.
    """

    def __init__(self, reader: _Reader, events: _Events, elem: Element, number: int, kind: str) -> None:
        self._reader = reader
        self._events = events
        self._elem = elem
        self._number = number
        self._kind = kind
        self._done = False
        self._summary: Statement | None = None
        self._line = getattr(elem, "sourceline", None)

    @property
    def account_hint(self) -> str:
        acct = self._elem.find("{*}Acct")
        return _text(acct, "{*}Id/{*}IBAN") or _text(acct, "{*}Id/{*}Othr/{*}Id") or ""

    @property
    def statement_hint(self) -> str:
        return _text(self._elem, "{*}Id") or f"statement-{self._number}"

    @property
    def opening_hint(self) -> str:
        for bal in self._elem.findall("{*}Bal"):
            if _text(bal, "{*}Tp/{*}CdOrPrtry/{*}Cd") in ("OPBD", "PRCD"):
                return " ".join(
                    x
                    for x in (
                        _text(bal, "{*}Dt/{*}Dt") or _text(bal, "{*}Dt/{*}DtTm"),
                        _text(bal, "{*}CdtDbtInd"),
                        _text(bal, "{*}Amt"),
                    )
                    if x
                )
        return ""

    @property
    def label(self) -> str:
        return f"Stmt/Id {self.statement_hint} · Acct {self.account_hint or '?'}" + (
            f" · line {self._line}" if self._line else ""
        )

    def _inside(self) -> Iterator[tuple[str, Element]]:
        """Events up to (not including) this statement's end tag."""
        if self._done:
            return
        for event, elem in self._events:
            if event == "end" and elem is self._elem:
                break
            yield event, elem
        self._done = True

    def drain(self) -> None:
        """Skip what the caller left unread (after an error), so the next statement can be read."""
        for _ in self._inside():
            pass

    def batches(self) -> Iterator[list[StatementLine]]:
        """The statement's booked lines, `BATCH` at a time, each entry freed once parsed."""
        where = ""
        target = ""
        index = 0
        lines: list[StatementLine] = []
        skipped: list[str] = []
        currency: str | None = None
        for event, elem in self._inside():
            if event != "end" or elem.getparent() is not self._elem or etree.QName(elem).localname != "Ntry":
                continue
            index += 1
            if not where:
                where = f"Stmt[{self._number}] {self.statement_hint!r}"
                target = self._reader.account_override or self._reader.account(self._elem, where)
            status = _text(elem, "{*}Sts/{*}Cd") or _text(elem, "{*}Sts") or "BOOK"
            if status != "BOOK":
                skipped.append(f"Ntry[{index}] status {status}")
            else:
                parsed = self._reader.entry(elem, f"{where}/Ntry[{index}]", target)
                currency = currency or (parsed[0].tx.amount.currency if parsed else None)
                lines.extend(parsed)
            elem.clear()
            self._elem.remove(elem)
            if len(lines) >= BATCH:
                yield lines
                lines = []
        if lines:
            yield lines
        self._summary = self._reader.summary(self._elem, self._number, self._kind, skipped, currency)

    def summary(self) -> Statement:
        if self._summary is None:
            raise RuntimeError("summary() before batches() was exhausted")
        return self._summary


def read(path: Path, account: str | None) -> Iterator[CamtStatement]:
    """Every ``Stmt`` (camt.053) or ``Rpt`` (camt.052) of the file, streamed: one entry in memory at a time."""
    reader = _Reader(path, account)
    kind = "camt.053"
    count = 0
    events = _Events(path)
    root_seen = False
    for event, elem in events:
        local = etree.QName(elem).localname
        if event == "start":
            if not root_seen:
                root_seen = True
                ns = etree.QName(elem).namespace or ""
                if local != "Document":
                    raise reader.fail(
                        elem,
                        "root",
                        f"expected an ISO 20022 <Document>, found <{local}>",
                        f"应为 ISO 20022 <Document>，实际为 <{local}>",
                    )
                if ns and "camt.05" not in ns:
                    raise reader.fail(
                        elem,
                        "root",
                        f"namespace {ns!r} is not a camt statement (camt.053/052)",
                        f"命名空间 {ns!r} 不是 camt 对账单（camt.053/052）",
                    )
                if "camt.052" in ns:
                    kind = "camt.052"
            elif (
                local in ("Stmt", "Rpt")
                and elem.getparent() is not None
                and etree.QName(elem.getparent()).localname in ("BkToCstmrStmt", "BkToCstmrAcctRpt")
            ):
                count += 1
                stmt = CamtStatement(reader, events, elem, count, kind)
                yield stmt
                stmt.drain()
                elem.clear()
                while elem.getprevious() is not None:
                    del elem.getparent()[0]
            continue
        if (
            local == "MsgId"
            and reader.message_id is None
            and elem.getparent() is not None
            and etree.QName(elem.getparent()).localname == "GrpHdr"
        ):
            reader.message_id = (elem.text or "").strip() or None
    if not count:
        raise input_error(
            path,
            "BkToCstmrStmt",
            "no <Stmt> element found",
            "is this a camt.053 statement?",
            zh="找不到 <Stmt> 元素",
            zh_hint="这是 camt.053 对账单吗？",
        )
