"""First use is race-free: several processes opening a fresh store at once migrate it once, and all succeed.

Original break: four processes starting together on a fresh PostgreSQL database raced through the Alembic upgrade;
some failed with IntegrityError (two inserts of the version row / duplicate tables).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from crmhub.store import Store

pytestmark = pytest.mark.slow  # whole syncs / CLI subprocesses: .ci/run runs it, the README's fast set does not

OPENER = """
import sys, time
from crmhub.store import Store
start = float(sys.argv[2])
while time.time() < start:
    time.sleep(0.001)
store = Store.open(sys.argv[1])
print(store.current_revision())
store.dispose()
"""


def test_four_processes_open_a_fresh_store_at_once(store_url: str) -> None:
    """Runs on SQLite and, with CRMHUB_TEST_DATABASE_URL, on a fresh PostgreSQL schema."""
    import time

    start = time.time() + 2.0  # all four are imported and waiting before any of them opens the store
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", OPENER, store_url, str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    results = [p.communicate(timeout=120) for p in procs]
    errors = [(p.returncode, err[-2000:]) for p, (_, err) in zip(procs, results, strict=True) if p.returncode]
    assert not errors, errors
    store = Store.open(store_url, migrate=False)
    try:
        head = store.head_revision()
        assert store.current_revision() == head
        assert {out.strip() for out, _ in results} == {head}
    finally:
        store.dispose()
