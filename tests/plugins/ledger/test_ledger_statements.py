"""Statement import on real public samples (tests/data/statements, origins in its README)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from crmhub.errors import InputError
from crmhub.model import Direction
from crmhub_ledger.statements import detect_format, parse_statement, parse_statements

DATA = Path(__file__).resolve().parents[2] / "data" / "statements"
MT = DATA / "mt940"
CAMT = DATA / "camt053"


@pytest.fixture(autouse=True)
def _english(monkeypatch: pytest.MonkeyPatch) -> None:
    """Messages are asserted in English (the default language is Chinese)."""
    monkeypatch.setenv("CRMHUB_LANG", "en")


def test_iso_business_example_camt053() -> None:
    stmt = parse_statement(CAMT / "iso-business-sample-camt.053.001.04.xml")
    assert (stmt.format, stmt.statement_id, stmt.message_id) == (
        "camt.053",
        "AAAASESS-FP-STAT001",
        "AAAASESS-FP-STAT001",
    )
    assert stmt.account == "50000000054910000003" and stmt.owner == "FINPETROL" and stmt.currency == "SEK"
    assert stmt.opening is not None and stmt.closing is not None
    assert (stmt.opening.amount.amount, stmt.opening.on) == (Decimal("500000"), date(2010, 10, 15))
    assert (stmt.closing.amount.amount, stmt.closing.on) == (Decimal("435678.50"), date(2010, 10, 18))
    assert [(t.amount.amount, t.amount.currency, t.direction) for t in stmt] == [
        (Decimal("105678.50"), "SEK", Direction.CREDIT),
        (Decimal("200000"), "SEK", Direction.DEBIT),
        (Decimal("30000"), "SEK", Direction.CREDIT),
    ]
    assert stmt.ties_out and stmt.period_from == date(2010, 10, 18)
    first = stmt.transactions[0]
    assert first.counterparty_name == "MUELLER" and first.booking_date == date(2010, 10, 18)
    assert first.source_id == "stmt:50000000054910000003:2010-10-18:C10567850SEK:AAAASESS-FP-CN_98765/01:1"
    assert "MUELL/FINP/RA12345" in (first.description or "")


def test_camt_account_override_and_multiple_statements() -> None:
    both = parse_statements(CAMT / "bsp-golden-multicurrency.xml", account="ledger-501")
    assert [(s.account, s.currency, len(s)) for s in both] == [
        ("DE89370400440532013000", "EUR", 2),
        ("US-ACCT-0099", "USD", 1),
    ]
    assert all(s.ties_out for s in both)
    assert {t.account_source_id for s in both for t in s} == {"ledger-501"}
    assert both[0].transactions[1].counterparty_name == "OFFICE SUPPLIES SARL"
    with pytest.raises(InputError, match="2 accounts"):
        parse_statement(CAMT / "bsp-golden-multicurrency.xml")


def test_identical_entries_on_one_day_stay_two() -> None:
    stmt = parse_statement(CAMT / "bsp-golden-duplicate-same-day.xml")
    assert len(stmt) == 2 and len({t.source_id for t in stmt}) == 2 and stmt.currency == "EUR"


def test_garbled_camt_amount_names_file_line_and_element() -> None:
    with pytest.raises(InputError) as caught:
        parse_statement(CAMT / "bsp-golden-garbled-amount.xml")
    message = str(caught.value)
    assert "bsp-golden-garbled-amount.xml" in message and "line 17" in message
    assert "Ntry[1]/Amt" in message and "'12..34'" in message


def test_tryton_mt940_sample() -> None:
    stmt = parse_statement(MT / "tryton-MT940.txt")
    assert (stmt.format, stmt.account, stmt.currency, stmt.sequence) == ("mt940", "123456789", "EUR", "13501/1")
    assert stmt.opening is not None and stmt.closing is not None
    assert (stmt.opening.amount.amount, stmt.opening.on) == (Decimal("5138.61"), date(2012, 5, 11))
    assert (stmt.closing.amount.amount, stmt.closing.on) == (Decimal("5638.62"), date(2012, 5, 14))
    first, reversal, third = stmt.transactions
    assert (first.amount.amount, first.direction, first.value_date, first.booking_date) == (
        Decimal("500.01"),
        Direction.CREDIT,
        date(2012, 5, 12),
        date(2012, 5, 14),
    )
    assert first.counterparty_name == "QASD JGRED" and first.counterparty_account == "FR12345678901234"
    assert reversal.reversed and reversal.direction is Direction.DEBIT and reversal.amount.amount == Decimal("15.67")
    assert third.booking_date == date(2017, 12, 14)
    assert stmt.ties_out


@pytest.mark.parametrize(
    ("name", "count", "opening", "closing", "currency"),
    [
        ("citi-mt940.txt", 5, "17376.67", "16233.92", "USD"),
        ("jejik-triodos.sta", 2, "4975.09", "4370.79", "EUR"),
        ("jejik-abnamro.sta", 10, "3236.28", "1849.75", "EUR"),
        ("jejik-postfinance.sta", 4, "0", "159.6", "CHF"),
    ],
)
def test_bank_mt940_samples(name: str, count: int, opening: str, closing: str, currency: str) -> None:
    stmt = parse_statement(MT / name)
    assert len(stmt) == count and stmt.currency == currency
    assert stmt.opening is not None and stmt.closing is not None
    assert stmt.opening.amount.amount == Decimal(opening) and stmt.closing.amount.amount == Decimal(closing)
    assert all(t.account_source_id == stmt.account for t in stmt)
    assert len({t.source_id for t in stmt}) == count


def test_citi_ties_out_and_available_balance() -> None:
    stmt = parse_statement(MT / "citi-mt940.txt")
    assert stmt.ties_out and stmt.available is not None and stmt.available.amount.amount == Decimal("16233.92")
    assert sum(t.amount.amount for t in stmt if t.direction is Direction.DEBIT) == Decimal("1142.75")


def test_rabobank_file_with_two_accounts() -> None:
    statements = parse_statements(MT / "jejik-rabobank.sta")
    assert [(s.statement_id, s.account, len(s)) for s in statements] == [
        ("940A110615/00000/00", "1291.99.348EUR", 1),
        ("940A110616/00000/00", "1291.99.348EUR", 0),
        ("940A110617/00000/00", "1291.99.348EUR", 2),
        ("940A120829/00000/00", "1526.89.184EUR", 2),
    ]
    assert statements[0].transactions[0].amount.amount == Decimal("1213.28")
    assert statements[3].ties_out and statements[3].closing is not None
    assert statements[3].closing.amount.amount == Decimal("4101.82")
    with pytest.raises(InputError, match="2 accounts"):
        parse_statement(MT / "jejik-rabobank.sta")


def test_reimport_gives_the_same_ids() -> None:
    once = [t.source_id for t in parse_statement(MT / "jejik-abnamro.sta")]
    assert once == [t.source_id for t in parse_statement(MT / "jejik-abnamro.sta")]


def test_bad_inputs_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        parse_statement(tmp_path / "missing.sta")
    empty = tmp_path / "empty.sta"
    empty.write_text("")
    with pytest.raises(InputError, match="empty"):
        parse_statement(empty)
    other = tmp_path / "note.txt"
    other.write_text("hello")
    with pytest.raises(InputError, match="neither SWIFT MT940"):
        parse_statement(other)
    broken = tmp_path / "broken.sta"
    broken.write_text(":20:REF\n:25:123\n:60F:C110101EUR1,00\n:61:ZZZZ\n:62F:C110101EUR1,00\n")
    with pytest.raises(InputError, match=r"line 4"):
        parse_statement(broken)
    xml = tmp_path / "bad.xml"
    xml.write_text(
        '<?xml version="1.0"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">'
        "<BkToCstmrStmt><Stmt></BkToCstmrStmt></Document>"
    )
    with pytest.raises(InputError, match="not well-formed"):
        parse_statement(xml)
    pain = tmp_path / "pain.xml"
    pain.write_text('<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"><BkToCstmrStmt/></Document>')
    with pytest.raises(InputError, match="not a camt statement"):
        parse_statement(pain)


def test_format_detection_is_by_content() -> None:
    assert detect_format((MT / "tryton-MT940.txt").read_bytes()[:200]) == "mt940"
    assert detect_format((CAMT / "bsp-golden-multicurrency.xml").read_bytes()[:300]) == "camt"
    with pytest.raises(ValueError, match="not an ISO 20022"):
        detect_format(b"<html><body/></html>")


def test_over_long_mt940_line_is_refused_by_line(tmp_path: Path) -> None:
    """A 70 KB ``:86:`` line is not statement text; it is refused by number without reading it into memory."""
    path = tmp_path / "long.sta"
    path.write_text(
        ":20:REF\n:25:123\n:60F:C240101EUR0,00\n:61:2401010101C1,00NTRFNONREF\n:86:"
        + "x" * 70_000
        + "\n:62F:C240101EUR1,00\n-\n"
    )
    with pytest.raises(InputError, match=r"line 5: the line is longer than 65536 bytes"):
        parse_statements(path)
