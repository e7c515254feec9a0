"""CSV and Excel exports of any filtered list, streamed, with spreadsheet formula injection neutralised.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return would be run as a formula by Excel
or WPS when the file is opened (OWASP "CSV injection": ``=HYPERLINK(...)`` in a company name taken from a CRM).
Such text is written with a leading apostrophe, which spreadsheets show as text; numbers stay numbers. CSV is
written with a UTF-8 BOM so Excel opens Chinese text correctly, and streamed row by row; the Excel file is built
by xlsxwriter in constant-memory mode in a temporary file, then streamed.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from starlette.background import BackgroundTask
from starlette.responses import FileResponse, StreamingResponse

_DANGEROUS = ("=", "+", "-", "@", "\t", "\r")
FORMATS = ("csv", "xlsx")


def safe_cell(value: Any) -> Any:
    """A value as a spreadsheet must receive it: text that could run as a formula gets a leading apostrophe."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    text = str(value)
    return f"'{text}" if text.startswith(_DANGEROUS) else text


def _disposition(filename: str) -> dict[str, str]:
    ascii_name = filename.encode("ascii", "replace").decode().replace("?", "_")
    return {"Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"}


def csv_response(headers: Sequence[str], rows: Iterable[Sequence[Any]], filename: str) -> StreamingResponse:
    """Stream ``rows`` as a UTF-8 CSV (with BOM) named ``filename``."""

    def lines() -> Iterator[bytes]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        buffer.write("\ufeff")
        writer.writerow([safe_cell(h) for h in headers])
        for row in rows:
            writer.writerow([safe_cell(v) for v in row])
            if buffer.tell() > 64 * 1024:
                yield buffer.getvalue().encode("utf-8")
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue().encode("utf-8")

    return StreamingResponse(lines(), media_type="text/csv; charset=utf-8", headers=_disposition(filename))


def xlsx_response(
    headers: Sequence[str], rows: Iterable[Sequence[Any]], filename: str, sheet: str = "export"
) -> FileResponse:
    """Write ``rows`` to an .xlsx (constant memory; every text cell as a string, never a formula) and send it."""
    import os

    import xlsxwriter

    fd, path = tempfile.mkstemp(prefix="crmhub-export-", suffix=".xlsx")
    os.close(fd)
    book = xlsxwriter.Workbook(
        path,
        {"constant_memory": True, "strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False},
    )
    bold = book.add_format({"bold": True})
    ws = book.add_worksheet(sheet[:31])
    for col, title in enumerate(headers):
        ws.write_string(0, col, str(safe_cell(title)), bold)
    for r, row in enumerate(rows, start=1):
        for col, value in enumerate(row):
            cell = safe_cell(value)
            if isinstance(cell, int | float | Decimal) and not isinstance(cell, bool):
                ws.write_number(r, col, float(cell))
            else:
                ws.write_string(r, col, str(cell))
    book.close()
    return FileResponse(
        path,
        filename=None,
        headers=_disposition(filename),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        background=BackgroundTask(os.unlink, path),
    )


def export_response(
    fmt: str, headers: Sequence[str], rows: Iterable[Sequence[Any]], basename: str
) -> StreamingResponse | FileResponse:
    """``fmt`` csv or xlsx (anything else: csv) as ``<basename>.<fmt>``."""
    if fmt == "xlsx":
        return xlsx_response(headers, rows, f"{basename}.xlsx")
    return csv_response(headers, rows, f"{basename}.csv")
