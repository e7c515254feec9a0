"""Three `crmhub pull` processes on one Fenxiang tenant share its per-path window through the store (issue #20).

The simulator enforces Fenxiang's "100 calls / 20 s per path" scaled down to 10 calls / 1 s and answers 30004
above it. Each process alone paces itself below the window; three of them together, pacing in-process, send about
three windows' worth and are refused (the second test shows it, so the first can fail). With the store's shared
budget (``[sync] shared_budget``: true on SQLite, "auto" on PostgreSQL) the simulator never refuses a call.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from sqlalchemy import text

from crmhub.store import Store
from crmhub.testing.servers import start_simulator
from crmhub_fxiaoke.simulator import build, default_settings

pytestmark = pytest.mark.slow

QUERY = "/cgi/crm/v2/data/query"
CALLS, PERIOD = 10, 1.0
PROCESSES, ACCOUNTS, PAGE = 3, 100, 10  # 11 query calls per process: more than one window each


def _run_pulls(tmp_path: Path, store_url: str, shared: bool | None) -> dict[str, dict[int, int]]:
    """Start the simulator, run ``PROCESSES`` pulls at once, check each read every account; the answer codes per
    path the simulator counted."""
    server = start_simulator(
        build,
        seed=7,
        settings={"generate": ACCOUNTS, "window_seconds": PERIOD, "calls_per_window": CALLS, "token_window_seconds": 6},
    )
    try:
        connector: dict[str, Any] = {
            "plugin": "fxiaoke",
            "base_url": server.url,
            "calls_per_window": CALLS,
            # the real 20 s window leaves 1 s of headroom for latency; scaled down it would be 50 ms, which a
            # loaded test machine can eat between the budget's stamp and the gateway's arrival
            "window_seconds": PERIOD * 1.1,
            "token_window_seconds": 6.0,
            "page_size": PAGE,
            "retry_base_delay": 0.05,
            "retry_max_delay": 1.0,
            "retry_max_attempts": 30,  # pacing alone, the processes are refused often: they still finish
            **default_settings(),
        }
        doc: dict[str, Any] = {"store": {"url": store_url}, "connectors": {"fxiaoke": connector}}
        if shared is not None:
            doc["sync"] = {"shared_budget": shared}
        config = tmp_path / "crmhub.toml"
        config.write_text(tomli_w.dumps(doc), encoding="utf-8")
        Store.open(store_url).dispose()  # migrated once, before the processes race to it
        pulls = [
            subprocess.Popen(
                [sys.executable, "-m", "crmhub.cli", "--lang", "en", "pull", "fxiaoke", "accounts", "-c", str(config)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env={**os.environ},
            )
            for _ in range(PROCESSES)
        ]
        for proc in pulls:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
            assert len(out.splitlines()) == ACCOUNTS, err
        codes: dict[str, dict[int, int]] = server.app.simulator.stats()["codes"]
        return codes
    finally:
        server.stop()


def test_processes_sharing_the_store_budget_stay_inside_the_window(tmp_path: Path, store_url: str) -> None:
    """Zero 30004 answers from the simulator, every query call answered, and the window's slots are in the store."""
    codes = _run_pulls(tmp_path, store_url, True if store_url.startswith("sqlite") else None)
    assert set(codes[QUERY]) == {0}, codes
    assert codes[QUERY][0] >= PROCESSES * (ACCOUNTS // PAGE)
    store = Store.open(store_url)
    try:
        with store.engine.connect() as conn:
            keys = conn.execute(text("SELECT key, count(*) FROM rate_window_slot GROUP BY key")).all()
    finally:
        store.dispose()
    assert any(key.endswith(f"|{QUERY}") and n == CALLS for key, n in keys), keys


def test_processes_pacing_alone_exceed_the_window(tmp_path: Path) -> None:
    """The same three processes with in-process budgets (the SQLite default): the simulator refuses calls."""
    codes = _run_pulls(tmp_path, f"sqlite:///{tmp_path / 'crmhub.db'}", None)
    assert codes[QUERY].get(30004, 0) > 0, codes
