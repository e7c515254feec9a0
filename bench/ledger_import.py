"""Benchmark: import a ~50 MB MT940 statement file into a fresh store, streamed.

Generates the file in a temporary folder (daily statements reusing ``:20:STARTUMS``/``:28C:0``, each tying out;
`crmhub_ledger.sandbox.statements.write_mt940`), imports it through the same code as ``crmhub ledger import``,
imports it a second time (every statement "already imported") and prints for each pass the records/s and the
process's peak RSS in MiB (``resource.getrusage``; the RSS before the first import is printed too, so the import's
own share is visible). ``--url`` imports into another store (e.g. a PostgreSQL schema) instead of a temp SQLite file.

    python bench/ledger_import.py                         # ~50 MB: 170 statements × 2,000 lines
    python bench/ledger_import.py --statements 12 --lines 2000
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

from crmhub.store import Store
from crmhub.sync.statement_booking import import_file
from crmhub_ledger.sandbox.statements import write_mt940
from crmhub_ledger.statements import read_statements


def _peak_mib() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return usage / (1024 * 1024) if sys.platform == "darwin" else usage / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--statements", type=int, default=170, help="daily statements in the file")
    parser.add_argument("--lines", type=int, default=2000, help=":61: lines per statement")
    parser.add_argument("--url", help="store URL (default: a SQLite file in the temp folder)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="crmhub-ledger-bench-") as tmp:
        path = Path(tmp) / "statements.sta"
        lines = write_mt940(path, statements=args.statements, lines_per_statement=args.lines)
        size = path.stat().st_size / 2**20
        store = Store.open(args.url or f"sqlite:///{Path(tmp) / 'bench.db'}")
        print(
            f"file: {size:.1f} MiB, {args.statements} statements, {lines:,} lines; "
            f"RSS before import {_peak_mib():.0f} MiB"
        )
        try:
            for name in ("first import", "re-import"):
                started = time.perf_counter()
                results = import_file(store, path, read_statements)
                elapsed = time.perf_counter() - started
                statuses = sorted({r.status for r in results})
                print(
                    json.dumps(
                        {
                            "pass": name,
                            "records": sum(r.entries for r in results),
                            "inserted": sum(r.inserted for r in results),
                            "statuses": statuses,
                            "seconds": round(elapsed, 1),
                            "records_per_s": round(lines / elapsed),
                            "peak_rss_mib": round(_peak_mib()),
                        }
                    )
                )
        finally:
            store.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
