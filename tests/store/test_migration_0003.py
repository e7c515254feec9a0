"""Migration 0003 backfills the statement-line identity of rows imported before it, so old files re-import as no-ops."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select

from crmhub.cli import main
from crmhub.store import Store
from crmhub.store.tables import LedgerTransaction

ACCT = "DE44500105175407324931"


def _old_row(source_id: str, day: date, minor: int, direction: str = "credit") -> dict[str, Any]:
    return {
        "connector": "ledger",
        "source_id": source_id,
        "account_source_id": ACCT,
        "booking_date": day,
        "value_date": day,
        "amount_minor": minor,
        "currency": "EUR",
        "direction": direction,
        "kind": "transfer",
        "is_cash": False,
        "cross_border": False,
        "reversed": False,
        "is_manual": False,
        "content_hash": "h",
    }


def test_backfill_then_reimport_adds_nothing(
    store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRMHUB_LANG", "en")
    store = Store.open(store_url, migrate=False)
    store.upgrade("0002")
    day = date(2024, 1, 2)
    with store.engine.begin() as conn:
        conn.execute(
            insert(LedgerTransaction.__table__),
            [
                _old_row("mt940:" + ACCT + ":STARTUMS/0#1", day, 1000),
                _old_row("mt940:" + ACCT + ":STARTUMS/0#2", day, 1000),  # identical line: sequence 2
                _old_row("camt:" + ACCT + ":REF-9", day, 700, "debit"),
                _old_row("camt:" + ACCT + ":STMT-1#3", day, 300),  # no reference in the file: empty
                _old_row("api-17", day, 5),  # read from the ledger API: not a statement line
            ],
        )
    store.upgrade()
    assert store.current_revision() == store.head_revision()
    store.dispose()
    assert [(r.source_id, r.reference, r.line_seq) for r in _all(store_url)] == [
        (f"stmt:{ACCT}:2024-01-02:C1000EUR::1", "", 1),
        (f"stmt:{ACCT}:2024-01-02:C1000EUR::2", "", 2),
        (f"stmt:{ACCT}:2024-01-02:D700EUR:REF-9:1", "REF-9", 1),
        (f"stmt:{ACCT}:2024-01-02:C300EUR::1", "", 1),
        ("api-17", None, None),
    ]
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[store]\nurl = "{store_url}"\n', encoding="utf-8")
    statement = tmp_path / "old.sta"  # the file that was imported before the upgrade; its lines carry references
    statement.write_text(
        f":20:STARTUMS\n:25:{ACCT}\n:28C:0\n:60F:C240102EUR0,00\n"
        ":61:2401020102C10,00NTRFINV-1\n:86:a\n:61:2401020102C10,00NTRFINV-2\n:86:b\n"
        ":62F:C240102EUR20,00\n-\n",
        encoding="utf-8",
    )
    assert main(["ledger", "import", str(statement), "-c", str(cfg), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["status"], result["inserted"], result["already_present"]) == ("already_imported", 0, 2)
    assert len(_all(store_url)) == 5


def _all(url: str) -> list[LedgerTransaction]:
    store = Store.open(url)
    try:
        with store.begin() as s:
            return list(s.scalars(select(LedgerTransaction).order_by(LedgerTransaction.id)))
    finally:
        store.dispose()
