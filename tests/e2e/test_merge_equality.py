"""The merge writes exactly what it wrote before it went set-based: same rows, byte for byte.

A synced world (three systems, hostile values, mistyped USCCs, write-back echoes) is stopped the moment the merge
starts, twice: on the first run (every golden client new) and on the second (goldens merged again over their
lineage, risk summaries present). Each snapshot is merged by the frozen copy of the previous code
(`tests/e2e/merge_v1.py`) and by `crmhub.sync.merge`, with the same clock and audit key, and every row they write
is compared: golden rows (the document's JSON text, so key order too), lineage, audit entries (details, masking,
``prev_hash``/``hash`` of the chain), review items — and the change events.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from crmhub import plugins
from crmhub.cli.common import Context
from crmhub.cli.sync_cmds import build_engine
from crmhub.config import Settings
from crmhub.sandbox.serve import SandboxSet
from crmhub.store import Store
from crmhub.sync import merge
from crmhub.sync.phases import default_priority

from . import merge_v1
from .conftest import sandbox_settings

pytestmark = pytest.mark.slow  # whole syncs / CLI subprocesses: .ci/run runs it, the README's fast set does not

TABLES = {"golden_client": "id", "field_lineage": "client_id, field", "audit_log": "seq", "review_item": "id"}
_NOW = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)


class _FrozenClock(datetime):
    @classmethod
    def now(cls, tz: Any = None) -> Any:
        return _NOW if tz is not None else _NOW.replace(tzinfo=None)


class _Snapshot:
    """Progress display that copies the SQLite store when the merge phase starts."""

    def __init__(self, db: Path, target: Path) -> None:
        self.db, self.target = db, target

    def stream_started(self, connector: str, stream: str) -> None:
        return None

    def page_stored(self, connector: str, stream: str, stats: Any) -> None:
        return None

    def stream_finished(self, connector: str, stream: str, stats: Any) -> None:
        return None

    def phase(self, name: str) -> None:
        if name == "merge":
            src, dst = sqlite3.connect(self.db), sqlite3.connect(self.target)
            src.backup(dst)
            src.close()
            dst.close()


def _merge_all(
    db: Path, code: ModuleType, settings: Settings, registry: plugins.Registry
) -> tuple[list[Any], list[Any]]:
    """What the merge phase does, with ``code``'s `Merger` and `merge_batch`: counters and events per batch."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(code, "datetime", _FrozenClock)
        return _run(db, code, settings, registry)


def _run(db: Path, code: ModuleType, settings: Settings, registry: plugins.Registry) -> tuple[list[Any], list[Any]]:
    store = Store.open(f"sqlite:///{db}", migrate=False)
    ctx = SimpleNamespace(settings=settings, registry=registry)
    merger = code.Merger(settings.sync, default_priority(ctx), 42)  # type: ignore[arg-type]
    counters: list[Any] = []
    events: list[Any] = []
    last = 0
    try:
        while True:
            with store.begin() as s:
                batch = code.merge_batch(s, last, merger, 40, want_clients=True)
            if batch.last_id is None:
                break
            last = batch.last_id
            counters.append((batch.created, batch.updated, batch.conflicts, batch.conflicts_queued))
            events += [(client.model_dump(mode="json"), changes) for client, changes in batch.events]
    finally:
        store.dispose()
    return counters, events


def _stir(db: Path) -> None:
    """Edits the second run did not bring (every golden merged again over its lineage): values changed in every
    member of a golden client, so differently (a conflict the rule decides), at the same instant (one it cannot:
    queued for review), personal data (masked in the audit), a USCC another golden client holds."""
    con = sqlite3.connect(db)
    usccs = [r[0] for r in con.execute("SELECT uscc FROM golden_client WHERE uscc IS NOT NULL ORDER BY id")]
    members: dict[int, list[tuple[int, dict[str, Any]]]] = {}
    for cid, sid, data in con.execute(
        "SELECT x.client_id, s.id, s.data FROM xref x JOIN source_record s ON s.id = x.source_record_id "
        "WHERE s.kind = 'client' AND s.data IS NOT NULL ORDER BY s.id"
    ):
        members.setdefault(cid, []).append((sid, json.loads(data)))
    for n, (_, rows) in enumerate(sorted(members.items())):
        tweak = n % 7
        for k, (sid, data) in enumerate(rows):
            if tweak == 0:
                data["phone"] = f"13{n % 10}1234{k}{n % 1000:03d}"
            elif tweak == 1:
                data["email"] = f"boss{k}.{n}@qq.com"
            elif tweak == 2:
                data["legal_representative"] = {"name": "欧阳娜娜" if k else "张三"}
            elif tweak == 3:
                data["registered_address"] = {"country": "CN", "street": f"长江路{n}号{k}室"}
            elif tweak == 4 and k == 0:
                data["uscc"] = usccs[(n + 1) % len(usccs)]
            elif tweak == 5:
                data["website"] = f"www.x{k}-{n}.cn"
            stamp = "2026-01-01 00:00:00.000000" if tweak == 5 else f"2026-02-0{1 + k % 9} 00:00:00.000000"
            con.execute(
                "UPDATE source_record SET data = ?, modified_at = ? WHERE id = ?",
                (json.dumps(data, ensure_ascii=False), stamp, sid),
            )
    con.execute("UPDATE golden_client SET needs_merge = 1")
    con.commit()
    con.close()


def _rows(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    con = sqlite3.connect(db)
    try:
        return {t: con.execute(f"SELECT * FROM {t} ORDER BY {order}").fetchall() for t, order in TABLES.items()}
    finally:
        con.close()


@pytest.mark.parametrize("sandbox", [150], indirect=True, ids=["150-clients"])
def test_old_and_new_merge_write_the_same_rows(
    sandbox: SandboxSet, registry: plugins.Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRMHUB_AUDIT_KEY", "k" * 40)
    live = tmp_path / "live.db"
    settings = sandbox_settings(sandbox, registry, f"sqlite:///{live}")
    store = Store.open(f"sqlite:///{live}")
    snapshots = [tmp_path / "first.db", tmp_path / "second.db"]
    try:
        engine = build_engine(Context(registry, settings), store)
        for snap in snapshots:
            engine.progress = _Snapshot(live, snap)
            assert asyncio.run(engine.run()).status == "succeeded"
    finally:
        store.dispose()
    _stir(snapshots[1])
    seen = {"conflicts": 0, "queued": 0, "updated": 0, "audit": 0, "review": 0}
    for snap in snapshots:
        old, new = snap.with_suffix(".old.db"), snap.with_suffix(".new.db")
        shutil.copyfile(snap, old)
        shutil.copyfile(snap, new)
        before = _rows(snap)
        old_out = _merge_all(old, merge_v1, settings, registry)
        new_out = _merge_all(new, merge, settings, registry)
        assert new_out == old_out
        old_rows, new_rows = _rows(old), _rows(new)
        for table in TABLES:
            assert len(new_rows[table]) == len(old_rows[table]), table
            for a, b in zip(old_rows[table], new_rows[table], strict=True):
                assert b == a, table
        for _, updated, conflicts, queued in old_out[0]:
            seen["updated"] += updated
            seen["conflicts"] += conflicts
            seen["queued"] += queued
        seen["audit"] += len(old_rows["audit_log"]) - len(before["audit_log"])
        seen["review"] += len(old_rows["review_item"]) - len(before["review_item"])
    # the world exercises what the comparison is about: updates, conflicts (decided and queued), audit entries
    assert seen["updated"] > 100 and seen["conflicts"] > seen["queued"] > 0 and seen["review"] > seen["queued"], seen
