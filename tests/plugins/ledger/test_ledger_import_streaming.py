"""Statement files are streamed: bounded memory for big files and big statements, all-or-nothing per statement even
when a statement spans several batches."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest
from sqlalchemy import func, select

from crmhub.errors import InputError
from crmhub.statements.model import BATCH
from crmhub.store import Store
from crmhub.store.tables import LedgerTransaction
from crmhub.sync.statement_booking import import_file
from crmhub_ledger.sandbox.statements import write_camt053, write_mt940
from crmhub_ledger.statements import parse_statements, read_statements


@pytest.fixture(autouse=True)
def _english(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRMHUB_LANG", "en")


def _count(store: Store) -> int:
    with store.begin() as s:
        return s.scalar(select(func.count()).select_from(LedgerTransaction)) or 0


@pytest.mark.slow
def test_several_mb_import_stays_within_a_memory_bound(tmp_path: Path) -> None:
    """~3 MB in 3 statements of 7,000 lines. The old reader loaded the file and every parsed line at once (85 MB
    traced for 3 MB parsed alone, 783 MB RSS for a 4.7 MB import); streaming stays far below 60 MB."""
    path = tmp_path / "big.sta"
    lines = write_mt940(path, statements=3, lines_per_statement=7000)
    assert path.stat().st_size > 3_000_000
    store = Store.open(f"sqlite:///{tmp_path / 's.db'}")
    try:
        tracemalloc.start()
        try:
            results = import_file(store, path, read_statements)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert [r.status for r in results] == ["imported"] * 3 and all(r.ties_out for r in results)
        assert sum(r.inserted for r in results) == lines == _count(store)
        assert peak < 60 * 2**20, f"peak traced memory {peak / 2**20:.1f} MiB"
    finally:
        store.dispose()


def test_statement_spanning_batches_parses_whole_and_names_late_lines(tmp_path: Path) -> None:
    path = tmp_path / "long.sta"
    write_mt940(path, statements=1, lines_per_statement=2 * BATCH + 7)
    (statement,) = parse_statements(path)
    assert len(statement) == 2 * BATCH + 7 and statement.ties_out
    assert len({t.source_id for t in statement}) == len(statement)
    lines = path.read_text(encoding="utf-8").splitlines()
    target = next(i for i, line in enumerate(lines) if line.startswith(":61:") and "REF0-1005" in line)
    lines[target] = lines[target][:15] + "12.50" + lines[target][lines[target].index("NTRF") :]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=rf"line {target + 1}: statement line 1006: amount"):
        parse_statements(path)


def test_a_late_error_rolls_back_the_whole_statement_only(tmp_path: Path) -> None:
    """Line 1,101 of statement 1 is broken: its first 1,100 lines (two batches) are not kept; statement 2 is."""
    path = tmp_path / "two.sta"
    write_mt940(path, statements=2, lines_per_statement=2 * BATCH + 200)
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    target = next(i for i, line in enumerate(lines) if line.startswith(":61:") and "REF0-1100" in line)
    lines[target] = lines[target][:15] + "1234567890123456789,55" + lines[target][lines[target].index("NTRF") :]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    store = Store.open(f"sqlite:///{tmp_path / 's.db'}")
    try:
        first, second = import_file(store, path, read_statements)
        assert first.status == "rejected" and "'1234567890123456789,55'" in (first.error or "")
        assert second.status == "imported" and second.inserted == 2 * BATCH + 200
        assert _count(store) == 2 * BATCH + 200
        with store.begin() as s:
            assert {d.isoformat() for d in s.scalars(select(LedgerTransaction.booking_date).distinct())} == {
                "2024-01-02"
            }
    finally:
        store.dispose()


def test_camt_statement_is_read_entry_by_entry(tmp_path: Path) -> None:
    """One camt ``Stmt`` of 6,000 entries (~2 MB): the element never holds more than its header plus the entries
    of lxml's read-ahead (lxml memory is not traced, so the tree itself is checked); Python memory stays bounded."""
    path = tmp_path / "big.xml"
    write_camt053(path, entries=6_000)
    assert path.stat().st_size > 1_800_000
    tracemalloc.start()
    try:
        source = next(iter(read_statements(path)))  # one at a time: moving on frees the statement
        widest = 0
        count = 0
        for batch in source.batches():
            count += len(batch)
            widest = max(widest, len(source._elem))  # type: ignore[attr-defined]  # the element being streamed
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # Id, Acct, 2 × Bal and the entries of lxml's read-ahead (one 32 KiB block ≈ 40 entries), never the statement
    assert count == 6_000 and widest <= 100
    summary = source.summary()
    assert summary.closing is not None and summary.opening is not None
    assert peak < 20 * 2**20, f"peak traced memory {peak / 2**20:.1f} MiB"
