"""Bank statement import: SWIFT MT940/MT942 and ISO 20022 camt.053/052 into canonical transactions.

``read_statements(path)`` detects the format by content (not by file name) and streams the file's statements
(MT940 through a line-based splitter and ``mt-940`` per chunk, camt with lxml ``iterparse``); ``crmhub ledger
import`` books them one at a time (`crmhub.sync.statement_booking`). ``parse_statement(path)`` returns one
in-memory `Statement` (several statements of one account merged); files with several accounts must go through
``parse_statements``. Every problem is an `InputError` naming the file and the line or element.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from crmhub.model import Transaction
from crmhub.statements.identity import Sequencer, clean_line, minor_units, source_id
from crmhub.statements.model import Balance, Statement, StatementSource, input_error, merge

__all__ = [
    "Balance",
    "Statement",
    "StatementSource",
    "detect_format",
    "parse_statement",
    "parse_statements",
    "read_statements",
]

_SNIFF = 4096


def detect_format(head: bytes) -> str:
    """``"camt"`` or ``"mt940"`` from the first bytes; raises `ValueError` for anything else."""
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if text.startswith(b"<"):
        if b"BkToCstmrStmt" in head or b"BkToCstmrAcctRpt" in head or b"camt.05" in head:
            return "camt"
        raise ValueError("an XML file, but not an ISO 20022 camt.053/052 statement")
    if b":20:" in head and (b":25:" in head or b":60F:" in head or b":61:" in head):
        return "mt940"
    raise ValueError("neither SWIFT MT940 (':20:', ':25:', ':60F:' tags) nor ISO 20022 camt.053 XML")


def read_statements(path: str | Path, account: str | None = None) -> Iterator[StatementSource]:
    """The file's statements one at a time, streamed (see `StatementSource`); file problems raise `InputError`.

    ``account`` = the ledger account the lines belong to (default: each statement's own ``:25:``/``Acct/Id``).
    """
    file = Path(path)
    try:
        with file.open("rb") as fh:
            head = fh.read(_SNIFF)
            blank = not head.strip() and not fh.read(1)
    except FileNotFoundError:
        raise input_error(file, "file", "not found", zh="文件不存在") from None
    except OSError as exc:
        raise input_error(file, "file", f"cannot be read: {exc.strerror}", zh=f"无法读取：{exc.strerror}") from None
    if blank:
        raise input_error(file, "file", "is empty", zh="文件为空")
    try:
        kind = detect_format(head)
    except ValueError as exc:
        raise input_error(
            file,
            "line 1",
            str(exc),
            "export the statement as MT940 or camt.053",
            zh="既不是 SWIFT MT940 也不是 ISO 20022 camt.053 对账单",
            zh_hint="请以 MT940 或 camt.053 格式导出对账单",
        ) from None
    if kind == "camt":
        from crmhub_ledger.statements import camt

        return camt.read(file, account)
    from crmhub_ledger.statements import mt940

    return mt940.read(file, account)


def parse_statements(path: str | Path, account: str | None = None) -> list[Statement]:
    """Every statement in the file, in file order, in memory (small files; imports use `read_statements`).

    Each transaction's ``source_id`` is its statement-line identity (`crmhub.statements.identity`).
    """
    out: list[Statement] = []
    for source in read_statements(path, account):
        txs: list[Transaction] = []
        sequencer = Sequencer()
        for batch in source.batches():
            for line in batch:
                tx, ref = clean_line(line.tx, line.reference, line.where, [])
                cents = minor_units(tx.amount.amount)
                seq = sequencer.next(
                    tx.account_source_id, tx.booking_date, tx.direction, cents, tx.amount.currency, ref
                )
                txs.append(
                    tx.model_copy(
                        update={
                            "source_id": source_id(
                                tx.account_source_id, tx.booking_date, tx.direction, cents, tx.amount.currency, ref, seq
                            )
                        }
                    )
                )
        out.append(replace(source.summary(), transactions=tuple(txs)))
    return out


def parse_statement(path: str | Path, account: str | None = None) -> Statement:
    """The file's statement; consecutive statements of one account are merged into one.

    ``account`` overrides the account the transactions are booked to (by default the statement's own account
    identifier, ``:25:`` or ``Acct/Id``). A file holding several accounts raises `InputError` listing them.
    """
    statements = parse_statements(path, account)
    accounts = sorted({s.account for s in statements})
    if len(accounts) > 1:
        raise input_error(
            path,
            "file",
            f"holds statements of {len(accounts)} accounts ({', '.join(accounts)})",
            "import them one account at a time (parse_statements) or split the file",
        )
    currencies = {s.currency for s in statements if s.currency}
    if len(currencies) > 1:
        raise input_error(path, "file", f"mixes currencies {sorted(currencies)} for account {accounts[0]}")
    return statements[0] if len(statements) == 1 else merge(statements)
