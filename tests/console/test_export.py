"""Exports: formula injection neutralised in CSV and Excel, Chinese text intact, numbers kept as numbers."""

from __future__ import annotations

import asyncio
import csv
import io
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.console.conftest import Console

from crmhub.console.export import csv_response, safe_cell, xlsx_response
from crmhub.store.tables import AuditLog

ROWS = [
    ['=HYPERLINK("http://evil","x")', "深圳市前海微众科技有限公司", 12.5],
    ["+1-2", "@SUM(A1)", -3],
    ["-cmd", "\tx", None],
]


def _body(response: object) -> bytes:
    async def read() -> bytes:
        return b"".join([chunk async for chunk in response.body_iterator])  # type: ignore[attr-defined]

    return asyncio.run(read())


def test_safe_cell_neutralises_formula_starts_only() -> None:
    assert safe_cell("=1+1") == "'=1+1" and safe_cell("@x") == "'@x" and safe_cell("-x") == "'-x"
    assert safe_cell("a=b") == "a=b" and safe_cell(-3) == -3 and safe_cell(None) == ""


def test_csv_export() -> None:
    text = _body(csv_response(["name", "公司", "n"], ROWS, "clients.csv")).decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0] == ["name", "公司", "n"]
    assert rows[1][0].startswith("'=") and rows[1][1] == "深圳市前海微众科技有限公司" and rows[1][2] == "12.5"
    assert rows[2][0] == "'+1-2" and rows[2][1] == "'@SUM(A1)" and rows[2][2] == "-3"
    assert rows[3][1] == "'\tx"


def test_xlsx_export_has_no_formula(tmp_path: Path) -> None:
    response = xlsx_response(["name", "公司", "n"], ROWS, "clients.xlsx")
    data = Path(response.path).read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as book:
        sheet = book.read("xl/worksheets/sheet1.xml").decode()
        strings = book.read("xl/sharedStrings.xml").decode() if "xl/sharedStrings.xml" in book.namelist() else ""
    assert "<f>" not in sheet  # no formula cell at all
    assert "12.5" in sheet and "深圳市前海微众科技有限公司" in strings + sheet
    assert "'=HYPERLINK" in (strings + sheet).replace("&quot;", '"')


@pytest.mark.parametrize(
    "path, entity",
    [
        ("/clients?segment=high", "client"),
        ("/segments", "segment"),
        ("/runs", "sync_run"),
        ("/deadletters?connector=fxiaoke", "dead_letter"),
    ],
)
def test_every_console_export_leaves_an_audit_entry(console: Console, path: str, entity: str) -> None:
    sep = "&" if "?" in path else "?"
    answer = console.login("alice").get(f"{path}{sep}format=csv")
    assert answer.status_code == 200 and answer.headers["content-disposition"].startswith("attachment")
    with console.store().begin() as s:
        entry = s.scalars(select(AuditLog).where(AuditLog.action == "console.export")).one()
    assert (entry.actor, entry.entity, entry.details["format"]) == ("alice", entity, "csv")
    assert "format" not in entry.details["filters"] and (sep == "?" or entry.details["filters"])
