"""Hostile statement files (issue #14): reused ids, overflowing amounts, statements that do not tie out, NUL bytes
and over-long text, big files. Each case ends in a clear error or a cleaned line, never in lost or altered earlier
rows. Runs on SQLite and, with ``CRMHUB_TEST_DATABASE_URL``, on PostgreSQL (the ``store_url`` fixture)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from crmhub.cli import main
from crmhub.store import Store
from crmhub.store.tables import LedgerTransaction

ACCOUNT = "DE44500105175407324931"


@pytest.fixture(autouse=True)
def _english(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRMHUB_LANG", "en")


def _config(tmp_path: Path, url: str) -> Path:
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[store]\nurl = "{url}"\n', encoding="utf-8")
    return cfg


def _statement(
    day: str,
    opening: str,
    lines: list[str],
    closing: str,
    *,
    ref: str = "STARTUMS",
    seq: str = "0",
    account: str = ACCOUNT,
) -> str:
    body = "".join(f"{line}\n" for line in lines)
    return f":20:{ref}\n:25:{account}\n:28C:{seq}\n:60F:C{day}EUR{opening}\n{body}:62F:C{day}EUR{closing}\n-\n"


def _line(day: str, mark: str, amount: str, ref: str = "NONREF", details: str = "Zahlung") -> str:
    return f":61:{day}{day[2:]}{mark}{amount}NTRF{ref}\n:86:{details}"


DAY1 = _statement("240102", "100,00", [_line("240102", "C", "10,00"), _line("240102", "D", "5,00", "INV-1")], "105,00")
DAY2 = _statement("240103", "105,00", [_line("240103", "C", "20,00"), _line("240103", "D", "1,00", "INV-2")], "124,00")
DAY4 = _statement("240104", "124,00", [_line("240104", "C", "20,00"), _line("240104", "D", "1,00", "INV-4")], "143,00")


def _import(
    tmp_path: Path, url: str, text: str, name: str, capsys: pytest.CaptureFixture[str], *extra: str
) -> tuple[int, list[dict[str, Any]], str]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    code = main(["ledger", "import", str(path), "-c", str(_config(tmp_path, url)), "--json", *extra])
    out = capsys.readouterr()
    return code, [json.loads(line) for line in out.out.splitlines()], out.err


def _rows(url: str) -> list[tuple[Any, ...]]:
    store = Store.open(url)
    try:
        with store.begin() as s:
            return [
                tuple(r)
                for r in s.execute(
                    select(
                        LedgerTransaction.source_id,
                        LedgerTransaction.booking_date,
                        LedgerTransaction.amount_minor,
                        LedgerTransaction.direction,
                        LedgerTransaction.reference,
                        LedgerTransaction.line_seq,
                        LedgerTransaction.counterparty_name,
                        LedgerTransaction.content_hash,
                    ).order_by(LedgerTransaction.id)
                )
            ]
    finally:
        store.dispose()


def test_reused_statement_ids_never_replace_an_earlier_day(
    tmp_path: Path, store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Day 2 reuses :20:STARTUMS/:28C:0; it used to overwrite day 1's lines. Now both days stay, re-imports add 0."""
    code, first, _ = _import(tmp_path, store_url, DAY1, "day1.sta", capsys)
    assert code == 0 and (first[0]["inserted"], first[0]["status"]) == (2, "imported")
    day1_rows = _rows(store_url)
    code, second, _ = _import(tmp_path, store_url, DAY2, "day2.sta", capsys)
    assert code == 0 and second[0]["inserted"] == 2 and second[0]["from_other_statement"] == 0
    rows = _rows(store_url)
    assert rows[:2] == day1_rows, "day 1's lines were altered"
    assert [(r[1].isoformat(), r[2], r[3]) for r in rows] == [
        ("2024-01-02", 1000, "credit"),
        ("2024-01-02", 500, "debit"),
        ("2024-01-03", 2000, "credit"),
        ("2024-01-03", 100, "debit"),
    ]
    assert [r[4] for r in rows] == ["", "INV-1", "", "INV-2"]
    for name, text in (("day1.sta", DAY1), ("day2.sta", DAY2), ("both.sta", DAY1 + DAY2)):
        code, again, _ = _import(tmp_path, store_url, text, name, capsys)
        assert code == 0
        assert {(r["status"], r["inserted"]) for r in again} == {("already_imported", 0)}
    assert _rows(store_url) == rows


