"""Bank statement import: SWIFT MT940/MT942 and ISO 20022 camt.053/052 into canonical transactions.

``parse_statement(path)`` detects the format by content (not by file name), parses with ``mt-940`` or the lxml
camt reader, and returns one `Statement`; files with several statements of one account are merged, files with
several accounts must go through ``parse_statements``. Every problem is an `InputError` naming the file and the
line or element.
"""

from __future__ import annotations

from pathlib import Path

from crmhub_ledger.statements.model import Balance, Statement, input_error, merge

__all__ = ["Balance", "Statement", "detect_format", "parse_statement", "parse_statements"]

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


def parse_statements(path: str | Path, account: str | None = None) -> list[Statement]:
    """Every statement in the file, in file order. ``account`` = the ledger account the lines belong to."""
    file = Path(path)
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        raise input_error(file, "file", "not found") from None
    except OSError as exc:
        raise input_error(file, "file", f"cannot be read: {exc.strerror}") from None
    if not raw.strip():
        raise input_error(file, "file", "is empty")
    try:
        kind = detect_format(raw[:_SNIFF])
    except ValueError as exc:
        raise input_error(file, "line 1", str(exc), "export the statement as MT940 or camt.053") from None
    if kind == "camt":
        from crmhub_ledger.statements import camt

        return camt.parse(file, account)
    from crmhub_ledger.statements import mt940

    return mt940.parse(file, raw, account)


def parse_statement(path: str | Path, account: str | None = None) -> Statement:
    """The file's statement; consecutive statements of one account are merged into one.

    ``account`` overrides the account the transactions are booked to (by default the statement's own account
    identifier, ``:25:`` or ``Acct/Id``). A file holding several accounts raises `InputError` listing them.
    """
    statements = parse_statements(path, account)
    accounts = sorted({s.account for s in statements})
    if len(accounts) > 1:
        raise input_error(path, "file", f"holds statements of {len(accounts)} accounts ({', '.join(accounts)})",
                          "import them one account at a time (parse_statements) or split the file")
    currencies = {s.currency for s in statements if s.currency}
    if len(currencies) > 1:
        raise input_error(path, "file", f"mixes currencies {sorted(currencies)} for account {accounts[0]}")
    return statements[0] if len(statements) == 1 else merge(statements)
