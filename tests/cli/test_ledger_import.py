"""`crmhub ledger import` on real public sample statements: booked once, linked to the ledger account's client."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from crmhub.cli import main
from crmhub.store import Store
from crmhub.store.tables import LedgerAccount, LedgerTransaction

DATA = Path(__file__).resolve().parents[1] / "data/statements"
ISO = DATA / "camt053/iso-business-sample-camt.053.001.04.xml"


def _config(tmp_path: Path) -> Path:
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[store]\nurl = "sqlite:///{tmp_path / "s.db"}"\n', encoding="utf-8")
    return cfg


def test_import_is_idempotent_and_linked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The ISO example's three entries are booked once, to the client owning the account."""
    cfg = _config(tmp_path)
    store = Store.open(f"sqlite:///{tmp_path / 's.db'}")
    now = datetime.now(UTC)
    with store.begin() as s:
        s.add(
            LedgerAccount(
                connector="ledger",
                source_id="77",
                client_source_id="12",
                account_no="50000000054910",
                currency="SEK",
                balance_minor=0,
                sub_status="none",
                data={},
                content_hash="x",
                updated_at=now,
            )
        )
    assert main(["ledger", "import", str(ISO), "--account", "50000000054910", "-c", str(cfg), "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert (first["entries"], first["inserted"], first["matched_account"]) == (3, 3, True)
    assert main(["ledger", "import", str(ISO), "--account", "50000000054910", "-c", str(cfg), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["inserted"] == 0
    with store.begin() as s:
        rows = s.scalars(select(LedgerTransaction)).all()
        assert len(rows) == 3 and {r.client_source_id for r in rows} == {"12"}
        assert {r.account_source_id for r in rows} == {"77"}
    store.dispose()


# anonymised bank exports whose balances were edited without the lines (figures in test_ledger_statements.py)
NOT_TYING_OUT = {"jejik-abnamro.sta": 2, "jejik-postfinance.sta": 1, "jejik-rabobank.sta": 2, "jejik-triodos.sta": 1}


def test_every_mt940_sample_imports_or_is_refused_for_its_balances(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each shipped MT940 sample books the statements that tie out; the others are refused, naming both figures."""
    cfg = _config(tmp_path)
    files = sorted(p for p in (DATA / "mt940").iterdir() if p.suffix.lower() in (".sta", ".txt", ".mt940"))
    assert files
    for f in files:
        code = main(["--lang", "en", "ledger", "import", str(f), "-c", str(cfg), "--json"])
        out = capsys.readouterr()
        results = [json.loads(line) for line in out.out.splitlines()]
        rejected = [r for r in results if r["status"] == "rejected"]
        assert len(rejected) == NOT_TYING_OUT.get(f.name, 0), (f, out.err)
        assert code == (0 if not rejected else 1 if len(rejected) == len(results) else 4), (f, out.err)
        for r in rejected:
            assert "does not tie out" in r["error"] and "closing balance is" in r["error"] and r["inserted"] == 0
        assert sum(r["entries"] for r in results if r["status"] != "rejected") > 0 or rejected
    store = Store.open(f"sqlite:///{tmp_path / 's.db'}")
    with store.begin() as s:
        # citi 5 + tryton 3 + postfinance page 1 (2) + rabobank 940A120829 (2)
        assert s.scalar(select(func.count()).select_from(LedgerTransaction)) == 12
    store.dispose()


def test_bad_file_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A missing file exits 2 naming it."""
    assert main(["ledger", "import", str(tmp_path / "nope.xml"), "-c", str(_config(tmp_path))]) == 2
    assert "nope.xml" in capsys.readouterr().err


def test_without_an_importer_plugin_the_error_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The core names no statement format: with the ledger plugin disabled no importer is offered, and the error
    (zh and en) says which hook and which plugin — a plugin error (exit 1), no traceback."""
    cfg = _config(tmp_path)
    monkeypatch.setenv("CRMHUB_DISABLE_PLUGINS", "core_ledger")
    assert main(["--lang", "en", "ledger", "import", str(ISO), "-c", str(cfg)]) == 1
    err = capsys.readouterr().err
    assert "no installed plugin offers statement import" in err and "core_ledger" in err
    assert "Traceback" not in err
    assert main(["--lang", "zh", "ledger", "import", str(ISO), "-c", str(cfg)]) == 1
    assert "没有已安装的插件提供对账单导入" in capsys.readouterr().err


class _CsvStatement:
    """A one-statement CSV file (``date,amount`` lines, credits positive), as a third-party parser would read it."""

    def __init__(self, file: Path, account: str | None) -> None:
        self.file, self.account = file, account or "CSV-1"
        self.label, self.account_hint, self.statement_hint, self.opening_hint = f"{file.name}", self.account, "1", ""
        self.lines = [line.split(",") for line in file.read_text(encoding="utf-8").splitlines()[1:] if line]

    def batches(self) -> Any:
        from datetime import date
        from decimal import Decimal

        from crmhub.model import Direction, Money, Transaction
        from crmhub.statements.model import StatementLine

        out = []
        for n, (day, amount) in enumerate(self.lines, start=2):
            value = Decimal(amount)
            tx = Transaction(
                source_id=f"csv-{n}",
                account_source_id=self.account,
                booking_date=date.fromisoformat(day),
                amount=Money(amount=abs(value), currency="CNY"),
                direction=Direction.CREDIT if value > 0 else Direction.DEBIT,
            )
            out.append(StatementLine(tx, reference=f"line {n}", where=f"{self.file}:{n}"))
        yield out

    def summary(self) -> Any:
        from crmhub.statements.model import Statement

        return Statement(
            format="csv", source=str(self.file), statement_id="1", account=self.account, currency="CNY", transactions=()
        )


def test_the_importer_is_chosen_by_the_file_content(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """With several importers, the one whose ``accepts`` recognises the file reads it and the core books what it
    read (a re-import adds nothing); a file none recognises is an error listing the formats the plugins read."""
    from crmhub import hookimpl, plugins
    from crmhub.statements import StatementImporter

    read: list[str] = []

    def read_csv(file: Path, account: str | None) -> Any:
        read.append(file.name)
        yield _CsvStatement(file, account)

    class CsvImporter:
        @hookimpl
        def crmhub_statement_importers(self) -> list[StatementImporter]:
            return [
                StatementImporter(
                    name="csv", formats=("csv",), accepts=lambda head: head.startswith(b"date,"), read=read_csv
                )
            ]

    original = plugins.load
    monkeypatch.setattr(plugins, "load", lambda extra=None: original(extra=[("csv_plugin", CsvImporter())]))
    cfg = _config(tmp_path)
    csv = tmp_path / "s.csv"
    csv.write_text("date,amount\n2024-01-02,3.00\n2024-01-03,-1.50\n", encoding="utf-8")
    assert main(["--lang", "en", "ledger", "import", str(csv), "-c", str(cfg), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert read == ["s.csv"] and (result["format"], result["entries"], result["inserted"]) == ("csv", 2, 2)
    assert main(["--lang", "en", "ledger", "import", str(csv), "-c", str(cfg), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "already_imported"
    store = Store.open(f"sqlite:///{tmp_path / 's.db'}")
    with store.begin() as s:
        assert s.scalar(select(func.count()).select_from(LedgerTransaction)) == 2
    store.dispose()
    assert main(["--lang", "en", "ledger", "import", str(ISO), "-c", str(cfg), "--json"]) == 0
    assert read == ["s.csv", "s.csv"] and json.loads(capsys.readouterr().out)["entries"] == 3
    other = tmp_path / "notes.txt"
    other.write_text("hello\n", encoding="utf-8")
    assert main(["--lang", "en", "ledger", "import", str(other), "-c", str(cfg)]) == 2
    assert "not a statement format an installed plugin reads (mt940, camt.053, csv)" in capsys.readouterr().err
