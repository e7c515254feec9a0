"""Never two writers on one cursor: while another process holds a connector's lock, a manual `crmhub sync` (or
`crmhub jobs run`) refuses with exit code 3 naming the holder, and with `--wait` queues behind it and then runs —
on SQLite and PostgreSQL alike."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

import crmhub.plugins
from crmhub.cli import main
from crmhub.plugins import Registry

pytestmark = pytest.mark.slow  # whole syncs / CLI subprocesses: .ci/run runs it, the README's fast set does not

HOLD = """
import sys, time
from sqlalchemy import func, select
from crmhub.store import Store
from crmhub.store.tables import SyncRun
from crmhub.store.locks import LockSet, holder_id
store = Store.open(sys.argv[1])
lock = LockSet(store, ["connector:crm"])
lock.acquire()
print(holder_id(), flush=True)
time.sleep(float(sys.argv[2]))
with store.begin() as s:
    print(s.scalar(select(func.count()).select_from(SyncRun)), flush=True)  # runs that exist as it lets go
lock.release()
"""


def test_manual_sync_refuses_or_waits(
    store_url: str,
    registry: Registry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        f'[store]\nurl = "{store_url}"\n[connectors.crm]\nplugin = "tick"\n[risk]\nenabled = false\n'
        '[jobs.crm_sync]\ncron = "0 2 * * *"\nconnectors = ["crm"]\n',
        encoding="utf-8",
    )
    monkeypatch.setattr(crmhub.plugins, "load", lambda: registry)
    assert main(["sync", "-c", str(cfg), "--json"]) == 0  # migrate the store before the other process opens it
    capsys.readouterr()
    holder = subprocess.Popen([sys.executable, "-c", HOLD, store_url, "2"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        who = holder.stdout.readline().strip()
        assert who.endswith(f":{holder.pid}")

        assert main(["--lang", "en", "sync", "-c", str(cfg), "--connector", "crm"]) == 3
        err = capsys.readouterr().err
        assert "another sync is running on this connector" in err and who in err and "connector:crm" in err
        assert main(["--lang", "en", "jobs", "run", "crm_sync", "-c", str(cfg)]) == 3
        assert who in capsys.readouterr().err

        started = time.monotonic()
        assert main(["sync", "-c", str(cfg), "--connector", "crm", "--wait", "30", "--json"]) == 0
        assert time.monotonic() - started > 0.5
        assert '"status": "succeeded"' in capsys.readouterr().out
        assert holder.stdout.readline().strip() == "1"  # the waiting sync had not started when the lock was freed
        assert holder.wait(10) == 0
    finally:
        holder.kill()
        holder.wait()