def test_reimport_says_already_imported(tmp_path: Path, store_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "day1.sta"
    path.write_text(DAY1, encoding="utf-8")
    cfg = _config(tmp_path, store_url)
    assert main(["ledger", "import", str(path), "-c", str(cfg)]) == 0
    capsys.readouterr()
    assert main(["ledger", "import", str(path), "-c", str(cfg)]) == 0
    assert "already imported (2 entries, 0 new)" in capsys.readouterr().out


def test_identical_lines_in_one_statement_stay_two(
    tmp_path: Path, store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    text = _statement("240102", "0,00", [_line("240102", "D", "2,50")] * 3, "0,00").replace(
        ":62F:C240102EUR0,00", ":62F:D240102EUR7,50"
    )
    code, out, err = _import(tmp_path, store_url, text, "fees.sta", capsys)
    assert code == 0, err
    assert out[0]["inserted"] == 3 and [r[5] for r in _rows(store_url)] == [1, 2, 3]
    assert _import(tmp_path, store_url, text, "fees.sta", capsys)[1][0]["inserted"] == 0


def test_overflowing_amount_is_an_error_never_truncated(
    tmp_path: Path, store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``C1234567890123456789,55`` used to be stored as 123,456,789,012,345.00."""
    assert _import(tmp_path, store_url, DAY1, "day1.sta", capsys)[0] == 0
    before = _rows(store_url)
    bad = _statement(
        "240103",
        "105,00",
        [_line("240103", "C", "1,00"), _line("240103", "C", "1234567890123456789,55")],
        "1234567890123456895,55",
    )
    code, out, err = _import(tmp_path, store_url, bad + DAY4, "bad.sta", capsys)
    assert code == 4  # one statement rejected, the other imported
    rejected, imported = out
    assert rejected["status"] == "rejected" and imported["status"] == "imported" and imported["inserted"] == 2
    assert "bad.sta" in rejected["error"] and "line 7: statement line 2:" in rejected["error"]
    assert (
        "'1234567890123456789,55'" in rejected["error"] and "nothing of this statement was stored" in rejected["error"]
    )
    assert "STARTUMS/0" in rejected["statement"] and ACCOUNT in rejected["statement"]
    assert "1 of 2 statement(s)" in err
    rows = _rows(store_url)
    assert rows[:2] == before and len(rows) == 4
    assert all(r[2] < 10**8 for r in rows)


CAMT = """<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt>
<GrpHdr><MsgId>M1</MsgId><CreDtTm>2024-01-02T18:00:00</CreDtTm></GrpHdr>
<Stmt><Id>{stmt_id}</Id><Acct><Id><IBAN>{iban}</IBAN></Id><Ccy>EUR</Ccy></Acct>
<Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">0.00</Amt><CdtDbtInd>CRDT</CdtDbtInd>
<Dt><Dt>{day}</Dt></Dt></Bal>
<Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">{closing}</Amt><CdtDbtInd>CRDT</CdtDbtInd>
<Dt><Dt>{day}</Dt></Dt></Bal>
{entries}
</Stmt></BkToCstmrStmt></Document>
"""
ENTRY = """<Ntry>{ref}<Amt Ccy="EUR">{amount}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>
<BookgDt><Dt>{day}</Dt></BookgDt><ValDt><Dt>{day}</Dt></ValDt>
<NtryDtls><TxDtls><RltdPties><Dbtr><Nm>{name}</Nm></Dbtr></RltdPties></TxDtls></NtryDtls></Ntry>"""


def _camt(
    day: str,
    amounts: list[str],
    closing: str,
    *,
    stmt_id: str = "STMT-1",
    name: str = "ACME GmbH",
    ref: str = "",
    iban: str = ACCOUNT,
) -> str:
    entries = "".join(ENTRY.format(amount=a, day=day, name=name, ref=ref) for a in amounts)
    return CAMT.format(stmt_id=stmt_id, iban=iban, day=day, closing=closing, entries=entries)


def test_camt_reused_statement_id_keeps_both_days(
    tmp_path: Path, store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _import(tmp_path, store_url, _camt("2024-01-02", ["10.00"], "10.00"), "d1.xml", capsys)[0] == 0
    before = _rows(store_url)
    code, out, _ = _import(tmp_path, store_url, _camt("2024-01-03", ["10.00"], "10.00"), "d2.xml", capsys)
    assert code == 0 and out[0]["inserted"] == 1
    rows = _rows(store_url)
    assert rows[:1] == before and len(rows) == 2
    assert (
        _import(tmp_path, store_url, _camt("2024-01-03", ["10.00"], "10.00"), "d2.xml", capsys)[1][0]["status"]
        == "already_imported"
    )


def test_amounts_up_to_the_column_limit_are_exact_beyond_it_rejected(
    tmp_path: Path, store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """BIGINT (PostgreSQL) and INTEGER (SQLite) hold 2**63 − 1 minor units; one cent more is refused by name."""
    top = "92233720368547758.07"
    code, out, err = _import(tmp_path, store_url, _camt("2024-01-02", [top], top), "top.xml", capsys)
    assert code == 0, err
    assert _rows(store_url)[0][2] == 2**63 - 1
    over = "92233720368547758.08"
    code, out, err = _import(tmp_path, store_url, _camt("2024-01-03", [over], over), "over.xml", capsys)
    assert code == 1 and out[0]["status"] == "rejected"
    assert "over.xml" in out[0]["error"] and "Ntry[1] (line 9)" in out[0]["error"] and over in out[0]["error"]
    assert "larger than the store can hold" in out[0]["error"]
    code, out, _ = _import(tmp_path, store_url, _camt("2024-01-04", ["1.005"], "1.005"), "mills.xml", capsys)
    assert code == 1 and "more than 2 decimals" in out[0]["error"]
    assert len(_rows(store_url)) == 1


def test_statement_that_does_not_tie_out_is_rejected_whole(
    tmp_path: Path, store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Opening 105 + 19 ≠ closing 200: rejected with both figures; statements before and after still import."""
    broken = DAY2.replace(":62F:C240103EUR124,00", ":62F:C240103EUR200,00").replace(":28C:0", ":28C:7")
    code, out, err = _import(tmp_path, store_url, DAY1 + broken + DAY4, "three.sta", capsys)
    assert code == 4
    assert [r["status"] for r in out] == ["imported", "rejected", "imported"]
    error = out[1]["error"]
    assert "does not tie out" in error and "124.00" in error and "200.00" in error and "2024-01-03" in error
    assert "STARTUMS/7" in error and ACCOUNT in error and "difference 76.00" in error
    assert "resend" in out[1]["hint"]
    days = sorted({r[1].isoformat() for r in _rows(store_url)})
    assert days == ["2024-01-02", "2024-01-04"]
    code, out, err = _import(tmp_path, store_url, broken, "only.sta", capsys)
    assert code == 1 and "every statement" in err


def test_rejection_is_printed_in_chinese_by_default(
    tmp_path: Path, store_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CRMHUB_LANG")
    broken = DAY1.replace(":62F:C240102EUR105,00", ":62F:C240102EUR999,00")
    path = tmp_path / "zh.sta"
    path.write_text(broken, encoding="utf-8")
    assert main(["ledger", "import", str(path), "-c", str(_config(tmp_path, store_url))]) == 1
    err = capsys.readouterr().err
    assert "余额不平" in err and "期末余额为 999.00" in err and "处理建议" in err


def test_nul_bytes_and_over_long_text_are_cleaned_not_fatal(
    tmp_path: Path, store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """PostgreSQL refuses NUL in text and values longer than the column: cleaned/cut with a note, never a DataError."""
    long_name = "Ü" * 400
    lines = [
        _line("240102", "C", "10,00", "REF\x00A", "/NAME/ACME\x00 GmbH\x07/IBAN/NL91ABNA0417164300/"),
        _line("240102", "C", "5,00", "NONREF", f"/NAME/{long_name}/"),
    ]
    text = _statement("240102", "0,00", lines, "15,00")
    code, out, err = _import(tmp_path, store_url, text, "nul.sta", capsys)
    assert code == 0, err
    assert out[0]["inserted"] == 2
    notes = " ".join(out[0]["notes"])
    assert "control characters" in notes and "cut to 300" in notes and "statement line 2" in notes
    rows = _rows(store_url)
    assert rows[0][4] == "REFA" and rows[0][6] == "ACME GmbH"
    assert rows[1][6] == "Ü" * 300
    assert all("\x00" not in (r[0] + (r[4] or "") + (r[6] or "")) for r in rows)
    long_ref = "<AcctSvcrRef>" + "R" * 300 + "</AcctSvcrRef>"
    camt = _camt("2024-01-05", ["1.00"], "1.00", name="N" * 500, ref=long_ref)
    code, out, err = _import(tmp_path, store_url, camt, "long.xml", capsys)
    assert code == 0, err
    assert len(_rows(store_url)[2][4]) == 140 and len(_rows(store_url)[2][6]) == 300
    assert _import(tmp_path, store_url, camt, "long.xml", capsys)[1][0]["status"] == "already_imported"


def test_account_id_with_nul_or_too_long(tmp_path: Path, store_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _import(
        tmp_path,
        store_url,
        _statement("240102", "0,00", [_line("240102", "C", "1,00")], "1,00", account="NL\x0091"),
        "acct.sta",
        capsys,
    )
    assert code == 0, err
    assert _rows(store_url)[0][0].startswith("stmt:NL91:")
    code, out, err = _import(
        tmp_path, store_url, _camt("2024-01-02", ["1.00"], "1.00", iban="X" * 300), "a.xml", capsys
    )
    assert code == 1 and "longer than 200 characters" in out[0]["error"]


def test_broken_xml_after_a_good_statement_keeps_the_good_one(
    tmp_path: Path, store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    good = _camt("2024-01-02", ["3.00"], "3.00")
    broken = good.replace(
        "</Stmt></BkToCstmrStmt></Document>", "</Stmt><Stmt><Id>S2</Id><Acct><Id><IBAN>X</IBAN></Id></Acct><Ntry><Amt>"
    )
    code, out, err = _import(tmp_path, store_url, broken, "cut.xml", capsys)
    assert code == 4 and "1 of 2 statement(s) in" in err
    assert [r["status"] for r in out] == ["imported", "rejected"]
    assert "not well-formed XML" in out[1]["error"] and "cut.xml" in out[1]["error"]
    assert "S2" in out[1]["statement"] and "not booked twice" in out[1]["hint"]
    assert len(_rows(store_url)) == 1
    # a break after two statements: the first, read long before the break, is kept; the second, whose end lies in
    # the block where lxml found the break, is refused whole (lxml reports a break for its whole 32 KiB block)
    first = _camt("2024-01-03", ["1.00"] * 400, "400.00", stmt_id="A")
    second = _camt("2024-01-04", ["1.00"] * 400, "400.00", stmt_id="B")
    second = second[second.index("<Stmt>") : second.index("</Stmt>") + len("</Stmt>")]
    text = first.replace("</Stmt></BkToCstmrStmt>", "</Stmt>" + second + "<Oops></BkToCstmrStmt>")
    code, out, _ = _import(tmp_path, store_url, text, "after.xml", capsys)
    assert code == 4 and [r["status"] for r in out] == ["imported", "rejected"]
    assert "not well-formed" in out[1]["error"] and "Stmt/Id B" in out[1]["statement"]
    assert len(_rows(store_url)) == 401


def test_a_line_before_the_first_entry_does_not_swallow_the_entries(
    tmp_path: Path, store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A statement-level :86: between :60F: and the first :61: leaves every later :61: an entry (only a :62:
    closing balance ends the entries; a statement whose movements net to zero would tie out even if they were
    lost, so the count is what proves it)."""
    text = _statement(
        "240105",
        "100,00",
        [":86:Kontoauszug Nr. 5", _line("240105", "C", "7,00"), _line("240105", "D", "7,00", "INV-5")],
        "100,00",
    )
    code, out, err = _import(tmp_path, store_url, text, "pre86.sta", capsys)
    assert code == 0, err
    assert out[0]["inserted"] == 2 and len(_rows(store_url)) == 2


def test_an_impossible_date_rejects_its_statement_not_the_import(
    tmp_path: Path, store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`<Dt>2024-13-01</Dt>` used to escape as a ValueError traceback and stop the whole file; now that statement
    is refused with the value named and the next one in the file is still booked."""
    bad = _camt("2024-13-01", ["2.00"], "2.00", stmt_id="BAD")
    good = _camt("2024-01-05", ["3.00"], "3.00", stmt_id="GOOD")
    second = good[good.index("<Stmt>") : good.index("</Stmt>") + len("</Stmt>")]
    text = bad.replace("</Stmt></BkToCstmrStmt>", "</Stmt>" + second + "</BkToCstmrStmt>")
    code, out, err = _import(tmp_path, store_url, text, "month13.xml", capsys)
    assert code == 4, err
    assert [r["status"] for r in out] == ["rejected", "imported"]
    assert "2024-13-01" in out[0]["error"] and "month13.xml" in out[0]["error"]
    assert len(_rows(store_url)) == 1


def test_a_concurrent_import_of_the_same_lines_is_a_clear_error(
    tmp_path: Path, store_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two imports of one file at once: the loser's lookup saw nothing, its insert hits the unique key."""
    from sqlalchemy import false

    from crmhub.sync import statement_booking as booking

    assert _import(tmp_path, store_url, DAY1, "day1.sta", capsys)[0] == 0
    before = _rows(store_url)
    real = booking.select

    def blind(*columns: Any) -> Any:  # the batch lookup (two columns) sees none of the stored lines
        query = real(*columns)
        return query.where(false()) if len(columns) == 2 else query

    monkeypatch.setattr(booking, "select", blind)
    code, out, err = _import(tmp_path, store_url, DAY1, "day1.sta", capsys)
    assert code == 1 and out[0]["status"] == "rejected"
    assert "another import booked lines of this statement at the same time" in out[0]["error"]
    assert "none is booked twice" in out[0]["hint"] and "every statement" in err
    assert _rows(store_url) == before


def test_overlapping_statement_books_only_what_is_new_and_says_so(
    tmp_path: Path, store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A monthly statement over a day already imported: that day's lines are recognised, the rest is booked."""
    assert _import(tmp_path, store_url, DAY1, "day1.sta", capsys)[0] == 0
    before = _rows(store_url)
    lines = [
        _line("240102", "C", "10,00"),
        _line("240102", "D", "5,00", "INV-1"),
        _line("240103", "C", "20,00"),
        _line("240103", "D", "1,00", "INV-2"),
    ]
    monthly = _statement("240131", "100,00", lines, "124,00", ref="MONTH01", seq="1/1")
    path = tmp_path / "month.sta"
    path.write_text(monthly, encoding="utf-8")
    assert main(["ledger", "import", str(path), "-c", str(_config(tmp_path, store_url))]) == 0
    out = capsys.readouterr().out
    assert "4 entries, 2 new, 2 already present" in out and "2 of these lines were already booked by another" in out
    rows = _rows(store_url)
    assert rows[:2] == before and len(rows) == 4


def test_a_reused_statement_id_with_the_same_lines_is_reported_as_another_statement(
    tmp_path: Path, store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Day 2 repeats day 1's :20:/:28C: and carries a line identical to one of day 1 (same booking day, e.g. a
    late-booked fee): it is counted once, and the report says another statement booked it."""
    assert _import(tmp_path, store_url, DAY1, "day1.sta", capsys)[0] == 0
    late = _statement("240103", "105,00", [_line("240102", "C", "10,00"), _line("240103", "C", "1,00")], "116,00")
    code, out, _ = _import(tmp_path, store_url, late, "late.sta", capsys)
    assert code == 0 and (out[0]["inserted"], out[0]["already_present"], out[0]["from_other_statement"]) == (1, 1, 1)
